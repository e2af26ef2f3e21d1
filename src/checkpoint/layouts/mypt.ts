// MyPT's lecture GPT (FORMATS.md section 1): its state_dict names <-> the canonical layout, its config.json
// <-> ModelConfig, and its AdamW optimizer.pt <-> the canonical optimizer state.
//
// MyPT keeps one Head module per attention head, each with its own key/query/value Linear [hs, C] and a
// `tril` buffer [block_size, block_size] (float32 lower-triangular ones, listed BEFORE key: a module's own
// buffers come before its children in state_dict order). The canonical qkv.weight [3C, C] is
//   rows [0, C)   = query of head 0, head 1, ... (hs rows each)
//   rows [C, 2C)  = key   of head 0, head 1, ...
//   rows [2C, 3C) = value of head 0, head 1, ...
// which is exactly what torch.cat([h(x) for h in heads], -1) computes per projection.
import { MyptError } from '../../errors';
import {
  AdamWHyper, CanonicalOptimizer, F32Tensor, LayoutConfig, NamedTensors, PyDict, PyTuple, SdReader, StateDictIn,
  canonicalParams, checkCanonical, concat, f32, field, pyNumber, rows, scalarTensor, toF32, TensorLike,
} from './common';
import { myptFusedToCanonical, isMyptFused } from './mypt-fused';

/** MyPT's config.json (and the `config` of a legacy file): the 9 keys, in MyPT's order. */
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
}

/** The ModelConfig (contracts A) of the MyPT architecture with these sizes. */
export interface MyptModelConfig {
  vocab_size: number;
  block_size: number;
  n_layer: number;
  n_head: number;
  n_embd: number;
  dropout: number;
  bias: boolean;
  arch: 'mypt';
  activation: 'relu' | 'gelu';
  qkv_bias: boolean;
  proj_bias: true;
  mlp_bias: true;
  ln_bias: true;
  tied_head: false;
  head_bias: true;
  attn_scale: 'head';
}

export function myptModelConfig(
  s: Pick<MyptConfigJson, 'vocab_size' | 'block_size' | 'n_layer' | 'n_head' | 'n_embd'> & { dropout?: number; bias?: boolean },
  activation: 'relu' | 'gelu' = 'relu',
): MyptModelConfig {
  const bias = !!s.bias;
  return {
    vocab_size: s.vocab_size, block_size: s.block_size, n_layer: s.n_layer, n_head: s.n_head, n_embd: s.n_embd,
    dropout: s.dropout ?? 0, bias, arch: 'mypt', activation, qkv_bias: bias,
    proj_bias: true, mlp_bias: true, ln_bias: true, tied_head: false, head_bias: true, attn_scale: 'head',
  };
}

/** MyPT's config.json for a model config (MyPT's key order; batch_size and device are records only). */
export function myptConfigJson(c: LayoutConfig & { dropout?: number }, extra: { batch_size?: number; device?: string } = {}): MyptConfigJson {
  return {
    batch_size: extra.batch_size ?? 32,
    block_size: c.block_size,
    vocab_size: c.vocab_size,
    n_embd: c.n_embd,
    n_head: c.n_head,
    n_layer: c.n_layer,
    dropout: c.dropout ?? 0,
    bias: !!c.qkv_bias,
    device: extra.device ?? 'cpu',
  };
}

/** True when a state_dict has MyPT's names (either era). */
export function isMypt(sd: StateDictIn): boolean {
  return sd.has('token_embedding_table.weight') && (sd.has('blocks.0.sa.heads.0.key.weight') || sd.has('blocks.0.sa.qkv.weight'));
}

