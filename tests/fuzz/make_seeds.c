/* Writes the fuzzers' seed corpora: small valid inputs made by the project.
   Usage: make_seeds DIR  (creates DIR/model, DIR/vocab, DIR/text, DIR/state, DIR/bpe, DIR/checkpoint) */
#define _POSIX_C_SOURCE 200809L
#define RWKV_IMPLEMENTATION
#include "rwkv.h"
#include "tools/gguf_writer.h"
#include "tools/synthetic.h"
#include "tests/fuzz/small_bpe.h"

#include <sys/stat.h>

static void write_file(const char *dir, const char *sub, const char *name, const void *data, size_t size) {
    char path[512];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
    f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size) {
        fprintf(stderr, "%s: cannot write\n", path);
        exit(1);
    }
    fclose(f);
}

static void put32(FILE *f, int32_t v) { fwrite(&v, 4, 1, f); }

/* A tiny RWKV-4 in rwkv.cpp's .bin format (little-endian hosts), from a
   loaded model's tensor table, under rwkv.cpp's names. */
static unsigned char *bin_from_model(const rwkv_model *m, size_t *size) {
    static const char *const names[][2] = {
        {"token_embd.weight", "emb.weight"}, {"token_embd_norm.weight", "blocks.0.ln0.weight"},
        {"token_embd_norm.bias", "blocks.0.ln0.bias"}, {"output_norm.weight", "ln_out.weight"},
        {"output_norm.bias", "ln_out.bias"}, {"output.weight", "head.weight"},
        {"blk.0.attn_norm.weight", "blocks.0.ln1.weight"}, {"blk.0.attn_norm.bias", "blocks.0.ln1.bias"},
        {"blk.0.attn_norm_2.weight", "blocks.0.ln2.weight"}, {"blk.0.attn_norm_2.bias", "blocks.0.ln2.bias"},
        {"blk.0.time_mix_lerp_k.weight", "blocks.0.att.time_mix_k"}, {"blk.0.time_mix_lerp_v.weight", "blocks.0.att.time_mix_v"},
        {"blk.0.time_mix_lerp_r.weight", "blocks.0.att.time_mix_r"}, {"blk.0.time_mix_decay.weight", "blocks.0.att.time_decay"},
        {"blk.0.time_mix_first.weight", "blocks.0.att.time_first"}, {"blk.0.time_mix_key.weight", "blocks.0.att.key.weight"},
        {"blk.0.time_mix_value.weight", "blocks.0.att.value.weight"}, {"blk.0.time_mix_receptance.weight", "blocks.0.att.receptance.weight"},
        {"blk.0.time_mix_output.weight", "blocks.0.att.output.weight"}, {"blk.0.channel_mix_lerp_k.weight", "blocks.0.ffn.time_mix_k"},
        {"blk.0.channel_mix_lerp_r.weight", "blocks.0.ffn.time_mix_r"}, {"blk.0.channel_mix_key.weight", "blocks.0.ffn.key.weight"},
        {"blk.0.channel_mix_value.weight", "blocks.0.ffn.value.weight"}, {"blk.0.channel_mix_receptance.weight", "blocks.0.ffn.receptance.weight"},
    };
    rwkv_model_info info;
    char *buffer = NULL;
    size_t n = 0, k;
    int i;
    FILE *f = open_memstream(&buffer, &n);
    rwkv_model_get_info(m, &info);
    put32(f, 0x67676d66), put32(f, 101), put32(f, info.n_vocab), put32(f, info.n_embd), put32(f, 1), put32(f, 0);
    for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
        for (i = 0; i < rwkv_model_tensor_count(m); i++) {
            rwkv_tensor_info t;
            int d;
            rwkv_model_tensor(m, i, &t);
            if (strcmp(t.name, names[k][0])) continue;
            put32(f, t.n_dims), put32(f, (int32_t)strlen(names[k][1])), put32(f, 0);
            for (d = 0; d < t.n_dims; d++) put32(f, (int32_t)t.ne[d]);
            fwrite(names[k][1], 1, strlen(names[k][1]), f);
            if (strstr(t.name, "decay")) { /* rwkv.cpp stores -exp(time_decay) */
                const float *v = (const float *)t.data;
                for (d = 0; d < t.ne[0]; d++) {
                    float x = -expf(v[d]);
                    fwrite(&x, 4, 1, f);
                }
            } else {
                fwrite(t.data, 1, t.n_bytes, f);
            }
        }
    fclose(f);
    *size = n;
    return (unsigned char *)buffer;
}

