// Reads any checkpoint of sections 4 and 5 from a user-given path into CheckpointData, with the raw
// optimizer and scheduler states as stored. A missing optimizer file is a warning for inference and an
// error, with the reason, when training is to resume.
import { MyptError, expectPath } from '../../errors';
import { field } from '../layouts/common';
import type { CheckpointData } from './data';
import { envCheckpointFromDict } from '../lecture/envvar';
import { classifyDict, pairOf, resolveCheckpointPaths, separatedFromDicts, unifiedFromDict } from './separated';
import fs from 'fs';
import nodePath from 'path';
import { loadTorchSync } from '../torch';
import { moddedIsNotGpt } from '../modded/modded';
import { recognise } from '../recognise';
import { tokenizerFrom } from '../py-util';
import { findBundle, readBundleSync } from '../mypt/bundle';

export type CheckpointFormat = 'envvar' | 'separated' | 'model-only' | 'unified' | 'bundle';
export type LoadPurpose = 'inference' | 'resume';

export interface ReadCheckpoint {
  data: CheckpointData;
  /** What the caller should know (e.g. no optimizer state for inference); also given to onWarning. */
  warnings: string[];
  format: CheckpointFormat;
  files: string[];                    // the files read
  base?: string;                      // a separated pair's base name
  hasOptimizer: boolean;              // optimizer state stored (whether or not it was loaded)
  optimizerStates: unknown[];         // as stored (AdamW state_dicts)
  lrSchedulerStates: unknown[];
  tokenizerSource: string | null;     // where the vocabulary came from
}

export interface ReadOptions {
  /** The named file's value when the caller already loaded it (the registry): it is not loaded again. */
  loaded?: unknown;
  loadOptimizer?: boolean;            // default true
  purpose?: LoadPurpose;              // default inference
  onWarning?: (message: string) => void;
}

function noOptimizer(path: string, why: string, o: ReadOptions, warnings: string[]): void {
  if (o.purpose === 'resume') {
    throw new MyptError('E_NO_CHECKPOINT', `cannot resume from ${path}: ${why}; AdamW's moments and step count would restart from zero`,
      'resume from a checkpoint saved with its optimizer state, or start a new run from this model');
  }
  const m = `${path}: ${why}; continuing with model-only checkpoint`;
  warnings.push(m);
  o.onWarning?.(m);
}

export async function readCheckpoint(path: string, o: ReadOptions = {}): Promise<ReadCheckpoint> {
  expectPath(path, 'readCheckpoint');
  return readCheckpointSync(path, o);
}

/** The same, synchronously (tensor data is read lazily either way). */
export function readCheckpointSync(path: string, o: ReadOptions = {}): ReadCheckpoint {
  expectPath(path, 'readCheckpointSync');
  const r = readStored(path, o);
  if (!r.data.tokenizer) {    // files of other tools: the vocabulary from a tokenizer.json beside the file
    const beside = nodePath.join(nodePath.dirname(r.files[0]), 'tokenizer.json');
    if (fs.existsSync(beside)) {
      r.data.tokenizer = tokenizerFrom(JSON.parse(fs.readFileSync(beside, 'utf8')));
      if (r.data.tokenizer) r.tokenizerSource = beside;
    }
  }
  return r;
}

