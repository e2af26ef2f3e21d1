// Tokens per second of one CPU training step (forward, backward, clip, AdamW) of the default CPU
// configuration: MyPT arch, vocab 65, 4 layers, 4 heads, 128 wide, block 64, batch 16, dropout 0.
// Random tokens (never constant), warm-up steps first, then the median of the timed steps.
import { createModel, getCpuThreads, setCpuThreads } from '../model';
import { ModelConfig } from '../model-config';

export interface CpuTrainBenchOptions {
  model?: Partial<ModelConfig>; // overrides of the default configuration
  batch_size?: number; // default 16
  warmup?: number; // default 3 steps
  steps?: number; // default 10 timed steps
  threads?: number; // default: all cores (the process-wide setting is restored afterwards)
  seed?: number;
}

export interface CpuTrainBenchResult {
  tokensPerSec: number; // B * T / median step time
  medianMs: number;
  minMs: number;
  maxMs: number;
  spread: number; // (max - min) / median
  stepsMs: number[];
  threads: number;
  config: ModelConfig & { batch_size: number };
}

export const CPU_TRAIN_DEFAULT: ModelConfig = {
  vocab_size: 65, block_size: 64, n_layer: 4, n_head: 4, n_embd: 128, arch: 'mypt', dropout: 0, device: 'cpu',
};

export async function benchCpuTrainStep(opts: CpuTrainBenchOptions = {}): Promise<CpuTrainBenchResult> {
  const cfg: ModelConfig = { ...CPU_TRAIN_DEFAULT, ...opts.model, device: 'cpu', seed: opts.seed ?? 1 };
  const B = opts.batch_size ?? 16, T = cfg.block_size, V = cfg.vocab_size;
  const warmup = opts.warmup ?? 3, steps = opts.steps ?? 10;
  const before = getCpuThreads();
  if (opts.threads !== undefined) setCpuThreads(opts.threads);
  const model = createModel(cfg);
  try {
    let state = (opts.seed ?? 1) >>> 0 || 1;
    const rand = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) >>> 8) % V;
    const batch = () => {
      const x = new Int32Array(B * T), y = new Int32Array(B * T);
      for (let i = 0; i < x.length; i++) { x[i] = rand(); y[i] = rand(); }
      return { tokens: { data: x, shape: [B, T] as [number, number] }, targets: { data: y, shape: [B, T] as [number, number] } };
    };
    const stepsMs: number[] = [];
    for (let s = 0; s < warmup + steps; s++) {
      const b = batch();
      const t0 = process.hrtime.bigint();
      await model.trainStep({ ...b, lr: 3e-4, grad_clip: 1 });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (s >= warmup) stepsMs.push(ms);
    }
    const sorted = [...stepsMs].sort((a, b) => a - b);
    const medianMs = sorted.length % 2 ? sorted[sorted.length >> 1] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    return {
      tokensPerSec: (B * T) / (medianMs / 1e3), medianMs, minMs: sorted[0], maxMs: sorted[sorted.length - 1],
      spread: (sorted[sorted.length - 1] - sorted[0]) / medianMs, stepsMs, threads: getCpuThreads(),
      config: { ...cfg, batch_size: B },
    };
  } finally {
    model.dispose();
    if (opts.threads !== undefined) setCpuThreads(before);
  }
}
