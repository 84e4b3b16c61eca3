#!/usr/bin/env bash
# Runs bench_rwkvcpp over {models} x {formats} x {threads}, REPS times,
# round-robin (rep-major) so that slow drifts in machine load hit every cell
# alike.  Before each run it waits (up to WAIT_S seconds) until the CPU is
# idle enough for the run's thread count (as measured from /proc/stat over
# 2 s); the idle share, the load average and the harness's own cpu_util are
# logged with every run so that contended runs can be recognised.
#
# Usage: tools/bench/run_rwkvcpp.sh OUT.txt [MODELS="169m 430m"] [FORMATS="FP32 FP16 Q8_0 Q5_1 Q4_0"] [THREADS="1 2"] [REPS=3]
# Env:   BENCH=/work/scratch/bench_rwkvcpp  MODELDIR=/work/scratch/models  WAIT_S=60  RUN_TIMEOUT_S=300
#        BENCH_ARGS="512 64 16,32,64"  (extra harness args; 430m needs chunks <= 64,
#        rwkv.cpp aborts building the 128-token graph: "not enough space in the context's memory pool")
set -u
OUT=${1:?out file}
MODELS=${2:-"169m 430m"}
FORMATS=${3:-"FP32 FP16 Q8_0 Q5_1 Q4_0"}
THREADS=${4:-"1 2"}
REPS=${5:-3}
BENCH=${BENCH:-/work/scratch/bench_rwkvcpp}
MODELDIR=${MODELDIR:-/work/scratch/models}
WAIT_S=${WAIT_S:-60}
RUN_TIMEOUT_S=${RUN_TIMEOUT_S:-300}
BENCH_ARGS=${BENCH_ARGS:-}
NCPU=$(nproc)

idle_pct() {  # CPU idle share over 2 s, in percent of all cores
    local a b t k
    a=($(head -1 /proc/stat)); sleep 2; b=($(head -1 /proc/stat))
    t=0; for k in 1 2 3 4 5 6 7 8; do t=$((t + b[k] - a[k])); done
    echo $(( (b[4] - a[4] + b[5] - a[5]) * 100 / (t > 0 ? t : 1) ))
}

for m in $MODELS; do
  for rep in $(seq 1 "$REPS"); do
    for f in $FORMATS; do
      for t in $THREADS; do
        need=$(( t * 100 * 90 / 100 / NCPU ))   # ~90% of the cores we will use
        waited=0; idle=$(idle_pct)
        while [ "$idle" -lt "$need" ] && [ "$waited" -lt "$WAIT_S" ]; do
          waited=$((waited + 2)); idle=$(idle_pct)
        done
        echo "### run model=$m fmt=$f threads=$t rep=$rep date=$(date +%T) idle_before=${idle}% waited=${waited}s loadavg=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT"
        timeout "$RUN_TIMEOUT_S" "$BENCH" "$MODELDIR/rwkv4-$m-$f.bin" "$t" $BENCH_ARGS >> "$OUT" 2>&1
        rc=$?
        echo "### end rc=$rc loadavg=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT"
      done
    done
  done
done
