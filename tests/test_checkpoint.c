/* tests/test_checkpoint.c - self-contained tests of tools/checkpoint.h.
 *
 *     cc -std=c11 -Wall -Wextra -pedantic -Werror -O2 -I. \
 *        -o bin/test_checkpoint tests/test_checkpoint.c -lm && ./bin/test_checkpoint
 *     cc -std=c11 -Wall -Wextra -pedantic -Werror -O1 -g -fsanitize=address,undefined \
 *        -fno-omit-frame-pointer -fno-sanitize-recover=all -I. \
 *        -o bin/test_checkpoint_san tests/test_checkpoint.c -lm && ./bin/test_checkpoint_san
 *
 * Reads no file outside the repository. Random official-layout checkpoints
 * of RWKV 4, 5.1, 5.2, 6 and 7 are made here and written in the real
 * formats: torch.save zip archives laid out as torch writes them (data.pkl
 * run by pickle protocol 2 with memo puts and gets, 64-byte aligned stored
 * entries with data descriptors, ZIP64 end records; f32, f16 and bf16
 * storages; transposed strides, shared storages with offsets, Parameters,
 * OrderedDict with _metadata) and .safetensors (single, sharded with an
 * index, and in the transformers naming). Each is converted and the GGUF
 * checked tensor by tensor, byte for byte, against one built here directly
 * from the official weights with the documented transforms (and its logits
 * against that model's), for every output type. Then hostile input:
 * truncation at many offsets, bad CRCs, forbidden pickle opcodes and
 * globals, out-of-range storages, zip-bomb size and overlap claims, deep
 * JSON nesting, random mutations: all must fail cleanly with a reason.
 *
 * Output: failures with file:line, then exactly one final line
 * "N passed, N failed". Exit status 1 if anything failed.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp, rmdir */
#endif
#define RWKV_IMPLEMENTATION
#include "rwkv.h"
#include "tools/checkpoint.h"
#include "tests/f16.h" /* an f16 conversion of its own, to check the library's */

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ======================================================================== */
/* A tiny test framework                                                     */
/* ======================================================================== */

static int g_pass, g_fail;
static const char *g_section = "";

static void check_(int ok, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    if (ok) {
        g_pass++;
        return;
    }
    g_fail++;
    if (g_fail > 300) return;
    printf("%s:%d: FAIL [%s] ", file, line, g_section);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}
#define CHECK(c) check_(!!(c), __FILE__, __LINE__, "%s", #c)
#define CHECKF(c, ...) check_(!!(c), __FILE__, __LINE__, __VA_ARGS__)

static uint64_t g_rng = 0x243F6A8885A308D3ull;
static uint64_t rnd_u64(void) {
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static float rnd_uniform(float lo, float hi) { return lo + (hi - lo) * (float)((rnd_u64() >> 40) / 16777216.0); }
static float rnd_normal(void) {
    return (rnd_uniform(0, 1) + rnd_uniform(0, 1) + rnd_uniform(0, 1) + rnd_uniform(0, 1) - 2.0f) * 1.7320508f;
}

/* ---- byte buffers ------------------------------------------------------- */

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n) cap *= 2;
        b->p = (unsigned char *)realloc(b->p, cap);
        if (!b->p) abort();
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}
static void put8(buf *b, unsigned v) {
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}
static void put16(buf *b, unsigned v) {
    put8(b, v & 255);
    put8(b, (v >> 8) & 255);
}
static void put32(buf *b, uint32_t v) {
    put16(b, v & 0xFFFF);
    put16(b, v >> 16);
}
static void put64(buf *b, uint64_t v) {
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}
static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }
static void set32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}
static void set64(unsigned char *p, uint64_t v) {
    set32(p, (uint32_t)v);
    set32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

/* ---- files ---------------------------------------------------------------- */

static char g_dir[64];

static const char *tmp_path(const char *name) {
    static char paths[8][256];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 256, "%s/%s", g_dir, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) abort();
    fclose(f);
}

static unsigned char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *p;
    long len;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = (unsigned char *)malloc((size_t)len + 1);
    if (fread(p, 1, (size_t)len, f) != (size_t)len) abort();
    fclose(f);
    *n = (size_t)len;
    return p;
}

static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* ======================================================================== */
/* Official checkpoints (BlinkDL's names and shapes)                         */
/* ======================================================================== */

typedef struct otensor {
    char name[96];
    int ndim;
    int64_t shape[4], numel;
    float *v;
} otensor;

typedef struct omodel {
    int version, minor, L, C, F, V, H, N, D, D2, Dw, Da, Dv, Dg;
    otensor t[600];
    int n;
} omodel;

/* value kinds: m matrix, w norm weight, b bias, u [0,1], d decay, f [-1,1],
   l LoRA, s small */
static void om_add(omodel *m, int layer, const char *name, char kind, int ndim, int64_t d0, int64_t d1,
                   int64_t d2) {
    otensor *t = &m->t[m->n++];
    int64_t i;
    if (layer >= 0) snprintf(t->name, sizeof(t->name), "blocks.%d.%s", layer, name);
    else snprintf(t->name, sizeof(t->name), "%s", name);
    t->ndim = ndim;
    t->shape[0] = d0, t->shape[1] = d1, t->shape[2] = d2, t->shape[3] = 1;
    t->numel = d0 * (ndim > 1 ? d1 : 1) * (ndim > 2 ? d2 : 1);
    t->v = (float *)malloc((size_t)t->numel * sizeof(float));
    for (i = 0; i < t->numel; i++) {
        float x;
        switch (kind) {
        case 'm': x = rnd_normal() / sqrtf((float)(ndim > 1 ? d1 : d0)); break;
        case 'w': x = 1.0f + 0.1f * rnd_normal(); break;
        case 'b': x = 0.1f * rnd_normal(); break;
        case 'u': x = rnd_uniform(0, 1); break;
        case 'd': x = rnd_uniform(-3.0f, 0.5f); break;
        case 'f': x = rnd_uniform(-1, 1); break;
        case 'l': x = 0.1f * rnd_normal(); break;
        default: x = rnd_uniform(-0.5f, 0.5f); break;
        }
        t->v[i] = x;
    }
}

static void om_free(omodel *m) {
    int i;
    for (i = 0; i < m->n; i++) free(m->t[i].v);
    m->n = 0;
}

static const otensor *om_get(const omodel *m, int layer, const char *name) {
    char full[96];
    int i;
    if (layer >= 0) snprintf(full, sizeof(full), "blocks.%d.%s", layer, name);
    else snprintf(full, sizeof(full), "%s", name);
    for (i = 0; i < m->n; i++)
        if (!strcmp(m->t[i].name, full)) return &m->t[i];
    printf("test bug: no %s\n", full);
    abort();
}

/* A random model of a version in the official layout and key order. */
static void make_model(omodel *m, int version, int minor, int L, int C, int F, int V, int H,
                       int v7_layer0_dummies) {
    int i;
    memset(m, 0, sizeof(*m));
    m->version = version, m->minor = minor, m->L = L, m->C = C, m->F = F, m->V = V, m->H = H;
    m->N = H ? C / H : 0;
    m->D = 32, m->D2 = 64, m->Dw = 32, m->Da = 16, m->Dv = 16, m->Dg = 32;
    om_add(m, -1, "emb.weight", 'm', 2, V, C, 0);
    for (i = 0; i < L; i++) {
        om_add(m, i, "ln1.weight", 'w', 1, C, 0, 0);
        om_add(m, i, "ln1.bias", 'b', 1, C, 0, 0);
        om_add(m, i, "ln2.weight", 'w', 1, C, 0, 0);
        om_add(m, i, "ln2.bias", 'b', 1, C, 0, 0);
        if (i == 0) {
            om_add(m, 0, "ln0.weight", 'w', 1, C, 0, 0);
            om_add(m, 0, "ln0.bias", 'b', 1, C, 0, 0);
        }
        if (version == 4) {
            om_add(m, i, "att.time_decay", 'd', 1, C, 0, 0);
            om_add(m, i, "att.time_first", 'f', 1, C, 0, 0);
        } else if (version == 5 && minor == 1) {
            om_add(m, i, "att.time_decay", 'd', 1, H, 0, 0);
            om_add(m, i, "att.time_first", 'f', 1, H, 0, 0);
        } else if (version == 5) {
            om_add(m, i, "att.time_decay", 'd', 2, H, m->N, 0);
            om_add(m, i, "att.time_faaaa", 's', 2, H, m->N, 0);
        }
        if (version <= 5) {
            om_add(m, i, "att.time_mix_k", 'u', 3, 1, 1, C);
            om_add(m, i, "att.time_mix_v", 'u', 3, 1, 1, C);
            om_add(m, i, "att.time_mix_r", 'u', 3, 1, 1, C);
            if (minor == 2) om_add(m, i, "att.time_mix_g", 'u', 3, 1, 1, C);
            if (version == 5) {
                om_add(m, i, "att.ln_x.weight", 'w', 1, C, 0, 0);
                om_add(m, i, "att.ln_x.bias", 'b', 1, C, 0, 0);
            }
            om_add(m, i, "att.key.weight", 'm', 2, C, C, 0);
            om_add(m, i, "att.value.weight", 'm', 2, C, C, 0);
            om_add(m, i, "att.receptance.weight", 'm', 2, C, C, 0);
            om_add(m, i, "att.output.weight", 'm', 2, C, C, 0);
            if (minor == 2) om_add(m, i, "att.gate.weight", 'm', 2, C, C, 0);
            om_add(m, i, "ffn.time_mix_k", 'u', 3, 1, 1, C);
            om_add(m, i, "ffn.time_mix_r", 'u', 3, 1, 1, C);
        }
        if (version == 6) {
            om_add(m, i, "att.time_maa_x", 'u', 3, 1, 1, C);
            om_add(m, i, "att.time_maa_w", 'u', 3, 1, 1, C);
            om_add(m, i, "att.time_maa_k", 'u', 3, 1, 1, C);
            om_add(m, i, "att.time_maa_v", 'u', 3, 1, 1, C);
            om_add(m, i, "att.time_maa_r", 'u', 3, 1, 1, C);
            om_add(m, i, "att.time_maa_g", 'u', 3, 1, 1, C);
            om_add(m, i, "att.time_maa_w1", 'l', 2, C, 5 * m->D, 0);
            om_add(m, i, "att.time_maa_w2", 'l', 3, 5, m->D, C);
            om_add(m, i, "att.time_decay", 'd', 3, 1, 1, C);
            om_add(m, i, "att.time_decay_w1", 'l', 2, C, m->D2, 0);
            om_add(m, i, "att.time_decay_w2", 'l', 2, m->D2, C, 0);
            om_add(m, i, "att.time_faaaa", 's', 2, H, m->N, 0);
            om_add(m, i, "att.receptance.weight", 'm', 2, C, C, 0);
            om_add(m, i, "att.key.weight", 'm', 2, C, C, 0);
            om_add(m, i, "att.value.weight", 'm', 2, C, C, 0);
            om_add(m, i, "att.output.weight", 'm', 2, C, C, 0);
            om_add(m, i, "att.gate.weight", 'm', 2, C, C, 0);
            om_add(m, i, "att.ln_x.weight", 'w', 1, C, 0, 0);
            om_add(m, i, "att.ln_x.bias", 'b', 1, C, 0, 0);
            om_add(m, i, "ffn.time_maa_k", 'u', 3, 1, 1, C);
            om_add(m, i, "ffn.time_maa_r", 'u', 3, 1, 1, C);
        }
        if (version == 7) {
            static const char *const x[6] = {"att.x_r", "att.x_w", "att.x_k", "att.x_v", "att.x_a", "att.x_g"};
            int j;
            for (j = 0; j < 6; j++) om_add(m, i, x[j], 'u', 3, 1, 1, C);
            om_add(m, i, "att.w1", 'l', 2, C, m->Dw, 0);
            om_add(m, i, "att.w2", 'l', 2, m->Dw, C, 0);
            om_add(m, i, "att.w0", 'd', 3, 1, 1, C);
            om_add(m, i, "att.a1", 'l', 2, C, m->Da, 0);
            om_add(m, i, "att.a2", 'l', 2, m->Da, C, 0);
            om_add(m, i, "att.a0", 's', 3, 1, 1, C);
            if (i > 0 || v7_layer0_dummies) {
                om_add(m, i, "att.v1", 'l', 2, C, m->Dv, 0);
                om_add(m, i, "att.v2", 'l', 2, m->Dv, C, 0);
                om_add(m, i, "att.v0", 's', 3, 1, 1, C);
            }
            om_add(m, i, "att.g1", 'l', 2, C, m->Dg, 0);
            om_add(m, i, "att.g2", 'l', 2, m->Dg, C, 0);
            om_add(m, i, "att.k_k", 'u', 3, 1, 1, C);
            om_add(m, i, "att.k_a", 'u', 3, 1, 1, C);
            om_add(m, i, "att.r_k", 's', 2, H, m->N, 0);
            om_add(m, i, "att.receptance.weight", 'm', 2, C, C, 0);
            om_add(m, i, "att.key.weight", 'm', 2, C, C, 0);
            om_add(m, i, "att.value.weight", 'm', 2, C, C, 0);
            om_add(m, i, "att.output.weight", 'm', 2, C, C, 0);
            om_add(m, i, "att.ln_x.weight", 'w', 1, C, 0, 0);
            om_add(m, i, "att.ln_x.bias", 'b', 1, C, 0, 0);
            om_add(m, i, "ffn.x_k", 'u', 3, 1, 1, C);
        }
        om_add(m, i, "ffn.key.weight", 'm', 2, F, C, 0);
        if (version != 7) om_add(m, i, "ffn.receptance.weight", 'm', 2, C, C, 0);
        om_add(m, i, "ffn.value.weight", 'm', 2, C, F, 0);
    }
    om_add(m, -1, "ln_out.weight", 'w', 1, C, 0, 0);
    om_add(m, -1, "ln_out.bias", 'b', 1, C, 0, 0);
    om_add(m, -1, "head.weight", 'm', 2, V, C, 0);
}

