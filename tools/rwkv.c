/* rwkv - the command-line tool of rwkv.h: generate text, dump logits,
 * tokenize, describe and convert models, measure perplexity and speed.
 * `rwkv --help` lists the subcommands. Every error ends the program with a
 * one-line message on stderr and exit status 1.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, isatty, fileno */

#define RWKV_IMPLEMENTATION
#include "rwkv.h"
#include "tools/checkpoint.h"
#include "tools/gguf_writer.h"
#include "tools/synthetic.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MODEL "examples/models/rwkv4-shakespeare.gguf"

static const char usage[] =
    "usage: rwkv COMMAND [options]\n"
    "\n"
    "  generate [-m MODEL] [-p PROMPT] [-n N] [-s SEED] [-t THREADS] [--temp T]\n"
    "           [--top-p P] [--top-k K] [--presence-penalty A]\n"
    "           [--frequency-penalty F] [--vocab FILE]\n"
    "      Print PROMPT (default: a newline) and up to N more tokens (default 200)\n"
    "      sampled from the model; the speeds go to stderr. Defaults: --temp 0.8,\n"
    "      --top-p 0.9, --top-k 0 (all), penalties 0, -s from the clock (printed).\n"
    "  logits -m MODEL --tokens ID,ID,... -o OUT [--seq]\n"
    "      Write float32 little-endian logits after each token, from the initial\n"
    "      state (n_tokens x n_vocab). --seq: feed them as one sequence and write\n"
    "      only the logits after the last.\n"
    "  tokenize (-m MODEL | --vocab FILE) [--text TEXT]\n"
    "      Print the token ids of TEXT (default: all of stdin).\n"
    "  detokenize (-m MODEL | --vocab FILE) ID...\n"
    "      Write the bytes of the tokens to stdout.\n"
    "  info -m MODEL [--tensors]\n"
    "      Describe a model, one key=value a line (and one line per tensor).\n"
    "  convert IN OUT.gguf [--type TYPE] [--vocab FILE]\n"
    "      Write a model (rwkv.cpp .bin or GGUF) as GGUF (README.md: GGUF layout).\n"
    "      Matrices in TYPE (f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1; default: as\n"
    "      loaded; quantized ones cannot change type yet), the rest in f32. A\n"
    "      quantized TYPE applies to the blocks' large matrices; the embedding\n"
    "      and head become f16, and so do the small LoRA matrices of a GGUF or\n"
    "      .bin (from .pth/.safetensors they stay f32). The World vocabulary FILE,\n"
    "      or else the model's own tokenizer, goes in too.\n"
    "  perplexity [-m MODEL] -f TEXT [--ctx N] [--vocab FILE] [-t THREADS]\n"
    "      Score every token of TEXT but the first, in windows of N tokens\n"
    "      (default 256) each from the initial state; prints ppl and bits/byte.\n"
    "  bench (-m MODEL | --synthetic SHAPE [--type TYPE]) [-t THREADS]\n"
    "        [--prompt N] [--gen N] [--int8] [--long N]\n"
    "      Time prefill (default 128 tokens) and decode (default 64 tokens)\n"
    "      against the machine's memory bandwidth. --synthetic builds a random\n"
    "      model of that shape in memory (default type f16); SHAPE is one of\n"
    "      4-169m 4-430m 5-0.1b 5-1.5b 6-0.1b 6-1.5b 7-0.1b 7-1.5b. --int8: integer\n"
    "      products for quantized weights (rwkv_state_set_quantized_input).\n"
    "      --long N: also N tokens in a row; ms/token near the start and the end.\n"
    "\n"
    "MODEL defaults to " DEFAULT_MODEL " for generate and perplexity.\n"
    "-t THREADS: threads per evaluation (default 1; needs a build with OpenMP).\n"
    "--vocab FILE: a World vocabulary such as rwkv_vocab_v20230424.txt, or a\n"
    "Hugging Face BPE tokenizer.json (e.g. 20B_tokenizer.json), for\n"
    "models that carry no tokenizer.\n";

/* ---- Errors and small helpers ------------------------------------------- */

