/* World vocabulary text from untrusted bytes: parse it, then encode and
   decode a text made of the same bytes, which must round-trip. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rwkv_tokenizer *tokenizer;
    int32_t *tokens;
    char *text;
    size_t n = 0, len = 0;
    if (rwkv_tokenizer_load_world(&tokenizer, (const char *)data, size, NULL) != RWKV_OK) return 0;
    tokens = (int32_t *)malloc(sizeof(int32_t) * (size + 1));
    text = (char *)malloc(size + 1);
    if (rwkv_tokenize(tokenizer, data, size, tokens, size + 1, &n, NULL) != RWKV_OK ||
        rwkv_detokenize(tokenizer, tokens, n, text, size + 1, &len, NULL) != RWKV_OK ||
        len != size || memcmp(text, data, size) != 0)
        abort(); /* a vocabulary that loads must round-trip any text */
    free(text);
    free(tokens);
    rwkv_tokenizer_free(tokenizer);
    return 0;
}
