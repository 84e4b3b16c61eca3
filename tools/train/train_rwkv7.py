#!/usr/bin/env python3
"""Train a small byte-level RWKV-7 ("Goose", x070) model (vocab 256, token = byte value).

The model is the plain RWKV-7 architecture with the parameter names and shapes
of BlinkDL's x070 .pth checkpoints (head size 64, so n_embd must be a multiple
of 64), so the result converts with `bin/rwkv convert` like an official file.
The recurrence (the "generalized delta rule") runs in plain PyTorch, in
float32, in chunks (exact, see wkv7 below); no custom CUDA kernel.

Outputs:
  --out-pth   official-style .pth (dict of float32 tensors)
  --out-log   JSON log (shape, hyper-parameters, timing, losses)

Validation metric (identical to `rwkv perplexity --ctx N`): the validation
bytes are cut into windows starting at 0, N, 2N, ...; each window is run from
the initial (zero) state and predicts its next bytes; the mean cross-entropy
over all n_val-1 predictions is reported in nats, bits per byte and ppl.

Examples:
  python3 train_rwkv7.py --selftest
  python3 train_rwkv7.py --data tinyshakespeare.txt --out-pth m.pth --out-log m.json
  python3 train_rwkv7.py --data tinyshakespeare.txt --eval-only --load m.pth --ctx 512
  python3 train_rwkv7.py --load m.pth --generate 300 --prompt "ROMEO:"
"""
import argparse
import copy
import json
import math
import os
import platform
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HEAD_SIZE = 64
DECAY_SCALE = 0.606531  # e^-0.5: decay w = exp(-DECAY_SCALE * sigmoid(w0 + ...)), in (0.545, 1)


def hi(t):
    """t in float32, or float64 if it already is (the self-test runs in both)."""
    return t if t.dtype == torch.float64 else t.float()


