// What the known GLOBALs of torch.save / numpy pickles mean, applied without running any code:
// tensor and parameter rebuilds, OrderedDict, torch.Size, sets, bytes, numpy scalars and arrays.
// Anything else becomes an inert PyObject record.

import { MyptError } from '../../errors';
import { DType } from '../tensor';
import { NumpyArray, NumpyDType, intList, numpyScalar } from './numpy';
import { PyDict, PyGlobal, PyObject, PyTuple, TorchSize } from './pyvalues';
import { TorchStorage } from './storage';
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
