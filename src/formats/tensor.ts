// The Tensor type shared by every checkpoint reader and writer, the dtypes it can hold, and
// conversions between float32 and the 16-bit float formats (bfloat16, IEEE half).
//
// Convention: float16/bfloat16 data is a Uint16Array of raw bits, int64 a BigInt64Array,
// bool and uint8 a Uint8Array. Data is always contiguous, row-major ("C order").

import { MyptError } from '../errors';

export type DType =
  | 'float32' | 'float64' | 'float16' | 'bfloat16'
  | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export type TypedArray =
  | Float32Array | Float64Array | Uint16Array | BigInt64Array
  | Int32Array | Int16Array | Int8Array | Uint8Array;

export interface Tensor {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

interface DTypeInfo {
  size: number;
  array: { new(buf: ArrayBufferLike, byteOffset: number, length: number): TypedArray; new(length: number): TypedArray };
}

export const DTYPES: Record<DType, DTypeInfo> = {
  float32: { size: 4, array: Float32Array as any },
  float64: { size: 8, array: Float64Array as any },
  float16: { size: 2, array: Uint16Array as any },
  bfloat16: { size: 2, array: Uint16Array as any },
  int64: { size: 8, array: BigInt64Array as any },
  int32: { size: 4, array: Int32Array as any },
  int16: { size: 2, array: Int16Array as any },
  int8: { size: 1, array: Int8Array as any },
  uint8: { size: 1, array: Uint8Array as any },
  bool: { size: 1, array: Uint8Array as any },
};

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, s);
}

/** Bytes per element of a dtype. */
export function dtypeSize(d: DType): number {
  return DTYPES[d].size;
}

/** Product of a shape (1 for a 0-dim tensor). */
export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** A typed array of the dtype's class over `bytes` (which must be aligned for the element size). */
export function viewAs(dtype: DType, buf: ArrayBufferLike, byteOffset: number, length: number): TypedArray {
  return new DTYPES[dtype].array(buf, byteOffset, length);
}

/** Whether `data` is the typed array class this dtype uses. */
export function dataMatchesDType(dtype: DType, data: unknown): boolean {
  return data instanceof (DTYPES[dtype].array as any);
}

/** Checks a plain tensor (dtype known, data of the right class and length); `where` names it in the error. */
export function checkTensor(t: Tensor, where: string): void {
  if (!isDType(t.dtype)) throw new MyptError('E_BAD_ARGUMENT', `${where}: unknown dtype ${String(t.dtype)}`);
  if (!Array.isArray(t.shape) || !t.shape.every((s) => Number.isSafeInteger(s) && s >= 0)) {
    throw new MyptError('E_BAD_ARGUMENT', `${where}: shape must be an array of non-negative integers`);
  }
  if (!dataMatchesDType(t.dtype, t.data)) {
    throw new MyptError('E_BAD_ARGUMENT',
      `${where}: dtype ${t.dtype} needs data of class ${DTYPES[t.dtype].array.name}, got ${(t.data as any)?.constructor?.name}`);
  }
  if (t.data.length !== numelOf(t.shape)) {
    throw new MyptError('E_BAD_ARGUMENT', `${where}: shape [${t.shape}] has ${numelOf(t.shape)} elements but data has ${t.data.length}`);
  }
}

// ---- 16-bit floats --------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bfloat16 bits -> float32 (exact: bf16 is the top half of an fp32). */
export function bfloat16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const o = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) o[i] = bits[i] << 16;
  return out;
}

/** float32 -> bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN. */
export function float32ToBfloat16(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0; i < x.length; i++) {
    const b = u[i];
    if ((b & 0x7f800000) === 0x7f800000 && (b & 0x007fffff) !== 0) { out[i] = (b >>> 16) | 0x0040; continue; }
    out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** IEEE half bits -> float32 (exact). */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfToFloat(bits[i]);
  return out;
}

/** One IEEE half (as its bits) -> number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** float32 -> IEEE half bits, round to nearest even (overflow to infinity, as PyTorch's .half()). */
export function float32ToFloat16(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = floatToHalf(x[i]);
  return out;
}

function floatToHalf(v: number): number {
  f32[0] = v;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const e = (b >>> 23) & 0xff;
  let m = b & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (m ? 0x200 : 0);
  const he = e - 127 + 15;
  if (he >= 31) return sign | 0x7c00;
  if (he <= 0) {
    if (he < -10) return sign;           // below half the smallest subnormal: zero
    m |= 0x800000;                       // implicit bit
    const shift = 14 - he;               // 14..24
    const half = 1 << (shift - 1);
    let r = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    if (rest > half || (rest === half && (r & 1))) r++;
    return sign | r;
  }
  let r = (he << 10) | (m >>> 13);
  const rest = m & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) r++;   // may carry into the exponent: correct
  return sign | r;
}

/** Any dtype -> a float32 copy; a float32 tensor's own array is returned as is. */
export function toFloat32(t: Tensor): Float32Array {
  const d = t.data;
  switch (t.dtype) {
    case 'float32': return d as Float32Array;
    case 'bfloat16': return bfloat16ToFloat32(d as Uint16Array);
    case 'float16': return float16ToFloat32(d as Uint16Array);
    case 'int64': {
      const out = new Float32Array(d.length);
      const s = d as BigInt64Array;
      for (let i = 0; i < s.length; i++) out[i] = Number(s[i]);
      return out;
    }
    default:
      if (!isDType(t.dtype)) throw new MyptError('E_BAD_ARGUMENT', `toFloat32: unknown dtype ${String(t.dtype)}`);
      return Float32Array.from(d as Float64Array);
  }
}
