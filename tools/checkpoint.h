/* checkpoint.h - official RWKV checkpoints (.pth, .safetensors) to GGUF, in C.
 *
 * Header-only, every function static (inline, so that a file using only a
 * part gets no unused-function warnings). Needs rwkv.h, with the
 * implementation in the program (rwkv_quantize_row encodes the weights, the
 * World vocabulary loader reads --vocab files) and tools/gguf_writer.h,
 * both found with -I. from the project root.
 *
 *     char err[256];
 *     if (checkpoint_convert("RWKV-x060-World-1B6.pth", "out.gguf", RWKV_TYPE_F16,
 *                            NULL, err, sizeof(err)))
 *         fprintf(stderr, "convert: %s\n", err);
 *
 * WHAT IT READS
 *   - PyTorch torch.save files (zip archive, format of torch >= 1.6): the
 *     archive's central directory (ZIP64 too), stored (uncompressed)
 *     entries only, every size and offset checked against the file and every
 *     entry's CRC-32 checked against its data. `<prefix>/data.pkl` is run by
 *     a small pickle interpreter that knows only what torch.save writes for a
 *     dict of tensors: OrderedDict, _rebuild_tensor_v2, _rebuild_parameter
 *     and Float/Half/BFloat16 storages. Any other opcode or global (e.g.
 *     `os system`) is refused by name, never executed. Tensors may have a
 *     storage offset and any strides (non-contiguous ones are gathered).
 *   - .safetensors files (F32, F16, BF16), single or sharded through
 *     `model.safetensors.index.json` (pass the index file).
 *   Names: BlinkDL's official ones (`emb.weight`, `blocks.N.att.key.weight`,
 *   ...), or Hugging Face transformers' RWKV naming (`rwkv.embeddings.weight`,
 *   `rwkv.blocks.N.attention.time_mix_key`, ...), mapped back to official.
 *   The version comes from the names and shapes: att.r_k -> 7,
 *   att.time_maa_x -> 6, att.ln_x -> 5 (5.2 when att.gate is there),
 *   att.time_first -> 4.
 *
 * WHAT IT WRITES
 *   The GGUF layouts rwkv.h reads (README.md, "GGUF layout"): rwkv4 / rwkv5
 *   (ours) and llama.cpp's rwkv6 / rwkv7, with the vocabulary: "bytes" for
 *   256 tokens, the RWKV World vocabulary (tokenizer.ggml.model "rwkv",
 *   llama.cpp's escaped strings) or a Hugging Face tokenizer.json's BPE
 *   vocabulary and merges (tokenizer.ggml.model "gpt2", for RWKV-4 Pile).
 *   Types: the big matrices (time-mix key/value/receptance/output/gate,
 *   channel-mix, head) in the requested type (by default the checkpoint's
 *   own f32, f16 or bf16); the head at most f16 when a
 *   quantized type is asked for; the embedding f32 (for --type f32) or f16;
 *   every vector, LoRA and lerp tensor f32. A matrix whose rows are not a
 *   multiple of 32 cannot be quantized and is written f16 (a note says so).
 *
 * MEMORY AND FILES
 *   One tensor at a time: a contiguous matrix streams through in chunks of
 *   1M elements; any other tensor is read whole (in real checkpoints the
 *   largest such tensor is a small LoRA matrix). Peak memory stays around
 *   10 MB plus the vocabulary (measured: 4.6 GB bf16 checkpoint to q8_0).
 *   The GGUF is written through gguf_writer.h, whose output callback gets
 *   each tensor's data made on the fly; it goes to OUT.part, renamed to OUT
 *   on success; a failure removes it.
 *   A progress bar goes to stderr when stderr is a terminal (where isatty
 *   can be asked: POSIX with _POSIX_C_SOURCE, or Windows).
 *   Little-endian hosts only (as rwkv.h).
 *
 * NAMES
 *   Public: checkpoint_*; private: ck_* types and ck__* functions.
 */
#ifndef CHECKPOINT_H
#define CHECKPOINT_H

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rwkv.h"
#include "gguf_writer.h"

#if defined(_WIN32)
#include <io.h>
#define CK__ISATTY_STDERR() _isatty(_fileno(stderr))
#elif (defined(_POSIX_C_SOURCE) && _POSIX_C_SOURCE >= 200112L) || defined(__APPLE__)
#include <sys/types.h>
#include <unistd.h>
#define CK__ISATTY_STDERR() isatty(fileno(stderr))
#define CK__HAVE_FSEEKO 1
#else
#define CK__ISATTY_STDERR() 0
#endif

/* gguf_writer.h's functions are plain static: a program that includes this
   header without writing GGUF files itself must not warn about them. */
static inline void ck__gguf_writer_is_used(void) {
    (void)gguf_writer_write_file;
    (void)gguf_writer_write_memory;
}

/* Limits against hostile files. */
#define CK_MAX_PICKLE (256u << 20)     /* bytes of data.pkl                  */
#define CK_MAX_JSON (256u << 20)       /* bytes of a JSON header or vocab    */
#define CK_MAX_JSON_DEPTH 64
#define CK_MAX_ENTRIES (1u << 20)      /* zip entries                        */
#define CK_MAX_TENSORS (1u << 20)
#define CK_MAX_SHARDS 4096
#define CK_MAX_NAME 160                /* bytes of a checkpoint tensor name  */

/* ======================================================================== */
/* Public API                                                                */
/* ======================================================================== */

typedef struct checkpoint_options {
    int out_type;           /* rwkv_type of the big matrices; -1 (default):
                               f32, f16 or bf16 as most of the checkpoint    */
    const char *vocab_path; /* World .txt or tokenizer.json; NULL: chosen
                               from n_vocab (256: bytes; World or NeoX files
                               found beside the checkpoint; else none)       */
    const char *name;       /* general.name; NULL: the input's file stem     */
    int progress;           /* -1: when stderr is a terminal; 0 off; 1 on    */
    int quiet;              /* 1: no notes on stderr                         */
} checkpoint_options;

typedef struct checkpoint_result {
    int version, version_minor;  /* 4, 5 (minor 1 or 2), 6, 7            */
    int out_type;                /* the type of the big matrices          */
    int n_layer, n_embd, n_ffn, n_vocab, head_size;
    int n_tensors;               /* written to the GGUF                   */
    const char *vocab;           /* "bytes", "rwkv", "gpt2" or "none"     */
    char notes[512];             /* what was chosen or could not be done  */
} checkpoint_result;

static inline checkpoint_options checkpoint_default_options(void);
/* Convert in_path (.pth, .safetensors, or model.safetensors.index.json) to
   out_path as GGUF, the big matrices in out_type (an rwkv_type, or -1 for
   the checkpoint's own f32/f16/bf16). Notes (fallbacks, a missing
   vocabulary) go to stderr. Returns 0, or -1 with a one-line reason in err. */
static inline int checkpoint_convert(const char *in_path, const char *out_path, int out_type,
                                     const char *vocab_path, char *err, size_t err_size);
/* The same with all options; result (may be NULL) says what was written. */
static inline int checkpoint_convert_ex(const char *in_path, const char *out_path,
                                        const checkpoint_options *options,
                                        checkpoint_result *result, char *err, size_t err_size);
/* 1 if the file looks like a checkpoint this header reads (zip, safetensors
   or a .json index), 0 if not (e.g. GGUF or rwkv.cpp .bin). */
static inline int checkpoint_is_checkpoint(const char *path);
/* rwkv_type from "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0",
   "q5_1"; -1 for anything else. */
static inline int checkpoint_type_from_name(const char *name);
/* For command-line tools (`rwkv convert`): convert with type_name (NULL:
   as the checkpoint) and vocab_path (NULL: chosen from n_vocab), print a
   summary, notes and errors on stderr ("rwkv convert: reason"), and return
   an exit status, 0 or 1. */
static inline int checkpoint_run(const char *in_path, const char *out_path, const char *type_name,
                                 const char *vocab_path);

/* ---- A small JSON reader (also used by the tests) ------------------------ */

enum { CK_JSON_NULL, CK_JSON_FALSE, CK_JSON_TRUE, CK_JSON_NUMBER, CK_JSON_STRING,
       CK_JSON_ARRAY, CK_JSON_OBJECT };

typedef struct ck_json_node {
    int type;
    int is_int;             /* NUMBER written as an integer that fits int64  */
    int64_t i;
    double d;
    const char *s;          /* STRING: decoded, NUL-terminated (may hold NULs) */
    size_t len;
    const char *key;        /* member of an OBJECT: its key, decoded         */
    size_t key_len;
    int32_t first, next;    /* children of ARRAY/OBJECT; -1 ends             */
    int32_t count;
} ck_json_node;

typedef struct ck_json {
    ck_json_node *nodes;
    size_t n, cap;
    char *strings;          /* every decoded string, NUL after each          */
    size_t used, strings_cap;
} ck_json;

/* Parse len bytes; node 0 is the root. 0 on success, else -1 with a reason
   in err. Free with ck_json_free (also after a failure). */
static inline int ck_json_parse(ck_json *doc, const char *text, size_t len, char *err,
                                size_t err_size);
static inline void ck_json_free(ck_json *doc);
/* Member of an object by key, or -1. */
static inline int32_t ck_json_get(const ck_json *doc, int32_t object, const char *key);

/* ======================================================================== */
/* Implementation                                                            */
/* ======================================================================== */

static inline void ck__vformat(char *out, size_t size, const char *fmt, va_list ap) {
    if (!out || !size) return;
    vsnprintf(out, size, fmt, ap);
}

static inline void ck__format(char *out, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ck__vformat(out, size, fmt, ap);
    va_end(ap);
}

/* ---- JSON ---------------------------------------------------------------- */

typedef struct ck__json_parser {
    ck_json *doc;
    const char *p, *end, *start;
    char *err;
    size_t err_size;
} ck__json_parser;

static inline int ck__json_fail(ck__json_parser *j, const char *what) {
    ck__format(j->err, j->err_size, "JSON: %s at byte %zu", what, (size_t)(j->p - j->start));
    return -1;
}

static inline void ck__json_space(ck__json_parser *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static inline int32_t ck__json_node(ck__json_parser *j, int type) {
    ck_json *d = j->doc;
    ck_json_node *n;
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 64;
        ck_json_node *p;
        if (cap > (size_t)INT32_MAX) return -1;
        p = (ck_json_node *)realloc(d->nodes, cap * sizeof(*p));
        if (!p) return -1;
        d->nodes = p;
        d->cap = cap;
    }
    n = &d->nodes[d->n];
    memset(n, 0, sizeof(*n));
    n->type = type;
    n->first = n->next = -1;
    return (int32_t)d->n++;
}

static inline int ck__json_hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* A string at j->p (on the opening quote): decoded into the string buffer,
   which the caller sized to hold every string of the text. */
static inline int ck__json_string(ck__json_parser *j, const char **out, size_t *out_len) {
    ck_json *d = j->doc;
    char *o = d->strings + d->used, *start = o;
    j->p++;
    for (;;) {
        unsigned char c;
        if (j->p >= j->end) return ck__json_fail(j, "unterminated string");
        c = (unsigned char)*j->p++;
        if (c == '"') break;
        if (c < 0x20) return ck__json_fail(j, "control character in a string");
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        if (j->p >= j->end) return ck__json_fail(j, "unterminated escape");
        c = (unsigned char)*j->p++;
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (j->end - j->p < 4 || ck__json_hex4(j->p, &cp)) return ck__json_fail(j, "bad \\u escape");
            j->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00) { /* a surrogate pair, or U+FFFD */
                if (j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' &&
                    !ck__json_hex4(j->p + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    j->p += 6;
                } else {
                    cp = 0xFFFD;
                }
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                cp = 0xFFFD;
            }
            /* the UTF-8 form is never longer than the escape it came from */
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xC0 | (cp >> 6));
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                *o++ = (char)(0xE0 | (cp >> 12));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *o++ = (char)(0xF0 | (cp >> 18));
                *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: return ck__json_fail(j, "bad escape");
        }
    }
    *o++ = 0;
    *out = start;
    *out_len = (size_t)(o - start - 1);
    d->used += (size_t)(o - start);
    return 0;
}

static inline int ck__json_number(ck__json_parser *j, ck_json_node *n) {
    const char *s = j->p;
    char buf[64];
    int integral = 1, neg = 0;
    uint64_t v = 0;
    int overflow = 0;
    if (j->p < j->end && *j->p == '-') neg = 1, j->p++;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9') return ck__json_fail(j, "bad number");
    if (*j->p == '0') {
        j->p++;
    } else {
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
            unsigned digit = (unsigned)(*j->p++ - '0');
            if (v > (UINT64_MAX - digit) / 10) overflow = 1;
            else v = v * 10 + digit;
        }
    }
    if (j->p < j->end && *j->p == '.') {
        integral = 0;
        j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9') return ck__json_fail(j, "bad number");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        integral = 0;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9') return ck__json_fail(j, "bad number");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    if ((size_t)(j->p - s) >= sizeof(buf)) return ck__json_fail(j, "number too long");
    memcpy(buf, s, (size_t)(j->p - s));
    buf[j->p - s] = 0;
    n->d = strtod(buf, NULL);
    if (integral && !overflow && (neg ? v <= (uint64_t)INT64_MAX + 1 : v <= (uint64_t)INT64_MAX)) {
        n->is_int = 1;
        n->i = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    }
    return 0;
}

static inline int ck__json_literal(ck__json_parser *j, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n)) return ck__json_fail(j, "bad literal");
    j->p += n;
    return 0;
}

static inline int32_t ck__json_value(ck__json_parser *j, int depth) {
    int32_t id, last = -1;
    ck__json_space(j);
    if (j->p >= j->end) return ck__json_fail(j, "unexpected end"), -1;
    if (depth > CK_MAX_JSON_DEPTH) return ck__json_fail(j, "nested too deeply"), -1;
    switch (*j->p) {
    case '{':
    case '[': {
        int object = *j->p == '{';
        char close = object ? '}' : ']';
        id = ck__json_node(j, object ? CK_JSON_OBJECT : CK_JSON_ARRAY);
        if (id < 0) return ck__json_fail(j, "out of memory"), -1;
        j->p++;
        ck__json_space(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return id;
        }
        for (;;) {
            const char *key = NULL;
            size_t key_len = 0;
            int32_t child;
            ck__json_space(j);
            if (object) {
                if (j->p >= j->end || *j->p != '"') return ck__json_fail(j, "expected a key"), -1;
                if (ck__json_string(j, &key, &key_len)) return -1;
                ck__json_space(j);
                if (j->p >= j->end || *j->p != ':') return ck__json_fail(j, "expected ':'"), -1;
                j->p++;
            }
            child = ck__json_value(j, depth + 1);
            if (child < 0) return -1;
            j->doc->nodes[child].key = key;
            j->doc->nodes[child].key_len = key_len;
            if (last < 0) j->doc->nodes[id].first = child;
            else j->doc->nodes[last].next = child;
            last = child;
            j->doc->nodes[id].count++;
            ck__json_space(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == close) {
                j->p++;
                return id;
            }
            return ck__json_fail(j, object ? "expected ',' or '}'" : "expected ',' or ']'"), -1;
        }
    }
    case '"': {
        const char *s;
        size_t len;
        id = ck__json_node(j, CK_JSON_STRING);
        if (id < 0) return ck__json_fail(j, "out of memory"), -1;
        if (ck__json_string(j, &s, &len)) return -1;
        j->doc->nodes[id].s = s;
        j->doc->nodes[id].len = len;
        return id;
    }
    case 't':
        id = ck__json_node(j, CK_JSON_TRUE);
        return id < 0 ? (ck__json_fail(j, "out of memory"), -1) : ck__json_literal(j, "true") ? -1 : id;
    case 'f':
        id = ck__json_node(j, CK_JSON_FALSE);
        return id < 0 ? (ck__json_fail(j, "out of memory"), -1) : ck__json_literal(j, "false") ? -1 : id;
    case 'n':
        id = ck__json_node(j, CK_JSON_NULL);
        return id < 0 ? (ck__json_fail(j, "out of memory"), -1) : ck__json_literal(j, "null") ? -1 : id;
    default:
        id = ck__json_node(j, CK_JSON_NUMBER);
        if (id < 0) return ck__json_fail(j, "out of memory"), -1;
        return ck__json_number(j, &j->doc->nodes[id]) ? -1 : id;
    }
}

static inline void ck_json_free(ck_json *doc) {
    if (!doc) return;
    free(doc->nodes);
    free(doc->strings);
    memset(doc, 0, sizeof(*doc));
}

static inline int ck_json_parse(ck_json *doc, const char *text, size_t len, char *err,
                                size_t err_size) {
    ck__json_parser j;
    memset(doc, 0, sizeof(*doc));
    if (len > CK_MAX_JSON) {
        ck__format(err, err_size, "JSON: %zu bytes is too large", len);
        return -1;
    }
    /* decoded strings (with their NULs) never outgrow the text */
    doc->strings = (char *)malloc(len + 1);
    doc->strings_cap = len + 1;
    if (!doc->strings) {
        ck__format(err, err_size, "out of memory");
        return -1;
    }
    j.doc = doc;
    j.p = j.start = text;
    j.end = text + len;
    j.err = err;
    j.err_size = err_size;
    if (ck__json_value(&j, 0) != 0) return -1;
    ck__json_space(&j);
    if (j.p != j.end) return ck__json_fail(&j, "trailing characters");
    return 0;
}

