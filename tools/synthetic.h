/* synthetic.h - random-weight RWKV models of any shape and version (4, 5.2,
 * 6, 7), built in memory.
 *
 * Header-only, all functions static inline (so that a file using only some
 * gets no unused-function warnings). Needs rwkv.h, with the implementation
 * in the program (rwkv_quantize_row encodes the weights), and
 * tools/gguf_writer.h, both found with -I. from the project root. For
 * benchmarks and tests that want a model of a real size without a file:
 *
 *     synthetic_shape shape;
 *     size_t size;
 *     synthetic_shape_by_name("4-169m", RWKV_TYPE_F16, &shape);
 *     unsigned char *gguf = synthetic_build(&shape, &size);
 *     rwkv_model_load_memory(&model, gguf, size, &error);
 *     ... rwkv_model_free(model); free(gguf);
 *
 * synthetic_shape_names lists the named real shapes.
 *
 * The result is a GGUF of the layout `rwkv convert` writes (README.md:
 * rwkv4, rwkv5, and llama.cpp's rwkv6/rwkv7), with a "bytes" tokenizer if
 * the vocabulary has 256 tokens and none otherwise. The weights come from a
 * fixed-seed generator, so a shape and seed always give the same bytes, with
 * the magnitudes of a freshly initialised model: matrices normal with
 * standard deviation 1/sqrt(fan-in), layer norms weight 1 bias 0, token-shift
 * mixes in [0, 1], and the decay and bonus curves of each version's own
 * initialisation. The big matrices may be of any type rwkv.h runs whose
 * blocks fit the rows (quantized types need n_embd, n_ffn multiples of 32);
 * the small LoRA matrices of v6/v7 are F32 (v7's a/v/g ones F16 in
 * quantized models), as llama.cpp's converter writes them.
 */
#ifndef SYNTHETIC_H
#define SYNTHETIC_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rwkv.h"
#include "tools/gguf_writer.h"

typedef struct synthetic_shape {
    int n_layer, n_embd, n_ffn, n_vocab;
    int type;      /* of the matrices: any rwkv_type (vectors are f32) */
    uint64_t seed;
    int version;   /* 4 (also when 0), 5 (5.2), 6 or 7 */
    int head_size; /* v5-v7 */
    int lora[4];   /* v6: mix, decay ranks; v7: decay, iclr (a), value, gate */
} synthetic_shape;

/* The named shapes: RWKV-4 Pile 169M and 430M, and for v5, v6 and v7 the
   0.1B (12 layers, 768 wide) and 1.5B (24 layers, 2048 wide) shapes of the
   World models (vocabulary 65536, head size 64). v5/v6 use an FFN of 3.5x
   the width, v7 4x; the LoRA ranks are those of the official models (v7:
   the rounding formulas of its training code). */
static const char *const synthetic_shape_names = "4-169m 4-430m 5-0.1b 5-1.5b 6-0.1b 6-1.5b 7-0.1b 7-1.5b";

static inline int synthetic_shape_by_name(const char *name, int type, synthetic_shape *s) {
    static const struct {
        const char *name;
        synthetic_shape shape;
    } shapes[] = {
        {"4-169m", {12, 768, 3072, 50277, 0, 1, 4, 0, {0, 0, 0, 0}}},
        {"4-430m", {24, 1024, 4096, 50277, 0, 1, 4, 0, {0, 0, 0, 0}}},
        {"5-0.1b", {12, 768, 2688, 65536, 0, 1, 5, 64, {0, 0, 0, 0}}},
        {"5-1.5b", {24, 2048, 7168, 65536, 0, 1, 5, 64, {0, 0, 0, 0}}},
        {"6-0.1b", {12, 768, 2688, 65536, 0, 1, 6, 64, {32, 64, 0, 0}}},
        {"6-1.5b", {24, 2048, 7168, 65536, 0, 1, 6, 64, {32, 64, 0, 0}}},
        {"7-0.1b", {12, 768, 3072, 65536, 0, 1, 7, 64, {64, 64, 32, 128}}},
        {"7-1.5b", {24, 2048, 8192, 65536, 0, 1, 7, 64, {96, 96, 64, 256}}},
    };
    size_t i;
    for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        if (!strcmp(name, shapes[i].name)) {
            *s = shapes[i].shape;
            s->type = type;
            return 0;
        }
    return -1;
}

