// The registry's reader for separated / unified / model-only files (FORMATS.md section 5): the loaded value
// the registry already holds (never loaded again) as the same DetectedCheckpoint every other format gives,
// so generate --checkpoint and inspect take these files.
import fs from 'fs';
import type { DetectedCheckpoint, DetectOptions } from '../types';
import { resolveCheckpointPaths } from './separated';
import { readCheckpointSync } from './read';
import { layoutFor } from './data';

export function readSection5(file: string, value: unknown, opts: DetectOptions = {}): DetectedCheckpoint {
  const r = readCheckpointSync(file, { loadOptimizer: !!opts.optimizer, onWarning: () => {}, loaded: value });
  const d = r.data;
  const paths = resolveCheckpointPaths(file);
  const files = paths.kind === 'separated' ? [paths.model, ...(paths.hasOptimizer ? [paths.optimizer] : [])] : [paths.file];
  return {
    format: r.format === 'bundle' ? 'mypt-bundle' : r.format,
    layout: layoutFor(d.config, 'mypt'),
    path: paths.kind === 'separated' ? paths.model : paths.file,
    config: d.config as DetectedCheckpoint['config'],
    params: d.params,
    tokenizer: d.tokenizer ? { token_kind: d.tokenizer.token_kind as 'char' | 'gpt2', chars: d.tokenizer.chars } : undefined,
    tokenizerSource: r.tokenizerSource ?? undefined,
    tokenizerProblem: d.tokenizer ? undefined : `${file}: the file records no tokenizer and there is no tokenizer.json beside it`,
    step: d.step,
    optimizer: d.optimizer ? (d.optimizer as DetectedCheckpoint['optimizer']) : undefined,
    hasOptimizer: r.hasOptimizer,
    extra: {
      epoch: d.epoch, val_loss: d.valLoss, batch_size: d.batchSize, training: d.hyperparameters,
      files: files.map((f) => ({ name: f, bytes: fs.statSync(f).size })),
    },
    warnings: [],
  };
}