static inline int32_t ck_json_get(const ck_json *doc, int32_t object, const char *key) {
    int32_t c;
    size_t n = strlen(key);
    if (object < 0 || doc->nodes[object].type != CK_JSON_OBJECT) return -1;
    for (c = doc->nodes[object].first; c >= 0; c = doc->nodes[c].next)
        if (doc->nodes[c].key_len == n && !memcmp(doc->nodes[c].key, key, n)) return c;
    return -1;
}

/* ---- The conversion context ---------------------------------------------- */

enum { CK_F32 = 0, CK_F16 = 1, CK_BF16 = 2 };

static inline int ck__dtype_size(int dtype) { return dtype == CK_F32 ? 4 : 2; }
static inline const char *ck__dtype_name(int dtype) {
    return dtype == CK_F32 ? "f32" : dtype == CK_F16 ? "f16" : "bf16";
}

typedef struct ck_file {
    char *path;
    uint64_t size;
} ck_file;

typedef struct ck_zip_entry {
    char *name;
    uint64_t header, data, size; /* local header offset, data offset, bytes */
    uint32_t crc;
    int verified;                /* CRC checked against the data            */
    uint64_t run_pos;            /* CRC of [0, run_pos) accumulated so far  */
    uint32_t run_crc;
} ck_zip_entry;

typedef struct ck_tensor {
    char name[CK_MAX_NAME];      /* official name                           */
    int dtype, ndim;
    int64_t shape[4], stride[4]; /* elements                                */
    int64_t offset;              /* storage offset, elements                */
    int file;                    /* index in files                          */
    uint64_t base;               /* byte offset of storage element 0        */
    int entry;                   /* zip entry (for the CRC), or -1; the
                                    storage is the whole entry            */
    int used;
} ck_tensor;

enum { CK_COPY, CK_TRANSPOSE, CK_PERMUTE021, CK_STACK, CK_EXP };

typedef struct ck_out {
    char name[64];
    int type, n_dims;
    int64_t ne[4];
    size_t n_bytes;
    int kind, n_src;
    int src[6];
} ck_out;

typedef struct ck_ctx {
    char *err;
    size_t err_size;
    int failed;
    uint32_t crc_table[8][256];
    ck_file *files;
    int n_files;
    FILE *open_file;
    int open_index;
    ck_zip_entry *entries;
    size_t n_entries;
    ck_tensor *tensors;
    size_t n_tensors, tensors_cap;
    ck_out *outs;
    size_t n_outs, outs_cap;
    /* the model */
    int version, minor, L, C, F, V, H, N;
    int D, D2, Dw, Da, Dv, Dg;  /* LoRA ranks of layer 0 (v6, v7) */
    int out_type;
    checkpoint_result *result;
    /* writing */
    FILE *out;
    size_t next_out;
    uint64_t bytes_total, bytes_done;
    int progress, last_percent;
} ck_ctx;

static inline int ck__fail(ck_ctx *c, const char *fmt, ...) {
    va_list ap;
    if (c->failed) return -1; /* keep the first, most specific reason */
    c->failed = 1;
    va_start(ap, fmt);
    ck__vformat(c->err, c->err_size, fmt, ap);
    va_end(ap);
    return -1;
}

static inline void ck__note(ck_ctx *c, const char *fmt, ...) {
    va_list ap;
    size_t n;
    if (!c->result) return;
    n = strlen(c->result->notes);
    if (n + 3 >= sizeof(c->result->notes)) return;
    if (n) {
        strcpy(c->result->notes + n, "; ");
        n += 2;
    }
    va_start(ap, fmt);
    ck__vformat(c->result->notes + n, sizeof(c->result->notes) - n, fmt, ap);
    va_end(ap);
}

/* A name from a file, made printable for an error message. */
static inline void ck__printable(const char *s, size_t len, char *out, size_t size) {
    size_t i, n = 0;
    for (i = 0; i < len && n + 5 < size; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f) {
            out[n++] = (char)ch;
        } else {
            ck__format(out + n, size - n, "\\x%02x", ch);
            n += 4;
        }
    }
    if (i < len && n + 4 < size) out[n++] = '.', out[n++] = '.', out[n++] = '.';
    out[n] = 0;
}

/* ---- CRC-32 (zip's polynomial) -------------------------------------------- */

static inline void ck__crc_init(ck_ctx *c) {
    uint32_t i, k;
    for (i = 0; i < 256; i++) {
        uint32_t v = i;
        for (k = 0; k < 8; k++) v = v & 1 ? 0xEDB88320u ^ (v >> 1) : v >> 1;
        c->crc_table[0][i] = v;
    }
    for (i = 0; i < 256; i++)
        for (k = 1; k < 8; k++)
            c->crc_table[k][i] = (c->crc_table[k - 1][i] >> 8) ^ c->crc_table[0][c->crc_table[k - 1][i] & 0xFF];
}

/* Slicing-by-8: eight bytes a step (about 2 GB/s). */
static inline uint32_t ck__crc(const ck_ctx *c, uint32_t crc, const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    const uint32_t(*t)[256] = c->crc_table;
    crc = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t a = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t b = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = t[7][a & 0xFF] ^ t[6][(a >> 8) & 0xFF] ^ t[5][(a >> 16) & 0xFF] ^ t[4][a >> 24] ^
              t[3][b & 0xFF] ^ t[2][(b >> 8) & 0xFF] ^ t[1][(b >> 16) & 0xFF] ^ t[0][b >> 24];
    }
    while (n--) crc = t[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* ---- Files ------------------------------------------------------------------ */

static inline int ck__seek(FILE *f, uint64_t offset) {
#if defined(_WIN32)
    return offset > (uint64_t)INT64_MAX ? -1 : _fseeki64(f, (__int64)offset, SEEK_SET);
#elif defined(CK__HAVE_FSEEKO)
    if (sizeof(off_t) < 8 && offset > (uint64_t)LONG_MAX) return -1;
    return fseeko(f, (off_t)offset, SEEK_SET);
#else
    return offset > (uint64_t)LONG_MAX ? -1 : fseek(f, (long)offset, SEEK_SET);
#endif
}

static inline int ck__file_size(FILE *f, uint64_t *size) {
#if defined(_WIN32)
    __int64 n;
    if (_fseeki64(f, 0, SEEK_END) || (n = _ftelli64(f)) < 0) return -1;
#elif defined(CK__HAVE_FSEEKO)
    off_t n;
    if (fseeko(f, 0, SEEK_END) || (n = ftello(f)) < 0) return -1;
#else
    long n;
    if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0) return -1;
#endif
    *size = (uint64_t)n;
    return 0;
}

static inline int ck__add_file(ck_ctx *c, const char *path) {
    ck_file *p;
    FILE *f;
    uint64_t size;
    if (c->n_files >= CK_MAX_SHARDS) return ck__fail(c, "too many files");
    f = fopen(path, "rb");
    if (!f) return ck__fail(c, "%s: cannot open", path);
    if (ck__file_size(f, &size)) {
        fclose(f);
        return ck__fail(c, "%s: cannot tell its size", path);
    }
    fclose(f);
    p = (ck_file *)realloc(c->files, (size_t)(c->n_files + 1) * sizeof(*p));
    if (!p) return ck__fail(c, "out of memory");
    c->files = p;
    p[c->n_files].path = (char *)malloc(strlen(path) + 1);
    if (!p[c->n_files].path) return ck__fail(c, "out of memory");
    strcpy(p[c->n_files].path, path);
    p[c->n_files].size = size;
    return c->n_files++;
}

/* Read n bytes at offset of file i (one file is kept open at a time). */
static inline int ck__read(ck_ctx *c, int i, uint64_t offset, void *buf, size_t n) {
    const ck_file *file = &c->files[i];
    if (offset > file->size || n > file->size - offset)
        return ck__fail(c, "%s: truncated (%zu bytes wanted at offset %llu of %llu)", file->path,
                        n, (unsigned long long)offset, (unsigned long long)file->size);
    if (!n) return 0;
    if (c->open_index != i || !c->open_file) {
        if (c->open_file) fclose(c->open_file);
        c->open_file = fopen(file->path, "rb");
        c->open_index = i;
        if (!c->open_file) return ck__fail(c, "%s: cannot open", file->path);
    }
    if (ck__seek(c->open_file, offset) || fread(buf, 1, n, c->open_file) != n)
        return ck__fail(c, "%s: read error at offset %llu", file->path, (unsigned long long)offset);
    return 0;
}

static inline uint16_t ck__u16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t ck__u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ck__u64(const unsigned char *p) {
    return (uint64_t)ck__u32(p) | (uint64_t)ck__u32(p + 4) << 32;
}

/* ---- Zip archives (torch.save) ---------------------------------------------- */

static inline int ck__entry_compare(const void *a, const void *b) {
    return strcmp(((const ck_zip_entry *)a)->name, ((const ck_zip_entry *)b)->name);
}

