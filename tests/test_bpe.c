/* tests/test_bpe.c - self-contained tests of the byte-level BPE tokenizer
 * (in rwkv.h).
 *
 * Build and run (from the repository root):
 *     cc -std=c11 -Wall -Wextra -pedantic -Werror -O2 -I. -o bin/test_bpe tests/test_bpe.c -lm
 *     ./bin/test_bpe
 * Under the sanitizers:
 *     cc -std=c11 -Wall -Wextra -pedantic -Werror -O1 -g -fsanitize=address,undefined \
 *         -fno-omit-frame-pointer -fno-sanitize-recover=all -I. -o bin/test_bpe_san tests/test_bpe.c -lm
 *     ./bin/test_bpe_san
 * As C++ (the fragment must compile as C++ too):
 *     c++ -x c++ -Wall -Wextra -pedantic -Werror -O1 -I. -o bin/test_bpe_cxx tests/test_bpe.c -lm
 *
 * Reads no file: the vocabularies are built here (a tiny byte-level BPE with
 * hand-checked merges, written as tokenizer.json text and as GGUF arrays).
 * The real 20B tokenizer is checked against Hugging Face by
 * tests/test_bpe_conformance.c.
 *
 * Output: one line per failed check, then "N passed, N failed"; exit status
 * 1 if anything failed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An allocator that can be told to fail, and counts live blocks: every
   failure must come back as an error and leave nothing allocated. */
static long g_budget = -1; /* allocations left before failing; -1: no limit */
static long g_live;
static void *t_malloc(size_t n) {
    void *p;
    if (g_budget == 0) return NULL;
    if (g_budget > 0) g_budget--;
    p = malloc(n);
    if (p) g_live++;
    return p;
}
static void *t_realloc(void *p, size_t n) {
    void *q;
    if (g_budget == 0) return NULL;
    if (g_budget > 0) g_budget--;
    q = realloc(p, n);
    if (q && !p) g_live++;
    return q;
}
static void t_free(void *p) {
    if (p) g_live--;
    free(p);
}
#define RWKV_MALLOC(n) t_malloc(n)
#define RWKV_REALLOC(p, n) t_realloc(p, n)
#define RWKV_FREE(p) t_free(p)

#define RWKV_IMPLEMENTATION
#include "rwkv.h"

static int g_pass, g_fail;

static void check_(int ok, int line, const char *fmt, ...) {
    va_list ap;
    if (ok) {
        g_pass++;
        return;
    }
    if (++g_fail > 200) return;
    printf("test_bpe.c:%d: FAIL ", line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}
#define CHECK(c) check_(!!(c), __LINE__, "%s", #c)
#define CHECKF(c, ...) check_(!!(c), __LINE__, __VA_ARGS__)

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n) { /* splitmix64 */
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) % n);
}

/* ---- a growable string ---- */
typedef struct str {
    char *p;
    size_t n, cap;
} str;

static void put(str *s, const char *t, size_t n) {
    if (s->n + n + 1 > s->cap) {
        s->cap = (s->n + n + 1) * 2;
        s->p = (char *)realloc(s->p, s->cap);
    }
    memcpy(s->p + s->n, t, n);
    s->n += n;
    s->p[s->n] = 0;
}
static void puts_(str *s, const char *t) { put(s, t, strlen(t)); }

/* byte-level form of raw bytes */
static void put_mapped(str *s, const char *raw, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char u[4];
        put(s, (const char *)u, rwkv__bpe_utf8_encode(rwkv__bpe_byte_char((unsigned char)raw[i]), u));
    }
}

/* a JSON string literal of UTF-8 text */
static void put_json_string(str *s, const char *t, size_t n) {
    size_t i;
    put(s, "\"", 1);
    for (i = 0; i < n; i++) {
        char c = t[i];
        if (c == '"' || c == '\\') {
            put(s, "\\", 1);
            put(s, &c, 1);
        } else if ((unsigned char)c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned char)c);
            put(s, esc, 6);
        } else {
            put(s, &c, 1);
        }
    }
    put(s, "\"", 1);
}

/* ---- the tiny vocabulary ----------------------------------------------------
   ids 0..255: the byte-level character of each byte; then the merges below
   (raw text "a b" = merge of a and b), each making the next id. */
static const char *const k_merges[][2] = {
    {"h", "e"},       /* 0 -> 256 he      */
    {"l", "l"},       /* 1 -> 257 ll      */
    {"he", "ll"},     /* 2 -> 258 hell    */
    {"hell", "o"},    /* 3 -> 259 hello   */
    {" ", "w"},       /* 4 -> 260 " w"    */
    {"o", "r"},       /* 5 -> 261 or      */
    {" w", "or"},     /* 6 -> 262 " wor"  */
    {"l", "d"},       /* 7 -> 263 ld      */
    {" wor", "ld"},   /* 8 -> 264 " world"*/
    {"a", "a"},       /* 9 -> 265 aa      */
    {"b", "c"},       /* 10 -> 266 bc     */
    {"a", "b"},       /* 11 -> 267 ab     */
    {"a", "bc"},      /* 12 -> 268 abc    */
    {"ab", "c"},      /* 13 -> 268 abc (same token: no new id) */
    {"x", "y"},       /* 14 -> 269 xy     */
    {" ", " "},       /* 15 -> 270 "  "   */
};
#define N_MERGES (sizeof(k_merges) / sizeof(k_merges[0]))
#define N_MODEL 271

/* raw text of model token id */
static void model_token(int id, str *out) {
    out->n = 0;
    put(out, "", 0);
    if (id < 256) {
        char c = (char)id;
        put(out, &c, 1);
        return;
    }
    {
        size_t i;
        int next = 256;
        for (i = 0; i < N_MERGES; i++) {
            if (i == 13) continue; /* makes no new token */
            if (next == id) {
                puts_(out, k_merges[i][0]);
                puts_(out, k_merges[i][1]);
                return;
            }
            next++;
        }
    }
}

/* Added tokens (ids as HF assigns them: from N_MODEL on, or the model id). */
#define ID_EOT 271
#define ID_SPACES 272
#define ID_A 273
#define ID_AB_ 274
#define ID_BLT 275
#define ID_MASK 276
#define ID_WORD 277
#define ID_EACUTE 278
#define ID_EACUTE_RAW 279
#define N_VOCAB 280

typedef struct opts {
    const char *normalizer;  /* JSON of the normalizer                        */
    const char *pretok;      /* JSON of the pre_tokenizer                     */
    const char *model_extra; /* more members of model                         */
    int array_merges;        /* merges as ["a", "b"]                          */
    int drop_byte;           /* a byte to leave out of the vocabulary (-1)    */
} opts;