/* Print "rwkv CMD: message" on stderr and return the exit status 1. */
static int fail(const char *cmd, const char *format, ...) {
    va_list args;
    fprintf(stderr, "rwkv %s: ", cmd);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    return 1;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A seed that differs from run to run: the wall clock in nanoseconds. */
static long long clock_seed(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return ((long long)t.tv_sec * 1000000000 + t.tv_nsec) & LLONG_MAX;
}

/* Read all of a stream into a new buffer (free() it); -1 on failure. */
static int read_stream(FILE *f, char **data, size_t *size) {
    size_t capacity = 1 << 16, n = 0, got;
    char *buffer = (char *)malloc(capacity);
    if (!buffer) return -1;
    while ((got = fread(buffer + n, 1, capacity - n, f)) > 0) {
        n += got;
        if (n == capacity) {
            char *bigger = (char *)realloc(buffer, capacity * 2);
            if (!bigger) {
                free(buffer);
                return -1;
            }
            buffer = bigger;
            capacity *= 2;
        }
    }
    if (ferror(f)) {
        free(buffer);
        return -1;
    }
    *data = buffer;
    *size = n;
    return 0;
}

static int read_file(const char *cmd, const char *path, char **data, size_t *size) {
    FILE *f = fopen(path, "rb");
    int rc;
    if (!f) return fail(cmd, "%s: cannot open (%s)", path, strerror(errno));
    rc = read_stream(f, data, size);
    fclose(f);
    return rc ? fail(cmd, "%s: cannot read", path) : 0;
}

/* A vector ({C}, {C,1,1}, {1,1,H}, ...): at most one dimension over 1. */
static int is_vector(const rwkv_tensor_info *t) {
    int d, wide = 0;
    for (d = 0; d < 4; d++) wide += t->ne[d] > 1;
    return wide <= 1;
}

static uint64_t element_count(const rwkv_tensor_info *t) {
    return (uint64_t)t->ne[0] * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
}

/* ---- Options ------------------------------------------------------------ */

typedef enum option_kind { OPTION_STRING, OPTION_INT, OPTION_FLOAT, OPTION_FLAG } option_kind;

/* One option of a subcommand; tables end with a NULL name. */
typedef struct option {
    const char *name;  /* as typed: "-n", "--top-p" */
    option_kind kind;
    void *value;       /* const char **, long long *, double *, or int * set to 1 */
    double min, max;   /* the accepted range of a number */
} option;

static int parse_number(const char *cmd, const option *o, const char *text) {
    char *end;
    errno = 0;
    if (o->kind == OPTION_INT) {
        long long v = strtoll(text, &end, 10);
        if (end == text || *end || errno || (double)v < o->min || (double)v > o->max)
            return fail(cmd, "%s expects an integer from %.0f to %.0f, not '%s'", o->name, o->min,
                        o->max, text);
        *(long long *)o->value = v;
    } else {
        double v = strtod(text, &end);
        if (end == text || *end || errno || !(v >= o->min && v <= o->max))
            return fail(cmd, "%s expects a number from %g to %g, not '%s'", o->name, o->min,
                        o->max, text);
        *(double *)o->value = v;
    }
    return 0;
}

/* Parse the words after the subcommand: the options in the table, and up to
   max_positional other words into positional[]. */
static int parse_options(const char *cmd, int argc, char **argv, const option *options,
                         const char **positional, int max_positional, int *n_positional) {
    int i, n = 0;
    for (i = 0; i < argc; i++) {
        const char *word = argv[i];
        const option *o = options;
        while (o->name && strcmp(o->name, word)) o++;
        if (!o->name) {
            if (word[0] == '-' && word[1])
                return fail(cmd, "unknown option '%s' (see rwkv --help)", word);
            if (n == max_positional) return fail(cmd, "unexpected argument '%s'", word);
            positional[n++] = word;
        } else if (o->kind == OPTION_FLAG) {
            *(int *)o->value = 1;
        } else if (i + 1 == argc) {
            return fail(cmd, "%s needs a value", word);
        } else if (o->kind == OPTION_STRING) {
            *(const char **)o->value = argv[++i];
        } else if (parse_number(cmd, o, argv[++i])) {
            return 1;
        }
    }
    if (n_positional) *n_positional = n;
    return 0;
}

/* A type name ("f32", "q5_1", ...) to its id, for --type. */
static int parse_type(const char *cmd, const char *name, int *type) {
    int t;
    for (t = 0; t < 64; t++)
        if (rwkv_type_name(t) && !strcmp(rwkv_type_name(t), name)) {
            *type = t;
            return 0;
        }
    return fail(cmd, "--type must be f32, f16, bf16, q8_0, q4_0, q4_1, q5_0 or q5_1, not '%s'",
                name);
}

/* ---- Models and tokenizers ---------------------------------------------- */

static int load_model(const char *cmd, const char *path, rwkv_model **model) {
    rwkv_error error;
    if (rwkv_model_load_file(model, path, &error) == RWKV_OK) return 0;
    if (!strcmp(path, DEFAULT_MODEL) && error.code == RWKV_ERROR_IO)
        return fail(cmd, "%s (the default model; pass -m MODEL)", error.message);
    return fail(cmd, "%s", error.message);
}

/* A state for the model, evaluating on n_threads threads (OpenMP builds). */
static int create_state(const char *cmd, const rwkv_model *model, long long n_threads,
                        rwkv_state **state) {
    rwkv_error error;
    if (rwkv_state_create(model, state, &error)) return fail(cmd, "%s", error.message);
    if (rwkv_state_set_threads(*state, (int)n_threads)) return fail(cmd, "out of memory");
    return 0;
}

/* The tokenizer to use: the World vocabulary in vocab_path if given (then
   *loaded owns it), else the model's own. It must fit the model. */
static int choose_tokenizer(const char *cmd, const rwkv_model *model, const char *model_path,
                            const char *vocab_path, const rwkv_tokenizer **tokenizer,
                            rwkv_tokenizer **loaded) {
    rwkv_error error;
    *loaded = NULL;
    if (vocab_path) {
        size_t len = strlen(vocab_path);
        if (len > 5 && !strcmp(vocab_path + len - 5, ".json")) { /* Hugging Face BPE */
            char *json;
            size_t size;
            rwkv_result rc;
            if (read_file(cmd, vocab_path, &json, &size)) return 1;
            rc = rwkv_tokenizer_load_bpe(loaded, json, size, &error);
            free(json);
            if (rc) return fail(cmd, "%s: %s", vocab_path, error.message);
        } else if (rwkv_tokenizer_load_world_file(loaded, vocab_path, &error)) {
            return fail(cmd, "%s", error.message);
        }
        *tokenizer = *loaded;
    } else if (model && rwkv_model_tokenizer(model)) {
        *tokenizer = rwkv_model_tokenizer(model);
    } else {
        return fail(cmd, "%s has no tokenizer; pass --vocab FILE (e.g. rwkv_vocab_v20230424.txt)",
                    model_path);
    }
    if (model && rwkv_tokenizer_vocab_size(*tokenizer) > rwkv_model_n_vocab(model)) {
        rwkv_tokenizer_free(*loaded);
        *loaded = NULL;
        return fail(cmd, "the vocabulary has %d tokens but %s has only %d",
                    rwkv_tokenizer_vocab_size(*tokenizer), model_path, rwkv_model_n_vocab(model));
    }
    return 0;
}

/* "bytes" for the byte tokenizer (id = byte value), "world" for any other
   (a World vocabulary), "none" without one. */
static const char *tokenizer_kind(const rwkv_tokenizer *tokenizer) {
    int id;
    if (!tokenizer) return "none";
    if (rwkv_tokenizer_gguf_merge_count(tokenizer) > 0) return "bpe";
    if (rwkv_tokenizer_vocab_size(tokenizer) != 256) return "world";
    for (id = 0; id < 256; id++) {
        size_t len;
        const char *bytes = rwkv_token_bytes(tokenizer, id, &len);
        if (len != 1 || (unsigned char)bytes[0] != id) return "world";
    }
    return "bytes";
}

/* Encode text into a new array (free() it): 3 * len + 1 ids always suffice
   (len for World and bytes; BPE's NFC may lengthen the text). */
static int tokenize_text(const char *cmd, const rwkv_tokenizer *tokenizer, const char *text,
                         size_t len, int32_t **tokens, size_t *n_tokens) {
    rwkv_error error;
    *tokens = (int32_t *)malloc((3 * len + 1) * sizeof(int32_t));
    if (!*tokens) return fail(cmd, "out of memory");
    if (rwkv_tokenize(tokenizer, text, len, *tokens, 3 * len + 1, n_tokens, &error)) {
        free(*tokens);
        *tokens = NULL;
        return fail(cmd, "%s", error.message);
    }
    return 0;
}

/* Print bytes through the UTF-8 stream, which holds back a character split
   across tokens until it is whole. */
static void print_bytes(rwkv_utf8_stream *stream, const char *bytes, size_t len) {
    enum { CHUNK = 256 };
    char out[3 * (CHUNK + 4)];
    while (len > 0) {
        size_t n = len < CHUNK ? len : CHUNK;
        fwrite(out, 1, rwkv_utf8_stream_push(stream, bytes, n, out), stdout);
        bytes += n;
        len -= n;
    }
}

/* ---- generate ------------------------------------------------------------ */

static int cmd_generate(const char *cmd, int argc, char **argv) {
    const char *model_path = DEFAULT_MODEL, *prompt = "\n", *vocab_path = NULL;
    long long n_generate = 200, seed = -1, threads = 1, top_k = 0;
    double temperature = 0.8, top_p = 0.9, presence = 0.0, frequency = 0.0;
    const option options[] = {
        {"-m", OPTION_STRING, &model_path, 0, 0},
        {"-p", OPTION_STRING, &prompt, 0, 0},
        {"-n", OPTION_INT, &n_generate, 0, 1e9},
        {"-s", OPTION_INT, &seed, 0, (double)LLONG_MAX},
        {"-t", OPTION_INT, &threads, 1, 1024},
        {"--temp", OPTION_FLOAT, &temperature, 0, 100},
        {"--top-p", OPTION_FLOAT, &top_p, 0, 1},
        {"--top-k", OPTION_INT, &top_k, 0, INT_MAX},
        {"--presence-penalty", OPTION_FLOAT, &presence, -1e6, 1e6},
        {"--frequency-penalty", OPTION_FLOAT, &frequency, -1e6, 1e6},
        {"--vocab", OPTION_STRING, &vocab_path, 0, 0},
        {NULL, OPTION_FLAG, NULL, 0, 0}};
    rwkv_model *model = NULL;
    rwkv_state *state = NULL;
    rwkv_sampler *sampler = NULL;
    rwkv_tokenizer *loaded = NULL;
    const rwkv_tokenizer *tokenizer;
    rwkv_sampler_params params = rwkv_sampler_default_params();
    rwkv_utf8_stream stream = {{0}, 0};
    rwkv_error error;
    int32_t *prompt_tokens = NULL, end_of_text = -1;
    size_t n_prompt = 0, len;
    float *logits = NULL;
    double start, prompt_seconds, generate_seconds;
    char tail[12];
    long long n_done = 0;
    int rc = 1;

    if (parse_options(cmd, argc, argv, options, NULL, 0, NULL)) return 1;
    if (seed < 0) seed = clock_seed();
    if (load_model(cmd, model_path, &model) ||
        choose_tokenizer(cmd, model, model_path, vocab_path, &tokenizer, &loaded) ||
        tokenize_text(cmd, tokenizer, prompt, strlen(prompt), &prompt_tokens, &n_prompt))
        goto done;
    if (n_prompt == 0) {
        fail(cmd, "the prompt is empty");
        goto done;
    }
    params.temperature = (float)temperature;
    params.top_p = (float)top_p;
    params.top_k = (int)top_k;
    params.presence_penalty = (float)presence;
    params.frequency_penalty = (float)frequency;
    params.seed = (uint64_t)seed;
    logits = (float *)malloc(sizeof(float) * (size_t)rwkv_model_n_vocab(model));
    if (!logits) {
        fail(cmd, "out of memory");
        goto done;
    }
    if (create_state(cmd, model, threads, &state)) goto done;
    if (rwkv_sampler_create(&sampler, rwkv_model_n_vocab(model), &params, &error)) {
        fail(cmd, "%s", error.message);
        goto done;
    }
    /* a World vocabulary's id 0 is the end-of-text mark: it has no bytes */
    if (rwkv_token_bytes(tokenizer, 0, &len) && len == 0) end_of_text = 0;

    print_bytes(&stream, prompt, strlen(prompt));
    fflush(stdout);
    start = now_seconds();
    if (rwkv_eval_sequence(state, prompt_tokens, n_prompt, logits, &error)) {
        fail(cmd, "%s", error.message);
        goto done;
    }
    prompt_seconds = now_seconds() - start;

    start = now_seconds();
    for (n_done = 0; n_done < n_generate; n_done++) {
        int32_t token = rwkv_sampler_sample(sampler, logits);
        const char *bytes;
        if (token == end_of_text) break;
        bytes = rwkv_token_bytes(tokenizer, token, &len);
        if (bytes) print_bytes(&stream, bytes, len); /* padding ids have no text */
        fflush(stdout);
        if (n_done + 1 < n_generate && rwkv_eval(state, token, logits, &error)) {
            fail(cmd, "%s", error.message);
            goto done;
        }
    }
    generate_seconds = now_seconds() - start;
    fwrite(tail, 1, rwkv_utf8_stream_flush(&stream, tail), stdout);
    fflush(stdout);
    fprintf(stderr,
            "\nprompt_tokens=%zu generated_tokens=%lld prompt_tok_s=%.1f generate_tok_s=%.1f "
            "seed=%lld\n",
            n_prompt, n_done, (double)n_prompt / prompt_seconds,
            (double)n_done / generate_seconds, seed);
    rc = 0;
done:
    free(logits);
    free(prompt_tokens);
    rwkv_sampler_free(sampler);
    rwkv_state_free(state);
    rwkv_tokenizer_free(loaded);
    rwkv_model_free(model);
    return rc;
}

/* ---- logits -------------------------------------------------------------- */

/* Parse "34,105,110" into a new array of ids (free() it). */
static int parse_token_list(const char *cmd, const char *text, int32_t **tokens, size_t *n) {
    size_t capacity = 1;
    const char *p;
    for (p = text; *p; p++) capacity += *p == ',';
    *tokens = (int32_t *)malloc(capacity * sizeof(int32_t));
    if (!*tokens) return fail(cmd, "out of memory");
    *n = 0;
    for (p = text;;) {
        char *end;
        long v;
        errno = 0;
        v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
            free(*tokens);
            *tokens = NULL;
            return fail(cmd, "--tokens expects ids like 34,105,110, not '%s'", text);
        }
        (*tokens)[(*n)++] = (int32_t)v;
        if (!*end) return 0;
        p = end + 1;
    }
}

