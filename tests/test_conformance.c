/* tests/test_conformance.c - rwkv.h against real models and the official
 * code (`make conformance`).
 *
 *     ./bin/test_conformance [DATA_DIR [RWKV_BIN [WORLD_EXPECTED]]]
 *
 * DATA_DIR (default ../shared/data) holds the tiny rwkv.cpp models, the
 * float64 references of the official BlinkDL code and the World vocabulary
 * (see its README.md); it is not part of the repository, and when it is
 * missing the test says SKIP loudly and passes. RWKV_BIN (default
 * ./bin/rwkv) is the command-line tool, used for `convert`. WORLD_EXPECTED
 * (default tests/data/world_expected.txt) holds token ids computed by the
 * official TRIE_TOKENIZER (tests/data/make_world_expected.py).
 *
 * Checks, each model file token by token over the 64 reference tokens:
 *   - every logit of every step against reference/<stem>/logits.f32;
 *   - the state after 64 tokens against reference/<stem>/state.f32;
 *   - rwkv_eval_sequence over the first t tokens against token by token;
 *   - rwkv.cpp's own expected output (3 tokens) where it agrees with the
 *     official code;
 *   - GGUF conversions by `rwkv convert`: the same logits as the .bin, and
 *     the f16 conversion of the FP32 file against the FP16 reference;
 *   - the World tokenizer against the official one, id for id.
 * Output: the max errors per file, failures with file:line, and last one
 * line "N passed, N failed". Exit status 1 if anything failed.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#endif
#define RWKV_IMPLEMENTATION
#include "rwkv.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a tiny test framework ---------------------------------------------- */

static int g_pass, g_fail;

static void check_(int ok, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    if (ok) {
        g_pass++;
        return;
    }
    g_fail++;
    printf("%s:%d: FAIL ", file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}
#define CHECK(c) check_(!!(c), __FILE__, __LINE__, "%s", #c)
#define CHECKF(c, ...) check_(!!(c), __FILE__, __LINE__, __VA_ARGS__)

/* ---- the data ------------------------------------------------------------- */

/* The tiny models: stem, the file types present, and whether rwkv.cpp's
   expected-logits file agrees with the official code for it (data README:
   yes for v4 and v7 to ~3e-6; v5 uses another group-norm eps in rwkv.cpp;
   v6 has only quantized files here, while the expected logits come from
   rwkv.cpp's full-precision run). */
typedef struct model_entry {
    const char *stem;
    const char *types[4];
    int rwkvcpp_agrees;
} model_entry;

static const model_entry k_models[] = {
    {"tiny-rwkv-4v0-660K", {"FP32", "FP16", "Q5_0", "Q5_1"}, 1},
    {"tiny-rwkv-5v1-730K", {"FP32", "FP16", "Q5_0", "Q5_1"}, 0},
    {"tiny-rwkv-5v2-730K", {"FP32", "FP16", "Q5_0", "Q5_1"}, 0},
    {"tiny-rwkv-6v0-3m", {"Q5_0", "Q5_1", NULL, NULL}, 0},
    {"tiny-rwkv-7v0-834K", {"FP32", "FP16", "Q5_0", "Q5_1"}, 1},
};

/* The RWKV versions (manifest "version") rwkv.h runs, and which of them
   `rwkv convert` can write as GGUF. A version missing from the first list
   is expected to be refused with RWKV_ERROR_UNSUPPORTED and a message
   naming it; adding a version is one entry here. */
static const char *const k_runs[] = {"4", "5.1", "5.2", "6", "7"};
static const char *const k_converts[] = {"4"};

static int in_list(const char *const *list, size_t n, const char *v) {
    size_t i;
    for (i = 0; i < n; i++)
        if (strcmp(list[i], v) == 0) return 1;
    return 0;
}
#define IN_LIST(list, v) in_list((list), sizeof(list) / sizeof((list)[0]), (v))

/* Tolerances.
   LOGIT_TOL: the references are the official code in float64 on each
   file's own (dequantized) weights; the data README measures the
   unmodified official code in float32 within 6e-6 of them. rwkv.h computes
   in float32 on exactly those weights (quantized ones decoded exactly,
   inputs kept in float by default), so it differs from the reference only
   by float32 rounding: a few 1e-6 for these models' dot products of
   <= 4*C terms through 4-12 layers. 1e-4 leaves a 10x margin and is far
   below any real mistake (a wrong eps, transform or layout moves logits by
   1e-2 and more).
   STATE_TOL: the same, relative to 1 + |value| (aa/bb grow with the
   sequence; the v5+ WKV states hold sums of k*v over the tokens).
   SEQ_TOL: rwkv_eval_sequence equals token by token "within float
   rounding" (its chunked matrices sum in another order): ~1e-6 for the
   4-layer RWKV-4 model, 1e-5 allowed. The 12-layer v5-v7 models carry
   more float32 rounding (up to 2e-5 from the float64 reference here), and
   two float32 summation orders may differ by the sum of their deviations:
   SEQ_TOL_V5 = 3e-5 for them, logits and state (relative) alike.
   SAME_WEIGHTS_TOL: a .bin and its GGUF conversion hold the same weights,
   except that the .bin's v4 decay is stored as -exp(decay) and converted
   back with log; one float rounding of w moves the logits by ~1e-7. */
#define LOGIT_TOL 1e-4
#define STATE_TOL 1e-4
#define SEQ_TOL 1e-5
#define SEQ_TOL_V5 3e-5
#define SAME_WEIGHTS_TOL 1e-6

static char g_data[1024];
static const char *g_rwkv_bin;
static char g_tmpdir[64];

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long len;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = (unsigned char *)malloc((size_t)len + 1)) != NULL) {
        if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
            free(buf);
            buf = NULL;
        } else {
            buf[len] = 0;
            *n = (size_t)len;
        }
    }
    fclose(f);
    return buf;
}

