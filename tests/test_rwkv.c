/* tests/test_rwkv.c - self-contained tests of rwkv.h (`make test`).
 *
 * Reads no file outside the repository: every model, vocabulary and file is
 * generated here from a fixed seed (temporary files go through mkstemp and
 * are removed). Covered:
 *   - the RWKV-4 forward pass against an independent float64 reference
 *     written below from the equations of docs/rwkv-math.md, on synthetic
 *     models of several shapes and every weight type, as GGUF (aligned and
 *     not) and as rwkv.cpp .bin, every logit of every step and the state;
 *     quantized weights also with 8-bit inputs (opt-in);
 *   - sequence mode, NULL logits, bad tokens, threads;
 *   - states: reset, copy, export/import and damaged blobs;
 *   - the public tensor table and a GGUF round trip through gguf_writer.h;
 *   - the World tokenizer (a synthetic vocabulary in the official file
 *     format, against a brute-force greedy reference), malformed
 *     vocabularies, the byte tokenizer, vocabularies embedded in GGUF;
 *   - the streaming UTF-8 decoder and the sampler (ChatRWKV semantics);
 *   - malformed GGUF and .bin files: truncated at every byte, absurd
 *     counts, sizes, offsets, types and shapes, missing and duplicate parts.
 *
 * Output: one line per failed check (file:line and the values), then exactly
 * one final line "N passed, N failed". Exit status 1 if anything failed.
 * RWKV_TEST_VERBOSE=1 also prints the errors measured, the messages of
 * refused files and the time of each part.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkstemp, close */
#endif
#define RWKV_IMPLEMENTATION
#include "rwkv.h"
#include "tools/gguf_writer.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ======================================================================== */
/* A tiny test framework                                                     */
/* ======================================================================== */

/* The larger of two doubles, NaN winning (so a NaN error fails the check;
   fmax would drop it). Not fmax(): GCC 12.2 for AArch64 crashes (ICE in
   vect_transform_reduction) vectorizing fmax reductions at -O2. */
static double max_d(double a, double b) { return b > a || b != b ? b : a; }

static int g_pass, g_fail;
static int g_verbose; /* RWKV_TEST_VERBOSE=1: print errors, messages, timings */
static const char *g_section = "";

