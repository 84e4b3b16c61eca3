/* rwkv.h - run RWKV language models from C, in one header.       MIT licence
 *
 * WHAT IT IS
 *   RWKV (Peng et al. 2023, arXiv:2305.13048) trains like a Transformer and
 *   runs like an RNN: one token in, logits out, and a fixed-size state
 *   carried between calls. This header holds everything needed to run it:
 *   the weight loaders (GGUF and rwkv.cpp .bin), the forward pass in RNN
 *   mode, the RWKV World and byte tokenizers, and a sampler. It depends on
 *   nothing but the C standard library and libm.
 *
 * HOW TO USE IT
 *   In exactly one C or C++ file:
 *       #define RWKV_IMPLEMENTATION
 *       #include "rwkv.h"
 *   Everywhere else just #include "rwkv.h". Link with -lm.
 *
 * QUICK START (error handling trimmed; see examples/minimal.c)
 *       rwkv_model *model;  rwkv_state *state;  rwkv_sampler *sampler;
 *       rwkv_model_load_file(&model, "model.gguf", NULL);
 *       rwkv_state_create(model, &state, NULL);
 *       const rwkv_tokenizer *tok = rwkv_model_tokenizer(model);
 *       int32_t ids[64]; size_t n;
 *       rwkv_tokenize(tok, "Hello", 5, ids, 64, &n, NULL);
 *       float *logits = malloc(sizeof(float) * rwkv_model_n_vocab(model));
 *       rwkv_eval_sequence(state, ids, n, logits, NULL);
 *       rwkv_sampler_params sp = rwkv_sampler_default_params();
 *       rwkv_sampler_create(&sampler, rwkv_model_n_vocab(model), &sp, NULL);
 *       int32_t next = rwkv_sampler_sample(sampler, logits);
 *
 * CONFIGURATION MACROS (define before including the implementation)
 *   RWKVDEF              decoration of every public function (default
 *                        `extern`); define RWKV_STATIC to make them static.
 *   RWKV_MALLOC(sz), RWKV_REALLOC(p,sz), RWKV_FREE(p)
 *                        the allocator; define all three or none.
 *   RWKV_NO_STDIO        compile no file functions (the *_file loaders);
 *                        load from memory instead.
 *   RWKV_NO_MMAP         read files into memory instead of mapping them.
 *   RWKV_ASSERT(x)       internal invariant checks (default: assert.h).
 *                        Never used for input validation: bad input always
 *                        comes back as an error code.
 *   RWKV_NO_SIMD         use the plain C kernels even where AVX2 is enabled.
 *   RWKV_CHUNK           tokens per chunk in sequence mode (default 32); a
 *                        state's scratch grows with it (1 for firmware).
 *   RWKV_MAX_LAYERS, RWKV_MAX_EMBD, RWKV_MAX_VOCAB
 *                        limits against hostile files (4096, 65536, 1<<24).
 *
 * SUPPORTED
 *   Versions:  RWKV-4, RWKV-5.1, RWKV-5.2, RWKV-6, RWKV-7, detected from
 *              the file (GGUF architecture or tensor names).
 *   Formats:   GGUF v2/v3 (llama.cpp's "rwkv6" and "rwkv7" layouts, and
 *              "rwkv4"/"rwkv5" in the same style: see README.md) and
 *              rwkv.cpp .bin (file versions 100 and 101).
 *   Weights:   F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (ggml blocks).
 *   Tokenizers: RWKV World (greedy longest match), bytes (256 tokens).
 *
 * OWNERSHIP AND THREADS
 *   - There is no global mutable state anywhere in this file.
 *   - A loaded rwkv_model is read-only after loading: any number of states,
 *     in any number of threads, may use it at once. Free it last.
 *   - An rwkv_state belongs to one thread at a time. It refers to its model
 *     (which must outlive it) and owns its scratch memory, so evaluating is
 *     allocation-free.
 *   - Tokenizers are read-only after creation and may be shared likewise. The
 *     one returned by rwkv_model_tokenizer() is owned by the model.
 *   - Errors: every fallible function returns an rwkv_result and, when the
 *     caller passes a non-NULL rwkv_error, writes a one-line reason there.
 *     Nothing is ever printed, and the library never exits or aborts.
 *
 * UNTRUSTED INPUT
 *   Model files, vocabularies, saved states and text are treated as hostile:
 *   every size, count and offset read from a file is checked (with overflow
 *   checks) before use; a bad file gives RWKV_ERROR_BAD_FORMAT, never a crash.
 */
#ifndef RWKV_H_INCLUDED
#define RWKV_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifndef RWKVDEF
#ifdef RWKV_STATIC
#define RWKVDEF static
#else
#define RWKVDEF extern
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Results and errors ------------------------------------------------- */

typedef enum rwkv_result {
    RWKV_OK = 0,
    RWKV_ERROR_INVALID_ARGUMENT = -1, /* NULL where not allowed, bad size   */
    RWKV_ERROR_OUT_OF_MEMORY = -2,
    RWKV_ERROR_IO = -3,               /* a file could not be opened or read */
    RWKV_ERROR_BAD_FORMAT = -4,       /* malformed or truncated input       */
    RWKV_ERROR_UNSUPPORTED = -5,      /* valid, but a version/type we lack  */
    RWKV_ERROR_SHAPE = -6,            /* a tensor is missing or misshapen   */
    RWKV_ERROR_TOKEN_RANGE = -7,      /* token id outside the vocabulary    */
    RWKV_ERROR_STATE_MISMATCH = -8,   /* state of another model             */
    RWKV_ERROR_BUFFER_TOO_SMALL = -9  /* caller's output buffer too small   */
} rwkv_result;

/* The reason for the last failure of a call that was given this struct. */
typedef struct rwkv_error {
    rwkv_result code;
    char message[256];
} rwkv_error;

/* A static, human-readable name for a result code ("bad format", ...). */
RWKVDEF const char *rwkv_result_string(rwkv_result result);

/* ---- Models ------------------------------------------------------------- */

typedef struct rwkv_model rwkv_model;
typedef struct rwkv_tokenizer rwkv_tokenizer; /* see Tokenizers below */

/* ggml type ids, as used in GGUF files. */
typedef enum rwkv_type {
    RWKV_TYPE_F32 = 0,
    RWKV_TYPE_F16 = 1,
    RWKV_TYPE_Q4_0 = 2,
    RWKV_TYPE_Q4_1 = 3,
    RWKV_TYPE_Q5_0 = 6,
    RWKV_TYPE_Q5_1 = 7,
    RWKV_TYPE_Q8_0 = 8,
    RWKV_TYPE_BF16 = 30
} rwkv_type;

/* Name of a type ("f32", "q5_1", ...), or NULL for an unknown id. */
RWKVDEF const char *rwkv_type_name(int type);

/* Bytes taken by n_elements of a type (n_elements a multiple of the block
   size), or 0 for an unknown type or a size that does not fit in size_t. */
RWKVDEF size_t rwkv_type_size(int type, uint64_t n_elements);

/* Encode n floats as a row of the given type (n a multiple of 32 for the
   quantized types), with ggml's rounding, into dst, which must hold
   rwkv_type_size(type, n) bytes. Returns the bytes written, or 0 for an
   unknown type or a bad n. For converters and quantize-on-load. */
RWKVDEF size_t rwkv_quantize_row(int type, const float *src, int64_t n, void *dst);

/* The inverse: n values of a row of the given type as floats (n a multiple
   of 32 for the quantized types). Returns 0 for an unknown type or bad n,
   else the bytes read from src. */
RWKVDEF size_t rwkv_dequantize_row(int type, const void *src, int64_t n, float *dst);

/* Load a model from a file: GGUF or rwkv.cpp .bin, detected by magic. GGUF
   is memory-mapped where the OS allows it and its weights are used in place;
   .bin files are read and their tensors copied to aligned memory.
   On success *model is a new model; free it with rwkv_model_free().
   Not available with RWKV_NO_STDIO. */
RWKVDEF rwkv_result rwkv_model_load_file(rwkv_model **model, const char *path,
                                         rwkv_error *error);

/* Load a model from a caller's buffer (GGUF or .bin). For a GGUF buffer
   aligned to 32 bytes the weights are used in place, with no copy: the
   buffer must then stay valid and unchanged until rwkv_model_free(). This
   is the firmware case: weights in a `const unsigned char[]` in flash.
   Only small per-channel vectors (norms, mixes, decays) are copied. */
RWKVDEF rwkv_result rwkv_model_load_memory(rwkv_model **model, const void *data,
                                           size_t size, rwkv_error *error);

/* Free a model and everything it owns (not the caller's buffer). NULL is ok. */
RWKVDEF void rwkv_model_free(rwkv_model *model);

typedef struct rwkv_model_info {
    int version;            /* RWKV version: 4, 5, 6 or 7                    */
    int version_minor;      /* 1 or 2 for v5 (5.2 has the gate), else 0     */
    int n_layer;
    int n_embd;             /* width C of the residual stream                */
    int n_vocab;
    int n_ffn;              /* hidden size of channel-mix                    */
    int n_head;             /* WKV heads (v5+); 0 for v4                     */
    int head_size;          /* n_embd / n_head; 0 for v4                     */
    int rescale_every_n_layers; /* v6 GGUFs from HF: x is halved every n
                               layers and two weights are pre-scaled; 0: none */
    size_t state_floats;    /* floats in the recurrent state                 */
    size_t state_blob_size; /* bytes written by rwkv_state_export()         */
    size_t weight_bytes;    /* bytes of all tensors                          */
    size_t file_bytes;      /* bytes of the file or buffer loaded            */
    const char *format;     /* "gguf" or "rwkv.cpp"                          */
    char tensor_types[64];  /* e.g. "f32,f16": the types present, by id      */
} rwkv_model_info;

/* Describe a loaded model. */
RWKVDEF void rwkv_model_get_info(const rwkv_model *model, rwkv_model_info *info);

/* Shorthand for the vocabulary size (rows of logits). */
RWKVDEF int rwkv_model_n_vocab(const rwkv_model *model);

/* The tokenizer that came with the model file (World vocabulary embedded in
   a GGUF, or the byte tokenizer for 256-token models), or NULL if the file
   carries none (then load one with rwkv_tokenizer_load_world*). Owned by
   the model. */
RWKVDEF const rwkv_tokenizer *rwkv_model_tokenizer(const rwkv_model *model);

/* One tensor of a loaded model, under its GGUF name (llama.cpp style, e.g.
   "blk.3.time_mix_key.weight"), with ne[] in ggml order (ne[0] fastest) and
   the values the GGUF layout stores (see README.md; for rwkv.cpp files the
   loader has already undone rwkv.cpp's transforms). */
typedef struct rwkv_tensor_info {
    const char *name;
    int type;               /* rwkv_type                                     */
    int n_dims;
    int64_t ne[4];
    const void *data;
    size_t n_bytes;
} rwkv_tensor_info;

/* Number of tensors, and the i-th (0 <= i < count). Used by converters. */
RWKVDEF int rwkv_model_tensor_count(const rwkv_model *model);
RWKVDEF rwkv_result rwkv_model_tensor(const rwkv_model *model, int i,
                                      rwkv_tensor_info *info);

/* ---- State -------------------------------------------------------------- */

/* The recurrent state of one sequence: a plain array of floats (see
   rwkv_state_data) plus the scratch memory evaluation needs. Layout, layer
   after layer (the official pip package's order):
     RWKV-4: 5 vectors of n_embd: the previous token's time-mix input, aa,
             bb, pp (the WKV numerator, denominator and running maximum
             exponent; pp starts at -1e30), the previous channel-mix input.
     RWKV-5/6/7: the previous time-mix input (n_embd), the WKV state
             (n_head matrices of head_size x head_size: [h][k][v] for v5
             and v6, [h][v][k] for v7), the previous channel-mix input. */
typedef struct rwkv_state rwkv_state;

/* Create a state for a model, set to the initial state. The model must
   outlive the state. Free with rwkv_state_free(). */
RWKVDEF rwkv_result rwkv_state_create(const rwkv_model *model, rwkv_state **state,
                                      rwkv_error *error);
RWKVDEF void rwkv_state_free(rwkv_state *state);

/* Back to the initial state (as after creation). */
RWKVDEF void rwkv_state_reset(rwkv_state *state);

/* Copy src's recurrent state into dst; both must belong to the same model. */
RWKVDEF rwkv_result rwkv_state_copy(rwkv_state *dst, const rwkv_state *src,
                                    rwkv_error *error);

/* The recurrent state as floats (rwkv_model_info.state_floats of them), to
   read or write directly. */
RWKVDEF float *rwkv_state_data(rwkv_state *state);

/* Save the state as a self-describing blob of info.state_blob_size bytes:
   a 48-byte header (magic "RWKVSTAT", format version, RWKV version, n_layer,
   n_embd, head size, float count, a fingerprint of the model's weights),
   then the floats, little-endian. Fails with BUFFER_TOO_SMALL if size is
   short. */
RWKVDEF rwkv_result rwkv_state_export(const rwkv_state *state, void *blob,
                                      size_t size, rwkv_error *error);

/* Restore a state saved by rwkv_state_export(). A blob of another model
   (other shape or other weights) gives STATE_MISMATCH and leaves the state
   unchanged; a damaged blob gives BAD_FORMAT. */
RWKVDEF rwkv_result rwkv_state_import(rwkv_state *state, const void *blob,
                                      size_t size, rwkv_error *error);

/* ---- Evaluation --------------------------------------------------------- */

/* Threads used by this state's evaluations (rows of each matrix are split
   among them). Needs OpenMP (compile with -fopenmp); without it, or with
   n < 1, evaluation runs on the calling thread alone. Default 1. Fails only
   with OUT_OF_MEMORY (each thread needs 2 rows of scratch). */
RWKVDEF rwkv_result rwkv_state_set_threads(rwkv_state *state, int n_threads);

/* Opt in (enabled != 0) to ggml-style integer arithmetic for quantized
   weights when decoding: each matrix's input vector is rounded to 8 bits
   per block of 32 and multiplied in integers. About twice as fast on
   Q4/Q5 weights, but no longer exact: logits move by up to ~0.3 (measured
   on the tiny reference models; rwkv.cpp does the same). Default off:
   inputs stay float and results match the reference to float rounding. */
RWKVDEF void rwkv_state_set_quantized_input(rwkv_state *state, int enabled);

/* Feed one token: advance the state and, if logits is not NULL, write the
   n_vocab logits of the next token there (NULL skips the output head, which
   is the largest matrix of small models). Allocates nothing. */
RWKVDEF rwkv_result rwkv_eval(rwkv_state *state, int32_t token, float *logits,
                              rwkv_error *error);

/* Feed n tokens in order; logits (if not NULL) receives those after the
   last one. Equal to n calls of rwkv_eval() within float rounding, and
   faster: the tokens go through the model in chunks of RWKV_CHUNK (32), so
   each weight is read once per chunk. n == 0 is allowed and leaves logits
   untouched. A bad token is found before the state is changed. */
RWKVDEF rwkv_result rwkv_eval_sequence(rwkv_state *state, const int32_t *tokens,
                                       size_t n, float *logits, rwkv_error *error);

/* ---- Tokenizers --------------------------------------------------------- */

/* The RWKV World tokenizer from the text of rwkv_vocab_v20230424.txt (one
   token a line: `id python-literal byte-length`). Free with
   rwkv_tokenizer_free(). */
RWKVDEF rwkv_result rwkv_tokenizer_load_world(rwkv_tokenizer **tokenizer,
                                              const char *text, size_t size,
                                              rwkv_error *error);
/* The same from a file. Not available with RWKV_NO_STDIO. */
RWKVDEF rwkv_result rwkv_tokenizer_load_world_file(rwkv_tokenizer **tokenizer,
                                                   const char *path,
                                                   rwkv_error *error);
/* The byte tokenizer of 256-token models: token id = byte value. */
RWKVDEF rwkv_result rwkv_tokenizer_create_bytes(rwkv_tokenizer **tokenizer,
                                                rwkv_error *error);
RWKVDEF void rwkv_tokenizer_free(rwkv_tokenizer *tokenizer);

/* Number of token ids (the largest id + 1). */
RWKVDEF int rwkv_tokenizer_vocab_size(const rwkv_tokenizer *tokenizer);

/* The bytes of one token (not NUL-terminated) and their count in *len, or
   NULL for an id out of range. Control tokens have zero bytes. */
RWKVDEF const char *rwkv_token_bytes(const rwkv_tokenizer *tokenizer,
                                     int32_t id, size_t *len);

/* Encode len bytes of text (any bytes: invalid UTF-8 is encoded too, since
   every single byte is a token) by greedy longest match, as the official
   RWKV TRIE_TOKENIZER does. Writes at most max_tokens ids to tokens and the
   number of ids in *n_tokens. If max_tokens is too small, returns
   BUFFER_TOO_SMALL with *n_tokens = the number needed; len ids always
   suffice. tokens may be NULL when max_tokens is 0. */
RWKVDEF rwkv_result rwkv_tokenize(const rwkv_tokenizer *tokenizer,
                                  const void *text, size_t len, int32_t *tokens,
                                  size_t max_tokens, size_t *n_tokens,
                                  rwkv_error *error);

/* Decode ids to bytes: writes at most capacity bytes to out and the byte
   count in *out_len (the count needed, with BUFFER_TOO_SMALL, if capacity is
   short). An id out of range gives TOKEN_RANGE. The output is the exact
   bytes of the tokens, which may be invalid UTF-8 (see rwkv_utf8_stream). */
RWKVDEF rwkv_result rwkv_detokenize(const rwkv_tokenizer *tokenizer,
                                    const int32_t *tokens, size_t n_tokens,
                                    char *out, size_t capacity, size_t *out_len,
                                    rwkv_error *error);

/* Streaming decode for printing tokens as they come: the bytes of a UTF-8
   character split across tokens are held back until it is complete, so a
   character is never printed broken. Zero-initialise one per stream. */
typedef struct rwkv_utf8_stream {
    unsigned char pending[4];
    int n_pending;
} rwkv_utf8_stream;

/* Push n bytes; writes what can be printed now to out and returns its
   length. out must hold 3 * (n + 4) bytes. Bytes that can never form valid
   UTF-8 come out as U+FFFD, so the output is always valid UTF-8. */
RWKVDEF size_t rwkv_utf8_stream_push(rwkv_utf8_stream *stream, const void *bytes,
                                     size_t n, char *out);
/* End of stream: what is still held back (an incomplete character) comes
   out as U+FFFD. out must hold 12 bytes. Returns the length written. */
RWKVDEF size_t rwkv_utf8_stream_flush(rwkv_utf8_stream *stream, char *out);

/* ---- Sampling ----------------------------------------------------------- */

typedef struct rwkv_sampler_params {
    float temperature;       /* 0: greedy (argmax); 1: plain sampling         */
    int top_k;               /* keep the k most likely tokens; 0: all         */
    float top_p;             /* nucleus: smallest set with mass >= top_p; 1: all */
    float presence_penalty;  /* ChatRWKV alpha_presence, subtracted from the
                                logit of every token generated so far        */
    float frequency_penalty; /* ChatRWKV alpha_frequency, times the count    */
    float penalty_decay;     /* counts are multiplied by this after each token
                                (ChatRWKV uses 0.996); 1: no decay           */
    uint64_t seed;
} rwkv_sampler_params;

typedef struct rwkv_sampler rwkv_sampler;

/* temperature 1, top_k 0, top_p 1, no penalties, decay 0.996, seed 42. */
RWKVDEF rwkv_sampler_params rwkv_sampler_default_params(void);

/* A sampler for n_vocab logits with its own random generator (a seeded
   PCG32: the same seed gives the same choices on every platform). */
RWKVDEF rwkv_result rwkv_sampler_create(rwkv_sampler **sampler, int n_vocab,
                                        const rwkv_sampler_params *params,
                                        rwkv_error *error);
RWKVDEF void rwkv_sampler_free(rwkv_sampler *sampler);

/* Forget the penalty counts and reseed the generator with params.seed. */
RWKVDEF void rwkv_sampler_reset(rwkv_sampler *sampler);

/* Choose the next token from n_vocab logits, in ChatRWKV's order:
   penalties on the logits, softmax, top-p and top-k cut, probabilities
   raised to 1/temperature and renormalised, then a draw. The chosen token
   is counted for the penalties. logits is modified (penalties applied). */
RWKVDEF int32_t rwkv_sampler_sample(rwkv_sampler *sampler, float *logits);

#ifdef __cplusplus
}
#endif
#endif /* RWKV_H_INCLUDED */

/* ========================================================================= *
 *                              IMPLEMENTATION                               *
 * ========================================================================= */
#ifdef RWKV_IMPLEMENTATION
#ifndef RWKV_IMPLEMENTATION_DONE
#define RWKV_IMPLEMENTATION_DONE

#include <math.h>
#include <stdarg.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdlib.h>
#include <string.h>

#if defined(RWKV_MALLOC) && defined(RWKV_FREE) && defined(RWKV_REALLOC)
#elif !defined(RWKV_MALLOC) && !defined(RWKV_FREE) && !defined(RWKV_REALLOC)
#define RWKV_MALLOC(sz) malloc(sz)
#define RWKV_REALLOC(p, sz) realloc(p, sz)
#define RWKV_FREE(p) free(p)
#else
#error "rwkv.h: define all of RWKV_MALLOC, RWKV_REALLOC and RWKV_FREE, or none"
#endif

#ifndef RWKV_ASSERT
#include <assert.h>
#define RWKV_ASSERT(x) assert(x)
#endif

#ifndef RWKV_MAX_LAYERS
#define RWKV_MAX_LAYERS 4096
#endif
#ifndef RWKV_MAX_EMBD
#define RWKV_MAX_EMBD 65536
#endif
#ifndef RWKV_MAX_VOCAB
#define RWKV_MAX_VOCAB (1 << 24)
#endif
/* more tensors than any real RWKV model has; bounds work on hostile files */
#define RWKV__MAX_TENSORS 65536
#define RWKV__MAX_KV 65536
#define RWKV__NAME_MAX 64

#ifndef RWKV_NO_STDIO
#include <stdio.h>
#if !defined(RWKV_NO_MMAP) && (defined(__unix__) || defined(__APPLE__))
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define RWKV__HAVE_MMAP 1
#endif
#endif

/* ---- Errors -------------------------------------------------------------- */

RWKVDEF const char *rwkv_result_string(rwkv_result result) {
    switch (result) {
    case RWKV_OK: return "ok";
    case RWKV_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case RWKV_ERROR_OUT_OF_MEMORY: return "out of memory";
    case RWKV_ERROR_IO: return "i/o error";
    case RWKV_ERROR_BAD_FORMAT: return "bad format";
    case RWKV_ERROR_UNSUPPORTED: return "unsupported";
    case RWKV_ERROR_SHAPE: return "wrong tensor shape";
    case RWKV_ERROR_TOKEN_RANGE: return "token out of range";
    case RWKV_ERROR_STATE_MISMATCH: return "state of another model";
    case RWKV_ERROR_BUFFER_TOO_SMALL: return "buffer too small";
    }
    return "unknown error";
}

/* A tiny formatter (%s %d %u %lld %llu %zu %x %%) so that error messages
   need no stdio: firmware builds have no snprintf. */
static void rwkv__append(char *out, size_t cap, size_t *n, const char *s, size_t len) {
    while (len-- && *n + 1 < cap) out[(*n)++] = *s++;
}

