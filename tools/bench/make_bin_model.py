#!/usr/bin/env python3
"""Write a random-weight RWKV-4 or RWKV-7 model in rwkv.cpp's legacy .bin format.

Only for speed benchmarks: the weights are random (fixed seed), so the
model's output is meaningless, but the shapes, tensor names, tensor order
and data types are exactly those of a converted RWKV-4 "Pile" checkpoint,
so rwkv.cpp (and rwkv.h) load and run it the same way as a real model.

Format (little-endian):
  header: int32 magic 0x67676d66, version (101), n_vocab, n_embed, n_layer,
          data_type (0 = FP32, 1 = FP16)
  then per tensor: int32 dim_count, int32 key_length, int32 data_type,
          int32 dims[dim_count] (reversed vs PyTorch), key bytes, data.
  In FP16 files, 1-D tensors stay FP32.

Tensor order mirrors /work/shared/data/tiny-rwkv/tiny-rwkv-4v0-660K-FP16.bin
(emb, then per block ln1, ln2, att.*, ffn.*, with blocks.0.ln0 after block 0,
then ln_out, head).

RWKV-7 (presets 7-0.1b, 7-1.5b; --version 7) follows rwkv.cpp's v7 files
(tiny-rwkv-7v0-834K-FP16.bin): the six token-shift mixes fused as
att.x_rwkvag (C,1,6), the LoRA matrices w1/a1/v1/g1 and w2/a2/v2/g2 stored
so that ggml multiplies by them directly (dims (C,D) and (D,C)), r_k as
(N,H) float32, no value-residual LoRA in block 0, ffn.x_k, no
ffn.receptance. LoRA ranks: the official formulas of the v7 training code.

Usage:
  python3 make_bin_model.py --preset 169m --type FP16 out.bin
  python3 make_bin_model.py --layers 12 --embed 768 --vocab 50277 --type FP32 out.bin
  python3 make_bin_model.py --preset 7-0.1b --type FP16 out.bin
Needs Python 3 + numpy only.
"""
import argparse
import struct
import sys

import numpy as np

MAGIC = 0x67676D66
VERSION = 101
PRESETS = {
    "169m": (12, 768, 50277),
    "430m": (24, 1024, 50277),
    "1b5": (24, 2048, 50277),
    "tiny": (4, 128, 256),
    "7-0.1b": (12, 768, 65536),
    "7-1.5b": (24, 2048, 65536),
}


def write_tensor(f, name, arr, file_type):
    """arr has PyTorch shape; 2-D tensors get file_type, 1-D stay FP32."""
    arr = np.asarray(arr)
    if arr.ndim == 2 and file_type == 1 and not name.endswith("att.r_k"):
        data = arr.astype("<f2")
        t = 1
    else:
        data = arr.astype("<f4")
        t = 0
    key = name.encode("utf-8")
    dims = tuple(reversed(arr.shape))
    f.write(struct.pack("<3i", len(dims), len(key), t))
    f.write(struct.pack("<%di" % len(dims), *dims))
    f.write(key)
    f.write(np.ascontiguousarray(data).tobytes())


def lora_rank(C, factor, power):
    """The official v7 rank: max(32, round(C^power * factor / 32) * 32)."""
    return max(32, int(round(C ** power * factor / 32)) * 32)