# --------------------------------------------------------------------------
# WKV-7: the state recurrence, in chunks
# --------------------------------------------------------------------------
def wkv7(r, logw, k, v, kk, a, chunk=32):
    """RWKV-7 recurrence for a whole sequence from the zero state.

    All inputs (B, T, H, N).  Per head, with the state S (N x N) indexed
    S[v index][k index], token by token:
        S_t = S_{t-1} (diag(w_t) - kk_t (kk_t a_t)^T) + v_t k_t^T,  out_t = S_t r_t
    where w_t = exp(logw_t).  Returns out (B, T, H, N), float32.

    Chunked and exact (up to float32 rounding).  Inside a chunk of length L,
    let g_t = prod_{s<=t} w_s (cumulative decay from the chunk start, g_0 = 1),
    alpha = -kk, beta = kk*a, and u_t = S_{t-1} alpha_t.  Writing
    S_t = S^ diag(g_t), every term of S^ is a sum of rank-1 updates, so
        u_t   = S_0 (g_{t-1} alpha_t) + sum_{s<t} u_s <g_{t-1}alpha_t, beta_s/g_s>
                                      + sum_{s<t} v_s <g_{t-1}alpha_t, k_s/g_s>
        out_t = S_0 (g_t r_t)         + sum_{s<=t} u_s <g_t r_t, beta_s/g_s>
                                      + sum_{s<=t} v_s <g_t r_t, k_s/g_s>
        S_L   = S_0 diag(g_L) + sum_s (u_s beta_s^T + v_s k_s^T) diag(g_L/g_s).
    The u's solve a unit lower-triangular L x L system.  Everything that does
    not involve S_0 is computed for all chunks at once; what is left is a
    linear scan over chunks, S_L = S_0 A + B.  Since w > 0.545, 1/g_s stays
    below e^(0.61 L) (2.7e8 for L = 32), so float32 is ample for L <= 64.
    """
    with torch.autocast(device_type=r.device.type, enabled=False):
        r, logw, k, v, kk, a = (hi(t) for t in (r, logw, k, v, kk, a))
        B, T, H, N = r.shape
        dt, dev = r.dtype, r.device
        L = chunk
        pad = (-T) % L
        if pad:  # padding after the real tokens cannot influence them (w = 1 there)
            r, logw, k, v, kk, a = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (r, logw, k, v, kk, a))
        n = (T + pad) // L
        # (B, T, H, N) -> (B, H, n, L, N)
        r, logw, k, v, kk, a = (t.view(B, n, L, H, N).permute(0, 3, 1, 2, 4) for t in (r, logw, k, v, kk, a))
        alpha, beta = -kk, kk * a

        lg = torch.cumsum(logw, dim=3)            # log g_t, inclusive
        lg_prev = lg - logw                       # log g_{t-1}
        lg_end = lg[:, :, :, -1:, :]              # log g_L
        a_t = alpha * torch.exp(lg_prev)          # g_{t-1} alpha_t
        r_t = r * torch.exp(lg)                   # g_t r_t
        inv_g = torch.exp(-lg)
        b_h, k_h = beta * inv_g, k * inv_g        # beta_s / g_s, k_s / g_s

        lower = torch.ones(L, L, dtype=torch.bool, device=dev).tril(-1)
        lower_eq = torch.ones(L, L, dtype=torch.bool, device=dev).tril(0)
        zero = torch.zeros((), dtype=dt, device=dev)
        M_ab = torch.where(lower, a_t @ b_h.transpose(-1, -2), zero)     # (.., L, L)
        M_ak = torch.where(lower, a_t @ k_h.transpose(-1, -2), zero)
        M_rb = torch.where(lower_eq, r_t @ b_h.transpose(-1, -2), zero)
        M_rk = torch.where(lower_eq, r_t @ k_h.transpose(-1, -2), zero)

        # (I - M_ab)^-1 = (I + M)(I + M^2)(I + M^4)...: M is nilpotent (M^L = 0)
        eye = torch.eye(L, dtype=dt, device=dev)
        inv = eye + M_ab
        Mp, p = M_ab, 1
        while 2 * p < L:
            Mp = Mp @ Mp
            inv = inv + inv @ Mp
            p *= 2
        W = inv @ a_t                             # u = W S_0^T + U      (L, N)
        U = inv @ (M_ak @ v)
        Q = r_t + M_rb @ W                        # out = Q S_0^T + O_in
        O_in = M_rb @ U + M_rk @ v
        tail = torch.exp(lg_end - lg)             # g_L / g_s
        b_e, k_e = beta * tail, k * tail
        A = torch.diag_embed(torch.exp(lg_end[:, :, :, 0, :])) + W.transpose(-1, -2) @ b_e   # (B,H,n,N,N)
        Bm = U.transpose(-1, -2) @ b_e + v.transpose(-1, -2) @ k_e

        # sequential part: the state entering each chunk
        S = torch.zeros(B, H, N, N, dtype=dt, device=dev)
        starts = []
        for A_c, B_c in zip(A.unbind(2), Bm.unbind(2)):   # unbind: one cheap backward, unlike slicing
            starts.append(S)
            S = torch.baddbmm(B_c.reshape(-1, N, N), S.reshape(-1, N, N), A_c.reshape(-1, N, N)).view(B, H, N, N)
        S0 = torch.stack(starts, dim=2)           # (B, H, n, N, N)
        out = Q @ S0.transpose(-1, -2) + O_in     # (B, H, n, L, N)
        out = out.permute(0, 2, 3, 1, 4).reshape(B, n * L, H, N)
        return out[:, :T]