static void rwkv__append_unsigned(char *out, size_t cap, size_t *n,
                                  unsigned long long v, unsigned base) {
    char digits[24];
    int i = 0;
    do {
        digits[i++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (i--) rwkv__append(out, cap, n, &digits[i], 1);
}

static rwkv_result rwkv__fail(rwkv_error *error, rwkv_result code, const char *fmt, ...) {
    va_list ap;
    size_t n = 0, cap;
    const char *f;
    if (!error) return code;
    error->code = code;
    cap = sizeof(error->message);
    va_start(ap, fmt);
    for (f = fmt; *f; f++) {
        if (*f != '%') {
            rwkv__append(error->message, cap, &n, f, 1);
            continue;
        }
        f++;
        if (*f == 's') {
            const char *s = va_arg(ap, const char *);
            if (!s) s = "(null)";
            rwkv__append(error->message, cap, &n, s, strlen(s));
        } else if (*f == 'd') {
            int v = va_arg(ap, int);
            if (v < 0) rwkv__append(error->message, cap, &n, "-", 1);
            rwkv__append_unsigned(error->message, cap, &n,
                                  v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v, 10);
        } else if (*f == 'u') {
            rwkv__append_unsigned(error->message, cap, &n, va_arg(ap, unsigned), 10);
        } else if (*f == 'x') {
            rwkv__append_unsigned(error->message, cap, &n, va_arg(ap, unsigned), 16);
        } else if (f[0] == 'z' && f[1] == 'u') {
            rwkv__append_unsigned(error->message, cap, &n, va_arg(ap, size_t), 10);
            f++;
        } else if (f[0] == 'l' && f[1] == 'l' && f[2] == 'd') {
            long long v = va_arg(ap, long long);
            if (v < 0) rwkv__append(error->message, cap, &n, "-", 1);
            rwkv__append_unsigned(error->message, cap, &n,
                                  v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v, 10);
            f += 2;
        } else if (f[0] == 'l' && f[1] == 'l' && f[2] == 'u') {
            rwkv__append_unsigned(error->message, cap, &n, va_arg(ap, unsigned long long), 10);
            f += 2;
        } else if (*f == '%') {
            rwkv__append(error->message, cap, &n, "%", 1);
        } else {
            RWKV_ASSERT(0 && "rwkv__fail: unknown format");
            break;
        }
    }
    va_end(ap);
    error->message[n] = 0;
    return code;
}

static void rwkv__ok(rwkv_error *error) {
    if (error) {
        error->code = RWKV_OK;
        error->message[0] = 0;
    }
}

/* ---- Numbers: half floats, types, overflow-checked sizes ---------------- */

static float rwkv__f32_from_bits(uint32_t bits) {
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* IEEE binary16 to float: shift exponent and mantissa into place and let a
   multiplication by 2^112 rebias the exponent (this also turns subnormal
   halves into the right normal floats). Inf and NaN are handled apart. */
static float rwkv__f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t rest = h & 0x7fffu;
    uint32_t bits;
    if (rest >= 0x7c00u) {
        bits = sign | 0x7f800000u | ((rest & 0x3ffu) << 13);
        return rwkv__f32_from_bits(bits);
    }
    {   /* the sign is or-ed in last: a branch on it would be unpredictable */
        float magnitude = rwkv__f32_from_bits(rest << 13) * 5.192296858534828e+33f;
        memcpy(&bits, &magnitude, 4);
        return rwkv__f32_from_bits(bits | sign);
    }
}

static float rwkv__bf16_to_f32(uint16_t h) {
    return rwkv__f32_from_bits((uint32_t)h << 16);
}

static uint16_t rwkv__le16(const unsigned char *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rwkv__le32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint64_t rwkv__le64(const unsigned char *p) {
    return (uint64_t)rwkv__le32(p) | ((uint64_t)rwkv__le32(p + 4) << 32);
}

typedef struct rwkv__type_traits {
    int id;
    const char *name;
    int block_elems;
    int block_bytes;
} rwkv__type_traits;

static const rwkv__type_traits rwkv__types[] = {
    {RWKV_TYPE_F32, "f32", 1, 4},    {RWKV_TYPE_F16, "f16", 1, 2},
    {RWKV_TYPE_Q4_0, "q4_0", 32, 18}, {RWKV_TYPE_Q4_1, "q4_1", 32, 20},
    {RWKV_TYPE_Q5_0, "q5_0", 32, 22}, {RWKV_TYPE_Q5_1, "q5_1", 32, 24},
    {RWKV_TYPE_Q8_0, "q8_0", 32, 34}, {RWKV_TYPE_BF16, "bf16", 1, 2},
};

static const rwkv__type_traits *rwkv__type(int type) {
    size_t i;
    for (i = 0; i < sizeof(rwkv__types) / sizeof(rwkv__types[0]); i++)
        if (rwkv__types[i].id == type) return &rwkv__types[i];
    return NULL;
}

RWKVDEF const char *rwkv_type_name(int type) {
    const rwkv__type_traits *t = rwkv__type(type);
    return t ? t->name : NULL;
}

RWKVDEF size_t rwkv_type_size(int type, uint64_t n_elements) {
    const rwkv__type_traits *t = rwkv__type(type);
    uint64_t blocks;
    if (!t || n_elements % (uint64_t)t->block_elems) return 0;
    blocks = n_elements / (uint64_t)t->block_elems;
    if (blocks > (uint64_t)SIZE_MAX / (uint64_t)t->block_bytes) return 0;
    return (size_t)(blocks * (uint64_t)t->block_bytes);
}

/* Names of ggml types we do not run, for error messages. */
static const char *rwkv__foreign_type_name(int type) {
    switch (type) {
    case 9: return "q8_1";
    case 10: return "q2_k";
    case 11: return "q3_k";
    case 12: return "q4_k";
    case 13: return "q5_k";
    case 14: return "q6_k";
    case 15: return "q8_k";
    default: return "unknown";
    }
}

static void *rwkv__calloc(size_t count, size_t size) {
    size_t bytes;
    void *p;
    if (size && count > SIZE_MAX / size) return NULL;
    bytes = count * size;
    p = RWKV_MALLOC(bytes > 0 ? bytes : 1);
    if (p) memset(p, 0, bytes);
    return p;
}

/* float to IEEE binary16, rounding to nearest even (overflow gives inf). */
static uint16_t rwkv__f32_to_f16(float f) {
    uint32_t x, sign, exponent, mantissa;
    memcpy(&x, &f, 4);
    sign = (x >> 16) & 0x8000u;
    x &= 0x7fffffffu;
    if (x > 0x7f800000u) return (uint16_t)(sign | 0x7e00u); /* NaN */
    if (x >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds past 65504 */
    if (x < 0x38800000u) { /* a subnormal half: count units of 2^-24 */
        uint32_t shift, q, rest, half;
        if (x < 0x33000000u) return (uint16_t)sign; /* at most half the smallest */
        exponent = x >> 23;
        mantissa = (x & 0x7fffffu) | 0x800000u;
        shift = 126 - exponent;
        q = mantissa >> shift;
        rest = mantissa & ((1u << shift) - 1);
        half = 1u << (shift - 1);
        if (rest > half || (rest == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    {
        uint32_t h = ((x - 0x38000000u) >> 13), rest = x & 0x1fffu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
}

static void rwkv__put16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
}

/* One block of 32 floats in a 4- or 5-bit type, as ggml's reference
   quantizers round: symmetric types take the scale from the value of
   largest magnitude (d = max / -8 or -16), asymmetric ones span min..max. */
static void rwkv__quantize_block_q4_q5(const float *x, unsigned char *out, int has_min, int five_bits) {
    const int levels = five_bits ? 31 : 15;
    unsigned char *qs = out + 2 + 2 * has_min + 4 * five_bits;
    uint32_t qh = 0;
    float d, id, lowest = 0.0f;
    int j;
    if (has_min) {
        float min = x[0], max = x[0];
        for (j = 1; j < 32; j++) min = x[j] < min ? x[j] : min, max = x[j] > max ? x[j] : max;
        d = (max - min) / (float)levels;
        lowest = min;
        rwkv__put16(out + 2, rwkv__f32_to_f16(min));
    } else {
        float amax = 0.0f, max = 0.0f;
        for (j = 0; j < 32; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
        d = max / (five_bits ? -16.0f : -8.0f);
    }
    id = d != 0.0f ? 1.0f / d : 0.0f;
    rwkv__put16(out, rwkv__f32_to_f16(d));
    for (j = 0; j < 16; j++) {
        float v0 = has_min ? (x[j] - lowest) * id + 0.5f : x[j] * id + (five_bits ? 16.5f : 8.5f);
        float v1 = has_min ? (x[j + 16] - lowest) * id + 0.5f : x[j + 16] * id + (five_bits ? 16.5f : 8.5f);
        int q0 = (int)(signed char)(int)v0, q1 = (int)(signed char)(int)v1;
        q0 = q0 > levels ? levels : q0;
        q1 = q1 > levels ? levels : q1;
        qs[j] = (unsigned char)((q0 & 15) | ((q1 & 15) << 4));
        qh |= (uint32_t)((q0 >> 4) & 1) << j;
        qh |= (uint32_t)((q1 >> 4) & 1) << (j + 16);
    }
    if (five_bits) {
        unsigned char *p = out + 2 + 2 * has_min;
        p[0] = (unsigned char)qh, p[1] = (unsigned char)(qh >> 8);
        p[2] = (unsigned char)(qh >> 16), p[3] = (unsigned char)(qh >> 24);
    }
}

RWKVDEF size_t rwkv_quantize_row(int type, const float *src, int64_t n, void *dst) {
    unsigned char *out = (unsigned char *)dst;
    size_t bytes = n > 0 ? rwkv_type_size(type, (uint64_t)n) : 0;
    int64_t i, b;
    int j;
    if (!bytes || !src || !dst) return 0;
    switch (type) {
    case RWKV_TYPE_F32: memcpy(dst, src, bytes); break;
    case RWKV_TYPE_F16:
        for (i = 0; i < n; i++) rwkv__put16(out + 2 * i, rwkv__f32_to_f16(src[i]));
        break;
    case RWKV_TYPE_BF16:
        for (i = 0; i < n; i++) { /* round to nearest even; NaN stays NaN */
            uint32_t x;
            memcpy(&x, &src[i], 4);
            x = (x & 0x7fffffffu) > 0x7f800000u ? (x | 0x400000u) : x + 0x7fffu + ((x >> 16) & 1);
            rwkv__put16(out + 2 * i, (uint16_t)(x >> 16));
        }
        break;
    case RWKV_TYPE_Q8_0:
        for (b = 0; b < n / 32; b++, src += 32, out += 34) {
            float amax = 0.0f, d, id;
            for (j = 0; j < 32; j++) amax = fabsf(src[j]) > amax ? fabsf(src[j]) : amax;
            d = amax / 127.0f;
            id = d != 0.0f ? 1.0f / d : 0.0f;
            rwkv__put16(out, rwkv__f32_to_f16(d));
            for (j = 0; j < 32; j++) out[2 + j] = (unsigned char)(signed char)lrintf(src[j] * id);
        }
        break;
    default: {
        const int has_min = type == RWKV_TYPE_Q4_1 || type == RWKV_TYPE_Q5_1;
        const int five_bits = type == RWKV_TYPE_Q5_0 || type == RWKV_TYPE_Q5_1;
        const size_t block_bytes = rwkv_type_size(type, 32);
        for (b = 0; b < n / 32; b++) rwkv__quantize_block_q4_q5(src + 32 * b, out + block_bytes * (size_t)b, has_min, five_bits);
    }
    }
    return bytes;
}

/* ---- Tensors and the model ---------------------------------------------- */

/* A tensor as found in the file, under its GGUF name. */
typedef struct rwkv__tensor {
    char name[RWKV__NAME_MAX];
    int type;
    int n_dims;
    int64_t ne[4];
    const void *data;
    size_t n_bytes;
} rwkv__tensor;

/* A weight matrix W of shape (n_out, n_in): n_out rows of n_in elements,
   each row row_bytes long, used as y = W x. */
typedef struct rwkv__matrix {
    const unsigned char *data;
    int type;
    int n_in, n_out;
    size_t row_bytes;
} rwkv__matrix;

/* One block, for every version; fields a version does not use stay NULL.
   Vectors have n_embd floats (per-head values are expanded to channels). */
typedef struct rwkv__layer {
    const float *ln1_weight, *ln1_bias, *ln2_weight, *ln2_bias;
    /* time mix (attention) */
    const float *att_mix_k, *att_mix_v, *att_mix_r, *att_mix_g; /* v4, v5 lerp      */
    const float *att_decay; /* v4: w = -exp(td); v5: w = exp(-exp(td)); v6: raw td */
    const float *att_first; /* u, the bonus of the current token                   */
    rwkv__matrix att_key, att_value, att_receptance, att_output, att_gate;
    const float *att_ln_x_weight, *att_ln_x_bias; /* v5+: group norm per head      */
    /* v6: data-dependent token shift (maa) and decay, through small LoRAs */
    const float *att_maa_x, *att_maa[5];           /* order w, k, v, r, g           */
    rwkv__matrix att_maa_w1, att_maa_w2[5], att_decay_w1, att_decay_w2;
    /* v7: token-shift lerps (order r, w, k, v, a, g) and the LoRAs of the
       decay w, in-context learning rate a, value residual v and gate g */
    const float *att_lerp[6];
    const float *att_w0, *att_a0, *att_v0, *att_k_k, *att_k_a, *att_r_k;
    rwkv__matrix att_w1, att_w2, att_a1, att_a2, att_v1, att_v2, att_g1, att_g2;
    /* channel mix (feed-forward) */
    const float *ffn_mix_k, *ffn_mix_r;
    rwkv__matrix ffn_key, ffn_value, ffn_receptance; /* (F,C) (C,F) (C,C)          */
} rwkv__layer;

struct rwkv_tokenizer;

struct rwkv_model {
    int version, version_minor;
    int n_layer, n_embd, n_vocab, n_ffn;
    int head_size, n_head;                  /* v5+: the WKV state is per head     */
    int max_lora;                           /* largest LoRA rank (v6, v7)         */
    int rescale_every;                      /* v6 GGUF from HF: x /= 2 every n    */
    rwkv__matrix embedding;                 /* (n_vocab, n_embd): one row a token */
    const float *ln0_weight, *ln0_bias;     /* applied to the embedding          */
    const float *ln_out_weight, *ln_out_bias;
    rwkv__matrix head;                      /* (n_vocab, n_embd)                 */
    rwkv__layer *layers;

    rwkv__tensor *tensors;                  /* the file's tensors, sorted by name */
    int n_tensors;
    float *vectors;                         /* f32 copies of all vectors         */
    rwkv_tokenizer *tokenizer;              /* NULL if the file has none         */
    uint64_t fingerprint;                   /* identifies the weights in states  */
    const char *format;
    size_t file_bytes;

    /* what to release: */
    void *owned_data;                       /* aligned copy of the weights       */
    void *owned_extra;                      /* tensors made at load (v6 fused)   */
    void *read_buffer;                      /* file read into memory             */
    void *mapped;                           /* mmap'd file                       */
    size_t mapped_size;
};

/* Floats of state per layer: v4 keeps 5 vectors (time-mix input, aa, bb,
   pp, channel-mix input); v5+ keep the two inputs around an N x N matrix
   per head. */
static size_t rwkv__layer_state_floats(const rwkv_model *m) {
    return m->version == 4 ? 5 * (size_t)m->n_embd : (2 + (size_t)m->head_size) * (size_t)m->n_embd;
}

/* Where in a layer's state the previous channel-mix input is. */
static size_t rwkv__ffn_state_offset(const rwkv_model *m) {
    return rwkv__layer_state_floats(m) - (size_t)m->n_embd;
}

static void *rwkv__align32(void *p) {
    return (void *)(((uintptr_t)p + 31u) & ~(uintptr_t)31u);
}

static int rwkv__tensor_compare(const void *a, const void *b) {
    return strcmp(((const rwkv__tensor *)a)->name, ((const rwkv__tensor *)b)->name);
}

static const rwkv__tensor *rwkv__find_tensor(const rwkv_model *m, const char *name) {
    rwkv__tensor key;
    size_t len = strlen(name);
    if (len >= sizeof(key.name)) return NULL;
    memcpy(key.name, name, len + 1);
    return (const rwkv__tensor *)bsearch(&key, m->tensors, (size_t)m->n_tensors,
                                         sizeof(rwkv__tensor), rwkv__tensor_compare);
}

/* Element count of ne[0..n_dims), or 0 if it overflows int64. */
static uint64_t rwkv__element_count(const int64_t *ne, int n_dims) {
    uint64_t n = 1;
    int i;
    for (i = 0; i < n_dims; i++) {
        if (ne[i] <= 0 || (uint64_t)ne[i] > (uint64_t)INT64_MAX / n) return 0;
        n *= (uint64_t)ne[i];
    }
    return n;
}

/* Validate a tensor's type and shape and compute its byte size. */
static rwkv_result rwkv__check_tensor(rwkv__tensor *t, rwkv_error *error) {
    const rwkv__type_traits *tt = rwkv__type(t->type);
    uint64_t n;
    int i;
    if (t->n_dims < 1 || t->n_dims > 4)
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "tensor %s: %d dimensions", t->name,
                          t->n_dims);
    for (i = t->n_dims; i < 4; i++) t->ne[i] = 1;
    if (!tt)
        return rwkv__fail(error, RWKV_ERROR_UNSUPPORTED,
                          "tensor %s: weight type %d (%s) is not supported", t->name, t->type,
                          rwkv__foreign_type_name(t->type));
    n = rwkv__element_count(t->ne, t->n_dims);
    if (!n)
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "tensor %s: invalid dimensions",
                          t->name);
    if (t->ne[0] % tt->block_elems)
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                          "tensor %s: row of %lld is not a multiple of the %s block (%d)",
                          t->name, (long long)t->ne[0], tt->name, tt->block_elems);
    t->n_bytes = rwkv_type_size(t->type, n);
    if (!t->n_bytes)
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "tensor %s: too large", t->name);
    return RWKV_OK;
}

/* ---- File format: GGUF --------------------------------------------------- */

/* A bounds-checked reader over a byte buffer. Once a read fails, `bad` is
   set and all later reads return zeros, so parsers check once per item. */
typedef struct rwkv__reader {
    const unsigned char *data;
    size_t size, pos;
    int bad;
} rwkv__reader;

static const unsigned char *rwkv__take(rwkv__reader *r, size_t n) {
    const unsigned char *p;
    if (r->bad || n > r->size - r->pos) {
        r->bad = 1;
        return NULL;
    }
    p = r->data + r->pos;
    r->pos += n;
    return p;
}

static uint32_t rwkv__read_u32(rwkv__reader *r) {
    const unsigned char *p = rwkv__take(r, 4);
    return p ? rwkv__le32(p) : 0;
}

static uint64_t rwkv__read_u64(rwkv__reader *r) {
    const unsigned char *p = rwkv__take(r, 8);
    return p ? rwkv__le64(p) : 0;
}

/* A GGUF string: u64 length, then the bytes (no NUL). */
static const char *rwkv__read_string(rwkv__reader *r, uint64_t *len) {
    *len = rwkv__read_u64(r);
    if (*len > r->size) {
        r->bad = 1;
        return NULL;
    }
    return (const char *)rwkv__take(r, (size_t)*len);
}

enum {
    RWKV__GGUF_U8, RWKV__GGUF_I8, RWKV__GGUF_U16, RWKV__GGUF_I16, RWKV__GGUF_U32,
    RWKV__GGUF_I32, RWKV__GGUF_F32, RWKV__GGUF_BOOL, RWKV__GGUF_STRING,
    RWKV__GGUF_ARRAY, RWKV__GGUF_U64, RWKV__GGUF_I64, RWKV__GGUF_F64
};

static size_t rwkv__gguf_scalar_size(uint32_t type) {
    static const unsigned char sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return type < sizeof(sizes) ? sizes[type] : 0;
}

/* One metadata entry: its key and where its value starts. */
typedef struct rwkv__gguf_kv {
    const char *key;
    size_t key_len;
    uint32_t type;
    size_t value_pos;
} rwkv__gguf_kv;

typedef struct rwkv__gguf {
    const unsigned char *data;
    size_t size;
    rwkv__gguf_kv *kv;
    size_t n_kv;
} rwkv__gguf;

/* Skip one value of the given type (arrays of arrays are refused). */
static void rwkv__gguf_skip_value(rwkv__reader *r, uint32_t type) {
    if (type == RWKV__GGUF_STRING) {
        uint64_t len;
        rwkv__read_string(r, &len);
    } else if (type == RWKV__GGUF_ARRAY) {
        uint32_t elem = rwkv__read_u32(r);
        uint64_t n = rwkv__read_u64(r), i;
        size_t esize = rwkv__gguf_scalar_size(elem);
        if (elem == RWKV__GGUF_STRING) {
            /* each string takes at least its 8-byte length */
            if (n > (r->size - r->pos) / 8) r->bad = 1;
            for (i = 0; i < n && !r->bad; i++) rwkv__gguf_skip_value(r, elem);
        } else if (esize) {
            if (n > (r->size - r->pos) / esize) r->bad = 1;
            else rwkv__take(r, (size_t)n * esize);
        } else {
            r->bad = 1;
        }
    } else if (rwkv__gguf_scalar_size(type)) {
        rwkv__take(r, rwkv__gguf_scalar_size(type));
    } else {
        r->bad = 1;
    }
}

static const rwkv__gguf_kv *rwkv__gguf_find(const rwkv__gguf *g, const char *key) {
    size_t i, len = strlen(key);
    for (i = 0; i < g->n_kv; i++)
        if (g->kv[i].key_len == len && !memcmp(g->kv[i].key, key, len)) return &g->kv[i];
    return NULL;
}

/* An integer value of any integer type, if it is >= 0 and fits in 32 bits. */
static int rwkv__gguf_get_u32(const rwkv__gguf *g, const char *key, uint32_t *out) {
    const rwkv__gguf_kv *kv = rwkv__gguf_find(g, key);
    const unsigned char *p;
    uint64_t v;
    if (!kv) return 0;
    p = g->data + kv->value_pos;
    switch (kv->type) {
    case RWKV__GGUF_U8: v = p[0]; break;
    case RWKV__GGUF_U16: v = rwkv__le16(p); break;
    case RWKV__GGUF_U32: v = rwkv__le32(p); break;
    case RWKV__GGUF_I32: v = (int32_t)rwkv__le32(p) < 0 ? UINT64_MAX : rwkv__le32(p); break;
    case RWKV__GGUF_U64: v = rwkv__le64(p); break;
    case RWKV__GGUF_I64: v = (int64_t)rwkv__le64(p) < 0 ? UINT64_MAX : rwkv__le64(p); break;
    default: return 0;
    }
    if (v > UINT32_MAX) return 0;
    *out = (uint32_t)v;
    return 1;
}

static const char *rwkv__gguf_get_string(const rwkv__gguf *g, const char *key, size_t *len) {
    const rwkv__gguf_kv *kv = rwkv__gguf_find(g, key);
    if (!kv || kv->type != RWKV__GGUF_STRING) return NULL;
    *len = (size_t)rwkv__le64(g->data + kv->value_pos);
    return (const char *)g->data + kv->value_pos + 8;
}

static int rwkv__gguf_string_is(const rwkv__gguf *g, const char *key, const char *value) {
    size_t len;
    const char *s = rwkv__gguf_get_string(g, key, &len);
    return s && len == strlen(value) && !memcmp(s, value, len);
}

/* An array value: element type, count and a reader placed at its elements. */
static int rwkv__gguf_get_array(const rwkv__gguf *g, const char *key, uint32_t *elem_type,
                                uint64_t *count, rwkv__reader *elements) {
    const rwkv__gguf_kv *kv = rwkv__gguf_find(g, key);
    if (!kv || kv->type != RWKV__GGUF_ARRAY) return 0;
    *elem_type = rwkv__le32(g->data + kv->value_pos);
    *count = rwkv__le64(g->data + kv->value_pos + 4);
    elements->data = g->data;
    elements->size = g->size;
    elements->pos = kv->value_pos + 12;
    elements->bad = 0;
    return 1;
}

static int rwkv__gguf_key_compare(const void *a, const void *b) {
    const rwkv__gguf_kv *x = *(const rwkv__gguf_kv *const *)a, *y = *(const rwkv__gguf_kv *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = n ? memcmp(x->key, y->key, n) : 0;
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* Parse the GGUF header, metadata and tensor infos; tensor data pointers
   point into `data`. Every count, length and offset is checked against the
   buffer before use. */
static rwkv_result rwkv__gguf_parse(rwkv_model *m, rwkv__gguf *g, const unsigned char *data,
                                    size_t size, rwkv_error *error) {
    rwkv__reader r;
    uint32_t version, alignment = 32;
    uint64_t n_tensors, n_kv, i;
    size_t data_start;
    r.data = data;
    r.size = size;
    r.pos = 4;
    r.bad = 0;
    g->data = data;
    g->size = size;
    version = rwkv__read_u32(&r);
    n_tensors = rwkv__read_u64(&r);
    n_kv = rwkv__read_u64(&r);
    if (r.bad) return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "GGUF header truncated");
    if (version != 2 && version != 3)
        return rwkv__fail(error, version == 1 ? RWKV_ERROR_UNSUPPORTED : RWKV_ERROR_BAD_FORMAT,
                          "GGUF version %u (only 2 and 3 are read)", version);
    if (n_tensors > RWKV__MAX_TENSORS || n_kv > RWKV__MAX_KV)
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                          "GGUF claims %llu tensors and %llu metadata entries",
                          (unsigned long long)n_tensors, (unsigned long long)n_kv);
    g->kv = (rwkv__gguf_kv *)rwkv__calloc((size_t)n_kv, sizeof(rwkv__gguf_kv));
    m->tensors = (rwkv__tensor *)rwkv__calloc((size_t)n_tensors, sizeof(rwkv__tensor));
    if (!g->kv || !m->tensors) return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    for (i = 0; i < n_kv; i++) {
        rwkv__gguf_kv *kv = &g->kv[i];
        uint64_t len;
        kv->key = rwkv__read_string(&r, &len);
        kv->key_len = (size_t)len;
        kv->type = rwkv__read_u32(&r);
        kv->value_pos = r.pos;
        rwkv__gguf_skip_value(&r, kv->type);
        if (r.bad)
            return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                              "GGUF metadata entry %llu is malformed or truncated",
                              (unsigned long long)i);
        g->n_kv++;
    }
    {   /* keys must be non-empty and unique: sort them and compare neighbours */
        const rwkv__gguf_kv **sorted = (const rwkv__gguf_kv **)rwkv__calloc(g->n_kv + 1, sizeof(*sorted));
        size_t k;
        int duplicate = 0;
        if (!sorted) return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
        for (k = 0; k < g->n_kv; k++) sorted[k] = &g->kv[k];
        qsort(sorted, g->n_kv, sizeof(*sorted), rwkv__gguf_key_compare);
        for (k = 0; k < g->n_kv && !duplicate; k++)
            duplicate = sorted[k]->key_len == 0 ? 2 : k > 0 && !rwkv__gguf_key_compare(&sorted[k - 1], &sorted[k]);
        RWKV_FREE(sorted);
        if (duplicate)
            return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                              duplicate == 2 ? "GGUF has an empty metadata key" : "GGUF has a metadata key twice");
    }
    if (rwkv__gguf_find(g, "general.alignment") &&
        (!rwkv__gguf_get_u32(g, "general.alignment", &alignment) || alignment == 0 ||
         (alignment & (alignment - 1)) || alignment > (1u << 20)))
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "GGUF alignment is not a power of 2");
    for (i = 0; i < n_tensors; i++) {
        rwkv__tensor *t = &m->tensors[i];
        uint64_t len, offset;
        const char *name = rwkv__read_string(&r, &len);
        uint32_t d, n_dims;
        rwkv_result res;
        if (r.bad || len == 0 || len >= RWKV__NAME_MAX)
            return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "GGUF tensor %llu: bad name",
                              (unsigned long long)i);
        memcpy(t->name, name, (size_t)len);
        t->name[len] = 0;
        if (strlen(t->name) != len)
            return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "GGUF tensor name contains NUL");
        n_dims = rwkv__read_u32(&r);
        if (n_dims < 1 || n_dims > 4)
            return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "tensor %s: %u dimensions",
                              t->name, n_dims);
        t->n_dims = (int)n_dims;
        for (d = 0; d < n_dims; d++) {
            uint64_t ne = rwkv__read_u64(&r);
            t->ne[d] = ne > (uint64_t)INT64_MAX ? -1 : (int64_t)ne;
        }
        t->type = (int)rwkv__read_u32(&r);
        offset = rwkv__read_u64(&r);
        if (r.bad)
            return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "GGUF tensor info truncated");
        res = rwkv__check_tensor(t, error);
        if (res) return res;
        if (offset % alignment)
            return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "tensor %s: misaligned offset",
                              t->name);
        /* the offset is relative to the data section, whose start is known
           only after the last info: keep it in `data` until then */
        if (offset > size)
            return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                              "tensor %s: data offset %llu is past the end of the file", t->name,
                              (unsigned long long)offset);
        t->data = (const void *)(uintptr_t)offset;
        m->n_tensors++;
    }
    data_start = r.pos + (alignment - r.pos % alignment) % alignment;
    if (data_start > size)
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "GGUF data section missing");
    for (i = 0; i < n_tensors; i++) {
        rwkv__tensor *t = &m->tensors[i];
        size_t offset = (size_t)(uintptr_t)t->data;
        if (offset > size - data_start || t->n_bytes > size - data_start - offset)
            return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                              "tensor %s: data (%zu bytes at %zu) runs past the end of the file",
                              t->name, t->n_bytes, offset);
        t->data = data + data_start + offset;
    }
    return RWKV_OK;
}

