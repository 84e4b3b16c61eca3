/* tests/test_versions.c - RWKV-5.1, 5.2, 6 and 7 in rwkv.h against
 * independent double-precision references.
 *
 *     cc -O2 -std=c11 -Wall -Wextra -pedantic -Werror -march=native -fopenmp \
 *        -I. -o bin/test_versions tests/test_versions.c -lm && ./bin/test_versions
 *
 * Self-contained: reads no file. Every model is generated here from a fixed
 * seed, written as GGUF with tools/gguf_writer.h in the layouts rwkv.h reads
 * (README.md "GGUF layout": our `rwkv5`, llama.cpp's `rwkv6` and `rwkv7`),
 * and loaded with rwkv_model_load_memory (from a 32-byte aligned buffer, so
 * the weights are used in place).
 *
 * The references below are written from the official equations of each
 * version as ../shared/docs/rwkv-math.md states them (not from rwkv.h):
 * plain loops in double precision over the values the file stores. Matrices
 * are computed on exactly the values rwkv.h sees (encoded with
 * rwkv_quantize_row and decoded with rwkv_dequantize_row), so a weight type
 * adds no error of its own: whatever differs is float32 rounding or a bug.
 *
 * Covered, for every version, on models of several shapes (head sizes 4 to
 * 64, 1 to 8 heads, 1 to 4 layers, vocabularies 77, 256 and 2053, channel
 * mixes of 3.5C rounded down to 32 and 4C) and every weight type (all eight
 * on one shape per version, F32 and a quantized type on the others):
 *   - every logit of 20 tokens evaluated one by one (rwkv_eval);
 *   - sequence mode: 40 tokens in one rwkv_eval_sequence (one chunk: panels
 *     of 32 and 16 tokens), and 5 single tokens then 35 in sequence, at the last token;
 *   - the final recurrent state, float by float, in the documented layout
 *     (per layer: att x, H matrices N x N, ffn x);
 *   - state export/import: the imported state continues exactly like the
 *     original, and like the reference;
 *   - rwkv_state_set_threads(state, 2): the same logits and state;
 *   - v6: rescale_every_n_layers = 2 with pre-divided weights, against the
 *     reference of that file (halving at run time) and the unscaled model;
 *   - v7: layer 0's v0/v1/v2 are dummies (copies of a0/a1/a2 in llama.cpp
 *     files): replacing them or leaving them out changes nothing, while
 *     changing layer 1's v0 does;
 *   - the same model written in other accepted ways (v6 lerps unfused,
 *     lerp vectors as {C,1,1}, a buffer that is not 32-byte aligned) gives
 *     the same logits bit for bit.
 *
 * Output: one line per failed check, then exactly one final line
 * "N passed, N failed"; exit status 1 if anything failed.
 * RWKV_TEST_VERBOSE=1 prints the errors of every case and a table of the
 * largest errors per version and weight type.
 */
#define RWKV_IMPLEMENTATION
#include "rwkv.h"
#include "tools/gguf_writer.h"
#include "tools/synthetic.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ======================================================================== */
/* A tiny test framework                                                     */
/* ======================================================================== */

static int g_pass, g_fail;
static int g_verbose;
static char g_case[160] = ""; /* the case being run, printed with failures */

