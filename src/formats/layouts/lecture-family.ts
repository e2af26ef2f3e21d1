// The lecture-GPT family (Karpathy's "Let's build GPT" model and its descendants: MyPT, MyPT's fused era,
// the env-var lecture trainer): one table of state_dict names and where each sits in the canonical layout.
//
// Per-head attention: each Head has key/query/value Linear [hs, C] and a `tril` buffer [block_size, block_size]
// (float32 lower-triangular ones, listed BEFORE key: a module's own buffers precede its children in
// state_dict order). The canonical qkv.weight [3C, C] is
//   rows [0, C)   = query of head 0, head 1, ... (hs rows each)
//   rows [C, 2C)  = key   of head 0, head 1, ...
//   rows [2C, 3C) = value of head 0, head 1, ...
// which is what torch.cat([h(x) for h in heads], -1) computes for each projection.
import { MyptError } from '../../errors';
import { AdamWHyper, CanonicalOptimizer, F32Tensor, LayoutConfig, NamedTensors, PyDict, SdReader, StateDictIn, canonicalParams, checkCanonical, f32, rows } from './common';
import { adamWGroup, adamWState, readAdamW } from './adamw';
import { plainDict } from './py';

/** Which of the lecture-GPT family's namings: MyPT (fwd, ln_f), MyPT fused q|k|v, or the env-var lecture trainer (ffwd, final LN as blocks.{L}). */
export type MyptVariant = 'heads' | 'fused' | 'lecture';

/**
 * state_dict entries of a lecture-family model in exact state_dict order, each with where it sits in the
 * canonical layout ('tril' for the mask buffers, present only when `withTril`).
 */
type Source = { name: string; row0: number; nrows: number } | 'tril';
export function lectureFamilyEntries(c: LayoutConfig, variant: MyptVariant, withTril: boolean): Array<[string, Source, number[]]> {
  const C = c.n_embd;
  const hs = C / c.n_head;
  const e: Array<[string, Source, number[]]> = [];
  const add = (key: string, name: string, shape: number[]) => e.push([key, { name, row0: 0, nrows: shape[0] }, shape]);
  add('token_embedding_table.weight', 'wte', [c.vocab_size, C]);
  add('position_embedding_table.weight', 'wpe', [c.block_size, C]);
  const which = { query: 0, key: 1, value: 2 } as const;
  const mlp = variant === 'lecture' ? 'ffwd' : 'fwd';
  for (let i = 0; i < c.n_layer; i++) {
    const b = `blocks.${i}.`;
    const h = `h.${i}.`;
    if (variant === 'fused') {
      add(`${b}sa.qkv.weight`, `${h}attn.qkv.weight`, [3 * C, C]);
      if (c.qkv_bias) add(`${b}sa.qkv.bias`, `${h}attn.qkv.bias`, [3 * C]);
    } else {
      for (let hd = 0; hd < c.n_head; hd++) {
        const p = `${b}sa.heads.${hd}.`;
        if (withTril) e.push([`${p}tril`, 'tril', [c.block_size, c.block_size]]);
        for (const proj of ['key', 'query', 'value'] as const) {
          const row0 = which[proj] * C + hd * hs;
          e.push([`${p}${proj}.weight`, { name: `${h}attn.qkv.weight`, row0, nrows: hs }, [hs, C]]);
          if (c.qkv_bias) e.push([`${p}${proj}.bias`, { name: `${h}attn.qkv.bias`, row0, nrows: hs }, [hs]]);
        }
      }
    }
    add(`${b}sa.proj.weight`, `${h}attn.proj.weight`, [C, C]);
    add(`${b}sa.proj.bias`, `${h}attn.proj.bias`, [C]);
    add(`${b}${mlp}.net.0.weight`, `${h}mlp.fc.weight`, [4 * C, C]);
    add(`${b}${mlp}.net.0.bias`, `${h}mlp.fc.bias`, [4 * C]);
    add(`${b}${mlp}.net.2.weight`, `${h}mlp.proj.weight`, [C, 4 * C]);
    add(`${b}${mlp}.net.2.bias`, `${h}mlp.proj.bias`, [C]);
    add(`${b}ln1.weight`, `${h}ln1.weight`, [C]);
    add(`${b}ln1.bias`, `${h}ln1.bias`, [C]);
    add(`${b}ln2.weight`, `${h}ln2.weight`, [C]);
    add(`${b}ln2.bias`, `${h}ln2.bias`, [C]);
  }
  const lnf = variant === 'lecture' ? `blocks.${c.n_layer}` : 'ln_f';
  add(`${lnf}.weight`, 'lnf.weight', [C]);
  add(`${lnf}.bias`, 'lnf.bias', [C]);
  add('lm_head.weight', 'head.weight', [c.vocab_size, C]);
  add('lm_head.bias', 'head.bias', [c.vocab_size]);
  return e;
}