/* ---- File format: rwkv.cpp .bin ------------------------------------------ */

/* rwkv.cpp's names, to GGUF names (block tensors carry a "blocks.N." prefix
   there and "blk.N." here). */
static const char *const rwkv__bin_names[][2] = {
    {"emb.weight", "token_embd.weight"},
    {"blocks.0.ln0.weight", "token_embd_norm.weight"},
    {"blocks.0.ln0.bias", "token_embd_norm.bias"},
    {"ln_out.weight", "output_norm.weight"},
    {"ln_out.bias", "output_norm.bias"},
    {"head.weight", "output.weight"},
};
static const char *const rwkv__bin_block_names[][2] = {
    {"ln1.weight", "attn_norm.weight"},
    {"ln1.bias", "attn_norm.bias"},
    {"ln2.weight", "attn_norm_2.weight"},
    {"ln2.bias", "attn_norm_2.bias"},
    /* v4, v5 */
    {"att.time_mix_k", "time_mix_lerp_k.weight"},
    {"att.time_mix_v", "time_mix_lerp_v.weight"},
    {"att.time_mix_r", "time_mix_lerp_r.weight"},
    {"att.time_mix_g", "time_mix_lerp_g.weight"},
    {"att.time_decay", "time_mix_decay.weight"},
    {"att.time_first", "time_mix_first.weight"},
    {"att.time_faaaa", "time_mix_first.weight"},
    {"att.key.weight", "time_mix_key.weight"},
    {"att.value.weight", "time_mix_value.weight"},
    {"att.receptance.weight", "time_mix_receptance.weight"},
    {"att.output.weight", "time_mix_output.weight"},
    {"att.gate.weight", "time_mix_gate.weight"},
    {"att.ln_x.weight", "time_mix_ln.weight"},
    {"att.ln_x.bias", "time_mix_ln.bias"},
    /* v6 */
    {"att.time_maa_x", "time_mix_lerp_x.weight"},
    {"att.time_maa_w", "time_mix_lerp_w.weight"},
    {"att.time_maa_k", "time_mix_lerp_k.weight"},
    {"att.time_maa_v", "time_mix_lerp_v.weight"},
    {"att.time_maa_r", "time_mix_lerp_r.weight"},
    {"att.time_maa_g", "time_mix_lerp_g.weight"},
    {"att.time_maa_w1", "time_mix_w1.weight"},
    {"att.time_maa_w2", "time_mix_w2.weight"},
    {"att.time_decay_w1", "time_mix_decay_w1.weight"},
    {"att.time_decay_w2", "time_mix_decay_w2.weight"},
    {"ffn.time_maa_k", "channel_mix_lerp_k.weight"},
    {"ffn.time_maa_r", "channel_mix_lerp_r.weight"},
    /* v7 */
    {"att.x_rwkvag", "time_mix_lerp_fused.weight"},
    {"att.w0", "time_mix_w0.weight"},
    {"att.w1", "time_mix_w1.weight"},
    {"att.w2", "time_mix_w2.weight"},
    {"att.a0", "time_mix_a0.weight"},
    {"att.a1", "time_mix_a1.weight"},
    {"att.a2", "time_mix_a2.weight"},
    {"att.v0", "time_mix_v0.weight"},
    {"att.v1", "time_mix_v1.weight"},
    {"att.v2", "time_mix_v2.weight"},
    {"att.g1", "time_mix_g1.weight"},
    {"att.g2", "time_mix_g2.weight"},
    {"att.k_k", "time_mix_k_k.weight"},
    {"att.k_a", "time_mix_k_a.weight"},
    {"att.r_k", "time_mix_r_k.weight"},
    {"ffn.x_k", "channel_mix_lerp_k.weight"},
    /* all versions */
    {"ffn.time_mix_k", "channel_mix_lerp_k.weight"},
    {"ffn.time_mix_r", "channel_mix_lerp_r.weight"},
    {"ffn.key.weight", "channel_mix_key.weight"},
    {"ffn.value.weight", "channel_mix_value.weight"},
    {"ffn.receptance.weight", "channel_mix_receptance.weight"},
};

/* Rename an rwkv.cpp tensor; 0 if the name is not an RWKV tensor. */
static int rwkv__bin_rename(const char *name, char *out) {
    size_t i;
    for (i = 0; i < sizeof(rwkv__bin_names) / sizeof(rwkv__bin_names[0]); i++)
        if (!strcmp(name, rwkv__bin_names[i][0])) {
            strcpy(out, rwkv__bin_names[i][1]);
            return 1;
        }
    if (!strncmp(name, "blocks.", 7)) {
        const char *p = name + 7;
        long layer = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 5) {
            layer = layer * 10 + (*p++ - '0');
            digits++;
        }
        if (!digits || *p++ != '.') return 0;
        for (i = 0; i < sizeof(rwkv__bin_block_names) / sizeof(rwkv__bin_block_names[0]); i++)
            if (!strcmp(p, rwkv__bin_block_names[i][0])) {
                char num[8];
                int n = 0;
                long v = layer;
                do {
                    num[n++] = (char)('0' + v % 10);
                    v /= 10;
                } while (v);
                strcpy(out, "blk.");
                out += 4;
                while (n) *out++ = num[--n];
                *out++ = '.';
                strcpy(out, rwkv__bin_block_names[i][1]);
                return 1;
            }
    }
    return 0;
}

/* rwkv.cpp's data type ids, to ggml's. */
static int rwkv__bin_type(uint32_t t) {
    switch (t) {
    case 0: return RWKV_TYPE_F32;
    case 1: return RWKV_TYPE_F16;
    case 2: return RWKV_TYPE_Q4_0;
    case 3: return RWKV_TYPE_Q4_1;
    case 7: return RWKV_TYPE_Q5_0;
    case 8: return RWKV_TYPE_Q5_1;
    case 9: return RWKV_TYPE_Q8_0;
    default: return -1;
    }
}

static int rwkv__contains(const char *s, const char *part) { return strstr(s, part) != NULL; }

/* Parse a .bin file: header, then tensors to the end. The tensors are
   copied to one 32-byte aligned buffer (the file's own offsets are not
   aligned), renamed to GGUF names, and rwkv.cpp's decay transform is
   undone so the table holds what a GGUF file holds. */
static rwkv_result rwkv__bin_parse(rwkv_model *m, const unsigned char *data, size_t size,
                                   uint32_t header[6], rwkv_error *error) {
    rwkv__reader r;
    size_t total = 0, capacity = 0;
    unsigned char *out;
    int pass, i;
    for (i = 0; i < 6; i++) header[i] = rwkv__le32(data + 4 * i);
    m->version = 4;
    if (header[1] != 100 && header[1] != 101)
        return rwkv__fail(error, RWKV_ERROR_UNSUPPORTED,
                          "rwkv.cpp file version %u (only 100 and 101 are read)", header[1]);
    /* pass 0 validates and counts; pass 1 copies */
    for (pass = 0; pass < 2; pass++) {
        r.data = data;
        r.size = size;
        r.pos = 24;
        r.bad = 0;
        out = pass ? (unsigned char *)rwkv__align32(m->owned_data) : NULL;
        m->n_tensors = 0;
        while (r.pos < size) {
            uint32_t n_dims = rwkv__read_u32(&r), key_len = rwkv__read_u32(&r);
            uint32_t bin_type = rwkv__read_u32(&r), d;
            int64_t ne[4] = {1, 1, 1, 1};
            char name[RWKV__NAME_MAX];
            const unsigned char *key, *bytes;
            rwkv__tensor t;
            rwkv_result res;
            for (d = 0; d < n_dims && d < 4; d++) ne[d] = (int32_t)rwkv__read_u32(&r);
            if (r.bad || n_dims < 1 || n_dims > 3 || key_len == 0 || key_len >= RWKV__NAME_MAX)
                return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                                  "rwkv.cpp file: tensor header %d is malformed or truncated",
                                  m->n_tensors);
            key = rwkv__take(&r, key_len);
            if (!key)
                return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "rwkv.cpp file: truncated name");
            memcpy(name, key, key_len);
            name[key_len] = 0;
            if (strlen(name) != key_len)
                return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "rwkv.cpp file: NUL in a name");
            /* the version shows in the names (rwkv.cpp's own rule) */
            if (pass == 0) {
                if (rwkv__contains(name, ".att.r_k")) m->version = 7;
                else if (rwkv__contains(name, ".att.time_maa_x") && m->version < 6) m->version = 6;
                else if (rwkv__contains(name, ".att.ln_x") && m->version < 5) m->version = 5;
            }
            memset(&t, 0, sizeof(t));
            if (!rwkv__bin_rename(name, t.name))
                return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                                  "rwkv.cpp file: unexpected tensor %s", name);
            t.type = rwkv__bin_type(bin_type);
            if (t.type < 0)
                return rwkv__fail(error, RWKV_ERROR_UNSUPPORTED,
                                  "tensor %s: rwkv.cpp data type %u is not supported", name,
                                  bin_type);
            if (header[1] == 100 && t.type != RWKV_TYPE_F32 && t.type != RWKV_TYPE_F16)
                return rwkv__fail(error, RWKV_ERROR_UNSUPPORTED,
                                  "tensor %s: quantized rwkv.cpp files of version 100 use "
                                  "ggml's old block layout; quantize again with rwkv.cpp",
                                  name);
            t.n_dims = (int)n_dims;
            memcpy(t.ne, ne, sizeof(ne));
            res = rwkv__check_tensor(&t, error);
            if (res) return res;
            bytes = rwkv__take(&r, t.n_bytes);
            if (!bytes)
                return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                                  "tensor %s: data truncated (%zu bytes expected)", name,
                                  t.n_bytes);
            if (pass == 0) {
                size_t padded = (t.n_bytes + 31u) & ~(size_t)31u;
                if (padded < t.n_bytes || total > SIZE_MAX - padded - 64)
                    return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "rwkv.cpp file too large");
                total += padded;
                if (m->n_tensors >= RWKV__MAX_TENSORS)
                    return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "too many tensors");
            } else {
                memcpy(out, bytes, t.n_bytes);
                t.data = out;
                if (strstr(t.name, "time_mix_decay.") && m->version <= 5) {
                    /* rwkv.cpp stored v4's -exp(td) and v5's exp(-exp(td));
                       keep the raw td, as GGUF does */
                    float *v = (float *)(void *)out;
                    int64_t j, n = t.ne[0] * t.ne[1] * t.ne[2];
                    if (t.type != RWKV_TYPE_F32)
                        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                                          "tensor %s: expected f32", name);
                    for (j = 0; j < n; j++) {
                        if (m->version == 4 ? !(v[j] < 0.0f) : !(v[j] > 0.0f && v[j] < 1.0f))
                            return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                                              "tensor %s: decay out of range", name);
                        v[j] = m->version == 4 ? logf(-v[j]) : logf(-logf(v[j]));
                    }
                }
                out += (t.n_bytes + 31u) & ~(size_t)31u;
                m->tensors[m->n_tensors] = t;
            }
            m->n_tensors++;
        }
        if (pass == 0) {
            capacity = total + 32;
            m->owned_data = RWKV_MALLOC(capacity);
            m->tensors = (rwkv__tensor *)rwkv__calloc((size_t)m->n_tensors + 1, sizeof(rwkv__tensor));
            if (!m->owned_data || !m->tensors)
                return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
        }
    }
    return RWKV_OK;
}

/* ---- Loading: from tensors to the model ---------------------------------- */

static rwkv_result rwkv__tokenizer_from_gguf(const rwkv__gguf *g, int n_vocab,
                                             rwkv_tokenizer **out, rwkv_error *error);

static rwkv_result rwkv__missing(const char *name, rwkv_error *error) {
    return rwkv__fail(error, RWKV_ERROR_SHAPE, "tensor %s is missing", name);
}

/* A per-channel vector of n floats, copied (and converted) into the
   model's vector arena at *cursor. */
static rwkv_result rwkv__load_vector(rwkv_model *m, const char *name, int n, float **cursor,
                                     const float **out, rwkv_error *error) {
    const rwkv__tensor *t = rwkv__find_tensor(m, name);
    const unsigned char *p;
    float *v = *cursor;
    int i;
    if (!t) return rwkv__missing(name, error);
    /* a vector may come in any shape ((1,1,C), (H,N), ...): count elements */
    if (t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3] != n)
        return rwkv__fail(error, RWKV_ERROR_SHAPE, "tensor %s: expected %d values, got %lldx%lldx%lld",
                          name, n, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2]);
    p = (const unsigned char *)t->data;
    for (i = 0; i < n; i++) {
        if (t->type == RWKV_TYPE_F32) memcpy(&v[i], p + 4 * i, 4);
        else if (t->type == RWKV_TYPE_F16) v[i] = rwkv__f16_to_f32(rwkv__le16(p + 2 * i));
        else if (t->type == RWKV_TYPE_BF16) v[i] = rwkv__bf16_to_f32(rwkv__le16(p + 2 * i));
        else
            return rwkv__fail(error, RWKV_ERROR_UNSUPPORTED,
                              "tensor %s: vectors must be f32, f16 or bf16, not %s", name,
                              rwkv_type_name(t->type));
    }
    *out = v;
    *cursor += n;
    return RWKV_OK;
}

static rwkv_result rwkv__load_matrix(rwkv_model *m, const char *name, int n_in, int n_out,
                                     rwkv__matrix *out, rwkv_error *error) {
    const rwkv__tensor *t = rwkv__find_tensor(m, name);
    if (!t) return rwkv__missing(name, error);
    if (t->ne[0] != n_in || t->ne[1] != n_out || t->ne[2] * t->ne[3] != 1)
        return rwkv__fail(error, RWKV_ERROR_SHAPE, "tensor %s: expected %dx%d, got %lldx%lld",
                          name, n_in, n_out, (long long)t->ne[0], (long long)t->ne[1]);
    out->data = (const unsigned char *)t->data;
    out->type = t->type;
    out->n_in = n_in;
    out->n_out = n_out;
    out->row_bytes = rwkv_type_size(t->type, (uint64_t)n_in);
    return RWKV_OK;
}

/* FNV-1a over the tensors' names, shapes and some of their bytes: enough
   to tell two models apart when a saved state is imported. */
static uint64_t rwkv__fingerprint(const rwkv_model *m) {
    uint64_t h = 1469598103934665603ull;
    int i;
    size_t j;
    for (i = 0; i < m->n_tensors; i++) {
        const rwkv__tensor *t = &m->tensors[i];
        const unsigned char *p = (const unsigned char *)t->data;
        size_t n = t->n_bytes < 64 ? t->n_bytes : 64;
        for (j = 0; t->name[j]; j++) h = (h ^ (unsigned char)t->name[j]) * 1099511628211ull;
        for (j = 0; j < 4; j++) h = (h ^ (uint64_t)t->ne[j]) * 1099511628211ull;
        h = (h ^ (uint64_t)t->type) * 1099511628211ull;
        for (j = 0; j < n; j++) h = (h ^ p[j]) * 1099511628211ull;
        for (j = 0; j < n; j++) h = (h ^ p[t->n_bytes - 1 - j]) * 1099511628211ull;
    }
    return h;
}

static void rwkv__layer_name(char *out, int layer, const char *suffix) {
    char num[8];
    int n = 0;
    do {
        num[n++] = (char)('0' + layer % 10);
        layer /= 10;
    } while (layer);
    strcpy(out, "blk.");
    out += 4;
    while (n) *out++ = num[--n];
    *out++ = '.';
    strcpy(out, suffix);
}

/* A LoRA-style matrix whose output size the file decides: (?, n_in). */
static rwkv_result rwkv__load_lora(rwkv_model *m, const char *name, int n_in, rwkv__matrix *out,
                                   rwkv_error *error) {
    const rwkv__tensor *t = rwkv__find_tensor(m, name);
    if (!t) return rwkv__missing(name, error);
    if (t->ne[1] < 1 || t->ne[1] > RWKV_MAX_EMBD)
        return rwkv__fail(error, RWKV_ERROR_SHAPE, "tensor %s: bad rank", name);
    if (t->ne[1] > m->max_lora) m->max_lora = (int)t->ne[1];
    return rwkv__load_matrix(m, name, n_in, (int)t->ne[1], out, error);
}

/* v5.1 keeps one decay and bonus per head: expand them to channels. */
static rwkv_result rwkv__load_head_vector(rwkv_model *m, const char *name, float **cursor,
                                          const float **out, rwkv_error *error) {
    const rwkv__tensor *t = rwkv__find_tensor(m, name);
    int C = m->n_embd, H = m->n_head, i;
    rwkv_result res;
    if (t && t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3] == H && H != C) {
        float *v = *cursor;
        res = rwkv__load_vector(m, name, H, cursor, out, error);
        if (res) return res;
        for (i = C; i-- > 0;) v[i] = v[i / m->head_size];
        *cursor = v + C;
        return RWKV_OK;
    }
    return rwkv__load_vector(m, name, C, cursor, out, error);
}

/* The head size: from the metadata, else from the shape of the bonus u
   (v5, v6: (H,N) or one value per head) or of r_k (v7: (H,N)). */
static rwkv_result rwkv__find_head_size(rwkv_model *m, rwkv_error *error) {
    int C = m->n_embd;
    if (!m->head_size) {
        const rwkv__tensor *t = rwkv__find_tensor(m, m->version == 7 ? "blk.0.time_mix_r_k.weight"
                                                                     : "blk.0.time_mix_first.weight");
        int64_t n;
        if (!t) return rwkv__missing("blk.0.time_mix_first.weight (or r_k)", error);
        n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        if (n == C) m->head_size = (int)(t->ne[0] > 1 ? t->ne[0] : t->ne[1]);
        else if (n > 0 && C % n == 0) m->head_size = (int)(C / n);
    }
    if (m->head_size < 1 || C % m->head_size)
        return rwkv__fail(error, RWKV_ERROR_SHAPE, "head size %d does not divide n_embd %d",
                          m->head_size, C);
    m->n_head = C / m->head_size;
    return RWKV_OK;
}

