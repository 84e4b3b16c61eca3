#!/usr/bin/env bash
# Side-by-side speed of rwkv.h (bin/rwkv bench) and rwkv.cpp (bench_rwkvcpp)
# on the same RWKV-4 models, alternating the two programs, REPS times per
# cell. Usage: tools/bench/compare.sh MODELS_DIR BENCH_RWKVCPP [REPS] [SHAPES]
# MODELS_DIR holds rwkv4-<shape>-<TYPE>.bin (make_bin_model.py + rwkv.cpp's
# quantizer) and the same converted to .gguf (bin/rwkv convert X.bin X.gguf).
# A shape "V-NAME" (7-0.1b) means the files rwkvV-NAME-<TYPE>.bin/.gguf.
set -u
dir=$1; peer=$2; reps=${3:-2}; shapes=${4:-169m}
for shape in $shapes; do
  case $shape in *-*) stem=rwkv$shape;; *) stem=rwkv4-$shape;; esac
  for type in FP32 FP16 Q8_0 Q5_1 Q4_0; do
    for threads in 1 2; do
      for rep in $(seq "$reps"); do
        echo "### $shape $type t=$threads rep=$rep load=$(cut -d' ' -f1 /proc/loadavg)"
        "$peer" "$dir/$stem-$type.bin" "$threads" 512 64 32,64,128 2>/dev/null | grep '^rwkvcpp '
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