enum { DT_F32, DT_F16, DT_BF16 };

static uint16_t bf16_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7FFFu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
static float bf16_value(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* Round every weight to what a checkpoint of that dtype holds. */
static void om_round(omodel *m, int dtype) {
    int i;
    int64_t j;
    for (i = 0; i < m->n; i++)
        for (j = 0; j < m->t[i].numel; j++) {
            float *x = &m->t[i].v[j];
            if (dtype == DT_F16) *x = f16_to_f32(f16_from_f32(*x));
            if (dtype == DT_BF16) *x = bf16_value(bf16_bits(*x));
        }
}

/* Element bytes in a checkpoint dtype. */
static void encode_dtype(buf *b, float x, int dtype) {
    uint32_t u;
    if (dtype == DT_F16) {
        put16(b, f16_from_f32(x));
    } else if (dtype == DT_BF16) {
        put16(b, bf16_bits(x));
    } else {
        memcpy(&u, &x, 4);
        put32(b, u);
    }
}

/* ======================================================================== */
/* The expected GGUF, built here from the documented layouts                 */
/* ======================================================================== */

enum { R_VEC, R_MAT, R_EMB, R_HEAD };

typedef struct etensor {
    char name[64];
    int rule, n_dims;
    int64_t ne[4];
    float *v;
} etensor;

typedef struct emodel {
    etensor t[700];
    int n;
} emodel;

static etensor *e_new(emodel *e, int layer, const char *name, int rule, int n_dims, int64_t ne0, int64_t ne1,
                      int64_t ne2, int64_t ne3) {
    etensor *t = &e->t[e->n++];
    if (layer >= 0) snprintf(t->name, sizeof(t->name), "blk.%d.%s", layer, name);
    else snprintf(t->name, sizeof(t->name), "%s", name);
    t->rule = rule;
    t->n_dims = n_dims;
    t->ne[0] = ne0, t->ne[1] = ne1, t->ne[2] = ne2, t->ne[3] = ne3;
    t->v = (float *)malloc((size_t)(ne0 * ne1 * ne2 * ne3) * sizeof(float));
    return t;
}

/* Same elements in the same order (a reshape). */
static void e_copy(emodel *e, const omodel *m, int layer, const char *official, const char *name, int rule,
                   int n_dims, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3) {
    const otensor *o = om_get(m, layer, official);
    etensor *t = e_new(e, layer, name, rule, n_dims, ne0, ne1, ne2, ne3);
    if (o->numel != ne0 * ne1 * ne2 * ne3) {
        printf("test bug: %s\n", official);
        abort();
    }
    memcpy(t->v, o->v, (size_t)o->numel * sizeof(float));
}

static void e_vec(emodel *e, const omodel *m, int layer, const char *official, const char *name) {
    const otensor *o = om_get(m, layer, official);
    e_copy(e, m, layer, official, name, R_VEC, 1, o->numel, 1, 1, 1);
}

static void e_mat(emodel *e, const omodel *m, int layer, const char *official, const char *name, int rule) {
    const otensor *o = om_get(m, layer, official);
    e_copy(e, m, layer, official, name, rule, 2, o->shape[1], o->shape[0], 1, 1);
}

/* A LoRA (rows, cols) used as x @ W: ne {rows, cols}, data transposed. */
static void e_lora(emodel *e, const omodel *m, int layer, const char *official, const char *name) {
    const otensor *o = om_get(m, layer, official);
    int64_t R = o->shape[0], K = o->shape[1], r, k;
    etensor *t = e_new(e, layer, name, R_VEC, 2, R, K, 1, 1);
    for (r = 0; r < R; r++)
        for (k = 0; k < K; k++) t->v[k * R + r] = o->v[r * K + k];
}

static void build_expected(const omodel *m, emodel *e) {
    int i, j, C = m->C;
    memset(e, 0, sizeof(*e));
    e_mat(e, m, -1, "emb.weight", "token_embd.weight", R_EMB);
    e_vec(e, m, 0, "ln0.weight", "token_embd_norm.weight");
    e->t[e->n - 1].name[0] = 0;
    snprintf(e->t[e->n - 1].name, 64, "token_embd_norm.weight");
    e_vec(e, m, 0, "ln0.bias", "token_embd_norm.bias");
    snprintf(e->t[e->n - 1].name, 64, "token_embd_norm.bias");
    for (i = 0; i < m->L; i++) {
        e_vec(e, m, i, "ln1.weight", "attn_norm.weight");
        e_vec(e, m, i, "ln1.bias", "attn_norm.bias");
        e_vec(e, m, i, "ln2.weight", "attn_norm_2.weight");
        e_vec(e, m, i, "ln2.bias", "attn_norm_2.bias");
        e_mat(e, m, i, "att.key.weight", "time_mix_key.weight", R_MAT);
        e_mat(e, m, i, "att.value.weight", "time_mix_value.weight", R_MAT);
        e_mat(e, m, i, "att.receptance.weight", "time_mix_receptance.weight", R_MAT);
        e_mat(e, m, i, "att.output.weight", "time_mix_output.weight", R_MAT);
        e_mat(e, m, i, "ffn.key.weight", "channel_mix_key.weight", R_MAT);
        e_mat(e, m, i, "ffn.value.weight", "channel_mix_value.weight", R_MAT);
        if (m->version != 7) e_mat(e, m, i, "ffn.receptance.weight", "channel_mix_receptance.weight", R_MAT);
        if (m->version <= 5) {
            e_vec(e, m, i, "att.time_mix_k", "time_mix_lerp_k.weight");
            e_vec(e, m, i, "att.time_mix_v", "time_mix_lerp_v.weight");
            e_vec(e, m, i, "att.time_mix_r", "time_mix_lerp_r.weight");
            e_vec(e, m, i, "ffn.time_mix_k", "channel_mix_lerp_k.weight");
            e_vec(e, m, i, "ffn.time_mix_r", "channel_mix_lerp_r.weight");
            e_vec(e, m, i, "att.time_decay", "time_mix_decay.weight");
        }
        if (m->version == 4) e_vec(e, m, i, "att.time_first", "time_mix_first.weight");
        if (m->version == 5) {
            e_vec(e, m, i, "att.ln_x.weight", "time_mix_ln.weight");
            e_vec(e, m, i, "att.ln_x.bias", "time_mix_ln.bias");
            if (m->minor == 1) { /* the bonus as used: exp(time_first) */
                const otensor *o = om_get(m, i, "att.time_first");
                etensor *t = e_new(e, i, "time_mix_first.weight", R_VEC, 1, m->H, 1, 1, 1);
                for (j = 0; j < m->H; j++) t->v[j] = (float)exp((double)o->v[j]);
            } else {
                e_copy(e, m, i, "att.time_faaaa", "time_mix_first.weight", R_VEC, 2, m->N, m->H, 1, 1);
                e_vec(e, m, i, "att.time_mix_g", "time_mix_lerp_g.weight");
                e_mat(e, m, i, "att.gate.weight", "time_mix_gate.weight", R_MAT);
            }
        }
        if (m->version == 6) {
            static const char *const maa[5] = {"att.time_maa_w", "att.time_maa_k", "att.time_maa_v",
                                               "att.time_maa_r", "att.time_maa_g"};
            const otensor *w2 = om_get(m, i, "att.time_maa_w2");
            etensor *t = e_new(e, i, "time_mix_lerp_fused.weight", R_VEC, 4, C, 1, 1, 5);
            int64_t a, d, c, D = m->D;
            for (j = 0; j < 5; j++) memcpy(t->v + j * C, om_get(m, i, maa[j])->v, (size_t)C * sizeof(float));
            e_vec(e, m, i, "att.time_maa_x", "time_mix_lerp_x.weight");
            e_lora(e, m, i, "att.time_maa_w1", "time_mix_w1.weight");
            t = e_new(e, i, "time_mix_w2.weight", R_VEC, 3, D, C, 5, 1); /* (5,D,C) -> (5,C,D) */
            for (a = 0; a < 5; a++)
                for (d = 0; d < D; d++)
                    for (c = 0; c < C; c++) t->v[(a * C + c) * D + d] = w2->v[(a * D + d) * C + c];
            e_vec(e, m, i, "att.time_decay", "time_mix_decay.weight");
            e_lora(e, m, i, "att.time_decay_w1", "time_mix_decay_w1.weight");
            e_lora(e, m, i, "att.time_decay_w2", "time_mix_decay_w2.weight");
            e_copy(e, m, i, "att.time_faaaa", "time_mix_first.weight", R_VEC, 2, m->N, m->H, 1, 1);
            e_mat(e, m, i, "att.gate.weight", "time_mix_gate.weight", R_MAT);
            e_vec(e, m, i, "att.ln_x.weight", "time_mix_ln.weight");
            e_vec(e, m, i, "att.ln_x.bias", "time_mix_ln.bias");
            e_vec(e, m, i, "ffn.time_maa_k", "channel_mix_lerp_k.weight");
            e_vec(e, m, i, "ffn.time_maa_r", "channel_mix_lerp_r.weight");
        }
        if (m->version == 7) {
            static const char *const x[6] = {"att.x_r", "att.x_w", "att.x_k", "att.x_v", "att.x_a", "att.x_g"};
            etensor *t = e_new(e, i, "time_mix_lerp_fused.weight", R_VEC, 4, C, 1, 1, 6);
            for (j = 0; j < 6; j++) memcpy(t->v + j * C, om_get(m, i, x[j])->v, (size_t)C * sizeof(float));
            e_vec(e, m, i, "att.w0", "time_mix_w0.weight");
            e_vec(e, m, i, "att.a0", "time_mix_a0.weight");
            e_lora(e, m, i, "att.w1", "time_mix_w1.weight");
            e_lora(e, m, i, "att.w2", "time_mix_w2.weight");
            e_lora(e, m, i, "att.a1", "time_mix_a1.weight");
            e_lora(e, m, i, "att.a2", "time_mix_a2.weight");
            e_lora(e, m, i, "att.g1", "time_mix_g1.weight");
            e_lora(e, m, i, "att.g2", "time_mix_g2.weight");
            /* layer 0: llama.cpp's copies of a0/a1/a2 under the v names */
            e_vec(e, m, i, i ? "att.v0" : "att.a0", "time_mix_v0.weight");
            e_lora(e, m, i, i ? "att.v1" : "att.a1", "time_mix_v1.weight");
            e_lora(e, m, i, i ? "att.v2" : "att.a2", "time_mix_v2.weight");
            e_vec(e, m, i, "att.k_k", "time_mix_k_k.weight");
            e_vec(e, m, i, "att.k_a", "time_mix_k_a.weight");
            e_vec(e, m, i, "att.r_k", "time_mix_r_k.weight");
            e_vec(e, m, i, "att.ln_x.weight", "time_mix_ln.weight");
            e_vec(e, m, i, "att.ln_x.bias", "time_mix_ln.bias");
            e_vec(e, m, i, "ffn.x_k", "channel_mix_lerp_k.weight");
        }
    }
    e_vec(e, m, -1, "ln_out.weight", "output_norm.weight");
    e_vec(e, m, -1, "ln_out.bias", "output_norm.bias");
    e_mat(e, m, -1, "head.weight", "output.weight", R_HEAD);
}

static void e_free(emodel *e) {
    int i;
    for (i = 0; i < e->n; i++) free(e->t[i].v);
    e->n = 0;
}

static int is_quantized(int type) {
    return type != RWKV_TYPE_F32 && type != RWKV_TYPE_F16 && type != RWKV_TYPE_BF16;
}

/* The type rules of the brief: vectors, LoRAs and lerps f32; the embedding
   f32 or f16; matrices in the output type (f16 where rows do not split in
   blocks of 32); the head at most f16. */
static int e_type(const etensor *t, int out) {
    switch (t->rule) {
    case R_VEC: return RWKV_TYPE_F32;
    case R_EMB: return out == RWKV_TYPE_F32 ? RWKV_TYPE_F32 : RWKV_TYPE_F16;
    case R_HEAD: return is_quantized(out) ? RWKV_TYPE_F16 : out;
    default: return is_quantized(out) && t->ne[0] % 32 ? RWKV_TYPE_F16 : out;
    }
}

static unsigned char *e_encode(const etensor *t, int type, size_t *n_bytes) {
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3], r;
    size_t row = rwkv_type_size(type, (uint64_t)t->ne[0]);
    unsigned char *p = (unsigned char *)malloc(row * (size_t)rows);
    for (r = 0; r < rows; r++) rwkv_quantize_row(type, t->v + r * t->ne[0], t->ne[0], p + (size_t)r * row);
    *n_bytes = row * (size_t)rows;
    return p;
}

/* The same model as a GGUF built directly (in memory). */
static unsigned char *build_direct(const omodel *m, const emodel *e, int out, size_t *size) {
    gguf_writer *w = gguf_writer_create();
    unsigned char **data = (unsigned char **)calloc((size_t)e->n, sizeof(*data));
    unsigned char *gguf;
    char arch[8], key[96];
    int i;
    snprintf(arch, sizeof(arch), "rwkv%d", m->version);
    gguf_writer_add_str(w, "general.architecture", arch);
    snprintf(key, sizeof(key), "%s.block_count", arch);
    gguf_writer_add_u32(w, key, (uint32_t)m->L);
    snprintf(key, sizeof(key), "%s.embedding_length", arch);
    gguf_writer_add_u32(w, key, (uint32_t)m->C);
    if (m->version >= 5) {
        snprintf(key, sizeof(key), "%s.wkv.head_size", arch);
        gguf_writer_add_u32(w, key, (uint32_t)m->N);
    }
    if (m->V == 256) gguf_writer_add_str(w, "tokenizer.ggml.model", "bytes");
    for (i = 0; i < e->n; i++) {
        size_t n;
        int type = e_type(&e->t[i], out);
        data[i] = e_encode(&e->t[i], type, &n);
        gguf_writer_add_tensor(w, e->t[i].name, type, e->t[i].n_dims, e->t[i].ne, data[i], n);
    }
    gguf = gguf_writer_write_memory(w, size);
    for (i = 0; i < e->n; i++) free(data[i]);
    free(data);
    gguf_writer_free(w);
    return gguf;
}

