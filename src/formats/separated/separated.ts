// Separated / unified / model-only checkpoint files (FORMATS.md section 5, NeuroManifoldGPT):
//   {prefix}-step{N:06d}-model.pt     = {"model_state_dict", "global_step", "config"}
//   {prefix}-step{N:06d}-optimizer.pt = {"optimizer_states": [sd], "lr_scheduler_states": [sd], "global_step", "epoch"}
//   {prefix}-final-model.pt / -final-optimizer.pt at the end; model-only = the model file alone.
//   unified: {"model", "optimizer", "lr_scheduler", "global_step", "epoch", "config"} (read also:
//   "model_state_dict", nanoGPT-style "model_config"/"model_args", "iter_num", "best_val_loss").
// Model names are MyPT's (section 1) for our files; `config` carries the model config, the tokenizer and
// the validation loss, so a char model reloads exactly and `best` can be chosen.
import fs from 'fs';
import path from 'path';
import { MyptError, expectPath } from '../../errors';
import { field, pyNumber } from '../layouts/common';
import { PyDict } from '../torch';
import { ARCH_KEYS, CheckpointData, canonicalToOptimizer, canonicalToStateDict, layoutFor, optimizerToCanonical, stateDictToCanonical } from './data';
import { plain, pyF, tokenizerDict, tokenizerFrom } from '../py-util';
import { loadTorch, saveTorch } from '../torch';
import { recognise } from '../recognise';

export const MODEL_FILE_KEYS = ['model_state_dict', 'global_step', 'config'];
export const OPTIMIZER_FILE_KEYS = ['optimizer_states', 'lr_scheduler_states', 'global_step', 'epoch'];
export const UNIFIED_KEYS = ['model', 'optimizer', 'lr_scheduler', 'global_step', 'epoch', 'config'];

// ---- names --------------------------------------------------------------------------------------

export type StepLabel = number | 'final';

/** `step000500` or `final`. */
export function stepLabel(step: StepLabel): string {
  return step === 'final' ? 'final' : `step${String(step).padStart(6, '0')}`;
}

/** `{dir}/{prefix}-{label}` (the base name both files of a pair share). */
export function separatedBase(dir: string, prefix: string, step: StepLabel): string {
  return path.join(dir, `${prefix}-${stepLabel(step)}`);
}

export function pairOf(base: string): { model: string; optimizer: string } {
  return { model: `${base}-model.pt`, optimizer: `${base}-optimizer.pt` };
}

/** The base name of a separated file (`x-model.pt`, `x-optimizer.pt`) or of a base given as `x` / `x.pt`. */
export function baseNameOf(p: string): string {
  return p.replace(/-(model|optimizer)\.pt$/, '').replace(/\.pt$/, '');
}

/** Parses `{prefix}-step{N}-model.pt` / `{prefix}-final-optimizer.pt`. */
export function parseSeparatedName(fileName: string): { prefix: string; step: StepLabel; part: 'model' | 'optimizer' } | null {
  const m = /^(.*)-(?:step(\d+)|(final))-(model|optimizer)\.pt$/.exec(path.basename(fileName));
  if (!m) return null;
  return { prefix: m[1], step: m[3] ? 'final' : Number(m[2]), part: m[4] as 'model' | 'optimizer' };
}

/** Whether training saves at this step: step > 0 && step % interval == 0. */
export function isSaveStep(step: number, interval: number): boolean {
  return interval > 0 && step > 0 && step % interval === 0;
}

export type ResolvedPaths =
  | { kind: 'separated'; base: string; model: string; optimizer: string; hasOptimizer: boolean }
  | { kind: 'single'; file: string };

/**
 * What a user-given path names: a separated pair (either file, or the base name with or without `.pt`),
 * or a single file. A path is separated if it ends in -model.pt / -optimizer.pt, or if `<path minus .pt>-model.pt` exists.
 */