static void check_(int ok, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    if (ok) {
        g_pass++;
        return;
    }
    g_fail++;
    if (g_fail > 200) return; /* enough to diagnose; the count still grows */
    printf("%s:%d: FAIL [%s] ", file, line, g_case);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

#define CHECK(c) check_(!!(c), __FILE__, __LINE__, "%s", #c)
#define CHECKF(c, ...) check_(!!(c), __FILE__, __LINE__, __VA_ARGS__)

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        printf("out of memory\n");
        exit(3);
    }
    return p;
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        printf("out of memory\n");
        exit(3);
    }
    return p;
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
static double rng_normal(rng_t *r) { /* Box-Muller */
    double u1 = (double)((rng_next(r) >> 11) + 1) * (1.0 / 9007199254740993.0), u2 = rng_unif(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ======================================================================== */
/* Weight types                                                              */
/* ======================================================================== */

enum { TI_F32, TI_F16, TI_BF16, TI_Q8_0, TI_Q4_0, TI_Q4_1, TI_Q5_0, TI_Q5_1, N_TYPES };
static const int k_types[N_TYPES] = {RWKV_TYPE_F32,  RWKV_TYPE_F16,  RWKV_TYPE_BF16, RWKV_TYPE_Q8_0,
                                     RWKV_TYPE_Q4_0, RWKV_TYPE_Q4_1, RWKV_TYPE_Q5_0, RWKV_TYPE_Q5_1};
#define TM(ti) (1u << (ti))
#define ALL_TYPES ((1u << N_TYPES) - 1u)

/* general.file_type (llama.cpp's LlamaFileType) of a model of this type. */
static uint32_t file_type_of(int type) {
    switch (type) {
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

/* ======================================================================== */
/* Synthetic models                                                          */
/* ======================================================================== */

/* A model's shape. */
typedef struct spec {
    int version, minor; /* 5.1, 5.2, 6.0, 7.0 */
    int N, H, L, F, V;  /* head size, heads, layers, channel-mix size, vocabulary */
    int r[4];           /* LoRA ranks: v6 {D (token shift), D2 (decay)}; v7 {Dw, Da, Dv, Dg} */
    unsigned types;     /* weight types to test (TM bits) */
    uint64_t seed;
} spec;

/* One tensor under its GGUF name, ne in ggml order. val: the values the
   model computes with (the stored bytes decoded); raw: the stored bytes. */
typedef struct tens {
    char name[64];
    int type, n_dims;
    int64_t ne[4];
    float *val;
    unsigned char *raw;
    size_t n_bytes;
    int omit; /* kept for the reference, left out of the file */
} tens;

typedef struct synth {
    spec s;
    int C, type;
    int rescale;  /* v6: rescale_every_n_layers written, weights pre-divided */
    int n, cap;
    tens *t;
} synth;

/* Variations of a v7 model: layer 0's value-residual tensors random
   instead of copies of a0/a1/a2, or left out (they must be ignored);
   layer 1's v0 changed (it must not be). */
enum { VAR_NONE = 0, VAR_RANDOM_DUMMIES = 1, VAR_LAYER1_V0 = 2, VAR_NO_DUMMIES = 4 };

/* Other ways of writing the same model: v6's token-shift mixes as five
   tensors time_mix_lerp_w/k/v/r/g instead of the fused one; the lerp
   vectors as {C,1,1} (the shape llama.cpp asks for) instead of {C}. */
enum { VAR_UNFUSED = 8, VAR_3D_LERPS = 16 };

static const char *lname(int l, const char *suffix) {
    static char name[64];
    snprintf(name, sizeof name, "blk.%d.%s", l, suffix);
    return name;
}

/* Store n_dims/ne values of src (in ggml order) as `type`. */
static void put(synth *m, const char *name, int type, const float *src, int n_dims, int64_t ne0,
                int64_t ne1, int64_t ne2, int64_t ne3) {
    tens *t;
    size_t n = (size_t)(ne0 * ne1 * ne2 * ne3);
    if (m->n == m->cap) {
        printf("internal: too many tensors\n");
        exit(2);
    }
    t = &m->t[m->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->n_dims = n_dims;
    t->ne[0] = ne0, t->ne[1] = ne1, t->ne[2] = ne2, t->ne[3] = ne3;
    t->n_bytes = rwkv_type_size(type, n);
    t->raw = (unsigned char *)xmalloc(t->n_bytes);
    t->val = (float *)xmalloc(n * sizeof(float));
    if (!t->n_bytes || rwkv_quantize_row(type, src, (int64_t)n, t->raw) != t->n_bytes ||
        rwkv_dequantize_row(type, t->raw, (int64_t)n, t->val) != t->n_bytes) {
        printf("internal: cannot encode %s as %s\n", name, rwkv_type_name(type));
        exit(2);
    }
}

static float *gen_normal(rng_t *r, size_t n, double sd) {
    float *x = (float *)xmalloc(n * sizeof(float));
    size_t i;
    for (i = 0; i < n; i++) x[i] = (float)(sd * rng_normal(r));
    return x;
}

static float *gen_unif(rng_t *r, size_t n, double lo, double hi) {
    float *x = (float *)xmalloc(n * sizeof(float));
    size_t i;
    for (i = 0; i < n; i++) x[i] = (float)rng_range(r, lo, hi);
    return x;
}

/* A vector of n uniform values in [lo, hi), stored F32 as {n}. */
static void vec(synth *m, rng_t *r, const char *name, int n, double lo, double hi) {
    float *x = gen_unif(r, (size_t)n, lo, hi);
    put(m, name, RWKV_TYPE_F32, x, 1, n, 1, 1, 1);
    free(x);
}

/* A layer norm: weight near 1, small bias. */
static void norm(synth *m, rng_t *r, const char *prefix) {
    char name[64];
    snprintf(name, sizeof name, "%s.weight", prefix);
    vec(m, r, name, m->C, 0.7, 1.3);
    snprintf(name, sizeof name, "%s.bias", prefix);
    vec(m, r, name, m->C, -0.2, 0.2);
}

/* A matrix of n_out rows of n_in values (ne {n_in, n_out}), each value
   N(0, gain / sqrt(n_in)), so outputs have about the size of the inputs
   times gain; every value then divided by `div`. */
static void mat(synth *m, rng_t *r, const char *name, int type, int n_in, int n_out, double gain,
                double div) {
    size_t n = (size_t)n_in * (size_t)n_out, i;
    float *x = gen_normal(r, n, gain / sqrt((double)n_in));
    for (i = 0; i < n; i++) x[i] = (float)(x[i] / div);
    put(m, name, type, x, 2, n_in, n_out, 1, 1);
    free(x);
}

/* The official decay initialisation shape: lo + (hi-lo) * (i/(n-1))^p,
   with some noise (trained decays are not smooth). */
static float *gen_decay(rng_t *r, int n, double lo, double hi, double p) {
    float *x = (float *)xmalloc((size_t)n * sizeof(float));
    int i;
    for (i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * pow(n > 1 ? (double)i / (n - 1) : 0.5, p) + rng_range(r, -0.5, 0.5));
    return x;
}

/* v5.2/v6 bonus u (time_faaaa): the official init ratio*(1-i/(C-1)) +
   ((i+1)%3-1)*0.1, plus noise. */
static float *gen_faaaa(rng_t *r, int n, double ratio) {
    float *x = (float *)xmalloc((size_t)n * sizeof(float));
    int i;
    for (i = 0; i < n; i++)
        x[i] = (float)(ratio * (1.0 - (n > 1 ? (double)i / (n - 1) : 0.0)) + ((i + 1) % 3 - 1) * 0.1 +
                       rng_range(r, -0.2, 0.2));
    return x;
}

/* The type of v7's a/v/g LoRA matrices: llama.cpp's converter forces only
   w1/w2 to F32, so these follow a float output type, and llama-quantize
   leaves them as they are (F16) in quantized files. */
static int v7_lora_type(int type) {
    return type == RWKV_TYPE_F32 || type == RWKV_TYPE_F16 || type == RWKV_TYPE_BF16 ? type : RWKV_TYPE_F16;
}

static synth *synth_build(const spec *s, int type, int rescale, int variant) {
    synth *m = (synth *)xcalloc(1, sizeof(synth));
    const int N = s->N, H = s->H, C = N * H, L = s->L, F = s->F, V = s->V;
    rng_t r;
    int l, i;
    m->s = *s;
    m->C = C;
    m->type = type;
    m->rescale = rescale;
    m->cap = 8 + 40 * L;
    m->t = (tens *)xcalloc((size_t)m->cap, sizeof(tens));
    for (i = 0; i < 4; i++)
        if (s->r[i] > 64) { /* the reference's LoRA buffers */
            printf("internal: LoRA rank %d > 64\n", s->r[i]);
            exit(2);
        }
    r.s = s->seed; /* the same values for every type, rescale and variant */
    mat(m, &r, "token_embd.weight", type, C, V, sqrt((double)C), 1.0); /* N(0,1) */
    norm(m, &r, "token_embd_norm");
    for (l = 0; l < L; l++) {
        /* v6 files from HF divide these two by 2^(l / rescale) */
        double div = rescale ? (double)(1 << (l / rescale)) : 1.0;
        double ratio = L > 1 ? (double)l / (L - 1) : 0.5;
        float *x;
        char prefix[32];
        snprintf(prefix, sizeof prefix, "blk.%d.attn_norm", l);
        norm(m, &r, prefix);
        snprintf(prefix, sizeof prefix, "blk.%d.attn_norm_2", l);
        norm(m, &r, prefix);
        mat(m, &r, lname(l, "time_mix_key.weight"), type, C, C, 1.0, 1.0);
        {   /* heads of different strengths: the group norm's eps matters on
               the weak ones, as in trained models */
            size_t n = (size_t)C * (size_t)C, j;
            x = gen_normal(&r, n, 1.0 / sqrt((double)C));
            for (j = 0; j < n; j++) {
                int h = (int)(j / (size_t)C) / N;
                x[j] = (float)(x[j] * pow(0.03, H > 1 ? (double)h / (H - 1) : 0.0));
            }
            put(m, lname(l, "time_mix_value.weight"), type, x, 2, C, C, 1, 1);
            free(x);
        }
        mat(m, &r, lname(l, "time_mix_receptance.weight"), type, C, C, 1.0, 1.0);
        mat(m, &r, lname(l, "time_mix_output.weight"), type, C, C, 1.0, div);
        vec(m, &r, lname(l, "time_mix_ln.weight"), C, 0.5, 1.5);
        vec(m, &r, lname(l, "time_mix_ln.bias"), C, -0.3, 0.3);
        mat(m, &r, lname(l, "channel_mix_key.weight"), type, C, F, 1.0, 1.0);
        mat(m, &r, lname(l, "channel_mix_value.weight"), type, F, C, 1.0, div);
        vec(m, &r, lname(l, "channel_mix_lerp_k.weight"), C, 0.0, 1.0);
        if (s->version <= 6) {
            mat(m, &r, lname(l, "channel_mix_receptance.weight"), type, C, C, 1.0, 1.0);
            vec(m, &r, lname(l, "channel_mix_lerp_r.weight"), C, 0.0, 1.0);
        }
        if (s->version == 5) {
            vec(m, &r, lname(l, "time_mix_lerp_k.weight"), C, 0.0, 1.0);
            vec(m, &r, lname(l, "time_mix_lerp_v.weight"), C, 0.0, 1.0);
            vec(m, &r, lname(l, "time_mix_lerp_r.weight"), C, 0.0, 1.0);
            if (s->minor == 1) {
                /* one raw decay per head; the bonus as used, exp(time_first) */
                x = gen_decay(&r, H, -6.0, 0.5, 0.9);
                put(m, lname(l, "time_mix_decay.weight"), RWKV_TYPE_F32, x, 1, H, 1, 1, 1);
                free(x);
                x = gen_unif(&r, (size_t)H, -1.5, 0.5);
                for (i = 0; i < H; i++) x[i] = (float)exp(x[i]);
                put(m, lname(l, "time_mix_first.weight"), RWKV_TYPE_F32, x, 1, H, 1, 1, 1);
                free(x);
            } else {
                x = gen_decay(&r, C, -6.0, 1.0, 0.7 + 1.3 * ratio);
                put(m, lname(l, "time_mix_decay.weight"), RWKV_TYPE_F32, x, 1, C, 1, 1, 1);
                free(x);
                x = gen_faaaa(&r, C, ratio);
                put(m, lname(l, "time_mix_first.weight"), RWKV_TYPE_F32, x, 1, C, 1, 1, 1);
                free(x);
                vec(m, &r, lname(l, "time_mix_lerp_g.weight"), C, 0.0, 1.0);
                mat(m, &r, lname(l, "time_mix_gate.weight"), type, C, C, 1.0, 1.0);
            }
        } else if (s->version == 6) {
            const int D = s->r[0], D2 = s->r[1];
            vec(m, &r, lname(l, "time_mix_lerp_x.weight"), C, 0.0, 1.0);
            x = gen_unif(&r, (size_t)(5 * C), 0.0, 1.0); /* w, k, v, r, g */
            put(m, lname(l, "time_mix_lerp_fused.weight"), RWKV_TYPE_F32, x, 4, C, 1, 1, 5);
            free(x);
            mat(m, &r, lname(l, "time_mix_w1.weight"), RWKV_TYPE_F32, C, 5 * D, 1.0, 1.0);
            x = gen_normal(&r, (size_t)(5 * C * D), 0.5 / sqrt((double)D));
            put(m, lname(l, "time_mix_w2.weight"), RWKV_TYPE_F32, x, 3, D, C, 5, 1);
            free(x);
            x = gen_decay(&r, C, -6.0, 1.0, 0.7 + 1.3 * ratio);
            put(m, lname(l, "time_mix_decay.weight"), RWKV_TYPE_F32, x, 1, C, 1, 1, 1);
            free(x);
            mat(m, &r, lname(l, "time_mix_decay_w1.weight"), RWKV_TYPE_F32, C, D2, 1.0, 1.0);
            mat(m, &r, lname(l, "time_mix_decay_w2.weight"), RWKV_TYPE_F32, D2, C, 0.7, 1.0);
            x = gen_faaaa(&r, C, ratio);
            put(m, lname(l, "time_mix_first.weight"), RWKV_TYPE_F32, x, 2, N, H, 1, 1);
            free(x);
            mat(m, &r, lname(l, "time_mix_gate.weight"), type, C, C, 1.0, 1.0);
        } else {
            const int Dw = s->r[0], Da = s->r[1], Dv = s->r[2], Dg = s->r[3], lt = v7_lora_type(type);
            float *a0, *a1, *a2, *v0, *v1, *v2;
            size_t n1, n2;
            x = gen_unif(&r, (size_t)(6 * C), 0.0, 1.0); /* r, w, k, v, a, g */
            put(m, lname(l, "time_mix_lerp_fused.weight"), RWKV_TYPE_F32, x, 4, C, 1, 1, 6);
            free(x);
            x = gen_decay(&r, C, -6.5, 1.5, 0.85 + sqrt(ratio));
            put(m, lname(l, "time_mix_w0.weight"), RWKV_TYPE_F32, x, 1, C, 1, 1, 1);
            free(x);
            mat(m, &r, lname(l, "time_mix_w1.weight"), RWKV_TYPE_F32, C, Dw, 1.0, 1.0);
            mat(m, &r, lname(l, "time_mix_w2.weight"), RWKV_TYPE_F32, Dw, C, 1.0, 1.0);
            a0 = gen_unif(&r, (size_t)C, -1.0, 1.0);
            a1 = gen_normal(&r, (size_t)C * (size_t)Da, 1.0 / sqrt((double)C));
            a2 = gen_normal(&r, (size_t)C * (size_t)Da, 1.0 / sqrt((double)Da));
            put(m, lname(l, "time_mix_a0.weight"), RWKV_TYPE_F32, a0, 1, C, 1, 1, 1);
            put(m, lname(l, "time_mix_a1.weight"), lt, a1, 2, C, Da, 1, 1);
            put(m, lname(l, "time_mix_a2.weight"), lt, a2, 2, Da, C, 1, 1);
            /* layer 0 has no value residual: llama.cpp's converter writes
               copies of a0/a1/a2 there (shapes of Da) */
            n1 = (size_t)C * (size_t)(l == 0 ? Da : Dv);
            n2 = n1;
            v0 = gen_unif(&r, (size_t)C, -0.5, 1.5);
            v1 = gen_normal(&r, n1, 1.0 / sqrt((double)C));
            v2 = gen_normal(&r, n2, 1.0 / sqrt((double)(l == 0 ? Da : Dv)));
            if (l == 1 && (variant & VAR_LAYER1_V0))
                for (i = 0; i < C; i++) v0[i] += 0.5f;
            if (l == 0 && !(variant & VAR_RANDOM_DUMMIES)) {
                memcpy(v0, a0, sizeof(float) * (size_t)C);
                memcpy(v1, a1, sizeof(float) * n1);
                memcpy(v2, a2, sizeof(float) * n2);
            }
            if (l > 0 || !(variant & VAR_NO_DUMMIES)) {
                put(m, lname(l, "time_mix_v0.weight"), RWKV_TYPE_F32, v0, 1, C, 1, 1, 1);
                put(m, lname(l, "time_mix_v1.weight"), lt, v1, 2, C, l == 0 ? Da : Dv, 1, 1);
                put(m, lname(l, "time_mix_v2.weight"), lt, v2, 2, l == 0 ? Da : Dv, C, 1, 1);
            }
            free(a0), free(a1), free(a2), free(v0), free(v1), free(v2);
            mat(m, &r, lname(l, "time_mix_g1.weight"), lt, C, Dg, 1.0, 1.0);
            mat(m, &r, lname(l, "time_mix_g2.weight"), lt, Dg, C, 1.0, 1.0);
            vec(m, &r, lname(l, "time_mix_k_k.weight"), C, 0.5, 1.2);
            vec(m, &r, lname(l, "time_mix_k_a.weight"), C, 0.3, 1.5);
            vec(m, &r, lname(l, "time_mix_r_k.weight"), C, -0.6, 0.6);
        }
    }
    norm(m, &r, "output_norm");
    mat(m, &r, "output.weight", type, C, V, 2.0, 1.0); /* logits about N(0, 4) */
    if (variant & VAR_3D_LERPS)
        for (i = 0; i < m->n; i++)
            if (m->t[i].n_dims == 1 && strstr(m->t[i].name, "lerp")) m->t[i].n_dims = 3;
    if ((variant & VAR_UNFUSED) && s->version == 6)
        for (l = 0; l < L; l++) {
            static const char *const parts[5] = {"w", "k", "v", "r", "g"};
            int n0 = m->n, q;
            for (i = 0; i < n0; i++)
                if (!strcmp(m->t[i].name, lname(l, "time_mix_lerp_fused.weight"))) break;
            m->t[i].omit = 1;
            for (q = 0; q < 5; q++) {
                char suffix[40];
                const float *fused = m->t[i].val;
                snprintf(suffix, sizeof suffix, "time_mix_lerp_%s.weight", parts[q]);
                put(m, lname(l, suffix), RWKV_TYPE_F32, fused + (size_t)q * (size_t)C, 1, C, 1, 1, 1);
            }
        }
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

/* The values of a tensor (also one the file leaves out), or NULL if the
   model has none of that name. */
static const float *find_opt(const synth *m, const char *name) {
    int i;
    for (i = 0; i < m->n; i++)
        if (!strcmp(m->t[i].name, name)) return m->t[i].val;
    return NULL;
}

static const float *find(const synth *m, const char *name) {
    const float *v = find_opt(m, name);
    if (!v) {
        printf("internal: no tensor %s\n", name);
        exit(2);
    }
    return v;
}

static const char *arch_of(const spec *s) {
    return s->version == 5 ? "rwkv5" : s->version == 6 ? "rwkv6" : "rwkv7";
}

static void key_u32(gguf_writer *w, const char *arch, const char *suffix, uint32_t v) {
    char key[96];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    gguf_writer_add_u32(w, key, v);
}

/* An aligned copy of a GGUF image, so the weights are used in place. */
typedef struct image {
    unsigned char *base, *data;
    size_t size;
} image;

/* The model as GGUF, with the keys llama.cpp's converter writes, at an
   address 32-byte aligned plus `misalign`. */
static image synth_gguf_at(const synth *m, int misalign) {
    const spec *s = &m->s;
    const char *arch = arch_of(s);
    gguf_writer *w = gguf_writer_create();
    char key[96];
    unsigned char *bytes;
    image img;
    int i;
    if (!w) exit(3);
    gguf_writer_add_str(w, "general.architecture", arch);
    key_u32(w, arch, "context_length", 1048576);
    key_u32(w, arch, "embedding_length", (uint32_t)m->C);
    key_u32(w, arch, "block_count", (uint32_t)s->L);
    key_u32(w, arch, "feed_forward_length", (uint32_t)s->F);
    snprintf(key, sizeof key, "%s.attention.layer_norm_epsilon", arch);
    gguf_writer_add_f32(w, key, 1e-5f);
    key_u32(w, arch, "wkv.head_size", (uint32_t)s->N);
    if (s->version >= 6) key_u32(w, arch, "attention.head_count", 0);
    if (s->version == 6) {
        key_u32(w, arch, "rescale_every_n_layers", (uint32_t)m->rescale);
        key_u32(w, arch, "time_mix_extra_dim", (uint32_t)s->r[0]);
        key_u32(w, arch, "time_decay_extra_dim", (uint32_t)s->r[1]);
    }
    if (s->version == 7) {
        key_u32(w, arch, "attention.decay_lora_rank", (uint32_t)s->r[0]);
        key_u32(w, arch, "attention.iclr_lora_rank", (uint32_t)s->r[1]);
        key_u32(w, arch, "attention.value_residual_mix_lora_rank", (uint32_t)s->r[2]);
        key_u32(w, arch, "attention.gate_lora_rank", (uint32_t)s->r[3]);
    }
    gguf_writer_add_u32(w, "general.file_type", file_type_of(m->type));
    if (s->V == 256) gguf_writer_add_str(w, "tokenizer.ggml.model", "bytes");
    for (i = 0; i < m->n; i++) {
        const tens *t = &m->t[i];
        if (!t->omit) gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->raw, t->n_bytes);
    }
    bytes = gguf_writer_write_memory(w, &img.size);
    gguf_writer_free(w);
    if (!bytes) exit(3);
    img.base = (unsigned char *)xmalloc(img.size + 64);
    img.data = img.base + (32 - (uintptr_t)img.base % 32) % 32 + misalign;
    memcpy(img.data, bytes, img.size);
    free(bytes);
    return img;
}

static image synth_gguf(const synth *m) { return synth_gguf_at(m, 0); }

/* ======================================================================== */
/* The independent double-precision references (docs/rwkv-math.md)          */
/* ======================================================================== */

/* Conventions. A matrix W with ne {n_in, n_out} holds n_out rows of n_in
   values; the official model computes y = W x with it. The official LoRA
   matrices used as `x @ W` (v6 maa_w1 (C,5D), decay_w1 (C,D2), decay_w2
   (D2,C); v7 w1, w2, a1, ...) are stored transposed by llama.cpp's
   converter, which makes them such rows too: official W[i][o] is at
   o*n_in + i. v6's maa_w2, official (5, D, C), is stored as ne {D, C, 5}:
   official W2[p][d][c] is at (p*C + c)*D + d. */

/* Pointers to one layer's values, in the file's layout. */
typedef struct ref_layer {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    const float *W_k, *W_v, *W_r, *W_o, *W_g;             /* (C, C) */
    const float *lnx_w, *lnx_b;                            /* att.ln_x */
    const float *mix_k, *mix_v, *mix_r, *mix_g;            /* v5: time_mix_* */
    const float *decay, *first;                            /* v5, v6 */
    const float *maa_x, *maa, *maa_w1, *maa_w2, *decay_w1, *decay_w2; /* v6 */
    const float *x6, *w0, *w1, *w2, *a0, *a1, *a2, *v0, *v1, *v2, *g1, *g2, *k_k, *k_a, *r_k; /* v7 */
    const float *ffn_mix_k, *ffn_mix_r, *ffn_K, *ffn_V, *ffn_R;
} ref_layer;

typedef struct ref_t {
    const synth *m;
    int version, minor, C, H, N, L, F, V;
    int halve_every; /* v6 rescaled files: x *= 0.5 after every n-th layer */
    const float *emb, *ln0_w, *ln0_b, *lnout_w, *lnout_b, *head;
    ref_layer *layer;
    double *state; /* per layer: att x (C), H matrices N x N, ffn x (C) */
    size_t n_state;
    double *buf;   /* scratch */
} ref_t;

static void ref_init(ref_t *R, const synth *m) {
    const spec *s = &m->s;
    int l, widest;
    memset(R, 0, sizeof(*R));
    R->m = m;
    R->version = s->version, R->minor = s->minor;
    R->C = m->C, R->H = s->H, R->N = s->N, R->L = s->L, R->F = s->F, R->V = s->V;
    R->halve_every = m->rescale;
    R->emb = find(m, "token_embd.weight");
    R->ln0_w = find(m, "token_embd_norm.weight");
    R->ln0_b = find(m, "token_embd_norm.bias");
    R->lnout_w = find(m, "output_norm.weight");
    R->lnout_b = find(m, "output_norm.bias");
    R->head = find(m, "output.weight");
    R->layer = (ref_layer *)xcalloc((size_t)R->L, sizeof(ref_layer));
    for (l = 0; l < R->L; l++) {
        ref_layer *p = &R->layer[l];
#define GET(field, suffix) (p->field = find_opt(m, lname(l, suffix)))
        GET(ln1_w, "attn_norm.weight"), GET(ln1_b, "attn_norm.bias");
        GET(ln2_w, "attn_norm_2.weight"), GET(ln2_b, "attn_norm_2.bias");
        GET(W_k, "time_mix_key.weight"), GET(W_v, "time_mix_value.weight");
        GET(W_r, "time_mix_receptance.weight"), GET(W_o, "time_mix_output.weight");
        GET(W_g, "time_mix_gate.weight");
        GET(lnx_w, "time_mix_ln.weight"), GET(lnx_b, "time_mix_ln.bias");
        GET(mix_k, "time_mix_lerp_k.weight"), GET(mix_v, "time_mix_lerp_v.weight");
        GET(mix_r, "time_mix_lerp_r.weight"), GET(mix_g, "time_mix_lerp_g.weight");
        GET(decay, "time_mix_decay.weight"), GET(first, "time_mix_first.weight");
        GET(maa_x, "time_mix_lerp_x.weight"), GET(maa, "time_mix_lerp_fused.weight");
        GET(maa_w1, "time_mix_w1.weight"), GET(maa_w2, "time_mix_w2.weight");
        GET(decay_w1, "time_mix_decay_w1.weight"), GET(decay_w2, "time_mix_decay_w2.weight");
        GET(x6, "time_mix_lerp_fused.weight");
        GET(w0, "time_mix_w0.weight"), GET(w1, "time_mix_w1.weight"), GET(w2, "time_mix_w2.weight");
        GET(a0, "time_mix_a0.weight"), GET(a1, "time_mix_a1.weight"), GET(a2, "time_mix_a2.weight");
        GET(v0, "time_mix_v0.weight"), GET(v1, "time_mix_v1.weight"), GET(v2, "time_mix_v2.weight");
        GET(g1, "time_mix_g1.weight"), GET(g2, "time_mix_g2.weight");
        GET(k_k, "time_mix_k_k.weight"), GET(k_a, "time_mix_k_a.weight"), GET(r_k, "time_mix_r_k.weight");
        GET(ffn_mix_k, "channel_mix_lerp_k.weight"), GET(ffn_mix_r, "channel_mix_lerp_r.weight");
        GET(ffn_K, "channel_mix_key.weight"), GET(ffn_V, "channel_mix_value.weight");
        GET(ffn_R, "channel_mix_receptance.weight");
#undef GET
    }
    R->n_state = (size_t)R->L * (size_t)(2 + R->N) * (size_t)R->C; /* every vector starts at 0 */
    R->state = (double *)xcalloc(R->n_state, sizeof(double));
    widest = R->F > 5 * 64 ? R->F : 5 * 64; /* LoRA bottlenecks are <= 64 wide here */
    if (R->V > widest) widest = R->V;
    R->buf = (double *)xcalloc((size_t)(24 * R->C + 2 * widest), sizeof(double));
}

static void ref_free(ref_t *R) {
    free(R->layer);
    free(R->state);
    free(R->buf);
}

/* y = W x for W of n_out rows of n_in values (see the conventions). */
static void matvec(const float *W, int n_in, int n_out, const double *x, double *y) {
    int o, i;
    for (o = 0; o < n_out; o++) {
        double s = 0.0;
        for (i = 0; i < n_in; i++) s += (double)W[(size_t)o * (size_t)n_in + (size_t)i] * x[i];
        y[o] = s;
    }
}

/* F.layer_norm: biased variance, (x - mean) / sqrt(var + eps) * w + b. */
static void layer_norm(const double *x, int n, const float *w, const float *b, double eps, double *y) {
    double mean = 0.0, var = 0.0;
    int i;
    for (i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= n;
    for (i = 0; i < n; i++) y[i] = (x[i] - mean) / sqrt(var + eps) * w[i] + b[i];
}

/* GroupNorm(H groups, eps 64e-5) with att.ln_x's weight and bias: the
   official training code's GroupNorm(eps 1e-5) of out/8. */
static void group_norm(double *x, int H, int N, const float *w, const float *b) {
    int h;
    for (h = 0; h < H; h++) layer_norm(x + h * N, N, w + h * N, b + h * N, 64e-5, x + h * N);
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double silu(double x) { return x * sigmoid(x); }

/* The v5/v6 WKV, per head with s[i = k index][j = v index]:
       out[j] = sum_i r[i] * (u[i] * k[i] v[j] + s[i][j]);   s'[i][j] = k[i] v[j] + w[i] s[i][j]
   (w and u indexed by the k index; in v5.1 they are per head). */
static void wkv_v5(double *S, int H, int N, const double *r, const double *k, const double *v,
                   const double *w, const double *u, double *out) {
    int h, i, j;
    for (h = 0; h < H; h++) {
        double *s = S + (size_t)h * N * N;
        for (j = 0; j < N; j++) out[h * N + j] = 0.0;
        for (i = 0; i < N; i++)
            for (j = 0; j < N; j++) {
                double a = k[h * N + i] * v[h * N + j];
                out[h * N + j] += r[h * N + i] * (u[h * N + i] * a + s[i * N + j]);
                s[i * N + j] = a + w[h * N + i] * s[i * N + j];
            }
    }
}

/* RWKV-5.1 / 5.2 time mix (pip att_one_v5 / att_one_v5_1). */
static void ref_time_mix_v5(ref_t *R, const ref_layer *p, double *st, const double *xx, double *att) {
    const int C = R->C, H = R->H, N = R->N;
    double *prev = st, *S = st + C, *b = R->buf + 4 * C;
    double *kx = b, *vx = b + C, *rx = b + 2 * C, *gx = b + 3 * C, *r = b + 4 * C, *k = b + 5 * C,
           *v = b + 6 * C, *g = b + 7 * C, *w = b + 8 * C, *u = b + 9 * C, *y = b + 10 * C;
    int c;
    for (c = 0; c < C; c++) {
        kx[c] = xx[c] * p->mix_k[c] + prev[c] * (1.0 - p->mix_k[c]);
        vx[c] = xx[c] * p->mix_v[c] + prev[c] * (1.0 - p->mix_v[c]);
        rx[c] = xx[c] * p->mix_r[c] + prev[c] * (1.0 - p->mix_r[c]);
        if (R->minor == 2) gx[c] = xx[c] * p->mix_g[c] + prev[c] * (1.0 - p->mix_g[c]);
        /* w = exp(-exp(time_decay)); u stored as used. 5.1: one per head */
        if (R->minor == 1) {
            w[c] = exp(-exp((double)p->decay[c / N]));
            u[c] = p->first[c / N];
        } else {
            w[c] = exp(-exp((double)p->decay[c]));
            u[c] = p->first[c];
        }
    }
    matvec(p->W_r, C, C, rx, r); /* no sigmoid on r since v5 */
    matvec(p->W_k, C, C, kx, k);
    matvec(p->W_v, C, C, vx, v);
    if (R->minor == 2) {
        matvec(p->W_g, C, C, gx, g);
        for (c = 0; c < C; c++) g[c] = silu(g[c]);
    }
    wkv_v5(S, H, N, r, k, v, w, u, y);
    group_norm(y, H, N, p->lnx_w, p->lnx_b);
    if (R->minor == 2)
        for (c = 0; c < C; c++) y[c] *= g[c];
    matvec(p->W_o, C, C, y, att);
    for (c = 0; c < C; c++) prev[c] = xx[c];
}

/* RWKV-6 time mix (pip att_one_v6_0): data-dependent token shift and decay. */
static void ref_time_mix_v6(ref_t *R, const ref_layer *p, double *st, const double *xx, double *att) {
    const int C = R->C, H = R->H, N = R->N, D = R->m->s.r[0], D2 = R->m->s.r[1];
    double *prev = st, *S = st + C, *b = R->buf + 4 * C;
    double *sx = b, *xxx = b + C, *in = b + 2 * C /* 5 rows: w k v r g */, *r = b + 7 * C,
           *k = b + 8 * C, *v = b + 9 * C, *g = b + 10 * C, *w = b + 11 * C, *y = b + 12 * C,
           *mp = b + 13 * C, *u = b + 14 * C, *lora = b + 15 * C /* 5D <= 320 */;
    double dl[64];
    int c, q, d;
    for (c = 0; c < C; c++) {
        sx[c] = prev[c] - xx[c]; /* the difference form */
        xxx[c] = xx[c] + sx[c] * p->maa_x[c];
    }
    matvec(p->maa_w1, C, 5 * D, xxx, lora); /* xxx @ maa_w1 */
    for (d = 0; d < 5 * D; d++) lora[d] = tanh(lora[d]);
    for (q = 0; q < 5; q++) { /* m[q] = tanh(...)[q] @ maa_w2[q]; order w, k, v, r, g */
        matvec(p->maa_w2 + (size_t)q * (size_t)C * (size_t)D, D, C, lora + q * D, mp);
        for (c = 0; c < C; c++) in[q * C + c] = xx[c] + sx[c] * (p->maa[q * C + c] + mp[c]);
    }
    matvec(p->W_r, C, C, in + 3 * C, r);
    matvec(p->W_k, C, C, in + 1 * C, k);
    matvec(p->W_v, C, C, in + 2 * C, v);
    matvec(p->W_g, C, C, in + 4 * C, g);
    for (c = 0; c < C; c++) g[c] = silu(g[c]);
    matvec(p->decay_w1, C, D2, in, dl); /* tanh(wx @ decay_w1) @ decay_w2 */
    for (d = 0; d < D2; d++) dl[d] = tanh(dl[d]);
    matvec(p->decay_w2, D2, C, dl, w);
    for (c = 0; c < C; c++) {
        w[c] = exp(-exp((double)p->decay[c] + w[c]));
        u[c] = p->first[c]; /* time_faaaa (H, N) */
    }
    wkv_v5(S, H, N, r, k, v, w, u, y);
    group_norm(y, H, N, p->lnx_w, p->lnx_b);
    for (c = 0; c < C; c++) y[c] *= g[c];
    matvec(p->W_o, C, C, y, att);
    for (c = 0; c < C; c++) prev[c] = xx[c];
}

/* RWKV-7 time mix (RWKV_x070_TMix_one): the delta rule, with S[i = v index][j = k index]. */
static void ref_time_mix_v7(ref_t *R, const ref_layer *p, int layer, double *st, const double *xx,
                            double *att, double *v_first) {
    const int C = R->C, H = R->H, N = R->N;
    const int Dw = R->m->s.r[0], Da = R->m->s.r[1], Dv = R->m->s.r[2], Dg = R->m->s.r[3];
    double *prev = st, *S = st + C, *b = R->buf + 4 * C;
    double *sx = b, *in = b + C /* 6 rows: r w k v a g */, *r = b + 7 * C, *k = b + 8 * C,
           *v = b + 9 * C, *w = b + 10 * C, *a = b + 11 * C, *g = b + 12 * C, *kk = b + 13 * C,
           *y = b + 14 * C, *tmp = b + 15 * C;
    double lora[64];
    int c, q, h, i, j, d;
    for (c = 0; c < C; c++) sx[c] = prev[c] - xx[c];
    for (q = 0; q < 6; q++)
        for (c = 0; c < C; c++) in[q * C + c] = xx[c] + sx[c] * p->x6[q * C + c];
    matvec(p->W_r, C, C, in + 0 * C, r);
    matvec(p->W_k, C, C, in + 2 * C, k);
    matvec(p->W_v, C, C, in + 3 * C, v);
    /* w = w0 + tanh(xw @ w1) @ w2 */
    matvec(p->w1, C, Dw, in + 1 * C, lora);
    for (d = 0; d < Dw; d++) lora[d] = tanh(lora[d]);
    matvec(p->w2, Dw, C, lora, w);
    /* a = sigmoid(a0 + (xa @ a1) @ a2) */
    matvec(p->a1, C, Da, in + 4 * C, lora);
    matvec(p->a2, Da, C, lora, a);
    /* g = sigmoid(xg @ g1) @ g2 */
    matvec(p->g1, C, Dg, in + 5 * C, lora);
    for (d = 0; d < Dg; d++) lora[d] = sigmoid(lora[d]);
    matvec(p->g2, Dg, C, lora, g);
    for (c = 0; c < C; c++) {
        w[c] = exp(-0.606531 * sigmoid(p->w0[c] + w[c]));
        a[c] = sigmoid(p->a0[c] + a[c]);
        kk[c] = k[c] * p->k_k[c];
        k[c] = k[c] * (1.0 + (a[c] - 1.0) * p->k_a[c]);
    }
    for (h = 0; h < H; h++) { /* F.normalize per head */
        double n2 = 0.0, nrm;
        for (j = 0; j < N; j++) n2 += kk[h * N + j] * kk[h * N + j];
        nrm = sqrt(n2) > 1e-12 ? sqrt(n2) : 1e-12;
        for (j = 0; j < N; j++) kk[h * N + j] /= nrm;
    }
    if (layer == 0) {
        for (c = 0; c < C; c++) v_first[c] = v[c];
    } else { /* v += (v_first - v) * sigmoid(v0 + (xv @ v1) @ v2) */
        matvec(p->v1, C, Dv, in + 3 * C, lora);
        matvec(p->v2, Dv, C, lora, tmp);
        for (c = 0; c < C; c++) v[c] += (v_first[c] - v[c]) * sigmoid(p->v0[c] + tmp[c]);
    }
    for (h = 0; h < H; h++) {
        double *s = S + (size_t)h * N * N, bonus = 0.0;
        const int o = h * N;
        for (i = 0; i < N; i++) {
            double sa = 0.0, out = 0.0;
            for (j = 0; j < N; j++) sa += s[i * N + j] * kk[o + j];
            for (j = 0; j < N; j++) {
                s[i * N + j] = s[i * N + j] * w[o + j] - sa * kk[o + j] * a[o + j] + v[o + i] * k[o + j];
                out += s[i * N + j] * r[o + j];
            }
            y[o + i] = out;
        }
        for (j = 0; j < N; j++) bonus += r[o + j] * k[o + j] * p->r_k[o + j];
        tmp[h] = bonus;
    }
    group_norm(y, H, N, p->lnx_w, p->lnx_b);
    for (c = 0; c < C; c++) y[c] = (y[c] + tmp[c / N] * v[c]) * g[c];
    matvec(p->W_o, C, C, y, att);
    for (c = 0; c < C; c++) prev[c] = xx[c];
}

/* Channel mix: v5 lerps x*m + prev*(1-m); v6 and v7 x + (prev-x)*m;
   sigmoid(W_r rx) * W_v relu(W_k kx)^2, without receptance in v7. */
static void ref_channel_mix(ref_t *R, const ref_layer *p, double *prev, const double *xx, double *ffn) {
    const int C = R->C, F = R->F;
    double *b = R->buf + 4 * C, *kx = b, *rx = b + C, *r = b + 2 * C, *hid = R->buf + 24 * C;
    int c;
    for (c = 0; c < C; c++) {
        if (R->version == 5) {
            kx[c] = xx[c] * p->ffn_mix_k[c] + prev[c] * (1.0 - p->ffn_mix_k[c]);
            rx[c] = xx[c] * p->ffn_mix_r[c] + prev[c] * (1.0 - p->ffn_mix_r[c]);
        } else {
            kx[c] = xx[c] + (prev[c] - xx[c]) * p->ffn_mix_k[c];
            if (R->version == 6) rx[c] = xx[c] + (prev[c] - xx[c]) * p->ffn_mix_r[c];
        }
    }
    matvec(p->ffn_K, C, F, kx, hid);
    for (c = 0; c < F; c++) hid[c] = hid[c] > 0.0 ? hid[c] * hid[c] : 0.0;
    matvec(p->ffn_V, F, C, hid, ffn);
    if (R->version != 7) {
        matvec(p->ffn_R, C, C, rx, r);
        for (c = 0; c < C; c++) ffn[c] *= sigmoid(r[c]);
    }
    for (c = 0; c < C; c++) prev[c] = xx[c];
}

/* One token: x = LN0(emb[token]); per layer x += ATT(LN1(x)); x += FFN(LN2(x));
   logits = head LN_out(x). */
static void ref_eval(ref_t *R, int token, double *logits) {
    const int C = R->C, per_layer = (2 + R->N) * C;
    double *x = R->buf, *xx = R->buf + C, *out = R->buf + 2 * C, *v_first = R->buf + 3 * C;
    int l, c;
    for (c = 0; c < C; c++) x[c] = R->emb[(size_t)token * (size_t)C + (size_t)c];
    layer_norm(x, C, R->ln0_w, R->ln0_b, 1e-5, x);
    for (l = 0; l < R->L; l++) {
        const ref_layer *p = &R->layer[l];
        double *st = R->state + (size_t)l * (size_t)per_layer;
        layer_norm(x, C, p->ln1_w, p->ln1_b, 1e-5, xx);
        if (R->version == 5) ref_time_mix_v5(R, p, st, xx, out);
        else if (R->version == 6) ref_time_mix_v6(R, p, st, xx, out);
        else ref_time_mix_v7(R, p, l, st, xx, out, v_first);
        for (c = 0; c < C; c++) x[c] += out[c];
        layer_norm(x, C, p->ln2_w, p->ln2_b, 1e-5, xx);
        ref_channel_mix(R, p, st + per_layer - C, xx, out);
        for (c = 0; c < C; c++) x[c] += out[c];
        if (R->halve_every && (l + 1) % R->halve_every == 0)
            for (c = 0; c < C; c++) x[c] *= 0.5;
    }
    layer_norm(x, C, R->lnout_w, R->lnout_b, 1e-5, xx);
    matvec(R->head, C, R->V, xx, logits);
}

/* The reference over a token sequence: the logits after every token, the
   state after the first n_mid tokens and after all of them. */
typedef struct ref_run_t {
    int n, V;
    double *logits; /* n rows of V */
    double *state_mid, *state_end;
    size_t n_state;
} ref_run_t;

static ref_run_t ref_run(const synth *m, const int32_t *tok, int n, int n_mid) {
    ref_run_t rr;
    ref_t R;
    int t;
    ref_init(&R, m);
    rr.n = n;
    rr.V = R.V;
    rr.n_state = R.n_state;
    rr.logits = (double *)xmalloc(sizeof(double) * (size_t)n * (size_t)R.V);
    rr.state_mid = (double *)xmalloc(sizeof(double) * R.n_state);
    for (t = 0; t < n; t++) {
        ref_eval(&R, tok[t], rr.logits + (size_t)t * (size_t)R.V);
        if (t + 1 == n_mid) memcpy(rr.state_mid, R.state, sizeof(double) * R.n_state);
    }
    rr.state_end = R.state;
    R.state = NULL;
    ref_free(&R);
    return rr;
}

static void ref_run_free(ref_run_t *rr) {
    free(rr->logits);
    free(rr->state_mid);
    free(rr->state_end);
}

/* ======================================================================== */
/* Comparisons                                                               */
/* ======================================================================== */

/* Tolerances against the float64 reference. rwkv.h computes in float32 on
   exactly the values the reference uses, so only float32 rounding differs:
   a dot product of n <= 512 terms of size ~1 is off by ~sqrt(n) * 6e-8 ~
   1e-6 (the plain C kernels, summing in one sequence, up to n * 6e-8 in the
   worst case); layer and group norms, the exponentials of the decays, the
   WKV recurrences over 40 tokens and up to 4 layers multiply that by a
   small factor, so logits of magnitude <= ~10 come within ~1e-5. Measured
   (RWKV_TEST_VERBOSE=1): at most ~1e-5 with the AVX2 kernels and ~3e-5
   with the plain ones, the latter on steps where the reference itself is
   badly conditioned (perturbing each of its products by 1e-7 relative
   moves its logits by 7e-6 there, against ~1e-6 elsewhere). 1e-4 keeps a
   margin of 3-10x and is far below what a wrong formula, order, index or
   file transform gives: tried on the reference, a group norm eps of 1e-5
   (rwkv.cpp's) instead of 64e-5 moves logits by 2e-2 to 5, a v5 decay
   indexed by the v index, v6's k and v mixes swapped, v7's k_a left out
   or v6/v7's channel mix written as v5's by up to 6-10 (each in every
   model of that version). The state is compared relative to 1 + |x|: the
   WKV matrices grow with the tokens seen. */
#define LOGIT_TOL 1e-4
#define STATE_TOL 1e-4

static double diff_fd(const float *a, const double *b, size_t n) {
    double mx = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= mx)) mx = e == e ? e : INFINITY; /* NaN counts as infinite */
    }
    return mx;
}

static double diff_ff(const float *a, const float *b, size_t n) {
    double mx = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= mx)) mx = e == e ? e : INFINITY;
    }
    return mx;
}

static double diff_dd(const double *a, const double *b, size_t n) {
    double mx = 0.0;
    size_t i;
    for (i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > mx) mx = fabs(a[i] - b[i]);
    return mx;
}

static double diff_state(const float *a, const double *b, size_t n) {
    double mx = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (1.0 + fabs(b[i]));
        if (!(e <= mx)) mx = e == e ? e : INFINITY;
    }
    return mx;
}

