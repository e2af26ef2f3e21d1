// numpy values inside pickles, without numpy: dtype records, scalars
// (numpy.core.multiarray.scalar), and arrays (_reconstruct + BUILD, or protocol 5's _frombuffer).

import { MyptError } from '../../errors';
import { DType, Tensor, TypedArray, dtypeSize, halfToFloat, numelOf, viewAs } from '../tensor';
import { freshBuffer, swapBytes } from './storage';

function bad(where: string, what: string): never {
  throw new MyptError('E_BAD_FILE', `${where}: ${what}`);
}

/** A tuple of safe integers (sizes, strides, shapes), or an E_BAD_FILE naming `what`. */
export function intList(v: unknown, where: string, what: string): number[] {
  if (!Array.isArray(v)) bad(where, `${what} is not a tuple`);
  return v.map((x) => {
    if (typeof x !== 'number' || !Number.isSafeInteger(x)) bad(where, `${what} holds ${String(x)}`);
    return x;
  });
}

export class NumpyDType {
  byteorder = '=';
  constructor(readonly code: string) {}
  setState(state: unknown): void {
    if (Array.isArray(state) && typeof state[1] === 'string') this.byteorder = state[1];
  }
  get bigEndian(): boolean { return this.byteorder === '>'; }
  /** The tensor dtype this numpy dtype is, if any. */
  get dtype(): DType | undefined {
    const m = /^[<>=|]?([a-zA-Z])(\d*)$/.exec(this.code);
    if (!m) return undefined;
    const k = m[1], n = Number(m[2] || 0);
    const table: Record<string, DType> = { f4: 'float32', f8: 'float64', f2: 'float16', i8: 'int64', i4: 'int32', i2: 'int16', i1: 'int8', u1: 'uint8', b1: 'bool' };
    return table[`${k}${n}`] ?? ({ float32: 'float32', float64: 'float64', int64: 'int64', int32: 'int32', bool: 'bool' } as Record<string, DType>)[this.code];
  }
}

export function numpyScalar(args: unknown[], where: string): number | bigint | boolean | undefined {
  const [dt, raw] = args;
  if (!(dt instanceof NumpyDType) || !(raw instanceof Uint8Array)) return undefined;
  const d = dt.dtype;
  if (!d) return undefined;
  if (raw.length !== dtypeSize(d)) bad(where, `numpy scalar of ${raw.length} bytes for dtype ${dt.code}`);
  const b = Buffer.from(raw);
  if (dt.bigEndian) swapBytes(b, dtypeSize(d));
  switch (d) {
    case 'float32': return b.readFloatLE(0);
    case 'float64': return b.readDoubleLE(0);
    case 'float16': return halfToFloat(b.readUInt16LE(0));
    case 'bfloat16': return new Float32Array(new Uint32Array([b.readUInt16LE(0) << 16]).buffer)[0];
    case 'int64': { const v = b.readBigInt64LE(0); return Number.isSafeInteger(Number(v)) ? Number(v) : v; }
    case 'int32': return b.readInt32LE(0);
    case 'int16': return b.readInt16LE(0);
    case 'int8': return b.readInt8(0);
    case 'uint8': return b[0];
    case 'bool': return b[0] !== 0;
  }
}

/** A numpy ndarray from a pickle (numpy.core.multiarray._reconstruct + BUILD), in C order. */
export class NumpyArray implements Tensor {
  dtype: DType = 'uint8';
  shape: number[] = [0];
  data: TypedArray = new Uint8Array(0);
  /** The numpy dtype code ('f4', 'O8', ...); `supported` is false for dtypes with no tensor dtype. */
  numpyDtype = '';
  supported = true;
  setState(state: unknown, where: string): void {
    if (!Array.isArray(state) || state.length < 5) bad(where, 'numpy array state is not (version, shape, dtype, fortran, data)');
    const [, shapeV, dt, fortran, raw] = state;
    const shape = intList(shapeV, where, 'numpy array shape');
    if (shape.some((s) => s < 0)) bad(where, 'numpy array shape is negative');
    if (!(dt instanceof NumpyDType)) bad(where, 'numpy array dtype missing');
    this.numpyDtype = dt.code;
    const d = dt.dtype;
    this.shape = shape;
    if (!d || !(raw instanceof Uint8Array)) { this.supported = false; return; }
    const es = dtypeSize(d), n = numelOf(shape);
    if (raw.length !== n * es) bad(where, `numpy array [${shape}] of ${dt.code} needs ${n * es} bytes, has ${raw.length}`);
    const buf = freshBuffer(raw.length, where);
    buf.set(raw);
    if (dt.bigEndian) swapBytes(buf, es);
    let data = viewAs(d, buf.buffer, 0, n);
    if (fortran === true && shape.length > 1) data = fortranToC(data, shape, d);
    this.dtype = d;
    this.data = data;
  }
}

function fortranToC(src: TypedArray, shape: number[], d: DType): TypedArray {
  const n = src.length, nd = shape.length;
  const out = viewAs(d, freshBuffer(n * dtypeSize(d), 'numpy').buffer, 0, n);
  const fstride: number[] = [];
  let s = 1;
  for (let i = 0; i < nd; i++) { fstride.push(s); s *= shape[i]; }
  const idx = new Array(nd).fill(0);
  for (let o = 0; o < n; o++) {
    let f = 0;
    for (let i = 0; i < nd; i++) f += idx[i] * fstride[i];
    (out as any)[o] = (src as any)[f];
    for (let i = nd - 1; i >= 0; i--) { if (++idx[i] < shape[i]) break; idx[i] = 0; }
  }
  return out;
}