# --------------------------------------------------------------------------
# Model (official RWKV-7 parameter names and shapes)
# --------------------------------------------------------------------------
def token_shift(x):
    """Previous token's vector, zeros before the first token.  x: (B, T, C)."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)


def lora_dims(C):
    """LoRA ranks (decay, a, value residual, gate) as suggested by the official training code."""
    d = lambda f: max(32, int(round(f * C ** 0.5 / 32) * 32))
    return d(2.5), d(2.5), d(1.7), d(5.0)


def ortho(rows, cols, scale):
    t = torch.empty(rows, cols)
    gain = math.sqrt(rows / cols) if rows > cols else 1.0
    nn.init.orthogonal_(t, gain=gain * scale)
    return t


class TimeMix(nn.Module):
    def __init__(self, C, layer, n_layer, dims):
        super().__init__()
        H, N = C // HEAD_SIZE, HEAD_SIZE
        Dw, Da, Dv, Dg = dims
        self.layer, self.H = layer, H
        r01 = layer / max(n_layer - 1, 1)          # 0 at the first layer, 1 at the last
        r1a0 = 1.0 - layer / n_layer               # 1 at the first layer, ~0 at the last
        n = torch.arange(C, dtype=torch.float32)
        ddd = (n / C).view(1, 1, C)
        linear = n / (C - 1) - 0.5
        zz = ((n % N) - (N - 1) / 2) / ((N - 1) / 2)
        zigzag = zz * zz.abs()
        www = -6 + 6 * (n / (C - 1)) ** (1 + r01 ** 0.3)
        v3 = lambda t: t.reshape(1, 1, C)
        # parameters in the official order (the state dict keeps it)
        self.x_r = nn.Parameter(1 - ddd ** (0.2 * r1a0))
        self.x_w = nn.Parameter(1 - ddd ** (0.9 * r1a0))
        self.x_k = nn.Parameter(1 - ddd ** (0.7 * r1a0))
        self.x_v = nn.Parameter(1 - ddd ** (0.7 * r1a0))
        self.x_a = nn.Parameter(1 - ddd ** (0.9 * r1a0))
        self.x_g = nn.Parameter(1 - ddd ** (0.2 * r1a0))
        self.w1 = nn.Parameter(torch.zeros(C, Dw))
        self.w2 = nn.Parameter(ortho(Dw, C, 0.1))
        self.w0 = nn.Parameter(v3(www + 0.5 + zigzag * 2.5))
        self.a1 = nn.Parameter(torch.zeros(C, Da))
        self.a2 = nn.Parameter(ortho(Da, C, 0.1))
        self.a0 = nn.Parameter(v3(-0.19 + zigzag * 0.3 + linear * 0.4))
        if layer > 0:  # the value residual (layer 0's are unused dummies in official files)
            self.v1 = nn.Parameter(torch.zeros(C, Dv))
            self.v2 = nn.Parameter(ortho(Dv, C, 0.1))
            self.v0 = nn.Parameter(v3(0.73 - linear * 0.4))
        self.g1 = nn.Parameter(torch.zeros(C, Dg))
        self.g2 = nn.Parameter(ortho(Dg, C, 0.1))
        self.k_k = nn.Parameter(v3(0.71 - linear * 0.1))
        self.k_a = nn.Parameter(torch.full((1, 1, C), 1.02))
        self.r_k = nn.Parameter(torch.full((H, N), -0.04))
        self.receptance = nn.Linear(C, C, bias=False)
        self.key = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(C, C, bias=False)
        self.output = nn.Linear(C, C, bias=False)
        self.ln_x = nn.GroupNorm(H, C, eps=64e-5)  # eps 1e-5 * head size, as official
        with torch.no_grad():
            nn.init.orthogonal_(self.receptance.weight, gain=1.0)
            nn.init.orthogonal_(self.key.weight, gain=0.1)
            nn.init.orthogonal_(self.value.weight, gain=1.0)
            nn.init.zeros_(self.output.weight)
            self.ln_x.weight.fill_(((1 + layer) / n_layer) ** 0.7)

    def mix(self, x, prev, v_first):
        """Everything before the recurrence.  x, prev: (..., C) ln1 output and its previous token's."""
        sx = prev - x
        xr, xw, xk, xv, xa, xg = (x + sx * m for m in (self.x_r, self.x_w, self.x_k, self.x_v, self.x_a, self.x_g))
        r = self.receptance(xr)
        k = self.key(xk)
        v = self.value(xv)
        # log-decay and in-context learning rate in float32 (they feed the recurrence)
        logw = -DECAY_SCALE * torch.sigmoid(hi(self.w0 + torch.tanh(xw @ self.w1) @ self.w2))
        a = torch.sigmoid(hi(self.a0 + (xa @ self.a1) @ self.a2))
        g = torch.sigmoid(xg @ self.g1) @ self.g2
        shp = k.shape[:-1] + (self.H, HEAD_SIZE)
        kk = F.normalize(hi(k * self.k_k).view(shp), dim=-1, p=2.0, eps=1e-12)
        k = hi(k) * (1 + (a - 1) * self.k_a)
        if self.layer == 0:
            v_first = v
        else:
            v = v + (v_first - v) * torch.sigmoid(self.v0 + (xv @ self.v1) @ self.v2)
        return r, logw.view(shp), k.view(shp), v, kk, a.view(shp), g, v_first

    def finish(self, y, r, k, v, g):
        """Group norm of the recurrence output, the r.k bonus, the gate, W_o.  y, r, k, v: (..., H, N)."""
        C = self.H * HEAD_SIZE
        shp = y.shape[:-2] + (C,)
        y = self.ln_x(y.reshape(-1, C)).view(shp)
        r, v = hi(r), hi(v).view(k.shape)
        y = y + ((r * k * self.r_k).sum(-1, keepdim=True) * v).view(shp)
        return self.output((y * hi(g)).to(g.dtype))

    def forward(self, x, v_first, chunk):
        r, logw, k, v, kk, a, g, v_first = self.mix(x, token_shift(x), v_first)
        shp = k.shape
        y = wkv7(r.view(shp), logw, k, v.view(shp), kk, a, chunk)
        return self.finish(y, r.view(shp), k, v, g), v_first


