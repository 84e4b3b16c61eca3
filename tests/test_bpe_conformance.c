/* tests/test_bpe_conformance.c - the byte-level BPE tokenizer (in rwkv.h)
 * against Hugging Face tokenizers, on the real GPT-NeoX-20B vocabulary.
 *
 * Build and run (from the repository root):
 *     cc -std=c11 -Wall -Wextra -pedantic -Werror -O2 -I. \
 *         -o bin/test_bpe_conformance tests/test_bpe_conformance.c -lm
 *     ./bin/test_bpe_conformance ../shared/data/vocab/20B_tokenizer.json \
 *         tests/data/bpe_expected.txt
 * Under the sanitizers: the same with -O1 -g -fsanitize=address,undefined
 * -fno-omit-frame-pointer -fno-sanitize-recover=all.
 *
 * Arguments: the tokenizer.json (default ../shared/data/vocab/20B_tokenizer.json;
 * it lives beside the project and is never committed: if it is absent the
 * test prints SKIP and "0 passed, 0 failed") and the expected ids (default
 * tests/data/bpe_expected.txt, made by tests/data/make_bpe_expected.js with
 * the npm package tokenizers 0.23.2, HF's Rust library).
 *
 * Checks, for every case of the expected file: encode(text) gives exactly
 * HF's ids; decoding them gives exactly HF's decode(ids) (which is the text
 * itself for NFC text); the BUFFER_TOO_SMALL contract; the same ids through
 * the GGUF arrays (tokens, types, merges exported and loaded back). Then
 * invalid UTF-8 (which HF cannot take): single bytes, and round trips of
 * random invalid sequences. Then times the encoding of 1 MB of text, the
 * long cases repeated (printed, best of 3; nothing is asserted on time).
 *
 * Output: one line per failure, the timing, then "N passed, N failed".
 * Exit status 1 if anything failed.
 */
#define RWKV_IMPLEMENTATION
#include "rwkv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int g_pass, g_fail;

static void check_(int ok, int line, const char *fmt, ...) {
    va_list ap;
    if (ok) {
        g_pass++;
        return;
    }
    if (++g_fail > 100) return;
    printf("test_bpe_conformance.c:%d: FAIL ", line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}
#define CHECKF(c, ...) check_(!!(c), __LINE__, __VA_ARGS__)

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(buf = (char *)malloc((size_t)n + 1))) {
        fclose(f);
        return NULL;
    }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

typedef struct bcase {
    unsigned char *text;
    size_t len;
    int32_t *ids;
    size_t n_ids;
    unsigned char *dec; /* NULL: the text itself */
    size_t dec_len;
    int line;
} bcase;

static int hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static unsigned char *parse_hex(const char *s, const char *end, size_t *len) {
    size_t n = (size_t)(end - s) / 2, i;
    unsigned char *out = (unsigned char *)malloc(n + 1);
    for (i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (unsigned char)(hi * 16 + lo);
    }
    *len = n;
    return out;
}

/* Parse the T/I/D triples; returns the number of cases (-1 on a bad file). */
static long parse_expected(char *text, bcase **out) {
    bcase *cases = NULL;
    size_t n = 0, cap = 0;
    char *p = text;
    int line = 0;
    while (*p) {
        char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        line++;
        if (*p == 'T' && p[1] == ' ') {
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                cases = (bcase *)realloc(cases, cap * sizeof(bcase));
            }
            memset(&cases[n], 0, sizeof(bcase));
            cases[n].line = line;
            cases[n].text = parse_hex(p + 2, eol, &cases[n].len);
            if (!cases[n].text) return -1;
            n++;
        } else if (*p == 'I' && (p[1] == ' ' || p[1] == '\n') && n) {
            bcase *c = &cases[n - 1];
            char *q = p + 1;
            c->ids = (int32_t *)malloc(sizeof(int32_t) * ((size_t)(eol - p) / 2 + 1));
            while (q < eol) {
                char *e;
                long v = strtol(q, &e, 10);
                if (e == q) break;
                c->ids[c->n_ids++] = (int32_t)v;
                q = e;
            }
        } else if (*p == 'D' && p[1] == ' ' && n) {
            bcase *c = &cases[n - 1];
            if (!(p[2] == '=' && eol == p + 3)) c->dec = parse_hex(p + 2, eol, &c->dec_len);
        } else if (*p != '#' && eol != p) {
            return -1;
        }
        p = *eol ? eol + 1 : eol;
    }
    *out = cases;
    return (long)n;
}