/* llama.cpp's general.file_type for a model whose matrices are mostly of
   one type (LlamaFileType: 0 all f32, 1 mostly f16, ...). */
static inline uint32_t rwkv_gguf_file_type(int type) {
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

/* The keys every version's layout has (README.md), for architecture
   "rwkv<version>", and general.quantization_version if the matrices are
   mostly quantized. `rwkv convert` writes the same. */
static inline int rwkv_gguf_add_common_keys(gguf_writer *w, int version, const char *name,
                                            int mostly_type, int n_layer, int n_embd,
                                            int n_ffn) {
    char arch[16], key[64];
    int quantized = mostly_type != RWKV_TYPE_F32 && mostly_type != RWKV_TYPE_F16 &&
                    mostly_type != RWKV_TYPE_BF16;
    sprintf(arch, "rwkv%d", version);
#define SYNTHETIC__KEY(suffix) (sprintf(key, "%s.%s", arch, suffix), key)
    return gguf_writer_add_str(w, "general.architecture", arch) ||
           gguf_writer_add_str(w, "general.name", name) ||
           gguf_writer_add_u32(w, "general.file_type", rwkv_gguf_file_type(mostly_type)) ||
           (quantized && gguf_writer_add_u32(w, "general.quantization_version", 2)) ||
           gguf_writer_add_u32(w, SYNTHETIC__KEY("context_length"), 1048576) ||
           gguf_writer_add_u32(w, SYNTHETIC__KEY("embedding_length"), (uint32_t)n_embd) ||
           gguf_writer_add_u32(w, SYNTHETIC__KEY("block_count"), (uint32_t)n_layer) ||
           gguf_writer_add_u32(w, SYNTHETIC__KEY("feed_forward_length"), (uint32_t)n_ffn) ||
           gguf_writer_add_f32(w, SYNTHETIC__KEY("attention.layer_norm_epsilon"), 1e-5f);
#undef SYNTHETIC__KEY
}

/* The keys of a version's layout beyond the common ones, as llama.cpp's
   converter writes them for rwkv6/rwkv7 (and rwkv5 in the same style):
   wkv.head_size (v5+), attention.head_count 0 (v6+), v6's rescale and
   LoRA ranks (lora[0] token shift, lora[1] decay), v7's four LoRA ranks
   (decay, in-context learning rate, value residual, gate). `rwkv convert`
   writes the same. */
static inline int rwkv_gguf_add_version_keys(gguf_writer *w, int version, int head_size, int rescale_every,
                                             const int lora[4]) {
    char key[64];
#define SYNTHETIC__KEY(suffix) (sprintf(key, "rwkv%d.%s", version, suffix), key)
    if (version >= 5 && gguf_writer_add_u32(w, SYNTHETIC__KEY("wkv.head_size"), (uint32_t)head_size))
        return -1;
    if (version >= 6 && gguf_writer_add_u32(w, SYNTHETIC__KEY("attention.head_count"), 0)) return -1;
    if (version == 6)
        return gguf_writer_add_u32(w, SYNTHETIC__KEY("rescale_every_n_layers"), (uint32_t)rescale_every) ||
               gguf_writer_add_u32(w, SYNTHETIC__KEY("time_mix_extra_dim"), (uint32_t)lora[0]) ||
               gguf_writer_add_u32(w, SYNTHETIC__KEY("time_decay_extra_dim"), (uint32_t)lora[1]);
    if (version == 7)
        return gguf_writer_add_u32(w, SYNTHETIC__KEY("attention.decay_lora_rank"), (uint32_t)lora[0]) ||
               gguf_writer_add_u32(w, SYNTHETIC__KEY("attention.iclr_lora_rank"), (uint32_t)lora[1]) ||
               gguf_writer_add_u32(w, SYNTHETIC__KEY("attention.value_residual_mix_lora_rank"),
                                   (uint32_t)lora[2]) ||
               gguf_writer_add_u32(w, SYNTHETIC__KEY("attention.gate_lora_rank"), (uint32_t)lora[3]);
#undef SYNTHETIC__KEY
    return 0;
}

/* splitmix64: tiny, fast, and the same on every platform. */
static inline uint64_t synthetic__next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* About N(0, 1): the sum of four uniforms (16 bits each), centred and
   scaled to unit variance. Cheap enough for hundreds of millions. */
static inline float synthetic__normal(uint64_t *state) {
    uint64_t r = synthetic__next(state);
    float sum = (float)(r & 0xffff) + (float)((r >> 16) & 0xffff) +
                (float)((r >> 32) & 0xffff) + (float)(r >> 48);
    return (sum / 65536.0f - 2.0f) * 1.7320508f; /* var of U(0,1) is 1/12 */
}

/* The tensors being built: data to free once the GGUF is written. */
typedef struct synthetic__build {
    gguf_writer *writer;
    void **owned;
    size_t n_owned;
    const synthetic_shape *shape;
    uint64_t rng;
    char name[64];
} synthetic__build;

/* A new f32 tensor named b->name, of n_dims dimensions ne (ne[0] first),
   to be filled by the caller; NULL if out of memory. */
static inline float *synthetic__new_f32(synthetic__build *b, int n_dims, const int64_t *ne) {
    size_t n = 1;
    int d;
    float *v;
    for (d = 0; d < n_dims; d++) n *= (size_t)ne[d];
    if (!(v = (float *)malloc(n * sizeof(float)))) return NULL;
    b->owned[b->n_owned++] = v;
    if (gguf_writer_add_tensor(b->writer, b->name, RWKV_TYPE_F32, n_dims, ne, v, n * sizeof(float)))
        return NULL;
    return v;
}

static inline float *synthetic__new_vector(synthetic__build *b, int n) {
    int64_t ne[1];
    ne[0] = n;
    return synthetic__new_f32(b, 1, ne);
}

/* A vector of n copies of value. */
static inline int synthetic__constant(synthetic__build *b, int n, float value) {
    float *v = synthetic__new_vector(b, n);
    int i;
    if (!v) return -1;
    for (i = 0; i < n; i++) v[i] = value;
    return 0;
}

/* A token-shift mix in [0, 1]: the versions initialise it as 1 - (i/C)^p
   or (i/C)^p; which of the two does not matter for speed or stability. */
static inline int synthetic__mix(synthetic__build *b, int n, double power) {
    float *v = synthetic__new_vector(b, n);
    int i;
    if (!v) return -1;
    for (i = 0; i < n; i++) v[i] = (float)pow((double)i / n, power);
    return 0;
}

/* `count` mixes of n in one {n, 1, 1, count} tensor (v6/v7's fused lerps). */
static inline int synthetic__fused_mix(synthetic__build *b, int n, int count, double power) {
    int64_t ne[4];
    float *v;
    int i, q;
    ne[0] = n, ne[1] = 1, ne[2] = 1, ne[3] = count;
    if (!(v = synthetic__new_f32(b, 4, ne))) return -1;
    for (q = 0; q < count; q++)
        for (i = 0; i < n; i++) v[(size_t)q * n + i] = (float)pow((double)i / n, power * (1.0 + 0.2 * q));
    return 0;
}

/* The decay curve of the versions' initialisation: lo + span *
   (i/(n-1))^power, from slow to fast channels. */
static inline int synthetic__decay(synthetic__build *b, int n, double lo, double span, double power) {
    float *v = synthetic__new_vector(b, n);
    int i;
    if (!v) return -1;
    for (i = 0; i < n; i++) v[i] = (float)(lo + span * pow(n > 1 ? (double)i / (n - 1) : 0.0, power));
    return 0;
}

/* v5.2/v6's bonus ("time_faaaa"): a ramp with a zigzag, {N, H} or {C}. */
static inline int synthetic__bonus(synthetic__build *b, int n_dims, const int64_t *ne, double ratio) {
    int n = (int)(ne[0] * (n_dims > 1 ? ne[1] : 1)), i;
    float *v = synthetic__new_f32(b, n_dims, ne);
    if (!v) return -1;
    for (i = 0; i < n; i++)
        v[i] = (float)(ratio * (1.0 - (n > 1 ? (double)i / (n - 1) : 0.0)) + ((i + 1) % 3 - 1) * 0.1);
    return 0;
}

/* A matrix of n_out rows of n_in (ggml ne = {n_in, n_out}, times `count`
   matrices in a third dimension if count > 1), normal with standard
   deviation scale/sqrt(n_in), encoded row by row in `type`. */
static inline int synthetic__matrices(synthetic__build *b, int type, int n_in, int n_out, int count,
                                      double scale) {
    size_t row_bytes = rwkv_type_size(type, (uint64_t)n_in), rows = (size_t)n_out * (size_t)count, row;
    float sd = (float)(scale / sqrt((double)n_in));
    float *values = (float *)malloc((size_t)n_in * sizeof(float));
    unsigned char *data = (unsigned char *)malloc(row_bytes * rows);
    int64_t ne[3];
    int i;
    if (data) b->owned[b->n_owned++] = data;
    if (!data || !values) {
        free(values);
        return -1;
    }
    for (row = 0; row < rows; row++) {
        for (i = 0; i < n_in; i++) values[i] = synthetic__normal(&b->rng) * sd;
        rwkv_quantize_row(type, values, n_in, data + row_bytes * row);
    }
    free(values);
    ne[0] = n_in, ne[1] = n_out, ne[2] = count;
    return gguf_writer_add_tensor(b->writer, b->name, type, count > 1 ? 3 : 2, ne, data, row_bytes * rows);
}

/* A big matrix, in the shape's type. */
static inline int synthetic__matrix(synthetic__build *b, int n_in, int n_out) {
    return synthetic__matrices(b, b->shape->type, n_in, n_out, 1, 1.0);
}

static inline void synthetic__name(synthetic__build *b, int layer, const char *suffix) {
    if (layer < 0)
        snprintf(b->name, sizeof(b->name), "%s", suffix);
    else
        snprintf(b->name, sizeof(b->name), "blk.%d.%s", layer, suffix);
}

#define SYNTHETIC__TRY(suffix, call)       \
    do {                                   \
        synthetic__name(b, layer, suffix); \
        if (call) return -1;               \
    } while (0)

/* What every version's block has: layer norms, the four attention-like
   projections, the group norm (v5+), the channel mix. */
static inline int synthetic__common_layer(synthetic__build *b, int layer) {
    const synthetic_shape *s = b->shape;
    int C = s->n_embd, F = s->n_ffn;
    double shift = 1.0 - (double)layer / s->n_layer; /* mixes flatten with depth */
    SYNTHETIC__TRY("attn_norm.weight", synthetic__constant(b, C, 1.0f));
    SYNTHETIC__TRY("attn_norm.bias", synthetic__constant(b, C, 0.0f));
    SYNTHETIC__TRY("attn_norm_2.weight", synthetic__constant(b, C, 1.0f));
    SYNTHETIC__TRY("attn_norm_2.bias", synthetic__constant(b, C, 0.0f));
    SYNTHETIC__TRY("time_mix_key.weight", synthetic__matrix(b, C, C));
    SYNTHETIC__TRY("time_mix_value.weight", synthetic__matrix(b, C, C));
    SYNTHETIC__TRY("time_mix_receptance.weight", synthetic__matrix(b, C, C));
    SYNTHETIC__TRY("time_mix_output.weight", synthetic__matrix(b, C, C));
    if (s->version >= 5) {
        SYNTHETIC__TRY("time_mix_ln.weight", synthetic__constant(b, C, 1.0f));
        SYNTHETIC__TRY("time_mix_ln.bias", synthetic__constant(b, C, 0.0f));
    }
    SYNTHETIC__TRY("channel_mix_lerp_k.weight", synthetic__mix(b, C, shift));
    SYNTHETIC__TRY("channel_mix_key.weight", synthetic__matrix(b, C, F));
    SYNTHETIC__TRY("channel_mix_value.weight", synthetic__matrix(b, F, C));
    if (s->version < 7) {
        SYNTHETIC__TRY("channel_mix_lerp_r.weight", synthetic__mix(b, C, shift));
        SYNTHETIC__TRY("channel_mix_receptance.weight", synthetic__matrix(b, C, C));
    }
    return 0;
}

/* RWKV-4: per-channel mixes, and RWKV-4's initial curves: raw decay
   -5 + 8 (i/(C-1))^(0.7 + 1.3 depth) (the model uses -exp of it), and a
   zigzag bonus around ln 0.3. */
static inline int synthetic__layer_v4(synthetic__build *b, int layer) {
    const synthetic_shape *s = b->shape;
    int C = s->n_embd, i;
    double depth = s->n_layer > 1 ? (double)layer / (s->n_layer - 1) : 0.0;
    double shift = 1.0 - (double)layer / s->n_layer;
    float *first;
    SYNTHETIC__TRY("time_mix_lerp_k.weight", synthetic__mix(b, C, shift));
    SYNTHETIC__TRY("time_mix_lerp_v.weight", synthetic__mix(b, C, shift));
    SYNTHETIC__TRY("time_mix_lerp_r.weight", synthetic__mix(b, C, 0.5 * shift));
    SYNTHETIC__TRY("time_mix_decay.weight", synthetic__decay(b, C, -5.0, 8.0, 0.7 + 1.3 * depth));
    synthetic__name(b, layer, "time_mix_first.weight");
    if (!(first = synthetic__new_vector(b, C))) return -1;
    for (i = 0; i < C; i++) first[i] = (float)(log(0.3) + 0.5 * ((i + 1) % 3 - 1));
    return 0;
}

/* RWKV-5.2: v4's mixes plus the gate's, raw decay -6 + 5 (i/(C-1))^(0.7 +
   1.3 depth) (used as exp(-exp(.))), the bonus as used, the gate matrix. */
static inline int synthetic__layer_v5(synthetic__build *b, int layer) {
    const synthetic_shape *s = b->shape;
    int C = s->n_embd;
    double depth = s->n_layer > 1 ? (double)layer / (s->n_layer - 1) : 0.0;
    double shift = 1.0 - (double)layer / s->n_layer;
    int64_t ne[1];
    ne[0] = C;
    SYNTHETIC__TRY("time_mix_lerp_k.weight", synthetic__mix(b, C, shift));
    SYNTHETIC__TRY("time_mix_lerp_v.weight", synthetic__mix(b, C, shift));
    SYNTHETIC__TRY("time_mix_lerp_r.weight", synthetic__mix(b, C, 0.5 * shift));
    SYNTHETIC__TRY("time_mix_lerp_g.weight", synthetic__mix(b, C, 0.5 * shift));
    SYNTHETIC__TRY("time_mix_decay.weight", synthetic__decay(b, C, -6.0, 5.0, 0.7 + 1.3 * depth));
    SYNTHETIC__TRY("time_mix_first.weight", synthetic__bonus(b, 1, ne, depth));
    SYNTHETIC__TRY("time_mix_gate.weight", synthetic__matrix(b, C, C));
    return 0;
}

/* RWKV-6: data-dependent token shift (a rank lora[0] LoRA per mix, fused
   in llama.cpp's order w,k,v,r,g) and decay (rank lora[1]). The LoRA
   matrices are F32 and start small, as in training. */
static inline int synthetic__layer_v6(synthetic__build *b, int layer) {
    const synthetic_shape *s = b->shape;
    int C = s->n_embd, N = s->head_size, D = s->lora[0], D2 = s->lora[1];
    double depth = s->n_layer > 1 ? (double)layer / (s->n_layer - 1) : 0.0;
    double shift = 1.0 - (double)layer / s->n_layer;
    int64_t ne[2];
    ne[0] = N, ne[1] = C / N;
    SYNTHETIC__TRY("time_mix_lerp_x.weight", synthetic__mix(b, C, shift));
    SYNTHETIC__TRY("time_mix_lerp_fused.weight", synthetic__fused_mix(b, C, 5, shift));
    SYNTHETIC__TRY("time_mix_w1.weight", synthetic__matrices(b, RWKV_TYPE_F32, C, 5 * D, 1, 0.1));
    SYNTHETIC__TRY("time_mix_w2.weight", synthetic__matrices(b, RWKV_TYPE_F32, D, C, 5, 0.1));
    SYNTHETIC__TRY("time_mix_decay.weight", synthetic__decay(b, C, -6.0, 5.0, 0.7 + 1.3 * depth));
    SYNTHETIC__TRY("time_mix_decay_w1.weight", synthetic__matrices(b, RWKV_TYPE_F32, C, D2, 1, 0.1));
    SYNTHETIC__TRY("time_mix_decay_w2.weight", synthetic__matrices(b, RWKV_TYPE_F32, D2, C, 1, 0.1));
    SYNTHETIC__TRY("time_mix_first.weight", synthetic__bonus(b, 2, ne, depth));
    SYNTHETIC__TRY("time_mix_gate.weight", synthetic__matrix(b, C, C));
    return 0;
}

/* RWKV-7: fused mixes r,w,k,v,a,g; w0 from -6.5 + 5 (i/(C-1))^(0.85 +
   sqrt(depth)) as in its training code; LoRAs of ranks lora[0..3] (w in
   F32; a, v, g in the matrices' type, F16 when that is quantized);
   layer 0's value LoRA is a copy of a0/a1/a2, as llama.cpp writes it. */
static inline int synthetic__layer_v7(synthetic__build *b, int layer) {
    const synthetic_shape *s = b->shape;
    int C = s->n_embd, Dw = s->lora[0], Da = s->lora[1], Dv = layer ? s->lora[2] : Da, Dg = s->lora[3];
    int lt = s->type == RWKV_TYPE_F32 || s->type == RWKV_TYPE_F16 || s->type == RWKV_TYPE_BF16
                 ? s->type : RWKV_TYPE_F16;
    double depth = s->n_layer > 1 ? (double)layer / (s->n_layer - 1) : 0.0;
    double shift = 1.0 - (double)layer / s->n_layer;
    SYNTHETIC__TRY("time_mix_lerp_fused.weight", synthetic__fused_mix(b, C, 6, shift));
    SYNTHETIC__TRY("time_mix_w0.weight", synthetic__decay(b, C, -6.5, 5.0, 0.85 + sqrt(depth)));
    SYNTHETIC__TRY("time_mix_w1.weight", synthetic__matrices(b, RWKV_TYPE_F32, C, Dw, 1, 0.1));
    SYNTHETIC__TRY("time_mix_w2.weight", synthetic__matrices(b, RWKV_TYPE_F32, Dw, C, 1, 0.1));
    SYNTHETIC__TRY("time_mix_a0.weight", synthetic__constant(b, C, 0.0f));
    SYNTHETIC__TRY("time_mix_a1.weight", synthetic__matrices(b, lt, C, Da, 1, 0.1));
    SYNTHETIC__TRY("time_mix_a2.weight", synthetic__matrices(b, lt, Da, C, 1, 0.1));
    SYNTHETIC__TRY("time_mix_v0.weight", synthetic__constant(b, C, layer ? 1.0f : 0.0f));
    SYNTHETIC__TRY("time_mix_v1.weight", synthetic__matrices(b, lt, C, Dv, 1, 0.1));
    SYNTHETIC__TRY("time_mix_v2.weight", synthetic__matrices(b, lt, Dv, C, 1, 0.1));
    SYNTHETIC__TRY("time_mix_g1.weight", synthetic__matrices(b, lt, C, Dg, 1, 0.1));
    SYNTHETIC__TRY("time_mix_g2.weight", synthetic__matrices(b, lt, Dg, C, 1, 0.1));
    SYNTHETIC__TRY("time_mix_k_k.weight", synthetic__constant(b, C, 0.85f));
    SYNTHETIC__TRY("time_mix_k_a.weight", synthetic__constant(b, C, 1.0f));
    SYNTHETIC__TRY("time_mix_r_k.weight", synthetic__constant(b, C, -0.04f));
    return 0;
}
#undef SYNTHETIC__TRY

/* Writes the model into a new GGUF buffer and returns it (NULL for a bad
   shape or out of memory); free() it after rwkv_model_free(). The buffer
   starts on a 32-byte boundary, so rwkv_model_load_memory() uses its
   weights in place instead of copying them. */
static inline unsigned char *synthetic_build(const synthetic_shape *shape_in, size_t *size) {
    enum { MAX_TENSORS_PER_LAYER = 32 };
    synthetic_shape shape = *shape_in;
    synthetic__build b;
    unsigned char *gguf = NULL, *aligned;
    int layer, failed, i;
    size_t k, max_tensors;
    if (!shape.version) shape.version = 4;
    if (shape.n_layer < 1 || shape.n_embd < 1 || shape.n_ffn < 1 || shape.n_vocab < 1 ||
        shape.version < 4 || shape.version > 7)
        return NULL;
    /* every matrix row must fill whole blocks; heads must tile the width */
    if (!rwkv_type_size(shape.type, (uint64_t)shape.n_embd) ||
        !rwkv_type_size(shape.type, (uint64_t)shape.n_ffn))
        return NULL;
    if (shape.version >= 5 && (shape.head_size < 1 || shape.n_embd % shape.head_size))
        return NULL;
    for (i = 0; i < 4 && shape.version >= 6; i++)
        if ((i < 2 || shape.version == 7) && shape.lora[i] < 1) return NULL;
    memset(&b, 0, sizeof(b));
    b.shape = &shape;
    b.rng = shape.seed;
    max_tensors = 8 + (size_t)shape.n_layer * MAX_TENSORS_PER_LAYER;
    b.owned = (void **)calloc(max_tensors, sizeof(void *));
    b.writer = gguf_writer_create();
    failed = !b.owned || !b.writer ||
             rwkv_gguf_add_common_keys(b.writer, shape.version, "synthetic", shape.type, shape.n_layer,
                                       shape.n_embd, shape.n_ffn) ||
             rwkv_gguf_add_version_keys(b.writer, shape.version, shape.head_size, 0, shape.lora) ||
             (shape.n_vocab == 256 && gguf_writer_add_str(b.writer, "tokenizer.ggml.model", "bytes"));
    /* the tensors in the order of a real model: embedding, blocks, head */
    if (!failed) {
        synthetic__name(&b, -1, "token_embd.weight");
        failed = synthetic__matrix(&b, shape.n_embd, shape.n_vocab);
    }
    if (!failed) {
        synthetic__name(&b, -1, "token_embd_norm.weight");
        failed = synthetic__constant(&b, shape.n_embd, 1.0f);
    }
    if (!failed) {
        synthetic__name(&b, -1, "token_embd_norm.bias");
        failed = synthetic__constant(&b, shape.n_embd, 0.0f);
    }
    for (layer = 0; layer < shape.n_layer && !failed; layer++) {
        failed = synthetic__common_layer(&b, layer);
        if (!failed)
            failed = shape.version == 4   ? synthetic__layer_v4(&b, layer)
                     : shape.version == 5 ? synthetic__layer_v5(&b, layer)
                     : shape.version == 6 ? synthetic__layer_v6(&b, layer)
                                          : synthetic__layer_v7(&b, layer);
    }
    if (!failed) {
        synthetic__name(&b, -1, "output_norm.weight");
        failed = synthetic__constant(&b, shape.n_embd, 1.0f);
    }
    if (!failed) {
        synthetic__name(&b, -1, "output_norm.bias");
        failed = synthetic__constant(&b, shape.n_embd, 0.0f);
    }
    if (!failed) {
        synthetic__name(&b, -1, "output.weight");
        failed = synthetic__matrix(&b, shape.n_embd, shape.n_vocab);
    }
    if (!failed) gguf = gguf_writer_write_memory(b.writer, size);
    for (k = 0; k < b.n_owned; k++) free(b.owned[k]);
    free(b.owned);
    gguf_writer_free(b.writer);
    if (!gguf || (uintptr_t)gguf % 32 == 0) return gguf;
    /* malloc only promises 16-byte alignment: move to an aligned block */
    aligned = (unsigned char *)aligned_alloc(32, (*size + 31) / 32 * 32);
    if (aligned) memcpy(aligned, gguf, *size);
    free(gguf);
    return aligned;
}

#endif /* SYNTHETIC_H */