/* ======================================================================== */
/* torch.save, written here the way torch writes it                          */
/* ======================================================================== */

/* A pickle protocol 2 writer with torch's memo habits: every object put
   in the memo, globals and repeated strings fetched back with BINGET. */
typedef struct pickler {
    buf b;
    int memo;
    int odict, rebuild, parameter, storage_str, cpu, storage_type;
} pickler;

static int pk_put(pickler *p) {
    if (p->memo < 256) {
        put8(&p->b, 'q');
        put8(&p->b, (unsigned)p->memo);
    } else {
        put8(&p->b, 'r');
        put32(&p->b, (uint32_t)p->memo);
    }
    return p->memo++;
}
static void pk_get(pickler *p, int index) {
    if (index < 256) {
        put8(&p->b, 'h');
        put8(&p->b, (unsigned)index);
    } else {
        put8(&p->b, 'j');
        put32(&p->b, (uint32_t)index);
    }
}
static void pk_global(pickler *p, const char *module, const char *name, int *slot) {
    if (*slot >= 0) {
        pk_get(p, *slot);
        return;
    }
    put8(&p->b, 'c');
    puts_(&p->b, module);
    put8(&p->b, '\n');
    puts_(&p->b, name);
    put8(&p->b, '\n');
    *slot = pk_put(p);
}
static void pk_str(pickler *p, const char *s, int *slot) {
    if (slot && *slot >= 0) {
        pk_get(p, *slot);
        return;
    }
    put8(&p->b, 'X');
    put32(&p->b, (uint32_t)strlen(s));
    puts_(&p->b, s);
    if (slot) *slot = pk_put(p);
    else pk_put(p);
}
static void pk_int(pickler *p, int64_t v) {
    if (v >= 0 && v < 256) {
        put8(&p->b, 'K');
        put8(&p->b, (unsigned)v);
    } else if (v >= 0 && v < 65536) {
        put8(&p->b, 'M');
        put16(&p->b, (unsigned)v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        put8(&p->b, 'J');
        put32(&p->b, (uint32_t)(int32_t)v);
    } else {
        put8(&p->b, 0x8a);
        put8(&p->b, 8);
        put64(&p->b, (uint64_t)v);
    }
}
static void pk_int_tuple(pickler *p, const int64_t *v, int n) {
    int i;
    if (n > 3) put8(&p->b, '(');
    for (i = 0; i < n; i++) pk_int(p, v[i]);
    put8(&p->b, n == 0 ? ')' : n == 1 ? 0x85 : n == 2 ? 0x86 : n == 3 ? 0x87 : 't');
    pk_put(p);
}

typedef struct pth_tensor {
    const char *name;
    int storage, ndim;
    int64_t offset, shape[4], stride[4];
} pth_tensor;

typedef struct pth_storage {
    buf data;
    int64_t numel;
} pth_storage;

typedef struct pth_options {
    int dtype;
    int transposed;  /* some matrices (and the v6 w2) with permuted strides    */
    int shared;      /* the vectors of a layer in one storage, at offsets      */
    int parameter;   /* wrap tensors in torch._utils._rebuild_parameter        */
    int plain_dict;  /* a {} rather than an OrderedDict with _metadata         */
    int zip64_extra; /* ZIP64 extra fields in the central directory            */
    const char *prefix;
    const char *byteorder; /* NULL: "little" */
} pth_options;

/* The pickle of a state dict. */
static void pickle_state_dict(pickler *p, const pth_tensor *t, int n, const int64_t *numel, int dtype,
                              int parameter, int plain_dict) {
    static const char *const types[3] = {"FloatStorage", "HalfStorage", "BFloat16Storage"};
    char key[16];
    int i;
    memset(p, 0, sizeof(*p));
    p->odict = p->rebuild = p->parameter = p->storage_str = p->cpu = p->storage_type = -1;
    put8(&p->b, 0x80);
    put8(&p->b, 2);
    if (plain_dict) {
        put8(&p->b, '}');
        pk_put(p);
    } else {
        pk_global(p, "collections", "OrderedDict", &p->odict);
        put8(&p->b, ')');
        put8(&p->b, 'R');
        pk_put(p);
    }
    put8(&p->b, '(');
    for (i = 0; i < n; i++) {
        pk_str(p, t[i].name, NULL);
        if (parameter) pk_global(p, "torch._utils", "_rebuild_parameter", &p->parameter);
        pk_global(p, "torch._utils", "_rebuild_tensor_v2", &p->rebuild);
        put8(&p->b, '(');
        put8(&p->b, '(');
        pk_str(p, "storage", &p->storage_str);
        pk_global(p, "torch", types[dtype], &p->storage_type);
        snprintf(key, sizeof(key), "%d", t[i].storage);
        pk_str(p, key, NULL);
        pk_str(p, "cpu", &p->cpu);
        pk_int(p, numel[t[i].storage]);
        put8(&p->b, 't');
        pk_put(p);
        put8(&p->b, 'Q');
        pk_int(p, t[i].offset);
        pk_int_tuple(p, t[i].shape, t[i].ndim);
        pk_int_tuple(p, t[i].stride, t[i].ndim);
        put8(&p->b, 0x89);
        pk_global(p, "collections", "OrderedDict", &p->odict);
        put8(&p->b, ')');
        put8(&p->b, 'R');
        pk_put(p);
        put8(&p->b, 't');
        pk_put(p);
        put8(&p->b, 'R');
        pk_put(p);
        if (parameter) {
            put8(&p->b, 0x88);
            pk_global(p, "collections", "OrderedDict", &p->odict);
            put8(&p->b, ')');
            put8(&p->b, 'R');
            pk_put(p);
            put8(&p->b, 0x87);
            pk_put(p);
            put8(&p->b, 'R');
            pk_put(p);
        }
    }
    put8(&p->b, 'u');
    if (!plain_dict) { /* state: {'_metadata': OrderedDict([('', {'version': 1})])} */
        put8(&p->b, '}');
        pk_put(p);
        pk_str(p, "_metadata", NULL);
        pk_global(p, "collections", "OrderedDict", &p->odict);
        put8(&p->b, ')');
        put8(&p->b, 'R');
        pk_put(p);
        pk_str(p, "", NULL);
        put8(&p->b, '}');
        pk_put(p);
        pk_str(p, "version", NULL);
        pk_int(p, 1);
        put8(&p->b, 's');
        put8(&p->b, 's');
        put8(&p->b, 's');
        put8(&p->b, 'b');
    }
    put8(&p->b, '.');
}

typedef struct zip_entry {
    char name[128];
    const unsigned char *data;
    size_t len;
    size_t local, data_at, central; /* where they went */
} zip_entry;

/* A zip archive as PyTorch's writer (miniz) makes it: stored entries with
   data descriptors, each entry's data 64-byte aligned by an "FB" extra
   field, then the central directory and ZIP64 end records. */
static void zip_write(buf *out, zip_entry *e, int n, int zip64_extra) {
    size_t cd;
    int i;
    for (i = 0; i < n; i++) {
        size_t name_len = strlen(e[i].name), pad;
        uint32_t crc = crc32_of(e[i].data, e[i].len);
        e[i].local = out->n;
        put32(out, 0x04034b50u);
        put16(out, 0);
        put16(out, 0x0808);
        put16(out, 0);
        put16(out, 0);
        put16(out, 0);
        put32(out, 0);
        put32(out, 0);
        put32(out, 0);
        put16(out, (unsigned)name_len);
        pad = (64 - (out->n + 2 + name_len + 4) % 64) % 64;
        put16(out, (unsigned)(4 + pad));
        puts_(out, e[i].name);
        put16(out, 0x4246); /* "FB" */
        put16(out, (unsigned)pad);
        while (pad--) put8(out, 'Z');
        e[i].data_at = out->n;
        put(out, e[i].data, e[i].len);
        put32(out, 0x08074b50u);
        put32(out, crc);
        put32(out, (uint32_t)e[i].len);
        put32(out, (uint32_t)e[i].len);
    }
    cd = out->n;
    for (i = 0; i < n; i++) {
        e[i].central = out->n;
        put32(out, 0x02014b50u);
        put16(out, 0);
        put16(out, 0);
        put16(out, 0x0808);
        put16(out, 0);
        put16(out, 0);
        put16(out, 0);
        put32(out, crc32_of(e[i].data, e[i].len));
        put32(out, zip64_extra ? 0xFFFFFFFFu : (uint32_t)e[i].len);
        put32(out, zip64_extra ? 0xFFFFFFFFu : (uint32_t)e[i].len);
        put16(out, (unsigned)strlen(e[i].name));
        put16(out, zip64_extra ? 28 : 0);
        put16(out, 0);
        put16(out, 0);
        put16(out, 0);
        put32(out, 0);
        put32(out, zip64_extra ? 0xFFFFFFFFu : (uint32_t)e[i].local);
        puts_(out, e[i].name);
        if (zip64_extra) {
            put16(out, 1);
            put16(out, 24);
            put64(out, e[i].len);
            put64(out, e[i].len);
            put64(out, e[i].local);
        }
    }
    {
        size_t cd_size = out->n - cd, z = out->n;
        put32(out, 0x06064b50u);
        put64(out, 44);
        put16(out, 0x031e);
        put16(out, 45);
        put32(out, 0);
        put32(out, 0);
        put64(out, (uint64_t)n);
        put64(out, (uint64_t)n);
        put64(out, cd_size);
        put64(out, cd);
        put32(out, 0x07064b50u);
        put32(out, 0);
        put64(out, z);
        put32(out, 1);
        put32(out, 0x06054b50u);
        put16(out, 0);
        put16(out, 0);
        put16(out, (unsigned)n);
        put16(out, (unsigned)n);
        put32(out, (uint32_t)cd_size);
        put32(out, (uint32_t)cd);
        put16(out, 0);
    }
}

static int is_vector_name(const otensor *t) { return t->numel == t->shape[t->ndim - 1] && t->ndim <= 3 && t->numel > 1; }

/* torch.save of the model's state dict. */
static void write_pth(const omodel *m, const pth_options *o, buf *out) {
    pth_tensor *t = (pth_tensor *)calloc((size_t)m->n, sizeof(*t));
    pth_storage *s = (pth_storage *)calloc((size_t)m->n + 8, sizeof(*s));
    zip_entry *e = (zip_entry *)calloc((size_t)m->n + 16, sizeof(*e));
    pickler p;
    int i, n_storage = 0, n_entries = 0, layer_storage = -1, last_layer = -2, d;
    const char *prefix = o->prefix ? o->prefix : "archive";
    for (i = 0; i < m->n; i++) {
        const otensor *x = &m->t[i];
        int64_t j, numel = x->numel;
        int layer = -1;
        t[i].name = x->name;
        t[i].ndim = x->ndim;
        for (d = 0; d < x->ndim; d++) t[i].shape[d] = x->shape[d];
        for (d = x->ndim; d-- > 0;) t[i].stride[d] = d == x->ndim - 1 ? 1 : t[i].stride[d + 1] * x->shape[d + 1];
        if (!strncmp(x->name, "blocks.", 7)) layer = atoi(x->name + 7);
        if (o->shared && is_vector_name(x) && layer >= 0) {
            /* the vectors of a layer share one storage, at offsets, with
               junk around them */
            if (layer != last_layer) {
                layer_storage = n_storage++;
                last_layer = layer;
                for (j = 0; j < 5; j++) encode_dtype(&s[layer_storage].data, 1e6f, o->dtype);
                s[layer_storage].numel = 5;
            }
            t[i].storage = layer_storage;
            t[i].offset = s[layer_storage].numel;
            for (j = 0; j < numel; j++) encode_dtype(&s[layer_storage].data, x->v[j], o->dtype);
            encode_dtype(&s[layer_storage].data, -7e5f, o->dtype);
            encode_dtype(&s[layer_storage].data, 3e5f, o->dtype);
            s[layer_storage].numel += numel + 2;
            continue;
        }
        t[i].storage = n_storage++;
        if (o->transposed && x->ndim == 2 && i % 2 == 0) {
            /* stored as its transpose: strides (1, rows) */
            int64_t R = x->shape[0], K = x->shape[1], r, k;
            for (k = 0; k < K; k++)
                for (r = 0; r < R; r++) encode_dtype(&s[t[i].storage].data, x->v[r * K + k], o->dtype);
            t[i].stride[0] = 1;
            t[i].stride[1] = R;
        } else if (o->transposed && x->ndim == 3 && x->shape[0] > 1) {
            /* (A, B, K) stored as (A, K, B) */
            int64_t A = x->shape[0], B = x->shape[1], K = x->shape[2], a, b, k;
            for (a = 0; a < A; a++)
                for (k = 0; k < K; k++)
                    for (b = 0; b < B; b++) encode_dtype(&s[t[i].storage].data, x->v[(a * B + b) * K + k], o->dtype);
            t[i].stride[0] = B * K;
            t[i].stride[1] = 1;
            t[i].stride[2] = B;
        } else if (o->shared && !strcmp(x->name, "head.weight")) {
            /* at an offset inside a larger storage */
            for (j = 0; j < 11; j++) encode_dtype(&s[t[i].storage].data, 9e9f, o->dtype);
            t[i].offset = 11;
            for (j = 0; j < numel; j++) encode_dtype(&s[t[i].storage].data, x->v[j], o->dtype);
            for (j = 0; j < 3; j++) encode_dtype(&s[t[i].storage].data, 9e9f, o->dtype);
            numel += 14;
        } else {
            for (j = 0; j < numel; j++) encode_dtype(&s[t[i].storage].data, x->v[j], o->dtype);
        }
        s[t[i].storage].numel = numel;
    }
    {
        int64_t *numel = (int64_t *)calloc((size_t)n_storage + 1, sizeof(int64_t));
        for (i = 0; i < n_storage; i++) numel[i] = s[i].numel;
        pickle_state_dict(&p, t, m->n, numel, o->dtype, o->parameter, o->plain_dict);
        free(numel);
    }
    snprintf(e[n_entries].name, 128, "%s/data.pkl", prefix);
    e[n_entries].data = p.b.p;
    e[n_entries++].len = p.b.n;
    snprintf(e[n_entries].name, 128, "%s/byteorder", prefix);
    e[n_entries].data = (const unsigned char *)(o->byteorder ? o->byteorder : "little");
    e[n_entries].len = strlen((const char *)e[n_entries].data);
    n_entries++;
    for (i = 0; i < n_storage; i++) {
        snprintf(e[n_entries].name, 128, "%s/data/%d", prefix, i);
        e[n_entries].data = s[i].data.p;
        e[n_entries++].len = s[i].data.n;
    }
    snprintf(e[n_entries].name, 128, "%s/version", prefix);
    e[n_entries].data = (const unsigned char *)"3\n";
    e[n_entries++].len = 2;
    out->n = 0;
    zip_write(out, e, n_entries, o->zip64_extra);
    for (i = 0; i < n_storage; i++) free(s[i].data.p);
    free(p.b.p);
    free(s);
    free(t);
    free(e);
}

/* ======================================================================== */
/* safetensors                                                               */
/* ======================================================================== */

/* transformers' RWKV-4 names (convert_rwkv_checkpoint_to_hf.py). */
static void hf_name(const char *official, char *out, size_t size) {
    char tmp[192];
    const char *p;
    size_t n;
    if (!strcmp(official, "head.weight")) {
        snprintf(out, size, "head.weight");
        return;
    }
    if (!strncmp(official, "emb.", 4)) snprintf(tmp, sizeof(tmp), "embeddings.%s", official + 4);
    else if (!strncmp(official, "blocks.0.ln0", 12)) snprintf(tmp, sizeof(tmp), "blocks.0.pre_ln%s", official + 12);
    else snprintf(tmp, sizeof(tmp), "%s", official);
    p = strstr(tmp, ".att.");
    if (p) {
        char rest[160];
        snprintf(rest, sizeof(rest), "%s", p + 5);
        snprintf(tmp + (p - tmp), sizeof(tmp) - (size_t)(p - tmp), ".attention.%s", rest);
    }
    p = strstr(tmp, ".ffn.");
    if (p) {
        char rest[160];
        snprintf(rest, sizeof(rest), "%s", p + 5);
        snprintf(tmp + (p - tmp), sizeof(tmp) - (size_t)(p - tmp), ".feed_forward.%s", rest);
    }
    n = strlen(tmp);
    if (n > 11 && !strcmp(tmp + n - 11, ".time_mix_k")) strcpy(tmp + n - 11, ".time_mix_key");
    else if (n > 11 && !strcmp(tmp + n - 11, ".time_mix_v")) strcpy(tmp + n - 11, ".time_mix_value");
    else if (n > 11 && !strcmp(tmp + n - 11, ".time_mix_r")) strcpy(tmp + n - 11, ".time_mix_receptance");
    else if (n > 11 && !strcmp(tmp + n - 11, ".time_mix_g")) strcpy(tmp + n - 11, ".time_mix_gate");
    snprintf(out, size, "rwkv.%s", tmp);
}

/* The tensors i with (i % n_shards == shard) in one .safetensors. */
static void write_safetensors(const omodel *m, int dtype, int hf, int shard, int n_shards, buf *out) {
    static const char *const names[3] = {"F32", "F16", "BF16"};
    buf header = {0}, data = {0};
    char tmp[512], name[256];
    int i, first = 1, d;
    int64_t j;
    puts_(&header, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (i = 0; i < m->n; i++) {
        const otensor *t = &m->t[i];
        size_t begin = data.n;
        if (i % n_shards != shard) continue;
        for (j = 0; j < t->numel; j++) encode_dtype(&data, t->v[j], dtype);
        if (hf) hf_name(t->name, name, sizeof(name));
        else snprintf(name, sizeof(name), "%s", t->name);
        snprintf(tmp, sizeof(tmp), ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", name, names[dtype]);
        puts_(&header, tmp);
        for (d = 0; d < t->ndim; d++) {
            snprintf(tmp, sizeof(tmp), d ? ",%lld" : "%lld", (long long)t->shape[d]);
            puts_(&header, tmp);
        }
        snprintf(tmp, sizeof(tmp), "],\"data_offsets\":[%zu,%zu]}", begin, data.n);
        puts_(&header, tmp);
        first = 0;
    }
    (void)first;
    puts_(&header, "}");
    while (header.n % 8) put8(&header, ' ');
    out->n = 0;
    put64(out, header.n);
    put(out, header.p, header.n);
    put(out, data.p, data.n);
    free(header.p);
    free(data.p);
}

static void write_index(const omodel *m, int hf, int n_shards, const char *stem, buf *out) {
    char tmp[512], name[256];
    int i;
    out->n = 0;
    puts_(out, "{\n  \"metadata\": {\"total_size\": 0},\n  \"weight_map\": {\n");
    for (i = 0; i < m->n; i++) {
        if (hf) hf_name(m->t[i].name, name, sizeof(name));
        else snprintf(name, sizeof(name), "%s", m->t[i].name);
        snprintf(tmp, sizeof(tmp), "    \"%s\": \"%s-%05d-of-%05d.safetensors\"%s\n", name, stem, i % n_shards + 1,
                 n_shards, i + 1 < m->n ? "," : "");
        puts_(out, tmp);
    }
    puts_(out, "  }\n}\n");
}

/* ======================================================================== */
/* Checking a conversion                                                     */
/* ======================================================================== */

static int convert(const char *in, const char *out, int type, const char *vocab, checkpoint_result *result,
                   char *err, size_t err_size) {
    checkpoint_options o = checkpoint_default_options();
    o.out_type = type;
    o.vocab_path = vocab;
    o.progress = 0;
    o.quiet = 1;
    return checkpoint_convert_ex(in, out, &o, result, err, err_size);
}

/* The converted GGUF against the expected tensors, byte for byte, and its
   logits against the directly built model's. */
static void check_gguf(const char *path, const omodel *m, const emodel *e, int out, const char *label) {
    rwkv_model *conv = NULL, *direct = NULL;
    rwkv_state *s1 = NULL, *s2 = NULL;
    rwkv_error error;
    unsigned char *gguf;
    size_t size = 0;
    int i, n, k, bad = 0;
    static const int32_t tokens[] = {1, 65, 200, 7, 255, 0, 128, 66};
    float *l1, *l2;
    if (rwkv_model_load_file(&conv, path, &error)) {
        CHECKF(0, "%s: load: %s", label, error.message);
        return;
    }
    n = rwkv_model_tensor_count(conv);
    CHECKF(n == e->n, "%s: %d tensors, expected %d", label, n, e->n);
    for (i = 0; i < e->n; i++) {
        const etensor *x = &e->t[i];
        int type = e_type(x, out), found = 0;
        for (k = 0; k < n; k++) {
            rwkv_tensor_info t;
            memset(&t, 0, sizeof(t));
            if (rwkv_model_tensor(conv, k, &t) || strcmp(t.name, x->name)) continue;
            found = 1;
            if (t.type != type || t.n_dims != x->n_dims || t.ne[0] != x->ne[0] || t.ne[1] != x->ne[1] ||
                t.ne[2] != x->ne[2] || t.ne[3] != x->ne[3]) {
                CHECKF(0, "%s: %s is %s %lldx%lldx%lldx%lld (%d dims), expected %s %lldx%lldx%lldx%lld (%d)",
                       label, x->name, rwkv_type_name(t.type), (long long)t.ne[0], (long long)t.ne[1],
                       (long long)t.ne[2], (long long)t.ne[3], t.n_dims, rwkv_type_name(type),
                       (long long)x->ne[0], (long long)x->ne[1], (long long)x->ne[2], (long long)x->ne[3],
                       x->n_dims);
                bad++;
            } else {
                size_t bytes;
                unsigned char *want = e_encode(x, type, &bytes);
                int same = bytes == t.n_bytes && !memcmp(want, t.data, bytes);
                CHECKF(same, "%s: %s data differs", label, x->name);
                bad += !same;
                free(want);
            }
        }
        CHECKF(found, "%s: %s missing", label, x->name);
    }
    /* logits: the same as the directly built model's, exactly */
    gguf = build_direct(m, e, out, &size);
    if (rwkv_model_load_memory(&direct, gguf, size, &error)) {
        CHECKF(0, "%s: direct model: %s", label, error.message);
    } else {
        int V = rwkv_model_n_vocab(conv);
        l1 = (float *)malloc((size_t)V * sizeof(float));
        l2 = (float *)malloc((size_t)V * sizeof(float));
        rwkv_state_create(conv, &s1, NULL);
        rwkv_state_create(direct, &s2, NULL);
        for (i = 0; i < (int)(sizeof(tokens) / sizeof(tokens[0])); i++) {
            int same = 1, finite = 1;
            rwkv_eval(s1, tokens[i] % V, l1, NULL);
            rwkv_eval(s2, tokens[i] % V, l2, NULL);
            for (k = 0; k < V; k++) {
                same &= l1[k] == l2[k];
                finite &= isfinite(l1[k]) != 0;
            }
            CHECKF(same && finite, "%s: logits after token %d differ from the direct model's", label, i);
        }
        free(l1);
        free(l2);
        rwkv_state_free(s1);
        rwkv_state_free(s2);
    }
    rwkv_model_free(direct);
    free(gguf);
    rwkv_model_free(conv);
    (void)bad;
}

/* Convert a file and check the result against the model. */
static void convert_and_check(const char *in, const omodel *m, int out, const char *label) {
    char err[512];
    emodel *e = (emodel *)calloc(1, sizeof(emodel));
    checkpoint_result r;
    const char *gguf = tmp_path("out.gguf");
    int rc = convert(in, gguf, out < 0 ? -1 : out, NULL, &r, err, sizeof(err));
    CHECKF(rc == 0, "%s: convert: %s", label, err);
    if (out < 0) out = -out - 100; /* -100 - type: the default, expected to give type */
    CHECKF(rc || r.out_type == out, "%s: matrices in %s", label, rwkv_type_name(r.out_type));
    if (!rc) {
        CHECKF(r.version == m->version && r.version_minor == m->minor && r.n_layer == m->L && r.n_embd == m->C &&
                   r.n_ffn == m->F && r.n_vocab == m->V,
               "%s: result says v%d.%d L%d C%d F%d V%d", label, r.version, r.version_minor, r.n_layer, r.n_embd,
               r.n_ffn, r.n_vocab);
        build_expected(m, e);
        check_gguf(gguf, m, e, out, label);
        e_free(e);
        CHECKF(!file_exists(tmp_path("out.gguf.part")), "%s: .part left behind", label);
    }
    remove(gguf);
    free(e);
}

/* ---- reading GGUF keys back ------------------------------------------------ */

typedef struct gguf_kv {
    const unsigned char *p;
    size_t size;
} gguf_kv;

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static size_t gguf_skip(const unsigned char *p, size_t pos, uint32_t type) {
    static const size_t sizes[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) return pos + 8 + (size_t)le64(p + pos);
    if (type == 9) {
        uint32_t elem = le32(p + pos);
        uint64_t n = le64(p + pos + 4), i;
        pos += 12;
        for (i = 0; i < n; i++) pos = gguf_skip(p, pos, elem);
        return pos;
    }
    return pos + sizes[type];
}

/* Position of the value of key (and its type), or 0. */
static size_t gguf_find(const gguf_kv *g, const char *key, uint32_t *type) {
    uint64_t n_kv = le64(g->p + 16), i;
    size_t pos = 24;
    for (i = 0; i < n_kv; i++) {
        uint64_t len = le64(g->p + pos);
        const char *k = (const char *)g->p + pos + 8;
        uint32_t t = le32(g->p + pos + 8 + len);
        size_t value = pos + 12 + (size_t)len;
        if (len == strlen(key) && !memcmp(k, key, len)) {
            *type = t;
            return value;
        }
        pos = gguf_skip(g->p, value, t);
    }
    return 0;
}

static int gguf_u32(const gguf_kv *g, const char *key, uint32_t *v) {
    uint32_t type;
    size_t pos = gguf_find(g, key, &type);
    if (!pos || type != 4) return 0;
    *v = le32(g->p + pos);
    return 1;
}

static int gguf_str_is(const gguf_kv *g, const char *key, const char *want) {
    uint32_t type;
    size_t pos = gguf_find(g, key, &type);
    return pos && type == 8 && le64(g->p + pos) == strlen(want) && !memcmp(g->p + pos + 8, want, strlen(want));
}

/* Element i of an array of strings or i32s: a string in (s, len), an int in v. */
static int gguf_array_at(const gguf_kv *g, const char *key, uint64_t index, const char **s, size_t *len, int32_t *v,
                         uint64_t *count) {
    uint32_t type, elem;
    size_t pos = gguf_find(g, key, &type);
    uint64_t i;
    if (!pos || type != 9) return 0;
    elem = le32(g->p + pos);
    *count = le64(g->p + pos + 4);
    if (index >= *count) return 0;
    pos += 12;
    for (i = 0; i < index; i++) pos = gguf_skip(g->p, pos, elem);
    if (elem == 8) {
        *len = (size_t)le64(g->p + pos);
        *s = (const char *)g->p + pos + 8;
    } else {
        *v = (int32_t)le32(g->p + pos);
    }
    return 1;
}

static int gguf_token_is(const gguf_kv *g, const char *key, uint64_t index, const char *want, size_t want_len) {
    const char *s = NULL;
    size_t len = 0;
    int32_t v;
    uint64_t count;
    if (!gguf_array_at(g, key, index, &s, &len, &v, &count)) return 0;
    return len == want_len && !memcmp(s, want, len);
}

static int32_t gguf_i32_at(const gguf_kv *g, const char *key, uint64_t index) {
    const char *s;
    size_t len;
    int32_t v = -999;
    uint64_t count;
    gguf_array_at(g, key, index, &s, &len, &v, &count);
    return v;
}

static uint64_t gguf_count(const gguf_kv *g, const char *key) {
    const char *s;
    size_t len;
    int32_t v;
    uint64_t count = 0;
    gguf_array_at(g, key, 0, &s, &len, &v, &count);
    return count;
}

/* ======================================================================== */
/* The tests                                                                 */
/* ======================================================================== */

static void make_version(omodel *m, int version, int minor, int dtype, int layer0_dummies) {
    switch (version * 10 + minor) {
    case 40: make_model(m, 4, 0, 2, 64, 96, 256, 0, 0); break;
    case 51: make_model(m, 5, 1, 2, 64, 80, 256, 4, 0); break; /* F = 80: f16 fallback for q types */
    case 52: make_model(m, 5, 2, 2, 64, 128, 256, 4, 0); break;
    case 60: make_model(m, 6, 0, 2, 64, 224, 256, 4, 0); break;
    default: make_model(m, 7, 0, 2, 64, 256, 256, 4, layer0_dummies); break;
    }
    om_round(m, dtype);
}

static void test_versions(void) {
    static const struct {
        int version, minor;
    } versions[] = {{4, 0}, {5, 1}, {5, 2}, {6, 0}, {7, 0}};
    static const int types[] = {RWKV_TYPE_F32, RWKV_TYPE_F16, RWKV_TYPE_BF16, RWKV_TYPE_Q8_0,
                                RWKV_TYPE_Q4_0, RWKV_TYPE_Q4_1, RWKV_TYPE_Q5_0, RWKV_TYPE_Q5_1};
    omodel *m = (omodel *)calloc(1, sizeof(omodel));
    buf b = {0};
    char label[128];
    size_t v, t;
    g_section = "versions";
    for (v = 0; v < sizeof(versions) / sizeof(versions[0]); v++) {
        int V = versions[v].version, minor = versions[v].minor;
        pth_options o;
        int shard;
        /* f32 torch.save, plain layout, every output type */
        make_version(m, V, minor, DT_F32, 0);
        memset(&o, 0, sizeof(o));
        o.dtype = DT_F32;
        write_pth(m, &o, &b);
        write_file(tmp_path("m.pth"), b.p, b.n);
        CHECK(checkpoint_is_checkpoint(tmp_path("m.pth")));
        for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
            snprintf(label, sizeof(label), "v%d.%d f32 pth -> %s", V, minor, rwkv_type_name(types[t]));
            convert_and_check(tmp_path("m.pth"), m, types[t], label);
        }
        om_free(m);
        /* f16 with transposed strides, shared storages at offsets, Parameters */
        make_version(m, V, minor, DT_F16, 1);
        memset(&o, 0, sizeof(o));
        o.dtype = DT_F16;
        o.transposed = o.shared = o.parameter = 1;
        o.prefix = "RWKV-x070-World";
        write_pth(m, &o, &b);
        write_file(tmp_path("m.pth"), b.p, b.n);
        snprintf(label, sizeof(label), "v%d.%d f16 pth (strided, shared, parameters) -> default (f16)", V, minor);
        convert_and_check(tmp_path("m.pth"), m, -100 - RWKV_TYPE_F16, label);
        om_free(m);
        /* bf16, plain dict, ZIP64 extra fields */
        make_version(m, V, minor, DT_BF16, 0);
        memset(&o, 0, sizeof(o));
        o.dtype = DT_BF16;
        o.transposed = o.plain_dict = o.zip64_extra = 1;
        write_pth(m, &o, &b);
        write_file(tmp_path("m.pth"), b.p, b.n);
        snprintf(label, sizeof(label), "v%d.%d bf16 pth (zip64, dict) -> default (bf16)", V, minor);
        convert_and_check(tmp_path("m.pth"), m, -100 - RWKV_TYPE_BF16, label);
        snprintf(label, sizeof(label), "v%d.%d bf16 pth -> f16", V, minor);
        convert_and_check(tmp_path("m.pth"), m, RWKV_TYPE_F16, label);
        snprintf(label, sizeof(label), "v%d.%d bf16 pth -> q5_1", V, minor);
        convert_and_check(tmp_path("m.pth"), m, RWKV_TYPE_Q5_1, label);
        /* the same weights as safetensors, single and in 3 shards */
        write_safetensors(m, DT_BF16, 0, 0, 1, &b);
        write_file(tmp_path("m.safetensors"), b.p, b.n);
        CHECK(checkpoint_is_checkpoint(tmp_path("m.safetensors")));
        snprintf(label, sizeof(label), "v%d.%d bf16 safetensors -> q8_0", V, minor);
        convert_and_check(tmp_path("m.safetensors"), m, RWKV_TYPE_Q8_0, label);
        for (shard = 0; shard < 3; shard++) {
            char name[64];
            snprintf(name, sizeof(name), "model-%05d-of-00003.safetensors", shard + 1);
            write_safetensors(m, DT_BF16, 0, shard, 3, &b);
            write_file(tmp_path(name), b.p, b.n);
        }
        write_index(m, 0, 3, "model", &b);
        write_file(tmp_path("model.safetensors.index.json"), b.p, b.n);
        snprintf(label, sizeof(label), "v%d.%d bf16 sharded safetensors -> f32", V, minor);
        convert_and_check(tmp_path("model.safetensors.index.json"), m, RWKV_TYPE_F32, label);
        om_free(m);
        /* f16 safetensors */
        make_version(m, V, minor, DT_F16, 0);
        write_safetensors(m, DT_F16, 0, 0, 1, &b);
        write_file(tmp_path("m.safetensors"), b.p, b.n);
        snprintf(label, sizeof(label), "v%d.%d f16 safetensors -> q4_0", V, minor);
        convert_and_check(tmp_path("m.safetensors"), m, RWKV_TYPE_Q4_0, label);
        om_free(m);
    }
    /* a quantized type with rows that do not split into blocks: noted */
    {
        char err[256];
        checkpoint_result r;
        make_version(m, 5, 1, DT_F32, 0);
        write_safetensors(m, DT_F32, 0, 0, 1, &b);
        write_file(tmp_path("m.safetensors"), b.p, b.n);
        CHECK(convert(tmp_path("m.safetensors"), tmp_path("q.gguf"), RWKV_TYPE_Q4_1, NULL, &r, err, sizeof(err)) == 0);
        CHECKF(strstr(r.notes, "ffn.value.weight written f16") && strstr(r.notes, "head) written f16"), "notes: %s",
               r.notes);
        remove(tmp_path("q.gguf"));
        om_free(m);
    }
    free(b.p);
    free(m);
}

/* transformers' RWKV naming (RWKV-4, and the v5 models' *_gate). */
static void test_hf_names(void) {
    omodel *m = (omodel *)calloc(1, sizeof(omodel));
    buf b = {0};
    int shard, v;
    g_section = "transformers names";
    for (v = 0; v < 2; v++) {
        if (v == 0) make_version(m, 4, 0, DT_F32, 0);
        else make_version(m, 5, 2, DT_F32, 0);
        write_safetensors(m, DT_F32, 1, 0, 1, &b);
        write_file(tmp_path("hf.safetensors"), b.p, b.n);
        convert_and_check(tmp_path("hf.safetensors"), m, RWKV_TYPE_F16, v ? "hf v5.2 safetensors" : "hf v4 safetensors");
        for (shard = 0; shard < 2; shard++) {
            char name[64];
            snprintf(name, sizeof(name), "hf-%05d-of-00002.safetensors", shard + 1);
            write_safetensors(m, DT_F32, 1, shard, 2, &b);
            write_file(tmp_path(name), b.p, b.n);
        }
        write_index(m, 1, 2, "hf", &b);
        write_file(tmp_path("hf.index.json"), b.p, b.n);
        convert_and_check(tmp_path("hf.index.json"), m, RWKV_TYPE_F32, "hf sharded");
        om_free(m);
    }
    free(b.p);
    free(m);
}

static void test_vocab(void) {
    omodel *m = (omodel *)calloc(1, sizeof(omodel));
    buf b = {0};
    char err[256], line[128];
    checkpoint_result r;
    unsigned char *g;
    size_t size;
    gguf_kv kv;
    rwkv_model *model = NULL;
    rwkv_tokenizer *ref = NULL;
    rwkv_error error;
    int id, n_ref, all_same = 1;
    uint32_t u;
    g_section = "vocabulary";
    make_model(m, 4, 0, 1, 32, 64, 320, 0, 0);
    write_safetensors(m, DT_F32, 0, 0, 1, &b);
    write_file(tmp_path("w.safetensors"), b.p, b.n);

    /* a World vocabulary in the official file's literal forms */
    b.n = 0;
    for (id = 1; id <= 256; id++) {
        int c = id - 1;
        if (c == '\'') snprintf(line, sizeof(line), "%d \"'\" 1\n", id);
        else if (c == '\\') snprintf(line, sizeof(line), "%d '\\\\' 1\n", id);
        else if (c == '\t') snprintf(line, sizeof(line), "%d '\\t' 1\n", id);
        else if (c == '\n') snprintf(line, sizeof(line), "%d '\\n' 1\n", id);
        else if (c == '\r') snprintf(line, sizeof(line), "%d '\\r' 1\n", id);
        else if (c >= 0x20 && c < 0x7f) snprintf(line, sizeof(line), "%d '%c' 1\n", id, c);
        else if (c < 0x80) snprintf(line, sizeof(line), "%d '\\x%02x' 1\n", id, c);
        else snprintf(line, sizeof(line), "%d b'\\x%02x' 1\n", id, c);
        puts_(&b, line);
    }
    puts_(&b, "257 '\\t\\t' 2\n258 '\\n\\n' 2\n259 \" '\" 2\n260 ' \\\\' 2\n261 '\\u2002' 3\n"
              "262 b'\\xe4\\xbd' 2\n263 'hello' 5\n264 '\xc3\xa9t\xc3\xa9' 5\n265 '\\r\\n' 2\n");
    write_file(tmp_path("vocab.txt"), b.p, b.n);

    CHECKF(convert(tmp_path("w.safetensors"), tmp_path("w.gguf"), RWKV_TYPE_F32, tmp_path("vocab.txt"), &r, err,
                   sizeof(err)) == 0,
           "world: %s", err);
    CHECK(!strcmp(r.vocab, "rwkv"));
    g = read_file(tmp_path("w.gguf"), &size);
    kv.p = g;
    kv.size = size;
    CHECK(g && gguf_str_is(&kv, "tokenizer.ggml.model", "rwkv"));
    CHECK(g && gguf_count(&kv, "tokenizer.ggml.tokens") == 320 && gguf_count(&kv, "tokenizer.ggml.token_type") == 320);
    CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.tokens", 0, "<s>", 3));
    CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.tokens", 1, "\\x00", 4));
    CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.tokens", 40, "\\'", 2));
    CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.tokens", 93, "\\\\", 2));
    CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.tokens", 98, "a", 1));
    CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.tokens", 256, "\\xff", 4));
    CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.tokens", 258, "\\n\\n", 4));
    CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.tokens", 259, " \\'", 3));
    CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.tokens", 261, "\\xe2\\x80\\x82", 12));
    CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.tokens", 264, "\\xc3\\xa9t\\xc3\\xa9", 17));
    CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.tokens", 300, "[PAD300]", 8));
    CHECK(g && gguf_i32_at(&kv, "tokenizer.ggml.token_type", 0) == 3);
    CHECK(g && gguf_i32_at(&kv, "tokenizer.ggml.token_type", 5) == 1);
    CHECK(g && gguf_i32_at(&kv, "tokenizer.ggml.token_type", 265) == 1);
    CHECK(g && gguf_i32_at(&kv, "tokenizer.ggml.token_type", 266) == 5);
    CHECK(g && gguf_u32(&kv, "tokenizer.ggml.bos_token_id", &u) && u == 0);
    CHECK(g && gguf_u32(&kv, "tokenizer.ggml.eos_token_id", &u) && u == 0);
    CHECK(g && gguf_str_is(&kv, "general.architecture", "rwkv4") && gguf_str_is(&kv, "general.name", "w"));
    CHECK(g && gguf_u32(&kv, "rwkv4.context_length", &u) && u == 1048576);
    CHECK(g && gguf_u32(&kv, "rwkv4.feed_forward_length", &u) && u == 64);
    CHECK(g && gguf_u32(&kv, "general.file_type", &u) && u == 0);
    free(g);
    /* rwkv.h reads it back to the same bytes as the vocabulary file */
    CHECK(rwkv_tokenizer_load_world_file(&ref, tmp_path("vocab.txt"), &error) == RWKV_OK);
    CHECK(rwkv_model_load_file(&model, tmp_path("w.gguf"), &error) == RWKV_OK);
    if (ref && model && rwkv_model_tokenizer(model)) {
        const rwkv_tokenizer *mine = rwkv_model_tokenizer(model);
        n_ref = rwkv_tokenizer_vocab_size(ref);
        for (id = 1; id < n_ref; id++) {
            size_t l1 = 0, l2 = 0;
            const char *a = rwkv_token_bytes(ref, id, &l1), *c = rwkv_token_bytes(mine, id, &l2);
            if (!a || !c || l1 != l2 || memcmp(a, c, l1)) all_same = 0;
        }
        CHECK(all_same);
    } else {
        CHECK(0);
    }
    rwkv_model_free(model);
    rwkv_tokenizer_free(ref);
    remove(tmp_path("w.gguf"));

    /* no vocabulary given for 320 tokens: none, and a note */
    CHECK(convert(tmp_path("w.safetensors"), tmp_path("w.gguf"), RWKV_TYPE_F32, NULL, &r, err, sizeof(err)) == 0);
    CHECK(!strcmp(r.vocab, "none") && strstr(r.notes, "no vocabulary"));
    remove(tmp_path("w.gguf"));
    /* a vocabulary larger than the model */
    om_free(m);
    make_model(m, 4, 0, 1, 32, 64, 200, 0, 0);
    write_safetensors(m, DT_F32, 0, 0, 1, &b);
    write_file(tmp_path("w2.safetensors"), b.p, b.n);
    CHECK(convert(tmp_path("w2.safetensors"), tmp_path("w.gguf"), RWKV_TYPE_F32, tmp_path("vocab.txt"), &r, err,
                  sizeof(err)) != 0 &&
          strstr(err, "tokens, the model only"));
    CHECK(!file_exists(tmp_path("w.gguf")) && !file_exists(tmp_path("w.gguf.part")));

    /* a Hugging Face tokenizer.json (GPT-NeoX style), both merge forms */
    {
        static const char *const jsons[2] = {
            "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":0,\"special\":true,\"content\":\"<|endoftext|>\"},"
            "{\"id\":6,\"special\":false,\"content\":\"  \"}],"
            "\"model\":{\"type\":\"BPE\",\"vocab\":{\"<|endoftext|>\":0,\"<|padding|>\":1,\"a\":2,\"b\":3,"
            "\"\\u0120a\":4,\"ab\":5},\"merges\":[\"a b\",\"\\u0120 a\"]}}",
            "{\"model\":{\"vocab\":{\"<|endoftext|>\":0,\"<|padding|>\":1,\"a\":2,\"b\":3,\"\\u0120a\":4,\"ab\":5},"
            "\"merges\":[[\"a\",\"b\"],[\"\\u0120\",\"a\"]]},\"added_tokens\":[{\"id\":0,\"special\":true,"
            "\"content\":\"<|endoftext|>\"},{\"id\":6,\"special\":false,\"content\":\"  \"}]}"};
        int j;
        for (j = 0; j < 2; j++) {
            write_file(tmp_path("tokenizer.json"), jsons[j], strlen(jsons[j]));
            CHECKF(convert(tmp_path("w.safetensors"), tmp_path("w.gguf"), RWKV_TYPE_F32, tmp_path("tokenizer.json"), &r,
                           err, sizeof(err)) == 0,
                   "neox: %s", err);
            CHECK(!strcmp(r.vocab, "gpt2"));
            g = read_file(tmp_path("w.gguf"), &size);
            kv.p = g;
            kv.size = size;
            CHECK(g && gguf_str_is(&kv, "tokenizer.ggml.model", "gpt2"));
            CHECK(g && gguf_count(&kv, "tokenizer.ggml.tokens") == 320);
            CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.tokens", 0, "<|endoftext|>", 13));
            CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.tokens", 4, "\xc4\xa0" "a", 3));
            CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.tokens", 6, "  ", 2));
            CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.tokens", 7, "[PAD7]", 6));
            CHECK(g && gguf_i32_at(&kv, "tokenizer.ggml.token_type", 0) == 3);
            CHECK(g && gguf_i32_at(&kv, "tokenizer.ggml.token_type", 2) == 1);
            CHECK(g && gguf_i32_at(&kv, "tokenizer.ggml.token_type", 6) == 4);
            CHECK(g && gguf_i32_at(&kv, "tokenizer.ggml.token_type", 7) == 5);
            CHECK(g && gguf_count(&kv, "tokenizer.ggml.merges") == 2);
            CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.merges", 0, "a b", 3));
            CHECK(g && gguf_token_is(&kv, "tokenizer.ggml.merges", 1, "\xc4\xa0 a", 4));
            CHECK(g && gguf_u32(&kv, "tokenizer.ggml.bos_token_id", &u) && u == 0);
            free(g);
            remove(tmp_path("w.gguf"));
        }
    }
    /* 256 tokens: the byte tokenizer */
    om_free(m);
    make_version(m, 7, 0, DT_F32, 0);
    write_safetensors(m, DT_F32, 0, 0, 1, &b);
    write_file(tmp_path("w.safetensors"), b.p, b.n);
    CHECK(convert(tmp_path("w.safetensors"), tmp_path("w.gguf"), RWKV_TYPE_F32, NULL, &r, err, sizeof(err)) == 0);
    CHECK(!strcmp(r.vocab, "bytes"));
    g = read_file(tmp_path("w.gguf"), &size);
    kv.p = g;
    kv.size = size;
    CHECK(g && gguf_str_is(&kv, "tokenizer.ggml.model", "bytes"));
    CHECK(g && gguf_u32(&kv, "rwkv7.wkv.head_size", &u) && u == 16);
    CHECK(g && gguf_u32(&kv, "rwkv7.attention.decay_lora_rank", &u) && u == 32);
    CHECK(g && gguf_u32(&kv, "rwkv7.attention.iclr_lora_rank", &u) && u == 16);
    CHECK(g && gguf_u32(&kv, "rwkv7.attention.value_residual_mix_lora_rank", &u) && u == 16);
    CHECK(g && gguf_u32(&kv, "rwkv7.attention.gate_lora_rank", &u) && u == 32);
    CHECK(g && gguf_u32(&kv, "rwkv7.attention.head_count", &u) && u == 0);
    free(g);
    remove(tmp_path("w.gguf"));
    om_free(m);
    make_version(m, 6, 0, DT_F32, 0);
    write_safetensors(m, DT_F32, 0, 0, 1, &b);
    write_file(tmp_path("w.safetensors"), b.p, b.n);
    CHECK(convert(tmp_path("w.safetensors"), tmp_path("w.gguf"), RWKV_TYPE_Q8_0, NULL, &r, err, sizeof(err)) == 0);
    g = read_file(tmp_path("w.gguf"), &size);
    kv.p = g;
    kv.size = size;
    CHECK(g && gguf_u32(&kv, "rwkv6.time_mix_extra_dim", &u) && u == 32);
    CHECK(g && gguf_u32(&kv, "rwkv6.time_decay_extra_dim", &u) && u == 64);
    CHECK(g && gguf_u32(&kv, "rwkv6.rescale_every_n_layers", &u) && u == 0);
    CHECK(g && gguf_u32(&kv, "general.file_type", &u) && u == 7);
    CHECK(g && gguf_u32(&kv, "general.quantization_version", &u) && u == 2);
    free(g);
    remove(tmp_path("w.gguf"));
    om_free(m);
    free(b.p);
    free(m);
}

/* ---- hostile input ---------------------------------------------------------- */

/* Convert a file that must be refused: an error naming `reason` (if not
   NULL), and no output left behind. */
static void expect_refused(const char *path, const char *reason, const char *label) {
    char err[512];
    checkpoint_result r;
    int rc;
    err[0] = 0;
    rc = convert(path, tmp_path("bad.gguf"), RWKV_TYPE_F16, NULL, &r, err, sizeof(err));
    CHECKF(rc != 0, "%s: accepted", label);
    CHECKF(err[0] != 0, "%s: no reason given", label);
    CHECKF(!reason || strstr(err, reason), "%s: reason \"%s\" lacks \"%s\"", label, err, reason);
    CHECKF(!file_exists(tmp_path("bad.gguf")) && !file_exists(tmp_path("bad.gguf.part")), "%s: output left", label);
    remove(tmp_path("bad.gguf"));
}

static void expect_refused_bytes(const void *data, size_t n, const char *name, const char *reason, const char *label) {
    write_file(tmp_path(name), data, n);
    expect_refused(tmp_path(name), reason, label);
}

/* A torch.save archive whose data.pkl is the given pickle, with one
   storage "0" of 16 floats. */
static void zip_with_pickle(const void *pickle, size_t n, buf *out) {
    static float storage[16];
    zip_entry e[3];
    memset(e, 0, sizeof(e));
    strcpy(e[0].name, "archive/data.pkl");
    e[0].data = (const unsigned char *)pickle;
    e[0].len = n;
    strcpy(e[1].name, "archive/data/0");
    e[1].data = (const unsigned char *)storage;
    e[1].len = sizeof(storage);
    strcpy(e[2].name, "archive/version");
    e[2].data = (const unsigned char *)"3\n";
    e[2].len = 2;
    out->n = 0;
    zip_write(out, e, 3, 0);
}

/* The pickle of {"emb.weight": tensor} with the given storage details. */
static void tensor_pickle(buf *out, const char *key, int64_t numel, int64_t offset, int ndim, const int64_t *shape,
                          const int64_t *stride, const char *storage_type) {
    pickler p;
    int i;
    memset(&p, 0, sizeof(p));
    p.odict = p.rebuild = p.parameter = p.storage_str = p.cpu = p.storage_type = -1;
    put8(&p.b, 0x80);
    put8(&p.b, 2);
    put8(&p.b, '}');
    pk_put(&p);
    pk_str(&p, "emb.weight", NULL);
    pk_global(&p, "torch._utils", "_rebuild_tensor_v2", &p.rebuild);
    put8(&p.b, '(');
    put8(&p.b, '(');
    pk_str(&p, "storage", NULL);
    pk_global(&p, "torch", storage_type, &p.storage_type);
    pk_str(&p, key, NULL);
    pk_str(&p, "cpu", NULL);
    pk_int(&p, numel);
    put8(&p.b, 't');
    put8(&p.b, 'Q');
    pk_int(&p, offset);
    put8(&p.b, '(');
    for (i = 0; i < ndim; i++) pk_int(&p, shape[i]);
    put8(&p.b, 't');
    put8(&p.b, '(');
    for (i = 0; i < ndim; i++) pk_int(&p, stride[i]);
    put8(&p.b, 't');
    put8(&p.b, 0x89);
    put8(&p.b, 'N');
    put8(&p.b, 't');
    put8(&p.b, 'R');
    put8(&p.b, 's');
    put8(&p.b, '.');
    out->n = 0;
    put(out, p.b.p, p.b.n);
    free(p.b.p);
}

#define PK(literal) literal, sizeof(literal) - 1

static void test_evil_pickles(void) {
    static const struct {
        const char *pickle;
        size_t len;
        const char *reason;
    } cases[] = {
        {PK("\x80\x02" "cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03."), "'os system'"},
        {PK("\x80\x02" "cposix\nsystem\n)R."), "'posix system'"},
        {PK("\x80\x02" "cbuiltins\neval\n)R."), "'builtins eval'"},
        {PK("\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x08" "builtins\x94\x8c\x04" "exec\x94\x93)R."),
         "'builtins exec'"},
        {PK("\x80\x02(cos\nsystem\nX\x02\x00\x00\x00lsi__main__\nx\n."), "'os system'"},
        {PK("\x80\x02(X\x02\x00\x00\x00lsios\nsystem\n."), "opcode 0x69 ('i')"},
        {PK("\x80\x02}q\x00S'x'\n."), "opcode 0x53 ('S')"},
        {PK("\x80\x02)\x81."), "opcode 0x81"},
        {PK("\x80\x02}0."), "opcode 0x30 ('0')"},
        {PK("\x80\x02]q\x00."), "opcode 0x5d"},
        {PK("\x80\x02\x82\x01."), "opcode 0x82"},
        {PK("\x80\x02}h\x05."), "memo get of an unset index"},
        {PK("\x80\x02}"), "without STOP"},
        {PK("\x80\x02}X\x01\x00\x00\x00" "aK\x05s."), "is not a tensor"},
        {PK("\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09."), "wider than 64 bits"},
        {PK("\x80\x02" "ctorch\nFloatStorage\n)R."), "REDUCE of a storage type"},
        {PK("\x80\x02" "ctorch\nDoubleStorage\n."), "torch.DoubleStorage is not supported"},
        {PK("\x80\x02X\xff\xff\xff\x7f."), "truncated"},
        {PK("\x80\x02s."), "SETITEM without a dict"},
        {PK("\x80\x02(((u."), "SETITEMS without a dict"},
        {PK("\x80\x02K\x01K\x02."), "STOP with a stack not of one item"},
        {PK("\x80\x09}."), "unsupported protocol"},
        {PK("\x80\x02" "ccollections\nOrderedDict\nK\x01\x85R."), "OrderedDict with arguments"},
        {PK("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n)R."), "_rebuild_tensor_v2 with unexpected"},
        {PK("\x80\x02K\x01K\x02" "b."), "BUILD of something that is not a dict"},
        {PK("\x80\x02(t."), "no dict of tensors"},
    };
    buf z = {0}, pk = {0};
    size_t i;
    char label[64];
    int64_t shape[5] = {4, 1, 1, 1, 1}, stride[5] = {1, 1, 1, 1, 1};
    g_section = "evil pickles";
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        zip_with_pickle(cases[i].pickle, cases[i].len, &z);
        snprintf(label, sizeof(label), "pickle %zu", i);
        expect_refused_bytes(z.p, z.n, "evil.pth", cases[i].reason, label);
    }
    /* 100000 MARKs: no stack trouble, just refused */
    pk.n = 0;
    put8(&pk, 0x80);
    put8(&pk, 2);
    for (i = 0; i < 100000; i++) put8(&pk, '(');
    put8(&pk, '.');
    zip_with_pickle(pk.p, pk.n, &z);
    expect_refused_bytes(z.p, z.n, "evil.pth", "STOP", "many marks");
    /* tensors against their storage */
    tensor_pickle(&pk, "0", 16, 13, 1, shape, stride, "FloatStorage");
    zip_with_pickle(pk.p, pk.n, &z);
    expect_refused_bytes(z.p, z.n, "evil.pth", "reaches element 16", "offset past the end");
    shape[0] = 4, stride[0] = 6;
    tensor_pickle(&pk, "0", 16, 0, 1, shape, stride, "FloatStorage");
    zip_with_pickle(pk.p, pk.n, &z);
    expect_refused_bytes(z.p, z.n, "evil.pth", "reaches element", "stride past the end");
    stride[0] = 1;
    tensor_pickle(&pk, "0", 20, 0, 1, shape, stride, "FloatStorage");
    zip_with_pickle(pk.p, pk.n, &z);
    expect_refused_bytes(z.p, z.n, "evil.pth", "but the entry has 64 bytes", "numel claim");
    tensor_pickle(&pk, "0", 16, 0, 1, shape, stride, "HalfStorage");
    zip_with_pickle(pk.p, pk.n, &z);
    expect_refused_bytes(z.p, z.n, "evil.pth", "but the entry has 64 bytes", "dtype claim");
    tensor_pickle(&pk, "7", 16, 0, 1, shape, stride, "FloatStorage");
    zip_with_pickle(pk.p, pk.n, &z);
    expect_refused_bytes(z.p, z.n, "evil.pth", "missing from the archive", "missing storage");
    tensor_pickle(&pk, "../0", 16, 0, 1, shape, stride, "FloatStorage");
    zip_with_pickle(pk.p, pk.n, &z);
    expect_refused_bytes(z.p, z.n, "evil.pth", "bad storage key", "storage key with a slash");
    tensor_pickle(&pk, "0", 16, 0, 5, shape, stride, "FloatStorage");
    zip_with_pickle(pk.p, pk.n, &z);
    expect_refused_bytes(z.p, z.n, "evil.pth", "unexpected arguments", "5 dimensions");
    shape[0] = 0;
    tensor_pickle(&pk, "0", 16, 0, 1, shape, stride, "FloatStorage");
    zip_with_pickle(pk.p, pk.n, &z);
    expect_refused_bytes(z.p, z.n, "evil.pth", "dimension 0 of size 0", "empty tensor");
    shape[0] = 4, stride[0] = -1;
    tensor_pickle(&pk, "0", 16, 3, 1, shape, stride, "FloatStorage");
    zip_with_pickle(pk.p, pk.n, &z);
    expect_refused_bytes(z.p, z.n, "evil.pth", "bad stride", "negative stride");
    stride[0] = 1;
    tensor_pickle(&pk, "0", 16, -2, 1, shape, stride, "FloatStorage");
    zip_with_pickle(pk.p, pk.n, &z);
    expect_refused_bytes(z.p, z.n, "evil.pth", "negative storage offset", "negative offset");
    /* a valid tensor that is not an RWKV model */
    tensor_pickle(&pk, "0", 16, 0, 1, shape, stride, "FloatStorage");
    zip_with_pickle(pk.p, pk.n, &z);
    expect_refused_bytes(z.p, z.n, "evil.pth", "emb.weight: unsupported shape", "not a model");
    free(z.p);
    free(pk.p);
}

/* Central directory record for a hand-made archive. */
static void central(buf *b, const char *name, uint32_t crc, uint32_t len, uint32_t local) {
    put32(b, 0x02014b50u);
    put16(b, 0), put16(b, 0), put16(b, 0x0808), put16(b, 0), put16(b, 0), put16(b, 0);
    put32(b, crc), put32(b, len), put32(b, len);
    put16(b, (unsigned)strlen(name)), put16(b, 0), put16(b, 0), put16(b, 0), put16(b, 0);
    put32(b, 0), put32(b, local);
    puts_(b, name);
}

static void test_zip_attacks(const buf *good, const omodel *m) {
    buf b = {0};
    size_t i, cd = 0, eocd;
    g_section = "zip attacks";
    (void)m;
    /* truncated at many offsets: all refused, none crash */
    for (i = 0; i < good->n; i += i < 700 ? 1 : i > good->n - 400 ? 1 : 61) {
        char label[64];
        snprintf(label, sizeof(label), "truncated at %zu", i);
        expect_refused_bytes(good->p, i, "cut.pth", NULL, label);
    }
    /* find the end records */
    eocd = good->n - 22;
    CHECK(le32(good->p + eocd) == 0x06054b50u);
    cd = le32(good->p + eocd + 16);
    /* a damaged byte in data.pkl, then in a storage: CRC mismatch */
    b.n = 0;
    put(&b, good->p, good->n);
    b.p[64 + 40] ^= 0x01;
    expect_refused_bytes(b.p, b.n, "crc.pth", "CRC-32 mismatch", "data.pkl CRC");
    b.n = 0;
    put(&b, good->p, good->n);
    b.p[cd - 300] ^= 0x40; /* inside the last storage before the version */
    expect_refused_bytes(b.p, b.n, "crc.pth", NULL, "storage CRC");
    /* a wrong CRC in the directory */
    b.n = 0;
    put(&b, good->p, good->n);
    b.p[cd + 16] ^= 0xFF;
    expect_refused_bytes(b.p, b.n, "crc.pth", "CRC-32 mismatch", "directory CRC");
    /* size claims: a storage claiming a terabyte (ZIP64 field) */
    for (i = cd; i + 4 < good->n && le32(good->p + i) == 0x02014b50u;) {
        size_t name_len = good->p[i + 28] | good->p[i + 29] << 8, extra = good->p[i + 30] | good->p[i + 31] << 8;
        if (name_len > 13 && !memcmp(good->p + i + 46, "archive/data/", 13)) break;
        i += 46 + name_len + extra;
    }
    b.n = 0;
    put(&b, good->p, good->n);
    set32(b.p + i + 20, 0xFFFFFFFFu);
    set32(b.p + i + 24, 0xFFFFFFFFu);
    expect_refused_bytes(b.p, b.n, "bomb.pth", "ZIP64", "size all ones without a ZIP64 field");
    b.n = 0;
    put(&b, good->p, good->n);
    set32(b.p + i + 20, 0x7FFFFFF0u);
    set32(b.p + i + 24, 0x7FFFFFF0u);
    expect_refused_bytes(b.p, b.n, "bomb.pth", "past the end of the data", "size claim");
    b.n = 0;
    put(&b, good->p, good->n);
    set32(b.p + i + 24, 12);
    expect_refused_bytes(b.p, b.n, "bomb.pth", "sizes", "stored sizes differ");
    b.n = 0;
    put(&b, good->p, good->n);
    b.p[i + 10] = 8; /* deflate */
    expect_refused_bytes(b.p, b.n, "bomb.pth", "compressed", "compressed entry");
    b.n = 0;
    put(&b, good->p, good->n);
    b.p[i + 8] |= 1;
    expect_refused_bytes(b.p, b.n, "bomb.pth", "encrypted", "encrypted entry");
    b.n = 0;
    put(&b, good->p, good->n);
    set32(b.p + i + 42, 0);
    expect_refused_bytes(b.p, b.n, "bomb.pth", "local header", "local header elsewhere");
    /* the ZIP64 end record: absurd entry count, directory outside the file */
    b.n = 0;
    put(&b, good->p, good->n);
    set64(b.p + (good->n - 22 - 20 - 56) + 32, 1ull << 40);
    expect_refused_bytes(b.p, b.n, "bomb.pth", "implausible entry count", "entry count");
    b.n = 0;
    put(&b, good->p, good->n);
    set64(b.p + (good->n - 22 - 20 - 56) + 48, 1ull << 50);
    expect_refused_bytes(b.p, b.n, "bomb.pth", "outside the file", "directory offset");
    b.n = 0;
    put(&b, good->p, good->n);
    set64(b.p + (good->n - 22 - 20) + 8, good->n);
    expect_refused_bytes(b.p, b.n, "bomb.pth", "ZIP64 end record", "zip64 record offset");
    /* overlapping entries: B's local header lies inside A's data */
    {
        buf a = {0}, z = {0}, pk = {0};
        int64_t shape[1] = {4}, stride[1] = {1};
        uint32_t crc_b;
        size_t a_local, a_data, b_local, pk_local, dir;
        static const float data_b[4] = {1, 2, 3, 4};
        tensor_pickle(&pk, "1", 4, 0, 1, shape, stride, "FloatStorage");
        /* A's data: a complete local entry for B */
        put32(&a, 0x04034b50u);
        put16(&a, 0), put16(&a, 0x0808), put16(&a, 0), put16(&a, 0), put16(&a, 0);
        put32(&a, 0), put32(&a, 0), put32(&a, 0);
        put16(&a, 14), put16(&a, 0);
        puts_(&a, "archive/data/1");
        put(&a, data_b, sizeof(data_b));
        crc_b = crc32_of((const unsigned char *)data_b, sizeof(data_b));
        pk_local = z.n;
        put32(&z, 0x04034b50u);
        put16(&z, 0), put16(&z, 0x0808), put16(&z, 0), put16(&z, 0), put16(&z, 0);
        put32(&z, 0), put32(&z, 0), put32(&z, 0);
        put16(&z, 16), put16(&z, 0);
        puts_(&z, "archive/data.pkl");
        put(&z, pk.p, pk.n);
        a_local = z.n;
        put32(&z, 0x04034b50u);
        put16(&z, 0), put16(&z, 0x0808), put16(&z, 0), put16(&z, 0), put16(&z, 0);
        put32(&z, 0), put32(&z, 0), put32(&z, 0);
        put16(&z, 14), put16(&z, 0);
        puts_(&z, "archive/data/0");
        a_data = z.n;
        put(&z, a.p, a.n);
        b_local = a_data;
        dir = z.n;
        central(&z, "archive/data.pkl", crc32_of(pk.p, pk.n), (uint32_t)pk.n, (uint32_t)pk_local);
        central(&z, "archive/data/0", crc32_of(a.p, a.n), (uint32_t)a.n, (uint32_t)a_local);
        central(&z, "archive/data/1", crc_b, sizeof(data_b), (uint32_t)b_local);
        put32(&z, 0x06054b50u);
        put16(&z, 0), put16(&z, 0), put16(&z, 3), put16(&z, 3);
        put32(&z, (uint32_t)(z.n - dir - 0)), put32(&z, (uint32_t)dir), put16(&z, 0);
        /* fix the directory size (written before the record) */
        set32(z.p + z.n - 10, (uint32_t)(z.n - 22 - dir));
        expect_refused_bytes(z.p, z.n, "overlap.pth", "overlap", "overlapping entries");
        free(a.p);
        free(z.p);
        free(pk.p);
    }
    /* not a zip at all, and a comment length past the end */
    b.n = 0;
    for (i = 0; i < 5000; i++) put8(&b, (unsigned)(rnd_u64() & 255));
    b.p[0] = 'P', b.p[1] = 'K', b.p[2] = 3, b.p[3] = 4;
    expect_refused_bytes(b.p, b.n, "noise.pth", "not a zip archive", "noise");
    b.n = 0;
    put(&b, good->p, good->n);
    b.p[b.n - 2] = 0x10;
    expect_refused_bytes(b.p, b.n, "comment.pth", "not a zip archive", "comment past the end");
    b.n = 0;
    for (i = 0; i < 100; i++) put8(&b, (unsigned)(rnd_u64() & 255));
    b.p[8] = 'x';
    expect_refused_bytes(b.p, b.n, "noise.bin", "neither", "noise without a magic");
    expect_refused_bytes("\x80\x02\x8a\x0a" "l\xfc\x9c" "F\xf9 j\xa8" "P\x19.", 16, "legacy.pth", "legacy", "legacy torch format");
    expect_refused(tmp_path("does-not-exist.pth"), "cannot open", "missing file");
    free(b.p);
}

static void test_safetensors_attacks(void) {
    static const char *const headers[] = {
        "[]",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,32]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}",
        "{\"a\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,4],\"data_offsets\":[0,16]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,-8]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}} x",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,1e1]}}",
        "{\"__metadata__\":{}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
    };
    static const char *const reasons[] = {
        "neither", "do not fit", "do not fit", "dtype I64", "bad shape", "scalar",
        "more than 4", "overlap", "appears twice", "do not fit", "bad shape", "expected a key",
        "trailing", "malformed", "no tensors", "emb.weight",
    };
    buf b = {0}, h = {0};
    size_t i;
    char label[64];
    g_section = "safetensors attacks";
    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        b.n = 0;
        put64(&b, strlen(headers[i]));
        puts_(&b, headers[i]);
        put(&b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
        snprintf(label, sizeof(label), "header %zu", i);
        expect_refused_bytes(b.p, b.n, "bad.safetensors", reasons[i], label);
    }
    /* header length past the end, and absurdly large */
    b.n = 0;
    put64(&b, 1000);
    puts_(&b, "{}");
    expect_refused_bytes(b.p, b.n, "bad.safetensors", "not a safetensors file", "header past the end");
    b.n = 0;
    put64(&b, 1ull << 62);
    puts_(&b, "{}");
    expect_refused_bytes(b.p, b.n, "bad.safetensors", "not a safetensors file", "huge header");
    /* deep nesting: refused without deep recursion */
    h.n = 0;
    puts_(&h, "{\"a\":");
    for (i = 0; i < 200000; i++) put8(&h, '[');
    for (i = 0; i < 200000; i++) put8(&h, ']');
    puts_(&h, "}");
    b.n = 0;
    put64(&b, h.n);
    put(&b, h.p, h.n);
    expect_refused_bytes(b.p, b.n, "deep.safetensors", "nested too deeply", "deep nesting");
    /* an index naming a shard outside its folder, or the wrong shard */
    {
        static const char *const index1 = "{\"weight_map\":{\"emb.weight\":\"../evil.safetensors\"}}";
        static const char *const index2 = "{\"weight_map\":{\"a\":\"w.safetensors\",\"x\":\"w.safetensors\"}}";
        static const char *const index3 = "{\"metadata\":{}}";
        static const char *const index4 = "{\"weight_map\":{\"emb.weight\":\"nothere.safetensors\"}}";
        b.n = 0;
        put64(&b, strlen(headers[15]));
        puts_(&b, headers[15]);
        put(&b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
        write_file(tmp_path("w.safetensors"), b.p, b.n);
        expect_refused_bytes(index1, strlen(index1), "i1.json", "plain file name", "index escapes its folder");
        expect_refused_bytes(index2, strlen(index2), "i2.json", "tensor x is not in", "index lists a missing tensor");
        expect_refused_bytes(index3, strlen(index3), "i3.json", "no weight_map", "index without weight_map");
        expect_refused_bytes(index4, strlen(index4), "i4.json", "cannot open", "index with a missing shard");
        expect_refused_bytes("{\"weight_map\":", 14, "i5.json", "JSON", "truncated index");
    }
    free(b.p);
    free(h.p);
}