/* Write n floats as little-endian float32, whatever the host's order. */
static int write_floats_le(FILE *f, const float *values, size_t n, unsigned char *scratch) {
    size_t i;
    for (i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &values[i], 4);
        scratch[4 * i] = (unsigned char)bits;
        scratch[4 * i + 1] = (unsigned char)(bits >> 8);
        scratch[4 * i + 2] = (unsigned char)(bits >> 16);
        scratch[4 * i + 3] = (unsigned char)(bits >> 24);
    }
    return fwrite(scratch, 4, n, f) == n ? 0 : -1;
}

static int cmd_logits(const char *cmd, int argc, char **argv) {
    const char *model_path = NULL, *token_text = NULL, *out_path = NULL;
    int sequence = 0;
    const option options[] = {
        {"-m", OPTION_STRING, &model_path, 0, 0},
        {"--tokens", OPTION_STRING, &token_text, 0, 0},
        {"-o", OPTION_STRING, &out_path, 0, 0},
        {"--seq", OPTION_FLAG, &sequence, 0, 0},
        {NULL, OPTION_FLAG, NULL, 0, 0}};
    rwkv_model *model = NULL;
    rwkv_state *state = NULL;
    rwkv_error error;
    int32_t *tokens = NULL;
    size_t n_tokens = 0, n_vocab, i;
    float *logits = NULL;
    unsigned char *scratch = NULL;
    FILE *out = NULL;
    int written, rc = 1;

    if (parse_options(cmd, argc, argv, options, NULL, 0, NULL)) return 1;
    if (!model_path || !token_text || !out_path)
        return fail(cmd, "needs -m MODEL, --tokens ID,ID,... and -o OUT");
    if (parse_token_list(cmd, token_text, &tokens, &n_tokens) || load_model(cmd, model_path, &model))
        goto done;
    n_vocab = (size_t)rwkv_model_n_vocab(model);
    logits = (float *)malloc(n_vocab * sizeof(float));
    scratch = (unsigned char *)malloc(n_vocab * 4);
    if (!logits || !scratch) {
        fail(cmd, "out of memory");
        goto done;
    }
    if (rwkv_state_create(model, &state, &error)) {
        fail(cmd, "%s", error.message);
        goto done;
    }
    if (!(out = fopen(out_path, "wb"))) {
        fail(cmd, "%s: cannot create (%s)", out_path, strerror(errno));
        goto done;
    }
    /* one row after each token, or with --seq one after the whole sequence */
    for (i = 0; i < (sequence ? 1 : n_tokens); i++) {
        if (sequence ? rwkv_eval_sequence(state, tokens, n_tokens, logits, &error)
                     : rwkv_eval(state, tokens[i], logits, &error)) {
            fail(cmd, "%s", error.message);
            goto done;
        }
        if (write_floats_le(out, logits, n_vocab, scratch)) break;
    }
    written = i == (sequence ? 1 : n_tokens);
    if (fclose(out) || !written) {
        out = NULL;
        fail(cmd, "%s: cannot write", out_path);
        goto done;
    }
    out = NULL;
    rc = 0;
done:
    if (out) fclose(out);
    free(scratch);
    free(logits);
    free(tokens);
    rwkv_state_free(state);
    rwkv_model_free(model);
    return rc;
}

/* ---- tokenize, detokenize ------------------------------------------------ */

