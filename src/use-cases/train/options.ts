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
  /** nanoGPT's gradient_accumulation_steps: micro-batches per optimizer step over all processes (divided by
   *  the world size, which must divide it); sets grad_accum. */
  gradient_accumulation_steps?: number;
  /** llm.c's total batch size in tokens: a multiple of batch_size x block_size x processes; sets grad_accum. */
  total_batch_size?: number;
  /** AdamW betas (nanoGPT's names) [0.9, 0.999: PyTorch's defaults, as MyPT]. */
  beta1?: number;
  beta2?: number;
  /** Evaluate the starting point once and stop: no training, no files written. */
  eval_only?: boolean;
  /** Log `iter N: loss ..., time ...ms` every N steps (0: off, the progress bar only). */
  log_interval?: number;
  /** nanoGPT's init_from: gpt2, gpt2-medium, gpt2-large, gpt2-xl (the Hugging Face cache) or a checkpoint path. */
  init_from?: string;
  /** A folder of token shards (`prepare`'s, nanoGPT's train.bin/val.bin, llm.c's) to train on instead of --input_file. */
  data?: string;
  /** How batches come from --data: random windows (nanoGPT) or sequential over shuffled shards (llm.c). */
  sampling?: 'random' | 'sequential';
  /** Activation recomputation in the backward pass (GPU): 0 none, 1 the MLP activation, 2 also the LayerNorms. */
  recompute?: number;
}

/** Options without a default: absent unless given. */
type Optional = 'init_from_model' | 'config_file' | 'preset' | 'init_from' | 'gradient_accumulation_steps' | 'total_batch_size' | 'data';

export type Resolved = Required<Omit<TrainOptions, Optional>> & Pick<TrainOptions, Optional>;

export interface ResolvedTrainOptions {
  values: Resolved;
  /** Where each value came from: 'flag', 'preset small', 'config_file f.json', 'default'. */
  source: Record<string, string>;
  /** True when the values are the built-in default run (no preset, no config file). */
  builtinDefault: boolean;
}

/** MyPT train.py's defaults (and ours for the flags MyPT lacks). */
export const MYPT_TRAIN_DEFAULTS: Omit<Resolved, Optional | 'input_file'> = {
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
  beta1: 0.9,
  beta2: 0.999,
  eval_only: false,
  log_interval: 0,
  sampling: 'random',
  recompute: 0,
};