static void make_tokens(int32_t *tok, int n, int V, uint64_t seed) {
    rng_t r;
    int i;
    r.s = seed;
    for (i = 0; i < n; i++) tok[i] = i > 2 && rng_int(&r, 4) == 0 ? tok[rng_int(&r, i)] : rng_int(&r, V);
}

static rwkv_model *load(const image *img) {
    rwkv_model *model = NULL;
    rwkv_error err;
    rwkv_result res = rwkv_model_load_memory(&model, img->data, img->size, &err);
    CHECKF(res == RWKV_OK, "load: %s: %s", rwkv_result_string(res), res ? err.message : "");
    return res == RWKV_OK ? model : NULL;
}

static rwkv_state *new_state(const rwkv_model *model) {
    rwkv_state *s = NULL;
    rwkv_error err;
    rwkv_result res = rwkv_state_create(model, &s, &err);
    CHECKF(res == RWKV_OK, "state_create: %s", res ? err.message : "");
    if (res != RWKV_OK) exit(2);
    return s;
}

/* rwkv_eval of tok[from..to), each step's logits into lg rows (or NULL). */
static void eval_steps(rwkv_state *s, const int32_t *tok, int from, int to, float *lg, int V) {
    rwkv_error err;
    int t;
    for (t = from; t < to; t++) {
        rwkv_result res = rwkv_eval(s, tok[t], lg ? lg + (size_t)(t - from) * (size_t)V : NULL, &err);
        CHECKF(res == RWKV_OK, "rwkv_eval step %d: %s", t, res ? err.message : "");
    }
}

