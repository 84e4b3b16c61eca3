/* examples/firmware/model.S - the model file as const data in flash,
   aligned to 32 bytes so that rwkv_model_load_memory uses it in place. */
    .section .rodata.model, "a"
    .balign 32
    .global g_model
g_model:
    .incbin MODEL_FILE
    .global g_model_end
g_model_end:
    .section .note.GNU-stack, "", %progbits