export function resolveCheckpointPaths(p: string): ResolvedPaths {
  expectPath(p, 'resolveCheckpointPaths');
  const isPart = /-(model|optimizer)\.pt$/.test(p);
  const base = baseNameOf(p);
  const pair = pairOf(base);
  if (isPart || (fs.existsSync(pair.model) && !(fs.existsSync(p) && fs.statSync(p).isFile()))) {
    if (!fs.existsSync(pair.model)) {
      const why = fs.existsSync(pair.optimizer) ? `only its optimizer file ${pair.optimizer} exists` : 'neither file of the pair exists';
      throw new MyptError('E_NO_CHECKPOINT', `${p}: no model file ${pair.model} (${why})`);
    }
    return { kind: 'separated', base, model: pair.model, optimizer: pair.optimizer, hasOptimizer: fs.existsSync(pair.optimizer) };
  }
  if (fs.existsSync(p) && fs.statSync(p).isFile()) return { kind: 'single', file: p };
  throw new MyptError('E_NO_CHECKPOINT', `${p}: no checkpoint there (looked for ${p}, ${pair.model})`);
}

// ---- dicts ------------------------------------------------------------------------------------

/** `config` of our files: model sizes and options, batch size, tokenizer, validation loss. */
export function configDict(data: CheckpointData): PyDict {
  const c = data.config;
  const d = new PyDict<unknown>();
  for (const k of ['vocab_size', 'block_size', 'n_layer', 'n_head', 'n_embd'] as const) d.set(k, c[k]);
  d.set('dropout', pyF(c.dropout ?? 0));
  d.set('bias', !!(c.qkv_bias ?? c.bias));
  for (const k of ARCH_KEYS) if (c[k] !== undefined) d.set(k, typeof c[k] === 'number' && k === 'attn_scale' ? pyF(c[k] as number) : c[k]);
  if (data.batchSize !== undefined) d.set('batch_size', data.batchSize);
  d.set('tokenizer', data.tokenizer ? tokenizerDict(data.tokenizer) : null);
  if (data.valLoss !== undefined) d.set('val_loss', pyF(data.valLoss));
  if (data.trainLoss !== undefined) d.set('train_loss', pyF(data.trainLoss));
  if (data.hyperparameters) d.set('training', trainingDict(data.hyperparameters));
  return d as PyDict;
}

/** The run's settings (what a resume needs: input file, eval cadence, seed, ...): numbers that are
 *  rates stay Python floats; anything not a plain value is left out. */
function trainingDict(h: Record<string, unknown>): PyDict {
  const d = new PyDict<unknown>();
  for (const [k, v] of Object.entries(h)) {
    if (typeof v === 'number') d.set(k, Number.isInteger(v) && !/rate|lr|decay|clip|loss/.test(k) ? v : pyF(v));
    else if (typeof v === 'string' || typeof v === 'boolean' || v === null) d.set(k, v);
  }
  return d as PyDict;
}

function lrSchedulerStates(data: CheckpointData): unknown[] {
  return data.lrSchedulerStates ? [...data.lrSchedulerStates] : [];
}

export function modelFileDict(data: CheckpointData): PyDict {
  const layout = layoutFor(data.config, 'mypt');
  const d = new PyDict<unknown>();
  d.set('model_state_dict', canonicalToStateDict(layout, data.params, data.config));
  d.set('global_step', data.step);
  d.set('config', configDict(data));
  return d as PyDict;
}

export function optimizerFileDict(data: CheckpointData): PyDict {
  const layout = layoutFor(data.config, 'mypt');
  if (!data.optimizer) throw new MyptError('E_BAD_ARGUMENT', 'no optimizer state to write');
  const d = new PyDict<unknown>();
  d.set('optimizer_states', [canonicalToOptimizer(layout, data.optimizer, data.config)]);
  d.set('lr_scheduler_states', lrSchedulerStates(data));
  d.set('global_step', data.step);
  d.set('epoch', data.epoch);
  return d as PyDict;
}

