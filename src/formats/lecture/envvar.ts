// The env-var trainer's single-file checkpoints (FORMATS.md section 4, gness1804/build_llm_karpathy):
//   {"step", "model_state_dict", "optimizer_state_dict", "hyperparameters", "vocab_size", "block_size", "batch_size"}
// with the lecture trainer's names (ffwd, final LayerNorm at blocks.{n_layer}, n_embd^-0.5 scale).
// Files we write add "tokenizer" (the original never stores the char vocabulary) and, when known, "val_loss";
// architecture options that differ from the lecture model's are recorded in "hyperparameters".
import fs from 'fs';
import path from 'path';
import { MyptError, expectPath } from '../../errors';
import type { TokenizerJSON } from '../../tokenizer/types';
import { field, pyNumber } from '../layouts/common';
import { PyDict } from '../torch';
import { ARCH_KEYS, CheckpointData, canonicalToOptimizer, canonicalToStateDict, layoutFor, optimizerToCanonical, stateDictToCanonical } from '../separated/data';
import { plain, pyF, tokenizerDict, tokenizerFrom } from '../py-util';
import { envCheckpointFileName } from './envvar-name';
import { loadTorch, saveTorch } from '../torch';

export const ENV_KEYS = ['step', 'model_state_dict', 'optimizer_state_dict', 'hyperparameters', 'vocab_size', 'block_size', 'batch_size'];

/** True when a loaded dict is a section 4 checkpoint. */
export function isEnvCheckpointDict(d: unknown): boolean {
  return d instanceof Map && d.has('model_state_dict') && d.has('hyperparameters') && d.has('vocab_size');
}

/** The section 4 dict for a checkpoint (optimizer_state_dict is None for a model-only file). */
export function envCheckpointDict(data: CheckpointData, extra: { modelType?: string; source?: string } = {}): PyDict {
  const c = data.config;
  const hp = new PyDict<unknown>();
  const given = data.hyperparameters ?? {};
  hp.set('batch_size', data.batchSize ?? given.batch_size ?? null);
  hp.set('block_size', c.block_size);
  for (const [k, v] of Object.entries(given)) if (!hp.has(k) && !['n_embd', 'n_head', 'n_layer', 'dropout'].includes(k)) hp.set(k, v);
  hp.set('n_embd', c.n_embd);
  hp.set('n_head', c.n_head);
  hp.set('n_layer', c.n_layer);
  hp.set('dropout', pyF(c.dropout ?? 0));
  if (extra.modelType) hp.set('model_type', extra.modelType);
  if (extra.source) hp.set('training_data_source', extra.source);
  for (const k of ARCH_KEYS) if (c[k] !== undefined) hp.set(k, c[k]);   // exact reload of our models
  for (const [k, v] of hp) if (typeof v === 'number' && /learning_rate|lr$/.test(String(k))) hp.set(k, pyF(v));

  // the lecture trainer's names when the model is its architecture; MyPT's (or nanoGPT's) otherwise
  const layout = layoutFor(c, 'lecture');
  const d = new PyDict<unknown>();
  d.set('step', data.step);
  d.set('model_state_dict', canonicalToStateDict(layout, data.params, c));
  d.set('optimizer_state_dict', data.optimizer ? canonicalToOptimizer(layout, data.optimizer, c) : null);
  d.set('hyperparameters', hp);
  d.set('vocab_size', c.vocab_size);
  d.set('block_size', c.block_size);
  d.set('batch_size', data.batchSize ?? null);
  d.set('tokenizer', data.tokenizer ? tokenizerDict(data.tokenizer) : null);
  if (data.valLoss !== undefined) d.set('val_loss', pyF(data.valLoss));
  return d;
}

/** Writes `checkpoint_{model}_{source}_step{N:06d}_{time}.pt` into `dir`; returns its path. */
export async function writeEnvCheckpoint(dir: string, data: CheckpointData, name: { modelType: string; source: string; time?: Date }): Promise<string> {
  expectPath(dir, 'writeEnvCheckpoint');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, envCheckpointFileName(name.modelType, name.source, data.step, name.time));
  await saveTorch(file, envCheckpointDict(data, name));
  return file;
}

/** A section 4 dict (as loaded) -> CheckpointData. The vocabulary: the file's, else tokenizer.json beside it. */
export function envCheckpointFromDict(d: unknown, file: string): CheckpointData & { tokenizerSource: string | null } {
  if (!isEnvCheckpointDict(d)) {
    throw new MyptError('E_BAD_FILE', `${file}: not an env-var trainer checkpoint (expected keys ${ENV_KEYS.join(', ')})`);
  }
  const hp = field(d, 'hyperparameters');
  const stored = new Map<string, unknown>();
  if (hp instanceof Map) for (const [k, v] of hp) stored.set(String(k), v);
  stored.set('vocab_size', field(d, 'vocab_size'));
  stored.set('block_size', field(d, 'block_size'));
  const { config, params, layout } = stateDictToCanonical(field(d, 'model_state_dict') as Map<any, unknown>, stored, `${file}: model_state_dict`);
  const optSd = field(d, 'optimizer_state_dict');
  const optimizer = optSd ? optimizerToCanonical(layout, optSd, config, `${file}: optimizer_state_dict`) : null;
  let tokenizer = tokenizerFrom(field(d, 'tokenizer'));
  let tokenizerSource: string | null = tokenizer ? file : null;
  if (!tokenizer) {
    const beside = path.join(path.dirname(file), 'tokenizer.json');
    if (fs.existsSync(beside)) {
      tokenizer = tokenizerFrom(JSON.parse(fs.readFileSync(beside, 'utf8')));
      tokenizerSource = beside;
    }
  }
  const hyperparameters = plain(hp) as Record<string, unknown>;
  return {
    config, params, optimizer,
    step: pyNumber(field(d, 'step')) ?? optimizer?.step ?? 0,
    epoch: 0,
    tokenizer: tokenizer as TokenizerJSON | null,
    tokenizerSource,
    valLoss: pyNumber(field(d, 'val_loss')),
    batchSize: pyNumber(field(d, 'batch_size')) ?? pyNumber(field(hp, 'batch_size')),
    hyperparameters,
  };
}

export async function readEnvCheckpoint(file: string): Promise<CheckpointData & { tokenizerSource: string | null }> {
  expectPath(file, 'readEnvCheckpoint');
  return envCheckpointFromDict(await loadTorch(file), file);
}
