/* synthetic.h - random-weight RWKV-4 models of any shape, built in memory.
 *
 * Header-only, all functions static inline (so that a file using only some
 * gets no unused-function warnings). Needs rwkv.h, with the implementation
 * in the program (rwkv_quantize_row encodes the weights), and
 * tools/gguf_writer.h, both found with -I. from the project root. For
 * benchmarks and tests that want a model of a real size without a file:
 *
 *     synthetic_shape shape = synthetic_shape_4_169m(RWKV_TYPE_F16);
 *     size_t size;
 *     unsigned char *gguf = synthetic_build(&shape, &size);
 *     rwkv_model_load_memory(&model, gguf, size, &error);
 *     ... rwkv_model_free(model); free(gguf);
 *
 * The result is a GGUF of the rwkv4 layout (README.md), the one that
 * `rwkv convert` writes, with a "bytes" tokenizer if the vocabulary has 256
 * tokens and none otherwise. The weights come from a fixed-seed generator,
 * so a shape and seed always give the same bytes, with the magnitudes of a
 * freshly initialised RWKV-4: matrices normal with standard deviation
 * 1/sqrt(fan-in), layer norms weight 1 bias 0, token-shift mixes in [0, 1],
 * and the decay and bonus curves of RWKV-4's own initialisation (raw
 * time_decay from -5 to 3). Matrices may be of any type rwkv.h runs whose
 * blocks fit the rows (quantized types need n_embd, n_ffn multiples of 32).
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
} synthetic_shape;

/* The shapes of the released RWKV-4 Pile models. */
static inline synthetic_shape synthetic_shape_4_169m(int type) {
    synthetic_shape s = {12, 768, 3072, 50277, 0, 1};
    s.type = type;
    return s;
}