export function unifiedDict(data: CheckpointData): PyDict {
  const layout = layoutFor(data.config, 'mypt');
  const d = new PyDict<unknown>();
  d.set('model', canonicalToStateDict(layout, data.params, data.config));
  d.set('optimizer', data.optimizer ? canonicalToOptimizer(layout, data.optimizer, data.config) : null);
  d.set('lr_scheduler', lrSchedulerStates(data)[0] ?? null);
  d.set('global_step', data.step);
  d.set('epoch', data.epoch);
  d.set('config', configDict(data));
  return d as PyDict;
}

// ---- writing ----------------------------------------------------------------------------------

/** Writes a separated pair (the optimizer file first, so a model file never points at a missing newer one). */
export async function writeSeparated(base: string, data: CheckpointData, opts: { modelOnly?: boolean } = {}): Promise<string[]> {
  fs.mkdirSync(path.dirname(base), { recursive: true });
  const pair = pairOf(base);
  const written: string[] = [];
  if (!opts.modelOnly && data.optimizer) {
    await saveTorch(pair.optimizer, optimizerFileDict(data));
    written.push(pair.optimizer);
  } else if (fs.existsSync(pair.optimizer)) {
    fs.rmSync(pair.optimizer);   // a model-only save must not leave an older optimizer file paired with it
  }
  await saveTorch(pair.model, modelFileDict(data));
  written.unshift(pair.model);
  return written;
}

export async function writeUnified(file: string, data: CheckpointData): Promise<string> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await saveTorch(file, unifiedDict(data));
  return file;
}

// ---- reading ----------------------------------------------------------------------------------

export type DictKind = 'envvar' | 'separated-model' | 'separated-optimizer' | 'unified' | 'other';

/** What a loaded top-level dict is, by its keys. */
export function classifyDict(d: unknown): DictKind {
  const k = recognise(d).kind;
  if (k === 'separated-optimizer' || k === 'separated-model' || k === 'envvar') return k;
  // the section 5 reader takes any dict holding a model state_dict as a unified checkpoint
  if (k === 'unified' || k === 'mypt-legacy' || k === 'nanogpt' || k === 'wrapped' || k === 'modded-small' || k === 'modded-medium') return 'unified';
  return 'other';
}

function modelConfigSource(d: unknown): unknown {
  return field(d, 'config') ?? field(d, 'model_config') ?? field(d, 'model_args');
}

function stepOf(d: unknown): number | undefined {
  return pyNumber(field(d, 'global_step')) ?? pyNumber(field(d, 'iter_num')) ?? pyNumber(field(d, 'step'));
}

function valLossOf(d: unknown, conf: unknown): number | undefined {
  return pyNumber(field(conf, 'val_loss')) ?? pyNumber(field(d, 'val_loss')) ?? pyNumber(field(d, 'best_val_loss'));
}

/** The validation loss a loaded checkpoint dict records (config.val_loss, val_loss, best_val_loss, or its name). */
export function recordedValLoss(d: unknown, file: string): number | undefined {
  return valLossOf(d, modelConfigSource(d)) ?? valLossFromName(file);
}

/** Validation loss written in a file name by other tools (`val_loss=1.234`, `val1.2345`). */
export function valLossFromName(fileName: string): number | undefined {
  const m = /val(?:_loss)?[=_-]?(\d+\.\d+)/.exec(path.basename(fileName));
  return m ? Number(m[1]) : undefined;
}

/** The recorded run settings: our `config.training`, else the whole config (other tools keep them flat). */
function trainingOf(conf: unknown): Record<string, unknown> | undefined {
  const t = field(conf, 'training');
  if (t instanceof Map) return plain(t) as Record<string, unknown>;
  return conf instanceof Map ? (plain(conf) as Record<string, unknown>) : undefined;
}