/* Find every tensor of the model's version, check its shape, and fill in
   the layer table. */
static rwkv_result rwkv__build(rwkv_model *m, rwkv_error *error) {
    const rwkv__tensor *emb = rwkv__find_tensor(m, "token_embd.weight"), *ffn_key;
    int C, F, L = m->n_layer, V = m->version, i, j;
    float *cursor;
    rwkv_result res = RWKV_OK;
    char name[RWKV__NAME_MAX];
    if (!emb) return rwkv__missing("token_embd.weight", error);
    if (emb->n_dims != 2 || emb->ne[0] > RWKV_MAX_EMBD || emb->ne[1] > RWKV_MAX_VOCAB)
        return rwkv__fail(error, RWKV_ERROR_SHAPE,
                          "tensor token_embd.weight: %lldx%lld is not a supported size",
                          (long long)emb->ne[0], (long long)emb->ne[1]);
    /* sizes the file states (metadata, header) win over the tensors', so
       that a misshapen tensor is the one named in the error */
    if (!m->n_embd) m->n_embd = (int)emb->ne[0];
    if (!m->n_vocab) m->n_vocab = (int)emb->ne[1];
    C = m->n_embd;
    if (L < 1 || L > RWKV_MAX_LAYERS)
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "%d layers is not a supported count", L);
    ffn_key = rwkv__find_tensor(m, "blk.0.channel_mix_key.weight");
    if (!ffn_key) return rwkv__missing("blk.0.channel_mix_key.weight", error);
    if (!m->n_ffn) m->n_ffn = (int)ffn_key->ne[1];
    if (m->n_ffn < 1 || m->n_ffn > 16 * RWKV_MAX_EMBD)
        return rwkv__fail(error, RWKV_ERROR_SHAPE, "tensor blk.0.channel_mix_key.weight: bad size");
    F = m->n_ffn;
    if (V >= 5) {
        res = rwkv__find_head_size(m, error);
        if (res) return res;
    }
    if (V == 5) m->version_minor = rwkv__find_tensor(m, "blk.0.time_mix_gate.weight") ? 2 : 1;

    m->layers = (rwkv__layer *)rwkv__calloc((size_t)L, sizeof(rwkv__layer));
    /* at most 24 vectors a layer (v7 has 19), and 4 outside the layers */
    m->vectors = (float *)rwkv__calloc((size_t)(4 + 24 * L), (size_t)C * sizeof(float));
    if (!m->layers || !m->vectors) return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    cursor = m->vectors;
#define RWKV__TRY(call)      \
    do {                     \
        res = (call);        \
        if (res) return res; \
    } while (0)
    RWKV__TRY(rwkv__load_matrix(m, "token_embd.weight", C, m->n_vocab, &m->embedding, error));
    RWKV__TRY(rwkv__load_vector(m, "token_embd_norm.weight", C, &cursor, &m->ln0_weight, error));
    RWKV__TRY(rwkv__load_vector(m, "token_embd_norm.bias", C, &cursor, &m->ln0_bias, error));
    RWKV__TRY(rwkv__load_vector(m, "output_norm.weight", C, &cursor, &m->ln_out_weight, error));
    RWKV__TRY(rwkv__load_vector(m, "output_norm.bias", C, &cursor, &m->ln_out_bias, error));
    RWKV__TRY(rwkv__load_matrix(m, "output.weight", C, m->n_vocab, &m->head, error));
    for (i = 0; i < L; i++) {
        rwkv__layer *l = &m->layers[i];
        const float *fused;
        float *first = cursor;
        int c;
#define RWKV__NAME(suffix) (rwkv__layer_name(name, i, suffix), name)
#define RWKV__VECTOR(suffix, field) rwkv__load_vector(m, RWKV__NAME(suffix), C, &cursor, &l->field, error)
#define RWKV__MATRIX(suffix, n_in, n_out, field) \
    rwkv__load_matrix(m, RWKV__NAME(suffix), n_in, n_out, &l->field, error)
        RWKV__TRY(RWKV__VECTOR("attn_norm.weight", ln1_weight));
        RWKV__TRY(RWKV__VECTOR("attn_norm.bias", ln1_bias));
        RWKV__TRY(RWKV__VECTOR("attn_norm_2.weight", ln2_weight));
        RWKV__TRY(RWKV__VECTOR("attn_norm_2.bias", ln2_bias));
        RWKV__TRY(RWKV__MATRIX("time_mix_key.weight", C, C, att_key));
        RWKV__TRY(RWKV__MATRIX("time_mix_value.weight", C, C, att_value));
        RWKV__TRY(RWKV__MATRIX("time_mix_receptance.weight", C, C, att_receptance));
        RWKV__TRY(RWKV__MATRIX("time_mix_output.weight", C, C, att_output));
        RWKV__TRY(RWKV__MATRIX("channel_mix_key.weight", C, F, ffn_key));
        RWKV__TRY(RWKV__MATRIX("channel_mix_value.weight", F, C, ffn_value));
        RWKV__TRY(RWKV__VECTOR("channel_mix_lerp_k.weight", ffn_mix_k));
        if (V <= 6) {
            RWKV__TRY(RWKV__VECTOR("channel_mix_lerp_r.weight", ffn_mix_r));
            RWKV__TRY(RWKV__MATRIX("channel_mix_receptance.weight", C, C, ffn_receptance));
        }
        if (V >= 5) {
            RWKV__TRY(RWKV__VECTOR("time_mix_ln.weight", att_ln_x_weight));
            RWKV__TRY(RWKV__VECTOR("time_mix_ln.bias", att_ln_x_bias));
        }
        if (V == 4 || V == 5) {
            RWKV__TRY(RWKV__VECTOR("time_mix_lerp_k.weight", att_mix_k));
            RWKV__TRY(RWKV__VECTOR("time_mix_lerp_v.weight", att_mix_v));
            RWKV__TRY(RWKV__VECTOR("time_mix_lerp_r.weight", att_mix_r));
        }
        if (V == 4) {
            float *decay = cursor;
            RWKV__TRY(RWKV__VECTOR("time_mix_decay.weight", att_decay));
            for (c = 0; c < C; c++) decay[c] = -expf(decay[c]);
            RWKV__TRY(RWKV__VECTOR("time_mix_first.weight", att_first));
        } else if (V == 5 || V == 6) {
            float *decay = cursor;
            RWKV__TRY(rwkv__load_head_vector(m, RWKV__NAME("time_mix_decay.weight"), &cursor,
                                             &l->att_decay, error));
            if (V == 5) /* v6's decay depends on the token: computed per step */
                for (c = 0; c < C; c++) decay[c] = expf(-expf(decay[c]));
            first = cursor;
            RWKV__TRY(rwkv__load_head_vector(m, RWKV__NAME("time_mix_first.weight"), &cursor,
                                             &l->att_first, error));
            (void)first;
            if (V == 6 || m->version_minor == 2) {
                RWKV__TRY(RWKV__MATRIX("time_mix_gate.weight", C, C, att_gate));
                if (V == 5) RWKV__TRY(RWKV__VECTOR("time_mix_lerp_g.weight", att_mix_g));
            }
        }
        if (V == 6) {
            static const char *const maa[5] = {"time_mix_lerp_w.weight", "time_mix_lerp_k.weight",
                                               "time_mix_lerp_v.weight", "time_mix_lerp_r.weight",
                                               "time_mix_lerp_g.weight"};
            const rwkv__tensor *w2;
            int D;
            RWKV__TRY(RWKV__VECTOR("time_mix_lerp_x.weight", att_maa_x));
            if (rwkv__find_tensor(m, RWKV__NAME("time_mix_lerp_fused.weight"))) {
                RWKV__TRY(rwkv__load_vector(m, name, 5 * C, &cursor, &fused, error));
                for (j = 0; j < 5; j++) l->att_maa[j] = fused + j * C;
            } else {
                for (j = 0; j < 5; j++) RWKV__TRY(RWKV__VECTOR(maa[j], att_maa[j]));
            }
            RWKV__TRY(rwkv__load_lora(m, RWKV__NAME("time_mix_w1.weight"), C, &l->att_maa_w1, error));
            if (l->att_maa_w1.n_out % 5)
                return rwkv__fail(error, RWKV_ERROR_SHAPE, "tensor %s: rank not a multiple of 5", name);
            D = l->att_maa_w1.n_out / 5;
            w2 = rwkv__find_tensor(m, RWKV__NAME("time_mix_w2.weight"));
            if (!w2) return rwkv__missing(name, error);
            if (w2->ne[0] != D || w2->ne[1] != C || w2->ne[2] != 5 || w2->ne[3] != 1)
                return rwkv__fail(error, RWKV_ERROR_SHAPE, "tensor %s: expected %dx%dx5", name, D, C);
            for (j = 0; j < 5; j++) {
                rwkv__matrix *mw = &l->att_maa_w2[j];
                mw->type = w2->type;
                mw->n_in = D;
                mw->n_out = C;
                mw->row_bytes = rwkv_type_size(w2->type, (uint64_t)D);
                mw->data = (const unsigned char *)w2->data + (size_t)j * (size_t)C * mw->row_bytes;
            }
            RWKV__TRY(rwkv__load_lora(m, RWKV__NAME("time_mix_decay_w1.weight"), C, &l->att_decay_w1, error));
            RWKV__TRY(RWKV__MATRIX("time_mix_decay_w2.weight", l->att_decay_w1.n_out, C, att_decay_w2));
        }
        if (V == 7) {
            RWKV__TRY(rwkv__load_vector(m, RWKV__NAME("time_mix_lerp_fused.weight"), 6 * C, &cursor,
                                        &fused, error));
            for (j = 0; j < 6; j++) l->att_lerp[j] = fused + j * C;
            RWKV__TRY(RWKV__VECTOR("time_mix_w0.weight", att_w0));
            RWKV__TRY(RWKV__VECTOR("time_mix_a0.weight", att_a0));
            RWKV__TRY(RWKV__VECTOR("time_mix_k_k.weight", att_k_k));
            RWKV__TRY(RWKV__VECTOR("time_mix_k_a.weight", att_k_a));
            RWKV__TRY(RWKV__VECTOR("time_mix_r_k.weight", att_r_k));
            RWKV__TRY(rwkv__load_lora(m, RWKV__NAME("time_mix_w1.weight"), C, &l->att_w1, error));
            RWKV__TRY(RWKV__MATRIX("time_mix_w2.weight", l->att_w1.n_out, C, att_w2));
            RWKV__TRY(rwkv__load_lora(m, RWKV__NAME("time_mix_a1.weight"), C, &l->att_a1, error));
            RWKV__TRY(RWKV__MATRIX("time_mix_a2.weight", l->att_a1.n_out, C, att_a2));
            RWKV__TRY(rwkv__load_lora(m, RWKV__NAME("time_mix_g1.weight"), C, &l->att_g1, error));
            RWKV__TRY(RWKV__MATRIX("time_mix_g2.weight", l->att_g1.n_out, C, att_g2));
            if (i > 0) { /* layer 0's value residual is the identity: no v0/v1/v2 */
                RWKV__TRY(RWKV__VECTOR("time_mix_v0.weight", att_v0));
                RWKV__TRY(rwkv__load_lora(m, RWKV__NAME("time_mix_v1.weight"), C, &l->att_v1, error));
                RWKV__TRY(RWKV__MATRIX("time_mix_v2.weight", l->att_v1.n_out, C, att_v2));
            }
        }
#undef RWKV__NAME
#undef RWKV__VECTOR
#undef RWKV__MATRIX
    }
#undef RWKV__TRY
    return RWKV_OK;
}

static rwkv__tensor *rwkv__find_unsorted(rwkv_model *m, const char *name) {
    int i;
    for (i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

static void rwkv__set_shape(rwkv__tensor *t, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3) {
    t->n_dims = n_dims;
    t->ne[0] = ne0, t->ne[1] = ne1, t->ne[2] = ne2, t->ne[3] = ne3;
}

/* Give the tensors of an rwkv.cpp file llama.cpp's exact GGUF layout, so
   that converting writes files llama.cpp loads: vectors flattened to {C}
   (v5/v6 bonus {N,H}), v6's five lerps fused into one {C,1,1,5} tensor, v7's
   fused lerps as {C,1,1,6}, and v7 layer 0's unused value-residual tensors
   written as copies of a0/a1/a2, as llama.cpp's converter does. */
static rwkv_result rwkv__bin_llama_layout(rwkv_model *m, rwkv_error *error) {
    static const char *const flat[] = {"time_mix_decay.weight", "time_mix_w0.weight", "time_mix_a0.weight",
                                       "time_mix_v0.weight", "time_mix_k_k.weight", "time_mix_k_a.weight",
                                       "time_mix_r_k.weight", "time_mix_lerp_x.weight"};
    static const char *const lerps[5] = {"time_mix_lerp_w.weight", "time_mix_lerp_k.weight",
                                         "time_mix_lerp_v.weight", "time_mix_lerp_r.weight",
                                         "time_mix_lerp_g.weight"};
    static const char *const alias[3][2] = {{"time_mix_v0.weight", "time_mix_a0.weight"},
                                            {"time_mix_v1.weight", "time_mix_a1.weight"},
                                            {"time_mix_v2.weight", "time_mix_a2.weight"}};
    const int L = m->n_layer;
    char name[RWKV__NAME_MAX];
    rwkv__tensor *t, *grown;
    int i, j, n;
    size_t k;
    if (m->version < 5 || L < 1) return RWKV_OK;
    /* room for the fused and aliased tensors */
    grown = (rwkv__tensor *)RWKV_REALLOC(m->tensors, ((size_t)m->n_tensors + (size_t)L + 4) * sizeof(rwkv__tensor));
    if (!grown) return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    m->tensors = grown;
    if (m->version == 6) {
        m->owned_extra = rwkv__calloc((size_t)L * 5, (size_t)m->n_embd * sizeof(float));
        if (!m->owned_extra) return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    }
    for (i = 0; i < L; i++) {
        for (k = 0; k < sizeof(flat) / sizeof(flat[0]); k++) {
            rwkv__layer_name(name, i, flat[k]);
            if ((t = rwkv__find_unsorted(m, name)) != NULL)
                rwkv__set_shape(t, 1, t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3], 1, 1, 1);
        }
        rwkv__layer_name(name, i, "time_mix_first.weight"); /* (H,N) in PyTorch: {N,H} */
        if ((t = rwkv__find_unsorted(m, name)) != NULL && t->n_dims == 3 && t->ne[0] == 1)
            rwkv__set_shape(t, 2, t->ne[1], t->ne[2], 1, 1);
        else if (t)
            rwkv__set_shape(t, 1, t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3], 1, 1, 1);
        rwkv__layer_name(name, i, "time_mix_lerp_fused.weight");
        if (m->version == 7 && (t = rwkv__find_unsorted(m, name)) != NULL)
            rwkv__set_shape(t, 4, t->ne[0], 1, 1, t->ne[1] * t->ne[2] * t->ne[3]);
        if (m->version == 6) {
            float *fused = (float *)m->owned_extra + (size_t)i * 5 * (size_t)m->n_embd;
            for (j = 0; j < 5; j++) {
                rwkv__layer_name(name, i, lerps[j]);
                t = rwkv__find_unsorted(m, name);
                if (!t || t->type != RWKV_TYPE_F32 || t->ne[0] * t->ne[1] * t->ne[2] != m->n_embd)
                    return rwkv__fail(error, RWKV_ERROR_SHAPE, "tensor %s is missing or misshapen", name);
                memcpy(fused + (size_t)j * (size_t)m->n_embd, t->data, sizeof(float) * (size_t)m->n_embd);
                *t = m->tensors[--m->n_tensors]; /* drop it */
            }
            t = &m->tensors[m->n_tensors++];
            memset(t, 0, sizeof(*t));
            rwkv__layer_name(t->name, i, "time_mix_lerp_fused.weight");
            t->type = RWKV_TYPE_F32;
            rwkv__set_shape(t, 4, m->n_embd, 1, 1, 5);
            t->data = fused;
            t->n_bytes = 5 * sizeof(float) * (size_t)m->n_embd;
        }
    }
    if (m->version == 7)
        for (n = 0; n < 3; n++) {
            rwkv__layer_name(name, 0, alias[n][0]);
            if (rwkv__find_unsorted(m, name)) continue;
            rwkv__layer_name(name, 0, alias[n][1]);
            if (!(t = rwkv__find_unsorted(m, name))) return rwkv__missing(name, error);
            m->tensors[m->n_tensors] = *t;
            rwkv__layer_name(m->tensors[m->n_tensors++].name, 0, alias[n][0]);
        }
    return RWKV_OK;
}

/* Parse a buffer (GGUF or .bin) into m and build the model. */
static rwkv_result rwkv__model_parse(rwkv_model *m, const unsigned char *data, size_t size,
                                     rwkv_error *error) {
    rwkv__gguf g;
    rwkv_result res;
    int i;
    memset(&g, 0, sizeof(g));
    m->file_bytes = size;
    if (size >= 4 && rwkv__le32(data) == 0x46554747u) {
        size_t len;
        const char *arch;
        uint32_t n_layer = 0, value;
        m->format = "gguf";
        res = rwkv__gguf_parse(m, &g, data, size, error);
        if (res) goto done;
        arch = rwkv__gguf_get_string(&g, "general.architecture", &len);
        if (!arch) {
            res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "GGUF has no general.architecture");
            goto done;
        }
        for (i = 4; i <= 7; i++) {
            char key[48] = "rwkvN";
            key[4] = (char)('0' + i);
            if (!rwkv__gguf_string_is(&g, "general.architecture", key)) continue;
            m->version = i;
            strcpy(key + 5, ".block_count");
            if (!rwkv__gguf_get_u32(&g, key, &n_layer) || n_layer > RWKV_MAX_LAYERS) {
                res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "GGUF %s missing or bad", key);
                goto done;
            }
            strcpy(key + 5, ".embedding_length");
            if (rwkv__gguf_get_u32(&g, key, &value)) {
                if (value < 1 || value > RWKV_MAX_EMBD) {
                    res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "GGUF %s is %u", key, value);
                    goto done;
                }
                m->n_embd = (int)value;
            }
            strcpy(key + 5, ".feed_forward_length");
            if (rwkv__gguf_get_u32(&g, key, &value)) {
                if (value < 1 || value > 16u * RWKV_MAX_EMBD) {
                    res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "GGUF %s is %u", key, value);
                    goto done;
                }
                m->n_ffn = (int)value;
            }
            strcpy(key + 5, ".wkv.head_size");
            if (rwkv__gguf_get_u32(&g, key, &value) && value <= RWKV_MAX_EMBD)
                m->head_size = (int)value;
            strcpy(key + 5, ".rescale_every_n_layers");
            if (rwkv__gguf_get_u32(&g, key, &value) && value <= RWKV_MAX_LAYERS)
                m->rescale_every = (int)value;
        }
        if (!m->version) {
            char name[32];
            size_t n = len < sizeof(name) - 1 ? len : sizeof(name) - 1;
            memcpy(name, arch, n);
            name[n] = 0;
            res = rwkv__fail(error, RWKV_ERROR_UNSUPPORTED,
                             "GGUF architecture \"%s\" is not supported (rwkv4 to rwkv7 are)",
                             name);
            goto done;
        }
        m->n_layer = (int)n_layer;
    } else if (size >= 24 && rwkv__le32(data) == 0x67676d66u) {
        uint32_t header[6];
        m->format = "rwkv.cpp";
        res = rwkv__bin_parse(m, data, size, header, error);
        if (res) goto done;
        m->n_layer = header[4] > RWKV_MAX_LAYERS ? -1 : (int)header[4];
        if (header[2] < 1 || header[2] > RWKV_MAX_VOCAB || header[3] < 1 || header[3] > RWKV_MAX_EMBD) {
            res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "rwkv.cpp header: absurd sizes");
            goto done;
        }
        m->n_vocab = (int)header[2];
        m->n_embd = (int)header[3];
        res = rwkv__bin_llama_layout(m, error);
        if (res) goto done;
    } else {
        res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                         "not a GGUF or rwkv.cpp model (unknown magic)");
        goto done;
    }
    qsort(m->tensors, (size_t)m->n_tensors, sizeof(rwkv__tensor), rwkv__tensor_compare);
    for (i = 1; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i - 1].name, m->tensors[i].name)) {
            res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "tensor %s appears twice",
                             m->tensors[i].name);
            goto done;
        }
    res = rwkv__build(m, error);
    if (res) goto done;
    if (!strcmp(m->format, "gguf")) res = rwkv__tokenizer_from_gguf(&g, m->n_vocab, &m->tokenizer, error);
    else if (m->n_vocab == 256) res = rwkv_tokenizer_create_bytes(&m->tokenizer, error);
    if (res) goto done;
    m->fingerprint = rwkv__fingerprint(m);
done:
    RWKV_FREE(g.kv);
    return res;
}

RWKVDEF void rwkv_model_free(rwkv_model *model) {
    if (!model) return;
#ifdef RWKV__HAVE_MMAP
    if (model->mapped) munmap(model->mapped, model->mapped_size);
#endif
    rwkv_tokenizer_free(model->tokenizer);
    RWKV_FREE(model->read_buffer);
    RWKV_FREE(model->owned_data);
    RWKV_FREE(model->owned_extra);
    RWKV_FREE(model->vectors);
    RWKV_FREE(model->layers);
    RWKV_FREE(model->tensors);
    RWKV_FREE(model);
}

static rwkv_result rwkv__model_finish(rwkv_model *m, const unsigned char *data, size_t size,
                                      rwkv_model **out, rwkv_error *error) {
    rwkv_result res = rwkv__model_parse(m, data, size, error);
    if (res) {
        rwkv_model_free(m);
        return res;
    }
    *out = m;
    rwkv__ok(error);
    return RWKV_OK;
}

RWKVDEF rwkv_result rwkv_model_load_memory(rwkv_model **model, const void *data, size_t size,
                                           rwkv_error *error) {
    rwkv_model *m;
    const unsigned char *bytes = (const unsigned char *)data;
    if (!model || (!data && size)) return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL argument");
    *model = NULL;
    m = (rwkv_model *)rwkv__calloc(1, sizeof(rwkv_model));
    if (!m) return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    if ((uintptr_t)data % 32 && size >= 4 && rwkv__le32(bytes) == 0x46554747u) {
        /* weights must be aligned for the kernels: work on an aligned copy */
        m->read_buffer = RWKV_MALLOC(size + 32);
        if (!m->read_buffer) {
            rwkv_model_free(m);
            return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
        }
        bytes = (const unsigned char *)memcpy(rwkv__align32(m->read_buffer), data, size);
    }
    return rwkv__model_finish(m, bytes, size, model, error);
}

#ifndef RWKV_NO_STDIO
RWKVDEF rwkv_result rwkv_model_load_file(rwkv_model **model, const char *path,
                                         rwkv_error *error) {
    rwkv_model *m;
    unsigned char *data = NULL;
    size_t size = 0;
    if (!model || !path) return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL argument");
    *model = NULL;
    m = (rwkv_model *)rwkv__calloc(1, sizeof(rwkv_model));
    if (!m) return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
#ifdef RWKV__HAVE_MMAP
    {
        int fd = open(path, O_RDONLY);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0 &&
            (uint64_t)st.st_size <= (uint64_t)SIZE_MAX) {
            void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p != MAP_FAILED) {
                m->mapped = p;
                m->mapped_size = size = (size_t)st.st_size;
                data = (unsigned char *)p;
            }
        }
        if (fd >= 0) close(fd);
    }
