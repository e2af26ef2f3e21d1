// Timing statistics: the median and the spread of repeated measurements.

export interface Timing {
  median_ms: number;
  min_ms: number;
  max_ms: number;
  /** (p90 - p10) / median: how much the repeats disagree */
  spread: number;
  repeats: number;
}

export function summarize(ms: number[]): Timing {
  if (ms.length === 0) throw new Error('no timings');
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return {
    median_ms: median,
    min_ms: s[0],
    max_ms: s[s.length - 1],
    spread: median > 0 ? (at(0.9) - at(0.1)) / median : 0,
    repeats: s.length,
  };
}

/** Times an async function: `warmup` untimed calls, then `repeats` timed ones (host clock, ms). */
export async function timeAsync(fn: () => Promise<unknown>, warmup: number, repeats: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}