/** Sizes implied by a MyPT state_dict's shapes, checked against a (possibly partial) config. */
export function myptSizes(sd: StateDictIn, cfg: Partial<MyptConfigJson>, where: string, countHeads: boolean) {
  const r = new SdReader(sd, where);
  const tok = r.shapeOf('token_embedding_table.weight');
  const pos = r.shapeOf('position_embedding_table.weight');
  if (!tok || tok.length !== 2 || !pos || pos.length !== 2) {
    throw new MyptError('E_BAD_FILE', `${where}: not a MyPT state_dict (token_embedding_table.weight / position_embedding_table.weight missing)`);
  }
  let n_layer = 0;
  while (sd.has(`blocks.${n_layer}.ln1.weight`)) n_layer++;
  let heads = 0;
  if (countHeads) while (sd.has(`blocks.0.sa.heads.${heads}.key.weight`)) heads++;
  const found = { vocab_size: tok[0], n_embd: tok[1], block_size: pos[0], n_layer, n_head: countHeads ? heads : cfg.n_head };
  for (const k of ['vocab_size', 'n_embd', 'block_size', 'n_layer', 'n_head'] as const) {
    const given = cfg[k];
    if (given !== undefined && given !== null && found[k] !== undefined && Number(given) !== found[k]) {
      throw new MyptError('E_BAD_FILE', `${where}: config says ${k}=${given} but the weights have ${k}=${found[k]}`);
    }
  }
  if (!found.n_head) throw new MyptError('E_BAD_FILE', `${where}: n_head is not recorded in the config and cannot be read from the weights`);
  if (found.n_embd % found.n_head !== 0) throw new MyptError('E_BAD_FILE', `${where}: n_embd ${found.n_embd} is not divisible by n_head ${found.n_head}`);
  const bias = sd.has(countHeads ? 'blocks.0.sa.heads.0.key.bias' : 'blocks.0.sa.qkv.bias');
  if (cfg.bias !== undefined && cfg.bias !== null && !!cfg.bias !== bias) {
    throw new MyptError('E_BAD_FILE', `${where}: config says bias=${cfg.bias} but the weights ${bias ? 'have' : 'lack'} q/k/v biases`);
  }
  return { vocab_size: found.vocab_size, n_embd: found.n_embd, block_size: found.block_size, n_layer, n_head: found.n_head as number, bias };
}

/** The part shared by both MyPT eras: everything but the attention q/k/v. */
export function myptCommonToCanonical(r: SdReader, c: MyptModelConfig, qkv: (i: number) => { w: Float32Array; b?: Float32Array }): NamedTensors {
  const C = c.n_embd;
  const out: NamedTensors = {};
  const put = (name: string, key: string, shape: number[]) => (out[name] = f32(shape, r.tensor(key, shape)));
  put('wte', 'token_embedding_table.weight', [c.vocab_size, C]);
  put('wpe', 'position_embedding_table.weight', [c.block_size, C]);
  for (let i = 0; i < c.n_layer; i++) {
    const b = `blocks.${i}.`;
    const h = `h.${i}.`;
    put(`${h}ln1.weight`, `${b}ln1.weight`, [C]);
    put(`${h}ln1.bias`, `${b}ln1.bias`, [C]);
    const { w, b: qb } = qkv(i);
    out[`${h}attn.qkv.weight`] = f32([3 * C, C], w);
    if (c.qkv_bias) out[`${h}attn.qkv.bias`] = f32([3 * C], qb);
    put(`${h}attn.proj.weight`, `${b}sa.proj.weight`, [C, C]);
    put(`${h}attn.proj.bias`, `${b}sa.proj.bias`, [C]);
    put(`${h}ln2.weight`, `${b}ln2.weight`, [C]);
    put(`${h}ln2.bias`, `${b}ln2.bias`, [C]);
    put(`${h}mlp.fc.weight`, `${b}fwd.net.0.weight`, [4 * C, C]);
    put(`${h}mlp.fc.bias`, `${b}fwd.net.0.bias`, [4 * C]);
    put(`${h}mlp.proj.weight`, `${b}fwd.net.2.weight`, [C, 4 * C]);
    put(`${h}mlp.proj.bias`, `${b}fwd.net.2.bias`, [C]);
  }
  put('lnf.weight', 'ln_f.weight', [C]);
  put('lnf.bias', 'ln_f.bias', [C]);
  put('head.weight', 'lm_head.weight', [c.vocab_size, C]);
  put('head.bias', 'lm_head.bias', [c.vocab_size]);
  return reorder(out, c);
}

function reorder(p: NamedTensors, c: LayoutConfig): NamedTensors {
  const out: NamedTensors = {};
  for (const [name] of canonicalParams(c)) out[name] = p[name];
  return out;
}

