// Whether a run's sizes fit the machine, checked before the first step: the bytes a training step needs
// (weights, gradients, AdamW's two moments, and the activations a batch keeps for the backward pass)
// against the memory there is (CPU RAM; on a GPU, the device's memory). A size that cannot fit is an
// E_OUT_OF_MEMORY naming the flags to lower, never a failed allocation deep in a step.
import os from 'os';
import { MyptError } from '../../errors';
import { loadAddon } from '../../native';

export interface RunSizes {
  numParams: number;
  batch_size: number;
  block_size: number;
  n_layer: number;
  n_embd: number;
  n_head: number;
  vocab_size: number;
  /** the eval batches use the same B x T; gradient accumulation reuses one micro-batch's activations */
  device: string;
  /** activation recomputation (0-2): 1 keeps one layer's 4C MLP activation, 2 also one layer's two LayerNorm outputs */
  recompute?: number;
}

/** Bytes of one training step, fp32: 16 per parameter (weight, gradient, AdamW m and v) plus activations:
 *  per token and layer about 16 C floats (qkv, attention out, the 4C MLP and their norms), the attention
 *  probabilities (H x T per token and layer), and the logits with their gradient (2 V per token). */
export function trainingBytes(s: RunSizes): number {
  const tokens = s.batch_size * s.block_size;
  const r = s.recompute ?? 0;
  const perLayer = 16 * s.n_embd - (r >= 1 ? 4 * s.n_embd : 0) - (r >= 2 ? 2 * s.n_embd : 0);
  const perToken = s.n_layer * (perLayer + s.n_head * s.block_size) + 2 * s.vocab_size;
  return 16 * s.numParams + 4 * tokens * perToken;
}

export const gib = (b: number) => `${(b / 2 ** 30).toFixed(b < 2 ** 30 ? 2 : 1)} GiB`;

/** The memory a device has: CPU RAM (os.totalmem), or the GPU's when the model is on one. */
export function availableMemory(device: string): { total: number; what: string } {
  if (device.startsWith('cuda')) {
    try {
      const idx = Number(device.split(':')[1] ?? 0) || 0;
      const d = loadAddon().backends().devices.find((x) => x.index === idx);
      if (d && d.memoryBytes > 0) return { total: d.memoryBytes, what: `GPU ${idx} (${d.name}) has ${gib(d.memoryBytes)}` };
    } catch { /* fall back to host memory below */ }
  }
  return { total: os.totalmem(), what: `this machine has ${gib(os.totalmem())} of RAM (${gib(os.freemem())} free)` };
}

export const LOWER_FLAGS = 'lower --batch_size or --block_size, or the model size: --n_layer, --n_embd; --grad_accum N keeps the tokens a step at a smaller --batch_size';

/** MYPT_SKIP_MEMORY_CHECK=1 (a debugging switch) skips checkRunFits only, so a failed allocation inside a
 *  step (what the estimate exists to prevent) can be provoked and its error checked (test/gpu/oom.test.js). */
export const SKIP_MEMORY_CHECK = 'MYPT_SKIP_MEMORY_CHECK';

/** Throws E_OUT_OF_MEMORY when the run cannot fit the device's memory at all. */
export function checkRunFits(s: RunSizes): void {
  if (process.env[SKIP_MEMORY_CHECK] === '1') return;
  const tokens = s.batch_size * s.block_size;
  const need = trainingBytes(s);
  const { total, what } = availableMemory(s.device);
  const sizes = `--batch_size ${s.batch_size} x --block_size ${s.block_size}`;
  if (need > total) {
    throw new MyptError('E_OUT_OF_MEMORY',
      `${sizes} needs about ${gib(need)} to train (${s.numParams.toLocaleString('en-US')} parameters, ${tokens.toLocaleString('en-US')} tokens a batch); ${what}`,
      LOWER_FLAGS);
  }
}

/** An out-of-memory from the engine during training, with the flags to lower added. */
export function withLowerHint(e: unknown): unknown {
  if (e instanceof MyptError && e.code === 'E_OUT_OF_MEMORY' && !e.message.includes('--batch_size')) {
    return new MyptError('E_OUT_OF_MEMORY', e.message, LOWER_FLAGS);
  }
  return e;
}