/** A separated model file's dict + (optional) optimizer file's dict -> CheckpointData. */
export function separatedFromDicts(model: unknown, optimizer: unknown | null, where: { model: string; optimizer: string }): CheckpointData {
  const conf = modelConfigSource(model);
  const { config, params, layout } = stateDictToCanonical(field(model, 'model_state_dict') as Map<any, unknown>, conf, `${where.model}: model_state_dict`);
  let opt = null;
  let schedulers: unknown[] | undefined;
  let epoch = 0;
  if (optimizer) {
    const states = field(optimizer, 'optimizer_states');
    if (!Array.isArray(states)) throw new MyptError('E_BAD_FILE', `${where.optimizer}: optimizer_states is not a list`);
    if (states.length > 1) throw new MyptError('E_UNSUPPORTED', `${where.optimizer}: ${states.length} optimizers; only one AdamW over all parameters can be restored`);
    if (states.length === 1) opt = optimizerToCanonical(layout, states[0], config, `${where.optimizer}: optimizer_states[0]`);
    const s = field(optimizer, 'lr_scheduler_states');
    schedulers = Array.isArray(s) ? s : undefined;
    epoch = pyNumber(field(optimizer, 'epoch')) ?? 0;
    const a = stepOf(model), b = stepOf(optimizer);
    if (a !== undefined && b !== undefined && a !== b) {
      throw new MyptError('E_BAD_FILE', `${where.optimizer}: global_step ${b} does not match the model file's ${a} (a save was interrupted?)`);
    }
  }
  return {
    config, params, optimizer: opt,
    step: stepOf(model) ?? opt?.step ?? 0,
    epoch,
    tokenizer: tokenizerFrom(field(conf, 'tokenizer') ?? field(model, 'tokenizer')),
    valLoss: valLossOf(model, conf) ?? valLossFromName(where.model),
    trainLoss: pyNumber(field(conf, 'train_loss')),
    batchSize: pyNumber(field(conf, 'batch_size')),
    hyperparameters: trainingOf(conf),
    lrSchedulerStates: schedulers,
  };
}

/** A unified dict (ours or nanoGPT-style container keys) -> CheckpointData. */
export function unifiedFromDict(d: unknown, file: string): CheckpointData {
  const sd = (field(d, 'model') ?? field(d, 'model_state_dict')) as Map<any, unknown>;
  if (!(sd instanceof Map)) throw new MyptError('E_BAD_FILE', `${file}: no model state_dict under "model" or "model_state_dict"`);
  const conf = modelConfigSource(d);
  const { config, params, layout } = stateDictToCanonical(sd, conf, `${file}: model`);
  const optSd = field(d, 'optimizer') ?? field(d, 'optimizer_state_dict') ?? field(d, 'optimizer_state');
  const sched = field(d, 'lr_scheduler');
  return {
    config, params,
    optimizer: optSd ? optimizerToCanonical(layout, optSd, config, `${file}: optimizer`) : null,
    step: stepOf(d) ?? 0,
    epoch: pyNumber(field(d, 'epoch')) ?? 0,
    tokenizer: tokenizerFrom(field(conf, 'tokenizer') ?? field(d, 'tokenizer')),
    valLoss: valLossOf(d, conf) ?? valLossFromName(file),
    trainLoss: pyNumber(field(conf, 'train_loss')),
    batchSize: pyNumber(field(conf, 'batch_size')),
    hyperparameters: trainingOf(conf),
    lrSchedulerStates: sched ? [sched] : undefined,
  };
}

/** Reads a separated pair; without its optimizer file it is model-only (the caller decides if that is allowed). */
export async function readSeparated(base: string, opts: { loadOptimizer?: boolean } = {}): Promise<CheckpointData> {
  const pair = pairOf(base);
  const model = await loadTorch(pair.model);
  if (classifyDict(model) !== 'separated-model') {
    throw new MyptError('E_BAD_FILE', `${pair.model}: not a separated model file (expected keys ${MODEL_FILE_KEYS.join(', ')})`);
  }
  const optimizer = opts.loadOptimizer !== false && fs.existsSync(pair.optimizer) ? await loadTorch(pair.optimizer) : null;
  if (optimizer && classifyDict(optimizer) !== 'separated-optimizer') {
    throw new MyptError('E_BAD_FILE', `${pair.optimizer}: not a separated optimizer file (expected keys ${OPTIMIZER_FILE_KEYS.join(', ')})`);
  }
  return separatedFromDicts(model, optimizer, pair);
}

export async function readUnified(file: string): Promise<CheckpointData> {
  return unifiedFromDict(await loadTorch(file), file);
}