static char *tiny_json(const opts *o, size_t *len) {
    str s = {NULL, 0, 0}, t = {NULL, 0, 0};
    int id;
    size_t i;
    puts_(&s, "{\n  \"version\": \"1.0\", \"truncation\": null, \"padding\": null,\n  \"added_tokens\": [\n");
    /* the "id" members are wrong on purpose: HF ignores them */
    puts_(&s, "    {\"id\": 5, \"content\": \"<|endoftext|>\", \"single_word\": false, \"lstrip\": false, "
              "\"rstrip\": false, \"normalized\": false, \"special\": true},\n");
    puts_(&s, "    {\"id\": 6, \"content\": \"  \", \"special\": false},\n"); /* normalized by default */
    puts_(&s, "    {\"id\": 7, \"content\": \"<a>\", \"normalized\": false},\n");
    puts_(&s, "    {\"id\": 8, \"content\": \"<a><b>\", \"normalized\": false},\n");
    puts_(&s, "    {\"id\": 9, \"content\": \"b><\", \"normalized\": false},\n");
    puts_(&s, "    {\"content\": \"<mask>\", \"normalized\": false, \"lstrip\": false},\n");
    puts_(&s, "    {\"content\": \"<mask>\", \"normalized\": false, \"lstrip\": true, \"rstrip\": true},\n");
    puts_(&s, "    {\"content\": \"word\", \"normalized\": false, \"single_word\": true},\n");
    puts_(&s, "    {\"content\": \"e\\u0301!\", \"normalized\": true},\n");
    puts_(&s, "    {\"content\": \"\\u00e9?\", \"normalized\": false},\n");
    puts_(&s, "    {\"content\": \"xy\", \"normalized\": false},\n"); /* a model token: keeps its id */
    puts_(&s, "    {\"content\": \"\", \"special\": true}\n");              /* ignored */
    puts_(&s, "  ],\n  \"normalizer\": ");
    puts_(&s, o->normalizer ? o->normalizer : "{\"type\": \"NFC\"}");
    puts_(&s, ",\n  \"pre_tokenizer\": ");
    puts_(&s, o->pretok ? o->pretok
                        : "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true}");
    puts_(&s, ",\n  \"post_processor\": {\"type\": \"ByteLevel\", \"nested\": [[[{}]]]},\n  \"decoder\": null,\n");
    puts_(&s, "  \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, \"fuse_unk\": false, ");
    if (o->model_extra) puts_(&s, o->model_extra);
    puts_(&s, "\n    \"vocab\": {");
    for (id = 0; id < N_MODEL; id++) {
        char num[32];
        if (id == o->drop_byte) continue;
        model_token(id, &t);
        str m = {NULL, 0, 0};
        put_mapped(&m, t.p, t.n);
        if (id) puts_(&s, ", ");
        put_json_string(&s, m.p, m.n);
        snprintf(num, sizeof num, ": %d", id);
        puts_(&s, num);
        free(m.p);
    }
    puts_(&s, "},\n    \"merges\": [");
    if (!o->array_merges) puts_(&s, "\"#version: 0.2\", ");
    for (i = 0; i < N_MERGES; i++) {
        str a = {NULL, 0, 0}, b = {NULL, 0, 0};
        put_mapped(&a, k_merges[i][0], strlen(k_merges[i][0]));
        put_mapped(&b, k_merges[i][1], strlen(k_merges[i][1]));
        if (i) puts_(&s, ", ");
        if (o->array_merges) {
            puts_(&s, "[");
            put_json_string(&s, a.p, a.n);
            puts_(&s, ", ");
            put_json_string(&s, b.p, b.n);
            puts_(&s, "]");
        } else {
            str ab = {NULL, 0, 0};
            put(&ab, a.p, a.n);
            put(&ab, " ", 1);
            put(&ab, b.p, b.n);
            put_json_string(&s, ab.p, ab.n);
            free(ab.p);
        }
        free(a.p);
        free(b.p);
    }
    puts_(&s, "]\n  }\n}\n");
    free(t.p);
    *len = s.n;
    return s.p;
}

static rwkv__bpe *load_tiny(const opts *o) {
    size_t len;
    char *json = tiny_json(o, &len);
    rwkv__bpe *b = NULL;
    rwkv_error e;
    rwkv_result r = rwkv__bpe_load_json(&b, json, len, &e);
    CHECKF(r == RWKV_OK, "load tiny json: %s", e.message);
    free(json);
    return b;
}

static const opts k_default = {NULL, NULL, NULL, 0, -1};

/* encode and compare with the expected ids (terminated by -1) */
static void expect_ids(const rwkv__bpe *b, const char *text, size_t len, const int *want, int line) {
    int32_t ids[512];
    size_t n = 0, k, w = 0;
    rwkv_error e;
    rwkv_result r = rwkv__bpe_encode(b, (const unsigned char *)text, len, ids, 512, &n, &e);
    int ok = r == RWKV_OK;
    while (want[w] >= 0) w++;
    ok = ok && n == w;
    for (k = 0; ok && k < n; k++) ok = ids[k] == want[k];
    check_(ok, line, "encode \"%s\": got %zu ids", text, n);
    if (!ok) {
        printf("   got:");
        for (k = 0; k < n && k < 40; k++) printf(" %d", (int)ids[k]);
        printf("\n   want:");
        for (k = 0; k < w; k++) printf(" %d", want[k]);
        printf("\n");
    }
}
#define EXPECT_IDS(b, text, ...)                                                   \
    do {                                                                           \
        static const int want_[] = {__VA_ARGS__, -1};                              \
        expect_ids((b), (text), strlen(text), want_, __LINE__);                    \
    } while (0)
#define EXPECT_NONE(b, text)                                                       \
    do {                                                                           \
        static const int want_[] = {-1};                                           \
        expect_ids((b), (text), strlen(text), want_, __LINE__);                    \
    } while (0)

/* decode ids into out (NUL-terminated), returns length or (size_t)-1 */
static size_t decode(const rwkv__bpe *b, const int32_t *ids, size_t n, char *out, size_t cap) {
    size_t i, total = 0, k;
    for (i = 0; i < n; i++) {
        const char *p = rwkv__bpe_token_bytes(b, ids[i], &k);
        if (!p || total + k >= cap) return (size_t)-1;
        memcpy(out + total, p, k);
        total += k;
    }
    out[total] = 0;
    return total;
}

static int round_trips(const rwkv__bpe *b, const char *text, size_t len) {
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (len + 1));
    char *out = (char *)malloc(len * 4 + 16);
    size_t n = 0, got;
    rwkv_error e;
    int ok = rwkv__bpe_encode(b, (const unsigned char *)text, len, ids, len + 1, &n, &e) == RWKV_OK;
    got = ok ? decode(b, ids, n, out, len * 4 + 16) : (size_t)-1;
    ok = ok && got == len && memcmp(out, text, len) == 0;
    free(ids);
    free(out);
    return ok;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_byte_mapping(void) {
    unsigned seen[512] = {0};
    unsigned b;
    for (b = 0; b < 256; b++) {
        uint32_t c = rwkv__bpe_byte_char(b);
        CHECKF(c < 512 && !seen[c], "byte %u maps to a fresh character", b);
        if (c < 512) seen[c] = 1;
        CHECKF(rwkv__bpe_char_byte(c) == (int)b, "byte %u maps back", b);
    }
    /* GPT-2's bytes_to_unicode, spot checks */
    CHECK(rwkv__bpe_byte_char(' ') == 0x120);  /* Ġ */
    CHECK(rwkv__bpe_byte_char('\n') == 0x10a); /* Ċ */
    CHECK(rwkv__bpe_byte_char('\t') == 0x109); /* ĉ */
    CHECK(rwkv__bpe_byte_char(0) == 0x100);
    CHECK(rwkv__bpe_byte_char(127) == 0x121);
    CHECK(rwkv__bpe_byte_char(160) == 0x142);
    CHECK(rwkv__bpe_byte_char(173) == 0x143);
    CHECK(rwkv__bpe_byte_char('!') == '!' && rwkv__bpe_byte_char(0xff) == 0xff);
    CHECK(rwkv__bpe_char_byte(0x144) == -1 && rwkv__bpe_char_byte(' ') == -1 && rwkv__bpe_char_byte(0xad) == -1);
}

