// Shared pieces of the state_dict <-> canonical layout mappings: the canonical parameter list (the same
// names, shapes and order as binding/core/config.h's ParamLayout), tensor helpers, and the small Python
// containers a writer emits.
//
// Every mapping in this folder is pure: tensors in, tensors out, no files.
import type { ArchFlags, ModelSizes } from '../../config/gpt';
import { MyptError } from '../../errors';
import { PyDict, PyTuple } from './py';
import { Tensor, toFloat32 } from '../tensor';

export { PyDict, PyTuple };

/** A tensor as the torch/safetensors readers return it (any dtype) or as a writer accepts it. */
export interface TensorLike {
  dtype: string;
  shape: number[];
  data: ArrayBufferView;
  toFloat32?: () => Float32Array;
}

/** One canonical fp32 tensor. */
export interface F32Tensor {
  dtype: 'float32';
  shape: number[];
  data: Float32Array;
}

/** Canonical names -> fp32 tensors, in canonical order. */
export type NamedTensors = Record<string, F32Tensor>;

/** A format's state_dict as read: a PyDict (Map subclass) or any Map of tensors. */
export type StateDictIn = Map<string | number | bigint | boolean | null, unknown>;

/** The config fields the layouts need; ResolvedModelConfig (src/model-config.ts) satisfies it. */
export interface LayoutConfig extends ModelSizes, Partial<ArchFlags> {
  mlp_hidden?: number;
  activation?: string;
}

/** AdamW state on the canonical side (what Model.getOptimizerState/setOptimizerState exchange). */
export interface CanonicalOptimizer {
  step: number;
  exp_avg: NamedTensors;
  exp_avg_sq: NamedTensors;
}

/** Hyperparameters kept in a PyTorch AdamW state_dict's param_groups. */
export interface AdamWHyper {
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
}

/** The canonical parameter list of a config: [name, shape] in buffer order (config.h ParamLayout). */
export function canonicalParams(c: LayoutConfig): Array<[string, number[]]> {
  const C = c.n_embd;
  const F = c.mlp_hidden && c.mlp_hidden > 0 ? c.mlp_hidden : 4 * C;
  const ln = c.ln_bias !== false;
  const out: Array<[string, number[]]> = [
    ['wte', [c.vocab_size, C]],
    ['wpe', [c.block_size, C]],
  ];
  for (let i = 0; i < c.n_layer; i++) {
    const p = `h.${i}.`;
    out.push([`${p}ln1.weight`, [C]]);
    if (ln) out.push([`${p}ln1.bias`, [C]]);
    out.push([`${p}attn.qkv.weight`, [3 * C, C]]);
    if (c.qkv_bias) out.push([`${p}attn.qkv.bias`, [3 * C]]);
    out.push([`${p}attn.proj.weight`, [C, C]]);
    if (c.proj_bias !== false) out.push([`${p}attn.proj.bias`, [C]]);
    out.push([`${p}ln2.weight`, [C]]);
    if (ln) out.push([`${p}ln2.bias`, [C]]);
    out.push([`${p}mlp.fc.weight`, [F, C]]);
    if (c.mlp_bias !== false) out.push([`${p}mlp.fc.bias`, [F]]);
    out.push([`${p}mlp.proj.weight`, [C, F]]);
    if (c.mlp_bias !== false) out.push([`${p}mlp.proj.bias`, [C]]);
  }
  out.push(['lnf.weight', [C]]);
  if (ln) out.push(['lnf.bias', [C]]);
  if (!c.tied_head) out.push(['head.weight', [c.vocab_size, C]]);
  if (c.head_bias !== false) out.push(['head.bias', [c.vocab_size]]);
  return out;
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const shapeStr = (shape: number[]) => `[${shape.join(', ')}]`;

/** fp32 values of a float tensor (the same array when already fp32). */
export function toF32(t: TensorLike): Float32Array {
  if (typeof t.toFloat32 === 'function') return t.toFloat32();
  if (t.data instanceof Float32Array) return t.data;
  if (!['float64', 'float16', 'bfloat16'].includes(t.dtype)) {
    throw new MyptError('E_BAD_FILE', `a ${t.dtype} tensor cannot hold model weights (float expected)`);
  }
  return toFloat32(t as Tensor);
}

export function f32(shape: number[], data?: Float32Array): F32Tensor {
  const d = data ?? new Float32Array(numel(shape));
  if (d.length !== numel(shape)) throw new Error(`internal: ${d.length} floats for shape ${shapeStr(shape)}`);
  return { dtype: 'float32', shape: [...shape], data: d };
}

/** Reads a state_dict entry, checking its shape; errors name the key (and `where`, the file). */
export class SdReader {
  readonly used = new Set<string>();
  constructor(
    readonly sd: StateDictIn,
    readonly where: string,
  ) {}
  has(key: string): boolean {
    return this.sd.has(key);
  }
  tensor(key: string, shape: number[]): Float32Array {
    const t = this.sd.get(key) as TensorLike | undefined;
    if (!t || typeof t !== 'object' || !Array.isArray(t.shape)) {
      throw new MyptError('E_BAD_FILE', `${this.where}: state_dict has no tensor '${key}' (expected shape ${shapeStr(shape)})`);
    }
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new MyptError('E_BAD_FILE', `${this.where}: '${key}' has shape ${shapeStr(t.shape)}, expected ${shapeStr(shape)}`);
    }
    this.used.add(key);
    return toF32(t);
  }
  shapeOf(key: string): number[] | undefined {
    const t = this.sd.get(key) as TensorLike | undefined;
    return t && Array.isArray(t.shape) ? t.shape : undefined;
  }
  /** Throws when keys other than those read (and those `ignore` accepts) remain. */
  checkAllUsed(ignore: (key: string) => boolean = () => false): void {
    const left = [...this.sd.keys()].map(String).filter((k) => !this.used.has(k) && !ignore(k));
    if (left.length) {
      const few = left.slice(0, 5).join(', ') + (left.length > 5 ? `, ... (${left.length} in all)` : '');
      throw new MyptError('E_BAD_FILE', `${this.where}: unexpected keys ${few}: the architecture they need is not supported`);
    }
  }
}

