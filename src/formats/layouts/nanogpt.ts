// nanoGPT (karpathy/nanoGPT model.py, FORMATS.md section 3): its state_dict <-> the canonical layout, its
// model_args <-> ModelConfig, and its two-group AdamW state <-> the canonical optimizer state.
//
// Names: transformer.wte/wpe, transformer.h.i.{ln_1, attn.c_attn [3C,C], attn.c_proj, ln_2, mlp.c_fc [4C,C],
// mlp.c_proj}.{weight,bias}, transformer.ln_f, lm_head.weight (the same tensor as wte: tied). Biases (Linear and
// LayerNorm) only when bias=True. c_attn rows are q | k | v, head-major: the canonical qkv as it is.
// Torch without flash attention registers a `transformer.h.i.attn.bias` mask buffer [1,1,T,T]: ignored.
// A compiled model's keys carry `_orig_mod.`: stripped. GELU is exact (erf).
import type { ModelSizes } from '../../config/gpt';
import { MyptError } from '../../errors';
import {
  AdamWHyper, CanonicalOptimizer, F32Tensor, LayoutConfig, NamedTensors, PyDict, SdReader, StateDictIn,
  canonicalParams, checkCanonical, f32, transpose,
} from './common';
import { adamWGroupNano, adamWState, readAdamW } from './adamw';
import { plainDict } from './py';

/** nanoGPT's model_args (train.py), in its key order. */
export interface NanoModelArgs {
  n_layer: number;
  n_head: number;
  n_embd: number;
  block_size: number;
  bias: boolean;
  vocab_size: number;
  dropout: number;
}

/** ModelConfig (contracts A) of a GPT-2-family model. */
export interface Gpt2ModelConfig extends ModelSizes {
  dropout: number;
  bias: boolean;
  arch: 'gpt2';
  /** nanoGPT: exact GELU; HF GPT-2: its activation_function (gelu_new = the tanh GELU; relu possible). */
  activation: 'gelu' | 'gelu_tanh' | 'relu';
  qkv_bias: boolean;
  proj_bias: boolean;
  mlp_bias: boolean;
  ln_bias: boolean;
  tied_head: boolean;
  head_bias: false;
  embd_dropout: true;
  attn_scale: 'head';
  /** HF GPT-2's n_inner when it is not 4 * n_embd. */
  mlp_hidden?: number;
  /** HF GPT-2's layer_norm_epsilon when it is not 1e-5. */
  ln_eps?: number;
}

export function gpt2ModelConfig(
  s: { vocab_size: number; block_size: number; n_layer: number; n_head: number; n_embd: number; dropout?: number; bias: boolean },
  activation: 'gelu' | 'gelu_tanh' | 'relu',
  tied: boolean,
): Gpt2ModelConfig {
  const b = s.bias;
  return {
    vocab_size: s.vocab_size, block_size: s.block_size, n_layer: s.n_layer, n_head: s.n_head, n_embd: s.n_embd,
    dropout: s.dropout ?? 0, bias: b, arch: 'gpt2', activation, qkv_bias: b, proj_bias: b, mlp_bias: b, ln_bias: b,
    tied_head: tied, head_bias: false, embd_dropout: true, attn_scale: 'head',
  };
}

/** A GPT-2-family name: the state_dict key, the canonical name, the canonical shape, stored transposed (HF Conv1D). */
export type Gpt2Entry = [key: string, name: string, shape: number[], transposed: boolean];

/**
 * GPT-2-family state_dict entries in model order. `prefix` is 'transformer.' (nanoGPT, GPT2LMHeadModel) or ''
 * (HF GPT2Model files); `conv1d` marks the four HF Conv1D weights stored [in, out]; the head is listed only
 * when untied or `withTiedHead` (nanoGPT lists the tied lm_head.weight; HF safetensors drop it).
 */
