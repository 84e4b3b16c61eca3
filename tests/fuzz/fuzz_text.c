/* Untrusted text through the byte tokenizer and the streaming UTF-8
   decoder: everything round-trips, and the stream's output is valid UTF-8
   of bounded size. */
#include "fuzz_common.h"

static int valid_utf8(const unsigned char *s, size_t n) {
    rwkv_utf8_stream check = {{0}, 0};
    char *out = (char *)malloc(3 * (n + 4));
    size_t w = rwkv_utf8_stream_push(&check, s, n, out);
    int ok = w == n && !memcmp(out, s, n) && check.n_pending == 0;
    free(out);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rwkv_tokenizer *bytes;
    rwkv_utf8_stream stream = {{0}, 0};
    int32_t *tokens = (int32_t *)malloc(sizeof(int32_t) * (size + 1));
    char *out = (char *)malloc(3 * (size + 4) + 12);
    size_t n = 0, w = 0, i;
    if (rwkv_tokenizer_create_bytes(&bytes, NULL) != RWKV_OK) abort();
    if (rwkv_tokenize(bytes, data, size, tokens, size + 1, &n, NULL) != RWKV_OK || n != size) abort();
    for (i = 0; i < n; i++) {
        size_t len;
        const char *b = rwkv_token_bytes(bytes, tokens[i], &len);
        if (!b || len != 1 || (unsigned char)b[0] != data[i]) abort();
        w += rwkv_utf8_stream_push(&stream, b, 1, out + w);
    }
    w += rwkv_utf8_stream_flush(&stream, out + w);
    if (w > 3 * (size + 4) || !valid_utf8((const unsigned char *)out, w)) abort();
    free(out);
    free(tokens);
    rwkv_tokenizer_free(bytes);
    return 0;
}