static void check_(int ok, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    if (ok) {
        g_pass++;
        return;
    }
    g_fail++;
    if (g_fail > 400) return; /* enough to diagnose; the count still grows */
    printf("%s:%d: FAIL [%s] ", file, line, g_section);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

#define CHECK(c) check_(!!(c), __FILE__, __LINE__, "%s", #c)
#define CHECKF(c, ...) check_(!!(c), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_INT(a, b)                                                          \
    do {                                                                         \
        long long a_ = (long long)(a), b_ = (long long)(b);                      \
        check_(a_ == b_, __FILE__, __LINE__, "%s == %s: %lld vs %lld", #a, #b,   \
               a_, b_);                                                          \
    } while (0)
#define CHECK_RC(call, want)                                                     \
    do {                                                                         \
        rwkv_result r_ = (call);                                                 \
        check_(r_ == (want), __FILE__, __LINE__, "%s -> %d (%s), want %d (%s)",  \
               #call, (int)r_, rwkv_result_string(r_), (int)(want),              \
               rwkv_result_string(want));                                       \
    } while (0)

/* The error struct every failing call below is given. */
static rwkv_error E;

/* want = 1 means "any error". Checks the code, that E carries the same code,
   and that the message is non-empty and NUL-terminated. */
static void expect_err_(rwkv_result got, int want, const char *what,
                        const char *file, int line) {
    int code_ok = want == 1 ? got != RWKV_OK : (int)got == want;
    check_(code_ok, file, line, "%s -> %d (%s), want %s%s", what, (int)got,
           rwkv_result_string(got), want == 1 ? "an error" : "",
           want == 1 ? "" : rwkv_result_string((rwkv_result)want));
    if (got != RWKV_OK) {
        check_(E.code == got, file, line, "%s: error.code %d != returned %d", what,
               (int)E.code, (int)got);
        check_(memchr(E.message, 0, sizeof E.message) != NULL && E.message[0] != 0,
               file, line, "%s: error message empty or unterminated", what);
    }
}
#define EXPECT_ERR(want, call)                                                   \
    do {                                                                         \
        rwkv_result r2_;                                                         \
        memset(&E, 0, sizeof E);                                                 \
        r2_ = (call);                                                            \
        expect_err_(r2_, (want), #call, __FILE__, __LINE__);                     \
    } while (0)
#define ANY_ERROR 1

static int contains(const char *hay, const char *needle) {
    return strstr(hay, needle) != NULL;
}

/* ======================================================================== */
/* Deterministic random numbers (splitmix64)                                 */
/* ======================================================================== */

typedef struct rng_t {
    uint64_t s;
} rng_t;

static uint64_t rng_next(rng_t *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_unif(rng_t *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
static double rng_range(rng_t *r, double lo, double hi) { return lo + (hi - lo) * rng_unif(r); }
static int rng_int(rng_t *r, int n) { return (int)(rng_next(r) % (uint64_t)n); }

/* ======================================================================== */
/* Number formats: our own f16/bf16 conversions and ggml block dequantizers  */
/* ======================================================================== */

/* float -> IEEE binary16, round to nearest even (overflow -> inf). */
static uint16_t f32_to_f16(float f) {
    uint32_t x, sign, man, h, rem, half;
    int exp, e, shift;
    memcpy(&x, &f, 4);
    sign = (x >> 16) & 0x8000u;
    exp = (int)((x >> 23) & 0xff);
    man = x & 0x7fffffu;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    e = exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) { /* subnormal half (or zero) */
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000u;
        shift = 14 - e; /* 14..24 */
        h = man >> shift;
        rem = man & ((1u << shift) - 1);
        half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    h = ((uint32_t)e << 10) | (man >> 13);
    rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; /* may carry to inf */
    return (uint16_t)(sign | h);
}

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu;
    uint32_t x;
    float f;
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        f = (float)man * (1.0f / 16777216.0f);
        return sign ? -f : f;
    }
    if (exp == 31) x = sign | 0x7f800000u | (man << 13);
    else x = sign | ((exp + 112) << 23) | (man << 13);
    memcpy(&f, &x, 4);
    return f;
}

static uint16_t f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    x += 0x7fffu + ((x >> 16) & 1); /* round to nearest even (no NaNs here) */
    return (uint16_t)(x >> 16);
}
static float bf16_to_f32(uint16_t b) {
    uint32_t x = (uint32_t)b << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static void put_le16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static uint16_t get_le16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static void put_le32(unsigned char *p, uint32_t v) {
    int i;
    for (i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_le32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void put_le64(unsigned char *p, uint64_t v) {
    int i;
    for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get_le64(const unsigned char *p) {
    return (uint64_t)get_le32(p) | ((uint64_t)get_le32(p + 4) << 32);
}

static int type_block(int type) {
    switch (type) {
    case RWKV_TYPE_Q4_0: case RWKV_TYPE_Q4_1: case RWKV_TYPE_Q5_0:
    case RWKV_TYPE_Q5_1: case RWKV_TYPE_Q8_0: return 32;
    default: return 1;
    }
}
static size_t type_block_bytes(int type) {
    switch (type) {
    case RWKV_TYPE_F32: return 4;
    case RWKV_TYPE_F16: case RWKV_TYPE_BF16: return 2;
    case RWKV_TYPE_Q4_0: return 18;
    case RWKV_TYPE_Q4_1: return 20;
    case RWKV_TYPE_Q5_0: return 22;
    case RWKV_TYPE_Q5_1: return 24;
    case RWKV_TYPE_Q8_0: return 34;
    default: return 0;
    }
}
static size_t tensor_bytes(int type, size_t n) { return n / (size_t)type_block(type) * type_block_bytes(type); }

/* Dequantize one block of 32 per the ggml layouts (docs/gguf-rwkv.md §5). */
static void dequant_block(int type, const unsigned char *b, float *y) {
    int j;
    float d = f16_to_f32(get_le16(b)), m;
    uint32_t qh;
    switch (type) {
    case RWKV_TYPE_Q4_0:
        for (j = 0; j < 16; j++) {
            y[j] = (float)((b[2 + j] & 15) - 8) * d;
            y[j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
        }
        break;
    case RWKV_TYPE_Q4_1:
        m = f16_to_f32(get_le16(b + 2));
        for (j = 0; j < 16; j++) {
            y[j] = (float)(b[4 + j] & 15) * d + m;
            y[j + 16] = (float)(b[4 + j] >> 4) * d + m;
        }
        break;
    case RWKV_TYPE_Q5_0:
        qh = get_le32(b + 2);
        for (j = 0; j < 16; j++) {
            int x0 = (int)((b[6 + j] & 15) | (((qh >> j) << 4) & 16));
            int x1 = (int)((b[6 + j] >> 4) | ((qh >> (j + 12)) & 16));
            y[j] = (float)(x0 - 16) * d;
            y[j + 16] = (float)(x1 - 16) * d;
        }
        break;
    case RWKV_TYPE_Q5_1:
        m = f16_to_f32(get_le16(b + 2));
        qh = get_le32(b + 4);
        for (j = 0; j < 16; j++) {
            int x0 = (int)((b[8 + j] & 15) | (((qh >> j) << 4) & 16));
            int x1 = (int)((b[8 + j] >> 4) | ((qh >> (j + 12)) & 16));
            y[j] = (float)x0 * d + m;
            y[j + 16] = (float)x1 * d + m;
        }
        break;
    case RWKV_TYPE_Q8_0:
        for (j = 0; j < 32; j++) y[j] = (float)(signed char)b[2 + j] * d;
        break;
    default: break;
    }
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Quantize one block of 32 (simple round-to-nearest; any valid block would
   do, since the reference uses the dequantized values). */
static void quant_block(int type, const float *x, unsigned char *b) {
    float amax = 0, mn = x[0], mx = x[0], d, m;
    int q[32], j;
    uint32_t qh = 0;
    for (j = 0; j < 32; j++) {
        if (fabsf(x[j]) > amax) amax = fabsf(x[j]);
        if (x[j] < mn) mn = x[j];
        if (x[j] > mx) mx = x[j];
    }
    switch (type) {
    case RWKV_TYPE_Q4_0: case RWKV_TYPE_Q5_0: case RWKV_TYPE_Q8_0: {
        int half = type == RWKV_TYPE_Q4_0 ? 8 : type == RWKV_TYPE_Q5_0 ? 16 : 0;
        int qmax = type == RWKV_TYPE_Q4_0 ? 7 : type == RWKV_TYPE_Q5_0 ? 15 : 127;
        d = f16_to_f32(f32_to_f16(amax / (float)qmax));
        put_le16(b, f32_to_f16(d));
        for (j = 0; j < 32; j++) {
            int v = d > 0 ? (int)lrintf(x[j] / d) : 0;
            q[j] = type == RWKV_TYPE_Q8_0 ? clampi(v, -127, 127) : clampi(v + half, 0, 2 * half - 1);
        }
        if (type == RWKV_TYPE_Q8_0) {
            for (j = 0; j < 32; j++) b[2 + j] = (unsigned char)(signed char)q[j];
        } else {
            unsigned char *qs = b + (type == RWKV_TYPE_Q5_0 ? 6 : 2);
            for (j = 0; j < 16; j++) qs[j] = (unsigned char)((q[j] & 15) | ((q[j + 16] & 15) << 4));
            if (type == RWKV_TYPE_Q5_0) {
                for (j = 0; j < 32; j++)
                    if (q[j] & 16) qh |= 1u << j;
                put_le32(b + 2, qh);
            }
        }
        break;
    }
    case RWKV_TYPE_Q4_1: case RWKV_TYPE_Q5_1: {
        int qmax = type == RWKV_TYPE_Q4_1 ? 15 : 31;
        unsigned char *qs = b + (type == RWKV_TYPE_Q5_1 ? 8 : 4);
        d = f16_to_f32(f32_to_f16((mx - mn) / (float)qmax));
        m = f16_to_f32(f32_to_f16(mn));
        put_le16(b, f32_to_f16(d));
        put_le16(b + 2, f32_to_f16(m));
        for (j = 0; j < 32; j++) q[j] = d > 0 ? clampi((int)lrintf((x[j] - m) / d), 0, qmax) : 0;
        for (j = 0; j < 16; j++) qs[j] = (unsigned char)((q[j] & 15) | ((q[j + 16] & 15) << 4));
        if (type == RWKV_TYPE_Q5_1) {
            for (j = 0; j < 32; j++)
                if (q[j] & 16) qh |= 1u << j;
            put_le32(b + 4, qh);
        }
        break;
    }
    default: break;
    }
}

/* ======================================================================== */
/* Synthetic RWKV-4 models                                                   */
/* ======================================================================== */

/* One tensor under its GGUF name, ne in ggml order. val holds the values the
   model computes with (dequantized); raw the stored bytes. */
typedef struct tspec {
    char name[64];
    int n_dims;
    int64_t ne[2];
    int type;
    float *val;
    unsigned char *raw;
    size_t n_bytes;
} tspec;

enum { TOK_NONE, TOK_BYTES, TOK_RWKV };

typedef struct synth {
    int C, L, F, V;
    int mat_type; /* type of the per-layer matrices */
    int eh_type;  /* type of token_embd and output */
    int tok;      /* TOK_* */
    int n;
    tspec *t;
} synth;

/* The synthetic World vocabulary (tokenizer tests and TOK_RWKV models). */
static int world_vocab_count(void);
static const char *world_token(int id, size_t *len);

static const tspec *find_t(const synth *m, const char *fmt, ...) {
    char name[64];
    va_list ap;
    int i;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    for (i = 0; i < m->n; i++)
        if (strcmp(m->t[i].name, name) == 0) return &m->t[i];
    printf("internal: no tensor %s\n", name);
    exit(2);
}

/* Store src (n floats) into t in t->type. */
static void encode_tensor(tspec *t, const float *src) {
    size_t n = (size_t)(t->ne[0] * t->ne[1]), i;
    t->val = (float *)malloc(n * sizeof(float));
    t->n_bytes = tensor_bytes(t->type, n);
    t->raw = (unsigned char *)malloc(t->n_bytes);
    if (!t->val || !t->raw) exit(3);
    switch (t->type) {
    case RWKV_TYPE_F32:
        memcpy(t->raw, src, n * 4);
        memcpy(t->val, src, n * 4);
        break;
    case RWKV_TYPE_F16:
        for (i = 0; i < n; i++) {
            uint16_t h = f32_to_f16(src[i]);
            put_le16(t->raw + 2 * i, h);
            t->val[i] = f16_to_f32(h);
        }
        break;
    case RWKV_TYPE_BF16:
        for (i = 0; i < n; i++) {
            uint16_t h = f32_to_bf16(src[i]);
            put_le16(t->raw + 2 * i, h);
            t->val[i] = bf16_to_f32(h);
        }
        break;
    default: {
        size_t bb = type_block_bytes(t->type);
        for (i = 0; i < n / 32; i++) {
            quant_block(t->type, src + 32 * i, t->raw + bb * i);
            dequant_block(t->type, t->raw + bb * i, t->val + 32 * i);
        }
    }
    }
}

enum { G_UNIF, G_MIX, G_NORM_W, G_DECAY, G_FIRST, G_MAT };

static void add_t(synth *m, rng_t *r, const char *name, int n_dims, int64_t ne0,
                  int64_t ne1, int type, int gen, double a, int layer) {
    tspec *t = &m->t[m->n++];
    size_t n = (size_t)(ne0 * ne1), i;
    float *v = (float *)malloc(n * sizeof(float));
    if (!v) exit(3);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->type = n_dims == 1 ? RWKV_TYPE_F32 : type;
    for (i = 0; i < n; i++) {
        double x;
        switch (gen) {
        case G_MIX: x = rng_range(r, 0.0, 1.0); break;
        case G_NORM_W: x = rng_range(r, 0.8, 1.2); break;
        case G_DECAY: { /* the official init: -5 + 8*(i/(C-1))^(0.7+1.3*l/(L-1)), w = -exp(.) */
            double ratio = m->L > 1 ? (double)layer / (m->L - 1) : 0.5;
            x = -5.0 + 8.0 * pow((double)i / (double)(n - 1), 0.7 + 1.3 * ratio) +
                rng_range(r, -0.3, 0.3);
            break;
        }
        case G_FIRST: x = log(0.3) + 0.5 * (double)((int)((i + 1) % 3) - 1) + rng_range(r, -0.1, 0.1); break;
        case G_MAT: x = rng_range(r, -1, 1) * a * sqrt(3.0 / (double)ne0); break;
        default: x = rng_range(r, -a, a); break;
        }
        v[i] = (float)x;
    }
    encode_tensor(t, v);
    free(v);
}

static synth *synth_create(int C, int L, int F, int V, int mat_type, int eh_type,
                           int tok, uint64_t seed) {
    synth *m = (synth *)calloc(1, sizeof(synth));
    rng_t r;
    int l;
    char nm[64];
    if (!m) exit(3);
    r.s = seed;
    m->C = C; m->L = L; m->F = F; m->V = V;
    m->mat_type = mat_type;
    m->eh_type = eh_type;
    m->tok = tok;
    m->t = (tspec *)calloc((size_t)(6 + 18 * L), sizeof(tspec));
    if (!m->t) exit(3);
    add_t(m, &r, "token_embd.weight", 2, C, V, eh_type, G_UNIF, 1.0, 0);
    add_t(m, &r, "token_embd_norm.weight", 1, C, 1, 0, G_NORM_W, 0, 0);
    add_t(m, &r, "token_embd_norm.bias", 1, C, 1, 0, G_UNIF, 0.2, 0);
    for (l = 0; l < L; l++) {
#define T1(suffix, gen, a) (snprintf(nm, sizeof nm, "blk.%d." suffix, l), add_t(m, &r, nm, 1, C, 1, 0, gen, a, l))
#define T2(suffix, ne0, ne1, a) (snprintf(nm, sizeof nm, "blk.%d." suffix, l), add_t(m, &r, nm, 2, ne0, ne1, mat_type, G_MAT, a, l))
        T1("attn_norm.weight", G_NORM_W, 0);
        T1("attn_norm.bias", G_UNIF, 0.2);
        T1("attn_norm_2.weight", G_NORM_W, 0);
        T1("attn_norm_2.bias", G_UNIF, 0.2);
        T1("time_mix_lerp_k.weight", G_MIX, 0);
        T1("time_mix_lerp_v.weight", G_MIX, 0);
        T1("time_mix_lerp_r.weight", G_MIX, 0);
        T1("time_mix_decay.weight", G_DECAY, 0);
        T1("time_mix_first.weight", G_FIRST, 0);
        T2("time_mix_key.weight", C, C, 2.0);
        T2("time_mix_value.weight", C, C, 1.0);
        T2("time_mix_receptance.weight", C, C, 1.0);
        T2("time_mix_output.weight", C, C, 1.0);
        T1("channel_mix_lerp_k.weight", G_MIX, 0);
        T1("channel_mix_lerp_r.weight", G_MIX, 0);
        T2("channel_mix_key.weight", C, F, 1.5);
        T2("channel_mix_value.weight", F, C, 1.0);
        T2("channel_mix_receptance.weight", C, C, 1.0);
#undef T1
#undef T2
    }
    add_t(m, &r, "output_norm.weight", 1, C, 1, 0, G_NORM_W, 0, 0);
    add_t(m, &r, "output_norm.bias", 1, C, 1, 0, G_UNIF, 0.2, 0);
    add_t(m, &r, "output.weight", 2, C, V, eh_type, G_MAT, 1.5, 0);
    return m;
}

static void synth_free(synth *m) {
    int i;
    if (!m) return;
    for (i = 0; i < m->n; i++) {
        free(m->t[i].val);
        free(m->t[i].raw);
    }
    free(m->t);
    free(m);
}

/* ---- the independent double-precision reference (docs/rwkv-math.md) --- */

typedef struct ref_state {
    const synth *m;
    int q8;       /* quantize the inputs of quantized matrices (see ref_mv) */
    int near_tie; /* q8: an input fell within float error of a rounding tie */
    double *s;    /* per layer: att_xx, aa, bb, pp, ffn_xx (C each) */
} ref_state;

static void ref_init(ref_state *r, const synth *m) {
    int l, i;
    r->m = m;
    r->q8 = 0;
    r->near_tie = 0;
    r->s = (double *)calloc((size_t)(5 * m->L * m->C), sizeof(double));
    if (!r->s) exit(3);
    for (l = 0; l < m->L; l++)
        for (i = 0; i < m->C; i++) r->s[(5 * l + 3) * m->C + i] = -1e30;
}


/* y = LN(x) * w + b, eps 1e-5 (biased variance, as torch). */
static void ref_ln(const double *x, int n, const tspec *w, const tspec *b, double *y) {
    double mean = 0, var = 0;
    int i;
    for (i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= n;
    for (i = 0; i < n; i++) y[i] = (x[i] - mean) / sqrt(var + 1e-5) * w->val[i] + b->val[i];
}

/* y = W x, W with ne {in, out}: out rows of in values.
   With q8 set and W quantized, x is first rounded as ggml's integer dot
   products round it: per block of 32, d = max|x| / 127 and x -> d *
   round(x / d) (in float, as an implementation would). */
static void ref_mv_(const tspec *W, const double *x_in, double *y, int q8, int *near_tie) {
    int64_t in = W->ne[0], out = W->ne[1], o, i;
    double *x = (double *)malloc(sizeof(double) * (size_t)in);
    if (!x) exit(3);
    memcpy(x, x_in, sizeof(double) * (size_t)in);
    if (q8 && type_block(W->type) > 1)
        for (i = 0; i < in; i += 32) {
            float amax = 0, d, id;
            int j;
            for (j = 0; j < 32; j++) amax = fmaxf(amax, fabsf((float)x[i + j]));
            d = amax / 127.0f;
            id = amax > 0 ? 127.0f / amax : 0.0f;
            for (j = 0; j < 32; j++) {
                float v = (float)x[i + j] * id;
                /* an implementation computing x in float32 may round the
                   other way when v is this close to k + 1/2 */
                if (fabs(fabs(v - floorf(v)) - 0.5) < 5e-5 + 1e-6 * fabs(v)) *near_tie = 1;
                x[i + j] = (double)lrintf(v) * d;
            }
        }
    for (o = 0; o < out; o++) {
        double s = 0;
        for (i = 0; i < in; i++) s += (double)W->val[o * in + i] * x[i];
        y[o] = s;
    }
    free(x);
}
#define ref_mv(W, x, y) ref_mv_((W), (x), (y), rs->q8, &rs->near_tie)

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static void ref_eval(ref_state *rs, int token, double *logits) {
    const synth *m = rs->m;
    int C = m->C, F = m->F, l, i;
    double *x = (double *)malloc(sizeof(double) * (size_t)C * 8), *xx = x + C,
           *kx = x + 2 * C, *vx = x + 3 * C, *rx = x + 4 * C, *r = x + 5 * C, *k = x + 6 * C,
           *v = x + 7 * C;
    double *hid = (double *)malloc(sizeof(double) * (size_t)(F > C ? F : C));
    const tspec *emb = find_t(m, "token_embd.weight");
    if (!x || !hid) exit(3);
    for (i = 0; i < C; i++) x[i] = emb->val[(size_t)token * (size_t)C + (size_t)i];
    ref_ln(x, C, find_t(m, "token_embd_norm.weight"), find_t(m, "token_embd_norm.bias"), x);
    for (l = 0; l < m->L; l++) {
        double *att_xx = rs->s + (size_t)(5 * l) * (size_t)C, *aa = att_xx + C, *bb = att_xx + 2 * C,
               *pp = att_xx + 3 * C, *ffn_xx = att_xx + 4 * C;
        const tspec *mk = find_t(m, "blk.%d.time_mix_lerp_k.weight", l),
                    *mv = find_t(m, "blk.%d.time_mix_lerp_v.weight", l),
                    *mr = find_t(m, "blk.%d.time_mix_lerp_r.weight", l),
                    *td = find_t(m, "blk.%d.time_mix_decay.weight", l),
                    *tf = find_t(m, "blk.%d.time_mix_first.weight", l);
        /* time mix */
        ref_ln(x, C, find_t(m, "blk.%d.attn_norm.weight", l), find_t(m, "blk.%d.attn_norm.bias", l), xx);
        for (i = 0; i < C; i++) {
            kx[i] = xx[i] * mk->val[i] + att_xx[i] * (1.0 - mk->val[i]);
            vx[i] = xx[i] * mv->val[i] + att_xx[i] * (1.0 - mv->val[i]);
            rx[i] = xx[i] * mr->val[i] + att_xx[i] * (1.0 - mr->val[i]);
        }
        ref_mv(find_t(m, "blk.%d.time_mix_receptance.weight", l), rx, r);
        ref_mv(find_t(m, "blk.%d.time_mix_key.weight", l), kx, k);
        ref_mv(find_t(m, "blk.%d.time_mix_value.weight", l), vx, v);
        for (i = 0; i < C; i++) {
            double w = -exp((double)td->val[i]), u = tf->val[i];
            double ww = u + k[i], p = pp[i] > ww ? pp[i] : ww;
            double e1 = exp(pp[i] - p), e2 = exp(ww - p);
            double wkv = (e1 * aa[i] + e2 * v[i]) / (e1 * bb[i] + e2);
            ww = w + pp[i];
            p = ww > k[i] ? ww : k[i];
            e1 = exp(ww - p);
            e2 = exp(k[i] - p);
            aa[i] = e1 * aa[i] + e2 * v[i];
            bb[i] = e1 * bb[i] + e2;
            pp[i] = p;
            rx[i] = sigmoid(r[i]) * wkv; /* reuse rx for r * wkv */
            att_xx[i] = xx[i];
        }
        ref_mv(find_t(m, "blk.%d.time_mix_output.weight", l), rx, kx);
        for (i = 0; i < C; i++) x[i] += kx[i];
        /* channel mix */
        mk = find_t(m, "blk.%d.channel_mix_lerp_k.weight", l);
        mr = find_t(m, "blk.%d.channel_mix_lerp_r.weight", l);
        ref_ln(x, C, find_t(m, "blk.%d.attn_norm_2.weight", l), find_t(m, "blk.%d.attn_norm_2.bias", l), xx);
        for (i = 0; i < C; i++) {
            kx[i] = xx[i] * mk->val[i] + ffn_xx[i] * (1.0 - mk->val[i]);
            rx[i] = xx[i] * mr->val[i] + ffn_xx[i] * (1.0 - mr->val[i]);
            ffn_xx[i] = xx[i];
        }
        ref_mv(find_t(m, "blk.%d.channel_mix_receptance.weight", l), rx, r);
        ref_mv(find_t(m, "blk.%d.channel_mix_key.weight", l), kx, hid);
        for (i = 0; i < F; i++) hid[i] = hid[i] > 0 ? hid[i] * hid[i] : 0;
        ref_mv(find_t(m, "blk.%d.channel_mix_value.weight", l), hid, v);
        for (i = 0; i < C; i++) x[i] += sigmoid(r[i]) * v[i];
    }
    ref_ln(x, C, find_t(m, "output_norm.weight"), find_t(m, "output_norm.bias"), xx);
    if (logits) ref_mv(find_t(m, "output.weight"), xx, logits);
    free(x);
    free(hid);
}

/* ======================================================================== */
/* The synthetic World vocabulary                                            */
/* ======================================================================== */

/* Ids 1..256 are the 256 single bytes (as in rwkv_vocab_v20230424.txt);
   these follow from id 257, each with its line's literal as written in the
   vocabulary file and the bytes it stands for. */
static const struct {
    const char *lit;
    const char *bytes;
    size_t len;
} k_world_extra[] = {
    {"'\\n\\n'", "\n\n", 2},
    {"'\\r\\n'", "\r\n", 2},
    {"'\\t\\t'", "\t\t", 2},
    {"'  '", "  ", 2},
    {"'    '", "    ", 4},
    {"' the'", " the", 4},
    {"'th'", "th", 2},
    {"'the'", "the", 3},
    {"'ab'", "ab", 2},
    {"'abc'", "abc", 3},
    {"'abcd'", "abcd", 4},
    {"'abcdef'", "abcdef", 6}, /* no 'abcde': longest match must fall back */
    {"'abcabcabcabc'", "abcabcabcabc", 12},
    {"\"it's\"", "it's", 4},
    {"'\\'\"'", "'\"", 2},
    {"'\"\\''", "\"'", 2},
    {"'\\\\\\\\'", "\\\\", 2}, /* '\\\\' in the file: two backslashes */
    {"'\\\\n'", "\\n", 2},     /* '\\n' in the file: backslash, n */
    {"'a\\\\b'", "a\\b", 3},
    {"'\\x00\\x00'", "\0\0", 2},
    {"'\\x7f\\x1b['", "\x7f\x1b[", 3},
    {"'\\u00e9'", "\xc3\xa9", 2}, /* unicode escape -> UTF-8 bytes */
    {"'\\u4e2d'", "\xe4\xb8\xad", 3},
    {"'\\u2002'", "\xe2\x80\x82", 3},
    {"'\xc3\xbc'", "\xc3\xbc", 2},                                 /* raw UTF-8 */
    {"'\xc3\xa9!'", "\xc3\xa9!", 3},
    {"'\xe4\xb8\xad\xe6\x96\x87'", "\xe4\xb8\xad\xe6\x96\x87", 6},
    {"'\xf0\x9f\x98\x80'", "\xf0\x9f\x98\x80", 4},
    {"' \xc3\xa9t\xc3\xa9'", " \xc3\xa9t\xc3\xa9", 6},
    {"b'\\xff\\xfe'", "\xff\xfe", 2},
    {"b'\\xe4\\xb8'", "\xe4\xb8", 2}, /* a partial UTF-8 character */
    {"b'ab\\xff'", "ab\xff", 3},
    {"b'\\x82\\xac'", "\x82\xac", 2},
};
#define N_WORLD_EXTRA ((int)(sizeof k_world_extra / sizeof k_world_extra[0]))

static int world_vocab_count(void) { return 257 + N_WORLD_EXTRA; } /* ids 0..max */

static unsigned char g_single[256];
static const char *world_token(int id, size_t *len) {
    if (id >= 1 && id <= 256) {
        g_single[id - 1] = (unsigned char)(id - 1);
        *len = 1;
        return (const char *)&g_single[id - 1];
    }
    if (id > 256 && id < world_vocab_count()) {
        *len = k_world_extra[id - 257].len;
        return k_world_extra[id - 257].bytes;
    }
    *len = 0;
    return NULL;
}

/* A growable byte buffer. */
typedef struct buf_t {
    unsigned char *p;
    size_t n, cap;
} buf_t;

static void buf_put(buf_t *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n) cap *= 2;
        b->p = (unsigned char *)realloc(b->p, cap);
        if (!b->p) exit(3);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}
static void buf_str(buf_t *b, const char *s) { buf_put(b, s, strlen(s)); }
static void buf_i32(buf_t *b, int32_t v) {
    unsigned char t[4];
    put_le32(t, (uint32_t)v);
    buf_put(b, t, 4);
}

/* The official file's literal for a single byte: str literals below 0x80,
   bytes literals above. */
static void world_single_literal(int c, char *out) {
    if (c == '\\') strcpy(out, "'\\\\'");
    else if (c == '\'') strcpy(out, "\"'\"");
    else if (c == '\t') strcpy(out, "'\\t'");
    else if (c == '\n') strcpy(out, "'\\n'");
    else if (c == '\r') strcpy(out, "'\\r'");
    else if (c < 0x20 || c == 0x7f) sprintf(out, "'\\x%02x'", c);
    else if (c < 0x80) sprintf(out, "'%c'", c);
    else sprintf(out, "b'\\x%02x'", c);
}

/* The vocabulary file text ("id literal len" lines), NUL-terminated. */
static char *world_vocab_text(size_t *len) {
    buf_t b = {0, 0, 0};
    char line[128];
    int i;
    for (i = 1; i <= 256; i++) {
        char lit[16];
        world_single_literal(i - 1, lit);
        snprintf(line, sizeof line, "%d %s 1\n", i, lit);
        buf_str(&b, line);
    }
    for (i = 0; i < N_WORLD_EXTRA; i++) {
        snprintf(line, sizeof line, "%d %s %u\n", 257 + i, k_world_extra[i].lit,
                 (unsigned)k_world_extra[i].len);
        buf_str(&b, line);
    }
    *len = b.n;
    buf_put(&b, "", 1);
    return (char *)b.p;
}

/* llama.cpp's GGUF token string: Python's repr of the bytes without b'...'. */
static char *gguf_token_escape(const char *s, size_t n, size_t *out_len) {
    buf_t b = {0, 0, 0};
    size_t i;
    char quote = '\'';
    if (memchr(s, '\'', n) && !memchr(s, '"', n)) quote = '"';
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char t[8];
        if (c == (unsigned char)quote || c == '\\') sprintf(t, "\\%c", c);
        else if (c == '\t') strcpy(t, "\\t");
        else if (c == '\n') strcpy(t, "\\n");
        else if (c == '\r') strcpy(t, "\\r");
        else if (c < 0x20 || c >= 0x7f) sprintf(t, "\\x%02x", c);
        else t[0] = (char)c, t[1] = 0;
        buf_str(&b, t);
    }
    *out_len = b.n;
    buf_put(&b, "", 1);
    return (char *)b.p;
}

/* ======================================================================== */
/* Writing synthetic models as GGUF and rwkv.cpp .bin                        */
/* ======================================================================== */

typedef struct gopts {
    const char *arch;     /* default "rwkv4" */
    const char *skip;     /* a tensor left out */
    const char *dup;      /* a tensor written twice */
    const char *reshape;  /* a tensor written with shape rs_ne (zeros) */
    int rs_dims;
    int64_t rs_ne[2];
    const char *omit_key; /* a standard key left out */
    void (*extra)(gguf_writer *w, const synth *m); /* more keys, after the standard ones */
    int tok_delta;        /* tokens array longer (>0) or shorter (<0) */
    int bad_token;        /* id whose string is replaced by bad_token_str */
    const char *bad_token_str;
} gopts;

static int file_type_of(int t) {
    switch (t) {
    case RWKV_TYPE_F32: return 0;
    case RWKV_TYPE_F16: return 1;
    case RWKV_TYPE_Q4_0: return 2;
    case RWKV_TYPE_Q4_1: return 3;
    case RWKV_TYPE_Q8_0: return 7;
    case RWKV_TYPE_Q5_0: return 8;
    case RWKV_TYPE_Q5_1: return 9;
    case RWKV_TYPE_BF16: return 32;
    default: return 0;
    }
}

static void gkey_u32(gguf_writer *w, const gopts *o, const char *arch, const char *suffix, uint32_t v) {
    char key[96];
    snprintf(key, sizeof key, "%s%s", arch, suffix);
    if (o->omit_key && strcmp(o->omit_key, key) == 0) return;
    gguf_writer_add_u32(w, key, v);
}

/* The keys of a synthetic model (architecture, hparams, tokenizer). */
static void synth_gguf_keys(gguf_writer *w, const synth *m, const gopts *o) {
    const char *arch = o->arch ? o->arch : "rwkv4";
    char key[96];
    if (!o->omit_key || strcmp(o->omit_key, "general.architecture") != 0)
        gguf_writer_add_str(w, "general.architecture", arch);
    gkey_u32(w, o, arch, ".context_length", 1048576);
    gkey_u32(w, o, arch, ".embedding_length", (uint32_t)m->C);
    gkey_u32(w, o, arch, ".block_count", (uint32_t)m->L);
    gkey_u32(w, o, arch, ".feed_forward_length", (uint32_t)m->F);
    snprintf(key, sizeof key, "%s.attention.layer_norm_epsilon", arch);
    if (!o->omit_key || strcmp(o->omit_key, key) != 0) gguf_writer_add_f32(w, key, 1e-5f);
    gkey_u32(w, o, "general", ".file_type", (uint32_t)file_type_of(m->mat_type));
    if (m->tok == TOK_BYTES) {
        gguf_writer_add_str(w, "tokenizer.ggml.model", "bytes");
    } else if (m->tok == TOK_RWKV) {
        int n = m->V + o->tok_delta, i;
        char **strs = (char **)calloc((size_t)n, sizeof(char *));
        size_t *lens = (size_t *)calloc((size_t)n, sizeof(size_t));
        int32_t *types = (int32_t *)calloc((size_t)n, sizeof(int32_t));
        if (!strs || !lens || !types) exit(3);
        for (i = 0; i < n; i++) {
            size_t len;
            const char *tb = world_token(i, &len);
            if (i == o->bad_token && o->bad_token_str) {
                strs[i] = (char *)malloc(strlen(o->bad_token_str) + 1);
                if (!strs[i]) exit(3);
                strcpy(strs[i], o->bad_token_str);
                lens[i] = strlen(strs[i]);
            } else if (i == 0 || !tb) {
                const char *s = i == 0 ? "<s>" : "[PAD]";
                strs[i] = (char *)malloc(8);
                if (!strs[i]) exit(3);
                strcpy(strs[i], s);
                lens[i] = strlen(s);
            } else {
                strs[i] = gguf_token_escape(tb, len, &lens[i]);
            }
            types[i] = i == 0 ? 3 : 1; /* CONTROL, NORMAL */
        }
        gguf_writer_add_str(w, "tokenizer.ggml.model", "rwkv");
        gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", (const char *const *)strs, lens, (size_t)n);
        gguf_writer_add_i32_array(w, "tokenizer.ggml.token_type", types, (size_t)n);
        for (i = 0; i < n; i++) free(strs[i]);
        free(strs);
        free(lens);
        free(types);
    }
    if (o->extra) o->extra(w, m);
}

/* A gguf_writer holding the model (tensor data referenced, zero buffers for
   reshaped tensors in *zeros: free after writing). */
static gguf_writer *synth_gguf_writer(const synth *m, const gopts *o_in, unsigned char **zeros) {
    static const gopts none;
    const gopts *o = o_in ? o_in : &none;
    gguf_writer *w = gguf_writer_create();
    int i;
    if (!w) exit(3);
    *zeros = NULL;
    synth_gguf_keys(w, m, o);
    for (i = 0; i < m->n; i++) {
        const tspec *t = &m->t[i];
        if (o->skip && strcmp(o->skip, t->name) == 0) continue;
        if (o->reshape && strcmp(o->reshape, t->name) == 0) {
            int64_t n = o->rs_ne[0] * (o->rs_dims > 1 ? o->rs_ne[1] : 1);
            size_t nb = tensor_bytes(t->type, (size_t)n);
            *zeros = (unsigned char *)calloc(nb + 1, 1);
            if (!*zeros) exit(3);
            gguf_writer_add_tensor(w, t->name, t->type, o->rs_dims, o->rs_ne, *zeros, nb);
        } else {
            gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->raw, t->n_bytes);
        }
        if (o->dup && strcmp(o->dup, t->name) == 0)
            gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->raw, t->n_bytes);
    }
    return w;
}

/* The model as a GGUF buffer (malloc'd). */
static unsigned char *synth_gguf(const synth *m, const gopts *o, size_t *size) {
    unsigned char *zeros, *out;
    gguf_writer *w = synth_gguf_writer(m, o, &zeros);
    out = gguf_writer_write_memory(w, size);
    if (!out) exit(3);
    gguf_writer_free(w);
    free(zeros);
    return out;
}

/* The model as a GGUF file; 0 on success. */
static int synth_gguf_file(const synth *m, const char *path) {
    unsigned char *zeros;
    gguf_writer *w = synth_gguf_writer(m, NULL, &zeros);
    int r = gguf_writer_write_file(w, path);
    gguf_writer_free(w);
    free(zeros);
    return r;
}

/* rwkv.cpp names and file order (docs: data/README.md, rwkv-math.md). */
static const char *const k_bin_layer[][2] = {
    {"attn_norm.weight", "ln1.weight"},
    {"attn_norm.bias", "ln1.bias"},
    {"attn_norm_2.weight", "ln2.weight"},
    {"attn_norm_2.bias", "ln2.bias"},
    {"time_mix_decay.weight", "att.time_decay"},
    {"time_mix_first.weight", "att.time_first"},
    {"time_mix_lerp_k.weight", "att.time_mix_k"},
    {"time_mix_lerp_v.weight", "att.time_mix_v"},
    {"time_mix_lerp_r.weight", "att.time_mix_r"},
    {"time_mix_key.weight", "att.key.weight"},
    {"time_mix_value.weight", "att.value.weight"},
    {"time_mix_receptance.weight", "att.receptance.weight"},
    {"time_mix_output.weight", "att.output.weight"},
    {"channel_mix_lerp_k.weight", "ffn.time_mix_k"},
    {"channel_mix_lerp_r.weight", "ffn.time_mix_r"},
    {"channel_mix_key.weight", "ffn.key.weight"},
    {"channel_mix_value.weight", "ffn.value.weight"},
    {"channel_mix_receptance.weight", "ffn.receptance.weight"},
};
#define N_BIN_LAYER ((int)(sizeof k_bin_layer / sizeof k_bin_layer[0]))

static int32_t bin_type_of(int t) {
    switch (t) {
    case RWKV_TYPE_F32: return 0;
    case RWKV_TYPE_F16: return 1;
    case RWKV_TYPE_Q4_0: return 2;
    case RWKV_TYPE_Q4_1: return 3;
    case RWKV_TYPE_Q5_0: return 7;
    case RWKV_TYPE_Q5_1: return 8;
    case RWKV_TYPE_Q8_0: return 9;
    default: return 99;
    }
}

typedef struct bopts {
    const char *skip;    /* rwkv.cpp name left out */
    const char *dup;     /* rwkv.cpp name written twice */
    const char *reshape; /* rwkv.cpp name written with shape rs_ne (zeros) */
    int rs_dims;
    int64_t rs_ne[2];
} bopts;

static void bin_tensor(buf_t *b, const bopts *o, const tspec *t, const char *name) {
    int copies = o->dup && strcmp(o->dup, name) == 0 ? 2 : 1, c, d;
    if (o->skip && strcmp(o->skip, name) == 0) return;
    for (c = 0; c < copies; c++) {
        int reshape = o->reshape && strcmp(o->reshape, name) == 0;
        int nd = reshape ? o->rs_dims : t->n_dims;
        const int64_t *ne = reshape ? o->rs_ne : t->ne;
        buf_i32(b, nd);
        buf_i32(b, (int32_t)strlen(name));
        buf_i32(b, bin_type_of(t->type));
        for (d = 0; d < nd; d++) buf_i32(b, (int32_t)ne[d]);
        buf_str(b, name);
        if (reshape) {
            size_t nb = tensor_bytes(t->type, (size_t)(ne[0] * (nd > 1 ? ne[1] : 1)));
            unsigned char *z = (unsigned char *)calloc(nb + 1, 1);
            if (!z) exit(3);
            buf_put(b, z, nb);
            free(z);
        } else if (strstr(name, ".time_decay")) { /* v4: stored as -exp(time_decay) */
            int64_t i;
            for (i = 0; i < t->ne[0]; i++) {
                float v = (float)-exp((double)t->val[i]);
                buf_put(b, &v, 4);
            }
        } else {
            buf_put(b, t->raw, t->n_bytes);
        }
    }
}

/* The model as an rwkv.cpp .bin buffer (malloc'd). */
static unsigned char *synth_bin(const synth *m, const bopts *o_in, size_t *size) {
    static const bopts none;
    const bopts *o = o_in ? o_in : &none;
    buf_t b = {0, 0, 0};
    int l, k;
    char name[96], gname[96];
    int quant = type_block(m->mat_type) > 1;
    buf_i32(&b, 0x67676d66);
    buf_i32(&b, quant ? 101 : 100);
    buf_i32(&b, m->V);
    buf_i32(&b, m->C);
    buf_i32(&b, m->L);
    buf_i32(&b, bin_type_of(m->mat_type));
    bin_tensor(&b, o, find_t(m, "token_embd.weight"), "emb.weight");
    for (l = 0; l < m->L; l++) {
        for (k = 0; k < N_BIN_LAYER; k++) {
            snprintf(gname, sizeof gname, "blk.%d.%s", l, k_bin_layer[k][0]);
            snprintf(name, sizeof name, "blocks.%d.%s", l, k_bin_layer[k][1]);
            bin_tensor(&b, o, find_t(m, "%s", gname), name);
        }
        if (l == 0) {
            bin_tensor(&b, o, find_t(m, "token_embd_norm.weight"), "blocks.0.ln0.weight");
            bin_tensor(&b, o, find_t(m, "token_embd_norm.bias"), "blocks.0.ln0.bias");
        }
    }
    bin_tensor(&b, o, find_t(m, "output_norm.weight"), "ln_out.weight");
    bin_tensor(&b, o, find_t(m, "output_norm.bias"), "ln_out.bias");
    bin_tensor(&b, o, find_t(m, "output.weight"), "head.weight");
    *size = b.n;
    return b.p;
}

/* ======================================================================== */
/* A map of where each field of a GGUF buffer lies (to mutate it)            */
/* ======================================================================== */

#define GM_MAX_KV 32
#define GM_MAX_T 128
typedef struct gmap {
    size_t n_tensors_off, n_kv_off;
    int n_kv;
    size_t kv_off[GM_MAX_KV];     /* the key's length field */
    size_t kv_type_off[GM_MAX_KV];
    size_t kv_val_off[GM_MAX_KV]; /* arrays: the element type, count at +4 */
    char kv_key[GM_MAX_KV][96];
    int n_ti;
    size_t ti_off[GM_MAX_T];      /* the name's length field */
    size_t ti_ndims_off[GM_MAX_T], ti_dims_off[GM_MAX_T], ti_type_off[GM_MAX_T], ti_offs_off[GM_MAX_T];
    char ti_name[GM_MAX_T][64];
    size_t info_end, data_start;
} gmap;

static size_t gm_skip(const unsigned char *b, size_t o, uint32_t type) {
    switch (type) {
    case 0: case 1: case 7: return o + 1;
    case 2: case 3: return o + 2;
    case 4: case 5: case 6: return o + 4;
    case 10: case 11: case 12: return o + 8;
    case 8: return o + 8 + (size_t)get_le64(b + o);
    case 9: {
        uint32_t et = get_le32(b + o);
        uint64_t n = get_le64(b + o + 4), i;
        size_t p = o + 12;
        for (i = 0; i < n; i++) p = gm_skip(b, p, et);
        return p;
    }
    default: printf("internal: gguf type %u\n", (unsigned)type); exit(2);
    }
}

static void gmap_build(gmap *g, const unsigned char *b) {
    size_t o = 24;
    uint64_t i, nt = get_le64(b + 8), nk = get_le64(b + 16);
    memset(g, 0, sizeof *g);
    g->n_tensors_off = 8;
    g->n_kv_off = 16;
    if (nt > GM_MAX_T || nk > GM_MAX_KV) { printf("internal: gmap too small\n"); exit(2); }
    for (i = 0; i < nk; i++) {
        size_t kl = (size_t)get_le64(b + o);
        g->kv_off[i] = o;
        memcpy(g->kv_key[i], b + o + 8, kl < 95 ? kl : 95);
        o += 8 + kl;
        g->kv_type_off[i] = o;
        g->kv_val_off[i] = o + 4;
        o = gm_skip(b, o + 4, get_le32(b + o));
    }
    g->n_kv = (int)nk;
    for (i = 0; i < nt; i++) {
        size_t nl = (size_t)get_le64(b + o);
        uint32_t nd;
        g->ti_off[i] = o;
        memcpy(g->ti_name[i], b + o + 8, nl < 63 ? nl : 63);
        o += 8 + nl;
        g->ti_ndims_off[i] = o;
        nd = get_le32(b + o);
        g->ti_dims_off[i] = o + 4;
        o += 4 + 8 * (size_t)nd;
        g->ti_type_off[i] = o;
        g->ti_offs_off[i] = o + 4;
        o += 12;
    }
    g->n_ti = (int)nt;
    g->info_end = o;
    g->data_start = (o + 31) / 32 * 32;
}

static int gmap_kv(const gmap *g, const char *key) {
    int i;
    for (i = 0; i < g->n_kv; i++)
        if (strcmp(g->kv_key[i], key) == 0) return i;
    printf("internal: no key %s\n", key);
    exit(2);
}
static int gmap_ti(const gmap *g, const char *name) {
    int i;
    for (i = 0; i < g->n_ti; i++)
        if (strcmp(g->ti_name[i], name) == 0) return i;
    printf("internal: no tensor info %s\n", name);
    exit(2);
}

/* ======================================================================== */
/* Helpers around the library                                                */
/* ======================================================================== */

/* A copy of a buffer at a chosen alignment: misalign 0 gives a 32-byte
   aligned copy, otherwise base+misalign (so not 32-aligned). */
typedef struct membuf {
    unsigned char *base, *p;
    size_t n;
} membuf;

static membuf membuf_copy(const void *src, size_t n, int misalign) {
    membuf m;
    size_t cap = (n + (size_t)misalign + 31) / 32 * 32 + 32;
    m.base = (unsigned char *)aligned_alloc(32, cap);
    if (!m.base) exit(3);
    m.p = m.base + misalign;
    m.n = n;
    memcpy(m.p, src, n);
    return m;
}
static void membuf_free(membuf *m) { free(m->base); }

static rwkv_model *load_ok_(const void *buf, size_t n, const char *what, int line) {
    rwkv_model *model = NULL;
    rwkv_result r;
    memset(&E, 0, sizeof E);
    r = rwkv_model_load_memory(&model, buf, n, &E);
    check_(r == RWKV_OK && model != NULL, __FILE__, line, "load %s: %d (%s) %s", what,
           (int)r, rwkv_result_string(r), E.message);
    return r == RWKV_OK ? model : NULL;
}
#define load_ok(buf, n, what) load_ok_((buf), (n), (what), __LINE__)

static rwkv_state *state_ok_(const rwkv_model *model, int line) {
    rwkv_state *s = NULL;
    rwkv_result r = rwkv_state_create(model, &s, &E);
    check_(r == RWKV_OK && s != NULL, __FILE__, line, "state_create: %d %s", (int)r, E.message);
    if (r != RWKV_OK || !s) {
        printf("fatal: cannot continue without a state\n");
        exit(1);
    }
    return s;
}
#define state_ok(model) state_ok_((model), __LINE__)

static size_t n_state_floats(const rwkv_model *model) {
    rwkv_model_info info;
    rwkv_model_get_info(model, &info);
    return info.state_floats;
}

/* A random token sequence over [0, V), with repeats. */
static void make_tokens(int32_t *tok, int n, int V, uint64_t seed) {
    rng_t r;
    int i;
    r.s = seed;
    for (i = 0; i < n; i++) tok[i] = i > 2 && rng_int(&r, 4) == 0 ? tok[rng_int(&r, i)] : rng_int(&r, V);
}

/* Max error of the model against the reference over the sequence, on every
   logit of every step; and of the final state, relative: |a-b|/(1+|b|). */
typedef struct cmp_t {
    double logit, state;
    int step, index;
} cmp_t;

/* The reference's logits after each token and its final state. */
typedef struct ref_run_t {
    int n, V;
    double *logits; /* n rows of V */
    double *state;
    size_t n_state;
} ref_run_t;

static ref_run_t ref_run(const synth *m, const int32_t *tok, int n, int q8) {
    ref_run_t rr;
    ref_state rs;
    int t;
    rr.n = n;
    rr.V = m->V;
    rr.n_state = (size_t)(5 * m->L * m->C);
    rr.logits = (double *)malloc(sizeof(double) * (size_t)n * (size_t)m->V);
    if (!rr.logits) exit(3);
    ref_init(&rs, m);
    rs.q8 = q8;
    for (t = 0; t < n; t++) ref_eval(&rs, tok[t], rr.logits + (size_t)t * (size_t)m->V);
    rr.state = rs.s;
    return rr;
}
static void ref_run_free(ref_run_t *rr) {
    free(rr->logits);
    free(rr->state);
}

static cmp_t cmp_with_ref(const rwkv_model *model, const ref_run_t *rr, const int32_t *tok) {
    cmp_t c = {0, 0, -1, -1};
    rwkv_state *s = state_ok(model);
    float *lg = (float *)malloc(sizeof(float) * (size_t)rr->V);
    const float *sd;
    size_t i, nf = n_state_floats(model);
    int t, bad = 0;
    if (!lg) exit(3);
    for (t = 0; t < rr->n; t++) {
        const double *rl = rr->logits + (size_t)t * (size_t)rr->V;
        rwkv_result r = rwkv_eval(s, tok[t], lg, &E);
        if (r != RWKV_OK) {
            CHECKF(0, "rwkv_eval step %d token %d: %d %s", t, (int)tok[t], (int)r, E.message);
            bad = 1;
            break;
        }
        for (i = 0; i < (size_t)rr->V; i++) {
            double e = fabs((double)lg[i] - rl[i]);
            if (!(e <= c.logit)) { /* also catches NaN */
                c.logit = e != e ? INFINITY : e;
                c.step = t;
                c.index = (int)i;
            }
        }
    }
    sd = rwkv_state_data(s);
    CHECK((uintptr_t)sd % 64 == 0); /* cache-line aligned, as documented */
    CHECK_INT(nf, rr->n_state);
    for (i = 0; !bad && i < nf && i < rr->n_state; i++) {
        double b = rr->state[i], e = fabs((double)sd[i] - b) / (1.0 + fabs(b));
        if (!(e <= c.state)) c.state = e != e ? INFINITY : e;
    }
    if (bad) c.logit = c.state = INFINITY;
    rwkv_state_free(s);
    free(lg);
    return c;
}

/* Step by step against the 8-bit-input reference, the reference restarted
   from the library's own state before every token (so a rounding flip in
   one step cannot spread to the next). Steps where the reference saw an
   input within float error of a rounding tie are skipped and counted. */
static cmp_t cmp_q8_stepwise(const rwkv_model *model, const synth *m, const int32_t *tok, int n, int *skipped) {
    cmp_t c = {0, 0, -1, -1};
    rwkv_state *s = state_ok(model);
    ref_state rs;
    float *lg = (float *)malloc(sizeof(float) * (size_t)m->V);
    double *rl = (double *)malloc(sizeof(double) * (size_t)m->V);
    size_t i, nf = (size_t)(5 * m->L * m->C);
    int t;
    if (!lg || !rl) exit(3);
    rwkv_state_set_quantized_input(s, 1);
    ref_init(&rs, m);
    rs.q8 = 1;
    *skipped = 0;
    for (t = 0; t < n; t++) {
        const float *sd = rwkv_state_data(s);
        for (i = 0; i < nf; i++) rs.s[i] = sd[i];
        rs.near_tie = 0;
        if (rwkv_eval(s, tok[t], lg, &E) != RWKV_OK) {
            c.logit = c.state = INFINITY;
            break;
        }
        ref_eval(&rs, tok[t], rl);
        if (rs.near_tie) {
            ++*skipped;
            continue;
        }
        for (i = 0; i < (size_t)m->V; i++) {
            double e = fabs((double)lg[i] - rl[i]);
            if (!(e <= c.logit)) c.logit = e != e ? INFINITY : e, c.step = t, c.index = (int)i;
        }
        sd = rwkv_state_data(s);
        for (i = 0; i < nf; i++) {
            double e = fabs((double)sd[i] - rs.s[i]) / (1.0 + fabs(rs.s[i]));
            if (!(e <= c.state)) c.state = e != e ? INFINITY : e;
        }
    }
    free(rs.s);
    free(lg);
    free(rl);
    rwkv_state_free(s);
    return c;
}

static cmp_t run_vs_ref(const rwkv_model *model, const synth *m, const int32_t *tok, int n) {
    ref_run_t rr = ref_run(m, tok, n, 0);
    cmp_t c = cmp_with_ref(model, &rr, tok);
    ref_run_free(&rr);
    return c;
}

/* Tolerances against the float64 reference. The library computes in float32
   on exactly the values the reference uses (the same f16/bf16/quantized
   weights, dequantized). A float32 dot product of n <= 256 terms of size ~1
   is off by ~sqrt(n)*6e-8 ~ 1e-6; layer norms, the WKV exponentials (whose
   arguments are such dot products) and 3 layers add a few times that, so
   logits of magnitude <= ~10 are expected within ~1e-5. 1e-4 leaves a 10x
   margin and is still ~100x below what any wrong formula, index or
   transform produces (those show errors of 1e-2 and up). The state is
   compared relative to 1+|value| since aa/bb grow with the sequence. */
#define LOGIT_TOL 1e-4
#define STATE_TOL 1e-4

static void check_info_(const rwkv_model *model, const synth *m, const char *format,
                        size_t file_bytes, int line) {
    rwkv_model_info info;
    char types[64] = "";
    int ids[] = {RWKV_TYPE_F32, RWKV_TYPE_F16, RWKV_TYPE_Q4_0, RWKV_TYPE_Q4_1, RWKV_TYPE_Q5_0,
                 RWKV_TYPE_Q5_1, RWKV_TYPE_Q8_0, RWKV_TYPE_BF16};
    size_t k, wb = 0;
    int i;
    const rwkv_tokenizer *tk;
    memset(&info, 0x5a, sizeof info);
    rwkv_model_get_info(model, &info);
    check_(info.version == 4 && info.version_minor == 0, __FILE__, line, "version %d.%d", info.version, info.version_minor);
    check_(info.n_layer == m->L && info.n_embd == m->C && info.n_vocab == m->V && info.n_ffn == m->F,
           __FILE__, line, "shape L%d C%d V%d F%d, want L%d C%d V%d F%d", info.n_layer, info.n_embd,
           info.n_vocab, info.n_ffn, m->L, m->C, m->V, m->F);
    check_(info.n_head == 0 && info.head_size == 0, __FILE__, line, "n_head %d head_size %d", info.n_head, info.head_size);
    check_(info.state_floats == (size_t)(5 * m->L * m->C), __FILE__, line, "state_floats %zu", info.state_floats);
    check_(info.state_blob_size == 48 + 4 * info.state_floats, __FILE__, line, "state_blob_size %zu", info.state_blob_size);
    for (i = 0; i < m->n; i++) wb += m->t[i].n_bytes;
    check_(info.weight_bytes == wb, __FILE__, line, "weight_bytes %zu, want %zu", info.weight_bytes, wb);
    check_(info.file_bytes == file_bytes, __FILE__, line, "file_bytes %zu, want %zu", info.file_bytes, file_bytes);
    check_(info.format && strcmp(info.format, format) == 0, __FILE__, line, "format %s, want %s",
           info.format ? info.format : "(null)", format);
    for (k = 0; k < sizeof ids / sizeof ids[0]; k++) {
        int present = 0;
        for (i = 0; i < m->n; i++) present |= m->t[i].type == ids[k];
        if (present) {
            if (types[0]) strcat(types, ",");
            strcat(types, rwkv_type_name(ids[k]) ? rwkv_type_name(ids[k]) : "?");
        }
    }
    check_(memchr(info.tensor_types, 0, sizeof info.tensor_types) && strcmp(info.tensor_types, types) == 0,
           __FILE__, line, "tensor_types '%.64s', want '%s'", info.tensor_types, types);
    check_(rwkv_model_n_vocab(model) == m->V, __FILE__, line, "n_vocab %d", rwkv_model_n_vocab(model));
    tk = rwkv_model_tokenizer(model);
    if (strcmp(format, "gguf") == 0 && m->tok == TOK_NONE) check_(tk == NULL, __FILE__, line, "tokenizer should be NULL");
    if (m->tok == TOK_BYTES || (strcmp(format, "rwkv.cpp") == 0 && m->V == 256))
        check_(tk && rwkv_tokenizer_vocab_size(tk) == 256, __FILE__, line, "byte tokenizer expected");
    if (m->tok == TOK_RWKV && strcmp(format, "gguf") == 0)
        check_(tk && rwkv_tokenizer_vocab_size(tk) == m->V, __FILE__, line, "World tokenizer of %d expected", m->V);
}
#define check_info(model, m, format, n) check_info_((model), (m), (format), (n), __LINE__)

/* ======================================================================== */
/* Tests                                                                     */
/* ======================================================================== */

static void test_basics(void) {
    rwkv_result codes[] = {RWKV_OK, RWKV_ERROR_INVALID_ARGUMENT, RWKV_ERROR_OUT_OF_MEMORY,
                           RWKV_ERROR_IO, RWKV_ERROR_BAD_FORMAT, RWKV_ERROR_UNSUPPORTED,
                           RWKV_ERROR_SHAPE, RWKV_ERROR_TOKEN_RANGE, RWKV_ERROR_STATE_MISMATCH,
                           RWKV_ERROR_BUFFER_TOO_SMALL};
    size_t i, j;
    g_section = "basics";
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = rwkv_result_string(codes[i]);
        CHECKF(s && s[0], "rwkv_result_string(%d)", (int)codes[i]);
        for (j = 0; j < i && s; j++) {
            const char *t = rwkv_result_string(codes[j]);
            CHECKF(!t || strcmp(s, t) != 0, "result strings %d and %d equal", (int)codes[i], (int)codes[j]);
        }
    }
    CHECK(rwkv_result_string((rwkv_result)42) != NULL);
    CHECK(rwkv_result_string((rwkv_result)-100) != NULL);

    /* type names and sizes */
    {
        static const struct { int type; const char *name; uint64_t n; size_t bytes; } k[] = {
            {RWKV_TYPE_F32, "f32", 10, 40},   {RWKV_TYPE_F16, "f16", 10, 20},
            {RWKV_TYPE_BF16, "bf16", 10, 20}, {RWKV_TYPE_Q4_0, "q4_0", 64, 36},
            {RWKV_TYPE_Q4_1, "q4_1", 64, 40}, {RWKV_TYPE_Q5_0, "q5_0", 64, 44},
            {RWKV_TYPE_Q5_1, "q5_1", 64, 48}, {RWKV_TYPE_Q8_0, "q8_0", 96, 102},
        };
        for (i = 0; i < sizeof k / sizeof k[0]; i++) {
            const char *n = rwkv_type_name(k[i].type);
            CHECKF(n && strcmp(n, k[i].name) == 0, "rwkv_type_name(%d) = %s, want %s", k[i].type, n ? n : "(null)", k[i].name);
            CHECKF(rwkv_type_size(k[i].type, k[i].n) == k[i].bytes, "rwkv_type_size(%s, %u) = %zu, want %zu",
                   k[i].name, (unsigned)k[i].n, rwkv_type_size(k[i].type, k[i].n), k[i].bytes);
            CHECKF(rwkv_type_size(k[i].type, 0) == 0, "rwkv_type_size(%s, 0)", k[i].name);
            { /* a huge count: the exact size where it fits in size_t, else 0 */
                uint64_t big = UINT64_MAX / 32 * 32, blocks = big / (uint64_t)type_block(k[i].type);
                size_t bb = type_block_bytes(k[i].type);
                size_t want = blocks > (uint64_t)SIZE_MAX / bb ? 0 : (size_t)(blocks * bb);
                CHECKF(rwkv_type_size(k[i].type, big) == want, "rwkv_type_size(%s, 2^64-32) = %zu, want %zu",
                       k[i].name, rwkv_type_size(k[i].type, big), want);
            }
        }
        CHECK(rwkv_type_size(RWKV_TYPE_F32, (uint64_t)1 << 62) == 0);
        CHECK(rwkv_type_size(RWKV_TYPE_F16, (uint64_t)1 << 63) == 0);
        CHECK(rwkv_type_name(4) == NULL);
        CHECK(rwkv_type_name(12) == NULL); /* Q4_K: not supported */
        CHECK(rwkv_type_name(99) == NULL);
        CHECK(rwkv_type_name(-1) == NULL);
        CHECK(rwkv_type_size(4, 32) == 0);
        CHECK(rwkv_type_size(99, 32) == 0);
        CHECK(rwkv_type_size(-1, 32) == 0);
    }

    /* our own f16 conversion (used to build the test models) */
    {
        static const struct { float f; uint16_t h; } k[] = {
            {0.0f, 0x0000}, {-0.0f, 0x8000}, {1.0f, 0x3c00}, {-2.0f, 0xc000}, {0.5f, 0x3800},
            {65504.0f, 0x7bff}, {65520.0f, 0x7c00}, {1e10f, 0x7c00},
            {1.0f + 1.0f / 2048, 0x3c00},      /* tie -> even */
            {1.0f + 3.0f / 2048, 0x3c02},      /* tie -> even (up) */
            {1.0f + 1.0f / 2048 + 1.0f / 65536, 0x3c01},
            {5.9604645e-8f, 0x0001},           /* 2^-24, smallest subnormal */
            {2.9802322e-8f, 0x0000},           /* 2^-25: tie -> 0 */
            {8.940697e-8f, 0x0002},            /* 1.5 * 2^-24: tie -> even 2 */
            {6.097555e-5f, 0x03ff},            /* largest subnormal */
            {6.1035156e-5f, 0x0400},           /* smallest normal */
            {0.1f, 0x2e66}, {3.140625f, 0x4248},
        };
        for (i = 0; i < sizeof k / sizeof k[0]; i++)
            CHECKF(f32_to_f16(k[i].f) == k[i].h, "f32_to_f16(%g) = %04x, want %04x", (double)k[i].f,
                   f32_to_f16(k[i].f), k[i].h);
        for (i = 0; i < 0x7c00; i += 7) { /* every 7th finite positive half round-trips */
            float f = f16_to_f32((uint16_t)i);
            if (f32_to_f16(f) != i) {
                CHECKF(0, "f16 round trip %04x", (unsigned)i);
                break;
            }
        }
    }
    /* our own quantizers/dequantizers agree with each other */
    {
        int types[] = {RWKV_TYPE_Q4_0, RWKV_TYPE_Q4_1, RWKV_TYPE_Q5_0, RWKV_TYPE_Q5_1, RWKV_TYPE_Q8_0};
        float x[32], y[32];
        unsigned char b[40];
        rng_t r = {7};
        for (i = 0; i < 5; i++) {
            double maxe = 0;
            for (j = 0; j < 32; j++) x[j] = (float)rng_range(&r, -1, 1);
            quant_block(types[i], x, b);
            dequant_block(types[i], b, y);
            for (j = 0; j < 32; j++) maxe = max_d(maxe, fabs((double)x[j] - y[j]));
            CHECKF(maxe < (types[i] == RWKV_TYPE_Q8_0 ? 0.01 : 0.15), "quant self-check type %d: %g", types[i], maxe);
        }
    }
}

/* Quantized matrices (Q8_0, Q4_x, Q5_x) are applied in one of two ways,
   each checked against its own float64 reference:
   - by default exactly, on the dequantized weights (as the official code):
     the whole sequence, free-running, within LOGIT_TOL/STATE_TOL;
   - after rwkv_state_set_quantized_input(state, 1), as ggml does: integer
     dot products on 8-bit inputs (each block of 32 inputs rounded to
     d*round(x/d), d = max|x|/127 in float). That rounding is not
     continuous: where an input lies within float32 error of a rounding tie,
     float32 and float64 may round it apart, by one step d, and since the
     inputs of channel-mix value (relu(k)^2) have large d, one such flip
     moves later logits by up to ~0.05, the size of the 8-bit rounding
     itself. So this reference is run step by step from the library's own
     state before each token (a flip cannot spread), steps where it saw a
     near-tie are skipped (at most half of them may be), and the others
     must agree within LOGIT_TOL/STATE_TOL like the exact path. */
static void check_vs_refs_(const rwkv_model *model, const synth *m, const ref_run_t *rr, int quant,
                           const int32_t *tok, const char *label, int line) {
    cmp_t e = cmp_with_ref(model, rr, tok), eq = {0, 0, -1, -1};
    int skipped = 0;
    if (g_verbose) printf("  %-36s max logit error %.2e, state %.2e\n", label, e.logit, e.state);
    check_(e.logit <= LOGIT_TOL, __FILE__, line, "%s: max logit error %.3g (step %d, logit %d)", label,
           e.logit, e.step, e.index);
    check_(e.state <= STATE_TOL, __FILE__, line, "%s: max state error %.3g", label, e.state);
    if (!quant) return;
    eq = cmp_q8_stepwise(model, m, tok, rr->n, &skipped);
    if (g_verbose)
        printf("  %-36s 8-bit inputs, step by step: logits %.2e, state %.2e (%d of %d steps skipped)\n",
               "", eq.logit, eq.state, skipped, rr->n);
    check_(eq.logit <= LOGIT_TOL && eq.state <= STATE_TOL && skipped <= rr->n / 2, __FILE__, line,
           "%s with quantized inputs: max logit/state error %.3g/%.3g vs the 8-bit-input reference "
           "step by step (step %d, logit %d; %d steps skipped)",
           label, eq.logit, eq.state, eq.step, eq.index, skipped);
}
#define check_vs_refs(model, m, rr, quant, tok, label) check_vs_refs_((model), (m), (rr), (quant), (tok), (label), __LINE__)

/* rwkv_quantize_row: f16/bf16 round to nearest even, bit for bit; blocks
   decode (by the ggml layouts above) to within one step d of the input. */
static void test_quantize_row(void) {
    static const int types[] = {RWKV_TYPE_F32, RWKV_TYPE_F16, RWKV_TYPE_BF16, RWKV_TYPE_Q8_0,
                                RWKV_TYPE_Q4_0, RWKV_TYPE_Q4_1, RWKV_TYPE_Q5_0, RWKV_TYPE_Q5_1};
    float x[128], y[32];
    unsigned char out[600];
    rng_t r = {12};
    size_t k, i;
    g_section = "quantize_row";
    for (i = 0; i < 128; i++) x[i] = (float)(rng_range(&r, -1, 1) * (i < 32 ? 1e-3 : i < 64 ? 1.0 : 300.0));
    x[70] = 0.0f;
    for (i = 96; i < 128; i++) x[i] = 0.25f; /* a constant block */
    for (k = 0; k < sizeof types / sizeof types[0]; k++) {
        int t = types[k];
        size_t want = rwkv_type_size(t, 128), got = rwkv_quantize_row(t, x, 128, out);
        CHECKF(got == want && want > 0, "quantize_row(%s): %zu bytes, want %zu", rwkv_type_name(t), got, want);
        if (got != want) continue;
        if (t == RWKV_TYPE_F32) {
            CHECK(memcmp(out, x, 512) == 0);
        } else if (t == RWKV_TYPE_F16 || t == RWKV_TYPE_BF16) {
            int ok = 1;
            for (i = 0; i < 128; i++)
                ok &= get_le16(out + 2 * i) == (t == RWKV_TYPE_F16 ? f32_to_f16(x[i]) : f32_to_bf16(x[i]));
            CHECKF(ok, "quantize_row(%s) does not round to nearest even", rwkv_type_name(t));
        } else {
            size_t bb = type_block_bytes(t), b, j;
            double worst = 0;
            for (b = 0; b < 4; b++) {
                double d = fabs((double)f16_to_f32(get_le16(out + b * bb)));
                dequant_block(t, out + b * bb, y);
                for (j = 0; j < 32; j++) worst = max_d(worst, fabs((double)y[j] - x[32 * b + j]) / (d + 1e-30) - 1.0);
            }
            CHECKF(worst <= 1e-3, "quantize_row(%s): a value decodes more than one step away", rwkv_type_name(t));
        }
    }
    CHECK(rwkv_quantize_row(RWKV_TYPE_Q8_0, x, 31, out) == 0);
    CHECK(rwkv_quantize_row(RWKV_TYPE_Q4_0, x, 48, out) == 0);
    CHECK(rwkv_quantize_row(99, x, 32, out) == 0);
    CHECK(rwkv_quantize_row(12, x, 256, out) == 0);
}

/* Forward pass against the float64 reference, many shapes and weight types,
   GGUF and .bin, aligned (in place) and unaligned (copied) buffers. */
static void test_forward(void) {
    static const struct { int C, L, F, V, tok; } cfg[] = {
        {8, 1, 32, 256, TOK_BYTES},   /* F = 4C, byte vocabulary */
        {16, 2, 24, 77, TOK_NONE},    /* odd F and V, no tokenizer */
        {64, 3, 256, 256, TOK_BYTES}, /* F = 4C, three layers */
        {32, 3, 64, 256, TOK_BYTES},  /* quantized matrices, f32 embedding and head */
        {32, 2, 96, 0, TOK_RWKV},     /* V = the synthetic World vocabulary */
    };
    static const int qtypes[] = {RWKV_TYPE_BF16, RWKV_TYPE_Q8_0, RWKV_TYPE_Q4_0,
                                 RWKV_TYPE_Q4_1, RWKV_TYPE_Q5_0, RWKV_TYPE_Q5_1};
    int32_t tok[24];
    size_t c, q;
    char label[128];
    g_section = "forward";
    for (c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        int V = cfg[c].V ? cfg[c].V : world_vocab_count();
        int types[8], nt = 0, k;
        types[nt++] = RWKV_TYPE_F32;
        types[nt++] = RWKV_TYPE_F16;
        if (cfg[c].C == 32) /* (ne[0] must be a multiple of 32) */
            for (q = 0; q < sizeof qtypes / sizeof qtypes[0]; q++) types[nt++] = qtypes[q];
        make_tokens(tok, 24, V, 100 + c);
        for (k = 0; k < nt; k++) {
            int mt = types[k];
            /* config 3 keeps embedding and head in f32 next to quantized
               matrices (as rwkv.cpp does), the others use one type for all */
            int eh = (c == 3 && type_block(mt) > 1) ? RWKV_TYPE_F32 : mt;
            synth *m = synth_create(cfg[c].C, cfg[c].L, cfg[c].F, V, mt, eh, cfg[c].tok, 1000 + 10 * c + (size_t)k);
            size_t n;
            unsigned char *g = synth_gguf(m, NULL, &n);
            ref_run_t rr = ref_run(m, tok, 24, 0);
            int quant = type_block(mt) > 1, mis;
            for (mis = 0; mis < 2; mis++) {
                membuf mb = membuf_copy(g, n, mis ? 4 : 0);
                rwkv_model *model = load_ok(mb.p, mb.n, "synthetic gguf");
                if (model) {
                    snprintf(label, sizeof label, "gguf C%d L%d F%d V%d %s%s", m->C, m->L, m->F, m->V,
                             rwkv_type_name(mt), mis ? " unaligned" : "");
                    check_vs_refs(model, m, &rr, quant && !mis, tok, label);
                    check_info(model, m, "gguf", n);
                    if (!mis) { /* aligned buffer: big tensors are used in place */
                        rwkv_tensor_info ti;
                        int i, cnt = rwkv_model_tensor_count(model), inplace = 1;
                        for (i = 0; i < cnt; i++)
                            if (rwkv_model_tensor(model, i, &ti) == RWKV_OK && ti.n_dims == 2 &&
                                !((const unsigned char *)ti.data >= mb.p && (const unsigned char *)ti.data < mb.p + mb.n))
                                inplace = 0;
                        CHECKF(inplace, "aligned GGUF buffer: 2-D tensors not used in place (%s)", rwkv_type_name(mt));
                    }
                    rwkv_model_free(model);
                }
                membuf_free(&mb);
            }
            free(g);
            /* the same weights as an rwkv.cpp .bin (no bf16 in rwkv.cpp) */
            if (mt != RWKV_TYPE_BF16 && type_block(eh) == 1) {
                unsigned char *b = synth_bin(m, NULL, &n);
                rwkv_model *model = load_ok(b, n, "synthetic bin");
                if (model) {
                    snprintf(label, sizeof label, "bin C%d L%d F%d V%d %s", m->C, m->L, m->F, m->V, rwkv_type_name(mt));
                    check_vs_refs(model, m, &rr, 0, tok, label);
                    check_info(model, m, "rwkv.cpp", n);
                    rwkv_model_free(model);
                }
                free(b);
            }
            ref_run_free(&rr);
            synth_free(m);
        }
    }
}

static int temp_path(char *path, size_t cap) {
    int fd;
    snprintf(path, cap, "/tmp/rwkv_test_XXXXXX");
    fd = mkstemp(path);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

static int write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f) return -1;
    ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Logits after a sequence, token by token. */
static void logits_after(const rwkv_model *model, const int32_t *tok, int n, float *out) {
    rwkv_state *s = state_ok(model);
    int t;
    for (t = 0; t < n; t++) CHECK_RC(rwkv_eval(s, tok[t], out, &E), RWKV_OK);
    rwkv_state_free(s);
}

static void test_load_file(void) {
    synth *m = synth_create(16, 2, 64, 256, RWKV_TYPE_F16, RWKV_TYPE_F16, TOK_BYTES, 77);
    char path[64];
    size_t ng, nb, i;
    unsigned char *g = synth_gguf(m, NULL, &ng), *b = synth_bin(m, NULL, &nb);
    int32_t tok[20];
    float la[256], lb[256];
    rwkv_model *mm, *mf = NULL;
    g_section = "load_file";
    make_tokens(tok, 20, 256, 5);
    if (temp_path(path, sizeof path) != 0) {
        CHECKF(0, "mkstemp failed");
        goto done;
    }
    /* GGUF through a file (mapped or read) equals GGUF from memory */
    CHECK(synth_gguf_file(m, path) == 0);
    mm = load_ok(g, ng, "gguf memory");
    memset(&E, 0, sizeof E);
    CHECK_RC(rwkv_model_load_file(&mf, path, &E), RWKV_OK);
    if (mm && mf) {
        cmp_t e = run_vs_ref(mf, m, tok, 20);
        CHECKF(e.logit <= LOGIT_TOL, "file: max logit error %.3g", e.logit);
        check_info(mf, m, "gguf", ng);
        logits_after(mm, tok, 20, la);
        logits_after(mf, tok, 20, lb);
        CHECK(memcmp(la, lb, sizeof la) == 0);
    }
    rwkv_model_free(mf);
    rwkv_model_free(mm);
    mf = NULL;
    /* .bin through a file */
    CHECK(write_file(path, b, nb) == 0);
    CHECK_RC(rwkv_model_load_file(&mf, path, &E), RWKV_OK);
    if (mf) {
        cmp_t e = run_vs_ref(mf, m, tok, 20);
        CHECKF(e.logit <= LOGIT_TOL, "bin file: max logit error %.3g", e.logit);
        check_info(mf, m, "rwkv.cpp", nb);
    }
    rwkv_model_free(mf);
    mf = NULL;
    /* truncated files and an empty file are refused */
    {
        size_t cuts[] = {0, 3, 4, 23, 24, 100, 1000, 0, 0};
        cuts[7] = nb / 2;
        cuts[8] = nb - 1;
        for (i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            CHECK(write_file(path, b, cuts[i]) == 0);
            EXPECT_ERR(ANY_ERROR, rwkv_model_load_file(&mf, path, &E));
            if (mf) rwkv_model_free(mf), mf = NULL;
        }
        cuts[7] = ng / 2;
        cuts[8] = ng - 1;
        for (i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            CHECK(write_file(path, g, cuts[i]) == 0);
            EXPECT_ERR(ANY_ERROR, rwkv_model_load_file(&mf, path, &E));
            if (mf) rwkv_model_free(mf), mf = NULL;
        }
    }
    remove(path);
    /* a file that is not there; NULL arguments */
    EXPECT_ERR(RWKV_ERROR_IO, rwkv_model_load_file(&mf, "/nonexistent/dir/model.gguf", &E));
    EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_model_load_file(&mf, NULL, &E));
    EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_model_load_file(NULL, path, &E));
done:
    free(g);
    free(b);
    synth_free(m);
}

/* rwkv_eval_sequence is "equal to n calls of rwkv_eval() within float
   rounding": it may run the tokens through the matrices in chunks, which
   sums in another order. That moves each dot product by ~sqrt(n)*6e-8 of
   its terms, ~1e-6 here; 1e-5 on logits (and relative on the state) allows
   for a few layers of it and is still 10x below the reference tolerance. */
#define SEQ_TOL 1e-5

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= m)) m = e != e ? INFINITY : e;
    }
    return m;
}
static double max_rel_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (!(e <= m)) m = e != e ? INFINITY : e;
    }
    return m;
}

