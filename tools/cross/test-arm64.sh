#!/bin/sh
# shellcheck disable=SC2086 # $WARN and $OPT are lists of flags, split on purpose
# tools/cross/test-arm64.sh - the self-contained suite (tests/test_rwkv.c) on
# AArch64, under QEMU user-mode emulation. Three builds, run one after another:
#   neon      the default target (armv8-a): NEON kernels, integer products
#             by widening multiplies (SMULL/SADALP)
#   neon-sdot -march=armv8.2-a+dotprod: the same with the SDOT instruction
#   plain     -DRWKV_NO_SIMD: the plain C kernels
# Each prints the suite's final "N passed, N failed" line; the script exits
# 1 if any build or run failed, 2 if the tools are missing.
# Debian: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
# Overrides: CC_ARM64, QEMU_ARM64, OUT (build directory), OPT (default -O2).
set -u
cd "$(dirname "$0")/../.." || exit 2
CC=${CC_ARM64:-aarch64-linux-gnu-gcc}
QEMU=${QEMU_ARM64:-qemu-aarch64}
OUT=${OUT:-build/cross}
OPT=${OPT:--O2}
WARN="-std=c11 -Wall -Wextra -pedantic -Werror"
for tool in "$CC" "$QEMU"; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "test-arm64: $tool not found (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)" >&2
        exit 2
    }
done
mkdir -p "$OUT" || exit 2
status=0

# build NAME FLAGS...: compile the suite statically (so qemu needs no -L).
# GCC 12.2 for AArch64 crashes (ICE in vect_transform_reduction) on the
# fmax() reductions of the test file at -O2; if it does, say so and build
# again without loop vectorization.
build() {
    name=$1
    shift
    if ! $CC $WARN $OPT "$@" -static -I. -o "$OUT/test_rwkv_$name" tests/test_rwkv.c -lm 2>"$OUT/$name.cc.log"; then
        if grep -q "internal compiler error" "$OUT/$name.cc.log"; then
            echo "[arm64 $name] note: $CC crashed (internal compiler error); rebuilding with -fno-tree-loop-vectorize"
            $CC $WARN $OPT -fno-tree-loop-vectorize "$@" -static -I. -o "$OUT/test_rwkv_$name" tests/test_rwkv.c -lm \
                2>"$OUT/$name.cc.log" && return 0
        fi
        cat "$OUT/$name.cc.log"
        echo "[arm64 $name] BUILD FAILED"
        return 1
    fi
}

run() {
    name=$1
    $QEMU "$OUT/test_rwkv_$name" >"$OUT/$name.log" 2>&1
    rc=$?
    grep -a "FAIL" "$OUT/$name.log" | head -20
    last=$(grep -a "passed, .* failed" "$OUT/$name.log" | tail -1)
    echo "[arm64 $name] ${last:-no result line (exit status $rc)}"
    [ "$rc" -eq 0 ] && [ -n "$last" ]
}

for variant in "neon" "neon-sdot -march=armv8.2-a+dotprod" "plain -DRWKV_NO_SIMD"; do
    set -- $variant
    name=$1
    shift
    if build "$name" "$@"; then
        run "$name" || status=1
    else
        status=1
    fi
done
[ "$status" -eq 0 ] && echo "test-arm64: all passed" || echo "test-arm64: FAILED"
exit $status