/** Per-head q/k/v of layer i fused into the canonical [3C, C] (+ [3C]). */
function fuseHeads(r: SdReader, c: MyptModelConfig, i: number): { w: Float32Array; b?: Float32Array } {
  const C = c.n_embd;
  const hs = C / c.n_head;
  const ws: Float32Array[] = [];
  const bs: Float32Array[] = [];
  for (const proj of ['query', 'key', 'value']) {
    for (let h = 0; h < c.n_head; h++) {
      const k = `blocks.${i}.sa.heads.${h}.${proj}`;
      ws.push(r.tensor(`${k}.weight`, [hs, C]));
      if (c.qkv_bias) bs.push(r.tensor(`${k}.bias`, [hs]));
    }
  }
  return { w: concat(ws), b: c.qkv_bias ? concat(bs) : undefined };
}

/**
 * MyPT state_dict (section 1 names, `tril` buffers optional; or the later fused era) -> canonical.
 * `cfg` is MyPT's config.json (missing sizes are read from the shapes; given ones must agree).
 */
export function myptToCanonical(
  sd: StateDictIn,
  cfg: Partial<MyptConfigJson> = {},
  where = 'model.pt',
): { config: MyptModelConfig; params: NamedTensors } {
  if (isMyptFused(sd)) return myptFusedToCanonical(sd, cfg, where);
  const s = myptSizes(sd, cfg, where, true);
  const config = myptModelConfig({ ...s, dropout: typeof cfg.dropout === 'number' ? cfg.dropout : 0 });
  const r = new SdReader(sd, where);
  const params = myptCommonToCanonical(r, config, (i) => fuseHeads(r, config, i));
  r.checkAllUsed((k) => /^blocks\.\d+\.sa\.heads\.\d+\.tril$/.test(k));
  return { config, params };
}

/** Lower-triangular ones [n, n] (MyPT's `tril` buffer). */
export function trilOnes(n: number): F32Tensor {
  const t = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) t[i * n + j] = 1;
  return f32([n, n], t);
}

function checkMyptArch(c: LayoutConfig & { attn_scale?: unknown }, what: string): void {
  const bad: string[] = [];
  if (c.activation && c.activation !== 'relu') bad.push(`activation ${c.activation} (MyPT: relu)`);
  if (c.tied_head) bad.push('tied_head (MyPT: separate lm_head)');
  if (c.head_bias === false) bad.push('no head bias (MyPT: lm_head has a bias)');
  if (c.proj_bias === false || c.mlp_bias === false || c.ln_bias === false) bad.push('missing proj/mlp/LayerNorm biases');
  if (c.mlp_hidden && c.mlp_hidden !== 4 * c.n_embd) bad.push(`mlp_hidden ${c.mlp_hidden} (MyPT: 4*n_embd)`);
  if (c.attn_scale !== undefined && c.attn_scale !== 'head' && c.attn_scale !== (c.n_embd / c.n_head) ** -0.5) bad.push(`attn_scale ${c.attn_scale}`);
  if (bad.length) throw new MyptError('E_UNSUPPORTED', `${what}: the model is not MyPT's architecture: ${bad.join('; ')}`);
}

/** MyPT parameter names in model.parameters() order (= state_dict order without the tril buffers). */
export function myptParamNames(c: LayoutConfig): string[] {
  return myptStateDictEntries(c, false).map(([k]) => k);
}

