#!/usr/bin/env python3
"""PyTorch's CPU training step for the default CPU configuration, to compare with benchCpuTrainStep
(src/bench/cpu-train.ts): MyPT's lecture GPT (test/fixtures/make_golden.py, the model as MyPT writes it),
vocab 65, 4 layers, 4 heads, 128 wide, block 64, batch 16, dropout 0; forward, backward,
clip_grad_norm_(1.0), AdamW. Prints one JSON line: tokens/s from the median step, and the spread.

  /usr/bin/python3 bench/pytorch_cpu_train.py [--threads 2] [--steps 20] [--warmup 3]
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures'))
from make_golden import MyptGPT  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--batch_size', type=int, default=16)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    cfg = dict(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, bias=False, activation='relu')
    model = MyptGPT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    B, T, V = a.batch_size, cfg['block_size'], cfg['vocab_size']
    times = []
    for s in range(a.warmup + a.steps):
        x, y = torch.randint(0, V, (B, T)), torch.randint(0, V, (B, T))
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ms = (time.perf_counter() - t0) * 1e3
        if s >= a.warmup:
            times.append(ms)
    times.sort()
    n = len(times)
    med = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
    print(json.dumps({'tokensPerSec': B * T / (med / 1e3), 'medianMs': med, 'minMs': times[0], 'maxMs': times[-1],
                      'spread': (times[-1] - times[0]) / med, 'threads': a.threads, 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