#endif
    if (!data) {
        FILE *f = fopen(path, "rb");
        long len;
        if (!f) {
            rwkv_model_free(m);
            return rwkv__fail(error, RWKV_ERROR_IO, "%s: cannot open", path);
        }
        if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
            !(m->read_buffer = RWKV_MALLOC((size_t)len + 32))) {
            fclose(f);
            rwkv_model_free(m);
            return rwkv__fail(error, RWKV_ERROR_IO, "%s: cannot read", path);
        }
        size = (size_t)len;
        data = (unsigned char *)rwkv__align32(m->read_buffer);
        if (fread(data, 1, size, f) != size) {
            fclose(f);
            rwkv_model_free(m);
            return rwkv__fail(error, RWKV_ERROR_IO, "%s: cannot read", path);
        }
        fclose(f);
    }
    {
        rwkv_result res = rwkv__model_finish(m, data, size, model, error);
        if (res) {
            if (error) { /* prefix the file name to the reason */
                char reason[sizeof(error->message)];
                memcpy(reason, error->message, sizeof(reason));
                rwkv__fail(error, res, "%s: %s", path, reason);
            }
            return res;
        }
    }
    if (strcmp((*model)->format, "gguf") && (*model)->mapped) {
        /* .bin tensors were copied: the mapping is no longer needed */
#ifdef RWKV__HAVE_MMAP
        munmap((*model)->mapped, (*model)->mapped_size);
#endif
        (*model)->mapped = NULL;
    }
    return RWKV_OK;
}
#endif

RWKVDEF void rwkv_model_get_info(const rwkv_model *m, rwkv_model_info *info) {
    int i, t;
    size_t n = 0;
    memset(info, 0, sizeof(*info));
    if (!m) return;
    info->version = m->version;
    info->version_minor = m->version_minor;
    info->n_layer = m->n_layer;
    info->n_embd = m->n_embd;
    info->n_vocab = m->n_vocab;
    info->n_ffn = m->n_ffn;
    info->n_head = m->n_head;
    info->head_size = m->head_size;
    info->rescale_every_n_layers = m->rescale_every;
    info->state_floats = rwkv__layer_state_floats(m) * (size_t)m->n_layer;
    info->state_blob_size = 48 + 4 * info->state_floats;
    info->file_bytes = m->file_bytes;
    info->format = m->format;
    for (i = 0; i < m->n_tensors; i++) info->weight_bytes += m->tensors[i].n_bytes;
    /* the types present, in id order */
    for (t = 0; t < 64; t++) {
        const char *name = rwkv_type_name(t);
        int present = 0;
        for (i = 0; i < m->n_tensors && !present; i++) present = m->tensors[i].type == t;
        if (name && present) {
            size_t len = strlen(name);
            if (n + len + 2 > sizeof(info->tensor_types)) break;
            if (n) info->tensor_types[n++] = ',';
            memcpy(info->tensor_types + n, name, len + 1);
            n += len;
        }
    }
}

RWKVDEF int rwkv_model_n_vocab(const rwkv_model *model) { return model ? model->n_vocab : 0; }

RWKVDEF const rwkv_tokenizer *rwkv_model_tokenizer(const rwkv_model *model) {
    return model ? model->tokenizer : NULL;
}

RWKVDEF int rwkv_model_tensor_count(const rwkv_model *model) { return model ? model->n_tensors : 0; }

RWKVDEF rwkv_result rwkv_model_tensor(const rwkv_model *model, int i, rwkv_tensor_info *info) {
    const rwkv__tensor *t;
    if (!model || !info || i < 0 || i >= model->n_tensors) return RWKV_ERROR_INVALID_ARGUMENT;
    t = &model->tensors[i];
    info->name = t->name;
    info->type = t->type;
    info->n_dims = t->n_dims;
    memcpy(info->ne, t->ne, sizeof(info->ne));
    info->data = t->data;
    info->n_bytes = t->n_bytes;
    return RWKV_OK;
}

/* ---- Kernels: matrix times vectors, one per weight type ------------------ */

/* Each dot product below multiplies one row of a matrix, stored in its
   file type, with a float vector. Quantized rows are sequences of 32-weight
   blocks in ggml's layout: a scale d (and for *_1 types a minimum m), then
   the packed integers; low nibbles are elements 0-15, high nibbles 16-31.
   Every kernel has a plain C version; SIMD versions (AVX2+FMA+F16C) sit
   beside them and must give the same results within float rounding. With
   SIMD compiled in, the plain twins stay for the tests to compare against. */
#if defined(__GNUC__) || defined(__clang__)
#define RWKV__KERNEL static __attribute__((unused))
#else
#define RWKV__KERNEL static
#endif

RWKV__KERNEL float rwkv__dot_f32_plain(const unsigned char *row, const float *x, int n) {
    const float *w = (const float *)(const void *)row;
    float sum = 0.0f;
    int i;
    for (i = 0; i < n; i++) sum += w[i] * x[i];
    return sum;
}

RWKV__KERNEL float rwkv__dot_f16_plain(const unsigned char *row, const float *x, int n) {
    float sum = 0.0f;
    int i;
    for (i = 0; i < n; i++) sum += rwkv__f16_to_f32(rwkv__le16(row + 2 * i)) * x[i];
    return sum;
}

RWKV__KERNEL float rwkv__dot_bf16_plain(const unsigned char *row, const float *x, int n) {
    float sum = 0.0f;
    int i;
    for (i = 0; i < n; i++) sum += rwkv__bf16_to_f32(rwkv__le16(row + 2 * i)) * x[i];
    return sum;
}

RWKV__KERNEL float rwkv__dot_q8_0_plain(const unsigned char *row, const float *x, int n) {
    float sum = 0.0f;
    int b, j;
    for (b = 0; b < n / 32; b++, row += 34, x += 32) {
        const signed char *q = (const signed char *)(row + 2);
        float block = 0.0f;
        for (j = 0; j < 32; j++) block += (float)q[j] * x[j];
        sum += rwkv__f16_to_f32(rwkv__le16(row)) * block;
    }
    return sum;
}

/* Q4_0: (q - 8) * d.  Q4_1: q * d + m.  Q5_0: (q - 16) * d.  Q5_1: q * d + m,
   where the fifth bits of a Q5 block's 32 weights are the 32 bits of qh.
   Per block: d * sum(q x) + offset * sum(x), offset = m or -8d or -16d. */
RWKV__KERNEL float rwkv__dot_q4_q5_plain(const unsigned char *row, const float *x, int n, int has_min,
                                   int five_bits) {
    const int block_bytes = 18 + 2 * has_min + 4 * five_bits;
    float sum = 0.0f;
    int b, j;
    for (b = 0; b < n / 32; b++, row += block_bytes, x += 32) {
        const unsigned char *qs = row + 2 + 2 * has_min + 4 * five_bits;
        uint32_t qh = five_bits ? rwkv__le32(row + 2 + 2 * has_min) : 0;
        float d = rwkv__f16_to_f32(rwkv__le16(row));
        float offset = has_min ? rwkv__f16_to_f32(rwkv__le16(row + 2)) : (five_bits ? -16.0f : -8.0f) * d;
        float qx = 0.0f, xsum = 0.0f;
        for (j = 0; j < 16; j++) {
            int lo = (qs[j] & 15) | (int)(((qh >> j) & 1u) << 4);
            int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            qx += (float)lo * x[j] + (float)hi * x[j + 16];
            xsum += x[j] + x[j + 16];
        }
        sum += d * qx + offset * xsum;
    }
    return sum;
}

/* n elements of a row (n a multiple of the block size for quantized
   types) as floats: the embedding lookup, and prefill of quantized rows. */
RWKV__KERNEL void rwkv__dequantize_plain(int type, const unsigned char *r, int n, float *out) {
    int i, j;
    if (type == RWKV_TYPE_F32) {
        memcpy(out, r, sizeof(float) * (size_t)n);
    } else if (type == RWKV_TYPE_F16) {
        for (i = 0; i < n; i++) out[i] = rwkv__f16_to_f32(rwkv__le16(r + 2 * i));
    } else if (type == RWKV_TYPE_BF16) {
        for (i = 0; i < n; i++) out[i] = rwkv__bf16_to_f32(rwkv__le16(r + 2 * i));
    } else if (type == RWKV_TYPE_Q8_0) {
        for (i = 0; i < n / 32; i++, r += 34, out += 32) {
            float d = rwkv__f16_to_f32(rwkv__le16(r));
            for (j = 0; j < 32; j++) out[j] = d * (float)(signed char)r[2 + j];
        }
    } else {
        const int has_min = type == RWKV_TYPE_Q4_1 || type == RWKV_TYPE_Q5_1;
        const int five_bits = type == RWKV_TYPE_Q5_0 || type == RWKV_TYPE_Q5_1;
        const int block_bytes = 18 + 2 * has_min + 4 * five_bits;
        for (i = 0; i < n / 32; i++, r += block_bytes, out += 32) {
            const unsigned char *qs = r + 2 + 2 * has_min + 4 * five_bits;
            uint32_t qh = five_bits ? rwkv__le32(r + 2 + 2 * has_min) : 0;
            float d = rwkv__f16_to_f32(rwkv__le16(r));
            float m = has_min ? rwkv__f16_to_f32(rwkv__le16(r + 2)) : (five_bits ? -16.0f : -8.0f) * d;
            for (j = 0; j < 16; j++) {
                out[j] = d * (float)((qs[j] & 15) | (int)(((qh >> j) & 1u) << 4)) + m;
                out[j + 16] = d * (float)((qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4)) + m;
            }
        }
    }
}

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__) && !defined(RWKV_NO_SIMD)
#define RWKV__AVX2 1
#include <immintrin.h>

static float rwkv__hsum_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float rwkv__dot_f32_avx2(const unsigned char *row, const float *x, int n) {
    const float *w = (const float *)(const void *)row;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    float sum;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    sum = rwkv__hsum_avx2(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) sum += w[i] * x[i];
    return sum;
}

/* 16-bit floats widened 8 at a time: F16C for f16, a shift for bf16. */
static __m256 rwkv__load8_f16(const unsigned char *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}

static __m256 rwkv__load8_bf16(const unsigned char *p) {
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

static float rwkv__dot_half_avx2(const unsigned char *row, const float *x, int n, int bf16) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    float sum;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = bf16 ? rwkv__load8_bf16(row + 2 * i) : rwkv__load8_f16(row + 2 * i);
        __m256 w1 = bf16 ? rwkv__load8_bf16(row + 2 * i + 16) : rwkv__load8_f16(row + 2 * i + 16);
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), a1);
    }
    sum = rwkv__hsum_avx2(_mm256_add_ps(a0, a1));
    for (; i < n; i++)
        sum += (bf16 ? rwkv__bf16_to_f32(rwkv__le16(row + 2 * i)) : rwkv__f16_to_f32(rwkv__le16(row + 2 * i))) * x[i];
    return sum;
}

static float rwkv__dot_f16_avx2(const unsigned char *row, const float *x, int n) {
    return rwkv__dot_half_avx2(row, x, n, 0);
}

static float rwkv__dot_bf16_avx2(const unsigned char *row, const float *x, int n) {
    return rwkv__dot_half_avx2(row, x, n, 1);
}

static float rwkv__dot_q8_0_avx2(const unsigned char *row, const float *x, int n) {
    __m256 acc = _mm256_setzero_ps();
    int b, j;
    for (b = 0; b < n / 32; b++, row += 34, x += 32) {
        __m256 block = _mm256_setzero_ps();
        for (j = 0; j < 32; j += 8) {
            __m128i q = _mm_loadl_epi64((const __m128i *)(const void *)(row + 2 + j));
            __m256 w = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
            block = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + j), block);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(rwkv__f16_to_f32(rwkv__le16(row))), block, acc);
    }
    return rwkv__hsum_avx2(acc);
}

static float rwkv__dot_q4_q5_avx2(const unsigned char *row, const float *x, int n, int has_min,
                                  int five_bits) {
    const int block_bytes = 18 + 2 * has_min + 4 * five_bits;
    const __m256i lane_bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m128i low4 = _mm_set1_epi8(15);
    __m256 acc = _mm256_setzero_ps();
    int b, part;
    for (b = 0; b < n / 32; b++, row += block_bytes, x += 32) {
        const unsigned char *qs = row + 2 + 2 * has_min + 4 * five_bits;
        uint32_t qh = five_bits ? rwkv__le32(row + 2 + 2 * has_min) : 0;
        __m128i packed = _mm_loadu_si128((const __m128i *)(const void *)qs);
        __m128i lo = _mm_and_si128(packed, low4), hi = _mm_and_si128(_mm_srli_epi16(packed, 4), low4);
        float d = rwkv__f16_to_f32(rwkv__le16(row));
        float offset = has_min ? rwkv__f16_to_f32(rwkv__le16(row + 2)) : (five_bits ? -16.0f : -8.0f) * d;
        __m256 qx = _mm256_setzero_ps(), xsum = _mm256_setzero_ps();
        for (part = 0; part < 4; part++) { /* elements 8*part .. 8*part+7 */
            __m128i bytes = part < 2 ? lo : hi;
            __m256i q = _mm256_cvtepu8_epi32(part & 1 ? _mm_srli_si128(bytes, 8) : bytes);
            __m256 xv = _mm256_loadu_ps(x + 8 * part);
            if (five_bits) {
                __m256i bits = _mm256_and_si256(_mm256_set1_epi32((int)(qh >> (8 * part))), lane_bits);
                bits = _mm256_and_si256(_mm256_cmpeq_epi32(bits, lane_bits), _mm256_set1_epi32(16));
                q = _mm256_or_si256(q, bits);
            }
            qx = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), xv, qx);
            xsum = _mm256_add_ps(xsum, xv);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), qx, acc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(offset), xsum, acc);
    }
    return rwkv__hsum_avx2(acc);
}
#endif

#ifdef RWKV__AVX2
static void rwkv__dequantize_avx2(int type, const unsigned char *r, int n, float *out) {
    int i = 0, j;
    if (type == RWKV_TYPE_F16 || type == RWKV_TYPE_BF16) {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(out + i, type == RWKV_TYPE_F16 ? rwkv__load8_f16(r + 2 * i) : rwkv__load8_bf16(r + 2 * i));
        if (i < n) rwkv__dequantize_plain(type, r + 2 * i, n - i, out + i);
    } else if (type == RWKV_TYPE_Q8_0) {
        for (; i < n / 32; i++, r += 34, out += 32) {
            __m256 d = _mm256_set1_ps(rwkv__f16_to_f32(rwkv__le16(r)));
            for (j = 0; j < 32; j += 8) {
                __m128i q = _mm_loadl_epi64((const __m128i *)(const void *)(r + 2 + j));
                _mm256_storeu_ps(out + j, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
            }
        }
    } else if (type != RWKV_TYPE_F32) {
        const int has_min = type == RWKV_TYPE_Q4_1 || type == RWKV_TYPE_Q5_1;
        const int five_bits = type == RWKV_TYPE_Q5_0 || type == RWKV_TYPE_Q5_1;
        const int block_bytes = 18 + 2 * has_min + 4 * five_bits;
        const __m256i lane_bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        const __m128i low4 = _mm_set1_epi8(15);
        for (; i < n / 32; i++, r += block_bytes, out += 32) {
            const unsigned char *qs = r + 2 + 2 * has_min + 4 * five_bits;
            uint32_t qh = five_bits ? rwkv__le32(r + 2 + 2 * has_min) : 0;
            __m128i packed = _mm_loadu_si128((const __m128i *)(const void *)qs);
            __m128i lo = _mm_and_si128(packed, low4), hi = _mm_and_si128(_mm_srli_epi16(packed, 4), low4);
            float dv = rwkv__f16_to_f32(rwkv__le16(r));
            __m256 d = _mm256_set1_ps(dv);
            __m256 m = _mm256_set1_ps(has_min ? rwkv__f16_to_f32(rwkv__le16(r + 2)) : (five_bits ? -16.0f : -8.0f) * dv);
            for (j = 0; j < 4; j++) {
                __m128i bytes = j < 2 ? lo : hi;
                __m256i q = _mm256_cvtepu8_epi32(j & 1 ? _mm_srli_si128(bytes, 8) : bytes);
                if (five_bits) {
                    __m256i bits = _mm256_and_si256(_mm256_set1_epi32((int)(qh >> (8 * j))), lane_bits);
                    q = _mm256_or_si256(q, _mm256_and_si256(_mm256_cmpeq_epi32(bits, lane_bits), _mm256_set1_epi32(16)));
                }
                /* d*q + m, rounded as the plain kernel rounds it */
                _mm256_storeu_ps(out + 8 * j, _mm256_add_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(q)), m));
            }
        }
    } else {
        memcpy(out, r, sizeof(float) * (size_t)n);
    }
}

static void rwkv__dequantize(int type, const unsigned char *r, int n, float *out) {
    rwkv__dequantize_avx2(type, r, n, out);
}
#else
static void rwkv__dequantize(int type, const unsigned char *r, int n, float *out) {
    rwkv__dequantize_plain(type, r, n, out);
}
#endif

/* Integer dot products, as ggml does them: for quantized weights the
   input vector is itself quantized to 8 bits per block of 32 (scale d =
   max|x| / 127), so each block's product is an exact integer sum:
       w.x = sum over blocks of  dw dx sum(qw qx) + offset dx sum(qx)
   with offset = m (Q4_1, Q5_1), -8 dw (Q4_0), -16 dw (Q5_0), 0 (Q8_0). It
   is about twice as fast as decoding weights to floats, but the input's
   rounding moves the logits (by up to ~0.3 on the tiny test models), so
   it is opt-in: rwkv_state_set_quantized_input(). */
typedef struct rwkv__q8_block {
    float d;
    int32_t sum;          /* sum of q */
    signed char q[32];
} rwkv__q8_block;

static void rwkv__quantize_input(const float *x, int n, rwkv__q8_block *out) {
    int b, j;
    for (b = 0; b < n / 32; b++, x += 32, out++) {
        float amax = 0.0f, id;
        int32_t sum = 0;
        for (j = 0; j < 32; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        out->d = amax / 127.0f;
        id = amax > 0.0f ? 127.0f / amax : 0.0f;
        for (j = 0; j < 32; j++) {
            int q = (int)lrintf(x[j] * id);
            out->q[j] = (signed char)q;
            sum += q;
        }
        out->sum = sum;
    }
}

RWKV__KERNEL float rwkv__dot_q8_input_plain(int type, const unsigned char *row,
                                            const rwkv__q8_block *x, int n) {
    const int has_min = type == RWKV_TYPE_Q4_1 || type == RWKV_TYPE_Q5_1;
    const int five_bits = type == RWKV_TYPE_Q5_0 || type == RWKV_TYPE_Q5_1;
    const int block_bytes = (int)rwkv_type_size(type, 32);
    float sum = 0.0f;
    int b, j;
    for (b = 0; b < n / 32; b++, row += block_bytes, x++) {
        float dw = rwkv__f16_to_f32(rwkv__le16(row)), offset;
        int32_t dot = 0;
        if (type == RWKV_TYPE_Q8_0) {
            /* (q + 128) is unsigned; the -128 sum(x) comes back below. Written
               so because GCC 12 with AVX512-VNNI turns the plain signed
               loop into vpdpbusd, which reads the weights as unsigned. */
            for (j = 0; j < 32; j++) dot += (int32_t)(row[2 + j] ^ 0x80u) * x->q[j];
            dot -= 128 * x->sum;
            offset = 0.0f;
        } else {
            const unsigned char *qs = row + 2 + 2 * has_min + 4 * five_bits;
            uint32_t qh = five_bits ? rwkv__le32(row + 2 + 2 * has_min) : 0;
            for (j = 0; j < 16; j++) {
                int lo = (qs[j] & 15) | (int)(((qh >> j) & 1u) << 4);
                int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
                dot += lo * x->q[j] + hi * x->q[j + 16];
            }
            offset = has_min ? rwkv__f16_to_f32(rwkv__le16(row + 2)) : (five_bits ? -16.0f : -8.0f) * dw;
        }
        sum += dw * x->d * (float)dot + offset * x->d * (float)x->sum;
    }
    return sum;
}

#ifdef RWKV__AVX2
/* 32 bits to 32 bytes: 0xff where the bit is set. */
static __m256i rwkv__bits_to_bytes(uint32_t bits) {
    const __m256i spread = _mm256_setr_epi64x(0, 0x0101010101010101ll, 0x0202020202020202ll,
                                              0x0303030303030303ll);
    const __m256i others = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfell); /* all but bit j%8 */
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);
    return _mm256_cmpeq_epi8(_mm256_or_si256(v, others), _mm256_set1_epi64x(-1));
}

static float rwkv__dot_q8_input_avx2(int type, const unsigned char *row, const rwkv__q8_block *x,
                                     int n) {
    const int has_min = type == RWKV_TYPE_Q4_1 || type == RWKV_TYPE_Q5_1;
    const int five_bits = type == RWKV_TYPE_Q5_0 || type == RWKV_TYPE_Q5_1;
    const int block_bytes = (int)rwkv_type_size(type, 32);
    const __m256i ones = _mm256_set1_epi16(1), low4 = _mm256_set1_epi8(15);
    __m256 acc = _mm256_setzero_ps();
    float offsets = 0.0f;
    int b;
    for (b = 0; b < n / 32; b++, row += block_bytes, x++) {
        const __m256i qx = _mm256_loadu_si256((const __m256i *)(const void *)x->q);
        float dw = rwkv__f16_to_f32(rwkv__le16(row));
        __m256i products;
        if (type == RWKV_TYPE_Q8_0) {
            /* maddubs wants one unsigned operand: move the sign over to x */
            __m256i qw = _mm256_loadu_si256((const __m256i *)(const void *)(row + 2));
            products = _mm256_maddubs_epi16(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qx, qw));
        } else {
            const unsigned char *qs = row + 2 + 2 * has_min + 4 * five_bits;
            __m128i packed = _mm_loadu_si128((const __m128i *)(const void *)qs);
            __m256i qw = _mm256_and_si256(
                _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), low4);
            if (five_bits)
                qw = _mm256_or_si256(qw, _mm256_and_si256(rwkv__bits_to_bytes(rwkv__le32(row + 2 + 2 * has_min)),
                                                          _mm256_set1_epi8(16)));
            products = _mm256_maddubs_epi16(qw, qx);
            offsets += (has_min ? rwkv__f16_to_f32(rwkv__le16(row + 2)) : (five_bits ? -16.0f : -8.0f) * dw) *
                       x->d * (float)x->sum;
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dw * x->d),
                              _mm256_cvtepi32_ps(_mm256_madd_epi16(products, ones)), acc);
    }
    return rwkv__hsum_avx2(acc) + offsets;
}
#define rwkv__dot_q8_input rwkv__dot_q8_input_avx2
#else
#define rwkv__dot_q8_input rwkv__dot_q8_input_plain
#endif

static int rwkv__is_quantized(int type) {
    return type != RWKV_TYPE_F32 && type != RWKV_TYPE_F16 && type != RWKV_TYPE_BF16;
}

RWKVDEF size_t rwkv_dequantize_row(int type, const void *src, int64_t n, float *dst) {
    size_t bytes = n > 0 && n <= INT32_MAX ? rwkv_type_size(type, (uint64_t)n) : 0;
    if (!bytes || !src || !dst) return 0;
    rwkv__dequantize(type, (const unsigned char *)src, (int)n, dst);
    return bytes;
}