function readStored(path: string, o: ReadOptions): ReadCheckpoint {
  const loadOpt = o.loadOptimizer !== false;
  const warnings: string[] = [];
  const bundle = fs.existsSync(path) && fs.statSync(path).isDirectory() ? findBundle(path) : undefined;
  if (bundle) return readBundleAs(bundle, o, warnings);
  const r = resolveCheckpointPaths(path);
  const load = (file: string) => (o.loaded !== undefined && nodePath.resolve(file) === nodePath.resolve(path) ? o.loaded : loadTorchSync(file));
  if (r.kind === 'separated') {
    const model = load(r.model);
    if (classifyDict(model) !== 'separated-model') {
      throw new MyptError('E_BAD_FILE', `${r.model}: not a separated model file (keys: ${[...(model as Map<unknown, unknown>).keys()].join(', ')})`);
    }
    let opt: unknown = null;
    if (!r.hasOptimizer) {
      if (loadOpt) noOptimizer(path, `its optimizer file ${r.optimizer} is missing`, o, warnings);
    } else if (loadOpt) {
      opt = load(r.optimizer);
      if (classifyDict(opt) !== 'separated-optimizer') throw new MyptError('E_BAD_FILE', `${r.optimizer}: not a separated optimizer file`);
    }
    const data = separatedFromDicts(model, opt, pairOf(r.base));
    return {
      data, warnings, format: r.hasOptimizer ? 'separated' : 'model-only', files: opt ? [r.model, r.optimizer] : [r.model], base: r.base, hasOptimizer: r.hasOptimizer,
      optimizerStates: opt ? (field(opt, 'optimizer_states') as unknown[]) : [],
      lrSchedulerStates: opt ? ((field(opt, 'lr_scheduler_states') as unknown[]) ?? []) : [],
      tokenizerSource: data.tokenizer ? r.model : null,
    };
  }
  const d = load(r.file);
  const rk = recognise(d).kind;  // a modded file's dict looks unified, but no GPT layout fits its weights
  if (rk === 'modded-small' || rk === 'modded-medium') throw moddedIsNotGpt(r.file, rk === 'modded-small' ? 'small' : 'medium');
  const kind = classifyDict(d);
  if (kind === 'separated-optimizer') {
    throw new MyptError('E_BAD_ARGUMENT', `${r.file}: this is the optimizer half of a separated checkpoint; give its -model.pt file or the base name`);
  }
  if (kind === 'other') {
    const keys = d instanceof Map ? [...d.keys()].map(String).slice(0, 8).join(', ') : typeof d;
    throw new MyptError('E_BAD_FILE', `${r.file}: not an env-var, separated or unified checkpoint (found ${keys})`);
  }
  let data: CheckpointData;
  let tokenizerSource: string | null;
  let optRaw: unknown;
  if (kind === 'envvar') {
    const e = envCheckpointFromDict(d, r.file);
    data = e;
    tokenizerSource = e.tokenizerSource;
    optRaw = field(d, 'optimizer_state_dict');
  } else {
    data = unifiedFromDict(d, r.file);
    tokenizerSource = data.tokenizer ? r.file : null;
    optRaw = field(d, 'optimizer') ?? field(d, 'optimizer_state_dict') ?? field(d, 'optimizer_state');
  }
  if (!data.optimizer && loadOpt) noOptimizer(path, 'the file holds no optimizer state', o, warnings);
  if (!loadOpt) data.optimizer = null;
  const format: CheckpointFormat = kind === 'separated-model' ? 'model-only' : kind === 'envvar' ? 'envvar' : 'unified';
  return {
    data, warnings, format, files: [r.file], hasOptimizer: optRaw instanceof Map,
    optimizerStates: optRaw && loadOpt ? [optRaw] : [],
    lrSchedulerStates: data.lrSchedulerStates ?? [],
    tokenizerSource,
  };
}

/** A MyPT bundle folder (config.json + model.pt [+ optimizer.pt]) in the same shape, so the env-var workflow
 *  and `convert --to` take bundles too. */
function readBundleAs(dir: string, o: ReadOptions, warnings: string[]): ReadCheckpoint {
  const loadOpt = o.loadOptimizer !== false;
  const b = readBundleSync(dir, { optimizer: loadOpt });
  if (loadOpt && !b.optimizer) noOptimizer(dir, 'the bundle has no optimizer.pt', o, warnings);
  const c = b.modelConfig as unknown as Record<string, unknown>;
  const config = { ...c, dropout: b.config.dropout } as CheckpointData['config'];
  const step = b.trainingState?.step ?? b.optimizer?.step ?? 0;
  const files = [nodePath.join(b.dir, 'model.pt'), ...(b.optimizer ? [nodePath.join(b.dir, 'optimizer.pt')] : [])];
  return {
    data: { config, params: b.params, optimizer: loadOpt ? b.optimizer ?? null : null, step, epoch: 0, tokenizer: b.tokenizer, batchSize: b.config.batch_size },
    warnings, format: 'bundle', files, hasOptimizer: b.hasOptimizer, optimizerStates: loadOpt && b.optimizer ? [b.optimizer] : [], lrSchedulerStates: [],
    tokenizerSource: b.tokenizer ? nodePath.join(b.dir, 'tokenizer.json') : null,
  };
}