class ChannelMix(nn.Module):
    def __init__(self, C, layer, n_layer, hidden):
        super().__init__()
        r1a0 = 1.0 - layer / n_layer
        ddd = (torch.arange(C, dtype=torch.float32) / C).view(1, 1, C)
        self.x_k = nn.Parameter(1 - ddd ** (r1a0 ** 4))
        self.key = nn.Linear(C, hidden, bias=False)
        self.value = nn.Linear(hidden, C, bias=False)
        with torch.no_grad():
            nn.init.orthogonal_(self.key.weight, gain=1.0)
            nn.init.zeros_(self.value.weight)

    def forward(self, x, prev=None):
        prev = token_shift(x) if prev is None else prev
        k = x + (prev - x) * self.x_k
        return self.value(torch.relu(self.key(k)) ** 2)


class Block(nn.Module):
    def __init__(self, C, layer, n_layer, dims, dropout):
        super().__init__()
        self.ln1 = nn.LayerNorm(C, eps=1e-5)
        self.ln2 = nn.LayerNorm(C, eps=1e-5)
        if layer == 0:
            self.ln0 = nn.LayerNorm(C, eps=1e-5)
        self.att = TimeMix(C, layer, n_layer, dims)
        self.ffn = ChannelMix(C, layer, n_layer, 4 * C)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, v_first, chunk):
        dx, v_first = self.att(self.ln1(x), v_first, chunk)
        x = x + self.drop(dx)
        x = x + self.drop(self.ffn(self.ln2(x)))
        return x, v_first