/** [MyPT name, canonical source, shape] in exact state_dict order; source is 'tril' or a canonical slice. */
type Source = { name: string; row0: number; nrows: number } | 'tril';
function myptStateDictEntries(c: LayoutConfig, withTril: boolean): Array<[string, Source, number[]]> {
  const C = c.n_embd;
  const hs = C / c.n_head;
  const e: Array<[string, Source, number[]]> = [];
  const whole = (name: string, shape: number[]): Source => ({ name, row0: 0, nrows: shape[0] });
  const add = (key: string, name: string, shape: number[]) => e.push([key, whole(name, shape), shape]);
  add('token_embedding_table.weight', 'wte', [c.vocab_size, C]);
  add('position_embedding_table.weight', 'wpe', [c.block_size, C]);
  const which = { query: 0, key: 1, value: 2 } as const;
  for (let i = 0; i < c.n_layer; i++) {
    const b = `blocks.${i}.`;
    const h = `h.${i}.`;
    for (let hd = 0; hd < c.n_head; hd++) {
      const p = `${b}sa.heads.${hd}.`;
      if (withTril) e.push([`${p}tril`, 'tril', [c.block_size, c.block_size]]);
      for (const proj of ['key', 'query', 'value'] as const) {
        const row0 = which[proj] * C + hd * hs;
        e.push([`${p}${proj}.weight`, { name: `${h}attn.qkv.weight`, row0, nrows: hs }, [hs, C]]);
        if (c.qkv_bias) e.push([`${p}${proj}.bias`, { name: `${h}attn.qkv.bias`, row0, nrows: hs }, [hs]]);
      }
    }
    add(`${b}sa.proj.weight`, `${h}attn.proj.weight`, [C, C]);
    add(`${b}sa.proj.bias`, `${h}attn.proj.bias`, [C]);
    add(`${b}fwd.net.0.weight`, `${h}mlp.fc.weight`, [4 * C, C]);
    add(`${b}fwd.net.0.bias`, `${h}mlp.fc.bias`, [4 * C]);
    add(`${b}fwd.net.2.weight`, `${h}mlp.proj.weight`, [C, 4 * C]);
    add(`${b}fwd.net.2.bias`, `${h}mlp.proj.bias`, [C]);
    add(`${b}ln1.weight`, `${h}ln1.weight`, [C]);
    add(`${b}ln1.bias`, `${h}ln1.bias`, [C]);
    add(`${b}ln2.weight`, `${h}ln2.weight`, [C]);
    add(`${b}ln2.bias`, `${h}ln2.bias`, [C]);
  }
  add('ln_f.weight', 'lnf.weight', [C]);
  add('ln_f.bias', 'lnf.bias', [C]);
  add('lm_head.weight', 'head.weight', [c.vocab_size, C]);
  add('lm_head.bias', 'head.bias', [c.vocab_size]);
  return e;
}

function slice(params: NamedTensors, s: Exclude<Source, 'tril'>, shape: number[]): Float32Array {
  const t = params[s.name];
  const cols = t.shape.length === 2 ? t.shape[1] : 1;
  return shape.length === 2 || shape.length === 1 ? rows(t.data, cols, s.row0, s.nrows) : t.data.slice();
}

/** Canonical -> MyPT state_dict in exact MyPT order, every tril buffer included (MyPT loads strictly). */
export function canonicalToMypt(params: NamedTensors, config: LayoutConfig & { attn_scale?: unknown }): PyDict<string, F32Tensor> {
  checkMyptArch(config, 'canonicalToMypt');
  checkCanonical(params, config, 'canonicalToMypt');
  const out = new PyDict<string, F32Tensor>();
  let tril: F32Tensor | undefined;
  for (const [key, src, shape] of myptStateDictEntries(config, true)) {
    if (src === 'tril') {
      tril ??= trilOnes(config.block_size);
      out.set(key, f32(shape, tril.data));
    } else {
      out.set(key, f32(shape, slice(params, src, shape)));
    }
  }
  return out;
}

/** MyPT-ordered tensors (no tril) -> canonical; used for the optimizer moments. */
function myptListToCanonical(c: LayoutConfig, byName: Map<string, Float32Array>): NamedTensors {
  const out: NamedTensors = {};
  for (const [name, shape] of canonicalParams(c)) out[name] = f32(shape);
  for (const [key, src, shape] of myptStateDictEntries(c, false)) {
    if (src === 'tril') continue;
    const v = byName.get(key);
    if (!v) continue; // no state for this parameter: zero moments
    const t = out[src.name];
    const cols = t.shape.length === 2 ? t.shape[1] : 1;
    if (v.length !== shape.reduce((a, b) => a * b, 1)) throw new MyptError('E_BAD_FILE', `optimizer moment for ${key} has ${v.length} values`);
    t.data.set(v, src.row0 * cols);
  }
  return out;
}