static inline int ck__find_entry(const ck_ctx *c, const char *name) {
    size_t lo = 0, hi = c->n_entries;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(c->entries[mid].name, name);
        if (!cmp) return (int)mid;
        if (cmp < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* Check that an entry's CRC matches its data. Reads [offset, offset+n) of
   the entry were just made (buf holds them): sequential reads accumulate the
   CRC, anything else checks the whole entry in one pass. */
static inline int ck__entry_account(ck_ctx *c, int e, uint64_t offset, const void *buf, size_t n) {
    ck_zip_entry *z;
    if (e < 0) return 0;
    z = &c->entries[e];
    if (z->verified) return 0;
    if (offset == z->run_pos && buf) {
        z->run_crc = ck__crc(c, z->run_crc, buf, n);
        z->run_pos += n;
    } else {
        unsigned char *chunk = (unsigned char *)malloc(1u << 20);
        uint64_t pos = 0;
        uint32_t crc = 0;
        if (!chunk) return ck__fail(c, "out of memory");
        while (pos < z->size) {
            size_t k = z->size - pos < (1u << 20) ? (size_t)(z->size - pos) : (1u << 20);
            if (ck__read(c, 0, z->data + pos, chunk, k)) {
                free(chunk);
                return -1;
            }
            crc = ck__crc(c, crc, chunk, k);
            pos += k;
        }
        free(chunk);
        z->run_pos = z->size;
        z->run_crc = crc;
    }
    if (z->run_pos == z->size) {
        if (z->run_crc != z->crc)
            return ck__fail(c, "%s: CRC-32 mismatch (%08x stored, %08x computed): the archive is damaged",
                            z->name, (unsigned)z->crc, (unsigned)z->run_crc);
        z->verified = 1;
    }
    return 0;
}

typedef struct ck_range {
    uint64_t start, end;
} ck_range;

static inline int ck__range_compare(const void *a, const void *b) {
    const ck_range *x = (const ck_range *)a, *y = (const ck_range *)b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static inline int ck__zip_open(ck_ctx *c) {
    const ck_file *file = &c->files[0];
    unsigned char tail[65557], *cd = NULL, *p;
    size_t tail_len = file->size < sizeof(tail) ? (size_t)file->size : sizeof(tail), i;
    uint64_t eocd = 0, n_entries, cd_size, cd_offset, pos;
    int found = 0;
    if (ck__read(c, 0, file->size - tail_len, tail, tail_len)) return -1;
    /* the end of central directory record: the last one that fits */
    for (i = tail_len >= 22 ? tail_len - 22 + 1 : 0; i-- > 0;)
        if (ck__u32(tail + i) == 0x06054b50u && i + 22 + ck__u16(tail + i + 20) <= tail_len) {
            eocd = file->size - tail_len + i;
            found = 1;
            break;
        }
    if (!found) return ck__fail(c, "%s: not a zip archive (no end of central directory)", file->path);
    p = tail + (eocd - (file->size - tail_len));
    if (ck__u16(p + 4) != 0 && ck__u16(p + 4) != 0xFFFF)
        return ck__fail(c, "%s: multi-disk zip archives are not supported", file->path);
    n_entries = ck__u16(p + 10);
    cd_size = ck__u32(p + 12);
    cd_offset = ck__u32(p + 16);
    /* ZIP64: a locator just before, pointing at the ZIP64 end record */
    if ((size_t)(p - tail) >= 20 && ck__u32(p - 20) == 0x07064b50u) {
        unsigned char z[56];
        uint64_t z_offset = ck__u64(p - 20 + 8);
        if (z_offset > eocd - 20 || eocd - 20 - z_offset < 56)
            return ck__fail(c, "%s: bad ZIP64 end record offset", file->path);
        if (ck__read(c, 0, z_offset, z, 56)) return -1;
        if (ck__u32(z) != 0x06064b50u)
            return ck__fail(c, "%s: bad ZIP64 end record signature", file->path);
        n_entries = ck__u64(z + 32);
        cd_size = ck__u64(z + 40);
        cd_offset = ck__u64(z + 48);
        eocd = z_offset; /* the central directory ends before it */
    }
    if (cd_offset > eocd || cd_size > eocd - cd_offset)
        return ck__fail(c, "%s: central directory (offset %llu, %llu bytes) is outside the file",
                        file->path, (unsigned long long)cd_offset, (unsigned long long)cd_size);
    if (n_entries == 0 || n_entries > CK_MAX_ENTRIES || n_entries > cd_size / 46)
        return ck__fail(c, "%s: implausible entry count %llu", file->path,
                        (unsigned long long)n_entries);
    cd = (unsigned char *)malloc((size_t)cd_size);
    c->entries = (ck_zip_entry *)calloc((size_t)n_entries, sizeof(ck_zip_entry));
    if (!cd || !c->entries) {
        free(cd);
        return ck__fail(c, "out of memory");
    }
    if (ck__read(c, 0, cd_offset, cd, (size_t)cd_size)) {
        free(cd);
        return -1;
    }
    pos = 0;
    for (i = 0; i < (size_t)n_entries; i++) {
        ck_zip_entry *z = &c->entries[i];
        unsigned char local[30];
        const unsigned char *h = cd + pos, *extra;
        uint32_t name_len, extra_len, comment_len, flags, method;
        uint64_t csize, usize, header;
        char *local_name;
        c->n_entries = i + 1;
        if (cd_size - pos < 46 || ck__u32(h) != 0x02014b50u) {
            free(cd);
            return ck__fail(c, "%s: central directory entry %zu is malformed", file->path, i);
        }
        flags = ck__u16(h + 8);
        method = ck__u16(h + 10);
        z->crc = ck__u32(h + 16);
        csize = ck__u32(h + 20);
        usize = ck__u32(h + 24);
        name_len = ck__u16(h + 28);
        extra_len = ck__u16(h + 30);
        comment_len = ck__u16(h + 32);
        header = ck__u32(h + 42);
        if (cd_size - pos - 46 < (uint64_t)name_len + extra_len + comment_len) {
            free(cd);
            return ck__fail(c, "%s: central directory entry %zu overruns the directory", file->path, i);
        }
        z->name = (char *)malloc(name_len + 1u);
        if (!z->name) {
            free(cd);
            return ck__fail(c, "out of memory");
        }
        memcpy(z->name, h + 46, name_len);
        z->name[name_len] = 0;
        if (strlen(z->name) != name_len) {
            free(cd);
            return ck__fail(c, "%s: an entry name holds a NUL byte", file->path);
        }
        /* ZIP64 extra field: 64-bit values for the fields set to all ones */
        extra = h + 46 + name_len;
        {
            uint32_t k = 0;
            while (k + 4 <= extra_len) {
                uint32_t id = ck__u16(extra + k), size = ck__u16(extra + k + 2), q = k + 4;
                if (k + 4 + size > extra_len) break;
                if (id == 1) {
                    if (usize == 0xFFFFFFFFu) {
                        if (q + 8 > k + 4 + size) goto bad_zip64;
                        usize = ck__u64(extra + q), q += 8;
                    }
                    if (csize == 0xFFFFFFFFu) {
                        if (q + 8 > k + 4 + size) goto bad_zip64;
                        csize = ck__u64(extra + q), q += 8;
                    }
                    if (header == 0xFFFFFFFFu) {
                        if (q + 8 > k + 4 + size) goto bad_zip64;
                        header = ck__u64(extra + q), q += 8;
                    }
                }
                k += 4 + size;
            }
        }
        if (usize == 0xFFFFFFFFu || csize == 0xFFFFFFFFu || header == 0xFFFFFFFFu) {
        bad_zip64:
            free(cd);
            return ck__fail(c, "%s: entry %s: missing or short ZIP64 field", file->path, z->name);
        }
        if (flags & 1) {
            free(cd);
            return ck__fail(c, "%s: entry %s is encrypted", file->path, z->name);
        }
        if (method != 0) {
            free(cd);
            return ck__fail(c, "%s: entry %s is compressed (method %u); torch.save stores entries "
                            "uncompressed, only those are read", file->path, z->name, (unsigned)method);
        }
        if (csize != usize) {
            free(cd);
            return ck__fail(c, "%s: stored entry %s has sizes %llu and %llu", file->path, z->name,
                            (unsigned long long)csize, (unsigned long long)usize);
        }
        pos += 46 + (uint64_t)name_len + extra_len + comment_len;
        /* the local header: its own name and extra lengths place the data */
        if (header > cd_offset || cd_offset - header < 30) {
            free(cd);
            return ck__fail(c, "%s: entry %s: local header offset %llu is outside the archive",
                            file->path, z->name, (unsigned long long)header);
        }
        if (ck__read(c, 0, header, local, 30)) {
            free(cd);
            return -1;
        }
        if (ck__u32(local) != 0x04034b50u || ck__u16(local + 8) != method ||
            ck__u16(local + 26) != name_len) {
            free(cd);
            return ck__fail(c, "%s: entry %s: local header does not match the directory",
                            file->path, z->name);
        }
        z->header = header;
        z->data = header + 30 + name_len + ck__u16(local + 28);
        z->size = usize;
        if (z->data > cd_offset || z->size > cd_offset - z->data) {
            free(cd);
            return ck__fail(c, "%s: entry %s claims %llu bytes at offset %llu, past the end of "
                            "the data (%llu)", file->path, z->name, (unsigned long long)z->size,
                            (unsigned long long)z->data, (unsigned long long)cd_offset);
        }
        local_name = (char *)malloc(name_len + 1u);
        if (!local_name) {
            free(cd);
            return ck__fail(c, "out of memory");
        }
        if (ck__read(c, 0, header + 30, local_name, name_len)) {
            free(local_name);
            free(cd);
            return -1;
        }
        local_name[name_len] = 0;
        if (strcmp(local_name, z->name)) {
            free(local_name);
            free(cd);
            return ck__fail(c, "%s: entry %s: local header names another file", file->path, z->name);
        }
        free(local_name);
    }
    free(cd);
    /* entries must not overlap (overlapping entries are a zip-bomb trick) */
    {
        size_t k;
        ck_range *ranges = (ck_range *)malloc(c->n_entries * sizeof(ck_range));
        if (!ranges) return ck__fail(c, "out of memory");
        for (k = 0; k < c->n_entries; k++) {
            ranges[k].start = c->entries[k].header;
            ranges[k].end = c->entries[k].data + c->entries[k].size;
        }
        qsort(ranges, c->n_entries, sizeof(ck_range), ck__range_compare);
        for (k = 1; k < c->n_entries; k++)
            if (ranges[k].start < ranges[k - 1].end) {
                free(ranges);
                return ck__fail(c, "%s: zip entries overlap", file->path);
            }
        free(ranges);
    }
    qsort(c->entries, c->n_entries, sizeof(ck_zip_entry), ck__entry_compare);
    for (i = 1; i < c->n_entries; i++)
        if (!strcmp(c->entries[i - 1].name, c->entries[i].name))
            return ck__fail(c, "%s: entry %s appears twice", file->path, c->entries[i].name);
    return 0;
}

/* ---- Growable arrays -------------------------------------------------------- */

/* Make room for need elements of size elem in *p (capacity *cap); 0 or -1. */
static inline int ck__grow(void **p, size_t *cap, size_t need, size_t elem) {
    size_t n = *cap ? *cap : 16;
    void *q;
    if (need <= *cap) return 0;
    while (n < need) {
        if (n > SIZE_MAX / 2) return -1;
        n *= 2;
    }
    if (n > SIZE_MAX / elem) return -1;
    q = realloc(*p, n * elem);
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* ---- Tensor names: Hugging Face's RWKV naming to the official one ---------- */

static inline int ck__starts(const char *s, const char *prefix) {
    return !strncmp(s, prefix, strlen(prefix));
}

static inline int ck__ends(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* Replace the first `from` at position at of s (capacity CK_MAX_NAME). */
static inline int ck__splice(char *s, size_t at, const char *from, const char *to) {
    size_t n = strlen(s), f = strlen(from), t = strlen(to);
    if (n - f + t + 1 > CK_MAX_NAME) return -1;
    memmove(s + at + t, s + at + f, n - at - f + 1);
    memcpy(s + at, to, t);
    return 0;
}

/* transformers' convert_rwkv_checkpoint_to_hf.py renames, undone:
   emb. -> embeddings., blocks.0.ln0 -> blocks.0.pre_ln, blocks.N.att ->
   blocks.N.attention, blocks.N.ffn -> blocks.N.feed_forward, time_mix_k/v/r
   -> time_mix_key/value/receptance (and _g -> _gate in the v5 models of
   the RWKV organisation), then "rwkv." before everything but head.weight.
   Also strips "module." (DataParallel) and "_orig_mod." (torch.compile). */
static inline int ck__official_name(const char *in, size_t len, char *out) {
    static const char *const suffixes[][2] = {{".time_mix_key", ".time_mix_k"},
                                               {".time_mix_value", ".time_mix_v"},
                                               {".time_mix_receptance", ".time_mix_r"},
                                               {".time_mix_gate", ".time_mix_g"}};
    char *p;
    size_t i;
    int again = 1;
    if (len == 0 || len >= CK_MAX_NAME || memchr(in, 0, len)) return -1;
    memcpy(out, in, len);
    out[len] = 0;
    while (again) {
        again = 0;
        if (ck__starts(out, "module.") || ck__starts(out, "_orig_mod.") || ck__starts(out, "rwkv.")) {
            size_t skip = (size_t)(strchr(out, '.') - out) + 1;
            memmove(out, out + skip, strlen(out + skip) + 1);
            again = 1;
        }
    }
    if (ck__starts(out, "embeddings.")) return ck__splice(out, 0, "embeddings.", "emb.");
    if (!ck__starts(out, "blocks.")) return 0;
    p = out + 7;
    while (*p >= '0' && *p <= '9') p++;
    if (p == out + 7 || *p != '.') return 0;
    p++;
    if (ck__starts(p, "pre_ln.") && ck__splice(out, (size_t)(p - out), "pre_ln.", "ln0.")) return -1;
    if (ck__starts(p, "attention.") && ck__splice(out, (size_t)(p - out), "attention.", "att."))
        return -1;
    if (ck__starts(p, "feed_forward.") && ck__splice(out, (size_t)(p - out), "feed_forward.", "ffn."))
        return -1;
    for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
        if (ck__ends(out, suffixes[i][0]))
            return ck__splice(out, strlen(out) - strlen(suffixes[i][0]), suffixes[i][0],
                              suffixes[i][1]);
    return 0;
}

static inline int ck__tensor_compare(const void *a, const void *b) {
    return strcmp(((const ck_tensor *)a)->name, ((const ck_tensor *)b)->name);
}

static inline int64_t ck__numel(const ck_tensor *t) {
    int64_t n = 1;
    int d;
    for (d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

/* Add a tensor after checking its shape against its storage: elements
   [offset, offset + sum((shape-1)*stride)] must lie in storage_elems. */
static inline int ck__add_tensor(ck_ctx *c, const char *name, size_t name_len, int dtype, int ndim,
                                 const int64_t *shape, const int64_t *stride, int64_t offset,
                                 uint64_t storage_elems, int file, uint64_t base, int entry) {
    ck_tensor *t;
    char shown[96];
    int64_t numel = 1, last = offset;
    int d;
    ck__printable(name, name_len, shown, sizeof(shown));
    if (c->n_tensors >= CK_MAX_TENSORS) return ck__fail(c, "more than %u tensors", CK_MAX_TENSORS);
    if (ndim < 1 || ndim > 4)
        return ck__fail(c, "tensor %s has %d dimensions (1 to 4 are read)", shown, ndim);
    if (offset < 0) return ck__fail(c, "tensor %s: negative storage offset", shown);
    for (d = 0; d < ndim; d++) {
        if (shape[d] < 1 || shape[d] > ((int64_t)1 << 40))
            return ck__fail(c, "tensor %s: dimension %d of size %lld", shown, d, (long long)shape[d]);
        if (stride[d] < 0 || stride[d] > ((int64_t)1 << 50))
            return ck__fail(c, "tensor %s: bad stride %lld", shown, (long long)stride[d]);
        if (numel > ((int64_t)1 << 50) / shape[d]) return ck__fail(c, "tensor %s is too large", shown);
        numel *= shape[d];
        last += (shape[d] - 1) * stride[d];
        if (last > ((int64_t)1 << 52)) return ck__fail(c, "tensor %s: offsets overflow", shown);
    }
    if ((uint64_t)last >= storage_elems)
        return ck__fail(c, "tensor %s reaches element %lld of a storage of %llu elements", shown,
                        (long long)last, (unsigned long long)storage_elems);
    if (ck__grow((void **)&c->tensors, &c->tensors_cap, c->n_tensors + 1, sizeof(ck_tensor)))
        return ck__fail(c, "out of memory");
    t = &c->tensors[c->n_tensors];
    memset(t, 0, sizeof(*t));
    if (ck__official_name(name, name_len, t->name))
        return ck__fail(c, "tensor name %s is too long or holds a NUL byte", shown);
    t->dtype = dtype;
    t->ndim = ndim;
    for (d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        t->stride[d] = stride[d];
    }
    t->offset = offset;
    t->file = file;
    t->base = base;
    t->entry = entry;
    c->n_tensors++;
    return 0;
}

/* ---- The pickle interpreter (only what torch.save writes) ------------------ */

enum { CK_PV_NONE, CK_PV_BOOL, CK_PV_INT, CK_PV_STR, CK_PV_TUPLE, CK_PV_DICT, CK_PV_GLOBAL,
       CK_PV_STORAGE, CK_PV_TENSOR };
enum { CK_G_ODICT = 1, CK_G_REBUILD_TENSOR, CK_G_REBUILD_PARAMETER, CK_G_STORAGE };

typedef struct ck_pv {
    int type;
    int64_t i;          /* INT, BOOL; GLOBAL: CK_G_*; STORAGE: element count   */
    int dtype;          /* GLOBAL storage type, STORAGE: CK_F32/F16/BF16         */
    size_t a, n;        /* STR: offset and length in the pickle; TUPLE: items    */
    int32_t head, tail; /* DICT: its pairs                                       */
    int32_t ref;        /* STORAGE: zip entry; TENSOR: index in ptensors         */
} ck_pv;

typedef struct ck_pair {
    int32_t key, value, next;
} ck_pair;

typedef struct ck_ptensor {
    int32_t storage;
    int64_t offset;
    int ndim;
    int64_t shape[4], stride[4];
} ck_ptensor;

typedef struct ck_pickle {
    const unsigned char *data;
    size_t len, pos;
    ck_pv *values;
    size_t n_values, values_cap;
    int32_t *items;
    size_t n_items, items_cap;
    ck_pair *pairs;
    size_t n_pairs, pairs_cap;
    ck_ptensor *ptensors;
    size_t n_ptensors, ptensors_cap;
    int32_t *stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t n_marks, marks_cap;
    int32_t *memo;
    size_t memo_cap, memo_next;
    const char *prefix; /* "archive/": entries are prefix + "data/" + key */
} ck_pickle;

static inline void ck__pickle_free(ck_pickle *k) {
    free(k->values);
    free(k->items);
    free(k->pairs);
    free(k->ptensors);
    free(k->stack);
    free(k->marks);
    free(k->memo);
}

static inline int32_t ck__pv_new(ck_ctx *c, ck_pickle *k, int type) {
    ck_pv *v;
    if (ck__grow((void **)&k->values, &k->values_cap, k->n_values + 1, sizeof(ck_pv)) ||
        k->n_values >= (size_t)INT32_MAX)
        return ck__fail(c, "out of memory");
    v = &k->values[k->n_values];
    memset(v, 0, sizeof(*v));
    v->type = type;
    v->head = v->tail = -1;
    return (int32_t)k->n_values++;
}

static inline int ck__push(ck_ctx *c, ck_pickle *k, int32_t v) {
    if (v < 0) return -1;
    if (ck__grow((void **)&k->stack, &k->stack_cap, k->sp + 1, sizeof(int32_t)))
        return ck__fail(c, "out of memory");
    k->stack[k->sp++] = v;
    return 0;
}

static inline int ck__pickle_fail(ck_ctx *c, size_t at, const char *what) {
    return ck__fail(c, "data.pkl: %s (at byte %zu)", what, at);
}

/* Bytes of the pickle at k->pos, advancing; NULL if it ends first. */
static inline const unsigned char *ck__take(ck_pickle *k, size_t n) {
    const unsigned char *p;
    if (n > k->len - k->pos) return NULL;
    p = k->data + k->pos;
    k->pos += n;
    return p;
}

static inline int ck__pv_str_is(const ck_pickle *k, const ck_pv *v, const char *s) {
    size_t n = strlen(s);
    return v->type == CK_PV_STR && v->n == n && !memcmp(k->data + v->a, s, n);
}

/* The allowed globals; anything else is refused by name. */
static inline int ck__global(ck_ctx *c, ck_pickle *k, const char *module, size_t module_len,
                             const char *name, size_t name_len, size_t at) {
    static const struct {
        const char *module, *name;
        int kind, dtype;
    } allowed[] = {{"collections", "OrderedDict", CK_G_ODICT, 0},
                   {"torch._utils", "_rebuild_tensor_v2", CK_G_REBUILD_TENSOR, 0},
                   {"torch._utils", "_rebuild_parameter", CK_G_REBUILD_PARAMETER, 0},
                   {"torch", "FloatStorage", CK_G_STORAGE, CK_F32},
                   {"torch", "HalfStorage", CK_G_STORAGE, CK_F16},
                   {"torch", "BFloat16Storage", CK_G_STORAGE, CK_BF16}};
    char shown_module[80], shown_name[80];
    size_t i;
    int32_t v;
    for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (strlen(allowed[i].module) == module_len && !memcmp(allowed[i].module, module, module_len) &&
            strlen(allowed[i].name) == name_len && !memcmp(allowed[i].name, name, name_len)) {
            v = ck__pv_new(c, k, CK_PV_GLOBAL);
            if (v < 0) return -1;
            k->values[v].i = allowed[i].kind;
            k->values[v].dtype = allowed[i].dtype;
            return ck__push(c, k, v);
        }
    ck__printable(module, module_len, shown_module, sizeof(shown_module));
    ck__printable(name, name_len, shown_name, sizeof(shown_name));
    if (!strcmp(shown_module, "torch") && ck__ends(shown_name, "Storage"))
        return ck__fail(c, "data.pkl: storage type torch.%s is not supported (f32, f16 and bf16 "
                        "tensors are read)", shown_name);
    return ck__fail(c, "data.pkl: refusing pickle global '%s %s' at byte %zu: only what torch.save "
                    "writes for a dict of tensors is allowed", shown_module, shown_name, at);
}

/* pid = ('storage', StorageType, key, location, numel) */
static inline int32_t ck__persistent(ck_ctx *c, ck_pickle *k, int32_t pid, size_t at) {
    const ck_pv *t = &k->values[pid], *items[5];
    char entry_name[CK_MAX_NAME + 64], shown[64];
    const ck_pv *key;
    int e, es;
    int32_t v;
    size_t i, prefix_len = strlen(k->prefix);
    if (t->type != CK_PV_TUPLE || t->n != 5)
        return ck__pickle_fail(c, at, "a persistent id that is not a 5-tuple");
    for (i = 0; i < 5; i++) items[i] = &k->values[k->items[t->a + i]];
    if (!ck__pv_str_is(k, items[0], "storage") || items[1]->type != CK_PV_GLOBAL ||
        items[1]->i != CK_G_STORAGE || items[2]->type != CK_PV_STR ||
        items[3]->type != CK_PV_STR || items[4]->type != CK_PV_INT || items[4]->i < 0)
        return ck__pickle_fail(c, at, "a persistent id that is not ('storage', type, key, "
                                         "location, numel)");
    key = items[2];
    if (key->n == 0 || key->n > CK_MAX_NAME || memchr(k->data + key->a, '/', key->n) ||
        memchr(k->data + key->a, 0, key->n))
        return ck__pickle_fail(c, at, "a bad storage key");
    memcpy(entry_name, k->prefix, prefix_len);
    memcpy(entry_name + prefix_len, "data/", 5);
    memcpy(entry_name + prefix_len + 5, k->data + key->a, key->n);
    entry_name[prefix_len + 5 + key->n] = 0;
    e = ck__find_entry(c, entry_name);
    ck__printable(entry_name, strlen(entry_name), shown, sizeof(shown));
    if (e < 0) return ck__fail(c, "storage %s is missing from the archive", shown);
    es = ck__dtype_size(items[1]->dtype);
    if (items[4]->i > (int64_t)(c->entries[e].size / (uint64_t)es) ||
        c->entries[e].size != (uint64_t)items[4]->i * (uint64_t)es)
        return ck__fail(c, "storage %s: %lld elements of %d bytes, but the entry has %llu bytes",
                        shown, (long long)items[4]->i, es, (unsigned long long)c->entries[e].size);
    {
        int dtype = items[1]->dtype; /* (the values may move when one is added) */
        int64_t numel = items[4]->i;
        v = ck__pv_new(c, k, CK_PV_STORAGE);
        if (v < 0) return -1;
        k->values[v].dtype = dtype;
        k->values[v].i = numel;
        k->values[v].ref = e;
    }
    return v;
}

static inline int ck__int_tuple(const ck_pickle *k, const ck_pv *t, int64_t *out, int *n) {
    size_t i;
    if (t->type != CK_PV_TUPLE || t->n > 4) return -1;
    for (i = 0; i < t->n; i++) {
        const ck_pv *v = &k->values[k->items[t->a + i]];
        if (v->type != CK_PV_INT) return -1;
        out[i] = v->i;
    }
    *n = (int)t->n;
    return 0;
}

static inline int32_t ck__reduce(ck_ctx *c, ck_pickle *k, int32_t fn, int32_t args, size_t at) {
    const ck_pv *f = &k->values[fn], *a = &k->values[args];
    const ck_pv *item[7] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    size_t i;
    int32_t v;
    if (f->type != CK_PV_GLOBAL || a->type != CK_PV_TUPLE)
        return ck__pickle_fail(c, at, "REDUCE of something that is not an allowed global");
    for (i = 0; i < a->n && i < 7; i++) item[i] = &k->values[k->items[a->a + i]];
    if (f->i == CK_G_ODICT) {
        if (a->n != 0) return ck__pickle_fail(c, at, "OrderedDict with arguments");
        return ck__pv_new(c, k, CK_PV_DICT);
    }
    if (f->i == CK_G_REBUILD_TENSOR) {
        /* (storage, storage_offset, size, stride, requires_grad, hooks[, metadata]) */
        ck_ptensor p;
        int n_stride;
        memset(&p, 0, sizeof(p));
        if ((a->n != 6 && a->n != 7) || item[0]->type != CK_PV_STORAGE || item[1]->type != CK_PV_INT ||
            ck__int_tuple(k, item[2], p.shape, &p.ndim) ||
            ck__int_tuple(k, item[3], p.stride, &n_stride) || n_stride != p.ndim ||
            item[4]->type != CK_PV_BOOL ||
            (item[5]->type != CK_PV_DICT && item[5]->type != CK_PV_NONE) ||
            (a->n == 7 && item[6]->type != CK_PV_DICT && item[6]->type != CK_PV_NONE))
            return ck__pickle_fail(c, at, "_rebuild_tensor_v2 with unexpected arguments "
                                             "(more than 4 dimensions?)");
        p.storage = k->items[a->a];
        p.offset = item[1]->i;
        if (ck__grow((void **)&k->ptensors, &k->ptensors_cap, k->n_ptensors + 1, sizeof(p)))
            return ck__fail(c, "out of memory");
        k->ptensors[k->n_ptensors] = p;
        v = ck__pv_new(c, k, CK_PV_TENSOR);
        if (v < 0) return -1;
        k->values[v].ref = (int32_t)k->n_ptensors++;
        return v;
    }
    if (f->i == CK_G_REBUILD_PARAMETER) {
        /* (tensor, requires_grad, hooks) -> the tensor itself */
        if (a->n != 3 || item[0]->type != CK_PV_TENSOR || item[1]->type != CK_PV_BOOL ||
            (item[2]->type != CK_PV_DICT && item[2]->type != CK_PV_NONE))
            return ck__pickle_fail(c, at, "_rebuild_parameter with unexpected arguments");
        return k->items[a->a];
    }
    return ck__pickle_fail(c, at, "REDUCE of a storage type");
}

static inline int ck__dict_add(ck_ctx *c, ck_pickle *k, int32_t dict, int32_t key, int32_t value) {
    ck_pv *d = &k->values[dict];
    if (ck__grow((void **)&k->pairs, &k->pairs_cap, k->n_pairs + 1, sizeof(ck_pair)) ||
        k->n_pairs >= (size_t)INT32_MAX)
        return ck__fail(c, "out of memory");
    k->pairs[k->n_pairs].key = key;
    k->pairs[k->n_pairs].value = value;
    k->pairs[k->n_pairs].next = -1;
    if (d->tail < 0) d->head = (int32_t)k->n_pairs;
    else k->pairs[d->tail].next = (int32_t)k->n_pairs;
    d->tail = (int32_t)k->n_pairs++;
    return 0;
}

static inline int ck__memo_put(ck_ctx *c, ck_pickle *k, uint64_t index, size_t at) {
    size_t old = k->memo_cap, i;
    if (!k->sp) return ck__pickle_fail(c, at, "memo put on an empty stack");
    if (index > k->len + 16) return ck__pickle_fail(c, at, "memo index out of range");
    if (ck__grow((void **)&k->memo, &k->memo_cap, (size_t)index + 1, sizeof(int32_t)))
        return ck__fail(c, "out of memory");
    for (i = old; i < k->memo_cap; i++) k->memo[i] = -1;
    k->memo[index] = k->stack[k->sp - 1];
    return 0;
}

static inline int ck__memo_get(ck_ctx *c, ck_pickle *k, uint64_t index, size_t at) {
    if (index >= k->memo_cap || k->memo[index] < 0)
        return ck__pickle_fail(c, at, "memo get of an unset index");
    return ck__push(c, k, k->memo[index]);
}

/* A tuple of the stack items from position `from` up. */
static inline int32_t ck__tuple(ck_ctx *c, ck_pickle *k, size_t from) {
    int32_t v;
    size_t n = k->sp - from;
    if (ck__grow((void **)&k->items, &k->items_cap, k->n_items + n + 1, sizeof(int32_t)))
        return ck__fail(c, "out of memory");
    v = ck__pv_new(c, k, CK_PV_TUPLE);
    if (v < 0) return -1;
    if (n) memcpy(k->items + k->n_items, k->stack + from, n * sizeof(int32_t));
    k->values[v].a = k->n_items;
    k->values[v].n = n;
    k->n_items += n;
    k->sp = from;
    return v;
}

static inline int ck__pop_mark(ck_ctx *c, ck_pickle *k, size_t at, size_t *mark) {
    if (!k->n_marks) return ck__pickle_fail(c, at, "no MARK on the stack");
    *mark = k->marks[--k->n_marks];
    if (*mark > k->sp) return ck__pickle_fail(c, at, "the stack fell below a MARK");
    return 0;
}

/* Run the pickle; *result is the value STOP returned. */
static inline int ck__pickle_run(ck_ctx *c, ck_pickle *k, int32_t *result) {
    for (;;) {
        size_t at = k->pos, mark = 0;
        const unsigned char *p;
        int32_t v, w;
        unsigned op;
        if (k->pos >= k->len) return ck__pickle_fail(c, at, "the pickle ends without STOP");
        op = k->data[k->pos++];
        /* each case: its operand bytes, then what it does to the stack */
        switch (op) {
        case 0x80: /* PROTO */
            if (!(p = ck__take(k, 1))) goto truncated;
            if (p[0] < 2 || p[0] > 5) return ck__pickle_fail(c, at, "unsupported protocol");
            break;
        case 0x95: /* FRAME: a length prefix, nothing to do */
            if (!(p = ck__take(k, 8))) goto truncated;
            if (ck__u64(p) > k->len - k->pos) return ck__pickle_fail(c, at, "frame past the end");
            break;
        case '}': /* EMPTY_DICT */
            if (ck__push(c, k, ck__pv_new(c, k, CK_PV_DICT))) return -1;
            break;
        case 'd': /* DICT */
            if (ck__pop_mark(c, k, at, &mark)) return -1;
            if ((k->sp - mark) % 2) return ck__pickle_fail(c, at, "DICT of an odd item count");
            if ((v = ck__pv_new(c, k, CK_PV_DICT)) < 0) return -1;
            for (w = (int32_t)mark; (size_t)w < k->sp; w += 2)
                if (ck__dict_add(c, k, v, k->stack[w], k->stack[w + 1])) return -1;
            k->sp = mark;
            if (ck__push(c, k, v)) return -1;
            break;
        case '(': /* MARK */
            if (ck__grow((void **)&k->marks, &k->marks_cap, k->n_marks + 1, sizeof(size_t)))
                return ck__fail(c, "out of memory");
            k->marks[k->n_marks++] = k->sp;
            break;
        case 's': /* SETITEM */
            if (k->sp < 3 || k->values[k->stack[k->sp - 3]].type != CK_PV_DICT ||
                (k->n_marks && k->marks[k->n_marks - 1] > k->sp - 3))
                return ck__pickle_fail(c, at, "SETITEM without a dict");
            if (ck__dict_add(c, k, k->stack[k->sp - 3], k->stack[k->sp - 2], k->stack[k->sp - 1]))
                return -1;
            k->sp -= 2;
            break;
        case 'u': /* SETITEMS */
            if (ck__pop_mark(c, k, at, &mark)) return -1;
            if (mark < 1 || k->values[k->stack[mark - 1]].type != CK_PV_DICT || (k->sp - mark) % 2)
                return ck__pickle_fail(c, at, "SETITEMS without a dict or of an odd item count");
            for (w = (int32_t)mark; (size_t)w < k->sp; w += 2)
                if (ck__dict_add(c, k, k->stack[mark - 1], k->stack[w], k->stack[w + 1])) return -1;
            k->sp = mark;
            break;
        case 'X':  /* BINUNICODE */
        case 0x8c: /* SHORT_BINUNICODE */ {
            uint64_t n;
            if (!(p = ck__take(k, op == 'X' ? 4 : 1))) goto truncated;
            n = op == 'X' ? ck__u32(p) : p[0];
            if (n > k->len - k->pos) goto truncated;
            if ((v = ck__pv_new(c, k, CK_PV_STR)) < 0) return -1;
            k->values[v].a = k->pos;
            k->values[v].n = (size_t)n;
            k->pos += (size_t)n;
            if (ck__push(c, k, v)) return -1;
            break;
        }
        case 'c': { /* GLOBAL "module\nname\n" */
            const char *module = (const char *)k->data + k->pos, *name, *nl;
            size_t room = k->len - k->pos < 512 ? k->len - k->pos : 512;
            nl = (const char *)memchr(module, '\n', room);
            if (!nl) return ck__pickle_fail(c, at, "GLOBAL without a module line");
            name = nl + 1;
            room -= (size_t)(name - module);
            nl = (const char *)memchr(name, '\n', room);
            if (!nl) return ck__pickle_fail(c, at, "GLOBAL without a name line");
            k->pos = (size_t)((const unsigned char *)nl + 1 - k->data);
            if (ck__global(c, k, module, (size_t)(name - 1 - module), name, (size_t)(nl - name), at))
                return -1;
            break;
        }
        case 0x93: { /* STACK_GLOBAL */
            const ck_pv *m, *n;
            if (k->sp < 2) goto underflow;
            m = &k->values[k->stack[k->sp - 2]];
            n = &k->values[k->stack[k->sp - 1]];
            if (m->type != CK_PV_STR || n->type != CK_PV_STR)
                return ck__pickle_fail(c, at, "STACK_GLOBAL of non-strings");
            k->sp -= 2;
            if (ck__global(c, k, (const char *)k->data + m->a, m->n, (const char *)k->data + n->a,
                           n->n, at))
                return -1;
            break;
        }
        case 'Q': /* BINPERSID */
            if (k->sp < 1) goto underflow;
            if ((v = ck__persistent(c, k, k->stack[k->sp - 1], at)) < 0) return -1;
            k->stack[k->sp - 1] = v;
            break;
        case 't': /* TUPLE */
            if (ck__pop_mark(c, k, at, &mark)) return -1;
            if (ck__push(c, k, ck__tuple(c, k, mark))) return -1;
            break;
        case ')':  /* EMPTY_TUPLE */
        case 0x85: /* TUPLE1 */
        case 0x86: /* TUPLE2 */
        case 0x87: /* TUPLE3 */ {
            size_t n = op == ')' ? 0 : op - 0x84u;
            if (k->sp < n || (k->n_marks && k->marks[k->n_marks - 1] > k->sp - n)) goto underflow;
            if (ck__push(c, k, ck__tuple(c, k, k->sp - n))) return -1;
            break;
        }
        case 'J':  /* BININT */
        case 'K':  /* BININT1 */
        case 'M':  /* BININT2 */
        case 0x8a: /* LONG1 */ {
            int64_t value;
            if (op == 'J') {
                if (!(p = ck__take(k, 4))) goto truncated;
                value = (int32_t)ck__u32(p);
            } else if (op == 'K') {
                if (!(p = ck__take(k, 1))) goto truncated;
                value = p[0];
            } else if (op == 'M') {
                if (!(p = ck__take(k, 2))) goto truncated;
                value = ck__u16(p);
            } else {
                uint64_t u = 0;
                size_t n, i;
                if (!(p = ck__take(k, 1))) goto truncated;
                n = p[0];
                if (n > 8) return ck__pickle_fail(c, at, "an integer wider than 64 bits");
                if (!(p = ck__take(k, n))) goto truncated;
                for (i = 0; i < n; i++) u |= (uint64_t)p[i] << (8 * i);
                if (n && n < 8 && (p[n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n); /* sign */
                memcpy(&value, &u, 8);
            }
            if ((v = ck__pv_new(c, k, CK_PV_INT)) < 0) return -1;
            k->values[v].i = value;
            if (ck__push(c, k, v)) return -1;
            break;
        }
        case 0x88: /* NEWTRUE */
        case 0x89: /* NEWFALSE */
            if ((v = ck__pv_new(c, k, CK_PV_BOOL)) < 0) return -1;
            k->values[v].i = op == 0x88;
            if (ck__push(c, k, v)) return -1;
            break;
        case 'N': /* NONE */
            if (ck__push(c, k, ck__pv_new(c, k, CK_PV_NONE))) return -1;
            break;
        case 'q': /* BINPUT */
            if (!(p = ck__take(k, 1)) ) goto truncated;
            if (ck__memo_put(c, k, p[0], at)) return -1;
            break;
        case 'r': /* LONG_BINPUT */
            if (!(p = ck__take(k, 4))) goto truncated;
            if (ck__memo_put(c, k, ck__u32(p), at)) return -1;
            break;
        case 0x94: /* MEMOIZE */
            if (ck__memo_put(c, k, k->memo_next++, at)) return -1;
            break;
        case 'h': /* BINGET */
            if (!(p = ck__take(k, 1))) goto truncated;
            if (ck__memo_get(c, k, p[0], at)) return -1;
            break;
        case 'j': /* LONG_BINGET */
            if (!(p = ck__take(k, 4))) goto truncated;
            if (ck__memo_get(c, k, ck__u32(p), at)) return -1;
            break;
        case 'R': /* REDUCE */
            if (k->sp < 2 || (k->n_marks && k->marks[k->n_marks - 1] > k->sp - 2)) goto underflow;
            if ((v = ck__reduce(c, k, k->stack[k->sp - 2], k->stack[k->sp - 1], at)) < 0) return -1;
            k->sp -= 1;
            k->stack[k->sp - 1] = v;
            break;
        case 'b': /* BUILD: an OrderedDict's attributes (_metadata): ignored */
            if (k->sp < 2 || (k->n_marks && k->marks[k->n_marks - 1] > k->sp - 2)) goto underflow;
            if (k->values[k->stack[k->sp - 2]].type != CK_PV_DICT)
                return ck__pickle_fail(c, at, "BUILD of something that is not a dict");
            k->sp--;
            break;
        case '.': /* STOP */
            if (k->sp != 1 || k->n_marks) return ck__pickle_fail(c, at, "STOP with a stack not of one item");
            *result = k->stack[0];
            return 0;
        default: {
            char what[96];
            ck__format(what, sizeof(what), "opcode 0x%02x%s%c%s is not one torch.save writes for a "
                       "dict of tensors; refused", op, op >= 0x20 && op < 0x7f ? " ('" : "",
                       op >= 0x20 && op < 0x7f ? (int)op : ' ', op >= 0x20 && op < 0x7f ? "')" : "");
            return ck__pickle_fail(c, at, what);
        }
        }
        continue;
    truncated:
        return ck__pickle_fail(c, at, "truncated");
    underflow:
        return ck__pickle_fail(c, at, "stack underflow");
    }
}

/* Open a torch.save archive: the pickle's dict of tensors becomes c->tensors. */
static inline int ck__torch_open(ck_ctx *c) {
    ck_pickle k;
    unsigned char *pkl = NULL;
    size_t i, prefix_len;
    int pe = -1, rc = -1;
    int32_t root = -1, pair;
    char prefix[CK_MAX_NAME];
    if (ck__zip_open(c)) return -1;
    for (i = 0; i < c->n_entries; i++) {
        const char *name = c->entries[i].name, *slash = strchr(name, '/');
        if (slash && !strcmp(slash + 1, "data.pkl")) {
            if (pe >= 0) return ck__fail(c, "%s: more than one data.pkl", c->files[0].path);
            pe = (int)i;
        }
    }
    if (pe < 0)
        return ck__fail(c, "%s: a zip archive without <name>/data.pkl: not a torch.save file",
                        c->files[0].path);
    prefix_len = (size_t)(strchr(c->entries[pe].name, '/') - c->entries[pe].name) + 1;
    if (prefix_len >= sizeof(prefix) - 8) return ck__fail(c, "archive prefix too long");
    memcpy(prefix, c->entries[pe].name, prefix_len);
    prefix[prefix_len] = 0;
    /* torch >= 2.1 says the storages' byte order; only little-endian is read */
    strcpy(prefix + prefix_len, "byteorder");
    i = (size_t)ck__find_entry(c, prefix);
    prefix[prefix_len] = 0;
    if ((int)i >= 0) {
        char order[8] = {0};
        if (c->entries[i].size > 7 || ck__read(c, 0, c->entries[i].data, order, (size_t)c->entries[i].size))
            return ck__fail(c, "%sbyteorder: unreadable", prefix);
        if (strcmp(order, "little"))
            return ck__fail(c, "the checkpoint's storages are big-endian (%sbyteorder): only "
                            "little-endian ones are read", prefix);
    }
    if (c->entries[pe].size > CK_MAX_PICKLE || c->entries[pe].size == 0)
        return ck__fail(c, "data.pkl of %llu bytes", (unsigned long long)c->entries[pe].size);
    pkl = (unsigned char *)malloc((size_t)c->entries[pe].size);
    if (!pkl) return ck__fail(c, "out of memory");
    memset(&k, 0, sizeof(k));
    if (ck__read(c, 0, c->entries[pe].data, pkl, (size_t)c->entries[pe].size) ||
        ck__entry_account(c, pe, 0, pkl, (size_t)c->entries[pe].size))
        goto done;
    k.data = pkl;
    k.len = (size_t)c->entries[pe].size;
    k.prefix = prefix;
    if (ck__pickle_run(c, &k, &root)) goto done;
    if (k.values[root].type != CK_PV_DICT) {
        ck__fail(c, "data.pkl holds no dict of tensors");
        goto done;
    }
    for (pair = k.values[root].head; pair >= 0; pair = k.pairs[pair].next) {
        const ck_pv *key = &k.values[k.pairs[pair].key], *value = &k.values[k.pairs[pair].value];
        const ck_ptensor *t;
        const ck_pv *storage;
        char shown[96];
        if (key->type != CK_PV_STR) {
            ck__fail(c, "data.pkl: a dict key that is not a string");
            goto done;
        }
        if (value->type != CK_PV_TENSOR) {
            ck__printable((const char *)pkl + key->a, key->n, shown, sizeof(shown));
            ck__fail(c, "data.pkl: %s is not a tensor (a training checkpoint? save the model's "
                     "state_dict)", shown);
            goto done;
        }
        t = &k.ptensors[value->ref];
        storage = &k.values[t->storage];
        if (ck__add_tensor(c, (const char *)pkl + key->a, key->n, storage->dtype, t->ndim, t->shape,
                           t->stride, t->offset, (uint64_t)storage->i, 0,
                           c->entries[storage->ref].data, storage->ref))
            goto done;
    }
    rc = 0;
done:
    ck__pickle_free(&k);
    free(pkl);
    return rc;
}

/* ---- safetensors -------------------------------------------------------------- */

/* Read a whole small file (a JSON index or vocabulary) into memory. */
static inline int ck__slurp(ck_ctx *c, const char *path, size_t limit, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    uint64_t size;
    *out = NULL;
    *len = 0;
    if (!f) return ck__fail(c, "%s: cannot open", path);
    if (ck__file_size(f, &size) || ck__seek(f, 0)) {
        fclose(f);
        return ck__fail(c, "%s: cannot read", path);
    }
    if (size > limit) {
        fclose(f);
        return ck__fail(c, "%s: %llu bytes is too large", path, (unsigned long long)size);
    }
    *out = (char *)malloc((size_t)size + 1);
    if (!*out || fread(*out, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(*out);
        *out = NULL;
        return ck__fail(c, "%s: cannot read", path);
    }
    fclose(f);
    (*out)[size] = 0;
    *len = (size_t)size;
    return 0;
}

static inline int ck__json_int_array(const ck_json *doc, int32_t node, int64_t *out, int max, int *n) {
    int32_t e;
    *n = 0;
    if (node < 0 || doc->nodes[node].type != CK_JSON_ARRAY || doc->nodes[node].count > max) return -1;
    for (e = doc->nodes[node].first; e >= 0; e = doc->nodes[e].next) {
        if (doc->nodes[e].type != CK_JSON_NUMBER || !doc->nodes[e].is_int) return -1;
        out[(*n)++] = doc->nodes[e].i;
    }
    return 0;
}

/* Tensors of one .safetensors file: an 8-byte header length, a JSON header
   {name: {dtype, shape, data_offsets}}, then the data. */
static inline int ck__safetensors_open(ck_ctx *c, int file) {
    const ck_file *f = &c->files[file];
    unsigned char head[8];
    char *json = NULL, jerr[160];
    ck_json doc;
    uint64_t n, data_start, data_size;
    ck_range *ranges = NULL;
    size_t n_ranges = 0, first_tensor = c->n_tensors, i;
    int32_t m;
    int rc = -1;
    memset(&doc, 0, sizeof(doc));
    if (ck__read(c, file, 0, head, 8)) return -1;
    n = ck__u64(head);
    if (n < 2 || n > CK_MAX_JSON || n > f->size - 8)
        return ck__fail(c, "%s: not a safetensors file (header of %llu bytes in a file of %llu)",
                        f->path, (unsigned long long)n, (unsigned long long)f->size);
    data_start = 8 + n;
    data_size = f->size - data_start;
    json = (char *)malloc((size_t)n);
    if (!json) return ck__fail(c, "out of memory");
    if (ck__read(c, file, 8, json, (size_t)n)) goto done;
    if (ck_json_parse(&doc, json, (size_t)n, jerr, sizeof(jerr))) {
        ck__fail(c, "%s: header %s", f->path, jerr);
        goto done;
    }
    if (doc.nodes[0].type != CK_JSON_OBJECT) {
        ck__fail(c, "%s: the header is not a JSON object", f->path);
        goto done;
    }
    ranges = (ck_range *)malloc(((size_t)doc.nodes[0].count + 1) * sizeof(ck_range));
    if (!ranges) {
        ck__fail(c, "out of memory");
        goto done;
    }
    for (m = doc.nodes[0].first; m >= 0; m = doc.nodes[m].next) {
        const ck_json_node *t = &doc.nodes[m];
        int32_t dtype_node = ck_json_get(&doc, m, "dtype");
        int64_t shape[4], offsets[2], stride[4], numel = 1;
        int ndim, n_off, d, dtype;
        char shown[96];
        const char *dt;
        if (t->key_len == 12 && !memcmp(t->key, "__metadata__", 12)) continue;
        ck__printable(t->key, t->key_len, shown, sizeof(shown));
        if (t->type != CK_JSON_OBJECT || dtype_node < 0 || doc.nodes[dtype_node].type != CK_JSON_STRING ||
            ck__json_int_array(&doc, ck_json_get(&doc, m, "data_offsets"), offsets, 2, &n_off) ||
            n_off != 2) {
            ck__fail(c, "%s: tensor %s: malformed header entry", f->path, shown);
            goto done;
        }
        if (ck__json_int_array(&doc, ck_json_get(&doc, m, "shape"), shape, 4, &ndim) || ndim < 1) {
            ck__fail(c, "%s: tensor %s: shape missing, empty (a scalar) or of more than 4 dimensions",
                     f->path, shown);
            goto done;
        }
        dt = doc.nodes[dtype_node].s;
        if (!strcmp(dt, "F32")) dtype = CK_F32;
        else if (!strcmp(dt, "F16")) dtype = CK_F16;
        else if (!strcmp(dt, "BF16")) dtype = CK_BF16;
        else {
            char shown_dt[32];
            ck__printable(dt, doc.nodes[dtype_node].len, shown_dt, sizeof(shown_dt));
            ck__fail(c, "%s: tensor %s has dtype %s (F32, F16 and BF16 are read)", f->path, shown,
                     shown_dt);
            goto done;
        }
        for (d = 0; d < ndim; d++) {
            if (shape[d] < 1 || shape[d] > ((int64_t)1 << 40) || numel > ((int64_t)1 << 50) / shape[d]) {
                ck__fail(c, "%s: tensor %s: bad shape", f->path, shown);
                goto done;
            }
            numel *= shape[d];
        }
        for (d = ndim; d-- > 0;) stride[d] = d == ndim - 1 ? 1 : stride[d + 1] * shape[d + 1];
        if (offsets[0] < 0 || offsets[1] < offsets[0] || (uint64_t)offsets[1] > data_size ||
            offsets[1] - offsets[0] != numel * ck__dtype_size(dtype)) {
            ck__fail(c, "%s: tensor %s: data_offsets [%lld, %lld] do not fit its shape or the file "
                     "(%llu data bytes)", f->path, shown, (long long)offsets[0], (long long)offsets[1],
                     (unsigned long long)data_size);
            goto done;
        }
        ranges[n_ranges].start = (uint64_t)offsets[0];
        ranges[n_ranges++].end = (uint64_t)offsets[1];
        if (ck__add_tensor(c, t->key, t->key_len, dtype, ndim, shape, stride, 0, (uint64_t)numel, file,
                           data_start + (uint64_t)offsets[0], -1))
            goto done;
    }
    qsort(ranges, n_ranges, sizeof(ck_range), ck__range_compare);
    for (i = 1; i < n_ranges; i++)
        if (ranges[i].start < ranges[i - 1].end) {
            ck__fail(c, "%s: tensor data overlap", f->path);
            goto done;
        }
    if (c->n_tensors == first_tensor) {
        ck__fail(c, "%s: no tensors", f->path);
        goto done;
    }
    rc = 0;
done:
    free(ranges);
    free(json);
    ck_json_free(&doc);
    return rc;
}

static inline ck_tensor *ck__find(ck_ctx *c, const char *name) {
    size_t lo = 0, hi = c->n_tensors;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(c->tensors[mid].name, name);
        if (!cmp) return &c->tensors[mid];
        if (cmp < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* model.safetensors.index.json: {"weight_map": {tensor: shard file}}. */
static inline int ck__index_open(ck_ctx *c, const char *index_path) {
    char *text = NULL, jerr[160], *path = NULL;
    const char **names = NULL;
    size_t len = 0, n_names = 0, dir_len, i;
    ck_json doc;
    int32_t map, m;
    int rc = -1;
    memset(&doc, 0, sizeof(doc));
    if (ck__slurp(c, index_path, CK_MAX_JSON, &text, &len)) return -1;
    if (ck_json_parse(&doc, text, len, jerr, sizeof(jerr))) {
        ck__fail(c, "%s: %s", index_path, jerr);
        goto done;
    }
    map = ck_json_get(&doc, 0, "weight_map");
    if (map < 0 || doc.nodes[map].type != CK_JSON_OBJECT || doc.nodes[map].count == 0) {
        ck__fail(c, "%s: no weight_map object: not a safetensors index", index_path);
        goto done;
    }
    names = (const char **)malloc((size_t)doc.nodes[map].count * sizeof(char *));
    if (!names) {
        ck__fail(c, "out of memory");
        goto done;
    }
    for (m = doc.nodes[map].first; m >= 0; m = doc.nodes[m].next) {
        const ck_json_node *v = &doc.nodes[m];
        if (v->type != CK_JSON_STRING || v->len == 0 || v->len > 255 || strlen(v->s) != v->len ||
            strchr(v->s, '/') || strchr(v->s, '\\') || v->s[0] == '.') {
            char shown[96];
            ck__printable(v->key, v->key_len, shown, sizeof(shown));
            ck__fail(c, "%s: tensor %s: the shard must be a plain file name in the index's folder",
                     index_path, shown);
            goto done;
        }
        for (i = 0; i < n_names && strcmp(names[i], v->s); i++) continue;
        if (i == n_names) {
            if (n_names >= CK_MAX_SHARDS) {
                ck__fail(c, "%s: too many shards", index_path);
                goto done;
            }
            names[n_names++] = v->s;
        }
    }
    dir_len = strrchr(index_path, '/') ? (size_t)(strrchr(index_path, '/') - index_path) + 1 : 0;
    path = (char *)malloc(dir_len + 257);
    if (!path) {
        ck__fail(c, "out of memory");
        goto done;
    }
    memcpy(path, index_path, dir_len);
    for (i = 0; i < n_names; i++) {
        int file;
        strcpy(path + dir_len, names[i]);
        if ((file = ck__add_file(c, path)) < 0 || ck__safetensors_open(c, file)) goto done;
    }
    /* every tensor of the index must be in the shard it names */
    qsort(c->tensors, c->n_tensors, sizeof(ck_tensor), ck__tensor_compare);
    for (m = doc.nodes[map].first; m >= 0; m = doc.nodes[m].next) {
        char name[CK_MAX_NAME], shown[96];
        const ck_tensor *t;
        ck__printable(doc.nodes[m].key, doc.nodes[m].key_len, shown, sizeof(shown));
        if (ck__official_name(doc.nodes[m].key, doc.nodes[m].key_len, name)) {
            ck__fail(c, "%s: bad tensor name %s", index_path, shown);
            goto done;
        }
        t = ck__find(c, name);
        if (!t || strcmp(c->files[t->file].path + dir_len, doc.nodes[m].s)) {
            ck__fail(c, "%s: tensor %s is not in %s", index_path, shown, doc.nodes[m].s);
            goto done;
        }
    }
    rc = 0;
done:
    free(path);
    free(names);
    free(text);
    ck_json_free(&doc);
    return rc;
}

/* ---- Reading tensor data as floats ---------------------------------------------- */

static inline float ck__to_float(const unsigned char *p, int dtype) {
    uint32_t bits;
    float f = 0.0f; /* GCC 12 at -O2 cannot see that the F16 decode writes it */
    if (dtype == CK_F16) {
        rwkv_dequantize_row(RWKV_TYPE_F16, p, 1, &f);
        return f;
    }
    bits = dtype == CK_F32 ? ck__u32(p) : (uint32_t)ck__u16(p) << 16;
    memcpy(&f, &bits, 4);
    return f;
}

/* Row-major with no gaps (strides of size-1 dimensions do not matter). */
static inline int ck__contiguous(const ck_tensor *t) {
    int64_t expect = 1;
    int d;
    for (d = t->ndim; d-- > 0;) {
        if (t->shape[d] != 1 && t->stride[d] != expect) return 0;
        expect *= t->shape[d];
    }
    return 1;
}

/* Storage elements [first, first+count) as floats, CRC-checked. */
static inline int ck__read_span(ck_ctx *c, const ck_tensor *t, int64_t first, int64_t count,
                                unsigned char **scratch, size_t *scratch_size, float *out) {
    int es = ck__dtype_size(t->dtype);
    size_t bytes = (size_t)count * (size_t)es;
    uint64_t rel = (uint64_t)first * (uint64_t)es;
    int64_t i;
    if (bytes > *scratch_size) {
        unsigned char *p = (unsigned char *)realloc(*scratch, bytes);
        if (!p) return ck__fail(c, "out of memory");
        *scratch = p;
        *scratch_size = bytes;
    }
    if (ck__read(c, t->file, t->base + rel, *scratch, bytes) ||
        ck__entry_account(c, t->entry, rel, *scratch, bytes))
        return -1;
    for (i = 0; i < count; i++) out[i] = ck__to_float(*scratch + (size_t)i * (size_t)es, t->dtype);
    return 0;
}

/* The whole tensor in row-major order, whatever its strides. */
static inline int ck__gather(ck_ctx *c, const ck_tensor *t, float *out) {
    unsigned char *scratch = NULL;
    size_t scratch_size = 0;
    int64_t shape[4] = {1, 1, 1, 1}, stride[4] = {0, 0, 0, 0}, span = 1, i0, i1, i2, i3;
    float *all;
    int d, rc;
    if (ck__contiguous(t)) {
        rc = ck__read_span(c, t, t->offset, ck__numel(t), &scratch, &scratch_size, out);
        free(scratch);
        return rc;
    }
    for (d = 0; d < t->ndim; d++) {
        shape[4 - t->ndim + d] = t->shape[d];
        stride[4 - t->ndim + d] = t->stride[d];
        span += (t->shape[d] - 1) * t->stride[d];
    }
    all = (float *)malloc((size_t)span * sizeof(float));
    if (!all) return ck__fail(c, "out of memory");
    rc = ck__read_span(c, t, t->offset, span, &scratch, &scratch_size, all);
    free(scratch);
    if (!rc)
        for (i0 = 0; i0 < shape[0]; i0++)
            for (i1 = 0; i1 < shape[1]; i1++)
                for (i2 = 0; i2 < shape[2]; i2++)
                    for (i3 = 0; i3 < shape[3]; i3++)
                        *out++ = all[i0 * stride[0] + i1 * stride[1] + i2 * stride[2] + i3 * stride[3]];
    free(all);
    return rc;
}

/* ---- The conversion plan: which GGUF tensor comes from what ----------------------- */

static inline const char *ck__layer_name(char *buf, size_t size, int layer, const char *suffix) {
    ck__format(buf, size, "blocks.%d.%s", layer, suffix);
    return buf;
}

/* The checkpoint tensor official name (layer < 0: a model-level name), or
   -1 (and an error unless optional). Marks it used. */
static inline int ck__src(ck_ctx *c, int layer, const char *name, int optional) {
    char full[CK_MAX_NAME];
    ck_tensor *t;
    if (layer >= 0) ck__layer_name(full, sizeof(full), layer, name);
    else ck__format(full, sizeof(full), "%s", name);
    t = ck__find(c, full);
    if (!t) return optional ? -1 : ck__fail(c, "tensor %s is missing (RWKV-%d checkpoint)", full, c->version);
    t->used = 1;
    return (int)(t - c->tensors);
}

static inline int ck__shape_is(const ck_tensor *t, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    return t->ndim == ndim && t->shape[0] == d0 && (ndim < 2 || t->shape[1] == d1) &&
           (ndim < 3 || t->shape[2] == d2);
}

static inline int ck__shape_fail(ck_ctx *c, int src, const char *expected) {
    const ck_tensor *t = &c->tensors[src];
    char shape[80];
    int d;
    size_t n = 0;
    shape[0] = 0;
    for (d = 0; d < t->ndim; d++)
        n += (size_t)snprintf(shape + n, sizeof(shape) - n, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    return ck__fail(c, "tensor %s has shape (%s), expected %s", t->name, shape, expected);
}

static inline int ck__add_out(ck_ctx *c, int layer, const char *name, int type, int n_dims,
                              int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3, int kind, int n_src,
                              const int *src) {
    ck_out *o;
    uint64_t numel = (uint64_t)ne0 * (uint64_t)ne1 * (uint64_t)ne2 * (uint64_t)ne3;
    int i;
    if (ck__grow((void **)&c->outs, &c->outs_cap, c->n_outs + 1, sizeof(ck_out)))
        return ck__fail(c, "out of memory");
    o = &c->outs[c->n_outs];
    memset(o, 0, sizeof(*o));
    if (layer >= 0) ck__format(o->name, sizeof(o->name), "blk.%d.%s", layer, name);
    else ck__format(o->name, sizeof(o->name), "%s", name);
    o->type = type;
    o->n_dims = n_dims;
    o->ne[0] = ne0;
    o->ne[1] = ne1;
    o->ne[2] = ne2;
    o->ne[3] = ne3;
    o->n_bytes = rwkv_type_size(type, numel);
    if (!o->n_bytes) return ck__fail(c, "tensor %s: %s cannot hold it", o->name, rwkv_type_name(type));
    o->kind = kind;
    o->n_src = n_src;
    for (i = 0; i < n_src; i++) o->src[i] = src[i];
    c->bytes_total += o->n_bytes;
    c->n_outs++;
    return 0;
}

/* A vector of n values (any shape with n elements: (C,), (1,1,C), (H,N)). */
static inline int ck__vector(ck_ctx *c, int layer, const char *official, const char *gguf, int64_t n) {
    int s = ck__src(c, layer, official, 0);
    if (s < 0) return -1;
    if (ck__numel(&c->tensors[s]) != n) {
        char expected[48];
        ck__format(expected, sizeof(expected), "%lld elements", (long long)n);
        return ck__shape_fail(c, s, expected);
    }
    return ck__add_out(c, layer, gguf, RWKV_TYPE_F32, 1, n, 1, 1, 1, CK_COPY, 1, &s);
}

/* The type of a big matrix with rows of ne0 elements. */
static inline int ck__matrix_type(ck_ctx *c, const char *name, int64_t ne0, int head) {
    int t = c->out_type;
    int quantized = t != RWKV_TYPE_F32 && t != RWKV_TYPE_F16 && t != RWKV_TYPE_BF16;
    if (quantized && head) return RWKV_TYPE_F16;
    if (quantized && ne0 % 32) {
        ck__note(c, "%s written f16: rows of %lld are not a multiple of 32", name, (long long)ne0);
        return RWKV_TYPE_F16;
    }
    return t;
}

/* A (rows, cols) matrix stored as is: ne {cols, rows}. */
static inline int ck__matrix(ck_ctx *c, int layer, const char *official, const char *gguf, int64_t rows,
                             int64_t cols, int type) {
    int s = ck__src(c, layer, official, 0);
    if (s < 0) return -1;
    if (!ck__shape_is(&c->tensors[s], 2, rows, cols, 0)) {
        char expected[64];
        ck__format(expected, sizeof(expected), "(%lld, %lld)", (long long)rows, (long long)cols);
        return ck__shape_fail(c, s, expected);
    }
    if (type < 0) type = ck__matrix_type(c, official, cols, 0);
    return ck__add_out(c, layer, gguf, type, 2, cols, rows, 1, 1, CK_COPY, 1, &s);
}

/* A LoRA matrix used as x @ W, (rows, cols) with one side unknown (-1):
   stored transposed, ne {rows, cols}, f32. Returns the unknown side. */
static inline int64_t ck__lora(ck_ctx *c, int layer, const char *official, const char *gguf, int64_t rows,
                               int64_t cols) {
    int s = ck__src(c, layer, official, 0);
    const ck_tensor *t;
    if (s < 0) return -1;
    t = &c->tensors[s];
    if (t->ndim != 2 || (rows >= 0 && t->shape[0] != rows) || (cols >= 0 && t->shape[1] != cols) ||
        t->shape[0] > 65536 || t->shape[1] > 65536) {
        char expected[64];
        if (rows < 0) ck__format(expected, sizeof(expected), "(rank, %lld)", (long long)cols);
        else if (cols < 0) ck__format(expected, sizeof(expected), "(%lld, rank)", (long long)rows);
        else ck__format(expected, sizeof(expected), "(%lld, %lld)", (long long)rows, (long long)cols);
        return ck__shape_fail(c, s, expected);
    }
    if (ck__add_out(c, layer, gguf, RWKV_TYPE_F32, 2, t->shape[0], t->shape[1], 1, 1, CK_TRANSPOSE, 1,
                    &s))
        return -1;
    return rows < 0 ? t->shape[0] : t->shape[1];
}

static inline int ck__plan(ck_ctx *c) {
    const ck_tensor *emb = ck__find(c, "emb.weight"), *t;
    int64_t C, F, V;
    int L = 0, i, s, v = 0, head_count = 0, D = 0, D2 = 0, Dw = 0, Da = 0, Dv = 0, Dg = 0;
    size_t k;
    if (!emb)
        return ck__fail(c, "no emb.weight (or rwkv.embeddings.weight): not an RWKV checkpoint in the "
                        "official or the transformers naming");
    if (emb->ndim != 2 || emb->shape[1] > RWKV_MAX_EMBD || emb->shape[0] > RWKV_MAX_VOCAB)
        return ck__fail(c, "emb.weight: unsupported shape");
    V = emb->shape[0];
    C = emb->shape[1];
    /* layers: the largest N of blocks.N. */
    for (k = 0; k < c->n_tensors; k++) {
        const char *p = c->tensors[k].name;
        long n = 0;
        int digits = 0;
        if (!ck__starts(p, "blocks.")) continue;
        for (p += 7; *p >= '0' && *p <= '9' && digits < 6; p++, digits++) n = n * 10 + (*p - '0');
        if (!digits || *p != '.') continue;
        if (n >= RWKV_MAX_LAYERS) return ck__fail(c, "%s: more than %d layers", c->tensors[k].name, RWKV_MAX_LAYERS);
        if (n + 1 > L) L = (int)n + 1;
    }
    if (L < 1) return ck__fail(c, "no blocks.N. tensors");
    /* the version, from the names of layer 0 */
    if (ck__find(c, "blocks.0.att.r_k")) v = 7;
    else if (ck__find(c, "blocks.0.att.time_maa_x")) v = 6;
    else if (ck__find(c, "blocks.0.att.ln_x.weight")) v = 5;
    else if (ck__find(c, "blocks.0.att.time_first")) v = 4;
    else return ck__fail(c, "cannot tell the RWKV version (no att.r_k, att.time_maa_x, att.ln_x or "
                         "att.time_first in layer 0)");
    c->version = v;
    c->minor = v == 5 ? (ck__find(c, "blocks.0.att.gate.weight") ? 2 : 1) : 0;
    t = ck__find(c, "blocks.0.ffn.key.weight");
    if (!t || t->ndim != 2 || t->shape[1] != C || t->shape[0] < 1 || t->shape[0] > 16 * C)
        return ck__fail(c, "blocks.0.ffn.key.weight is missing or not (F, %lld)", (long long)C);
    F = t->shape[0];
    c->L = L;
    c->C = (int)C;
    c->F = (int)F;
    c->V = (int)V;
    /* heads */
    if (v >= 5) {
        t = ck__find(c, v == 5 ? "blocks.0.att.time_decay" : v == 6 ? "blocks.0.att.time_faaaa"
                                                                   : "blocks.0.att.r_k");
        if (!t) return ck__fail(c, "blocks.0.att.%s is missing", v == 5 ? "time_decay" : v == 6 ? "time_faaaa" : "r_k");
        head_count = (int)t->shape[0];
        if ((v >= 6 && (t->ndim != 2 || t->shape[0] * t->shape[1] != C)) || head_count < 1 ||
            C % head_count)
            return ck__fail(c, "%s: shape does not give a head count dividing %lld", t->name, (long long)C);
        c->H = head_count;
        c->N = (int)(C / head_count);
    }

    /* model-level tensors */
    s = ck__src(c, -1, "emb.weight", 0);
    if (ck__add_out(c, -1, "token_embd.weight", c->out_type == RWKV_TYPE_F32 ? RWKV_TYPE_F32 : RWKV_TYPE_F16,
                    2, C, V, 1, 1, CK_COPY, 1, &s) ||
        ck__vector(c, -1, "blocks.0.ln0.weight", "token_embd_norm.weight", C) ||
        ck__vector(c, -1, "blocks.0.ln0.bias", "token_embd_norm.bias", C))
        return -1;

    for (i = 0; i < L; i++) {
        if (ck__vector(c, i, "ln1.weight", "attn_norm.weight", C) ||
            ck__vector(c, i, "ln1.bias", "attn_norm.bias", C) ||
            ck__vector(c, i, "ln2.weight", "attn_norm_2.weight", C) ||
            ck__vector(c, i, "ln2.bias", "attn_norm_2.bias", C))
            return -1;
        if (v <= 5) {
            if (ck__vector(c, i, "att.time_mix_k", "time_mix_lerp_k.weight", C) ||
                ck__vector(c, i, "att.time_mix_v", "time_mix_lerp_v.weight", C) ||
                ck__vector(c, i, "att.time_mix_r", "time_mix_lerp_r.weight", C))
                return -1;
        }
        if (v == 4) {
            if (ck__vector(c, i, "att.time_decay", "time_mix_decay.weight", C) ||
                ck__vector(c, i, "att.time_first", "time_mix_first.weight", C))
                return -1;
        }
        if (v == 5) {
            int d = ck__src(c, i, "att.time_decay", 0), f;
            int64_t n;
            if (d < 0) return -1;
            n = ck__numel(&c->tensors[d]);
            if (c->tensors[d].shape[0] != head_count || (n != head_count && n != C))
                return ck__shape_fail(c, d, "(H,) or (H, N) as in layer 0");
            if (ck__add_out(c, i, "time_mix_decay.weight", RWKV_TYPE_F32, 1, n, 1, 1, 1, CK_COPY, 1, &d))
                return -1;
            /* the bonus as used at run time: exp(time_first), or time_faaaa raw */
            if ((f = ck__src(c, i, "att.time_faaaa", 1)) < 0) {
                if ((f = ck__src(c, i, "att.time_first", 0)) < 0) return -1;
                if (ck__numel(&c->tensors[f]) != n) return ck__shape_fail(c, f, "the shape of att.time_decay");
                if (ck__add_out(c, i, "time_mix_first.weight", RWKV_TYPE_F32, 1, n, 1, 1, 1, CK_EXP, 1, &f))
                    return -1;
            } else {
                int64_t nf = ck__numel(&c->tensors[f]);
                if (nf != C && nf != head_count) return ck__shape_fail(c, f, "(H, N)");
                if (ck__add_out(c, i, "time_mix_first.weight", RWKV_TYPE_F32, nf == C ? 2 : 1,
                                nf == C ? c->N : nf, nf == C ? head_count : 1, 1, 1, CK_COPY, 1, &f))
                    return -1;
            }
            if (ck__vector(c, i, "att.ln_x.weight", "time_mix_ln.weight", C) ||
                ck__vector(c, i, "att.ln_x.bias", "time_mix_ln.bias", C))
                return -1;
            if (c->minor == 2 &&
                (ck__vector(c, i, "att.time_mix_g", "time_mix_lerp_g.weight", C) ||
                 ck__matrix(c, i, "att.gate.weight", "time_mix_gate.weight", C, C, -1)))
                return -1;
        }
        if (v == 6) {
            static const char *const maa[5] = {"att.time_maa_w", "att.time_maa_k", "att.time_maa_v",
                                               "att.time_maa_r", "att.time_maa_g"};
            int src[5], j, w2, d2;
            int64_t r;
            if (ck__vector(c, i, "att.time_maa_x", "time_mix_lerp_x.weight", C)) return -1;
            for (j = 0; j < 5; j++) {
                if ((src[j] = ck__src(c, i, maa[j], 0)) < 0) return -1;
                if (ck__numel(&c->tensors[src[j]]) != C) return ck__shape_fail(c, src[j], "(1, 1, C)");
            }
            if (ck__add_out(c, i, "time_mix_lerp_fused.weight", RWKV_TYPE_F32, 4, C, 1, 1, 5, CK_STACK, 5, src))
                return -1;
            /* time_maa_w1 (C, 5D) -> {C, 5D}; time_maa_w2 (5, D, C) -> {D, C, 5} */
            if ((r = ck__lora(c, i, "att.time_maa_w1", "time_mix_w1.weight", C, -1)) < 0) return -1;
            if (r % 5 || r == 0) return ck__fail(c, "blocks.%d.att.time_maa_w1: rank %lld is not 5 * D", i, (long long)r);
            if (i == 0) D = (int)(r / 5);
            if ((w2 = ck__src(c, i, "att.time_maa_w2", 0)) < 0) return -1;
            if (!ck__shape_is(&c->tensors[w2], 3, 5, r / 5, C)) return ck__shape_fail(c, w2, "(5, D, C)");
            if (ck__add_out(c, i, "time_mix_w2.weight", RWKV_TYPE_F32, 3, r / 5, C, 5, 1, CK_PERMUTE021, 1, &w2))
                return -1;
            if (ck__vector(c, i, "att.time_decay", "time_mix_decay.weight", C)) return -1;
            if ((r = ck__lora(c, i, "att.time_decay_w1", "time_mix_decay_w1.weight", C, -1)) < 0) return -1;
            if (i == 0) D2 = (int)r;
            if (ck__lora(c, i, "att.time_decay_w2", "time_mix_decay_w2.weight", r, C) < 0) return -1;
            if ((d2 = ck__src(c, i, "att.time_faaaa", 0)) < 0) return -1;
            if (!ck__shape_is(&c->tensors[d2], 2, head_count, c->N, 0)) return ck__shape_fail(c, d2, "(H, N)");
            if (ck__add_out(c, i, "time_mix_first.weight", RWKV_TYPE_F32, 2, c->N, head_count, 1, 1, CK_COPY, 1, &d2) ||
                ck__matrix(c, i, "att.gate.weight", "time_mix_gate.weight", C, C, -1) ||
                ck__vector(c, i, "att.ln_x.weight", "time_mix_ln.weight", C) ||
                ck__vector(c, i, "att.ln_x.bias", "time_mix_ln.bias", C))
                return -1;
        }
        if (v == 7) {
            static const char *const lerps[6] = {"att.x_r", "att.x_w", "att.x_k", "att.x_v", "att.x_a", "att.x_g"};
            int src[6], j, rk;
            int64_t r;
            for (j = 0; j < 6; j++) {
                if ((src[j] = ck__src(c, i, lerps[j], 0)) < 0) return -1;
                if (ck__numel(&c->tensors[src[j]]) != C) return ck__shape_fail(c, src[j], "(1, 1, C)");
            }
            if (ck__add_out(c, i, "time_mix_lerp_fused.weight", RWKV_TYPE_F32, 4, C, 1, 1, 6, CK_STACK, 6, src) ||
                ck__vector(c, i, "att.w0", "time_mix_w0.weight", C) ||
                ck__vector(c, i, "att.a0", "time_mix_a0.weight", C))
                return -1;
            if ((r = ck__lora(c, i, "att.w1", "time_mix_w1.weight", C, -1)) < 0 ||
                ck__lora(c, i, "att.w2", "time_mix_w2.weight", r, C) < 0)
                return -1;
            if (i == 0) Dw = (int)r;
            if ((r = ck__lora(c, i, "att.a1", "time_mix_a1.weight", C, -1)) < 0 ||
                ck__lora(c, i, "att.a2", "time_mix_a2.weight", r, C) < 0)
                return -1;
            if (i == 0) Da = (int)r;
            if (i > 0) {
                if (ck__vector(c, i, "att.v0", "time_mix_v0.weight", C) ||
                    (r = ck__lora(c, i, "att.v1", "time_mix_v1.weight", C, -1)) < 0 ||
                    ck__lora(c, i, "att.v2", "time_mix_v2.weight", r, C) < 0)
                    return -1;
                if (i == 1) Dv = (int)r;
            } else {
                /* layer 0's value residual is unused: llama.cpp writes copies
                   of a0/a1/a2 under the v names (the official ones are
                   dummies, present or not) */
                int a0 = ck__src(c, 0, "att.a0", 0), a1 = ck__src(c, 0, "att.a1", 0),
                    a2 = ck__src(c, 0, "att.a2", 0);
                ck__src(c, 0, "att.v0", 1);
                ck__src(c, 0, "att.v1", 1);
                ck__src(c, 0, "att.v2", 1);
                if (ck__add_out(c, 0, "time_mix_v0.weight", RWKV_TYPE_F32, 1, C, 1, 1, 1, CK_COPY, 1, &a0) ||
                    ck__add_out(c, 0, "time_mix_v1.weight", RWKV_TYPE_F32, 2, C, Da, 1, 1, CK_TRANSPOSE, 1, &a1) ||
                    ck__add_out(c, 0, "time_mix_v2.weight", RWKV_TYPE_F32, 2, Da, C, 1, 1, CK_TRANSPOSE, 1, &a2))
                    return -1;
            }
            if ((r = ck__lora(c, i, "att.g1", "time_mix_g1.weight", C, -1)) < 0 ||
                ck__lora(c, i, "att.g2", "time_mix_g2.weight", r, C) < 0)
                return -1;
            if (i == 0) Dg = (int)r;
            if (ck__vector(c, i, "att.k_k", "time_mix_k_k.weight", C) ||
                ck__vector(c, i, "att.k_a", "time_mix_k_a.weight", C))
                return -1;
            if ((rk = ck__src(c, i, "att.r_k", 0)) < 0) return -1;
            if (!ck__shape_is(&c->tensors[rk], 2, head_count, c->N, 0)) return ck__shape_fail(c, rk, "(H, N)");
            if (ck__add_out(c, i, "time_mix_r_k.weight", RWKV_TYPE_F32, 1, C, 1, 1, 1, CK_COPY, 1, &rk) ||
                ck__vector(c, i, "att.ln_x.weight", "time_mix_ln.weight", C) ||
                ck__vector(c, i, "att.ln_x.bias", "time_mix_ln.bias", C))
                return -1;
        }
        if (ck__matrix(c, i, "att.key.weight", "time_mix_key.weight", C, C, -1) ||
            ck__matrix(c, i, "att.value.weight", "time_mix_value.weight", C, C, -1) ||
            ck__matrix(c, i, "att.receptance.weight", "time_mix_receptance.weight", C, C, -1) ||
            ck__matrix(c, i, "att.output.weight", "time_mix_output.weight", C, C, -1))
            return -1;
        if (v <= 5 && (ck__vector(c, i, "ffn.time_mix_k", "channel_mix_lerp_k.weight", C) ||
                       ck__vector(c, i, "ffn.time_mix_r", "channel_mix_lerp_r.weight", C)))
            return -1;
        if (v == 6 && (ck__vector(c, i, "ffn.time_maa_k", "channel_mix_lerp_k.weight", C) ||
                       ck__vector(c, i, "ffn.time_maa_r", "channel_mix_lerp_r.weight", C)))
            return -1;
        if (v == 7 && ck__vector(c, i, "ffn.x_k", "channel_mix_lerp_k.weight", C)) return -1;
        if (ck__matrix(c, i, "ffn.key.weight", "channel_mix_key.weight", F, C, -1) ||
            ck__matrix(c, i, "ffn.value.weight", "channel_mix_value.weight", C, F, -1) ||
            (v <= 6 && ck__matrix(c, i, "ffn.receptance.weight", "channel_mix_receptance.weight", C, C, -1)))
            return -1;
    }
    if (ck__vector(c, -1, "ln_out.weight", "output_norm.weight", C) ||
        ck__vector(c, -1, "ln_out.bias", "output_norm.bias", C) ||
        ck__matrix(c, -1, "head.weight", "output.weight", V, C, ck__matrix_type(c, "head.weight", C, 1)))
        return -1;
    if (c->out_type != RWKV_TYPE_F32 && c->out_type != RWKV_TYPE_F16 && c->out_type != RWKV_TYPE_BF16)
        ck__note(c, "output.weight (head) written f16");
    /* every tensor of the checkpoint must have found its place */
    for (k = 0; k < c->n_tensors; k++)
        if (!c->tensors[k].used)
            return ck__fail(c, "unexpected tensor %s in an RWKV-%d checkpoint", c->tensors[k].name, v);
    c->result->version = v;
    c->result->version_minor = c->minor;
    c->result->n_layer = L;
    c->result->n_embd = (int)C;
    c->result->n_ffn = (int)F;
    c->result->n_vocab = (int)V;
    c->result->head_size = c->N;
    c->D = D;
    c->D2 = D2;
    c->Dw = Dw;
    c->Da = Da;
    c->Dv = Dv ? Dv : Da;
    c->Dg = Dg;
    return 0;
}

/* ---- Writing the tensors ------------------------------------------------------------ */

static inline void ck__progress(ck_ctx *c, const char *name) {
    int percent, filled, i;
    char bar[41];
    if (!c->progress || !c->bytes_total) return;
    percent = (int)(c->bytes_done * 100 / c->bytes_total);
    if (percent == c->last_percent) return;
    c->last_percent = percent;
    filled = percent * 40 / 100;
    for (i = 0; i < 40; i++) bar[i] = i < filled ? '#' : '.';
    bar[40] = 0;
    fprintf(stderr, "\rconverting [%s] %3d%% %-40.40s", bar, percent, name);
    fflush(stderr);
}

/* Encode rows of ne[0] floats in the tensor's type and write them. */
static inline int ck__write_rows(ck_ctx *c, const ck_out *o, const float *x, int64_t rows,
                                 unsigned char **buf, size_t *buf_size) {
    size_t row_bytes = rwkv_type_size(o->type, (uint64_t)o->ne[0]), need;
    int64_t r;
    if (!row_bytes || (uint64_t)rows > SIZE_MAX / row_bytes) return ck__fail(c, "tensor %s too large", o->name);
    need = row_bytes * (size_t)rows;
    if (need > *buf_size) {
        unsigned char *p = (unsigned char *)realloc(*buf, need);
        if (!p) return ck__fail(c, "out of memory");
        *buf = p;
        *buf_size = need;
    }
    for (r = 0; r < rows; r++)
        if (rwkv_quantize_row(o->type, x + r * o->ne[0], o->ne[0], *buf + (size_t)r * row_bytes) != row_bytes)
            return ck__fail(c, "tensor %s: cannot encode as %s", o->name, rwkv_type_name(o->type));
    if (fwrite(*buf, 1, need, c->out) != need) return ck__fail(c, "write error (disk full?)");
    c->bytes_done += need;
    ck__progress(c, o->name);
    return 0;
}

static inline int ck__write_out(ck_ctx *c, const ck_out *o) {
    const ck_tensor *t = &c->tensors[o->src[0]];
    uint64_t numel = (uint64_t)o->ne[0] * (uint64_t)o->ne[1] * (uint64_t)o->ne[2] * (uint64_t)o->ne[3];
    int64_t rows = (int64_t)(numel / (uint64_t)o->ne[0]), r;
    unsigned char *enc = NULL, *scratch = NULL;
    size_t enc_size = 0, scratch_size = 0;
    float *x = NULL;
    int rc = -1, i;
    if (o->kind == CK_COPY && ck__contiguous(t)) {
        /* stream: chunks of about 1M elements */
        int64_t chunk = o->ne[0] >= (1 << 20) ? 1 : (1 << 20) / o->ne[0];
        x = (float *)malloc((size_t)(chunk * o->ne[0]) * sizeof(float));
        if (!x) return ck__fail(c, "out of memory");
        for (r = 0; r < rows; r += chunk) {
            int64_t n = rows - r < chunk ? rows - r : chunk;
            if (ck__read_span(c, t, t->offset + r * o->ne[0], n * o->ne[0], &scratch, &scratch_size, x) ||
                ck__write_rows(c, o, x, n, &enc, &enc_size))
                goto done;
        }
        rc = 0;
        goto done;
    }
    if (numel > SIZE_MAX / sizeof(float) / 2) return ck__fail(c, "tensor %s too large", o->name);
    x = (float *)malloc((size_t)numel * sizeof(float));
    if (!x) return ck__fail(c, "out of memory");
    switch (o->kind) {
    case CK_COPY:
        if (ck__gather(c, t, x)) goto done;
        break;
    case CK_EXP:
        if (ck__gather(c, t, x)) goto done;
        for (r = 0; r < (int64_t)numel; r++) x[r] = (float)exp((double)x[r]);
        break;
    case CK_STACK:
        for (i = 0; i < o->n_src; i++)
            if (ck__gather(c, &c->tensors[o->src[i]], x + (size_t)i * (size_t)o->ne[0])) goto done;
        break;
    case CK_TRANSPOSE:
    case CK_PERMUTE021: {
        /* (A, B, K) -> (A, K, B); a 2-D transpose is A = 1 */
        int64_t A = t->ndim == 3 ? t->shape[0] : 1, B = t->shape[t->ndim - 2], K = t->shape[t->ndim - 1], a, b, k;
        float *tmp = (float *)malloc((size_t)numel * sizeof(float));
        if (!tmp) {
            ck__fail(c, "out of memory");
            goto done;
        }
        if (ck__gather(c, t, tmp)) {
            free(tmp);
            goto done;
        }
        for (a = 0; a < A; a++)
            for (b = 0; b < B; b++)
                for (k = 0; k < K; k++) x[(a * K + k) * B + b] = tmp[(a * B + b) * K + k];
        free(tmp);
        break;
    }
    default: ck__fail(c, "internal: bad plan"); goto done;
    }
    for (r = 0; r < rows; r += 4096) {
        int64_t n = rows - r < 4096 ? rows - r : 4096;
        if (ck__write_rows(c, o, x + r * o->ne[0], n, &enc, &enc_size)) goto done;
    }
    rc = 0;
done:
    free(x);
    free(enc);
    free(scratch);
    return rc;
}

/* gguf_writer's output function: the header bytes pass through; a tensor's
   data pointer is its plan entry, whose data is made and written here. */
static inline int ck__emit(void *ctx, const void *bytes, size_t n) {
    ck_ctx *c = (ck_ctx *)ctx;
    /* (compared as integers: equal pointers to two objects would confuse
       the compiler's bounds analysis) */
    if (c->next_out < c->n_outs && (uintptr_t)bytes == (uintptr_t)&c->outs[c->next_out]) {
        const ck_out *o = &c->outs[c->next_out++];
        if (n != o->n_bytes) return ck__fail(c, "internal: tensor %s size", o->name);
        return ck__write_out(c, o);
    }
    if (n && fwrite(bytes, 1, n, c->out) != n) return ck__fail(c, "write error (disk full?)");
    return 0;
}

/* ---- Vocabularies ----------------------------------------------------------------- */

/* A token's bytes as llama.cpp stores World tokens: Python-repr text
   (\\ \' \t \n \r, \xHH in lower case for other bytes outside printable
   ASCII). out holds 4 * len bytes; returns the length written. */
static inline size_t ck__escape_token(const unsigned char *s, size_t len, char *out) {
    static const char hex[] = "0123456789abcdef";
    size_t i, n = 0;
    for (i = 0; i < len; i++) {
        unsigned char ch = s[i];
        char e = ch == '\\' ? '\\' : ch == '\'' ? '\'' : ch == '\t' ? 't' : ch == '\n' ? 'n' : ch == '\r' ? 'r' : 0;
        if (e) {
            out[n++] = '\\';
            out[n++] = e;
        } else if (ch >= 0x20 && ch < 0x7f) {
            out[n++] = (char)ch;
        } else {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[ch >> 4];
            out[n++] = hex[ch & 15];
        }
    }
    return n;
}

enum { CK_TOKEN_NORMAL = 1, CK_TOKEN_CONTROL = 3, CK_TOKEN_USER = 4, CK_TOKEN_UNUSED = 5 };

/* Strings for tokenizer.ggml.tokens: one text buffer, pointers into it. */
typedef struct ck_strings {
    char *text;
    size_t used, cap;
    const char **strings;
    size_t *lens;
    int32_t *types;
} ck_strings;

static inline void ck__strings_free(ck_strings *s) {
    free(s->text);
    free(s->strings);
    free(s->lens);
    free(s->types);
}

static inline int ck__strings_init(ck_ctx *c, ck_strings *s, size_t n, size_t text_cap) {
    memset(s, 0, sizeof(*s));
    s->text = (char *)malloc(text_cap ? text_cap : 1);
    s->cap = text_cap;
    s->strings = (const char **)calloc(n ? n : 1, sizeof(char *));
    s->lens = (size_t *)calloc(n ? n : 1, sizeof(size_t));
    s->types = (int32_t *)calloc(n ? n : 1, sizeof(int32_t));
    if (!s->text || !s->strings || !s->lens || !s->types) return ck__fail(c, "out of memory");
    return 0;
}

/* "[PAD<id>]" into the text buffer (room reserved by the caller). */
static inline void ck__pad_token(ck_strings *s, int id) {
    char *p = s->text + s->used;
    int n = snprintf(p, s->cap - s->used, "[PAD%d]", id);
    s->strings[id] = p;
    s->lens[id] = (size_t)n;
    s->types[id] = CK_TOKEN_UNUSED;
    s->used += (size_t)n;
}

static inline int ck__vocab_world(ck_ctx *c, gguf_writer *w, const char *path) {
    rwkv_tokenizer *tok = NULL;
    rwkv_error e;
    ck_strings s;
    size_t cap = 0, len;
    int id, n, rc = -1;
    e.message[0] = 0;
    if (rwkv_tokenizer_load_world_file(&tok, path, &e)) return ck__fail(c, "vocabulary: %s", e.message);
    n = rwkv_tokenizer_vocab_size(tok);
    if (n > c->V) {
        rwkv_tokenizer_free(tok);
        return ck__fail(c, "%s has %d tokens, the model only %d", path, n, c->V);
    }
    for (id = 0; id < c->V; id++)
        cap += (rwkv_token_bytes(tok, id, &len) ? 4 * len : 0) + 24;
    if (ck__strings_init(c, &s, (size_t)c->V, cap)) goto done;
    for (id = 0; id < c->V; id++) {
        const char *bytes = rwkv_token_bytes(tok, id, &len);
        if (id == 0) {
            s.strings[0] = s.text;
            memcpy(s.text, "<s>", 3);
            s.lens[0] = 3;
            s.types[0] = CK_TOKEN_CONTROL;
            s.used = 3;
        } else if (bytes && len) {
            s.strings[id] = s.text + s.used;
            s.lens[id] = ck__escape_token((const unsigned char *)bytes, len, s.text + s.used);
            s.types[id] = CK_TOKEN_NORMAL;
            s.used += s.lens[id];
        } else {
            ck__pad_token(&s, id);
        }
    }
    if (gguf_writer_add_str(w, "tokenizer.ggml.model", "rwkv") ||
        gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", s.strings, s.lens, (size_t)c->V) ||
        gguf_writer_add_i32_array(w, "tokenizer.ggml.token_type", s.types, (size_t)c->V) ||
        gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 0) ||
        gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 0)) {
        ck__fail(c, "out of memory");
        goto done;
    }
    c->result->vocab = "rwkv";
    rc = 0;
done:
    ck__strings_free(&s);
    rwkv_tokenizer_free(tok);
    return rc;
}

/* A Hugging Face tokenizer.json (byte-level BPE, as 20B_tokenizer.json of
   RWKV-4 Pile): model.vocab, model.merges and added_tokens, as llama.cpp's
   "gpt2" vocabulary keys. */
static inline int ck__vocab_json(ck_ctx *c, gguf_writer *w, const char *path) {
    char *text = NULL, jerr[160];
    size_t len = 0, n_merges = 0;
    ck_json doc;
    ck_strings s, merges;
    int32_t model, vocab, m, added, merge_list;
    int id, rc = -1, eot = -1;
    memset(&doc, 0, sizeof(doc));
    memset(&s, 0, sizeof(s));
    memset(&merges, 0, sizeof(merges));
    if (ck__slurp(c, path, CK_MAX_JSON, &text, &len)) return -1;
    if (ck_json_parse(&doc, text, len, jerr, sizeof(jerr))) {
        ck__fail(c, "%s: %s", path, jerr);
        goto done;
    }
    model = ck_json_get(&doc, 0, "model");
    vocab = ck_json_get(&doc, model, "vocab");
    merge_list = ck_json_get(&doc, model, "merges");
    added = ck_json_get(&doc, 0, "added_tokens");
    if (vocab < 0 || doc.nodes[vocab].type != CK_JSON_OBJECT) {
        ck__fail(c, "%s: no model.vocab object: not a tokenizer.json", path);
        goto done;
    }
    if (ck__strings_init(c, &s, (size_t)c->V, (size_t)c->V * 24)) goto done;
    for (m = doc.nodes[vocab].first; m >= 0; m = doc.nodes[m].next) {
        const ck_json_node *v = &doc.nodes[m];
        if (v->type != CK_JSON_NUMBER || !v->is_int || v->i < 0 || v->i >= c->V) {
            char shown[64];
            ck__printable(v->key, v->key_len, shown, sizeof(shown));
            ck__fail(c, "%s: token %s has an id outside the model's %d", path, shown, c->V);
            goto done;
        }
        s.strings[v->i] = v->key;
        s.lens[v->i] = v->key_len;
        s.types[v->i] = CK_TOKEN_NORMAL;
    }
    if (added >= 0 && doc.nodes[added].type == CK_JSON_ARRAY)
        for (m = doc.nodes[added].first; m >= 0; m = doc.nodes[m].next) {
            int32_t idn = ck_json_get(&doc, m, "id"), content = ck_json_get(&doc, m, "content"),
                    special = ck_json_get(&doc, m, "special");
            if (idn < 0 || content < 0 || doc.nodes[idn].type != CK_JSON_NUMBER || !doc.nodes[idn].is_int ||
                doc.nodes[idn].i < 0 || doc.nodes[idn].i >= c->V || doc.nodes[content].type != CK_JSON_STRING) {
                ck__fail(c, "%s: an added token with a bad id or content", path);
                goto done;
            }
            id = (int)doc.nodes[idn].i;
            s.strings[id] = doc.nodes[content].s;
            s.lens[id] = doc.nodes[content].len;
            s.types[id] = special >= 0 && doc.nodes[special].type == CK_JSON_TRUE ? CK_TOKEN_CONTROL : CK_TOKEN_USER;
        }
    for (id = 0; id < c->V; id++) {
        if (!s.strings[id]) ck__pad_token(&s, id);
        else if (s.lens[id] == 13 && !memcmp(s.strings[id], "<|endoftext|>", 13) && eot < 0) eot = id;
    }
    if (gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2") ||
        gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", s.strings, s.lens, (size_t)c->V) ||
        gguf_writer_add_i32_array(w, "tokenizer.ggml.token_type", s.types, (size_t)c->V) ||
        (eot >= 0 && (gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)eot) ||
                      gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eot)))) {
        ck__fail(c, "out of memory");
        goto done;
    }
    /* merges: "a b" strings, or ["a", "b"] pairs in newer files */
    if (merge_list >= 0 && doc.nodes[merge_list].type == CK_JSON_ARRAY && doc.nodes[merge_list].count > 0) {
        size_t cap = 0;
        for (m = doc.nodes[merge_list].first; m >= 0; m = doc.nodes[m].next) {
            const ck_json_node *e = &doc.nodes[m];
            if (e->type == CK_JSON_STRING) {
                cap += 0;
            } else if (e->type == CK_JSON_ARRAY && e->count == 2 && doc.nodes[e->first].type == CK_JSON_STRING &&
                       doc.nodes[doc.nodes[e->first].next].type == CK_JSON_STRING) {
                cap += doc.nodes[e->first].len + doc.nodes[doc.nodes[e->first].next].len + 1;
            } else {
                ck__fail(c, "%s: model.merges holds something that is not a merge", path);
                goto done;
            }
        }
        if (ck__strings_init(c, &merges, (size_t)doc.nodes[merge_list].count, cap)) goto done;
        for (m = doc.nodes[merge_list].first; m >= 0; m = doc.nodes[m].next, n_merges++) {
            const ck_json_node *e = &doc.nodes[m];
            if (e->type == CK_JSON_STRING) {
                merges.strings[n_merges] = e->s;
                merges.lens[n_merges] = e->len;
            } else {
                const ck_json_node *a = &doc.nodes[e->first], *b = &doc.nodes[a->next];
                char *p = merges.text + merges.used;
                memcpy(p, a->s, a->len);
                p[a->len] = ' ';
                memcpy(p + a->len + 1, b->s, b->len);
                merges.strings[n_merges] = p;
                merges.lens[n_merges] = a->len + 1 + b->len;
                merges.used += merges.lens[n_merges];
            }
        }
        if (gguf_writer_add_str_array(w, "tokenizer.ggml.merges", merges.strings, merges.lens, n_merges)) {
            ck__fail(c, "out of memory");
            goto done;
        }
    }
    c->result->vocab = "gpt2";
    rc = 0;
done:
    ck__strings_free(&s);
    ck__strings_free(&merges);
    ck_json_free(&doc);
    free(text);
    return rc;
}

static inline int ck__exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    return 1;
}

/* The vocabulary: a file given (JSON or World text, by its first byte), or
   chosen from n_vocab with the usual file names beside the checkpoint. */
static inline int ck__vocab(ck_ctx *c, gguf_writer *w, const char *vocab_path, const char *in_path) {
    char found[4096];
    size_t dir = strrchr(in_path, '/') ? (size_t)(strrchr(in_path, '/') - in_path) + 1 : 0;
    c->result->vocab = "none";
    if (vocab_path) {
        FILE *f = fopen(vocab_path, "rb");
        int ch = ' ';
        if (!f) return ck__fail(c, "%s: cannot open", vocab_path);
        while (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') ch = fgetc(f);
        fclose(f);
        return ch == '{' ? ck__vocab_json(c, w, vocab_path) : ck__vocab_world(c, w, vocab_path);
    }
    if (c->V == 256) {
        c->result->vocab = "bytes";
        return gguf_writer_add_str(w, "tokenizer.ggml.model", "bytes") ? ck__fail(c, "out of memory") : 0;
    }
    if (dir + 32 > sizeof(found)) {
        ck__note(c, "no vocabulary written: pass --vocab FILE");
        return 0;
    }
    memcpy(found, in_path, dir);
    if (c->V >= 65530 && c->V <= 65536) {
        strcpy(found + dir, "rwkv_vocab_v20230424.txt");
        if (ck__exists(found)) return ck__vocab_world(c, w, found);
        ck__note(c, "no vocabulary written: pass --vocab rwkv_vocab_v20230424.txt (World, %d tokens)", c->V);
        return 0;
    }
    if (c->V >= 50254 && c->V <= 50304) {
        strcpy(found + dir, "20B_tokenizer.json");
        if (ck__exists(found)) return ck__vocab_json(c, w, found);
        strcpy(found + dir, "tokenizer.json");
        if (ck__exists(found)) return ck__vocab_json(c, w, found);
        ck__note(c, "no vocabulary written: pass --vocab 20B_tokenizer.json (GPT-NeoX, %d tokens)", c->V);
        return 0;
    }
    ck__note(c, "no vocabulary written for %d tokens: pass --vocab FILE", c->V);
    return 0;
}

/* ---- Keys and the entry points ---------------------------------------------------- */

static inline int ck__is_quantized(int type) {
    return type != RWKV_TYPE_F32 && type != RWKV_TYPE_F16 && type != RWKV_TYPE_BF16;
}

/* llama.cpp's general.file_type (LlamaFileType) of the matrices' type. */
static inline uint32_t ck__file_type(int type) {
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

static inline int ck__keys(ck_ctx *c, gguf_writer *w, const char *name) {
    char arch[8], key[96];
    int bad = 0;
#define CK__KEY(suffix) (ck__format(key, sizeof(key), "%s.%s", arch, suffix), key)
    ck__format(arch, sizeof(arch), "rwkv%d", c->version);
    bad |= gguf_writer_add_str(w, "general.architecture", arch);
    bad |= gguf_writer_add_str(w, "general.name", name);
    bad |= gguf_writer_add_u32(w, "general.file_type", ck__file_type(c->out_type));
    if (ck__is_quantized(c->out_type)) bad |= gguf_writer_add_u32(w, "general.quantization_version", 2);
    bad |= gguf_writer_add_u32(w, CK__KEY("context_length"), 1048576);
    bad |= gguf_writer_add_u32(w, CK__KEY("embedding_length"), (uint32_t)c->C);
    bad |= gguf_writer_add_u32(w, CK__KEY("block_count"), (uint32_t)c->L);
    bad |= gguf_writer_add_u32(w, CK__KEY("feed_forward_length"), (uint32_t)c->F);
    bad |= gguf_writer_add_f32(w, CK__KEY("attention.layer_norm_epsilon"), 1e-5f);
    if (c->version >= 5) bad |= gguf_writer_add_u32(w, CK__KEY("wkv.head_size"), (uint32_t)c->N);
    if (c->version == 6) {
        bad |= gguf_writer_add_u32(w, CK__KEY("time_mix_extra_dim"), (uint32_t)c->D);
        bad |= gguf_writer_add_u32(w, CK__KEY("time_decay_extra_dim"), (uint32_t)c->D2);
        bad |= gguf_writer_add_u32(w, CK__KEY("rescale_every_n_layers"), 0);
        bad |= gguf_writer_add_u32(w, CK__KEY("attention.head_count"), 0);
    }
    if (c->version == 7) {
        bad |= gguf_writer_add_u32(w, CK__KEY("attention.decay_lora_rank"), (uint32_t)c->Dw);
        bad |= gguf_writer_add_u32(w, CK__KEY("attention.iclr_lora_rank"), (uint32_t)c->Da);
        bad |= gguf_writer_add_u32(w, CK__KEY("attention.value_residual_mix_lora_rank"), (uint32_t)c->Dv);
        bad |= gguf_writer_add_u32(w, CK__KEY("attention.gate_lora_rank"), (uint32_t)c->Dg);
        bad |= gguf_writer_add_u32(w, CK__KEY("attention.head_count"), 0);
    }
#undef CK__KEY
    return bad ? ck__fail(c, "out of memory") : 0;
}

static inline checkpoint_options checkpoint_default_options(void) {
    checkpoint_options o;
    o.out_type = -1;
    o.vocab_path = NULL;
    o.name = NULL;
    o.progress = -1;
    o.quiet = 0;
    return o;
}

static inline int checkpoint_type_from_name(const char *name) {
    static const struct {
        const char *name;
        int type;
    } types[] = {{"f32", RWKV_TYPE_F32},   {"f16", RWKV_TYPE_F16},   {"bf16", RWKV_TYPE_BF16},
                 {"q8_0", RWKV_TYPE_Q8_0}, {"q4_0", RWKV_TYPE_Q4_0}, {"q4_1", RWKV_TYPE_Q4_1},
                 {"q5_0", RWKV_TYPE_Q5_0}, {"q5_1", RWKV_TYPE_Q5_1}};
    size_t i;
    for (i = 0; name && i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(name, types[i].name)) return types[i].type;
    return -1;
}

static inline int checkpoint_is_checkpoint(const char *path) {
    unsigned char head[9];
    FILE *f;
    size_t n;
    if (!path) return 0;
    if (ck__ends(path, ".json")) return 1;
    f = fopen(path, "rb");
    if (!f) return 0;
    n = fread(head, 1, sizeof(head), f);
    fclose(f);
    if (n >= 4 && !memcmp(head, "PK\3\4", 4)) return 1;
    return n == 9 && head[8] == '{' && ck__u64(head) >= 2;
}

/* Tensors of transformers-style RWKV-6 files that use time_mix_* for the
   official time_maa_* names. */
static inline int ck__rename_v6(ck_ctx *c) {
    size_t k;
    if (!ck__find(c, "blocks.0.att.time_mix_x")) return 0;
    for (k = 0; k < c->n_tensors; k++) {
        char *p = strstr(c->tensors[k].name, ".time_mix_");
        if (p && (strstr(c->tensors[k].name, ".att.time_mix_") || strstr(c->tensors[k].name, ".ffn.time_mix_")))
            memcpy(p + 6, "maa", 3);
    }
    qsort(c->tensors, c->n_tensors, sizeof(ck_tensor), ck__tensor_compare);
    return 0;
}

static inline void ck__stem(const char *path, char *out, size_t size) {
    const char *start = strrchr(path, '/'), *dot;
    size_t len;
    start = start ? start + 1 : path;
    dot = strchr(start, '.');
    len = dot && dot != start ? (size_t)(dot - start) : strlen(start);
    if (len >= size) len = size - 1;
    memcpy(out, start, len);
    out[len] = 0;
}

static inline int checkpoint_convert_ex(const char *in_path, const char *out_path,
                                        const checkpoint_options *options,
                                        checkpoint_result *result, char *err, size_t err_size) {
    ck_ctx c;
    checkpoint_result local;
    checkpoint_options o = options ? *options : checkpoint_default_options();
    gguf_writer *w = NULL;
    char *part = NULL, name[256];
    size_t k;
    int rc = -1;
    memset(&c, 0, sizeof(c));
    c.err = err;
    c.err_size = err_size;
    c.result = result ? result : &local;
    memset(c.result, 0, sizeof(*c.result));
    c.result->vocab = "none";
    c.open_index = -1;
    c.last_percent = -1;
    if (err && err_size) err[0] = 0;
    if (!in_path || !out_path) return ck__fail(&c, "no input or output path");
    if (o.out_type != -1 && checkpoint_type_from_name(rwkv_type_name(o.out_type)) != o.out_type)
        return ck__fail(&c, "output type %d is not one of f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1",
                        o.out_type);
    ck__crc_init(&c);

    /* read the checkpoint's table of tensors */
    if (ck__ends(in_path, ".json")) {
        if (ck__index_open(&c, in_path)) goto done;
    } else {
        unsigned char head[12] = {0};
        if (ck__add_file(&c, in_path) < 0 ||
            ck__read(&c, 0, 0, head, c.files[0].size < 12 ? (size_t)c.files[0].size : 12))
            goto done;
        if (!memcmp(head, "PK\3\4", 4)) {
            if (ck__torch_open(&c)) goto done;
        } else if (!memcmp(head, "GGUF", 4)) {
            ck__fail(&c, "%s is already a GGUF file", in_path);
            goto done;
        } else if (ck__u32(head) == 0x67676d66u) {
            ck__fail(&c, "%s is an rwkv.cpp .bin file: rwkv.h loads it directly", in_path);
            goto done;
        } else if (head[0] == 0x80 && head[1] == 0x02 && head[2] == 0x8a) {
            ck__fail(&c, "%s uses torch.save's legacy (pre-1.6) format; save it again with a newer "
                     "torch (the default zip format)", in_path);
            goto done;
        } else if (c.files[0].size >= 10 && head[8] == '{') {
            if (ck__safetensors_open(&c, 0)) goto done;
        } else {
            ck__fail(&c, "%s is neither a torch.save zip archive nor a safetensors file", in_path);
            goto done;
        }
    }
    qsort(c.tensors, c.n_tensors, sizeof(ck_tensor), ck__tensor_compare);
    for (k = 1; k < c.n_tensors; k++)
        if (!strcmp(c.tensors[k - 1].name, c.tensors[k].name)) {
            ck__fail(&c, "tensor %s appears twice (under two namings?)", c.tensors[k].name);
            goto done;
        }
    /* by default, the matrices keep the checkpoint's own float type */
    if (o.out_type == -1) {
        uint64_t elements[3] = {0, 0, 0};
        for (k = 0; k < c.n_tensors; k++) elements[c.tensors[k].dtype] += (uint64_t)ck__numel(&c.tensors[k]);
        c.out_type = elements[CK_BF16] > elements[CK_F16] && elements[CK_BF16] > elements[CK_F32] ? RWKV_TYPE_BF16
                     : elements[CK_F16] > elements[CK_F32] ? RWKV_TYPE_F16 : RWKV_TYPE_F32;
    } else {
        c.out_type = o.out_type;
    }
    c.result->out_type = c.out_type;
    if (ck__rename_v6(&c) || ck__plan(&c)) goto done;

    /* the GGUF: keys, vocabulary, then the tensors streamed one by one */
    w = gguf_writer_create();
    if (!w) {
        ck__fail(&c, "out of memory");
        goto done;
    }
    if (o.name) ck__format(name, sizeof(name), "%s", o.name);
    else ck__stem(in_path, name, sizeof(name));
    if (ck__keys(&c, w, name) || ck__vocab(&c, w, o.vocab_path, in_path)) goto done;
    for (k = 0; k < c.n_outs; k++)
        if (gguf_writer_add_tensor(w, c.outs[k].name, c.outs[k].type, c.outs[k].n_dims, c.outs[k].ne,
                                   &c.outs[k], c.outs[k].n_bytes)) {
            ck__fail(&c, "out of memory");
            goto done;
        }
    c.result->n_tensors = (int)c.n_outs;
    part = (char *)malloc(strlen(out_path) + 6);
    if (!part) {
        ck__fail(&c, "out of memory");
        goto done;
    }
    strcpy(part, out_path);
    strcat(part, ".part");
    c.out = fopen(part, "wb");
    if (!c.out) {
        ck__fail(&c, "%s: cannot create", part);
        goto done;
    }
    c.progress = o.progress < 0 ? CK__ISATTY_STDERR() : o.progress;
    if (gguf_writer__emit(w, ck__emit, &c)) {
        ck__fail(&c, "%s: write error", part);
        goto done;
    }
    /* storages read only in part still need their CRC checked */
    for (k = 0; k < c.n_entries; k++)
        if (!c.entries[k].verified && c.entries[k].run_pos > 0 && ck__entry_account(&c, (int)k, 1, NULL, 0))
            goto done;
    if (fclose(c.out)) {
        c.out = NULL;
        ck__fail(&c, "%s: write error", part);
        goto done;
    }
    c.out = NULL;
    if (rename(part, out_path)) {
        remove(out_path);
        if (rename(part, out_path)) {
            ck__fail(&c, "cannot rename %s to %s", part, out_path);
            goto done;
        }
    }
    rc = 0;
done:
    if (c.progress) fputc('\n', stderr);
    if (c.out) fclose(c.out);
    if (rc && part) remove(part);
    if (!o.quiet && c.result->notes[0]) fprintf(stderr, "note: %s\n", c.result->notes);
    if (c.open_file) fclose(c.open_file);
    for (k = 0; k < (size_t)c.n_files; k++) free(c.files[k].path);
    free(c.files);
    for (k = 0; k < c.n_entries; k++) free(c.entries[k].name);
    free(c.entries);
    free(c.tensors);
    free(c.outs);
    free(part);
    gguf_writer_free(w);
    return rc;
}

static inline int checkpoint_convert(const char *in_path, const char *out_path, int out_type,
                                     const char *vocab_path, char *err, size_t err_size) {
    checkpoint_options o = checkpoint_default_options();
    o.out_type = out_type;
    o.vocab_path = vocab_path;
    return checkpoint_convert_ex(in_path, out_path, &o, NULL, err, err_size);
}

static inline int checkpoint_run(const char *in_path, const char *out_path, const char *type_name,
                                 const char *vocab_path) {
    checkpoint_options o = checkpoint_default_options();
    checkpoint_result r;
    char err[512];
    if (type_name && (o.out_type = checkpoint_type_from_name(type_name)) < 0) {
        fprintf(stderr, "rwkv convert: --type must be f32, f16, bf16, q8_0, q4_0, q4_1, q5_0 or q5_1, "
                        "not '%s'\n", type_name);
        return 1;
    }
    o.vocab_path = vocab_path;
    if (checkpoint_convert_ex(in_path, out_path, &o, &r, err, sizeof(err))) {
        fprintf(stderr, "rwkv convert: %s\n", err);
        return 1;
    }
    fprintf(stderr, "%s: RWKV-%d%s, %d layers, n_embd %d, n_vocab %d, matrices %s, vocabulary %s, %d tensors\n",
            out_path, r.version, r.version == 5 ? (r.version_minor == 2 ? ".2" : ".1") : "", r.n_layer,
            r.n_embd, r.n_vocab, rwkv_type_name(r.out_type), r.vocab, r.n_tensors);
    return 0;
}

#endif /* CHECKPOINT_H */
