# PyTorch SDPA beside our attention kernels: times F.scaled_dot_product_attention (bf16, flash backend
# choice left to PyTorch) at the shapes of check_attention's BENCH lines, the same way as
# ../shared/tools/anchor_bench.py (median of 50 CUDA-event timings after 5 warm-ups; causal forward
# FLOPs 4*B*H*T*T*D/2, forward + backward 3.5 times that; non-causal twice), then prints one table:
#   python3 test/native/attention_sdpa_table.py check_attention.log
import math, re, sys

rows = []  # (path, B, H, T, D, causal, fwd_ms, fb_ms)
for line in open(sys.argv[1]):
    m = re.match(r'BENCH (\w+) (\d+) (\d+) (\d+) (\d+) (\d) ([\d.]+) ([\d.]+)', line)
    if m:
        g = m.groups()
        rows.append((g[0], *map(int, g[1:6]), float(g[6]), float(g[7])))
shapes = sorted({r[1:6] for r in rows}, key=lambda s: [r[1:6] for r in rows].index(s))

sdpa = {}
try:
    import torch
    import torch.nn.functional as F

    def bench_ms(fn, iters=50):
        for _ in range(5): fn()
        torch.cuda.synchronize()
        ts = []
        for _ in range(iters):
            s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
            s.record(); fn(); e.record(); torch.cuda.synchronize(); ts.append(s.elapsed_time(e))
        ts.sort(); return ts[len(ts) // 2]

    for (B, H, T, D, causal) in shapes:
        q, k, v = [torch.randn(B, H, T, D, device='cuda', dtype=torch.bfloat16, requires_grad=True) for _ in range(3)]
        c = bool(causal)
        f = bench_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=c))
        o = F.scaled_dot_product_attention(q, k, v, is_causal=c); g = torch.randn_like(o)
        def fb():
            o = F.scaled_dot_product_attention(q, k, v, is_causal=c); o.backward(g)
        sdpa[(B, H, T, D, causal)] = (f, bench_ms(fb))
        del q, k, v, o, g
        torch.cuda.empty_cache()
    print('torch', torch.__version__, torch.cuda.get_device_name(0))
except Exception as e:  # no torch / no GPU: our figures alone
    print('SDPA not timed:', repr(e)[:200])

def tf(B, H, T, D, causal, ms, mult):
    return mult * 4 * B * H * T * T * D / (2 if causal else 1) / ms / 1e9

print()
print('| shape (causal) | path | fwd ms | fwd TFLOP/s | fwd vs SDPA | fwd+bwd ms | fwd+bwd TFLOP/s | fwd+bwd vs SDPA |')
print('|---|---|---|---|---|---|---|---|')
for s in shapes:
    B, H, T, D, causal = s
    name = f'B{B} H{H} T{T} D{D}' + ('' if causal else ' non-causal')
    ref = sdpa.get(s)
    for r in rows:
        if r[1:6] != s: continue
        f, fb = r[6], r[7]
        rf = f'{ref[0] / f:.2f}x' if ref else '-'
        rfb = f'{ref[1] / fb:.2f}x' if ref else '-'
        print(f'| {name} | {r[0]} | {f:.4f} | {tf(*s, f, 1):.0f} | {rf} | {fb:.4f} | {tf(*s, fb, 3.5):.0f} | {rfb} |')
    if ref:
        print(f'| {name} | SDPA | {ref[0]:.4f} | {tf(*s, ref[0], 1):.0f} | 1.00x | {ref[1]:.4f} | {tf(*s, ref[1], 3.5):.0f} | 1.00x |')