/** Tensors keyed by lecture-family names -> canonical. Missing keys: an error when `require`, else zeros. */
export function lectureFamilyToCanonical(
  c: LayoutConfig,
  variant: MyptVariant,
  get: (key: string, shape: number[]) => Float32Array | undefined,
): NamedTensors {
  const out: NamedTensors = {};
  for (const [name, shape] of canonicalParams(c)) out[name] = f32(shape);
  for (const [key, src, shape] of lectureFamilyEntries(c, variant, false)) {
    if (src === 'tril') continue;
    const v = get(key, shape);
    if (!v) continue;
    const t = out[src.name];
    const cols = t.shape.length === 2 ? t.shape[1] : 1;
    if (v.length !== src.nrows * cols) throw new MyptError('E_BAD_FILE', `${key} has ${v.length} values, expected ${src.nrows * cols}`);
    t.data.set(v, src.row0 * cols);
  }
  return out;
}

/** Canonical -> lecture-family state_dict (every tril buffer included when `withTril`). */
export function canonicalToLectureFamily(params: NamedTensors, c: LayoutConfig, variant: MyptVariant, withTril: boolean): PyDict<F32Tensor> {
  const out = new PyDict<F32Tensor>();
  let tril: F32Tensor | undefined;
  for (const [key, src, shape] of lectureFamilyEntries(c, variant, withTril)) {
    if (src === 'tril') {
      tril ??= trilOnes(c.block_size);
      out.set(key, f32(shape, tril.data));
    } else {
      out.set(key, f32(shape, sliceOf(params, src)));
    }
  }
  return out;
}

function sliceOf(params: NamedTensors, s: Exclude<Source, 'tril'>): Float32Array {
  const t = params[s.name];
  const cols = t.shape.length === 2 ? t.shape[1] : 1;
  return rows(t.data, cols, s.row0, s.nrows);
}

/** Lecture-family optimizer moments (keyed by state_dict names) in params order, as [m, v, shape]. */
export function lectureFamilyMoments(opt: CanonicalOptimizer, c: LayoutConfig, variant: MyptVariant) {
  checkCanonical(opt.exp_avg, c, 'optimizer exp_avg');
  checkCanonical(opt.exp_avg_sq, c, 'optimizer exp_avg_sq');
  return lectureFamilyEntries(c, variant, false).map(([, src, shape]) => {
    const s = src as Exclude<Source, 'tril'>;
    return [sliceOf(opt.exp_avg, s), sliceOf(opt.exp_avg_sq, s), shape] as [Float32Array, Float32Array, number[]];
  });
}

/** Reads a lecture-family state_dict strictly: every entry present with its shape, nothing unknown left. */
export function readLectureFamily(sd: StateDictIn, c: LayoutConfig, variant: MyptVariant, where: string, ignore: (k: string) => boolean): NamedTensors {
  const r = new SdReader(sd, where);
  const params = lectureFamilyToCanonical(c, variant, (key, shape) => r.tensor(key, shape));
  r.checkAllUsed(ignore);
  return params;
}

/** Lower-triangular ones [n, n] (MyPT's `tril` buffer). */
export function trilOnes(n: number): F32Tensor {
  const t = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) t[i * n + j] = 1;
  return f32([n, n], t);
}


/** An AdamW state_dict over a lecture-family model's parameters (one group, model.parameters() order) -> canonical. */
export function lectureFamilyOptimizerToCanonical(
  optSd: unknown,
  c: LayoutConfig,
  variant: MyptVariant,
  where: string,
): CanonicalOptimizer & { hyper: AdamWHyper } {
  const names = lectureFamilyEntries(c, variant, false).map(([k]) => k);
  const { step, m, v, hyper } = readAdamW(optSd, names, where);
  return {
    step,
    exp_avg: lectureFamilyToCanonical(c, variant, (k) => m.get(k)),
    exp_avg_sq: lectureFamilyToCanonical(c, variant, (k) => v.get(k)),
    hyper,
  };
}

/** Canonical optimizer state -> torch.optim.AdamW(model.parameters()).state_dict() of a lecture-family model. */
export function canonicalToLectureFamilyOptimizer(
  opt: CanonicalOptimizer,
  c: LayoutConfig,
  variant: MyptVariant,
  hyper: Partial<AdamWHyper>,
): PyDict<unknown> {
  const moments = lectureFamilyMoments(opt, c, variant);
  const out = plainDict<unknown>();
  out.set('state', adamWState(opt.step, moments));
  out.set('param_groups', [adamWGroup(hyper, moments.map((_, i) => i))]);
  return out;
}