int main(int argc, char **argv) {
    static const int types[] = {RWKV_TYPE_F32, RWKV_TYPE_F16, RWKV_TYPE_Q8_0, RWKV_TYPE_Q5_1};
    char name[64], vocab[8192];
    size_t i, size, len = 0;
    const char *dir = argc > 1 ? argv[1] : "build/fuzz-seeds";
    rwkv_model *model = NULL;
    rwkv_state *state;
    unsigned char *data;
    mkdir(dir, 0755);
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        synthetic_shape shape = {1, 32, 64, 16, 0, 3, 4, 0, {0, 0, 0, 0}};
        shape.type = types[i];
        data = synthetic_build(&shape, &size);
        snprintf(name, sizeof(name), "tiny-%s.gguf", rwkv_type_name(types[i]));
        write_file(dir, "model", name, data, size);
        if (types[i] == RWKV_TYPE_F32) {
            unsigned char *bin;
            size_t bin_size;
            if (rwkv_model_load_memory(&model, data, size, NULL)) return 1;
            bin = bin_from_model(model, &bin_size);
            write_file(dir, "model", "tiny-f32.bin", bin, bin_size);
            free(bin);
            rwkv_model_free(model);
        }
        free(data);
    }
    /* a vocabulary: every byte, and longer tokens with each kind of literal */
    for (i = 0; i < 256; i++) {
        int printable = i >= 32 && i < 127 && i != '\'' && i != '\\';
        len += (size_t)(printable ? snprintf(vocab + len, sizeof(vocab) - len, "%d '%c' 1\n", (int)i + 1, (int)i)
                                  : snprintf(vocab + len, sizeof(vocab) - len, "%d b'\\x%02x' 1\n", (int)i + 1, (unsigned)i));
    }
    len += (size_t)snprintf(vocab + len, sizeof(vocab) - len,
                            "257 'th' 2\n258 'the' 3\n259 '\\n\\n' 2\n260 \"it's\" 4\n261 '\\u00e9t\\u00e9' 5\n262 b'\\xe4\\xb8' 2\n263 ' \\\\' 2\n");
    write_file(dir, "vocab", "small.txt", vocab, len);
    write_file(dir, "text", "mixed.txt", "h\xc3\xa9llo \xe4\xb8\xad\xf0\x9f\x98\x80 \xff\xc3", 19);
    write_file(dir, "bpe", "small.json", small_json, sizeof(small_json) - 1);
    {   /* a one-tensor safetensors file, for the checkpoint reader */
        static const char header[] = "{\"emb.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
        unsigned char file[8 + sizeof(header) - 1 + 16];
        uint64_t len = sizeof(header) - 1;
        int b;
        for (b = 0; b < 8; b++) file[b] = (unsigned char)(len >> (8 * b));
        memcpy(file + 8, header, (size_t)len);
        memset(file + 8 + len, 0, 16);
        write_file(dir, "checkpoint", "tiny.safetensors", file, sizeof(file));
    }
    write_file(dir, "bpe", "text.txt", "the cat<|endoftext|> 's  \t\r\n12 \xc3\xa9",
               strlen("the cat<|endoftext|> 's  \t\r\n12 \xc3\xa9"));
    /* a state of fuzz_state's model */
    {
        synthetic_shape shape = {2, 32, 128, 256, RWKV_TYPE_F32, 7, 4, 0, {0, 0, 0, 0}};
        rwkv_model_info info;
        unsigned char *blob;
        int32_t tokens[4] = {1, 2, 3, 4};
        data = synthetic_build(&shape, &size);
        if (rwkv_model_load_memory(&model, data, size, NULL) || rwkv_state_create(model, &state, NULL)) return 1;
        rwkv_eval_sequence(state, tokens, 4, NULL, NULL);
        rwkv_model_get_info(model, &info);
        blob = (unsigned char *)malloc(info.state_blob_size);
        rwkv_state_export(state, blob, info.state_blob_size, NULL);
        write_file(dir, "state", "after4.bin", blob, info.state_blob_size);
        free(blob);
        rwkv_state_free(state);
        rwkv_model_free(model);
        free(data);
    }
    return 0;
}