static float *read_floats(const char *path, size_t *n) {
    size_t bytes = 0, i;
    unsigned char *b = read_all(path, &bytes);
    float *f;
    if (!b) return NULL;
    *n = bytes / 4;
    f = (float *)malloc(bytes + 4);
    if (!f) exit(3);
    for (i = 0; i < *n; i++) { /* little-endian on any host */
        uint32_t u = (uint32_t)b[4 * i] | ((uint32_t)b[4 * i + 1] << 8) | ((uint32_t)b[4 * i + 2] << 16) |
                     ((uint32_t)b[4 * i + 3] << 24);
        memcpy(&f[i], &u, 4);
    }
    free(b);
    return f;
}

/* Minimal readers for the manifest's flat JSON. */
static const char *json_value(const char *json, const char *key) {
    char pat[64];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\"", key);
    p = strstr(json, pat);
    if (!p) return NULL;
    p = strchr(p + strlen(pat), ':');
    if (!p) return NULL;
    p++;
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
    return p;
}
static int json_string(const char *json, const char *key, char *out, size_t cap) {
    const char *p = json_value(json, key), *e;
    if (!p || *p != '"') return 0;
    e = strchr(p + 1, '"');
    if (!e || (size_t)(e - p - 1) >= cap) return 0;
    memcpy(out, p + 1, (size_t)(e - p - 1));
    out[e - p - 1] = 0;
    return 1;
}
static int json_int(const char *json, const char *key, long *out) {
    const char *p = json_value(json, key);
    char *end;
    if (!p) return 0;
    *out = strtol(p, &end, 10);
    return end != p;
}
static int json_ints(const char *json, const char *key, int32_t *out, int cap) {
    const char *p = json_value(json, key);
    int n = 0;
    if (!p || *p != '[') return -1;
    p++;
    for (;;) {
        char *end;
        long v;
        while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t' || *p == ',') p++;
        if (*p == ']') return n;
        v = strtol(p, &end, 10);
        if (end == p || n == cap) return -1;
        out[n++] = (int32_t)v;
        p = end;
    }
}

typedef struct manifest {
    char version[16];
    long n_layer, n_embd, n_vocab;
    int32_t tokens[64];
    int n_tokens;
} manifest;

static int read_manifest(const char *stem_type, manifest *m) {
    char path[1200];
    size_t n;
    char *json;
    int ok;
    snprintf(path, sizeof path, "%s/tiny-rwkv/reference/%s/manifest.json", g_data, stem_type);
    json = (char *)read_all(path, &n);
    if (!json) return 0;
    ok = json_string(json, "version", m->version, sizeof m->version) && json_int(json, "n_layer", &m->n_layer) &&
         json_int(json, "n_embd", &m->n_embd) && json_int(json, "n_vocab", &m->n_vocab) &&
         (m->n_tokens = json_ints(json, "tokens", m->tokens, 64)) == 64;
    free(json);
    return ok;
}

