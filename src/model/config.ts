// Model configuration: MyPT's names plus explicit architecture options, resolved once to every field.
//
// Presets by architecture (each field can be overridden):
//   mypt: the lecture GPT: ReLU MLP, q/k/v bias only when `bias`, biased attention/MLP projections and
//         LayerNorms, untied head with bias, head_size^-0.5, PyTorch's default init
//   gpt2: nanoGPT: exact GELU, `bias` (default true) on every Linear and LayerNorm, head tied to wte
//         without bias, dropout after the embeddings, GPT-2 init
import type { NativeModelConfig } from '../native';
import type { Activation, Arch, ArchFlags, ModelSizes } from '../config/gpt';
import { resolvePlacement } from './placement';
import { MyptError } from '../errors';

export type { Arch, Activation, ModelSizes, ArchFlags } from '../config/gpt';

export interface ModelConfig extends ModelSizes, Partial<ArchFlags> {
  dropout?: number; // default 0
  bias?: boolean; // mypt: q/k/v bias (default false); gpt2: every Linear and LayerNorm (default true)
  device?: 'cpu' | 'cuda' | 'auto'; // default 'cpu'; 'auto' = cuda when available
  arch?: Arch; // default 'mypt'
  activation?: Activation;
  attn_scale?: 'head' | 'embd' | number; // head_size^-0.5 | n_embd^-0.5 | explicit multiplier
  mlp_hidden?: number; // default 4 * n_embd
  precision?: 'fp32' | 'bf16'; // GPU only; default bf16 on cuda, fp32 on cpu
  init?: 'pytorch' | 'gpt2';
  seed?: number; // init, dropout and batch sampling; default 1337
  ln_eps?: number; // default 1e-5
}

export interface ResolvedModelConfig extends ModelSizes, ArchFlags {
  dropout: number;
  bias: boolean;
  device: 'cpu' | 'cuda';
  arch: Arch;
  activation: Activation;
  attn_scale: 'head' | 'embd' | number;
  mlp_hidden: number;
  precision: 'fp32' | 'bf16';
  init: 'pytorch' | 'gpt2';
  seed: number;
  ln_eps: number;
}

const KEYS = ['vocab_size', 'block_size', 'n_layer', 'n_head', 'n_embd', 'dropout', 'bias', 'device', 'arch',
  'activation', 'qkv_bias', 'proj_bias', 'mlp_bias', 'ln_bias', 'tied_head', 'head_bias', 'embd_dropout',
  'attn_scale', 'mlp_hidden', 'precision', 'init', 'seed', 'ln_eps'];
// keys of MyPT's config.json that are not model options: accepted and ignored
const IGNORED = ['batch_size'];

function bad(field: string, what: string): never {
  throw new MyptError('E_BAD_CONFIG', `model config: ${field} ${what}`);
}