static inline synthetic_shape synthetic_shape_4_430m(int type) {
    synthetic_shape s = {24, 1024, 4096, 50277, 0, 1};
    s.type = type;
    return s;
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

static inline float *synthetic__new_vector(synthetic__build *b, int n) {
    int64_t ne[1];
    float *v = (float *)malloc((size_t)n * sizeof(float));
    if (!v) return NULL;
    b->owned[b->n_owned++] = v;
    ne[0] = n;
    if (gguf_writer_add_tensor(b->writer, b->name, RWKV_TYPE_F32, 1, ne, v,
                               (size_t)n * sizeof(float)))
        return NULL;
    return v;
}

/* A vector of n copies of value. */
static inline int synthetic__constant(synthetic__build *b, int n, float value) {
    float *v = synthetic__new_vector(b, n);
    int i;
    if (!v) return -1;
    for (i = 0; i < n; i++) v[i] = value;
    return 0;
}

/* A token-shift mix in [0, 1]: RWKV-4 initialises it as (i/C)^p. */
static inline int synthetic__mix(synthetic__build *b, int n, double power) {
    float *v = synthetic__new_vector(b, n);
    int i;
    if (!v) return -1;
    for (i = 0; i < n; i++) v[i] = (float)pow((double)i / n, power);
    return 0;
}

/* A matrix of n_out rows of n_in (ggml ne = {n_in, n_out}), normal with
   standard deviation 1/sqrt(n_in), encoded row by row in the shape's type. */
static inline int synthetic__matrix(synthetic__build *b, int n_in, int n_out) {
    int type = b->shape->type, row, i;
    size_t row_bytes = rwkv_type_size(type, (uint64_t)n_in);
    float scale = 1.0f / sqrtf((float)n_in);
    float *values = (float *)malloc((size_t)n_in * sizeof(float));
    unsigned char *data = (unsigned char *)malloc(row_bytes * (size_t)n_out);
    int64_t ne[2];
    if (data) b->owned[b->n_owned++] = data;
    if (!data || !values) {
        free(values);
        return -1;
    }
    for (row = 0; row < n_out; row++) {
        for (i = 0; i < n_in; i++) values[i] = synthetic__normal(&b->rng) * scale;
        rwkv_quantize_row(type, values, n_in, data + row_bytes * (size_t)row);
    }
    free(values);
    ne[0] = n_in;
    ne[1] = n_out;
    return gguf_writer_add_tensor(b->writer, b->name, type, 2, ne, data, row_bytes * (size_t)n_out);
}

static inline void synthetic__name(synthetic__build *b, int layer, const char *suffix) {
    if (layer < 0)
        snprintf(b->name, sizeof(b->name), "%s", suffix);
    else
        snprintf(b->name, sizeof(b->name), "blk.%d.%s", layer, suffix);
}

/* One block: layer norms, time mix (attention) and channel mix (FFN). */
static inline int synthetic__layer(synthetic__build *b, int layer) {
    const synthetic_shape *s = b->shape;
    int C = s->n_embd, F = s->n_ffn, i;
    double depth = s->n_layer > 1 ? (double)layer / (s->n_layer - 1) : 0.0;
    double shift = 1.0 - (double)layer / s->n_layer; /* mixes flatten with depth */
    float *decay, *first;
#define SYNTHETIC__TRY(suffix, call)       \
    do {                                   \
        synthetic__name(b, layer, suffix); \
        if (call) return -1;               \
    } while (0)
    SYNTHETIC__TRY("attn_norm.weight", synthetic__constant(b, C, 1.0f));
    SYNTHETIC__TRY("attn_norm.bias", synthetic__constant(b, C, 0.0f));
    SYNTHETIC__TRY("attn_norm_2.weight", synthetic__constant(b, C, 1.0f));
    SYNTHETIC__TRY("attn_norm_2.bias", synthetic__constant(b, C, 0.0f));
    SYNTHETIC__TRY("time_mix_lerp_k.weight", synthetic__mix(b, C, shift));
    SYNTHETIC__TRY("time_mix_lerp_v.weight", synthetic__mix(b, C, shift));
    SYNTHETIC__TRY("time_mix_lerp_r.weight", synthetic__mix(b, C, 0.5 * shift));
    /* RWKV-4's initial curves: raw decay -5 + 8 (i/(C-1))^(0.7 + 1.3 depth)
       (the model uses -exp of it), and a zigzag bonus around ln 0.3 */
    synthetic__name(b, layer, "time_mix_decay.weight");
    if (!(decay = synthetic__new_vector(b, C))) return -1;
    for (i = 0; i < C; i++)
        decay[i] = (float)(-5.0 + 8.0 * pow(C > 1 ? (double)i / (C - 1) : 0.0, 0.7 + 1.3 * depth));
    synthetic__name(b, layer, "time_mix_first.weight");
    if (!(first = synthetic__new_vector(b, C))) return -1;
    for (i = 0; i < C; i++) first[i] = (float)(log(0.3) + 0.5 * ((i + 1) % 3 - 1));
    SYNTHETIC__TRY("time_mix_key.weight", synthetic__matrix(b, C, C));
    SYNTHETIC__TRY("time_mix_value.weight", synthetic__matrix(b, C, C));
    SYNTHETIC__TRY("time_mix_receptance.weight", synthetic__matrix(b, C, C));
    SYNTHETIC__TRY("time_mix_output.weight", synthetic__matrix(b, C, C));
    SYNTHETIC__TRY("channel_mix_lerp_k.weight", synthetic__mix(b, C, shift));
    SYNTHETIC__TRY("channel_mix_lerp_r.weight", synthetic__mix(b, C, shift));
    SYNTHETIC__TRY("channel_mix_key.weight", synthetic__matrix(b, C, F));
    SYNTHETIC__TRY("channel_mix_value.weight", synthetic__matrix(b, F, C));
    SYNTHETIC__TRY("channel_mix_receptance.weight", synthetic__matrix(b, C, C));
#undef SYNTHETIC__TRY
    return 0;
}

/* Writes the model into a new GGUF buffer and returns it (NULL for a bad
   shape or out of memory); free() it after rwkv_model_free(). The buffer
   starts on a 32-byte boundary, so rwkv_model_load_memory() uses its
   weights in place instead of copying them. */
static inline unsigned char *synthetic_build(const synthetic_shape *shape, size_t *size) {
    enum { VECTORS_PER_LAYER = 11, MATRICES_PER_LAYER = 7 };
    synthetic__build b;
    unsigned char *gguf = NULL, *aligned;
    int layer, failed;
    size_t i, max_tensors;
    /* every matrix row (n_embd or n_ffn long) must fill whole blocks */
    if (shape->n_layer < 1 || shape->n_embd < 1 || shape->n_ffn < 1 || shape->n_vocab < 1 ||
        !rwkv_type_size(shape->type, (uint64_t)shape->n_embd) ||
        !rwkv_type_size(shape->type, (uint64_t)shape->n_ffn))
        return NULL;
    memset(&b, 0, sizeof(b));
    b.shape = shape;
    b.rng = shape->seed;
    max_tensors = 6 + (size_t)shape->n_layer * (VECTORS_PER_LAYER + MATRICES_PER_LAYER);
    b.owned = (void **)calloc(max_tensors, sizeof(void *));
    b.writer = gguf_writer_create();
    failed = !b.owned || !b.writer ||
             rwkv_gguf_add_common_keys(b.writer, 4, "synthetic", shape->type, shape->n_layer,
                                       shape->n_embd, shape->n_ffn) ||
             (shape->n_vocab == 256 && gguf_writer_add_str(b.writer, "tokenizer.ggml.model", "bytes"));
    /* the tensors in the order of a real model: embedding, blocks, head */
    if (!failed) {
        synthetic__name(&b, -1, "token_embd.weight");
        failed = synthetic__matrix(&b, shape->n_embd, shape->n_vocab);
    }
    if (!failed) {
        synthetic__name(&b, -1, "token_embd_norm.weight");
        failed = synthetic__constant(&b, shape->n_embd, 1.0f);
    }
    if (!failed) {
        synthetic__name(&b, -1, "token_embd_norm.bias");
        failed = synthetic__constant(&b, shape->n_embd, 0.0f);
    }
    for (layer = 0; layer < shape->n_layer && !failed; layer++) failed = synthetic__layer(&b, layer);
    if (!failed) {
        synthetic__name(&b, -1, "output_norm.weight");
        failed = synthetic__constant(&b, shape->n_embd, 1.0f);
    }
    if (!failed) {
        synthetic__name(&b, -1, "output_norm.bias");
        failed = synthetic__constant(&b, shape->n_embd, 0.0f);
    }
    if (!failed) {
        synthetic__name(&b, -1, "output.weight");
        failed = synthetic__matrix(&b, shape->n_embd, shape->n_vocab);
    }
    if (!failed) gguf = gguf_writer_write_memory(b.writer, size);
    for (i = 0; i < b.n_owned; i++) free(b.owned[i]);
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
