/* gguf_writer.h - a small GGUF v3 writer for rwkv.h's tools and tests.
 *
 * Header-only, all functions static. Collect key/value pairs and tensors,
 * then write them as one GGUF file (to a path or to memory). Tensor data is
 * referenced, not copied: it must stay valid until the write call.
 *
 *     gguf_writer *w = gguf_writer_create();
 *     gguf_writer_add_str(w, "general.architecture", "rwkv4");
 *     gguf_writer_add_tensor(w, "output.weight", RWKV_TYPE_F32, 2, ne, data, bytes);
 *     gguf_writer_write_file(w, "out.gguf");
 *     gguf_writer_free(w);
 *
 * All add functions return 0 on success and -1 when out of memory.
 */
#ifndef GGUF_WRITER_H
#define GGUF_WRITER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_WRITER_ALIGNMENT 32

enum {
    GGUF_VALUE_UINT32 = 4,
    GGUF_VALUE_INT32 = 5,
    GGUF_VALUE_FLOAT32 = 6,
    GGUF_VALUE_STRING = 8,
    GGUF_VALUE_ARRAY = 9
};

typedef struct gguf_writer_tensor {
    char name[64];
    int type;
    int n_dims;
    int64_t ne[4];
    const void *data;
    size_t n_bytes;
} gguf_writer_tensor;

typedef struct gguf_writer {
    unsigned char *kv;   /* the encoded key/value section */
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    gguf_writer_tensor *tensors;
    size_t n_tensors, tensors_cap;
} gguf_writer;

static inline gguf_writer *gguf_writer_create(void) {
    return (gguf_writer *)calloc(1, sizeof(gguf_writer));
}

static inline void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    free(w->kv);
    free(w->tensors);
    free(w);
}

static inline int gguf_writer__put(gguf_writer *w, const void *bytes, size_t n) {
    if (w->kv_len + n > w->kv_cap) {
        size_t cap = w->kv_cap ? w->kv_cap : 4096;
        unsigned char *p;
        while (cap < w->kv_len + n) cap *= 2;
        p = (unsigned char *)realloc(w->kv, cap);
        if (!p) return -1;
        w->kv = p;
        w->kv_cap = cap;
    }
    memcpy(w->kv + w->kv_len, bytes, n);
    w->kv_len += n;
    return 0;
}

/* GGUF is little-endian; these write integers byte by byte so the output
   is the same on any host. */
