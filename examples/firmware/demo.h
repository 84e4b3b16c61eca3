/* examples/firmware/demo.h - the generation both programs run: the firmware
   (main.c, on a Cortex-M under QEMU) and its host twin (host_reference.c).
   Same model, prompt, sampler and seed, and the same rwkv.h configuration
   (RWKV_CHUNK 1, plain C kernels), so both must print the same text.

   Include after rwkv.h's implementation. */
#ifndef DEMO_H
#define DEMO_H

#include <string.h>

#define DEMO_PROMPT "ROMEO:"
#define DEMO_TOKENS 64

typedef struct demo_io {
    void (*text)(const char *s, size_t n);      /* the generated text          */
    void (*note)(const char *s);                /* progress and errors         */
    uint32_t (*clock)(void);                    /* a tick counter, or NULL     */
} demo_io;

typedef struct demo_stats {
    uint32_t load_ticks, prompt_ticks, gen_ticks;
    size_t prompt_tokens, gen_tokens;
} demo_stats;

static uint32_t demo_now(const demo_io *io) { return io->clock ? io->clock() : 0; }

static int demo_fail(const demo_io *io, const char *what, const rwkv_error *e) {
    io->note(what);
    io->note(": ");
    io->note(e->message);
    io->note("\n");
    return 1;
}

/* Load the model from memory, feed the prompt, sample DEMO_TOKENS tokens
   (temperature 0.8, top-p 0.9, seed 42) and print them as they come. */
static int demo_run(const void *model_data, size_t model_size, const demo_io *io, demo_stats *st) {
    rwkv_model *model = NULL;
    rwkv_state *state = NULL;
    rwkv_sampler *sampler = NULL;
    rwkv_sampler_params params = rwkv_sampler_default_params();
    rwkv_utf8_stream stream;
    rwkv_error e;
    const rwkv_tokenizer *tok;
    static float logits[256];
    int32_t prompt[sizeof(DEMO_PROMPT)];
    char out[3 * (64 + 4)];
    size_t n_prompt = 0, i, n = 0;
    uint32_t t0;

    memset(st, 0, sizeof(*st));
    memset(&stream, 0, sizeof(stream));
    t0 = demo_now(io);
    if (rwkv_model_load_memory(&model, model_data, model_size, &e)) return demo_fail(io, "load", &e);
    if (rwkv_model_n_vocab(model) > 256) {
        io->note("this demo expects a model of at most 256 tokens\n");
        return 1;
    }
    if (rwkv_state_create(model, &state, &e)) return demo_fail(io, "state", &e);
#ifdef DEMO_QUANTIZED_INPUT /* integer products (make QINPUT=1): faster, other text */
    rwkv_state_set_quantized_input(state, 1);
#endif
    params.temperature = 0.8f;
    params.top_p = 0.9f;
    params.seed = 42;
    if (rwkv_sampler_create(&sampler, rwkv_model_n_vocab(model), &params, &e))
        return demo_fail(io, "sampler", &e);
    tok = rwkv_model_tokenizer(model);
    if (!tok) {
        io->note("the model has no tokenizer\n");
        return 1;
    }
    if (rwkv_tokenize(tok, DEMO_PROMPT, strlen(DEMO_PROMPT), prompt, sizeof(prompt) / sizeof(prompt[0]),
                      &n_prompt, &e))
        return demo_fail(io, "tokenize", &e);
    st->load_ticks = demo_now(io) - t0;

    io->text(DEMO_PROMPT, strlen(DEMO_PROMPT));
    t0 = demo_now(io);
    if (rwkv_eval_sequence(state, prompt, n_prompt, logits, &e)) return demo_fail(io, "prompt", &e);
    st->prompt_ticks = demo_now(io) - t0;
    st->prompt_tokens = n_prompt;

    t0 = demo_now(io);
    for (i = 0; i < DEMO_TOKENS; i++) {
        int32_t next = rwkv_sampler_sample(sampler, logits);
        size_t len;
        const char *bytes = rwkv_token_bytes(tok, next, &len);
        n = rwkv_utf8_stream_push(&stream, bytes, bytes ? (len > 64 ? 64 : len) : 0, out);
        io->text(out, n);
        if (rwkv_eval(state, next, logits, &e)) return demo_fail(io, "eval", &e);
    }
    n = rwkv_utf8_stream_flush(&stream, out);
    io->text(out, n);
    io->text("\n", 1);
    st->gen_ticks = demo_now(io) - t0;
    st->gen_tokens = DEMO_TOKENS;

    rwkv_sampler_free(sampler);
    rwkv_state_free(state);
    rwkv_model_free(model);
    return 0;
}

#endif
