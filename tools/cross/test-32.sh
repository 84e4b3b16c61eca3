#!/bin/sh
# shellcheck disable=SC2086 # $WARN and $OPT are lists of flags, split on purpose
# tools/cross/test-32.sh - the self-contained suite (tests/test_rwkv.c) as a
# 32-bit x86 program (gcc -m32; runs natively on an x86-64 host): 32-bit
# size_t and pointers. Two builds:
#   x87       -DRWKV_NO_SIMD, the i386 ABI's default x87 floating point
#             (FLT_EVAL_METHOD 2: float arithmetic in long double)
#   sse-avx2  -msse2 -mfpmath=sse -mavx2 -mfma -mf16c: the AVX2 kernels in
#             32-bit mode (skipped when this CPU lacks AVX2/FMA/F16C)
# Each prints the suite's final "N passed, N failed" line; the script exits
# 1 if any build or run failed, 2 if the tools are missing.
# Debian: apt-get install gcc-12-multilib   (not gcc-multilib: it removes
# the Debian cross compilers, see docs/cross-toolchains.md)
# Overrides: CC32 (default gcc), OUT (build directory), OPT (default -O2).
set -u
cd "$(dirname "$0")/../.." || exit 2
CC=${CC32:-gcc}
OUT=${OUT:-build/cross}
OPT=${OPT:--O2}
WARN="-std=c11 -Wall -Wextra -pedantic -Werror"
mkdir -p "$OUT" || exit 2
echo 'int main(void){return 0;}' | $CC -m32 -x c - -o "$OUT/m32_probe" 2>/dev/null || {
    echo "test-32: $CC -m32 cannot link (apt-get install gcc-12-multilib)" >&2
    exit 2
}
status=0

run() {
    name=$1
    shift
    if ! $CC -m32 $WARN $OPT "$@" -I. -o "$OUT/test_rwkv_i686_$name" tests/test_rwkv.c -lm; then
        echo "[i686 $name] BUILD FAILED"
        return 1
    fi
    "$OUT/test_rwkv_i686_$name" >"$OUT/i686_$name.log" 2>&1
    rc=$?
    grep -a "FAIL" "$OUT/i686_$name.log" | head -20
    last=$(grep -a "passed, .* failed" "$OUT/i686_$name.log" | tail -1)
    echo "[i686 $name] ${last:-no result line (exit status $rc)}"
    [ "$rc" -eq 0 ] && [ -n "$last" ]
}

run x87 -DRWKV_NO_SIMD || status=1
if grep -q avx2 /proc/cpuinfo 2>/dev/null && grep -q fma /proc/cpuinfo && grep -q f16c /proc/cpuinfo; then
    run sse-avx2 -msse2 -mfpmath=sse -mavx2 -mfma -mf16c || status=1
else
    echo "[i686 sse-avx2] skipped: this CPU lacks AVX2, FMA or F16C"
fi
[ "$status" -eq 0 ] && echo "test-32: all passed" || echo "test-32: FAILED"
exit $status