static void test_utf8(void) {
    static const struct {
        const char *s;
        size_t n, len;
        uint32_t cp;
    } cases[] = {
        {"A", 1, 1, 'A'},
        {"\xc3\xa9", 2, 2, 0xe9},
        {"\xe4\xb8\xad", 3, 3, 0x4e2d},
        {"\xf0\x9f\x98\x80", 4, 4, 0x1f600},
        {"\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff},
        {"\xc0\x80", 2, 1, RWKV__BPE_BAD + 0xc0},     /* overlong */
        {"\xc1\xbf", 2, 1, RWKV__BPE_BAD + 0xc1},     /* overlong */
        {"\xe0\x80\x80", 3, 1, RWKV__BPE_BAD + 0xe0}, /* overlong */
        {"\xed\xa0\x80", 3, 1, RWKV__BPE_BAD + 0xed}, /* surrogate */
        {"\xf0\x80\x80\x80", 4, 1, RWKV__BPE_BAD + 0xf0},
        {"\xf4\x90\x80\x80", 4, 1, RWKV__BPE_BAD + 0xf4}, /* > U+10FFFF */
        {"\xf5\x80\x80\x80", 4, 1, RWKV__BPE_BAD + 0xf5},
        {"\x80", 1, 1, RWKV__BPE_BAD + 0x80},
        {"\xe4\xb8", 2, 1, RWKV__BPE_BAD + 0xe4}, /* truncated */
        {"\xe4\xb8\xad", 2, 1, RWKV__BPE_BAD + 0xe4}, /* truncated by n */
        {"\xc3(", 2, 1, RWKV__BPE_BAD + 0xc3},
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t cp;
        unsigned char out[4];
        size_t len = rwkv__bpe_utf8_decode((const unsigned char *)cases[i].s, cases[i].n, &cp);
        CHECKF(len == cases[i].len && cp == cases[i].cp, "utf8 case %zu: len %zu cp %x", i, len, (unsigned)cp);
        CHECKF(rwkv__bpe_utf8_encode(cp, out) == len && memcmp(out, cases[i].s, len) == 0, "utf8 re-encode %zu", i);
    }
    CHECK(rwkv__bpe_valid_utf8("abc\xc3\xa9", 5) && !rwkv__bpe_valid_utf8("ab\xff", 3));
}

static void test_classes(void) {
    CHECK(rwkv__bpe_flags('a') == RWKV__BPE_LETTER && rwkv__bpe_flags('Z') == RWKV__BPE_LETTER);
    CHECK(rwkv__bpe_flags('5') == RWKV__BPE_NUMBER && rwkv__bpe_flags(' ') == RWKV__BPE_SPACE);
    CHECK(rwkv__bpe_flags('\'') == RWKV__BPE_OTHER && rwkv__bpe_flags('_') == RWKV__BPE_OTHER);
    CHECK(rwkv__bpe_flags(0x0b) == RWKV__BPE_SPACE && rwkv__bpe_flags(0x1c) == RWKV__BPE_OTHER);
    CHECK((rwkv__bpe_flags(0xe9) & 3) == RWKV__BPE_LETTER);  /* é */
    CHECK((rwkv__bpe_flags(0x4e2d) & 3) == RWKV__BPE_LETTER); /* 中 */
    CHECK((rwkv__bpe_flags(0x0661) & 3) == RWKV__BPE_NUMBER); /* Arabic-Indic 1 */
    CHECK((rwkv__bpe_flags(0xbd) & 3) == RWKV__BPE_NUMBER);   /* ½ (No) */
    CHECK((rwkv__bpe_flags(0x2160) & 3) == RWKV__BPE_NUMBER); /* Ⅰ (Nl) */
    CHECK((rwkv__bpe_flags(0xa0) & 3) == RWKV__BPE_SPACE);
    CHECK((rwkv__bpe_flags(0x85) & 3) == RWKV__BPE_SPACE);
    CHECK((rwkv__bpe_flags(0x3000) & 3) == RWKV__BPE_SPACE);
    CHECK((rwkv__bpe_flags(0x2028) & 3) == RWKV__BPE_SPACE);
    CHECK((rwkv__bpe_flags(0x180e) & 3) == RWKV__BPE_OTHER); /* not Zs since Unicode 6.3 */
    CHECK((rwkv__bpe_flags(0x200b) & 3) == RWKV__BPE_OTHER); /* zero width space: Cf */
    CHECK((rwkv__bpe_flags(0x1f600) & 3) == RWKV__BPE_OTHER);
    CHECK((rwkv__bpe_flags(0x301) & 3) == RWKV__BPE_OTHER && (rwkv__bpe_flags(0x301) & RWKV__BPE_UNSAFE));
    CHECK(!(rwkv__bpe_flags(0xe9) & RWKV__BPE_UNSAFE) && !(rwkv__bpe_flags(0xac00) & RWKV__BPE_UNSAFE));
    CHECK(rwkv__bpe_flags(0x1161) & RWKV__BPE_UNSAFE); /* Hangul V: composes with what precedes */
    CHECK(rwkv__bpe_flags(0x212b) & RWKV__BPE_UNSAFE); /* Angstrom sign: NFC_QC = No */
    CHECK((rwkv__bpe_flags(0x10ffff) & 3) == RWKV__BPE_OTHER && rwkv__bpe_flags(RWKV__BPE_BAD + 5) == 0);
    CHECK(rwkv__bpe_ccc(0x301) == 230 && rwkv__bpe_ccc(0x323) == 220 && rwkv__bpe_ccc('a') == 0);
    CHECK(rwkv__bpe_ccc(0x1df6) == 0); /* Unicode 10.0: unknown to HF's NFC (9.0) */
}

/* split with rwkv__bpe_pretoken and compare with "|"-separated pieces */
static void expect_split(const char *text, const char *want, int line) {
    str got = {NULL, 0, 0};
    size_t n = strlen(text), i = 0;
    while (i < n) {
        size_t k = rwkv__bpe_pretoken((const unsigned char *)text + i, n - i);
        if (k == 0 || k > n - i) break;
        if (i) put(&got, "|", 1);
        put(&got, text + i, k);
        i += k;
    }
    if (!got.p) puts_(&got, "");
    check_(strcmp(got.p, want) == 0, line, "split \"%s\": got \"%s\", want \"%s\"", text, got.p, want);
    free(got.p);
}
#define EXPECT_SPLIT(text, want) expect_split((text), (want), __LINE__)

static void test_pretokenizer(void) {
    EXPECT_SPLIT("Hello world", "Hello| world");
    EXPECT_SPLIT("Hello, world!", "Hello|,| world|!");
    EXPECT_SPLIT("I'm", "I|'m");
    EXPECT_SPLIT("he's she'd we've they'll you're don't", "he|'s| she|'d| we|'ve| they|'ll| you|'re| don|'t");
    EXPECT_SPLIT("HE'S", "HE|'|S");
    EXPECT_SPLIT("he'sx", "he|'s|x");
    EXPECT_SPLIT("'ll've're", "'ll|'ve|'re");
    EXPECT_SPLIT("'", "'");
    EXPECT_SPLIT("'l", "'|l");
    EXPECT_SPLIT("''s", "''|s");
    EXPECT_SPLIT(" 's", " '|s");
    EXPECT_SPLIT("a  b", "a| | b");
    EXPECT_SPLIT("a   b", "a|  | b");
    EXPECT_SPLIT("a   ", "a|   ");
    EXPECT_SPLIT("  a", " | a");
    EXPECT_SPLIT(" ", " ");
    EXPECT_SPLIT("\t\ta", "\t|\t|a");
    EXPECT_SPLIT("x \n y", "x| \n| y");
    EXPECT_SPLIT("x  \n", "x|  \n");
    EXPECT_SPLIT("x\n\ny", "x|\n|\n|y");
    EXPECT_SPLIT("a\r\nb", "a|\r|\n|b");
    EXPECT_SPLIT("123abc 456 7", "123|abc| 456| 7");
    EXPECT_SPLIT("x!!? !!", "x|!!?| !!");
    EXPECT_SPLIT("a.b", "a|.|b");
    EXPECT_SPLIT(" .x", " .|x");
    EXPECT_SPLIT("caf\xc3\xa9 na\xc3\xafve", "caf\xc3\xa9| na\xc3\xafve");
    EXPECT_SPLIT("1\xc2\xbd x", "1\xc2\xbd| x");                       /* ½ is a number */
    EXPECT_SPLIT("\xe4\xb8\xad\xe6\x96\x87 ok", "\xe4\xb8\xad\xe6\x96\x87| ok"); /* 中文 */
    EXPECT_SPLIT("a\xc2\xa0" "b", "a|\xc2\xa0|b");                          /* NBSP */
    EXPECT_SPLIT(" \xc2\xa0" "b", " |\xc2\xa0|b");
    EXPECT_SPLIT("\xf0\x9f\x98\x80\xf0\x9f\x98\x80!", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80!");
    EXPECT_SPLIT("e\xcc\x81x", "e|\xcc\x81|x"); /* a combining mark is not a letter */
    /* invalid bytes: "other" characters of their own */
    EXPECT_SPLIT("a\xff" "b", "a|\xff|b");
    EXPECT_SPLIT(" \xff\xfe!", " \xff\xfe!");
    EXPECT_SPLIT("\xe4\xb8!x", "\xe4\xb8!|x");
    EXPECT_SPLIT("a\x80\x80 b", "a|\x80\x80| b");
}

static void test_nfc(const rwkv__bpe *b) {
    static const char *const cases[][2] = {
        {"e\xcc\x81", "\xc3\xa9"},                                       /* e + acute -> é */
        {"\xc3\xa9", "\xc3\xa9"},
        {"a\xcc\x81\xcc\xa3", "\xe1\xba\xa1\xcc\x81"},                   /* reordered, then ạ + acute */
        {"a\xcc\xa3\xcc\x81", "\xe1\xba\xa1\xcc\x81"},
        {"\xe2\x84\xab", "\xc3\x85"},                                    /* Angstrom sign -> Å */
        {"\xe2\x84\xa6", "\xce\xa9"},                                    /* Ohm sign -> Omega */
        {"\xcd\x84", "\xcc\x88\xcc\x81"},                                /* U+0344 */
        {"\xe0\xa5\x98", "\xe0\xa4\x95\xe0\xa4\xbc"},                    /* U+0958: excluded */
        {"\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81"},        /* Hangul L V T -> 각 */
        {"\xea\xb0\x80\xe1\x86\xa8", "\xea\xb0\x81"},                    /* LV + T */
        {"\xef\xa4\x80", "\xe8\xb1\x88"},                                /* CJK compatibility U+F900 */
        {"\xcc\x81" "a", "\xcc\x81" "a"},                                /* leading mark stays */
        {"e\xff\xcc\x81", "e\xff\xcc\x81"},                              /* an invalid byte blocks */
        {"\xf0\x91\xa4\xb5\xf0\x91\xa4\xb0", "\xf0\x91\xa4\xb5\xf0\x91\xa4\xb0"}, /* Unicode 13: not in 9.0 */
        {"abc", "abc"},
        {"", ""},
    };
    rwkv__bpe_work w;
    size_t i;
    memset(&w, 0, sizeof(w));
    w.b = b;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const unsigned char *out;
        size_t n;
        int ok = rwkv__bpe_nfc(&w, (const unsigned char *)cases[i][0], strlen(cases[i][0]), &out, &n);
        CHECKF(ok && n == strlen(cases[i][1]) && memcmp(out, cases[i][1], n) == 0, "NFC case %zu", i);
    }
    { /* a long run of marks (the counting sort): stable by class */
        str s = {NULL, 0, 0}, want = {NULL, 0, 0};
        const unsigned char *out;
        size_t n, k;
        puts_(&s, "x");
        puts_(&want, "x");
        for (k = 0; k < 50; k++) puts_(&s, k % 2 ? "\xcc\x81" : "\xcc\xa3"); /* 230, 220 */
        for (k = 0; k < 25; k++) puts_(&want, "\xcc\xa3");
        for (k = 0; k < 25; k++) puts_(&want, "\xcc\x81");
        CHECK(rwkv__bpe_nfc(&w, (const unsigned char *)s.p, s.n, &out, &n) && n == want.n &&
              memcmp(out, want.p, n) == 0);
        free(s.p);
        free(want.p);
    }
    rwkv__bpe_work_free(&w);
}

static void test_encode(const rwkv__bpe *b) {
    EXPECT_NONE(b, "");
    EXPECT_IDS(b, "hello world", 259, 264);
    EXPECT_IDS(b, "hello", 259);
    EXPECT_IDS(b, "hell", 258);
    EXPECT_IDS(b, "helo", 256, 'l', 'o');
    EXPECT_IDS(b, "world", 'w', 261, 263);
    EXPECT_IDS(b, " world", 264);
    EXPECT_IDS(b, "abc", 268);          /* b c (rank 10) before a b (rank 11), then a bc */
    EXPECT_IDS(b, "aaa", 265, 'a');     /* equal ranks: the leftmost first */
    EXPECT_IDS(b, "aaaa", 265, 265);
    EXPECT_IDS(b, "aaaaa", 265, 265, 'a');
    EXPECT_IDS(b, "xyxy", 269, 269);
    EXPECT_IDS(b, "x y", 'x', ' ', 'y'); /* " y": the space's token (id 32) and y: no merge */
    EXPECT_IDS(b, "hello  world", 259, ID_SPACES, 'w', 261, 263);
    EXPECT_IDS(b, "a   b", 'a', ID_SPACES, ' ', 'b');
    EXPECT_IDS(b, "\n", '\n');
    EXPECT_IDS(b, "\xe4\xb8\xad", 0xe4, 0xb8, 0xad);
    /* added tokens, matched in the raw text */
    EXPECT_IDS(b, "<|endoftext|>", ID_EOT);
    EXPECT_IDS(b, "hello<|endoftext|>world", 259, ID_EOT, 'w', 261, 263);
    EXPECT_IDS(b, "<|endoftext|<|endoftext|>", '<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x', 't', '|', ID_EOT);
    EXPECT_IDS(b, "<a><b>", ID_AB_);           /* the longest at the leftmost position */
    EXPECT_IDS(b, "<a>b><c", ID_A, ID_BLT, 'c'); /* then the leftmost after it */
    EXPECT_IDS(b, "x<a><b", 'x', ID_A, '<', 'b');
    EXPECT_IDS(b, "a  <mask>  b", 'a', ID_MASK, 'b');     /* lstrip and rstrip eat the spaces */
    EXPECT_IDS(b, "<mask><mask>", ID_MASK, ID_MASK);
    EXPECT_IDS(b, "a word b", 'a', ' ', ID_WORD, ' ', 'b'); /* single_word */
    EXPECT_IDS(b, "swordfish", 's', 'w', 261, 'd', 'f', 'i', 's', 'h');
    EXPECT_IDS(b, "word", ID_WORD);
    EXPECT_IDS(b, "words", 'w', 261, 'd', 's');
    EXPECT_IDS(b, "(word)", '(', ID_WORD, ')');
    /* normalized=true tokens match the NFC text; normalized=false the raw text */
    EXPECT_IDS(b, "e\xcc\x81!", ID_EACUTE);
    EXPECT_IDS(b, "\xc3\xa9!", ID_EACUTE);
    EXPECT_IDS(b, "\xc3\xa9?", ID_EACUTE_RAW);
    EXPECT_IDS(b, "e\xcc\x81?", 0xc3, 0xa9, '?');
    /* the raw split comes before NFC: the mark does not reach the e */
    EXPECT_IDS(b, "e<|endoftext|>\xcc\x81", 'e', ID_EOT, 0xcc, 0x81);
    EXPECT_IDS(b, "e\xcc\x81", 0xc3, 0xa9);
    { /* NFC makes U+1D160 three times longer: 3 * len ids */
        static const char note[] = "\xf0\x9d\x85\xa0\xf0\x9d\x85\xa0\xf0\x9d\x85\xa0";
        size_t n = 0;
        CHECK(rwkv__bpe_encode(b, (const unsigned char *)note, 12, NULL, 0, &n, NULL) ==
                  RWKV_ERROR_BUFFER_TOO_SMALL && n == 36);
    }
    /* invalid UTF-8: single bytes */
    EXPECT_IDS(b, "a\xff" "b", 'a', 0xff, 'b');
    EXPECT_IDS(b, "\xc3", 0xc3);
}

static void test_contract(const rwkv__bpe *b) {
    int32_t ids[4];
    size_t n = 99;
    rwkv_error e;
    CHECK(rwkv__bpe_encode(b, (const unsigned char *)"hello world", 11, ids, 1, &n, &e) ==
              RWKV_ERROR_BUFFER_TOO_SMALL &&
          n == 2 && ids[0] == 259 && e.code == RWKV_ERROR_BUFFER_TOO_SMALL && e.message[0]);
    n = 99;
    CHECK(rwkv__bpe_encode(b, (const unsigned char *)"hello world", 11, NULL, 0, &n, NULL) ==
              RWKV_ERROR_BUFFER_TOO_SMALL && n == 2);
    CHECK(rwkv__bpe_encode(b, NULL, 0, NULL, 0, &n, &e) == RWKV_OK && n == 0 && e.code == RWKV_OK);
    CHECK(rwkv__bpe_encode(b, (const unsigned char *)"hello", 5, ids, 4, &n, &e) == RWKV_OK && n == 1);
    CHECK(rwkv__bpe_encode(NULL, (const unsigned char *)"x", 1, ids, 4, &n, &e) == RWKV_ERROR_INVALID_ARGUMENT);
    CHECK(rwkv__bpe_encode(b, NULL, 1, ids, 4, &n, &e) == RWKV_ERROR_INVALID_ARGUMENT);
    CHECK(rwkv__bpe_encode(b, (const unsigned char *)"x", 1, NULL, 4, &n, &e) == RWKV_ERROR_INVALID_ARGUMENT);
    CHECK(rwkv__bpe_encode(b, (const unsigned char *)"x", 1, ids, 4, NULL, &e) == RWKV_ERROR_INVALID_ARGUMENT);
}

static void test_queries(const rwkv__bpe *b) {
    const char *t, *a, *bb;
    size_t len, al, bl;
    int32_t type;
    CHECK(rwkv__bpe_vocab_size(b) == N_VOCAB && rwkv__bpe_vocab_size(NULL) == 0);
    CHECK(rwkv__bpe_token_bytes(b, -1, &len) == NULL && rwkv__bpe_token_bytes(b, N_VOCAB, &len) == NULL);
    CHECK((t = rwkv__bpe_token_bytes(b, 32, &len)) && len == 1 && t[0] == ' ');
    CHECK((t = rwkv__bpe_token_bytes(b, 264, &len)) && len == 6 && memcmp(t, " world", 6) == 0);
    CHECK((t = rwkv__bpe_token_bytes(b, ID_EOT, &len)) && len == 13 && memcmp(t, "<|endoftext|>", 13) == 0);
    CHECK((t = rwkv__bpe_token_bytes(b, ID_SPACES, &len)) && len == 2 && memcmp(t, "  ", 2) == 0);
    CHECK(rwkv__bpe_token_text(b, 264, &t, &len, &type) == RWKV_OK && len == 7 &&
          memcmp(t, "\xc4\xa0world", 7) == 0 && type == RWKV__BPE_TYPE_NORMAL);
    CHECK(rwkv__bpe_token_text(b, ID_EOT, &t, &len, &type) == RWKV_OK && type == RWKV__BPE_TYPE_CONTROL);
    CHECK(rwkv__bpe_token_text(b, ID_SPACES, &t, &len, &type) == RWKV_OK && len == 2 && memcmp(t, "  ", 2) == 0 &&
          type == RWKV__BPE_TYPE_USER_DEFINED);
    CHECK(rwkv__bpe_token_text(b, 269, &t, &len, &type) == RWKV_OK && type == RWKV__BPE_TYPE_USER_DEFINED);
    CHECK(rwkv__bpe_token_text(b, 267, &t, &len, &type) == RWKV_OK && type == RWKV__BPE_TYPE_NORMAL);
    CHECK(rwkv__bpe_token_text(b, N_VOCAB, &t, &len, &type) == RWKV_ERROR_TOKEN_RANGE);
    CHECK(rwkv__bpe_merge_count(b) == N_MERGES && rwkv__bpe_merge_count(NULL) == 0);
    rwkv__bpe_merge_text(b, 4, &a, &al, &bb, &bl);
    CHECK(al == 2 && memcmp(a, "\xc4\xa0", 2) == 0 && bl == 1 && bb[0] == 'w');
    rwkv__bpe_merge_text(b, N_MERGES, &a, &al, &bb, &bl);
    CHECK(a == NULL && bb == NULL && al == 0 && bl == 0);
}

/* the tokenizer through its GGUF arrays gives the same ids */
static void test_arrays(const rwkv__bpe *b) {
    size_t n = (size_t)rwkv__bpe_vocab_size(b), m = rwkv__bpe_merge_count(b), i;
    const char **tokens = (const char **)malloc(n * sizeof(char *));
    size_t *lens = (size_t *)malloc(n * sizeof(size_t));
    int32_t *types = (int32_t *)malloc(n * sizeof(int32_t));
    char **merges = (char **)malloc(m * sizeof(char *));
    size_t *mlens = (size_t *)malloc(m * sizeof(size_t));
    rwkv__bpe *g = NULL;
    rwkv_error e;
    for (i = 0; i < n; i++) rwkv__bpe_token_text(b, (int32_t)i, &tokens[i], &lens[i], &types[i]);
    for (i = 0; i < m; i++) {
        const char *a, *bb;
        size_t al, bl;
        rwkv__bpe_merge_text(b, i, &a, &al, &bb, &bl);
        merges[i] = (char *)malloc(al + bl + 1);
        memcpy(merges[i], a, al);
        merges[i][al] = ' ';
        memcpy(merges[i] + al + 1, bb, bl);
        mlens[i] = al + bl + 1;
    }
    CHECKF(rwkv__bpe_load_arrays(&g, tokens, lens, types, n, (const char *const *)merges, mlens, m, &e) ==
               RWKV_OK, "load_arrays: %s", e.message);
    if (g) {
        /* the added tokens' flags GGUF cannot carry (lstrip, single_word) are lost */
        EXPECT_IDS(g, "hello  world<|endoftext|>abc e\xcc\x81! \xc3\xa9?", 259, ID_SPACES, 'w', 261, 263, ID_EOT,
                   268, ' ', ID_EACUTE, ' ', ID_EACUTE_RAW);
        EXPECT_IDS(g, "a word", 'a', ' ', ID_WORD);
        EXPECT_IDS(g, "swordfish", 's', ID_WORD, 'f', 'i', 's', 'h');
        CHECK(rwkv__bpe_vocab_size(g) == N_VOCAB && rwkv__bpe_merge_count(g) == N_MERGES);
        rwkv__bpe_free(g);
        g = NULL;
    }
    /* hostile arrays */
    {
        const char *bad_tok[] = {"a", "b\xff"};
        size_t bad_len[] = {1, 2};
        CHECK(rwkv__bpe_load_arrays(&g, bad_tok, bad_len, NULL, 2, NULL, NULL, 0, &e) == RWKV_ERROR_BAD_FORMAT &&
              g == NULL && e.message[0]);
    }
    {
        const char *tok[] = {"a", "b", "ab"};
        size_t tl[] = {1, 1, 2};
        const char *mg1[] = {"ab"}, *mg2[] = {"a c"}, *mg3[] = {"a b"}, *mg4[] = {" "};
        size_t ml1[] = {2}, ml2[] = {3}, ml4[] = {1};
        CHECK(rwkv__bpe_load_arrays(&g, tok, tl, NULL, 3, mg1, ml1, 1, &e) == RWKV_ERROR_BAD_FORMAT);
        CHECK(rwkv__bpe_load_arrays(&g, tok, tl, NULL, 3, mg2, ml2, 1, &e) == RWKV_ERROR_BAD_FORMAT);
        CHECK(rwkv__bpe_load_arrays(&g, tok, tl, NULL, 3, mg4, ml4, 1, &e) == RWKV_ERROR_BAD_FORMAT);
        CHECK(rwkv__bpe_load_arrays(&g, tok, tl, NULL, 3, mg3, ml2, 1, &e) == RWKV_OK && g);
        if (g) {
            static const int want[] = {2, -1}; /* "ab": a and b are not byte-level tokens, but 'a' is */
            expect_ids(g, "ab", 2, want, __LINE__);
            rwkv__bpe_free(g);
            g = NULL;
        }
        CHECK(rwkv__bpe_load_arrays(&g, NULL, tl, NULL, 3, NULL, NULL, 0, &e) == RWKV_ERROR_INVALID_ARGUMENT);
        CHECK(rwkv__bpe_load_arrays(NULL, tok, tl, NULL, 3, NULL, NULL, 0, &e) == RWKV_ERROR_INVALID_ARGUMENT);
        CHECK(rwkv__bpe_load_arrays(&g, tok, tl, NULL, 0, NULL, NULL, 0, &e) == RWKV_ERROR_BAD_FORMAT);
        CHECK(rwkv__bpe_load_arrays(&g, tok, tl, NULL, (size_t)RWKV__BPE_MAX_ID + 1, NULL, NULL, 0, &e) ==
              RWKV_ERROR_BAD_FORMAT);
    }
    for (i = 0; i < m; i++) free(merges[i]);
    free(merges);
    free(mlens);
    free(tokens);
    free(lens);
    free(types);
}

static void test_round_trips(const rwkv__bpe *b, const rwkv__bpe *raw) {
    static const char *const texts[] = {
        "", "hello world", "  leading and trailing  ", "tabs\tand\nnewlines\r\n", "<|endoftext|>x<a><b>",
        "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", "it's 'quoted'",
        "\xff\xfe\x80 invalid \xc0\x80 \xed\xa0\x80 \xf4\x90\x80\x80 \xe4\xb8", "\x01\x02 controls\x7f",
    };
    /* ("!" is left out: the added token "e\u0301!" decodes to its content) */
    static const char *const safe[] = {"a", "b", " ", "  ", "\t", "\n", "'", "'s", "x", "1", "?", "<", "|",
                                       "<|endoftext|>", "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80",
                                       "\xc2\xa0", "\x80", "\xbf", "\xc0", "\xff", "\xf5", "\xe4\xb8", "\x00"};
    size_t i, k;
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        CHECKF(round_trips(b, texts[i], strlen(texts[i])), "round trip %zu", i);
    CHECK(round_trips(b, "\x00\x01", 2));
    /* random NFC-safe pieces, valid or not: decode(encode(s)) == s */
    for (k = 0; k < 300; k++) {
        str s = {NULL, 0, 0};
        size_t n = 1 + rnd(40);
        for (i = 0; i < n; i++) {
            const char *p = safe[rnd(sizeof(safe) / sizeof(safe[0]))];
            put(&s, p, p[0] ? strlen(p) : 1);
        }
        CHECKF(round_trips(b, s.p, s.n), "random round trip %zu", k);
        free(s.p);
    }
    /* without a normalizer, any bytes at all */
    for (k = 0; k < 300; k++) {
        char buf[64];
        size_t n = rnd(64);
        for (i = 0; i < n; i++) buf[i] = (char)rnd(256);
        CHECKF(round_trips(raw, buf, n), "random bytes round trip %zu", k);
    }
}

static void test_options(void) {
    rwkv__bpe *b;
    opts o;
    /* add_prefix_space: each piece gets one */
    o = k_default;
    o.pretok = "{\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true}";
    if ((b = load_tiny(&o)) != NULL) {
        EXPECT_IDS(b, "world", 264);
        EXPECT_IDS(b, " world", 264);
        EXPECT_IDS(b, "world<|endoftext|>world", 264, ID_EOT, 264);
        rwkv__bpe_free(b);
    }
    /* a Sequence holding the ByteLevel, without the regex: one word per piece */
    o = k_default;
    o.pretok = "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
               "\"use_regex\": false}]}";
    o.normalizer = "{\"type\": \"Sequence\", \"normalizers\": []}";
    if ((b = load_tiny(&o)) != NULL) {
        EXPECT_IDS(b, "hello world", 259, 264);
        EXPECT_IDS(b, "xy. xy", 269, '.', ' ', 269);
        EXPECT_IDS(b, "e\xcc\x81", 'e', 0xcc, 0x81); /* no normalizer */
        rwkv__bpe_free(b);
    }
    /* array merges, Sequence of NFC */
    o = k_default;
    o.array_merges = 1;
    o.normalizer = "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}]}";
    if ((b = load_tiny(&o)) != NULL) {
        EXPECT_IDS(b, "hello world abc", 259, 264, ' ', 268);
        EXPECT_IDS(b, "e\xcc\x81", 0xc3, 0xa9);
        rwkv__bpe_free(b);
    }
    /* ignore_merges: a pre-token in the vocabulary is taken whole */
    o = k_default;
    o.model_extra = "\"ignore_merges\": true, ";
    if ((b = load_tiny(&o)) != NULL) {
        EXPECT_IDS(b, "hello abc", 259, ' ', 268);
        rwkv__bpe_free(b);
    }
    /* a byte left out: HF drops the character, or uses unk_token (fused or not) */
    o = k_default;
    o.drop_byte = 'q';
    if ((b = load_tiny(&o)) != NULL) {
        EXPECT_IDS(b, "aqqa", 265); /* the q are dropped, then a a merge */
        rwkv__bpe_free(b);
    }
    o.drop_byte = 0xff; /* an invalid byte without a token is dropped too */
    if ((b = load_tiny(&o)) != NULL) {
        EXPECT_IDS(b, "a\xff" "b\xfe", 'a', 'b', 0xfe);
        rwkv__bpe_free(b);
    }
    o.drop_byte = 'q';
    o.model_extra = "\"unk_token\": \"!\", ";
    if ((b = load_tiny(&o)) != NULL) {
        EXPECT_IDS(b, "aqqa", 'a', '!', '!', 'a');
        rwkv__bpe_free(b);
    }
    o.model_extra = "\"unk_token\": \"!\", \"fuse_unk\": true, ";
    if ((b = load_tiny(&o)) != NULL) {
        EXPECT_IDS(b, "aqqaq", 'a', '!', 'a', '!');
        rwkv__bpe_free(b);
    }
    o.model_extra = "\"byte_fallback\": true, ";
    {
        size_t len;
        char *json = tiny_json(&o, &len);
        rwkv_error e;
        b = NULL;
        CHECK(rwkv__bpe_load_json(&b, json, len, &e) == RWKV_ERROR_UNSUPPORTED && !b);
        free(json);
    }
    /* byte_fallback is harmless with the whole byte alphabet; dropout 0 too */
    o = k_default;
    o.model_extra = "\"byte_fallback\": true, \"dropout\": 0.0, \"continuing_subword_prefix\": \"\", ";
    if ((b = load_tiny(&o)) != NULL) {
        EXPECT_IDS(b, "hello", 259);
        rwkv__bpe_free(b);
    }
}

/* every way a tokenizer.json can be wrong gives an error and frees all */
static void expect_json_error(const char *json, size_t len, rwkv_result want, int line) {
    rwkv__bpe *b = (rwkv__bpe *)1;
    rwkv_error e;
    rwkv_result r;
    memset(&e, 0, sizeof e);
    r = rwkv__bpe_load_json(&b, json, len, &e);
    check_(r == want && b == NULL && e.code == r && e.message[0] && memchr(e.message, 0, sizeof e.message), line,
           "json error: got %d (%s), want %d", (int)r, e.message, (int)want);
    if (r == RWKV_OK) rwkv__bpe_free(b);
}
#define EXPECT_JSON_ERROR(json, want) expect_json_error((json), strlen(json), (want), __LINE__)

/* the tiny json with one substring replaced */
static void expect_tiny_error(const char *from, const char *to, rwkv_result want, int line) {
    size_t len;
    char *json = tiny_json(&k_default, &len), *at = strstr(json, from);
    str s = {NULL, 0, 0};
    check_(at != NULL, line, "substring %s not found", from);
    if (at) {
        put(&s, json, (size_t)(at - json));
        puts_(&s, to);
        puts_(&s, at + strlen(from));
        expect_json_error(s.p, s.n, want, line);
    }
    free(s.p);
    free(json);
}
#define EXPECT_TINY_ERROR(from, to, want) expect_tiny_error((from), (to), (want), __LINE__)

static void test_hostile_json(void) {
    size_t len, cut;
    char *json = tiny_json(&k_default, &len);
    rwkv__bpe *b;
    rwkv_error e;
    /* every truncation fails cleanly */
    for (cut = 0; cut + 2 < len; cut += 1 + cut / 64) {
        b = NULL;
        CHECKF(rwkv__bpe_load_json(&b, json, cut, &e) != RWKV_OK && !b && e.message[0], "truncated at %zu", cut);
    }
    /* random byte flips: errors or a working tokenizer, never a crash */
    for (cut = 0; cut < 400; cut++) {
        char *m = (char *)malloc(len);
        int k;
        memcpy(m, json, len);
        for (k = 0; k < 3; k++) m[rnd((uint32_t)len)] = (char)rnd(256);
        b = NULL;
        if (rwkv__bpe_load_json(&b, m, len, &e) == RWKV_OK) {
            int32_t ids[64];
            size_t n;
            CHECK(b != NULL);
            rwkv__bpe_encode(b, (const unsigned char *)"hello  world <|endoftext|> e\xcc\x81!", 28, ids, 64, &n, &e);
            rwkv__bpe_free(b);
        } else {
            CHECK(b == NULL && e.message[0]);
        }
        free(m);
    }
    free(json);
    EXPECT_JSON_ERROR("", RWKV_ERROR_BAD_FORMAT);
    EXPECT_JSON_ERROR("[]", RWKV_ERROR_BAD_FORMAT);
    EXPECT_JSON_ERROR("{}", RWKV_ERROR_BAD_FORMAT);
    EXPECT_JSON_ERROR("{\"model\": {\"vocab\": {}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
                      RWKV_ERROR_BAD_FORMAT); /* empty vocabulary */
    EXPECT_JSON_ERROR("{\"x\": \"\xff\"}", RWKV_ERROR_BAD_FORMAT);
    {   /* nesting far deeper than the skipper's stack */
        str s = {NULL, 0, 0};
        int k;
        puts_(&s, "{\"deep\": ");
        for (k = 0; k < 100000; k++) puts_(&s, "[");
        for (k = 0; k < 100000; k++) puts_(&s, "]");
        puts_(&s, "}");
        expect_json_error(s.p, s.n, RWKV_ERROR_BAD_FORMAT, __LINE__);
        free(s.p);
    }
    EXPECT_TINY_ERROR("\"version\": \"1.0\"", "\"version\": \"2.0\"", RWKV_ERROR_UNSUPPORTED);
    EXPECT_TINY_ERROR("\"type\": \"BPE\"", "\"type\": \"WordPiece\"", RWKV_ERROR_UNSUPPORTED);
    EXPECT_TINY_ERROR("{\"type\": \"NFC\"}", "{\"type\": \"NFKC\"}", RWKV_ERROR_UNSUPPORTED);
    EXPECT_TINY_ERROR("{\"type\": \"NFC\"}", "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Lowercase\"}]}",
                      RWKV_ERROR_UNSUPPORTED);
    EXPECT_TINY_ERROR("\"pre_tokenizer\": {\"type\": \"ByteLevel\"", "\"pre_tokenizer\": {\"type\": \"Whitespace\"",
                      RWKV_ERROR_UNSUPPORTED);
    EXPECT_TINY_ERROR("\"pre_tokenizer\": {", "\"pre_tokenizer\": null, \"x\": {", RWKV_ERROR_UNSUPPORTED);
    EXPECT_TINY_ERROR("\"dropout\": null", "\"dropout\": 0.1", RWKV_ERROR_UNSUPPORTED);
    EXPECT_TINY_ERROR("\"unk_token\": null", "\"end_of_word_suffix\": \"</w>\"", RWKV_ERROR_UNSUPPORTED);
    EXPECT_TINY_ERROR("\"h\": 104", "\"h\": -104", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"h\": 104", "\"h\": 104.5", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"h\": 104", "\"h\": 99999999999", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"h\": 104", "\"h\": 16777216", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"h\": 104", "\"h\": \"104\"", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"h\": 104", "\"h\": 103", RWKV_ERROR_BAD_FORMAT);   /* two tokens, one id */
    EXPECT_TINY_ERROR("\"h\": 104", "\"g\": 104", RWKV_ERROR_BAD_FORMAT);   /* the same string twice */
    EXPECT_TINY_ERROR("\"h e\"", "\"h q\"", RWKV_ERROR_BAD_FORMAT);         /* he is not h + q */
    EXPECT_TINY_ERROR("\"h e\"", "\"h \\u00ff\"", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"h e\"", "\"h  e\"", RWKV_ERROR_BAD_FORMAT);        /* two spaces */
    EXPECT_TINY_ERROR("\"h e\"", "\"he\"", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"h e\"", "\"zz yy\"", RWKV_ERROR_BAD_FORMAT);       /* unknown tokens */
    EXPECT_TINY_ERROR("\"h e\"", "17", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"h e\"", "[\"h\"]", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"h\": 104", "\"h\\ud800\": 104", RWKV_ERROR_BAD_FORMAT); /* lone surrogate */
    EXPECT_TINY_ERROR("\"h\": 104", "\"h\\udc00\": 104", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"h\": 104", "\"h\\x\": 104", RWKV_ERROR_BAD_FORMAT);     /* bad escape */
    EXPECT_TINY_ERROR("\"h\": 104", "\"h\\u12\": 104", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"h\": 104", "\"h\n\": 104", RWKV_ERROR_BAD_FORMAT);      /* raw control character */
    EXPECT_TINY_ERROR("\"merges\": [", "\"merges\": {", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"vocab\": {", "\"vocab\": [", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"vocab\":", "\"vocabulary\":", RWKV_ERROR_BAD_FORMAT); /* no vocab */
    EXPECT_TINY_ERROR("\"content\": \"<a>\"", "\"contents\": \"<a>\"", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"content\": \"<a>\"", "\"content\": \"<a>\", \"special\": 1", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"nested\": [[[{}]]]", "\"nested\": [[[{]]]", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"nested\": [[[{}]]]", "\"nested\": [1 2]", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"nested\": [[[{}]]]", "\"nested\": tru", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"nested\": [[[{}]]]", "\"nested\": -", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\"nested\": [[[{}]]]", "\"nested\": {\"a\" 1}", RWKV_ERROR_BAD_FORMAT);
    EXPECT_TINY_ERROR("\n}\n", "\n}\n}", RWKV_ERROR_BAD_FORMAT); /* trailing garbage */
    /* these are fine */
    {
        rwkv__bpe *ok = NULL;
        size_t n2;
        char *j2 = tiny_json(&k_default, &n2);
        CHECK(rwkv__bpe_load_json(&ok, j2, n2, NULL) == RWKV_OK && ok);
        rwkv__bpe_free(ok);
        free(j2);
    }
    CHECK(rwkv__bpe_load_json(NULL, "{}", 2, &e) == RWKV_ERROR_INVALID_ARGUMENT);
    b = NULL;
    CHECK(rwkv__bpe_load_json(&b, NULL, 5, &e) == RWKV_ERROR_INVALID_ARGUMENT);
}

static void test_long_inputs(const rwkv__bpe *b) {
    size_t n = 200000, i, got = 0;
    char *text = (char *)malloc(n);
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * n);
    rwkv_error e;
    memset(text, 'a', n); /* one pre-token of 200000 symbols */
    CHECK(rwkv__bpe_encode(b, (const unsigned char *)text, n, ids, n, &got, &e) == RWKV_OK && got == n / 2);
    for (i = 0; i < n; i++) text[i] = i % 3 ? (char)0xcc : (char)0x81; /* invalid bytes and marks */
    CHECK(round_trips(b, text, n));
    for (i = 0; i + 1 < n; i += 2) { /* a run of 100000 combining marks after one letter */
        text[i] = (char)0xcc;
        text[i + 1] = (char)(i % 4 ? 0x81 : 0xa3);
    }
    text[0] = 'x';
    text[1] = ' ';
    CHECK(rwkv__bpe_encode(b, (const unsigned char *)text, n, ids, n, &got, &e) == RWKV_OK && got > 0);
    free(text);
    free(ids);
}