/* Sequence mode against token by token over chunk boundaries, several
   weight types, whole and split sequences, one thread and three. */
static void test_sequence_mode(void) {
    static const struct { int C, L, F, V, mt, eh; } k[] = {
        {16, 2, 24, 77, RWKV_TYPE_F32, RWKV_TYPE_F32},   {32, 2, 64, 256, RWKV_TYPE_F16, RWKV_TYPE_F16},
        {32, 2, 64, 256, RWKV_TYPE_BF16, RWKV_TYPE_F32}, {32, 2, 96, 77, RWKV_TYPE_Q5_1, RWKV_TYPE_F32},
        {32, 1, 64, 77, RWKV_TYPE_Q4_0, RWKV_TYPE_Q8_0}, {64, 1, 128, 256, RWKV_TYPE_Q5_0, RWKV_TYPE_F16},
        /* FFN value rows of 800 and 832 inputs: the prefill's slices of 256, 256, 256 and the rest */
        {32, 1, 800, 77, RWKV_TYPE_F32, RWKV_TYPE_F32},  {32, 1, 832, 77, RWKV_TYPE_F16, RWKV_TYPE_F16},
        /* 64 tokens x 256 values: the steps between the products split the
           tokens over the threads (RWKV__PARALLEL_VALUES) */
        {256, 2, 256, 77, RWKV_TYPE_F16, RWKV_TYPE_F32},
    };
    /* token by token (< 8), panels of 16 and 32 tokens, around the default
       chunk of 64 */
    static const int lens[] = {1, 3, 5, 9, 17, 33, 64, 70, 135};
    int32_t tok[135];
    size_t c, l;
    g_section = "sequence mode";
    for (c = 0; c < sizeof k / sizeof k[0]; c++) {
        synth *m = synth_create(k[c].C, k[c].L, k[c].F, k[c].V, k[c].mt, k[c].eh, TOK_NONE, 800 + c);
        size_t n, nf;
        unsigned char *g = synth_gguf(m, NULL, &n);
        rwkv_model *model = load_ok(g, n, "sequence model");
        float *la = (float *)malloc(sizeof(float) * (size_t)m->V), *lb = (float *)malloc(sizeof(float) * (size_t)m->V);
        double worst = 0, worst_state = 0;
        if (!la || !lb) exit(3);
        if (!model) goto next;
        nf = n_state_floats(model);
        make_tokens(tok, 135, m->V, 90 + c);
        for (l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            rwkv_state *a = state_ok(model), *b = state_ok(model), *d = state_ok(model);
            int t, split = lens[l] / 3;
            for (t = 0; t < lens[l]; t++) CHECK_RC(rwkv_eval(a, tok[t], la, &E), RWKV_OK);
            CHECK_RC(rwkv_eval_sequence(b, tok, (size_t)lens[l], lb, &E), RWKV_OK);
            worst = max_d(worst, max_abs_diff(la, lb, (size_t)m->V));
            worst_state = max_d(worst_state, max_rel_diff(rwkv_state_data(b), rwkv_state_data(a), nf));
            /* split in two sequences, the first without logits */
            CHECK_RC(rwkv_eval_sequence(d, tok, (size_t)split, NULL, &E), RWKV_OK);
            CHECK_RC(rwkv_eval_sequence(d, tok + split, (size_t)(lens[l] - split), lb, &E), RWKV_OK);
            worst = max_d(worst, max_abs_diff(la, lb, (size_t)m->V));
            worst_state = max_d(worst_state, max_rel_diff(rwkv_state_data(d), rwkv_state_data(a), nf));
            /* several threads (where OpenMP is compiled in): the same
               results within float rounding, token by token and in sequence */
            if (lens[l] != 70) {
                rwkv_state_free(a);
                rwkv_state_free(b);
                rwkv_state_free(d);
                continue;
            }
            CHECK_RC(rwkv_state_set_threads(d, 3), RWKV_OK);
            rwkv_state_reset(d);
            for (t = 0; t < lens[l]; t++) CHECK_RC(rwkv_eval(d, tok[t], lb, &E), RWKV_OK);
            worst = max_d(worst, max_abs_diff(la, lb, (size_t)m->V));
            worst_state = max_d(worst_state, max_rel_diff(rwkv_state_data(d), rwkv_state_data(a), nf));
            rwkv_state_reset(d);
            CHECK_RC(rwkv_eval_sequence(d, tok, (size_t)lens[l], lb, &E), RWKV_OK);
            worst = max_d(worst, max_abs_diff(la, lb, (size_t)m->V));
            worst_state = max_d(worst_state, max_rel_diff(rwkv_state_data(d), rwkv_state_data(a), nf));
            /* and in sequence the same bits as one thread */
            rwkv_state_reset(b);
            CHECK_RC(rwkv_eval_sequence(b, tok, (size_t)lens[l], la, &E), RWKV_OK);
            CHECKF(!memcmp(la, lb, sizeof(float) * (size_t)m->V) &&
                       !memcmp(rwkv_state_data(b), rwkv_state_data(d), sizeof(float) * nf),
                   "C%d L%d %s: a sequence on 3 threads differs from 1 thread's", m->C, m->L,
                   rwkv_type_name(k[c].mt));
            rwkv_state_free(a);
            rwkv_state_free(b);
            rwkv_state_free(d);
        }
        /* with 8-bit inputs, sequence mode multiplies in integers too
           (where rwkv__int8_prefill says so): the same products, so the
           same results up to float rounding, except where that rounding
           tips an input's 8-bit rounding (then a step of ~max|x|/127 in one
           input moves the logits by ~1e-3) */
        if (rwkv__int8_prefill(k[c].mt)) {
            rwkv_state *a = state_ok(model), *b = state_ok(model);
            double worst_q8 = 0.0;
            int t;
            rwkv_state_set_quantized_input(a, 1);
            rwkv_state_set_quantized_input(b, 1);
            CHECK_RC(rwkv_state_set_threads(b, 3), RWKV_OK);
            for (t = 0; t < 135; t++) CHECK_RC(rwkv_eval(a, tok[t], la, &E), RWKV_OK);
            CHECK_RC(rwkv_eval_sequence(b, tok, 135, lb, &E), RWKV_OK);
            worst_q8 = max_abs_diff(la, lb, (size_t)m->V);
            if (g_verbose)
                printf("  C%d L%d %s: 8-bit inputs, sequence vs token by token: logits %.2e\n", m->C, m->L,
                       rwkv_type_name(k[c].mt), worst_q8);
            CHECKF(worst_q8 <= 1e-2, "C%d L%d %s: 8-bit input sequence differs from token by token by %g", m->C,
                   m->L, rwkv_type_name(k[c].mt), worst_q8);
            rwkv_state_free(a);
            rwkv_state_free(b);
        }
        if (g_verbose)
            printf("  C%d L%d %s: sequence vs token by token: logits %.2e, state %.2e\n", m->C, m->L,
                   rwkv_type_name(k[c].mt), worst, worst_state);
        CHECKF(worst <= SEQ_TOL, "C%d L%d %s: sequence logits differ from token by token by %g", m->C, m->L,
               rwkv_type_name(k[c].mt), worst);
        CHECKF(worst_state <= SEQ_TOL, "C%d L%d %s: sequence state differs from token by token by %g", m->C, m->L,
               rwkv_type_name(k[c].mt), worst_state);
        rwkv_model_free(model);
    next:
        free(la);
        free(lb);
        free(g);
        synth_free(m);
    }
}

