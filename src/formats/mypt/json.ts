// The three JSON files of a MyPT bundle (FORMATS.md section 1), read leniently and written exactly as
// MyPT's Python writes them (json.dump indent=2, its key order).
import fs from 'fs';
import path from 'path';
import { MyptError, expectPath } from '../../errors';
import type { TokenizerJSON } from '../../tokenizer/types';
import { pyFloat, pyJsonDumps } from '../pyjson';
import { writeFileAtomicSync } from '../atomic';

/** config.json: MyPT's GPTConfig fields. `device` is a record of where it trained, never an order. */
export interface MyptConfigJson {
  batch_size: number;
  block_size: number;
  vocab_size: number;
  n_embd: number;
  n_head: number;
  n_layer: number;
  dropout: number;
  bias: boolean;
  device: string;
  /** mypt-native only, written for non-MyPT architectures (MyPT's own loader cannot run them anyway). */
  arch?: string;
  [extra: string]: unknown;
}

/** MyPT's GPTConfig defaults, used for every key a config.json leaves out. */
export const MYPT_CONFIG_DEFAULTS: MyptConfigJson = {
  batch_size: 32, block_size: 256, vocab_size: 50304, n_embd: 384, n_head: 6, n_layer: 6, dropout: 0.2, bias: false, device: 'cpu',
};

export interface TrainingConfigJson {
  max_iters: number;
  eval_interval: number;
  eval_iters: number;
  learning_rate: number;
  start_step: number;
  [extra: string]: unknown;
}

export interface TrainingStateJson {
  step: number | null;
  training_config?: TrainingConfigJson;
  optimizer_file?: string | null;
}

const INT_KEYS = ['batch_size', 'block_size', 'vocab_size', 'n_embd', 'n_head', 'n_layer'] as const;

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new MyptError('E_IO', `${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text.replace(/\bNaN\b|-?\bInfinity\b/g, 'null'));
  } catch (e) {
    throw new MyptError('E_BAD_FILE', `${file}: not valid JSON (${(e as Error).message.replace(/\s*\n\s*/g, ' ')})`);
  }
}

function asObject(v: unknown, file: string): Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new MyptError('E_BAD_FILE', `${file}: not a JSON object`);
  return v as Record<string, unknown>;
}

/** Lenient: unknown keys kept aside, missing keys defaulted; sizes must be positive integers. */
export function parseConfigJson(value: unknown, file = 'config.json'): MyptConfigJson {
  const o = asObject(value, file);
  const out: MyptConfigJson = { ...MYPT_CONFIG_DEFAULTS, ...o } as MyptConfigJson;
  for (const k of INT_KEYS) {
    const v = out[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new MyptError('E_BAD_FILE', `${file}: "${k}" must be a positive integer, found ${JSON.stringify(v)}`);
    }
  }
  if (typeof out.dropout !== 'number' || !(out.dropout >= 0 && out.dropout < 1)) {
    throw new MyptError('E_BAD_FILE', `${file}: "dropout" must be a number in [0, 1), found ${JSON.stringify(out.dropout)}`);
  }
  out.bias = Boolean(out.bias);
  out.device = typeof out.device === 'string' ? out.device : 'cpu';
  if (out.n_embd % out.n_head !== 0) {
    throw new MyptError('E_BAD_FILE', `${file}: n_embd ${out.n_embd} is not divisible by n_head ${out.n_head}`);
  }
  return out;
}

export function readConfigJson(dir: string): MyptConfigJson {
  const file = path.join(dir, 'config.json');
  return parseConfigJson(readJson(file), file);
}

export function readTokenizerJson(dir: string): TokenizerJSON | null {
  const file = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(file)) return null;
  const o = asObject(readJson(file), file);
  return { token_kind: String(o.token_kind), chars: Array.isArray(o.chars) ? (o.chars as string[]) : null };
}

export function readTrainingStateJson(dir: string): TrainingStateJson | null {
  const file = path.join(dir, 'training_state.json');
  if (!fs.existsSync(file)) return null;
  const o = asObject(readJson(file), file);
  const step = typeof o.step === 'number' && Number.isInteger(o.step) && o.step >= 0 ? o.step : null;
  const tc = o.training_config && typeof o.training_config === 'object' ? (o.training_config as TrainingConfigJson) : undefined;
  return { step, training_config: tc, optimizer_file: typeof o.optimizer_file === 'string' ? o.optimizer_file : null };
}

// ---- writers ----

export function configJsonText(c: MyptConfigJson): string {
  const { batch_size, block_size, vocab_size, n_embd, n_head, n_layer, dropout, bias, device, ...extra } = c;
  return pyJsonDumps({ batch_size, block_size, vocab_size, n_embd, n_head, n_layer, dropout: pyFloat(dropout), bias, device, ...extra });
}

export function tokenizerJsonText(t: TokenizerJSON): string {
  return pyJsonDumps({ token_kind: t.token_kind, chars: t.chars });
}

const TRAINING_FLOAT_KEYS = new Set(['learning_rate', 'weight_decay', 'grad_clip', 'min_lr', 'beta1', 'beta2']);

export function trainingStateJsonText(s: TrainingStateJson): string {
  const tc = s.training_config;
  const training_config = tc
    ? Object.fromEntries(Object.entries(tc).map(([k, v]) => [k, TRAINING_FLOAT_KEYS.has(k) && typeof v === 'number' ? pyFloat(v) : v]))
    : undefined;
  return pyJsonDumps({ step: s.step, training_config, optimizer_file: s.optimizer_file ?? null });
}

/** Reads config.json from a bundle folder (or a config.json path), leniently (missing keys defaulted). */
export function loadConfig(dirOrFile: string): MyptConfigJson {
  expectPath(dirOrFile, 'loadConfig');
  return dirOrFile.endsWith('.json') ? readConfigJson(path.dirname(dirOrFile)) : readConfigJson(dirOrFile);
}

/** Writes config.json as MyPT does (indent 2, MyPT's key order), atomically. */
export function saveConfig(dirOrFile: string, config: Partial<MyptConfigJson>): string {
  expectPath(dirOrFile, 'saveConfig');
  const file = dirOrFile.endsWith('.json') ? dirOrFile : path.join(dirOrFile, 'config.json');
  writeFileAtomicSync(file, configJsonText(parseConfigJson(config, file)));
  return file;
}