export function gpt2FamilyEntries(c: LayoutConfig, prefix: string, conv1d: boolean, withTiedHead: boolean): Gpt2Entry[] {
  const C = c.n_embd;
  const F = c.mlp_hidden && c.mlp_hidden > 0 ? c.mlp_hidden : 4 * C;
  const ln = c.ln_bias !== false;
  const e: Gpt2Entry[] = [];
  const add = (key: string, name: string, shape: number[], t = false) => e.push([key, name, shape, t && conv1d]);
  add(`${prefix}wte.weight`, 'wte', [c.vocab_size, C]);
  add(`${prefix}wpe.weight`, 'wpe', [c.block_size, C]);
  for (let i = 0; i < c.n_layer; i++) {
    const k = `${prefix}h.${i}.`;
    const h = `h.${i}.`;
    add(`${k}ln_1.weight`, `${h}ln1.weight`, [C]);
    if (ln) add(`${k}ln_1.bias`, `${h}ln1.bias`, [C]);
    add(`${k}attn.c_attn.weight`, `${h}attn.qkv.weight`, [3 * C, C], true);
    if (c.qkv_bias) add(`${k}attn.c_attn.bias`, `${h}attn.qkv.bias`, [3 * C]);
    add(`${k}attn.c_proj.weight`, `${h}attn.proj.weight`, [C, C], true);
    if (c.proj_bias !== false) add(`${k}attn.c_proj.bias`, `${h}attn.proj.bias`, [C]);
    add(`${k}ln_2.weight`, `${h}ln2.weight`, [C]);
    if (ln) add(`${k}ln_2.bias`, `${h}ln2.bias`, [C]);
    add(`${k}mlp.c_fc.weight`, `${h}mlp.fc.weight`, [F, C], true);
    if (c.mlp_bias !== false) add(`${k}mlp.c_fc.bias`, `${h}mlp.fc.bias`, [F]);
    add(`${k}mlp.c_proj.weight`, `${h}mlp.proj.weight`, [C, F], true);
    if (c.mlp_bias !== false) add(`${k}mlp.c_proj.bias`, `${h}mlp.proj.bias`, [C]);
  }
  add(`${prefix}ln_f.weight`, 'lnf.weight', [C]);
  if (ln) add(`${prefix}ln_f.bias`, 'lnf.bias', [C]);
  if (!c.tied_head) add('lm_head.weight', 'head.weight', [c.vocab_size, C]);
  else if (withTiedHead) add('lm_head.weight', 'wte', [c.vocab_size, C]);
  return e;
}

/** Stored shape of an entry ([in, out] for a Conv1D weight). */
const stored = (e: Gpt2Entry) => (e[3] ? [e[2][1], e[2][0]] : e[2]);

/** Reads a GPT-2-family state_dict into canonical tensors (transposing Conv1D weights back to [out, in]). */
export function readGpt2Family(r: SdReader, c: LayoutConfig, entries: Gpt2Entry[]): NamedTensors {
  const got: Record<string, Float32Array> = {};
  for (const e of entries) {
    if (e[0] === 'lm_head.weight' && e[1] === 'wte') continue; // tied: the same tensor as wte
    const s = stored(e);
    const v = r.tensor(e[0], s);
    got[e[1]] = e[3] ? transpose(v, s[0], s[1]) : v;
  }
  if (c.tied_head && r.has('lm_head.weight')) r.used.add('lm_head.weight');
  const out: NamedTensors = {};
  for (const [name, shape] of canonicalParams(c)) out[name] = f32(shape, got[name]);
  return out;
}

/** Canonical -> GPT-2-family state_dict (tied head: lm_head.weight is the very wte tensor object). */
export function writeGpt2Family(params: NamedTensors, entries: Gpt2Entry[]): PyDict<F32Tensor> {
  const out = new PyDict<F32Tensor>();
  const made: Record<string, F32Tensor> = {};
  for (const e of entries) {
    const src = params[e[1]];
    if (e[1] === 'wte' && made.wte) {
      out.set(e[0], made.wte);
      continue;
    }
    const t = e[3] ? f32(stored(e), transpose(src.data, e[2][0], e[2][1])) : f32(e[2], src.data.slice());
    made[e[1]] = t;
    out.set(e[0], t);
  }
  return out;
}