class RWKV7(nn.Module):
    def __init__(self, n_layer, n_embd, vocab=256, dropout=0.0, dims=None):
        super().__init__()
        assert n_embd % HEAD_SIZE == 0, f"n_embd must be a multiple of the head size {HEAD_SIZE}"
        self.n_layer, self.n_embd, self.vocab = n_layer, n_embd, vocab
        self.dims = tuple(dims) if dims else lora_dims(n_embd)
        self.emb = nn.Embedding(vocab, n_embd)
        self.blocks = nn.ModuleList([Block(n_embd, i, n_layer, self.dims, dropout) for i in range(n_layer)])
        self.ln_out = nn.LayerNorm(n_embd, eps=1e-5)
        self.head = nn.Linear(n_embd, vocab, bias=False)
        with torch.no_grad():
            nn.init.uniform_(self.emb.weight, -1e-4, 1e-4)   # tiny embedding; ln0 rescales it
            gain = 0.5 * math.sqrt(vocab / n_embd) if vocab > n_embd else 0.5
            nn.init.orthogonal_(self.head.weight, gain=gain)

    def forward(self, idx, chunk=32):
        x = self.blocks[0].ln0(self.emb(idx))
        v_first = None
        for blk in self.blocks:
            x, v_first = blk(x, v_first, chunk)
        return self.head(self.ln_out(x))

    # ---- RNN mode (one token at a time, explicit state), for generation and the self-test
    def init_state(self, device):
        C, H = self.n_embd, self.n_embd // HEAD_SIZE
        dt = self.emb.weight.dtype
        return [[torch.zeros(C, device=device, dtype=dt),
                 torch.zeros(H, HEAD_SIZE, HEAD_SIZE, device=device, dtype=dt),   # S[h][v][k]
                 torch.zeros(C, device=device, dtype=dt)] for _ in range(self.n_layer)]

    @torch.no_grad()
    def step(self, token, state):
        x = self.blocks[0].ln0(self.emb.weight[token])
        v_first = None
        for blk, st in zip(self.blocks, state):
            xa = blk.ln1(x)
            att = blk.att
            r, logw, k, v, kk, a, g, v_first = att.mix(xa, st[0], v_first)
            r, logw, k, v, kk, a = (t.reshape(-1, HEAD_SIZE) for t in (r, logw, k, v, kk, a))  # (H, N)
            g = g.reshape(-1)
            S = st[1]
            w = torch.exp(logw)
            sa = (S @ kk[:, :, None])                         # (H, N, 1) = S kk
            S = S * w[:, None, :] - sa @ (kk * a)[:, None, :] + v[:, :, None] @ k[:, None, :]
            y = (S @ r[:, :, None])[:, :, 0]
            st[0], st[1] = xa, S
            x = x + att.finish(y, r, k, v, g)
            xf = blk.ln2(x)
            x = x + blk.ffn(xf, st[2]).view(-1)
            st[2] = xf
        return self.head(self.ln_out(x))


# --------------------------------------------------------------------------
# Export / import
# --------------------------------------------------------------------------
def official_state_dict(model):
    return {k: v.detach().float().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def load_model(path, device, dropout=0.0):
    sd = torch.load(path, map_location="cpu")
    n_layer = 0
    while f"blocks.{n_layer}.ln1.weight" in sd:
        n_layer += 1
    V, C = sd["emb.weight"].shape
    assert sd["blocks.0.att.r_k"].shape[1] == HEAD_SIZE, "only head size 64 is supported"
    vkey = "blocks.1.att.v1" if n_layer > 1 else "blocks.0.att.a1"
    dims = (sd["blocks.0.att.w1"].shape[1], sd["blocks.0.att.a1"].shape[1], sd[vkey].shape[1], sd["blocks.0.att.g1"].shape[1])
    model = RWKV7(n_layer, C, V, dropout, dims)
    # official files carry unused layer-0 v0/v1/v2: drop them
    sd = {k: v.float() for k, v in sd.items() if not k.startswith(("blocks.0.att.v0", "blocks.0.att.v1", "blocks.0.att.v2"))}
    model.load_state_dict(sd)
    return model.to(device)


def q8_gguf_bytes(model):
    """Approximate size of `bin/rwkv convert --type q8_0` output: block matrices Q8_0
    (34 bytes per 32), emb and head f16, LoRAs and vectors f32 (layer 0 gets copies of
    a0/a1/a2 as its value-residual tensors), plus a little metadata."""
    total = 16384
    for name, p in model.named_parameters():
        n = p.numel()
        if name in ("emb.weight", "head.weight"):
            total += 2 * n
        elif name.endswith(".weight") and p.dim() == 2:
            total += n // 32 * 34
        else:
            total += 4 * n
            if name.startswith("blocks.0.att.a"):
                total += 4 * n
    return total


# --------------------------------------------------------------------------
# Data and evaluation
# --------------------------------------------------------------------------
def load_splits(path):
    data = np.frombuffer(open(path, "rb").read(), dtype=np.uint8)
    n_train = int(0.9 * len(data))
    return data[:n_train], data[n_train:]


@torch.no_grad()
def windowed_loss(model, data, N, device, chunk=32, batch=64):
    """Mean cross-entropy (nats) per the windowed definition in the module doc."""
    was_training = model.training
    model.eval()
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    n = len(data)
    d = torch.from_numpy(data.astype(np.int64)).to(device)
    full = [s for s in range(0, n - 1, N) if s + N <= n - 1]
    total = 0.0
    count = 0
    for b in range(0, len(full), batch):
        starts = torch.tensor(full[b:b + batch], device=device)
        idx = starts[:, None] + torch.arange(N + 1, device=device)[None, :]
        seq = d[idx]
        logits = model(seq[:, :-1], chunk).float()
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), seq[:, 1:].reshape(-1), reduction="sum").double().item()
        count += seq[:, 1:].numel()
    s = len(full) * N
    if s < n - 1:  # last, shorter window
        seq = d[s:n][None, :]
        logits = model(seq[:, :-1], chunk).float()
        total += F.cross_entropy(logits[0], seq[0, 1:], reduction="sum").double().item()
        count += seq.shape[1] - 1
    assert count == n - 1
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    model.train(was_training)
    return total / count