static rwkv_model *load(const char *path, rwkv_error *err) {
    rwkv_model *model = NULL;
    memset(err, 0, sizeof *err);
    if (rwkv_model_load_file(&model, path, err) != RWKV_OK) return NULL;
    return model;
}

/* Logits after each of the tokens, token by token (n rows of V). */
static float *run_tokens(const rwkv_model *model, const int32_t *tok, int n) {
    int V = rwkv_model_n_vocab(model), t;
    float *out = (float *)malloc(sizeof(float) * (size_t)n * (size_t)V);
    rwkv_state *s = NULL;
    rwkv_error err;
    if (!out) exit(3);
    if (rwkv_state_create(model, &s, &err) != RWKV_OK) {
        CHECKF(0, "state_create: %s", err.message);
        free(out);
        return NULL;
    }
    for (t = 0; t < n; t++)
        if (rwkv_eval(s, tok[t], out + (size_t)t * (size_t)V, &err) != RWKV_OK) {
            CHECKF(0, "rwkv_eval step %d: %s", t, err.message);
            rwkv_state_free(s);
            free(out);
            return NULL;
        }
    rwkv_state_free(s);
    return out;
}

static double max_abs(const float *a, const float *b, size_t n, size_t *where) {
    double m = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= m)) {
            m = e != e ? INFINITY : e;
            if (where) *where = i;
        }
    }
    return m;
}

/* ---- one model file -------------------------------------------------------- */

/* Converts path with `rwkv convert` (extra: more arguments) to a GGUF in
   the temporary directory; returns the model or NULL. */
static rwkv_model *convert_and_load(const char *path, const char *extra, const char *out_name) {
    char out[256], cmd[4096];
    rwkv_error err;
    rwkv_model *m;
    int rc;
    snprintf(out, sizeof out, "%s/%s", g_tmpdir, out_name);
    snprintf(cmd, sizeof cmd, "\"%s\" convert \"%s\" \"%s\" %s > \"%s/convert.log\" 2>&1", g_rwkv_bin, path, out,
             extra, g_tmpdir);
    rc = system(cmd);
    CHECKF(rc == 0, "`%s` failed (%d); see %s/convert.log", cmd, rc, g_tmpdir);
    if (rc != 0) return NULL;
    m = load(out, &err);
    CHECKF(m != NULL, "loading %s: %s", out, err.message);
    remove(out);
    return m;
}

/* The largest difference between two models' weights, tensor by tensor
   (decoded to floats through a 1-row dequantization: only f32/f16 here). */
static double weight_diff(const rwkv_model *a, const rwkv_model *b, int *n_differ) {
    int i, j, na = rwkv_model_tensor_count(a), nb = rwkv_model_tensor_count(b);
    double m = 0;
    *n_differ = 0;
    for (i = 0; i < na; i++) {
        rwkv_tensor_info ta, tb;
        int found = 0;
        memset(&ta, 0, sizeof ta);
        memset(&tb, 0, sizeof tb);
        rwkv_model_tensor(a, i, &ta);
        for (j = 0; j < nb && !found; j++) {
            rwkv_model_tensor(b, j, &tb);
            if (strcmp(ta.name, tb.name) == 0) found = 1;
        }
        if (!found || ta.type != tb.type || ta.n_bytes != tb.n_bytes) {
            ++*n_differ;
            m = INFINITY;
            printf("    weights: %s %s\n", ta.name, found ? "has another type" : "is missing");
            continue;
        }
        if (memcmp(ta.data, tb.data, ta.n_bytes) != 0) {
            ++*n_differ;
            if (ta.type == RWKV_TYPE_F32) {
                size_t k;
                for (k = 0; k < ta.n_bytes / 4; k++)
                    m = fmax(m, fabs((double)((const float *)ta.data)[k] - ((const float *)tb.data)[k]));
            } else {
                m = INFINITY;
            }
        }
    }
    return m;
}

