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
 *   RWKV_MAX_LAYERS, RWKV_MAX_EMBD, RWKV_MAX_VOCAB
 *                        limits against hostile files (4096, 65536, 1<<24).
 *
 * SUPPORTED
 *   Versions:  RWKV-4. Other versions are refused with a message naming them.
 *   Formats:   GGUF v2/v3 (architecture "rwkv4", see README.md for the
 *              layout) and rwkv.cpp .bin (file versions 100 and 101).
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
    int version;            /* RWKV version: 4                               */
    int version_minor;      /* 0 for v4                                      */
    int n_layer;
    int n_embd;             /* width C of the residual stream                */
    int n_vocab;
    int n_ffn;              /* hidden size of channel-mix                    */
    int n_head;             /* 0 for v4 (no heads)                           */
    int head_size;          /* 0 for v4                                      */
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
   rwkv_state_data) plus the scratch memory evaluation needs. Layout for
   RWKV-4, per layer, 5 vectors of n_embd floats: the previous token's
   time-mix input, aa, bb, pp (the WKV numerator, denominator and running
   maximum exponent; pp starts at -1e30), the previous channel-mix input. */
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

/* Feed one token: advance the state and, if logits is not NULL, write the
   n_vocab logits of the next token there (NULL skips the output head, which
   is the largest matrix of small models). Allocates nothing. */
RWKVDEF rwkv_result rwkv_eval(rwkv_state *state, int32_t token, float *logits,
                              rwkv_error *error);

/* Feed n tokens in order; logits (if not NULL) receives those after the
   last one. Equal to n calls of rwkv_eval(). n == 0 is allowed and leaves
   logits untouched. A bad token is found before the state is changed. */
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