/* rwkv_eval / rwkv_eval_sequence: equal results, NULL logits, bad tokens. */
static void test_eval_api(void) {
    synth *m = synth_create(16, 2, 24, 77, RWKV_TYPE_F32, RWKV_TYPE_F32, TOK_NONE, 4242);
    size_t n, nf, i;
    unsigned char *g = synth_gguf(m, NULL, &n);
    rwkv_model *model = load_ok(g, n, "eval model");
    int32_t tok[20];
    float la[77], lb[77], lc[77];
    int lens[] = {1, 2, 5, 20}, k, t;
    g_section = "eval";
    if (!model) goto done;
    nf = n_state_floats(model);
    make_tokens(tok, 20, 77, 9);
    for (k = 0; k < 4; k++) {
        rwkv_state *a = state_ok(model), *b = state_ok(model), *c = state_ok(model);
        /* token by token, logits each time */
        for (t = 0; t < lens[k]; t++) CHECK_RC(rwkv_eval(a, tok[t], la, &E), RWKV_OK);
        /* one sequence (more in test_sequence_mode) */
        CHECK_RC(rwkv_eval_sequence(b, tok, (size_t)lens[k], lb, &E), RWKV_OK);
        CHECKF(max_abs_diff(la, lb, 77) <= SEQ_TOL, "sequence of %d: logits differ from token by token by %g",
               lens[k], max_abs_diff(la, lb, 77));
        CHECKF(max_rel_diff(rwkv_state_data(a), rwkv_state_data(b), nf) <= SEQ_TOL, "sequence of %d: state differs", lens[k]);
        /* NULL logits until the last token */
        for (t = 0; t < lens[k] - 1; t++) CHECK_RC(rwkv_eval(c, tok[t], NULL, &E), RWKV_OK);
        CHECK_RC(rwkv_eval(c, tok[lens[k] - 1], lc, &E), RWKV_OK);
        CHECKF(memcmp(la, lc, sizeof la) == 0, "NULL logits changed the result (%d tokens)", lens[k]);
        CHECKF(memcmp(rwkv_state_data(a), rwkv_state_data(c), nf * 4) == 0, "NULL logits: state differs");
        rwkv_state_free(a);
        rwkv_state_free(b);
        rwkv_state_free(c);
    }
    {
        rwkv_state *a = state_ok(model), *b = state_ok(model);
        float *snap = (float *)malloc(nf * 4);
        int32_t bad[] = {-1, 77, 1000, INT32_MAX, INT32_MIN};
        if (!snap) exit(3);
        /* split sequences and NULL logits */
        CHECK_RC(rwkv_eval_sequence(a, tok, 7, NULL, &E), RWKV_OK);
        CHECK_RC(rwkv_eval_sequence(a, tok + 7, 13, la, &E), RWKV_OK);
        for (t = 0; t < 20; t++) CHECK_RC(rwkv_eval(b, tok[t], lb, &E), RWKV_OK);
        CHECK(max_abs_diff(la, lb, 77) <= SEQ_TOL);
        CHECK(max_rel_diff(rwkv_state_data(a), rwkv_state_data(b), nf) <= SEQ_TOL);
        memcpy(rwkv_state_data(a), rwkv_state_data(b), nf * 4); /* the same from here on */
        /* n == 0 leaves logits and state untouched */
        for (i = 0; i < 77; i++) lc[i] = 12345.0f;
        memcpy(snap, rwkv_state_data(a), nf * 4);
        CHECK_RC(rwkv_eval_sequence(a, tok, 0, lc, &E), RWKV_OK);
        for (i = 0; i < 77 && lc[i] == 12345.0f; i++) {}
        CHECKF(i == 77, "n == 0 wrote logits");
        CHECK(memcmp(snap, rwkv_state_data(a), nf * 4) == 0);
        /* out-of-range tokens: TOKEN_RANGE and the state unchanged */
        for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            int32_t seq[4];
            EXPECT_ERR(RWKV_ERROR_TOKEN_RANGE, rwkv_eval(a, bad[i], la, &E));
            CHECKF(memcmp(snap, rwkv_state_data(a), nf * 4) == 0, "state changed by bad token %d", (int)bad[i]);
            EXPECT_ERR(RWKV_ERROR_TOKEN_RANGE, rwkv_eval(a, bad[i], NULL, &E));
            seq[0] = 1, seq[1] = 2, seq[2] = 3, seq[3] = bad[i];
            EXPECT_ERR(RWKV_ERROR_TOKEN_RANGE, rwkv_eval_sequence(a, seq, 4, la, &E));
            CHECKF(memcmp(snap, rwkv_state_data(a), nf * 4) == 0, "sequence with bad token %d changed the state", (int)bad[i]);
            seq[0] = bad[i];
            EXPECT_ERR(RWKV_ERROR_TOKEN_RANGE, rwkv_eval_sequence(a, seq, 4, NULL, &E));
            CHECK(memcmp(snap, rwkv_state_data(a), nf * 4) == 0);
        }
        /* and the state still works: same as b after the same tokens */
        CHECK_RC(rwkv_eval(a, 5, la, &E), RWKV_OK);
        CHECK_RC(rwkv_eval(b, 5, lb, &E), RWKV_OK);
        CHECK(memcmp(la, lb, sizeof la) == 0);
        /* the last valid token */
        CHECK_RC(rwkv_eval(a, 76, la, &E), RWKV_OK);
        CHECK_RC(rwkv_eval(a, 0, la, &E), RWKV_OK);
        /* NULL arguments */
        EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_eval(NULL, 1, la, &E));
        EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_eval_sequence(NULL, tok, 3, la, &E));
        EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_eval_sequence(a, NULL, 3, la, &E));
        CHECK_RC(rwkv_eval(a, 1, la, NULL), RWKV_OK);                      /* error may be NULL */
        CHECK_RC(rwkv_eval(a, -1, la, NULL), RWKV_ERROR_TOKEN_RANGE);
        free(snap);
        rwkv_state_free(a);
        rwkv_state_free(b);
    }
    rwkv_model_free(model);
done:
    free(g);
    synth_free(m);
}

/* States: initial values, reset, copy, export/import. */
static void test_state(void) {
    synth *m = synth_create(16, 2, 64, 256, RWKV_TYPE_F16, RWKV_TYPE_F16, TOK_BYTES, 31337);
    synth *m_other_w = synth_create(16, 2, 64, 256, RWKV_TYPE_F16, RWKV_TYPE_F16, TOK_BYTES, 31338);
    synth *m_other_c = synth_create(8, 2, 32, 256, RWKV_TYPE_F32, RWKV_TYPE_F32, TOK_BYTES, 31339);
    synth *m_other_l = synth_create(16, 1, 64, 256, RWKV_TYPE_F32, RWKV_TYPE_F32, TOK_BYTES, 31340);
    size_t n1, n2, n3, n4, nf, bs, i, l;
    unsigned char *g1 = synth_gguf(m, NULL, &n1), *g2 = synth_gguf(m_other_w, NULL, &n2),
                  *g3 = synth_gguf(m_other_c, NULL, &n3), *g4 = synth_gguf(m_other_l, NULL, &n4);
    rwkv_model *model = load_ok(g1, n1, "state model"), *model2 = load_ok(g1, n1, "same model again"),
               *ow = load_ok(g2, n2, "other weights"), *oc = load_ok(g3, n3, "other C"),
               *ol = load_ok(g4, n4, "other L");
    rwkv_model_info info;
    int32_t tok[30];
    float la[256], lb[256];
    g_section = "state";
    if (!model || !model2 || !ow || !oc || !ol) goto done;
    rwkv_model_get_info(model, &info);
    nf = info.state_floats;
    bs = info.state_blob_size;
    CHECK_INT(nf, 5 * 2 * 16);
    CHECK_INT(bs, 48 + 4 * nf);
    make_tokens(tok, 30, 256, 11);
    {
        rwkv_state *a = state_ok(model), *b = state_ok(model), *fresh = state_ok(model);
        rwkv_state *sw = state_ok(ow), *sc = state_ok(oc), *sl = state_ok(ol), *s2 = state_ok(model2);
        unsigned char *blob = (unsigned char *)malloc(bs), *blob2 = (unsigned char *)malloc(bs);
        unsigned char *short_blob = (unsigned char *)malloc(bs - 1);
        float *snap = (float *)malloc(nf * 4);
        const float *d = rwkv_state_data(fresh);
        int ok = 1;
        if (!blob || !blob2 || !short_blob || !snap) exit(3);
        /* the initial state: all zero but pp = -1e30 */
        CHECK(d != NULL);
        for (l = 0; l < 2; l++)
            for (i = 0; i < 5 * 16; i++) {
                float want = i / 16 == 3 ? -1e30f : 0.0f;
                if (d[l * 80 + i] != want) ok = 0;
            }
        CHECKF(ok, "initial state is not zeros with pp = -1e30");
        /* reset equals fresh, and evaluates the same */
        CHECK_RC(rwkv_eval_sequence(a, tok, 30, la, &E), RWKV_OK);
        CHECK(memcmp(rwkv_state_data(a), d, nf * 4) != 0);
        rwkv_state_reset(a);
        CHECK(memcmp(rwkv_state_data(a), d, nf * 4) == 0);
        CHECK_RC(rwkv_eval_sequence(a, tok, 30, la, &E), RWKV_OK);
        CHECK_RC(rwkv_eval_sequence(b, tok, 30, lb, &E), RWKV_OK);
        CHECK(memcmp(la, lb, sizeof la) == 0);
        rwkv_state_reset(NULL); /* harmless */
        /* copy: continues identically; the source is untouched */
        rwkv_state_reset(a);
        rwkv_state_reset(b);
        CHECK_RC(rwkv_eval_sequence(a, tok, 10, NULL, &E), RWKV_OK);
        memcpy(snap, rwkv_state_data(a), nf * 4);
        CHECK_RC(rwkv_state_copy(b, a, &E), RWKV_OK);
        CHECK(memcmp(rwkv_state_data(a), snap, nf * 4) == 0);
        CHECK(memcmp(rwkv_state_data(b), snap, nf * 4) == 0);
        CHECK_RC(rwkv_eval_sequence(a, tok + 10, 20, la, &E), RWKV_OK);
        CHECK_RC(rwkv_eval_sequence(b, tok + 10, 20, lb, &E), RWKV_OK);
        CHECK(memcmp(la, lb, sizeof la) == 0);
        memcpy(snap, rwkv_state_data(sc), n_state_floats(oc) * 4);
        EXPECT_ERR(RWKV_ERROR_STATE_MISMATCH, rwkv_state_copy(sc, a, &E));
        CHECK(memcmp(snap, rwkv_state_data(sc), n_state_floats(oc) * 4) == 0);
        EXPECT_ERR(RWKV_ERROR_STATE_MISMATCH, rwkv_state_copy(a, sl, &E));
        EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_state_copy(NULL, a, &E));
        EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_state_copy(a, NULL, &E));
        /* writing through rwkv_state_data is what the next eval uses */
        rwkv_state_reset(a);
        rwkv_state_reset(b);
        CHECK_RC(rwkv_eval_sequence(b, tok, 10, NULL, &E), RWKV_OK);
        memcpy(rwkv_state_data(a), rwkv_state_data(b), nf * 4);
        CHECK_RC(rwkv_eval(a, 7, la, &E), RWKV_OK);
        CHECK_RC(rwkv_eval(b, 7, lb, &E), RWKV_OK);
        CHECK(memcmp(la, lb, sizeof la) == 0);

        /* export / import */
        rwkv_state_reset(a);
        CHECK_RC(rwkv_eval_sequence(a, tok, 12, NULL, &E), RWKV_OK);
        CHECK_RC(rwkv_state_export(a, blob, bs, &E), RWKV_OK);
        CHECK(memcmp(blob, "RWKVSTAT", 8) == 0);
        CHECKF(memcmp(blob + 48, rwkv_state_data(a), nf * 4) == 0, "blob floats after the 48-byte header differ from the state");
        EXPECT_ERR(RWKV_ERROR_BUFFER_TOO_SMALL, rwkv_state_export(a, short_blob, bs - 1, &E));
        EXPECT_ERR(RWKV_ERROR_BUFFER_TOO_SMALL, rwkv_state_export(a, short_blob, 0, &E));
        EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_state_export(NULL, blob2, bs, &E));
        /* import into a fresh state, then both continue identically */
        rwkv_state_reset(b);
        CHECK_RC(rwkv_state_import(b, blob, bs, &E), RWKV_OK);
        CHECK(memcmp(rwkv_state_data(a), rwkv_state_data(b), nf * 4) == 0);
        CHECK_RC(rwkv_eval_sequence(a, tok + 12, 18, la, &E), RWKV_OK);
        CHECK_RC(rwkv_eval_sequence(b, tok + 12, 18, lb, &E), RWKV_OK);
        CHECK(memcmp(la, lb, sizeof la) == 0);
        /* export again gives the same bytes for the same state */
        CHECK_RC(rwkv_state_export(a, blob2, bs, &E), RWKV_OK);
        CHECK_RC(rwkv_state_export(b, short_blob, bs - 1, NULL), RWKV_ERROR_BUFFER_TOO_SMALL);
        memcpy(blob, blob2, bs);
        CHECK_RC(rwkv_state_export(b, blob2, bs, &E), RWKV_OK);
        CHECK(memcmp(blob, blob2, bs) == 0);
        /* the same weights loaded a second time accept the blob */
        CHECK_RC(rwkv_state_import(s2, blob, bs, &E), RWKV_OK);
        CHECK(memcmp(rwkv_state_data(s2), rwkv_state_data(a), nf * 4) == 0);
        /* other models refuse it and keep their state */
        {
            rwkv_state *others[3];
            int k;
            others[0] = sw, others[1] = sc, others[2] = sl;
            for (k = 0; k < 3; k++) {
                const rwkv_model *om = k == 0 ? ow : k == 1 ? oc : ol;
                size_t onf = n_state_floats(om);
                float *osnap = (float *)malloc(onf * 4);
                rwkv_model_info oi;
                unsigned char *oblob;
                if (!osnap) exit(3);
                CHECK_RC(rwkv_eval_sequence(others[k], tok, 3, NULL, &E), RWKV_OK);
                memcpy(osnap, rwkv_state_data(others[k]), onf * 4);
                EXPECT_ERR(RWKV_ERROR_STATE_MISMATCH, rwkv_state_import(others[k], blob, bs, &E));
                CHECKF(memcmp(osnap, rwkv_state_data(others[k]), onf * 4) == 0, "refused import changed state (other model %d)", k);
                /* and the other way round */
                rwkv_model_get_info(om, &oi);
                oblob = (unsigned char *)malloc(oi.state_blob_size);
                if (!oblob) exit(3);
                CHECK_RC(rwkv_state_export(others[k], oblob, oi.state_blob_size, &E), RWKV_OK);
                memcpy(snap, rwkv_state_data(b), nf * 4);
                EXPECT_ERR(RWKV_ERROR_STATE_MISMATCH, rwkv_state_import(b, oblob, oi.state_blob_size, &E));
                CHECK(memcmp(snap, rwkv_state_data(b), nf * 4) == 0);
                free(oblob);
                free(osnap);
            }
        }
        /* damaged blobs: BAD_FORMAT for a bad magic or a short blob; any
           other damaged header byte is refused or, if the library does not
           read that byte, imports exactly the blob's floats */
        rwkv_state_reset(b);
        memcpy(snap, rwkv_state_data(b), nf * 4);
        memcpy(blob2, blob, bs);
        blob2[0] ^= 0x20;
        EXPECT_ERR(RWKV_ERROR_BAD_FORMAT, rwkv_state_import(b, blob2, bs, &E));
        CHECK(memcmp(snap, rwkv_state_data(b), nf * 4) == 0);
        memcpy(short_blob, blob, bs - 1);
        EXPECT_ERR(RWKV_ERROR_BAD_FORMAT, rwkv_state_import(b, short_blob, bs - 1, &E));
        EXPECT_ERR(RWKV_ERROR_BAD_FORMAT, rwkv_state_import(b, short_blob, 47, &E));
        EXPECT_ERR(RWKV_ERROR_BAD_FORMAT, rwkv_state_import(b, short_blob, 48, &E));
        EXPECT_ERR(ANY_ERROR, rwkv_state_import(b, short_blob, 0, &E));
        CHECK(memcmp(snap, rwkv_state_data(b), nf * 4) == 0);
        EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_state_import(NULL, blob, bs, &E));
        EXPECT_ERR(ANY_ERROR, rwkv_state_import(b, NULL, bs, &E));
        for (i = 8; i < 48; i++) {
            int bit;
            for (bit = 0; bit < 8; bit += 3) {
                rwkv_result r;
                memcpy(blob2, blob, bs);
                blob2[i] ^= (unsigned char)(1u << bit);
                rwkv_state_reset(b);
                r = rwkv_state_import(b, blob2, bs, &E);
                if (r != RWKV_OK)
                    CHECKF(memcmp(snap, rwkv_state_data(b), nf * 4) == 0, "refused import (header byte %zu) changed the state", i);
                else
                    CHECKF(memcmp(blob + 48, rwkv_state_data(b), nf * 4) == 0, "import of a blob with header byte %zu changed", i);
                CHECKF(r == RWKV_OK || r == RWKV_ERROR_BAD_FORMAT || r == RWKV_ERROR_STATE_MISMATCH ||
                       r == RWKV_ERROR_UNSUPPORTED, "header byte %zu: %d", i, (int)r);
            }
        }
        free(blob);
        free(blob2);
        free(short_blob);
        free(snap);
        rwkv_state_free(a);
        rwkv_state_free(b);
        rwkv_state_free(fresh);
        rwkv_state_free(sw);
        rwkv_state_free(sc);
        rwkv_state_free(sl);
        rwkv_state_free(s2);
    }

    {
        rwkv_state *s = NULL;
        EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_state_create(NULL, &s, &E));
        EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_state_create(model, NULL, &E));
        rwkv_state_free(NULL);
    }
done:
    rwkv_model_free(model);
    rwkv_model_free(model2);
    rwkv_model_free(ow);
    rwkv_model_free(oc);
    rwkv_model_free(ol);
    free(g1);
    free(g2);
    free(g3);
    free(g4);
    synth_free(m);
    synth_free(m_other_w);
    synth_free(m_other_c);
    synth_free(m_other_l);
}

static const tspec *find_t_opt(const synth *m, const char *name) {
    int i;
    for (i = 0; i < m->n; i++)
        if (strcmp(m->t[i].name, name) == 0) return &m->t[i];
    return NULL;
}

/* The public tensor table lists exactly the tensors of m, under the GGUF
   names, shapes and types, with the stored values (rwkv.cpp's -exp(decay)
   undone for .bin files). */