static void check_file(const model_entry *me, const char *type) {
    char stem_type[128], path[1200], rpath[1200];
    manifest mf;
    rwkv_error err;
    rwkv_model *model;
    rwkv_model_info info;
    float *ref = NULL, *ref_state = NULL, *ours = NULL;
    size_t n_ref = 0, n_state = 0, where = 0;
    int runs, V;
    snprintf(stem_type, sizeof stem_type, "%s-%s", me->stem, type);
    snprintf(path, sizeof path, "%s/tiny-rwkv/%s.bin", g_data, stem_type);
    if (!read_manifest(stem_type, &mf)) {
        CHECKF(0, "%s: cannot read its manifest.json", stem_type);
        return;
    }
    runs = IN_LIST(k_runs, mf.version);
    model = load(path, &err);
    if (!runs) {
        char major[4] = {mf.version[0], 0, 0, 0};
        CHECKF(model == NULL && err.code == RWKV_ERROR_UNSUPPORTED,
               "%s (RWKV-%s): expected UNSUPPORTED, got %s (%s) - if rwkv.h runs it now, add \"%s\" to k_runs",
               stem_type, mf.version, model ? "a model" : rwkv_result_string(err.code), err.message, mf.version);
        CHECKF(strstr(err.message, major) != NULL, "%s: message \"%s\" does not name version %s", stem_type,
               err.message, mf.version);
        printf("  %-28s RWKV-%-4s refused: %s\n", stem_type, mf.version, err.message);
        rwkv_model_free(model);
        return;
    }
    CHECKF(model != NULL, "%s: %s (%s)", stem_type, rwkv_result_string(err.code), err.message);
    if (!model) return;
    rwkv_model_get_info(model, &info);
    CHECKF(info.n_layer == mf.n_layer && info.n_embd == mf.n_embd && info.n_vocab == mf.n_vocab,
           "%s: shape L%d C%d V%d, manifest L%ld C%ld V%ld", stem_type, info.n_layer, info.n_embd, info.n_vocab,
           mf.n_layer, mf.n_embd, mf.n_vocab);
    {
        char v[16];
        if (info.version == 5) snprintf(v, sizeof v, "5.%d", info.version_minor);
        else snprintf(v, sizeof v, "%d", info.version);
        CHECKF(strcmp(v, mf.version) == 0, "%s: version %s, manifest %s", stem_type, v, mf.version);
    }
    V = info.n_vocab;
    snprintf(rpath, sizeof rpath, "%s/tiny-rwkv/reference/%s/logits.f32", g_data, stem_type);
    ref = read_floats(rpath, &n_ref);
    snprintf(rpath, sizeof rpath, "%s/tiny-rwkv/reference/%s/state.f32", g_data, stem_type);
    ref_state = read_floats(rpath, &n_state);
    CHECKF(ref && n_ref == (size_t)64 * (size_t)V, "%s: logits.f32 missing or of the wrong size", stem_type);
    ours = run_tokens(model, mf.tokens, 64);
    if (ref && ours && n_ref == (size_t)64 * (size_t)V) {
        double e = max_abs(ours, ref, n_ref, &where);
        printf("  %-28s RWKV-%-4s max |logit - reference| = %.2e (step %zu, token %zu)\n", stem_type, mf.version, e,
               where / (size_t)V, where % (size_t)V);
        CHECKF(e <= LOGIT_TOL, "%s: max logit error %.3g at step %zu, logit %zu", stem_type, e, where / (size_t)V,
               where % (size_t)V);
    }
    /* the state after the 64 tokens */
    {
        rwkv_state *s = NULL;
        if (rwkv_state_create(model, &s, &err) == RWKV_OK &&
            rwkv_eval_sequence(s, mf.tokens, 64, NULL, &err) == RWKV_OK) {
            /* token by token, to compare exactly what the logits came from */
            rwkv_state *t = NULL;
            int k;
            rwkv_state_create(model, &t, &err);
            for (k = 0; k < 64; k++) rwkv_eval(t, mf.tokens[k], NULL, &err);
            CHECKF(ref_state && n_state == info.state_floats, "%s: state.f32 has %zu floats, the state %zu", stem_type,
                   n_state, info.state_floats);
            if (ref_state && n_state == info.state_floats) {
                const float *d = rwkv_state_data(t);
                double m = 0;
                size_t i, wi = 0;
                for (i = 0; i < n_state; i++) {
                    double e = fabs((double)d[i] - ref_state[i]) / (1.0 + fabs((double)ref_state[i]));
                    if (!(e <= m)) m = e != e ? INFINITY : e, wi = i;
                }
                printf("  %-28s           max state error (relative to 1+|x|) = %.2e\n", "", m);
                CHECKF(m <= STATE_TOL, "%s: state error %.3g at float %zu", stem_type, m, wi);
            }
            /* sequence mode over the first t tokens equals token by token */
            if (ours) {
                static const int lens[] = {1, 2, 3, 7, 32, 33, 64};
                const double seq_tol = info.version == 4 ? SEQ_TOL : SEQ_TOL_V5;
                size_t l;
                double worst = 0;
                float *lg = (float *)malloc(sizeof(float) * (size_t)V);
                if (!lg) exit(3);
                for (l = 0; l < sizeof lens / sizeof lens[0]; l++) {
                    rwkv_state_reset(s);
                    if (rwkv_eval_sequence(s, mf.tokens, (size_t)lens[l], lg, &err) != RWKV_OK) {
                        CHECKF(0, "%s: eval_sequence: %s", stem_type, err.message);
                        break;
                    }
                    worst = fmax(worst, max_abs(lg, ours + (size_t)(lens[l] - 1) * (size_t)V, (size_t)V, NULL));
                }
                CHECKF(worst <= seq_tol, "%s: sequence mode differs from token by token by %.3g", stem_type, worst);
                rwkv_state_reset(s);
                rwkv_eval_sequence(s, mf.tokens, 64, NULL, &err);
                {
                    const float *a = rwkv_state_data(s), *b = rwkv_state_data(t);
                    double m = 0;
                    size_t i;
                    for (i = 0; i < info.state_floats; i++) {
                        double e = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
                        if (!(e <= m)) m = e != e ? INFINITY : e;
                    }
                    CHECKF(m <= seq_tol, "%s: sequence-mode state differs by %.3g (relative)", stem_type, m);
                }
                printf("  %-28s           sequence mode vs token by token: %.2e\n", "", worst);
                free(lg);
            }
            rwkv_state_free(t);
        } else {
            CHECKF(0, "%s: state: %s", stem_type, err.message);
        }
        rwkv_state_free(s);
    }
    /* opt-in 8-bit inputs for quantized weights: documented to move the
       logits of these models by up to ~0.3; 0.5 guards against gross
       errors (the integer path is checked precisely in test_rwkv.c) */
    if (type[0] == 'Q' && ref && n_ref == (size_t)64 * (size_t)V) {
        rwkv_state *s = NULL;
        float *lg = (float *)malloc(sizeof(float) * (size_t)V);
        double m = 0;
        int k;
        if (!lg) exit(3);
        if (rwkv_state_create(model, &s, &err) == RWKV_OK) {
            rwkv_state_set_quantized_input(s, 1);
            for (k = 0; k < 64 && rwkv_eval(s, mf.tokens[k], lg, &err) == RWKV_OK; k++)
                m = fmax(m, max_abs(lg, ref + (size_t)k * (size_t)V, (size_t)V, NULL));
            printf("  %-28s           with 8-bit inputs (opt-in): %.2e\n", "", m);
            CHECKF(k == 64 && m <= 0.5, "%s: with quantized inputs the logits move by %.3g", stem_type, m);
            /* and in sequence mode (integer products there too on AVX-512
               VNNI builds), at the last token */
            rwkv_state_reset(s);
            m = 1e30;
            if (rwkv_eval_sequence(s, mf.tokens, 64, lg, &err) == RWKV_OK)
                m = max_abs(lg, ref + (size_t)63 * (size_t)V, (size_t)V, NULL);
            printf("  %-28s           8-bit inputs, sequence of 64: %.2e\n", "", m);
            CHECKF(m <= 0.5, "%s: with quantized inputs in sequence mode the logits move by %.3g", stem_type, m);
        }
        rwkv_state_free(s);
        free(lg);
    }
    /* the model's tokenizer (bytes, 256 tokens) gives the manifest's tokens */
    {
        const rwkv_tokenizer *tk = rwkv_model_tokenizer(model);
        static const char prompt[] = "\"in the beginning was the word, and the word was with RWKV.\" 123";
        int32_t ids[80];
        size_t n = 0;
        CHECKF(tk && rwkv_tokenize(tk, prompt, strlen(prompt), ids, 80, &n, &err) == RWKV_OK && n == 64 &&
                   memcmp(ids, mf.tokens, sizeof mf.tokens) == 0,
               "%s: the byte tokenizer does not give the manifest's tokens", stem_type);
    }
    /* rwkv.cpp's own expected logits after 3 tokens */
    if (strcmp(type, "FP32") == 0 && ours) {
        const char *suffix = me->stem + strlen("tiny-rwkv-");
        size_t n = 0;
        float *exp3;
        snprintf(rpath, sizeof rpath, "%s/tiny-rwkv/expected-logits-%s.bin", g_data, suffix);
        exp3 = read_floats(rpath, &n);
        if (exp3 && n == (size_t)V) {
            double e = max_abs(ours + 2 * (size_t)V, exp3, (size_t)V, NULL);
            printf("  %-28s           vs rwkv.cpp's expected-logits (3 tokens): %.2e%s\n", "", e,
                   me->rwkvcpp_agrees ? "" : " (rwkv.cpp differs from the official code here: not checked)");
            if (me->rwkvcpp_agrees) CHECKF(e <= LOGIT_TOL, "%s: vs rwkv.cpp's expected logits: %.3g", stem_type, e);
        }
        free(exp3);
    }
    /* GGUF conversions: same weights, same logits; f16 of the FP32 file vs
       the FP16 reference */
    if (IN_LIST(k_converts, mf.version) && ours && (strcmp(type, "FP32") == 0 || strcmp(type, "FP16") == 0)) {
        rwkv_model *g = convert_and_load(path, "", "converted.gguf");
        if (g) {
            float *lg = run_tokens(g, mf.tokens, 64);
            if (lg) {
                double e = max_abs(lg, ours, (size_t)64 * (size_t)V, NULL);
                printf("  %-28s           GGUF by `rwkv convert` vs the .bin: %.2e\n", "", e);
                CHECKF(e <= SAME_WEIGHTS_TOL, "%s: converted GGUF differs from the .bin by %.3g", stem_type, e);
            }
            free(lg);
            rwkv_model_free(g);
        }
        if (strcmp(type, "FP32") == 0) {
            char fp16[1200];
            rwkv_model *f16bin;
            g = convert_and_load(path, "--type f16", "converted-f16.gguf");
            snprintf(fp16, sizeof fp16, "%s/tiny-rwkv/%s-FP16.bin", g_data, me->stem);
            f16bin = load(fp16, &err);
            if (g && f16bin) {
                /* f16 rounding of the FP32 weights should give exactly the
                   FP16 file's weights (both round to nearest even, and both
                   keep vectors in f32): then the FP16 reference applies
                   with the same bound as the FP16 file itself */
                int n_differ = 0;
                double wd = weight_diff(g, f16bin, &n_differ);
                float *lg = run_tokens(g, mf.tokens, 64), *ref16;
                size_t n16 = 0;
                snprintf(rpath, sizeof rpath, "%s/tiny-rwkv/reference/%s-FP16/logits.f32", g_data, me->stem);
                ref16 = read_floats(rpath, &n16);
                printf("  %-28s           f16 conversion vs the FP16 file: %d tensors differ", "", n_differ);
                if (n_differ) printf(" (max %.3g)", wd);
                printf("\n");
                CHECKF(n_differ == 0 || wd <= 1e-6, "%s: --type f16 weights differ from the FP16 file's in %d tensors (max %.3g)",
                       stem_type, n_differ, wd);
                if (lg && ref16 && n16 == (size_t)64 * (size_t)V) {
                    double e = max_abs(lg, ref16, n16, NULL);
                    printf("  %-28s           f16 conversion vs the FP16 reference: %.2e\n", "", e);
                    CHECKF(e <= LOGIT_TOL, "%s: --type f16 conversion vs the FP16 reference: %.3g", stem_type, e);
                }
                free(lg);
                free(ref16);
            }
            rwkv_model_free(f16bin);
            rwkv_model_free(g);
        }
    }
    free(ref);
    free(ref_state);
    free(ours);
    rwkv_model_free(model);
}