def write_v7(path, L, C, V, ftype, mat, uni):
    N = 64
    H = C // N
    Dw = lora_rank(C, 1.8, 0.5)
    Da = lora_rank(C, 1.8, 0.5)
    Dv = lora_rank(C, 1.3, 0.5)
    Dg = lora_rank(C, 0.6, 0.8)
    F = 4 * C
    ones = np.ones(C, dtype=np.float32)
    zeros = np.zeros(C, dtype=np.float32)

    def col(v):  # a per-channel vector as rwkv.cpp stores it: dims (C,1,1)
        return np.asarray(v, dtype=np.float32).reshape(1, 1, C)

    def lora(D, scale=0.1):  # (in C -> D, D -> C), dims (C,D) and (D,C)
        return mat(D, C) * np.float32(scale), mat(C, D) * np.float32(scale)

    with open(path, "wb") as f:
        f.write(struct.pack("<6i", MAGIC, VERSION, V, C, L, ftype))
        write_tensor(f, "emb.weight", mat(V, C), ftype)
        for i in range(L):
            b = "blocks.%d." % i
            depth = i / max(L - 1, 1)
            for n in ("ln1", "ln2") + (("ln0",) if i == 0 else ()):
                write_tensor(f, b + n + ".weight", ones, ftype)
                write_tensor(f, b + n + ".bias", zeros, ftype)
            write_tensor(f, b + "att.x_rwkvag", uni(0.0, 1.0, 6 * C).reshape(6, 1, C), ftype)
            w0 = -6.5 + 5.0 * (np.arange(C) / (C - 1)) ** (0.85 + depth ** 0.5)
            for name, D, vec in (("w", Dw, w0), ("a", Da, zeros), ("v", Dv, ones), ("g", Dg, None)):
                if name == "v" and i == 0:
                    continue  # block 0 has no value residual
                one, two = lora(D)
                write_tensor(f, b + "att.%s1" % name, one, ftype)
                write_tensor(f, b + "att.%s2" % name, two, ftype)
                if vec is not None:
                    write_tensor(f, b + "att.%s0" % name, col(vec), ftype)
            write_tensor(f, b + "att.k_k", col(np.full(C, 0.85)), ftype)
            write_tensor(f, b + "att.k_a", col(ones), ftype)
            write_tensor(f, b + "att.r_k", np.full((H, N), -0.04, dtype=np.float32), ftype)
            for n in ("receptance", "key", "value", "output"):
                write_tensor(f, b + "att.%s.weight" % n, mat(C, C), ftype)
            write_tensor(f, b + "att.ln_x.weight", ones, ftype)
            write_tensor(f, b + "att.ln_x.bias", zeros, ftype)
            write_tensor(f, b + "ffn.x_k", col(uni(0.0, 1.0, C)), ftype)
            write_tensor(f, b + "ffn.key.weight", mat(F, C), ftype)
            write_tensor(f, b + "ffn.value.weight", mat(C, F), ftype)
        write_tensor(f, "ln_out.weight", ones, ftype)
        write_tensor(f, "ln_out.bias", zeros, ftype)
        write_tensor(f, "head.weight", mat(V, C), ftype)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--preset", choices=sorted(PRESETS))
    p.add_argument("--layers", type=int)
    p.add_argument("--embed", type=int)
    p.add_argument("--vocab", type=int)
    p.add_argument("--type", choices=["FP32", "FP16"], default="FP16")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--version", type=int, choices=[4, 7])
    a = p.parse_args()
    version = a.version or (7 if a.preset and a.preset.startswith("7-") else 4)

    if a.preset:
        L, C, V = PRESETS[a.preset]
    else:
        L, C, V = 12, 768, 50277
    L = a.layers or L
    C = a.embed or C
    V = a.vocab or V
    ftype = 0 if a.type == "FP32" else 1
    F = 4 * C
    rng = np.random.default_rng(a.seed)

    def mat(out_dim, in_dim):
        # N(0, 1/sqrt(in)) in float32, PyTorch shape (out, in)
        m = rng.standard_normal((out_dim, in_dim), dtype=np.float32)
        m *= np.float32(1.0 / np.sqrt(in_dim))
        return m

    def uni(lo, hi, n):
        return rng.uniform(lo, hi, n).astype(np.float32)

    ones = np.ones(C, dtype=np.float32)
    zeros = np.zeros(C, dtype=np.float32)

    if version == 7:
        write_v7(a.out, L, C, V, ftype, mat, uni)
        print("wrote %s: RWKV-7, %d layers, n_embed %d, n_vocab %d, %s" % (a.out, L, C, V, a.type),
              file=sys.stderr)
        return

    with open(a.out, "wb") as f:
        f.write(struct.pack("<6i", MAGIC, VERSION, V, C, L, ftype))
        write_tensor(f, "emb.weight", mat(V, C), ftype)
        for i in range(L):
            b = "blocks.%d." % i
            write_tensor(f, b + "ln1.weight", ones, ftype)
            write_tensor(f, b + "ln1.bias", zeros, ftype)
            write_tensor(f, b + "ln2.weight", ones, ftype)
            write_tensor(f, b + "ln2.bias", zeros, ftype)
            td = uni(-5.0, 1.0, C)
            write_tensor(f, b + "att.time_decay", -np.exp(td), ftype)
            write_tensor(f, b + "att.time_first", uni(-1.0, 1.0, C), ftype)
            write_tensor(f, b + "att.time_mix_k", uni(0.0, 1.0, C), ftype)
            write_tensor(f, b + "att.time_mix_v", uni(0.0, 1.0, C), ftype)
            write_tensor(f, b + "att.time_mix_r", uni(0.0, 1.0, C), ftype)
            write_tensor(f, b + "att.key.weight", mat(C, C), ftype)
            write_tensor(f, b + "att.value.weight", mat(C, C), ftype)
            write_tensor(f, b + "att.receptance.weight", mat(C, C), ftype)
            write_tensor(f, b + "att.output.weight", mat(C, C), ftype)
            write_tensor(f, b + "ffn.time_mix_k", uni(0.0, 1.0, C), ftype)
            write_tensor(f, b + "ffn.time_mix_r", uni(0.0, 1.0, C), ftype)
            write_tensor(f, b + "ffn.key.weight", mat(F, C), ftype)
            write_tensor(f, b + "ffn.value.weight", mat(C, F), ftype)
            write_tensor(f, b + "ffn.receptance.weight", mat(C, C), ftype)
            if i == 0:
                write_tensor(f, b + "ln0.weight", ones, ftype)
                write_tensor(f, b + "ln0.bias", zeros, ftype)
        write_tensor(f, "ln_out.weight", ones, ftype)
        write_tensor(f, "ln_out.bias", zeros, ftype)
        write_tensor(f, "head.weight", mat(V, C), ftype)
    print("wrote %s: %d layers, n_embed %d, n_vocab %d, %s" % (a.out, L, C, V, a.type), file=sys.stderr)


if __name__ == "__main__":
    main()