/* The one dispatch point: the SIMD kernel where compiled, else plain C. */
static float rwkv__dot(int type, const unsigned char *row, const float *x, int n) {
    switch (type) {
#ifdef RWKV__AVX2
    case RWKV_TYPE_F32: return rwkv__dot_f32_avx2(row, x, n);
    case RWKV_TYPE_F16: return rwkv__dot_f16_avx2(row, x, n);
    case RWKV_TYPE_BF16: return rwkv__dot_bf16_avx2(row, x, n);
    case RWKV_TYPE_Q8_0: return rwkv__dot_q8_0_avx2(row, x, n);
    case RWKV_TYPE_Q4_0: return rwkv__dot_q4_q5_avx2(row, x, n, 0, 0);
    case RWKV_TYPE_Q4_1: return rwkv__dot_q4_q5_avx2(row, x, n, 1, 0);
    case RWKV_TYPE_Q5_0: return rwkv__dot_q4_q5_avx2(row, x, n, 0, 1);
    case RWKV_TYPE_Q5_1: return rwkv__dot_q4_q5_avx2(row, x, n, 1, 1);
#else
    case RWKV_TYPE_F32: return rwkv__dot_f32_plain(row, x, n);
    case RWKV_TYPE_F16: return rwkv__dot_f16_plain(row, x, n);
    case RWKV_TYPE_BF16: return rwkv__dot_bf16_plain(row, x, n);
    case RWKV_TYPE_Q8_0: return rwkv__dot_q8_0_plain(row, x, n);
    case RWKV_TYPE_Q4_0: return rwkv__dot_q4_q5_plain(row, x, n, 0, 0);
    case RWKV_TYPE_Q4_1: return rwkv__dot_q4_q5_plain(row, x, n, 1, 0);
    case RWKV_TYPE_Q5_0: return rwkv__dot_q4_q5_plain(row, x, n, 0, 1);
    case RWKV_TYPE_Q5_1: return rwkv__dot_q4_q5_plain(row, x, n, 1, 1);
#endif
    }
    RWKV_ASSERT(0 && "type checked at load");
    return 0.0f;
}

/* Multiply-adds below which a matrix product stays on one thread: waking
   the others costs more than it saves. */
#define RWKV__MIN_PARALLEL (1 << 18)

#ifndef RWKV_CHUNK
#define RWKV_CHUNK 32 /* tokens evaluated together in sequence mode */
#endif

/* Two weight rows (as floats) times four tokens: out[r * 4 + t] = w_r . x_t.
   Each loaded weight feeds four multiply-adds: prefill is compute-bound. */
RWKV__KERNEL void rwkv__dot_2x4_plain(const float *w0, const float *w1, const float *x,
                                      size_t stride, int n, float *out) {
    int t, i;
    for (t = 0; t < 4; t++) {
        const float *xt = x + (size_t)t * stride;
        float a0 = 0.0f, a1 = 0.0f;
        for (i = 0; i < n; i++) a0 += w0[i] * xt[i], a1 += w1[i] * xt[i];
        out[t] = a0;
        out[4 + t] = a1;
    }
}

#ifdef RWKV__AVX2
static void rwkv__dot_2x4_avx2(const float *w0, const float *w1, const float *x, size_t stride,
                               int n, float *out) {
    const float *x0 = x, *x1 = x + stride, *x2 = x + 2 * stride, *x3 = x + 3 * stride;
    __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps(), a02 = _mm256_setzero_ps(),
           a03 = _mm256_setzero_ps(), a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps(),
           a12 = _mm256_setzero_ps(), a13 = _mm256_setzero_ps();
    int i = 0, t;
    for (; i + 8 <= n; i += 8) {
        __m256 v0 = _mm256_loadu_ps(w0 + i), v1 = _mm256_loadu_ps(w1 + i), xv;
        xv = _mm256_loadu_ps(x0 + i), a00 = _mm256_fmadd_ps(v0, xv, a00), a10 = _mm256_fmadd_ps(v1, xv, a10);
        xv = _mm256_loadu_ps(x1 + i), a01 = _mm256_fmadd_ps(v0, xv, a01), a11 = _mm256_fmadd_ps(v1, xv, a11);
        xv = _mm256_loadu_ps(x2 + i), a02 = _mm256_fmadd_ps(v0, xv, a02), a12 = _mm256_fmadd_ps(v1, xv, a12);
        xv = _mm256_loadu_ps(x3 + i), a03 = _mm256_fmadd_ps(v0, xv, a03), a13 = _mm256_fmadd_ps(v1, xv, a13);
    }
    out[0] = rwkv__hsum_avx2(a00), out[1] = rwkv__hsum_avx2(a01);
    out[2] = rwkv__hsum_avx2(a02), out[3] = rwkv__hsum_avx2(a03);
    out[4] = rwkv__hsum_avx2(a10), out[5] = rwkv__hsum_avx2(a11);
    out[6] = rwkv__hsum_avx2(a12), out[7] = rwkv__hsum_avx2(a13);
    for (; i < n; i++)
        for (t = 0; t < 4; t++) {
            out[t] += w0[i] * x[(size_t)t * stride + (size_t)i];
            out[4 + t] += w1[i] * x[(size_t)t * stride + (size_t)i];
        }
}
#define rwkv__dot_2x4 rwkv__dot_2x4_avx2
#else
#define rwkv__dot_2x4 rwkv__dot_2x4_plain
#endif

/* Rows o0 and o1 (as floats w0, w1) for T tokens: four tokens at a time. */
static void rwkv__matmul_row_pair(const rwkv__matrix *w, int o0, int o1, const float *w0,
                                  const float *w1, const float *x, float *y, int T) {
    const size_t n_in = (size_t)w->n_in, n_out = (size_t)w->n_out;
    float out[8];
    int t = 0;
    for (; t + 4 <= T; t += 4) {
        int j;
        rwkv__dot_2x4(w0, w1, x + (size_t)t * n_in, n_in, w->n_in, out);
        for (j = 0; j < 4; j++) {
            y[(size_t)(t + j) * n_out + (size_t)o0] = out[j];
            y[(size_t)(t + j) * n_out + (size_t)o1] = out[4 + j];
        }
    }
    for (; t < T; t++) {
        y[(size_t)t * n_out + (size_t)o0] = rwkv__dot(RWKV_TYPE_F32, (const unsigned char *)w0, x + (size_t)t * n_in, w->n_in);
        y[(size_t)t * n_out + (size_t)o1] = rwkv__dot(RWKV_TYPE_F32, (const unsigned char *)w1, x + (size_t)t * n_in, w->n_in);
    }
}

/* Y = X W^T for T tokens (x: T rows of n_in floats; y: T rows of n_out).
   One token: a fused dot product per row, reading the weights in their own
   type (decoding is bound by memory bandwidth). Several tokens: rows are
   decoded to floats once, in pairs, into this thread's part of `rows`
   (2 * n_in floats a thread), then multiplied with the whole chunk. With
   OpenMP the rows are split across n_threads threads. */
static void rwkv__matmul(const rwkv__matrix *w, const float *x, float *y, int T, int n_threads,
                         float *rows, size_t rows_per_thread, rwkv__q8_block *xq) {
    const int n_pairs = (w->n_out + 1) / 2;
    int o, p;
    if (T == 1 && xq && rwkv__is_quantized(w->type)) {
        rwkv__quantize_input(x, w->n_in, xq);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_threads > 1 && (int64_t)w->n_out * w->n_in >= RWKV__MIN_PARALLEL)
#endif
        for (o = 0; o < w->n_out; o++) y[o] = rwkv__dot_q8_input(w->type, w->data + (size_t)o * w->row_bytes, xq, w->n_in);
        return;
    }
    if (T == 1) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_threads > 1 && (int64_t)w->n_out * w->n_in >= RWKV__MIN_PARALLEL)
#endif
        for (o = 0; o < w->n_out; o++) y[o] = rwkv__dot(w->type, w->data + (size_t)o * w->row_bytes, x, w->n_in);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_threads > 1 && (int64_t)w->n_out * w->n_in * T >= RWKV__MIN_PARALLEL)
#endif
    for (p = 0; p < n_pairs; p++) {
        int o0 = 2 * p, o1 = o0 + 1 < w->n_out ? o0 + 1 : o0;
#ifdef _OPENMP
        float *buffer = rows + (size_t)omp_get_thread_num() * rows_per_thread;
#else
        float *buffer = rows;
#endif
        const float *w0 = (const float *)(const void *)(w->data + (size_t)o0 * w->row_bytes);
        const float *w1 = (const float *)(const void *)(w->data + (size_t)o1 * w->row_bytes);
        if (w->type != RWKV_TYPE_F32) {
            rwkv__dequantize(w->type, w->data + (size_t)o0 * w->row_bytes, w->n_in, buffer);
            rwkv__dequantize(w->type, w->data + (size_t)o1 * w->row_bytes, w->n_in, buffer + w->n_in);
            w0 = buffer;
            w1 = buffer + w->n_in;
        }
        rwkv__matmul_row_pair(w, o0, o1, w0, w1, x, y, T);
    }
    (void)n_threads, (void)rows_per_thread;
}

/* out = (x - mean) / sqrt(var + eps) * weight + bias; out may be x. */
static void rwkv__layer_norm_eps(float *out, const float *x, const float *weight,
                                 const float *bias, int n, float eps) {
    float mean = 0.0f, var = 0.0f, inv;
    int i;
    for (i = 0; i < n; i++) mean += x[i];
    mean /= (float)n;
    for (i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    inv = 1.0f / sqrtf(var / (float)n + eps);
    for (i = 0; i < n; i++) out[i] = (x[i] - mean) * inv * weight[i] + bias[i];
}

/* Layer norm of each of T rows of n values. */
static void rwkv__layer_norm(float *out, const float *x, const float *weight, const float *bias,
                             int n, int T) {
    int t;
    for (t = 0; t < T; t++)
        rwkv__layer_norm_eps(out + (size_t)t * (size_t)n, x + (size_t)t * (size_t)n, weight, bias, n, 1e-5f);
}

/* ---- State --------------------------------------------------------------- */

/* Inputs of the projections after token shift, by role (v7's order). */
enum { RWKV__IN_R, RWKV__IN_W, RWKV__IN_K, RWKV__IN_V, RWKV__IN_A, RWKV__IN_G };

struct rwkv_state {
    const rwkv_model *model;
    float *data;        /* the recurrent state, layer after layer           */
    size_t n_floats;
    /* scratch for a chunk of up to RWKV_CHUNK tokens: rows of n_embd
       floats each, unless said */
    float *x;           /* the residual stream                              */
    float *xx;          /* its layer-normed copy, input of a block          */
    float *sx;          /* token shift: previous xx minus xx (v6, v7)       */
    float *in[6];       /* inputs of the projections, by RWKV__IN_*         */
    float *r, *k, *v, *w, *a, *g, *kk;
    float *v_first;     /* v7: layer 0's value, mixed into later layers     */
    float *out, *tmp;
    float *hidden;      /* n_ffn: channel-mix hidden layer                  */
    float *lora;        /* max_lora: LoRA bottlenecks (v6, v7)              */
    int n_threads;
    float *rows;        /* per thread: two weight rows decoded to floats    */
    size_t rows_per_thread;
    rwkv__q8_block *xq; /* the input of a matrix, quantized (decode)        */
    int quantize_input; /* integer products with quantized weights          */
};

RWKVDEF rwkv_result rwkv_state_create(const rwkv_model *model, rwkv_state **state,
                                      rwkv_error *error) {
    rwkv_state *s;
    size_t C, n_floats, total;
    float *p;
    int i;
    if (!model || !state) return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL argument");
    C = (size_t)model->n_embd;
    n_floats = rwkv__layer_state_floats(model) * (size_t)model->n_layer;
    total = n_floats + RWKV_CHUNK * (20 * C + (size_t)model->n_ffn + (size_t)model->max_lora);
    s = (rwkv_state *)rwkv__calloc(1, sizeof(rwkv_state) + total * sizeof(float));
    if (!s) return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    p = (float *)(void *)(s + 1);
    s->model = model;
    s->data = p, p += n_floats;
    s->n_floats = n_floats;
    C *= RWKV_CHUNK;
    s->x = p, p += C;
    s->xx = p, p += C;
    s->sx = p, p += C;
    for (i = 0; i < 6; i++) s->in[i] = p, p += C;
    s->r = p, p += C;
    s->k = p, p += C;
    s->v = p, p += C;
    s->w = p, p += C;
    s->a = p, p += C;
    s->g = p, p += C;
    s->kk = p, p += C;
    s->v_first = p, p += C;
    s->out = p, p += C;
    s->tmp = p, p += C;
    s->hidden = p, p += RWKV_CHUNK * (size_t)model->n_ffn;
    s->lora = p;
    s->n_threads = 0;
    if (rwkv_state_set_threads(s, 1)) {
        rwkv_state_free(s);
        return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    }
    rwkv_state_reset(s);
    *state = s;
    rwkv__ok(error);
    return RWKV_OK;
}

RWKVDEF void rwkv_state_free(rwkv_state *state) {
    if (!state) return;
    RWKV_FREE(state->rows);
    RWKV_FREE(state->xq);
    RWKV_FREE(state);
}

RWKVDEF void rwkv_state_reset(rwkv_state *state) {
    const rwkv_model *m;
    size_t C, i;
    int l;
    if (!state) return;
    m = state->model;
    C = (size_t)m->n_embd;
    memset(state->data, 0, state->n_floats * sizeof(float));
    if (m->version == 4) /* pp, the running maximum exponent, starts at "minus infinity" */
        for (l = 0; l < m->n_layer; l++) {
            float *pp = state->data + (size_t)l * rwkv__layer_state_floats(m) + 3 * C;
            for (i = 0; i < C; i++) pp[i] = -1e30f;
        }
}

RWKVDEF rwkv_result rwkv_state_set_threads(rwkv_state *state, int n_threads) {
    const rwkv_model *m;
    size_t widest;
    float *rows;
    if (!state) return RWKV_ERROR_INVALID_ARGUMENT;
    m = state->model;
    if (n_threads < 1) n_threads = 1;
    if (n_threads <= state->n_threads) {
        state->n_threads = n_threads;
        return RWKV_OK;
    }
    widest = (size_t)m->n_embd;
    if ((size_t)m->n_ffn > widest) widest = (size_t)m->n_ffn;
    if ((size_t)m->max_lora > widest) widest = (size_t)m->max_lora;
    if (!state->xq) {
        state->xq = (rwkv__q8_block *)rwkv__calloc(widest / 32 + 1, sizeof(rwkv__q8_block));
        if (!state->xq) return RWKV_ERROR_OUT_OF_MEMORY;
    }
    rows = (float *)rwkv__calloc((size_t)n_threads * 2, widest * sizeof(float));
    if (!rows) return RWKV_ERROR_OUT_OF_MEMORY;
    RWKV_FREE(state->rows);
    state->rows = rows;
    state->rows_per_thread = 2 * widest;
    state->n_threads = n_threads;
    return RWKV_OK;
}

RWKVDEF void rwkv_state_set_quantized_input(rwkv_state *state, int enabled) {
    if (state) state->quantize_input = enabled != 0;
}

RWKVDEF float *rwkv_state_data(rwkv_state *state) { return state ? state->data : NULL; }

RWKVDEF rwkv_result rwkv_state_copy(rwkv_state *dst, const rwkv_state *src, rwkv_error *error) {
    if (!dst || !src) return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL argument");
    if (dst->model != src->model && (dst->n_floats != src->n_floats ||
                                     dst->model->fingerprint != src->model->fingerprint))
        return rwkv__fail(error, RWKV_ERROR_STATE_MISMATCH, "states of different models");
    memcpy(dst->data, src->data, src->n_floats * sizeof(float));
    rwkv__ok(error);
    return RWKV_OK;
}

/* The blob header: "RWKVSTAT", then u32 format version, RWKV version,
   n_layer, n_embd, head size, reserved; u64 float count, u64 fingerprint. */
#define RWKV__STATE_HEADER 48

static void rwkv__put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

static void rwkv__state_header(const rwkv_state *s, unsigned char *h) {
    const rwkv_model *m = s->model;
    memcpy(h, "RWKVSTAT", 8);
    rwkv__put32(h + 8, 1);
    rwkv__put32(h + 12, (uint32_t)m->version);
    rwkv__put32(h + 16, (uint32_t)m->n_layer);
    rwkv__put32(h + 20, (uint32_t)m->n_embd);
    rwkv__put32(h + 24, (uint32_t)m->head_size);
    rwkv__put32(h + 28, 0);
    rwkv__put32(h + 32, (uint32_t)s->n_floats);
    rwkv__put32(h + 36, (uint32_t)((uint64_t)s->n_floats >> 32));
    rwkv__put32(h + 40, (uint32_t)m->fingerprint);
    rwkv__put32(h + 44, (uint32_t)(m->fingerprint >> 32));
}

RWKVDEF rwkv_result rwkv_state_export(const rwkv_state *state, void *blob, size_t size,
                                      rwkv_error *error) {
    unsigned char *out = (unsigned char *)blob;
    size_t i;
    if (!state || !blob) return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL argument");
    if (size < RWKV__STATE_HEADER + 4 * state->n_floats)
        return rwkv__fail(error, RWKV_ERROR_BUFFER_TOO_SMALL, "state blob needs %zu bytes",
                          RWKV__STATE_HEADER + 4 * state->n_floats);
    rwkv__state_header(state, out);
    for (i = 0; i < state->n_floats; i++) {
        uint32_t bits;
        memcpy(&bits, &state->data[i], 4);
        rwkv__put32(out + RWKV__STATE_HEADER + 4 * i, bits);
    }
    rwkv__ok(error);
    return RWKV_OK;
}

RWKVDEF rwkv_result rwkv_state_import(rwkv_state *state, const void *blob, size_t size,
                                      rwkv_error *error) {
    const unsigned char *in = (const unsigned char *)blob;
    unsigned char expected[RWKV__STATE_HEADER];
    size_t i;
    if (!state || !blob) return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL argument");
    if (size < RWKV__STATE_HEADER || memcmp(in, "RWKVSTAT", 8) || rwkv__le32(in + 8) != 1)
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "not an rwkv.h state blob");
    rwkv__state_header(state, expected);
    if (memcmp(in + 12, expected + 12, 28))
        return rwkv__fail(error, RWKV_ERROR_STATE_MISMATCH,
                          "state of another model shape (RWKV-%u, %u layers, %u wide)",
                          rwkv__le32(in + 12), rwkv__le32(in + 16), rwkv__le32(in + 20));
    if (memcmp(in + 40, expected + 40, 8))
        return rwkv__fail(error, RWKV_ERROR_STATE_MISMATCH, "state of a model with other weights");
    if (size != RWKV__STATE_HEADER + 4 * state->n_floats)
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "state blob is %zu bytes, expected %zu",
                          size, RWKV__STATE_HEADER + 4 * state->n_floats);
    for (i = 0; i < state->n_floats; i++) {
        uint32_t bits = rwkv__le32(in + RWKV__STATE_HEADER + 4 * i);
        memcpy(&state->data[i], &bits, 4);
    }
    rwkv__ok(error);
    return RWKV_OK;
}

/* ---- The forward pass (RNN mode) ------------------------------------------ */

/* Every step below works on a chunk of T tokens at once: scratch buffers
   hold T rows (row t of buffer b is b + t * width), the projections are
   matrix products over the chunk (each weight read once per chunk), and
   only the recurrences walk the tokens one by one. Decoding is T = 1. */
#define RWKV__ROW(buffer, t, width) ((buffer) + (size_t)(t) * (size_t)(width))

static float rwkv__sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

static float rwkv__silu(float x) { return x / (1.0f + expf(-x)); }

/* Token shift, v4 and v5: in = x*mix + prev*(1-mix), where prev is the
   previous token's x (for the chunk's first token, the one in the state). */
static void rwkv__mix(float *in, const float *xx, const float *last_x, const float *mix, int C, int T) {
    int t, i;
    for (t = 0; t < T; t++) {
        const float *x = RWKV__ROW(xx, t, C), *prev = t ? RWKV__ROW(xx, t - 1, C) : last_x;
        float *out = RWKV__ROW(in, t, C);
        for (i = 0; i < C; i++) out[i] = x[i] * mix[i] + prev[i] * (1.0f - mix[i]);
    }
}

/* Token shift, v6 and v7, written as a difference: sx = prev - x. */
static void rwkv__shift_difference(float *sx, const float *xx, const float *last_x, int C, int T) {
    int t, i;
    for (t = 0; t < T; t++) {
        const float *x = RWKV__ROW(xx, t, C), *prev = t ? RWKV__ROW(xx, t - 1, C) : last_x;
        for (i = 0; i < C; i++) sx[(size_t)t * (size_t)C + (size_t)i] = prev[i] - x[i];
    }
}

/* in = x + sx * mix, the same lerp as above in v6/v7's form. */
static void rwkv__lerp(float *in, const float *xx, const float *sx, const float *mix, int C, int T) {
    size_t i, n = (size_t)C * (size_t)T;
    for (i = 0; i < n; i++) in[i] = xx[i] + sx[i] * mix[i % (size_t)C];
}

/* The state keeps the chunk's last x for the next token shift. */
static void rwkv__keep_last(float *last_x, const float *xx, int C, int T) {
    memcpy(last_x, RWKV__ROW(xx, T - 1, C), sizeof(float) * (size_t)C);
}

/* Y = X W^T over the chunk, with the state's thread count. */
static void rwkv__project(const rwkv_state *s, const rwkv__matrix *w, const float *x, float *y, int T) {
    rwkv__matmul(w, x, y, T, s->n_threads, s->rows, s->rows_per_thread,
                 s->quantize_input ? s->xq : NULL);
}

/* RWKV-4 time mix: the WKV recurrence, a weighted average of past values
   whose weights decay by e^w per step (w < 0), with a bonus u for the
   current token:
       wkv_t = (sum_{i<t} e^{(t-1-i)w + k_i} v_i + e^{u+k_t} v_t)
             / (sum_{i<t} e^{(t-1-i)w + k_i}     + e^{u+k_t})
   kept as a numerator aa, denominator bb and their common exponent pp, so
   nothing overflows. out = W_o (sigmoid(r) * wkv). */
static void rwkv__time_mix_v4(const rwkv__layer *l, float *state, rwkv_state *s, int C, int T) {
    float *last_x = state, *aa = state + C, *bb = state + 2 * C, *pp = state + 3 * C;
    int t, i;
    rwkv__mix(s->in[RWKV__IN_K], s->xx, last_x, l->att_mix_k, C, T);
    rwkv__mix(s->in[RWKV__IN_V], s->xx, last_x, l->att_mix_v, C, T);
    rwkv__mix(s->in[RWKV__IN_R], s->xx, last_x, l->att_mix_r, C, T);
    rwkv__keep_last(last_x, s->xx, C, T);
    rwkv__project(s, &l->att_receptance, s->in[RWKV__IN_R], s->r, T);
    rwkv__project(s, &l->att_key, s->in[RWKV__IN_K], s->k, T);
    rwkv__project(s, &l->att_value, s->in[RWKV__IN_V], s->v, T);
    for (t = 0; t < T; t++) {
        const float *r = RWKV__ROW(s->r, t, C), *kt = RWKV__ROW(s->k, t, C), *vt = RWKV__ROW(s->v, t, C);
        float *y = RWKV__ROW(s->tmp, t, C);
        for (i = 0; i < C; i++) {
            float k = kt[i], v = vt[i];
            /* output for this token, with the bonus u */
            float ww = l->att_first[i] + k;
            float p = pp[i] > ww ? pp[i] : ww;
            float e1 = expf(pp[i] - p), e2 = expf(ww - p);
            float wkv = (e1 * aa[i] + e2 * v) / (e1 * bb[i] + e2);
            /* state for the next token: decay the past by e^w, add this token */
            ww = l->att_decay[i] + pp[i];
            p = ww > k ? ww : k;
            e1 = expf(ww - p);
            e2 = expf(k - p);
            aa[i] = e1 * aa[i] + e2 * v;
            bb[i] = e1 * bb[i] + e2;
            pp[i] = p;
            y[i] = rwkv__sigmoid(r[i]) * wkv;
        }
    }
    rwkv__project(s, &l->att_output, s->tmp, s->out, T);
}

