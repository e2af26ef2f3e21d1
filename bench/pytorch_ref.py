#!/usr/bin/env python3
"""PyTorch's side of `mypt-native bench --compare pytorch`.

Reads a JSON list of cases on stdin (the same cases mypt-native timed, with the same shapes and
semantics), times each in PyTorch on the same device, and prints one JSON list of results on stdout:
  [{"id": ..., "median_ms": ..., "ms": [...]} | {"id": ..., "error": "..."}]
Case kinds: matmul, attention_fwd, attention_fwd_bwd, adamw, layernorm_fwd_bwd, classifier,
train_step, generate, modded_prefill, modded_generate, checkpoint. Inputs are random (never zeros); GPU timings use CUDA events.
"""
import json
import math
import os
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get("MYPT_BENCH_THREADS", os.cpu_count() or 1)))
torch.backends.cuda.matmul.allow_tf32 = True


def timed(fn, device, warmup, repeats):
    for _ in range(warmup):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    out = []
    for _ in range(repeats):
        if device == "cuda":
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            torch.cuda.synchronize()
            out.append(s.elapsed_time(e))
        else:
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1e3)
    return out


def sdpa(q, k, v, is_causal=False):
    """F.scaled_dot_product_attention (PyTorch >= 2.0), or the same math written out on older versions."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    att = (q @ k.transpose(-2, -1)) * (q.size(-1) ** -0.5)
    if is_causal:
        T, S = q.size(-2), k.size(-2)
        att = att.masked_fill(torch.ones(T, S, dtype=torch.bool, device=q.device).tril(S - T).logical_not(), float("-inf"))
    return F.softmax(att, dim=-1) @ v


def dtype_of(c):
    return torch.bfloat16 if c["device"] == "cuda" and c.get("precision", "bf16") == "bf16" else torch.float32


class Block(nn.Module):
    """One transformer block in either family: MyPT's lecture GPT (ReLU, untied head) or GPT-2."""

    def __init__(s, cfg):
        super().__init__()
        C, bias = cfg["n_embd"], cfg.get("bias", False)
        gpt2 = cfg.get("arch", "mypt") == "gpt2"
        s.H = cfg["n_head"]
        s.ln_1 = nn.LayerNorm(C)
        s.ln_2 = nn.LayerNorm(C)
        s.c_attn = nn.Linear(C, 3 * C, bias=bias)
        s.c_proj = nn.Linear(C, C, bias=True if not gpt2 else bias)
        s.c_fc = nn.Linear(C, 4 * C, bias=True if not gpt2 else bias)
        s.m_proj = nn.Linear(4 * C, C, bias=True if not gpt2 else bias)
        act = cfg.get("activation", "gelu" if gpt2 else "relu")  # mypt-native's defaults (src/model/config.ts)
        s.act = {"relu": F.relu, "gelu": F.gelu, "gelu_tanh": lambda x: F.gelu(x, approximate="tanh")}[act]

    def forward(s, x):
        B, T, C = x.shape
        q, k, v = s.c_attn(s.ln_1(x)).split(C, dim=2)
        q, k, v = [t.view(B, T, s.H, C // s.H).transpose(1, 2) for t in (q, k, v)]
        y = sdpa(q, k, v, is_causal=True)
        x = x + s.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + s.m_proj(s.act(s.c_fc(s.ln_2(x))))


class GPT(nn.Module):
    def __init__(s, cfg):
        super().__init__()
        V, C = cfg["vocab_size"], cfg["n_embd"]
        s.wte = nn.Embedding(V, C)
        s.wpe = nn.Embedding(cfg["block_size"], C)
        s.h = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])])
        s.ln_f = nn.LayerNorm(C)
        gpt2 = cfg.get("arch", "mypt") == "gpt2"
        s.lm_head = nn.Linear(C, V, bias=not gpt2)
        if gpt2:
            s.lm_head.weight = s.wte.weight

    def forward(s, idx, tgt=None, past=None):
        B, T = idx.shape
        x = s.wte(idx) + s.wpe(torch.arange(T, device=idx.device))
        for b in s.h:
            x = b(x)
        logits = s.lm_head(s.ln_f(x))
        if tgt is None:
            return logits
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), tgt.view(-1))