export const ARCH_KEYS = ['n_embd', 'n_head', 'n_layer', 'block_size', 'bias', 'arch'] as const;
const INT_KEYS = ['max_iters', 'eval_interval', 'eval_iters', 'batch_size', 'block_size', 'n_embd', 'n_head', 'n_layer', 'seed', 'warmup_iters', 'lr_decay_iters', 'sample_tokens', 'grad_accum', 'log_interval', 'recompute'] as const;
const INT32_MAX = 2147483647;
const POSITIVE = new Set(['eval_interval', 'eval_iters', 'batch_size', 'block_size', 'n_embd', 'n_head', 'n_layer', 'grad_accum']);
const KNOWN = new Set<string>([...Object.keys(MYPT_TRAIN_DEFAULTS), 'input_file', 'init_from_model', 'config_file', 'preset', 'init_from',
  'gradient_accumulation_steps', 'total_batch_size', 'data']);

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
    // counts and sizes reach the engine as 32-bit integers: a larger one is refused here, by its flag, before the run
    if (k !== 'seed' && x > INT32_MAX) bad(k, x, `must be at most ${INT32_MAX}`, source[k]);
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
  if (v.recompute > 2) bad('recompute', v.recompute, 'expected 0 (keep every activation), 1 (recompute the MLP activation) or 2 (also the LayerNorms)', source['recompute']);
  if (v.sampling !== 'random' && v.sampling !== 'sequential') bad('sampling', v.sampling, 'expected random or sequential', source['sampling']);
  if (v.data === undefined && source['sampling'] === 'flag') bad('sampling', v.sampling, 'chooses how batches come from --data DIR: add --data');
  if (v.data !== undefined && source['input_file'] === 'flag') bad('input_file', v.input_file, `give --input_file or --data ${v.data}, not both`);
  if (v.data !== undefined && (typeof v.data !== 'string' || !v.data)) bad('data', v.data, 'must be a folder', source['data']);
  if (v.arch !== 'mypt' && v.arch !== 'gpt2') bad('arch', v.arch, 'expected mypt or gpt2', source['arch']);
  if (typeof v.bias !== 'boolean') bad('bias', v.bias, 'expected true or false', source['bias']);
  if (typeof v.model_name !== 'string' || !v.model_name || /[\\/]/.test(v.model_name) || v.model_name.startsWith('.')) {
    bad('model_name', v.model_name, 'must be a plain folder name (no slashes, not starting with a dot)', source['model_name']);
  }
  num('beta1', (x) => x >= 0 && x < 1, 'must be a number in [0, 1)');
  num('beta2', (x) => x >= 0 && x < 1, 'must be a number in [0, 1)');
  if (typeof v.eval_only !== 'boolean') bad('eval_only', v.eval_only, 'expected true or false', source['eval_only']);
  for (const k of ['gradient_accumulation_steps', 'total_batch_size'] as const) {
    const x = v[k] as unknown;
    if (x !== undefined && (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 1)) bad(k, x, 'must be a whole number >= 1', source[k]);
  }
  if (v.init_from !== undefined) {
    if (typeof v.init_from !== 'string' || v.init_from === '') bad('init_from', v.init_from, 'expected gpt2, gpt2-medium, gpt2-large, gpt2-xl or a checkpoint path', source['init_from']);
    if (v.init_from_model !== undefined) bad('init_from', v.init_from, 'give --init_from or --init_from_model, not both', source['init_from']);
  }
  if (v.lr_decay_iters > 0 && v.lr_decay_iters < v.warmup_iters) bad('lr_decay_iters', v.lr_decay_iters, `must be >= --warmup_iters ${v.warmup_iters}`, source['lr_decay_iters']);
}

/**
 * Micro-batches per optimizer step and process, from --grad_accum (per process), nanoGPT's
 * --gradient_accumulation_steps (over all processes: divided by the world size, as nanoGPT's train.py does)
 * or llm.c's --total_batch_size (tokens per step: batch_size x block_size x processes x micro-batches).
 * Given together, they must agree. `blockSize` is the model's context (a checkpoint's, when one is loaded).
 */
/** The source of a value adopted from the resumed bundle's training_state.json. */
export const RECORDED = 'training_state.json';

export function microBatches(v: Resolved, source: Record<string, string>, blockSize: number, world = 1): number {
  const B = v.batch_size;
  let per: number | undefined = source.grad_accum === 'flag' ? v.grad_accum : undefined;
  let from = '--grad_accum';
  const agree = (k: string, n: number, value: number) => {
    if (per !== undefined && per !== n) {
      bad(k, value, `gives ${n} micro-batch(es) per process but ${from} gives ${per}`, source[k]);
    }
    per = n;
    from = `--${k} ${value}`;
  };
  if (v.gradient_accumulation_steps !== undefined) {
    const g = v.gradient_accumulation_steps;
    if (g % world !== 0 && source.gradient_accumulation_steps === RECORDED) return v.grad_accum; // another world size: per process as given
    if (g % world !== 0) bad('gradient_accumulation_steps', g, `must be divisible by the number of processes (${world})`, source.gradient_accumulation_steps);
    agree('gradient_accumulation_steps', g / world, g);
  }
  if (v.total_batch_size !== undefined) {
    const t = v.total_batch_size, unit = B * blockSize * world;
    if (t % unit !== 0) {
      bad('total_batch_size', t, `must be a multiple of batch_size x block_size x processes = ${B} x ${blockSize} x ${world} = ${unit} tokens`, source.total_batch_size);
    }
    agree('total_batch_size', t / unit, t);
  }
  if (per !== undefined && per > INT32_MAX) throw new MyptError('E_BAD_ARGUMENT', `${from}: gives ${per} micro-batches per process, more than ${INT32_MAX}`);
  return per ?? v.grad_accum;
}