/* Fail the n-th allocation, for every n, in loading and in encoding. */
static void test_out_of_memory(void) {
    size_t len;
    char *json = tiny_json(&k_default, &len);
    const char *text = "hello  world<|endoftext|> e\xcc\x81\xcc\xa3! x\xcc\x81\xcc\x81\xcc\xa3 aaaa";
    rwkv__bpe *b = NULL;
    rwkv_error e;
    long n, live = g_live, failures = 0;
    rwkv_result r = RWKV_ERROR_OUT_OF_MEMORY;
    for (n = 0; r != RWKV_OK && n < 100000; n++) {
        g_budget = n;
        r = rwkv__bpe_load_json(&b, json, len, &e);
        g_budget = -1;
        if (r != RWKV_OK) {
            failures++;
            CHECKF(r == RWKV_ERROR_OUT_OF_MEMORY && !b && g_live == live, "load with %ld allocations: %d, %ld live",
                   n, (int)r, g_live - live);
        }
    }
    CHECKF(r == RWKV_OK && failures > 10, "load succeeds in the end (%ld failures)", failures);
    r = RWKV_ERROR_OUT_OF_MEMORY;
    for (n = 0; b && r != RWKV_OK && n < 100000; n++) {
        int32_t ids[64];
        size_t count = 0;
        long before = g_live;
        g_budget = n;
        r = rwkv__bpe_encode(b, (const unsigned char *)text, strlen(text), ids, 64, &count, &e);
        g_budget = -1;
        CHECKF(r == RWKV_OK || (r == RWKV_ERROR_OUT_OF_MEMORY && g_live == before), "encode with %ld allocations", n);
    }
    CHECK(r == RWKV_OK);
    rwkv__bpe_free(b);
    CHECKF(g_live == live, "all freed (%ld live)", g_live - live);
    free(json);
}

int main(void) {
    rwkv__bpe *b, *raw;
    opts o = k_default;
    test_byte_mapping();
    test_utf8();
    test_classes();
    test_pretokenizer();
    b = load_tiny(&k_default);
    o.normalizer = "null";
    raw = load_tiny(&o);
    if (b && raw) {
        test_nfc(b);
        test_encode(b);
        test_contract(b);
        test_queries(b);
        test_arrays(b);
        test_round_trips(b, raw);
        test_long_inputs(b);
    }
    rwkv__bpe_free(b);
    rwkv__bpe_free(raw);
    test_options();
    test_hostile_json();
    test_out_of_memory();
    CHECKF(g_live == 0, "no block left allocated (%ld)", g_live);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