static void eval_seq(rwkv_state *s, const int32_t *tok, int n, float *lg) {
    rwkv_error err;
    rwkv_result res = rwkv_eval_sequence(s, tok, (size_t)n, lg, &err);
    CHECKF(res == RWKV_OK, "rwkv_eval_sequence of %d: %s", n, res ? err.message : "");
}

/* The largest errors seen, per version (5.1, 5.2, 6, 7) and weight type. */
typedef struct errs {
    double tok, seq, state;
    int cases;
} errs;
static errs g_err[4][N_TYPES];

static int version_index(const spec *s) {
    return s->version == 5 ? s->minor - 1 : s->version - 4;
}

static const char *version_name(int vi) {
    static const char *const names[4] = {"5.1", "5.2", "6", "7"};
    return names[vi];
}

#define N_STEP 20  /* tokens compared one by one */
#define N_SEQ 40   /* tokens of the sequence runs: panels of 32 and 16 */
#define N_CONT 6   /* tokens after a state import */
#define N_SPLIT 5  /* single tokens before a sequence of N_SEQ - N_SPLIT */

static void check_info(const rwkv_model *model, const synth *m) {
    rwkv_model_info info;
    const spec *s = &m->s;
    rwkv_model_get_info(model, &info);
    CHECKF(info.version == s->version && info.version_minor == (s->version == 5 ? s->minor : 0),
           "version %d.%d, want %d.%d", info.version, info.version_minor, s->version,
           s->version == 5 ? s->minor : 0);
    CHECKF(info.n_layer == s->L && info.n_embd == m->C && info.n_vocab == s->V && info.n_ffn == s->F,
           "shape %d layers, %d wide, vocab %d, ffn %d", info.n_layer, info.n_embd, info.n_vocab, info.n_ffn);
    CHECKF(info.n_head == s->H && info.head_size == s->N, "heads %d x %d", info.n_head, info.head_size);
    CHECKF(info.state_floats == (size_t)s->L * (size_t)(2 + s->N) * (size_t)m->C, "state_floats %zu",
           info.state_floats);
    CHECKF(info.rescale_every_n_layers == m->rescale, "rescale_every_n_layers %d, want %d",
           info.rescale_every_n_layers, m->rescale);
}