/* For tokenize and detokenize: the tokenizer of --vocab FILE or -m MODEL. */
static int open_tokenizer(const char *cmd, const char *model_path, const char *vocab_path,
                          rwkv_model **model, const rwkv_tokenizer **tokenizer,
                          rwkv_tokenizer **loaded) {
    *model = NULL;
    *loaded = NULL;
    if (!model_path && !vocab_path) return fail(cmd, "needs -m MODEL or --vocab FILE");
    if (model_path && load_model(cmd, model_path, model)) return 1;
    return choose_tokenizer(cmd, *model, model_path, vocab_path, tokenizer, loaded);
}

static int cmd_tokenize(const char *cmd, int argc, char **argv) {
    const char *model_path = NULL, *vocab_path = NULL, *text = NULL;
    const option options[] = {
        {"-m", OPTION_STRING, &model_path, 0, 0},
        {"--vocab", OPTION_STRING, &vocab_path, 0, 0},
        {"--text", OPTION_STRING, &text, 0, 0},
        {NULL, OPTION_FLAG, NULL, 0, 0}};
    rwkv_model *model = NULL;
    rwkv_tokenizer *loaded = NULL;
    const rwkv_tokenizer *tokenizer;
    char *input = NULL;
    size_t len, n_tokens = 0, i;
    int32_t *tokens = NULL;
    int rc = 1;

    if (parse_options(cmd, argc, argv, options, NULL, 0, NULL) ||
        open_tokenizer(cmd, model_path, vocab_path, &model, &tokenizer, &loaded))
        goto done;
    if (text) {
        len = strlen(text);
    } else if (read_stream(stdin, &input, &len)) {
        fail(cmd, "cannot read stdin");
        goto done;
    }
    if (tokenize_text(cmd, tokenizer, text ? text : input, len, &tokens, &n_tokens)) goto done;
    for (i = 0; i < n_tokens; i++) printf(i ? " %d" : "%d", (int)tokens[i]);
    putchar('\n');
    rc = 0;
done:
    free(tokens);
    free(input);
    rwkv_tokenizer_free(loaded);
    rwkv_model_free(model);
    return rc;
}

static int cmd_detokenize(const char *cmd, int argc, char **argv) {
    const char *model_path = NULL, *vocab_path = NULL;
    const option options[] = {
        {"-m", OPTION_STRING, &model_path, 0, 0},
        {"--vocab", OPTION_STRING, &vocab_path, 0, 0},
        {NULL, OPTION_FLAG, NULL, 0, 0}};
    const char **words = (const char **)malloc((size_t)(argc ? argc : 1) * sizeof(char *));
    int32_t *tokens = (int32_t *)malloc((size_t)(argc ? argc : 1) * sizeof(int32_t));
    rwkv_model *model = NULL;
    rwkv_tokenizer *loaded = NULL;
    const rwkv_tokenizer *tokenizer;
    rwkv_error error;
    char small[4096], *out = small;
    size_t out_len;
    int n_ids = 0, i, rc = 1;

    if (!words || !tokens) {
        fail(cmd, "out of memory");
        goto done;
    }
    if (parse_options(cmd, argc, argv, options, words, argc, &n_ids) ||
        open_tokenizer(cmd, model_path, vocab_path, &model, &tokenizer, &loaded))
        goto done;
    for (i = 0; i < n_ids; i++) {
        char *end;
        long v;
        errno = 0;
        v = strtol(words[i], &end, 10);
        if (end == words[i] || *end || errno || v < INT32_MIN || v > INT32_MAX) {
            fail(cmd, "expected token ids, not '%s'", words[i]);
            goto done;
        }
        tokens[i] = (int32_t)v;
    }
    /* try a small buffer first; it says how much is needed if short */
    if (rwkv_detokenize(tokenizer, tokens, (size_t)n_ids, out, sizeof(small), &out_len, &error) ==
        RWKV_ERROR_BUFFER_TOO_SMALL) {
        if (!(out = (char *)malloc(out_len))) {
            fail(cmd, "out of memory");
            goto done;
        }
        rwkv_detokenize(tokenizer, tokens, (size_t)n_ids, out, out_len, &out_len, &error);
    }
    if (error.code) {
        fail(cmd, "%s", error.message);
        goto done;
    }
    fwrite(out, 1, out_len, stdout);
    rc = 0;
done:
    if (out != small) free(out);
    free(words);
    free(tokens);
    rwkv_tokenizer_free(loaded);
    rwkv_model_free(model);
    return rc;
}

/* ---- info ---------------------------------------------------------------- */

static int cmd_info(const char *cmd, int argc, char **argv) {
    const char *model_path = NULL;
    int list_tensors = 0, i, d;
    const option options[] = {
        {"-m", OPTION_STRING, &model_path, 0, 0},
        {"--tensors", OPTION_FLAG, &list_tensors, 0, 0},
        {NULL, OPTION_FLAG, NULL, 0, 0}};
    rwkv_model *model;
    rwkv_model_info info;
    const rwkv_tokenizer *tokenizer;

    if (parse_options(cmd, argc, argv, options, NULL, 0, NULL)) return 1;
    if (!model_path) return fail(cmd, "needs -m MODEL");
    if (load_model(cmd, model_path, &model)) return 1;
    rwkv_model_get_info(model, &info);
    tokenizer = rwkv_model_tokenizer(model);
    printf("version=%d\nversion_minor=%d\nformat=%s\n", info.version, info.version_minor,
           info.format);
    printf("n_layer=%d\nn_embd=%d\nn_vocab=%d\nn_ffn=%d\nn_head=%d\nhead_size=%d\n",
           info.n_layer, info.n_embd, info.n_vocab, info.n_ffn, info.n_head, info.head_size);
    printf("tensor_types=%s\nn_tensors=%d\nweight_bytes=%zu\nfile_bytes=%zu\n", info.tensor_types,
           rwkv_model_tensor_count(model), info.weight_bytes, info.file_bytes);
    printf("state_floats=%zu\nstate_blob_size=%zu\n", info.state_floats, info.state_blob_size);
    printf("tokenizer=%s\nvocab_size=%d\n", tokenizer_kind(tokenizer),
           rwkv_tokenizer_vocab_size(tokenizer));
    for (i = 0; list_tensors && i < rwkv_model_tensor_count(model); i++) {
        rwkv_tensor_info t;
        rwkv_model_tensor(model, i, &t);
        printf("tensor=%s type=%s shape=%lld", t.name, rwkv_type_name(t.type), (long long)t.ne[0]);
        for (d = 1; d < t.n_dims; d++) printf("x%lld", (long long)t.ne[d]);
        printf(" bytes=%zu\n", t.n_bytes);
    }
    rwkv_model_free(model);
    return 0;
}

/* ---- convert ------------------------------------------------------------- */

static int is_quantized(int type) {
    return type != RWKV_TYPE_F32 && type != RWKV_TYPE_F16 && type != RWKV_TYPE_BF16;
}

/* A weight matrix proper: two dimensions over 1. Vectors, per-head tables
   ({1, S, H}) and stacked tensors (v6 time_mix_w2, lerp_fused) are not. */
static int is_matrix(const rwkv_tensor_info *t) {
    return t->ne[0] > 1 && t->ne[1] > 1 && t->ne[2] == 1 && t->ne[3] == 1;
}

/* The type a tensor is written in. Everything but matrices is f32. With a
   target type (-1: keep each tensor's type), matrices take it, except that
   a quantized target applies only to the large matrices of the blocks (and
   only where rows fill whole blocks): the embedding, the head and the small
   LoRA matrices become f16, as tools/checkpoint.h and llama.cpp keep them
   unquantized. */