/* ---- the World tokenizer ------------------------------------------------- */

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void check_world(const char *expected_path) {
    char vpath[1200];
    rwkv_tokenizer *tk = NULL;
    rwkv_error err;
    size_t n = 0, cases = 0, ids_checked = 0;
    char *text = (char *)read_all(expected_path, &n), *line, *next;
    unsigned char *bytes = NULL;
    size_t n_bytes = 0;
    snprintf(vpath, sizeof vpath, "%s/vocab/rwkv_vocab_v20230424.txt", g_data);
    memset(&err, 0, sizeof err);
    CHECKF(rwkv_tokenizer_load_world_file(&tk, vpath, &err) == RWKV_OK, "loading %s: %s", vpath, err.message);
    CHECKF(text != NULL, "cannot read %s", expected_path);
    if (!tk || !text) {
        rwkv_tokenizer_free(tk);
        free(text);
        return;
    }
    CHECKF(rwkv_tokenizer_vocab_size(tk) == 65530, "World vocabulary size %d, want 65530 (ids 0..65529)",
           rwkv_tokenizer_vocab_size(tk));
    bytes = (unsigned char *)malloc(n + 1);
    if (!bytes) exit(3);
    for (line = text; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (line[0] == 'T' && line[1] == ' ') { /* the text, in hex */
            const char *p = line + 2;
            n_bytes = 0;
            while (hexval(p[0]) >= 0 && hexval(p[1]) >= 0) {
                bytes[n_bytes++] = (unsigned char)(hexval(p[0]) * 16 + hexval(p[1]));
                p += 2;
            }
        } else if (line[0] == 'I' && (line[1] == ' ' || line[1] == 0)) { /* the official ids */
            int32_t *want = (int32_t *)malloc(sizeof(int32_t) * (n_bytes + 1)),
                    *got = (int32_t *)malloc(sizeof(int32_t) * (n_bytes + 1));
            size_t nw = 0, ng = 0, nb = 0, k;
            const char *p = line + 1;
            char *end, *back = (char *)malloc(n_bytes + 1);
            if (!want || !got || !back) exit(3);
            for (;;) {
                long v = strtol(p, &end, 10);
                if (end == p || nw > n_bytes) break;
                want[nw++] = (int32_t)v;
                p = end;
            }
            cases++;
            if (rwkv_tokenize(tk, bytes, n_bytes, got, n_bytes, &ng, &err) != RWKV_OK) {
                CHECKF(0, "case %zu (%zu bytes): tokenize: %s", cases, n_bytes, err.message);
            } else {
                for (k = 0; k < ng && k < nw && got[k] == want[k]; k++) {}
                CHECKF(ng == nw && k == nw, "case %zu (%zu bytes): %zu ids, official %zu; first difference at %zu: %d vs %d",
                       cases, n_bytes, ng, nw, k, k < ng ? (int)got[k] : -1, k < nw ? (int)want[k] : -1);
                ids_checked += nw;
                CHECKF(rwkv_detokenize(tk, got, ng, back, n_bytes, &nb, &err) == RWKV_OK && nb == n_bytes &&
                           memcmp(back, bytes, n_bytes) == 0,
                       "case %zu: decode(encode(text)) != text", cases);
            }
            free(want);
            free(got);
            free(back);
        }
    }
    printf("  World tokenizer: %zu texts, %zu ids compared with the official TRIE_TOKENIZER\n", cases, ids_checked);
    CHECKF(cases >= 50, "only %zu cases in %s", cases, expected_path);
    free(bytes);
    free(text);
    rwkv_tokenizer_free(tk);
}

