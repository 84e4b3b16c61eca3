#!/usr/bin/env bash
# Side-by-side speed of rwkv.h (bin/rwkv bench) and rwkv.cpp (bench_rwkvcpp)
# on the same RWKV-4 models, alternating the two programs, REPS times per
# cell. Usage: tools/bench/compare.sh MODELS_DIR BENCH_RWKVCPP [REPS] [SHAPES]
# MODELS_DIR holds rwkv4-<shape>-<TYPE>.bin (make_bin_model.py + rwkv.cpp's
# quantizer) and the same converted to .gguf (bin/rwkv convert X.bin X.gguf).
# A shape "V-NAME" (7-0.1b) means the files rwkvV-NAME-<TYPE>.bin/.gguf.
# CHUNKS: rwkv.cpp's chunk sizes to try (default 32,64,128; on the 430M shape
# rwkv.cpp runs out of its context pool at 128 after 32 and 64: use 32,64).
# TYPES: the weight types to run (default FP32 FP16 Q8_0 Q5_1 Q4_0).
# Each GGUF is dropped from the page cache and read back once before its
# runs: a file just written (by bin/rwkv convert) stays in the cache as it
# was written, and decoding from its memory map was then up to 25% slower
# here than once the file had been read back from disk (rwkv.cpp copies its
# .bin into memory and does not depend on this).
set -u
dir=$1; peer=$2; reps=${3:-2}; shapes=${4:-169m}
recache() {
  python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$1"
  cat "$1" > /dev/null
}
for shape in $shapes; do
  case $shape in *-*) stem=rwkv$shape;; *) stem=rwkv4-$shape;; esac
  for type in ${TYPES:-FP32 FP16 Q8_0 Q5_1 Q4_0}; do
    recache "$dir/$stem-$type.gguf"
    for threads in 1 2; do
      for rep in $(seq "$reps"); do
        echo "### $shape $type t=$threads rep=$rep load=$(cut -d' ' -f1 /proc/loadavg)"
        "$peer" "$dir/$stem-$type.bin" "$threads" 512 64 "${CHUNKS:-32,64,128}" 2>/dev/null | grep '^rwkvcpp '
        ./bin/rwkv bench -m "$dir/$stem-$type.gguf" -t "$threads" --prompt 512 --gen 64 | \
          grep -E '^load:|^roofline|prefill_tok_s' | tr '\n' ' ' | sed 's/^/rwkvh /; s/roofline fraction: /roofline=/'; echo
        case $type in Q*)
          ./bin/rwkv bench -m "$dir/$stem-$type.gguf" -t "$threads" --prompt 512 --gen 64 --int8 | \
            grep -E 'prefill_tok_s' | sed 's/^/rwkvh-int8 /';;
        esac
      done
    done
  done
done