static int output_type(const rwkv_tensor_info *t, int target) {
    static const char *const large[] = {"time_mix_key", "time_mix_value", "time_mix_receptance",
                                        "time_mix_output", "time_mix_gate", "channel_mix_"};
    size_t i;
    if (!is_matrix(t)) return RWKV_TYPE_F32;
    if (target < 0 || t->type == target) return t->type;
    if (!is_quantized(target)) return target;
    for (i = 0; i < sizeof(large) / sizeof(large[0]); i++)
        if (strstr(t->name, large[i]) && rwkv_type_size(target, (uint64_t)t->ne[0])) return target;
    return RWKV_TYPE_F16;
}

/* A tensor's data in another type, in a new buffer (free() it), or NULL
   after a message: decoded to floats and encoded again, a row at a time,
   by rwkv_dequantize_row and rwkv_quantize_row (any type to any type). */
static void *convert_tensor(const char *cmd, const char *path, const rwkv_tensor_info *t,
                            int type) {
    const int64_t row = t->ne[0], rows = (int64_t)(element_count(t) / (uint64_t)t->ne[0]);
    const size_t in_row = rwkv_type_size(t->type, (uint64_t)row), out_row = rwkv_type_size(type, (uint64_t)row);
    float *values = (float *)malloc((size_t)row * sizeof(float));
    unsigned char *out = values && out_row ? (unsigned char *)malloc(out_row * (size_t)rows) : NULL;
    int64_t r;
    if (!out) {
        free(values);
        fail(cmd, out_row ? "out of memory" : "%s: tensor %s: rows of %lld do not fit type %s", path,
             t->name, (long long)row, rwkv_type_name(type));
        return NULL;
    }
    for (r = 0; r < rows; r++) {
        rwkv_dequantize_row(t->type, (const unsigned char *)t->data + (size_t)r * in_row, row, values);
        rwkv_quantize_row(type, values, row, out + (size_t)r * out_row);
    }
    free(values);
    return out;
}

/* ne[dim] of the named tensor, or 0 if the model has none of that name. */
static int64_t tensor_dim(const rwkv_model *model, const char *name, int dim) {
    int i;
    for (i = 0; i < rwkv_model_tensor_count(model); i++) {
        rwkv_tensor_info t;
        rwkv_model_tensor(model, i, &t);
        if (!strcmp(t.name, name)) return t.ne[dim];
    }
    return 0;
}

/* The keys of each version beyond the common ones: the head size from v5
   on, and llama.cpp's own keys for rwkv6 and rwkv7 (LoRA ranks read off the
   tensors), so that llama.cpp can load those files too. */
static int add_version_keys(gguf_writer *w, const rwkv_model *model, const rwkv_model_info *info) {
    char name[64];
    int lora[4] = {0, 0, 0, 0}, layer;
    if (info->version == 6) {
        lora[0] = (int)(tensor_dim(model, "blk.0.time_mix_w1.weight", 1) / 5);
        lora[1] = (int)tensor_dim(model, "blk.0.time_mix_decay_w1.weight", 1);
    }
    if (info->version == 7) {
        lora[0] = (int)tensor_dim(model, "blk.0.time_mix_w1.weight", 1);
        lora[1] = (int)tensor_dim(model, "blk.0.time_mix_a1.weight", 1);
        /* layer 0's value-residual LoRA is a dummy (a copy of a1/a2) */
        for (layer = 1; layer < info->n_layer && !lora[2]; layer++) {
            sprintf(name, "blk.%d.time_mix_v1.weight", layer);
            lora[2] = (int)tensor_dim(model, name, 1);
        }
        lora[3] = (int)tensor_dim(model, "blk.0.time_mix_g1.weight", 1);
    }
    return rwkv_gguf_add_version_keys(w, info->version, info->head_size, info->rescale_every_n_layers, lora);
}

/* A token's bytes as llama.cpp stores World tokens: Python-repr-style text
   (\\ \' \t \n \r, \xHH for other bytes outside printable ASCII). out needs
   4 * len bytes; returns the length written. */
static size_t escape_token(const unsigned char *bytes, size_t len, char *out) {
    static const char hex[] = "0123456789abcdef";
    size_t i, n = 0;
    for (i = 0; i < len; i++) {
        unsigned char c = bytes[i];
        const char *escape = c == '\\' ? "\\\\" : c == '\'' ? "\\'" : c == '\t' ? "\\t"
                           : c == '\n' ? "\\n" : c == '\r' ? "\\r" : NULL;
        if (escape) {
            out[n++] = escape[0];
            out[n++] = escape[1];
        } else if (c >= 0x20 && c < 0x7f) {
            out[n++] = (char)c;
        } else {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    return n;
}

/* The strings of tokenizer.ggml.tokens, kept until the file is written. */
typedef struct vocab_strings {
    char *text;
    const char **strings;
    size_t *lens;
    int32_t *types;
} vocab_strings;

static void vocab_strings_free(vocab_strings *v) {
    free(v->text);
    free(v->strings);
    free(v->lens);
    free(v->types);
}

/* Add a World vocabulary as llama.cpp does: n_vocab entries, "<s>" (control)
   at 0, escaped text (normal) for tokens, "[PAD<i>]" (unused) for the rest. */
static int add_world_vocab(gguf_writer *w, const rwkv_tokenizer *tokenizer, int n_vocab,
                           vocab_strings *v) {
    enum { TOKEN_NORMAL = 1, TOKEN_CONTROL = 3, TOKEN_UNUSED = 5, PAD_MAX = 24 };
    size_t capacity = 0, used = 0, len;
    int id;
    for (id = 0; id < n_vocab; id++)
        capacity += rwkv_token_bytes(tokenizer, id, &len) ? 4 * len + PAD_MAX : PAD_MAX;
    v->text = (char *)malloc(capacity);
    v->strings = (const char **)malloc((size_t)n_vocab * sizeof(char *));
    v->lens = (size_t *)malloc((size_t)n_vocab * sizeof(size_t));
    v->types = (int32_t *)malloc((size_t)n_vocab * sizeof(int32_t));
    if (!v->text || !v->strings || !v->lens || !v->types) return -1;
    for (id = 0; id < n_vocab; id++) {
        const char *bytes = rwkv_token_bytes(tokenizer, id, &len);
        char *s = v->text + used;
        if (id == 0) {
            v->lens[id] = (size_t)sprintf(s, "<s>");
            v->types[id] = TOKEN_CONTROL;
        } else if (bytes && len > 0) {
            v->lens[id] = escape_token((const unsigned char *)bytes, len, s);
            v->types[id] = TOKEN_NORMAL;
        } else {
            v->lens[id] = (size_t)sprintf(s, "[PAD%d]", id);
            v->types[id] = TOKEN_UNUSED;
        }
        v->strings[id] = s;
        used += v->lens[id];
    }
    return gguf_writer_add_str(w, "tokenizer.ggml.model", "rwkv") ||
           gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", v->strings, v->lens,
                                     (size_t)n_vocab) ||
           gguf_writer_add_i32_array(w, "tokenizer.ggml.token_type", v->types, (size_t)n_vocab) ||
           gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 0) ||
           gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 0);
}

/* Add a byte-level BPE vocabulary as llama.cpp's "gpt2" tokenizer: the
   tokens as tokenizer.json writes them, their types, and the merges "a b". */