export const stripOrigMod = (k: string) => (k.startsWith('_orig_mod.') ? k.slice('_orig_mod.'.length) : k);

/** A state_dict with `_orig_mod.` (torch.compile) and `module.` (DDP) prefixes removed. */
export function stripPrefixes(sd: StateDictIn): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of sd) {
    let key = String(k);
    for (;;) {
      const next = stripOrigMod(key.startsWith('module.') ? key.slice(7) : key);
      if (next === key) break;
      key = next;
    }
    out.set(key, v);
  }
  return out;
}

/** True when a state_dict (prefixes stripped) has nanoGPT/GPT-2 names. */
export function isGpt2Family(sd: Map<string, unknown>): boolean {
  return sd.has('transformer.wte.weight') || sd.has('wte.weight');
}

const isMaskBuffer = (k: string) => /(^|\.)h\.\d+\.attn\.(bias|masked_bias)$/.test(k);

/** Whether the head is tied: no lm_head.weight, or one holding wte's values (nanoGPT shares the storage). */
function headTied(r: SdReader, prefix: string): boolean {
  const head = r.sd.get('lm_head.weight') as { data: ArrayBufferView; storageKey?: string } | undefined;
  if (!head) return true;
  const wte = r.sd.get(`${prefix}wte.weight`) as { data: ArrayBufferView; storageKey?: string };
  if (head.storageKey !== undefined && head.storageKey === wte.storageKey) return true;
  const a = head.data as Float32Array;
  const b = wte.data as Float32Array;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** nanoGPT state_dict + model_args -> canonical. Sizes from the shapes; n_head from model_args. */
export function nanogptToCanonical(
  sdIn: StateDictIn,
  args: Partial<NanoModelArgs>,
  where = 'ckpt.pt',
): { config: Gpt2ModelConfig; params: NamedTensors } {
  const sd = stripPrefixes(sdIn);
  const r = new SdReader(sd, where);
  const wte = r.shapeOf('transformer.wte.weight');
  const wpe = r.shapeOf('transformer.wpe.weight');
  if (!wte || !wpe) throw new MyptError('E_BAD_FILE', `${where}: not a nanoGPT state_dict (transformer.wte.weight / transformer.wpe.weight missing)`);
  let n_layer = 0;
  while (sd.has(`transformer.h.${n_layer}.ln_1.weight`)) n_layer++;
  const found = { vocab_size: wte[0], n_embd: wte[1], block_size: wpe[0], n_layer, bias: sd.has('transformer.h.0.ln_1.bias') };
  for (const k of Object.keys(found) as Array<keyof typeof found>) {
    const given = args[k];
    if (given !== undefined && given !== null && (k === 'bias' ? !!given !== found.bias : Number(given) !== found[k])) {
      throw new MyptError('E_BAD_FILE', `${where}: model_args says ${k}=${given} but the weights have ${k}=${found[k]}`);
    }
  }
  const n_head = Number(args.n_head);
  if (!n_head || found.n_embd % n_head !== 0) throw new MyptError('E_BAD_FILE', `${where}: model_args.n_head (${args.n_head}) missing or not dividing n_embd ${found.n_embd}`);
  // nanoGPT's GELU is exact; a bundle mypt-native wrote for a tanh-GELU model (from HF GPT-2) says so in config.json
  const activation = (args as { activation?: unknown }).activation === 'gelu_tanh' ? 'gelu_tanh' : 'gelu';
  const config = gpt2ModelConfig({ ...found, n_head, dropout: typeof args.dropout === 'number' ? args.dropout : 0 }, activation, headTied(r, 'transformer.'));
  const params = readGpt2Family(r, config, gpt2FamilyEntries(config, 'transformer.', false, true));
  r.checkAllUsed(isMaskBuffer);
  return { config, params };
}

function checkNanoArch(c: LayoutConfig & { attn_scale?: unknown }): void {
  const b = !!c.qkv_bias;
  const bad: string[] = [];
  if (c.activation !== 'gelu' && c.activation !== 'gelu_tanh') bad.push(`activation ${c.activation ?? 'relu'} (nanoGPT names need a GELU model)`);
  if (c.proj_bias !== b || c.mlp_bias !== b || c.ln_bias !== b) bad.push('biases not all on or all off (nanoGPT has one bias flag)');
  if (c.head_bias) bad.push('head bias (nanoGPT: lm_head without bias)');
  if (c.mlp_hidden && c.mlp_hidden !== 4 * c.n_embd) bad.push(`mlp_hidden ${c.mlp_hidden}`);
  if (c.attn_scale !== undefined && c.attn_scale !== 'head') bad.push(`attn_scale ${c.attn_scale}`);
  if (bad.length) throw new MyptError('E_UNSUPPORTED', `the model is not nanoGPT's architecture: ${bad.join('; ')}`);
}

/** Canonical -> nanoGPT state_dict (no mask buffers, as torch >= 2 writes it; lm_head.weight tied to wte). */
export function canonicalToNanogpt(params: NamedTensors, config: LayoutConfig & { attn_scale?: unknown }): PyDict<F32Tensor> {
  checkNanoArch(config);
  checkCanonical(params, config, 'canonicalToNanogpt');
  return writeGpt2Family(params, gpt2FamilyEntries(config, 'transformer.', false, true));
}

/** nanoGPT model_args of a config. */
export function nanoModelArgs(c: LayoutConfig & { dropout?: number }): NanoModelArgs {
  return { n_layer: c.n_layer, n_head: c.n_head, n_embd: c.n_embd, block_size: c.block_size, bias: !!c.qkv_bias, vocab_size: c.vocab_size, dropout: c.dropout ?? 0 };
}

/**
 * nanoGPT's parameter order for its optimizer: named_parameters() (tied lm_head listed once, as wte), split
 * into the decay group (>= 2-D) then the no-decay group, each in model order.
 */
export function nanogptOptimizerNames(c: LayoutConfig): { decay: Gpt2Entry[]; nodecay: Gpt2Entry[] } {
  const all = gpt2FamilyEntries(c, 'transformer.', false, false);
  return { decay: all.filter((e) => e[2].length >= 2), nodecay: all.filter((e) => e[2].length < 2) };
}

/** nanoGPT optimizer state_dict -> canonical (+ hyperparameters: lr, betas, eps, and group 0's weight decay). */
export function nanogptOptimizerToCanonical(optSd: unknown, c: LayoutConfig, where = 'ckpt.pt'): CanonicalOptimizer & { hyper: AdamWHyper } {
  const { decay, nodecay } = nanogptOptimizerNames(c);
  const order = [...decay, ...nodecay];
  const { step, m, v, hyper } = readAdamW(optSd, order.map((e) => e[0]), where);
  const build = (src: Map<string, Float32Array>) => {
    const out: NamedTensors = {};
    for (const [name, shape] of canonicalParams(c)) out[name] = f32(shape);
    for (const e of order) {
      const x = src.get(e[0]);
      if (x) out[e[1]].data.set(x);
    }
    return out;
  };
  return { step, exp_avg: build(m), exp_avg_sq: build(v), hyper };
}

/** Canonical optimizer state -> nanoGPT's AdamW state_dict (two groups: decay, then weight_decay 0.0). */
export function canonicalToNanogptOptimizer(opt: CanonicalOptimizer, c: LayoutConfig, hyper: Partial<AdamWHyper> = {}): PyDict<unknown> {
  checkCanonical(opt.exp_avg, c, 'optimizer exp_avg');
  checkCanonical(opt.exp_avg_sq, c, 'optimizer exp_avg_sq');
  const { decay, nodecay } = nanogptOptimizerNames(c);
  const order = [...decay, ...nodecay];
  const out = plainDict<unknown>();
  out.set('state', adamWState(opt.step, order.map((e) => [opt.exp_avg[e[1]].data, opt.exp_avg_sq[e[1]].data, e[2]])));
  out.set('param_groups', [
    adamWGroupNano(hyper, hyper.weight_decay ?? 0.1, decay.map((_, i) => i)),
    adamWGroupNano(hyper, 0.0, nodecay.map((_, i) => decay.length + i)),
  ]);
  return out;
}
