#!/usr/bin/env python3
"""Train a small byte-level RWKV-4 model (vocab 256, token = byte value).

The model is the plain RWKV-4 architecture with the parameter names and shapes
of BlinkDL's RWKV-4 .pth checkpoints, so the result can be converted / loaded
by any RWKV-4 tool.  The WKV recurrence is computed in plain PyTorch (float32,
chunked, log-space max subtraction), no custom CUDA kernel.

Outputs:
  --out-pth   official-style .pth (dict of float32 tensors)
  --out-bin   rwkv.cpp FP32 .bin (format version 100)
  --out-log   JSON log (shape, hyper-parameters, timing, losses)

Validation metric (identical to `rwkv perplexity --ctx N`): the validation
bytes are cut into windows starting at 0, N, 2N, ...; each window is run from
the initial (zero) state and predicts its next bytes; the mean cross-entropy
over all n_val-1 predictions is reported in nats, bits per byte and ppl.

Examples:
  python3 train_rwkv4.py --data tinyshakespeare.txt --out-pth m.pth --out-bin m.bin --out-log m.json
  python3 train_rwkv4.py --data tinyshakespeare.txt --eval-only --load m.pth --ctx 512
  python3 train_rwkv4.py --load m.pth --generate 300 --prompt "ROMEO:"
"""
import argparse
import copy
import json
import math
import os
import platform
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

NEG = -1e38  # "minus infinity" that stays finite in float32 arithmetic


# --------------------------------------------------------------------------
# WKV
# --------------------------------------------------------------------------
def wkv_parallel(w, u, k, v, chunk=16):
    """RWKV-4 WKV for a whole sequence, from the zero state.

    w: (C,) decay, must be negative (w = -exp(time_decay)); u: (C,) bonus;
    k, v: (B, T, C).  Returns (B, T, C) float32 with
      wkv_t = (sum_{i<t} e^{(t-1-i)w + k_i} v_i + e^{u+k_t} v_t)
            / (sum_{i<t} e^{(t-1-i)w + k_i}     + e^{u+k_t}).
    Two levels: inside chunks of length L a masked (L x L) form, between
    chunks a masked (n x n) form over per-chunk summaries.  All exponentials
    are taken after subtracting a (gradient-free) running maximum.
    """
    with torch.autocast(device_type=k.device.type, enabled=False):
        w, u, k, v = w.float(), u.float(), k.float(), v.float()
        B, T, C = k.shape
        L = chunk
        pad = (-T) % L
        if pad:  # padding goes after the real tokens, so it cannot influence them
            k = F.pad(k, (0, 0, 0, pad))
            v = F.pad(v, (0, 0, 0, pad))
        n = (T + pad) // L
        k = k.view(B, n, L, C)
        v = v.view(B, n, L, C)
        dev = k.device
        pos = torch.arange(L, device=dev, dtype=torch.float32)

        # ---- inside each chunk: exponent E[t, i] for output t and input i
        dist = (pos[:, None] - 1 - pos[None, :])[..., None]           # (L, L, 1) = t-1-i
        lower = (pos[:, None] > pos[None, :])[..., None]              # i < t
        diag = (pos[:, None] == pos[None, :])[..., None]              # i == t
        k_i = k[:, :, None, :, :]                                     # (B, n, 1, L, C)
        k_t = k[:, :, :, None, :]                                     # (B, n, L, 1, C)
        E = torch.where(lower, dist * w + k_i, torch.where(diag, u + k_t, torch.full_like(k_t, NEG)))
        m_in = E.detach().amax(dim=3)                                 # (B, n, L, C)
        P = torch.exp(E - m_in[:, :, :, None, :])                    # masked entries -> 0
        num_in = (P * v[:, :, None, :, :]).sum(dim=3)
        den_in = P.sum(dim=3)

        # ---- per-chunk summary: sum_i e^{(L-1-i)w + k_i} v_i  (state contribution at chunk end)
        Es = (L - 1 - pos)[:, None] * w + k                           # (B, n, L, C)
        q = Es.detach().amax(dim=2)                                   # (B, n, C)
        Ps = torch.exp(Es - q[:, :, None, :])
        sa = (Ps * v).sum(dim=2)
        sb = Ps.sum(dim=2)

        # ---- state before chunk j: sum_{j'<j} e^{(j-1-j')Lw + q_j'} * (sa_j', sb_j')
        cpos = torch.arange(n, device=dev, dtype=torch.float32)
        cdist = (cpos[:, None] - 1 - cpos[None, :])[..., None]        # (n, n, 1)
        clower = (cpos[:, None] > cpos[None, :])[..., None]
        Fx = torch.where(clower, cdist * (L * w) + q[:, None, :, :], torch.full_like(cdist * w, NEG))
        p_st = Fx.detach().amax(dim=2)                                # (B, n, C); NEG for chunk 0
        Pc = torch.where(clower, torch.exp(Fx - p_st[:, :, None, :]), torch.zeros_like(Fx))
        a_st = (Pc * sa[:, None, :, :]).sum(dim=2)                    # (B, n, C)
        b_st = (Pc * sb[:, None, :, :]).sum(dim=2)

        # ---- combine: state decays by e^{t w} to reach position t of the chunk
        Est = pos[:, None] * w + p_st[:, :, None, :]                  # (B, n, L, C)
        M = torch.maximum(m_in, Est).detach()
        e_in = torch.exp(m_in - M)
        e_st = torch.exp(Est - M)
        num = num_in * e_in + a_st[:, :, None, :] * e_st
        den = den_in * e_in + b_st[:, :, None, :] * e_st
        out = (num / den).view(B, n * L, C)
        return out[:, :T]