static int add_bpe_vocab(gguf_writer *w, const rwkv_tokenizer *tokenizer, vocab_strings *v) {
    size_t n_tokens = (size_t)rwkv_tokenizer_vocab_size(tokenizer);
    size_t n_merges = rwkv_tokenizer_gguf_merge_count(tokenizer), capacity = 0, used = 0, i;
    const char **merge_strings;
    size_t *merge_lens;
    int rc;
    for (i = 0; i < n_merges; i++) {
        const char *a, *b;
        size_t a_len, b_len;
        rwkv_tokenizer_gguf_merge(tokenizer, i, &a, &a_len, &b, &b_len);
        capacity += a_len + b_len + 1;
    }
    v->text = (char *)malloc(capacity + 1);
    v->strings = (const char **)malloc((n_tokens + 1) * sizeof(char *));
    v->lens = (size_t *)malloc((n_tokens + 1) * sizeof(size_t));
    v->types = (int32_t *)malloc((n_tokens + 1) * sizeof(int32_t));
    merge_strings = (const char **)malloc((n_merges + 1) * sizeof(char *));
    merge_lens = (size_t *)malloc((n_merges + 1) * sizeof(size_t));
    if (!v->text || !v->strings || !v->lens || !v->types || !merge_strings || !merge_lens) {
        free(merge_strings);
        free(merge_lens);
        return -1;
    }
    for (i = 0; i < n_tokens; i++)
        if (rwkv_tokenizer_gguf_token(tokenizer, (int32_t)i, &v->strings[i], &v->lens[i], &v->types[i])) {
            v->strings[i] = "", v->lens[i] = 0, v->types[i] = 5; /* an id with no token: unused */
        }
    for (i = 0; i < n_merges; i++) {
        const char *a, *b;
        size_t a_len, b_len;
        rwkv_tokenizer_gguf_merge(tokenizer, i, &a, &a_len, &b, &b_len);
        merge_strings[i] = v->text + used;
        memcpy(v->text + used, a, a_len);
        v->text[used + a_len] = ' ';
        memcpy(v->text + used + a_len + 1, b, b_len);
        merge_lens[i] = a_len + b_len + 1;
        used += merge_lens[i];
    }
    rc = gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2") ||
         gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", v->strings, v->lens, n_tokens) ||
         gguf_writer_add_i32_array(w, "tokenizer.ggml.token_type", v->types, n_tokens) ||
         gguf_writer_add_str_array(w, "tokenizer.ggml.merges", merge_strings, merge_lens, n_merges) ||
         gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 0) ||
         gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 0);
    free(merge_strings); /* the writer copied the strings */
    free(merge_lens);
    return rc;
}

/* "dir/model.bin" -> "model". */
static void base_name(const char *path, char *out, size_t size) {
    const char *start = strrchr(path, '/'), *dot;
    size_t len;
    start = start ? start + 1 : path;
    dot = strrchr(start, '.');
    len = dot && dot != start ? (size_t)(dot - start) : strlen(start);
    if (len >= size) len = size - 1;
    memcpy(out, start, len);
    out[len] = 0;
}

static int cmd_convert(const char *cmd, int argc, char **argv) {
    const char *type_name = NULL, *vocab_path = NULL, *paths[2];
    const option options[] = {
        {"--type", OPTION_STRING, &type_name, 0, 0},
        {"--vocab", OPTION_STRING, &vocab_path, 0, 0},
        {NULL, OPTION_FLAG, NULL, 0, 0}};
    rwkv_model *model = NULL;
    rwkv_model_info info;
    rwkv_tokenizer *loaded = NULL;
    const rwkv_tokenizer *tokenizer = NULL;
    gguf_writer *w = NULL;
    vocab_strings vocab = {NULL, NULL, NULL, NULL};
    void **converted = NULL;
    uint64_t matrix_elements_of_type[64] = {0};
    int n_paths, target = -1, n_tensors, i, mostly = RWKV_TYPE_F32, rc = 1;
    char name[256];

    if (parse_options(cmd, argc, argv, options, paths, 2, &n_paths)) return 1;
    if (n_paths != 2) return fail(cmd, "needs IN and OUT.gguf");
    /* official .pth and safetensors checkpoints: tools/checkpoint.h */
    if (checkpoint_is_checkpoint(paths[0])) return checkpoint_run(paths[0], paths[1], type_name, vocab_path);
    if (type_name && parse_type(cmd, type_name, &target)) return 1;
    if (load_model(cmd, paths[0], &model)) return 1;
    rwkv_model_get_info(model, &info);
    n_tensors = rwkv_model_tensor_count(model);
    converted = (void **)calloc((size_t)n_tensors, sizeof(void *));
    w = gguf_writer_create();
    if (!converted || !w) {
        fail(cmd, "out of memory");
        goto done;
    }

    /* the tensors, in the model's order */
    for (i = 0; i < n_tensors; i++) {
        rwkv_tensor_info t;
        const void *data;
        int type;
        rwkv_model_tensor(model, i, &t);
        type = output_type(&t, target);
        data = t.data;
        if (type != t.type && !(data = converted[i] = convert_tensor(cmd, paths[0], &t, type)))
            goto done;
        if (is_matrix(&t)) matrix_elements_of_type[type] += element_count(&t);
        if (gguf_writer_add_tensor(w, t.name, type, t.n_dims, t.ne, data,
                                   rwkv_type_size(type, element_count(&t)))) {
            fail(cmd, "out of memory");
            goto done;
        }
    }
    /* general.file_type names the type that holds most matrix weights */
    for (i = 0; i < 64; i++)
        if (matrix_elements_of_type[i] > matrix_elements_of_type[mostly]) mostly = i;
    base_name(paths[0], name, sizeof(name));
    if (rwkv_gguf_add_common_keys(w, info.version, name, mostly, info.n_layer, info.n_embd,
                                  info.n_ffn) ||
        add_version_keys(w, model, &info)) {
        fail(cmd, "out of memory");
        goto done;
    }

    if (vocab_path || rwkv_model_tokenizer(model)) {
        if (choose_tokenizer(cmd, model, paths[0], vocab_path, &tokenizer, &loaded)) goto done;
        const char *kind = tokenizer_kind(tokenizer);
        if (!strcmp(kind, "bytes")  ? gguf_writer_add_str(w, "tokenizer.ggml.model", "bytes")
            : !strcmp(kind, "bpe") ? add_bpe_vocab(w, tokenizer, &vocab)
                                    : add_world_vocab(w, tokenizer, info.n_vocab, &vocab)) {
            fail(cmd, "out of memory");
            goto done;
        }
    }

    if (gguf_writer_write_file(w, paths[1])) {
        fail(cmd, "%s: cannot write (%s)", paths[1], strerror(errno));
        goto done;
    }
    rc = 0;
done:
    for (i = 0; converted && i < n_tensors; i++) free(converted[i]);
    free(converted);
    vocab_strings_free(&vocab);
    gguf_writer_free(w);
    rwkv_tokenizer_free(loaded);
    rwkv_model_free(model);
    return rc;
}

/* ---- perplexity ---------------------------------------------------------- */

/* -log softmax(logits)[target], computed in double. */
static double negative_log_likelihood(const float *logits, int n_vocab, int32_t target) {
    double max = logits[0], sum = 0.0;
    int i;
    for (i = 1; i < n_vocab; i++)
        if (logits[i] > max) max = logits[i];
    for (i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - max);
    return max + log(sum) - (double)logits[target];
}

