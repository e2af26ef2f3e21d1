// What the known GLOBALs of torch.save / numpy pickles mean, applied without running any code:
// tensor and parameter rebuilds, OrderedDict, torch.Size, sets, bytes, numpy scalars and arrays.
// Anything else becomes an inert PyObject record.

import { MyptError } from '../../errors';
import { DType, Tensor, TypedArray, dtypeSize, numelOf, viewAs } from '../tensor';
import { PyDict, PyGlobal, PyObject, PyTuple, TorchSize } from './pyvalues';
import { TorchStorage, freshBuffer, swapBytes } from './storage';
import { TorchTensor } from './torch-tensor';

/** Storage class name (torch.FloatStorage, ...) -> dtype. */
export const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'float32', DoubleStorage: 'float64', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8',
  ByteStorage: 'uint8', BoolStorage: 'bool',
};
export const DTYPE_STORAGES: Record<DType, string> = Object.fromEntries(
  Object.entries(STORAGE_DTYPES).map(([k, v]) => [v, k])) as Record<DType, string>;

/** torch dtype objects by name (torch.float32, ... as they appear in newer pickles). */
const TORCH_DTYPE_NAMES: Record<string, DType> = {
  float32: 'float32', float: 'float32', float64: 'float64', double: 'float64', float16: 'float16', half: 'float16',
  bfloat16: 'bfloat16', int64: 'int64', long: 'int64', int32: 'int32', int: 'int32', int16: 'int16', short: 'int16',
  int8: 'int8', uint8: 'uint8', bool: 'bool',
};

export function storageDType(g: unknown): DType | undefined {
  if (!(g instanceof PyGlobal)) return undefined;
  if (g.module === 'torch' && STORAGE_DTYPES[g.name]) return STORAGE_DTYPES[g.name];
  if (g.module === 'torch' && TORCH_DTYPE_NAMES[g.name]) return TORCH_DTYPE_NAMES[g.name];
  return undefined;
}

const REBUILD_TENSOR = new Set(['torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor']);
const REBUILD_PARAM = new Set(['torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state']);
const BUILTINS = new Set(['builtins', '__builtin__']);

const STRICT_ALLOWED = new Set([
  'collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state', 'torch._tensor._rebuild_from_type_v2',
  'torch.nn.parameter.Parameter', 'torch.Tensor', 'torch.Size', 'torch.device', '_codecs.encode',
]);

/** Strict mode: tensors, storages, dtypes and plain containers only. */
export function isAllowedStrict(g: PyGlobal): boolean {
  if (STRICT_ALLOWED.has(g.fullName)) return true;
  if (g.module === 'torch' && (STORAGE_DTYPES[g.name] || TORCH_DTYPE_NAMES[g.name])) return true;
  if (BUILTINS.has(g.module) && ['set', 'frozenset', 'bytes', 'bytearray', 'dict', 'list', 'tuple'].includes(g.name)) return true;
  return false;
}

function bad(where: string, what: string): never {
  throw new MyptError('E_BAD_FILE', `${where}: ${what}`);
}

function intList(v: unknown, where: string, what: string): number[] {
  if (!Array.isArray(v)) bad(where, `${what} is not a tuple`);
  return v.map((x) => {
    if (typeof x !== 'number' || !Number.isSafeInteger(x)) bad(where, `${what} holds ${String(x)}`);
    return x;
  });
}