int main(int argc, char **argv) {
    const char *data = argc > 1 ? argv[1] : "../shared/data";
    const char *expected = argc > 3 ? argv[3] : "tests/data/world_expected.txt";
    char probe[1200];
    FILE *f;
    size_t i, j;
    g_rwkv_bin = argc > 2 ? argv[2] : "./bin/rwkv";
    snprintf(g_data, sizeof g_data, "%s", data);
    snprintf(probe, sizeof probe, "%s/tiny-rwkv/reference/tiny-rwkv-4v0-660K-FP32/manifest.json", g_data);
    f = fopen(probe, "rb");
    if (!f) {
        printf("SKIP: conformance data not found (%s); nothing was tested\n", probe);
        printf("0 passed, 0 failed\n");
        return 0;
    }
    fclose(f);
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/rwkv_conformance_XXXXXX");
    if (!mkdtemp(g_tmpdir)) {
        printf("cannot create a temporary directory\n");
        return 1;
    }
    printf("conformance against %s\n", g_data);
    for (i = 0; i < sizeof k_models / sizeof k_models[0]; i++)
        for (j = 0; j < 4 && k_models[i].types[j]; j++) check_file(&k_models[i], k_models[i].types[j]);
    check_world(expected);
    {
        char log[128];
        snprintf(log, sizeof log, "%s/convert.log", g_tmpdir);
        if (g_fail == 0) remove(log);
        if (g_fail == 0) remove(g_tmpdir);
    }
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