/* The v5/v6 recurrence, per head with an N x N state S[i=k index][j=v index]:
       out_j = sum_i r_i (u_i k_i v_j + S_ij);   S_ij <- k_i v_j + w_i S_ij */
static void rwkv__wkv_v5(float *S, const float *r, const float *k, const float *v,
                         const float *w, const float *u, float *out, int H, int N) {
    int h, i, j;
    for (h = 0; h < H; h++) {
        const int o = h * N;
        float *Sh = S + (size_t)h * N * N;
        for (j = 0; j < N; j++) out[o + j] = 0.0f;
        for (i = 0; i < N; i++) {
            float *row = Sh + (size_t)i * N;
            const float ki = k[o + i], ri = r[o + i], ui = u[o + i], wi = w[o + i];
            for (j = 0; j < N; j++) {
                float kv = ki * v[o + j];
                out[o + j] += ri * (ui * kv + row[j]);
                row[j] = kv + wi * row[j];
            }
        }
    }
}

/* Layer norm of each head's N values (H groups), in place, with eps 64e-5
   as in every official v5-v7 implementation (the training code divides by
   8 before a 1e-5 norm, which is the same function). */
static void rwkv__group_norm(float *x, const float *weight, const float *bias, int H, int N) {
    int h;
    for (h = 0; h < H; h++)
        rwkv__layer_norm_eps(x + h * N, x + h * N, weight + h * N, bias + h * N, N, 64e-5f);
}

/* v5/v6: the recurrence token by token, group norm, the gate, W_o. */
static void rwkv__time_mix_v5_output(const rwkv_model *m, const rwkv__layer *l, float *S,
                                     rwkv_state *s, int T, int decay_per_token) {
    int C = m->n_embd, t, i;
    for (t = 0; t < T; t++) {
        float *y = RWKV__ROW(s->tmp, t, C);
        rwkv__wkv_v5(S, RWKV__ROW(s->r, t, C), RWKV__ROW(s->k, t, C), RWKV__ROW(s->v, t, C),
                     decay_per_token ? RWKV__ROW(s->w, t, C) : l->att_decay, l->att_first, y,
                     m->n_head, m->head_size);
        rwkv__group_norm(y, l->att_ln_x_weight, l->att_ln_x_bias, m->n_head, m->head_size);
        if (l->att_gate.data)
            for (i = 0; i < C; i++) y[i] *= RWKV__ROW(s->g, t, C)[i];
    }
    rwkv__project(s, &l->att_output, s->tmp, s->out, T);
}

static void rwkv__silu_inplace(float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) x[i] = rwkv__silu(x[i]);
}

/* RWKV-5: linear attention with a matrix state per head, a fixed decay w
   per channel (v5.1: per head), and in v5.2 a SiLU gate. */
static void rwkv__time_mix_v5(const rwkv_model *m, const rwkv__layer *l, float *state, rwkv_state *s, int T) {
    int C = m->n_embd;
    float *last_x = state;
    rwkv__mix(s->in[RWKV__IN_K], s->xx, last_x, l->att_mix_k, C, T);
    rwkv__mix(s->in[RWKV__IN_V], s->xx, last_x, l->att_mix_v, C, T);
    rwkv__mix(s->in[RWKV__IN_R], s->xx, last_x, l->att_mix_r, C, T);
    if (l->att_gate.data) rwkv__mix(s->in[RWKV__IN_G], s->xx, last_x, l->att_mix_g, C, T);
    rwkv__keep_last(last_x, s->xx, C, T);
    rwkv__project(s, &l->att_receptance, s->in[RWKV__IN_R], s->r, T);
    rwkv__project(s, &l->att_key, s->in[RWKV__IN_K], s->k, T);
    rwkv__project(s, &l->att_value, s->in[RWKV__IN_V], s->v, T);
    if (l->att_gate.data) {
        rwkv__project(s, &l->att_gate, s->in[RWKV__IN_G], s->g, T);
        rwkv__silu_inplace(s->g, (size_t)C * (size_t)T);
    }
    rwkv__time_mix_v5_output(m, l, state + C, s, T, 0);
}

/* RWKV-6: as v5.2, but the token shift and the decay depend on the input,
   through small LoRAs: mix_p = maa_p + W2_p tanh(W1 (x + sx*maa_x))_p for
   p = w,k,v,r,g, and w = exp(-exp(decay + Wd2 tanh(Wd1 x_w))). */
static void rwkv__time_mix_v6(const rwkv_model *m, const rwkv__layer *l, float *state, rwkv_state *s, int T) {
    static const int role[5] = {RWKV__IN_W, RWKV__IN_K, RWKV__IN_V, RWKV__IN_R, RWKV__IN_G};
    const int C = m->n_embd, D = l->att_maa_w1.n_out / 5, D2 = l->att_decay_w1.n_out;
    const size_t n = (size_t)C * (size_t)T;
    float *last_x = state;
    size_t i;
    int t, p;
    rwkv__shift_difference(s->sx, s->xx, last_x, C, T);
    rwkv__keep_last(last_x, s->xx, C, T);
    rwkv__lerp(s->tmp, s->xx, s->sx, l->att_maa_x, C, T);
    rwkv__project(s, &l->att_maa_w1, s->tmp, s->lora, T);
    for (i = 0; i < (size_t)T * (size_t)(5 * D); i++) s->lora[i] = tanhf(s->lora[i]);
    for (p = 0; p < 5; p++) {
        float *in = s->in[role[p]];
        /* gather this part's D values of every token, then W2_p */
        for (t = 0; t < T; t++)
            memcpy(RWKV__ROW(s->a, t, D), RWKV__ROW(s->lora, t, 5 * D) + p * D, sizeof(float) * (size_t)D);
        rwkv__project(s, &l->att_maa_w2[p], s->a, s->tmp, T);
        for (i = 0; i < n; i++) in[i] = s->xx[i] + s->sx[i] * (l->att_maa[p][i % (size_t)C] + s->tmp[i]);
    }
    rwkv__project(s, &l->att_receptance, s->in[RWKV__IN_R], s->r, T);
    rwkv__project(s, &l->att_key, s->in[RWKV__IN_K], s->k, T);
    rwkv__project(s, &l->att_value, s->in[RWKV__IN_V], s->v, T);
    rwkv__project(s, &l->att_gate, s->in[RWKV__IN_G], s->g, T);
    rwkv__silu_inplace(s->g, n);
    rwkv__project(s, &l->att_decay_w1, s->in[RWKV__IN_W], s->lora, T);
    for (i = 0; i < (size_t)T * (size_t)D2; i++) s->lora[i] = tanhf(s->lora[i]);
    rwkv__project(s, &l->att_decay_w2, s->lora, s->w, T);
    for (i = 0; i < n; i++) s->w[i] = expf(-expf(l->att_decay[i % (size_t)C] + s->w[i]));
    rwkv__time_mix_v5_output(m, l, state + C, s, T, 1);
}

/* RWKV-7: the generalized delta rule. Per head, with S[i=v index][j=k index]:
       S <- S diag(w) - (S kk) (kk*a)^T + v k^T;   out = S r
   where kk is the normalized key, a the in-context learning rate, and w
   the decay; then group norm, a bonus (r.k.r_k) v, the gate g and W_o. */
static void rwkv__time_mix_v7(const rwkv_model *m, const rwkv__layer *l, int layer, float *state,
                              rwkv_state *s, int T) {
    const int C = m->n_embd, H = m->n_head, N = m->head_size;
    const size_t n = (size_t)C * (size_t)T;
    float *last_x = state, *S = state + C;
    size_t i;
    int t, h, j, c;
    rwkv__shift_difference(s->sx, s->xx, last_x, C, T);
    rwkv__keep_last(last_x, s->xx, C, T);
    for (j = 0; j < 6; j++) rwkv__lerp(s->in[j], s->xx, s->sx, l->att_lerp[j], C, T);
    rwkv__project(s, &l->att_receptance, s->in[RWKV__IN_R], s->r, T);
    rwkv__project(s, &l->att_key, s->in[RWKV__IN_K], s->k, T);
    rwkv__project(s, &l->att_value, s->in[RWKV__IN_V], s->v, T);
    /* decay w = w0 + W2 tanh(W1 x_w), squashed into (e^-0.606531, 1) below */
    rwkv__project(s, &l->att_w1, s->in[RWKV__IN_W], s->lora, T);
    for (i = 0; i < (size_t)T * (size_t)l->att_w1.n_out; i++) s->lora[i] = tanhf(s->lora[i]);
    rwkv__project(s, &l->att_w2, s->lora, s->w, T);
    /* in-context learning rate a = sigmoid(a0 + A2 A1 x_a) */
    rwkv__project(s, &l->att_a1, s->in[RWKV__IN_A], s->lora, T);
    rwkv__project(s, &l->att_a2, s->lora, s->a, T);
    /* gate g = G2 sigmoid(G1 x_g) */
    rwkv__project(s, &l->att_g1, s->in[RWKV__IN_G], s->lora, T);
    for (i = 0; i < (size_t)T * (size_t)l->att_g1.n_out; i++) s->lora[i] = rwkv__sigmoid(s->lora[i]);
    rwkv__project(s, &l->att_g2, s->lora, s->g, T);
    for (i = 0; i < n; i++) {
        c = (int)(i % (size_t)C);
        s->w[i] = expf(-0.606531f * rwkv__sigmoid(l->att_w0[c] + s->w[i]));
        s->a[i] = rwkv__sigmoid(l->att_a0[c] + s->a[i]);
        s->kk[i] = s->k[i] * l->att_k_k[c];
        s->k[i] = s->k[i] * (1.0f + (s->a[i] - 1.0f) * l->att_k_a[c]);
    }
    for (i = 0; i < (size_t)T * (size_t)H; i++) { /* kk: unit length per head */
        float *kk = s->kk + i * (size_t)N, norm = 0.0f;
        for (j = 0; j < N; j++) norm += kk[j] * kk[j];
        norm = sqrtf(norm);
        norm = norm > 1e-12f ? norm : 1e-12f;
        for (j = 0; j < N; j++) kk[j] /= norm;
    }
    /* value residual: later layers mix in layer 0's value */
    if (layer == 0) {
        memcpy(s->v_first, s->v, sizeof(float) * n);
    } else {
        rwkv__project(s, &l->att_v1, s->in[RWKV__IN_V], s->lora, T);
        rwkv__project(s, &l->att_v2, s->lora, s->tmp, T);
        for (i = 0; i < n; i++)
            s->v[i] += (s->v_first[i] - s->v[i]) * rwkv__sigmoid(l->att_v0[i % (size_t)C] + s->tmp[i]);
    }
    for (t = 0; t < T; t++) {
        const size_t base = (size_t)t * (size_t)C;
        const float *r = s->r + base, *k = s->k + base, *v = s->v + base;
        const float *kk = s->kk + base, *w = s->w + base, *a = s->a + base, *g = s->g + base;
        float *y = s->tmp + base;
        for (h = 0; h < H; h++) {
            const int o = h * N;
            float bonus = 0.0f;
            for (c = 0; c < N; c++) {
                float *row = S + ((size_t)h * N + (size_t)c) * N, sa = 0.0f, out = 0.0f;
                for (j = 0; j < N; j++) sa += row[j] * kk[o + j];
                for (j = 0; j < N; j++) {
                    row[j] = row[j] * w[o + j] - sa * kk[o + j] * a[o + j] + v[o + c] * k[o + j];
                    out += row[j] * r[o + j];
                }
                y[o + c] = out;
            }
            rwkv__layer_norm_eps(y + o, y + o, l->att_ln_x_weight + o, l->att_ln_x_bias + o, N, 64e-5f);
            for (j = 0; j < N; j++) bonus += r[o + j] * k[o + j] * l->att_r_k[o + j];
            for (c = 0; c < N; c++) y[o + c] = (y[o + c] + bonus * v[o + c]) * g[o + c];
        }
    }
    rwkv__project(s, &l->att_output, s->tmp, s->out, T);
}

/* Channel mix: sigmoid(W_r x_r) * W_v relu(W_k x_k)^2 (v7: no receptance). */
static void rwkv__channel_mix(const rwkv_model *m, const rwkv__layer *l, float *last_x, rwkv_state *s, int T) {
    const int C = m->n_embd;
    const size_t n = (size_t)C * (size_t)T, hidden = (size_t)m->n_ffn * (size_t)T;
    size_t i;
    if (m->version <= 5) {
        rwkv__mix(s->in[RWKV__IN_K], s->xx, last_x, l->ffn_mix_k, C, T);
        rwkv__mix(s->in[RWKV__IN_R], s->xx, last_x, l->ffn_mix_r, C, T);
    } else {
        rwkv__shift_difference(s->sx, s->xx, last_x, C, T);
        rwkv__lerp(s->in[RWKV__IN_K], s->xx, s->sx, l->ffn_mix_k, C, T);
        if (l->ffn_mix_r) rwkv__lerp(s->in[RWKV__IN_R], s->xx, s->sx, l->ffn_mix_r, C, T);
    }
    rwkv__keep_last(last_x, s->xx, C, T);
    rwkv__project(s, &l->ffn_key, s->in[RWKV__IN_K], s->hidden, T);
    for (i = 0; i < hidden; i++) {
        float h = s->hidden[i] > 0.0f ? s->hidden[i] : 0.0f;
        s->hidden[i] = h * h;
    }
    rwkv__project(s, &l->ffn_value, s->hidden, s->out, T);
    if (l->ffn_receptance.data) {
        rwkv__project(s, &l->ffn_receptance, s->in[RWKV__IN_R], s->r, T);
        for (i = 0; i < n; i++) s->out[i] *= rwkv__sigmoid(s->r[i]);
    }
}

/* x = LN0(emb[token]); per layer x += TimeMix(LN1(x)), x += ChannelMix(LN2(x));
   logits = head LN_out(x) of the chunk's last token. */
static void rwkv__forward(rwkv_state *s, const int32_t *tokens, int T, float *logits) {
    const rwkv_model *m = s->model;
    const size_t per_layer = rwkv__layer_state_floats(m), ffn_offset = rwkv__ffn_state_offset(m);
    const int C = m->n_embd;
    const size_t n = (size_t)C * (size_t)T;
    size_t i;
    int l, t;
    for (t = 0; t < T; t++) {
        rwkv__dequantize(m->embedding.type, m->embedding.data + (size_t)tokens[t] * m->embedding.row_bytes,
                         C, RWKV__ROW(s->out, t, C));
    }
    rwkv__layer_norm(s->x, s->out, m->ln0_weight, m->ln0_bias, C, T);
    for (l = 0; l < m->n_layer; l++) {
        const rwkv__layer *layer = &m->layers[l];
        float *state = s->data + (size_t)l * per_layer;
        rwkv__layer_norm(s->xx, s->x, layer->ln1_weight, layer->ln1_bias, C, T);
        switch (m->version) {
        case 4: rwkv__time_mix_v4(layer, state, s, C, T); break;
        case 5: rwkv__time_mix_v5(m, layer, state, s, T); break;
        case 6: rwkv__time_mix_v6(m, layer, state, s, T); break;
        default: rwkv__time_mix_v7(m, layer, l, state, s, T); break;
        }
        for (i = 0; i < n; i++) s->x[i] += s->out[i];
        rwkv__layer_norm(s->xx, s->x, layer->ln2_weight, layer->ln2_bias, C, T);
        rwkv__channel_mix(m, layer, state + ffn_offset, s, T);
        for (i = 0; i < n; i++) s->x[i] += s->out[i];
        /* HF-derived v6 GGUFs pre-divide two weights by 2^(l/n): undo here */
        if (m->rescale_every && (l + 1) % m->rescale_every == 0)
            for (i = 0; i < n; i++) s->x[i] *= 0.5f;
    }
    if (logits) {
        rwkv__layer_norm(s->xx, RWKV__ROW(s->x, T - 1, C), m->ln_out_weight, m->ln_out_bias, C, 1);
        rwkv__project(s, &m->head, s->xx, logits, 1);
    }
}

RWKVDEF rwkv_result rwkv_eval(rwkv_state *state, int32_t token, float *logits,
                              rwkv_error *error) {
    if (!state) return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL state");
    if (token < 0 || token >= state->model->n_vocab)
        return rwkv__fail(error, RWKV_ERROR_TOKEN_RANGE, "token %d is outside the vocabulary (0..%d)",
                          (int)token, state->model->n_vocab - 1);
    rwkv__forward(state, &token, 1, logits);
    rwkv__ok(error);
    return RWKV_OK;
}

RWKVDEF rwkv_result rwkv_eval_sequence(rwkv_state *state, const int32_t *tokens, size_t n,
                                       float *logits, rwkv_error *error) {
    size_t i;
    if (!state || (!tokens && n)) return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL argument");
    for (i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= state->model->n_vocab)
            return rwkv__fail(error, RWKV_ERROR_TOKEN_RANGE,
                              "token %d at position %zu is outside the vocabulary (0..%d)",
                              (int)tokens[i], i, state->model->n_vocab - 1);
    for (i = 0; i < n; i += RWKV_CHUNK) {
        size_t T = n - i < RWKV_CHUNK ? n - i : RWKV_CHUNK;
        rwkv__forward(state, tokens + i, (int)T, i + T == n ? logits : NULL);
    }
    rwkv__ok(error);
    return RWKV_OK;
}

/* ---- Tokenizers ---------------------------------------------------------- */

/* Token id -> bytes, and a byte trie for encoding by greedy longest match:
   from each position, follow the text down the trie as far as it goes and
   take the longest token seen on the way. Every single byte is a token, so
   any input can be encoded. */
struct rwkv_tokenizer {
    int n_tokens;
    uint32_t *offsets;          /* token i is bytes[offsets[i] .. offsets[i+1]) */
    unsigned char *bytes;
    int32_t root[256];          /* the trie node of each first byte            */
    int32_t *node_token;        /* token ending at the node, or -1              */
    int32_t *node_child;        /* first child, or -1                           */
    int32_t *node_sibling;      /* next child of the same parent, or -1         */
    unsigned char *node_byte;
    int32_t n_nodes;
};

RWKVDEF void rwkv_tokenizer_free(rwkv_tokenizer *t) {
    if (!t) return;
    RWKV_FREE(t->offsets);
    RWKV_FREE(t->bytes);
    RWKV_FREE(t->node_token);
    RWKV_FREE(t->node_child);
    RWKV_FREE(t->node_sibling);
    RWKV_FREE(t->node_byte);
    RWKV_FREE(t);
}

static int32_t rwkv__trie_child(const rwkv_tokenizer *t, int32_t node, unsigned char byte) {
    int32_t c;
    for (c = t->node_child[node]; c >= 0; c = t->node_sibling[c])
        if (t->node_byte[c] == byte) return c;
    return -1;
}

/* Build the trie from offsets/bytes (lowest id wins for duplicate bytes)
   and check that every single byte is a token. Takes ownership of t. */
static rwkv_result rwkv__tokenizer_finish(rwkv_tokenizer *t, rwkv_tokenizer **out,
                                          rwkv_error *error) {
    size_t capacity = (size_t)t->offsets[t->n_tokens] + 1;
    int id, b;
    t->node_token = (int32_t *)rwkv__calloc(capacity, sizeof(int32_t));
    t->node_child = (int32_t *)rwkv__calloc(capacity, sizeof(int32_t));
    t->node_sibling = (int32_t *)rwkv__calloc(capacity, sizeof(int32_t));
    t->node_byte = (unsigned char *)rwkv__calloc(capacity, 1);
    if (!t->node_token || !t->node_child || !t->node_sibling || !t->node_byte) {
        rwkv_tokenizer_free(t);
        return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    }
    for (b = 0; b < 256; b++) t->root[b] = -1;
    for (id = 0; id < t->n_tokens; id++) {
        const unsigned char *p = t->bytes + t->offsets[id];
        uint32_t len = t->offsets[id + 1] - t->offsets[id], i;
        int32_t node = -1;
        for (i = 0; i < len; i++) {
            int32_t next = node < 0 ? t->root[p[i]] : rwkv__trie_child(t, node, p[i]);
            if (next < 0) {
                next = t->n_nodes++;
                t->node_token[next] = -1;
                t->node_child[next] = -1;
                t->node_byte[next] = p[i];
                if (node < 0) {
                    t->node_sibling[next] = -1;
                    t->root[p[i]] = next;
                } else {
                    t->node_sibling[next] = t->node_child[node];
                    t->node_child[node] = next;
                }
            }
            node = next;
        }
        if (node >= 0 && t->node_token[node] < 0) t->node_token[node] = id;
    }
    for (b = 0; b < 256; b++)
        if (t->root[b] < 0 || t->node_token[t->root[b]] < 0) {
            rwkv_tokenizer_free(t);
            return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                              "vocabulary has no token for the byte 0x%x, so not every text "
                              "could be encoded", (unsigned)b);
        }
    *out = t;
    rwkv__ok(error);
    return RWKV_OK;
}

RWKVDEF rwkv_result rwkv_tokenizer_create_bytes(rwkv_tokenizer **out, rwkv_error *error) {
    rwkv_tokenizer *t;
    int i;
    if (!out) return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL argument");
    t = (rwkv_tokenizer *)rwkv__calloc(1, sizeof(rwkv_tokenizer));
    if (!t) return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    t->n_tokens = 256;
    t->offsets = (uint32_t *)rwkv__calloc(257, sizeof(uint32_t));
    t->bytes = (unsigned char *)rwkv__calloc(256, 1);
    if (!t->offsets || !t->bytes) {
        rwkv_tokenizer_free(t);
        return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    }
    for (i = 0; i < 256; i++) {
        t->bytes[i] = (unsigned char)i;
        t->offsets[i + 1] = (uint32_t)i + 1;
    }
    return rwkv__tokenizer_finish(t, out, error);
}

/* Growing arrays for the vocabulary parsers. */
typedef struct rwkv__vocab_builder {
    unsigned char *bytes;
    size_t n_bytes, cap_bytes;
    uint32_t *ids, *starts, *lens;
    size_t n, cap;
} rwkv__vocab_builder;

static int rwkv__grow(void **p, size_t *cap, size_t need, size_t elem) {
    size_t c = *cap ? *cap : 1024;
    void *q;
    if (need <= *cap) return 1;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) return 0;
        c *= 2;
    }
    q = RWKV_REALLOC(*p, c * elem);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

static int rwkv__builder_byte(rwkv__vocab_builder *b, unsigned char c) {
    if (!rwkv__grow((void **)&b->bytes, &b->cap_bytes, b->n_bytes + 1, 1)) return 0;
    b->bytes[b->n_bytes++] = c;
    return 1;
}

/* Start a new token with this id; its bytes follow with rwkv__builder_byte. */
static int rwkv__builder_token(rwkv__vocab_builder *b, uint32_t id) {
    size_t cap = b->cap;
    if (!rwkv__grow((void **)&b->ids, &cap, b->n + 1, sizeof(uint32_t))) return 0;
    cap = b->cap;
    if (!rwkv__grow((void **)&b->starts, &cap, b->n + 1, sizeof(uint32_t))) return 0;
    cap = b->cap;
    if (!rwkv__grow((void **)&b->lens, &cap, b->n + 1, sizeof(uint32_t))) return 0;
    b->cap = cap;
    b->ids[b->n] = id;
    b->starts[b->n] = (uint32_t)b->n_bytes;
    b->lens[b->n] = 0;
    b->n++;
    return 1;
}

