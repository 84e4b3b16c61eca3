/* Shared by the fuzz harnesses: the implementation, and a replay main for
   builds without libFuzzer (-DFUZZ_REPLAY), which runs the harness over the
   files named on the command line (the regression inputs in make test). */
#define RWKV_IMPLEMENTATION
#include "rwkv.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef FUZZ_REPLAY
int main(int argc, char **argv) {
    int i, failed = 0;
    for (i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        unsigned char *data;
        long size;
        if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
            !(data = (unsigned char *)malloc((size_t)size + 1)) ||
            fread(data, 1, (size_t)size, f) != (size_t)size) {
            fprintf(stderr, "%s: cannot read\n", argv[i]);
            failed++;
            if (f) fclose(f);
            continue;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(data, (size_t)size);
        free(data);
    }
    printf("%d passed, %d failed\n", argc - 1 - failed, failed);
    return failed != 0;
}
#endif