static int cmd_perplexity(const char *cmd, int argc, char **argv) {
    const char *model_path = DEFAULT_MODEL, *text_path = NULL, *vocab_path = NULL;
    long long window = 256, threads = 1;
    const option options[] = {
        {"-m", OPTION_STRING, &model_path, 0, 0},
        {"-f", OPTION_STRING, &text_path, 0, 0},
        {"--ctx", OPTION_INT, &window, 1, 1e9},
        {"--vocab", OPTION_STRING, &vocab_path, 0, 0},
        {"-t", OPTION_INT, &threads, 1, 1024},
        {NULL, OPTION_FLAG, NULL, 0, 0}};
    rwkv_model *model = NULL;
    rwkv_state *state = NULL;
    rwkv_tokenizer *loaded = NULL;
    const rwkv_tokenizer *tokenizer;
    rwkv_error error;
    char *text = NULL;
    size_t text_len, n_tokens = 0, start, t, n_windows, bytes = 0, len;
    int32_t *tokens = NULL;
    float *logits = NULL;
    double nats = 0.0, last_report;
    int n_vocab, on_terminal, rc = 1;

    if (parse_options(cmd, argc, argv, options, NULL, 0, NULL)) return 1;
    if (!text_path) return fail(cmd, "needs -f TEXT");
    if (load_model(cmd, model_path, &model) ||
        choose_tokenizer(cmd, model, model_path, vocab_path, &tokenizer, &loaded) ||
        read_file(cmd, text_path, &text, &text_len) ||
        tokenize_text(cmd, tokenizer, text, text_len, &tokens, &n_tokens))
        goto done;
    if (n_tokens < 2) {
        fail(cmd, "%s: needs at least 2 tokens to score", text_path);
        goto done;
    }
    n_vocab = rwkv_model_n_vocab(model);
    if (!(logits = (float *)malloc(sizeof(float) * (size_t)n_vocab))) {
        fail(cmd, "out of memory");
        goto done;
    }
    if (create_state(cmd, model, threads, &state)) goto done;
    /* windows start at 0, N, 2N, ...; each feeds tokens[s .. end) from the
       initial state and scores tokens[s+1 .. end], so every token but the
       first is predicted once (as the training script's windowed_loss) */
    n_windows = (n_tokens - 2) / (size_t)window + 1;
    on_terminal = isatty(fileno(stderr)); /* then progress rewrites one line */
    last_report = now_seconds();
    for (start = 0; start < n_tokens - 1; start += (size_t)window) {
        size_t end = start + (size_t)window < n_tokens - 1 ? start + (size_t)window : n_tokens - 1;
        rwkv_state_reset(state);
        for (t = start; t < end; t++) {
            if (rwkv_eval(state, tokens[t], logits, &error)) {
                fail(cmd, "%s", error.message);
                goto done;
            }
            nats += negative_log_likelihood(logits, n_vocab, tokens[t + 1]);
            if (rwkv_token_bytes(tokenizer, tokens[t + 1], &len)) bytes += len;
        }
        if (end == n_tokens - 1 || now_seconds() - last_report > 1.0) {
            fprintf(stderr, "window %zu/%zu: ppl %.4f%c", start / (size_t)window + 1, n_windows,
                    exp(nats / (double)end), end == n_tokens - 1 || !on_terminal ? '\n' : '\r');
            last_report = now_seconds();
        }
    }
    printf("ctx=%lld tokens=%zu predicted=%zu bytes=%zu nats_per_token=%.6f\n", window, n_tokens,
           n_tokens - 1, bytes, nats / (double)(n_tokens - 1));
    printf("ppl=%.6f bpb=%.6f\n", exp(nats / (double)(n_tokens - 1)), nats / log(2.0) / (double)bytes);
    rc = 0;
done:
    free(logits);
    free(tokens);
    free(text);
    rwkv_state_free(state);
    rwkv_tokenizer_free(loaded);
    rwkv_model_free(model);
    return rc;
}

/* ---- bench --------------------------------------------------------------- */

/* Where the sums below go, so that the compiler cannot skip them. */
static volatile float bandwidth_sink;

/* Peak and current resident memory from /proc/self/status (Linux), in
   KiB: VmHWM, RssAnon (heap: state, scratch) and RssFile (the mapped model
   pages touched so far). 0 if the file or a line is missing. */
static void read_memory_status(long *peak, long *anonymous, long *file_backed) {
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    *peak = *anonymous = *file_backed = 0;
    if (!f) return;
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "VmHWM:", 6)) *peak = strtol(line + 6, NULL, 10);
        if (!strncmp(line, "RssAnon:", 8)) *anonymous = strtol(line + 8, NULL, 10);
        if (!strncmp(line, "RssFile:", 8)) *file_backed = strtol(line + 8, NULL, 10);
    }
    fclose(f);
}

/* Read bandwidth in bytes/s of n_threads threads (the decode's count, so
   that the roofline compares like with like), each summing its share of a
   512 MiB array, far larger than any cache: the best of a few passes. 0 if
   out of memory. */
static double measure_read_bandwidth(int n_threads) {
    enum { REPEATS = 5, LANES = 8 };
    const size_t n = ((size_t)512 << 20) / sizeof(float);
    float *a = (float *)malloc(n * sizeof(float));
    double best = 0.0;
    size_t i;
    int r;
    if (!a) return 0.0;
    for (i = 0; i < n; i++) a[i] = 1.0f; /* also faults every page in */
    for (r = 0; r < REPEATS; r++) {
        const size_t share = n / (size_t)n_threads / LANES * LANES;
        double start = now_seconds(), seconds, total = 0.0;
        int part;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(n_threads) reduction(+ : total)
#endif
        for (part = 0; part < n_threads; part++) {
            /* independent running sums, so the adds are not the bottleneck */
            float sum[LANES] = {0};
            const float *p = a + (size_t)part * share;
            size_t j;
            int k;
            for (j = 0; j < share; j += LANES)
                for (k = 0; k < LANES; k++) sum[k] += p[j + k];
            for (k = 0; k < LANES; k++) total += sum[k];
        }
        seconds = now_seconds() - start;
        bandwidth_sink += (float)total;
        if ((double)(share * (size_t)n_threads * sizeof(float)) / seconds > best)
            best = (double)(share * (size_t)n_threads * sizeof(float)) / seconds;
    }
    free(a);
    return best;
}

/* Weight bytes one decode step reads: every matrix but the embedding, of
   which it reads one row. */
static double weight_bytes_per_token(const rwkv_model *model) {
    double bytes = 0.0;
    int i;
    for (i = 0; i < rwkv_model_tensor_count(model); i++) {
        rwkv_tensor_info t;
        rwkv_model_tensor(model, i, &t);
        if (!strcmp(t.name, "token_embd.weight"))
            bytes += (double)t.n_bytes / (double)t.ne[1];
        else if (!is_vector(&t))
            bytes += (double)t.n_bytes;
    }
    return bytes;
}