static void rwkv__builder_free(rwkv__vocab_builder *b) {
    RWKV_FREE(b->bytes);
    RWKV_FREE(b->ids);
    RWKV_FREE(b->starts);
    RWKV_FREE(b->lens);
}

/* Lay the collected tokens out by id (ids without a token get no bytes). */
static rwkv_result rwkv__builder_finish(rwkv__vocab_builder *b, rwkv_tokenizer **out,
                                        rwkv_error *error) {
    rwkv_tokenizer *t = (rwkv_tokenizer *)rwkv__calloc(1, sizeof(rwkv_tokenizer));
    uint32_t max_id = 0, *by_id = NULL;
    size_t i;
    int id;
    rwkv_result res = RWKV_OK;
    if (b->n_bytes > UINT32_MAX - 1) res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "vocabulary too large");
    for (i = 0; i < b->n; i++)
        if (b->ids[i] > max_id) max_id = b->ids[i];
    if (!res && !t) res = rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    if (!res) {
        t->n_tokens = (int)max_id + 1;
        t->offsets = (uint32_t *)rwkv__calloc((size_t)max_id + 2, sizeof(uint32_t));
        t->bytes = (unsigned char *)rwkv__calloc(b->n_bytes + 1, 1);
        by_id = (uint32_t *)rwkv__calloc((size_t)max_id + 1, sizeof(uint32_t));
        if (!t->offsets || !t->bytes || !by_id)
            res = rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    }
    /* by_id[id] = 1 + index of the token with that id */
    for (i = 0; !res && i < b->n; i++) {
        if (by_id[b->ids[i]])
            res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "token id %u appears twice", b->ids[i]);
        by_id[b->ids[i]] = (uint32_t)i + 1;
    }
    if (!res) {
        uint32_t pos = 0;
        for (id = 0; id < t->n_tokens; id++) {
            t->offsets[id] = pos;
            if (by_id[id]) {
                size_t k = by_id[id] - 1;
                memcpy(t->bytes + pos, b->bytes + b->starts[k], b->lens[k]);
                pos += b->lens[k];
            }
        }
        t->offsets[t->n_tokens] = pos;
    }
    RWKV_FREE(by_id);
    rwkv__builder_free(b);
    if (res) {
        rwkv_tokenizer_free(t);
        return res;
    }
    return rwkv__tokenizer_finish(t, out, error);
}

static int rwkv__hex(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Append code point cp as UTF-8; 0 for surrogates and values past U+10FFFF,
   which have no UTF-8 form. */
static int rwkv__builder_utf8(rwkv__vocab_builder *b, uint32_t cp) {
    if (cp < 0x80) return rwkv__builder_byte(b, (unsigned char)cp);
    if (cp < 0x800)
        return rwkv__builder_byte(b, (unsigned char)(0xc0 | cp >> 6)) &&
               rwkv__builder_byte(b, (unsigned char)(0x80 | (cp & 63)));
    if (cp >= 0xd800 && cp < 0xe000) return 0;
    if (cp < 0x10000)
        return rwkv__builder_byte(b, (unsigned char)(0xe0 | cp >> 12)) &&
               rwkv__builder_byte(b, (unsigned char)(0x80 | ((cp >> 6) & 63))) &&
               rwkv__builder_byte(b, (unsigned char)(0x80 | (cp & 63)));
    if (cp > 0x10ffff) return 0;
    return rwkv__builder_byte(b, (unsigned char)(0xf0 | cp >> 18)) &&
           rwkv__builder_byte(b, (unsigned char)(0x80 | ((cp >> 12) & 63))) &&
           rwkv__builder_byte(b, (unsigned char)(0x80 | ((cp >> 6) & 63))) &&
           rwkv__builder_byte(b, (unsigned char)(0x80 | (cp & 63)));
}

/* Parse one Python string or bytes literal at p (up to end), appending its
   value; returns the position after the closing quote, or NULL. In a str
   literal \xHH, \uHHHH, \UHHHHHHHH and octal escapes are code points
   (stored as UTF-8); in a bytes literal \xHH and octal are raw bytes. */
static const char *rwkv__parse_literal(rwkv__vocab_builder *b, const char *p, const char *end) {
    int is_bytes = 0;
    char quote;
    if (p < end && (*p == 'b' || *p == 'B')) is_bytes = 1, p++;
    if (p >= end || (*p != '\'' && *p != '"')) return NULL;
    quote = *p++;
    while (p < end && *p != quote) {
        unsigned char c = (unsigned char)*p++;
        uint32_t v;
        int ok = 1, digits = 0, i;
        if (c == '\n' || c == '\r') return NULL;
        if (c != '\\') {
            if (is_bytes && c >= 0x80) return NULL;
            if (!rwkv__builder_byte(b, c)) return NULL;
            continue;
        }
        if (p >= end) return NULL;
        c = (unsigned char)*p++;
        switch (c) {
        case '\\': case '\'': case '"': ok = rwkv__builder_byte(b, c); break;
        case 'n': ok = rwkv__builder_byte(b, '\n'); break;
        case 't': ok = rwkv__builder_byte(b, '\t'); break;
        case 'r': ok = rwkv__builder_byte(b, '\r'); break;
        case 'a': ok = rwkv__builder_byte(b, 7); break;
        case 'b': ok = rwkv__builder_byte(b, 8); break;
        case 'f': ok = rwkv__builder_byte(b, 12); break;
        case 'v': ok = rwkv__builder_byte(b, 11); break;
        case 'x': digits = 2; break;
        case 'u': digits = is_bytes ? 0 : 4; break;
        case 'U': digits = is_bytes ? 0 : 8; break;
        default:
            if (c >= '0' && c <= '7') {
                v = (uint32_t)(c - '0');
                for (i = 0; i < 2 && p < end && *p >= '0' && *p <= '7'; i++) v = v * 8 + (uint32_t)(*p++ - '0');
                ok = is_bytes ? v <= 255 && rwkv__builder_byte(b, (unsigned char)v) : rwkv__builder_utf8(b, v);
            } else {
                /* Python keeps unknown escapes (and \u in bytes) as written */
                ok = rwkv__builder_byte(b, '\\') && rwkv__builder_byte(b, c);
            }
        }
        if (digits) {
            v = 0;
            for (i = 0; i < digits; i++) {
                int h = p < end ? rwkv__hex(*p) : -1;
                if (h < 0) return NULL;
                v = v * 16 + (uint32_t)h;
                p++;
            }
            ok = is_bytes ? rwkv__builder_byte(b, (unsigned char)v) : rwkv__builder_utf8(b, v);
        } else if (c == 'u' || c == 'U') {
            if (!is_bytes) return NULL;
        }
        if (!ok) return NULL;
    }
    return p < end ? p + 1 : NULL;
}

static const char *rwkv__parse_number(const char *p, const char *end, uint32_t *out) {
    uint64_t v = 0;
    const char *start = p;
    while (p < end && *p >= '0' && *p <= '9' && p - start < 10) v = v * 10 + (uint64_t)(*p++ - '0');
    if (p == start || v > UINT32_MAX) return NULL;
    *out = (uint32_t)v;
    return p;
}

RWKVDEF rwkv_result rwkv_tokenizer_load_world(rwkv_tokenizer **out, const char *text, size_t size,
                                              rwkv_error *error) {
    rwkv__vocab_builder b;
    const char *p = text, *end = text + size;
    int line = 0;
    if (!out || (!text && size)) return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    memset(&b, 0, sizeof(b));
    while (p < end) {
        const char *eol = (const char *)memchr(p, '\n', (size_t)(end - p));
        uint32_t id, len;
        size_t before;
        if (!eol) eol = end;
        line++;
        if (eol > p && eol[-1] == '\r') eol--; /* tolerate CRLF files */
        if (eol == p) {
            p = *eol == '\r' ? eol + 2 : eol + 1;
            continue;
        }
        p = rwkv__parse_number(p, eol, &id);
        if (p && (id >= RWKV_MAX_VOCAB || !rwkv__builder_token(&b, id))) p = NULL;
        if (p && (p >= eol || *p++ != ' ')) p = NULL;
        before = b.n_bytes;
        if (p) p = rwkv__parse_literal(&b, p, eol);
        if (p && (p >= eol || *p++ != ' ')) p = NULL;
        if (p) p = rwkv__parse_number(p, eol, &len);
        if (!p || p != eol || len != b.n_bytes - before || len == 0) {
            rwkv__builder_free(&b);
            return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                              "vocabulary line %d: expected `id literal length`", line);
        }
        b.lens[b.n - 1] = len;
        p = eol < end && *eol == '\r' ? eol + 2 : eol + 1;
    }
    if (!b.n) {
        rwkv__builder_free(&b);
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "vocabulary is empty");
    }
    return rwkv__builder_finish(&b, out, error);
}

#ifndef RWKV_NO_STDIO
RWKVDEF rwkv_result rwkv_tokenizer_load_world_file(rwkv_tokenizer **out, const char *path,
                                                   rwkv_error *error) {
    FILE *f;
    char *text;
    long len;
    rwkv_result res;
    if (!out || !path) return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    f = fopen(path, "rb");
    if (!f) return rwkv__fail(error, RWKV_ERROR_IO, "%s: cannot open", path);
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(text = (char *)RWKV_MALLOC((size_t)len + 1))) {
        fclose(f);
        return rwkv__fail(error, RWKV_ERROR_IO, "%s: cannot read", path);
    }
    if (fread(text, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        RWKV_FREE(text);
        return rwkv__fail(error, RWKV_ERROR_IO, "%s: cannot read", path);
    }
    fclose(f);
    res = rwkv_tokenizer_load_world(out, text, (size_t)len, error);
    RWKV_FREE(text);
    if (res && error) {
        char reason[sizeof(error->message)];
        memcpy(reason, error->message, sizeof(reason));
        rwkv__fail(error, res, "%s: %s", path, reason);
    }
    return res;
}
#endif

/* The World vocabulary as llama.cpp stores it in GGUF: tokenizer.ggml.tokens
   holds escaped text (\t \n \r \xHH, and \c for any other c), and
   tokenizer.ggml.token_type marks control and unused tokens (no bytes). A
   "bytes" model gets the byte tokenizer; other tokenizers are left out. */
static rwkv_result rwkv__tokenizer_from_gguf(const rwkv__gguf *g, int n_vocab,
                                             rwkv_tokenizer **out, rwkv_error *error) {
    rwkv__vocab_builder b;
    rwkv__reader tokens, types;
    uint32_t elem, type_elem = 0;
    uint64_t count, type_count = 0, i;
    int has_types;
    *out = NULL;
    if (rwkv__gguf_string_is(g, "tokenizer.ggml.model", "bytes")) {
        if (n_vocab < 256)
            return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "a byte model needs 256 tokens");
        return rwkv_tokenizer_create_bytes(out, error);
    }
    if (!rwkv__gguf_string_is(g, "tokenizer.ggml.model", "rwkv")) return RWKV_OK;
    if (!rwkv__gguf_get_array(g, "tokenizer.ggml.tokens", &elem, &count, &tokens) ||
        elem != RWKV__GGUF_STRING || count > (uint64_t)n_vocab)
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                          "tokenizer.ggml.tokens is missing or longer than the vocabulary");
    has_types = rwkv__gguf_get_array(g, "tokenizer.ggml.token_type", &type_elem, &type_count, &types);
    if (has_types && (type_count != count || (type_elem != RWKV__GGUF_I32 && type_elem != RWKV__GGUF_U32)))
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "tokenizer.ggml.token_type is malformed");
    memset(&b, 0, sizeof(b));
    for (i = 0; i < count; i++) {
        uint64_t len, j;
        const char *s = rwkv__read_string(&tokens, &len);
        uint32_t type = has_types ? rwkv__read_u32(&types) : 1;
        if (!rwkv__builder_token(&b, (uint32_t)i)) goto oom;
        if (type != 1) continue; /* control, unused, ...: no text */
        for (j = 0; j < len; j++) {
            unsigned char c = (unsigned char)s[j];
            if (c == '\\') {
                if (++j >= len) goto bad;
                c = (unsigned char)s[j];
                if (c == 'n') c = '\n';
                else if (c == 't') c = '\t';
                else if (c == 'r') c = '\r';
                else if (c == 'x') {
                    int hi = j + 2 < len ? rwkv__hex(s[j + 1]) : -1;
                    int lo = j + 2 < len ? rwkv__hex(s[j + 2]) : -1;
                    if (hi < 0 || lo < 0) goto bad;
                    c = (unsigned char)(hi * 16 + lo);
                    j += 2;
                }
            }
            if (!rwkv__builder_byte(&b, c)) goto oom;
            b.lens[b.n - 1]++;
        }
    }
    return rwkv__builder_finish(&b, out, error);
bad:
    rwkv__builder_free(&b);
    return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "token %llu: bad escape in its text",
                      (unsigned long long)i);
oom:
    rwkv__builder_free(&b);
    return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
}

RWKVDEF int rwkv_tokenizer_vocab_size(const rwkv_tokenizer *t) { return t ? t->n_tokens : 0; }

RWKVDEF const char *rwkv_token_bytes(const rwkv_tokenizer *t, int32_t id, size_t *len) {
    if (!t || id < 0 || id >= t->n_tokens) return NULL;
    if (len) *len = t->offsets[id + 1] - t->offsets[id];
    return (const char *)t->bytes + t->offsets[id];
}

RWKVDEF rwkv_result rwkv_tokenize(const rwkv_tokenizer *t, const void *text, size_t len,
                                  int32_t *tokens, size_t max_tokens, size_t *n_tokens,
                                  rwkv_error *error) {
    const unsigned char *s = (const unsigned char *)text;
    size_t pos = 0, count = 0;
    if (!t || !n_tokens || (!text && len) || (!tokens && max_tokens))
        return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL argument");
    while (pos < len) {
        int32_t node = t->root[s[pos]], best = -1;
        size_t depth = 1, best_len = 0;
        while (node >= 0) {
            if (t->node_token[node] >= 0) best = t->node_token[node], best_len = depth;
            if (pos + depth >= len) break;
            node = rwkv__trie_child(t, node, s[pos + depth]);
            depth++;
        }
        RWKV_ASSERT(best >= 0); /* every byte is a token: checked at load */
        if (count < max_tokens) tokens[count] = best;
        count++;
        pos += best_len;
    }
    *n_tokens = count;
    if (count > max_tokens)
        return rwkv__fail(error, RWKV_ERROR_BUFFER_TOO_SMALL, "%zu tokens need room", count);
    rwkv__ok(error);
    return RWKV_OK;
}

RWKVDEF rwkv_result rwkv_detokenize(const rwkv_tokenizer *t, const int32_t *tokens, size_t n,
                                    char *out, size_t capacity, size_t *out_len, rwkv_error *error) {
    size_t i, total = 0;
    if (!t || !out_len || (!tokens && n) || (!out && capacity))
        return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL argument");
    for (i = 0; i < n; i++) {
        size_t len;
        const char *bytes = rwkv_token_bytes(t, tokens[i], &len);
        if (!bytes)
            return rwkv__fail(error, RWKV_ERROR_TOKEN_RANGE, "token %d is outside the vocabulary",
                              (int)tokens[i]);
        if (total + len <= capacity) memcpy(out + total, bytes, len);
        total += len;
    }
    *out_len = total;
    if (total > capacity)
        return rwkv__fail(error, RWKV_ERROR_BUFFER_TOO_SMALL, "%zu bytes need room", total);
    rwkv__ok(error);
    return RWKV_OK;
}

/* ---- Streaming UTF-8 ----------------------------------------------------- */

/* Length of the sequence a lead byte starts (0: not a lead byte), and the
   range its second byte must be in (excludes overlong forms and
   surrogates). */
static int rwkv__utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi) {
    *lo = 0x80, *hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) return 2;
    if (c >= 0xe0 && c <= 0xef) {
        if (c == 0xe0) *lo = 0xa0;
        if (c == 0xed) *hi = 0x9f;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (c == 0xf0) *lo = 0x90;
        if (c == 0xf4) *hi = 0x8f;
        return 4;
    }
    return 0;
}

static size_t rwkv__put_replacement(char *out) {
    out[0] = (char)0xef, out[1] = (char)0xbf, out[2] = (char)0xbd;
    return 3;
}

RWKVDEF size_t rwkv_utf8_stream_push(rwkv_utf8_stream *st, const void *bytes, size_t n, char *out) {
    const unsigned char *in = (const unsigned char *)bytes;
    size_t i, w = 0;
    for (i = 0; i < n; i++) {
        unsigned char c = in[i], lo, hi;
        if (st->n_pending) {
            int need = rwkv__utf8_lead(st->pending[0], &lo, &hi);
            if (st->n_pending > 1) lo = 0x80, hi = 0xbf;
            if (c >= lo && c <= hi) {
                st->pending[st->n_pending++] = c;
                if (st->n_pending == need) {
                    memcpy(out + w, st->pending, (size_t)need);
                    w += (size_t)need;
                    st->n_pending = 0;
                }
                continue;
            }
            /* the held sequence can never complete */
            w += rwkv__put_replacement(out + w);
            st->n_pending = 0;
        }
        if (c < 0x80) out[w++] = (char)c;
        else if (rwkv__utf8_lead(c, &lo, &hi)) st->pending[st->n_pending++] = c;
        else w += rwkv__put_replacement(out + w);
    }
    return w;
}

RWKVDEF size_t rwkv_utf8_stream_flush(rwkv_utf8_stream *st, char *out) {
    if (!st->n_pending) return 0;
    st->n_pending = 0;
    return rwkv__put_replacement(out);
}

/* ---- Sampling ------------------------------------------------------------ */

struct rwkv_sampler {
    rwkv_sampler_params params;
    int n_vocab;
    float *counts;       /* decayed count of each generated token           */
    float *probs;
    int32_t *order;      /* token ids by falling probability                 */
    uint64_t rng_state;  /* PCG32 (O'Neill 2014), increment fixed            */
};

static uint32_t rwkv__pcg32(uint64_t *state) {
    uint64_t old = *state;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    *state = old * 6364136223846793005ull + 1442695040888963407ull;
    return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

RWKVDEF rwkv_sampler_params rwkv_sampler_default_params(void) {
    rwkv_sampler_params p;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.penalty_decay = 0.996f;
    p.seed = 42;
    return p;
}

RWKVDEF void rwkv_sampler_reset(rwkv_sampler *s) {
    if (!s) return;
    memset(s->counts, 0, sizeof(float) * (size_t)s->n_vocab);
    s->rng_state = 0;
    rwkv__pcg32(&s->rng_state);
    s->rng_state += s->params.seed;
    rwkv__pcg32(&s->rng_state);
}

RWKVDEF rwkv_result rwkv_sampler_create(rwkv_sampler **out, int n_vocab,
                                        const rwkv_sampler_params *params, rwkv_error *error) {
    rwkv_sampler *s;
    if (!out || !params || n_vocab < 1)
        return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "bad sampler arguments");
    *out = NULL;
    s = (rwkv_sampler *)rwkv__calloc(1, sizeof(rwkv_sampler));
    if (!s) return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    s->params = *params;
    s->n_vocab = n_vocab;
    s->counts = (float *)rwkv__calloc((size_t)n_vocab, sizeof(float));
    s->probs = (float *)rwkv__calloc((size_t)n_vocab, sizeof(float));
    s->order = (int32_t *)rwkv__calloc((size_t)n_vocab, sizeof(int32_t));
    if (!s->counts || !s->probs || !s->order) {
        rwkv_sampler_free(s);
        return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    }
    rwkv_sampler_reset(s);
    *out = s;
    rwkv__ok(error);
    return RWKV_OK;
}

RWKVDEF void rwkv_sampler_free(rwkv_sampler *s) {
    if (!s) return;
    RWKV_FREE(s->counts);
    RWKV_FREE(s->probs);
    RWKV_FREE(s->order);
    RWKV_FREE(s);
}

/* Sort ids by falling probability (ties by id, so the order is the same
   on every platform): a heap sort, in place and without recursion. */
static void rwkv__sift_down(int32_t *order, const float *p, size_t start, size_t n) {
    size_t root = start;
    for (;;) {
        size_t child = 2 * root + 1, best = root;
        int32_t t;
        /* a min-heap on (prob, -id), so the sorted array falls */
#define RWKV__BEFORE(a, b) (p[a] < p[b] || (p[a] == p[b] && (a) > (b)))
        if (child < n && RWKV__BEFORE(order[child], order[best])) best = child;
        if (child + 1 < n && RWKV__BEFORE(order[child + 1], order[best])) best = child + 1;
#undef RWKV__BEFORE
        if (best == root) return;
        t = order[root], order[root] = order[best], order[best] = t;
        root = best;
    }
}

static void rwkv__sort_by_prob(int32_t *order, const float *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) order[i] = (int32_t)i;
    for (i = n / 2; i-- > 0;) rwkv__sift_down(order, p, i, n);
    for (i = n; i-- > 1;) {
        int32_t t = order[0];
        order[0] = order[i], order[i] = t;
        rwkv__sift_down(order, p, 0, i);
    }
}

RWKVDEF int32_t rwkv_sampler_sample(rwkv_sampler *s, float *logits) {
    const rwkv_sampler_params *p = &s->params;
    int n = s->n_vocab, i, token = 0;
    float max;
    double sum = 0.0, target, acc = 0.0;
    if (p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f)
        for (i = 0; i < n; i++)
            if (s->counts[i] > 0.0f)
                logits[i] -= p->presence_penalty + s->counts[i] * p->frequency_penalty;
    for (i = 1; i < n; i++)
        if (logits[i] > logits[token]) token = i;
    if (p->temperature > 0.0f && p->top_k != 1) {
        max = logits[token];
        for (i = 0; i < n; i++) sum += s->probs[i] = expf(logits[i] - max);
        for (i = 0; i < n; i++) s->probs[i] = (float)(s->probs[i] / sum);
        if (p->top_p < 1.0f || (p->top_k > 0 && p->top_k < n)) {
            /* nucleus: keep every token at least as likely as the one where
               the mass first reaches top_p; then at most top_k of them */
            float cutoff = 0.0f;
            double mass = 0.0;
            rwkv__sort_by_prob(s->order, s->probs, (size_t)n);
            if (p->top_p < 1.0f)
                for (i = 0; i < n; i++) {
                    mass += s->probs[s->order[i]];
                    if (mass >= p->top_p) {
                        cutoff = s->probs[s->order[i]];
                        break;
                    }
                }
            for (i = 0; i < n; i++) {
                int id = s->order[i];
                if (s->probs[id] < cutoff || (p->top_k > 0 && i >= p->top_k)) s->probs[id] = 0.0f;
            }
        }
        sum = 0.0;
        for (i = 0; i < n; i++) {
            if (p->temperature != 1.0f && s->probs[i] > 0.0f)
                s->probs[i] = powf(s->probs[i], 1.0f / p->temperature);
            sum += s->probs[i];
        }
        /* 24 random bits: the same draw on every platform */
        target = (double)(rwkv__pcg32(&s->rng_state) >> 8) / 16777216.0 * sum;
        for (i = 0; i < n; i++) {
            if (s->probs[i] <= 0.0f) continue;
            token = i;
            acc += s->probs[i];
            if (acc > target) break;
        }
    }
    if (p->penalty_decay != 1.0f)
        for (i = 0; i < n; i++) s->counts[i] *= p->penalty_decay;
    s->counts[token] += 1.0f;
    return token;
}

#endif /* RWKV_IMPLEMENTATION_DONE */
#endif /* RWKV_IMPLEMENTATION */