# --------------------------------------------------------------------------
# Model (official RWKV-4 parameter names and shapes)
# --------------------------------------------------------------------------
def token_shift(x):
    """Previous token's vector, zeros before the first token.  x: (B, T, C)."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)


class TimeMix(nn.Module):
    def __init__(self, C, layer, n_layer):
        super().__init__()
        r01 = layer / max(n_layer - 1, 1)          # 0 at the first layer, 1 at the last
        r1a0 = 1.0 - layer / n_layer               # 1 at the first layer, ~0 at the last
        h = torch.arange(C, dtype=torch.float32)
        frac = h / C
        # per-channel decay spread from fast (-5) to slow (+3), deeper layers slower
        self.time_decay = nn.Parameter(-5 + 8 * (h / max(C - 1, 1)) ** (0.7 + 1.3 * r01))
        zigzag = ((h + 1) % 3 - 1) * 0.5
        self.time_first = nn.Parameter(math.log(0.3) + zigzag)
        self.time_mix_k = nn.Parameter((frac ** r1a0).view(1, 1, C))
        self.time_mix_v = nn.Parameter((frac ** r1a0 + 0.3 * r01).view(1, 1, C))
        self.time_mix_r = nn.Parameter((frac ** (0.5 * r1a0)).view(1, 1, C))
        self.key = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(C, C, bias=False)
        self.receptance = nn.Linear(C, C, bias=False)
        self.output = nn.Linear(C, C, bias=False)

    def mix(self, x, prev):
        xk = x * self.time_mix_k + prev * (1 - self.time_mix_k)
        xv = x * self.time_mix_v + prev * (1 - self.time_mix_v)
        xr = x * self.time_mix_r + prev * (1 - self.time_mix_r)
        return self.key(xk), self.value(xv), torch.sigmoid(self.receptance(xr))

    def forward(self, x, chunk):
        k, v, r = self.mix(x, token_shift(x))
        y = wkv_parallel(-torch.exp(self.time_decay), self.time_first, k, v, chunk)
        return self.output(r * y.to(r.dtype))


class ChannelMix(nn.Module):
    def __init__(self, C, layer, n_layer, hidden):
        super().__init__()
        r1a0 = 1.0 - layer / n_layer
        frac = torch.arange(C, dtype=torch.float32) / C
        self.time_mix_k = nn.Parameter((frac ** r1a0).view(1, 1, C))
        self.time_mix_r = nn.Parameter((frac ** r1a0).view(1, 1, C))
        self.key = nn.Linear(C, hidden, bias=False)
        self.receptance = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(hidden, C, bias=False)

    def forward(self, x, prev=None):
        prev = token_shift(x) if prev is None else prev
        xk = x * self.time_mix_k + prev * (1 - self.time_mix_k)
        xr = x * self.time_mix_r + prev * (1 - self.time_mix_r)
        kk = torch.square(torch.relu(self.key(xk)))
        return torch.sigmoid(self.receptance(xr)) * self.value(kk)


class Block(nn.Module):
    def __init__(self, C, layer, n_layer, dropout):
        super().__init__()
        self.ln1 = nn.LayerNorm(C, eps=1e-5)
        self.ln2 = nn.LayerNorm(C, eps=1e-5)
        if layer == 0:
            self.ln0 = nn.LayerNorm(C, eps=1e-5)
        self.att = TimeMix(C, layer, n_layer)
        self.ffn = ChannelMix(C, layer, n_layer, 4 * C)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, chunk):
        x = x + self.drop(self.att(self.ln1(x), chunk))
        x = x + self.drop(self.ffn(self.ln2(x)))
        return x


class RWKV4(nn.Module):
    def __init__(self, n_layer, n_embd, vocab=256, dropout=0.0):
        super().__init__()
        self.n_layer, self.n_embd, self.vocab = n_layer, n_embd, vocab
        self.emb = nn.Embedding(vocab, n_embd)
        self.blocks = nn.ModuleList([Block(n_embd, i, n_layer, dropout) for i in range(n_layer)])
        self.ln_out = nn.LayerNorm(n_embd, eps=1e-5)
        self.head = nn.Linear(n_embd, vocab, bias=False)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self):
        C = self.n_embd
        nn.init.uniform_(self.emb.weight, -1e-4, 1e-4)   # tiny embedding; ln0 rescales it
        nn.init.orthogonal_(self.head.weight, gain=0.5 * math.sqrt(max(self.vocab / C, 1.0)))
        for name, p in self.named_parameters():
            if p.dim() != 2 or name in ("emb.weight", "head.weight"):
                continue
            if any(s in name for s in (".att.receptance.", ".att.output.", ".ffn.receptance.", ".ffn.value.")):
                nn.init.zeros_(p)   # every block starts close to the identity
            else:
                nn.init.orthogonal_(p, gain=math.sqrt(max(p.shape[0] / p.shape[1], 1.0)))

    def forward(self, idx, chunk=16):
        x = self.emb(idx)
        x = self.blocks[0].ln0(x)
        for blk in self.blocks:
            x = blk(x, chunk)
        return self.head(self.ln_out(x))

    # ---- RNN mode (one token at a time), used for generation and self-test
    def init_state(self, device):
        C = self.n_embd
        z = lambda: torch.zeros(C, device=device)
        return [[z(), z(), z(), torch.full((C,), NEG, device=device), z()] for _ in range(self.n_layer)]

    @torch.no_grad()
    def step(self, token, state):
        x = self.blocks[0].ln0(self.emb.weight[token])
        for blk, st in zip(self.blocks, state):
            att_prev, aa, bb, pp, ffn_prev = st
            xa = blk.ln1(x)
            k, v, r = blk.att.mix(xa, att_prev)
            k, v, r = k.view(-1), v.view(-1), r.view(-1)
            w, u = -torch.exp(blk.att.time_decay), blk.att.time_first
            ww = u + k                      # output: state plus the current token with bonus u
            p = torch.maximum(pp, ww)
            e1, e2 = torch.exp(pp - p), torch.exp(ww - p)
            y = (e1 * aa + e2 * v) / (e1 * bb + e2)
            ww = pp + w                     # state update: decay old state, add current token
            p = torch.maximum(ww, k)
            e1, e2 = torch.exp(ww - p), torch.exp(k - p)
            st[1], st[2], st[3] = e1 * aa + e2 * v, e1 * bb + e2, p
            st[0] = xa
            x = x + blk.att.output(r * y)
            xf = blk.ln2(x)
            x = x + blk.ffn(xf.view(1, 1, -1), ffn_prev.view(1, 1, -1)).view(-1)
            st[4] = xf
        return self.head(self.ln_out(x))


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------
def official_state_dict(model):
    return {k: v.detach().float().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def write_rwkvcpp_bin(sd, path):
    """rwkv.cpp FP32 file, format version 100 (transforms as in its converter)."""
    n_layer = 0
    while f"blocks.{n_layer}.ln1.weight" in sd:
        n_layer += 1
    n_vocab, n_embed = sd["emb.weight"].shape
    with open(path, "wb") as f:
        f.write(struct.pack("<6i", 0x67676D66, 100, n_vocab, n_embed, n_layer, 0))
        for key, t in sd.items():
            t = t.float()
            if ".time_" in key:
                t = t.squeeze()
            if ".time_decay" in key:
                t = -torch.exp(t)
            kb = key.encode("utf-8")
            f.write(struct.pack("<3i", t.dim(), len(kb), 0))
            for d in reversed(t.shape):        # ggml ne order
                f.write(struct.pack("<i", d))
            f.write(kb)
            f.write(t.contiguous().numpy().astype("<f4").tobytes())


def load_model(path, device, dropout=0.0):
    sd = torch.load(path, map_location="cpu")
    n_layer = 0
    while f"blocks.{n_layer}.ln1.weight" in sd:
        n_layer += 1
    model = RWKV4(n_layer, sd["emb.weight"].shape[1], sd["emb.weight"].shape[0], dropout)
    model.load_state_dict({k: v.float() for k, v in sd.items()})
    return model.to(device)


# --------------------------------------------------------------------------
# Data and evaluation
# --------------------------------------------------------------------------
def load_splits(path):
    data = np.frombuffer(open(path, "rb").read(), dtype=np.uint8)
    n_train = int(0.9 * len(data))
    return data[:n_train], data[n_train:]


@torch.no_grad()
def windowed_loss(model, data, N, device, chunk=16, batch=64):
    """Mean cross-entropy (nats) per the windowed definition in the module doc."""
    was_training = model.training
    model.eval()
    tf32 = torch.backends.cuda.matmul.allow_tf32
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
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    model.train(was_training)
    return total / count


def metrics(nats):
    return {"nats": nats, "bpb": nats / math.log(2), "ppl": math.exp(nats)}


# --------------------------------------------------------------------------
# Self-test: parallel WKV and forward vs. RNN mode
# --------------------------------------------------------------------------
def selftest():
    torch.manual_seed(0)
    model = RWKV4(2, 32)
    with torch.no_grad():   # random weights everywhere so every path is exercised
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
        model.blocks[0].att.time_decay.mul_(2.0)
    model.eval()
    idx = torch.randint(0, 256, (1, 70))
    par = model(idx, chunk=16)[0]
    st = model.init_state("cpu")
    rnn = torch.stack([model.step(int(t), st) for t in idx[0]])
    err = (par - rnn).abs().max().item()
    print(f"selftest: max |parallel - rnn| logits = {err:.3e}")
    for L in (1, 4, 8, 32, 128):
        e = (model(idx, chunk=L)[0] - par).abs().max().item()
        print(f"selftest: chunk {L}: max diff vs chunk 16 = {e:.3e}")
    # gradient sanity
    model.train()
    loss = F.cross_entropy(model(idx[:, :-1]).view(-1, 256), idx[0, 1:])
    loss.backward()
    bad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    print("selftest: non-finite/missing grads:", bad)
    return err < 1e-3 and not bad


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
    if args.out_bin:
        write_rwkvcpp_bin(best_sd, args.out_bin)
    if args.out_log:
        with open(args.out_log, "w") as f:
            json.dump(log, f, indent=1)


def train(args):
    dev = torch.device(args.device)
    torch.manual_seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    train_data, val_data = load_splits(args.data)
    train_probe = train_data[:len(val_data)]   # same-size slice for a comparable train metric
    tdata = torch.from_numpy(train_data.astype(np.int64)).to(dev)

    model = RWKV4(args.n_layer, args.n_embd, 256, args.dropout).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and n != "emb.weight"]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() == 2 and n != "emb.weight")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.99), eps=1e-8)
    use_amp = dev.type == "cuda" and args.bf16
    hw = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu"
    log = {"shape": {"n_layer": args.n_layer, "n_embd": args.n_embd, "ffn_hidden": 4 * args.n_embd, "vocab": 256},
           "params": n_params, "hyper": {k: v for k, v in vars(args).items()},
           "hardware": hw, "torch": torch.__version__, "data": os.path.basename(args.data),
           "n_train_bytes": len(train_data), "n_val_bytes": len(val_data),
           "val_metric": f"windowed, N=ctx={args.ctx}, state reset per window, {len(val_data) - 1} predictions",
           "history": []}
    print(f"model: {args.n_layer} layers x {args.n_embd}, {n_params} params, device {hw}", flush=True)

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
            g["lr"] = lr
        ix = torch.randint(0, len(train_data) - args.ctx - 1, (args.batch,), device=dev)
        seq = tdata[ix[:, None] + torch.arange(args.ctx + 1, device=dev)[None, :]]
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=use_amp):
            logits = model(seq[:, :-1], args.chunk)
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
    ap.add_argument("--n-layer", type=int, default=6)
    ap.add_argument("--n-embd", type=int, default=192)
    ap.add_argument("--ctx", type=int, default=512, help="training context = validation window N")
    ap.add_argument("--chunk", type=int, default=16, help="WKV chunk length (speed only)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--lr-min", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--max-steps", type=int, default=100000)
    ap.add_argument("--time-budget", type=float, default=480.0, help="seconds; cosine schedule ends at whichever comes first")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-batch", type=int, default=64)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--save-every-s", type=float, default=60.0)
    ap.add_argument("--no-bf16", dest="bf16", action="store_false")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out-pth", default="")
    ap.add_argument("--out-bin", default="")
    ap.add_argument("--out-log", default="")
    ap.add_argument("--sample-chars", type=int, default=400, help="sample printed/logged after training")
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--load", default="")
    ap.add_argument("--export-bin", default="", help="with --load: write the rwkv.cpp FP32 .bin and exit")
    ap.add_argument("--generate", type=int, default=0, help="with --load: generate this many bytes")
    ap.add_argument("--prompt", default="\n")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=0.9)
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args()

    if args.selftest:
        sys.exit(0 if selftest() else 1)
    if args.load:
        model = load_model(args.load, args.device)
        if args.export_bin:
            write_rwkvcpp_bin(official_state_dict(model), args.export_bin)
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
