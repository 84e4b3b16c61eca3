/* Saved states from untrusted bytes, imported into a state of a small
   fixed model: refused cleanly, or accepted and then usable. */
#include "fuzz_common.h"
#include "tools/gguf_writer.h"
#include "tools/synthetic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static rwkv_model *model;
    static unsigned char *gguf;
    rwkv_state *state;
    float logits[256];
    if (!model) { /* built once, kept for the whole run */
        synthetic_shape shape = {2, 32, 128, 256, RWKV_TYPE_F32, 7, 4, 0, {0, 0, 0, 0}};
        size_t gguf_size;
        gguf = synthetic_build(&shape, &gguf_size);
        if (!gguf || rwkv_model_load_memory(&model, gguf, gguf_size, NULL) != RWKV_OK) abort();
    }
    if (rwkv_state_create(model, &state, NULL) != RWKV_OK) abort();
    if (rwkv_state_import(state, data, size, NULL) == RWKV_OK && rwkv_eval(state, 65, logits, NULL) != RWKV_OK)
        abort();
    rwkv_state_free(state);
    return 0;
}
