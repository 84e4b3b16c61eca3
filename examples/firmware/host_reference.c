/* examples/firmware/host_reference.c - what the firmware must print, computed
   on the host: demo.h's generation with the firmware's rwkv.h configuration
   (RWKV_CHUNK 1, the plain C kernels), the model read into memory.
   Usage: host_reference MODEL.gguf > expected.txt */
#define RWKV_CHUNK 1
#define RWKV_NO_SIMD
#define RWKV_IMPLEMENTATION
#include "rwkv.h"
#include "demo.h"

#include <stdio.h>
#include <stdlib.h>

static void out_text(const char *s, size_t n) { fwrite(s, 1, n, stdout); }
static void out_note(const char *s) { fputs(s, stderr); }

int main(int argc, char **argv) {
    FILE *f;
    long size;
    void *data;
    demo_io io;
    demo_stats st;
    int rc;
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]);
        return 2;
    }
    f = fopen(argv[1], "rb");
    if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET)) {
        fprintf(stderr, "%s: cannot read\n", argv[1]);
        return 1;
    }
    data = malloc((size_t)size); /* malloc's alignment (16) is below 32: rwkv.h copies */
    if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "%s: cannot read\n", argv[1]);
        return 1;
    }
    fclose(f);
    io.text = out_text;
    io.note = out_note;
    io.clock = NULL;
    rc = demo_run(data, (size_t)size, &io, &st);
    free(data);
    return rc;
}
