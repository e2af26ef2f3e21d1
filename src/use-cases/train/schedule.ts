// The learning rate at a step: constant by default (MyPT); with --warmup_iters a linear warmup, and with
// --lr_decay_iters nanoGPT's cosine decay to --min_lr (after lr_decay_iters it stays at min_lr).

export interface LrSchedule {
  learning_rate: number;
  warmup_iters: number;      // 0: no warmup
  lr_decay_iters: number;    // 0: no decay
  min_lr: number;
}

export function lrAt(it: number, s: LrSchedule): number {
  if (s.warmup_iters > 0 && it < s.warmup_iters) return (s.learning_rate * (it + 1)) / (s.warmup_iters + 1);
  if (!(s.lr_decay_iters > 0)) return s.learning_rate;
  if (it > s.lr_decay_iters) return s.min_lr;
  const span = s.lr_decay_iters - s.warmup_iters;
  if (span <= 0) return s.min_lr;
  const ratio = Math.min(1, Math.max(0, (it - s.warmup_iters) / span));
  const coeff = 0.5 * (1 + Math.cos(Math.PI * ratio));
  return s.min_lr + coeff * (s.learning_rate - s.min_lr);
}

/** The schedule in words, printed at the start of a run. */
export function describeSchedule(s: LrSchedule): string {
  const f = (x: number) => String(Number(x.toPrecision(4)));
  const parts: string[] = [];
  if (s.warmup_iters > 0) parts.push(`linear warmup to ${f(s.learning_rate)} over ${s.warmup_iters} steps`);
  if (s.lr_decay_iters > 0) parts.push(`cosine decay to ${f(s.min_lr)} by step ${s.lr_decay_iters}${s.warmup_iters > 0 ? '' : ` from ${f(s.learning_rate)}`}`);
  else parts.push(`${s.warmup_iters > 0 ? 'then ' : ''}constant ${f(s.learning_rate)}`);
  return `Learning rate: ${parts.join(', ')}`;
}
