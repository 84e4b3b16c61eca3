/* Byte-level BPE from untrusted bytes: as a tokenizer.json to load, and as
   text to encode with a small fixed BPE; decoding what was encoded gives
   back valid bytes. */
#include "fuzz_common.h"

#include "small_bpe.h"

static void encode_decode(const rwkv_tokenizer *t, const uint8_t *data, size_t size) {
    size_t n = 0, len = 0, cap = 3 * size + 1;
    int32_t *tokens = (int32_t *)malloc(sizeof(int32_t) * cap);
    char *text = (char *)malloc(8 * cap + 1);
    if (rwkv_tokenize(t, data, size, tokens, cap, &n, NULL) == RWKV_OK)
        rwkv_detokenize(t, tokens, n, text, 8 * cap + 1, &len, NULL);
    free(text);
    free(tokens);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static rwkv_tokenizer *small;
    rwkv_tokenizer *loaded;
    if (!small && rwkv_tokenizer_load_bpe(&small, small_json, sizeof(small_json) - 1, NULL) != RWKV_OK) abort();
    encode_decode(small, data, size);
    if (rwkv_tokenizer_load_bpe(&loaded, (const char *)data, size, NULL) == RWKV_OK) {
        encode_decode(loaded, (const uint8_t *)"the cat", 7);
        rwkv_tokenizer_free(loaded);
    }
    return 0;
}