/** Rows [r0, r0+n) of a row-major [rows, cols] matrix. */
export function rows(m: Float32Array, cols: number, r0: number, n: number): Float32Array {
  return m.slice(r0 * cols, (r0 + n) * cols);
}

/** Transpose of a row-major [r, c] matrix (HF Conv1D stores [in, out]). */
export function transpose(m: Float32Array, r: number, c: number): Float32Array {
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = m[i * c + j];
  return out;
}

/** Checks a NamedTensors against the canonical list of a config, by name and shape. */
export function checkCanonical(params: NamedTensors, c: LayoutConfig, what: string): void {
  for (const [name, shape] of canonicalParams(c)) {
    const t = params[name];
    if (!t) throw new MyptError('E_BAD_ARGUMENT', `${what}: parameter '${name}' is missing`);
    if (t.data.length !== numel(shape)) {
      throw new MyptError('E_BAD_ARGUMENT', `${what}: '${name}' has ${t.data.length} values, expected shape ${shapeStr(shape)}`);
    }
  }
}

/** A 0-dim float32 tensor (PyTorch AdamW's `step` since 1.12). */
export function scalarTensor(v: number): F32Tensor {
  return { dtype: 'float32', shape: [], data: new Float32Array([v]) };
}

/** A number from a Python value that may be a 0-dim tensor, a number or a bigint. */
export function pyNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && 'shape' in v && 'data' in v) {
    const t = v as TensorLike;
    if (t.shape.length === 0 || numel(t.shape) === 1) {
      const d = t.data as unknown as ArrayLike<number | bigint>;
      if (t.dtype === 'float16' || t.dtype === 'bfloat16') return toF32(t)[0];
      return Number(d[0]);
    }
  }
  if (v && typeof v === 'object' && 'valueOf' in v) {
    const n = (v as { valueOf(): unknown }).valueOf();
    if (typeof n === 'number') return n;
  }
  return undefined;
}

/** dict/PyDict/Map/plain object field access. */
export function field(obj: unknown, key: string | number): unknown {
  if (obj instanceof Map) return obj.has(key) ? obj.get(key) : obj.get(String(key));
  if (obj && typeof obj === 'object') return (obj as Record<string, unknown>)[String(key)];
  return undefined;
}

export function isDictLike(v: unknown): v is Map<unknown, unknown> | Record<string, unknown> {
  return v instanceof Map || (!!v && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v));
}

export function dictKeys(v: unknown): string[] {
  if (v instanceof Map) return [...v.keys()].map(String);
  if (v && typeof v === 'object') return Object.keys(v);
  return [];
}
