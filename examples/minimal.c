/* minimal.c - the whole of using rwkv.h: load a model, encode a prompt,
 * evaluate it, sample 100 tokens, decode and print them.
 *   cc -O2 -I. examples/minimal.c -lm && ./a.out [model.gguf]
 */
#define RWKV_IMPLEMENTATION
#include "rwkv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_PROMPT = 64, N_GENERATE = 100 };

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "examples/models/rwkv4-shakespeare.gguf";
    const char *prompt = "ROMEO:";
    static char text[1 << 16];
    rwkv_model *model = NULL;
    rwkv_state *state = NULL;
    rwkv_sampler *sampler = NULL;
    const rwkv_tokenizer *tokenizer;
    rwkv_sampler_params params = rwkv_sampler_default_params();
    rwkv_error error;
    int32_t tokens[MAX_PROMPT + N_GENERATE]; /* the prompt, then what follows */
    size_t n_prompt, text_len;
    float *logits = NULL;
    int i, rc = 1;

    if (rwkv_model_load_file(&model, path, &error)) goto fail;
    tokenizer = rwkv_model_tokenizer(model);
    logits = (float *)malloc(sizeof(float) * (size_t)rwkv_model_n_vocab(model));
    if (!tokenizer || !logits) {
        fprintf(stderr, "minimal: %s\n", tokenizer ? "out of memory" : "the model has no tokenizer");
        goto done;
    }
    params.temperature = 0.8f;
    params.top_p = 0.9f;
    if (rwkv_state_create(model, &state, &error) ||
        rwkv_sampler_create(&sampler, rwkv_model_n_vocab(model), &params, &error) ||
        rwkv_tokenize(tokenizer, prompt, strlen(prompt), tokens, MAX_PROMPT, &n_prompt, &error) ||
        rwkv_eval_sequence(state, tokens, n_prompt, logits, &error))
        goto fail;
    for (i = 0; i < N_GENERATE; i++) {
        /* the sampled token is fed back to get the logits of the next one */
        tokens[n_prompt + i] = rwkv_sampler_sample(sampler, logits);
        if (rwkv_eval(state, tokens[n_prompt + i], logits, &error)) goto fail;
    }
    if (rwkv_detokenize(tokenizer, tokens, n_prompt + N_GENERATE, text, sizeof(text), &text_len,
                        &error))
        goto fail;
    fwrite(text, 1, text_len, stdout);
    putchar('\n');
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "minimal: %s\n", error.message);
done:
    rwkv_sampler_free(sampler);
    rwkv_state_free(state);
    free(logits);
    rwkv_model_free(model);
    return rc;
}