static inline int gguf_writer__u32(gguf_writer *w, uint32_t v) {
    unsigned char b[4];
    int i;
    for (i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
    return gguf_writer__put(w, b, 4);
}

static inline int gguf_writer__u64(gguf_writer *w, uint64_t v) {
    unsigned char b[8];
    int i;
    for (i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
    return gguf_writer__put(w, b, 8);
}

static inline int gguf_writer__string(gguf_writer *w, const char *s, size_t len) {
    return gguf_writer__u64(w, len) || gguf_writer__put(w, s, len);
}

static inline int gguf_writer__key(gguf_writer *w, const char *key, uint32_t type) {
    w->n_kv++;
    return gguf_writer__string(w, key, strlen(key)) || gguf_writer__u32(w, type);
}

static inline int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v) {
    return gguf_writer__key(w, key, GGUF_VALUE_UINT32) || gguf_writer__u32(w, v);
}

static inline int gguf_writer_add_f32(gguf_writer *w, const char *key, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return gguf_writer__key(w, key, GGUF_VALUE_FLOAT32) || gguf_writer__u32(w, bits);
}

static inline int gguf_writer_add_str(gguf_writer *w, const char *key, const char *v) {
    return gguf_writer__key(w, key, GGUF_VALUE_STRING) ||
           gguf_writer__string(w, v, strlen(v));
}

/* An array of n strings; lens[i] bytes each (strings need no NUL). */
static inline int gguf_writer_add_str_array(gguf_writer *w, const char *key,
                                     const char *const *strs, const size_t *lens,
                                     size_t n) {
    size_t i;
    if (gguf_writer__key(w, key, GGUF_VALUE_ARRAY) ||
        gguf_writer__u32(w, GGUF_VALUE_STRING) || gguf_writer__u64(w, n))
        return -1;
    for (i = 0; i < n; i++)
        if (gguf_writer__string(w, strs[i], lens[i])) return -1;
    return 0;
}

static inline int gguf_writer_add_i32_array(gguf_writer *w, const char *key,
                                     const int32_t *v, size_t n) {
    size_t i;
    if (gguf_writer__key(w, key, GGUF_VALUE_ARRAY) ||
        gguf_writer__u32(w, GGUF_VALUE_INT32) || gguf_writer__u64(w, n))
        return -1;
    for (i = 0; i < n; i++)
        if (gguf_writer__u32(w, (uint32_t)v[i])) return -1;
    return 0;
}

/* ne[] in ggml order (ne[0] fastest); data holds n_bytes in that type. */
static inline int gguf_writer_add_tensor(gguf_writer *w, const char *name, int type,
                                  int n_dims, const int64_t *ne, const void *data,
                                  size_t n_bytes) {
    gguf_writer_tensor *t;
    int i;
    if (strlen(name) >= sizeof(t->name) || n_dims < 1 || n_dims > 4) return -1;
    if (w->n_tensors == w->tensors_cap) {
        size_t cap = w->tensors_cap ? 2 * w->tensors_cap : 64;
        gguf_writer_tensor *p =
            (gguf_writer_tensor *)realloc(w->tensors, cap * sizeof(*p));
        if (!p) return -1;
        w->tensors = p;
        w->tensors_cap = cap;
    }
    t = &w->tensors[w->n_tensors++];
    memset(t, 0, sizeof(*t));
    strcpy(t->name, name);
    t->type = type;
    t->n_dims = n_dims;
    for (i = 0; i < 4; i++) t->ne[i] = i < n_dims ? ne[i] : 1;
    t->data = data;
    t->n_bytes = n_bytes;
    return 0;
}

static inline size_t gguf_writer__pad(size_t n) {
    return (GGUF_WRITER_ALIGNMENT - n % GGUF_WRITER_ALIGNMENT) % GGUF_WRITER_ALIGNMENT;
}

/* Write the whole file through fn(ctx, bytes, n) (returns 0 on success). */
static inline int gguf_writer__emit(gguf_writer *w, int (*fn)(void *, const void *, size_t),
                             void *ctx) {
    static const unsigned char zeros[GGUF_WRITER_ALIGNMENT] = {0};
    gguf_writer head;
    uint64_t offset = 0;
    size_t i;
    int d, rc = -1;
    memset(&head, 0, sizeof(head));
    /* the fixed header, the key/values, then the tensor infos */
    if (gguf_writer__u32(&head, 0x46554747u) || gguf_writer__u32(&head, 3) ||
        gguf_writer__u64(&head, w->n_tensors) || gguf_writer__u64(&head, w->n_kv) ||
        gguf_writer__put(&head, w->kv, w->kv_len))
        goto done;
    for (i = 0; i < w->n_tensors; i++) {
        const gguf_writer_tensor *t = &w->tensors[i];
        if (gguf_writer__string(&head, t->name, strlen(t->name)) ||
            gguf_writer__u32(&head, (uint32_t)t->n_dims))
            goto done;
        for (d = 0; d < t->n_dims; d++)
            if (gguf_writer__u64(&head, (uint64_t)t->ne[d])) goto done;
        if (gguf_writer__u32(&head, (uint32_t)t->type) || gguf_writer__u64(&head, offset))
            goto done;
        offset += t->n_bytes + gguf_writer__pad(t->n_bytes);
    }
    if (gguf_writer__put(&head, zeros, gguf_writer__pad(head.kv_len))) goto done;
    if (fn(ctx, head.kv, head.kv_len)) goto done;
    for (i = 0; i < w->n_tensors; i++) {
        const gguf_writer_tensor *t = &w->tensors[i];
        if (fn(ctx, t->data, t->n_bytes) || fn(ctx, zeros, gguf_writer__pad(t->n_bytes)))
            goto done;
    }
    rc = 0;
done:
    free(head.kv);
    return rc;
}

static inline int gguf_writer__to_file(void *ctx, const void *bytes, size_t n) {
    return n && fwrite(bytes, 1, n, (FILE *)ctx) != n ? -1 : 0;
}

static inline int gguf_writer__to_memory(void *ctx, const void *bytes, size_t n) {
    return gguf_writer__put((gguf_writer *)ctx, bytes, n);
}

/* Write to a file; 0 on success, -1 on failure. */
static inline int gguf_writer_write_file(gguf_writer *w, const char *path) {
    FILE *f = fopen(path, "wb");
    int rc;
    if (!f) return -1;
    rc = gguf_writer__emit(w, gguf_writer__to_file, f);
    if (fclose(f) != 0) rc = -1;
    return rc;
}

/* Write to a new malloc'd buffer (free() it); NULL on failure. */
static inline unsigned char *gguf_writer_write_memory(gguf_writer *w, size_t *size) {
    gguf_writer out;
    memset(&out, 0, sizeof(out));
    if (gguf_writer__emit(w, gguf_writer__to_memory, &out)) {
        free(out.kv);
        return NULL;
    }
    *size = out.kv_len;
    return out.kv;
}

#endif /* GGUF_WRITER_H */
