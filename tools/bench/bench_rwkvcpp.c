/* bench_rwkvcpp.c: speed benchmark for the peer library rwkv.cpp
 * (https://github.com/RWKV/rwkv.cpp), so that rwkv.h can be compared with it
 * on the same model files.  It is NOT part of rwkv.h's build; it links
 * against rwkv.cpp's own librwkv.
 *
 * Build (rwkv.cpp built in /work/scratch/rwkv.cpp/build, see README.md):
 *
 *   R=/work/scratch/rwkv.cpp
 *   cc -O2 -std=c11 -o /work/scratch/bench_rwkvcpp tools/bench/bench_rwkvcpp.c \
 *      -I$R -L$R/build -lrwkv -Wl,-rpath,$R/build:$R/build/ggml/src -lm
 *
 * Run:
 *   /work/scratch/bench_rwkvcpp MODEL.bin THREADS [PREFILL_LEN=512] [DECODE_LEN=64] [CHUNKS=16,32,64,128]
 *
 * Measures (wall clock, CLOCK_MONOTONIC):
 *   load    rwkv_init_from_file (the page cache is usually warm: this is
 *           mostly the parse and the copy into ggml buffers)
 *   cpu_util = process CPU time / wall time / threads for that phase: a
 *           value well below 1 means other processes took the cores.
 *   decode  DECODE_LEN tokens one at a time with rwkv_eval, logits computed,
 *           after 4 warm-up tokens; reports ms/token and tokens/s
 *   prefill PREFILL_LEN tokens with rwkv_eval_sequence_in_chunks for each
 *           chunk size (logits of the last token computed); before each
 *           timed run one chunk is evaluated untimed so that the graph for
 *           that chunk length is built and allocated (rwkv.cpp caches one
 *           sequence graph, rebuilt whenever the length changes).
 * Tokens are pseudo-random in [0, n_vocab) from a fixed LCG.
 * Last line: "rwkvcpp model=... threads=... load_ms=... prefill_tok_s=<best>
 *             best_chunk=... decode_tok_s=... decode_ms_tok=... decode_util=..."
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>

#include "rwkv.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process (all threads): cpu/wall/threads near 1.0
 * means the threads got their cores; well below 1 means the machine was busy. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static uint32_t lcg_state = 12345u;
static uint32_t next_token(uint32_t n_vocab) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return (lcg_state >> 8) % n_vocab;
}

int main(int argc, char ** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.bin THREADS [PREFILL_LEN=512] [DECODE_LEN=64] [CHUNKS=16,32,64,128]\n", argv[0]);
        return 2;
    }
    const char * path = argv[1];
    const uint32_t n_threads = (uint32_t) atoi(argv[2]);
    const size_t prefill_len = argc > 3 ? (size_t) atol(argv[3]) : 512;
    const int decode_len = argc > 4 ? atoi(argv[4]) : 64;
    size_t chunks[16];
    int n_chunks = 0;
    {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", argc > 5 ? argv[5] : "16,32,64,128");
        for (char * tok = strtok(buf, ","); tok && n_chunks < 16; tok = strtok(NULL, ",")) {
            chunks[n_chunks++] = (size_t) atol(tok);
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char * name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

    printf("system_info: %s\n", rwkv_get_system_info_string());

    double t0 = now_s();
    struct rwkv_context * ctx = rwkv_init_from_file(path, n_threads, 0);
    double load_ms = (now_s() - t0) * 1e3;
    if (!ctx) {
        fprintf(stderr, "failed to load %s\n", path);
        return 1;
    }
    const uint32_t n_vocab = (uint32_t) rwkv_get_n_vocab(ctx);
    const size_t state_len = rwkv_get_state_len(ctx);
    const size_t logits_len = rwkv_get_logits_len(ctx);
    printf("model=%s n_vocab=%u n_embed=%zu n_layer=%zu threads=%u\n", name, n_vocab,
           rwkv_get_n_embed(ctx), rwkv_get_n_layer(ctx), n_threads);
    printf("load: %.1f ms\n", load_ms);

    float * state = malloc(state_len * sizeof(float));
    float * logits = malloc(logits_len * sizeof(float));
    uint32_t * tokens = malloc(prefill_len * sizeof(uint32_t));
    if (!state || !logits || !tokens) return 1;
    for (size_t i = 0; i < prefill_len; i++) tokens[i] = next_token(n_vocab);

    /* ---- decode ---- */
    rwkv_init_state(ctx, state);
    for (int i = 0; i < 4; i++) {
        if (!rwkv_eval(ctx, next_token(n_vocab), state, state, logits)) { fprintf(stderr, "rwkv_eval failed\n"); return 1; }
    }
    t0 = now_s();
    double c0 = cpu_s();
    for (int i = 0; i < decode_len; i++) {
        if (!rwkv_eval(ctx, next_token(n_vocab), state, state, logits)) { fprintf(stderr, "rwkv_eval failed\n"); return 1; }
    }
    double dec_s = now_s() - t0;
    double dec_util = (cpu_s() - c0) / dec_s / n_threads;
    double dec_ms_tok = dec_s * 1e3 / decode_len;
    double dec_tok_s = decode_len / dec_s;
    printf("decode: %d tokens, %.2f ms/token, %.2f tok/s, cpu_util %.2f (logit[0]=%g)\n", decode_len, dec_ms_tok, dec_tok_s, dec_util, (double) logits[0]);

    /* ---- prefill ---- */
    double best = 0.0;
    size_t best_chunk = 0;
    for (int c = 0; c < n_chunks; c++) {
        size_t cs = chunks[c];
        size_t warm = cs < prefill_len ? cs : prefill_len;
        rwkv_init_state(ctx, state);
        /* untimed: build + allocate the graph for this chunk length */
        if (!rwkv_eval_sequence_in_chunks(ctx, tokens, warm, cs, state, state, logits)) { fprintf(stderr, "prefill warm-up failed\n"); return 1; }
        rwkv_init_state(ctx, state);
        t0 = now_s();
        double c1 = cpu_s();
        if (!rwkv_eval_sequence_in_chunks(ctx, tokens, prefill_len, cs, state, state, logits)) { fprintf(stderr, "prefill failed\n"); return 1; }
        double s = now_s() - t0;
        double util = (cpu_s() - c1) / s / n_threads;
        double tps = prefill_len / s;
        printf("prefill: %zu tokens, chunk %zu: %.1f ms, %.2f tok/s, cpu_util %.2f (logit[0]=%g)\n", prefill_len, cs, s * 1e3, tps, util, (double) logits[0]);
        if (tps > best) { best = tps; best_chunk = cs; }
    }
    printf("prefill_best: chunk %zu, %.2f tok/s\n", best_chunk, best);

    printf("rwkvcpp model=%s threads=%u load_ms=%.1f prefill_tok_s=%.2f best_chunk=%zu decode_tok_s=%.2f decode_ms_tok=%.2f decode_util=%.2f\n",
           name, n_threads, load_ms, best, best_chunk, dec_tok_s, dec_ms_tok, dec_util);

    rwkv_free(ctx);
    free(state); free(logits); free(tokens);
    return 0;
}