/* One model against its reference: token by token, in sequence, the state,
   export/import and two threads. In lib_out, if given, the N_STEP rows of
   logits rwkv.h gave token by token. */
static void run_case(const spec *s, int ti, int rescale, float *lib_out) {
    const int type = k_types[ti], V = s->V;
    synth *m = synth_build(s, type, rescale, VAR_NONE);
    image img = synth_gguf(m);
    rwkv_model *model = load(&img);
    int32_t tok[N_SEQ];
    ref_run_t rr;
    rwkv_state *st, *st2;
    float *lg, *lg2, *one;
    const float *sd;
    float *state_step;
    unsigned char *blob;
    rwkv_model_info info;
    rwkv_error err;
    double e_tok, e_seq, e_state, e;
    size_t nf;
    errs *ge;
    snprintf(g_case, sizeof g_case, "v%d.%d N=%d H=%d L=%d F=%d V=%d %s%s", s->version,
             s->version == 5 ? s->minor : 0, s->N, s->H, s->L, s->F, s->V, rwkv_type_name(type),
             rescale ? " rescaled" : "");
    if (!model) {
        synth_free(m);
        free(img.base);
        return;
    }
    check_info(model, m);
    rwkv_model_get_info(model, &info);
    nf = info.state_floats;
    make_tokens(tok, N_SEQ, V, s->seed ^ 0x5eedull);
    rr = ref_run(m, tok, N_SEQ, N_STEP);
    CHECK(rr.n_state == nf);
    lg = (float *)xmalloc(sizeof(float) * (size_t)(N_STEP + N_CONT) * (size_t)V);
    lg2 = (float *)xmalloc(sizeof(float) * (size_t)(N_STEP + N_CONT) * (size_t)V);
    one = (float *)xmalloc(sizeof(float) * (size_t)V);

    /* token by token: every logit of every step, then the state */
    st = new_state(model);
    eval_steps(st, tok, 0, N_STEP, lg, V);
    e_tok = diff_fd(lg, rr.logits, (size_t)N_STEP * (size_t)V);
    CHECKF(e_tok <= LOGIT_TOL, "token by token: max logit error %.3g", e_tok);
    sd = rwkv_state_data(st);
    e_state = diff_state(sd, rr.state_mid, nf);
    CHECKF(e_state <= STATE_TOL, "state after %d tokens: max error %.3g", N_STEP, e_state);
    state_step = (float *)xmalloc(sizeof(float) * nf);
    memcpy(state_step, sd, sizeof(float) * nf);

    /* export/import: the copy goes on exactly as the original, and as the reference */
    blob = (unsigned char *)xmalloc(info.state_blob_size);
    CHECK(rwkv_state_export(st, blob, info.state_blob_size, &err) == RWKV_OK);
    st2 = new_state(model);
    CHECK(rwkv_state_import(st2, blob, info.state_blob_size, &err) == RWKV_OK);
    CHECK(!memcmp(rwkv_state_data(st2), sd, sizeof(float) * nf));
    eval_steps(st, tok, N_STEP, N_STEP + N_CONT, lg + (size_t)N_STEP * (size_t)V, V);
    eval_steps(st2, tok, N_STEP, N_STEP + N_CONT, lg2, V);
    e = diff_ff(lg + (size_t)N_STEP * (size_t)V, lg2, (size_t)N_CONT * (size_t)V);
    CHECKF(e == 0.0, "after import: logits differ from the original state's by %.3g", e);
    e = diff_fd(lg + (size_t)N_STEP * (size_t)V, rr.logits + (size_t)N_STEP * (size_t)V,
                (size_t)N_CONT * (size_t)V);
    CHECKF(e <= LOGIT_TOL, "after import: max logit error %.3g", e);
    if (e > e_tok) e_tok = e;
    rwkv_state_free(st2);
    free(blob);

    /* sequence mode: 40 tokens at once (panels of 32 and 16), at the last token */
    st2 = new_state(model);
    eval_seq(st2, tok, N_SEQ, one);
    e_seq = diff_fd(one, rr.logits + (size_t)(N_SEQ - 1) * (size_t)V, (size_t)V);
    CHECKF(e_seq <= LOGIT_TOL, "sequence of %d: max logit error %.3g", N_SEQ, e_seq);
    e = diff_state(rwkv_state_data(st2), rr.state_end, nf);
    CHECKF(e <= STATE_TOL, "state after a sequence of %d: max error %.3g", N_SEQ, e);
    if (e > e_state) e_state = e;
    /* ... and from a state that is not the initial one */
    rwkv_state_reset(st2);
    eval_steps(st2, tok, 0, N_SPLIT, NULL, V);
    eval_seq(st2, tok + N_SPLIT, N_SEQ - N_SPLIT, one);
    e = diff_fd(one, rr.logits + (size_t)(N_SEQ - 1) * (size_t)V, (size_t)V);
    CHECKF(e <= LOGIT_TOL, "%d tokens then a sequence of %d: max logit error %.3g", N_SPLIT,
           N_SEQ - N_SPLIT, e);
    if (e > e_seq) e_seq = e;
    e = diff_state(rwkv_state_data(st2), rr.state_end, nf);
    CHECKF(e <= STATE_TOL, "state after %d + %d tokens: max error %.3g", N_SPLIT, N_SEQ - N_SPLIT, e);
    if (e > e_state) e_state = e;

    /* two threads: the same logits and state, token by token and in sequence */
    rwkv_state_reset(st2);
    CHECK(rwkv_state_set_threads(st2, 2) == RWKV_OK);
    eval_steps(st2, tok, 0, N_STEP, lg2, V);
    e = diff_ff(lg, lg2, (size_t)N_STEP * (size_t)V);
    CHECKF(e == 0.0, "2 threads, token by token: logits differ from 1 thread's by %.3g", e);
    CHECKF(!memcmp(rwkv_state_data(st2), state_step, sizeof(float) * nf),
           "2 threads, token by token: the state differs from 1 thread's");
    {
        rwkv_state *st3 = new_state(model);
        float *one2 = (float *)xmalloc(sizeof(float) * (size_t)V);
        eval_seq(st3, tok, N_SEQ, one2);
        rwkv_state_reset(st2);
        eval_seq(st2, tok, N_SEQ, one);
        e = diff_ff(one, one2, (size_t)V);
        CHECKF(e == 0.0, "2 threads, sequence: logits differ from 1 thread's by %.3g", e);
        CHECKF(!memcmp(rwkv_state_data(st2), rwkv_state_data(st3), sizeof(float) * nf),
               "2 threads, sequence: the state differs from 1 thread's");
        rwkv_state_free(st3);
        free(one2);
    }

    if (lib_out) memcpy(lib_out, lg, sizeof(float) * (size_t)N_STEP * (size_t)V);
    ge = &g_err[version_index(s)][ti];
    if (e_tok > ge->tok) ge->tok = e_tok;
    if (e_seq > ge->seq) ge->seq = e_seq;
    if (e_state > ge->state) ge->state = e_state;
    ge->cases++;
    if (g_verbose) printf("  %-44s logits %.2e (token) %.2e (sequence), state %.2e\n", g_case, e_tok, e_seq, e_state);

    rwkv_state_free(st);
    rwkv_state_free(st2);
    rwkv_model_free(model);
    free(lg), free(lg2), free(one), free(state_step);
    ref_run_free(&rr);
    synth_free(m);
    free(img.base);
}