static void check_table(const rwkv_model *model, const synth *m, int from_bin, const char *what) {
    int cnt = rwkv_model_tensor_count(model), i;
    char *seen = (char *)calloc((size_t)m->n, 1);
    rwkv_tensor_info ti;
    if (!seen) exit(3);
    CHECKF(cnt == m->n, "%s: tensor count %d, want %d", what, cnt, m->n);
    for (i = 0; i < cnt; i++) {
        const tspec *t;
        int d;
        memset(&ti, 0, sizeof ti);
        memset(&E, 0, sizeof E);
        if (rwkv_model_tensor(model, i, &ti) != RWKV_OK || !ti.name) {
            CHECKF(0, "%s: rwkv_model_tensor(%d) failed", what, i);
            continue;
        }
        t = find_t_opt(m, ti.name);
        if (!t) {
            CHECKF(0, "%s: unexpected tensor %s", what, ti.name);
            continue;
        }
        CHECKF(!seen[t - m->t], "%s: tensor %s listed twice", what, ti.name);
        seen[t - m->t] = 1;
        CHECKF(ti.type == t->type, "%s: %s type %d, want %d", what, ti.name, ti.type, t->type);
        CHECKF(ti.n_dims == t->n_dims, "%s: %s n_dims %d, want %d", what, ti.name, ti.n_dims, t->n_dims);
        for (d = 0; d < t->n_dims && d < 4; d++)
            CHECKF(ti.ne[d] == t->ne[d], "%s: %s ne[%d] = %lld, want %lld", what, ti.name, d,
                   (long long)ti.ne[d], (long long)t->ne[d]);
        CHECKF(ti.n_bytes == t->n_bytes, "%s: %s n_bytes %zu, want %zu", what, ti.name, ti.n_bytes, t->n_bytes);
        if (ti.n_bytes != t->n_bytes || !ti.data) continue;
        if (from_bin && strstr(ti.name, "time_mix_decay")) {
            int64_t j;
            double maxe = 0;
            for (j = 0; j < t->ne[0]; j++) {
                float v;
                memcpy(&v, (const char *)ti.data + 4 * j, 4);
                maxe = max_d(maxe, fabs((double)v - t->val[j]) / (1 + fabs((double)t->val[j])));
            }
            /* log(-(float)(-exp(td))) is td up to float rounding */
            CHECKF(maxe < 1e-6, "%s: %s is not the raw time_decay (rel. error %g)", what, ti.name, maxe);
        } else {
            CHECKF(memcmp(ti.data, t->raw, t->n_bytes) == 0, "%s: %s data differs", what, ti.name);
        }
    }
    for (i = 0; i < m->n; i++) CHECKF(seen[i], "%s: tensor %s not listed", what, m->t[i].name);
    CHECK_RC(rwkv_model_tensor(model, -1, &ti), RWKV_ERROR_INVALID_ARGUMENT);
    CHECK_RC(rwkv_model_tensor(model, cnt, &ti), RWKV_ERROR_INVALID_ARGUMENT);
    CHECK_RC(rwkv_model_tensor(model, 0, NULL), RWKV_ERROR_INVALID_ARGUMENT);
    CHECK_RC(rwkv_model_tensor(NULL, 0, &ti), RWKV_ERROR_INVALID_ARGUMENT);
    free(seen);
}

/* Write a loaded model back as GGUF from its tensor table (what a converter
   does) with m's keys. */
static unsigned char *gguf_from_table(const rwkv_model *model, const synth *m, size_t *size) {
    static const gopts none;
    gguf_writer *w = gguf_writer_create();
    int i, cnt = rwkv_model_tensor_count(model);
    unsigned char *out;
    if (!w) exit(3);
    synth_gguf_keys(w, m, &none);
    for (i = 0; i < cnt; i++) {
        rwkv_tensor_info ti;
        if (rwkv_model_tensor(model, i, &ti) == RWKV_OK)
            gguf_writer_add_tensor(w, ti.name, ti.type, ti.n_dims, ti.ne, ti.data, ti.n_bytes);
    }
    out = gguf_writer_write_memory(w, size);
    gguf_writer_free(w);
    if (!out) exit(3);
    return out;
}

static void test_tensor_table(void) {
    static const struct { int mt, eh, bin; } k[] = {
        {RWKV_TYPE_F16, RWKV_TYPE_F16, 0}, {RWKV_TYPE_Q5_1, RWKV_TYPE_Q8_0, 0},
        {RWKV_TYPE_BF16, RWKV_TYPE_F32, 0}, {RWKV_TYPE_F32, RWKV_TYPE_F32, 1},
        {RWKV_TYPE_F16, RWKV_TYPE_F16, 1}, {RWKV_TYPE_Q5_0, RWKV_TYPE_F32, 1},
        {RWKV_TYPE_Q4_1, RWKV_TYPE_F16, 1},
    };
    size_t c;
    g_section = "tensor table";
    for (c = 0; c < sizeof k / sizeof k[0]; c++) {
        synth *m = synth_create(32, 2, 64, world_vocab_count(), k[c].mt, k[c].eh, TOK_RWKV, 500 + c);
        size_t n, n2;
        unsigned char *buf = k[c].bin ? synth_bin(m, NULL, &n) : synth_gguf(m, NULL, &n), *back;
        rwkv_model *model = load_ok(buf, n, k[c].bin ? "bin" : "gguf"), *model2;
        char what[64];
        int32_t tok[16];
        snprintf(what, sizeof what, "%s %s", k[c].bin ? "bin" : "gguf", rwkv_type_name(k[c].mt));
        if (!model) {
            free(buf);
            synth_free(m);
            continue;
        }
        check_table(model, m, k[c].bin, what);
        /* written back through gguf_writer and reloaded: the same logits
           (bit for bit from GGUF; from .bin the decay went through
           log(-x) and back, so within 1e-5) and the same table */
        back = gguf_from_table(model, m, &n2);
        model2 = load_ok(back, n2, "written back");
        make_tokens(tok, 16, m->V, 3 + c);
        if (model2) {
            float *la = (float *)malloc(sizeof(float) * (size_t)m->V), *lb = (float *)malloc(sizeof(float) * (size_t)m->V);
            double maxe = 0;
            int i;
            if (!la || !lb) exit(3);
            check_table(model2, m, k[c].bin, "written back");
            logits_after(model, tok, 16, la);
            logits_after(model2, tok, 16, lb);
            for (i = 0; i < m->V; i++) maxe = max_d(maxe, fabs((double)la[i] - lb[i]));
            if (k[c].bin) CHECKF(maxe <= 1e-5, "%s written back: logits differ by %g", what, maxe);
            else CHECKF(memcmp(la, lb, sizeof(float) * (size_t)m->V) == 0, "%s written back: logits differ by %g", what, maxe);
            free(la);
            free(lb);
            rwkv_model_free(model2);
        }
        free(back);
        rwkv_model_free(model);
        free(buf);
        synth_free(m);
    }
}

/* ======================================================================== */
/* Tokenizers                                                                */
/* ======================================================================== */

/* Greedy longest match by brute force over the token list. */
static size_t ref_tokenize(const unsigned char *s, size_t n, int32_t *out) {
    size_t pos = 0, cnt = 0;
    int V = world_vocab_count();
    while (pos < n) {
        int best = -1, id;
        size_t best_len = 0;
        for (id = 1; id < V; id++) {
            size_t len;
            const char *tb = world_token(id, &len);
            if (len > best_len && len <= n - pos && memcmp(tb, s + pos, len) == 0) best = id, best_len = len;
        }
        out[cnt++] = best;
        pos += best_len;
    }
    return cnt;
}

/* Random text that exercises the vocabulary: pieces of tokens, whole
   tokens, single bytes. */
static size_t random_text(rng_t *r, unsigned char *out, size_t max) {
    size_t n = 0, target = (size_t)rng_int(r, (int)max + 1);
    while (n < target) {
        int kind = rng_int(r, 4);
        size_t len, take;
        const char *tb = world_token(257 + rng_int(r, N_WORLD_EXTRA), &len);
        if (kind == 0) { /* a random byte */
            out[n++] = (unsigned char)rng_int(r, 256);
            continue;
        }
        take = kind == 1 ? 1 + (size_t)rng_int(r, (int)len) : len; /* a prefix or all */
        if (take > target - n) take = target - n;
        memcpy(out + n, tb, take);
        n += take;
    }
    return n;
}

static rwkv_tokenizer *load_world_ok(void) {
    size_t len;
    char *text = world_vocab_text(&len);
    rwkv_tokenizer *t = NULL;
    memset(&E, 0, sizeof E);
    CHECK_RC(rwkv_tokenizer_load_world(&t, text, len, &E), RWKV_OK);
    if (!t) printf("  (%s)\n", E.message);
    free(text);
    return t;
}

/* Tokenize random texts with tk and compare with the brute-force greedy
   reference; detokenize must give the text back. */
static void check_tokenizer_random(const rwkv_tokenizer *tk, const char *what, int rounds, uint64_t seed) {
    rng_t r;
    unsigned char text[200];
    int32_t got[200], want[200];
    char back[400];
    int k;
    r.s = seed;
    for (k = 0; k < rounds; k++) {
        size_t n = random_text(&r, text, sizeof text), nt = 999, nw, nb = 999;
        rwkv_result rc = rwkv_tokenize(tk, text, n, got, n, &nt, &E); /* len ids always suffice */
        nw = ref_tokenize(text, n, want);
        if (rc != RWKV_OK || nt != nw || memcmp(got, want, nw * sizeof(int32_t)) != 0) {
            size_t i;
            CHECKF(0, "%s: tokenize round %d (%zu bytes): rc %d, %zu ids, want %zu", what, k, n, (int)rc, nt, nw);
            for (i = 0; i < nw && i < nt; i++)
                if (got[i] != want[i]) {
                    printf("    first difference at id %zu: %d vs %d\n", i, (int)got[i], (int)want[i]);
                    break;
                }
            return;
        }
        g_pass++;
        rc = rwkv_detokenize(tk, got, nt, back, sizeof back, &nb, &E);
        if (rc != RWKV_OK || nb != n || memcmp(back, text, n) != 0) {
            CHECKF(0, "%s: detokenize(tokenize(s)) != s (round %d)", what, k);
            return;
        }
        g_pass++;
    }
}

static void test_tokenizer_world(void) {
    rwkv_tokenizer *tk;
    int id;
    size_t len, n;
    int32_t ids[64];
    char out[64];
    g_section = "world tokenizer";
    tk = load_world_ok();
    if (!tk) return;
    CHECK_INT(rwkv_tokenizer_vocab_size(tk), world_vocab_count());
    /* every token's bytes */
    for (id = 1; id < world_vocab_count(); id++) {
        size_t want_len, got_len = 999;
        const char *want = world_token(id, &want_len), *got = rwkv_token_bytes(tk, id, &got_len);
        CHECKF(got && got_len == want_len && memcmp(got, want, want_len) == 0, "token %d bytes differ", id);
    }
    CHECK(rwkv_token_bytes(tk, -1, &len) == NULL);
    CHECK(rwkv_token_bytes(tk, world_vocab_count(), &len) == NULL);
    CHECK(rwkv_token_bytes(tk, INT32_MAX, &len) == NULL);
    /* hand-picked texts */
    {
        static const struct { const char *s; int n; int ids[8]; } k[] = {
            {"abcdeX", 3, {267 /* abcd */, 102 /* e */, 89 /* X */}},
            {"abcdef", 1, {268}},
            {"the the", 2, {264 /* the */, 262 /*  the */}},
            {"\n\n\n", 2, {257, 11}},
            {"it's", 1, {270}},
            {"\xc3\xa9!", 1, {282}},
            {"\xe4\xb8\xad\xe6\x96\x87\xe4\xb8\xad", 2, {283, 279}},
            {"\xe4\xb8\xff", 2, {287, 256}},
        };
        size_t i;
        for (i = 0; i < sizeof k / sizeof k[0]; i++) {
            CHECK_RC(rwkv_tokenize(tk, k[i].s, strlen(k[i].s), ids, 64, &n, &E), RWKV_OK);
            CHECKF(n == (size_t)k[i].n && memcmp(ids, k[i].ids, n * sizeof(int32_t)) == 0,
                   "tokenize text %zu: %zu ids (first %d)", i, n, n ? (int)ids[0] : -1);
        }
    }
    /* the brute-force reference on random texts (with invalid UTF-8) */
    check_tokenizer_random(tk, "world", 600, 99);
    /* every byte value alone and all 256 in a row */
    {
        unsigned char all[256];
        int32_t many[256];
        char back[256];
        size_t nb;
        for (id = 0; id < 256; id++) all[id] = (unsigned char)id;
        for (id = 0; id < 256; id++) {
            CHECK_RC(rwkv_tokenize(tk, all + id, 1, ids, 1, &n, &E), RWKV_OK);
            CHECKF(n == 1 && ids[0] == id + 1, "byte %d -> id %d", id, n ? (int)ids[0] : -1);
        }
        CHECK_RC(rwkv_tokenize(tk, all, 256, many, 256, &n, &E), RWKV_OK);
        CHECK_RC(rwkv_detokenize(tk, many, n, back, 256, &nb, &E), RWKV_OK);
        CHECK(nb == 256 && memcmp(back, all, 256) == 0);
    }
    /* empty text */
    n = 77;
    CHECK_RC(rwkv_tokenize(tk, "", 0, ids, 64, &n, &E), RWKV_OK);
    CHECK_INT(n, 0);
    n = 77;
    CHECK_RC(rwkv_tokenize(tk, NULL, 0, NULL, 0, &n, &E), RWKV_OK);
    CHECK_INT(n, 0);
    /* BUFFER_TOO_SMALL: reports the count needed, writes nothing past max */
    {
        const char *s = "the abcdef \xe4\xb8\xad\xe6\x96\x87 it's";
        size_t need, max;
        CHECK_RC(rwkv_tokenize(tk, s, strlen(s), ids, 64, &need, &E), RWKV_OK);
        for (max = 0; max < need; max++) {
            int32_t small[16];
            size_t j;
            for (j = 0; j < 16; j++) small[j] = -7;
            n = 0;
            EXPECT_ERR(RWKV_ERROR_BUFFER_TOO_SMALL, rwkv_tokenize(tk, s, strlen(s), small, max, &n, &E));
            CHECKF(n == need, "BUFFER_TOO_SMALL: n_tokens %zu, want %zu", n, need);
            for (j = max; j < 16; j++) CHECKF(small[j] == -7, "tokenize wrote past max_tokens %zu", max);
        }
        n = 0;
        EXPECT_ERR(RWKV_ERROR_BUFFER_TOO_SMALL, rwkv_tokenize(tk, s, strlen(s), NULL, 0, &n, &E));
        CHECK_INT(n, need);
        /* detokenize into short buffers */
        for (max = 0; max < strlen(s); max++) {
            char small[64];
            size_t j, nb = 0;
            memset(small, 'Z', sizeof small);
            EXPECT_ERR(RWKV_ERROR_BUFFER_TOO_SMALL, rwkv_detokenize(tk, ids, need, small, max, &nb, &E));
            CHECKF(nb == strlen(s), "detokenize BUFFER_TOO_SMALL: out_len %zu, want %zu", nb, strlen(s));
            for (j = max; j < sizeof small; j++) CHECKF(small[j] == 'Z', "detokenize wrote past capacity %zu", max);
        }
        {
            size_t nb = 0;
            EXPECT_ERR(RWKV_ERROR_BUFFER_TOO_SMALL, rwkv_detokenize(tk, ids, need, NULL, 0, &nb, &E));
            CHECK_INT(nb, strlen(s));
            CHECK_RC(rwkv_detokenize(tk, ids, need, out, strlen(s), &nb, &E), RWKV_OK);
            CHECK(nb == strlen(s) && memcmp(out, s, nb) == 0);
            CHECK_RC(rwkv_detokenize(tk, ids, 0, out, 0, &nb, &E), RWKV_OK);
            CHECK_INT(nb, 0);
        }
    }
    /* TOKEN_RANGE */
    {
        int32_t bad[3];
        size_t nb;
        bad[0] = 5, bad[1] = -1, bad[2] = 6;
        EXPECT_ERR(RWKV_ERROR_TOKEN_RANGE, rwkv_detokenize(tk, bad, 3, out, sizeof out, &nb, &E));
        bad[1] = world_vocab_count();
        EXPECT_ERR(RWKV_ERROR_TOKEN_RANGE, rwkv_detokenize(tk, bad, 3, out, sizeof out, &nb, &E));
        bad[1] = INT32_MAX;
        EXPECT_ERR(RWKV_ERROR_TOKEN_RANGE, rwkv_detokenize(tk, bad, 3, out, sizeof out, &nb, &E));
        bad[1] = INT32_MIN;
        EXPECT_ERR(RWKV_ERROR_TOKEN_RANGE, rwkv_detokenize(tk, bad, 3, NULL, 0, &nb, &E));
    }
    /* NULL arguments */
    EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_tokenize(NULL, "a", 1, ids, 64, &n, &E));
    EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_tokenize(tk, NULL, 1, ids, 64, &n, &E));
    EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_tokenize(tk, "a", 1, ids, 64, NULL, &E));
    EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_tokenize(tk, "a", 1, NULL, 64, &n, &E));
    EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_detokenize(NULL, ids, 1, out, 64, &n, &E));
    EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_detokenize(tk, NULL, 1, out, 64, &n, &E));
    EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_detokenize(tk, ids, 1, out, 64, NULL, &E));
    EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_tokenizer_load_world(NULL, "1 'a' 1\n", 8, &E));
    EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_tokenizer_load_world(&tk, NULL, 8, &E));
    CHECK(rwkv_tokenizer_vocab_size(NULL) == 0);
    rwkv_tokenizer_free(tk);
    rwkv_tokenizer_free(NULL);

    /* the same vocabulary from a file, and CRLF line ends are not needed */
    {
        char path[64];
        size_t tl;
        char *text = world_vocab_text(&tl);
        rwkv_tokenizer *tf = NULL;
        if (temp_path(path, sizeof path) == 0) {
            CHECK(write_file(path, text, tl) == 0);
            CHECK_RC(rwkv_tokenizer_load_world_file(&tf, path, &E), RWKV_OK);
            if (tf) {
                CHECK_INT(rwkv_tokenizer_vocab_size(tf), world_vocab_count());
                check_tokenizer_random(tf, "world file", 50, 5);
                rwkv_tokenizer_free(tf);
            }
            remove(path);
        }
        EXPECT_ERR(RWKV_ERROR_IO, rwkv_tokenizer_load_world_file(&tf, "/nonexistent/vocab.txt", &E));
        free(text);
    }
}

/* Malformed vocabulary texts are refused with an error. */
static void test_tokenizer_malformed(void) {
    static const struct { const char *line; int code; } k[] = {
        {"300 'abc 3\n", RWKV_ERROR_BAD_FORMAT},          /* unterminated string */
        {"300 'abc\n", RWKV_ERROR_BAD_FORMAT},            /* unterminated, no length */
        {"300 abc 3\n", RWKV_ERROR_BAD_FORMAT},           /* not a literal */
        {"300 'ab' 3\n", RWKV_ERROR_BAD_FORMAT},          /* length mismatch */
        {"300 '\xc3\xa9' 1\n", RWKV_ERROR_BAD_FORMAT},    /* length mismatch (UTF-8) */
        {"300 'ab'\n", RWKV_ERROR_BAD_FORMAT},            /* no length */
        {"300 'ab' x\n", RWKV_ERROR_BAD_FORMAT},          /* bad length */
        {"300 'ab' 2 7\n", RWKV_ERROR_BAD_FORMAT},        /* trailing garbage */
        {"257 'zz' 2\n", RWKV_ERROR_BAD_FORMAT},          /* duplicate id */
        {"x 'a' 1\n", RWKV_ERROR_BAD_FORMAT},             /* bad id */
        {"-5 'zz' 2\n", RWKV_ERROR_BAD_FORMAT},           /* negative id */
        {"99999999999999999999 'zz' 2\n", ANY_ERROR},     /* absurd id */
        {"300 '\\x4g' 1\n", RWKV_ERROR_BAD_FORMAT},       /* bad hex escape */
        {"300 '\\x4' 1\n", RWKV_ERROR_BAD_FORMAT},        /* short hex escape */
        {"300 '\\u00e' 2\n", RWKV_ERROR_BAD_FORMAT},      /* short unicode escape */
        {"300 '\\' 1\n", RWKV_ERROR_BAD_FORMAT},          /* escaped closing quote */
        {"300 b'\xc3\xa9' 2\n", RWKV_ERROR_BAD_FORMAT},   /* non-ASCII in a bytes literal */
        {"300 b'\\u00e9' 6\n", ANY_ERROR},                /* \u is no escape in bytes: 6 bytes in Python, refusing is fine too */
        {"300 \"ab' 2\n", RWKV_ERROR_BAD_FORMAT},         /* mismatched quotes */
        {"300 'zz' 2", ANY_ERROR},                        /* fine, but ... (see below) */
    };
    size_t base_len, i;
    char *base = world_vocab_text(&base_len);
    g_section = "vocab malformed";
    for (i = 0; i < sizeof k / sizeof k[0]; i++) {
        size_t ll = strlen(k[i].line);
        char *text = (char *)malloc(base_len + ll);
        rwkv_tokenizer *t = NULL;
        rwkv_result r;
        if (!text) exit(3);
        memcpy(text, base, base_len);
        memcpy(text + base_len, k[i].line, ll); /* exact size: no NUL after it */
        memset(&E, 0, sizeof E);
        r = rwkv_tokenizer_load_world(&t, text, base_len + ll, &E);
        if (i == sizeof k / sizeof k[0] - 1) {
            /* a valid last line without a newline is accepted */
            CHECKF(r == RWKV_OK, "last line without newline refused: %s", E.message);
        } else {
            expect_err_(r, k[i].code, k[i].line, __FILE__, __LINE__);
        }
        if (r == RWKV_OK) rwkv_tokenizer_free(t);
        free(text);
    }
    /* the base text truncated at every byte: either a clean error or a
       vocabulary (a cut between lines is a valid, smaller file) */
    for (i = 0; i < base_len; i += 1) {
        char *text = (char *)malloc(i + 1);
        rwkv_tokenizer *t = NULL;
        rwkv_result r;
        if (!text) exit(3);
        memcpy(text, base, i);
        r = rwkv_tokenizer_load_world(&t, text, i, &E);
        if (r == RWKV_OK) rwkv_tokenizer_free(t);
        else if (E.code != r || !E.message[0]) CHECKF(0, "truncated vocab at %zu: no error message", i);
        free(text);
    }
    free(base);
}

/* The byte tokenizer and the tokenizers that come with models. */
static void test_tokenizer_bytes_and_models(void) {
    rwkv_tokenizer *b = NULL;
    int i;
    size_t n, len;
    int32_t ids[300];
    unsigned char text[300];
    char back[300];
    g_section = "byte tokenizer";
    CHECK_RC(rwkv_tokenizer_create_bytes(&b, &E), RWKV_OK);
    EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_tokenizer_create_bytes(NULL, &E));
    if (!b) return;
    CHECK_INT(rwkv_tokenizer_vocab_size(b), 256);
    for (i = 0; i < 256; i++) {
        const char *tb = rwkv_token_bytes(b, i, &len);
        CHECKF(tb && len == 1 && (unsigned char)tb[0] == i, "byte token %d", i);
        text[i] = (unsigned char)(255 - i);
    }
    CHECK(rwkv_token_bytes(b, 256, &len) == NULL);
    CHECK(rwkv_token_bytes(b, -1, &len) == NULL);
    CHECK_RC(rwkv_tokenize(b, text, 256, ids, 300, &n, &E), RWKV_OK);
    CHECK_INT(n, 256);
    for (i = 0; i < 256; i++) CHECKF(ids[i] == 255 - i, "byte tokenize %d", i);
    CHECK_RC(rwkv_detokenize(b, ids, 256, back, 300, &len, &E), RWKV_OK);
    CHECK(len == 256 && memcmp(back, text, 256) == 0);
    EXPECT_ERR(RWKV_ERROR_BUFFER_TOO_SMALL, rwkv_tokenize(b, text, 256, ids, 255, &n, &E));
    CHECK_INT(n, 256);
    ids[3] = 256;
    EXPECT_ERR(RWKV_ERROR_TOKEN_RANGE, rwkv_detokenize(b, ids, 10, back, 300, &len, &E));
    rwkv_tokenizer_free(b);

    /* a GGUF with a "rwkv" vocabulary (llama.cpp's escaped strings) gives the
       same tokenizer as the vocabulary text; token 0 is a control token */
    g_section = "gguf tokenizer";
    {
        synth *m = synth_create(8, 1, 32, world_vocab_count(), RWKV_TYPE_F32, RWKV_TYPE_F32, TOK_RWKV, 8);
        size_t sz;
        unsigned char *g = synth_gguf(m, NULL, &sz);
        rwkv_model *model = load_ok(g, sz, "gguf with vocabulary");
        rwkv_tokenizer *tw = load_world_ok();
        if (model && tw) {
            const rwkv_tokenizer *tm = rwkv_model_tokenizer(model);
            CHECK(tm != NULL);
            if (tm) {
                const char *z;
                CHECK_INT(rwkv_tokenizer_vocab_size(tm), world_vocab_count());
                len = 99;
                z = rwkv_token_bytes(tm, 0, &len);
                CHECKF(z != NULL && len == 0, "control token 0: %s, %zu bytes", z ? "bytes" : "NULL", len);
                for (i = 1; i < world_vocab_count(); i++) {
                    size_t l1, l2;
                    const char *a = rwkv_token_bytes(tm, i, &l1), *c = rwkv_token_bytes(tw, i, &l2);
                    CHECKF(a && c && l1 == l2 && memcmp(a, c, l1) == 0, "gguf token %d differs from the vocabulary text", i);
                }
                check_tokenizer_random(tm, "gguf vocabulary", 200, 17);
            }
        }
        rwkv_tokenizer_free(tw);
        rwkv_model_free(model);
        free(g);
        /* bad escapes in token strings are refused */
        {
            static const char *const bad[] = {"ab\\", "\\x4", "\\xzz", "\\x"};
            size_t k;
            for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
                gopts o;
                rwkv_model *mm = NULL;
                memset(&o, 0, sizeof o);
                o.bad_token = 280;
                o.bad_token_str = bad[k];
                g = synth_gguf(m, &o, &sz);
                EXPECT_ERR(RWKV_ERROR_BAD_FORMAT, rwkv_model_load_memory(&mm, g, sz, &E));
                if (mm) rwkv_model_free(mm);
                free(g);
            }
        }
        synth_free(m);
    }
}

/* ======================================================================== */
/* Streaming UTF-8                                                           */
/* ======================================================================== */

/* Strict UTF-8 validation (no overlongs, surrogates or > U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        int len, k;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xc2 && c <= 0xdf) len = 2;
        else if (c >= 0xe0 && c <= 0xef) len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        else if (c >= 0xf0 && c <= 0xf4) len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        else return 0;
        if (i + (size_t)len > n) return 0;
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (k = 2; k < len; k++)
            if (s[i + (size_t)k] < 0x80 || s[i + (size_t)k] > 0xbf) return 0;
        i += (size_t)len;
    }
    return 1;
}

/* Length of the longest prefix of s[0..n) that ends on a character
   boundary (s is valid UTF-8). */
static size_t utf8_complete_prefix(const unsigned char *s, size_t n) {
    size_t i = 0, last = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        if (i + len > n) break;
        i += len;
        last = i;
    }
    return last;
}

/* Push in chunks; out buffers are malloc'd at exactly 3*(n+4) bytes. */
static size_t stream_push(rwkv_utf8_stream *st, const unsigned char *in, size_t n, unsigned char *acc) {
    char *out = (char *)malloc(3 * (n + 4));
    size_t w;
    if (!out) exit(3);
    w = rwkv_utf8_stream_push(st, in, n, out);
    CHECKF(w <= 3 * (n + 4), "utf8 push wrote %zu bytes for %zu in", w, n);
    memcpy(acc, out, w);
    free(out);
    return w;
}