/* Wrong models: a missing tensor, a stray one, a bad shape. */
static void test_bad_models(void) {
    omodel *m = (omodel *)calloc(1, sizeof(omodel));
    buf b = {0};
    float *saved;
    int i;
    g_section = "bad models";
    make_version(m, 5, 2, DT_F32, 0);
    /* rename ln_out.bias: a stray name and a missing one */
    for (i = 0; i < m->n; i++)
        if (!strcmp(m->t[i].name, "ln_out.bias")) strcpy(m->t[i].name, "ln_out.biass");
    write_safetensors(m, DT_F32, 0, 0, 1, &b);
    expect_refused_bytes(b.p, b.n, "bad.safetensors", "tensor ln_out.bias is missing", "missing tensor");
    for (i = 0; i < m->n; i++)
        if (!strcmp(m->t[i].name, "ln_out.biass")) strcpy(m->t[i].name, "ln_out.bias");
    strcpy(m->t[m->n].name, "blocks.1.att.extra");
    m->t[m->n].ndim = 1;
    m->t[m->n].shape[0] = m->t[m->n].numel = 4;
    m->t[m->n].v = (float *)calloc(4, sizeof(float));
    m->n++;
    write_safetensors(m, DT_F32, 0, 0, 1, &b);
    expect_refused_bytes(b.p, b.n, "bad.safetensors", "unexpected tensor blocks.1.att.extra", "stray tensor");
    free(m->t[--m->n].v);
    /* a matrix of the wrong shape */
    for (i = 0; i < m->n; i++)
        if (!strcmp(m->t[i].name, "blocks.1.att.gate.weight")) {
            saved = m->t[i].v;
            m->t[i].shape[0] = 32;
            m->t[i].shape[1] = 128;
            write_safetensors(m, DT_F32, 0, 0, 1, &b);
            expect_refused_bytes(b.p, b.n, "bad.safetensors", "blocks.1.att.gate.weight has shape (32, 128)",
                                 "wrong shape");
            m->t[i].shape[0] = 64;
            m->t[i].shape[1] = 64;
            m->t[i].v = saved;
        }
    /* a name twice, under the official and the transformers naming */
    strcpy(m->t[m->n].name, "rwkv.ln_out.weight");
    m->t[m->n].ndim = 1;
    m->t[m->n].shape[0] = m->t[m->n].numel = 64;
    m->t[m->n].v = (float *)calloc(64, sizeof(float));
    m->n++;
    write_safetensors(m, DT_F32, 0, 0, 1, &b);
    expect_refused_bytes(b.p, b.n, "bad.safetensors", "appears twice", "two namings");
    om_free(m);
    free(m);
    free(b.p);
}

