// The registry hook for separated / unified / model-only files (FORMATS.md section 5): detect.ts asks
// `isSection5Dict(v)` of a loaded .pt value and reads it with `readSection5Sync`, giving the same
// DetectedCheckpoint every other format gives (so generate --checkpoint and inspect take these files).
import fs from 'fs';
import type { DetectedCheckpoint, DetectOptions } from '../types';
import { classifyDict, pairOf, resolveCheckpointPaths } from './separated';
import { readCheckpointSync } from './read';
import { layoutFor } from './data';

/** A separated model or optimizer file, or a section 5 unified file (`lr_scheduler` key, or the tokenizer
 *  kept in `config` as mypt-native writes it). Other unified containers stay with detect.ts's own reader. */
export function isSection5Dict(v: unknown): boolean {
  const k = classifyDict(v);
  if (k === 'separated-model' || k === 'separated-optimizer') return true;
  const conf = v instanceof Map ? v.get('config') : undefined;
  return k === 'unified' && v instanceof Map && (v.has('lr_scheduler') || (conf instanceof Map && conf.has('tokenizer')));
}

/** A base name (`run-step000500`) whose `-model.pt` exists: the path detect.ts should treat as a file. */
export function section5FileFor(target: string): string | undefined {
  const m = pairOf(target.replace(/\.pt$/, '')).model;
  return !fs.existsSync(target) && fs.existsSync(m) ? m : undefined;
}

export function readSection5Sync(file: string, opts: DetectOptions = {}): DetectedCheckpoint {
  const r = readCheckpointSync(file, { loadOptimizer: !!opts.optimizer, onWarning: () => {} });
  const d = r.data;
  const paths = resolveCheckpointPaths(file);
  const hasOptimizer = r.hasOptimizer;
  const files = paths.kind === 'separated' ? [paths.model, ...(paths.hasOptimizer ? [paths.optimizer] : [])] : [paths.file];
  return {
    format: r.format as any,
    layout: layoutFor(d.config, 'mypt'),
    path: paths.kind === 'separated' ? paths.model : paths.file,
    config: d.config as any,
    params: d.params,
    tokenizer: d.tokenizer ? { token_kind: d.tokenizer.token_kind as 'char' | 'gpt2', chars: d.tokenizer.chars } : undefined,
    tokenizerSource: r.tokenizerSource ?? undefined,
    tokenizerProblem: d.tokenizer ? undefined : `${file}: the file records no tokenizer and there is no tokenizer.json beside it`,
    step: d.step,
    optimizer: d.optimizer ? (d.optimizer as any) : undefined,
    hasOptimizer,
    extra: {
      epoch: d.epoch, val_loss: d.valLoss, batch_size: d.batchSize, training: d.hyperparameters,
      files: files.map((f) => ({ name: f, bytes: fs.statSync(f).size })),
    },
    warnings: [],
  };
}