/** Reads an AdamW state_dict given the parameter names in `params` order; moments keyed by those names. */
export function readAdamW(optSd: unknown, names: string[], where: string) {
  const state = field(optSd, 'state');
  const groups = field(optSd, 'param_groups');
  if (!(state instanceof Map) && (typeof state !== 'object' || state === null)) {
    throw new MyptError('E_BAD_FILE', `${where}: optimizer state_dict has no 'state'`);
  }
  if (!Array.isArray(groups) || groups.length === 0) throw new MyptError('E_BAD_FILE', `${where}: optimizer state_dict has no 'param_groups'`);
  const ids: number[] = [];
  for (const g of groups) for (const p of (field(g, 'params') as unknown[]) ?? []) ids.push(Number(p));
  if (ids.length !== names.length) {
    throw new MyptError('E_BAD_FILE', `${where}: optimizer covers ${ids.length} parameters, the model has ${names.length}`);
  }
  const g0 = groups[0];
  const betas = field(g0, 'betas') as unknown[];
  const hyper: AdamWHyper = {
    lr: pyNumber(field(g0, 'lr')) ?? 3e-4,
    betas: [pyNumber(betas?.[0]) ?? 0.9, pyNumber(betas?.[1]) ?? 0.999],
    eps: pyNumber(field(g0, 'eps')) ?? 1e-8,
    weight_decay: pyNumber(field(g0, 'weight_decay')) ?? 0.01,
  };
  const weightDecays = groups.map((g) => pyNumber(field(g, 'weight_decay')) ?? 0);
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  let step = 0;
  ids.forEach((id, pos) => {
    const s = field(state, id);
    if (!s) return;
    const ea = field(s, 'exp_avg') as TensorLike | undefined;
    const es = field(s, 'exp_avg_sq') as TensorLike | undefined;
    if (!ea || !es) throw new MyptError('E_BAD_FILE', `${where}: optimizer state ${id} lacks exp_avg/exp_avg_sq (not AdamW?)`);
    m.set(names[pos], toF32(ea));
    v.set(names[pos], toF32(es));
    step = Math.max(step, pyNumber(field(s, 'step')) ?? 0);
  });
  return { step, m, v, hyper, weightDecays };
}

/** MyPT optimizer.pt -> canonical {step, exp_avg, exp_avg_sq} (+ the hyperparameters it records). */
export function myptOptimizerToCanonical(optSd: unknown, config: LayoutConfig, where = 'optimizer.pt'): CanonicalOptimizer & { hyper: AdamWHyper } {
  const { step, m, v, hyper } = readAdamW(optSd, myptParamNames(config), where);
  return { step, exp_avg: myptListToCanonical(config, m), exp_avg_sq: myptListToCanonical(config, v), hyper };
}

/** One AdamW param group as torch.optim.AdamW.state_dict() writes it. */
export function adamWGroup(h: Partial<AdamWHyper>, params: number[]): PyDict<string, unknown> {
  const g = new PyDict<string, unknown>();
  g.set('lr', h.lr ?? 3e-4);
  g.set('betas', PyTuple.of(...(h.betas ?? [0.9, 0.999])));
  g.set('eps', h.eps ?? 1e-8);
  g.set('weight_decay', h.weight_decay ?? 0.01);
  g.set('amsgrad', false);
  g.set('maximize', false);
  g.set('foreach', null);
  g.set('capturable', false);
  g.set('differentiable', false);
  g.set('fused', null);
  g.set('params', params);
  return g;
}

/** AdamW `state` for parameters given in order as [exp_avg, exp_avg_sq]; empty before the first step. */
export function adamWState(step: number, moments: Array<[Float32Array, Float32Array, number[]]>): PyDict<number, unknown> {
  const state = new PyDict<number, unknown>();
  if (step <= 0) return state;
  moments.forEach(([m, v, shape], i) => {
    const s = new PyDict<string, unknown>();
    s.set('step', scalarTensor(step));
    s.set('exp_avg', f32(shape, m));
    s.set('exp_avg_sq', f32(shape, v));
    state.set(i, s);
  });
  return state;
}

/** Canonical optimizer state -> MyPT optimizer.pt dict (one group, params 0..P-1 in MyPT order). */
export function canonicalToMyptOptimizer(
  opt: CanonicalOptimizer,
  config: LayoutConfig,
  hyper: Partial<AdamWHyper> = {},
): PyDict<string, unknown> {
  const entries = myptStateDictEntries(config, false);
  const moments = entries.map(([, src, shape]) => {
    const s = src as Exclude<Source, 'tril'>;
    return [slice(opt.exp_avg, s, shape), slice(opt.exp_avg_sq, s, shape), shape] as [Float32Array, Float32Array, number[]];
  });
  const out = new PyDict<string, unknown>();
  out.set('state', adamWState(opt.step, moments));
  out.set('param_groups', [adamWGroup(hyper, entries.map((_, i) => i))]);
  return out;
}