def case_train_step(c, extra=None):
    """The GPT training step (AdamW, clip 1.0, bf16 autocast on the GPU). On the GPU, extra["peak_mb"] gets the
    step's peak memory: torch.cuda.max_memory_allocated over what was allocated before the model was made
    (the caching allocator's reserve and the CUDA context left out, as mypt-native's figure leaves the context)."""
    dev, cfg, B, T = c["device"], c["model"], c["B"], c["T"]
    if dev == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    torch.manual_seed(0)
    m = GPT(cfg).to(dev)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-4, weight_decay=0.1, **({"fused": True} if dev == "cuda" else {}))
    mm = torch.compile(m) if c.get("compile") else m
    V = cfg["vocab_size"]
    x = torch.randint(0, V, (B, T), device=dev)
    y = torch.randint(0, V, (B, T), device=dev)
    amp = dev == "cuda" and c.get("precision", "bf16") == "bf16"

    def step():
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=amp):
            loss = mm(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    ms = timed(step, dev, c["warmup"], c["repeats"])
    if dev == "cuda" and extra is not None:
        extra["peak_mb"] = (torch.cuda.max_memory_allocated() - base) / 2**20
    return ms


def case_generate(c):
    """Batch-1 sampling with a KV cache (an eager loop), cuDNN SDPA off as ANCHORS.md does; a prompt of
    c["T"] tokens goes through one causal forward first."""
    dev, cfg = c["device"], c["model"]
    torch.manual_seed(0)
    m = GPT(cfg).to(dev).eval()
    dt = dtype_of(c)
    m = m.to(dt)
    n_new, C, H = c["max_new_tokens"], cfg["n_embd"], cfg["n_head"]
    if dev == "cuda" and hasattr(torch.backends.cuda, "enable_cudnn_sdp"):
        torch.backends.cuda.enable_cudnn_sdp(False)

    # the prompt: one token, or T ids as the bench's (i * 7919 + 13) % vocab_size
    T0 = c.get("T") or 1
    prompt = [(i * 7919 + 13) % cfg["vocab_size"] for i in range(T0)] if c.get("T") else [0]

    @torch.no_grad()
    def run():
        idx = torch.tensor([prompt], dtype=torch.long, device=dev)
        ks = [None] * len(m.h)
        vs = [None] * len(m.h)
        pos = 0
        for t in range(n_new):
            new = idx[:, pos:]  # the prompt first (causal prefill), then one token at a time
            n = new.size(1)
            x = m.wte(new) + m.wpe(torch.arange(pos, pos + n, device=dev))
            for i, b in enumerate(m.h):
                q, k, v = b.c_attn(b.ln_1(x)).split(C, dim=2)
                q, k, v = [z.view(1, n, H, C // H).transpose(1, 2) for z in (q, k, v)]
                ks[i] = k if ks[i] is None else torch.cat([ks[i], k], 2)
                vs[i] = v if vs[i] is None else torch.cat([vs[i], v], 2)
                y = sdpa(q, ks[i], vs[i], is_causal=n > 1)
                x = x + b.c_proj(y.transpose(1, 2).reshape(1, n, C))
                x = x + b.m_proj(b.act(b.c_fc(b.ln_2(x))))
            pos += n
            logits = m.lm_head(m.ln_f(x))[:, -1, :].float()
            nxt = torch.multinomial(F.softmax(logits, -1), 1)
            idx = torch.cat([idx, nxt], 1)

    return timed(run, dev, 1, c["repeats"])


def modded_runner(c):
    """A modded-nanogpt model (MODDED.md: small S2 or medium M1 forward) with random weights, run the way
    a user of the scripts would sample from it in eager PyTorch with a KV cache: bf16 on the GPU. The
    prompts hold no EOT and stay shorter than the short window, so the block mask is plain causal."""
    m, dev, dt = c["modded"], c["device"], dtype_of(c)
    L, d, H, D, V, VP = m["n_layer"], m["dim"], m["n_head"], m["head_dim"], m["vocab"], m["padded_vocab"]
    small = m["layout"] == "small"
    g = torch.Generator().manual_seed(1)

    def u(*shape, fan=None, b=1.7):
        b = b if fan is None else math.sqrt(3) * 0.5 / math.sqrt(fan)
        return ((torch.rand(*shape, generator=g) * 2 - 1) * b).to(dev, dt)

    embed, ves, head = u(V, d), [u(V, d) for _ in range(3)], u(VP, d, fan=d)
    qkv = [u(3 * H * D, d, fan=d) if i != 7 else None for i in range(L)]
    o = [u(d, H * D, fan=H * D) if i != 7 else None for i in range(L)]
    fc, proj = [u(4 * d, d, fan=d) for _ in range(L)], [u(d, 4 * d, fan=4 * d) for _ in range(L)]
    ve_of = {0: 0, 1: 1, 2: 2, L - 3: 0, L - 2: 1, L - 1: 2}
    skip_map = {9: 6, 10: 4, 11: 2}
    q4 = D // 4
    freq = torch.cat([(1 / 1024) ** torch.linspace(0, 1, q4), torch.zeros(D // 2 - q4)]).to(dev)
    eps = torch.finfo(torch.float32).eps

    def norm(x):
        return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps).to(x.dtype)

    def rotary(x, pos0):  # x [1, n, H, D], half-split
        th = torch.arange(pos0, pos0 + x.size(1), device=dev, dtype=torch.float32)[:, None] * freq
        cos, sin = th.cos()[None, :, None, :].to(x.dtype), th.sin()[None, :, None, :].to(x.dtype)
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([x1 * cos + x2 * sin, -x1 * sin + x2 * cos], -1)

    def attend(q, k, v, causal):
        if hasattr(F, "scaled_dot_product_attention"):
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=0.12)
        att = (q @ k.transpose(-2, -1)) * 0.12
        if causal:
            att = att.masked_fill(torch.ones(q.size(-2), k.size(-2), dtype=torch.bool, device=dev).tril().logical_not(), float("-inf"))
        return F.softmax(att.float(), dim=-1).to(v.dtype) @ v

    @torch.no_grad()
    def step(idx, cache, pos0):  # idx [1, n]; returns the last row's logits
        n = idx.size(1)
        x = x0 = norm(embed[idx])
        stack, outs = [], []
        for i in range(L):
            if small and i >= L // 2:
                x = x + stack.pop()  # skip weights at their init value 1
            if not small and i in skip_map:
                x = x + outs[skip_map[i]]
            x = 1.0 * x + 0.0 * x0  # block lambdas at init [1, 0]
            if i != 7:
                h = norm(x) if small else x
                q, k, v = F.linear(h, qkv[i]).view(1, n, 3 * H, D).chunk(3, dim=-2)
                q, k = rotary(norm(q), pos0), rotary(norm(k), pos0)
                if not small:
                    v = norm(v)
                v = 0.5 * v + 0.5 * ves[ve_of[i]][idx].view_as(v) if i in ve_of else 0.5 * v
                q, k, v = (t.transpose(1, 2) for t in (q, k, v))
                if cache[i] is not None:
                    k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
                cache[i] = (k, v)
                y = attend(q, k, v, n > 1)
                x = x + F.linear(y.transpose(1, 2).reshape(1, n, H * D), o[i])
            x = x + F.linear(F.relu(F.linear(norm(x), fc[i])).square(), proj[i])
            if small and i < L // 2:
                stack.append(x)
            outs.append(x)
        z = F.linear(norm(x[:, -1]), head).float()
        return 30 * torch.sigmoid(z / (7.5 * math.sqrt(d))) if small else 15 * z * torch.rsqrt(z * z + 225)

    def sample(logits):
        return torch.multinomial(F.softmax(logits[:, :V], -1), 1)

    def prefill():
        idx = (torch.arange(c["T"], device=dev) * 7919 + 13).remainder(50000)[None]
        sample(step(idx, [None] * L, 0))

    def generate():
        cache, idx = [None] * L, torch.full((1, 1), 13, device=dev)
        for t in range(c["max_new_tokens"]):
            idx = sample(step(idx, cache, t))

    return prefill if c["op"] == "modded_prefill" else generate


def case_checkpoint(c):
    """Save: torch.save's times, and with c["fsync"] those of torch.save then an fsync of the file (on the disk,
    as mypt-native's save is before it returns; torch.save leaves that to the OS). Load: torch.load's times."""
    n = int(c["mb"] * 2**20 / 4)
    per = 1 << 22
    sd = {f"t{i}": torch.randn(min(per, n - i * per)) for i in range((n + per - 1) // per)}
    d = tempfile.mkdtemp()
    p = os.path.join(d, "sd.pt")

    def save():
        torch.save(sd, p)
        if c.get("fsync"):
            fd = os.open(p, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)

    try:
        if c["what"] == "save":
            return timed(save, "cpu", 1, c["repeats"])
        torch.save(sd, p)
        return timed(lambda: torch.load(p), "cpu", 1, c["repeats"])
    finally:
        if os.path.exists(p):
            os.remove(p)
        os.rmdir(d)


def run_case(c, extra):
    """The case's times in ms; figures other than times go into extra (the training step's peak memory)."""
    dev, op = c["device"], c["op"]
    if dev == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("PyTorch sees no CUDA device")
    dt = dtype_of(c)
    g = torch.Generator(device="cpu").manual_seed(1)

    def rnd(*shape, dtype=None):
        return torch.randn(*shape, generator=g).to(device=dev, dtype=dtype or dt)

    w, r = c["warmup"], c["repeats"]
    if op == "matmul":
        a, b = rnd(c["M"], c["K"]), rnd(c["N"], c["K"])
        return timed(lambda: F.linear(a, b), dev, w, r)
    if op in ("attention_fwd", "attention_fwd_bwd"):
        B, H, T, D = c["B"], c["H"], c["T"], c["D"]
        q, k, v = [rnd(B, H, T, D).requires_grad_(op.endswith("bwd")) for _ in range(3)]
        if op == "attention_fwd":
            with torch.no_grad():
                return timed(lambda: sdpa(q, k, v, is_causal=True), dev, w, r)
        do = rnd(B, H, T, D)

        def fb():
            sdpa(q, k, v, is_causal=True).backward(do)

        return timed(fb, dev, w, r)
    if op == "adamw":
        N = c["N"]
        p = nn.Parameter(rnd(N, dtype=torch.float32))
        p.grad = rnd(N, dtype=torch.float32)
        kw = {"fused": True} if dev == "cuda" else {"foreach": False}
        opt = torch.optim.AdamW([p], lr=1e-4, weight_decay=0.1, **kw)

        def st():
            torch.nn.utils.clip_grad_norm_([p], 1.0)
            opt.step()

        return timed(st, dev, w, r)
    if op == "layernorm_fwd_bwd":
        x = rnd(c["M"], c["K"]).requires_grad_(True)
        ln = nn.LayerNorm(c["K"]).to(dev, dt)
        do = rnd(c["M"], c["K"])
        return timed(lambda: ln(x).backward(do), dev, w, r)
    if op == "classifier":
        logits = rnd(c["M"], c["N"], dtype=torch.float32).requires_grad_(True)
        t = torch.randint(0, c["N"], (c["M"],), generator=g).to(dev)
        return timed(lambda: F.cross_entropy(logits, t).backward(), dev, w, r)
    if op == "train_step":
        return case_train_step(c, extra)
    if op == "generate":
        return case_generate(c)
    if op == "checkpoint":
        return case_checkpoint(c)
    if op in ("modded_prefill", "modded_generate"):
        return timed(modded_runner(c), dev, w, r)
    raise ValueError(f"unknown op {op}")


def main():
    cases = json.load(sys.stdin)
    out = []
    for c in cases:
        try:
            extra = {}
            ms = run_case(c, extra)
            s = sorted(ms)
            res = {"id": c["id"], "ms": ms, "median_ms": s[len(s) // 2], **extra}
            if c["op"] == "train_step" and c["device"] == "cuda":
                try:  # the faster of PyTorch's two figures: the same step through torch.compile
                    compiled = {}
                    cm = sorted(case_train_step({**c, "compile": True}, compiled))
                    res["compile_median_ms"] = cm[len(cm) // 2]
                    if "peak_mb" in compiled:
                        res["compile_peak_mb"] = compiled["peak_mb"]
                except Exception as e:
                    res["compile_error"] = f"{type(e).__name__}: {e}"
            if c["op"] == "checkpoint" and c.get("what") == "save":
                fm = sorted(case_checkpoint({**c, "fsync": True}))
                res["fsync_median_ms"] = fm[len(fm) // 2]
            out.append(res)
        except Exception as e:  # one failing case does not stop the others
            out.append({"id": c["id"], "error": f"{type(e).__name__}: {e}"})
        if c.get("device") == "cuda":
            torch.cuda.empty_cache()
    json.dump({"torch": torch.__version__, "results": out}, sys.stdout)


if __name__ == "__main__":
    main()
