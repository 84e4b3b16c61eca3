/* One model shared by several threads, each with its own state, gives the
   same logits as the same work done one after another (run under TSan by
   `make tsan`); and a long run keeps the state finite (the RNN promise:
   constant memory and time per token). Self-contained: synthetic models. */
#define _POSIX_C_SOURCE 200809L
#define RWKV_IMPLEMENTATION
#include "rwkv.h"
#include "tools/gguf_writer.h"
#include "tools/synthetic.h"

#include <pthread.h>
#include <time.h>

static int g_pass, g_fail;
#define CHECK(c, ...)                                  \
    do {                                               \
        if (c) {                                       \
            g_pass++;                                  \
        } else {                                       \
            g_fail++;                                  \
            printf("%s:%d: FAIL ", __FILE__, __LINE__); \
            printf(__VA_ARGS__);                       \
            printf("\n");                              \
        }                                              \
    } while (0)

enum { N_THREADS = 4, N_TOKENS = 48, N_VOCAB = 256 };

typedef struct job {
    const rwkv_model *model;
    int seed;
    float logits[N_TOKENS][N_VOCAB];
    rwkv_result result;
} job;

/* Each job feeds its own token stream, one token at a time and then as a
   sequence, and keeps every logit. */
static void *run_job(void *arg) {
    job *j = (job *)arg;
    rwkv_state *state;
    int32_t tokens[N_TOKENS];
    int t;
    for (t = 0; t < N_TOKENS; t++) tokens[t] = (int32_t)((t * 37 + j->seed * 101) % N_VOCAB);
    j->result = rwkv_state_create(j->model, &state, NULL);
    if (j->result) return NULL;
    for (t = 0; t < N_TOKENS && !j->result; t++) j->result = rwkv_eval(state, tokens[t], j->logits[t], NULL);
    rwkv_state_reset(state);
    if (!j->result) j->result = rwkv_eval_sequence(state, tokens, N_TOKENS, j->logits[N_TOKENS - 1], NULL);
    rwkv_state_free(state);
    return NULL;
}

static void test_shared_model(int type) {
    synthetic_shape shape = {2, 64, 256, N_VOCAB, 0, 11, 4, 0, {0, 0, 0, 0}};
    static job parallel[N_THREADS], serial[N_THREADS];
    pthread_t threads[N_THREADS];
    rwkv_model *model;
    unsigned char *gguf;
    size_t size;
    int i;
    shape.type = type;
    gguf = synthetic_build(&shape, &size);
    if (!gguf || rwkv_model_load_memory(&model, gguf, size, NULL)) {
        CHECK(0, "synthetic model");
        return;
    }
    for (i = 0; i < N_THREADS; i++) {
        serial[i].model = parallel[i].model = model;
        serial[i].seed = parallel[i].seed = i;
        run_job(&serial[i]);
    }
    for (i = 0; i < N_THREADS; i++) CHECK(!pthread_create(&threads[i], NULL, run_job, &parallel[i]), "pthread_create");
    for (i = 0; i < N_THREADS; i++) pthread_join(threads[i], NULL);
    for (i = 0; i < N_THREADS; i++) {
        CHECK(parallel[i].result == RWKV_OK && serial[i].result == RWKV_OK, "%s job %d failed", rwkv_type_name(type), i);
        CHECK(!memcmp(parallel[i].logits, serial[i].logits, sizeof(parallel[i].logits)),
              "%s job %d: threads and serial runs differ", rwkv_type_name(type), i);
    }
    rwkv_model_free(model);
    free(gguf);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* 100,000 tokens: the state stays finite, and the time per token at the
   end is printed beside the time at the start (no timed assertion). */
static void test_long_run(void) {
    synthetic_shape shape = {2, 32, 128, N_VOCAB, RWKV_TYPE_F32, 5, 4, 0, {0, 0, 0, 0}};
    rwkv_model *model;
    rwkv_state *state;
    rwkv_model_info info;
    unsigned char *gguf;
    float logits[N_VOCAB];
    double start = 0.0, early = 0.0;
    size_t size, i;
    int t, finite = 1;
    gguf = synthetic_build(&shape, &size);
    if (!gguf || rwkv_model_load_memory(&model, gguf, size, NULL) || rwkv_state_create(model, &state, NULL)) {
        CHECK(0, "synthetic model");
        return;
    }
    rwkv_model_get_info(model, &info);
    for (t = 0; t < 100000 && finite; t++) {
        if (t == 100 || t == 99000) start = now();
        rwkv_eval(state, (int32_t)((t * 7919u) % N_VOCAB), t % 1000 == 999 ? logits : NULL, NULL);
        if (t == 1099) early = (now() - start) / 1000.0;
        if (t == 99999) printf("  long run: %.2f us/token at token 100, %.2f at token 99000\n", 1e6 * early,
                               1e6 * (now() - start) / 1000.0);
        if (t % 1000 == 999) {
            for (i = 0; i < info.state_floats; i++) finite &= isfinite(rwkv_state_data(state)[i]) != 0;
            for (i = 0; i < N_VOCAB; i++) finite &= isfinite(logits[i]) != 0;
        }
    }
    CHECK(finite && t == 100000, "state or logits not finite after %d tokens", t);
    rwkv_state_free(state);
    rwkv_model_free(model);
    free(gguf);
}

int main(void) {
    test_shared_model(RWKV_TYPE_F32);
    test_shared_model(RWKV_TYPE_Q8_0);
    test_long_run();
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