static void test_utf8_stream(void) {
    static const char *const valid[] = {
        "plain ascii",
        "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80!",
        "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7", /* ZWJ family */
        "\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", /* boundaries */
        "\xed\x9f\xbf\xee\x80\x80",                                                 /* around surrogates */
    };
    size_t v, split, i;
    unsigned char acc[512], out[64];
    g_section = "utf8 stream";
    for (v = 0; v < sizeof valid / sizeof valid[0]; v++) {
        const unsigned char *s = (const unsigned char *)valid[v];
        size_t n = strlen(valid[v]);
        /* two pushes, split at every point */
        for (split = 0; split <= n; split++) {
            rwkv_utf8_stream st;
            size_t w1, w2, w3;
            memset(&st, 0, sizeof st);
            w1 = stream_push(&st, s, split, acc);
            CHECKF(w1 == utf8_complete_prefix(s, split) && memcmp(acc, s, w1) == 0,
                   "string %zu split %zu: first push gave %zu bytes, want %zu", v, split, w1, utf8_complete_prefix(s, split));
            w2 = stream_push(&st, s + split, n - split, acc + w1);
            w3 = rwkv_utf8_stream_flush(&st, (char *)acc + w1 + w2);
            CHECKF(w1 + w2 == n && w3 == 0 && memcmp(acc, s, n) == 0, "string %zu split %zu: output differs", v, split);
        }
        /* byte by byte: a character appears whole, when its last byte comes */
        {
            rwkv_utf8_stream st;
            size_t total = 0;
            memset(&st, 0, sizeof st);
            for (i = 0; i < n; i++) {
                size_t w = stream_push(&st, s + i, 1, acc + total);
                size_t want = utf8_complete_prefix(s, i + 1) - utf8_complete_prefix(s, i);
                CHECKF(w == want, "string %zu byte %zu: %zu bytes out, want %zu", v, i, w, want);
                total += w;
            }
            CHECK(total == n && memcmp(acc, s, n) == 0);
        }
    }
    /* invalid bytes become U+FFFD, the output stays valid */
    {
        static const struct { const char *in; const char *out; } k[] = {
            {"\xff", "\xef\xbf\xbd"},
            {"a\x80" "b", "a\xef\xbf\xbd" "b"},
            {"\xe4\xb8" "a", "\xef\xbf\xbd" "a"},                           /* truncated, then ASCII */
            {"\xe4\xe4\xb8\xad", "\xef\xbf\xbd\xe4\xb8\xad"},               /* truncated, then whole */
            {"\xf0\x9f\x98" "\xf0\x9f\x98\x80", "\xef\xbf\xbd\xf0\x9f\x98\x80"},
            {"\xc3" "\xc3\xa9", "\xef\xbf\xbd\xc3\xa9"},
        };
        for (i = 0; i < sizeof k / sizeof k[0]; i++) {
            rwkv_utf8_stream st;
            size_t w, n = strlen(k[i].in);
            memset(&st, 0, sizeof st);
            w = stream_push(&st, (const unsigned char *)k[i].in, n, acc);
            w += rwkv_utf8_stream_flush(&st, (char *)acc + w);
            CHECKF(w == strlen(k[i].out) && memcmp(acc, k[i].out, w) == 0, "invalid case %zu: %zu bytes", i, w);
        }
    }
    /* flush: an incomplete character comes out as one U+FFFD, once */
    {
        rwkv_utf8_stream st;
        size_t w;
        memset(&st, 0, sizeof st);
        w = stream_push(&st, (const unsigned char *)"x\xe4\xb8", 3, acc);
        CHECK(w == 1 && acc[0] == 'x');
        w = rwkv_utf8_stream_flush(&st, (char *)out);
        CHECK(w == 3 && memcmp(out, "\xef\xbf\xbd", 3) == 0);
        CHECK(rwkv_utf8_stream_flush(&st, (char *)out) == 0);
        w = stream_push(&st, (const unsigned char *)"a", 1, acc);
        CHECK(w == 1 && acc[0] == 'a');
        memset(&st, 0, sizeof st);
        CHECK(rwkv_utf8_stream_flush(&st, (char *)out) == 0);
    }
    /* random bytes in random chunks: always valid UTF-8 out; valid input
       comes out unchanged */
    {
        rng_t r = {2024};
        int round;
        for (round = 0; round < 300; round++) {
            unsigned char in[64];
            size_t n = (size_t)rng_int(&r, 64), pos = 0, w = 0;
            rwkv_utf8_stream st;
            memset(&st, 0, sizeof st);
            if (round % 2) { /* valid text from pieces */
                size_t k = 0;
                while (k < n) {
                    const char *p = valid[rng_int(&r, 5)];
                    size_t pl = strlen(p), cut = utf8_complete_prefix((const unsigned char *)p, (size_t)rng_int(&r, (int)pl + 1));
                    if (cut > n - k) cut = utf8_complete_prefix((const unsigned char *)p, n - k);
                    memcpy(in + k, p, cut);
                    k += cut;
                    if (cut == 0) in[k++] = 'z';
                }
            } else {
                for (i = 0; i < n; i++) in[i] = (unsigned char)(rng_int(&r, 3) ? 0x80 + rng_int(&r, 128) : rng_int(&r, 256));
            }
            while (pos < n) {
                size_t c = 1 + (size_t)rng_int(&r, 5);
                if (c > n - pos) c = n - pos;
                w += stream_push(&st, in + pos, c, acc + w);
                pos += c;
            }
            w += rwkv_utf8_stream_flush(&st, (char *)acc + w);
            CHECKF(utf8_valid(acc, w), "round %d: output is not valid UTF-8", round);
            if (utf8_valid(in, n)) CHECKF(w == n && memcmp(acc, in, n) == 0, "round %d: valid input changed", round);
        }
    }
}

/* ======================================================================== */
/* Sampler                                                                   */
/* ======================================================================== */

/* ChatRWKV's sample_logits distribution (pipeline.py), in double. */
static void chat_probs(const float *logits, int n, double temp, int top_k, double top_p, double *p) {
    double mx = logits[0], sum = 0, cutoff = 0, cum = 0;
    int i, j, order[64];
    for (i = 1; i < n; i++) mx = max_d(mx, logits[i]);
    for (i = 0; i < n; i++) sum += p[i] = exp(logits[i] - mx);
    for (i = 0; i < n; i++) p[i] /= sum;
    for (i = 0; i < n; i++) order[i] = i;
    for (i = 0; i < n; i++) /* selection sort, falling */
        for (j = i + 1; j < n; j++)
            if (p[order[j]] > p[order[i]]) {
                int t = order[i];
                order[i] = order[j], order[j] = t;
            }
    for (i = 0; i < n; i++) {
        cum += p[order[i]];
        if (cum >= top_p) {
            cutoff = p[order[i]];
            break;
        }
    }
    for (i = 0; i < n; i++)
        if (p[i] < cutoff) p[i] = 0;
    if (top_k > 0 && top_k < n)
        for (i = top_k; i < n; i++) p[order[i]] = 0;
    sum = 0;
    for (i = 0; i < n; i++) sum += p[i] = temp != 1.0 ? pow(p[i], 1.0 / temp) : p[i];
    for (i = 0; i < n; i++) p[i] /= sum;
}

static int argmax_f(const float *x, int n) {
    int i, b = 0;
    for (i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static rwkv_sampler *sampler_ok(int n_vocab, const rwkv_sampler_params *p) {
    rwkv_sampler *s = NULL;
    CHECK_RC(rwkv_sampler_create(&s, n_vocab, p, &E), RWKV_OK);
    if (!s) {
        printf("fatal: no sampler\n");
        exit(1);
    }
    return s;
}

static void test_sampler(void) {
    rwkv_sampler_params dp = rwkv_sampler_default_params(), p;
    float logits[64], work[64];
    rng_t r = {31};
    int i, k;
    g_section = "sampler";
    CHECK(dp.temperature == 1.0f && dp.top_k == 0 && dp.top_p == 1.0f && dp.presence_penalty == 0.0f &&
          dp.frequency_penalty == 0.0f && dp.penalty_decay == (float)0.996f /* x87: no excess precision */ && dp.seed == 42);
    for (i = 0; i < 50; i++) logits[i] = (float)rng_range(&r, -2, 2);

    /* the same seed gives the same sequence; reset starts it again */
    {
        rwkv_sampler *a, *b, *c;
        int32_t seq[400];
        int same_a = 1, same_reset = 1, diff_seed = 0, in_range = 1;
        p = dp;
        p.seed = 123;
        a = sampler_ok(50, &p);
        b = sampler_ok(50, &p);
        p.seed = 124;
        c = sampler_ok(50, &p);
        for (k = 0; k < 400; k++) {
            int32_t x, y, z;
            memcpy(work, logits, sizeof work);
            x = rwkv_sampler_sample(a, work);
            memcpy(work, logits, sizeof work);
            y = rwkv_sampler_sample(b, work);
            memcpy(work, logits, sizeof work);
            z = rwkv_sampler_sample(c, work);
            seq[k] = x;
            same_a &= x == y;
            diff_seed |= x != z;
            in_range &= x >= 0 && x < 50 && z >= 0 && z < 50;
        }
        rwkv_sampler_reset(a);
        for (k = 0; k < 400; k++) {
            memcpy(work, logits, sizeof work);
            same_reset &= rwkv_sampler_sample(a, work) == seq[k];
        }
        CHECKF(same_a, "same seed, different sequences");
        CHECKF(same_reset, "reset does not restart the sequence");
        CHECKF(diff_seed, "seeds 123 and 124 give the same 400 draws");
        CHECKF(in_range, "sample out of range");
        rwkv_sampler_free(a);
        rwkv_sampler_free(b);
        rwkv_sampler_free(c);
        rwkv_sampler_free(NULL);
        rwkv_sampler_reset(NULL);
    }
    /* greedy settings give the argmax: temperature 0, top_k 1, tiny top_p */
    {
        static const struct { float temp; int top_k; float top_p; } g[] = {{0.0f, 0, 1.0f}, {1.0f, 1, 1.0f}, {1.0f, 0, 1e-6f}, {0.7f, 1, 0.9f}};
        size_t gi;
        for (gi = 0; gi < sizeof g / sizeof g[0]; gi++) {
            rwkv_sampler *s;
            int ok = 1;
            p = dp;
            p.temperature = g[gi].temp;
            p.top_k = g[gi].top_k;
            p.top_p = g[gi].top_p;
            s = sampler_ok(50, &p);
            for (k = 0; k < 200; k++) {
                for (i = 0; i < 50; i++) work[i] = logits[i] = (float)rng_range(&r, -3, 3);
                ok &= rwkv_sampler_sample(s, work) == argmax_f(logits, 50);
            }
            CHECKF(ok, "greedy setting %zu (T %g, top_k %d, top_p %g) is not argmax", gi, (double)g[gi].temp, g[gi].top_k, (double)g[gi].top_p);
            rwkv_sampler_free(s);
        }
    }
    /* penalties, ChatRWKV semantics: logit[t] -= presence + count[t]*frequency
       for every token generated so far; counts decay by penalty_decay after
       each step, then the new token's count grows by 1 */
    {
        static const struct { float pres, freq, decay; } pk[] = {{0.4f, 0.3f, 0.9f}, {0.0f, 0.5f, 1.0f}, {1.5f, 0.0f, 0.996f}, {0.2f, 0.2f, 0.5f}};
        size_t pi;
        for (pi = 0; pi < sizeof pk / sizeof pk[0]; pi++) {
            rwkv_sampler *s;
            double count[8] = {0};
            int seen[8] = {0}, ok_choice = 1, ok_logits = 1, changed = 0, step;
            p = dp;
            p.temperature = 0.0f;
            p.presence_penalty = pk[pi].pres;
            p.frequency_penalty = pk[pi].freq;
            p.penalty_decay = pk[pi].decay;
            s = sampler_ok(8, &p);
            for (step = 0; step < 80; step++) {
                double pen[8];
                int want = 0, got;
                for (i = 0; i < 8; i++) work[i] = logits[i] = (float)rng_range(&r, -1, 1);
                for (i = 0; i < 8; i++) pen[i] = logits[i] - (seen[i] ? pk[pi].pres + count[i] * pk[pi].freq : 0.0);
                for (i = 1; i < 8; i++)
                    if (pen[i] > pen[want]) want = i;
                got = rwkv_sampler_sample(s, work);
                ok_choice &= got == want;
                for (i = 0; i < 8; i++) ok_logits &= fabs(work[i] - pen[i]) < 1e-5;
                changed |= got != argmax_f(logits, 8);
                for (i = 0; i < 8; i++) count[i] *= pk[pi].decay;
                count[want] += 1;
                seen[want] = 1;
            }
            CHECKF(ok_choice, "penalties %zu: choices differ from ChatRWKV's", pi);
            CHECKF(ok_logits, "penalties %zu: logits not penalized as ChatRWKV does", pi);
            CHECKF(changed, "penalties %zu never changed a choice", pi);
            rwkv_sampler_free(s);
        }
    }
    /* the distribution of many draws matches ChatRWKV's (loose: 20000 draws,
       |frequency - p| < 0.015 is > 4 standard deviations for any p; tokens
       cut by top_k/top_p are never drawn) */
    {
        static const float lg[6] = {1.0f, 0.5f, 0.2f, -0.3f, -1.0f, 2.0f};
        static const struct { float temp; int top_k; float top_p; } d[] = {
            {1.0f, 0, 1.0f}, {0.5f, 0, 1.0f}, {2.0f, 0, 1.0f}, {1.0f, 3, 1.0f}, {1.0f, 0, 0.6f}, {0.7f, 2, 0.95f}, {1.3f, 4, 0.8f}};
        size_t di;
        for (di = 0; di < sizeof d / sizeof d[0]; di++) {
            rwkv_sampler *s;
            double want[6], got[6] = {0}, maxe = 0;
            int zero_ok = 1, N = 20000;
            p = dp;
            p.temperature = d[di].temp;
            p.top_k = d[di].top_k;
            p.top_p = d[di].top_p;
            p.seed = 1000 + di;
            s = sampler_ok(6, &p);
            chat_probs(lg, 6, d[di].temp, d[di].top_k, d[di].top_p, want);
            for (k = 0; k < N; k++) {
                int32_t t;
                memcpy(work, lg, sizeof lg);
                t = rwkv_sampler_sample(s, work);
                if (t >= 0 && t < 6) got[t] += 1.0 / N;
            }
            for (i = 0; i < 6; i++) {
                maxe = max_d(maxe, fabs(got[i] - want[i]));
                if (want[i] == 0 && got[i] != 0) zero_ok = 0;
            }
            CHECKF(maxe < 0.015, "distribution %zu (T %g k %d p %g): max deviation %.4f", di, (double)d[di].temp,
                   d[di].top_k, (double)d[di].top_p, maxe);
            CHECKF(zero_ok, "distribution %zu: a token outside top_k/top_p was drawn", di);
            rwkv_sampler_free(s);
        }
    }
    /* bad arguments */
    {
        rwkv_sampler *s = NULL;
        EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_sampler_create(&s, 0, &dp, &E));
        EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_sampler_create(&s, -5, &dp, &E));
        EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_sampler_create(NULL, 10, &dp, &E));
    }
}

/* ======================================================================== */
/* Malformed files                                                           */
/* ======================================================================== */


/* Load n bytes, expecting an error: once from an exact-size heap copy (so
   AddressSanitizer sees any read past the end) and once from a 32-byte
   aligned copy (the in-place path). */
static void expect_load_fail_(const unsigned char *buf, size_t n, int want, const char *needle,
                              const char *needle2, const char *what, int line) {
    int pass;
    for (pass = 0; pass < 2; pass++) {
        rwkv_model *model = NULL;
        rwkv_result r;
        unsigned char *copy = NULL;
        membuf mb = {NULL, NULL, 0};
        const unsigned char *p;
        if (pass == 0) {
            copy = (unsigned char *)malloc(n ? n : 1);
            if (!copy) exit(3);
            if (n) memcpy(copy, buf, n);
            p = copy;
        } else {
            mb = membuf_copy(buf, n, 0);
            p = mb.p;
        }
        memset(&E, 0, sizeof E);
        r = rwkv_model_load_memory(&model, p, n, &E);
        expect_err_(r, want, what, __FILE__, line);
        if (r != RWKV_OK && needle)
            check_(contains(E.message, needle) || (needle2 && contains(E.message, needle2)), __FILE__, line,
                   "%s: message \"%s\" does not name %s", what, E.message, needle);
        if (g_verbose && pass == 0) printf("  %-44s -> %s: %s\n", what, rwkv_result_string(r), E.message);
        if (r == RWKV_OK) rwkv_model_free(model);
        free(copy);
        if (mb.base) membuf_free(&mb);
    }
}
#define expect_load_fail(buf, n, want, needle, what) expect_load_fail_((buf), (n), (want), (needle), NULL, (what), __LINE__)

/* Every proper prefix of a valid file must be refused with a message. */
static void truncate_everywhere(const unsigned char *buf, size_t n, size_t dense_until, size_t stride,
                                const char *what) {
    size_t cut, bad_rc = 0, bad_msg = 0, first_bad = (size_t)-1, tried = 0;
    for (cut = 0; cut < n; cut += cut < dense_until ? 1 : stride) {
        unsigned char *copy = (unsigned char *)malloc(cut ? cut : 1);
        rwkv_model *model = NULL;
        rwkv_result r;
        if (!copy) exit(3);
        memcpy(copy, buf, cut);
        memset(&E, 0, sizeof E);
        r = rwkv_model_load_memory(&model, copy, cut, &E);
        tried++;
        if (r == RWKV_OK) {
            bad_rc++;
            if (first_bad == (size_t)-1) first_bad = cut;
            rwkv_model_free(model);
        } else if (E.code != r || !E.message[0] || !memchr(E.message, 0, sizeof E.message)) {
            bad_msg++;
        }
        free(copy);
    }
    CHECKF(bad_rc == 0, "%s: %zu of %zu truncations accepted (first at %zu of %zu bytes)", what, bad_rc, tried, first_bad, n);
    CHECKF(bad_msg == 0, "%s: %zu truncations refused without a message", what, bad_msg);
    /* a few from aligned buffers (the in-place path) */
    for (cut = 1; cut < n; cut += n / 7 + 1) {
        membuf mb = membuf_copy(buf, cut, 0);
        rwkv_model *model = NULL;
        EXPECT_ERR(ANY_ERROR, rwkv_model_load_memory(&model, mb.p, cut, &E));
        if (model) rwkv_model_free(model);
        membuf_free(&mb);
    }
}

static unsigned char *dup_buf(const unsigned char *b, size_t n) {
    unsigned char *p = (unsigned char *)malloc(n);
    if (!p) exit(3);
    memcpy(p, b, n);
    return p;
}

/* extra-key hooks for gopts.extra */
static void kv_alignment_3(gguf_writer *w, const synth *m) { (void)m; gguf_writer_add_u32(w, "general.alignment", 3); }
static void kv_alignment_0(gguf_writer *w, const synth *m) { (void)m; gguf_writer_add_u32(w, "general.alignment", 0); }
static void kv_dup_key(gguf_writer *w, const synth *m) { gguf_writer_add_u32(w, "rwkv4.block_count", (uint32_t)m->L); }
static void kv_empty_key(gguf_writer *w, const synth *m) { (void)m; gguf_writer_add_u32(w, "", 1); }
static void kv_block_count_str(gguf_writer *w, const synth *m) { (void)m; gguf_writer_add_str(w, "rwkv4.block_count", "1"); }
static void kv_embd_plus_1(gguf_writer *w, const synth *m) { gguf_writer_add_u32(w, "rwkv4.embedding_length", (uint32_t)m->C + 1); }
static void kv_blocks_0(gguf_writer *w, const synth *m) { (void)m; gguf_writer_add_u32(w, "rwkv4.block_count", 0); }
static void kv_blocks_2(gguf_writer *w, const synth *m) { (void)m; gguf_writer_add_u32(w, "rwkv4.block_count", 2); }
static void kv_blocks_huge(gguf_writer *w, const synth *m) { (void)m; gguf_writer_add_u32(w, "rwkv4.block_count", 1000000); }
static void kv_ffn_wrong(gguf_writer *w, const synth *m) { gguf_writer_add_u32(w, "rwkv4.feed_forward_length", (uint32_t)m->F + 32); }