static int32_t *encode_all(const rwkv__bpe *b, const unsigned char *s, size_t len, size_t *n) {
    int32_t *ids;
    rwkv_error e;
    size_t need = 0;
    rwkv_result r = rwkv__bpe_encode(b, s, len, NULL, 0, &need, &e);
    if (r != RWKV_OK && r != RWKV_ERROR_BUFFER_TOO_SMALL) return NULL;
    ids = (int32_t *)malloc(sizeof(int32_t) * (need + 1));
    if (rwkv__bpe_encode(b, s, len, ids, need, n, &e) != RWKV_OK || *n != need) {
        free(ids);
        return NULL;
    }
    return ids;
}

static unsigned char *decode_all(const rwkv__bpe *b, const int32_t *ids, size_t n, size_t *len) {
    size_t i, total = 0, k;
    unsigned char *out;
    for (i = 0; i < n; i++) {
        if (!rwkv__bpe_token_bytes(b, ids[i], &k)) return NULL;
        total += k;
    }
    out = (unsigned char *)malloc(total + 1);
    for (i = 0, total = 0; i < n; i++) {
        const char *p = rwkv__bpe_token_bytes(b, ids[i], &k);
        memcpy(out + total, p, k);
        total += k;
    }
    *len = total;
    return out;
}

