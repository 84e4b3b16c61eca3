/* Checkpoints (torch.save zip + pickle, safetensors) and JSON from untrusted
   bytes, through tools/checkpoint.h: refused with a reason, or converted to
   a GGUF that rwkv.h loads. The converter reads files, so the input goes
   through a temporary file (the bytes also go to the JSON reader directly).
   Build: clang -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_checkpoint.c -lm */
#define _POSIX_C_SOURCE 200809L /* getpid */
#include "fuzz_common.h"
#include "tools/checkpoint.h"

#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char in[64], out[64], err[256];
    checkpoint_options options = checkpoint_default_options();
    ck_json doc;
    FILE *f;
    rwkv_model *model;
    ck_json_parse(&doc, (const char *)data, size, err, sizeof(err));
    ck_json_free(&doc);
    snprintf(in, sizeof(in), "/tmp/fuzz_checkpoint_%ld.pth", (long)getpid());
    snprintf(out, sizeof(out), "/tmp/fuzz_checkpoint_%ld.gguf", (long)getpid());
    if (!(f = fopen(in, "wb"))) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    options.out_type = size % 2 ? RWKV_TYPE_Q8_0 : -1;
    options.progress = 0;
    options.quiet = 1;
    err[0] = 0;
    if (checkpoint_convert_ex(in, out, &options, NULL, err, sizeof(err)) == 0) {
        if (rwkv_model_load_file(&model, out, NULL) != RWKV_OK) abort(); /* what is written must load */
        rwkv_model_free(model);
    } else if (!err[0]) {
        abort(); /* a refusal always says why */
    }
    remove(out);
    remove(in);
    return 0;
}