static void test_malformed_gguf(void) {
    synth *m = synth_create(8, 1, 32, world_vocab_count(), RWKV_TYPE_F32, RWKV_TYPE_F32, TOK_RWKV, 600);
    synth *small = synth_create(8, 1, 16, 11, RWKV_TYPE_F32, RWKV_TYPE_F32, TOK_NONE, 601);
    size_t n, i;
    unsigned char *g = synth_gguf(m, NULL, &n), *b;
    gmap *gm = (gmap *)malloc(sizeof(gmap));
    char what[128];
    int ti;
    g_section = "malformed gguf";
    if (!gm) exit(3);
    gmap_build(gm, g);
    /* the base file loads */
    {
        rwkv_model *model = load_ok(g, n, "malformed base");
        rwkv_model_free(model);
    }
#define MUT(expr_setup, want, needle, label)                                     \
    do {                                                                         \
        b = dup_buf(g, n);                                                       \
        expr_setup;                                                              \
        expect_load_fail(b, n, (want), (needle), (label));                       \
        free(b);                                                                 \
    } while (0)
    MUT(b[0] = 'X', RWKV_ERROR_BAD_FORMAT, NULL, "bad magic");
    MUT(memset(b, 0, 4), RWKV_ERROR_BAD_FORMAT, NULL, "zero magic");
    MUT(put_le32(b + 4, 1), ANY_ERROR, NULL, "gguf version 1");
    MUT(put_le32(b + 4, 99), ANY_ERROR, NULL, "gguf version 99");
    MUT(put_le32(b + 4, 0), ANY_ERROR, NULL, "gguf version 0");
    MUT(put_le32(b + 4, 0x03000000u), ANY_ERROR, NULL, "gguf version byte-swapped");
    /* version 2 is version 3 without big-endian files: loads, same logits */
    {
        rwkv_model *m3 = load_ok(g, n, "v3"), *m2;
        b = dup_buf(g, n);
        put_le32(b + 4, 2);
        m2 = load_ok(b, n, "gguf version 2");
        if (m2 && m3) {
            int32_t tok[8];
            float *la = (float *)malloc(sizeof(float) * (size_t)m->V), *lb = (float *)malloc(sizeof(float) * (size_t)m->V);
            if (!la || !lb) exit(3);
            make_tokens(tok, 8, m->V, 1);
            logits_after(m3, tok, 8, la);
            logits_after(m2, tok, 8, lb);
            CHECK(memcmp(la, lb, sizeof(float) * (size_t)m->V) == 0);
            free(la);
            free(lb);
        }
        rwkv_model_free(m2);
        rwkv_model_free(m3);
        free(b);
    }
    /* absurd counts */
    {
        uint64_t nt = get_le64(g + 8), nk = get_le64(g + 16);
        uint64_t vals[] = {(uint64_t)1 << 60, UINT64_MAX, 0, 0, (uint64_t)1 << 32, (uint64_t)1 << 31};
        vals[2] = nt + 1;
        vals[3] = nt - 1;
        for (i = 0; i < 6; i++) {
            snprintf(what, sizeof what, "n_tensors %llu", (unsigned long long)vals[i]);
            MUT(put_le64(b + 8, vals[i]), ANY_ERROR, NULL, what);
        }
        vals[2] = nk + 1;
        vals[3] = nk - 1;
        for (i = 0; i < 6; i++) {
            snprintf(what, sizeof what, "n_kv %llu", (unsigned long long)vals[i]);
            MUT(put_le64(b + 16, vals[i]), ANY_ERROR, NULL, what);
        }
    }
    /* absurd string and array lengths */
    {
        uint64_t lens[] = {(uint64_t)1 << 62, UINT64_MAX, (uint64_t)1 << 31, 0};
        int karch = gmap_kv(gm, "general.architecture"), ktok = gmap_kv(gm, "tokenizer.ggml.tokens"),
            ktype = gmap_kv(gm, "tokenizer.ggml.token_type");
        lens[3] = n;
        for (i = 0; i < 4; i++) {
            snprintf(what, sizeof what, "key length %llu", (unsigned long long)lens[i]);
            MUT(put_le64(b + gm->kv_off[0], lens[i]), ANY_ERROR, NULL, what);
            snprintf(what, sizeof what, "string value length %llu", (unsigned long long)lens[i]);
            MUT(put_le64(b + gm->kv_val_off[karch], lens[i]), ANY_ERROR, NULL, what);
            snprintf(what, sizeof what, "tokens array length %llu", (unsigned long long)lens[i]);
            MUT(put_le64(b + gm->kv_val_off[ktok] + 4, lens[i]), ANY_ERROR, NULL, what);
            snprintf(what, sizeof what, "token_type array length %llu", (unsigned long long)lens[i]);
            MUT(put_le64(b + gm->kv_val_off[ktype] + 4, lens[i]), ANY_ERROR, NULL, what);
            snprintf(what, sizeof what, "first token string length %llu", (unsigned long long)lens[i]);
            MUT(put_le64(b + gm->kv_val_off[ktok] + 12, lens[i]), ANY_ERROR, NULL, what);
            snprintf(what, sizeof what, "tensor name length %llu", (unsigned long long)lens[i]);
            MUT(put_le64(b + gm->ti_off[3], lens[i]), ANY_ERROR, NULL, what);
        }
        MUT(put_le32(b + gm->kv_val_off[ktok], 99), ANY_ERROR, NULL, "array element type 99");
        MUT(put_le32(b + gm->kv_val_off[ktok], 9), ANY_ERROR, NULL, "array element type array");
        MUT(put_le32(b + gm->kv_type_off[karch], 13), ANY_ERROR, NULL, "value type 13");
        MUT(put_le32(b + gm->kv_type_off[karch], 0xffffffffu), ANY_ERROR, NULL, "value type 2^32-1");
        MUT(put_le32(b + gm->kv_type_off[karch], 4), ANY_ERROR, NULL, "architecture as u32");
    }
    /* tensor infos: dimensions, element counts, types, offsets */
    ti = gmap_ti(gm, "token_embd.weight");
    MUT(put_le32(b + gm->ti_ndims_off[ti], 5), ANY_ERROR, NULL, "n_dims 5");
    MUT(put_le32(b + gm->ti_ndims_off[ti], 0xffffffffu), ANY_ERROR, NULL, "n_dims 2^32-1");
    MUT(put_le64(b + gm->ti_dims_off[ti] + 8, (uint64_t)1 << 62), ANY_ERROR, NULL, "ne[1] = 2^62");
    MUT(put_le64(b + gm->ti_dims_off[ti] + 8, (uint64_t)1 << 63), ANY_ERROR, NULL, "ne[1] = 2^63");
    MUT(put_le64(b + gm->ti_dims_off[ti] + 8, UINT64_MAX), ANY_ERROR, NULL, "ne[1] = 2^64-1");
    MUT(put_le64(b + gm->ti_dims_off[ti] + 8, 0), ANY_ERROR, NULL, "ne[1] = 0");
    MUT((put_le64(b + gm->ti_dims_off[ti], (uint64_t)1 << 32), put_le64(b + gm->ti_dims_off[ti] + 8, (uint64_t)1 << 32)),
        ANY_ERROR, NULL, "ne = 2^32 x 2^32 (count overflows)");
    MUT((put_le64(b + gm->ti_dims_off[ti], (uint64_t)1 << 31), put_le64(b + gm->ti_dims_off[ti] + 8, (uint64_t)1 << 31)),
        ANY_ERROR, NULL, "ne = 2^31 x 2^31 (bytes overflow)");
    MUT((put_le64(b + gm->ti_dims_off[ti], (uint64_t)1 << 31), put_le64(b + gm->ti_dims_off[ti] + 8, (uint64_t)1 << 30)),
        ANY_ERROR, NULL, "ne = 2^31 x 2^30 (2^63 bytes)");
    MUT((put_le64(b + gm->ti_dims_off[ti], (uint64_t)3 << 40), put_le64(b + gm->ti_dims_off[ti] + 8, (uint64_t)3 << 22)),
        ANY_ERROR, NULL, "ne = 3*2^40 x 3*2^22 (int64 overflow)");
    {
        int tn = gmap_ti(gm, "token_embd_norm.weight");
        MUT(put_le64(b + gm->ti_dims_off[tn], (uint64_t)1 << 62), ANY_ERROR, NULL, "1-D ne = 2^62 (bytes overflow)");
        MUT(put_le64(b + gm->ti_dims_off[tn], (uint64_t)1 << 40), ANY_ERROR, NULL, "1-D ne = 2^40 (past the end)");
    }
    MUT(put_le32(b + gm->ti_type_off[ti], 99), ANY_ERROR, NULL, "tensor type 99");
    MUT(put_le32(b + gm->ti_type_off[ti], 4), ANY_ERROR, NULL, "tensor type 4 (removed)");
    MUT(put_le32(b + gm->ti_type_off[ti], 12), ANY_ERROR, NULL, "tensor type q4_k");
    MUT(put_le32(b + gm->ti_type_off[ti], 0xffffffffu), ANY_ERROR, NULL, "tensor type 2^32-1");
    MUT(put_le32(b + gm->ti_type_off[ti], RWKV_TYPE_Q8_0), ANY_ERROR, NULL, "q8_0 with ne[0] = 8 (not a block multiple)");
    {
        int last = gm->n_ti - 1;
        uint64_t off = get_le64(g + gm->ti_offs_off[last]);
        MUT(put_le64(b + gm->ti_offs_off[last], off + 4), ANY_ERROR, NULL, "offset not aligned");
        MUT(put_le64(b + gm->ti_offs_off[last], off + 32), ANY_ERROR, NULL, "offset: data past the end");
        MUT(put_le64(b + gm->ti_offs_off[last], n), ANY_ERROR, NULL, "offset = file size");
        MUT(put_le64(b + gm->ti_offs_off[last], (uint64_t)1 << 60), ANY_ERROR, NULL, "offset 2^60");
        MUT(put_le64(b + gm->ti_offs_off[last], UINT64_MAX - 31), ANY_ERROR, NULL, "offset 2^64-32 (wraps)");
        MUT(put_le64(b + gm->ti_offs_off[0], get_le64(g + gm->ti_offs_off[0]) + 1), ANY_ERROR, NULL, "first offset not aligned");
    }
#undef MUT
    /* files built with a defect */
    {
        /* (rwkv5, rwkv6 and rwkv7 are supported: with these v4 tensors they
           fail on a missing tensor instead, see below) */
        static const struct { const char *arch; } arches[] = {{"llama"}, {"rwkv6qwen2"}, {"arwkv7"}, {"rwkv8"}, {"mamba"}};
        /* the tensor whose shape disagrees with the keys (embedding_length,
           feed_forward_length) must be named; where only the tensors say
           what n_vocab is, naming either of the two that disagree is fine */
        static const struct { const char *name; int dims; int64_t ne0, ne1; const char *alt; } shapes[] = {
            {"blk.0.time_mix_key.weight", 2, 8, 9, NULL},   {"blk.0.time_mix_key.weight", 2, 16, 8, NULL},
            {"blk.0.channel_mix_key.weight", 2, 8, 33, NULL}, {"blk.0.channel_mix_value.weight", 2, 8, 32, NULL},
            {"blk.0.time_mix_first.weight", 1, 9, 1, NULL}, {"blk.0.attn_norm.weight", 2, 8, 2, NULL},
            {"token_embd.weight", 2, 8, 291, "output.weight"}, {"output.weight", 2, 8, 289, "token_embd.weight"},
            {"token_embd_norm.bias", 1, 7, 1, NULL},        {"blk.0.channel_mix_receptance.weight", 1, 64, 1, NULL},
        };
        static const char *const missing[] = {"blk.0.channel_mix_value.weight", "output.weight", "token_embd.weight",
                                              "token_embd_norm.bias", "blk.0.time_mix_first.weight", "output_norm.weight",
                                              "blk.0.attn_norm_2.bias"};
        static const struct { const char *omit; void (*extra)(gguf_writer *, const synth *); int want; const char *label; } keys[] = {
            {NULL, kv_alignment_3, ANY_ERROR, "general.alignment 3"},
            {NULL, kv_alignment_0, ANY_ERROR, "general.alignment 0"},
            {NULL, kv_dup_key, ANY_ERROR, "duplicate key"},
            {NULL, kv_empty_key, ANY_ERROR, "empty key"},
            {"general.architecture", NULL, ANY_ERROR, "no general.architecture"},
            {"rwkv4.block_count", NULL, ANY_ERROR, "no block_count"},
            {"rwkv4.block_count", kv_block_count_str, ANY_ERROR, "block_count as a string"},
            {"rwkv4.embedding_length", kv_embd_plus_1, ANY_ERROR, "embedding_length C+1"},
            {"rwkv4.block_count", kv_blocks_0, ANY_ERROR, "block_count 0"},
            {"rwkv4.block_count", kv_blocks_2, ANY_ERROR, "block_count 2 (one block of tensors)"},
            {"rwkv4.block_count", kv_blocks_huge, ANY_ERROR, "block_count 10^6"},
            {"rwkv4.feed_forward_length", kv_ffn_wrong, ANY_ERROR, "feed_forward_length F+32"},
        };
        gopts o;
        for (i = 0; i < sizeof arches / sizeof arches[0]; i++) {
            memset(&o, 0, sizeof o);
            o.arch = arches[i].arch;
            b = synth_gguf(m, &o, &n);
            snprintf(what, sizeof what, "architecture %s", arches[i].arch);
            expect_load_fail(b, n, RWKV_ERROR_UNSUPPORTED, arches[i].arch, what);
            free(b);
        }
        memset(&o, 0, sizeof o);
        o.arch = "rwkv6"; /* supported, but these are RWKV-4 tensors */
        b = synth_gguf(m, &o, &n);
        expect_load_fail(b, n, ANY_ERROR, NULL, "architecture rwkv6 with RWKV-4 tensors");
        free(b);
        memset(&o, 0, sizeof o);
        o.dup = "blk.0.time_mix_value.weight";
        b = synth_gguf(m, &o, &n);
        expect_load_fail(b, n, ANY_ERROR, NULL, "duplicate tensor name");
        free(b);
        for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            memset(&o, 0, sizeof o);
            o.reshape = shapes[i].name;
            o.rs_dims = shapes[i].dims;
            o.rs_ne[0] = shapes[i].ne0;
            o.rs_ne[1] = shapes[i].ne1;
            b = synth_gguf(m, &o, &n);
            snprintf(what, sizeof what, "shape of %s", shapes[i].name);
            expect_load_fail_(b, n, RWKV_ERROR_SHAPE, shapes[i].name, shapes[i].alt, what, __LINE__);
            free(b);
        }
        for (i = 0; i < sizeof missing / sizeof missing[0]; i++) {
            memset(&o, 0, sizeof o);
            o.skip = missing[i];
            b = synth_gguf(m, &o, &n);
            snprintf(what, sizeof what, "missing %s", missing[i]);
            expect_load_fail(b, n, RWKV_ERROR_SHAPE, missing[i], what);
            free(b);
        }
        for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            memset(&o, 0, sizeof o);
            o.omit_key = keys[i].omit;
            o.extra = keys[i].extra;
            b = synth_gguf(m, &o, &n);
            expect_load_fail(b, n, keys[i].want, NULL, keys[i].label);
            free(b);
        }
        memset(&o, 0, sizeof o);
        o.tok_delta = 1;
        b = synth_gguf(m, &o, &n);
        expect_load_fail(b, n, ANY_ERROR, NULL, "more tokens than n_vocab");
        free(b);
    }
    /* truncated at every byte: a small model without a vocabulary (every
       offset), and the one with a vocabulary (every offset of the header,
       then every 61st) */
    free(g);
    g = synth_gguf(small, NULL, &n);
    CHECKF(find_t(small, "output.weight")->n_bytes % 32 == 0, "test setup: the file must end with its last tensor");
    truncate_everywhere(g, n, n, 1, "gguf truncated");
    free(g);
    g = synth_gguf(m, NULL, &n);
    truncate_everywhere(g, n, gm->data_start + 64, 61, "gguf+vocab truncated");
    EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_model_load_memory(NULL, g, n, &E));
    {
        rwkv_model *model = NULL;
        EXPECT_ERR(RWKV_ERROR_INVALID_ARGUMENT, rwkv_model_load_memory(&model, NULL, n, &E));
        EXPECT_ERR(ANY_ERROR, rwkv_model_load_memory(&model, g, 0, &E));
        CHECK_RC(rwkv_model_load_memory(&model, g, 3, NULL), RWKV_ERROR_BAD_FORMAT); /* error may be NULL */
        rwkv_model_free(NULL);
    }
    free(g);
    free(gm);
    synth_free(m);
    synth_free(small);
}

static void test_malformed_bin(void) {
    synth *m = synth_create(8, 1, 16, 11, RWKV_TYPE_F32, RWKV_TYPE_F32, TOK_NONE, 700);
    synth *mh = synth_create(8, 1, 32, 256, RWKV_TYPE_F16, RWKV_TYPE_F16, TOK_BYTES, 701);
    size_t n, i;
    unsigned char *g = synth_bin(m, NULL, &n), *b;
    char what[128];
    g_section = "malformed bin";
#define t0 ((size_t)24) /* the first tensor header (emb.weight) */
    {
        rwkv_model *model = load_ok(g, n, "bin base");
        rwkv_model_free(model);
    }
#define MUT(expr_setup, want, needle, label)                                     \
    do {                                                                         \
        b = dup_buf(g, n);                                                       \
        expr_setup;                                                              \
        expect_load_fail(b, n, (want), (needle), (label));                       \
        free(b);                                                                 \
    } while (0)
    MUT(b[0] ^= 1, RWKV_ERROR_BAD_FORMAT, NULL, "bin: bad magic");
    MUT(put_le32(b + 4, 99), ANY_ERROR, NULL, "bin: version 99");
    MUT(put_le32(b + 4, 0), ANY_ERROR, NULL, "bin: version 0");
    MUT(put_le32(b + 4, 102), ANY_ERROR, NULL, "bin: version 102");
    {
        static const struct { size_t off; int32_t v; const char *label; } h[] = {
            {8, 12, "bin: n_vocab does not match"}, {8, 0, "bin: n_vocab 0"}, {8, -1, "bin: n_vocab -1"},
            {8, INT32_MAX, "bin: n_vocab 2^31-1"}, {12, 9, "bin: n_embed does not match"}, {12, 0, "bin: n_embed 0"},
            {12, -8, "bin: n_embed -8"}, {12, INT32_MAX, "bin: n_embed 2^31-1"}, {16, 0, "bin: n_layer 0"},
            {16, -1, "bin: n_layer -1"}, {16, 2, "bin: n_layer 2 (one block of tensors)"},
            {16, 1000000, "bin: n_layer 10^6"},
            {t0, 5, "bin: dim_count 5"}, {t0, 0, "bin: dim_count 0"}, {t0, -1, "bin: dim_count -1"},
            {t0 + 4, -1, "bin: key_length -1"}, {t0 + 4, 0, "bin: key_length 0"},
            {t0 + 4, 1 << 30, "bin: key_length 2^30"}, {t0 + 4, INT32_MAX, "bin: key_length 2^31-1"},
            {t0 + 8, 99, "bin: data_type 99"}, {t0 + 8, -1, "bin: data_type -1"}, {t0 + 8, 5, "bin: data_type 5 (Q4_2)"},
            {t0 + 8, 9, "bin: data_type q8_0 with ne[0] 8"},
            {t0 + 12, -8, "bin: ne[0] -8"}, {t0 + 12, 0, "bin: ne[0] 0"}, {t0 + 16, INT32_MAX, "bin: ne[1] 2^31-1"},
            {t0 + 16, -1, "bin: ne[1] -1"},
        };
        for (i = 0; i < sizeof h / sizeof h[0]; i++) MUT(put_le32(b + h[i].off, (uint32_t)h[i].v), ANY_ERROR, NULL, h[i].label);
    }
#undef MUT
    {
        /* n_vocab and n_embed are in the header, so a tensor that disagrees
           with them must be named (either naming); the FFN size is not, so
           for ffn.key either FFN matrix may be blamed */
        static const struct { const char *bin, *gguf; int dims; int64_t ne0, ne1; const char *alt; } shapes[] = {
            {"blocks.0.att.key.weight", "blk.0.time_mix_key.weight", 2, 9, 8, NULL},
            {"blocks.0.ffn.key.weight", "blk.0.channel_mix_key.weight", 2, 8, 17, "channel_mix_value"},
            {"blocks.0.att.time_first", "blk.0.time_mix_first.weight", 1, 7, 1, NULL},
            {"head.weight", "output.weight", 2, 8, 12, NULL},
            {"emb.weight", "token_embd.weight", 2, 8, 10, NULL},
        };
        static const struct { const char *bin, *gguf; } missing[] = {
            {"blocks.0.ffn.value.weight", "blk.0.channel_mix_value.weight"},
            {"head.weight", "output.weight"},
            {"blocks.0.ln0.bias", "token_embd_norm.bias"},
            {"blocks.0.att.time_decay", "blk.0.time_mix_decay.weight"},
        };
        bopts o;
        for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            memset(&o, 0, sizeof o);
            o.reshape = shapes[i].bin;
            o.rs_dims = shapes[i].dims;
            o.rs_ne[0] = shapes[i].ne0;
            o.rs_ne[1] = shapes[i].ne1;
            b = synth_bin(m, &o, &n);
            snprintf(what, sizeof what, "bin: shape of %s", shapes[i].bin);
            expect_load_fail_(b, n, RWKV_ERROR_SHAPE, shapes[i].gguf, shapes[i].alt ? shapes[i].alt : shapes[i].bin, what, __LINE__);
            free(b);
        }
        for (i = 0; i < sizeof missing / sizeof missing[0]; i++) {
            memset(&o, 0, sizeof o);
            o.skip = missing[i].bin;
            b = synth_bin(m, &o, &n);
            snprintf(what, sizeof what, "bin: missing %s", missing[i].bin);
            expect_load_fail_(b, n, RWKV_ERROR_SHAPE, missing[i].gguf, missing[i].bin, what, __LINE__);
            free(b);
        }
        memset(&o, 0, sizeof o);
        o.dup = "blocks.0.att.value.weight";
        b = synth_bin(m, &o, &n);
        expect_load_fail(b, n, ANY_ERROR, NULL, "bin: duplicate tensor");
        free(b);
    }
#undef t0
    /* truncated at every byte: F32 and F16 files */
    free(g);
    g = synth_bin(m, NULL, &n);
    truncate_everywhere(g, n, n, 1, "bin f32 truncated");
    free(g);
    g = synth_bin(mh, NULL, &n);
    truncate_everywhere(g, n, n, 1, "bin f16 truncated");
    free(g);
    synth_free(m);
    synth_free(mh);
}

/* ======================================================================== */

static void run_(void (*fn)(void), const char *name) {
    clock_t t0 = clock();
    int before = g_fail;
    fn();
    if (g_verbose || g_fail != before)
        printf("-- %s: %.2f s%s\n", name, (double)(clock() - t0) / CLOCKS_PER_SEC,
               g_fail != before ? ", FAILURES" : "");
}
#define RUN(fn) run_(fn, #fn)


/* Every SIMD kernel against its plain C twin, on random rows of odd and
   even sizes: equal within float rounding (relative to the sum of |w x|). */
/* The SIMD twins under test: AVX2 (and AVX-512 where compiled) on x86,
   NEON on AArch64. */
#if defined(RWKV__AVX2) || defined(RWKV__NEON)
typedef struct simd_twins {
    const char *name;
    float (*dot_f32)(const unsigned char *, const float *, int);
    float (*dot_f16)(const unsigned char *, const float *, int);
    float (*dot_bf16)(const unsigned char *, const float *, int);
    float (*dot_q8_0)(const unsigned char *, const float *, int);
    float (*dot_q4_q5)(const unsigned char *, const float *, int, int, int);
    void (*dequantize)(int, const unsigned char *, int, float *);
    float (*dot_q8_input)(int, const unsigned char *, const rwkv__q8_block *, int);
    void (*gemm_panel)(const float *, size_t, const float *, int, int, float *);
    void (*dot_rows4)(int, const unsigned char *, size_t, const float *, int, float *); /* x86 only */
    void (*quantize_block)(const float *, rwkv__q8_block *);
    void (*wkv4_step)(const float *, const float *, const float *, const float *, const float *, float *, float *,
                      float *, float *, int);
    void (*gate_sigmoid)(float *, const float *, size_t);
    void (*wkv5_token)(float *, const float *, const float *, const float *, const float *, const float *, float *,
                       int);
    void (*wkv7_token)(float *, const float *, const float *, const float *, const float *, const float *,
                       const float *, float *, int);
} simd_twins;

#if defined(RWKV__AVX2)
/* The AVX2 Q4/Q5 kernel takes its input as rwkv__block_input reorders it. */
static float dot_q4_q5_blocked_avx2(const unsigned char *row, const float *x, int n, int has_min, int five_bits) {
    static float xb[1056 + 1056 / 32];
    if (n > 1056) return 0.0f;
    rwkv__block_input(x, n, xb);
    return rwkv__dot_q4_q5_blocked_avx2(row, xb, n, has_min, five_bits);
}
#endif

static const simd_twins k_simd_twins[] = {
#if defined(RWKV__AVX2)
    {"avx2", rwkv__dot_f32_avx2, rwkv__dot_f16_avx2, rwkv__dot_bf16_avx2, rwkv__dot_q8_0_avx2,
     dot_q4_q5_blocked_avx2, rwkv__dequantize_avx2, rwkv__dot_q8_input_avx2, rwkv__gemm_panel_avx2,
     rwkv__dot_rows4_avx2, rwkv__quantize_block_avx2, rwkv__wkv4_step_avx2, rwkv__gate_sigmoid_avx2,
     rwkv__wkv5_token_avx2, rwkv__wkv7_token_avx2},
#endif
#if defined(RWKV__AVX512)
    {"avx512", rwkv__dot_f32_avx512, rwkv__dot_f16_avx512, rwkv__dot_bf16_avx512, rwkv__dot_q8_0_avx512,
     rwkv__dot_q4_q5_avx512, rwkv__dequantize_avx512, rwkv__dot_q8_input_avx2, rwkv__gemm_panel_avx512,
     rwkv__dot_rows4_avx512, rwkv__quantize_block_avx2, rwkv__wkv4_step_avx2, rwkv__gate_sigmoid_avx2,
     rwkv__wkv5_token_avx2, rwkv__wkv7_token_avx2},
#endif
#if defined(RWKV__NEON)
    {"neon", rwkv__dot_f32_neon, rwkv__dot_f16_neon, rwkv__dot_bf16_neon, rwkv__dot_q8_0_neon,
     rwkv__dot_q4_q5_neon, rwkv__dequantize_neon, rwkv__dot_q8_input_neon, rwkv__gemm_panel_neon, NULL,
     rwkv__quantize_block_neon, rwkv__wkv4_step_neon, rwkv__gate_sigmoid_neon, rwkv__wkv5_token_neon,
     rwkv__wkv7_token_neon},
#endif
};
#endif

#if defined(RWKV__AVX2) || defined(RWKV__NEON)
static void test_simd_twins(const simd_twins *simd) {
    static const int types[] = {RWKV_TYPE_F32, RWKV_TYPE_F16, RWKV_TYPE_BF16, RWKV_TYPE_Q8_0,
                                RWKV_TYPE_Q4_0, RWKV_TYPE_Q4_1, RWKV_TYPE_Q5_0, RWKV_TYPE_Q5_1};
    static const int sizes[] = {32, 64, 96, 160, 768, 1056};
    static float w[1056], x[1056], wf[1056], xp[32 * 1056], w12[12 * 1057], out_plain[12 * 32], out_simd[12 * 32];
    static unsigned char row[1056 * 4], row2[1056 * 4];
    static rwkv__q8_block xq[1056 / 32];
    rng_t seed = {12345};
    size_t ti, si;
    int i, j, width;
    for (ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
        for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
            int n = sizes[si], type = types[ti];
            double scale = 0.0;
            float plain, fast;
            for (i = 0; i < n; i++) {
                w[i] = (float)(rng_unif(&seed) * 2.0 - 1.0);
                x[i] = (float)(rng_unif(&seed) * 2.0 - 1.0);
                scale += fabs((double)w[i] * x[i]);
            }
            rwkv_quantize_row(type, w, n, row);
            plain = rwkv__dot_f32_plain((const unsigned char *)wf, x, 0); /* 0 for n = 0 */
            CHECK(plain == 0.0f);
            switch (type) {
            case RWKV_TYPE_F32: plain = rwkv__dot_f32_plain(row, x, n), fast = simd->dot_f32(row, x, n); break;
            case RWKV_TYPE_F16: plain = rwkv__dot_f16_plain(row, x, n), fast = simd->dot_f16(row, x, n); break;
            case RWKV_TYPE_BF16: plain = rwkv__dot_bf16_plain(row, x, n), fast = simd->dot_bf16(row, x, n); break;
            case RWKV_TYPE_Q8_0: plain = rwkv__dot_q8_0_plain(row, x, n), fast = simd->dot_q8_0(row, x, n); break;
            default: {
                int has_min = type == RWKV_TYPE_Q4_1 || type == RWKV_TYPE_Q5_1;
                int five = type == RWKV_TYPE_Q5_0 || type == RWKV_TYPE_Q5_1;
                plain = rwkv__dot_q4_q5_plain(row, x, n, has_min, five);
                fast = simd->dot_q4_q5(row, x, n, has_min, five);
            }
            }
            CHECKF(fabs((double)plain - fast) <= 1e-5 * scale, "%s %s n=%d dot: plain %g simd %g", simd->name,
                   rwkv_type_name(type), n, plain, fast);
            /* row decoding, bit for bit */
            rwkv__dequantize_plain(type, row, n, wf);
            simd->dequantize(type, row, n, (float *)(void *)row2);
            CHECKF(!memcmp(wf, row2, sizeof(float) * (size_t)n), "%s %s n=%d dequantize differs", simd->name,
                   rwkv_type_name(type), n);
            /* integer products with a quantized input */
            if (type != RWKV_TYPE_F32 && type != RWKV_TYPE_F16 && type != RWKV_TYPE_BF16) {
                rwkv__quantize_input(x, n, xq);
                plain = rwkv__dot_q8_input_plain(type, row, xq, n);
                fast = simd->dot_q8_input(type, row, xq, n);
                CHECKF(fabs((double)plain - fast) <= 1e-5 * scale, "%s %s n=%d int8: plain %g simd %g", simd->name,
                       rwkv_type_name(type), n, plain, fast);
            }
            /* the prefill kernel: twelve rows (an odd stride apart) by a panel
               of 32 or 16 tokens */
            for (i = 0; i < 12 * (n + 1); i++) w12[i] = (float)(rng_unif(&seed) * 2.0 - 1.0);
            for (i = 0; i < 32 * n; i++) xp[i] = (float)(rng_unif(&seed) * 2.0 - 1.0);
            for (width = 16; width <= 32; width += 16) {
                double worst = 0.0;
                rwkv__gemm_panel_plain(w12, (size_t)n + 1, xp, n, width, out_plain);
                simd->gemm_panel(w12, (size_t)n + 1, xp, n, width, out_simd);
                for (j = 0; j < 12 * 32; j++)
                    if (j % 32 < width) worst = fmax(worst, fabs((double)out_plain[j] - out_simd[j]));
                CHECKF(worst <= 1e-5 * (double)n, "%s panel %d n=%d: worst difference %g", simd->name, width, n,
                       worst);
            }
        }
    }
    /* four rows of a float type at once (wide inputs, x86): rows 4 bytes
       off any vector alignment apart, lengths with and without a tail */
    if (simd->dot_rows4) {
        static const int lengths[] = {1, 15, 16, 17, 31, 33, 100, 1056};
        static const int float_types[] = {RWKV_TYPE_F32, RWKV_TYPE_F16, RWKV_TYPE_BF16};
        static float rows4_floats[4 * (1056 + 1)];
        unsigned char *rows4 = (unsigned char *)rows4_floats;
        size_t li, fi;
        for (fi = 0; fi < 3; fi++)
            for (li = 0; li < sizeof(lengths) / sizeof(lengths[0]); li++) {
                const int n = lengths[li], type = float_types[fi];
                const size_t row_bytes = (rwkv_type_size(type, (uint64_t)n) + 3) / 4 * 4 + 4;
                float y_plain[4], y_simd[4];
                double scale = 0.0;
                for (j = 0; j < n; j++) x[j] = (float)(rng_unif(&seed) * 2.0 - 1.0);
                for (i = 0; i < 4; i++) {
                    for (j = 0; j < n; j++) w[j] = (float)(rng_unif(&seed) * 2.0 - 1.0), scale += fabs((double)w[j] * x[j]);
                    rwkv_quantize_row(type, w, n, rows4 + (size_t)i * row_bytes);
                }
                rwkv__dot_rows4_plain(type, rows4, row_bytes, x, n, y_plain);
                simd->dot_rows4(type, rows4, row_bytes, x, n, y_simd);
                for (i = 0; i < 4; i++)
                    CHECKF(fabs((double)y_plain[i] - y_simd[i]) <= 1e-5 * scale, "%s %s rows4 n=%d row %d: plain %g simd %g",
                           simd->name, rwkv_type_name(type), n, i, y_plain[i], y_simd[i]);
            }
    }
    /* the odd-length tails of the float kernels */
    for (i = 1; i < 40; i++) {
        float plain, fast;
        double scale = 0.0;
        for (j = 0; j < i; j++) {
            w[j] = (float)(rng_unif(&seed) - 0.5), x[j] = (float)(rng_unif(&seed) - 0.5);
            scale += fabs((double)w[j] * x[j]);
        }
        plain = rwkv__dot_f32_plain((const unsigned char *)w, x, i);
        fast = simd->dot_f32((const unsigned char *)w, x, i);
        CHECKF(fabs((double)plain - fast) <= 1e-6 * (scale + 1e-30), "%s f32 tail n=%d", simd->name, i);
        rwkv_quantize_row(RWKV_TYPE_F16, w, i, row);
        plain = rwkv__dot_f16_plain(row, x, i);
        fast = simd->dot_f16(row, x, i);
        CHECKF(fabs((double)plain - fast) <= 1e-6 * (scale + 1e-30), "%s f16 tail n=%d", simd->name, i);
        for (j = 0; j < 12 * i; j++) w12[j] = (float)(rng_unif(&seed) - 0.5);
        for (j = 0; j < 32 * i; j++) xp[j] = (float)(rng_unif(&seed) - 0.5);
        rwkv__gemm_panel_plain(w12, (size_t)i, xp, i, 32, out_plain);
        simd->gemm_panel(w12, (size_t)i, xp, i, 32, out_simd);
        {
            double worst = 0.0;
            for (j = 0; j < 12 * 32; j++) worst = fmax(worst, fabs((double)out_plain[j] - out_simd[j]));
            CHECKF(worst <= 1e-5 * (double)i, "%s panel tail n=%d: worst difference %g", simd->name, i, worst);
        }
    }
}
#endif