/* Random damage: whatever happens, no crash, and a reason when refused. */
static void test_mutations(const buf *pth, const buf *st) {
    buf b = {0};
    int iter;
    char err[512];
    checkpoint_result r;
    g_section = "mutations";
    for (iter = 0; iter < 400; iter++) {
        const buf *src = iter % 3 == 2 ? st : pth;
        int k, flips = 1 + (int)(rnd_u64() % 6), rc;
        b.n = 0;
        put(&b, src->p, src->n);
        for (k = 0; k < flips; k++) {
            /* mostly the metadata: the first and last few kilobytes */
            size_t at = rnd_u64() % 2 ? (size_t)(rnd_u64() % (b.n < 4096 ? b.n : 4096))
                                      : b.n - 1 - (size_t)(rnd_u64() % (b.n < 4096 ? b.n : 4096));
            b.p[at] ^= (unsigned char)(1u << (rnd_u64() % 8));
        }
        if (iter % 7 == 0) b.n -= (size_t)(rnd_u64() % (b.n / 2));
        write_file(tmp_path(iter % 3 == 2 ? "mut.safetensors" : "mut.pth"), b.p, b.n);
        err[0] = 0;
        rc = convert(tmp_path(iter % 3 == 2 ? "mut.safetensors" : "mut.pth"), tmp_path("mut.gguf"),
                     iter % 2 ? RWKV_TYPE_Q4_0 : RWKV_TYPE_F32, NULL, &r, err, sizeof(err));
        CHECKF(rc == 0 || err[0], "mutation %d refused without a reason", iter);
        if (rc == 0) { /* what was written must load */
            rwkv_model *model = NULL;
            rwkv_error error;
            CHECKF(rwkv_model_load_file(&model, tmp_path("mut.gguf"), &error) == RWKV_OK, "mutation %d: %s", iter,
                   error.message);
            rwkv_model_free(model);
        }
        remove(tmp_path("mut.gguf"));
    }
    free(b.p);
}