static int cmd_bench(const char *cmd, int argc, char **argv) {
    const char *model_path = NULL, *synthetic_name = NULL, *type_name = NULL;
    long long threads = 1, n_prompt = 128, n_gen = 64, n_long = 0;
    int int8 = 0;
    const option options[] = {
        {"-m", OPTION_STRING, &model_path, 0, 0},
        {"--int8", OPTION_FLAG, &int8, 0, 0},
        {"--synthetic", OPTION_STRING, &synthetic_name, 0, 0},
        {"--type", OPTION_STRING, &type_name, 0, 0},
        {"-t", OPTION_INT, &threads, 1, 1024},
        {"--prompt", OPTION_INT, &n_prompt, 1, 1e7},
        {"--gen", OPTION_INT, &n_gen, 1, 1e7},
        {"--long", OPTION_INT, &n_long, 2100, 1e9},
        {NULL, OPTION_FLAG, NULL, 0, 0}};
    rwkv_model *model = NULL;
    rwkv_state *state = NULL;
    rwkv_model_info info;
    rwkv_error error;
    unsigned char *gguf = NULL;
    int32_t *tokens = NULL;
    float *logits = NULL;
    double start, prefill_seconds, decode_seconds, per_token, bytes_per_token, bandwidth;
    double read_bandwidth, load_seconds;
    int type = RWKV_TYPE_F16, rc = 1, bandwidth_threads = 1;
    long long i;

    if (parse_options(cmd, argc, argv, options, NULL, 0, NULL)) return 1;
    if (!model_path == !synthetic_name) return fail(cmd, "needs -m MODEL or --synthetic SHAPE");
    if (type_name && !synthetic_name) return fail(cmd, "--type only applies to --synthetic");
    if (type_name && parse_type(cmd, type_name, &type)) return 1;
    if (synthetic_name) { /* in f16 unless --type says otherwise */
        synthetic_shape shape;
        size_t size;
        if (synthetic_shape_by_name(synthetic_name, type, &shape))
            return fail(cmd, "--synthetic must be one of %s, not '%s'", synthetic_shape_names,
                        synthetic_name);
        if (!(gguf = synthetic_build(&shape, &size)))
            return fail(cmd, "cannot build a %s model of that shape (out of memory?)",
                        rwkv_type_name(type));
        if (rwkv_model_load_memory(&model, gguf, size, &error)) {
            fail(cmd, "synthetic %s: %s", synthetic_name, error.message);
            goto done;
        }
    } else {
        start = now_seconds();
        if (load_model(cmd, model_path, &model)) return 1;
        load_seconds = now_seconds() - start;
        printf("load: %.2f ms\n", 1e3 * load_seconds);
    }
    rwkv_model_get_info(model, &info);
    tokens = (int32_t *)malloc((size_t)(n_prompt + n_gen) * sizeof(int32_t));
    logits = (float *)malloc(sizeof(float) * (size_t)info.n_vocab);
    if (!tokens || !logits) {
        fail(cmd, "out of memory");
        goto done;
    }
    if (create_state(cmd, model, threads, &state)) goto done;
    rwkv_state_set_quantized_input(state, int8);
    for (i = 0; i < n_prompt + n_gen; i++) /* any ids will do: spread them out */
        tokens[i] = (int32_t)((i * 7919 + 13) % info.n_vocab);

    printf("model: %s%s, %d layers, n_embd %d, n_ffn %d, n_vocab %d, types %s, %.1f MiB\n",
           synthetic_name ? "synthetic " : "", synthetic_name ? synthetic_name : model_path,
           info.n_layer, info.n_embd, info.n_ffn, info.n_vocab, info.tensor_types,
           (double)info.weight_bytes / (1 << 20));
#ifdef _OPENMP
    printf("threads: %lld\n", threads);
#else
    printf("threads: 1 (built without OpenMP: -t %lld has no effect)\n", threads);
#endif
    fflush(stdout);

    /* one token first, so that no timing pays for faulting the weights in */
    rwkv_eval(state, tokens[0], logits, NULL);
    rwkv_state_reset(state);

    start = now_seconds();
    rwkv_eval_sequence(state, tokens, (size_t)n_prompt, logits, NULL);
    prefill_seconds = now_seconds() - start;
    printf("prefill: %lld tokens in %.3f s: %.2f tok/s\n", n_prompt, prefill_seconds,
           (double)n_prompt / prefill_seconds);
    fflush(stdout);

    start = now_seconds();
    for (i = 0; i < n_gen; i++) rwkv_eval(state, tokens[n_prompt + i], logits, NULL);
    decode_seconds = now_seconds() - start;
    per_token = decode_seconds / (double)n_gen;
    bytes_per_token = weight_bytes_per_token(model);
    printf("decode: %lld tokens in %.3f s: %.2f tok/s, %.2f ms/token\n", n_gen, decode_seconds,
           (double)n_gen / decode_seconds, 1e3 * per_token);

    if (n_long > 0) { /* the RNN promise: the same time per token at the end as at the start */
        double early = 0.0, late = 0.0;
        rwkv_state_reset(state);
        for (i = 0; i < n_long; i++) {
            if (i == 100 || i == n_long - 1000) start = now_seconds();
            rwkv_eval(state, tokens[i % (n_prompt + n_gen)], logits, NULL);
            if (i == 1099) early = (now_seconds() - start) / 1000.0;
            if (i == n_long - 1) late = (now_seconds() - start) / 1000.0;
        }
        printf("long run: %lld tokens: %.3f ms/token over tokens 100-1099, %.3f ms/token over the last 1000\n",
               n_long, 1e3 * early, 1e3 * late);
    }

    {   /* before the bandwidth test's 512 MiB array */
        long peak, anonymous, file_backed;
        read_memory_status(&peak, &anonymous, &file_backed);
        if (peak > 0)
            printf("memory: peak RSS %.1f MiB = %.1f MiB of mapped model pages + %.1f MiB other "
                   "(state, scratch, program)\n", peak / 1024.0, file_backed / 1024.0, anonymous / 1024.0);
    }
    bandwidth = bytes_per_token / per_token;
    printf("weights read per token: %.1f MiB, implying %.2f GB/s\n", bytes_per_token / (1 << 20),
           bandwidth / 1e9);
#ifdef _OPENMP
    bandwidth_threads = (int)threads;
#endif
    read_bandwidth = measure_read_bandwidth(bandwidth_threads);
    if (read_bandwidth > 0.0) {
        printf("measured read bandwidth: %.2f GB/s (%d thread%s, 512 MiB, best of 5)\n",
               read_bandwidth / 1e9, bandwidth_threads, bandwidth_threads > 1 ? "s" : "");
        printf("roofline fraction: %.3f\n", bandwidth / read_bandwidth);
    } else {
        printf("measured read bandwidth: n/a (no memory for the 512 MiB test array)\n");
    }
    printf("prefill_tok_s=%.3f decode_tok_s=%.3f\n", (double)n_prompt / prefill_seconds,
           (double)n_gen / decode_seconds);
    rc = 0;
done:
    free(logits);
    free(tokens);
    rwkv_state_free(state);
    rwkv_model_free(model);
    free(gguf);
    return rc;
}

/* ---- main ---------------------------------------------------------------- */

typedef struct command {
    const char *name;
    int (*run)(const char *cmd, int argc, char **argv);
} command;

static const command commands[] = {
    {"generate", cmd_generate},     {"logits", cmd_logits},   {"tokenize", cmd_tokenize},
    {"detokenize", cmd_detokenize}, {"info", cmd_info},       {"convert", cmd_convert},
    {"perplexity", cmd_perplexity}, {"bench", cmd_bench}};

int main(int argc, char **argv) {
    size_t i;
    int a;
    for (a = 1; a < argc; a++)
        if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
    if (argc < 2) {
        fputs(usage, stdout);
        return 1;
    }
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(commands[i].name, argc - 2, argv + 2);
    fprintf(stderr, "rwkv: unknown command '%s' (see rwkv --help)\n", argv[1]);
    return 1;
}
