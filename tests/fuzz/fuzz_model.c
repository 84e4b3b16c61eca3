/* Model files (GGUF and rwkv.cpp .bin) from untrusted bytes: load, and if
   the model is small, run a few tokens and a state round trip. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rwkv_model *model;
    rwkv_state *state;
    rwkv_model_info info;
    rwkv_error error;
    if (rwkv_model_load_memory(&model, data, size, &error) != RWKV_OK) return 0;
    rwkv_model_get_info(model, &info);
    if (info.weight_bytes < (1u << 20) && rwkv_state_create(model, &state, NULL) == RWKV_OK) {
        float *logits = (float *)malloc(sizeof(float) * (size_t)info.n_vocab);
        unsigned char *blob = (unsigned char *)malloc(info.state_blob_size);
        int32_t tokens[3] = {0, info.n_vocab - 1, info.n_vocab / 2};
        rwkv_eval(state, -1, logits, NULL);
        rwkv_eval_sequence(state, tokens, 3, logits, NULL);
        if (rwkv_state_export(state, blob, info.state_blob_size, NULL) == RWKV_OK)
            rwkv_state_import(state, blob, info.state_blob_size, NULL);
        free(blob);
        free(logits);
        rwkv_state_free(state);
    }
    rwkv_model_free(model);
    return 0;
}