static void test_json(void) {
    static const char *const bad[] = {"", "{", "{\"a\":1,}", "[1,]", "[1 2]", "\"abc", "\"a\x01\"", "\"\\q\"",
                                      "\"\\u12\"", "01", "-", "1.", "1e", "tru", "nul", "{\"a\" 1}", "{1:2}",
                                      "[1]]", "\"\\", "[\"a\",\"b\"", "1.5e+", "+1"};
    ck_json doc;
    char err[160];
    size_t i;
    int32_t n;
    const char *text = " {\"s\": \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\\ud800x\", \"n\": [0, -12, "
                       "9223372036854775807, -9223372036854775808, 18446744073709551616, 1.5, -2e3, 1E-2],"
                       " \"t\": true, \"f\": false, \"z\": null, \"e\": {}, \"k\\u0000\": []} ";
    g_section = "json";
    CHECKF(ck_json_parse(&doc, text, strlen(text), err, sizeof(err)) == 0, "%s", err);
    n = ck_json_get(&doc, 0, "s");
    CHECK(n >= 0 && doc.nodes[n].type == CK_JSON_STRING &&
          doc.nodes[n].len == strlen("a\"b\\c/d\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx") &&
          !memcmp(doc.nodes[n].s, "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx", doc.nodes[n].len));
    n = ck_json_get(&doc, 0, "n");
    CHECK(n >= 0 && doc.nodes[n].count == 8);
    if (n >= 0 && doc.nodes[n].count == 8) {
        int32_t e = doc.nodes[n].first;
        const ck_json_node *v[8];
        for (i = 0; i < 8; i++, e = doc.nodes[e].next) v[i] = &doc.nodes[e];
        CHECK(v[0]->is_int && v[0]->i == 0);
        CHECK(v[1]->is_int && v[1]->i == -12);
        CHECK(v[2]->is_int && v[2]->i == INT64_MAX);
        CHECK(v[3]->is_int && v[3]->i == INT64_MIN);
        CHECK(!v[4]->is_int && v[4]->d > 1.8e19);
        CHECK(!v[5]->is_int && v[5]->d == 1.5);
        CHECK(!v[6]->is_int && v[6]->d == -2000);
        CHECK(!v[7]->is_int && fabs(v[7]->d - 0.01) < 1e-15);
    }
    CHECK(doc.nodes[ck_json_get(&doc, 0, "t")].type == CK_JSON_TRUE);
    CHECK(doc.nodes[ck_json_get(&doc, 0, "f")].type == CK_JSON_FALSE);
    CHECK(doc.nodes[ck_json_get(&doc, 0, "z")].type == CK_JSON_NULL);
    CHECK(doc.nodes[ck_json_get(&doc, 0, "e")].type == CK_JSON_OBJECT);
    CHECK(ck_json_get(&doc, 0, "k") < 0 && ck_json_get(&doc, 0, "missing") < 0);
    ck_json_free(&doc);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = ck_json_parse(&doc, bad[i], strlen(bad[i]), err, sizeof(err));
        CHECKF(rc != 0 && err[0], "bad JSON %zu accepted", i);
        ck_json_free(&doc);
    }
    /* depth: 64 levels parse, 66 do not */
    {
        buf b = {0};
        for (i = 0; i < 64; i++) put8(&b, '[');
        for (i = 0; i < 64; i++) put8(&b, ']');
        CHECK(ck_json_parse(&doc, (const char *)b.p, b.n, err, sizeof(err)) == 0);
        ck_json_free(&doc);
        b.n = 0;
        for (i = 0; i < 66; i++) put8(&b, '[');
        for (i = 0; i < 66; i++) put8(&b, ']');
        CHECK(ck_json_parse(&doc, (const char *)b.p, b.n, err, sizeof(err)) != 0 && strstr(err, "deeply"));
        ck_json_free(&doc);
        free(b.p);
    }
}

