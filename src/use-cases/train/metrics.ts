// The training history a bundle keeps: metrics.jsonl (one JSON record per evaluation) and loss.svg drawn
// from it. A resumed run continues the history of the bundle it resumed, up to its step.
import fs from 'fs';
import path from 'path';
import { LossPoint, renderLossSvg } from './plot';

export interface MetricRecord extends LossPoint { lr: number; time: string; elapsed_s: number; tokens_per_s: number }

/** The records of `dir`/metrics.jsonl up to step `upTo` (a damaged line is skipped: the weights are what matter). */
export function readMetrics(dir: string | undefined, upTo: number): MetricRecord[] {
  if (!dir) return [];
  const file = path.join(dir, 'metrics.jsonl');
  if (!fs.existsSync(file)) return [];
  const out: MetricRecord[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as MetricRecord;
      if (typeof r.step === 'number' && r.step <= upTo) out.push(r);
    } catch {
      // skipped
    }
  }
  return out;
}

/** The two history files of a bundle, as text. */
export function metricsFiles(metrics: MetricRecord[], title: string): Record<string, string> {
  return {
    'metrics.jsonl': metrics.map((m) => JSON.stringify(m)).join('\n') + (metrics.length ? '\n' : ''),
    'loss.svg': renderLossSvg(metrics, title),
  };
}