#ifdef RWKV__AVX2
/* The integer prefill kernels (x86 builds) for every quantized type: rows
   rewritten by the AVX2 twin bit for bit as by the plain one, in both forms
   (Q4_0/Q5_0 as signed bytes for VNNI, unsigned with the offset in m for
   AVX2) and Q8_0's int16 form; the AVX2 panel products on the unsigned
   and the int16 form, and in VNNI builds the VNNI panel on the signed form and the decode dot
   product on pairs of blocks, equal to the plain ones within float
   rounding (odd block counts, full and padded panels). */
static void test_int8_prefill_twins(void) {
    static const int types[] = {RWKV_TYPE_Q8_0, RWKV_TYPE_Q4_0, RWKV_TYPE_Q4_1, RWKV_TYPE_Q5_0, RWKV_TYPE_Q5_1};
    static const int sizes[] = {32, 96, 768, 1056};
    enum { MAXN = 1056, ROWS = RWKV__PANEL_ROWS };
    static float w[MAXN], x[16 * MAXN], out_plain[ROWS * 32], out_fast[ROWS * 32];
    static unsigned char packed[ROWS][MAXN * 4], panel[16 * MAXN * 3];
    static signed char q_plain[ROWS * MAXN], q_avx2[ROWS * MAXN];
    static int16_t w16_plain[ROWS * MAXN], w16_avx2[ROWS * MAXN];
    static float f_plain[3 * ROWS * MAXN / 32], f_avx2[3 * ROWS * MAXN / 32];
    rng_t seed = {777};
    size_t ti, si;
    int i, r, T, unsigned_q;
    for (ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
            for (unsigned_q = 0; unsigned_q <= 1; unsigned_q++) {
                const int type = types[ti], n = sizes[si], nb = n / 32;
                rwkv__int8_rows a, b;
                double scale = 0.0, worst = 0.0;
                a.q = q_plain, a.d = f_plain, a.c = a.d + ROWS * nb, a.m = a.c + ROWS * nb, a.q16 = w16_plain;
                b.q = q_avx2, b.d = f_avx2, b.c = b.d + ROWS * nb, b.m = b.c + ROWS * nb, b.q16 = w16_avx2;
                for (r = 0; r < ROWS; r++) {
                    for (i = 0; i < n; i++) w[i] = (float)(rng_unif(&seed) * 2.0 - 1.0) + (r == 3 ? 0.7f : 0.0f);
                    rwkv_quantize_row(type, w, n, packed[r]);
                    rwkv__int8_row_plain(type, packed[r], n, &a, r, unsigned_q);
                    rwkv__int8_row_avx2(type, packed[r], n, &b, r, unsigned_q);
                }
#ifdef RWKV__AVX512VNNI
                if (!unsigned_q) {
                    static rwkv__q8_block blocks[MAXN / 32];
                    static unsigned char pairs[MAXN / 64 * RWKV__PAIR_BYTES];
                    double dot_scale = 0.0;
                    float plain, vnni;
                    for (i = 0; i < n; i++) x[i] = (float)(rng_unif(&seed) * 2.0 - 1.0), dot_scale += fabs(x[i]);
                    rwkv__quantize_input(x, n, blocks);
                    rwkv__prepare_pairs(type, blocks, n, pairs);
                    plain = rwkv__dot_q8_input_plain(type, packed[3], blocks, n);
                    vnni = rwkv__dot_q8_pairs_vnni(type, packed[3], pairs, blocks, n);
                    CHECKF(fabs((double)plain - vnni) <= 1e-5 * dot_scale, "%s n=%d: VNNI dot %g, plain %g",
                           rwkv_type_name(type), n, vnni, plain);
                }
#endif
                CHECKF(!memcmp(q_plain, q_avx2, (size_t)(ROWS * n)) &&
                           !memcmp(f_plain, f_avx2, sizeof(float) * (size_t)(3 * ROWS * nb)),
                       "%s n=%d unsigned %d: the AVX2 row rewrite differs from the plain one", rwkv_type_name(type),
                       n, unsigned_q);
                if (rwkv__int16_prefill(type)) { /* the int16 form, its d over the int8 form's */
                    for (r = 0; r < ROWS; r++) {
                        rwkv__int16_row_plain(packed[r], n, &a, r);
                        rwkv__int16_row_avx2(packed[r], n, &b, r);
                    }
                    CHECKF(!memcmp(w16_plain, w16_avx2, sizeof(int16_t) * (size_t)(ROWS * n)) &&
                               !memcmp(f_plain, f_avx2, sizeof(float) * (size_t)(ROWS * nb)),
                           "%s n=%d: the AVX2 int16 row rewrite differs from the plain one", rwkv_type_name(type), n);
                    for (i = 0; i < ROWS * n && w16_plain[i] == q_plain[i]; i++) continue;
                    CHECKF(i == ROWS * n, "%s n=%d: the int16 row differs from the stored integers at %d",
                           rwkv_type_name(type), n, i);
                }
#ifndef RWKV__AVX512VNNI
                if (!unsigned_q || !rwkv__int8_prefill(type)) continue; /* the AVX2 panel: unsigned form */
#else
                if (unsigned_q) continue; /* the VNNI panel takes the signed form */
#endif
                for (T = 16; T >= 5; T -= 11) {
                    for (i = 0; i < T * n; i++) x[i] = (float)(rng_unif(&seed) * 2.0 - 1.0);
                    for (i = 0; i < n; i++) scale += fabs(x[i]);
                    rwkv__int8_pack_panels(x, n, T, panel, 1, rwkv__int16_prefill(type));
#ifdef RWKV__AVX512VNNI
                    rwkv__int8_panel_plain(&a, panel, n, out_plain);
                    rwkv__int8_panel_vnni(&a, panel, n, out_fast);
#else
                    if (rwkv__int16_prefill(type)) {
                        rwkv__int16_panel_plain(&a, panel, n, out_plain);
                        rwkv__int16_panel_avx2(&a, panel, n, out_fast);
                    } else {
                        rwkv__int8_panel_plain(&a, panel, n, out_plain);
                        rwkv__int8_panel_avx2(&a, panel, n, out_fast);
                    }
#endif
                    for (r = 0; r < ROWS; r++)
                        for (i = 0; i < 16; i++)
                            worst = fmax(worst, fabs((double)out_plain[r * 32 + i] - out_fast[r * 32 + i]));
                    /* the padding tokens give exactly zero */
                    for (r = 0; r < ROWS; r++)
                        for (i = T; i < 16; i++) CHECK(out_fast[r * 32 + i] == 0.0f && out_plain[r * 32 + i] == 0.0f);
                }
                CHECKF(worst <= 1e-5 * scale, "%s n=%d: integer panel differs from plain by %g", rwkv_type_name(type),
                       n, worst);
            }
}
#endif

/* A matrix times a vector whose input is wider than RWKV__WIDE_INPUT
   (8192; on x86, four rows at a time): every row equal to its plain dot
   product, with a row count that leaves three rows over, on 1 and 2
   threads. */
static void test_wide_matvec(void) {
    enum { N_IN = 8192 + 48, N_OUT = 7 };
    static const int float_types[] = {RWKV_TYPE_F32, RWKV_TYPE_F16, RWKV_TYPE_BF16};
    static float w[N_IN], x[N_IN], y[N_OUT];
    static unsigned char data[N_OUT * N_IN * 4];
    rng_t seed = {777};
    size_t fi;
    int i, o, threads;
    for (i = 0; i < N_IN; i++) x[i] = (float)(rng_unif(&seed) * 2.0 - 1.0);
    for (fi = 0; fi < 3; fi++) {
        const int type = float_types[fi];
        rwkv__matrix m;
        double scale[N_OUT];
        m.data = data, m.type = type, m.n_in = N_IN, m.n_out = N_OUT;
        m.row_bytes = rwkv_type_size(type, N_IN);
        for (o = 0; o < N_OUT; o++) {
            scale[o] = 0.0;
            for (i = 0; i < N_IN; i++) w[i] = (float)(rng_unif(&seed) * 2.0 - 1.0), scale[o] += fabs((double)w[i] * x[i]);
            rwkv_quantize_row(type, w, N_IN, data + (size_t)o * m.row_bytes);
        }
        for (threads = 1; threads <= 2; threads++) {
            rwkv__matvec(&m, x, y, threads, NULL, NULL);
            for (o = 0; o < N_OUT; o++) {
                const unsigned char *row = data + (size_t)o * m.row_bytes;
                const float plain = type == RWKV_TYPE_F32 ? rwkv__dot_f32_plain(row, x, N_IN)
                                    : type == RWKV_TYPE_F16 ? rwkv__dot_f16_plain(row, x, N_IN)
                                                            : rwkv__dot_bf16_plain(row, x, N_IN);
                CHECKF(fabs((double)plain - y[o]) <= 1e-5 * scale[o], "wide %s row %d, %d threads: plain %g, got %g",
                       rwkv_type_name(type), o, threads, plain, y[o]);
            }
        }
    }
}

#if defined(RWKV__AVX2) || defined(RWKV__NEON)
/* Quantizing an input block: the SIMD twin gives the plain twin's bits (d,
   sum and every q), on blocks of every magnitude, ties at .5 (rounded to
   even), an all-zero block, a lone value, values up to FLT_MAX and NaNs. */
#if defined(RWKV__AVX2)
/* The panel packing's transpose: the same floats as the plain loop, bit for
   bit, for every column count, token count and panel width (x rows an odd
   stride apart, tails and padding included). */
static void test_pack_columns_twin(void) {
    static const int valids[] = {1, 7, 8, 9, 15, 16, 17, 24, 31, 32};
    enum { STRIDE = 37 };
    static float x[32 * STRIDE], plain[8 * 32], fast[8 * 32];
    rng_t seed = {4242};
    size_t vi;
    int i, cols, width;
    for (i = 0; i < 32 * STRIDE; i++) x[i] = (float)(rng_unif(&seed) * 2.0 - 1.0);
    for (cols = 1; cols <= 8; cols++)
        for (vi = 0; vi < sizeof valids / sizeof valids[0]; vi++)
            for (width = 16; width <= 32; width += 16) {
                if (valids[vi] > width) continue;
                memset(plain, 0x55, sizeof plain), memset(fast, 0xaa, sizeof fast);
                rwkv__pack_columns_plain(x + 3, STRIDE, cols, valids[vi], width, plain);
                rwkv__pack_columns_avx2(x + 3, STRIDE, cols, valids[vi], width, fast);
                CHECKF(!memcmp(plain, fast, sizeof(float) * (size_t)(cols * width)),
                       "pack columns: %d columns, %d tokens, width %d differ", cols, valids[vi], width);
            }
}
#endif

static void test_quantize_block_twin(const simd_twins *simd) {
    static const double scales[] = {1e-30, 1e-3, 1.0, 3.0e4, 1e30};
    float x[32];
    rwkv__q8_block plain, fast;
    rng_t seed = {777};
    int trial, j;
    for (trial = 0; trial < 200 + 6; trial++) {
        for (j = 0; j < 32; j++)
            x[j] = (float)((rng_unif(&seed) * 2.0 - 1.0) * scales[trial % 5]);
        if (trial == 200) memset(x, 0, sizeof x);
        if (trial == 201) memset(x, 0, sizeof x), x[17] = -2.5f;
        if (trial == 202) /* amax 127: q = x exactly, halves are ties */
            for (j = 0; j < 32; j++) x[j] = j == 0 ? 127.0f : (float)(j - 16) + (j % 2 ? 0.5f : 0.0f);
        if (trial == 203) x[5] = FLT_MAX, x[6] = -FLT_MAX;
        if (trial == 204) x[3] = NAN;
        if (trial == 205) x[0] = NAN, x[31] = -0.0f;
        memset(&plain, 0x55, sizeof plain), memset(&fast, 0xaa, sizeof fast);
        rwkv__quantize_block_plain(x, &plain);
        simd->quantize_block(x, &fast);
        if (trial >= 204) { /* the NaN's own q is unspecified: compare the others */
            for (j = 0; j < 32; j++)
                if (isnan(x[j])) plain.q[j] = fast.q[j] = 0;
            plain.sum = fast.sum = 0;
        }
        CHECKF(!memcmp(&plain.d, &fast.d, sizeof plain.d) && plain.sum == fast.sum &&
                   !memcmp(plain.q, fast.q, sizeof plain.q),
               "%s quantize block %d: d %g/%g sum %d/%d", simd->name, trial, plain.d, fast.d, (int)plain.sum,
               (int)fast.sum);
    }
}
#endif

#if defined(RWKV__AVX2) || defined(RWKV__NEON)
/* e^x by lanes against exp in double: within 2 ulp from -87.33 to 88.37,
   0 below, infinity above 88.38 (the lanes of one call differ in x). */
static void test_vector_exp(const char *name) {
    double worst = 0.0;
    int i, lane, bad = 0;
    for (i = 0; i < 200000; i++) {
        float x[8], y[8];
        for (lane = 0; lane < 8; lane++) x[lane] = -100.0f + 190.0f * (float)(8 * i + lane) / 1600000.0f;
#if defined(RWKV__AVX2)
        _mm256_storeu_ps(y, rwkv__exp_avx2(_mm256_loadu_ps(x)));
#else
        vst1q_f32(y, rwkv__exp_neon(vld1q_f32(x)));
        vst1q_f32(y + 4, rwkv__exp_neon(vld1q_f32(x + 4)));
#endif
        for (lane = 0; lane < 8; lane++) {
            const double want = exp((double)x[lane]);
            if (x[lane] < RWKV__EXP_MIN) bad += y[lane] != 0.0f;
            else if (x[lane] > 88.38f) bad += !isinf(y[lane]);
            else if (x[lane] < 88.37f) worst = fmax(worst, fabs(y[lane] - want) / want);
        }
    }
    CHECKF(!bad, "%s exp: %d values out of range wrong", name, bad);
    CHECKF(worst <= 2.0 * FLT_EPSILON, "%s exp: worst relative error %g", name, worst);
    if (getenv("RWKV_TEST_VERBOSE")) printf("  %s exp: worst relative error %.3g (%.2f ulp)\n", name, worst, worst / FLT_EPSILON);
}

/* RWKV-4's WKV step and the sigmoid gate: SIMD twin against plain C on
   random tokens, from the initial state (pp = -1e30) on, every width from
   1 to 37 channels (tails), within float rounding of the plain twin. */
static void test_exp_twins(const simd_twins *simd) {
    enum { N = 37, STEPS = 40 };
    float k[N], v[N], r[N], first[N], decay[N], state[2][3][N], out[2][N], y[2][N];
    rng_t seed = {4242};
    int width, step, i, twin;
    double worst = 0.0;
    for (width = 1; width <= N; width++) {
        for (i = 0; i < N; i++) {
            first[i] = (float)(rng_unif(&seed) * 4.0 - 2.0);
            decay[i] = (float)(-exp(rng_unif(&seed) * 6.0 - 3.0));
            for (twin = 0; twin < 2; twin++)
                state[twin][0][i] = 0.0f, state[twin][1][i] = 0.0f, state[twin][2][i] = -1e30f;
        }
        for (step = 0; step < STEPS; step++) {
            for (i = 0; i < N; i++) {
                k[i] = (float)(rng_unif(&seed) * 20.0 - 10.0);
                v[i] = (float)(rng_unif(&seed) * 2.0 - 1.0);
                r[i] = (float)(rng_unif(&seed) * 200.0 - 100.0); /* past e^88 both ways */
            }
            rwkv__wkv4_step_plain(k, v, r, first, decay, state[0][0], state[0][1], state[0][2], out[0], width);
            simd->wkv4_step(k, v, r, first, decay, state[1][0], state[1][1], state[1][2], out[1], width);
            /* |v| <= 1, so |wkv| <= 1 and |aa| <= bb: out and aa are held
               to a bound on their size, as they may cancel to near 0 */
            for (i = 0; i < width; i++) {
                worst = fmax(worst, fabs((double)out[0][i] - out[1][i]));
                worst = fmax(worst, fabs((double)state[0][0][i] - state[1][0][i]) / state[0][1][i]);
                worst = fmax(worst, fabs((double)state[0][1][i] - state[1][1][i]) / state[0][1][i]);
                worst = fmax(worst, fabs((double)state[0][2][i] - state[1][2][i]));
            }
            for (i = 0; i < width; i++) y[0][i] = y[1][i] = v[i];
            rwkv__gate_sigmoid_plain(y[0], r, (size_t)width);
            simd->gate_sigmoid(y[1], r, (size_t)width);
            for (i = 0; i < width; i++) worst = fmax(worst, fabs((double)y[0][i] - y[1][i]) / (fabs((double)y[0][i]) + 1e-30));
        }
    }
    CHECKF(worst <= 1e-5, "%s WKV-4 step / sigmoid gate: worst relative difference %g", simd->name, worst);
    if (getenv("RWKV_TEST_VERBOSE")) printf("  %s WKV-4 step / sigmoid gate: worst difference %.3g\n", simd->name, worst);
}
#endif

#if defined(RWKV__AVX2) || defined(RWKV__NEON)
/* The matrix-state updates of RWKV-5/6 and RWKV-7: SIMD twin against
   plain C through 30 tokens from a zero state, head sizes 1 to 24 (every
   tail of 8 and 16 lanes) and 64, within float rounding: each output and
   state value to 1e-5 of the largest of its kind, as sums of products of
   both signs may cancel to near 0. */
static void test_state_twins(const simd_twins *simd) {
    enum { MAXN = 64, STEPS = 30 };
    static float S[2][MAXN * MAXN], y[2][MAXN];
    float r[MAXN], k[MAXN], v[MAXN], w[MAXN], u[MAXN], kk[MAXN], a[MAXN];
    rng_t seed = {777};
    int size, N, version, step, i, twin;
    double worst = 0.0;
    for (version = 5; version <= 7; version += 2)
        for (size = 1; size <= 25; size++) {
            double err_y = 0.0, err_s = 0.0, max_y = 1e-30, max_s = 1e-30;
            N = size <= 24 ? size : MAXN;
            for (twin = 0; twin < 2; twin++) memset(S[twin], 0, sizeof(float) * (size_t)N * (size_t)N);
            for (step = 0; step < STEPS; step++) {
                double norm = 0.0;
                for (i = 0; i < N; i++) {
                    r[i] = (float)(rng_unif(&seed) * 2.0 - 1.0);
                    k[i] = (float)(rng_unif(&seed) * 2.0 - 1.0);
                    v[i] = (float)(rng_unif(&seed) * 2.0 - 1.0);
                    w[i] = (float)(0.6 + 0.4 * rng_unif(&seed));
                    u[i] = (float)(rng_unif(&seed) * 2.0 - 1.0);
                    kk[i] = (float)(rng_unif(&seed) * 2.0 - 1.0);
                    a[i] = (float)rng_unif(&seed);
                    norm += (double)kk[i] * kk[i];
                }
                for (i = 0; i < N; i++) kk[i] = (float)(kk[i] / sqrt(norm)); /* unit length, as in v7 */
                if (version == 5) {
                    rwkv__wkv5_token_plain(S[0], r, k, v, w, u, y[0], N);
                    simd->wkv5_token(S[1], r, k, v, w, u, y[1], N);
                } else {
                    rwkv__wkv7_token_plain(S[0], r, k, v, kk, w, a, y[0], N);
                    simd->wkv7_token(S[1], r, k, v, kk, w, a, y[1], N);
                }
                for (i = 0; i < N; i++) {
                    err_y = fmax(err_y, fabs((double)y[0][i] - y[1][i]));
                    max_y = fmax(max_y, fabs((double)y[0][i]));
                }
                for (i = 0; i < N * N; i++) {
                    err_s = fmax(err_s, fabs((double)S[0][i] - S[1][i]));
                    max_s = fmax(max_s, fabs((double)S[0][i]));
                }
            }
            worst = fmax(worst, fmax(err_y / max_y, err_s / max_s));
        }
    CHECKF(worst <= 1e-5, "%s WKV-5/7 state update: worst relative difference %g", simd->name, worst);
    if (getenv("RWKV_TEST_VERBOSE")) printf("  %s WKV-5/7 state update: worst difference %.3g\n", simd->name, worst);
}
#endif

static void test_simd_kernels(void) {
    g_section = "simd kernels";
    test_wide_matvec();
#if defined(RWKV__AVX2) || defined(RWKV__NEON)
    {
        size_t i;
        for (i = 0; i < sizeof(k_simd_twins) / sizeof(k_simd_twins[0]); i++) {
            test_simd_twins(&k_simd_twins[i]);
            test_quantize_block_twin(&k_simd_twins[i]);
            test_exp_twins(&k_simd_twins[i]);
            test_state_twins(&k_simd_twins[i]);
        }
        test_vector_exp(k_simd_twins[0].name);
    }
#ifdef RWKV__AVX2
    test_int8_prefill_twins();
    test_pack_columns_twin();
#endif
#else
    printf("  (plain C build: no SIMD kernels to compare)\n");
#endif
}

/* The model that ships with the repo (examples/models): it loads, and a
   fixed seed gives a fixed continuation. The expected texts were produced
   by this code when the model was added; they pin down the whole chain
   (loader, Q8_0 kernels, sampler, generator) against silent changes. */
static void generate_text(rwkv_state *state, rwkv_sampler *sampler, const char *prompt, int n,
                          char *out) {
    int32_t tokens[64];
    float logits[256];
    size_t n_tokens;
    int i;
    rwkv_state_reset(state);
    rwkv_sampler_reset(sampler);
    CHECK_RC(rwkv_tokenize(rwkv_model_tokenizer(state->model), prompt, strlen(prompt),
                           tokens, 64, &n_tokens, NULL), RWKV_OK);
    CHECK_RC(rwkv_eval_sequence(state, tokens, n_tokens, logits, NULL), RWKV_OK);
    for (i = 0; i < n; i++) {
        int32_t t = rwkv_sampler_sample(sampler, logits);
        out[i] = (char)t;
        CHECK_RC(rwkv_eval(state, t, logits, NULL), RWKV_OK);
    }
    out[n] = 0;
}

/* One shipped model: its shape, and the continuations of "ROMEO:" greedy
   and sampled (temperature 0.8, top-p 0.9, seed 42), 64 bytes each. */
static void check_shipped_model(const char *path, int version, int n_layer, int n_embd,
                                const char *expected_greedy, const char *expected_sampled) {
    rwkv_model *model = NULL;
    rwkv_state *state = NULL;
    rwkv_sampler *greedy = NULL, *sampled = NULL;
    rwkv_sampler_params params = rwkv_sampler_default_params();
    rwkv_model_info info;
    char first[65], second[65];
    rwkv_error error;
    if (rwkv_model_load_file(&model, path, &error) != RWKV_OK) {
        CHECKF(0, "shipped model %s: %s", path, error.message);
        return;
    }
    rwkv_model_get_info(model, &info);
    CHECKF(info.version == version && info.n_layer == n_layer && info.n_embd == n_embd && info.n_vocab == 256,
           "%s: version %d, %d layers, %d wide", path, info.version, info.n_layer, info.n_embd);
    CHECK(rwkv_model_tokenizer(model) != NULL);
    CHECK_RC(rwkv_state_create(model, &state, NULL), RWKV_OK);
    params.temperature = 0.0f;
    CHECK_RC(rwkv_sampler_create(&greedy, 256, &params, NULL), RWKV_OK);
    params.temperature = 0.8f;
    params.top_p = 0.9f;
    params.seed = 42;
    CHECK_RC(rwkv_sampler_create(&sampled, 256, &params, NULL), RWKV_OK);
    generate_text(state, greedy, "ROMEO:", 64, first);
    CHECKF(!strcmp(first, expected_greedy), "%s greedy continuation:\n%s", path, first);
    generate_text(state, sampled, "ROMEO:", 64, first);
    generate_text(state, sampled, "ROMEO:", 64, second);
    CHECKF(!strcmp(first, second), "same seed, other text:\n%s\n%s", first, second);
    CHECKF(!strcmp(first, expected_sampled), "%s seeded continuation:\n%s", path, first);
    rwkv_sampler_free(greedy);
    rwkv_sampler_free(sampled);
    rwkv_state_free(state);
    rwkv_model_free(model);
}

static void test_shipped_model(void) {
    g_section = "shipped model";
    check_shipped_model("examples/models/rwkv4-shakespeare.gguf", 4, 6, 192,
                        "\nThe seas of the world is so state of the world,\nThat we shall b",
                        "\nI do remove your brother, for our resolve\nOf this to be such a ");
    check_shipped_model("examples/models/rwkv7-shakespeare.gguf", 7, 4, 192,
                        "\nI will be so so that I have seen to me.\n\nJULIET:\nI will not see",
                        "\nI have my hate that thou dost go with him laugh:\nMy liege, hath");
}

int main(void) {
    g_verbose = getenv("RWKV_TEST_VERBOSE") != NULL;
    RUN(test_basics);
    RUN(test_quantize_row);
    RUN(test_simd_kernels);
    RUN(test_forward);
    RUN(test_load_file);
    RUN(test_eval_api);
    RUN(test_sequence_mode);
    RUN(test_state);
    RUN(test_tensor_table);
    RUN(test_tokenizer_world);
    RUN(test_tokenizer_malformed);
    RUN(test_tokenizer_bytes_and_models);
    RUN(test_utf8_stream);
    RUN(test_sampler);
    RUN(test_malformed_gguf);
    RUN(test_malformed_bin);
    RUN(test_shipped_model);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