static void test_api(void) {
    char err[256];
    g_section = "api";
    CHECK(checkpoint_type_from_name("f32") == RWKV_TYPE_F32 && checkpoint_type_from_name("q5_1") == RWKV_TYPE_Q5_1 &&
          checkpoint_type_from_name("bf16") == RWKV_TYPE_BF16 && checkpoint_type_from_name("q2_k") == -1 &&
          checkpoint_type_from_name(NULL) == -1);
    CHECK(checkpoint_convert("x.pth", tmp_path("y.gguf"), 5, NULL, err, sizeof(err)) != 0 && strstr(err, "output type"));
    CHECK(checkpoint_convert(NULL, "y", RWKV_TYPE_F32, NULL, err, sizeof(err)) != 0);
    write_file(tmp_path("g.gguf"), "GGUF\3\0\0\0\0\0\0\0\0\0\0\0", 16);
    CHECK(!checkpoint_is_checkpoint(tmp_path("g.gguf")));
    CHECK(checkpoint_convert(tmp_path("g.gguf"), tmp_path("y.gguf"), RWKV_TYPE_F32, NULL, err, sizeof(err)) != 0 &&
          strstr(err, "already a GGUF"));
    CHECK(!checkpoint_is_checkpoint(tmp_path("nope.pth")));
}