/* ======================================================================== */
/* The tests                                                                 */
/* ======================================================================== */

#define FLOATS (TM(TI_F32) | TM(TI_F16))

static const spec k_specs[] = {
    /* version, minor, N, H, L, F, V, LoRA ranks, types, seed */
    {5, 1, 4, 2, 1, 32, 77, {0, 0, 0, 0}, FLOATS, 0x5101},
    {5, 1, 16, 1, 2, 64, 77, {0, 0, 0, 0}, FLOATS, 0x5102},
    {5, 1, 8, 4, 2, 96, 256, {0, 0, 0, 0}, ALL_TYPES, 0x5103},
    {5, 1, 4, 8, 3, 128, 77, {0, 0, 0, 0}, TM(TI_F32) | TM(TI_Q4_0), 0x5104},
    {5, 1, 32, 4, 2, 448, 2053, {0, 0, 0, 0}, TM(TI_F32) | TM(TI_Q8_0), 0x5105},
    {5, 2, 4, 2, 1, 32, 77, {0, 0, 0, 0}, TM(TI_F32) | TM(TI_BF16), 0x5201},
    {5, 2, 16, 1, 2, 64, 77, {0, 0, 0, 0}, FLOATS, 0x5202},
    {5, 2, 8, 4, 2, 96, 256, {0, 0, 0, 0}, ALL_TYPES, 0x5203},
    {5, 2, 4, 8, 3, 128, 77, {0, 0, 0, 0}, TM(TI_F32) | TM(TI_Q4_0), 0x5204},
    {5, 2, 64, 2, 1, 448, 77, {0, 0, 0, 0}, TM(TI_F32) | TM(TI_Q5_1), 0x5205},
    {5, 2, 32, 4, 2, 448, 2053, {0, 0, 0, 0}, TM(TI_F32) | TM(TI_Q8_0), 0x5206},
    {6, 0, 4, 2, 1, 32, 77, {8, 16, 0, 0}, FLOATS, 0x6001},
    {6, 0, 16, 1, 2, 64, 77, {8, 8, 0, 0}, FLOATS, 0x6002},
    {6, 0, 8, 4, 2, 96, 256, {8, 16, 0, 0}, ALL_TYPES, 0x6003},
    {6, 0, 16, 4, 3, 224, 77, {32, 64, 0, 0}, TM(TI_F32) | TM(TI_Q5_1), 0x6004},
    {6, 0, 64, 2, 1, 448, 77, {32, 64, 0, 0}, TM(TI_F32) | TM(TI_Q4_0), 0x6005},
    {6, 0, 32, 4, 2, 448, 2053, {32, 64, 0, 0}, TM(TI_F32) | TM(TI_Q8_0), 0x6006},
    {7, 0, 4, 2, 1, 32, 77, {8, 12, 10, 16}, FLOATS, 0x7001},
    {7, 0, 16, 1, 2, 64, 77, {8, 8, 8, 8}, FLOATS, 0x7002},
    {7, 0, 8, 4, 2, 128, 256, {8, 16, 12, 24}, ALL_TYPES, 0x7003},
    {7, 0, 16, 4, 3, 224, 77, {32, 16, 24, 32}, TM(TI_F32) | TM(TI_Q4_0), 0x7004},
    {7, 0, 64, 2, 1, 512, 77, {32, 32, 16, 64}, TM(TI_F32) | TM(TI_Q5_1), 0x7005},
    {7, 0, 32, 4, 2, 448, 2053, {64, 32, 32, 64}, TM(TI_F32) | TM(TI_Q8_0), 0x7006},
};
#define N_SPECS ((int)(sizeof k_specs / sizeof k_specs[0]))