function int(c: Record<string, unknown>, field: string, min: number, max: number): number {
  const v = c[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    bad(field, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return v;
}

function opt<T>(c: Record<string, unknown>, field: string, fallback: T, ok: (v: unknown) => boolean, what: string,
  fail: (field: string, what: string) => never = bad): T {
  const v = c[field];
  if (v === undefined || v === null) return fallback;
  if (!ok(v)) fail(field, `must be ${what}, got ${JSON.stringify(v)}`);
  return v as T;
}

const isBool = (v: unknown) => typeof v === 'boolean';
const oneOf = (...xs: unknown[]) => (v: unknown) => xs.includes(v);

/** Every field explicit; throws MyptError E_BAD_CONFIG naming the first bad field. */
export function resolveModelConfig(config: ModelConfig): ResolvedModelConfig {
  if (!config || typeof config !== 'object') bad('', 'must be an object');
  const c = config as unknown as Record<string, unknown>;
  for (const k of Object.keys(c))
    if (!KEYS.includes(k) && !IGNORED.includes(k)) bad(k, `is not a model option (known: ${KEYS.join(', ')})`);
  const vocab_size = int(c, 'vocab_size', 1, 1 << 24);
  const block_size = int(c, 'block_size', 1, 1 << 20);
  const n_layer = int(c, 'n_layer', 1, 1024);
  const n_head = int(c, 'n_head', 1, 65536);
  const n_embd = int(c, 'n_embd', 1, 65536);
  if (n_embd % n_head !== 0) bad('n_embd', `(${n_embd}) must be a multiple of n_head (${n_head})`);
  const arch = opt<Arch>(c, 'arch', 'mypt', oneOf('mypt', 'gpt2'), "'mypt' or 'gpt2'");
  const gpt2 = arch === 'gpt2';
  const bias = opt(c, 'bias', gpt2, isBool, 'a boolean');
  const dropout = opt(c, 'dropout', 0, (v) => typeof v === 'number' && v >= 0 && v < 1, 'a number in [0, 1)');
  const { device, precision } = resolvePlacement(c, bad);
  const attn_scale = opt<'head' | 'embd' | number>(c, 'attn_scale', 'head',
    (v) => v === 'head' || v === 'embd' || (typeof v === 'number' && v > 0 && Number.isFinite(v)),
    "'head', 'embd' or a positive number");
  const mlp_hidden = c.mlp_hidden === undefined ? 4 * n_embd : int(c, 'mlp_hidden', 1, 1 << 20);
  const seed = opt(c, 'seed', 1337, (v) => Number.isSafeInteger(v) && (v as number) >= 0, 'a non-negative integer');
  return {
    vocab_size, block_size, n_layer, n_head, n_embd, dropout, bias, device, arch,
    activation: opt(c, 'activation', gpt2 ? 'gelu' : 'relu', oneOf('relu', 'gelu', 'gelu_tanh'), "'relu', 'gelu' or 'gelu_tanh'"),
    qkv_bias: opt(c, 'qkv_bias', bias, isBool, 'a boolean'),
    proj_bias: opt(c, 'proj_bias', gpt2 ? bias : true, isBool, 'a boolean'),
    mlp_bias: opt(c, 'mlp_bias', gpt2 ? bias : true, isBool, 'a boolean'),
    ln_bias: opt(c, 'ln_bias', gpt2 ? bias : true, isBool, 'a boolean'),
    tied_head: opt(c, 'tied_head', gpt2, isBool, 'a boolean'),
    head_bias: opt(c, 'head_bias', !gpt2, isBool, 'a boolean'),
    embd_dropout: opt(c, 'embd_dropout', gpt2, isBool, 'a boolean'),
    attn_scale, mlp_hidden, precision,
    init: opt(c, 'init', gpt2 ? 'gpt2' : 'pytorch', oneOf('pytorch', 'gpt2'), "'pytorch' or 'gpt2'"),
    seed,
    ln_eps: opt(c, 'ln_eps', 1e-5, (v) => typeof v === 'number' && v > 0, 'a positive number'),
  };
}

/** The engine's view of a resolved config (attention scale as a number). */
export function toNativeConfig(c: ResolvedModelConfig): NativeModelConfig {
  const scale = c.attn_scale === 'head' ? 0 : c.attn_scale === 'embd' ? Math.pow(c.n_embd, -0.5) : c.attn_scale;
  return {
    vocab_size: c.vocab_size, block_size: c.block_size, n_layer: c.n_layer, n_head: c.n_head, n_embd: c.n_embd,
    mlp_hidden: c.mlp_hidden, dropout: c.dropout, activation: c.activation, qkv_bias: c.qkv_bias,
    proj_bias: c.proj_bias, mlp_bias: c.mlp_bias, ln_bias: c.ln_bias, tied_head: c.tied_head,
    head_bias: c.head_bias, embd_dropout: c.embd_dropout, attn_scale: scale, ln_eps: c.ln_eps,
  };
}
