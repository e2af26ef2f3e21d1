// Training options: MyPT's train.py flags (same names, meanings and defaults) plus mypt-native's own,
// resolved in layers — built-in default run, or MyPT's defaults under a --preset / --config_file — then
// the caller's explicit values. Every value is checked here, once, naming the flag.
import { MyptError } from '../../errors';
import { getPreset, readConfigFile } from './presets';

export type Device = 'auto' | 'cpu' | 'cuda';
export type ArchName = 'mypt' | 'gpt2';

export interface TrainOptions {
  model_name?: string;
  /** Folder holding the model folders (MyPT: checkpoints/). */
  checkpoints_dir?: string;
  input_file?: string;
  tokenization?: 'char' | 'gpt2';
  init_from_model?: string;
  config_file?: string;
  preset?: string;
  max_iters?: number;
  eval_interval?: number;
  eval_iters?: number;
  learning_rate?: number;
  batch_size?: number;
  block_size?: number;
  n_embd?: number;
  n_head?: number;
  n_layer?: number;
  dropout?: number;
  bias?: boolean;
  device?: Device;
  seed?: number;
  arch?: ArchName;
  weight_decay?: number;
  grad_clip?: number;
  warmup_iters?: number;
  lr_decay_iters?: number;
  min_lr?: number;
  save_model_only?: boolean;
  /** Characters/tokens of the sample printed at the end (0: none). */
  sample_tokens?: number;
  /** Micro-batches of batch_size per optimizer step and process (nanoGPT's gradient_accumulation_steps). */
  grad_accum?: number;
}

export type Resolved = Required<Omit<TrainOptions, 'init_from_model' | 'config_file' | 'preset'>> &
  Pick<TrainOptions, 'init_from_model' | 'config_file' | 'preset'>;

export interface ResolvedTrainOptions {
  values: Resolved;
  /** Where each value came from: 'flag', 'preset small', 'config_file f.json', 'default'. */
  source: Record<string, string>;
  /** True when the values are the built-in default run (no preset, no config file). */
  builtinDefault: boolean;
}

/** MyPT train.py's defaults (and ours for the flags MyPT lacks). */
export const MYPT_TRAIN_DEFAULTS: Omit<Resolved, 'init_from_model' | 'config_file' | 'preset' | 'input_file'> = {
  model_name: 'default',
  checkpoints_dir: 'checkpoints',
  tokenization: 'gpt2',
  max_iters: 1000,
  eval_interval: 50,
  eval_iters: 200,
  learning_rate: 3e-4,
  batch_size: 32,
  block_size: 256,
  n_embd: 384,
  n_head: 6,
  n_layer: 6,
  dropout: 0.2,
  bias: false,
  device: 'auto',
  seed: 1337,
  arch: 'mypt',
  weight_decay: 0.01,
  grad_clip: 0,
  warmup_iters: 0,
  lr_decay_iters: 0,
  min_lr: -1, // -1: learning_rate / 10
  save_model_only: false,
  sample_tokens: 500,
  grad_accum: 1,
};

export const ARCH_KEYS = ['n_embd', 'n_head', 'n_layer', 'block_size', 'bias', 'arch'] as const;
const INT_KEYS = ['max_iters', 'eval_interval', 'eval_iters', 'batch_size', 'block_size', 'n_embd', 'n_head', 'n_layer', 'seed', 'warmup_iters', 'lr_decay_iters', 'sample_tokens', 'grad_accum'] as const;
const POSITIVE = new Set(['eval_interval', 'eval_iters', 'batch_size', 'block_size', 'n_embd', 'n_head', 'n_layer', 'grad_accum']);
const KNOWN = new Set<string>([...Object.keys(MYPT_TRAIN_DEFAULTS), 'input_file', 'init_from_model', 'config_file', 'preset']);

/** A bad value, named as the user gave it: a flag, or a key of the config file / preset, or the default. */
function bad(flag: string, value: unknown, why: string, from = 'flag'): never {
  const shown = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : JSON.stringify(value);
  const where = from === 'flag' ? `--${flag} ${shown}` : `${flag} ${shown} (${from === 'default' ? 'the default' : `from ${from}`})`;
  throw new MyptError('E_BAD_ARGUMENT', `${where}: ${why}`);
}