def metrics(nats):
    return {"nats": nats, "bpb": nats / math.log(2), "ppl": math.exp(nats)}


# --------------------------------------------------------------------------
# Self-test: chunked forward vs RNN mode, chunk sizes, gradients, official logits
# --------------------------------------------------------------------------
def selftest():
    torch.manual_seed(0)
    ok = True
    model = RWKV7(2, 128)                       # 2 heads
    with torch.no_grad():   # random weights everywhere so every path is exercised
        for name, p in model.named_parameters():
            p.add_(torch.randn_like(p) * (0.3 if p.dim() < 2 or "att.w" in name else 0.1))
    model.eval()
    idx = torch.randint(0, 256, (1, 70))
    for dtype, tol in ((torch.float64, 1e-9), (torch.float32, 1e-4)):
        m = copy.deepcopy(model).to(dtype)
        par = m(idx, chunk=16)[0]
        st = m.init_state("cpu")
        rnn = torch.stack([m.step(int(t), st) for t in idx[0]])
        err = (par - rnn).abs().max().item()
        print(f"selftest: {str(dtype)[6:]}: max |chunked - rnn| logits = {err:.3e} (logits std {rnn.std().item():.2f})")
        ok &= err < tol
    par = model(idx, chunk=16)[0]
    for L in (1, 4, 8, 32, 64):
        e = (model(idx, chunk=L)[0] - par).abs().max().item()
        print(f"selftest: chunk {L}: max diff vs chunk 16 = {e:.3e}")
        ok &= e < 1e-4
    # gradient sanity
    model.train()
    loss = F.cross_entropy(model(idx[:, :-1]).view(-1, 256), idx[0, 1:])
    loss.backward()
    bad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    print("selftest: non-finite/missing grads:", bad)
    ok &= not bad
    # the official tiny RWKV-7 checkpoint against logits of the official code (if present)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data")
    pth = os.path.join(root, "tiny-rwkv-pth", "tiny-rwkv-7v0-834K-FP32.pth")
    ref = os.path.join(root, "tiny-rwkv", "reference", "tiny-rwkv-7v0-834K-FP32")
    if os.path.exists(pth) and os.path.exists(ref):
        m = load_model(pth, "cpu").eval()
        toks = json.load(open(os.path.join(ref, "manifest.json")))["tokens"]
        want = torch.from_numpy(np.fromfile(os.path.join(ref, "logits.f32"), dtype="<f4").reshape(len(toks), -1))
        err = (m(torch.tensor([toks]))[0] - want).abs().max().item()
        print(f"selftest: official tiny-rwkv-7v0-834K: max |ours - official logits| = {err:.3e}")
        ok &= err < 1e-4
    else:
        print("selftest: SKIPPED the official-logits check (../shared/data not found)")
    print("selftest:", "PASS" if ok else "FAIL")
    return ok


# --------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------
@torch.no_grad()
def generate(model, prompt, n, temperature=1.0, top_p=0.9, seed=0):
    g = torch.Generator().manual_seed(seed)
    model.eval()
    dev = next(model.parameters()).device
    st = model.init_state(dev)
    toks = list(prompt.encode("utf-8")) or [10]
    for t in toks:
        logits = model.step(t, st)
    out = bytearray(toks)
    for _ in range(n):
        probs = torch.softmax(logits.float().cpu() / temperature, -1)
        sp, si = torch.sort(probs, descending=True)
        keep = torch.cumsum(sp, 0) - sp < top_p
        sp = sp * keep
        t = int(si[torch.multinomial(sp / sp.sum(), 1, generator=g)])
        out.append(t)
        logits = model.step(t, st)
    return out.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------
