// loadCheckpoint: one call for every checkpoint of FORMATS.md sections 4 and 5 (an env-var trainer file,
// either file of a separated pair or its base name, a unified file, a model-only file). Returns one shape:
// { model, config, global_step, optimizer_states, lr_scheduler_states, epoch } plus what was loaded from where.
import { MyptError, expectPath } from '../../errors';
import type { GptModel } from '../../model';
import { buildGpt } from '../open/open';
import type { ResolvedModelConfig } from '../../model/config';
import { tokenizerFromJSON } from '../../tokenizer';
import type { Tokenizer } from '../../tokenizer/types';
import type { CheckpointData, CkptOptimizer } from '../../formats/separated/data';
import { CheckpointFormat, LoadPurpose, readCheckpoint } from '../../formats/separated/read';
import { field } from '../../formats/layouts/common';
import { classifyDict, resolveCheckpointPaths } from '../../formats/separated/separated';
import { loadTorch } from '../../formats/torch';
import fs from 'fs';

export interface LoadCheckpointOptions {
  device?: 'auto' | 'cpu' | 'cuda';
  /** Restore AdamW's moments and step into the model (default true). */
  loadOptimizer?: boolean;
  /** 'resume' makes a missing optimizer state an error; 'inference' (default) a warning. */
  purpose?: LoadPurpose;
  onWarning?: (message: string) => void;
}

export interface LoadedCheckpoint {
  model: GptModel;
  config: ResolvedModelConfig;
  global_step: number;
  optimizer_states: unknown[];
  lr_scheduler_states: unknown[];
  epoch: number;
  // beyond the section 5 shape:
  format: CheckpointFormat;
  files: string[];
  tokenizer: Tokenizer | null;
  tokenizerSource: string | null;
  has_optimizer_state: boolean;
  optimizer: CkptOptimizer | null;   // canonical AdamW state (already set into the model when loaded)
  val_loss?: number;
  batch_size?: number;
  hyperparameters?: Record<string, unknown>;
  /** What the caller should know (also given to onWarning as it happens). */
  warnings: string[];
}

/** A Model holding a checkpoint's parameters (and optimizer state when given). */
export function modelFromData(data: CheckpointData, device: LoadCheckpointOptions['device'] = 'auto', withOptimizer = true): GptModel {
  return buildGpt({ config: data.config as never, params: data.params, optimizer: withOptimizer ? data.optimizer : null }, { device, dropout: data.config.dropout ?? 0 });
}

export async function loadCheckpoint(path: string, opts: LoadCheckpointOptions = {}): Promise<LoadedCheckpoint> {
  expectPath(path, 'loadCheckpoint');
  const loadOptimizer = opts.loadOptimizer !== false;
  const r = await readCheckpoint(path, { loadOptimizer, purpose: opts.purpose, onWarning: opts.onWarning });
  const { data } = r;
  const model = modelFromData(data, opts.device ?? 'auto', loadOptimizer);
  return {
    model, config: model.config, global_step: data.step,
    optimizer_states: r.optimizerStates, lr_scheduler_states: r.lrSchedulerStates, epoch: data.epoch,
    format: r.format, files: r.files,
    tokenizer: data.tokenizer ? tokenizerFromJSON(data.tokenizer, r.tokenizerSource ?? path) : null,
    tokenizerSource: r.tokenizerSource,
    has_optimizer_state: r.optimizerStates.length > 0,
    optimizer: data.optimizer,
    val_loss: data.valLoss, batch_size: data.batchSize, hyperparameters: data.hyperparameters, warnings: r.warnings,
  };
}

/** The model alone (no optimizer read at all, no warning about it). */
export async function loadModelOnly(path: string, opts: { device?: LoadCheckpointOptions['device'] } = {}): Promise<LoadedCheckpoint> {
  expectPath(path, 'loadModelOnly');
  return loadCheckpoint(path, { device: opts.device, loadOptimizer: false });
}

/** The model state_dict exactly as stored in the file (names of its own layout). */
export async function getModelStateDict(path: string): Promise<Map<unknown, unknown>> {
  expectPath(path, 'getModelStateDict');
  const r = resolveCheckpointPaths(path);
  const file = r.kind === 'separated' ? r.model : r.file;
  const d = await loadTorch(file);
  const sd = field(d, 'model_state_dict') ?? field(d, 'model');
  if (!(sd instanceof Map)) throw new MyptError('E_BAD_FILE', `${file}: no model state_dict under "model_state_dict" or "model"`);
  return sd;
}

/** True when optimizer state is present: a separated pair's optimizer file with non-empty `optimizer_states`,
 *  or an `optimizer` / `optimizer_state_dict` / `optimizer_state` entry in a single file. */
export async function hasOptimizerState(path: string): Promise<boolean> {
  expectPath(path, 'hasOptimizerState');
  const r = resolveCheckpointPaths(path);
  if (r.kind === 'separated') {
    if (!fs.existsSync(r.optimizer)) return false;
    const states = field(await loadTorch(r.optimizer), 'optimizer_states');
    return Array.isArray(states) && states.length > 0;
  }
  const d = await loadTorch(r.file);
  if (classifyDict(d) === 'separated-optimizer') {
    const states = field(d, 'optimizer_states');
    return Array.isArray(states) && states.length > 0;
  }
  return ['optimizer', 'optimizer_state_dict', 'optimizer_state'].some((k) => {
    const v = field(d, k);
    return v !== undefined && v !== null;
  });
}