static double now_seconds(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Export the tokenizer as GGUF arrays and load it back. */
static rwkv__bpe *through_arrays(const rwkv__bpe *b) {
    size_t n = (size_t)rwkv__bpe_vocab_size(b), m = rwkv__bpe_merge_count(b), i;
    const char **tokens = (const char **)malloc(n * sizeof(char *));
    size_t *lens = (size_t *)malloc(n * sizeof(size_t));
    int32_t *types = (int32_t *)malloc(n * sizeof(int32_t));
    char **merges = (char **)malloc((m + 1) * sizeof(char *));
    size_t *mlens = (size_t *)malloc((m + 1) * sizeof(size_t));
    rwkv__bpe *c = NULL;
    rwkv_error e;
    for (i = 0; i < n; i++)
        if (rwkv__bpe_token_text(b, (int32_t)i, &tokens[i], &lens[i], &types[i]) != RWKV_OK) return NULL;
    for (i = 0; i < m; i++) {
        const char *a, *bb;
        size_t al, bl;
        rwkv__bpe_merge_text(b, i, &a, &al, &bb, &bl);
        merges[i] = (char *)malloc(al + bl + 2);
        memcpy(merges[i], a, al);
        merges[i][al] = ' ';
        memcpy(merges[i] + al + 1, bb, bl);
        mlens[i] = al + 1 + bl;
    }
    if (rwkv__bpe_load_arrays(&c, tokens, lens, types, n, (const char *const *)merges, mlens, m, &e) != RWKV_OK)
        printf("load_arrays: %s\n", e.message);
    for (i = 0; i < m; i++) free(merges[i]);
    free(merges);
    free(mlens);
    free(tokens);
    free(lens);
    free(types);
    return c;
}

int main(int argc, char **argv) {
    const char *json_path = argc > 1 ? argv[1] : "../shared/data/vocab/20B_tokenizer.json";
    const char *expected_path = argc > 2 ? argv[2] : "tests/data/bpe_expected.txt";
    char *json, *expected;
    size_t json_len, expected_len, i;
    rwkv__bpe *b = NULL, *g = NULL;
    rwkv_error e;
    bcase *cases = NULL;
    long n_cases;
    json = read_file(json_path, &json_len);
    if (!json) {
        printf("SKIP: %s not found (the conformance data lives beside the project)\n", json_path);
        printf("0 passed, 0 failed\n");
        return 0;
    }
    expected = read_file(expected_path, &expected_len);
    if (!expected || (n_cases = parse_expected(expected, &cases)) <= 0) {
        printf("cannot read %s\n", expected_path);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    {
        double t0 = now_seconds();
        rwkv_result r = rwkv__bpe_load_json(&b, json, json_len, &e);
        CHECKF(r == RWKV_OK, "load %s: %s", json_path, e.message);
        if (r != RWKV_OK) {
            printf("%d passed, %d failed\n", g_pass, g_fail);
            return 1;
        }
        printf("loaded %s in %.1f ms: %d ids, %zu merges\n", json_path, (now_seconds() - t0) * 1e3,
               rwkv__bpe_vocab_size(b), rwkv__bpe_merge_count(b));
    }
    CHECKF(rwkv__bpe_vocab_size(b) == 50277, "vocab size %d", rwkv__bpe_vocab_size(b));
    g = through_arrays(b);
    CHECKF(g != NULL, "the GGUF arrays load back");

    for (i = 0; i < (size_t)n_cases; i++) {
        const bcase *c = &cases[i];
        size_t n = 0, k, dlen = 0, want_len = c->dec ? c->dec_len : c->len;
        int32_t *ids = encode_all(b, c->text, c->len, &n);
        unsigned char *dec;
        const unsigned char *want = c->dec ? c->dec : c->text;
        int same = ids && n == c->n_ids;
        for (k = 0; same && k < n; k++) same = ids[k] == c->ids[k];
        CHECKF(same, "line %d: ids differ from HF (%zu vs %zu ids)%s", c->line, n, c->n_ids,
               c->len < 200 ? "" : " [long text]");
        if (!same && ids && g_fail <= 10) {
            printf("   ours:");
            for (k = 0; k < n && k < 40; k++) printf(" %d", (int)ids[k]);
            printf("\n   HF:  ");
            for (k = 0; k < c->n_ids && k < 40; k++) printf(" %d", (int)c->ids[k]);
            printf("\n");
        }
        dec = decode_all(b, c->ids, c->n_ids, &dlen);
        CHECKF(dec && dlen == want_len && memcmp(dec, want, dlen) == 0, "line %d: decode differs from HF",
               c->line);
        free(dec);
        if (c->n_ids > 1) { /* the BUFFER_TOO_SMALL contract */
            int32_t small[1];
            size_t need = 0;
            rwkv_result r = rwkv__bpe_encode(b, c->text, c->len, small, 1, &need, &e);
            CHECKF(r == RWKV_ERROR_BUFFER_TOO_SMALL && need == c->n_ids && small[0] == c->ids[0],
                   "line %d: BUFFER_TOO_SMALL contract", c->line);
        }
        if (g) {
            int32_t *gi = encode_all(g, c->text, c->len, &k);
            int gs = gi && k == c->n_ids;
            size_t q;
            for (q = 0; gs && q < k; q++) gs = gi[q] == c->ids[q];
            CHECKF(gs, "line %d: ids through the GGUF arrays differ", c->line);
            free(gi);
        }
        free(ids);
    }
    if (g) { /* the arrays round trip: same texts, types and merges */
        int same = rwkv__bpe_vocab_size(g) == rwkv__bpe_vocab_size(b) &&
                   rwkv__bpe_merge_count(g) == rwkv__bpe_merge_count(b);
        int32_t id;
        for (id = 0; same && id < rwkv__bpe_vocab_size(b); id++) {
            const char *t1, *t2, *r1, *r2;
            size_t l1, l2, k1, k2;
            int32_t y1, y2;
            rwkv__bpe_token_text(b, id, &t1, &l1, &y1);
            rwkv__bpe_token_text(g, id, &t2, &l2, &y2);
            r1 = rwkv__bpe_token_bytes(b, id, &k1);
            r2 = rwkv__bpe_token_bytes(g, id, &k2);
            same = l1 == l2 && memcmp(t1, t2, l1) == 0 && y1 == y2 && k1 == k2 && memcmp(r1, r2, k1) == 0;
        }
        CHECKF(same, "GGUF arrays round trip (differs at id %d)", (int)id - 1);
    }

    { /* invalid UTF-8: every byte with a token round-trips; 20B has none for
         the 13 bytes that UTF-8 never uses (C0, C1, F5..FF): they are dropped */
        int byte, missing_ok = 1, k;
        static const char *const pieces[] = {"a", " ", "x1", "\x80", "\xbf", "\xe4\xb8", "\xed\xa0\x80",
                                             "\xe0\x80\x80", "\xf4\x90\x80\x80", "\xf0\x9f", "'s", "\n",
                                             "\xc3\xa9", "\xe4\xb8\xad", "<|endoftext|>", "  ", "!"};
        for (byte = 0; byte < 256; byte++) {
            unsigned char one = (unsigned char)byte;
            int32_t id[4];
            size_t n = 0, len = 0;
            const char *p;
            int missing = byte == 0xc0 || byte == 0xc1 || byte >= 0xf5;
            rwkv__bpe_encode(b, &one, 1, id, 4, &n, &e);
            p = n == 1 ? rwkv__bpe_token_bytes(b, id[0], &len) : NULL;
            if (missing ? n != 0 : !(n == 1 && p && len == 1 && (unsigned char)p[0] == one)) missing_ok = 0;
        }
        CHECKF(missing_ok, "single bytes: one token each, none for C0, C1, F5..FF");
        srand(7);
        for (k = 0; k < 500; k++) {
            unsigned char text[256];
            size_t len = 0, n = 0, dl = 0;
            int32_t *ids;
            unsigned char *dec;
            int q, count = 1 + rand() % 20;
            for (q = 0; q < count; q++) {
                const char *p = pieces[rand() % (int)(sizeof(pieces) / sizeof(pieces[0]))];
                memcpy(text + len, p, strlen(p));
                len += strlen(p);
            }
            ids = encode_all(b, text, len, &n);
            dec = ids ? decode_all(b, ids, n, &dl) : NULL;
            CHECKF(dec && dl == len && memcmp(dec, text, len) == 0, "invalid UTF-8 round trip %d", k);
            free(ids);
            free(dec);
        }
    }

    { /* 1 MB of text: the long cases over and over */
        size_t target = 1 << 20, len = 0, n = 0, dl = 0;
        unsigned char *text = (unsigned char *)malloc(target + 65536), *dec;
        int32_t *ids;
        double t0, t1;
        while (len < target) {
            size_t before = len;
            for (i = 0; i < (size_t)n_cases && len < target; i++)
                if (cases[i].len > 150 && !cases[i].dec) {
                    memcpy(text + len, cases[i].text, cases[i].len);
                    len += cases[i].len;
                }
            if (len == before) { /* no long NFC case: any text will do */
                memset(text + len, 'a', target - len);
                len = target;
            }
        }
        {
            double best = 1e30;
            int run;
            ids = NULL;
            for (run = 0; run < 3; run++) { /* the best of three */
                free(ids);
                t0 = now_seconds();
                ids = encode_all(b, text, len, &n);
                t1 = now_seconds();
                if (t1 - t0 < best) best = t1 - t0;
            }
            CHECKF(ids != NULL, "encode 1 MB");
            printf("encoded %zu bytes into %zu tokens in %.1f ms (%.1f MB/s, best of 3)\n", len, n, best * 1e3,
                   (double)len / best / 1e6);
        }
        dec = ids ? decode_all(b, ids, n, &dl) : NULL;
        CHECKF(dec && dl == len && memcmp(dec, text, len) == 0, "1 MB round trip");
        free(dec);
        free(ids);
        free(text);
    }

    for (i = 0; i < (size_t)n_cases; i++) {
        free(cases[i].text);
        free(cases[i].ids);
        free(cases[i].dec);
    }
    free(cases);
    rwkv__bpe_free(b);
    rwkv__bpe_free(g);
    free(json);
    free(expected);
    printf("%zu cases from %s\n", (size_t)n_cases, expected_path);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