static void test_version(int version, int minor) {
    int i, ti;
    for (i = 0; i < N_SPECS; i++) {
        const spec *s = &k_specs[i];
        if (s->version != version || s->minor != minor) continue;
        for (ti = 0; ti < N_TYPES; ti++)
            if (s->types & TM(ti)) run_case(s, ti, 0, NULL);
    }
}

static void test_v5_1(void) { test_version(5, 1); }
static void test_v5_2(void) { test_version(5, 2); }
static void test_v6(void) { test_version(6, 0); }
static void test_v7(void) { test_version(7, 0); }

/* rwkv.h's logits for the first N_STEP tokens, one by one (malloc'd),
   from the model's GGUF at an address misaligned by `misalign`. */
static float *lib_logits_at(const synth *m, const int32_t *tok, int misalign) {
    image img = synth_gguf_at(m, misalign);
    rwkv_model *model = load(&img);
    float *lg = (float *)xcalloc((size_t)N_STEP * (size_t)m->s.V, sizeof(float));
    if (model) {
        rwkv_state *st = new_state(model);
        eval_steps(st, tok, 0, N_STEP, lg, m->s.V);
        rwkv_state_free(st);
        rwkv_model_free(model);
    }
    free(img.base);
    return lg;
}

static float *lib_logits(const synth *m, const int32_t *tok) { return lib_logits_at(m, tok, 0); }

/* v6 GGUFs from HF have rescale_every_n_layers (6 in the RWKV repos; 2
   here) with time_mix_output and channel_mix_value of layer l divided by
   2^(l/n), and x halved after every n-th layer at run time. run_case
   checks such a file against the reference of that very file (halving
   too); here the rescaled file must give the unscaled model's logits, up
   to what the layer norms' eps makes of a residual stream 2^k smaller
   (measured on the two references in double; well below 1e-3). */
static void test_v6_rescale(void) {
    static const spec specs[] = {
        {6, 0, 8, 4, 4, 96, 77, {8, 16, 0, 0}, TM(TI_F32) | TM(TI_Q8_0), 0x6101},
        {6, 0, 16, 2, 3, 96, 256, {8, 16, 0, 0}, TM(TI_F32), 0x6102},
    };
    int i, ti;
    for (i = 0; i < (int)(sizeof specs / sizeof specs[0]); i++) {
        const spec *s = &specs[i];
        for (ti = 0; ti < N_TYPES; ti++) {
            const int V = s->V;
            const size_t n = (size_t)N_STEP * (size_t)V;
            synth *m0, *m2;
            float *lib0, *lib2;
            int32_t tok[N_SEQ];
            ref_run_t r0, r2;
            double eps_effect, e;
            if (!(s->types & TM(ti))) continue;
            lib2 = (float *)xmalloc(sizeof(float) * n);
            run_case(s, ti, 2, lib2);
            m0 = synth_build(s, k_types[ti], 0, VAR_NONE);
            m2 = synth_build(s, k_types[ti], 2, VAR_NONE);
            make_tokens(tok, N_SEQ, V, s->seed ^ 0x5eedull); /* as run_case */
            lib0 = lib_logits(m0, tok);
            r0 = ref_run(m0, tok, N_STEP, N_STEP);
            r2 = ref_run(m2, tok, N_STEP, N_STEP);
            eps_effect = diff_dd(r0.logits, r2.logits, n);
            e = diff_ff(lib0, lib2, n);
            CHECKF(eps_effect < 1e-3, "the rescaled reference moved by %.3g", eps_effect);
            CHECKF(e <= eps_effect + LOGIT_TOL, "rescaled vs unscaled file: logits differ by %.3g "
                   "(the references by %.3g)", e, eps_effect);
            if (g_verbose)
                printf("  %-44s vs the unscaled file: %.2e (the references: %.2e)\n", g_case, e, eps_effect);
            ref_run_free(&r0);
            ref_run_free(&r2);
            synth_free(m0);
            synth_free(m2);
            free(lib0);
            free(lib2);
        }
    }
}

/* v7 layer 0 has no value residual (v_first is its own v): llama.cpp's
   converter writes copies of a0/a1/a2 as layer 0's v0/v1/v2 ("dummies").
   Random values there, or none at all, must give the same logits bit for
   bit, while a change of layer 1's v0 must show. */