def save_outputs(args, best_sd, log):
    if args.out_pth:
        torch.save(best_sd, args.out_pth)
    if args.out_log:
        with open(args.out_log, "w") as f:
            json.dump(log, f, indent=1)


def train(args):
    dev = torch.device(args.device)
    torch.manual_seed(args.seed)
    # bf16 autocast does the projections; the recurrence's float32 matmuls stay true float32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    train_data, val_data = load_splits(args.data)
    train_probe = train_data[:len(val_data)]   # same-size slice for a comparable train metric
    tdata = torch.from_numpy(train_data.astype(np.int64)).to(dev)

    model = RWKV7(args.n_layer, args.n_embd, 256, args.dropout).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    # weight decay on the big matrices (not emb, not the LoRAs); w0 at 2x lr, as officially
    groups = {"decay": [], "plain": [], "w0": []}
    for n, p in model.named_parameters():
        if n.endswith("att.w0"):
            groups["w0"].append(p)
        elif n.endswith(".weight") and p.dim() == 2 and n != "emb.weight":
            groups["decay"].append(p)
        else:
            groups["plain"].append(p)
    opt = torch.optim.AdamW([{"params": groups["decay"], "weight_decay": args.wd, "lr_scale": 1.0},
                             {"params": groups["plain"], "weight_decay": 0.0, "lr_scale": 1.0},
                             {"params": groups["w0"], "weight_decay": 0.0, "lr_scale": 2.0}],
                            lr=args.lr, betas=(0.9, 0.99), eps=1e-8)
    use_amp = dev.type == "cuda" and args.bf16
    fwd = model
    if args.compile:
        fwd = torch.compile(model)
    hw = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu"
    log = {"shape": {"n_layer": args.n_layer, "n_embd": args.n_embd, "head_size": HEAD_SIZE,
                     "ffn_hidden": 4 * args.n_embd, "vocab": 256,
                     "lora_dims_w_a_v_g": list(model.dims)},
           "params": n_params, "q8_0_gguf_bytes_estimate": q8_gguf_bytes(model),
           "hyper": {k: v for k, v in vars(args).items()},
           "hardware": hw, "torch": torch.__version__, "data": os.path.basename(args.data),
           "n_train_bytes": len(train_data), "n_val_bytes": len(val_data),
           "val_metric": f"windowed, N=ctx={args.ctx}, state reset per window, {len(val_data) - 1} predictions",
           "history": []}
    print(f"model: {args.n_layer} layers x {args.n_embd}, LoRA dims {model.dims}, {n_params} params, "
          f"~{q8_gguf_bytes(model) / 1e6:.2f} MB as Q8_0 GGUF, device {hw}", flush=True)

    best = {"val_nats": float("inf"), "step": -1}
    best_sd = official_state_dict(model)
    t0 = time.time()
    last_save = t0
    step = 0
    ema = None
    tokens = 0
    while True:
        elapsed = time.time() - t0
        progress = max(step / args.max_steps, elapsed / args.time_budget)
        done = progress >= 1.0
        if step % args.eval_every == 0 or done:
            val = windowed_loss(model, val_data, args.ctx, dev, args.chunk, args.eval_batch)
            rec = {"step": step, "time_s": round(time.time() - t0, 1), "tokens": tokens,
                   "train_ema_nats": ema, "val_nats": val, "val_bpb": val / math.log(2)}
            log["history"].append(rec)
            print(f"eval step {step:6d} t {rec['time_s']:7.1f}s  train(ema) {ema if ema is None else round(ema / math.log(2), 4)} bpb"
                  f"  val {val:.4f} nats {val / math.log(2):.4f} bpb", flush=True)
            if val < best["val_nats"]:
                best = {"val_nats": val, "step": step}
                best_sd = official_state_dict(model)
                if time.time() - last_save > args.save_every_s:
                    log["best_step"] = step
                    log["best_val"] = metrics(val)
                    save_outputs(args, best_sd, log)
                    last_save = time.time()
        if done:
            break
        # learning rate: linear warmup, then cosine to lr_min over the step / time budget
        if step < args.warmup:
            lr = args.lr * (step + 1) / args.warmup
        else:
            lr = args.lr_min + 0.5 * (args.lr - args.lr_min) * (1 + math.cos(math.pi * min(progress, 1.0)))
        for g in opt.param_groups:
            g["lr"] = lr * g["lr_scale"]
        ix = torch.randint(0, len(train_data) - args.ctx - 1, (args.batch,), device=dev)
        seq = tdata[ix[:, None] + torch.arange(args.ctx + 1, device=dev)[None, :]]
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=use_amp):
            logits = fwd(seq[:, :-1], args.chunk)
        loss = F.cross_entropy(logits.float().reshape(-1, 256), seq[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        step += 1
        tokens += seq[:, 1:].numel()
        lv = loss.item() if step % 10 == 0 or step < 10 else None
        if lv is not None:
            ema = lv if ema is None else 0.9 * ema + 0.1 * lv
        if step % args.log_every == 0:
            el = time.time() - t0
            print(f"step {step:6d}  loss {lv:.4f} ({lv / math.log(2):.3f} bpb)  lr {lr:.2e}  {el:7.1f}s  {tokens / el / 1e3:.0f} ktok/s", flush=True)

    wall = time.time() - t0
    # final numbers, float32, for the best checkpoint
    model.load_state_dict(best_sd)
    val = windowed_loss(model, val_data, args.ctx, dev, args.chunk, args.eval_batch)
    trn = windowed_loss(model, train_probe, args.ctx, dev, args.chunk, args.eval_batch)
    log.update({"steps": step, "wall_time_s": round(wall, 1), "tokens_seen": tokens,
                "best_step": best["step"], "best_val": metrics(val),
                "train_probe_at_best": metrics(trn),
                "train_probe_note": "first n_val bytes of the train split, same windowed metric",
                "final_train_ema_bpb": None if ema is None else ema / math.log(2)})
    save_outputs(args, best_sd, log)
    print(f"done: {step} steps in {wall:.0f}s, best step {best['step']}: val {val / math.log(2):.4f} bpb "
          f"(ppl {math.exp(val):.4f}), train-probe {trn / math.log(2):.4f} bpb", flush=True)
    if args.sample_chars:
        s = generate(model, "\n", args.sample_chars, seed=args.seed)
        log["sample"] = s
        save_outputs(args, best_sd, log)
        print("sample:\n" + s, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="tinyshakespeare.txt")
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=192, help="multiple of 64 (head size)")
    ap.add_argument("--ctx", type=int, default=512, help="training context = validation window N")
    ap.add_argument("--chunk", type=int, default=32, help="recurrence chunk length, 1..64 (speed only)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--lr-min", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.25)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--max-steps", type=int, default=100000)
    ap.add_argument("--time-budget", type=float, default=480.0, help="seconds; cosine schedule ends at whichever comes first")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-batch", type=int, default=64)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--save-every-s", type=float, default=60.0)
    ap.add_argument("--no-bf16", dest="bf16", action="store_false")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile the training forward (PyTorch 2; ~80 s to compile on an H100)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out-pth", default="")
    ap.add_argument("--out-log", default="")
    ap.add_argument("--sample-chars", type=int, default=400, help="sample printed/logged after training")
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--load", default="")
    ap.add_argument("--generate", type=int, default=0, help="with --load: generate this many bytes")
    ap.add_argument("--prompt", default="\n")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=0.9)
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args()
    assert 1 <= args.chunk <= 64, "--chunk must be in 1..64"

    if args.selftest:
        sys.exit(0 if selftest() else 1)
    if args.load:
        model = load_model(args.load, args.device)
        if args.eval_only:
            _, val = load_splits(args.data)
            m = metrics(windowed_loss(model, val, args.ctx, torch.device(args.device), args.chunk, args.eval_batch))
            print(f"ctx={args.ctx} n_pred={len(val) - 1} nats={m['nats']:.6f}")
            print(f"ppl={m['ppl']:.6f} bpb={m['bpb']:.6f}")
        if args.generate:
            print(generate(model, args.prompt, args.generate, args.temperature, args.top_p, args.seed))
        return
    train(args)


if __name__ == "__main__":
    main()