/** The value a call of global `g` with `args` stands for. */
export function callGlobal(g: PyGlobal, args: unknown[], where: string, strict: boolean): unknown {
  const full = g.fullName;
  if (REBUILD_TENSOR.has(full)) {
    const [storage, offset, size, stride, requiresGrad] = args;
    if (!(storage instanceof TorchStorage)) {
      if (strict) bad(where, `${full} on a storage of unsupported type`);
      return new PyObject(g.module, g.name, args);
    }
    if (typeof offset !== 'number') bad(where, 'tensor storage offset is not an integer');
    const t = new TorchTensor(storage, offset, intList(size, where, 'tensor size'), intList(stride, where, 'tensor stride'));
    t.requiresGrad = requiresGrad === true;
    return t;
  }
  if (REBUILD_PARAM.has(full) || full === 'torch.nn.parameter.Parameter') {
    const [data, requiresGrad] = args;
    if (data instanceof TorchTensor) {
      data.kind = 'parameter';
      data.requiresGrad = requiresGrad !== false;
      return data;
    }
    if (strict) bad(where, `${full} on a non-tensor`);
    return new PyObject(g.module, g.name, args);
  }
  if (full === 'torch._tensor._rebuild_from_type_v2') {
    const [func, type, fargs] = args;
    if (func instanceof PyGlobal && Array.isArray(fargs)) {
      if (strict && !(type instanceof PyGlobal && (type.fullName === 'torch.Tensor' || type.fullName === 'torch.nn.parameter.Parameter'))) {
        bad(where, `refuses tensor subclass ${String(type)} (strict mode)`);
      }
      return callGlobal(func, fargs, where, strict);
    }
    return new PyObject(g.module, g.name, args);
  }
  if (full === 'collections.OrderedDict' || (BUILTINS.has(g.module) && g.name === 'dict')) {
    const d = new PyDict();
    d.ordered = full === 'collections.OrderedDict';
    const init = args[0];
    if (Array.isArray(init)) {
      for (const pair of init) if (Array.isArray(pair) && pair.length === 2) d.set(pair[0] as any, pair[1]);
    } else if (init instanceof PyDict) {
      for (const [k, v] of init) d.set(k, v);
    }
    return d;
  }
  if (full === 'torch.Size') {
    const s = new TorchSize();
    for (const x of intList(args[0] ?? [], where, 'torch.Size')) s.push(x);
    return s;
  }
  if (BUILTINS.has(g.module) && g.name === 'tuple') return PyTuple.fromItems(Array.isArray(args[0]) ? args[0] : []);
  if (BUILTINS.has(g.module) && g.name === 'list') return Array.isArray(args[0]) ? [...args[0]] : [];
  if (BUILTINS.has(g.module) && (g.name === 'set' || g.name === 'frozenset')) {
    return new Set(Array.isArray(args[0]) ? args[0] : args[0] instanceof Set ? args[0] : []);
  }
  if (full === '_codecs.encode' && typeof args[0] === 'string') return Uint8Array.from(Buffer.from(args[0], 'latin1'));
  if (BUILTINS.has(g.module) && (g.name === 'bytes' || g.name === 'bytearray')) {
    if (args.length === 0) return new Uint8Array(0);
    if (args[0] instanceof Uint8Array) return Uint8Array.from(args[0]);
    if (typeof args[0] === 'string' && typeof args[1] === 'string') return Uint8Array.from(Buffer.from(args[0], 'latin1'));
  }
  if (isNumpy(g, 'dtype') && typeof args[0] === 'string') return new NumpyDType(args[0]);
  if (isNumpy(g, 'scalar')) return numpyScalar(args, where) ?? new PyObject(g.module, g.name, args);
  if (isNumpy(g, '_reconstruct')) return new NumpyArray();
  if (isNumpy(g, '_frombuffer')) {                   // protocol 5: _frombuffer(buffer, dtype, shape, order)
    const a = new NumpyArray();
    a.setState(PyTuple.make(1, args[2], args[1], args[3] === 'F', args[0]), where);
    return a;
  }
  return new PyObject(g.module, g.name, args);
}

function isNumpy(g: PyGlobal, name: string): boolean {
  if (g.name !== name) return false;
  if (name === 'dtype') return g.module === 'numpy';
  if (name === '_frombuffer') return g.module === 'numpy.core.numeric' || g.module === 'numpy._core.numeric';
  return g.module === 'numpy.core.multiarray' || g.module === 'numpy._core.multiarray';
}

/** BUILD: set `state` on `obj`; returns the object that stands on the stack afterwards. */
export function buildObject(obj: unknown, state: unknown, where: string): unknown {
  if (obj instanceof PyDict) {
    const parts = state instanceof PyTuple ? state : [state];
    for (const part of parts) {
      if (part instanceof PyDict) {
        obj.attrs ??= {};
        for (const [k, v] of part) if (typeof k === 'string') obj.attrs[k] = v;
      }
    }
    return obj;
  }
  if (obj instanceof PyObject) { obj.state = state; return obj; }
  if (obj instanceof TorchTensor) return obj;                    // Parameter/tensor python attributes: ignored
  if (obj instanceof NumpyDType) { obj.setState(state); return obj; }
  if (obj instanceof NumpyArray) { obj.setState(state, where); return obj; }
  bad(where, `pickle: BUILD on ${obj === null ? 'None' : typeof obj === 'object' ? (obj as object).constructor.name : typeof obj}`);
}

// ---- numpy ----------------------------------------------------------------------------------

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

function numpyScalar(args: unknown[], where: string): number | bigint | boolean | undefined {
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
    case 'float16': return halfBits(b.readUInt16LE(0));
    case 'bfloat16': return new Float32Array(new Uint32Array([b.readUInt16LE(0) << 16]).buffer)[0];
    case 'int64': { const v = b.readBigInt64LE(0); return Number.isSafeInteger(Number(v)) ? Number(v) : v; }
    case 'int32': return b.readInt32LE(0);
    case 'int16': return b.readInt16LE(0);
    case 'int8': return b.readInt8(0);
    case 'uint8': return b[0];
    case 'bool': return b[0] !== 0;
  }
}

function halfBits(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
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
