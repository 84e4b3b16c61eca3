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
 *   RWKV_NO_SIMD         use the plain C kernels even where AVX2 (x86-64) or
 *                        NEON (AArch64) is enabled.
 *   RWKV_CHUNK           tokens per chunk in sequence mode (default 64); a
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
 *   Tokenizers: RWKV World (greedy longest match), bytes (256 tokens), and
 *              GPT-NeoX byte-level BPE (tokenizer.json or GGUF "gpt2";
 *              Unicode 15.0 classes, NFC from Unicode 9.0 as HF has it).
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
#if defined(RWKV_STATIC) && (defined(__GNUC__) || defined(__clang__))
#define RWKVDEF static __attribute__((unused)) /* a firmware build uses a few */
#elif defined(RWKV_STATIC)
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
   read or write directly. It starts on a 64-byte boundary, as does every
   scratch buffer of the state. */
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
   with OUT_OF_MEMORY (each thread needs 12 rows of scratch). */
RWKVDEF rwkv_result rwkv_state_set_threads(rwkv_state *state, int n_threads);

/* Opt in (enabled != 0) to ggml-style integer arithmetic for quantized
   weights: each matrix's input vector is rounded to 8 bits per block of 32
   and multiplied in integers, when decoding and, on x86 with AVX2, in
   sequence mode too (elsewhere rwkv_eval_sequence keeps float inputs).
   Faster on quantized weights (measured with AVX-512 VNNI: decode 1.45-1.9x
   on Q4/Q5, sequence mode 1.6-1.85x on Q4/Q5/Q8; with AVX2 on Zen 3: decode
   1.2-1.6x on Q4/Q5, sequence mode 1.5-1.7x on Q4/Q5, 1.03-1.23x on Q8_0),
   but no longer exact: logits move by up to 0.33 (measured on the tiny
   reference models; rwkv.cpp does the same). Default off: inputs stay
   float and results match the reference to float rounding. */
RWKVDEF void rwkv_state_set_quantized_input(rwkv_state *state, int enabled);

/* Feed one token: advance the state and, if logits is not NULL, write the
   n_vocab logits of the next token there (NULL skips the output head, which
   is the largest matrix of small models). Allocates nothing. */
RWKVDEF rwkv_result rwkv_eval(rwkv_state *state, int32_t token, float *logits,
                              rwkv_error *error);

/* Feed n tokens in order; logits (if not NULL) receives those after the
   last one. Equal to n calls of rwkv_eval() within float rounding, and
   faster: the tokens go through the model in chunks of RWKV_CHUNK (64), so
   each weight is read once per chunk (chunks under 8 tokens go one by one). n == 0 is allowed and leaves logits
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
/* The byte-level BPE of GPT-NeoX-20B (20B_tokenizer.json, RWKV-4 Pile and
   Raven models) from the text of a Hugging Face tokenizer.json whose model is
   BPE with a ByteLevel pre-tokenizer: the ids of HF's encode(text). */
RWKVDEF rwkv_result rwkv_tokenizer_load_bpe(rwkv_tokenizer **tokenizer, const char *json, size_t size,
                                            rwkv_error *error);
/* For converters writing GGUF: a BPE token as tokenizer.ggml.tokens and
   .token_type hold it, and the i-th of tokenizer.ggml.merges ("a b" is a,
   a space, b). INVALID_ARGUMENT for a tokenizer that is not BPE. */
RWKVDEF rwkv_result rwkv_tokenizer_gguf_token(const rwkv_tokenizer *tokenizer, int32_t id, const char **text,
                                              size_t *len, int32_t *type);
RWKVDEF size_t rwkv_tokenizer_gguf_merge_count(const rwkv_tokenizer *tokenizer);
RWKVDEF void rwkv_tokenizer_gguf_merge(const rwkv_tokenizer *tokenizer, size_t i, const char **a, size_t *a_len,
                                       const char **b, size_t *b_len);
/* The byte tokenizer of 256-token models: token id = byte value. */
RWKVDEF rwkv_result rwkv_tokenizer_create_bytes(rwkv_tokenizer **tokenizer,
                                                rwkv_error *error);
RWKVDEF void rwkv_tokenizer_free(rwkv_tokenizer *tokenizer);

/* Number of token ids (the largest id + 1). */
RWKVDEF int rwkv_tokenizer_vocab_size(const rwkv_tokenizer *tokenizer);

/* The bytes of one token (not NUL-terminated) and their count in *len, or
   NULL for an id out of range. World control tokens have zero bytes; BPE
   added tokens (<|endoftext|>, ...) have their text. */
RWKVDEF const char *rwkv_token_bytes(const rwkv_tokenizer *tokenizer,
                                     int32_t id, size_t *len);

/* Encode len bytes of text. World and bytes: any bytes (invalid UTF-8 is
   encoded too, since every single byte is a token), by greedy longest match
   as the official RWKV TRIE_TOKENIZER does; len ids always suffice. BPE:
   the ids of Hugging Face tokenizers' encode (added tokens, NFC, the GPT-2
   split, merges by rank); each invalid UTF-8 byte is encoded alone, and
   NFC may lengthen the text, so allow 3 * len + 1 ids. Writes at most
   max_tokens ids to tokens and the number of ids in *n_tokens. If
   max_tokens is too small, returns BUFFER_TOO_SMALL with *n_tokens = the
   number needed. tokens may be NULL when max_tokens is 0. */
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

#ifndef RWKV_CHUNK
#define RWKV_CHUNK 64 /* tokens evaluated together in sequence mode */
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

/* p rounded up to a multiple of `to` (a power of two). */
static void *rwkv__align(void *p, uintptr_t to) {
    return (void *)(((uintptr_t)p + to - 1u) & ~(to - 1u));
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
        out = pass ? (unsigned char *)rwkv__align(m->owned_data, 32) : NULL;
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
        if (n == C && t->ne[0] > 1 && t->ne[0] < C) m->head_size = (int)t->ne[0]; /* {N,H} */
        else if (n > 0 && n < C && C % n == 0) m->head_size = (int)(C / n);    /* one per head */
        else /* a flat {C} could be any number of heads: do not guess */
            return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                              "the head size is unknown: the file has no rwkv%d.wkv.head_size and "
                              "tensor %s does not show it", m->version, t->name);
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
    /* vectors a layer: v4 11, v5 14, v6 16 (5 of them fused), v7 19; and 4
       outside the layers */
    m->vectors = (float *)rwkv__calloc((size_t)(4 + (V == 4 ? 11 : V == 5 ? 14 : V == 6 ? 16 : 19) * L),
                                       (size_t)C * sizeof(float));
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
    {   /* the state and its scratch must be addressable (32-bit hosts) */
        uint64_t per_layer = V == 4 ? 5 : 2 + (uint64_t)m->head_size;
        uint64_t widest = (uint64_t)(C > F ? C : F) > (uint64_t)m->max_lora ? (uint64_t)(C > F ? C : F) : (uint64_t)m->max_lora;
        uint64_t floats = per_layer * (uint64_t)C * (uint64_t)L +
                          (uint64_t)RWKV_CHUNK * (20 * (uint64_t)C + (uint64_t)F + (uint64_t)m->max_lora) + 2 * widest;
        if (floats > (uint64_t)(SIZE_MAX / 2) / sizeof(float))
            return rwkv__fail(error, RWKV_ERROR_UNSUPPORTED,
                              "the state of this model (%llu floats) does not fit in this host's address space",
                              (unsigned long long)floats);
    }
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
        rwkv__layer_name(name, i, "time_mix_r_k.weight"); /* (H,N): the head size, before flattening */
        if (i == 0 && (t = rwkv__find_unsorted(m, name)) != NULL) m->head_size = (int)t->ne[0];
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

/* Model files are little-endian and f32 weights are used in place, so a
   big-endian host would compute garbage: refuse it (checked at run time,
   as no portable macro tells the byte order). */
static int rwkv__little_endian(void) {
    const uint32_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* Parse a buffer (GGUF or .bin) into m and build the model. */
static rwkv_result rwkv__model_parse(rwkv_model *m, const unsigned char *data, size_t size,
                                     rwkv_error *error) {
    rwkv__gguf g;
    rwkv_result res;
    int i;
    memset(&g, 0, sizeof(g));
    if (!rwkv__little_endian())
        return rwkv__fail(error, RWKV_ERROR_UNSUPPORTED,
                          "this host is big-endian; rwkv.h runs on little-endian hosts only");
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
        m->read_buffer = size <= SIZE_MAX - 32 ? RWKV_MALLOC(size + 32) : NULL;
        if (!m->read_buffer) {
            rwkv_model_free(m);
            return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
        }
        bytes = (const unsigned char *)memcpy(rwkv__align(m->read_buffer, 32), data, size);
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
        data = (unsigned char *)rwkv__align(m->read_buffer, 32);
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
   Every kernel has a plain C version; SIMD versions (AVX2+FMA+F16C on
   x86-64, NEON on AArch64) sit beside them and must give the same results
   within float rounding. With SIMD compiled in, the plain twins stay for
   the tests to compare against. */
#if defined(__GNUC__) || defined(__clang__)
#define RWKV__KERNEL static __attribute__((unused))
#define RWKV__ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define RWKV__KERNEL static
#define RWKV__ALWAYS_INLINE static inline
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

/* Four consecutive rows of F32, F16 or BF16 (row_bytes apart) times one
   input: the plain twin of the wide-input kernels below. */
RWKV__KERNEL void rwkv__dot_rows4_plain(int type, const unsigned char *row, size_t row_bytes, const float *x,
                                        int n, float *y) {
    int r;
    for (r = 0; r < 4; r++, row += row_bytes)
        y[r] = type == RWKV_TYPE_F32 ? rwkv__dot_f32_plain(row, x, n)
               : type == RWKV_TYPE_F16 ? rwkv__dot_f16_plain(row, x, n)
                                       : rwkv__dot_bf16_plain(row, x, n);
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

/* The AVX2 F16/BF16 and quantized row kernels ask for the weights this
   many bytes ahead of where they read, about one prefetch per 64 bytes:
   one Zen 3 core streamed an F16 matrix from memory at 13-14 GB/s
   without, 17.6-19.1 GB/s with 1 KB (512 B: 16-17.6, 2 KB: 17-17.6, 4 KB:
   15-16). F32 rows stream at 18-19 GB/s without and lose 5-10% with it,
   so they go without. */
#define RWKV__PREFETCH_AHEAD 1024
#define RWKV__PREFETCH(p) _mm_prefetch((const char *)(p) + RWKV__PREFETCH_AHEAD, _MM_HINT_T0)

RWKV__KERNEL float rwkv__dot_f32_avx2(const unsigned char *row, const float *x, int n) {
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
    /* four independent sums, so that the adds do not wait on each other */
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    float sum;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        const unsigned char *p = row + 2 * i;
        RWKV__PREFETCH(p);
        if (bf16) {
            a0 = _mm256_fmadd_ps(rwkv__load8_bf16(p), _mm256_loadu_ps(x + i), a0);
            a1 = _mm256_fmadd_ps(rwkv__load8_bf16(p + 16), _mm256_loadu_ps(x + i + 8), a1);
            a2 = _mm256_fmadd_ps(rwkv__load8_bf16(p + 32), _mm256_loadu_ps(x + i + 16), a2);
            a3 = _mm256_fmadd_ps(rwkv__load8_bf16(p + 48), _mm256_loadu_ps(x + i + 24), a3);
        } else {
            a0 = _mm256_fmadd_ps(rwkv__load8_f16(p), _mm256_loadu_ps(x + i), a0);
            a1 = _mm256_fmadd_ps(rwkv__load8_f16(p + 16), _mm256_loadu_ps(x + i + 8), a1);
            a2 = _mm256_fmadd_ps(rwkv__load8_f16(p + 32), _mm256_loadu_ps(x + i + 16), a2);
            a3 = _mm256_fmadd_ps(rwkv__load8_f16(p + 48), _mm256_loadu_ps(x + i + 24), a3);
        }
    }
    for (; i + 8 <= n; i += 8) {
        __m256 w = bf16 ? rwkv__load8_bf16(row + 2 * i) : rwkv__load8_f16(row + 2 * i);
        a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + i), a0);
    }
    sum = rwkv__hsum_avx2(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        sum += (bf16 ? rwkv__bf16_to_f32(rwkv__le16(row + 2 * i)) : rwkv__f16_to_f32(rwkv__le16(row + 2 * i))) * x[i];
    return sum;
}

RWKV__KERNEL float rwkv__dot_f16_avx2(const unsigned char *row, const float *x, int n) {
    return rwkv__dot_half_avx2(row, x, n, 0);
}

RWKV__KERNEL float rwkv__dot_bf16_avx2(const unsigned char *row, const float *x, int n) {
    return rwkv__dot_half_avx2(row, x, n, 1);
}

/* Inputs of at least this many floats (32 KB, a whole L1 data cache of
   most x86 cores) no longer stay in L1 beside the stream of weights, and
   one row at a time then re-reads x from L2 for every row: measured on
   2048 x 8192 F16 rows, one Zen 4 core, 12 GB/s where narrower rows run at
   28. Four rows at a time read x once for four rows, and a prefetch 2 KB
   ahead on each row keeps the four streams coming: 25 GB/s. On narrower
   inputs one row at a time is faster (four streams at once then cost more
   than they save), so this is only for wide ones. */
#define RWKV__WIDE_INPUT 8192

/* One row of F32, F16 or BF16 (the tails of the four-row kernels). */
static float rwkv__dot_float_avx2(int type, const unsigned char *row, const float *x, int n) {
    return type == RWKV_TYPE_F32 ? rwkv__dot_f32_avx2(row, x, n) : rwkv__dot_half_avx2(row, x, n, type == RWKV_TYPE_BF16);
}

RWKV__ALWAYS_INLINE __m256 rwkv__load8_float(int type, const unsigned char *p) {
    return type == RWKV_TYPE_F32 ? _mm256_loadu_ps((const float *)(const void *)p)
           : type == RWKV_TYPE_F16 ? rwkv__load8_f16(p)
                                   : rwkv__load8_bf16(p);
}

/* Each step takes one cache line (64 bytes) of each of the four rows. */
RWKV__ALWAYS_INLINE void rwkv__dot_rows4_loop_avx2(int type, const unsigned char *row, size_t row_bytes,
                                                   const float *x, int n, float *y) {
    const int size = type == RWKV_TYPE_F32 ? 4 : 2, step = 64 / size;
    __m256 acc[4][2];
    int i = 0, j, r;
    for (r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (; i + step <= n; i += step) {
        for (r = 0; r < 4; r++)
            _mm_prefetch((const char *)(row + r * row_bytes + (size_t)i * size) + 2048, _MM_HINT_T1);
        for (j = 0; j < step; j += 16) {
            const __m256 x0 = _mm256_loadu_ps(x + i + j), x1 = _mm256_loadu_ps(x + i + j + 8);
            for (r = 0; r < 4; r++) {
                const unsigned char *p = row + r * row_bytes + (size_t)(i + j) * size;
                acc[r][0] = _mm256_fmadd_ps(rwkv__load8_float(type, p), x0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(rwkv__load8_float(type, p + 8 * size), x1, acc[r][1]);
            }
        }
    }
    for (r = 0; r < 4; r++)
        y[r] = rwkv__hsum_avx2(_mm256_add_ps(acc[r][0], acc[r][1])) +
               rwkv__dot_float_avx2(type, row + r * row_bytes + (size_t)i * size, x + i, n - i);
}

/* Four consecutive rows of F32, F16 or BF16 times one wide input. */
RWKV__KERNEL void rwkv__dot_rows4_avx2(int type, const unsigned char *row, size_t row_bytes, const float *x,
                                       int n, float *y) {
    if (type == RWKV_TYPE_F32) rwkv__dot_rows4_loop_avx2(RWKV_TYPE_F32, row, row_bytes, x, n, y);
    else if (type == RWKV_TYPE_F16) rwkv__dot_rows4_loop_avx2(RWKV_TYPE_F16, row, row_bytes, x, n, y);
    else rwkv__dot_rows4_loop_avx2(RWKV_TYPE_BF16, row, row_bytes, x, n, y);
}

/* 16 bytes of nibbles as 32 bytes: the low nibbles (elements 0-15), then
   the high ones (16-31). */
RWKV__ALWAYS_INLINE __m256i rwkv__nibbles_avx2(const unsigned char *qs) {
    const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)qs));
    return _mm256_and_si256(_mm256_srlv_epi64(both, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(15));
}

/* 32 bits to 32 bytes: 0xff where the bit is set. */
static __m256i rwkv__bits_to_bytes(uint32_t bits) {
    const __m256i spread = _mm256_setr_epi64x(0, 0x0101010101010101ll, 0x0202020202020202ll,
                                              0x0303030303030303ll);
    const __m256i others = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfell); /* all but bit j%8 */
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);
    return _mm256_cmpeq_epi8(_mm256_or_si256(v, others), _mm256_set1_epi64x(-1));
}

/* Quantized rows with float inputs: every block is summed in two halves
   straight into two sums that run through the whole row, so that no block
   waits on a chain of its own four multiply-adds (the kernels that summed
   a block in one chain, then scaled it, were 1.05-2x slower on Zen 3). */
RWKV__KERNEL float rwkv__dot_q8_0_avx2(const unsigned char *row, const float *x, int n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0; /* named: GCC keeps an array in memory */
    int b;
    for (b = 0; b < n / 32; b++, row += 34, x += 32) {
        const __m256 d = _mm256_cvtph_ps(_mm_set1_epi16((short)rwkv__le16(row)));
        RWKV__PREFETCH(row);
#define RWKV__Q8_PART(j) \
    _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(row + 2 + 8 * j))))
        const __m256 p0 = _mm256_fmadd_ps(RWKV__Q8_PART(1), _mm256_loadu_ps(x + 8),
                                          _mm256_mul_ps(RWKV__Q8_PART(0), _mm256_loadu_ps(x)));
        const __m256 p1 = _mm256_fmadd_ps(RWKV__Q8_PART(3), _mm256_loadu_ps(x + 24),
                                          _mm256_mul_ps(RWKV__Q8_PART(2), _mm256_loadu_ps(x + 16)));
#undef RWKV__Q8_PART
        a0 = _mm256_fmadd_ps(d, p0, a0);
        a1 = _mm256_fmadd_ps(d, p1, a1);
    }
    return rwkv__hsum_avx2(_mm256_add_ps(a0, a1));
}

/* One Q4/Q5 block's 32 stored integers as unsigned bytes, 0-15 or 0-31
   (elements 0-15 in the low lane). */
RWKV__ALWAYS_INLINE __m256i rwkv__q4_q5_bytes_avx2(const unsigned char *row, int has_min, int five_bits) {
    __m256i q = rwkv__nibbles_avx2(row + 2 + 2 * has_min + 4 * five_bits);
    if (five_bits)
        q = _mm256_or_si256(q, _mm256_and_si256(rwkv__bits_to_bytes(rwkv__le32(row + 2 + 2 * has_min)),
                                                _mm256_set1_epi8(16)));
    return q;
}

/* Q4/Q5 rows with float inputs. Widening a block's bytes to floats in
   element order takes a vpmovsxbd (two shuffle uops) per 8 weights, which
   bound the kernel that did so (about 11 cycles a Q4_0 block on Zen 3).
   Instead rwkv__matvec reorders the input once per matrix
   (rwkv__block_input: element 4k+s of a block at 8s+k, then one sum of x
   per block), so that one vpshufb puts weights s, 4+s, ..., 28+s into the
   eight 32-bit lanes. The weights are summed unsigned (0-15, 0-31); the
   offset (-8 d, -16 d, or m) times the block's sum of x is added once a
   row. In cache: Q4_0 3.4 -> 2.5 ns a block, Q5_1 4.5 -> 3.4. */
RWKV__KERNEL void rwkv__block_input(const float *x, int n, float *xb) {
    float *sums = xb + n;
    int b, s, k;
    for (b = 0; b < n / 32; b++, x += 32, xb += 32) {
        float sum = 0.0f;
        for (s = 0; s < 4; s++)
            for (k = 0; k < 8; k++) xb[8 * s + k] = x[4 * k + s];
        for (k = 0; k < 32; k++) sum += x[k];
        sums[b] = sum;
    }
}

RWKV__ALWAYS_INLINE float rwkv__dot_q4_q5_loop_avx2(const unsigned char *row, const float *xb, int n, int has_min,
                                                   int five_bits) {
    const int block_bytes = 18 + 2 * has_min + 4 * five_bits;
    const float *sums = xb + n;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0; /* named: GCC keeps an array in memory */
    float offsets = 0.0f;
    int b;
    for (b = 0; b < n / 32; b++, row += block_bytes, xb += 32) {
        const __m256i q = rwkv__q4_q5_bytes_avx2(row, has_min, five_bits);
        /* d in all lanes from one broadcast load and one conversion */
        const __m256 d = _mm256_cvtph_ps(_mm_set1_epi16((short)rwkv__le16(row)));
        if (b % 2 == 0 || five_bits) RWKV__PREFETCH(row);
#define RWKV__LANES(s)                                                                                                \
    _mm256_cvtepi32_ps(_mm256_shuffle_epi8(q, _mm256_setr_epi8(s, -1, -1, -1, 4 + s, -1, -1, -1, 8 + s, -1, -1, -1,   \
                                                               12 + s, -1, -1, -1, s, -1, -1, -1, 4 + s, -1, -1, -1, \
                                                               8 + s, -1, -1, -1, 12 + s, -1, -1, -1)))
        const __m256 s0 = _mm256_fmadd_ps(RWKV__LANES(1), _mm256_loadu_ps(xb + 8),
                                          _mm256_mul_ps(RWKV__LANES(0), _mm256_loadu_ps(xb)));
        const __m256 s1 = _mm256_fmadd_ps(RWKV__LANES(3), _mm256_loadu_ps(xb + 24),
                                          _mm256_mul_ps(RWKV__LANES(2), _mm256_loadu_ps(xb + 16)));
#undef RWKV__LANES
        a0 = _mm256_fmadd_ps(d, s0, a0);
        a1 = _mm256_fmadd_ps(d, s1, a1);
        offsets += (has_min ? _cvtsh_ss(rwkv__le16(row + 2)) : _mm256_cvtss_f32(d)) * sums[b];
    }
    return rwkv__hsum_avx2(_mm256_add_ps(a0, a1)) + (has_min ? 1.0f : five_bits ? -16.0f : -8.0f) * offsets;
}

/* xb: the input as rwkv__block_input leaves it. */
RWKV__KERNEL float rwkv__dot_q4_q5_blocked_avx2(const unsigned char *row, const float *xb, int n, int has_min,
                                                int five_bits) {
    if (five_bits)
        return has_min ? rwkv__dot_q4_q5_loop_avx2(row, xb, n, 1, 1) : rwkv__dot_q4_q5_loop_avx2(row, xb, n, 0, 1);
    return has_min ? rwkv__dot_q4_q5_loop_avx2(row, xb, n, 1, 0) : rwkv__dot_q4_q5_loop_avx2(row, xb, n, 0, 0);
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
            __m256 d = _mm256_set1_ps(_cvtsh_ss(rwkv__le16(r)));
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
            float dv = _cvtsh_ss(rwkv__le16(r));
            __m256 d = _mm256_set1_ps(dv);
            __m256 m = _mm256_set1_ps(has_min ? _cvtsh_ss(rwkv__le16(r + 2)) : (five_bits ? -16.0f : -8.0f) * dv);
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
    float dsum;           /* d sum(q), beside d for one load of both (AVX2) */
    int32_t sum;          /* sum of q */
    signed char q[32];
} rwkv__q8_block;

/* One block of 32 inputs: q = round(x 127 / max|x|); d = max|x| / 127.
   The SIMD twins give the same bits (lrintf rounds half to even, as the
   vector conversions do; NaN inputs are ignored by max|x| in all three). */
RWKV__KERNEL void rwkv__quantize_block_plain(const float *x, rwkv__q8_block *out) {
    float amax = 0.0f, id;
    int32_t sum = 0;
    int j;
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

/* NEON twins of the SIMD kernels, for AArch64 (every ARMv8-A CPU has NEON).
   Each has the signature of its _plain twin and gives the same result within
   float rounding; row decoding (rwkv__dequantize_neon) and the integer
   products (rwkv__dot_q8_input_neon) give the same bits. Rows are read with
   byte loads (vld1q_u8), so they need no alignment. Little-endian only. */
#if defined(__ARM_NEON) && defined(__aarch64__) && !defined(__ARM_BIG_ENDIAN) && !defined(RWKV_NO_SIMD)
#define RWKV__NEON 1
#include <arm_neon.h>

static float rwkv__hsum_neon(float32x4_t v) {
    return vaddvq_f32(v);
}

static float rwkv__dot_f32_neon(const unsigned char *row, const float *x, int n) {
    const float *w = (const float *)(const void *)row;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    float sum;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, vld1q_f32(w + i), vld1q_f32(x + i));
        a1 = vfmaq_f32(a1, vld1q_f32(w + i + 4), vld1q_f32(x + i + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(w + i + 8), vld1q_f32(x + i + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(w + i + 12), vld1q_f32(x + i + 12));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, vld1q_f32(w + i), vld1q_f32(x + i));
    sum = rwkv__hsum_neon(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++) sum += w[i] * x[i];
    return sum;
}

/* Eight 16-bit floats (16 little-endian bytes) widened to two float32x4:
   the FCVTL instruction for f16 (exact, subnormals included), a shift for
   bf16. */
static void rwkv__load8_half_neon(const unsigned char *p, int bf16, float32x4_t *lo, float32x4_t *hi) {
    uint16x8_t h = vreinterpretq_u16_u8(vld1q_u8(p));
    if (bf16) {
        *lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
        *hi = vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(h), 16));
    } else {
        float16x8_t f = vreinterpretq_f16_u16(h);
        *lo = vcvt_f32_f16(vget_low_f16(f));
        *hi = vcvt_high_f32_f16(f);
    }
}

static float rwkv__dot_half_neon(const unsigned char *row, const float *x, int n, int bf16) {
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0, w0, w1, w2, w3;
    float sum;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        rwkv__load8_half_neon(row + 2 * i, bf16, &w0, &w1);
        rwkv__load8_half_neon(row + 2 * i + 16, bf16, &w2, &w3);
        a0 = vfmaq_f32(a0, w0, vld1q_f32(x + i));
        a1 = vfmaq_f32(a1, w1, vld1q_f32(x + i + 4));
        a2 = vfmaq_f32(a2, w2, vld1q_f32(x + i + 8));
        a3 = vfmaq_f32(a3, w3, vld1q_f32(x + i + 12));
    }
    for (; i + 8 <= n; i += 8) {
        rwkv__load8_half_neon(row + 2 * i, bf16, &w0, &w1);
        a0 = vfmaq_f32(a0, w0, vld1q_f32(x + i));
        a1 = vfmaq_f32(a1, w1, vld1q_f32(x + i + 4));
    }
    sum = rwkv__hsum_neon(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++)
        sum += (bf16 ? rwkv__bf16_to_f32(rwkv__le16(row + 2 * i)) : rwkv__f16_to_f32(rwkv__le16(row + 2 * i))) * x[i];
    return sum;
}

static float rwkv__dot_f16_neon(const unsigned char *row, const float *x, int n) {
    return rwkv__dot_half_neon(row, x, n, 0);
}

static float rwkv__dot_bf16_neon(const unsigned char *row, const float *x, int n) {
    return rwkv__dot_half_neon(row, x, n, 1);
}

/* 16 signed bytes to four float32x4, in order. */
static void rwkv__s8_to_f32x16_neon(int8x16_t q, float32x4_t *out) {
    int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
    out[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
    out[1] = vcvtq_f32_s32(vmovl_high_s16(lo));
    out[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
    out[3] = vcvtq_f32_s32(vmovl_high_s16(hi));
}

/* 16 unsigned bytes to four float32x4, in order. */
static void rwkv__u8_to_f32x16_neon(uint8x16_t q, float32x4_t *out) {
    uint16x8_t lo = vmovl_u8(vget_low_u8(q)), hi = vmovl_high_u8(q);
    out[0] = vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo)));
    out[1] = vcvtq_f32_u32(vmovl_high_u16(lo));
    out[2] = vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi)));
    out[3] = vcvtq_f32_u32(vmovl_high_u16(hi));
}

static float rwkv__dot_q8_0_neon(const unsigned char *row, const float *x, int n) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    int b, j;
    for (b = 0; b < n / 32; b++, row += 34, x += 32) {
        float32x4_t w[8], b0 = vdupq_n_f32(0.0f), b1 = b0;
        rwkv__s8_to_f32x16_neon(vreinterpretq_s8_u8(vld1q_u8(row + 2)), w);
        rwkv__s8_to_f32x16_neon(vreinterpretq_s8_u8(vld1q_u8(row + 18)), w + 4);
        for (j = 0; j < 8; j += 2) {
            b0 = vfmaq_f32(b0, w[j], vld1q_f32(x + 4 * j));
            b1 = vfmaq_f32(b1, w[j + 1], vld1q_f32(x + 4 * j + 4));
        }
        acc = vfmaq_n_f32(acc, vaddq_f32(b0, b1), rwkv__f16_to_f32(rwkv__le16(row)));
    }
    return rwkv__hsum_neon(acc);
}

/* The fifth bits of 16 weights (bit j of `bits` for weight j) as 16 bytes:
   16 where the bit is set, else 0. */
static uint8x16_t rwkv__fifth_bits_neon(uint32_t bits) {
    static const unsigned char lane_bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint8x16_t v = vcombine_u8(vdup_n_u8((uint8_t)bits), vdup_n_u8((uint8_t)(bits >> 8)));
    return vandq_u8(vtstq_u8(v, vld1q_u8(lane_bit)), vdupq_n_u8(16));
}

/* The 32 weights of a Q4/Q5 block as unsigned bytes: elements 0-15 in *lo,
   16-31 in *hi (the low and high nibbles, plus the fifth bits). */
static void rwkv__unpack_q4_q5_neon(const unsigned char *block, int has_min, int five_bits,
                                    uint8x16_t *lo, uint8x16_t *hi) {
    uint8x16_t packed = vld1q_u8(block + 2 + 2 * has_min + 4 * five_bits);
    *lo = vandq_u8(packed, vdupq_n_u8(15));
    *hi = vshrq_n_u8(packed, 4);
    if (five_bits) {
        uint32_t qh = rwkv__le32(block + 2 + 2 * has_min);
        *lo = vorrq_u8(*lo, rwkv__fifth_bits_neon(qh));
        *hi = vorrq_u8(*hi, rwkv__fifth_bits_neon(qh >> 16));
    }
}

static float rwkv__dot_q4_q5_neon(const unsigned char *row, const float *x, int n, int has_min,
                                  int five_bits) {
    const int block_bytes = 18 + 2 * has_min + 4 * five_bits;
    float32x4_t acc = vdupq_n_f32(0.0f);
    int b, j;
    for (b = 0; b < n / 32; b++, row += block_bytes, x += 32) {
        float d = rwkv__f16_to_f32(rwkv__le16(row));
        float offset = has_min ? rwkv__f16_to_f32(rwkv__le16(row + 2)) : (five_bits ? -16.0f : -8.0f) * d;
        float32x4_t w[8], qx0 = vdupq_n_f32(0.0f), qx1 = qx0, xs0 = qx0, xs1 = qx0;
        uint8x16_t lo, hi;
        rwkv__unpack_q4_q5_neon(row, has_min, five_bits, &lo, &hi);
        rwkv__u8_to_f32x16_neon(lo, w);
        rwkv__u8_to_f32x16_neon(hi, w + 4);
        for (j = 0; j < 8; j += 2) {
            float32x4_t x0 = vld1q_f32(x + 4 * j), x1 = vld1q_f32(x + 4 * j + 4);
            qx0 = vfmaq_f32(qx0, w[j], x0);
            qx1 = vfmaq_f32(qx1, w[j + 1], x1);
            xs0 = vaddq_f32(xs0, x0);
            xs1 = vaddq_f32(xs1, x1);
        }
        acc = vfmaq_n_f32(acc, vaddq_f32(qx0, qx1), d);
        acc = vfmaq_n_f32(acc, vaddq_f32(xs0, xs1), offset);
    }
    return rwkv__hsum_neon(acc);
}

/* Row decoding, bit for bit as rwkv__dequantize_plain (d*q, then + m, as
   two roundings: no fused multiply-add). */
static void rwkv__dequantize_neon(int type, const unsigned char *r, int n, float *out) {
    int i = 0, j;
    if (type == RWKV_TYPE_F16 || type == RWKV_TYPE_BF16) {
        for (; i + 8 <= n; i += 8) {
            float32x4_t lo, hi;
            rwkv__load8_half_neon(r + 2 * i, type == RWKV_TYPE_BF16, &lo, &hi);
            vst1q_f32(out + i, lo);
            vst1q_f32(out + i + 4, hi);
        }
        if (i < n) rwkv__dequantize_plain(type, r + 2 * i, n - i, out + i);
    } else if (type == RWKV_TYPE_Q8_0) {
        for (; i < n / 32; i++, r += 34, out += 32) {
            float d = rwkv__f16_to_f32(rwkv__le16(r));
            float32x4_t w[8];
            rwkv__s8_to_f32x16_neon(vreinterpretq_s8_u8(vld1q_u8(r + 2)), w);
            rwkv__s8_to_f32x16_neon(vreinterpretq_s8_u8(vld1q_u8(r + 18)), w + 4);
            for (j = 0; j < 8; j++) vst1q_f32(out + 4 * j, vmulq_n_f32(w[j], d));
        }
    } else if (type != RWKV_TYPE_F32) {
        const int has_min = type == RWKV_TYPE_Q4_1 || type == RWKV_TYPE_Q5_1;
        const int five_bits = type == RWKV_TYPE_Q5_0 || type == RWKV_TYPE_Q5_1;
        const int block_bytes = 18 + 2 * has_min + 4 * five_bits;
        for (; i < n / 32; i++, r += block_bytes, out += 32) {
            float d = rwkv__f16_to_f32(rwkv__le16(r));
            float32x4_t m = vdupq_n_f32(has_min ? rwkv__f16_to_f32(rwkv__le16(r + 2)) : (five_bits ? -16.0f : -8.0f) * d);
            float32x4_t w[8];
            uint8x16_t lo, hi;
            rwkv__unpack_q4_q5_neon(r, has_min, five_bits, &lo, &hi);
            rwkv__u8_to_f32x16_neon(lo, w);
            rwkv__u8_to_f32x16_neon(hi, w + 4);
            for (j = 0; j < 8; j++) vst1q_f32(out + 4 * j, vaddq_f32(vmulq_n_f32(w[j], d), m));
        }
    } else {
        memcpy(out, r, sizeof(float) * (size_t)n);
    }
}

/* sum(a * b) over 32 signed bytes, exactly: SDOT where the CPU has it
   (ARMv8.2 dot product, -march=armv8.2-a+dotprod), else widening
   multiplies (each product fits 16 bits) added pairwise into 32 bits. */
static int32_t rwkv__dot_s8x32_neon(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1) {
#ifdef __ARM_FEATURE_DOTPROD
    int32x4_t acc = vdotq_s32(vdupq_n_s32(0), a0, b0);
    acc = vdotq_s32(acc, a1, b1);
#else
    int32x4_t acc = vpaddlq_s16(vmull_s8(vget_low_s8(a0), vget_low_s8(b0)));
    acc = vpadalq_s16(acc, vmull_high_s8(a0, b0));
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a1), vget_low_s8(b1)));
    acc = vpadalq_s16(acc, vmull_high_s8(a1, b1));
#endif
    return vaddvq_s32(acc);
}

static void rwkv__quantize_block_neon(const float *x, rwkv__q8_block *out) {
    float32x4_t v[8], amax4 = vdupq_n_f32(0.0f);
    int32x4_t sums = vdupq_n_s32(0);
    int8x16_t q[2];
    float amax, id;
    int j;
    for (j = 0; j < 8; j++) {
        v[j] = vld1q_f32(x + 4 * j);
        amax4 = vmaxnmq_f32(amax4, vabsq_f32(v[j])); /* maxnm: a NaN loses, as in the plain twin */
    }
    amax = vmaxnmvq_f32(amax4);
    out->d = amax / 127.0f;
    id = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (j = 0; j < 2; j++) {
        int32x4_t i0 = vcvtnq_s32_f32(vmulq_n_f32(v[4 * j], id)), i1 = vcvtnq_s32_f32(vmulq_n_f32(v[4 * j + 1], id));
        int32x4_t i2 = vcvtnq_s32_f32(vmulq_n_f32(v[4 * j + 2], id)), i3 = vcvtnq_s32_f32(vmulq_n_f32(v[4 * j + 3], id));
        sums = vaddq_s32(sums, vaddq_s32(vaddq_s32(i0, i1), vaddq_s32(i2, i3)));
        q[j] = vcombine_s8(vqmovn_s16(vcombine_s16(vqmovn_s32(i0), vqmovn_s32(i1))),
                           vqmovn_s16(vcombine_s16(vqmovn_s32(i2), vqmovn_s32(i3))));
    }
    vst1q_s8(out->q, q[0]);
    vst1q_s8(out->q + 16, q[1]);
    out->sum = vaddvq_s32(sums);
}

/* Integer products with a quantized input: the block's integer sum is
   exact, and the float arithmetic around it is the plain kernel's, so the
   result is the plain kernel's, bit for bit (without -ffp-contract=fast). */
static float rwkv__dot_q8_input_neon(int type, const unsigned char *row, const rwkv__q8_block *x,
                                     int n) {
    const int has_min = type == RWKV_TYPE_Q4_1 || type == RWKV_TYPE_Q5_1;
    const int five_bits = type == RWKV_TYPE_Q5_0 || type == RWKV_TYPE_Q5_1;
    const int block_bytes = (int)rwkv_type_size(type, 32);
    float sum = 0.0f;
    int b;
    for (b = 0; b < n / 32; b++, row += block_bytes, x++) {
        const int8x16_t qx0 = vld1q_s8(x->q), qx1 = vld1q_s8(x->q + 16);
        float dw = rwkv__f16_to_f32(rwkv__le16(row)), offset;
        int32_t dot;
        if (type == RWKV_TYPE_Q8_0) {
            dot = rwkv__dot_s8x32_neon(vreinterpretq_s8_u8(vld1q_u8(row + 2)),
                                       vreinterpretq_s8_u8(vld1q_u8(row + 18)), qx0, qx1);
            offset = 0.0f;
        } else {
            uint8x16_t lo, hi; /* 0..31: as signed bytes, the same values */
            rwkv__unpack_q4_q5_neon(row, has_min, five_bits, &lo, &hi);
            dot = rwkv__dot_s8x32_neon(vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(hi), qx0, qx1);
            offset = has_min ? rwkv__f16_to_f32(rwkv__le16(row + 2)) : (five_bits ? -16.0f : -8.0f) * dw;
        }
        sum += dw * x->d * (float)dot + offset * x->d * (float)x->sum;
    }
    return sum;
}
#endif

#ifdef RWKV__AVX2

static void rwkv__quantize_block_avx2(const float *x, rwkv__q8_block *out) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4], amax8 = _mm256_setzero_ps(), scale;
    __m256i i[4], q;
    __m128 m;
    __m128i s;
    float amax, id;
    int j;
    for (j = 0; j < 4; j++) {
        v[j] = _mm256_loadu_ps(x + 8 * j);
        amax8 = _mm256_max_ps(_mm256_andnot_ps(sign, v[j]), amax8); /* a NaN loses, as in the plain twin */
    }
    m = _mm_max_ps(_mm256_castps256_ps128(amax8), _mm256_extractf128_ps(amax8, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
    out->d = amax / 127.0f;
    id = amax > 0.0f ? 127.0f / amax : 0.0f;
    scale = _mm256_set1_ps(id);
    for (j = 0; j < 4; j++) i[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], scale));
    /* the packs interleave 128-bit lanes: 4-byte groups come out as
       x0-3 x8-11 x16-19 x24-27 x4-7 ...; the permute puts them in order */
    q = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
    q = _mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(void *)out->q, q);
    i[0] = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
    s = _mm_add_epi32(_mm256_castsi256_si128(i[0]), _mm256_extracti128_si256(i[0], 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    out->sum = _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1)));
}

/* One block's integer products as eight int32 sums, their total
   sum(qw qx) (Q4/Q5: of the stored, unsigned integers). maddubs wants one
   unsigned operand: Q4/Q5 weights are unsigned (31 * 127 * 2 fits in
   int16); Q8_0 moves the weights' sign over to x. */
RWKV__ALWAYS_INLINE __m256i rwkv__block_q8_input_avx2(const unsigned char *row, const rwkv__q8_block *x, int type,
                                                     int has_min, int five_bits) {
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i qx = _mm256_loadu_si256((const __m256i *)(const void *)x->q);
    __m256i products;
    if (type == RWKV_TYPE_Q8_0) {
        const __m256i qw = _mm256_loadu_si256((const __m256i *)(const void *)(row + 2));
        products = _mm256_maddubs_epi16(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qx, qw));
        return _mm256_madd_epi16(products, ones);
    } else {
        return _mm256_madd_epi16(_mm256_maddubs_epi16(rwkv__q4_q5_bytes_avx2(row, has_min, five_bits), qx), ones);
    }
}

/* A block's scales as floats: dw dx in lane 0 and dw dx sum(qx) (Q4_0,
   Q5_0; times -8 or -16 at the end) or m dx sum(qx) (Q4_1, Q5_1) in lane
   1: dw (and m) are adjacent f16s, dx and dx sum(qx) adjacent floats, so
   one conversion and one multiply give both. */
RWKV__ALWAYS_INLINE __m128 rwkv__block_scales_avx2(const unsigned char *row, const rwkv__q8_block *x, int has_min) {
    const __m128 dx = _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(const void *)&x->d)); /* unaligned */
    const __m128i half = has_min ? _mm_cvtsi32_si128((int)rwkv__le32(row)) : _mm_set1_epi16((short)rwkv__le16(row));
    return _mm_mul_ps(_mm_cvtph_ps(half), dx);
}

/* The loop for one type (constant flags where inlined): two blocks a step
   into two sums, so that the multiply-adds do not wait on each other; the
   offset terms of Q4/Q5 gather in lane 1 of `offsets`. */
RWKV__ALWAYS_INLINE float rwkv__dot_q8_input_loop_avx2(const unsigned char *row, const rwkv__q8_block *x, int n,
                                                      int type, int has_min, int five_bits) {
    const int block_bytes = type == RWKV_TYPE_Q8_0 ? 34 : 18 + 2 * has_min + 4 * five_bits, nb = n / 32;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m128 offsets = _mm_setzero_ps();
    int b;
    for (b = 0; b + 2 <= nb; b += 2, row += 2 * block_bytes, x += 2) {
        const __m256i s0 = rwkv__block_q8_input_avx2(row, x, type, has_min, five_bits);
        RWKV__PREFETCH(row);
        if (2 * block_bytes > 64) RWKV__PREFETCH(row + 64);
        const __m256i s1 = rwkv__block_q8_input_avx2(row + block_bytes, x + 1, type, has_min, five_bits);
        const __m128 k0 = rwkv__block_scales_avx2(row, x, has_min);
        const __m128 k1 = rwkv__block_scales_avx2(row + block_bytes, x + 1, has_min);
        acc0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(k0), _mm256_cvtepi32_ps(s0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_broadcastss_ps(k1), _mm256_cvtepi32_ps(s1), acc1);
        if (type != RWKV_TYPE_Q8_0) offsets = _mm_add_ps(offsets, _mm_add_ps(k0, k1));
    }
    if (b < nb) {
        const __m256i s0 = rwkv__block_q8_input_avx2(row, x, type, has_min, five_bits);
        const __m128 k0 = rwkv__block_scales_avx2(row, x, has_min);
        acc0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(k0), _mm256_cvtepi32_ps(s0), acc0);
        if (type != RWKV_TYPE_Q8_0) offsets = _mm_add_ps(offsets, k0);
    }
    if (type == RWKV_TYPE_Q8_0) return rwkv__hsum_avx2(_mm256_add_ps(acc0, acc1));
    return rwkv__hsum_avx2(_mm256_add_ps(acc0, acc1)) +
           (has_min ? 1.0f : five_bits ? -16.0f : -8.0f) * _mm_cvtss_f32(_mm_movehdup_ps(offsets));
}

static float rwkv__dot_q8_input_avx2(int type, const unsigned char *row, const rwkv__q8_block *x, int n) {
    switch (type) {
    case RWKV_TYPE_Q8_0: return rwkv__dot_q8_input_loop_avx2(row, x, n, RWKV_TYPE_Q8_0, 0, 0);
    case RWKV_TYPE_Q4_0: return rwkv__dot_q8_input_loop_avx2(row, x, n, RWKV_TYPE_Q4_0, 0, 0);
    case RWKV_TYPE_Q4_1: return rwkv__dot_q8_input_loop_avx2(row, x, n, RWKV_TYPE_Q4_1, 1, 0);
    case RWKV_TYPE_Q5_0: return rwkv__dot_q8_input_loop_avx2(row, x, n, RWKV_TYPE_Q5_0, 0, 1);
    default: return rwkv__dot_q8_input_loop_avx2(row, x, n, RWKV_TYPE_Q5_1, 1, 1);
    }
}
#endif

/* AVX-512 (F, BW, VL; AMD Zen 4 and later, Intel Skylake-X and later):
   twins of the AVX2 float-input kernels, 16 floats per instruction; the
   AVX2 kernels finish the tails. On Zen 4 they decode Q4/Q5/Q8 rows 1.4 to
   3 times as fast as AVX2 (bin/rwkv bench); F16 rows 1.2 times when in
   cache; F32 rows, bound by memory, 1.08-1.2 times in decode (512-bit
   loads keep more of the stream in flight). The integer kernels with VNNI
   follow below. */
#if defined(RWKV__AVX2) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define RWKV__AVX512 1

static __m512 rwkv__load16_half(const unsigned char *p, int bf16) {
    __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)p);
    return bf16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)) : _mm512_cvtph_ps(h);
}

static float rwkv__dot_half_avx512(const unsigned char *row, const float *x, int n, int bf16) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(rwkv__load16_half(row + 2 * i, bf16), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(rwkv__load16_half(row + 2 * i + 32, bf16), _mm512_loadu_ps(x + i + 16), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) +
           rwkv__dot_half_avx2(row + 2 * (size_t)i, x + i, n - i, bf16);
}

/* The AVX-512 twin of rwkv__dot_rows4_avx2 (wide inputs, four rows). */
RWKV__ALWAYS_INLINE void rwkv__dot_rows4_loop_avx512(int type, const unsigned char *row, size_t row_bytes,
                                                     const float *x, int n, float *y) {
    const int size = type == RWKV_TYPE_F32 ? 4 : 2, step = 64 / size;
    __m512 acc[4];
    int i = 0, j, r;
    for (r = 0; r < 4; r++) acc[r] = _mm512_setzero_ps();
    for (; i + step <= n; i += step) {
        for (r = 0; r < 4; r++)
            _mm_prefetch((const char *)(row + r * row_bytes + (size_t)i * size) + 2048, _MM_HINT_T1);
        for (j = 0; j < step; j += 16) {
            const __m512 xj = _mm512_loadu_ps(x + i + j);
            for (r = 0; r < 4; r++) {
                const unsigned char *p = row + r * row_bytes + (size_t)(i + j) * size;
                const __m512 w = type == RWKV_TYPE_F32 ? _mm512_loadu_ps((const float *)(const void *)p)
                                                       : rwkv__load16_half(p, type == RWKV_TYPE_BF16);
                acc[r] = _mm512_fmadd_ps(w, xj, acc[r]);
            }
        }
    }
    for (r = 0; r < 4; r++)
        y[r] = _mm512_reduce_add_ps(acc[r]) +
               rwkv__dot_float_avx2(type, row + r * row_bytes + (size_t)i * size, x + i, n - i);
}

RWKV__KERNEL void rwkv__dot_rows4_avx512(int type, const unsigned char *row, size_t row_bytes, const float *x,
                                         int n, float *y) {
    if (type == RWKV_TYPE_F32) rwkv__dot_rows4_loop_avx512(RWKV_TYPE_F32, row, row_bytes, x, n, y);
    else if (type == RWKV_TYPE_F16) rwkv__dot_rows4_loop_avx512(RWKV_TYPE_F16, row, row_bytes, x, n, y);
    else rwkv__dot_rows4_loop_avx512(RWKV_TYPE_BF16, row, row_bytes, x, n, y);
}

static float rwkv__dot_f32_avx512(const unsigned char *row, const float *x, int n) {
    const float *w = (const float *)(const void *)row;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + rwkv__dot_f32_avx2(row + 4 * (size_t)i, x + i, n - i);
}

static float rwkv__dot_f16_avx512(const unsigned char *row, const float *x, int n) {
    return rwkv__dot_half_avx512(row, x, n, 0);
}

static float rwkv__dot_bf16_avx512(const unsigned char *row, const float *x, int n) {
    return rwkv__dot_half_avx512(row, x, n, 1);
}

static float rwkv__dot_q8_0_avx512(const unsigned char *row, const float *x, int n) {
    __m512 acc = _mm512_setzero_ps();
    int b;
    for (b = 0; b < n / 32; b++, row += 34, x += 32) {
        const __m128i *q = (const __m128i *)(const void *)(row + 2);
        __m512 w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(q)));
        __m512 w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(q + 1)));
        __m512 block = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + 16), _mm512_mul_ps(w0, _mm512_loadu_ps(x)));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(rwkv__le16(row))), block, acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/* Float inputs: per block, d * sum(q x) + offset * sum(x), as in AVX2. */
static float rwkv__dot_q4_q5_avx512(const unsigned char *row, const float *x, int n, int has_min,
                                    int five_bits) {
    const int block_bytes = 18 + 2 * has_min + 4 * five_bits;
    const __m128i low4 = _mm_set1_epi8(15);
    const __m512i sixteen = _mm512_set1_epi32(16);
    __m512 acc = _mm512_setzero_ps();
    int b;
    for (b = 0; b < n / 32; b++, row += block_bytes, x += 32) {
        const unsigned char *qs = row + 2 + 2 * has_min + 4 * five_bits;
        __m128i packed = _mm_loadu_si128((const __m128i *)(const void *)qs);
        __m512i lo = _mm512_cvtepu8_epi32(_mm_and_si128(packed, low4));
        __m512i hi = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(packed, 4), low4));
        __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
        float d = _cvtsh_ss(rwkv__le16(row));
        float offset = has_min ? _cvtsh_ss(rwkv__le16(row + 2)) : (five_bits ? -16.0f : -8.0f) * d;
        if (five_bits) { /* the fifth bits, one mask bit per element */
            uint32_t qh = rwkv__le32(row + 2 + 2 * has_min);
            lo = _mm512_mask_or_epi32(lo, (__mmask16)(qh & 0xffffu), lo, sixteen);
            hi = _mm512_mask_or_epi32(hi, (__mmask16)(qh >> 16), hi, sixteen);
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d),
                              _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi), x1, _mm512_mul_ps(_mm512_cvtepi32_ps(lo), x0)),
                              acc);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(offset), _mm512_add_ps(x0, x1), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/* Rows decoded to floats for prefill, 16 at a time (the AVX2 twin's bits:
   d*q + m rounded in the same two steps); in a Q4_0 prefill the AVX2
   decoding took 12% of the time. */
static void rwkv__dequantize_avx512(int type, const unsigned char *r, int n, float *out) {
    int i = 0;
    if (type == RWKV_TYPE_F16 || type == RWKV_TYPE_BF16) {
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, rwkv__load16_half(r + 2 * i, type == RWKV_TYPE_BF16));
        rwkv__dequantize_avx2(type, r + 2 * i, n - i, out + i);
    } else if (type == RWKV_TYPE_Q8_0) {
        for (; i < n / 32; i++, r += 34, out += 32) {
            const __m512 d = _mm512_set1_ps(_cvtsh_ss(rwkv__le16(r)));
            const __m128i *q = (const __m128i *)(const void *)(r + 2);
            _mm512_storeu_ps(out, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(q)))));
            _mm512_storeu_ps(out + 16,
                             _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(q + 1)))));
        }
    } else if (type != RWKV_TYPE_F32) {
        const int has_min = type == RWKV_TYPE_Q4_1 || type == RWKV_TYPE_Q5_1;
        const int five_bits = type == RWKV_TYPE_Q5_0 || type == RWKV_TYPE_Q5_1;
        const int block_bytes = 18 + 2 * has_min + 4 * five_bits;
        const __m128i low4 = _mm_set1_epi8(15);
        const __m512i sixteen = _mm512_set1_epi32(16);
        for (; i < n / 32; i++, r += block_bytes, out += 32) {
            const __m128i packed = _mm_loadu_si128((const __m128i *)(const void *)(r + 2 + 2 * has_min + 4 * five_bits));
            const float dv = _cvtsh_ss(rwkv__le16(r));
            const __m512 d = _mm512_set1_ps(dv);
            const __m512 m = _mm512_set1_ps(has_min ? _cvtsh_ss(rwkv__le16(r + 2)) : (five_bits ? -16.0f : -8.0f) * dv);
            __m512i lo = _mm512_cvtepu8_epi32(_mm_and_si128(packed, low4));
            __m512i hi = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(packed, 4), low4));
            if (five_bits) {
                const uint32_t qh = rwkv__le32(r + 2 + 2 * has_min);
                lo = _mm512_mask_or_epi32(lo, (__mmask16)(qh & 0xffffu), lo, sixteen);
                hi = _mm512_mask_or_epi32(hi, (__mmask16)(qh >> 16), hi, sixteen);
            }
            _mm512_storeu_ps(out, _mm512_add_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(lo)), m));
            _mm512_storeu_ps(out + 16, _mm512_add_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(hi)), m));
        }
    } else {
        memcpy(out, r, sizeof(float) * (size_t)n);
    }
}

#endif

#if defined(RWKV__AVX512) && defined(__AVX512VNNI__)
#define RWKV__AVX512VNNI 1
/* Decode with 8-bit inputs on AVX-512 VNNI: two blocks per instruction.
   The quantized input is laid out once per matrix in pairs of blocks, a
   pair to 128 bytes: their 64 bytes qx, then four floats dx0, dx1, k0, k1,
   one cache line and a quarter (with dx and k spread over the 16 lanes,
   192 bytes a pair, decode was 4-10% slower). k carries the type's block
   offset: a block's product is
       dw dx sum(qw qx) + k dw     with k = c dx sum(qx),
   c = -8 (Q4_0), -16 (Q5_0); for Q4_1/Q5_1 (c = 1) the minimum m takes
   the place of dw in the second term. Q8_0 (c = 0) has signed weights:
   vpdpbusd's unsigned operand is then qx + 128, and 128 sum(qw) is taken
   back by a second vpdpbusd (measured faster than qw + 128 with k). */
#define RWKV__PAIR_BYTES 128

/* The offset factor c above, by type. */
static float rwkv__pair_offset(int type) {
    return type == RWKV_TYPE_Q8_0 ? 0.0f : type == RWKV_TYPE_Q4_0 ? -8.0f : type == RWKV_TYPE_Q5_0 ? -16.0f : 1.0f;
}

RWKV__KERNEL void rwkv__prepare_pairs(int type, const rwkv__q8_block *x, int n, unsigned char *pairs) {
    const float c = rwkv__pair_offset(type);
    int p;
    for (p = 0; p < n / 64; p++, x += 2, pairs += RWKV__PAIR_BYTES) {
        float *scales = (float *)(void *)(pairs + 64);
        memcpy(pairs, x[0].q, 32);
        memcpy(pairs + 32, x[1].q, 32);
        scales[0] = x[0].d, scales[1] = x[1].d;
        scales[2] = c * x[0].d * (float)x[0].sum, scales[3] = c * x[1].d * (float)x[1].sum;
    }
}

/* Two f16 values (at p and p + step) as floats h0, h1, h0, h1. */
static __m128 rwkv__two_halves(const unsigned char *p, int step) {
    return _mm_cvtph_ps(_mm_set1_epi32((int)(rwkv__le16(p) | (uint32_t)rwkv__le16(p + step) << 16)));
}

/* The loop for one type (the flags are constants where it is inlined).
   Per pair the scales are multiplied in four lanes (dw dx for each block,
   then k dw, gathered apart), and one permute spreads dw dx over the eight
   lanes of each block's integer sums. */
RWKV__ALWAYS_INLINE float rwkv__dot_q8_pairs_loop(const unsigned char *row, const unsigned char *pairs,
                                                  const rwkv__q8_block *x, int n, int type, int has_min,
                                                  int five_bits) {
    const int block_bytes = type == RWKV_TYPE_Q8_0 ? 34 : 18 + 2 * has_min + 4 * five_bits, n_pairs = n / 64;
    const __m512i low4 = _mm512_set1_epi8(15), sixteen = _mm512_set1_epi8(16), flip = _mm512_set1_epi8((char)0x80);
    const __m512i spread = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    __m512 acc = _mm512_setzero_ps();
    __m128 offsets = _mm_setzero_ps();
    int p;
    for (p = 0; p < n_pairs; p++, row += 2 * block_bytes, pairs += RWKV__PAIR_BYTES) {
        const __m512i qx = _mm512_loadu_si512(pairs);
        const __m128 xs = _mm_loadu_ps((const float *)(const void *)(pairs + 64));
        const __m128 scaled = _mm_mul_ps(xs, rwkv__two_halves(row, block_bytes));
        __m512i qw, sums;
        if (type == RWKV_TYPE_Q8_0) {
            qw = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(row + 2))),
                _mm256_loadu_si256((const __m256i *)(const void *)(row + block_bytes + 2)), 1);
        } else {
            const int qs_offset = 2 + 2 * has_min + 4 * five_bits;
            const __m256i both = _mm256_set_m128i(
                _mm_loadu_si128((const __m128i *)(const void *)(row + block_bytes + qs_offset)),
                _mm_loadu_si128((const __m128i *)(const void *)(row + qs_offset)));
            /* lanes: low nibbles of block 0, high of block 0, low and high of block 1 */
            qw = _mm512_shuffle_i64x2(_mm512_castsi256_si512(both), _mm512_castsi256_si512(both), 0x50);
            qw = _mm512_and_si512(_mm512_mask_srli_epi16(qw, 0xFF00FF00u, qw, 4), low4);
            if (five_bits) {
                const __mmask64 high = (__mmask64)rwkv__le32(row + 2 + 2 * has_min) |
                                       (__mmask64)rwkv__le32(row + block_bytes + 2 + 2 * has_min) << 32;
                qw = _mm512_or_si512(qw, _mm512_maskz_mov_epi8(high, sixteen));
            }
        }
        sums = type == RWKV_TYPE_Q8_0
                   ? _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(qx, flip), qw),
                                      _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, qw))
                   : _mm512_dpbusd_epi32(_mm512_setzero_si512(), qw, qx);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(scaled)),
                              acc);
        if (type != RWKV_TYPE_Q8_0)
            offsets = has_min ? _mm_fmadd_ps(xs, rwkv__two_halves(row + 2, block_bytes), offsets)
                              : _mm_add_ps(offsets, scaled);
    }
    offsets = _mm_movehl_ps(offsets, offsets); /* lanes 2 and 3: the k terms */
    return _mm512_reduce_add_ps(acc) + _mm_cvtss_f32(_mm_add_ss(offsets, _mm_shuffle_ps(offsets, offsets, 1))) +
           (n % 64 ? rwkv__dot_q8_input_avx2(type, row, x + 2 * n_pairs, n - 64 * n_pairs) : 0.0f);
}

RWKV__KERNEL float rwkv__dot_q8_pairs_vnni(int type, const unsigned char *row, const unsigned char *pairs,
                                           const rwkv__q8_block *x, int n) {
    switch (type) {
    case RWKV_TYPE_Q8_0: return rwkv__dot_q8_pairs_loop(row, pairs, x, n, RWKV_TYPE_Q8_0, 0, 0);
    case RWKV_TYPE_Q4_0: return rwkv__dot_q8_pairs_loop(row, pairs, x, n, RWKV_TYPE_Q4_0, 0, 0);
    case RWKV_TYPE_Q4_1: return rwkv__dot_q8_pairs_loop(row, pairs, x, n, RWKV_TYPE_Q4_1, 1, 0);
    case RWKV_TYPE_Q5_0: return rwkv__dot_q8_pairs_loop(row, pairs, x, n, RWKV_TYPE_Q5_0, 0, 1);
    default: return rwkv__dot_q8_pairs_loop(row, pairs, x, n, RWKV_TYPE_Q5_1, 1, 1);
    }
}
#endif

#if defined(RWKV__AVX512)
#define rwkv__dot_rows4 rwkv__dot_rows4_avx512
#define rwkv__dequantize rwkv__dequantize_avx512
#elif defined(RWKV__AVX2)
#define rwkv__dot_rows4 rwkv__dot_rows4_avx2
#define rwkv__dequantize rwkv__dequantize_avx2
#elif defined(RWKV__NEON)
#define rwkv__dequantize rwkv__dequantize_neon
#else
#define rwkv__dequantize rwkv__dequantize_plain
#endif

#if defined(RWKV__AVX2)
#define rwkv__dot_q8_input rwkv__dot_q8_input_avx2
#define rwkv__quantize_block rwkv__quantize_block_avx2
#elif defined(RWKV__NEON)
#define rwkv__dot_q8_input rwkv__dot_q8_input_neon
#define rwkv__quantize_block rwkv__quantize_block_neon
#else
#define rwkv__dot_q8_input rwkv__dot_q8_input_plain
#define rwkv__quantize_block rwkv__quantize_block_plain
#endif

static void rwkv__quantize_input(const float *x, int n, rwkv__q8_block *out) {
    int b;
    for (b = 0; b < n / 32; b++) {
        rwkv__quantize_block(x + 32 * b, out + b);
        out[b].dsum = out[b].d * (float)out[b].sum;
    }
}

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
#if defined(RWKV__AVX512)
    case RWKV_TYPE_F32: return rwkv__dot_f32_avx512(row, x, n);
    case RWKV_TYPE_F16: return rwkv__dot_f16_avx512(row, x, n);
    case RWKV_TYPE_BF16: return rwkv__dot_bf16_avx512(row, x, n);
    case RWKV_TYPE_Q8_0: return rwkv__dot_q8_0_avx512(row, x, n);
    case RWKV_TYPE_Q4_0: return rwkv__dot_q4_q5_avx512(row, x, n, 0, 0);
    case RWKV_TYPE_Q4_1: return rwkv__dot_q4_q5_avx512(row, x, n, 1, 0);
    case RWKV_TYPE_Q5_0: return rwkv__dot_q4_q5_avx512(row, x, n, 0, 1);
    case RWKV_TYPE_Q5_1: return rwkv__dot_q4_q5_avx512(row, x, n, 1, 1);
#elif defined(RWKV__AVX2)
    case RWKV_TYPE_F32: return rwkv__dot_f32_avx2(row, x, n);
    case RWKV_TYPE_F16: return rwkv__dot_f16_avx2(row, x, n);
    case RWKV_TYPE_BF16: return rwkv__dot_bf16_avx2(row, x, n);
    case RWKV_TYPE_Q8_0: return rwkv__dot_q8_0_avx2(row, x, n);
    /* rwkv__matvec gives Q4/Q5 rows a reordered input and the AVX2 kernel
       (rwkv__dot_q4_q5_blocked_avx2); here, without that scratch, plain C */
    case RWKV_TYPE_Q4_0: return rwkv__dot_q4_q5_plain(row, x, n, 0, 0);
    case RWKV_TYPE_Q4_1: return rwkv__dot_q4_q5_plain(row, x, n, 1, 0);
    case RWKV_TYPE_Q5_0: return rwkv__dot_q4_q5_plain(row, x, n, 0, 1);
    case RWKV_TYPE_Q5_1: return rwkv__dot_q4_q5_plain(row, x, n, 1, 1);
#elif defined(RWKV__NEON)
    case RWKV_TYPE_F32: return rwkv__dot_f32_neon(row, x, n);
    case RWKV_TYPE_F16: return rwkv__dot_f16_neon(row, x, n);
    case RWKV_TYPE_BF16: return rwkv__dot_bf16_neon(row, x, n);
    case RWKV_TYPE_Q8_0: return rwkv__dot_q8_0_neon(row, x, n);
    case RWKV_TYPE_Q4_0: return rwkv__dot_q4_q5_neon(row, x, n, 0, 0);
    case RWKV_TYPE_Q4_1: return rwkv__dot_q4_q5_neon(row, x, n, 1, 0);
    case RWKV_TYPE_Q5_0: return rwkv__dot_q4_q5_neon(row, x, n, 0, 1);
    case RWKV_TYPE_Q5_1: return rwkv__dot_q4_q5_neon(row, x, n, 1, 1);
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

#if defined(RWKV__AVX2) && !defined(RWKV__AVX512)
#define RWKV__BLOCKED_INPUT 1 /* Q4/Q5 decode with float inputs: rwkv__block_input */
#endif

/* Multiply-adds below which a matrix product stays on one thread: waking
   the others costs more than it saves. */
#define RWKV__MIN_PARALLEL (1 << 18)


/* ---- Prefill: a chunk of tokens times a matrix ------------------------- */

/* Several tokens at once make the product compute-bound, so it is arranged
   for the multiply-add units: the chunk's inputs are packed once into
   panels of up to 32 tokens, transposed so that the 32 tokens' values of
   one input element lie side by side (xp[k * width + t]); weight rows go
   twelve at a time, as floats. Each weight is broadcast and multiplied with
   a whole vector of tokens, so the sums stay in registers for the whole row
   and need no horizontal reduction at the end. */
#define RWKV__PANEL_ROWS 12
#define RWKV__PANEL_TOKENS 32
/* Rows of more than 768 inputs are taken 256 at a time (partial sums
   added up), so that a six-row block's slice of weights (6 KB) and of the
   panel (16 KB) stay in the L1 cache. On Zen 3, one thread, F16 rows x 64
   tokens, best of 25 (GMAC/s): 1024 inputs 37.7-38.5 -> 39.6-39.8, 3072
   and 4096 (the FFN's value matrix, whose whole panel no longer fits the
   L2 cache) 34.1-36.3 -> 37.5-38.9; slices of 128-384 within a few percent
   of 256. Rows of 768 lost 3-4% to the extra passes (43.4 -> 41.6), so
   they go whole. */
#define RWKV__PANEL_SLICE 256
/* Chunks shorter than this go token by token: a panel of 16 costs about as
   much as 8 tokens one by one (measured on the 169M shape: F16 and Q8_0
   break even at 8 to 11 tokens, Q4_0 at 7). */
#define RWKV__PANEL_MIN_TOKENS 8

/* Twelve weight rows (floats, w_stride apart) times a panel of `width`
   (16 or 32) tokens: out[r * 32 + t] = w_r . x_t for t < width. */
RWKV__KERNEL void rwkv__gemm_panel_plain(const float *w, size_t w_stride, const float *xp, int n, int width,
                                         float *out) {
    int r, k, t, h;
    for (r = 0; r < RWKV__PANEL_ROWS; r++)
        for (h = 0; h < width; h += 16) {
            const float *wr = w + (size_t)r * w_stride;
            float sum[16] = {0};
            for (k = 0; k < n; k++) {
                const float *xk = xp + (size_t)k * (size_t)width + h;
                for (t = 0; t < 16; t++) sum[t] += wr[k] * xk[t];
            }
            for (t = 0; t < 16; t++) out[r * RWKV__PANEL_TOKENS + h + t] = sum[t];
        }
}

/* The panel as four blocks of six rows by 16 tokens (AVX2, NEON). */
typedef void (*rwkv__gemm_6x16_fn)(const float *w, size_t w_stride, const float *xp, size_t stride, int n,
                                   float *out);
RWKV__KERNEL void rwkv__gemm_panel_by_6x16(rwkv__gemm_6x16_fn block, const float *w, size_t w_stride,
                                           const float *xp, int n, int width, float *out) {
    int r, h;
    for (r = 0; r < RWKV__PANEL_ROWS; r += 6)
        for (h = 0; h < width; h += 16)
            block(w + (size_t)r * w_stride, w_stride, xp + h, (size_t)width, n, out + r * RWKV__PANEL_TOKENS + h);
}

#ifdef RWKV__AVX2
/* Six rows by 16 tokens (xp's rows `stride` floats apart): 12 ymm sums, two
   token vectors and a broadcast weight fill the 16 registers. */
RWKV__KERNEL void rwkv__gemm_6x16_avx2(const float *w, size_t w_stride, const float *xp, size_t stride, int n,
                                 float *out) {
    const float *w0 = w, *w1 = w + w_stride, *w2 = w + 2 * w_stride, *w3 = w + 3 * w_stride;
    const float *w4 = w + 4 * w_stride, *w5 = w + 5 * w_stride;
    __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0,
           a4 = a0, b4 = a0, a5 = a0, b5 = a0;
    int k;
    for (k = 0; k < n; k++) {
        __m256 x0 = _mm256_loadu_ps(xp + (size_t)k * stride), x1 = _mm256_loadu_ps(xp + (size_t)k * stride + 8), s;
#define RWKV__FMA_ROW(r) s = _mm256_broadcast_ss(w##r + k), a##r = _mm256_fmadd_ps(s, x0, a##r), b##r = _mm256_fmadd_ps(s, x1, b##r)
        RWKV__FMA_ROW(0); RWKV__FMA_ROW(1); RWKV__FMA_ROW(2); RWKV__FMA_ROW(3); RWKV__FMA_ROW(4); RWKV__FMA_ROW(5);
#undef RWKV__FMA_ROW
    }
#define RWKV__STORE_ROW(r) _mm256_storeu_ps(out + r * RWKV__PANEL_TOKENS, a##r), _mm256_storeu_ps(out + r * RWKV__PANEL_TOKENS + 8, b##r)
    RWKV__STORE_ROW(0); RWKV__STORE_ROW(1); RWKV__STORE_ROW(2); RWKV__STORE_ROW(3); RWKV__STORE_ROW(4); RWKV__STORE_ROW(5);
#undef RWKV__STORE_ROW
}

RWKV__KERNEL void rwkv__gemm_panel_avx2(const float *w, size_t w_stride, const float *xp, int n, int width,
                                  float *out) {
    rwkv__gemm_panel_by_6x16(rwkv__gemm_6x16_avx2, w, w_stride, xp, n, width, out);
}
#endif

#ifdef RWKV__AVX512
/* All twelve rows in one pass: 24 zmm sums for 32 tokens (12 for 16), named
   one by one (GCC keeps an array of them in memory). */
static void rwkv__gemm_panel_avx512(const float *w, size_t w_stride, const float *xp, int n, int width,
                                    float *out) {
    const float *w0 = w, *w1 = w + w_stride, *w2 = w + 2 * w_stride, *w3 = w + 3 * w_stride;
    const float *w4 = w + 4 * w_stride, *w5 = w + 5 * w_stride, *w6 = w + 6 * w_stride;
    const float *w7 = w + 7 * w_stride, *w8 = w + 8 * w_stride, *w9 = w + 9 * w_stride;
    const float *w10 = w + 10 * w_stride, *w11 = w + 11 * w_stride;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
           a9 = a0, a10 = a0, a11 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0,
           b7 = a0, b8 = a0, b9 = a0, b10 = a0, b11 = a0, x0, x1, s;
    int k;
#define RWKV__EACH_ROW(ROW) ROW(0); ROW(1); ROW(2); ROW(3); ROW(4); ROW(5); ROW(6); ROW(7); ROW(8); ROW(9); ROW(10); ROW(11)
    if (width == 32) {
        for (k = 0; k < n; k++) {
            x0 = _mm512_loadu_ps(xp + (size_t)k * 32), x1 = _mm512_loadu_ps(xp + (size_t)k * 32 + 16);
#define RWKV__FMA_ROW(r) s = _mm512_set1_ps(w##r[k]), a##r = _mm512_fmadd_ps(s, x0, a##r), b##r = _mm512_fmadd_ps(s, x1, b##r)
            RWKV__EACH_ROW(RWKV__FMA_ROW);
#undef RWKV__FMA_ROW
        }
#define RWKV__STORE_ROW(r) _mm512_storeu_ps(out + r * RWKV__PANEL_TOKENS, a##r), _mm512_storeu_ps(out + r * RWKV__PANEL_TOKENS + 16, b##r)
        RWKV__EACH_ROW(RWKV__STORE_ROW);
#undef RWKV__STORE_ROW
    } else {
        for (k = 0; k < n; k++) {
            x0 = _mm512_loadu_ps(xp + (size_t)k * 16);
#define RWKV__FMA_ROW(r) a##r = _mm512_fmadd_ps(_mm512_set1_ps(w##r[k]), x0, a##r)
            RWKV__EACH_ROW(RWKV__FMA_ROW);
#undef RWKV__FMA_ROW
        }
#define RWKV__STORE_ROW(r) _mm512_storeu_ps(out + r * RWKV__PANEL_TOKENS, a##r)
        RWKV__EACH_ROW(RWKV__STORE_ROW);
#undef RWKV__STORE_ROW
    }
#undef RWKV__EACH_ROW
}
#endif

#ifdef RWKV__NEON
/* Six rows by 16 tokens: 24 q-register sums, four token vectors. */
RWKV__KERNEL void rwkv__gemm_6x16_neon(const float *w, size_t w_stride, const float *xp, size_t stride, int n,
                                 float *out) {
    const float *w0 = w, *w1 = w + w_stride, *w2 = w + 2 * w_stride, *w3 = w + 3 * w_stride;
    const float *w4 = w + 4 * w_stride, *w5 = w + 5 * w_stride;
    float32x4_t a0 = vdupq_n_f32(0.0f), b0 = a0, c0 = a0, d0 = a0, a1 = a0, b1 = a0, c1 = a0, d1 = a0,
                a2 = a0, b2 = a0, c2 = a0, d2 = a0, a3 = a0, b3 = a0, c3 = a0, d3 = a0, a4 = a0, b4 = a0,
                c4 = a0, d4 = a0, a5 = a0, b5 = a0, c5 = a0, d5 = a0;
    int k;
    for (k = 0; k < n; k++) {
        const float *xk = xp + (size_t)k * stride;
        float32x4_t x0 = vld1q_f32(xk), x1 = vld1q_f32(xk + 4), x2 = vld1q_f32(xk + 8), x3 = vld1q_f32(xk + 12);
#define RWKV__FMA_ROW(r)                                                                                     \
    a##r = vfmaq_n_f32(a##r, x0, w##r[k]), b##r = vfmaq_n_f32(b##r, x1, w##r[k]),                        \
    c##r = vfmaq_n_f32(c##r, x2, w##r[k]), d##r = vfmaq_n_f32(d##r, x3, w##r[k])
        RWKV__FMA_ROW(0); RWKV__FMA_ROW(1); RWKV__FMA_ROW(2); RWKV__FMA_ROW(3); RWKV__FMA_ROW(4); RWKV__FMA_ROW(5);
#undef RWKV__FMA_ROW
    }
#define RWKV__STORE_ROW(r)                                                                                   \
    vst1q_f32(out + r * RWKV__PANEL_TOKENS, a##r), vst1q_f32(out + r * RWKV__PANEL_TOKENS + 4, b##r),      \
    vst1q_f32(out + r * RWKV__PANEL_TOKENS + 8, c##r), vst1q_f32(out + r * RWKV__PANEL_TOKENS + 12, d##r)
    RWKV__STORE_ROW(0); RWKV__STORE_ROW(1); RWKV__STORE_ROW(2); RWKV__STORE_ROW(3); RWKV__STORE_ROW(4); RWKV__STORE_ROW(5);
#undef RWKV__STORE_ROW
}

RWKV__KERNEL void rwkv__gemm_panel_neon(const float *w, size_t w_stride, const float *xp, int n, int width,
                                  float *out) {
    rwkv__gemm_panel_by_6x16(rwkv__gemm_6x16_neon, w, w_stride, xp, n, width, out);
}
#endif

#if defined(RWKV__AVX512)
#define rwkv__gemm_panel rwkv__gemm_panel_avx512
#elif defined(RWKV__AVX2)
#define rwkv__gemm_panel rwkv__gemm_panel_avx2
#elif defined(RWKV__NEON)
#define rwkv__gemm_panel rwkv__gemm_panel_neon
#else
#define rwkv__gemm_panel rwkv__gemm_panel_plain
#endif

/* Integer prefill (with rwkv_state_set_quantized_input, on x86 with AVX2):
   the same products as the integer decode above, a chunk at a time. Weight
   rows are rewritten once per chunk as bytes q with w = d q + m per block
   of 32, twelve rows at a time: Q8_0 q as stored (signed), m = 0; Q4_1,
   Q5_1 the stored integer and its m; Q4_0, Q5_0 for VNNI the stored
   integer minus 8 or 16 (signed) and m = 0, for AVX2 the stored integer
   (unsigned, which vpmaddubsw takes as is) and m = -8 d or -16 d (AVX2
   without VNNI takes Q8_0 as int16: rwkv__int16_row_avx2). The inputs are quantized as for decode and packed in panels of 16 tokens,
   block by block: for each group of four inputs, the 16 tokens' four
   bytes side by side (xq), then per block and token dx and dx * sum(qx)
   (xs). So
       w_r . x_t = sum over blocks of  dx (d sum(q qx)) + m (dx sum(qx)).
   NEON keeps float products in sequence mode. */
#ifdef RWKV__AVX2
#define RWKV__INT8_PANEL_TOKENS 16
#ifdef RWKV__AVX512VNNI
#define RWKV__INT8_UNSIGNED_Q 0 /* vpdpbusd: the inputs are the unsigned side */
#else
#define RWKV__INT8_UNSIGNED_Q 1
#endif

typedef struct rwkv__int8_rows {
    signed char *q; /* RWKV__PANEL_ROWS rows of n bytes                       */
    float *d, *c, *m; /* per row and block: d, -128 d sum(q) (VNNI), m         */
    int16_t *q16;   /* Q8_0 on AVX2 without VNNI: the rows as int16 instead   */
} rwkv__int8_rows;

/* Whether a matrix of this type takes the int16 form (rwkv__int16_panel_avx2):
   Q8_0 where there is no VNNI. */
static int rwkv__int16_prefill(int type) {
#ifdef RWKV__AVX512VNNI
    (void)type;
    return 0;
#else
    return type == RWKV_TYPE_Q8_0;
#endif
}

/* Bytes of a panel of 16 tokens of n inputs: n/32 blocks of 512 bytes of
   xq (1024 in the int16 form) and 32 floats of xs. */
static size_t rwkv__int8_panel_bytes(int n, int wide) {
    return (size_t)(n / 32) * ((wide ? 1024 : 512) + 32 * sizeof(float));
}

/* Rewrites row `row` (n weights of a quantized type) as row r of `rows`;
   with `unsigned_q` (AVX2) Q4_0/Q5_0 keep their stored integers and put
   the offset in m. */
RWKV__KERNEL void rwkv__int8_row_plain(int type, const unsigned char *row, int n, const rwkv__int8_rows *rows,
                                       int r, int unsigned_q) {
    const int has_min = type == RWKV_TYPE_Q4_1 || type == RWKV_TYPE_Q5_1;
    const int five_bits = type == RWKV_TYPE_Q5_0 || type == RWKV_TYPE_Q5_1;
    const int block_bytes = (int)rwkv_type_size(type, 32), nb = n / 32;
    signed char *q = rows->q + (size_t)r * (size_t)n;
    int b, j;
    for (b = 0; b < nb; b++, row += block_bytes, q += 32) {
        int32_t sum = 0;
        float d = rwkv__f16_to_f32(rwkv__le16(row));
        const int offset = has_min || type == RWKV_TYPE_Q8_0 ? 0 : (five_bits ? 16 : 8);
        if (type == RWKV_TYPE_Q8_0) {
            memcpy(q, row + 2, 32);
        } else {
            const unsigned char *qs = row + 2 + 2 * has_min + 4 * five_bits;
            const uint32_t qh = five_bits ? rwkv__le32(row + 2 + 2 * has_min) : 0;
            const int subtract = unsigned_q ? 0 : offset;
            for (j = 0; j < 16; j++) {
                q[j] = (signed char)((qs[j] & 15) + (int)((qh >> j) & 1) * 16 - subtract);
                q[j + 16] = (signed char)((qs[j] >> 4) + (int)((qh >> (j + 16)) & 1) * 16 - subtract);
            }
        }
        for (j = 0; j < 32; j++) sum += q[j];
        rows->d[r * nb + b] = d;
        rows->c[r * nb + b] = -128.0f * d * (float)sum;
        rows->m[r * nb + b] = has_min ? rwkv__f16_to_f32(rwkv__le16(row + 2))
                                      : unsigned_q && offset ? -(float)offset * d : 0.0f;
    }
}

/* The integers as in decode (rwkv__q4_q5_bytes_avx2), the sum by sad (on
   q + 128, unsigned). */
RWKV__KERNEL void rwkv__int8_row_avx2(int type, const unsigned char *row, int n, const rwkv__int8_rows *rows,
                                      int r, int unsigned_q) {
    const int has_min = type == RWKV_TYPE_Q4_1 || type == RWKV_TYPE_Q5_1;
    const int five_bits = type == RWKV_TYPE_Q5_0 || type == RWKV_TYPE_Q5_1;
    const int block_bytes = (int)rwkv_type_size(type, 32), nb = n / 32;
    const int offset = has_min || type == RWKV_TYPE_Q8_0 ? 0 : (five_bits ? 16 : 8);
    const __m256i subtract = _mm256_set1_epi8((char)(unsigned_q ? 0 : offset));
    signed char *q = rows->q + (size_t)r * (size_t)n;
    int b;
    for (b = 0; b < nb; b++, row += block_bytes, q += 32) {
        __m256i v, s;
        if (type == RWKV_TYPE_Q8_0) {
            v = _mm256_loadu_si256((const __m256i *)(const void *)(row + 2));
        } else {
            v = _mm256_sub_epi8(rwkv__q4_q5_bytes_avx2(row, has_min, five_bits), subtract);
        }
        _mm256_storeu_si256((__m256i *)(void *)q, v);
        s = _mm256_sad_epu8(_mm256_xor_si256(v, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
        {
            const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            const int32_t sum = (int32_t)(_mm_cvtsi128_si32(s2) + _mm_extract_epi32(s2, 2)) - 32 * 128;
            const float d = _cvtsh_ss(rwkv__le16(row));
            rows->d[r * nb + b] = d;
            rows->c[r * nb + b] = -128.0f * d * (float)sum;
            rows->m[r * nb + b] = has_min                 ? _cvtsh_ss(rwkv__le16(row + 2))
                                  : unsigned_q && offset ? -(float)offset * d
                                                         : 0.0f;
        }
    }
}

/* Quantizes T tokens (x, n floats each) into panels of 16 tokens, padded
   with zero tokens; the tokens are split across n_threads threads. `wide`:
   the int16 form, each pair of inputs as two int16 per token. */
static void rwkv__int8_pack_panels(const float *x, int n, int T, unsigned char *panels, int n_threads, int wide) {
    const int nb = n / 32, padded = (T + 15) / 16 * 16, block_bytes = wide ? 1024 : 512;
    const size_t panel_bytes = rwkv__int8_panel_bytes(n, wide);
    int t;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_threads > 1 && (int64_t)T * n >= (1 << 14))
#endif
    for (t = 0; t < padded; t++) {
        unsigned char *xq = panels + (size_t)(t / 16) * panel_bytes;
        float *xs = (float *)(void *)(xq + (size_t)nb * (size_t)block_bytes);
        rwkv__q8_block block;
        int b, j;
        for (b = 0; b < nb; b++) {
            if (t < T)
                rwkv__quantize_block(x + (size_t)t * (size_t)n + 32 * b, &block);
            else
                memset(&block, 0, sizeof block);
            if (wide)
                for (j = 0; j < 16; j++) {
                    const int16_t pair[2] = {block.q[2 * j], block.q[2 * j + 1]};
                    memcpy(xq + b * 1024 + j * 64 + (t % 16) * 4, pair, 4);
                }
            else
                for (j = 0; j < 8; j++) memcpy(xq + b * 512 + j * 64 + (t % 16) * 4, block.q + 4 * j, 4);
            xs[b * 32 + t % 16] = block.d;
            xs[b * 32 + 16 + t % 16] = block.d * (float)block.sum;
        }
    }
    (void)n_threads;
}

/* Twelve rewritten rows times a panel of 16 tokens: out[r * 32 + t]. */
RWKV__KERNEL void rwkv__int8_panel_plain(const rwkv__int8_rows *rows, const unsigned char *panel, int n,
                                         float *out) {
    const int nb = n / 32;
    const signed char *xq = (const signed char *)panel;
    const float *xs = (const float *)(const void *)(panel + (size_t)nb * 512);
    int r, t, b, j, i;
    for (r = 0; r < RWKV__PANEL_ROWS; r++)
        for (t = 0; t < 16; t++) {
            float sum = 0.0f;
            for (b = 0; b < nb; b++) {
                const signed char *q = rows->q + (size_t)r * (size_t)n + 32 * b;
                int32_t dot = 0;
                for (j = 0; j < 8; j++)
                    for (i = 0; i < 4; i++) dot += q[4 * j + i] * xq[b * 512 + j * 64 + t * 4 + i];
                sum += rows->d[r * nb + b] * (float)dot * xs[b * 32 + t] + rows->m[r * nb + b] * xs[b * 32 + 16 + t];
            }
            out[r * RWKV__PANEL_TOKENS + t] = sum;
        }
}

/* Four bytes as one int32 (memcpy: no aliasing question, one load). */
static int32_t rwkv__load_i32(const signed char *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* AVX2 has no byte dot product: vpmaddubsw multiplies unsigned by signed
   bytes into pairs of int16 sums and vpmaddwd adds the pairs into int32.
   The rows' bytes are unsigned (Q4/Q5: 0-31), so four groups' pair sums
   add up in int16 without overflow (4 31 127 2 < 32768) and take one
   vpmaddwd. Six rows (from `first`) by the eight tokens of one half of a
   panel: six int32 sums and four input vectors stay in registers (twelve
   rows spilled them to the stack: 57-63 GMAC/s in cache against 65-66 on
   Zen 3); the float sums of the row and token pairs stay in `out`, one
   update per block. (Q8_0's signed weights take the int16 form below.) */
RWKV__ALWAYS_INLINE void rwkv__int8_half_avx2(const rwkv__int8_rows *rows, const unsigned char *panel, int n,
                                              int first, int half, float *out) {
    const int nb = n / 32;
    const float *xs = (const float *)(const void *)(panel + (size_t)nb * 512);
    const __m256i ones = _mm256_set1_epi16(1);
    const size_t stride = (size_t)n;
    __m256i i0, i1, i2, i3, i4, i5;
    int b, j, r;
#define RWKV__EACH_ROW(DO) DO(0); DO(1); DO(2); DO(3); DO(4); DO(5)
    out += first * RWKV__PANEL_TOKENS + 8 * half;
    for (r = 0; r < 6; r++) _mm256_storeu_ps(out + r * RWKV__PANEL_TOKENS, _mm256_setzero_ps());
    for (b = 0; b < nb; b++) {
        __m256 dx, dxs;
        i0 = i1 = i2 = i3 = i4 = i5 = _mm256_setzero_si256();
        for (j = 0; j < 8; j += 4) {
            const unsigned char *xg = panel + b * 512 + j * 64 + 32 * half;
            const __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)xg);
            const __m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)(xg + 64));
            const __m256i x2 = _mm256_loadu_si256((const __m256i *)(const void *)(xg + 128));
            const __m256i x3 = _mm256_loadu_si256((const __m256i *)(const void *)(xg + 192));
            const signed char *q = rows->q + (size_t)first * stride + 32 * b + 4 * j;
#define RWKV__DOT_ROW(r)                                                                                     \
    {                                                                                                        \
        const signed char *qr = q + r * stride;                                                              \
        __m256i p = _mm256_maddubs_epi16(_mm256_set1_epi32(rwkv__load_i32(qr)), x0);                         \
        p = _mm256_add_epi16(p, _mm256_maddubs_epi16(_mm256_set1_epi32(rwkv__load_i32(qr + 4)), x1));        \
        p = _mm256_add_epi16(p, _mm256_maddubs_epi16(_mm256_set1_epi32(rwkv__load_i32(qr + 8)), x2));        \
        p = _mm256_add_epi16(p, _mm256_maddubs_epi16(_mm256_set1_epi32(rwkv__load_i32(qr + 12)), x3));       \
        i##r = _mm256_add_epi32(i##r, _mm256_madd_epi16(p, ones));                                           \
    }
            RWKV__EACH_ROW(RWKV__DOT_ROW);
#undef RWKV__DOT_ROW
        }
        dx = _mm256_loadu_ps(xs + b * 32 + 8 * half), dxs = _mm256_loadu_ps(xs + b * 32 + 16 + 8 * half);
#define RWKV__SCALE_ROW(r)                                                                                   \
    {                                                                                                        \
        float *o = out + r * RWKV__PANEL_TOKENS;                                                             \
        const int at = (first + r) * nb + b;                                                                 \
        __m256 f = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(i##r), _mm256_set1_ps(rows->d[at])), dx, \
                                   _mm256_loadu_ps(o));                                                      \
        _mm256_storeu_ps(o, _mm256_fmadd_ps(_mm256_set1_ps(rows->m[at]), dxs, f));                           \
    }
        RWKV__EACH_ROW(RWKV__SCALE_ROW);
#undef RWKV__SCALE_ROW
    }
#undef RWKV__EACH_ROW
}

/* Twelve rewritten rows (unsigned form) times a panel of 16 tokens:
   out[r * 32 + t]. */
RWKV__KERNEL void rwkv__int8_panel_avx2(const rwkv__int8_rows *rows, const unsigned char *panel, int n, float *out) {
    rwkv__int8_half_avx2(rows, panel, n, 0, 0, out);
    rwkv__int8_half_avx2(rows, panel, n, 0, 1, out);
    rwkv__int8_half_avx2(rows, panel, n, 6, 0, out);
    rwkv__int8_half_avx2(rows, panel, n, 6, 1, out);
}

/* The int16 form, for Q8_0 where there is no VNNI. Q8_0's weights and
   inputs are both signed bytes, so vpmaddubsw would need the weights'
   signs moved to the inputs and a vpmaddwd per group of four (39.5 GMAC/s
   in cache on Zen 3, below the float kernel's 46.7). Widened to int16,
   vpmaddwd alone multiplies two inputs a lane: 55-57 GMAC/s. Row r is its
   Q8_0 integers as int16 in q16 and its scales in d (c, m unused); the
   panel holds, per block and pair of inputs, the 16 tokens' two int16 side
   by side (64 bytes). */
RWKV__KERNEL void rwkv__int16_row_plain(const unsigned char *row, int n, const rwkv__int8_rows *rows, int r) {
    int16_t *q = rows->q16 + (size_t)r * (size_t)n;
    int b, j;
    for (b = 0; b < n / 32; b++, row += 34, q += 32) {
        for (j = 0; j < 32; j++) q[j] = (int16_t)(signed char)row[2 + j];
        rows->d[r * (n / 32) + b] = rwkv__f16_to_f32(rwkv__le16(row));
    }
}

RWKV__KERNEL void rwkv__int16_row_avx2(const unsigned char *row, int n, const rwkv__int8_rows *rows, int r) {
    int16_t *q = rows->q16 + (size_t)r * (size_t)n;
    int b;
    for (b = 0; b < n / 32; b++, row += 34, q += 32) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(row + 2));
        _mm256_storeu_si256((__m256i *)(void *)q, _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v)));
        _mm256_storeu_si256((__m256i *)(void *)(q + 16), _mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1)));
        rows->d[r * (n / 32) + b] = _cvtsh_ss(rwkv__le16(row));
    }
}

/* Twelve int16 rows times a panel of 16 tokens (int16 form): out[r * 32 + t]. */
RWKV__KERNEL void rwkv__int16_panel_plain(const rwkv__int8_rows *rows, const unsigned char *panel, int n,
                                          float *out) {
    const int nb = n / 32;
    const float *xs = (const float *)(const void *)(panel + (size_t)nb * 1024);
    int r, t, b, j;
    for (r = 0; r < RWKV__PANEL_ROWS; r++)
        for (t = 0; t < 16; t++) {
            float sum = 0.0f;
            for (b = 0; b < nb; b++) {
                const int16_t *q = rows->q16 + (size_t)r * (size_t)n + 32 * b;
                int32_t dot = 0;
                for (j = 0; j < 16; j++) {
                    int16_t pair[2];
                    memcpy(pair, panel + b * 1024 + j * 64 + t * 4, 4);
                    dot += q[2 * j] * pair[0] + q[2 * j + 1] * pair[1];
                }
                sum += rows->d[r * nb + b] * (float)dot * xs[b * 32 + t];
            }
            out[r * RWKV__PANEL_TOKENS + t] = sum;
        }
}

/* Four rows (from `first`) by 16 tokens: eight int32 sums, two input
   vectors and a broadcast pair of weights (six rows spilled the sums: 30-38
   GMAC/s); the float sums stay in `out`, one update per block. */
RWKV__ALWAYS_INLINE void rwkv__int16_quad_avx2(const rwkv__int8_rows *rows, const unsigned char *panel, int n,
                                               int first, float *out) {
    const int nb = n / 32;
    const float *xs = (const float *)(const void *)(panel + (size_t)nb * 1024);
    const int16_t *q = rows->q16 + (size_t)first * (size_t)n;
    const size_t stride = (size_t)n;
    int b, j, r;
#define RWKV__EACH_ROW(DO) DO(0); DO(1); DO(2); DO(3)
    out += first * RWKV__PANEL_TOKENS;
    for (r = 0; r < 4; r++) {
        _mm256_storeu_ps(out + r * RWKV__PANEL_TOKENS, _mm256_setzero_ps());
        _mm256_storeu_ps(out + r * RWKV__PANEL_TOKENS + 8, _mm256_setzero_ps());
    }
    for (b = 0; b < nb; b++) {
        __m256i lo0 = _mm256_setzero_si256(), lo1 = lo0, lo2 = lo0, lo3 = lo0, hi0 = lo0, hi1 = lo0, hi2 = lo0,
                hi3 = lo0;
        __m256 dx_lo, dx_hi;
        for (j = 0; j < 16; j++) {
            const unsigned char *xg = panel + b * 1024 + j * 64;
            const __m256i x_lo = _mm256_loadu_si256((const __m256i *)(const void *)xg);
            const __m256i x_hi = _mm256_loadu_si256((const __m256i *)(const void *)(xg + 32));
            const int16_t *qj = q + 32 * b + 2 * j;
#define RWKV__DOT_ROW(r)                                                                                     \
    {                                                                                                        \
        int32_t pair;                                                                                        \
        __m256i wr;                                                                                          \
        memcpy(&pair, qj + r * stride, 4);                                                                   \
        wr = _mm256_set1_epi32(pair);                                                                        \
        lo##r = _mm256_add_epi32(lo##r, _mm256_madd_epi16(wr, x_lo));                                        \
        hi##r = _mm256_add_epi32(hi##r, _mm256_madd_epi16(wr, x_hi));                                        \
    }
            RWKV__EACH_ROW(RWKV__DOT_ROW);
#undef RWKV__DOT_ROW
        }
        dx_lo = _mm256_loadu_ps(xs + b * 32), dx_hi = _mm256_loadu_ps(xs + b * 32 + 8);
#define RWKV__SCALE_ROW(r)                                                                                   \
    {                                                                                                        \
        float *o = out + r * RWKV__PANEL_TOKENS;                                                             \
        const __m256 d = _mm256_set1_ps(rows->d[(first + r) * nb + b]);                                      \
        _mm256_storeu_ps(o, _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo##r), _mm256_mul_ps(d, dx_lo), _mm256_loadu_ps(o))); \
        _mm256_storeu_ps(o + 8, _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi##r), _mm256_mul_ps(d, dx_hi),          \
                                                _mm256_loadu_ps(o + 8)));                                    \
    }
        RWKV__EACH_ROW(RWKV__SCALE_ROW);
#undef RWKV__SCALE_ROW
    }
#undef RWKV__EACH_ROW
}

RWKV__KERNEL void rwkv__int16_panel_avx2(const rwkv__int8_rows *rows, const unsigned char *panel, int n, float *out) {
    rwkv__int16_quad_avx2(rows, panel, n, 0, out);
    rwkv__int16_quad_avx2(rows, panel, n, 4, out);
    rwkv__int16_quad_avx2(rows, panel, n, 8, out);
}

#ifdef RWKV__AVX512VNNI
/* vpdpbusd multiplies unsigned bytes by signed ones: the inputs are made
   unsigned (qx + 128) and c = -128 d sum(q) takes the 128 back out. Twelve
   integer and twelve float sums of 16 tokens, named one by one. */
RWKV__KERNEL void rwkv__int8_panel_vnni(const rwkv__int8_rows *rows, const unsigned char *panel, int n, float *out) {
    const int nb = n / 32;
    const float *xs = (const float *)(const void *)(panel + (size_t)nb * 512);
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const size_t stride = (size_t)n;
    __m512i i0 = _mm512_setzero_si512(), i1 = i0, i2 = i0, i3 = i0, i4 = i0, i5 = i0, i6 = i0, i7 = i0, i8 = i0,
            i9 = i0, i10 = i0, i11 = i0;
    __m512 f0 = _mm512_setzero_ps(), f1 = f0, f2 = f0, f3 = f0, f4 = f0, f5 = f0, f6 = f0, f7 = f0, f8 = f0,
           f9 = f0, f10 = f0, f11 = f0;
    int b, j;
#define RWKV__EACH_ROW(DO) DO(0); DO(1); DO(2); DO(3); DO(4); DO(5); DO(6); DO(7); DO(8); DO(9); DO(10); DO(11)
    for (b = 0; b < nb; b++) {
        __m512 dx, dxs;
        for (j = 0; j < 8; j++) {
            const __m512i xv = _mm512_xor_si512(_mm512_loadu_si512(panel + b * 512 + j * 64), flip);
            const signed char *q = rows->q + 32 * b + 4 * j;
#define RWKV__DOT_ROW(r) i##r = _mm512_dpbusd_epi32(i##r, xv, _mm512_set1_epi32(rwkv__load_i32(q + r * stride)))
            RWKV__EACH_ROW(RWKV__DOT_ROW);
#undef RWKV__DOT_ROW
        }
        dx = _mm512_loadu_ps(xs + b * 32), dxs = _mm512_loadu_ps(xs + b * 32 + 16);
#define RWKV__SCALE_ROW(r)                                                                                   \
    f##r = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_cvtepi32_ps(i##r), _mm512_set1_ps(rows->d[r * nb + b]),      \
                                           _mm512_set1_ps(rows->c[r * nb + b])), dx, f##r),                   \
    f##r = _mm512_fmadd_ps(_mm512_set1_ps(rows->m[r * nb + b]), dxs, f##r), i##r = _mm512_setzero_si512()
        RWKV__EACH_ROW(RWKV__SCALE_ROW);
#undef RWKV__SCALE_ROW
    }
#define RWKV__STORE_ROW(r) _mm512_storeu_ps(out + r * RWKV__PANEL_TOKENS, f##r)
    RWKV__EACH_ROW(RWKV__STORE_ROW);
#undef RWKV__STORE_ROW
#undef RWKV__EACH_ROW
}
#endif
#endif

/* Whether sequence mode multiplies a matrix of this type in integers when
   its inputs are 8-bit: every quantized type on AVX2 (Q8_0 there in the
   int16 form unless VNNI is there); nowhere else. */
RWKV__KERNEL int rwkv__int8_prefill(int type) {
#if defined(RWKV__AVX2)
    return rwkv__is_quantized(type);
#else
    (void)type;
    return 0;
#endif
}

/* This thread's part of the per-thread row scratch. */
static float *rwkv__thread_rows(float *rows, size_t rows_per_thread) {
#ifdef _OPENMP
    return rows + (size_t)omp_get_thread_num() * rows_per_thread;
#else
    (void)rows_per_thread;
    return rows;
#endif
}

/* Stores a panel's products (out[r * 32 + j]) of rows first.. for the
   `valid` tokens from t0 into y (rows of n_out). */
static void rwkv__store_panel(float *y, size_t n_out, const float *out, int first, int n_rows, int t0, int valid) {
    int r, j;
    for (j = 0; j < valid; j++)
        for (r = 0; r < n_rows; r++) y[(size_t)(t0 + j) * n_out + (size_t)(first + r)] = out[r * RWKV__PANEL_TOKENS + j];
}

/* Width of the panel that starts at token t of T: 32, or 16 for a short
   last one. */
static int rwkv__panel_width(int t, int T) { return T - t > 16 ? RWKV__PANEL_TOKENS : 16; }

/* `n_columns` (at most 8) inputs of `valid` tokens (x: one token's `n`
   floats after another) as rows of a panel of `width` tokens: panel[i *
   width + t] = x[t * n + i], zeros past `valid`. */
RWKV__KERNEL void rwkv__pack_columns_plain(const float *x, size_t n, int n_columns, int valid, int width,
                                           float *panel) {
    int i, t;
    for (i = 0; i < n_columns; i++) {
        for (t = 0; t < valid; t++) panel[(size_t)i * (size_t)width + (size_t)t] = x[(size_t)t * n + (size_t)i];
        for (; t < width; t++) panel[(size_t)i * (size_t)width + (size_t)t] = 0.0f;
    }
}

#ifdef RWKV__AVX2
/* Eight inputs of eight tokens at a time by a transpose in registers (the
   plain loop, one float at a time, was 5% of a prefill on Zen 3). */
RWKV__KERNEL void rwkv__pack_columns_avx2(const float *x, size_t n, int n_columns, int valid, int width,
                                          float *panel) {
    int t = 0;
    if (n_columns == 8)
        for (; t + 8 <= valid; t += 8) {
            const float *s = x + (size_t)t * n;
            const __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + n), r2 = _mm256_loadu_ps(s + 2 * n);
            const __m256 r3 = _mm256_loadu_ps(s + 3 * n), r4 = _mm256_loadu_ps(s + 4 * n);
            const __m256 r5 = _mm256_loadu_ps(s + 5 * n), r6 = _mm256_loadu_ps(s + 6 * n);
            const __m256 r7 = _mm256_loadu_ps(s + 7 * n);
            /* pairs of tokens, then quads (inputs i | i + 4 in the two lanes) */
            const __m256 a0 = _mm256_unpacklo_ps(r0, r1), a1 = _mm256_unpackhi_ps(r0, r1);
            const __m256 a2 = _mm256_unpacklo_ps(r2, r3), a3 = _mm256_unpackhi_ps(r2, r3);
            const __m256 a4 = _mm256_unpacklo_ps(r4, r5), a5 = _mm256_unpackhi_ps(r4, r5);
            const __m256 a6 = _mm256_unpacklo_ps(r6, r7), a7 = _mm256_unpackhi_ps(r6, r7);
            const __m256 q0 = _mm256_shuffle_ps(a0, a2, 0x44), q1 = _mm256_shuffle_ps(a0, a2, 0xee);
            const __m256 q2 = _mm256_shuffle_ps(a1, a3, 0x44), q3 = _mm256_shuffle_ps(a1, a3, 0xee);
            const __m256 q4 = _mm256_shuffle_ps(a4, a6, 0x44), q5 = _mm256_shuffle_ps(a4, a6, 0xee);
            const __m256 q6 = _mm256_shuffle_ps(a5, a7, 0x44), q7 = _mm256_shuffle_ps(a5, a7, 0xee);
            float *d = panel + t;
            const size_t w = (size_t)width;
            _mm256_storeu_ps(d, _mm256_permute2f128_ps(q0, q4, 0x20));
            _mm256_storeu_ps(d + w, _mm256_permute2f128_ps(q1, q5, 0x20));
            _mm256_storeu_ps(d + 2 * w, _mm256_permute2f128_ps(q2, q6, 0x20));
            _mm256_storeu_ps(d + 3 * w, _mm256_permute2f128_ps(q3, q7, 0x20));
            _mm256_storeu_ps(d + 4 * w, _mm256_permute2f128_ps(q0, q4, 0x31));
            _mm256_storeu_ps(d + 5 * w, _mm256_permute2f128_ps(q1, q5, 0x31));
            _mm256_storeu_ps(d + 6 * w, _mm256_permute2f128_ps(q2, q6, 0x31));
            _mm256_storeu_ps(d + 7 * w, _mm256_permute2f128_ps(q3, q7, 0x31));
        }
    if (t < width) { /* the last tokens and the padding */
        int i, u;
        for (i = 0; i < n_columns; i++) {
            for (u = t; u < valid; u++) panel[(size_t)i * (size_t)width + (size_t)u] = x[(size_t)u * n + (size_t)i];
            for (; u < width; u++) panel[(size_t)i * (size_t)width + (size_t)u] = 0.0f;
        }
    }
}
#define rwkv__pack_columns rwkv__pack_columns_avx2
#else
#define rwkv__pack_columns rwkv__pack_columns_plain
#endif

/* Packs T tokens of n floats (x, one token after another) into panels of
   RWKV__PANEL_TOKENS * n floats; a short last panel is padded with zeros.
   The inputs are split across n_threads threads, eight at a time. */
static void rwkv__pack_panels(const float *x, int n, int T, float *xp, int n_threads) {
    const int n_groups = (n + 7) / 8;
    int t0;
    for (t0 = 0; t0 < T; t0 += RWKV__PANEL_TOKENS) {
        const int width = rwkv__panel_width(t0, T), valid = T - t0 < width ? T - t0 : width;
        float *panel = xp + (size_t)t0 * (size_t)n;
        int g;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_threads > 1 && (int64_t)T * n >= (1 << 14))
#endif
        for (g = 0; g < n_groups; g++)
            rwkv__pack_columns(x + (size_t)t0 * (size_t)n + 8 * (size_t)g, (size_t)n, n - 8 * g < 8 ? n - 8 * g : 8,
                               valid, width, panel + (size_t)(8 * g) * (size_t)width);
    }
    (void)n_threads;
}

#ifdef RWKV__AVX2
/* The chunk's product in integers (rwkv__matmul with a quantized input):
   the inputs quantized into panels of 16 tokens, the rows rewritten twelve
   at a time into this thread's part of `rows`. */
static void rwkv__matmul_int8(const rwkv__matrix *w, const float *x, float *y, int T, int n_threads,
                              float *rows, size_t rows_per_thread, unsigned char *panels) {
    const int n_groups = (w->n_out + RWKV__PANEL_ROWS - 1) / RWKV__PANEL_ROWS, nb = w->n_in / 32;
    const int wide = rwkv__int16_prefill(w->type);
    const size_t n_in = (size_t)w->n_in, n_out = (size_t)w->n_out, panel_bytes = rwkv__int8_panel_bytes(w->n_in, wide);
    int g;
    rwkv__int8_pack_panels(x, w->n_in, T, panels, n_threads, wide);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 2) num_threads(n_threads) if (n_threads > 1 && (int64_t)w->n_out * w->n_in * T >= RWKV__MIN_PARALLEL)
#endif
    for (g = 0; g < n_groups; g++) {
        float *buffer = rwkv__thread_rows(rows, rows_per_thread);
        const int first = g * RWKV__PANEL_ROWS;
        const int n_rows = w->n_out - first < RWKV__PANEL_ROWS ? w->n_out - first : RWKV__PANEL_ROWS;
        rwkv__int8_rows group;
        float out[RWKV__PANEL_ROWS * RWKV__PANEL_TOKENS];
        int r, t0;
        group.q = (signed char *)(void *)buffer;
        group.d = (float *)(void *)(group.q + RWKV__PANEL_ROWS * n_in);
        group.c = group.d + RWKV__PANEL_ROWS * nb;
        group.m = group.c + RWKV__PANEL_ROWS * nb;
        group.q16 = (int16_t *)(void *)(group.m + RWKV__PANEL_ROWS * nb); /* 40.5 n bytes of the 48 n */
        for (r = 0; r < RWKV__PANEL_ROWS; r++) { /* a short last group repeats its last row */
            const unsigned char *row = w->data + (size_t)(first + (r < n_rows ? r : n_rows - 1)) * w->row_bytes;
            if (wide)
                rwkv__int16_row_avx2(row, w->n_in, &group, r);
            else
                rwkv__int8_row_avx2(w->type, row, w->n_in, &group, r, RWKV__INT8_UNSIGNED_Q);
        }
        for (t0 = 0; t0 < T; t0 += RWKV__INT8_PANEL_TOKENS) {
            const int valid = T - t0 < RWKV__INT8_PANEL_TOKENS ? T - t0 : RWKV__INT8_PANEL_TOKENS;
            const unsigned char *panel = panels + (size_t)(t0 / RWKV__INT8_PANEL_TOKENS) * panel_bytes;
#ifdef RWKV__AVX512VNNI
            rwkv__int8_panel_vnni(&group, panel, w->n_in, out);
#else
            if (wide)
                rwkv__int16_panel_avx2(&group, panel, w->n_in, out);
            else
                rwkv__int8_panel_avx2(&group, panel, w->n_in, out);
#endif
            rwkv__store_panel(y, n_out, out, first, n_rows, t0, valid);
        }
    }
}
#endif

/* y = W x for one token: a fused dot product per row, reading the weights
   in their own type (decoding is bound by memory bandwidth); with xq (8-bit
   inputs) in integers, on pairs of blocks where VNNI is there (laid out in
   `panels`, free in decode); Q4/Q5 with float inputs on AVX2 against the
   input reordered by rwkv__block_input, in `panels` too. With OpenMP the
   rows are handed to n_threads threads 64 at a time as each comes free
   (see rwkv__matmul). */
static void rwkv__matvec(const rwkv__matrix *w, const float *x, float *y, int n_threads, float *panels,
                         rwkv__q8_block *xq) {
    int o;
    if (xq && rwkv__is_quantized(w->type)) {
        rwkv__quantize_input(x, w->n_in, xq);
#ifdef RWKV__AVX512VNNI
        if (panels) {
            unsigned char *pairs = (unsigned char *)(void *)panels;
            rwkv__prepare_pairs(w->type, xq, w->n_in, pairs);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 64) num_threads(n_threads) if (n_threads > 1 && (int64_t)w->n_out * w->n_in >= RWKV__MIN_PARALLEL)
#endif
            for (o = 0; o < w->n_out; o++)
                y[o] = rwkv__dot_q8_pairs_vnni(w->type, w->data + (size_t)o * w->row_bytes, pairs, xq, w->n_in);
            return;
        }
#endif
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 64) num_threads(n_threads) if (n_threads > 1 && (int64_t)w->n_out * w->n_in >= RWKV__MIN_PARALLEL)
#endif
        for (o = 0; o < w->n_out; o++) y[o] = rwkv__dot_q8_input(w->type, w->data + (size_t)o * w->row_bytes, xq, w->n_in);
        return;
    }
#ifdef RWKV__BLOCKED_INPUT
    if (panels && rwkv__is_quantized(w->type) && w->type != RWKV_TYPE_Q8_0) {
        const int has_min = w->type == RWKV_TYPE_Q4_1 || w->type == RWKV_TYPE_Q5_1;
        const int five_bits = w->type == RWKV_TYPE_Q5_0 || w->type == RWKV_TYPE_Q5_1;
        rwkv__block_input(x, w->n_in, panels);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 64) num_threads(n_threads) if (n_threads > 1 && (int64_t)w->n_out * w->n_in >= RWKV__MIN_PARALLEL)
#endif
        for (o = 0; o < w->n_out; o++)
            y[o] = rwkv__dot_q4_q5_blocked_avx2(w->data + (size_t)o * w->row_bytes, panels, w->n_in, has_min, five_bits);
        return;
    }
#endif
#ifdef RWKV__AVX2
    if (w->n_in >= RWKV__WIDE_INPUT &&
        (w->type == RWKV_TYPE_F32 || w->type == RWKV_TYPE_F16 || w->type == RWKV_TYPE_BF16)) {
        const int n_quads = w->n_out / 4;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 16) num_threads(n_threads) if (n_threads > 1)
#endif
        for (o = 0; o < n_quads; o++)
            rwkv__dot_rows4(w->type, w->data + (size_t)4 * o * w->row_bytes, w->row_bytes, x, w->n_in, y + 4 * o);
        for (o = 4 * n_quads; o < w->n_out; o++) y[o] = rwkv__dot(w->type, w->data + (size_t)o * w->row_bytes, x, w->n_in);
        return;
    }
#endif
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 64) num_threads(n_threads) if (n_threads > 1 && (int64_t)w->n_out * w->n_in >= RWKV__MIN_PARALLEL)
#endif
    for (o = 0; o < w->n_out; o++) y[o] = rwkv__dot(w->type, w->data + (size_t)o * w->row_bytes, x, w->n_in);
    (void)panels, (void)n_threads;
}

/* Y = X W^T for T tokens (x: T rows of n_in floats; y: T rows of n_out).
   Fewer than RWKV__PANEL_MIN_TOKENS: token by token (rwkv__matvec). A
   chunk: x is packed into panels, then the rows are decoded to floats once,
   twelve at a time, into this thread's part of `rows` (RWKV__PANEL_ROWS *
   n_in floats a thread; whole groups of F32 rows are used in place) and
   multiplied with every panel; with xq (8-bit inputs) and a type that
   rwkv__int8_prefill takes, rwkv__matmul_int8 instead. With OpenMP the
   groups of rows go to n_threads threads as each comes free (schedule
   dynamic: on a shared machine a static split left the others waiting at
   the barrier for a preempted thread; 430M Q8_0 prefill, 2 threads on Zen
   3, ran 13% faster). Each row's result is the same on any thread. */
static void rwkv__matmul(const rwkv__matrix *w, const float *x, float *y, int T, int n_threads,
                         float *rows, size_t rows_per_thread, float *panels, rwkv__q8_block *xq) {
    const int n_groups = (w->n_out + RWKV__PANEL_ROWS - 1) / RWKV__PANEL_ROWS;
    const int slice = w->n_in > 3 * RWKV__PANEL_SLICE ? RWKV__PANEL_SLICE : w->n_in;
    const size_t n_in = (size_t)w->n_in, n_out = (size_t)w->n_out;
    int g, t;
    if (T < RWKV__PANEL_MIN_TOKENS || !panels) {
        for (t = 0; t < T; t++) rwkv__matvec(w, x + (size_t)t * n_in, y + (size_t)t * n_out, n_threads, panels, xq);
        return;
    }
#ifdef RWKV__AVX2
    if (xq && rwkv__int8_prefill(w->type)) {
        rwkv__matmul_int8(w, x, y, T, n_threads, rows, rows_per_thread, (unsigned char *)(void *)panels);
        return;
    }
#endif
    rwkv__pack_panels(x, w->n_in, T, panels, n_threads);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 2) num_threads(n_threads) if (n_threads > 1 && (int64_t)w->n_out * w->n_in * T >= RWKV__MIN_PARALLEL)
#endif
    for (g = 0; g < n_groups; g++) {
        float *buffer = rwkv__thread_rows(rows, rows_per_thread);
        const int first = g * RWKV__PANEL_ROWS;
        const int n_rows = w->n_out - first < RWKV__PANEL_ROWS ? w->n_out - first : RWKV__PANEL_ROWS;
        const float *group = buffer;
        float out[RWKV__PANEL_ROWS * RWKV__PANEL_TOKENS], part[RWKV__PANEL_ROWS * RWKV__PANEL_TOKENS];
        int r, t0;
        if (w->type == RWKV_TYPE_F32 && n_rows == RWKV__PANEL_ROWS) /* twelve whole rows in place */
            group = (const float *)(const void *)(w->data + (size_t)first * w->row_bytes);
        else /* a short last group repeats its last row */
            for (r = 0; r < RWKV__PANEL_ROWS; r++)
                rwkv__dequantize(w->type, w->data + (size_t)(first + (r < n_rows ? r : n_rows - 1)) * w->row_bytes,
                                 w->n_in, buffer + (size_t)r * n_in);
        for (t0 = 0; t0 < T; t0 += RWKV__PANEL_TOKENS) {
            const int width = rwkv__panel_width(t0, T), valid = T - t0 < width ? T - t0 : width;
            int k0, i;
            for (k0 = 0; k0 < w->n_in; k0 += slice) {
                const int n_k = w->n_in - k0 < slice ? w->n_in - k0 : slice;
                rwkv__gemm_panel(group + k0, n_in, panels + (size_t)t0 * n_in + (size_t)k0 * (size_t)width, n_k,
                                 width, k0 ? part : out);
                if (k0)
                    for (i = 0; i < RWKV__PANEL_ROWS * RWKV__PANEL_TOKENS; i++) out[i] += part[i];
            }
            rwkv__store_panel(y, n_out, out, first, n_rows, t0, valid);
        }
    }
}

/* The per-token steps between the matrix products (norms, token shift,
   activations, residual adds) split a chunk's tokens across the threads
   from this many values on: a 430M prefill on one thread spent 5% of its
   time in them, which two threads did one after the other. Each token's
   values are the same whatever the thread count. */
#define RWKV__PARALLEL_VALUES (1 << 14)

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
                             int n, int T, int n_threads) {
    int t;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_threads > 1 && (int64_t)T * n >= RWKV__PARALLEL_VALUES)
#endif
    for (t = 0; t < T; t++)
        rwkv__layer_norm_eps(out + (size_t)t * (size_t)n, x + (size_t)t * (size_t)n, weight, bias, n, 1e-5f);
    (void)n_threads;
}

/* ---- Kernels: exponentials over channels (RWKV-4's WKV, sigmoid gates) --- */

/* RWKV-4's WKV for one token over channels 0..n-1 (rwkv__time_mix_v4 gives
   the equations): out = sigmoid(r) wkv, and the state aa, bb, pp updated
   in place. With expf per channel this took 6% of a 169M prefill; the SIMD
   twins compute e^x with rwkv__exp_avx2/_neon and agree with this one
   within float rounding. */
RWKV__KERNEL void rwkv__wkv4_step_plain(const float *k, const float *v, const float *r, const float *first,
                                        const float *decay, float *aa, float *bb, float *pp, float *out, int n) {
    int i;
    for (i = 0; i < n; i++) {
        /* output for this token, with the bonus u (first) */
        float ww = first[i] + k[i];
        float p = pp[i] > ww ? pp[i] : ww;
        float e1 = expf(pp[i] - p), e2 = expf(ww - p);
        const float wkv = (e1 * aa[i] + e2 * v[i]) / (e1 * bb[i] + e2);
        /* state for the next token: decay the past by e^w, add this token */
        ww = decay[i] + pp[i];
        p = ww > k[i] ? ww : k[i];
        e1 = expf(ww - p);
        e2 = expf(k[i] - p);
        aa[i] = e1 * aa[i] + e2 * v[i];
        bb[i] = e1 * bb[i] + e2;
        pp[i] = p;
        out[i] = 1.0f / (1.0f + expf(-r[i])) * wkv;
    }
}

/* y *= sigmoid(r), the receptance gate of the channel mix. */
RWKV__KERNEL void rwkv__gate_sigmoid_plain(float *y, const float *r, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) y[i] *= 1.0f / (1.0f + expf(-r[i]));
}

/* e^x by lanes, in both twins: x = n ln2 + f with |f| <= ln2 / 2 (ln2 in
   two parts, so n ln2 is exact), e^f by its Taylor series to degree 7
   (truncation under 6e-9), 2^n written into the exponent bits. Within 2
   ulp of expf (tests/test_rwkv.c). Below -87.33, where 2^n would leave
   the normal floats, 0 (expf gives subnormals there); from 88.38 (n = 128)
   up, infinity (e^x is then within a factor 1.42 of FLT_MAX). */
#define RWKV__EXP_MIN (-87.33654f)
#define RWKV__EXP_MAX 88.5f
#define RWKV__LOG2E 1.44269504f
#define RWKV__LN2_HI 0.693145751953125f
#define RWKV__LN2_LO 1.42860677e-6f

#ifdef RWKV__AVX2
static __m256 rwkv__exp_avx2(__m256 x) {
    static const float taylor[8] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};
    const __m256 low = _mm256_set1_ps(RWKV__EXP_MIN);
    const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, low), _mm256_set1_ps(RWKV__EXP_MAX));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(RWKV__LOG2E)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 f = _mm256_fnmadd_ps(n, _mm256_set1_ps(RWKV__LN2_LO),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(RWKV__LN2_HI), xc));
    const __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 p = _mm256_set1_ps(taylor[0]);
    int j;
    for (j = 1; j < 8; j++) p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(taylor[j]));
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(two_n)), _mm256_cmp_ps(x, low, _CMP_GE_OQ));
}

static __m256 rwkv__sigmoid_avx2(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, rwkv__exp_avx2(_mm256_xor_ps(x, _mm256_set1_ps(-0.0f)))));
}

RWKV__KERNEL void rwkv__wkv4_step_avx2(const float *k, const float *v, const float *r, const float *first,
                                       const float *decay, float *aa, float *bb, float *pp, float *out, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 kk = _mm256_loadu_ps(k + i), vv = _mm256_loadu_ps(v + i);
        const __m256 a = _mm256_loadu_ps(aa + i), b = _mm256_loadu_ps(bb + i), q = _mm256_loadu_ps(pp + i);
        __m256 ww = _mm256_add_ps(_mm256_loadu_ps(first + i), kk);
        __m256 p = _mm256_max_ps(q, ww);
        __m256 e1 = rwkv__exp_avx2(_mm256_sub_ps(q, p)), e2 = rwkv__exp_avx2(_mm256_sub_ps(ww, p));
        const __m256 wkv = _mm256_div_ps(_mm256_add_ps(_mm256_mul_ps(e1, a), _mm256_mul_ps(e2, vv)),
                                         _mm256_add_ps(_mm256_mul_ps(e1, b), e2));
        ww = _mm256_add_ps(_mm256_loadu_ps(decay + i), q);
        p = _mm256_max_ps(ww, kk);
        e1 = rwkv__exp_avx2(_mm256_sub_ps(ww, p));
        e2 = rwkv__exp_avx2(_mm256_sub_ps(kk, p));
        _mm256_storeu_ps(aa + i, _mm256_add_ps(_mm256_mul_ps(e1, a), _mm256_mul_ps(e2, vv)));
        _mm256_storeu_ps(bb + i, _mm256_add_ps(_mm256_mul_ps(e1, b), e2));
        _mm256_storeu_ps(pp + i, p);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(rwkv__sigmoid_avx2(_mm256_loadu_ps(r + i)), wkv));
    }
    rwkv__wkv4_step_plain(k + i, v + i, r + i, first + i, decay + i, aa + i, bb + i, pp + i, out + i, n - i);
}

RWKV__KERNEL void rwkv__gate_sigmoid_avx2(float *y, const float *r, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), rwkv__sigmoid_avx2(_mm256_loadu_ps(r + i))));
    rwkv__gate_sigmoid_plain(y + i, r + i, n - i);
}
#endif

#ifdef RWKV__NEON
static float32x4_t rwkv__exp_neon(float32x4_t x) {
    static const float taylor[8] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};
    const float32x4_t low = vdupq_n_f32(RWKV__EXP_MIN);
    const float32x4_t xc = vminq_f32(vmaxq_f32(x, low), vdupq_n_f32(RWKV__EXP_MAX));
    const float32x4_t n = vrndnq_f32(vmulq_n_f32(xc, RWKV__LOG2E));
    const float32x4_t f = vfmsq_f32(vfmsq_f32(xc, n, vdupq_n_f32(RWKV__LN2_HI)), n, vdupq_n_f32(RWKV__LN2_LO));
    const int32x4_t two_n = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    float32x4_t p = vdupq_n_f32(taylor[0]);
    int j;
    for (j = 1; j < 8; j++) p = vfmaq_f32(vdupq_n_f32(taylor[j]), p, f);
    return vbslq_f32(vcgeq_f32(x, low), vmulq_f32(p, vreinterpretq_f32_s32(two_n)), vdupq_n_f32(0.0f));
}

static float32x4_t rwkv__sigmoid_neon(float32x4_t x) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    return vdivq_f32(one, vaddq_f32(one, rwkv__exp_neon(vnegq_f32(x))));
}

RWKV__KERNEL void rwkv__wkv4_step_neon(const float *k, const float *v, const float *r, const float *first,
                                       const float *decay, float *aa, float *bb, float *pp, float *out, int n) {
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t kk = vld1q_f32(k + i), vv = vld1q_f32(v + i);
        const float32x4_t a = vld1q_f32(aa + i), b = vld1q_f32(bb + i), q = vld1q_f32(pp + i);
        float32x4_t ww = vaddq_f32(vld1q_f32(first + i), kk);
        float32x4_t p = vmaxq_f32(q, ww);
        float32x4_t e1 = rwkv__exp_neon(vsubq_f32(q, p)), e2 = rwkv__exp_neon(vsubq_f32(ww, p));
        const float32x4_t wkv =
            vdivq_f32(vaddq_f32(vmulq_f32(e1, a), vmulq_f32(e2, vv)), vaddq_f32(vmulq_f32(e1, b), e2));
        ww = vaddq_f32(vld1q_f32(decay + i), q);
        p = vmaxq_f32(ww, kk);
        e1 = rwkv__exp_neon(vsubq_f32(ww, p));
        e2 = rwkv__exp_neon(vsubq_f32(kk, p));
        vst1q_f32(aa + i, vaddq_f32(vmulq_f32(e1, a), vmulq_f32(e2, vv)));
        vst1q_f32(bb + i, vaddq_f32(vmulq_f32(e1, b), e2));
        vst1q_f32(pp + i, p);
        vst1q_f32(out + i, vmulq_f32(rwkv__sigmoid_neon(vld1q_f32(r + i)), wkv));
    }
    rwkv__wkv4_step_plain(k + i, v + i, r + i, first + i, decay + i, aa + i, bb + i, pp + i, out + i, n - i);
}

RWKV__KERNEL void rwkv__gate_sigmoid_neon(float *y, const float *r, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_f32(vld1q_f32(y + i), rwkv__sigmoid_neon(vld1q_f32(r + i))));
    rwkv__gate_sigmoid_plain(y + i, r + i, n - i);
}
#endif

#if defined(RWKV__AVX2)
#define rwkv__wkv4_step rwkv__wkv4_step_avx2
#define rwkv__gate_sigmoid rwkv__gate_sigmoid_avx2
#elif defined(RWKV__NEON)
#define rwkv__wkv4_step rwkv__wkv4_step_neon
#define rwkv__gate_sigmoid rwkv__gate_sigmoid_neon
#else
#define rwkv__wkv4_step rwkv__wkv4_step_plain
#define rwkv__gate_sigmoid rwkv__gate_sigmoid_plain
#endif

/* ---- Kernels: the matrix states of RWKV-5/6 and RWKV-7 ------------------ */

/* One head of N channels, one token, v5/v6 (rwkv__time_mix_v5_output):
       out_j = sum_i r_i (u_i k_i v_j + S_ij);   S_ij <- k_i v_j + w_i S_ij
   with S[i = k index][j = v index] and every pointer at the head's first
   channel. The SIMD twins take 16 (NEON: 8) values of j at a time and sum
   each out_j over i in the same order, so they differ only where FMA
   rounds once instead of twice. GCC did not vectorize this loop itself. */
RWKV__KERNEL void rwkv__wkv5_token_plain(float *S, const float *r, const float *k, const float *v,
                                        const float *w, const float *u, float *out, int N) {
    int i, j;
    for (j = 0; j < N; j++) out[j] = 0.0f;
    for (i = 0; i < N; i++) {
        float *row = S + (size_t)i * N;
        for (j = 0; j < N; j++) {
            const float kv = k[i] * v[j];
            out[j] += r[i] * (u[i] * kv + row[j]);
            row[j] = kv + w[i] * row[j];
        }
    }
}

/* Columns j0..N-1 of rwkv__wkv5_token_plain, one column at a time (the
   tails of the SIMD twins). */
RWKV__KERNEL void rwkv__wkv5_columns(float *S, const float *r, const float *k, const float *v, const float *w,
                                     const float *u, float *out, int N, int j0) {
    int i, j;
    for (j = j0; j < N; j++) {
        float o = 0.0f;
        for (i = 0; i < N; i++) {
            float *s = S + (size_t)i * N + j;
            const float kv = k[i] * v[j];
            o += r[i] * (u[i] * kv + *s);
            *s = kv + w[i] * *s;
        }
        out[j] = o;
    }
}

/* One head of N channels, one token, v7 (rwkv__time_mix_v7), with
   S[c = v index][j = k index]:
       sa = S_c . kk;   S_c <- S_c * w - sa (kk * a) + v_c k;   y_c = S_c . r
   The SIMD twins sum the two dot products of each row in 8 (4) lanes. */
RWKV__KERNEL void rwkv__wkv7_token_plain(float *S, const float *r, const float *k, const float *v,
                                        const float *kk, const float *w, const float *a, float *y, int N) {
    int c, j;
    for (c = 0; c < N; c++) {
        float *row = S + (size_t)c * N, sa = 0.0f, out = 0.0f;
        for (j = 0; j < N; j++) sa += row[j] * kk[j];
        for (j = 0; j < N; j++) {
            row[j] = row[j] * w[j] - sa * kk[j] * a[j] + v[c] * k[j];
            out += row[j] * r[j];
        }
        y[c] = out;
    }
}

#ifdef RWKV__AVX2
/* j in blocks of 16 (two sums over i in flight, which the FMA latency
   needs), then of 8, then the plain formula for the rest. */
RWKV__KERNEL void rwkv__wkv5_token_avx2(float *S, const float *r, const float *k, const float *v,
                                       const float *w, const float *u, float *out, int N) {
    int i, j = 0;
    for (; j + 16 <= N; j += 16) {
        __m256 o0 = _mm256_setzero_ps(), o1 = o0;
        const __m256 v0 = _mm256_loadu_ps(v + j), v1 = _mm256_loadu_ps(v + j + 8);
        for (i = 0; i < N; i++) {
            float *row = S + (size_t)i * N + j;
            const __m256 ki = _mm256_set1_ps(k[i]), ri = _mm256_set1_ps(r[i]);
            const __m256 ui = _mm256_set1_ps(u[i]), wi = _mm256_set1_ps(w[i]);
            const __m256 kv0 = _mm256_mul_ps(ki, v0), kv1 = _mm256_mul_ps(ki, v1);
            const __m256 s0 = _mm256_loadu_ps(row), s1 = _mm256_loadu_ps(row + 8);
            o0 = _mm256_fmadd_ps(ri, _mm256_fmadd_ps(ui, kv0, s0), o0);
            o1 = _mm256_fmadd_ps(ri, _mm256_fmadd_ps(ui, kv1, s1), o1);
            _mm256_storeu_ps(row, _mm256_fmadd_ps(wi, s0, kv0));
            _mm256_storeu_ps(row + 8, _mm256_fmadd_ps(wi, s1, kv1));
        }
        _mm256_storeu_ps(out + j, o0);
        _mm256_storeu_ps(out + j + 8, o1);
    }
    for (; j + 8 <= N; j += 8) {
        __m256 o0 = _mm256_setzero_ps();
        const __m256 v0 = _mm256_loadu_ps(v + j);
        for (i = 0; i < N; i++) {
            float *row = S + (size_t)i * N + j;
            const __m256 kv0 = _mm256_mul_ps(_mm256_set1_ps(k[i]), v0), s0 = _mm256_loadu_ps(row);
            o0 = _mm256_fmadd_ps(_mm256_set1_ps(r[i]), _mm256_fmadd_ps(_mm256_set1_ps(u[i]), kv0, s0), o0);
            _mm256_storeu_ps(row, _mm256_fmadd_ps(_mm256_set1_ps(w[i]), s0, kv0));
        }
        _mm256_storeu_ps(out + j, o0);
    }
    rwkv__wkv5_columns(S, r, k, v, w, u, out, N, j);
}

RWKV__KERNEL void rwkv__wkv7_token_avx2(float *S, const float *r, const float *k, const float *v,
                                       const float *kk, const float *w, const float *a, float *y, int N) {
    const int n8 = N / 8 * 8;
    int c, j;
    for (c = 0; c < N; c++) {
        float *row = S + (size_t)c * N, sa, out;
        __m256 acc = _mm256_setzero_ps(), vc = _mm256_set1_ps(v[c]), sav;
        for (j = 0; j < n8; j += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(row + j), _mm256_loadu_ps(kk + j), acc);
        sa = rwkv__hsum_avx2(acc);
        for (; j < N; j++) sa += row[j] * kk[j];
        sav = _mm256_set1_ps(sa);
        acc = _mm256_setzero_ps();
        for (j = 0; j < n8; j += 8) {
            const __m256 kka = _mm256_mul_ps(_mm256_loadu_ps(kk + j), _mm256_loadu_ps(a + j));
            __m256 s = _mm256_mul_ps(_mm256_loadu_ps(row + j), _mm256_loadu_ps(w + j));
            s = _mm256_fmadd_ps(vc, _mm256_loadu_ps(k + j), _mm256_fnmadd_ps(sav, kka, s));
            _mm256_storeu_ps(row + j, s);
            acc = _mm256_fmadd_ps(s, _mm256_loadu_ps(r + j), acc);
        }
        out = rwkv__hsum_avx2(acc);
        for (; j < N; j++) {
            row[j] = row[j] * w[j] - sa * kk[j] * a[j] + v[c] * k[j];
            out += row[j] * r[j];
        }
        y[c] = out;
    }
}
#endif

#ifdef RWKV__NEON
RWKV__KERNEL void rwkv__wkv5_token_neon(float *S, const float *r, const float *k, const float *v,
                                       const float *w, const float *u, float *out, int N) {
    int i, j = 0;
    for (; j + 8 <= N; j += 8) {
        float32x4_t o0 = vdupq_n_f32(0.0f), o1 = o0;
        const float32x4_t v0 = vld1q_f32(v + j), v1 = vld1q_f32(v + j + 4);
        for (i = 0; i < N; i++) {
            float *row = S + (size_t)i * N + j;
            const float32x4_t kv0 = vmulq_n_f32(v0, k[i]), kv1 = vmulq_n_f32(v1, k[i]);
            const float32x4_t s0 = vld1q_f32(row), s1 = vld1q_f32(row + 4);
            o0 = vfmaq_n_f32(o0, vfmaq_n_f32(s0, kv0, u[i]), r[i]);
            o1 = vfmaq_n_f32(o1, vfmaq_n_f32(s1, kv1, u[i]), r[i]);
            vst1q_f32(row, vfmaq_n_f32(kv0, s0, w[i]));
            vst1q_f32(row + 4, vfmaq_n_f32(kv1, s1, w[i]));
        }
        vst1q_f32(out + j, o0);
        vst1q_f32(out + j + 4, o1);
    }
    rwkv__wkv5_columns(S, r, k, v, w, u, out, N, j);
}

RWKV__KERNEL void rwkv__wkv7_token_neon(float *S, const float *r, const float *k, const float *v,
                                       const float *kk, const float *w, const float *a, float *y, int N) {
    const int n4 = N / 4 * 4;
    int c, j;
    for (c = 0; c < N; c++) {
        float *row = S + (size_t)c * N, sa, out;
        float32x4_t acc = vdupq_n_f32(0.0f);
        for (j = 0; j < n4; j += 4) acc = vfmaq_f32(acc, vld1q_f32(row + j), vld1q_f32(kk + j));
        sa = vaddvq_f32(acc);
        for (; j < N; j++) sa += row[j] * kk[j];
        acc = vdupq_n_f32(0.0f);
        for (j = 0; j < n4; j += 4) {
            const float32x4_t kka = vmulq_f32(vld1q_f32(kk + j), vld1q_f32(a + j));
            float32x4_t s = vmulq_f32(vld1q_f32(row + j), vld1q_f32(w + j));
            s = vfmaq_n_f32(vfmsq_n_f32(s, kka, sa), vld1q_f32(k + j), v[c]);
            vst1q_f32(row + j, s);
            acc = vfmaq_f32(acc, s, vld1q_f32(r + j));
        }
        out = vaddvq_f32(acc);
        for (; j < N; j++) {
            row[j] = row[j] * w[j] - sa * kk[j] * a[j] + v[c] * k[j];
            out += row[j] * r[j];
        }
        y[c] = out;
    }
}
#endif

#if defined(RWKV__AVX2)
#define rwkv__wkv5_token rwkv__wkv5_token_avx2
#define rwkv__wkv7_token rwkv__wkv7_token_avx2
#elif defined(RWKV__NEON)
#define rwkv__wkv5_token rwkv__wkv5_token_neon
#define rwkv__wkv7_token rwkv__wkv7_token_neon
#else
#define rwkv__wkv5_token rwkv__wkv5_token_plain
#define rwkv__wkv7_token rwkv__wkv7_token_plain
#endif

/* ---- State --------------------------------------------------------------- */

/* Inputs of the projections after token shift, by role (v7's order). */
enum { RWKV__IN_R, RWKV__IN_W, RWKV__IN_K, RWKV__IN_V, RWKV__IN_A, RWKV__IN_G };

/* n floats rounded up to whole 64-byte cache lines */
#define RWKV__LINE_FLOATS(n) (((size_t)(n) + 15) / 16 * 16)

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
    float *rows;        /* per thread: twelve weight rows decoded to floats */
    size_t rows_per_thread;
    float *panels;      /* the chunk's inputs packed for the prefill kernel */
    void *prefill_block; /* the allocation holding rows and panels          */
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
    /* every buffer starts on a cache line: with vector loads of an input
       that straddles lines, decode ran up to 18% slower (430M F16, AVX-512) */
    total = RWKV__LINE_FLOATS(n_floats) + 20 * RWKV__LINE_FLOATS(RWKV_CHUNK * C) +
            RWKV__LINE_FLOATS(RWKV_CHUNK * (size_t)model->n_ffn) + RWKV_CHUNK * (size_t)model->max_lora;
    s = (rwkv_state *)rwkv__calloc(1, sizeof(rwkv_state) + 64 + total * sizeof(float));
    if (!s) return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    p = (float *)rwkv__align(s + 1, 64);
    s->model = model;
    s->data = p, p += RWKV__LINE_FLOATS(n_floats);
    s->n_floats = n_floats;
    C = RWKV__LINE_FLOATS(RWKV_CHUNK * C);
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
    s->hidden = p, p += RWKV__LINE_FLOATS(RWKV_CHUNK * (size_t)model->n_ffn);
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
    RWKV_FREE(state->prefill_block);
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
    size_t widest, panel_floats, rows_per_thread;
    void *block;
    float *aligned;
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
    /* prefill scratch, cache-line aligned (none when chunks are single
       tokens, as on firmware) */
    panel_floats = RWKV_CHUNK < RWKV__PANEL_MIN_TOKENS ? 0
                   : (RWKV_CHUNK + RWKV__PANEL_TOKENS - 1) / RWKV__PANEL_TOKENS * RWKV__PANEL_TOKENS * widest;
    rows_per_thread = panel_floats ? (RWKV__PANEL_ROWS * widest + 15) / 16 * 16 : 0;
    if (panel_floats) {
        block = rwkv__calloc(panel_floats + (size_t)n_threads * rows_per_thread + 16, sizeof(float));
        if (!block) return RWKV_ERROR_OUT_OF_MEMORY;
        aligned = (float *)rwkv__align(block, 64);
        RWKV_FREE(state->prefill_block);
        state->prefill_block = block;
        state->panels = aligned;
        state->rows = aligned + panel_floats;
        state->rows_per_thread = rows_per_thread;
    }
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
static void rwkv__mix(float *in, const float *xx, const float *last_x, const float *mix, int C, int T,
                      int n_threads) {
    int t, i;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) private(i) num_threads(n_threads) if (n_threads > 1 && (int64_t)T * C >= RWKV__PARALLEL_VALUES)
#endif
    for (t = 0; t < T; t++) {
        const float *x = RWKV__ROW(xx, t, C), *prev = t ? RWKV__ROW(xx, t - 1, C) : last_x;
        float *out = RWKV__ROW(in, t, C);
        for (i = 0; i < C; i++) out[i] = x[i] * mix[i] + prev[i] * (1.0f - mix[i]);
    }
    (void)n_threads;
}

/* Token shift, v6 and v7, written as a difference: sx = prev - x. */
static void rwkv__shift_difference(float *sx, const float *xx, const float *last_x, int C, int T,
                                   int n_threads) {
    int t, i;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) private(i) num_threads(n_threads) if (n_threads > 1 && (int64_t)T * C >= RWKV__PARALLEL_VALUES)
#endif
    for (t = 0; t < T; t++) {
        const float *x = RWKV__ROW(xx, t, C), *prev = t ? RWKV__ROW(xx, t - 1, C) : last_x;
        for (i = 0; i < C; i++) sx[(size_t)t * (size_t)C + (size_t)i] = prev[i] - x[i];
    }
    (void)n_threads;
}

/* in = x + sx * mix, the same lerp as above in v6/v7's form. */
static void rwkv__lerp(float *in, const float *xx, const float *sx, const float *mix, int C, int T,
                       int n_threads) {
    int t, i;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) private(i) num_threads(n_threads) if (n_threads > 1 && (int64_t)T * C >= RWKV__PARALLEL_VALUES)
#endif
    for (t = 0; t < T; t++)
        for (i = 0; i < C; i++) {
            const size_t at = (size_t)t * (size_t)C + (size_t)i;
            in[at] = xx[at] + sx[at] * mix[i];
        }
    (void)n_threads;
}

/* The residual stream: x += y over T rows of C values. */
static void rwkv__add_rows(float *x, const float *y, int C, int T, int n_threads) {
    int t, i;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) private(i) num_threads(n_threads) if (n_threads > 1 && (int64_t)T * C >= RWKV__PARALLEL_VALUES)
#endif
    for (t = 0; t < T; t++)
        for (i = 0; i < C; i++) x[(size_t)t * (size_t)C + (size_t)i] += y[(size_t)t * (size_t)C + (size_t)i];
    (void)n_threads;
}

/* The state keeps the chunk's last x for the next token shift. */
static void rwkv__keep_last(float *last_x, const float *xx, int C, int T) {
    memcpy(last_x, RWKV__ROW(xx, T - 1, C), sizeof(float) * (size_t)C);
}

/* Y = X W^T over the chunk, with the state's thread count. */
static void rwkv__project(const rwkv_state *s, const rwkv__matrix *w, const float *x, float *y, int T) {
    rwkv__matmul(w, x, y, T, s->n_threads, s->rows, s->rows_per_thread, s->panels,
                 s->quantize_input ? s->xq : NULL);
}

/* RWKV-4 time mix: the WKV recurrence, a weighted average of past values
   whose weights decay by e^w per step (w < 0), with a bonus u for the
   current token:
       wkv_t = (sum_{i<t} e^{(t-1-i)w + k_i} v_i + e^{u+k_t} v_t)
             / (sum_{i<t} e^{(t-1-i)w + k_i}     + e^{u+k_t})
   kept as a numerator aa, denominator bb and their common exponent pp, so
   nothing overflows. out = W_o (sigmoid(r) * wkv). */
#define RWKV__WKV4_BLOCK 64

static void rwkv__time_mix_v4(const rwkv__layer *l, float *state, rwkv_state *s, int C, int T) {
    float *last_x = state, *aa = state + C, *bb = state + 2 * C, *pp = state + 3 * C;
    int t, b;
    rwkv__mix(s->in[RWKV__IN_K], s->xx, last_x, l->att_mix_k, C, T, s->n_threads);
    rwkv__mix(s->in[RWKV__IN_V], s->xx, last_x, l->att_mix_v, C, T, s->n_threads);
    rwkv__mix(s->in[RWKV__IN_R], s->xx, last_x, l->att_mix_r, C, T, s->n_threads);
    rwkv__keep_last(last_x, s->xx, C, T);
    rwkv__project(s, &l->att_receptance, s->in[RWKV__IN_R], s->r, T);
    rwkv__project(s, &l->att_key, s->in[RWKV__IN_K], s->k, T);
    rwkv__project(s, &l->att_value, s->in[RWKV__IN_V], s->v, T);
    /* WKV, the numerically stable form (p: the largest exponent so far):
           wkv = (e^(pp-p) aa + e^(u+k-p) v) / (e^(pp-p) bb + e^(u+k-p)),
       then aa, bb, pp take this token with the past decayed by e^w.
       Channels are independent: with threads, each takes blocks of 64
       channels through the whole chunk (fixed blocks, so the same bits for
       any thread count). */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) private(t) num_threads(s->n_threads) if (s->n_threads > 1 && (int64_t)T * C >= RWKV__PARALLEL_VALUES)
#endif
    for (b = 0; b < (C + RWKV__WKV4_BLOCK - 1) / RWKV__WKV4_BLOCK; b++) {
        const int i = RWKV__WKV4_BLOCK * b, n = C - i < RWKV__WKV4_BLOCK ? C - i : RWKV__WKV4_BLOCK;
        for (t = 0; t < T; t++) {
            const size_t at = (size_t)t * (size_t)C + (size_t)i;
            rwkv__wkv4_step(s->k + at, s->v + at, s->r + at, l->att_first + i, l->att_decay + i, aa + i, bb + i,
                            pp + i, s->tmp + at, n);
        }
    }
    rwkv__project(s, &l->att_output, s->tmp, s->out, T);
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
    const int C = m->n_embd, H = m->n_head, N = m->head_size;
    int t, i, h;
    /* the heads are independent, also across tokens: split them over the
       threads, each running its heads through the whole chunk */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(s->n_threads) if (s->n_threads > 1 && H > 1) private(t)
#endif
    for (h = 0; h < H; h++)
        for (t = 0; t < T; t++) {
            const int o = h * N;
            rwkv__wkv5_token(S + (size_t)h * N * N, RWKV__ROW(s->r, t, C) + o, RWKV__ROW(s->k, t, C) + o,
                            RWKV__ROW(s->v, t, C) + o, (decay_per_token ? RWKV__ROW(s->w, t, C) : l->att_decay) + o,
                            l->att_first + o, RWKV__ROW(s->tmp, t, C) + o, N);
        }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) private(i) num_threads(s->n_threads) if (s->n_threads > 1 && (int64_t)T * C >= RWKV__PARALLEL_VALUES)
#endif
    for (t = 0; t < T; t++) {
        float *y = RWKV__ROW(s->tmp, t, C);
        rwkv__group_norm(y, l->att_ln_x_weight, l->att_ln_x_bias, H, N);
        if (l->att_gate.data)
            for (i = 0; i < C; i++) y[i] *= RWKV__ROW(s->g, t, C)[i];
    }
    rwkv__project(s, &l->att_output, s->tmp, s->out, T);
}

static void rwkv__silu_inplace(float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) x[i] = rwkv__silu(x[i]);
}

/* x = max(x, 0)^2. max(x, 0) is written (x + |x|) / 2, exact, because
   compilers turn the comparison into a branch that the random signs would
   mispredict half the time. */
static void rwkv__relu_square(float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        float h = (x[i] + fabsf(x[i])) * 0.5f;
        x[i] = h * h;
    }
}

/* An activation in place over T rows of `width` values, the rows split
   over the threads. */
static void rwkv__activate_rows(const rwkv_state *s, void (*activation)(float *, size_t), float *x, int width,
                                int T) {
    int t;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(s->n_threads) if (s->n_threads > 1 && (int64_t)T * width >= RWKV__PARALLEL_VALUES)
#endif
    for (t = 0; t < T; t++) activation(RWKV__ROW(x, t, width), (size_t)width);
    (void)s;
}

/* RWKV-5: linear attention with a matrix state per head, a fixed decay w
   per channel (v5.1: per head), and in v5.2 a SiLU gate. */
static void rwkv__time_mix_v5(const rwkv_model *m, const rwkv__layer *l, float *state, rwkv_state *s, int T) {
    int C = m->n_embd;
    float *last_x = state;
    rwkv__mix(s->in[RWKV__IN_K], s->xx, last_x, l->att_mix_k, C, T, s->n_threads);
    rwkv__mix(s->in[RWKV__IN_V], s->xx, last_x, l->att_mix_v, C, T, s->n_threads);
    rwkv__mix(s->in[RWKV__IN_R], s->xx, last_x, l->att_mix_r, C, T, s->n_threads);
    if (l->att_gate.data) rwkv__mix(s->in[RWKV__IN_G], s->xx, last_x, l->att_mix_g, C, T, s->n_threads);
    rwkv__keep_last(last_x, s->xx, C, T);
    rwkv__project(s, &l->att_receptance, s->in[RWKV__IN_R], s->r, T);
    rwkv__project(s, &l->att_key, s->in[RWKV__IN_K], s->k, T);
    rwkv__project(s, &l->att_value, s->in[RWKV__IN_V], s->v, T);
    if (l->att_gate.data) {
        rwkv__project(s, &l->att_gate, s->in[RWKV__IN_G], s->g, T);
        rwkv__activate_rows(s, rwkv__silu_inplace, s->g, C, T);
    }
    rwkv__time_mix_v5_output(m, l, state + C, s, T, 0);
}

/* RWKV-6: as v5.2, but the token shift and the decay depend on the input,
   through small LoRAs: mix_p = maa_p + W2_p tanh(W1 (x + sx*maa_x))_p for
   p = w,k,v,r,g, and w = exp(-exp(decay + Wd2 tanh(Wd1 x_w))). */
/* v6's data-dependent token shift of one token (at = its offset):
   in = x + sx (maa + lora). */
static void rwkv__v6_mix_row(float *in, const rwkv_state *s, const float *maa, size_t at, int C) {
    int c;
    for (c = 0; c < C; c++) in[at + c] = s->xx[at + c] + s->sx[at + c] * (maa[c] + s->tmp[at + c]);
}

/* v6's decay of one token: w = e^(-e^(decay + lora)). */
static void rwkv__v6_decay_row(float *w, const float *decay, int C) {
    int c;
    for (c = 0; c < C; c++) w[c] = expf(-expf(decay[c] + w[c]));
}

static void rwkv__time_mix_v6(const rwkv_model *m, const rwkv__layer *l, float *state, rwkv_state *s, int T) {
    static const int role[5] = {RWKV__IN_W, RWKV__IN_K, RWKV__IN_V, RWKV__IN_R, RWKV__IN_G};
    const int C = m->n_embd, D = l->att_maa_w1.n_out / 5, D2 = l->att_decay_w1.n_out;
    float *last_x = state;
    size_t i;
    int t, p;
    rwkv__shift_difference(s->sx, s->xx, last_x, C, T, s->n_threads);
    rwkv__keep_last(last_x, s->xx, C, T);
    rwkv__lerp(s->tmp, s->xx, s->sx, l->att_maa_x, C, T, s->n_threads);
    rwkv__project(s, &l->att_maa_w1, s->tmp, s->lora, T);
    for (i = 0; i < (size_t)T * (size_t)(5 * D); i++) s->lora[i] = tanhf(s->lora[i]);
    for (p = 0; p < 5; p++) {
        float *in = s->in[role[p]];
        /* gather this part's D values of every token, then W2_p */
        for (t = 0; t < T; t++)
            memcpy(RWKV__ROW(s->a, t, D), RWKV__ROW(s->lora, t, 5 * D) + p * D, sizeof(float) * (size_t)D);
        rwkv__project(s, &l->att_maa_w2[p], s->a, s->tmp, T);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(s->n_threads) if (s->n_threads > 1 && (int64_t)T * C >= RWKV__PARALLEL_VALUES)
#endif
        for (t = 0; t < T; t++) rwkv__v6_mix_row(in, s, l->att_maa[p], (size_t)t * (size_t)C, C);
    }
    rwkv__project(s, &l->att_receptance, s->in[RWKV__IN_R], s->r, T);
    rwkv__project(s, &l->att_key, s->in[RWKV__IN_K], s->k, T);
    rwkv__project(s, &l->att_value, s->in[RWKV__IN_V], s->v, T);
    rwkv__project(s, &l->att_gate, s->in[RWKV__IN_G], s->g, T);
    rwkv__activate_rows(s, rwkv__silu_inplace, s->g, C, T);
    rwkv__project(s, &l->att_decay_w1, s->in[RWKV__IN_W], s->lora, T);
    for (i = 0; i < (size_t)T * (size_t)D2; i++) s->lora[i] = tanhf(s->lora[i]);
    rwkv__project(s, &l->att_decay_w2, s->lora, s->w, T);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(s->n_threads) if (s->n_threads > 1 && (int64_t)T * C >= RWKV__PARALLEL_VALUES)
#endif
    for (t = 0; t < T; t++) rwkv__v6_decay_row(s->w + (size_t)t * (size_t)C, l->att_decay, C);
    rwkv__time_mix_v5_output(m, l, state + C, s, T, 1);
}

/* One v7 head (channels o .. o+N-1, state S: N rows [v] of N [k]) through
   T tokens: S = S diag(w) - (S kk) (kk a)^T + v k^T, y = S r, then its
   group norm, the r_k bonus and the gate. */
static void rwkv__wkv_v7_head(const rwkv__layer *l, float *S, rwkv_state *s, int o, int N, int C, int T) {
    int t, c, j;
    for (t = 0; t < T; t++) {
        const size_t base = (size_t)t * (size_t)C;
        const float *r = s->r + base, *k = s->k + base, *v = s->v + base;
        const float *kk = s->kk + base, *w = s->w + base, *a = s->a + base, *g = s->g + base;
        float *y = s->tmp + base, bonus = 0.0f;
        rwkv__wkv7_token(S, r + o, k + o, v + o, kk + o, w + o, a + o, y + o, N);
        rwkv__layer_norm_eps(y + o, y + o, l->att_ln_x_weight + o, l->att_ln_x_bias + o, N, 64e-5f);
        for (j = 0; j < N; j++) bonus += r[o + j] * k[o + j] * l->att_r_k[o + j];
        for (c = 0; c < N; c++) y[o + c] = (y[o + c] + bonus * v[o + c]) * g[o + c];
    }
}

/* One token's decay w, learning rate a, normalized key kk and key k from
   the projections (at = the token's offset in the chunk's buffers). */
static void rwkv__v7_token_values(const rwkv__layer *l, rwkv_state *s, size_t at, int C, int H, int N) {
    float *w = s->w + at, *a = s->a + at, *k = s->k + at, *kk = s->kk + at;
    int c, h, j;
    for (c = 0; c < C; c++) {
        w[c] = expf(-0.606531f * rwkv__sigmoid(l->att_w0[c] + w[c]));
        a[c] = rwkv__sigmoid(l->att_a0[c] + a[c]);
        kk[c] = k[c] * l->att_k_k[c];
        k[c] = k[c] * (1.0f + (a[c] - 1.0f) * l->att_k_a[c]);
    }
    for (h = 0; h < H; h++) { /* kk: unit length per head */
        float *kh = kk + (size_t)h * N, norm = 0.0f;
        for (j = 0; j < N; j++) norm += kh[j] * kh[j];
        norm = sqrtf(norm);
        norm = norm > 1e-12f ? norm : 1e-12f;
        for (j = 0; j < N; j++) kh[j] /= norm;
    }
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
    int h, j, t;
    rwkv__shift_difference(s->sx, s->xx, last_x, C, T, s->n_threads);
    rwkv__keep_last(last_x, s->xx, C, T);
    for (j = 0; j < 6; j++) rwkv__lerp(s->in[j], s->xx, s->sx, l->att_lerp[j], C, T, s->n_threads);
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
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(s->n_threads) if (s->n_threads > 1 && (int64_t)T * C >= RWKV__PARALLEL_VALUES)
#endif
    for (t = 0; t < T; t++) rwkv__v7_token_values(l, s, (size_t)t * (size_t)C, C, H, N);
    /* value residual: later layers mix in layer 0's value */
    if (layer == 0) {
        memcpy(s->v_first, s->v, sizeof(float) * n);
    } else {
        rwkv__project(s, &l->att_v1, s->in[RWKV__IN_V], s->lora, T);
        rwkv__project(s, &l->att_v2, s->lora, s->tmp, T);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) private(j) num_threads(s->n_threads) if (s->n_threads > 1 && (int64_t)T * C >= RWKV__PARALLEL_VALUES)
#endif
        for (t = 0; t < T; t++)
            for (j = 0; j < C; j++) {
                const size_t at = (size_t)t * (size_t)C + (size_t)j;
                s->v[at] += (s->v_first[at] - s->v[at]) * rwkv__sigmoid(l->att_v0[j] + s->tmp[at]);
            }
    }
    /* the heads are independent, also across tokens: split them over the
       threads, each running its heads through the whole chunk */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(s->n_threads) if (s->n_threads > 1 && H > 1)
#endif
    for (h = 0; h < H; h++) rwkv__wkv_v7_head(l, S + (size_t)h * N * N, s, h * N, N, C, T);
    rwkv__project(s, &l->att_output, s->tmp, s->out, T);
}



/* Channel mix: sigmoid(W_r x_r) * W_v relu(W_k x_k)^2 (v7: no receptance). */
static void rwkv__channel_mix(const rwkv_model *m, const rwkv__layer *l, float *last_x, rwkv_state *s, int T) {
    const int C = m->n_embd;
    int t;
    if (m->version <= 5) {
        rwkv__mix(s->in[RWKV__IN_K], s->xx, last_x, l->ffn_mix_k, C, T, s->n_threads);
        rwkv__mix(s->in[RWKV__IN_R], s->xx, last_x, l->ffn_mix_r, C, T, s->n_threads);
    } else {
        rwkv__shift_difference(s->sx, s->xx, last_x, C, T, s->n_threads);
        rwkv__lerp(s->in[RWKV__IN_K], s->xx, s->sx, l->ffn_mix_k, C, T, s->n_threads);
        if (l->ffn_mix_r) rwkv__lerp(s->in[RWKV__IN_R], s->xx, s->sx, l->ffn_mix_r, C, T, s->n_threads);
    }
    rwkv__keep_last(last_x, s->xx, C, T);
    rwkv__project(s, &l->ffn_key, s->in[RWKV__IN_K], s->hidden, T);
    rwkv__activate_rows(s, rwkv__relu_square, s->hidden, m->n_ffn, T);
    rwkv__project(s, &l->ffn_value, s->hidden, s->out, T);
    if (l->ffn_receptance.data) {
        rwkv__project(s, &l->ffn_receptance, s->in[RWKV__IN_R], s->r, T);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(s->n_threads) if (s->n_threads > 1 && (int64_t)T * C >= RWKV__PARALLEL_VALUES)
#endif
        for (t = 0; t < T; t++) rwkv__gate_sigmoid(RWKV__ROW(s->out, t, C), RWKV__ROW(s->r, t, C), (size_t)C);
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
    rwkv__layer_norm(s->x, s->out, m->ln0_weight, m->ln0_bias, C, T, s->n_threads);
    for (l = 0; l < m->n_layer; l++) {
        const rwkv__layer *layer = &m->layers[l];
        float *state = s->data + (size_t)l * per_layer;
        rwkv__layer_norm(s->xx, s->x, layer->ln1_weight, layer->ln1_bias, C, T, s->n_threads);
        switch (m->version) {
        case 4: rwkv__time_mix_v4(layer, state, s, C, T); break;
        case 5: rwkv__time_mix_v5(m, layer, state, s, T); break;
        case 6: rwkv__time_mix_v6(m, layer, state, s, T); break;
        default: rwkv__time_mix_v7(m, layer, l, state, s, T); break;
        }
        rwkv__add_rows(s->x, s->out, C, T, s->n_threads);
        rwkv__layer_norm(s->xx, s->x, layer->ln2_weight, layer->ln2_bias, C, T, s->n_threads);
        rwkv__channel_mix(m, layer, state + ffn_offset, s, T);
        rwkv__add_rows(s->x, s->out, C, T, s->n_threads);
        /* HF-derived v6 GGUFs pre-divide two weights by 2^(l/n): undo here */
        if (m->rescale_every && (l + 1) % m->rescale_every == 0)
            for (i = 0; i < n; i++) s->x[i] *= 0.5f;
    }
    if (logits) {
        rwkv__layer_norm(s->xx, RWKV__ROW(s->x, T - 1, C), m->ln_out_weight, m->ln_out_bias, C, 1, 1);
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

/* ---- Tokenizers: byte-level BPE (GPT-2, GPT-NeoX-20B) -------------------- */

/* Tested by tests/test_bpe.c and, against Hugging Face tokenizers' own
   output, tests/test_bpe_conformance.c.

   WHAT IT DOES: the byte-level BPE of Hugging Face tokenizers for a
   tokenizer.json whose model is BPE and whose pre-tokenizer is ByteLevel
   (GPT-2, GPT-NeoX-20B's 20B_tokenizer.json used by RWKV-4 Pile and Raven),
   exact against HF's `encode(text)` (which adds nothing to the ids here: the
   ByteLevel post-processor only moves offsets). Step by step, as HF does it:
    1. Added tokens with normalized=false (e.g. <|endoftext|>) are cut out of
       the raw text: at the leftmost position where one matches, the longest
       one, then on after it (with lstrip/rstrip widening the cut over white
       space and single_word discarding a match inside a word, as in HF's
       AddedVocabulary::find_matches).
    2. Each piece left is normalized (NFC, when the file's normalizer says so:
       20B_tokenizer.json does) and the added tokens with normalized=true
       (20B's runs of 2..24 spaces) are cut out of it the same way, matching
       their NFC form.
    3. Each piece left gets a space in front if add_prefix_space is set and it
       does not start with one, and is split by the GPT-2 pattern
           's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
       (rwkv__bpe_pretoken: a hand-written matcher with the leftmost-first
       semantics of the Oniguruma regex HF runs; use_regex=false skips this).
    4. The bytes of each pre-token are its first symbols (GPT-2's byte-to-
       unicode only renames bytes as characters), merged by rank: the lowest
       rank first and, among equal ranks, the leftmost first, with a heap of
       candidate pairs over a linked list of symbols: O(n log n) per pre-token
       (rwkv__bpe_word, the algorithm of HF's Word::merge_all).
   Decoding gives each token's bytes: its characters mapped back through
   byte-to-unicode, or its UTF-8 text unchanged when one of them is not one
   of those 256 characters (as HF's ByteLevel decoder does). Added tokens
   decode to their content ("<|endoftext|>", "  "). (HF passes that content
   through the ByteLevel decoder too, which changes a content made only of
   byte-level characters, e.g. U+00E9 U+003F to the bytes E9 3F; 20B has
   none.)

   INVALID UTF-8 (our definition: HF only takes strings): every byte that
   does not start a well-formed UTF-8 sequence (RFC 3629: no overlong forms,
   no surrogates, nothing past U+10FFFF; a truncated sequence counts as
   invalid bytes) is one character of its own, of class "other" (not letter,
   number or space) and combining class 0, composing with nothing. So runs of
   them join punctuation in ` ?[^\s\p{L}\p{N}]+` and byte-level BPE encodes
   them like any byte. A byte with no token in the vocabulary is dropped, as
   HF drops a character missing from its vocabulary when the file names no
   unk_token (it becomes unk_token when one is named): 20B_tokenizer.json
   lacks exactly the 13 bytes no UTF-8 text contains, C0, C1 and F5..FF. So
   every byte string encodes, and decode(encode(s)) == s for every s without
   those bytes whose valid parts are in NFC (the normalizer changes the
   others, as in HF).

   UNICODE: the classes \p{L}, \p{N} and \s come from the tables below, made
   by tools/gen_unicode_tables.py from Unicode 15.0 (Debian's unicode-data).
   HF's Oniguruma knows Unicode 16.0, so the 5,004 letters and digits that
   16.0 added (Garay, Tulu-Tigalari, Kirat Rai, Egyptian hieroglyphs ext. A,
   ...) are "other" here but letters/numbers in HF; every code point assigned
   in 15.0 was checked to agree. HF's NFC uses the Unicode 9.0 tables of the
   crate unicode-normalization-alignments, and so does ours (the generator
   limits the NFC data to characters of 9.0): a combining mark added later
   has class 0 and a later composite never composes, as in HF.

   Not supported (load fails with RWKV_ERROR_UNSUPPORTED): other normalizers
   and pre-tokenizers, BPE dropout, continuing_subword_prefix,
   end_of_word_suffix, byte_fallback with an incomplete byte alphabet.
   Ignored: truncation, padding, post_processor, decoder (assumed ByteLevel).
   Approximated: single_word's "word character" (Rust regex \w) is taken as
   letter, number or '_' (no such token in the files this is for).

   A rwkv__bpe is read-only after loading and may be shared by threads;
   encoding allocates its scratch per call and frees it before returning. */

/* BEGIN GENERATED UNICODE TABLES */
/* Generated by tools/gen_unicode_tables.py from the Unicode Character
   Database 15.0.0 (Debian unicode-data); NFC data limited to Unicode 9.0.
   1916 class ranges, 496 combining-class ranges, 2060 decompositions (940 compose).
   Do not edit by hand: run the tool again. */
#define RWKV__BPE_UNICODE_VERSION "15.0.0"
#define RWKV__BPE_NFC_UNICODE_VERSION "9.0"
static const uint32_t rwkv__bpe_cls_table[1916] = {
    0,75,112,259,264,386,464,521,728,777,
    984,1067,1072,1283,1288,1361,1368,1426,1440,1449,
    1456,1482,1489,1496,1506,1528,1537,1720,1729,1976,
    1985,5648,5681,5776,5889,5928,5985,5992,6001,6008,
    6148,6776,6788,7041,7077,7080,7089,7104,7121,7156,
    7161,7168,7217,7228,7233,7256,7265,7272,7281,7440,
    7449,8112,8121,9232,9244,9280,9297,10624,10633,10936,
    10953,10960,11009,11336,11404,11760,11772,11776,11788,11800,
    11812,11824,11836,11840,11905,12120,12153,12184,12420,12504,
    12545,12892,13058,13136,13169,13188,13193,13984,13993,14004,
    14056,14076,14121,14140,14152,14164,14193,14210,14289,14312,
    14329,14336,14465,14476,14481,14724,14936,14953,15664,15753,
    15760,15874,15953,16220,16289,16304,16337,16344,16385,16564,
    16593,16604,16673,16684,16705,16716,16752,16897,17100,17120,
    17153,17240,17281,17472,17481,17528,17665,18000,18084,18192,
    18204,18432,18465,18896,18916,18921,18928,19052,19056,19073,
    19084,19112,19141,19201,19216,19250,19328,19337,19464,19497,
    19560,19577,19592,19609,19784,19793,19848,19857,19864,19889,
    19920,19940,19945,19956,19960,20076,20081,20088,20156,20160,
    20197,20208,20221,20225,20240,20274,20353,20368,20386,20432,
    20449,20456,20521,20568,20601,20616,20633,20808,20817,20872,
    20881,20893,20896,20905,20917,20920,20929,20944,20964,20968,
    21100,21104,21197,21217,21224,21237,21240,21298,21376,21393,
    21416,21545,21616,21625,21648,21657,21832,21841,21896,21905,
    21920,21929,21968,21988,21993,22000,22124,22128,22145,22152,
    22273,22288,22322,22400,22473,22480,22569,22632,22649,22664,
    22681,22856,22865,22920,22929,22944,22953,22992,23012,23017,
    23028,23032,23148,23152,23220,23232,23269,23280,23289,23312,
    23346,23424,23433,23442,23488,23577,23584,23593,23640,23665,
    23688,23697,23728,23753,23768,23777,23784,23793,23808,23833,
    23848,23873,23896,23921,24016,24052,24056,24172,24176,24193,
    24200,24252,24256,24370,24472,24617,24680,24689,24712,24721,
    24904,24913,25040,25065,25072,25196,25200,25260,25272,25281,
    25304,25321,25328,25345,25360,25394,25472,25538,25592,25601,
    25608,25641,25704,25713,25736,25745,25928,25937,26016,26025,
    26064,26084,26089,26096,26132,26136,26220,26224,26284,26296,
    26345,26360,26369,26384,26418,26496,26505,26520,26657,26728,
    26737,26760,26769,27096,27113,27124,27128,27244,27249,27256,
    27297,27324,27330,27385,27408,27442,27592,27601,27648,27689,
    27832,27857,28048,28057,28128,28137,28144,28161,28216,28244,
    28248,28284,28288,28412,28416,28466,28544,28681,29064,29073,
    29088,29124,29144,29185,29240,29252,29280,29314,29392,29705,
    29720,29729,29736,29745,29784,29793,29984,29993,30000,30009,
    30088,30097,30112,30148,30160,30185,30192,30209,30248,30257,
    30264,30276,30304,30338,30416,30433,30464,30721,30728,30916,
    30928,30978,31136,31148,31152,31164,31168,31180,31184,31233,
    31261,31265,31296,31305,31341,31345,31381,31385,31421,31425,
    31461,31465,31565,31569,31592,31628,31672,31684,31688,31700,
    31728,31748,31784,31796,31809,31848,31900,31904,31980,31984,
    32020,32024,32060,32064,32100,32104,32204,32208,32308,32312,
    32769,33112,33140,33144,33212,33216,33228,33240,33273,33282,
    33360,33409,33456,33489,33520,33545,33552,33577,33592,33649,
    33672,33705,33808,33900,33905,33912,33922,34000,34049,34352,
    34361,34368,34409,34416,34433,34776,34785,35597,35761,36165,
    36377,37448,37457,37488,37505,37560,37569,37576,37585,37616,
    37633,37960,37969,38000,38017,38280,38289,38320,38337,38392,
    38401,38408,38417,38448,38465,38584,38593,39048,39057,39088,
    39105,39640,39660,39680,39754,39912,39937,40064,40193,40880,
    40897,40944,40969,45928,45945,46083,46089,46296,46337,46936,
    46962,46985,47048,47105,47248,47268,47272,47353,47504,47524,
    47528,47617,47760,47873,47976,47985,48008,48129,48544,48788,
    48792,48825,48832,48865,48876,48880,48898,48976,49026,49104,
    49282,49360,49409,50120,50177,50216,50233,50508,50513,50520,
    50561,51120,51201,51448,51660,51680,51762,51841,52080,52097,
    52136,52225,52576,52609,52816,52866,52952,53249,53436,53448,
    53505,53928,54020,54024,54188,54248,54268,54274,54352,54402,
    54480,54585,54592,54660,54768,55337,55716,55728,55844,55849,
    55912,55938,56016,56156,56224,56345,56584,56660,56672,56689,
    56706,56785,57140,57144,57236,57248,57345,57632,57788,57792,
    57858,57936,57961,57986,58065,58352,58369,58440,58497,58840,
    58857,58880,59012,59032,59044,59144,59156,59209,59244,59249,
    59300,59305,59320,59332,59345,59352,59393,60932,61360,61404,
    61441,63664,63681,63728,63745,64048,64065,64112,64129,64192,
    64201,64208,64217,64224,64233,64240,64249,64397,64401,64413,
    64417,64429,64433,64445,64449,64461,64465,64477,64481,64493,
    64496,64513,64936,64945,64989,64993,65000,65013,65016,65041,
    65064,65073,65101,65105,65117,65121,65128,65153,65181,65184,
    65201,65245,65248,65281,65309,65313,65373,65377,65384,65396,
    65408,65425,65448,65457,65485,65489,65501,65505,65516,65520,
    65543,65555,65624,65859,65872,65915,65920,66299,66304,66434,
    66441,66448,66466,66512,66553,66562,66640,66689,66792,67204,
    67304,67340,67344,67372,67464,67601,67608,67641,67648,67665,
    67744,67753,67760,67785,67824,67873,67880,67893,67896,67905,
    67912,67925,67937,67952,67961,68048,68065,68096,68137,68176,
    68209,68216,68226,68633,68650,68688,72012,72024,74498,74976,
    75602,75776,80818,81056,87780,87784,90113,91944,91993,92028,
    92049,92064,92138,92144,92161,92464,92473,92480,92521,92528,
    92545,92992,93049,93056,93180,93185,93368,93441,93496,93505,
    93560,93569,93624,93633,93688,93697,93752,93761,93816,93825,
    93880,93889,93944,93956,94208,94585,94592,98307,98312,98345,
    98362,98368,98570,98644,98688,98697,98736,98754,98777,98792,
    98825,99512,99532,99544,99561,99584,99593,100312,100321,100352,
    100393,100736,100745,101496,101522,101552,101633,101888,102273,102400,
    102658,102736,102978,103040,103050,103168,103426,103504,103818,103936,
    106497,159232,159745,337000,337537,337904,337921,340072,340097,340226,
    340305,340320,340481,340860,340864,340900,340976,340985,341236,341249,
    341810,341892,341904,342201,342272,342289,343112,343129,343640,343681,
    343696,343705,343712,343721,343760,343953,344080,344089,344116,344121,
    344152,344161,344344,344450,344496,344577,344992,345105,345504,345636,
    345640,345730,345808,345860,346001,346048,346073,346080,346089,346104,
    346114,346193,346416,346460,346480,346497,346680,346780,346784,346881,
    347112,347169,347548,347552,347652,347656,347769,347778,347856,347905,
    347944,347953,348034,348113,348152,348161,348488,348673,348696,348705,
    348768,348802,348880,348929,349112,349137,349144,349169,349572,349577,
    349588,349609,349628,349641,349684,349697,349708,349713,349720,349913,
    349936,349953,350040,350097,350120,350132,350136,350217,350264,350281,
    350328,350345,350392,350465,350520,350529,350584,350593,350936,350945,
    351056,351105,352024,352108,352112,352130,352208,352257,441632,441729,
    441912,441945,442336,509957,512113,512133,512137,512149,512153,512173,
    512249,512261,512265,512277,512281,512301,512313,512341,512880,512901,
    513744,514049,514104,514201,514240,514285,514292,514301,514305,514376,
    514389,514488,514501,514536,514549,514552,514565,514576,514589,514600,
    514613,514681,515472,515737,518640,518785,519296,519313,519744,520065,
    520160,520452,520576,521089,521128,521137,522216,522370,522448,522505,
    522712,522761,522968,523057,523768,523793,523840,523857,523904,523921,
    523968,523985,524008,524289,524384,524393,524600,524609,524760,524769,
    524784,524793,524912,524929,525040,525313,526296,526394,526752,526850,
    527304,527442,527456,528364,528368,529409,529640,529665,530056,530180,
    530186,530400,530433,530690,530720,530793,530954,530961,531026,531032,
    531073,531380,531416,531457,531696,531713,532000,532033,532096,532106,
    532144,532481,533744,533762,533840,533889,534176,534209,534496,534529,
    534848,534913,535328,535425,535512,535521,535640,535649,535704,535713,
    535728,535737,535824,535833,535952,535961,536016,536025,536040,536577,
    539064,539137,539312,539393,539456,539649,539696,539705,540040,540049,
    540120,540673,540720,540737,540744,540753,541104,541113,541128,541153,
    541160,541177,541360,541378,541441,541624,541642,541697,541944,542010,
    542080,542465,542616,542625,542640,542682,542721,542898,542944,542977,
    543184,543745,544192,544226,544241,544258,544384,544402,544769,544776,
    544876,544880,544892,544897,544928,544937,544960,544969,545200,545220,
    545240,545276,545282,545352,545537,545770,545784,545793,546026,546048,
    546305,546368,546377,546604,546616,546650,546688,546817,547248,547329,
    547504,547522,547585,547736,547778,547841,547984,548170,548224,548865,
    549448,549889,550296,550401,550808,550866,550913,551200,551298,551376,
    553730,553976,553985,554320,554369,554384,555009,555242,555321,555328,
    555393,555568,555658,555688,555905,556048,556417,556586,556640,556801,
    556984,557081,557504,557620,557624,557714,557952,557961,557976,557993,
    558000,558076,558080,558105,558464,558540,558552,558721,558920,558978,
    559056,559108,559129,559420,559424,559516,559528,559538,559616,559649,
    559656,559673,559680,559745,560028,560032,560049,560056,560153,560536,
    560644,560649,560680,560724,560728,560770,560849,560856,560865,560872,
    560906,561064,561153,561296,561305,561504,561580,561592,561657,561672,
    562177,562232,562241,562248,562257,562288,562297,562416,562425,562504,
    562561,562936,563020,563032,563074,563152,563241,563304,563321,563336,
    563353,563528,563537,563592,563601,563616,563625,563664,563684,563689,
    563700,563704,563820,563824,563841,563848,563900,563904,563945,563984,
    564020,564072,564100,564136,565249,565672,565780,565784,565812,565817,
    565848,565890,565968,566009,566032,566273,566660,566664,566740,566744,
    566764,566768,566804,566817,566832,566841,566848,566914,566992,568321,
    568700,568704,568828,568840,569025,569056,569345,569728,569852,569856,
    569889,569896,569986,570064,570369,570712,570804,570817,570824,570882,
    570960,571393,571608,571740,571744,571778,571872,571905,571960,573441,
    573792,574721,575234,575384,575481,575544,575561,575568,575585,575648,
    575657,575672,575681,575872,575993,576000,576009,576016,576130,576208,
    576769,576832,576849,577160,577289,577296,577305,577312,577537,577544,
    577625,577944,578001,578008,578177,578184,578273,578640,578793,578800,
    578945,579528,581633,581704,581713,582008,582140,582145,582152,582274,
    582504,582545,582784,583681,583736,583745,583760,583769,584072,584241,
    584248,584322,584400,584449,584496,584505,584520,584529,584784,584897,
    584904,584962,585040,587521,587672,587793,587800,587809,587912,587921,
    588192,588418,588496,589185,589192,589314,589480,589825,597200,598018,
    598904,599041,600608,621697,622472,622593,631168,631305,631352,663553,
    668216,737281,741832,741889,742136,742146,742224,742273,742904,742914,
    742992,743041,743280,743300,743336,743425,743812,743864,743937,743968,
    744066,744144,744154,744208,744217,744384,744425,744576,750081,750594,
    750776,751617,752216,752257,752264,752793,752896,753409,753424,753433,
    753440,753665,802752,802817,812720,813057,813128,884609,884640,884649,
    884704,884713,884728,884737,887064,887185,887192,887425,887448,887465,
    887472,887585,887616,887681,890848,909313,910168,910209,910312,910337,
    910408,910465,910544,910580,910584,953076,953168,953196,953240,953308,
    953368,953388,953440,953684,953712,953820,953864,954900,954920,955906,
    956064,956162,956320,957186,957384,958465,959144,959153,959720,959729,
    959744,959761,959768,959785,959800,959817,959848,959857,959952,959961,
    959968,959977,960032,960041,960560,960569,960600,960617,960680,960689,
    960744,960753,960976,960985,961016,961025,961064,961073,961080,961105,
    961160,961169,963888,963905,964104,964113,964312,964321,964568,964577,
    964776,964785,965032,965041,965240,965249,965496,965505,965704,965713,
    965960,965969,966168,966177,966240,966258,966656,980993,981240,981289,
    981336,983044,983096,983108,983240,983260,983312,983324,983336,983348,
    983384,983425,983920,985089,985448,985529,985584,985602,985680,985713,
    985720,988289,988528,988673,989024,989058,989136,992897,993120,993154,
    993232,999169,999224,999233,999264,999273,999288,999297,999416,999425,
    1001000,1001018,1001092,1001144,1001473,1002020,1002073,1002080,1002114,1002192,
    1008522,1008992,1009002,1009024,1009034,1009064,1009674,1010032,1010042,1010160,
    1011713,1011744,1011753,1011968,1011977,1011992,1012001,1012008,1012025,1012032,
    1012041,1012120,1012129,1012160,1012169,1012176,1012185,1012192,1012241,1012248,
    1012281,1012288,1012297,1012304,1012313,1012320,1012329,1012352,1012361,1012376,
    1012385,1012392,1012409,1012416,1012425,1012432,1012441,1012448,1012457,1012464,
    1012473,1012480,1012489,1012504,1012513,1012520,1012537,1012568,1012577,1012632,
    1012641,1012672,1012681,1012712,1012721,1012728,1012737,1012816,1012825,1012960,
    1013001,1013024,1013033,1013072,1013081,1013216,1017858,1017960,1040258,1040336,
    1048577,1390336,1390593,1423824,1423873,1425648,1425665,1471760,1471873,1531656,
    1556485,1560816,1572865,1612376,1612417,1645952,
};
static const uint32_t rwkv__bpe_ccc_table[496] = {
    0,196838,202216,202460,203496,203736,203996,205258,205788,206794,
    207324,209921,211420,212454,214512,214758,215004,215782,216540,216832,
    217318,218076,219110,219368,219612,220134,220393,220650,221161,221418,
    221929,222182,225280,295910,296960,365020,365286,366300,366566,367326,
    367580,367846,369372,370918,371420,371686,372190,372452,372710,372746,
    373003,373260,373517,373774,374031,374288,374545,374802,375059,375572,
    375829,376086,376320,376599,376832,377112,377369,377600,378086,378332,
    378368,378642,378880,397542,399390,399647,399904,400128,412443,412700,
    412957,413214,413471,413728,413985,414242,414694,415196,415718,416988,
    417254,417756,417792,421923,422144,448230,449792,450534,451548,451814,
    451840,452582,452864,453340,453606,454108,454144,463140,463360,471270,
    471516,471782,472284,472550,473052,473830,474076,474598,474844,475110,
    475868,476134,476380,476646,476892,477158,477404,477670,477952,519142,
    520924,521190,521216,530150,530944,531430,533504,533990,534528,535014,
    536064,547292,547840,578790,582144,582620,582886,583388,583654,584156,
    584422,585180,585755,586012,586269,586726,587484,587750,588252,588774,
    589824,605191,605440,609545,609792,610790,611036,611302,611584,637959,
    638208,642313,642560,670727,670976,675081,675328,703495,703744,707849,
    708096,736263,736512,740617,740864,773385,773632,806153,806400,808276,
    808539,808704,834567,834816,838921,839168,871689,871936,903689,903936,
    931943,932361,932608,936043,936960,964726,965120,968826,969728,989404,
    989696,996828,996864,997340,997376,997848,997888,1012097,1012354,1012480,
    1012868,1012992,1014402,1015296,1015938,1016064,1016550,1016841,1017088,1017574,
    1017856,1033948,1033984,1062663,1062912,1063177,1063680,1084892,1084928,1269222,
    1269760,1512457,1512704,1520649,1520896,1561097,1561344,1564134,1564160,1616356,
    1616384,1653214,1653478,1653724,1653760,1710054,1710300,1710336,1728521,1728768,
    1734118,1735936,1736668,1736704,1749222,1750492,1752038,1752540,1752576,1782791,
    1783040,1786889,1787136,1797094,1797340,1797606,1799168,1813001,1813504,1828359,
    1828608,1831433,1831936,1849095,1849344,1888486,1889024,1889281,1889756,1891046,
    1891548,1892582,1892608,1892865,1894656,1895900,1895936,1897702,1897728,1898726,
    1899008,1949926,1950428,1950694,1952476,1952742,1953258,1953494,1953756,1953994,
    1954278,1963520,1965030,1965289,1965532,1965798,1966044,1966080,2150630,2150913,
    2151654,2152449,2153446,2153728,2154982,2155008,2155777,2156518,2156764,2157030,
    2157057,2157788,2158822,2158848,2944998,2945536,2981641,2981888,3006694,3014656,
    3156698,3156964,3157224,3157470,3157728,3158016,3184904,3185408,10907622,10907648,
    10908902,10911232,10919654,10919936,10940646,10940928,11011593,11011840,11060233,11060480,
    11067622,11072000,11086812,11087360,11096841,11097088,11121415,11121664,11124745,11124992,
    11186406,11186432,11186918,11187420,11187456,11188198,11188480,11189990,11190272,11190758,
    11190784,11204105,11204352,11267337,11267584,16457242,16457472,16654566,16656348,16658150,
    16658432,16907740,16907776,16965852,16965888,17004262,17005312,17436124,17436160,17436646,
    17436672,17447142,17447169,17447644,17447680,17448713,17448960,17491430,17491676,17491712,
    17843721,17843968,17858313,17858560,17873161,17873415,17873664,17891558,17892096,17904393,
    17904896,17920775,17921024,17940489,17940736,17943047,17943296,17970441,17970695,17970944,
    18016519,18016777,18017024,18037767,18038016,18042121,18042368,18048742,18050304,18051302,
    18052352,18104841,18105088,18105863,18106112,18137609,18137863,18138112,18202377,18202631,
    18202880,18235145,18235392,18265609,18265863,18266112,18295561,18295808,18628361,18628608,
    23785473,23786752,23802086,23803648,29138433,29138688,30500312,30500609,30501376,30502370,
    30502616,30503680,30505948,30507776,30508518,30509788,30510080,30517990,30518784,30556902,
    30557440,31457510,31459072,31459558,31463680,31464422,31465984,31466470,31466752,31467238,
    31468288,32035036,32036608,32064742,32066055,32066304,
};
static const uint32_t rwkv__bpe_decomp_table[6180] = {
    192,65,768,193,65,769,194,65,770,195,65,771,
    196,65,776,197,65,778,199,67,807,200,69,768,
    201,69,769,202,69,770,203,69,776,204,73,768,
    205,73,769,206,73,770,207,73,776,209,78,771,
    210,79,768,211,79,769,212,79,770,213,79,771,
    214,79,776,217,85,768,218,85,769,219,85,770,
    220,85,776,221,89,769,224,97,768,225,97,769,
    226,97,770,227,97,771,228,97,776,229,97,778,
    231,99,807,232,101,768,233,101,769,234,101,770,
    235,101,776,236,105,768,237,105,769,238,105,770,
    239,105,776,241,110,771,242,111,768,243,111,769,
    244,111,770,245,111,771,246,111,776,249,117,768,
    250,117,769,251,117,770,252,117,776,253,121,769,
    255,121,776,256,65,772,257,97,772,258,65,774,
    259,97,774,260,65,808,261,97,808,262,67,769,
    263,99,769,264,67,770,265,99,770,266,67,775,
    267,99,775,268,67,780,269,99,780,270,68,780,
    271,100,780,274,69,772,275,101,772,276,69,774,
    277,101,774,278,69,775,279,101,775,280,69,808,
    281,101,808,282,69,780,283,101,780,284,71,770,
    285,103,770,286,71,774,287,103,774,288,71,775,
    289,103,775,290,71,807,291,103,807,292,72,770,
    293,104,770,296,73,771,297,105,771,298,73,772,
    299,105,772,300,73,774,301,105,774,302,73,808,
    303,105,808,304,73,775,308,74,770,309,106,770,
    310,75,807,311,107,807,313,76,769,314,108,769,
    315,76,807,316,108,807,317,76,780,318,108,780,
    323,78,769,324,110,769,325,78,807,326,110,807,
    327,78,780,328,110,780,332,79,772,333,111,772,
    334,79,774,335,111,774,336,79,779,337,111,779,
    340,82,769,341,114,769,342,82,807,343,114,807,
    344,82,780,345,114,780,346,83,769,347,115,769,
    348,83,770,349,115,770,350,83,807,351,115,807,
    352,83,780,353,115,780,354,84,807,355,116,807,
    356,84,780,357,116,780,360,85,771,361,117,771,
    362,85,772,363,117,772,364,85,774,365,117,774,
    366,85,778,367,117,778,368,85,779,369,117,779,
    370,85,808,371,117,808,372,87,770,373,119,770,
    374,89,770,375,121,770,376,89,776,377,90,769,
    378,122,769,379,90,775,380,122,775,381,90,780,
    382,122,780,416,79,795,417,111,795,431,85,795,
    432,117,795,461,65,780,462,97,780,463,73,780,
    464,105,780,465,79,780,466,111,780,467,85,780,
    468,117,780,469,220,772,470,252,772,471,220,769,
    472,252,769,473,220,780,474,252,780,475,220,768,
    476,252,768,478,196,772,479,228,772,480,550,772,
    481,551,772,482,198,772,483,230,772,486,71,780,
    487,103,780,488,75,780,489,107,780,490,79,808,
    491,111,808,492,490,772,493,491,772,494,439,780,
    495,658,780,496,106,780,500,71,769,501,103,769,
    504,78,768,505,110,768,506,197,769,507,229,769,
    508,198,769,509,230,769,510,216,769,511,248,769,
    512,65,783,513,97,783,514,65,785,515,97,785,
    516,69,783,517,101,783,518,69,785,519,101,785,
    520,73,783,521,105,783,522,73,785,523,105,785,
    524,79,783,525,111,783,526,79,785,527,111,785,
    528,82,783,529,114,783,530,82,785,531,114,785,
    532,85,783,533,117,783,534,85,785,535,117,785,
    536,83,806,537,115,806,538,84,806,539,116,806,
    542,72,780,543,104,780,550,65,775,551,97,775,
    552,69,807,553,101,807,554,214,772,555,246,772,
    556,213,772,557,245,772,558,79,775,559,111,775,
    560,558,772,561,559,772,562,89,772,563,121,772,
    832,768,0,833,769,0,835,787,0,836,776,2097921,
    884,697,0,894,59,0,901,168,769,902,913,769,
    903,183,0,904,917,769,905,919,769,906,921,769,
    908,927,769,910,933,769,911,937,769,912,970,769,
    938,921,776,939,933,776,940,945,769,941,949,769,
    942,951,769,943,953,769,944,971,769,970,953,776,
    971,965,776,972,959,769,973,965,769,974,969,769,
    979,978,769,980,978,776,1024,1045,768,1025,1045,776,
    1027,1043,769,1031,1030,776,1036,1050,769,1037,1048,768,
    1038,1059,774,1049,1048,774,1081,1080,774,1104,1077,768,
    1105,1077,776,1107,1075,769,1111,1110,776,1116,1082,769,
    1117,1080,768,1118,1091,774,1142,1140,783,1143,1141,783,
    1217,1046,774,1218,1078,774,1232,1040,774,1233,1072,774,
    1234,1040,776,1235,1072,776,1238,1045,774,1239,1077,774,
    1242,1240,776,1243,1241,776,1244,1046,776,1245,1078,776,
    1246,1047,776,1247,1079,776,1250,1048,772,1251,1080,772,
    1252,1048,776,1253,1080,776,1254,1054,776,1255,1086,776,
    1258,1256,776,1259,1257,776,1260,1069,776,1261,1101,776,
    1262,1059,772,1263,1091,772,1264,1059,776,1265,1091,776,
    1266,1059,779,1267,1091,779,1268,1063,776,1269,1095,776,
    1272,1067,776,1273,1099,776,1570,1575,1619,1571,1575,1620,
    1572,1608,1620,1573,1575,1621,1574,1610,1620,1728,1749,1620,
    1730,1729,1620,1747,1746,1620,2345,2344,2364,2353,2352,2364,
    2356,2355,2364,2392,2325,2099516,2393,2326,2099516,2394,2327,2099516,
    2395,2332,2099516,2396,2337,2099516,2397,2338,2099516,2398,2347,2099516,
    2399,2351,2099516,2507,2503,2494,2508,2503,2519,2524,2465,2099644,
    2525,2466,2099644,2527,2479,2099644,2611,2610,2099772,2614,2616,2099772,
    2649,2582,2099772,2650,2583,2099772,2651,2588,2099772,2654,2603,2099772,
    2888,2887,2902,2891,2887,2878,2892,2887,2903,2908,2849,2100028,
    2909,2850,2100028,2964,2962,3031,3018,3014,3006,3019,3015,3006,
    3020,3014,3031,3144,3142,3158,3264,3263,3285,3271,3270,3285,
    3272,3270,3286,3274,3270,3266,3275,3274,3285,3402,3398,3390,
    3403,3399,3390,3404,3398,3415,3546,3545,3530,3548,3545,3535,
    3549,3548,3530,3550,3545,3551,3907,3906,2101175,3917,3916,2101175,
    3922,3921,2101175,3927,3926,2101175,3932,3931,2101175,3945,3904,2101173,
    3955,3953,2101106,3957,3953,2101108,3958,4018,2101120,3960,4019,2101120,
    3969,3953,2101120,3987,3986,2101175,3997,3996,2101175,4002,4001,2101175,
    4007,4006,2101175,4012,4011,2101175,4025,3984,2101173,4134,4133,4142,
    6918,6917,6965,6920,6919,6965,6922,6921,6965,6924,6923,6965,
    6926,6925,6965,6930,6929,6965,6971,6970,6965,6973,6972,6965,
    6976,6974,6965,6977,6975,6965,6979,6978,6965,7680,65,805,
    7681,97,805,7682,66,775,7683,98,775,7684,66,803,
    7685,98,803,7686,66,817,7687,98,817,7688,199,769,
    7689,231,769,7690,68,775,7691,100,775,7692,68,803,
    7693,100,803,7694,68,817,7695,100,817,7696,68,807,
    7697,100,807,7698,68,813,7699,100,813,7700,274,768,
    7701,275,768,7702,274,769,7703,275,769,7704,69,813,
    7705,101,813,7706,69,816,7707,101,816,7708,552,774,
    7709,553,774,7710,70,775,7711,102,775,7712,71,772,
    7713,103,772,7714,72,775,7715,104,775,7716,72,803,
    7717,104,803,7718,72,776,7719,104,776,7720,72,807,
    7721,104,807,7722,72,814,7723,104,814,7724,73,816,
    7725,105,816,7726,207,769,7727,239,769,7728,75,769,
    7729,107,769,7730,75,803,7731,107,803,7732,75,817,
    7733,107,817,7734,76,803,7735,108,803,7736,7734,772,
    7737,7735,772,7738,76,817,7739,108,817,7740,76,813,
    7741,108,813,7742,77,769,7743,109,769,7744,77,775,
    7745,109,775,7746,77,803,7747,109,803,7748,78,775,
    7749,110,775,7750,78,803,7751,110,803,7752,78,817,
    7753,110,817,7754,78,813,7755,110,813,7756,213,769,
    7757,245,769,7758,213,776,7759,245,776,7760,332,768,
    7761,333,768,7762,332,769,7763,333,769,7764,80,769,
    7765,112,769,7766,80,775,7767,112,775,7768,82,775,
    7769,114,775,7770,82,803,7771,114,803,7772,7770,772,
    7773,7771,772,7774,82,817,7775,114,817,7776,83,775,
    7777,115,775,7778,83,803,7779,115,803,7780,346,775,
    7781,347,775,7782,352,775,7783,353,775,7784,7778,775,
    7785,7779,775,7786,84,775,7787,116,775,7788,84,803,
    7789,116,803,7790,84,817,7791,116,817,7792,84,813,
    7793,116,813,7794,85,804,7795,117,804,7796,85,816,
    7797,117,816,7798,85,813,7799,117,813,7800,360,769,
    7801,361,769,7802,362,776,7803,363,776,7804,86,771,
    7805,118,771,7806,86,803,7807,118,803,7808,87,768,
    7809,119,768,7810,87,769,7811,119,769,7812,87,776,
    7813,119,776,7814,87,775,7815,119,775,7816,87,803,
    7817,119,803,7818,88,775,7819,120,775,7820,88,776,
    7821,120,776,7822,89,775,7823,121,775,7824,90,770,
    7825,122,770,7826,90,803,7827,122,803,7828,90,817,
    7829,122,817,7830,104,817,7831,116,776,7832,119,778,
    7833,121,778,7835,383,775,7840,65,803,7841,97,803,
    7842,65,777,7843,97,777,7844,194,769,7845,226,769,
    7846,194,768,7847,226,768,7848,194,777,7849,226,777,
    7850,194,771,7851,226,771,7852,7840,770,7853,7841,770,
    7854,258,769,7855,259,769,7856,258,768,7857,259,768,
    7858,258,777,7859,259,777,7860,258,771,7861,259,771,
    7862,7840,774,7863,7841,774,7864,69,803,7865,101,803,
    7866,69,777,7867,101,777,7868,69,771,7869,101,771,
    7870,202,769,7871,234,769,7872,202,768,7873,234,768,
    7874,202,777,7875,234,777,7876,202,771,7877,234,771,
    7878,7864,770,7879,7865,770,7880,73,777,7881,105,777,
    7882,73,803,7883,105,803,7884,79,803,7885,111,803,
    7886,79,777,7887,111,777,7888,212,769,7889,244,769,
    7890,212,768,7891,244,768,7892,212,777,7893,244,777,
    7894,212,771,7895,244,771,7896,7884,770,7897,7885,770,
    7898,416,769,7899,417,769,7900,416,768,7901,417,768,
    7902,416,777,7903,417,777,7904,416,771,7905,417,771,
    7906,416,803,7907,417,803,7908,85,803,7909,117,803,
    7910,85,777,7911,117,777,7912,431,769,7913,432,769,
    7914,431,768,7915,432,768,7916,431,777,7917,432,777,
    7918,431,771,7919,432,771,7920,431,803,7921,432,803,
    7922,89,768,7923,121,768,7924,89,803,7925,121,803,
    7926,89,777,7927,121,777,7928,89,771,7929,121,771,
    7936,945,787,7937,945,788,7938,7936,768,7939,7937,768,
    7940,7936,769,7941,7937,769,7942,7936,834,7943,7937,834,
    7944,913,787,7945,913,788,7946,7944,768,7947,7945,768,
    7948,7944,769,7949,7945,769,7950,7944,834,7951,7945,834,
    7952,949,787,7953,949,788,7954,7952,768,7955,7953,768,
    7956,7952,769,7957,7953,769,7960,917,787,7961,917,788,
    7962,7960,768,7963,7961,768,7964,7960,769,7965,7961,769,
    7968,951,787,7969,951,788,7970,7968,768,7971,7969,768,
    7972,7968,769,7973,7969,769,7974,7968,834,7975,7969,834,
    7976,919,787,7977,919,788,7978,7976,768,7979,7977,768,
    7980,7976,769,7981,7977,769,7982,7976,834,7983,7977,834,
    7984,953,787,7985,953,788,7986,7984,768,7987,7985,768,
    7988,7984,769,7989,7985,769,7990,7984,834,7991,7985,834,
    7992,921,787,7993,921,788,7994,7992,768,7995,7993,768,
    7996,7992,769,7997,7993,769,7998,7992,834,7999,7993,834,
    8000,959,787,8001,959,788,8002,8000,768,8003,8001,768,
    8004,8000,769,8005,8001,769,8008,927,787,8009,927,788,
    8010,8008,768,8011,8009,768,8012,8008,769,8013,8009,769,
    8016,965,787,8017,965,788,8018,8016,768,8019,8017,768,
    8020,8016,769,8021,8017,769,8022,8016,834,8023,8017,834,
    8025,933,788,8027,8025,768,8029,8025,769,8031,8025,834,
    8032,969,787,8033,969,788,8034,8032,768,8035,8033,768,
    8036,8032,769,8037,8033,769,8038,8032,834,8039,8033,834,
    8040,937,787,8041,937,788,8042,8040,768,8043,8041,768,
    8044,8040,769,8045,8041,769,8046,8040,834,8047,8041,834,
    8048,945,768,8049,940,0,8050,949,768,8051,941,0,
    8052,951,768,8053,942,0,8054,953,768,8055,943,0,
    8056,959,768,8057,972,0,8058,965,768,8059,973,0,
    8060,969,768,8061,974,0,8064,7936,837,8065,7937,837,
    8066,7938,837,8067,7939,837,8068,7940,837,8069,7941,837,
    8070,7942,837,8071,7943,837,8072,7944,837,8073,7945,837,
    8074,7946,837,8075,7947,837,8076,7948,837,8077,7949,837,
    8078,7950,837,8079,7951,837,8080,7968,837,8081,7969,837,
    8082,7970,837,8083,7971,837,8084,7972,837,8085,7973,837,
    8086,7974,837,8087,7975,837,8088,7976,837,8089,7977,837,
    8090,7978,837,8091,7979,837,8092,7980,837,8093,7981,837,
    8094,7982,837,8095,7983,837,8096,8032,837,8097,8033,837,
    8098,8034,837,8099,8035,837,8100,8036,837,8101,8037,837,
    8102,8038,837,8103,8039,837,8104,8040,837,8105,8041,837,
    8106,8042,837,8107,8043,837,8108,8044,837,8109,8045,837,
    8110,8046,837,8111,8047,837,8112,945,774,8113,945,772,
    8114,8048,837,8115,945,837,8116,940,837,8118,945,834,
    8119,8118,837,8120,913,774,8121,913,772,8122,913,768,
    8123,902,0,8124,913,837,8126,953,0,8129,168,834,
    8130,8052,837,8131,951,837,8132,942,837,8134,951,834,
    8135,8134,837,8136,917,768,8137,904,0,8138,919,768,
    8139,905,0,8140,919,837,8141,8127,768,8142,8127,769,
    8143,8127,834,8144,953,774,8145,953,772,8146,970,768,
    8147,912,0,8150,953,834,8151,970,834,8152,921,774,
    8153,921,772,8154,921,768,8155,906,0,8157,8190,768,
    8158,8190,769,8159,8190,834,8160,965,774,8161,965,772,
    8162,971,768,8163,944,0,8164,961,787,8165,961,788,
    8166,965,834,8167,971,834,8168,933,774,8169,933,772,
    8170,933,768,8171,910,0,8172,929,788,8173,168,768,
    8174,901,0,8175,96,0,8178,8060,837,8179,969,837,
    8180,974,837,8182,969,834,8183,8182,837,8184,927,768,
    8185,908,0,8186,937,768,8187,911,0,8188,937,837,
    8189,180,0,8192,8194,0,8193,8195,0,8486,937,0,
    8490,75,0,8491,197,0,8602,8592,824,8603,8594,824,
    8622,8596,824,8653,8656,824,8654,8660,824,8655,8658,824,
    8708,8707,824,8713,8712,824,8716,8715,824,8740,8739,824,
    8742,8741,824,8769,8764,824,8772,8771,824,8775,8773,824,
    8777,8776,824,8800,61,824,8802,8801,824,8813,8781,824,
    8814,60,824,8815,62,824,8816,8804,824,8817,8805,824,
    8820,8818,824,8821,8819,824,8824,8822,824,8825,8823,824,
    8832,8826,824,8833,8827,824,8836,8834,824,8837,8835,824,
    8840,8838,824,8841,8839,824,8876,8866,824,8877,8872,824,
    8878,8873,824,8879,8875,824,8928,8828,824,8929,8829,824,
    8930,8849,824,8931,8850,824,8938,8882,824,8939,8883,824,
    8940,8884,824,8941,8885,824,9001,12296,0,9002,12297,0,
    10972,10973,2097976,12364,12363,12441,12366,12365,12441,12368,12367,12441,
    12370,12369,12441,12372,12371,12441,12374,12373,12441,12376,12375,12441,
    12378,12377,12441,12380,12379,12441,12382,12381,12441,12384,12383,12441,
    12386,12385,12441,12389,12388,12441,12391,12390,12441,12393,12392,12441,
    12400,12399,12441,12401,12399,12442,12403,12402,12441,12404,12402,12442,
    12406,12405,12441,12407,12405,12442,12409,12408,12441,12410,12408,12442,
    12412,12411,12441,12413,12411,12442,12436,12358,12441,12446,12445,12441,
    12460,12459,12441,12462,12461,12441,12464,12463,12441,12466,12465,12441,
    12468,12467,12441,12470,12469,12441,12472,12471,12441,12474,12473,12441,
    12476,12475,12441,12478,12477,12441,12480,12479,12441,12482,12481,12441,
    12485,12484,12441,12487,12486,12441,12489,12488,12441,12496,12495,12441,
    12497,12495,12442,12499,12498,12441,12500,12498,12442,12502,12501,12441,
    12503,12501,12442,12505,12504,12441,12506,12504,12442,12508,12507,12441,
    12509,12507,12442,12532,12454,12441,12535,12527,12441,12536,12528,12441,
    12537,12529,12441,12538,12530,12441,12542,12541,12441,63744,35912,0,
    63745,26356,0,63746,36554,0,63747,36040,0,63748,28369,0,
    63749,20018,0,63750,21477,0,63751,40860,0,63752,40860,0,
    63753,22865,0,63754,37329,0,63755,21895,0,63756,22856,0,
    63757,25078,0,63758,30313,0,63759,32645,0,63760,34367,0,
    63761,34746,0,63762,35064,0,63763,37007,0,63764,27138,0,
    63765,27931,0,63766,28889,0,63767,29662,0,63768,33853,0,
    63769,37226,0,63770,39409,0,63771,20098,0,63772,21365,0,
    63773,27396,0,63774,29211,0,63775,34349,0,63776,40478,0,
    63777,23888,0,63778,28651,0,63779,34253,0,63780,35172,0,
    63781,25289,0,63782,33240,0,63783,34847,0,63784,24266,0,
    63785,26391,0,63786,28010,0,63787,29436,0,63788,37070,0,
    63789,20358,0,63790,20919,0,63791,21214,0,63792,25796,0,
    63793,27347,0,63794,29200,0,63795,30439,0,63796,32769,0,
    63797,34310,0,63798,34396,0,63799,36335,0,63800,38706,0,
    63801,39791,0,63802,40442,0,63803,30860,0,63804,31103,0,
    63805,32160,0,63806,33737,0,63807,37636,0,63808,40575,0,
    63809,35542,0,63810,22751,0,63811,24324,0,63812,31840,0,
    63813,32894,0,63814,29282,0,63815,30922,0,63816,36034,0,
    63817,38647,0,63818,22744,0,63819,23650,0,63820,27155,0,
    63821,28122,0,63822,28431,0,63823,32047,0,63824,32311,0,
    63825,38475,0,63826,21202,0,63827,32907,0,63828,20956,0,
    63829,20940,0,63830,31260,0,63831,32190,0,63832,33777,0,
    63833,38517,0,63834,35712,0,63835,25295,0,63836,27138,0,
    63837,35582,0,63838,20025,0,63839,23527,0,63840,24594,0,
    63841,29575,0,63842,30064,0,63843,21271,0,63844,30971,0,
    63845,20415,0,63846,24489,0,63847,19981,0,63848,27852,0,
    63849,25976,0,63850,32034,0,63851,21443,0,63852,22622,0,
    63853,30465,0,63854,33865,0,63855,35498,0,63856,27578,0,
    63857,36784,0,63858,27784,0,63859,25342,0,63860,33509,0,
    63861,25504,0,63862,30053,0,63863,20142,0,63864,20841,0,
    63865,20937,0,63866,26753,0,63867,31975,0,63868,33391,0,
    63869,35538,0,63870,37327,0,63871,21237,0,63872,21570,0,
    63873,22899,0,63874,24300,0,63875,26053,0,63876,28670,0,
    63877,31018,0,63878,38317,0,63879,39530,0,63880,40599,0,
    63881,40654,0,63882,21147,0,63883,26310,0,63884,27511,0,
    63885,36706,0,63886,24180,0,63887,24976,0,63888,25088,0,
    63889,25754,0,63890,28451,0,63891,29001,0,63892,29833,0,
    63893,31178,0,63894,32244,0,63895,32879,0,63896,36646,0,
    63897,34030,0,63898,36899,0,63899,37706,0,63900,21015,0,
    63901,21155,0,63902,21693,0,63903,28872,0,63904,35010,0,
    63905,35498,0,63906,24265,0,63907,24565,0,63908,25467,0,
    63909,27566,0,63910,31806,0,63911,29557,0,63912,20196,0,
    63913,22265,0,63914,23527,0,63915,23994,0,63916,24604,0,
    63917,29618,0,63918,29801,0,63919,32666,0,63920,32838,0,
    63921,37428,0,63922,38646,0,63923,38728,0,63924,38936,0,
    63925,20363,0,63926,31150,0,63927,37300,0,63928,38584,0,
    63929,24801,0,63930,20102,0,63931,20698,0,63932,23534,0,
    63933,23615,0,63934,26009,0,63935,27138,0,63936,29134,0,
    63937,30274,0,63938,34044,0,63939,36988,0,63940,40845,0,
    63941,26248,0,63942,38446,0,63943,21129,0,63944,26491,0,
    63945,26611,0,63946,27969,0,63947,28316,0,63948,29705,0,
    63949,30041,0,63950,30827,0,63951,32016,0,63952,39006,0,
    63953,20845,0,63954,25134,0,63955,38520,0,63956,20523,0,
    63957,23833,0,63958,28138,0,63959,36650,0,63960,24459,0,
    63961,24900,0,63962,26647,0,63963,29575,0,63964,38534,0,
    63965,21033,0,63966,21519,0,63967,23653,0,63968,26131,0,
    63969,26446,0,63970,26792,0,63971,27877,0,63972,29702,0,
    63973,30178,0,63974,32633,0,63975,35023,0,63976,35041,0,
    63977,37324,0,63978,38626,0,63979,21311,0,63980,28346,0,
    63981,21533,0,63982,29136,0,63983,29848,0,63984,34298,0,
    63985,38563,0,63986,40023,0,63987,40607,0,63988,26519,0,
    63989,28107,0,63990,33256,0,63991,31435,0,63992,31520,0,
    63993,31890,0,63994,29376,0,63995,28825,0,63996,35672,0,
    63997,20160,0,63998,33590,0,63999,21050,0,64000,20999,0,
    64001,24230,0,64002,25299,0,64003,31958,0,64004,23429,0,
    64005,27934,0,64006,26292,0,64007,36667,0,64008,34892,0,
    64009,38477,0,64010,35211,0,64011,24275,0,64012,20800,0,
    64013,21952,0,64016,22618,0,64018,26228,0,64021,20958,0,
    64022,29482,0,64023,30410,0,64024,31036,0,64025,31070,0,
    64026,31077,0,64027,31119,0,64028,38742,0,64029,31934,0,
    64030,32701,0,64032,34322,0,64034,35576,0,64037,36920,0,
    64038,37117,0,64042,39151,0,64043,39164,0,64044,39208,0,
    64045,40372,0,64046,37086,0,64047,38583,0,64048,20398,0,
    64049,20711,0,64050,20813,0,64051,21193,0,64052,21220,0,
    64053,21329,0,64054,21917,0,64055,22022,0,64056,22120,0,
    64057,22592,0,64058,22696,0,64059,23652,0,64060,23662,0,
    64061,24724,0,64062,24936,0,64063,24974,0,64064,25074,0,
    64065,25935,0,64066,26082,0,64067,26257,0,64068,26757,0,
    64069,28023,0,64070,28186,0,64071,28450,0,64072,29038,0,
    64073,29227,0,64074,29730,0,64075,30865,0,64076,31038,0,
    64077,31049,0,64078,31048,0,64079,31056,0,64080,31062,0,
    64081,31069,0,64082,31117,0,64083,31118,0,64084,31296,0,
    64085,31361,0,64086,31680,0,64087,32244,0,64088,32265,0,
    64089,32321,0,64090,32626,0,64091,32773,0,64092,33261,0,
    64093,33401,0,64094,33401,0,64095,33879,0,64096,35088,0,
    64097,35222,0,64098,35585,0,64099,35641,0,64100,36051,0,
    64101,36104,0,64102,36790,0,64103,36920,0,64104,38627,0,
    64105,38911,0,64106,38971,0,64107,24693,0,64108,148206,0,
    64109,33304,0,64112,20006,0,64113,20917,0,64114,20840,0,
    64115,20352,0,64116,20805,0,64117,20864,0,64118,21191,0,
    64119,21242,0,64120,21917,0,64121,21845,0,64122,21913,0,
    64123,21986,0,64124,22618,0,64125,22707,0,64126,22852,0,
    64127,22868,0,64128,23138,0,64129,23336,0,64130,24274,0,
    64131,24281,0,64132,24425,0,64133,24493,0,64134,24792,0,
    64135,24910,0,64136,24840,0,64137,24974,0,64138,24928,0,
    64139,25074,0,64140,25140,0,64141,25540,0,64142,25628,0,
    64143,25682,0,64144,25942,0,64145,26228,0,64146,26391,0,
    64147,26395,0,64148,26454,0,64149,27513,0,64150,27578,0,
    64151,27969,0,64152,28379,0,64153,28363,0,64154,28450,0,
    64155,28702,0,64156,29038,0,64157,30631,0,64158,29237,0,
    64159,29359,0,64160,29482,0,64161,29809,0,64162,29958,0,
    64163,30011,0,64164,30237,0,64165,30239,0,64166,30410,0,
    64167,30427,0,64168,30452,0,64169,30538,0,64170,30528,0,
    64171,30924,0,64172,31409,0,64173,31680,0,64174,31867,0,
    64175,32091,0,64176,32244,0,64177,32574,0,64178,32773,0,
    64179,33618,0,64180,33775,0,64181,34681,0,64182,35137,0,
    64183,35206,0,64184,35222,0,64185,35519,0,64186,35576,0,
    64187,35531,0,64188,35585,0,64189,35582,0,64190,35565,0,
    64191,35641,0,64192,35722,0,64193,36104,0,64194,36664,0,
    64195,36978,0,64196,37273,0,64197,37494,0,64198,38524,0,
    64199,38627,0,64200,38742,0,64201,38875,0,64202,38911,0,
    64203,38923,0,64204,38971,0,64205,39698,0,64206,40860,0,
    64207,141386,0,64208,141380,0,64209,144341,0,64210,15261,0,
    64211,16408,0,64212,16441,0,64213,152137,0,64214,154832,0,
    64215,163539,0,64216,40771,0,64217,40846,0,64285,1497,2098612,
    64287,1522,2098615,64298,1513,2098625,64299,1513,2098626,64300,64329,2098625,
    64301,64329,2098626,64302,1488,2098615,64303,1488,2098616,64304,1488,2098620,
    64305,1489,2098620,64306,1490,2098620,64307,1491,2098620,64308,1492,2098620,
    64309,1493,2098620,64310,1494,2098620,64312,1496,2098620,64313,1497,2098620,
    64314,1498,2098620,64315,1499,2098620,64316,1500,2098620,64318,1502,2098620,
    64320,1504,2098620,64321,1505,2098620,64323,1507,2098620,64324,1508,2098620,
    64326,1510,2098620,64327,1511,2098620,64328,1512,2098620,64329,1513,2098620,
    64330,1514,2098620,64331,1493,2098617,64332,1489,2098623,64333,1499,2098623,
    64334,1508,2098623,69786,69785,69818,69788,69787,69818,69803,69797,69818,
    69934,69937,69927,69935,69938,69927,70475,70471,70462,70476,70471,70487,
    70843,70841,70842,70844,70841,70832,70846,70841,70845,71098,71096,71087,
    71099,71097,71087,119134,119127,2216293,119135,119128,2216293,119136,119135,2216302,
    119137,119135,2216303,119138,119135,2216304,119139,119135,2216305,119140,119135,2216306,
    119227,119225,2216293,119228,119226,2216293,119229,119227,2216302,119230,119228,2216302,
    119231,119227,2216303,119232,119228,2216303,194560,20029,0,194561,20024,0,
    194562,20033,0,194563,131362,0,194564,20320,0,194565,20398,0,
    194566,20411,0,194567,20482,0,194568,20602,0,194569,20633,0,
    194570,20711,0,194571,20687,0,194572,13470,0,194573,132666,0,
    194574,20813,0,194575,20820,0,194576,20836,0,194577,20855,0,
    194578,132380,0,194579,13497,0,194580,20839,0,194581,20877,0,
    194582,132427,0,194583,20887,0,194584,20900,0,194585,20172,0,
    194586,20908,0,194587,20917,0,194588,168415,0,194589,20981,0,
    194590,20995,0,194591,13535,0,194592,21051,0,194593,21062,0,
    194594,21106,0,194595,21111,0,194596,13589,0,194597,21191,0,
    194598,21193,0,194599,21220,0,194600,21242,0,194601,21253,0,
    194602,21254,0,194603,21271,0,194604,21321,0,194605,21329,0,
    194606,21338,0,194607,21363,0,194608,21373,0,194609,21375,0,
    194610,21375,0,194611,21375,0,194612,133676,0,194613,28784,0,
    194614,21450,0,194615,21471,0,194616,133987,0,194617,21483,0,
    194618,21489,0,194619,21510,0,194620,21662,0,194621,21560,0,
    194622,21576,0,194623,21608,0,194624,21666,0,194625,21750,0,
    194626,21776,0,194627,21843,0,194628,21859,0,194629,21892,0,
    194630,21892,0,194631,21913,0,194632,21931,0,194633,21939,0,
    194634,21954,0,194635,22294,0,194636,22022,0,194637,22295,0,
    194638,22097,0,194639,22132,0,194640,20999,0,194641,22766,0,
    194642,22478,0,194643,22516,0,194644,22541,0,194645,22411,0,
    194646,22578,0,194647,22577,0,194648,22700,0,194649,136420,0,
    194650,22770,0,194651,22775,0,194652,22790,0,194653,22810,0,
    194654,22818,0,194655,22882,0,194656,136872,0,194657,136938,0,
    194658,23020,0,194659,23067,0,194660,23079,0,194661,23000,0,
    194662,23142,0,194663,14062,0,194664,14076,0,194665,23304,0,
    194666,23358,0,194667,23358,0,194668,137672,0,194669,23491,0,
    194670,23512,0,194671,23527,0,194672,23539,0,194673,138008,0,
    194674,23551,0,194675,23558,0,194676,24403,0,194677,23586,0,
    194678,14209,0,194679,23648,0,194680,23662,0,194681,23744,0,
    194682,23693,0,194683,138724,0,194684,23875,0,194685,138726,0,
    194686,23918,0,194687,23915,0,194688,23932,0,194689,24033,0,
    194690,24034,0,194691,14383,0,194692,24061,0,194693,24104,0,
    194694,24125,0,194695,24169,0,194696,14434,0,194697,139651,0,
    194698,14460,0,194699,24240,0,194700,24243,0,194701,24246,0,
    194702,24266,0,194703,172946,0,194704,24318,0,194705,140081,0,
    194706,140081,0,194707,33281,0,194708,24354,0,194709,24354,0,
    194710,14535,0,194711,144056,0,194712,156122,0,194713,24418,0,
    194714,24427,0,194715,14563,0,194716,24474,0,194717,24525,0,
    194718,24535,0,194719,24569,0,194720,24705,0,194721,14650,0,
    194722,14620,0,194723,24724,0,194724,141012,0,194725,24775,0,
    194726,24904,0,194727,24908,0,194728,24910,0,194729,24908,0,
    194730,24954,0,194731,24974,0,194732,25010,0,194733,24996,0,
    194734,25007,0,194735,25054,0,194736,25074,0,194737,25078,0,
    194738,25104,0,194739,25115,0,194740,25181,0,194741,25265,0,
    194742,25300,0,194743,25424,0,194744,142092,0,194745,25405,0,
    194746,25340,0,194747,25448,0,194748,25475,0,194749,25572,0,
    194750,142321,0,194751,25634,0,194752,25541,0,194753,25513,0,
    194754,14894,0,194755,25705,0,194756,25726,0,194757,25757,0,
    194758,25719,0,194759,14956,0,194760,25935,0,194761,25964,0,
    194762,143370,0,194763,26083,0,194764,26360,0,194765,26185,0,
    194766,15129,0,194767,26257,0,194768,15112,0,194769,15076,0,
    194770,20882,0,194771,20885,0,194772,26368,0,194773,26268,0,
    194774,32941,0,194775,17369,0,194776,26391,0,194777,26395,0,
    194778,26401,0,194779,26462,0,194780,26451,0,194781,144323,0,
    194782,15177,0,194783,26618,0,194784,26501,0,194785,26706,0,
    194786,26757,0,194787,144493,0,194788,26766,0,194789,26655,0,
    194790,26900,0,194791,15261,0,194792,26946,0,194793,27043,0,
    194794,27114,0,194795,27304,0,194796,145059,0,194797,27355,0,
    194798,15384,0,194799,27425,0,194800,145575,0,194801,27476,0,
    194802,15438,0,194803,27506,0,194804,27551,0,194805,27578,0,
    194806,27579,0,194807,146061,0,194808,138507,0,194809,146170,0,
    194810,27726,0,194811,146620,0,194812,27839,0,194813,27853,0,
    194814,27751,0,194815,27926,0,194816,27966,0,194817,28023,0,
    194818,27969,0,194819,28009,0,194820,28024,0,194821,28037,0,
    194822,146718,0,194823,27956,0,194824,28207,0,194825,28270,0,
    194826,15667,0,194827,28363,0,194828,28359,0,194829,147153,0,
    194830,28153,0,194831,28526,0,194832,147294,0,194833,147342,0,
    194834,28614,0,194835,28729,0,194836,28702,0,194837,28699,0,
    194838,15766,0,194839,28746,0,194840,28797,0,194841,28791,0,
    194842,28845,0,194843,132389,0,194844,28997,0,194845,148067,0,
    194846,29084,0,194847,148395,0,194848,29224,0,194849,29237,0,
    194850,29264,0,194851,149000,0,194852,29312,0,194853,29333,0,
    194854,149301,0,194855,149524,0,194856,29562,0,194857,29579,0,
    194858,16044,0,194859,29605,0,194860,16056,0,194861,16056,0,
    194862,29767,0,194863,29788,0,194864,29809,0,194865,29829,0,
    194866,29898,0,194867,16155,0,194868,29988,0,194869,150582,0,
    194870,30014,0,194871,150674,0,194872,30064,0,194873,139679,0,
    194874,30224,0,194875,151457,0,194876,151480,0,194877,151620,0,
    194878,16380,0,194879,16392,0,194880,30452,0,194881,151795,0,
    194882,151794,0,194883,151833,0,194884,151859,0,194885,30494,0,
    194886,30495,0,194887,30495,0,194888,30538,0,194889,16441,0,
    194890,30603,0,194891,16454,0,194892,16534,0,194893,152605,0,
    194894,30798,0,194895,30860,0,194896,30924,0,194897,16611,0,
    194898,153126,0,194899,31062,0,194900,153242,0,194901,153285,0,
    194902,31119,0,194903,31211,0,194904,16687,0,194905,31296,0,
    194906,31306,0,194907,31311,0,194908,153980,0,194909,154279,0,
    194910,154279,0,194911,31470,0,194912,16898,0,194913,154539,0,
    194914,31686,0,194915,31689,0,194916,16935,0,194917,154752,0,
    194918,31954,0,194919,17056,0,194920,31976,0,194921,31971,0,
    194922,32000,0,194923,155526,0,194924,32099,0,194925,17153,0,
    194926,32199,0,194927,32258,0,194928,32325,0,194929,17204,0,
    194930,156200,0,194931,156231,0,194932,17241,0,194933,156377,0,
    194934,32634,0,194935,156478,0,194936,32661,0,194937,32762,0,
    194938,32773,0,194939,156890,0,194940,156963,0,194941,32864,0,
    194942,157096,0,194943,32880,0,194944,144223,0,194945,17365,0,
    194946,32946,0,194947,33027,0,194948,17419,0,194949,33086,0,
    194950,23221,0,194951,157607,0,194952,157621,0,194953,144275,0,
    194954,144284,0,194955,33281,0,194956,33284,0,194957,36766,0,
    194958,17515,0,194959,33425,0,194960,33419,0,194961,33437,0,
    194962,21171,0,194963,33457,0,194964,33459,0,194965,33469,0,
    194966,33510,0,194967,158524,0,194968,33509,0,194969,33565,0,
    194970,33635,0,194971,33709,0,194972,33571,0,194973,33725,0,
    194974,33767,0,194975,33879,0,194976,33619,0,194977,33738,0,
    194978,33740,0,194979,33756,0,194980,158774,0,194981,159083,0,
    194982,158933,0,194983,17707,0,194984,34033,0,194985,34035,0,
    194986,34070,0,194987,160714,0,194988,34148,0,194989,159532,0,
    194990,17757,0,194991,17761,0,194992,159665,0,194993,159954,0,
    194994,17771,0,194995,34384,0,194996,34396,0,194997,34407,0,
    194998,34409,0,194999,34473,0,195000,34440,0,195001,34574,0,
    195002,34530,0,195003,34681,0,195004,34600,0,195005,34667,0,
    195006,34694,0,195007,17879,0,195008,34785,0,195009,34817,0,
    195010,17913,0,195011,34912,0,195012,34915,0,195013,161383,0,
    195014,35031,0,195015,35038,0,195016,17973,0,195017,35066,0,
    195018,13499,0,195019,161966,0,195020,162150,0,195021,18110,0,
    195022,18119,0,195023,35488,0,195024,35565,0,195025,35722,0,
    195026,35925,0,195027,162984,0,195028,36011,0,195029,36033,0,
    195030,36123,0,195031,36215,0,195032,163631,0,195033,133124,0,
    195034,36299,0,195035,36284,0,195036,36336,0,195037,133342,0,
    195038,36564,0,195039,36664,0,195040,165330,0,195041,165357,0,
    195042,37012,0,195043,37105,0,195044,37137,0,195045,165678,0,
    195046,37147,0,195047,37432,0,195048,37591,0,195049,37592,0,
    195050,37500,0,195051,37881,0,195052,37909,0,195053,166906,0,
    195054,38283,0,195055,18837,0,195056,38327,0,195057,167287,0,
    195058,18918,0,195059,38595,0,195060,23986,0,195061,38691,0,
    195062,168261,0,195063,168474,0,195064,19054,0,195065,19062,0,
    195066,38880,0,195067,168970,0,195068,19122,0,195069,169110,0,
    195070,38923,0,195071,38923,0,195072,38953,0,195073,169398,0,
    195074,39138,0,195075,19251,0,195076,39209,0,195077,39335,0,
    195078,39362,0,195079,39422,0,195080,19406,0,195081,170800,0,
    195082,39698,0,195083,40000,0,195084,40189,0,195085,19662,0,
    195086,19693,0,195087,40295,0,195088,172238,0,195089,19704,0,
    195090,172293,0,195091,172558,0,195092,172689,0,195093,40635,0,
    195094,19798,0,195095,40697,0,195096,40702,0,195097,40709,0,
    195098,40719,0,195099,40726,0,195100,40763,0,195101,173568,0,
};
/* END GENERATED UNICODE TABLES */

#define RWKV__BPE_OTHER 0u
#define RWKV__BPE_LETTER 1u
#define RWKV__BPE_NUMBER 2u
#define RWKV__BPE_SPACE 3u
#define RWKV__BPE_UNSAFE 4u     /* combining class != 0 or NFC_QC != Yes     */
#define RWKV__BPE_BAD 0x110000u /* + byte value: an invalid UTF-8 byte       */
#define RWKV__BPE_JSON_DEPTH 128
#ifdef RWKV_MAX_VOCAB
#define RWKV__BPE_MAX_ID RWKV_MAX_VOCAB
#else
#define RWKV__BPE_MAX_ID (1 << 24)
#endif

/* GGUF token types (tokenizer.ggml.token_type). */
#define RWKV__BPE_TYPE_NORMAL 1
#define RWKV__BPE_TYPE_CONTROL 3
#define RWKV__BPE_TYPE_USER_DEFINED 4
#define RWKV__BPE_TYPE_UNUSED 5

/* ---- Unicode ------------------------------------------------------------ */

/* One character at s (n >= 1 bytes left): its length, and its code point in
   *cp, or RWKV__BPE_BAD + s[0] (length 1) for an invalid byte. */
static size_t rwkv__bpe_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0], lo = 0x80, hi = 0xbf;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        if (n >= 2 && (s[1] & 0xc0) == 0x80) {
            *cp = (uint32_t)(c & 0x1f) << 6 | (uint32_t)(s[1] & 0x3f);
            return 2;
        }
    } else if (c >= 0xe0 && c <= 0xef) {
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
        if (n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80) {
            *cp = (uint32_t)(c & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (uint32_t)(s[2] & 0x3f);
            return 3;
        }
    } else if (c >= 0xf0 && c <= 0xf4) {
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
        if (n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80) {
            *cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
                  (uint32_t)(s[2] & 0x3f) << 6 | (uint32_t)(s[3] & 0x3f);
            return 4;
        }
    }
    *cp = RWKV__BPE_BAD + c;
    return 1;
}

/* Write cp (or the invalid byte it stands for) as UTF-8; returns the length. */
static size_t rwkv__bpe_utf8_encode(uint32_t cp, unsigned char *out) {
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 63));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 63));
        out[2] = (unsigned char)(0x80 | (cp & 63));
        return 3;
    }
    if (cp < RWKV__BPE_BAD) {
        out[0] = (unsigned char)(0xf0 | cp >> 18);
        out[1] = (unsigned char)(0x80 | (cp >> 12 & 63));
        out[2] = (unsigned char)(0x80 | (cp >> 6 & 63));
        out[3] = (unsigned char)(0x80 | (cp & 63));
        return 4;
    }
    out[0] = (unsigned char)(cp - RWKV__BPE_BAD);
    return 1;
}

static int rwkv__bpe_valid_utf8(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        i += rwkv__bpe_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (cp >= RWKV__BPE_BAD) return 0;
    }
    return 1;
}

/* The value of the range (start << shift | value) holding cp in a sorted
   range table whose first entry starts at 0. */
static unsigned rwkv__bpe_range_lookup(const uint32_t *table, size_t count, unsigned shift,
                                       uint32_t cp) {
    size_t lo = 0, hi = count;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (table[mid] >> shift <= cp) lo = mid;
        else hi = mid;
    }
    return table[lo] & ((1u << shift) - 1);
}

/* Class (RWKV__BPE_OTHER ... SPACE) and RWKV__BPE_UNSAFE of a code point. */
static unsigned rwkv__bpe_flags(uint32_t cp) {
    if (cp < 0x80) {
        if ((cp | 32) >= 'a' && (cp | 32) <= 'z') return RWKV__BPE_LETTER;
        if (cp >= '0' && cp <= '9') return RWKV__BPE_NUMBER;
        if (cp == ' ' || (cp >= 9 && cp <= 13)) return RWKV__BPE_SPACE;
        return RWKV__BPE_OTHER;
    }
    if (cp >= RWKV__BPE_BAD) return RWKV__BPE_OTHER;
    return rwkv__bpe_range_lookup(rwkv__bpe_cls_table, sizeof(rwkv__bpe_cls_table) / sizeof(rwkv__bpe_cls_table[0]),
                                  3, cp);
}

/* Class of the character at s (n >= 1), its length in *len. */
static unsigned rwkv__bpe_class_at(const unsigned char *s, size_t n, size_t *len) {
    uint32_t cp;
    *len = rwkv__bpe_utf8_decode(s, n, &cp);
    return rwkv__bpe_flags(cp) & 3u;
}

static unsigned rwkv__bpe_ccc(uint32_t cp) {
    if (cp < 0x300 || cp >= RWKV__BPE_BAD) return 0;
    return rwkv__bpe_range_lookup(rwkv__bpe_ccc_table, sizeof(rwkv__bpe_ccc_table) / sizeof(rwkv__bpe_ccc_table[0]),
                                  8, cp);
}

/* Index of cp's triple in rwkv__bpe_decomp_table, or -1. */
static long rwkv__bpe_decomp_find(uint32_t cp) {
    size_t lo = 0, hi = sizeof(rwkv__bpe_decomp_table) / sizeof(rwkv__bpe_decomp_table[0]) / 3;
    if (cp < 0xc0 || cp >= RWKV__BPE_BAD) return -1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t key = rwkv__bpe_decomp_table[mid * 3];
        if (key == cp) return (long)mid;
        if (key < cp) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* Hangul syllables, decomposed and composed by arithmetic (Unicode 3.12). */
#define RWKV__BPE_S_BASE 0xac00u
#define RWKV__BPE_L_BASE 0x1100u
#define RWKV__BPE_V_BASE 0x1161u
#define RWKV__BPE_T_BASE 0x11a7u
#define RWKV__BPE_L_COUNT 19u
#define RWKV__BPE_V_COUNT 21u
#define RWKV__BPE_T_COUNT 28u
#define RWKV__BPE_S_COUNT (19u * 21u * 28u)

/* ---- The tokenizer object -------------------------------------------------- */

typedef struct rwkv__bpe_added {
    int32_t id;
    uint32_t off, len;       /* content: b->added_text[off .. off + len)      */
    unsigned char special, normalized, lstrip, rstrip, single_word;
} rwkv__bpe_added;

/* A byte trie of added-token patterns (children in sibling lists). */
typedef struct rwkv__bpe_trie {
    int32_t root[256];
    int32_t *child, *sibling, *value; /* value: index in b->added, or -1      */
    unsigned char *byte;
    size_t n, cap;
} rwkv__bpe_trie;

/* A slot of the merge table: the pair (left << 32 | right), its rank and the
   id it merges into (-1: an empty slot). */
typedef struct rwkv__bpe_pair {
    uint64_t key;
    uint32_t rank;
    int32_t id;
} rwkv__bpe_pair;

typedef struct rwkv__bpe {
    int32_t n_vocab;            /* largest id + 1                             */
    /* Per id: the model vocabulary's string (byte-level form, as in
       tokenizer.json; empty for ids it lacks), the bytes the id decodes to,
       the GGUF token type, and the added token it is (or -1). */
    uint32_t *vtext_off, *vtext_len;
    char *vtext;
    uint32_t *raw_off;          /* n_vocab + 1 offsets into raw               */
    char *raw;
    unsigned char *type;
    int32_t *added_of_id;
    /* model-vocabulary string -> id (open addressing, -1 empty) */
    int32_t *vocab_slots;
    size_t vocab_mask;
    /* merges in rank order, and the table (left, right) -> rank, id */
    size_t n_merges;
    int32_t *merge_left, *merge_right;
    rwkv__bpe_pair *pairs;
    size_t pair_mask;
    int32_t byte_id[256];       /* id of each byte's one-character token      */
    int32_t unk_id;             /* -1: unknown characters are dropped         */
    rwkv__bpe_added *added;
    size_t n_added;
    char *added_text;
    rwkv__bpe_trie raw_trie;    /* added tokens with normalized = false       */
    rwkv__bpe_trie norm_trie;   /* added tokens with normalized = true (NFC)  */
    /* NFC compositions: (first << 21 | second) -> composite, 0 key empty */
    uint64_t *comp_key;
    uint32_t *comp_value;
    size_t comp_mask;
    unsigned char nfc, add_prefix_space, use_regex, ignore_merges, fuse_unk;
} rwkv__bpe;

static void rwkv__bpe_ok(rwkv_error *error) {
    if (error) {
        error->code = RWKV_OK;
        error->message[0] = 0;
    }
}

/* Make room for need elements of size elem in *p (capacity *cap). */
static int rwkv__bpe_reserve(void **p, size_t *cap, size_t need, size_t elem) {
    size_t c = *cap ? *cap : 16;
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

/* GPT-2's byte-to-unicode: printable bytes stand for themselves, the other
   68 (0..32, 127..160, 173) for U+0100.. in byte order. */
static uint32_t rwkv__bpe_byte_char(unsigned b) {
    if (b <= 32) return 256 + b;
    if (b >= 127 && b <= 160) return b + 162;
    if (b == 173) return 323;
    return b;
}

/* The byte a character stands for, or -1. */
static int rwkv__bpe_char_byte(uint32_t c) {
    if ((c >= 33 && c <= 126) || (c >= 161 && c <= 255 && c != 173)) return (int)c;
    if (c >= 256 && c <= 288) return (int)c - 256;
    if (c >= 289 && c <= 322) return (int)c - 162;
    if (c == 323) return 173;
    return -1;
}

static size_t rwkv__bpe_hash_bytes(const char *s, size_t n) {
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return (size_t)(h ^ h >> 29);
}

static size_t rwkv__bpe_hash_u64(uint64_t k) {
    k *= 0x9e3779b97f4a7c15ull;
    return (size_t)(k ^ k >> 31);
}

/* The id of a model-vocabulary string, or -1. */
static int32_t rwkv__bpe_vocab_find(const rwkv__bpe *b, const char *s, size_t n) {
    size_t i = rwkv__bpe_hash_bytes(s, n) & b->vocab_mask;
    for (;; i = (i + 1) & b->vocab_mask) {
        int32_t id = b->vocab_slots[i];
        if (id < 0) return -1;
        if (b->vtext_len[id] == n && memcmp(b->vtext + b->vtext_off[id], s, n) == 0) return id;
    }
}

/* The merge of (left, right), or NULL. */
static const rwkv__bpe_pair *rwkv__bpe_pair_find(const rwkv__bpe *b, int32_t left, int32_t right) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    size_t i = rwkv__bpe_hash_u64(key) & b->pair_mask;
    for (;; i = (i + 1) & b->pair_mask) {
        const rwkv__bpe_pair *p = &b->pairs[i];
        if (p->id < 0) return NULL;
        if (p->key == key) return p;
    }
}

static uint32_t rwkv__bpe_compose(const rwkv__bpe *b, uint32_t a, uint32_t c) {
    uint64_t key;
    size_t i;
    if (a - RWKV__BPE_L_BASE < RWKV__BPE_L_COUNT && c - RWKV__BPE_V_BASE < RWKV__BPE_V_COUNT)
        return RWKV__BPE_S_BASE +
               ((a - RWKV__BPE_L_BASE) * RWKV__BPE_V_COUNT + (c - RWKV__BPE_V_BASE)) * RWKV__BPE_T_COUNT;
    if (a - RWKV__BPE_S_BASE < RWKV__BPE_S_COUNT && (a - RWKV__BPE_S_BASE) % RWKV__BPE_T_COUNT == 0 &&
        c - RWKV__BPE_T_BASE - 1 < RWKV__BPE_T_COUNT - 1)
        return a + (c - RWKV__BPE_T_BASE);
    if (a >= RWKV__BPE_BAD || c >= RWKV__BPE_BAD || !b->comp_key) return 0;
    key = (uint64_t)a << 21 | c;
    for (i = rwkv__bpe_hash_u64(key) & b->comp_mask;; i = (i + 1) & b->comp_mask) {
        if (b->comp_key[i] == key) return b->comp_value[i];
        if (!b->comp_key[i]) return 0;
    }
}

static void rwkv__bpe_trie_free(rwkv__bpe_trie *t) {
    RWKV_FREE(t->child);
    RWKV_FREE(t->sibling);
    RWKV_FREE(t->value);
    RWKV_FREE(t->byte);
}

static void rwkv__bpe_free(rwkv__bpe *b) {
    if (!b) return;
    RWKV_FREE(b->vtext_off);
    RWKV_FREE(b->vtext_len);
    RWKV_FREE(b->vtext);
    RWKV_FREE(b->raw_off);
    RWKV_FREE(b->raw);
    RWKV_FREE(b->type);
    RWKV_FREE(b->added_of_id);
    RWKV_FREE(b->vocab_slots);
    RWKV_FREE(b->merge_left);
    RWKV_FREE(b->merge_right);
    RWKV_FREE(b->pairs);
    RWKV_FREE(b->added);
    RWKV_FREE(b->added_text);
    rwkv__bpe_trie_free(&b->raw_trie);
    rwkv__bpe_trie_free(&b->norm_trie);
    RWKV_FREE(b->comp_key);
    RWKV_FREE(b->comp_value);
    RWKV_FREE(b);
}

/* ---- Encoding scratch -------------------------------------------------------- */

/* A candidate merge: the symbols at pos and after it, (left, right) when it
   was pushed, into id, with its rank. */
typedef struct rwkv__bpe_item {
    uint32_t rank, pos;
    int32_t id, left, right;
} rwkv__bpe_item;

typedef struct rwkv__bpe_work {
    const rwkv__bpe *b;
    int32_t *tokens;
    size_t max_tokens, count;
    unsigned char *norm;        /* NFC of the current raw piece              */
    size_t norm_len, norm_cap;
    uint32_t *cp;               /* an NFC segment, decomposed                */
    unsigned char *cc;          /* its combining classes                     */
    size_t cp_cap, cc_cap;
    uint32_t *tmp_cp;           /* counting sort of long runs of marks       */
    unsigned char *tmp_cc;
    size_t tmp_cp_cap, tmp_cc_cap;
    unsigned char *piece;       /* " " + piece, for add_prefix_space         */
    size_t piece_cap;
    char *mapped;               /* a pre-token in byte-level form            */
    size_t mapped_cap;
    int32_t *sym, *prev, *next; /* the symbols of a pre-token (sym -1: gone) */
    size_t sym_cap, prev_cap, next_cap;
    rwkv__bpe_item *heap;
    size_t heap_n, heap_cap;
} rwkv__bpe_work;

static void rwkv__bpe_work_free(rwkv__bpe_work *w) {
    RWKV_FREE(w->norm);
    RWKV_FREE(w->cp);
    RWKV_FREE(w->cc);
    RWKV_FREE(w->tmp_cp);
    RWKV_FREE(w->tmp_cc);
    RWKV_FREE(w->piece);
    RWKV_FREE(w->mapped);
    RWKV_FREE(w->sym);
    RWKV_FREE(w->prev);
    RWKV_FREE(w->next);
    RWKV_FREE(w->heap);
}

static void rwkv__bpe_emit(rwkv__bpe_work *w, int32_t id) {
    if (w->count < w->max_tokens) w->tokens[w->count] = id;
    w->count++;
}

static int rwkv__bpe_norm_append(rwkv__bpe_work *w, const unsigned char *s, size_t n) {
    if (n > SIZE_MAX - w->norm_len ||
        !rwkv__bpe_reserve((void **)&w->norm, &w->norm_cap, w->norm_len + n, 1))
        return 0;
    if (n) memcpy(w->norm + w->norm_len, s, n);
    w->norm_len += n;
    return 1;
}

/* ---- NFC --------------------------------------------------------------------- */

/* Stable sort of a run of non-starters by combining class. */
static int rwkv__bpe_sort_marks(rwkv__bpe_work *w, uint32_t *cp, unsigned char *cc, size_t n) {
    size_t i, j, count[256], pos = 0;
    if (n <= 32) { /* insertion sort */
        for (i = 1; i < n; i++) {
            uint32_t c = cp[i];
            unsigned char k = cc[i];
            for (j = i; j > 0 && cc[j - 1] > k; j--) {
                cp[j] = cp[j - 1];
                cc[j] = cc[j - 1];
            }
            cp[j] = c;
            cc[j] = k;
        }
        return 1;
    }
    /* counting sort: linear for any length (hostile runs of marks) */
    if (!rwkv__bpe_reserve((void **)&w->tmp_cp, &w->tmp_cp_cap, n, sizeof(uint32_t)) ||
        !rwkv__bpe_reserve((void **)&w->tmp_cc, &w->tmp_cc_cap, n, 1))
        return 0;
    memset(count, 0, sizeof(count));
    for (i = 0; i < n; i++) count[cc[i]]++;
    for (i = 0; i < 256; i++) {
        size_t c = count[i];
        count[i] = pos;
        pos += c;
    }
    for (i = 0; i < n; i++) {
        size_t at = count[cc[i]]++;
        w->tmp_cp[at] = cp[i];
        w->tmp_cc[at] = cc[i];
    }
    memcpy(cp, w->tmp_cp, n * sizeof(uint32_t));
    memcpy(cc, w->tmp_cc, n);
    return 1;
}

/* Append the NFC form of s[0..n) to w->norm: decompose fully, order the
   marks canonically, compose (Unicode Standard Annex #15). */
static int rwkv__bpe_nfc_segment(rwkv__bpe_work *w, const unsigned char *s, size_t n) {
    size_t i = 0, m = 0, out, starter = 0, run;
    int have_starter = 0;
    unsigned last = 0;
    while (i < n) {
        uint32_t c, stack[8];
        int sp = 0;
        i += rwkv__bpe_utf8_decode(s + i, n - i, &c);
        if (!rwkv__bpe_reserve((void **)&w->cp, &w->cp_cap, m + 4, sizeof(uint32_t)) ||
            !rwkv__bpe_reserve((void **)&w->cc, &w->cc_cap, m + 4, 1))
            return 0;
        if (c - RWKV__BPE_S_BASE < RWKV__BPE_S_COUNT) {
            uint32_t k = c - RWKV__BPE_S_BASE;
            w->cp[m++] = RWKV__BPE_L_BASE + k / (RWKV__BPE_V_COUNT * RWKV__BPE_T_COUNT);
            w->cp[m++] = RWKV__BPE_V_BASE + k % (RWKV__BPE_V_COUNT * RWKV__BPE_T_COUNT) / RWKV__BPE_T_COUNT;
            if (k % RWKV__BPE_T_COUNT) w->cp[m++] = RWKV__BPE_T_BASE + k % RWKV__BPE_T_COUNT;
            continue;
        }
        stack[sp++] = c; /* the generator checks: 4 code points at most */
        while (sp > 0) {
            uint32_t x = stack[--sp];
            long k = rwkv__bpe_decomp_find(x);
            if (k < 0) {
                if (!rwkv__bpe_reserve((void **)&w->cp, &w->cp_cap, m + 1, sizeof(uint32_t)))
                    return 0;
                w->cp[m++] = x;
                continue;
            }
            if (sp > 5) return 0; /* cannot happen with the generated tables */
            if (rwkv__bpe_decomp_table[k * 3 + 2]) stack[sp++] = rwkv__bpe_decomp_table[k * 3 + 2] & 0x1fffffu;
            stack[sp++] = rwkv__bpe_decomp_table[k * 3 + 1];
        }
    }
    if (!rwkv__bpe_reserve((void **)&w->cc, &w->cc_cap, m + 1, 1)) return 0;
    for (i = 0; i < m; i++) w->cc[i] = (unsigned char)rwkv__bpe_ccc(w->cp[i]);
    for (i = 0; i < m; i = run) { /* canonical ordering of each run of marks */
        run = i + 1;
        if (!w->cc[i]) continue;
        while (run < m && w->cc[run]) run++;
        if (run - i > 1 && !rwkv__bpe_sort_marks(w, w->cp + i, w->cc + i, run - i)) return 0;
    }
    /* canonical composition, in place */
    for (i = 0, out = 0; i < m; i++) {
        uint32_t c = w->cp[i], composite;
        unsigned k = w->cc[i];
        if (have_starter && (last < k || last == 0) &&
            (composite = rwkv__bpe_compose(w->b, w->cp[starter], c)) != 0) {
            w->cp[starter] = composite;
            continue;
        }
        if (k == 0) {
            starter = out;
            have_starter = 1;
        }
        last = k;
        w->cp[out++] = c;
    }
    if (out > (SIZE_MAX - w->norm_len - 1) / 4 ||
        !rwkv__bpe_reserve((void **)&w->norm, &w->norm_cap, w->norm_len + out * 4 + 1, 1))
        return 0;
    for (i = 0; i < out; i++) w->norm_len += rwkv__bpe_utf8_encode(w->cp[i], w->norm + w->norm_len);
    return 1;
}

/* NFC of s[0..n): *out is s itself when it is already NFC (the usual case),
   else w->norm. Text is cut before every character that is NFC-safe
   (class 0, NFC_QC = Yes: nothing before it can change it or combine with
   it) and only the segments holding an unsafe character are normalized. */
static int rwkv__bpe_nfc(rwkv__bpe_work *w, const unsigned char *s, size_t n,
                         const unsigned char **out, size_t *out_len) {
    size_t i = 0, boundary = 0, copied = 0;
    int any = 0;
    while (i < n) {
        uint32_t c;
        size_t len, j;
        if (s[i] < 0x80) {
            boundary = i++;
            continue;
        }
        len = rwkv__bpe_utf8_decode(s + i, n - i, &c);
        if (!(rwkv__bpe_flags(c) & RWKV__BPE_UNSAFE)) {
            boundary = i;
            i += len;
            continue;
        }
        if (!any) {
            any = 1;
            w->norm_len = 0;
        }
        for (j = i + len; j < n; j += len) {
            if (s[j] < 0x80) break;
            len = rwkv__bpe_utf8_decode(s + j, n - j, &c);
            if (!(rwkv__bpe_flags(c) & RWKV__BPE_UNSAFE)) break;
        }
        if (!rwkv__bpe_norm_append(w, s + copied, boundary - copied) ||
            !rwkv__bpe_nfc_segment(w, s + boundary, j - boundary))
            return 0;
        copied = boundary = i = j;
    }
    if (!any) {
        *out = s;
        *out_len = n;
        return 1;
    }
    if (!rwkv__bpe_norm_append(w, s + copied, n - copied)) return 0;
    *out = w->norm;
    *out_len = w->norm_len;
    return 1;
}

/* ---- Added tokens ------------------------------------------------------------ */

static int rwkv__bpe_trie_insert(rwkv__bpe_trie *t, const unsigned char *s, size_t n, int32_t value) {
    int32_t node = -1;
    size_t i;
    for (i = 0; i < n; i++) {
        int32_t next = node < 0 ? t->root[s[i]] : t->child[node];
        if (node >= 0)
            while (next >= 0 && t->byte[next] != s[i]) next = t->sibling[next];
        if (next < 0) {
            size_t cap = t->cap;
            if (t->n >= (size_t)INT32_MAX) return 0;
            if (!rwkv__bpe_reserve((void **)&t->child, &cap, t->n + 1, sizeof(int32_t))) return 0;
            cap = t->cap;
            if (!rwkv__bpe_reserve((void **)&t->sibling, &cap, t->n + 1, sizeof(int32_t))) return 0;
            cap = t->cap;
            if (!rwkv__bpe_reserve((void **)&t->value, &cap, t->n + 1, sizeof(int32_t))) return 0;
            cap = t->cap;
            if (!rwkv__bpe_reserve((void **)&t->byte, &cap, t->n + 1, 1)) return 0;
            t->cap = cap;
            next = (int32_t)t->n++;
            t->child[next] = -1;
            t->value[next] = -1;
            t->byte[next] = s[i];
            if (node < 0) {
                t->sibling[next] = -1;
                t->root[s[i]] = next;
            } else {
                t->sibling[next] = t->child[node];
                t->child[node] = next;
            }
        }
        node = next;
    }
    if (node >= 0 && t->value[node] < 0) t->value[node] = value; /* first one wins */
    return 1;
}

/* The longest pattern at s[0..n): its value, its length in *len; or -1. */
static int32_t rwkv__bpe_trie_longest(const rwkv__bpe_trie *t, const unsigned char *s, size_t n,
                                      size_t *len) {
    int32_t node = t->root[s[0]], best = -1;
    size_t depth = 1;
    while (node >= 0) {
        if (t->value[node] >= 0) best = t->value[node], *len = depth;
        if (depth >= n) break;
        for (node = t->child[node]; node >= 0 && t->byte[node] != s[depth]; node = t->sibling[node]) {
        }
        depth++;
    }
    return best;
}

/* Rust regex \w, approximated: letter, number or '_'. */
static int rwkv__bpe_is_word(uint32_t c) {
    unsigned k = rwkv__bpe_flags(c) & 3u;
    return c == '_' || k == RWKV__BPE_LETTER || k == RWKV__BPE_NUMBER;
}

/* The character ending at s[end] (end > from): its start in *start. */
static uint32_t rwkv__bpe_char_before(const unsigned char *s, size_t from, size_t end, size_t *start) {
    size_t k;
    uint32_t c;
    for (k = 1; k <= 4 && k <= end - from; k++) {
        if (rwkv__bpe_utf8_decode(s + end - k, k, &c) == k && c < RWKV__BPE_BAD) {
            *start = end - k;
            return c;
        }
    }
    *start = end - 1;
    return RWKV__BPE_BAD + s[end - 1];
}

/* The next added token of trie t in s[from..n) as HF's find_matches takes
   it: the leftmost-longest match not discarded by single_word, widened by
   lstrip (back over white space, not before from) and rstrip. Returns its
   index in b->added and its extent in [*start, *stop), or -1. */
static long rwkv__bpe_next_added(const rwkv__bpe *b, const rwkv__bpe_trie *t, const unsigned char *s,
                                 size_t n, size_t from, size_t *start, size_t *stop) {
    size_t p = from;
    while (p < n) {
        size_t len = 0, ms, me, q;
        int32_t k;
        const rwkv__bpe_added *a;
        uint32_t c;
        if (t->root[s[p]] < 0 || (k = rwkv__bpe_trie_longest(t, s + p, n - p, &len)) < 0) {
            p++;
            continue;
        }
        a = &b->added[k];
        ms = p;
        me = p + len;
        if (a->single_word) {
            int word_before = ms > 0 && rwkv__bpe_is_word(rwkv__bpe_char_before(s, 0, ms, &q));
            int word_after = 0;
            if (me < n) {
                rwkv__bpe_utf8_decode(s + me, n - me, &c);
                word_after = rwkv__bpe_is_word(c);
            }
            if (word_before || word_after) { /* HF goes on after the match */
                p = me;
                continue;
            }
        }
        if (a->lstrip)
            while (ms > from) {
                c = rwkv__bpe_char_before(s, from, ms, &q);
                if ((rwkv__bpe_flags(c) & 3u) != RWKV__BPE_SPACE) break;
                ms = q;
            }
        if (a->rstrip)
            while (me < n) {
                size_t l;
                if (rwkv__bpe_class_at(s + me, n - me, &l) != RWKV__BPE_SPACE) break;
                me += l;
            }
        *start = ms;
        *stop = me;
        return (long)k;
    }
    return -1;
}

/* ---- Pre-tokenizer and merges -------------------------------------------------- */

/* Length of the first pre-token of s[0..n) (n >= 1) under the GPT-2 pattern
       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
   with the alternatives tried in order, as a backtracking regex does. */
static size_t rwkv__bpe_pretoken(const unsigned char *s, size_t n) {
    size_t i, len, last;
    unsigned k;
    if (s[0] == '\'' && n >= 2) {
        unsigned char c = s[1];
        if (c == 's' || c == 't' || c == 'm' || c == 'd') return 2;
        if (n >= 3 && ((c == 'r' && s[2] == 'e') || (c == 'v' && s[2] == 'e') || (c == 'l' && s[2] == 'l')))
            return 3;
    }
    i = 0;
    k = rwkv__bpe_class_at(s, n, &len);
    if (s[0] == ' ' && n >= 2) { /* ` ?X+`: a space joins a run after it */
        size_t l1;
        unsigned k1 = rwkv__bpe_class_at(s + 1, n - 1, &l1);
        if (k1 != RWKV__BPE_SPACE) {
            i = 1;
            k = k1;
            len = l1;
        }
    }
    if (k != RWKV__BPE_SPACE) { /* a run of one class */
        for (i += len; i < n && rwkv__bpe_class_at(s + i, n - i, &len) == k; i += len) {
        }
        return i;
    }
    /* white space: all of it at the end of the text; before anything else,
       all but its last character (\s+(?!\S)), or the one character (\s+) */
    for (last = 0, i = len; i < n; i += len) {
        if (rwkv__bpe_class_at(s + i, n - i, &len) != RWKV__BPE_SPACE) break;
        last = i;
    }
    if (i < n && last > 0) return last;
    return i;
}

static int rwkv__bpe_heap_less(const rwkv__bpe_item *a, const rwkv__bpe_item *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void rwkv__bpe_heap_push(rwkv__bpe_work *w, const rwkv__bpe_pair *p, int32_t pos) {
    size_t i = w->heap_n++;
    rwkv__bpe_item item;
    item.rank = p->rank;
    item.pos = (uint32_t)pos;
    item.id = p->id;
    item.left = (int32_t)(p->key >> 32);
    item.right = (int32_t)(uint32_t)p->key;
    while (i > 0 && rwkv__bpe_heap_less(&item, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = item;
}

static rwkv__bpe_item rwkv__bpe_heap_pop(rwkv__bpe_work *w) {
    rwkv__bpe_item top = w->heap[0], last = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && rwkv__bpe_heap_less(&w->heap[c + 1], &w->heap[c])) c++;
        if (!rwkv__bpe_heap_less(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

/* Push the merge of the symbols at pos and next[pos], if there is one. */
static void rwkv__bpe_candidate(rwkv__bpe_work *w, int32_t pos) {
    const rwkv__bpe_pair *p;
    if (pos < 0 || w->next[pos] < 0) return;
    p = rwkv__bpe_pair_find(w->b, w->sym[pos], w->sym[w->next[pos]]);
    if (p) rwkv__bpe_heap_push(w, p, pos);
}

/* Encode one pre-token s[0..n) by the BPE merges. */
static int rwkv__bpe_word(rwkv__bpe_work *w, const unsigned char *s, size_t n) {
    const rwkv__bpe *b = w->b;
    size_t i, m = 0;
    int32_t pos;
    int last_unk = 0;
    if (n == 1 && b->byte_id[s[0]] >= 0) { /* one byte: nothing to merge */
        rwkv__bpe_emit(w, b->byte_id[s[0]]);
        return 1;
    }
    if (b->ignore_merges) { /* a whole pre-token in the vocabulary wins */
        size_t len = 0;
        int32_t id;
        if (n > SIZE_MAX / 2 || !rwkv__bpe_reserve((void **)&w->mapped, &w->mapped_cap, 2 * n, 1))
            return 0;
        for (i = 0; i < n; i++)
            len += rwkv__bpe_utf8_encode(rwkv__bpe_byte_char(s[i]), (unsigned char *)w->mapped + len);
        if ((id = rwkv__bpe_vocab_find(b, w->mapped, len)) >= 0) {
            rwkv__bpe_emit(w, id);
            return 1;
        }
    }
    if (n >= (size_t)INT32_MAX || n > SIZE_MAX / 2 ||
        !rwkv__bpe_reserve((void **)&w->sym, &w->sym_cap, n, sizeof(int32_t)) ||
        !rwkv__bpe_reserve((void **)&w->prev, &w->prev_cap, n, sizeof(int32_t)) ||
        !rwkv__bpe_reserve((void **)&w->next, &w->next_cap, n, sizeof(int32_t)) ||
        /* the heap: n - 1 candidates, then each merge pops one and pushes two */
        !rwkv__bpe_reserve((void **)&w->heap, &w->heap_cap, 2 * n, sizeof(rwkv__bpe_item)))
        return 0;
    for (i = 0; i < n; i++) { /* one symbol a byte; HF drops unknowns or fuses them */
        int32_t id = b->byte_id[s[i]];
        if (id < 0) {
            if (b->unk_id < 0 || (b->fuse_unk && last_unk)) continue;
            id = b->unk_id;
            last_unk = 1;
        } else {
            last_unk = 0;
        }
        w->sym[m] = id;
        w->prev[m] = (int32_t)m - 1;
        w->next[m] = (int32_t)m + 1;
        m++;
    }
    if (!m) return 1;
    w->next[m - 1] = -1;
    w->heap_n = 0;
    for (i = 0; i + 1 < m; i++) rwkv__bpe_candidate(w, (int32_t)i);
    while (w->heap_n) {
        rwkv__bpe_item top = rwkv__bpe_heap_pop(w);
        int32_t nx;
        pos = (int32_t)top.pos;
        nx = w->next[pos];
        if (w->sym[pos] < 0 || nx < 0) continue; /* gone, or last */
        if (w->sym[pos] != top.left || w->sym[nx] != top.right) {
            /* the pair changed: HF still merges when the new pair merges
               into the same token (Word::merge_all compares only that) */
            const rwkv__bpe_pair *p = rwkv__bpe_pair_find(b, w->sym[pos], w->sym[nx]);
            if (!p || p->id != top.id) continue;
        }
        w->sym[pos] = top.id;
        w->sym[nx] = -1;
        w->next[pos] = w->next[nx];
        if (w->next[nx] >= 0) w->prev[w->next[nx]] = pos;
        rwkv__bpe_candidate(w, w->prev[pos]);
        rwkv__bpe_candidate(w, pos);
    }
    for (pos = 0; pos >= 0; pos = w->next[pos]) rwkv__bpe_emit(w, w->sym[pos]);
    return 1;
}

/* Step 3 and 4 for one piece. */
static int rwkv__bpe_encode_piece(rwkv__bpe_work *w, const unsigned char *s, size_t n) {
    const rwkv__bpe *b = w->b;
    if (b->add_prefix_space && s[0] != ' ') {
        if (n == SIZE_MAX || !rwkv__bpe_reserve((void **)&w->piece, &w->piece_cap, n + 1, 1)) return 0;
        w->piece[0] = ' ';
        memcpy(w->piece + 1, s, n);
        s = w->piece;
        n++;
    }
    if (!b->use_regex) return rwkv__bpe_word(w, s, n);
    while (n) {
        size_t k = rwkv__bpe_pretoken(s, n);
        if (!rwkv__bpe_word(w, s, k)) return 0;
        s += k;
        n -= k;
    }
    return 1;
}

/* Step 2 and on for one piece of raw text. */
static int rwkv__bpe_encode_raw_piece(rwkv__bpe_work *w, const unsigned char *s, size_t n) {
    const rwkv__bpe *b = w->b;
    size_t pos = 0, start = 0, stop = 0;
    if (b->nfc && !rwkv__bpe_nfc(w, s, n, &s, &n)) return 0;
    for (;;) {
        long k = b->norm_trie.n ? rwkv__bpe_next_added(b, &b->norm_trie, s, n, pos, &start, &stop) : -1;
        size_t end = k >= 0 ? start : n;
        if (end > pos && !rwkv__bpe_encode_piece(w, s + pos, end - pos)) return 0;
        if (k < 0) return 1;
        rwkv__bpe_emit(w, b->added[k].id);
        pos = stop;
    }
}

/* Encode len bytes of text (any bytes), with rwkv_tokenize's contract: at
   most max_tokens ids to tokens, their count in *n_tokens; if max_tokens is
   too small, BUFFER_TOO_SMALL with *n_tokens = the number needed; tokens may
   be NULL when max_tokens is 0. Unlike the World tokenizer, len ids may not
   suffice: NFC can make text up to 3 times longer (U+1D160 becomes three
   4-byte characters) and add_prefix_space adds a space to each piece, so the
   bound is 3 * len without add_prefix_space and 4 * len + 1 with it. */
static rwkv_result rwkv__bpe_encode(const rwkv__bpe *b, const unsigned char *text, size_t len,
                                    int32_t *tokens, size_t max_tokens, size_t *n_tokens,
                                    rwkv_error *error) {
    rwkv__bpe_work w;
    size_t pos = 0, start = 0, stop = 0;
    int ok = 1;
    if (!b || !n_tokens || (!text && len) || (!tokens && max_tokens))
        return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL argument");
    memset(&w, 0, sizeof(w));
    w.b = b;
    w.tokens = tokens;
    w.max_tokens = max_tokens;
    while (ok) { /* step 1: added tokens matched in the raw text */
        long k = b->raw_trie.n ? rwkv__bpe_next_added(b, &b->raw_trie, text, len, pos, &start, &stop) : -1;
        size_t end = k >= 0 ? start : len;
        if (end > pos) ok = rwkv__bpe_encode_raw_piece(&w, text + pos, end - pos);
        if (k < 0) break;
        rwkv__bpe_emit(&w, b->added[k].id);
        pos = stop;
    }
    rwkv__bpe_work_free(&w);
    if (!ok) return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    *n_tokens = w.count;
    if (w.count > max_tokens)
        return rwkv__fail(error, RWKV_ERROR_BUFFER_TOO_SMALL, "%zu tokens need room", w.count);
    rwkv__bpe_ok(error);
    return RWKV_OK;
}

/* ---- Queries ------------------------------------------------------------------ */

static int rwkv__bpe_vocab_size(const rwkv__bpe *b) { return b ? (int)b->n_vocab : 0; }

/* The bytes token id decodes to (not NUL-terminated), or NULL out of range. */
static const char *rwkv__bpe_token_bytes(const rwkv__bpe *b, int32_t id, size_t *len) {
    if (!b || id < 0 || id >= b->n_vocab) return NULL;
    if (len) *len = b->raw_off[id + 1] - b->raw_off[id];
    return b->raw + b->raw_off[id];
}

/* A token as GGUF stores it (tokenizer.ggml.tokens/token_type): an added
   token's content with type 3 (special) or 4 (not special), a model token's
   byte-level string with type 1, and "" with type 5 for an id with neither. */
static rwkv_result rwkv__bpe_token_text(const rwkv__bpe *b, int32_t id, const char **text, size_t *len,
                                        int32_t *type) {
    if (!b || !text || !len) return RWKV_ERROR_INVALID_ARGUMENT;
    if (id < 0 || id >= b->n_vocab) return RWKV_ERROR_TOKEN_RANGE;
    if (b->added_of_id[id] >= 0) {
        const rwkv__bpe_added *a = &b->added[b->added_of_id[id]];
        *text = b->added_text + a->off;
        *len = a->len;
    } else {
        *text = b->vtext + b->vtext_off[id];
        *len = b->vtext_len[id];
    }
    if (type) *type = b->type[id];
    return RWKV_OK;
}

/* The merges in rank order, as GGUF's tokenizer.ggml.merges has them
   ("a b": a, then a space, then b). */
static size_t rwkv__bpe_merge_count(const rwkv__bpe *b) { return b ? b->n_merges : 0; }

static void rwkv__bpe_merge_text(const rwkv__bpe *b, size_t i, const char **a, size_t *a_len,
                                 const char **bb, size_t *b_len) {
    int32_t l, r;
    if (!b || i >= b->n_merges) {
        *a = *bb = NULL;
        *a_len = *b_len = 0;
        return;
    }
    l = b->merge_left[i];
    r = b->merge_right[i];
    *a = b->vtext + b->vtext_off[l];
    *a_len = b->vtext_len[l];
    *bb = b->vtext + b->vtext_off[r];
    *b_len = b->vtext_len[r];
}

/* ---- Loading ------------------------------------------------------------------ */

/* What a loader collected; every string lives in blob, found by offset. */
typedef struct rwkv__bpe_spec_token {
    size_t off;
    uint32_t len;
    int32_t id, type;
} rwkv__bpe_spec_token;

typedef struct rwkv__bpe_spec_merge {
    size_t off;                 /* a at blob[off], b right after it          */
    uint32_t a_len, b_len;
} rwkv__bpe_spec_merge;

typedef struct rwkv__bpe_spec_added {
    size_t off;
    uint32_t len;
    int32_t id;                 /* -1: assigned as HF does (tokenizer.json)  */
    unsigned char special, normalized, lstrip, rstrip, single_word;
} rwkv__bpe_spec_added;

typedef struct rwkv__bpe_spec {
    char *blob;
    size_t blob_len, blob_cap;
    rwkv__bpe_spec_token *tokens;
    size_t n_tokens, cap_tokens;
    rwkv__bpe_spec_merge *merges;
    size_t n_merges, cap_merges;
    rwkv__bpe_spec_added *added;
    size_t n_added, cap_added;
    size_t unk_off;
    uint32_t unk_len;
    int has_unk, json;          /* json: duplicates are errors, HF's ids     */
    int nfc, add_prefix_space, use_regex, ignore_merges, fuse_unk, byte_fallback;
} rwkv__bpe_spec;

static void rwkv__bpe_spec_free(rwkv__bpe_spec *sp) {
    RWKV_FREE(sp->blob);
    RWKV_FREE(sp->tokens);
    RWKV_FREE(sp->merges);
    RWKV_FREE(sp->added);
}

/* Append n bytes to the blob; 0 when out of memory. */
static int rwkv__bpe_spec_bytes(rwkv__bpe_spec *sp, const char *s, size_t n, size_t *off) {
    if (n > SIZE_MAX - sp->blob_len ||
        !rwkv__bpe_reserve((void **)&sp->blob, &sp->blob_cap, sp->blob_len + n, 1))
        return 0;
    if (n) memcpy(sp->blob + sp->blob_len, s, n);
    if (off) *off = sp->blob_len;
    sp->blob_len += n;
    return 1;
}

static int rwkv__bpe_spec_token_add(rwkv__bpe_spec *sp, const char *s, size_t n, int32_t id, int32_t type) {
    rwkv__bpe_spec_token *t;
    if (!rwkv__bpe_reserve((void **)&sp->tokens, &sp->cap_tokens, sp->n_tokens + 1, sizeof(*t))) return 0;
    t = &sp->tokens[sp->n_tokens];
    if (!rwkv__bpe_spec_bytes(sp, s, n, &t->off)) return 0;
    t->len = (uint32_t)n;
    t->id = id;
    t->type = type;
    sp->n_tokens++;
    return 1;
}

static int rwkv__bpe_spec_merge_add(rwkv__bpe_spec *sp, const char *a, size_t a_len, const char *bb,
                                    size_t b_len) {
    rwkv__bpe_spec_merge *m;
    if (!rwkv__bpe_reserve((void **)&sp->merges, &sp->cap_merges, sp->n_merges + 1, sizeof(*m))) return 0;
    m = &sp->merges[sp->n_merges];
    if (!rwkv__bpe_spec_bytes(sp, a, a_len, &m->off) || !rwkv__bpe_spec_bytes(sp, bb, b_len, NULL)) return 0;
    m->a_len = (uint32_t)a_len;
    m->b_len = (uint32_t)b_len;
    sp->n_merges++;
    return 1;
}

static rwkv__bpe_spec_added *rwkv__bpe_spec_added_add(rwkv__bpe_spec *sp, const char *s, size_t n,
                                                      int32_t id) {
    rwkv__bpe_spec_added *a;
    if (!rwkv__bpe_reserve((void **)&sp->added, &sp->cap_added, sp->n_added + 1, sizeof(*a))) return NULL;
    a = &sp->added[sp->n_added];
    memset(a, 0, sizeof(*a));
    if (!rwkv__bpe_spec_bytes(sp, s, n, &a->off)) return NULL;
    a->len = (uint32_t)n;
    a->id = id;
    sp->n_added++;
    return a;
}

static size_t rwkv__bpe_slots_for(size_t n) {
    size_t c = 16;
    while (c < 2 * n) c *= 2;
    return c;
}

/* Raw bytes of a token text: byte-to-unicode undone, or the text itself if a
   character of it is not one of the 256 (HF's ByteLevel decoder). */
static size_t rwkv__bpe_unmap(const char *text, size_t n, char *out) {
    size_t i = 0, k = 0;
    while (i < n) {
        uint32_t c;
        int byte;
        i += rwkv__bpe_utf8_decode((const unsigned char *)text + i, n - i, &c);
        if ((byte = rwkv__bpe_char_byte(c)) < 0) {
            memcpy(out, text, n);
            return n;
        }
        out[k++] = (char)byte;
    }
    return k;
}

static rwkv_result rwkv__bpe_build_tries(rwkv__bpe *b, rwkv_error *error) {
    rwkv__bpe_work w;
    size_t i;
    int ok = 1;
    memset(&w, 0, sizeof(w));
    w.b = b;
    for (i = 0; i < 256; i++) b->raw_trie.root[i] = b->norm_trie.root[i] = -1;
    for (i = 0; i < b->n_added && ok; i++) {
        const rwkv__bpe_added *a = &b->added[i];
        const unsigned char *s = (const unsigned char *)b->added_text + a->off;
        size_t n = a->len;
        if (!a->normalized) {
            ok = rwkv__bpe_trie_insert(&b->raw_trie, s, n, (int32_t)i);
            continue;
        }
        if (b->nfc) ok = rwkv__bpe_nfc(&w, s, n, &s, &n);
        if (ok) ok = rwkv__bpe_trie_insert(&b->norm_trie, s, n, (int32_t)i);
    }
    rwkv__bpe_work_free(&w);
    return ok ? RWKV_OK : rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
}

static rwkv_result rwkv__bpe_build_nfc(rwkv__bpe *b, rwkv_error *error) {
    size_t i, count = sizeof(rwkv__bpe_decomp_table) / sizeof(rwkv__bpe_decomp_table[0]) / 3, slots;
    slots = rwkv__bpe_slots_for(count);
    b->comp_key = (uint64_t *)rwkv__calloc(slots, sizeof(uint64_t));
    b->comp_value = (uint32_t *)rwkv__calloc(slots, sizeof(uint32_t));
    if (!b->comp_key || !b->comp_value) return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    b->comp_mask = slots - 1;
    for (i = 0; i < count; i++) {
        uint32_t second = rwkv__bpe_decomp_table[i * 3 + 2];
        uint64_t key;
        size_t k;
        if (!second || second >> 21) continue; /* singleton or excluded */
        key = (uint64_t)rwkv__bpe_decomp_table[i * 3 + 1] << 21 | second;
        for (k = rwkv__bpe_hash_u64(key) & b->comp_mask; b->comp_key[k]; k = (k + 1) & b->comp_mask) {
        }
        b->comp_key[k] = key;
        b->comp_value[k] = rwkv__bpe_decomp_table[i * 3];
    }
    return RWKV_OK;
}

/* Turn what a loader collected into a tokenizer (checks everything). */
static rwkv_result rwkv__bpe_build(const rwkv__bpe_spec *sp, rwkv__bpe **out, rwkv_error *error) {
    rwkv__bpe *b;
    rwkv__bpe_added *added = NULL;
    int32_t *added_slots = NULL, *final_id = NULL;
    char *buf = NULL;
    size_t i, n_model = 0, total, buf_cap = 0, slots, n_ids;
    int32_t max_id = -1, next_id;
    rwkv_result res = RWKV_OK;
    *out = NULL;
    b = (rwkv__bpe *)rwkv__calloc(1, sizeof(rwkv__bpe));
    if (!b) return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    b->unk_id = -1;
    b->nfc = (unsigned char)!!sp->nfc;
    b->add_prefix_space = (unsigned char)!!sp->add_prefix_space;
    b->use_regex = (unsigned char)!!sp->use_regex;
    b->ignore_merges = (unsigned char)!!sp->ignore_merges;
    b->fuse_unk = (unsigned char)!!sp->fuse_unk;
    for (i = 0; i < 256; i++) b->raw_trie.root[i] = b->norm_trie.root[i] = -1;
    if (!sp->n_tokens) {
        res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "the vocabulary is empty");
        goto done;
    }
    if (sp->blob_len >= UINT32_MAX / 2) {
        res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "the vocabulary is too large");
        goto done;
    }
    for (i = 0; i < sp->n_tokens; i++) {
        const rwkv__bpe_spec_token *t = &sp->tokens[i];
        if (!rwkv__bpe_valid_utf8(sp->blob + t->off, t->len)) {
            res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "token %d is not valid UTF-8", (int)t->id);
            goto done;
        }
        if (t->id > max_id) max_id = t->id;
    }
    for (i = 0; i < sp->n_added; i++)
        if (sp->added[i].id > max_id) max_id = sp->added[i].id;

    /* the model vocabulary, per id and by string */
    n_ids = (size_t)max_id + 1; /* grows below for HF's added-token ids */
    b->n_vocab = (int32_t)n_ids;
    b->vtext_off = (uint32_t *)rwkv__calloc(n_ids, sizeof(uint32_t));
    b->vtext_len = (uint32_t *)rwkv__calloc(n_ids, sizeof(uint32_t));
    b->type = (unsigned char *)rwkv__calloc(n_ids, 1);
    b->vtext = (char *)rwkv__calloc(sp->blob_len + 1, 1);
    slots = rwkv__bpe_slots_for(sp->n_tokens);
    b->vocab_slots = (int32_t *)RWKV_MALLOC(slots * sizeof(int32_t));
    if (!b->vtext_off || !b->vtext_len || !b->type || !b->vtext || !b->vocab_slots) goto oom;
    b->vocab_mask = slots - 1;
    for (i = 0; i < slots; i++) b->vocab_slots[i] = -1;
    memcpy(b->vtext, sp->blob, sp->blob_len);
    for (i = 0; i < sp->n_tokens; i++) {
        const rwkv__bpe_spec_token *t = &sp->tokens[i];
        size_t k;
        if (b->type[t->id]) {
            res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "two tokens have the id %d", (int)t->id);
            goto done;
        }
        b->type[t->id] = (unsigned char)(t->type >= 0 && t->type < 256 ? t->type : RWKV__BPE_TYPE_NORMAL);
        if (!b->type[t->id]) b->type[t->id] = 255; /* GGUF "undefined": known, kept apart */
        b->vtext_off[t->id] = (uint32_t)t->off;
        b->vtext_len[t->id] = t->len;
        if (t->type == RWKV__BPE_TYPE_UNUSED) continue;
        n_model++;
        for (k = rwkv__bpe_hash_bytes(sp->blob + t->off, t->len) & b->vocab_mask;;
             k = (k + 1) & b->vocab_mask) {
            int32_t id = b->vocab_slots[k];
            if (id < 0) {
                b->vocab_slots[k] = t->id;
                break;
            }
            if (b->vtext_len[id] == t->len && memcmp(b->vtext + b->vtext_off[id], sp->blob + t->off, t->len) == 0) {
                if (sp->json) {
                    res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                                     "model.vocab: the tokens %d and %d are the same string", (int)id,
                                     (int)t->id);
                    goto done;
                }
                b->vocab_slots[k] = t->id; /* GGUF: the later one wins, as in llama.cpp */
                break;
            }
        }
    }

    /* The added tokens' ids (final_id[i] for sp->added[i], -1: ignored). From
       tokenizer.json as HF assigns them (the file's "id" only draws a warning
       there): a content already added or in the model vocabulary keeps that
       id, any other takes the next id from the model vocabulary's size on. */
    final_id = (int32_t *)rwkv__calloc(sp->n_added + 1, sizeof(int32_t));
    slots = rwkv__bpe_slots_for(sp->n_added);
    added_slots = (int32_t *)RWKV_MALLOC(slots * sizeof(int32_t));
    if (!final_id || !added_slots) goto oom;
    for (i = 0; i < slots; i++) added_slots[i] = -1;
    next_id = (int32_t)n_model;
    for (i = 0; i < sp->n_added; i++) {
        const rwkv__bpe_spec_added *a = &sp->added[i];
        const char *s = sp->blob + a->off;
        size_t k;
        int32_t id = -1;
        final_id[i] = -1;
        if (!a->len) continue; /* HF ignores empty added tokens */
        if (!rwkv__bpe_valid_utf8(s, a->len)) {
            res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "added token %zu is not valid UTF-8", i);
            goto done;
        }
        for (k = rwkv__bpe_hash_bytes(s, a->len) & (slots - 1);; k = (k + 1) & (slots - 1)) {
            const rwkv__bpe_spec_added *o;
            if (added_slots[k] < 0) break;
            o = &sp->added[added_slots[k]];
            if (o->len == a->len && memcmp(sp->blob + o->off, s, a->len) == 0) {
                id = final_id[added_slots[k]];
                break;
            }
        }
        if (added_slots[k] < 0) added_slots[k] = (int32_t)i;
        if (id < 0) id = a->id;
        if (id < 0) id = rwkv__bpe_vocab_find(b, s, a->len);
        if (id < 0) {
            if (next_id >= RWKV__BPE_MAX_ID) {
                res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "too many added tokens");
                goto done;
            }
            id = next_id++;
        }
        final_id[i] = id;
        if ((size_t)id >= n_ids) n_ids = (size_t)id + 1;
    }

    /* per-id arrays at their final size */
    if (n_ids > (size_t)b->n_vocab) {
        size_t old = (size_t)b->n_vocab;
        void *p1 = RWKV_REALLOC(b->vtext_off, n_ids * sizeof(uint32_t));
        if (p1) b->vtext_off = (uint32_t *)p1;
        p1 = p1 ? RWKV_REALLOC(b->vtext_len, n_ids * sizeof(uint32_t)) : NULL;
        if (p1) b->vtext_len = (uint32_t *)p1;
        p1 = p1 ? RWKV_REALLOC(b->type, n_ids) : NULL;
        if (!p1) goto oom;
        b->type = (unsigned char *)p1;
        memset(b->vtext_off + old, 0, (n_ids - old) * sizeof(uint32_t));
        memset(b->vtext_len + old, 0, (n_ids - old) * sizeof(uint32_t));
        memset(b->type + old, 0, n_ids - old);
        b->n_vocab = (int32_t)n_ids;
    }
    b->added_of_id = (int32_t *)RWKV_MALLOC(n_ids * sizeof(int32_t));
    if (!b->added_of_id) goto oom;
    for (i = 0; i < n_ids; i++) b->added_of_id[i] = -1;
    for (i = 0; i < sp->n_added; i++) /* a later definition of an id wins */
        if (final_id[i] >= 0) b->added_of_id[final_id[i]] = (int32_t)i;
    for (i = 0; i < n_ids; i++)
        if (b->added_of_id[i] >= 0) b->n_added++;
    b->added = added = (rwkv__bpe_added *)rwkv__calloc(b->n_added + 1, sizeof(rwkv__bpe_added));
    b->added_text = (char *)rwkv__calloc(sp->blob_len + 1, 1);
    if (!added || !b->added_text) goto oom;
    memcpy(b->added_text, sp->blob, sp->blob_len);
    for (i = 0, total = 0; i < n_ids; i++) { /* in id order */
        const rwkv__bpe_spec_added *a;
        if (b->added_of_id[i] < 0) continue;
        a = &sp->added[b->added_of_id[i]];
        added[total].id = (int32_t)i;
        added[total].off = (uint32_t)a->off;
        added[total].len = a->len;
        added[total].special = a->special;
        added[total].normalized = a->normalized;
        added[total].lstrip = a->lstrip;
        added[total].rstrip = a->rstrip;
        added[total].single_word = a->single_word;
        b->type[i] = a->special ? RWKV__BPE_TYPE_CONTROL : RWKV__BPE_TYPE_USER_DEFINED;
        b->added_of_id[i] = (int32_t)total++;
    }
    for (i = 0; i < n_ids; i++) {
        if (!b->type[i]) b->type[i] = RWKV__BPE_TYPE_UNUSED; /* no token has this id */
        else if (b->type[i] == 255) b->type[i] = 0;
    }

    /* merges */
    if (sp->n_merges >= UINT32_MAX) {
        res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "too many merges");
        goto done;
    }
    b->n_merges = sp->n_merges;
    b->merge_left = (int32_t *)rwkv__calloc(sp->n_merges + 1, sizeof(int32_t));
    b->merge_right = (int32_t *)rwkv__calloc(sp->n_merges + 1, sizeof(int32_t));
    slots = rwkv__bpe_slots_for(sp->n_merges);
    b->pairs = (rwkv__bpe_pair *)rwkv__calloc(slots, sizeof(rwkv__bpe_pair));
    if (!b->merge_left || !b->merge_right || !b->pairs) goto oom;
    b->pair_mask = slots - 1;
    for (i = 0; i < slots; i++) b->pairs[i].id = -1;
    for (i = 0; i < sp->n_merges; i++) {
        const rwkv__bpe_spec_merge *m = &sp->merges[i];
        const char *a = sp->blob + m->off, *c = a + m->a_len;
        int32_t l = rwkv__bpe_vocab_find(b, a, m->a_len), r = rwkv__bpe_vocab_find(b, c, m->b_len), nw = -1;
        uint64_t key;
        size_t k;
        if (l >= 0 && r >= 0) {
            if (!rwkv__bpe_reserve((void **)&buf, &buf_cap, (size_t)m->a_len + m->b_len + 1, 1)) goto oom;
            memcpy(buf, a, m->a_len);
            memcpy(buf + m->a_len, c, m->b_len);
            nw = rwkv__bpe_vocab_find(b, buf, (size_t)m->a_len + m->b_len);
        }
        if (nw < 0) {
            const char *what = l < 0 ? "its first part" : r < 0 ? "its second part" : "the merged token";
            res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "merge %zu: %s is not in the vocabulary", i, what);
            goto done;
        }
        b->merge_left[i] = l;
        b->merge_right[i] = r;
        key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
        for (k = rwkv__bpe_hash_u64(key) & b->pair_mask;; k = (k + 1) & b->pair_mask) {
            rwkv__bpe_pair *p = &b->pairs[k];
            if (p->id < 0 || p->key == key) { /* a repeated pair: the later rank wins, as in HF */
                p->key = key;
                p->rank = (uint32_t)i;
                p->id = nw;
                break;
            }
        }
    }

    /* the bytes of every id */
    b->raw_off = (uint32_t *)rwkv__calloc(n_ids + 1, sizeof(uint32_t));
    b->raw = (char *)rwkv__calloc(2 * sp->blob_len + 1, 1);
    if (!b->raw_off || !b->raw) goto oom;
    for (i = 0, total = 0; i < n_ids; i++) {
        const char *text = NULL;
        size_t len = 0;
        rwkv__bpe_token_text(b, (int32_t)i, &text, &len, NULL);
        if (b->added_of_id[i] >= 0) { /* an added token: its content as it is */
            memcpy(b->raw + total, text, len);
            total += len;
        } else {
            total += rwkv__bpe_unmap(text, len, b->raw + total);
        }
        b->raw_off[i + 1] = (uint32_t)total;
    }

    /* the one-character token of every byte */
    for (i = 0; i < 256; i++) {
        unsigned char ch[4];
        size_t len = rwkv__bpe_utf8_encode(rwkv__bpe_byte_char((unsigned)i), ch);
        b->byte_id[i] = rwkv__bpe_vocab_find(b, (const char *)ch, len);
        if (b->byte_id[i] < 0 && sp->byte_fallback) {
            res = rwkv__fail(error, RWKV_ERROR_UNSUPPORTED,
                             "byte_fallback with the byte 0x%x missing from the vocabulary", (unsigned)i);
            goto done;
        }
    }
    if (sp->has_unk) b->unk_id = rwkv__bpe_vocab_find(b, sp->blob + sp->unk_off, sp->unk_len);
    if (sp->nfc && (res = rwkv__bpe_build_nfc(b, error)) != RWKV_OK) goto done;
    res = rwkv__bpe_build_tries(b, error);
    goto done;
oom:
    res = rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
done:
    RWKV_FREE(added_slots);
    RWKV_FREE(final_id);
    RWKV_FREE(buf);
    if (res) {
        rwkv__bpe_free(b);
        return res;
    }
    *out = b;
    rwkv__bpe_ok(error);
    return RWKV_OK;
}

/* ---- tokenizer.json ------------------------------------------------------------ */

/* A small JSON reader: no recursion (values we do not need are skipped with
   an explicit stack of RWKV__BPE_JSON_DEPTH levels), strings decoded into
   j->str (NUL-terminated). The text was checked to be UTF-8 beforehand. */
typedef struct rwkv__bpe_json {
    const char *p, *begin, *end;
    char *str;
    size_t str_len, str_cap;
    int oom;
} rwkv__bpe_json;

static void rwkv__bpe_json_ws(rwkv__bpe_json *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int rwkv__bpe_json_eat(rwkv__bpe_json *j, char c) {
    rwkv__bpe_json_ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return 1;
    }
    return 0;
}

static int rwkv__bpe_json_peek(rwkv__bpe_json *j) {
    rwkv__bpe_json_ws(j);
    return j->p < j->end ? (unsigned char)*j->p : -1;
}

static int rwkv__bpe_json_put(rwkv__bpe_json *j, const char *s, size_t n) {
    if (!rwkv__bpe_reserve((void **)&j->str, &j->str_cap, j->str_len + n + 1, 1)) {
        j->oom = 1;
        return 0;
    }
    memcpy(j->str + j->str_len, s, n);
    j->str_len += n;
    j->str[j->str_len] = 0;
    return 1;
}

static int rwkv__bpe_json_hex4(rwkv__bpe_json *j, uint32_t *v) {
    int i;
    *v = 0;
    if (j->end - j->p < 4) return 0;
    for (i = 0; i < 4; i++) {
        char c = *j->p++;
        int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (h < 0) return 0;
        *v = *v << 4 | (uint32_t)h;
    }
    return 1;
}

/* A string value: decoded into j->str when decode, else only skipped. */
static int rwkv__bpe_json_string(rwkv__bpe_json *j, int decode) {
    if (!rwkv__bpe_json_eat(j, '"')) return 0;
    j->str_len = 0;
    if (decode && !rwkv__bpe_json_put(j, "", 0)) return 0;
    for (;;) {
        const char *run = j->p;
        char c;
        while (j->p < j->end && *j->p != '"' && *j->p != '\\' && (unsigned char)*j->p >= 0x20) j->p++;
        if (decode && j->p > run && !rwkv__bpe_json_put(j, run, (size_t)(j->p - run))) return 0;
        if (j->p >= j->end || (unsigned char)*j->p < 0x20) return 0;
        c = *j->p++;
        if (c == '"') return 1;
        if (j->p >= j->end) return 0;
        c = *j->p++;
        if (c == 'u') {
            uint32_t cp, lo;
            unsigned char utf8[4];
            if (!rwkv__bpe_json_hex4(j, &cp)) return 0;
            if (cp >= 0xdc00 && cp < 0xe000) return 0; /* a lone low surrogate */
            if (cp >= 0xd800 && cp < 0xdc00) {
                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') return 0;
                j->p += 2;
                if (!rwkv__bpe_json_hex4(j, &lo) || lo < 0xdc00 || lo >= 0xe000) return 0;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (decode && !rwkv__bpe_json_put(j, (const char *)utf8, rwkv__bpe_utf8_encode(cp, utf8)))
                return 0;
            continue;
        }
        switch (c) {
        case '"': case '\\': case '/': break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        default: return 0;
        }
        if (decode && !rwkv__bpe_json_put(j, &c, 1)) return 0;
    }
}

/* A number, true, false or null. */
static int rwkv__bpe_json_scalar(rwkv__bpe_json *j) {
    const char *p;
    size_t left;
    rwkv__bpe_json_ws(j);
    p = j->p;
    left = (size_t)(j->end - p);
    if (left >= 4 && (memcmp(p, "true", 4) == 0 || memcmp(p, "null", 4) == 0)) {
        j->p += 4;
        return 1;
    }
    if (left >= 5 && memcmp(p, "false", 5) == 0) {
        j->p += 5;
        return 1;
    }
    if (p < j->end && *p == '-') p++;
    if (p >= j->end || *p < '0' || *p > '9') return 0;
    while (p < j->end && *p >= '0' && *p <= '9') p++;
    if (p < j->end && *p == '.') {
        if (++p >= j->end || *p < '0' || *p > '9') return 0;
        while (p < j->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < j->end && (*p == 'e' || *p == 'E')) {
        if (++p < j->end && (*p == '+' || *p == '-')) p++;
        if (p >= j->end || *p < '0' || *p > '9') return 0;
        while (p < j->end && *p >= '0' && *p <= '9') p++;
    }
    j->p = p;
    return 1;
}

/* Skip any value, without recursion. */
static int rwkv__bpe_json_skip(rwkv__bpe_json *j) {
    char stack[RWKV__BPE_JSON_DEPTH];
    int depth = 0, c;
    for (;;) {
        c = rwkv__bpe_json_peek(j);
        if (c == '{' || c == '[') {
            if (depth == RWKV__BPE_JSON_DEPTH) return 0;
            j->p++;
            stack[depth++] = c == '{' ? '}' : ']';
            if (!rwkv__bpe_json_eat(j, stack[depth - 1])) {
                if (c == '{' && (!rwkv__bpe_json_string(j, 0) || !rwkv__bpe_json_eat(j, ':'))) return 0;
                continue; /* the first element */
            }
            depth--;
        } else if (c == '"') {
            if (!rwkv__bpe_json_string(j, 0)) return 0;
        } else if (!rwkv__bpe_json_scalar(j)) {
            return 0;
        }
        for (;;) { /* a value is complete */
            if (!depth) return 1;
            if (rwkv__bpe_json_eat(j, ',')) {
                if (stack[depth - 1] == '}' && (!rwkv__bpe_json_string(j, 0) || !rwkv__bpe_json_eat(j, ':')))
                    return 0;
                break;
            }
            if (!rwkv__bpe_json_eat(j, stack[depth - 1])) return 0;
            depth--;
        }
    }
}

/* Object members: call with *first = 1 after the '{'; 1 with the key in
   j->str and the ':' read, 0 at the closing '}', -1 on a syntax error. */
static int rwkv__bpe_json_key(rwkv__bpe_json *j, int *first) {
    if (rwkv__bpe_json_eat(j, '}')) return 0;
    if (!*first && !rwkv__bpe_json_eat(j, ',')) return -1;
    *first = 0;
    return rwkv__bpe_json_string(j, 1) && rwkv__bpe_json_eat(j, ':') ? 1 : -1;
}

/* Array elements likewise: 1 before an element, 0 at the ']', -1 on error. */
static int rwkv__bpe_json_item(rwkv__bpe_json *j, int *first) {
    if (rwkv__bpe_json_eat(j, ']')) return 0;
    if (!*first && !rwkv__bpe_json_eat(j, ',')) return -1;
    *first = 0;
    return 1;
}

static int rwkv__bpe_json_is(const rwkv__bpe_json *j, const char *s) {
    size_t n = strlen(s);
    return j->str_len == n && memcmp(j->str, s, n) == 0;
}

static int rwkv__bpe_json_null(rwkv__bpe_json *j) {
    rwkv__bpe_json_ws(j);
    if (j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) {
        j->p += 4;
        return 1;
    }
    return 0;
}

/* true/false into *v (null leaves it): 0 for anything else. */
static int rwkv__bpe_json_bool(rwkv__bpe_json *j, int *v) {
    rwkv__bpe_json_ws(j);
    if (rwkv__bpe_json_null(j)) return 1;
    if (j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0) {
        j->p += 4;
        *v = 1;
        return 1;
    }
    if (j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0) {
        j->p += 5;
        *v = 0;
        return 1;
    }
    return 0;
}

/* A non-negative integer below 2^32: 0 for anything else. */
static int rwkv__bpe_json_uint(rwkv__bpe_json *j, uint64_t *v) {
    const char *p;
    rwkv__bpe_json_ws(j);
    p = j->p;
    *v = 0;
    while (p < j->end && *p >= '0' && *p <= '9' && p - j->p < 11) *v = *v * 10 + (uint64_t)(*p++ - '0');
    if (p == j->p || *v > UINT32_MAX || (p < j->end && (*p == '.' || *p == 'e' || *p == 'E' ||
                                                         (*p >= '0' && *p <= '9'))))
        return 0;
    j->p = p;
    return 1;
}

#define RWKV__BPE_SYNTAX(j)                                                                         \
    ((j)->oom ? rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory")                       \
              : rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "tokenizer.json: malformed JSON near byte %zu", \
                           (size_t)((j)->p - (j)->begin)))

/* normalizer: null, NFC, or a Sequence of NFCs (nested: inside a Sequence). */
static rwkv_result rwkv__bpe_json_normalizer(rwkv__bpe_json *j, rwkv__bpe_spec *sp, int nested,
                                             rwkv_error *error) {
    char type[32] = "";
    int first = 1, r, nfc_seen = 0;
    rwkv_result res;
    if (rwkv__bpe_json_null(j)) return RWKV_OK;
    if (!rwkv__bpe_json_eat(j, '{')) return RWKV__BPE_SYNTAX(j);
    while ((r = rwkv__bpe_json_key(j, &first)) > 0) {
        if (rwkv__bpe_json_is(j, "type")) {
            if (!rwkv__bpe_json_string(j, 1)) return RWKV__BPE_SYNTAX(j);
            memcpy(type, j->str, j->str_len < sizeof(type) ? j->str_len + 1 : sizeof(type) - 1);
        } else if (rwkv__bpe_json_is(j, "normalizers") && !nested) {
            int f = 1, q;
            if (!rwkv__bpe_json_eat(j, '[')) return RWKV__BPE_SYNTAX(j);
            while ((q = rwkv__bpe_json_item(j, &f)) > 0) {
                int before = sp->nfc;
                sp->nfc = 0;
                if ((res = rwkv__bpe_json_normalizer(j, sp, 1, error)) != RWKV_OK) return res;
                nfc_seen |= sp->nfc;
                sp->nfc = before;
            }
            if (q < 0) return RWKV__BPE_SYNTAX(j);
        } else if (!rwkv__bpe_json_skip(j)) {
            return RWKV__BPE_SYNTAX(j);
        }
    }
    if (r < 0) return RWKV__BPE_SYNTAX(j);
    if (strcmp(type, "NFC") == 0) sp->nfc = 1;
    else if (strcmp(type, "Sequence") == 0 && !nested) sp->nfc = nfc_seen;
    else return rwkv__fail(error, RWKV_ERROR_UNSUPPORTED, "tokenizer.json: normalizer %s is not supported", type);
    return RWKV_OK;
}

/* pre_tokenizer: ByteLevel, or a Sequence holding just a ByteLevel. */
static rwkv_result rwkv__bpe_json_pretokenizer(rwkv__bpe_json *j, rwkv__bpe_spec *sp, int nested,
                                               int *n_bytelevel, rwkv_error *error) {
    char type[32] = "";
    int first = 1, r, children = 0, bytelevel = 0, prefix = 1, regex = 1;
    rwkv_result res;
    if (!rwkv__bpe_json_eat(j, '{'))
        return rwkv__bpe_json_null(j) ? rwkv__fail(error, RWKV_ERROR_UNSUPPORTED,
                                                   "tokenizer.json: no pre_tokenizer (ByteLevel needed)")
                                      : RWKV__BPE_SYNTAX(j);
    while ((r = rwkv__bpe_json_key(j, &first)) > 0) {
        if (rwkv__bpe_json_is(j, "type")) {
            if (!rwkv__bpe_json_string(j, 1)) return RWKV__BPE_SYNTAX(j);
            memcpy(type, j->str, j->str_len < sizeof(type) ? j->str_len + 1 : sizeof(type) - 1);
        } else if (rwkv__bpe_json_is(j, "add_prefix_space")) {
            if (!rwkv__bpe_json_bool(j, &prefix)) return RWKV__BPE_SYNTAX(j);
        } else if (rwkv__bpe_json_is(j, "use_regex")) {
            if (!rwkv__bpe_json_bool(j, &regex)) return RWKV__BPE_SYNTAX(j);
        } else if (rwkv__bpe_json_is(j, "pretokenizers") && !nested) {
            int f = 1, q;
            if (!rwkv__bpe_json_eat(j, '[')) return RWKV__BPE_SYNTAX(j);
            while ((q = rwkv__bpe_json_item(j, &f)) > 0) {
                children++;
                if ((res = rwkv__bpe_json_pretokenizer(j, sp, 1, &bytelevel, error)) != RWKV_OK) return res;
            }
            if (q < 0) return RWKV__BPE_SYNTAX(j);
        } else if (!rwkv__bpe_json_skip(j)) {
            return RWKV__BPE_SYNTAX(j);
        }
    }
    if (r < 0) return RWKV__BPE_SYNTAX(j);
    if (strcmp(type, "ByteLevel") == 0) {
        sp->add_prefix_space = prefix;
        sp->use_regex = regex;
        ++*n_bytelevel;
        return RWKV_OK;
    }
    if (strcmp(type, "Sequence") == 0 && !nested && children == 1 && bytelevel == 1) {
        ++*n_bytelevel;
        return RWKV_OK;
    }
    return rwkv__fail(error, RWKV_ERROR_UNSUPPORTED,
                      "tokenizer.json: pre_tokenizer %s is not supported (ByteLevel only)", type);
}

static rwkv_result rwkv__bpe_json_added(rwkv__bpe_json *j, rwkv__bpe_spec *sp, rwkv_error *error) {
    int f = 1, q;
    if (rwkv__bpe_json_null(j)) return RWKV_OK;
    if (!rwkv__bpe_json_eat(j, '[')) return RWKV__BPE_SYNTAX(j);
    while ((q = rwkv__bpe_json_item(j, &f)) > 0) {
        int first = 1, r, special = 0, normalized = -1, lstrip = 0, rstrip = 0, single = 0, has_content = 0;
        size_t off = 0, len = 0;
        rwkv__bpe_spec_added *a;
        if (!rwkv__bpe_json_eat(j, '{')) return RWKV__BPE_SYNTAX(j);
        while ((r = rwkv__bpe_json_key(j, &first)) > 0) {
            int ok = 1;
            if (rwkv__bpe_json_is(j, "content")) {
                ok = rwkv__bpe_json_string(j, 1);
                if (ok && (j->str_len >= UINT32_MAX || !rwkv__bpe_spec_bytes(sp, j->str, j->str_len, &off)))
                    return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
                len = j->str_len;
                has_content = 1;
            } else if (rwkv__bpe_json_is(j, "special")) ok = rwkv__bpe_json_bool(j, &special);
            else if (rwkv__bpe_json_is(j, "normalized")) ok = rwkv__bpe_json_bool(j, &normalized);
            else if (rwkv__bpe_json_is(j, "lstrip")) ok = rwkv__bpe_json_bool(j, &lstrip);
            else if (rwkv__bpe_json_is(j, "rstrip")) ok = rwkv__bpe_json_bool(j, &rstrip);
            else if (rwkv__bpe_json_is(j, "single_word")) ok = rwkv__bpe_json_bool(j, &single);
            else ok = rwkv__bpe_json_skip(j); /* "id": HF assigns its own */
            if (!ok) return RWKV__BPE_SYNTAX(j);
        }
        if (r < 0) return RWKV__BPE_SYNTAX(j);
        if (!has_content)
            return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "tokenizer.json: an added token has no content");
        if (!rwkv__bpe_reserve((void **)&sp->added, &sp->cap_added, sp->n_added + 1, sizeof(*a)))
            return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
        a = &sp->added[sp->n_added++];
        memset(a, 0, sizeof(*a));
        a->off = off;
        a->len = (uint32_t)len;
        a->id = -1;
        a->special = (unsigned char)!!special;
        a->normalized = (unsigned char)(normalized < 0 ? !special : !!normalized);
        a->lstrip = (unsigned char)!!lstrip;
        a->rstrip = (unsigned char)!!rstrip;
        a->single_word = (unsigned char)!!single;
    }
    return q < 0 ? RWKV__BPE_SYNTAX(j) : RWKV_OK;
}

static rwkv_result rwkv__bpe_json_model(rwkv__bpe_json *j, rwkv__bpe_spec *sp, rwkv_error *error) {
    int first = 1, r, have_vocab = 0, have_merges = 0;
    if (!rwkv__bpe_json_eat(j, '{')) return RWKV__BPE_SYNTAX(j);
    while ((r = rwkv__bpe_json_key(j, &first)) > 0) {
        int ok = 1;
        if (rwkv__bpe_json_is(j, "type")) {
            if (!rwkv__bpe_json_string(j, 1)) return RWKV__BPE_SYNTAX(j);
            if (!rwkv__bpe_json_is(j, "BPE"))
                return rwkv__fail(error, RWKV_ERROR_UNSUPPORTED, "tokenizer.json: model %s is not BPE", j->str);
        } else if (rwkv__bpe_json_is(j, "vocab")) {
            int f = 1, q;
            have_vocab = 1;
            if (!rwkv__bpe_json_eat(j, '{')) return RWKV__BPE_SYNTAX(j);
            while ((q = rwkv__bpe_json_key(j, &f)) > 0) {
                uint64_t id;
                if (j->str_len >= UINT32_MAX ||
                    !rwkv__bpe_spec_token_add(sp, j->str, j->str_len, 0, RWKV__BPE_TYPE_NORMAL))
                    return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
                if (!rwkv__bpe_json_uint(j, &id))
                    return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                                      "tokenizer.json: model.vocab: the id of a token is not an integer "
                                      "(near byte %zu)", (size_t)(j->p - j->begin));
                if (id >= (uint64_t)RWKV__BPE_MAX_ID)
                    return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "tokenizer.json: model.vocab: id %llu is too large",
                                      (unsigned long long)id);
                sp->tokens[sp->n_tokens - 1].id = (int32_t)id;
            }
            if (q < 0) return RWKV__BPE_SYNTAX(j);
        } else if (rwkv__bpe_json_is(j, "merges")) {
            int f = 1, q;
            have_merges = 1;
            if (!rwkv__bpe_json_eat(j, '[')) return RWKV__BPE_SYNTAX(j);
            while ((q = rwkv__bpe_json_item(j, &f)) > 0) {
                if (rwkv__bpe_json_peek(j) == '[') { /* ["a", "b"] */
                    size_t a_off;
                    uint32_t a_len;
                    j->p++;
                    if (!rwkv__bpe_json_string(j, 1)) return RWKV__BPE_SYNTAX(j);
                    if (j->str_len >= UINT32_MAX || !rwkv__bpe_spec_bytes(sp, j->str, j->str_len, &a_off))
                        return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
                    a_len = (uint32_t)j->str_len;
                    if (!rwkv__bpe_json_eat(j, ',') || !rwkv__bpe_json_string(j, 1) || !rwkv__bpe_json_eat(j, ']'))
                        return RWKV__BPE_SYNTAX(j);
                    /* b goes into the blob right after a */
                    if (j->str_len >= UINT32_MAX ||
                        !rwkv__bpe_reserve((void **)&sp->merges, &sp->cap_merges, sp->n_merges + 1,
                                           sizeof(rwkv__bpe_spec_merge)) ||
                        !rwkv__bpe_spec_bytes(sp, j->str, j->str_len, NULL))
                        return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
                    sp->merges[sp->n_merges].off = a_off;
                    sp->merges[sp->n_merges].a_len = a_len;
                    sp->merges[sp->n_merges].b_len = (uint32_t)j->str_len;
                    sp->n_merges++;
                } else { /* "a b", exactly one space, as HF splits it */
                    const char *space;
                    if (!rwkv__bpe_json_string(j, 1)) return RWKV__BPE_SYNTAX(j);
                    if (j->str_len >= 8 && memcmp(j->str, "#version", 8) == 0) continue;
                    space = (const char *)memchr(j->str, ' ', j->str_len);
                    if (!space || memchr(space + 1, ' ', j->str_len - (size_t)(space + 1 - j->str)))
                        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                                          "tokenizer.json: merge %zu is not two tokens and a space",
                                          sp->n_merges);
                    if (j->str_len >= UINT32_MAX ||
                        !rwkv__bpe_spec_merge_add(sp, j->str, (size_t)(space - j->str), space + 1,
                                                  j->str_len - (size_t)(space + 1 - j->str)))
                        return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
                }
            }
            if (q < 0) return RWKV__BPE_SYNTAX(j);
        } else if (rwkv__bpe_json_is(j, "dropout")) {
            const char *p;
            rwkv__bpe_json_ws(j);
            p = j->p;
            if (!rwkv__bpe_json_null(j)) {
                if (!rwkv__bpe_json_scalar(j)) return RWKV__BPE_SYNTAX(j);
                for (; p < j->p && *p != 'e' && *p != 'E'; p++)
                    if (*p >= '1' && *p <= '9')
                        return rwkv__fail(error, RWKV_ERROR_UNSUPPORTED, "tokenizer.json: BPE dropout is not supported");
            }
        } else if (rwkv__bpe_json_is(j, "unk_token")) {
            if (!rwkv__bpe_json_null(j)) {
                if (!rwkv__bpe_json_string(j, 1)) return RWKV__BPE_SYNTAX(j);
                if (j->str_len >= UINT32_MAX || !rwkv__bpe_spec_bytes(sp, j->str, j->str_len, &sp->unk_off))
                    return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
                sp->unk_len = (uint32_t)j->str_len;
                sp->has_unk = 1;
            }
        } else if (rwkv__bpe_json_is(j, "continuing_subword_prefix") ||
                   rwkv__bpe_json_is(j, "end_of_word_suffix")) {
            if (!rwkv__bpe_json_null(j)) {
                if (!rwkv__bpe_json_string(j, 1)) return RWKV__BPE_SYNTAX(j);
                if (j->str_len)
                    return rwkv__fail(error, RWKV_ERROR_UNSUPPORTED,
                                      "tokenizer.json: subword prefixes and suffixes are not supported");
            }
        } else if (rwkv__bpe_json_is(j, "fuse_unk")) ok = rwkv__bpe_json_bool(j, &sp->fuse_unk);
        else if (rwkv__bpe_json_is(j, "byte_fallback")) ok = rwkv__bpe_json_bool(j, &sp->byte_fallback);
        else if (rwkv__bpe_json_is(j, "ignore_merges")) ok = rwkv__bpe_json_bool(j, &sp->ignore_merges);
        else ok = rwkv__bpe_json_skip(j);
        if (!ok) return RWKV__BPE_SYNTAX(j);
    }
    if (r < 0) return RWKV__BPE_SYNTAX(j);
    if (!have_vocab || !have_merges)
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "tokenizer.json: the model has no vocab or no merges");
    return RWKV_OK;
}

static rwkv_result rwkv__bpe_json_top(rwkv__bpe_json *j, rwkv__bpe_spec *sp, rwkv_error *error) {
    int first = 1, r, have_model = 0, n_bytelevel = 0;
    rwkv_result res = RWKV_OK;
    if (!rwkv__bpe_json_eat(j, '{')) return RWKV__BPE_SYNTAX(j);
    while ((r = rwkv__bpe_json_key(j, &first)) > 0) {
        if (rwkv__bpe_json_is(j, "version")) {
            if (!rwkv__bpe_json_string(j, 1)) return RWKV__BPE_SYNTAX(j);
            if (!rwkv__bpe_json_is(j, "1.0"))
                return rwkv__fail(error, RWKV_ERROR_UNSUPPORTED, "tokenizer.json: version %s", j->str);
        } else if (rwkv__bpe_json_is(j, "added_tokens")) {
            res = rwkv__bpe_json_added(j, sp, error);
        } else if (rwkv__bpe_json_is(j, "normalizer")) {
            res = rwkv__bpe_json_normalizer(j, sp, 0, error);
        } else if (rwkv__bpe_json_is(j, "pre_tokenizer")) {
            res = rwkv__bpe_json_pretokenizer(j, sp, 0, &n_bytelevel, error);
        } else if (rwkv__bpe_json_is(j, "model")) {
            have_model = 1;
            res = rwkv__bpe_json_model(j, sp, error);
        } else if (!rwkv__bpe_json_skip(j)) {
            return RWKV__BPE_SYNTAX(j);
        }
        if (res) return res;
    }
    if (r < 0) return RWKV__BPE_SYNTAX(j);
    rwkv__bpe_json_ws(j);
    if (j->p != j->end) return RWKV__BPE_SYNTAX(j);
    if (!have_model) return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "tokenizer.json: no model");
    if (!n_bytelevel)
        return rwkv__fail(error, RWKV_ERROR_UNSUPPORTED, "tokenizer.json: no pre_tokenizer (ByteLevel needed)");
    return RWKV_OK;
}

/* A tokenizer from the text of a Hugging Face tokenizer.json. */
static rwkv_result rwkv__bpe_load_json(rwkv__bpe **out, const char *json, size_t len, rwkv_error *error) {
    rwkv__bpe_json j;
    rwkv__bpe_spec sp;
    rwkv_result res;
    if (!out || (!json && len)) return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    if (!rwkv__bpe_valid_utf8(json, len))
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "tokenizer.json is not valid UTF-8");
    memset(&j, 0, sizeof(j));
    memset(&sp, 0, sizeof(sp));
    j.p = j.begin = json;
    j.end = json + len;
    sp.json = 1;
    sp.use_regex = 1;
    res = rwkv__bpe_json_top(&j, &sp, error);
    RWKV_FREE(j.str);
    if (!res) res = rwkv__bpe_build(&sp, out, error);
    rwkv__bpe_spec_free(&sp);
    return res;
}

/* A tokenizer from GGUF-style arrays (tokenizer.ggml.tokens, .token_type,
   .merges): token i has id i; types 3 (control) and 4 (user-defined) are
   added tokens (control: special, matched in the raw text; user-defined:
   matched after normalization, HF's default for a non-special token), 5
   (unused) is never produced; token_types may be NULL (all normal). Merges
   are "a b", split at the first space after the first byte (as llama.cpp
   does). GGUF does not say how to normalize or pre-tokenize: this gives
   what 20B_tokenizer.json says (NFC, no prefix space, the GPT-2 pattern). */
static rwkv_result rwkv__bpe_load_arrays(rwkv__bpe **out, const char *const *tokens, const size_t *token_lens,
                                         const int32_t *token_types, size_t n_tokens,
                                         const char *const *merges, const size_t *merge_lens, size_t n_merges,
                                         rwkv_error *error) {
    rwkv__bpe_spec sp;
    rwkv_result res;
    size_t i;
    if (!out || (n_tokens && (!tokens || !token_lens)) || (n_merges && (!merges || !merge_lens)))
        return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    if (n_tokens > (size_t)RWKV__BPE_MAX_ID)
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "%zu tokens are too many", n_tokens);
    memset(&sp, 0, sizeof(sp));
    sp.nfc = 1;
    sp.use_regex = 1;
    for (i = 0; i < n_tokens; i++) {
        int32_t type = token_types ? token_types[i] : RWKV__BPE_TYPE_NORMAL;
        size_t len = token_lens[i];
        if ((!tokens[i] && len) || len >= UINT32_MAX) {
            res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "token %zu is NULL or too long", i);
            goto done;
        }
        if (!rwkv__bpe_spec_token_add(&sp, tokens[i], len, (int32_t)i, type)) goto oom;
        if ((type == RWKV__BPE_TYPE_CONTROL || type == RWKV__BPE_TYPE_USER_DEFINED) && len) {
            rwkv__bpe_spec_added *a = rwkv__bpe_spec_added_add(&sp, tokens[i], len, (int32_t)i);
            if (!a) goto oom;
            a->special = (unsigned char)(type == RWKV__BPE_TYPE_CONTROL);
            a->normalized = (unsigned char)(type == RWKV__BPE_TYPE_USER_DEFINED);
        }
    }
    for (i = 0; i < n_merges; i++) {
        const char *m = merges[i], *space;
        size_t len = merge_lens[i];
        space = m && len > 1 ? (const char *)memchr(m + 1, ' ', len - 1) : NULL;
        if (!space || len >= UINT32_MAX) {
            res = rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "merge %zu is not two tokens and a space", i);
            goto done;
        }
        if (!rwkv__bpe_spec_merge_add(&sp, m, (size_t)(space - m), space + 1, len - (size_t)(space + 1 - m)))
            goto oom;
    }
    res = rwkv__bpe_build(&sp, out, error);
    goto done;
oom:
    res = rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
done:
    rwkv__bpe_spec_free(&sp);
    return res;
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
    rwkv__bpe *bpe;             /* byte-level BPE (then the rest is unused), or NULL */
};

RWKVDEF void rwkv_tokenizer_free(rwkv_tokenizer *t) {
    if (!t) return;
    RWKV_FREE(t->offsets);
    RWKV_FREE(t->bytes);
    RWKV_FREE(t->node_token);
    RWKV_FREE(t->node_child);
    RWKV_FREE(t->node_sibling);
    RWKV_FREE(t->node_byte);
    rwkv__bpe_free(t->bpe);
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
/* Wrap a BPE tokenizer (takes ownership of it). */
static rwkv_result rwkv__tokenizer_wrap_bpe(rwkv__bpe *bpe, rwkv_tokenizer **out, rwkv_error *error) {
    rwkv_tokenizer *t = (rwkv_tokenizer *)rwkv__calloc(1, sizeof(rwkv_tokenizer));
    if (!t) {
        rwkv__bpe_free(bpe);
        return rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    }
    t->bpe = bpe;
    t->n_tokens = rwkv__bpe_vocab_size(bpe);
    *out = t;
    rwkv__ok(error);
    return RWKV_OK;
}

/* tokenizer.ggml.model "gpt2": byte-level BPE from tokens, token_type, merges. */
static rwkv_result rwkv__tokenizer_from_gguf_bpe(const rwkv__gguf *g, int n_vocab, rwkv_tokenizer **out,
                                                 rwkv_error *error) {
    rwkv__reader tokens, types, merges;
    uint32_t elem = 0, type_elem = 0, merge_elem = 0;
    uint64_t count = 0, type_count = 0, merge_count = 0, i;
    int has_types;
    const char **tok, **mer;
    size_t *tok_len, *mer_len;
    int32_t *typ;
    rwkv__bpe *bpe = NULL;
    rwkv_result res;
    if (!rwkv__gguf_get_array(g, "tokenizer.ggml.tokens", &elem, &count, &tokens) ||
        elem != RWKV__GGUF_STRING || count > (uint64_t)n_vocab)
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT,
                          "tokenizer.ggml.tokens is missing or longer than the vocabulary");
    has_types = rwkv__gguf_get_array(g, "tokenizer.ggml.token_type", &type_elem, &type_count, &types);
    if (has_types && (type_count != count || (type_elem != RWKV__GGUF_I32 && type_elem != RWKV__GGUF_U32)))
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "tokenizer.ggml.token_type is malformed");
    if (!rwkv__gguf_get_array(g, "tokenizer.ggml.merges", &merge_elem, &merge_count, &merges) ||
        merge_elem != RWKV__GGUF_STRING || merge_count > SIZE_MAX / sizeof(size_t))
        return rwkv__fail(error, RWKV_ERROR_BAD_FORMAT, "tokenizer.ggml.merges is missing or malformed");
    tok = (const char **)rwkv__calloc((size_t)count + 1, sizeof(char *));
    tok_len = (size_t *)rwkv__calloc((size_t)count + 1, sizeof(size_t));
    typ = (int32_t *)rwkv__calloc((size_t)count + 1, sizeof(int32_t));
    mer = (const char **)rwkv__calloc((size_t)merge_count + 1, sizeof(char *));
    mer_len = (size_t *)rwkv__calloc((size_t)merge_count + 1, sizeof(size_t));
    if (!tok || !tok_len || !typ || !mer || !mer_len) {
        res = rwkv__fail(error, RWKV_ERROR_OUT_OF_MEMORY, "out of memory");
    } else {
        for (i = 0; i < count; i++) {
            uint64_t len;
            tok[i] = rwkv__read_string(&tokens, &len);
            tok_len[i] = (size_t)len;
            typ[i] = has_types ? (int32_t)rwkv__read_u32(&types) : 1;
        }
        for (i = 0; i < merge_count; i++) {
            uint64_t len;
            mer[i] = rwkv__read_string(&merges, &len);
            mer_len[i] = (size_t)len;
        }
        res = rwkv__bpe_load_arrays(&bpe, tok, tok_len, typ, (size_t)count, mer, mer_len, (size_t)merge_count,
                                    error);
    }
    RWKV_FREE((void *)tok);
    RWKV_FREE(tok_len);
    RWKV_FREE(typ);
    RWKV_FREE((void *)mer);
    RWKV_FREE(mer_len);
    if (res) return res;
    return rwkv__tokenizer_wrap_bpe(bpe, out, error);
}

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
    if (rwkv__gguf_string_is(g, "tokenizer.ggml.model", "gpt2"))
        return rwkv__tokenizer_from_gguf_bpe(g, n_vocab, out, error);
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

RWKVDEF rwkv_result rwkv_tokenizer_load_bpe(rwkv_tokenizer **out, const char *json, size_t size,
                                            rwkv_error *error) {
    rwkv__bpe *bpe = NULL;
    rwkv_result res;
    if (!out) return rwkv__fail(error, RWKV_ERROR_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    res = rwkv__bpe_load_json(&bpe, json, size, error);
    return res ? res : rwkv__tokenizer_wrap_bpe(bpe, out, error);
}

RWKVDEF rwkv_result rwkv_tokenizer_gguf_token(const rwkv_tokenizer *t, int32_t id, const char **text,
                                              size_t *len, int32_t *type) {
    return t && t->bpe ? rwkv__bpe_token_text(t->bpe, id, text, len, type) : RWKV_ERROR_INVALID_ARGUMENT;
}

RWKVDEF size_t rwkv_tokenizer_gguf_merge_count(const rwkv_tokenizer *t) {
    return t && t->bpe ? rwkv__bpe_merge_count(t->bpe) : 0;
}

RWKVDEF void rwkv_tokenizer_gguf_merge(const rwkv_tokenizer *t, size_t i, const char **a, size_t *a_len,
                                       const char **b, size_t *b_len) {
    rwkv__bpe_merge_text(t ? t->bpe : NULL, i, a, a_len, b, b_len);
}

RWKVDEF int rwkv_tokenizer_vocab_size(const rwkv_tokenizer *t) {
    return !t ? 0 : t->bpe ? rwkv__bpe_vocab_size(t->bpe) : t->n_tokens;
}

RWKVDEF const char *rwkv_token_bytes(const rwkv_tokenizer *t, int32_t id, size_t *len) {
    if (t && t->bpe) return rwkv__bpe_token_bytes(t->bpe, id, len);
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
    if (t->bpe) return rwkv__bpe_encode(t->bpe, s, len, tokens, max_tokens, n_tokens, error);
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