static void test_v7_dummies(void) {
    static const spec specs[] = {
        {7, 0, 8, 4, 2, 128, 77, {8, 16, 12, 24}, FLOATS, 0x7101},
        {7, 0, 16, 2, 3, 96, 256, {16, 8, 32, 16}, TM(TI_Q8_0), 0x7102},
    };
    int i, ti, t;
    for (i = 0; i < (int)(sizeof specs / sizeof specs[0]); i++) {
        const spec *s = &specs[i];
        for (ti = 0; ti < N_TYPES; ti++) {
            const int V = s->V;
            const size_t n = (size_t)N_STEP * (size_t)V;
            static const int variants[3] = {VAR_RANDOM_DUMMIES, VAR_NO_DUMMIES, VAR_LAYER1_V0};
            synth *m0;
            float *lib0;
            int32_t tok[N_SEQ];
            if (!(s->types & TM(ti))) continue;
            snprintf(g_case, sizeof g_case, "v7 N=%d H=%d L=%d %s layer-0 v0/v1/v2", s->N, s->H, s->L,
                     rwkv_type_name(k_types[ti]));
            make_tokens(tok, N_SEQ, V, s->seed);
            m0 = synth_build(s, k_types[ti], 0, VAR_NONE);
            lib0 = lib_logits(m0, tok);
            {   /* the reference of the standard file, for the record */
                ref_run_t r0 = ref_run(m0, tok, N_STEP, N_STEP);
                double e = diff_fd(lib0, r0.logits, n);
                CHECKF(e <= LOGIT_TOL, "max logit error %.3g", e);
                ref_run_free(&r0);
            }
            for (t = 0; t < 3; t++) {
                synth *m1 = synth_build(s, k_types[ti], 0, variants[t]);
                float *lib1 = lib_logits(m1, tok);
                double e = diff_ff(lib0, lib1, n);
                if (variants[t] == VAR_RANDOM_DUMMIES) {
                    const float *a = find(m0, "blk.0.time_mix_v1.weight"), *b = find(m1, "blk.0.time_mix_v1.weight");
                    CHECK(a[0] != b[0] && a[1] != b[1]); /* the files do differ */
                }
                if (variants[t] == VAR_LAYER1_V0) {
                    CHECKF(e > 1e-3, "layer 1's v0 changed, and the logits moved only by %.3g", e);
                } else {
                    CHECKF(e == 0.0, "layer 0's v0/v1/v2 %s changed the logits by %.3g",
                           variants[t] == VAR_NO_DUMMIES ? "left out" : "made random", e);
                }
                if (g_verbose)
                    printf("  %-44s %-24s logits moved by %.2e\n", g_case,
                           variants[t] == VAR_RANDOM_DUMMIES ? "random layer-0 dummies"
                           : variants[t] == VAR_NO_DUMMIES ? "no layer-0 dummies" : "layer 1 v0 + 0.5", e);
                synth_free(m1);
                free(lib1);
            }
            synth_free(m0);
            free(lib0);
        }
    }
}

/* The same model written in other accepted ways gives the same logits,
   bit for bit: v6 lerps unfused, lerp vectors as {C,1,1}, and a buffer
   that is not 32-byte aligned (rwkv.h then works on an aligned copy). */
static void test_layouts(void) {
    static const spec specs[] = {
        {5, 1, 8, 4, 2, 96, 77, {0, 0, 0, 0}, TM(TI_F32), 0x5301},
        {5, 2, 8, 4, 2, 96, 77, {0, 0, 0, 0}, TM(TI_Q8_0), 0x5302},
        {6, 0, 8, 4, 2, 96, 77, {8, 16, 0, 0}, TM(TI_F32) | TM(TI_Q5_1), 0x6301},
        {7, 0, 8, 4, 2, 128, 77, {8, 16, 12, 24}, TM(TI_F32) | TM(TI_F16), 0x7301},
    };
    int i, ti, k;
    for (i = 0; i < (int)(sizeof specs / sizeof specs[0]); i++) {
        const spec *s = &specs[i];
        for (ti = 0; ti < N_TYPES; ti++) {
            const size_t n = (size_t)N_STEP * (size_t)s->V;
            synth *m0;
            float *lib0;
            int32_t tok[N_SEQ];
            if (!(s->types & TM(ti))) continue;
            snprintf(g_case, sizeof g_case, "v%d.%d N=%d H=%d L=%d %s layouts", s->version,
                     s->version == 5 ? s->minor : 0, s->N, s->H, s->L, rwkv_type_name(k_types[ti]));
            make_tokens(tok, N_SEQ, s->V, s->seed);
            m0 = synth_build(s, k_types[ti], 0, VAR_NONE);
            lib0 = lib_logits(m0, tok);
            {
                ref_run_t r0 = ref_run(m0, tok, N_STEP, N_STEP);
                double e = diff_fd(lib0, r0.logits, n);
                CHECKF(e <= LOGIT_TOL, "max logit error %.3g", e);
                ref_run_free(&r0);
            }
            for (k = 0; k < 3; k++) {
                static const char *const what[3] = {"misaligned buffer", "lerps as {C,1,1}", "unfused v6 lerps"};
                synth *m1;
                float *lib1;
                double e;
                if (k == 2 && s->version != 6) continue;
                m1 = k == 0 ? m0 : synth_build(s, k_types[ti], 0, k == 1 ? VAR_3D_LERPS : VAR_UNFUSED);
                lib1 = lib_logits_at(m1, tok, k == 0 ? 7 : 0);
                e = diff_ff(lib0, lib1, n);
                CHECKF(e == 0.0, "%s: logits differ by %.3g", what[k], e);
                if (g_verbose) printf("  %-44s %-24s logits moved by %.2e\n", g_case, what[k], e);
                if (m1 != m0) synth_free(m1);
                free(lib1);
            }
            synth_free(m0);
            free(lib0);
        }
    }
}

/* tools/synthetic.h's models (the shapes of `rwkv bench --synthetic`), at
   small sizes: each version loads with the version, head size and LoRA
   ranks it was built with, and gives finite logits, the same in sequence
   mode as token by token. */
static void test_synthetic_shapes(void) {
    static const synthetic_shape shapes[] = {
        {2, 256, 448, 300, 0, 5, 4, 0, {0, 0, 0, 0}},
        {2, 256, 448, 300, 0, 5, 5, 64, {0, 0, 0, 0}},
        {2, 256, 448, 300, 0, 6, 6, 64, {32, 64, 0, 0}},
        {3, 256, 512, 300, 0, 7, 7, 64, {32, 32, 32, 64}},
    };
    static const int types[] = {RWKV_TYPE_F32, RWKV_TYPE_F16, RWKV_TYPE_Q8_0, RWKV_TYPE_Q4_0};
    /* a chunk of 64 tokens x 256 values: the steps between the products
       split the tokens over the threads (RWKV__PARALLEL_VALUES) */
    enum { T = 64 };
    int i, ti, t, j;
    for (i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); i++)
        for (ti = 0; ti < (int)(sizeof types / sizeof types[0]); ti++) {
            synthetic_shape shape = shapes[i];
            rwkv_model *model = NULL;
            rwkv_state *a = NULL, *b = NULL;
            rwkv_model_info info;
            rwkv_error error;
            size_t size;
            unsigned char *gguf;
            int32_t tokens[T];
            float *seq, *one;
            double worst = 0.0;
            int finite = 1;
            shape.type = types[ti];
            snprintf(g_case, sizeof g_case, "synthetic.h v%d %s", shape.version, rwkv_type_name(shape.type));
            gguf = synthetic_build(&shape, &size);
            CHECKF(gguf != NULL, "synthetic_build failed");
            if (!gguf) continue;
            CHECKF(rwkv_model_load_memory(&model, gguf, size, &error) == RWKV_OK, "load: %s", error.message);
            if (!model) {
                free(gguf);
                continue;
            }
            rwkv_model_get_info(model, &info);
            CHECK(info.version == shape.version && info.n_layer == shape.n_layer &&
                  info.n_embd == shape.n_embd && info.n_ffn == shape.n_ffn && info.n_vocab == shape.n_vocab);
            CHECK(info.head_size == (shape.version >= 5 ? shape.head_size : 0));
            seq = (float *)xmalloc(sizeof(float) * (size_t)shape.n_vocab);
            one = (float *)xmalloc(sizeof(float) * (size_t)shape.n_vocab);
            for (t = 0; t < T; t++) tokens[t] = (int32_t)((t * 37 + i) % shape.n_vocab);
            CHECK(rwkv_state_create(model, &a, NULL) == RWKV_OK && rwkv_state_create(model, &b, NULL) == RWKV_OK);
            if (a && b) {
                CHECK(rwkv_eval_sequence(a, tokens, T, seq, NULL) == RWKV_OK);
                for (t = 0; t < T; t++) CHECK(rwkv_eval(b, tokens[t], one, NULL) == RWKV_OK);
                for (j = 0; j < shape.n_vocab; j++) {
                    if (!isfinite(seq[j]) || !isfinite(one[j])) finite = 0;
                    worst = fmax(worst, fabs((double)seq[j] - one[j]));
                }
                CHECKF(finite, "non-finite logits");
                CHECKF(worst <= 1e-4, "sequence vs token by token: %.3g", worst);
                /* two threads (rows and, in v5-v7, heads split) give the
                   same bits as one */
                rwkv_state_reset(b);
                CHECK(rwkv_state_set_threads(b, 2) == RWKV_OK);
                CHECK(rwkv_eval_sequence(b, tokens, T, one, NULL) == RWKV_OK);
                CHECKF(!memcmp(seq, one, sizeof(float) * (size_t)shape.n_vocab), "2 threads differ from 1");
                CHECKF(!memcmp(rwkv_state_data(a), rwkv_state_data(b),
                               sizeof(float) * info.state_floats),
                       "2 threads: the state differs from 1 thread's");
            }
            rwkv_state_free(a);
            rwkv_state_free(b);
            rwkv_model_free(model);
            free(seq);
            free(one);
            free(gguf);
        }
}

static void run_(void (*fn)(void), const char *name) {
    clock_t t0 = clock();
    int before = g_fail;
    if (g_verbose) printf("%s\n", name);
    fn();
    if (g_verbose || g_fail != before)
        printf("-- %s: %.2f s%s\n", name, (double)(clock() - t0) / CLOCKS_PER_SEC,
               g_fail != before ? ", FAILURES" : "");
}
#define RUN(fn) run_(fn, #fn)

static void print_error_table(void) {
    int vi, ti;
    printf("largest errors against the references (logits: absolute; state: relative to 1+|x|)\n");
    printf("  version  type   cases  token by token  sequence   state\n");
    for (vi = 0; vi < 4; vi++)
        for (ti = 0; ti < N_TYPES; ti++) {
            const errs *e = &g_err[vi][ti];
            if (!e->cases) continue;
            printf("  %-7s  %-5s  %5d  %14.2e  %8.2e  %8.2e\n", version_name(vi), rwkv_type_name(k_types[ti]),
                   e->cases, e->tok, e->seq, e->state);
        }
}

int main(void) {
    g_verbose = getenv("RWKV_TEST_VERBOSE") != NULL && strcmp(getenv("RWKV_TEST_VERBOSE"), "0") != 0;
    RUN(test_v5_1);
    RUN(test_v5_2);
    RUN(test_v6);
    RUN(test_v7);
    RUN(test_v6_rescale);
    RUN(test_v7_dummies);
    RUN(test_layouts);
    RUN(test_synthetic_shapes);
    if (g_verbose) print_error_table();
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