/** Values from a preset or config file, keeping only keys that are options (vocab_size, name... are not). */
function optionValues(values: Record<string, unknown>): Partial<TrainOptions> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) if (KNOWN.has(k) && k !== 'preset' && k !== 'config_file') out[k] = v;
  return out as Partial<TrainOptions>;
}

export function resolveTrainOptions(opts: TrainOptions, defaultCorpus: string): ResolvedTrainOptions {
  const source: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const layer = (o: Partial<TrainOptions>, from: string) => {
    for (const [k, v] of Object.entries(o)) {
      if (v === undefined) continue;
      values[k] = v;
      source[k] = from;
    }
  };
  const builtinDefault = opts.preset === undefined && opts.config_file === undefined;
  layer({ ...MYPT_TRAIN_DEFAULTS, input_file: defaultCorpus }, 'default');
  if (builtinDefault) {
    layer(optionValues(getPreset('default').values), 'default');
  } else {
    if (opts.preset !== undefined) layer(optionValues(getPreset(opts.preset).values), `preset ${opts.preset}`);
    if (opts.config_file !== undefined) layer(optionValues(readConfigFile(opts.config_file)), `config_file ${opts.config_file}`);
  }
  for (const [k, v] of Object.entries(opts)) {
    if (v === undefined) continue;
    if (!KNOWN.has(k)) throw new MyptError('E_BAD_ARGUMENT', `unknown training option "${k}"`);
    values[k] = v;
    source[k] = 'flag';
  }
  Object.keys(source).forEach((k) => { if (!(k in values)) delete source[k]; });
  const v = values as Resolved;
  // a cosine decay not asked for by name runs to the end of this run (as nanoGPT's configs set it), not to
  // the built-in run's own length
  if (source.lr_decay_iters === 'default' && typeof v.lr_decay_iters === 'number' && v.lr_decay_iters > 0 && typeof v.max_iters === 'number') {
    v.lr_decay_iters = Math.max(v.max_iters, typeof v.warmup_iters === 'number' ? v.warmup_iters : 0);
  }
  checkValues(v, source);
  if (v.min_lr < 0) v.min_lr = v.learning_rate / 10;
  return { values: v, source, builtinDefault };
}

function checkValues(v: Resolved, source: Record<string, string>): void {
  for (const k of INT_KEYS) {
    const x = v[k] as unknown;
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) bad(k, x, 'must be a whole number >= 0', source[k]);
    if (POSITIVE.has(k) && x === 0) bad(k, x, 'must be at least 1', source[k]);
  }
  const num = (k: keyof Resolved, ok: (x: number) => boolean, why: string) => {
    const x = v[k] as unknown;
    if (typeof x !== 'number' || !Number.isFinite(x) || !ok(x)) bad(k, x, why, source[k]);
  };
  num('learning_rate', (x) => x > 0, 'must be a number > 0');
  num('dropout', (x) => x >= 0 && x < 1, 'must be a number in [0, 1)');
  num('weight_decay', (x) => x >= 0, 'must be a number >= 0');
  num('grad_clip', (x) => x >= 0, 'must be a number >= 0 (0: no clipping)');
  num('min_lr', (x) => x >= 0 || x === -1, 'must be a number >= 0');
  if (v.n_embd % v.n_head !== 0) bad('n_head', v.n_head, `n_embd ${v.n_embd} is not divisible by n_head ${v.n_head}`, source['n_head']);
  if (v.tokenization !== 'char' && v.tokenization !== 'gpt2') bad('tokenization', v.tokenization, 'expected char or gpt2', source['tokenization']);
  if (!['auto', 'cpu', 'cuda'].includes(v.device)) bad('device', v.device, 'expected auto, cpu or cuda', source['device']);
  if (v.arch !== 'mypt' && v.arch !== 'gpt2') bad('arch', v.arch, 'expected mypt or gpt2', source['arch']);
  if (typeof v.bias !== 'boolean') bad('bias', v.bias, 'expected true or false', source['bias']);
  if (typeof v.model_name !== 'string' || !v.model_name || /[\\/]/.test(v.model_name) || v.model_name.startsWith('.')) {
    bad('model_name', v.model_name, 'must be a plain folder name (no slashes, not starting with a dot)', source['model_name']);
  }
  if (v.lr_decay_iters > 0 && v.lr_decay_iters < v.warmup_iters) bad('lr_decay_iters', v.lr_decay_iters, `must be >= --warmup_iters ${v.warmup_iters}`, source['lr_decay_iters']);
}