int main(void) {
    omodel *m = (omodel *)calloc(1, sizeof(omodel));
    buf pth = {0}, st = {0};
    pth_options o;
    strcpy(g_dir, "/tmp/rwkv_ckpt_test_XXXXXX");
    if (!mkdtemp(g_dir)) {
        printf("cannot create a temporary folder\n");
        return 1;
    }
    test_json();
    test_api();
    test_versions();
    test_hf_names();
    test_vocab();
    test_evil_pickles();
    test_safetensors_attacks();
    test_bad_models();
    /* a small valid archive and safetensors file to damage */
    make_model(m, 4, 0, 1, 32, 64, 256, 0, 0);
    memset(&o, 0, sizeof(o));
    o.dtype = DT_F16;
    write_pth(m, &o, &pth);
    write_file(tmp_path("good.pth"), pth.p, pth.n);
    {
        char err[256];
        checkpoint_result r;
        CHECKF(convert(tmp_path("good.pth"), tmp_path("good.gguf"), RWKV_TYPE_F32, NULL, &r, err, sizeof(err)) == 0,
               "the base of the attacks converts: %s", err);
        remove(tmp_path("good.gguf"));
    }
    write_safetensors(m, DT_F32, 0, 0, 1, &st);
    {
        buf big = {0};
        o.byteorder = "big";
        write_pth(m, &o, &big);
        g_section = "byte order";
        expect_refused_bytes(big.p, big.n, "big.pth", "big-endian", "big-endian storages");
        free(big.p);
        o.byteorder = NULL;
    }
    test_zip_attacks(&pth, m);
    test_mutations(&pth, &st);
    om_free(m);
    free(m);
    free(pth.p);
    free(st.p);
    {
        /* clean the temporary folder */
        static const char *const names[] = {"m.pth", "m.safetensors", "model-00001-of-00003.safetensors",
            "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "model.safetensors.index.json",
            "hf.safetensors", "hf-00001-of-00002.safetensors", "hf-00002-of-00002.safetensors", "hf.index.json",
            "w.safetensors", "w2.safetensors", "vocab.txt", "tokenizer.json", "evil.pth", "bad.safetensors",
            "deep.safetensors", "i1.json", "i2.json", "i3.json", "i4.json", "i5.json", "cut.pth", "crc.pth",
            "bomb.pth", "overlap.pth", "noise.pth", "comment.pth", "noise.bin", "legacy.pth", "good.pth",
            "mut.pth", "mut.safetensors", "g.gguf", "big.pth"};
        size_t i;
        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) remove(tmp_path(names[i]));
        if (rmdir(g_dir)) printf("note: %s not empty\n", g_dir);
    }
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
