// Pickles JS values as protocol 2 using only what torch.load(weights_only=True) accepts:
// dict / collections.OrderedDict, list, tuple, int, float, bool, None, str, and tensors through
// torch._utils._rebuild_tensor_v2 with ('storage', torch.XStorage, key, 'cpu', numel) persistent ids.

import { MyptError } from '../../errors';
import { DType, Tensor, checkTensor, isDType } from '../tensor';
import { DTYPE_STORAGES } from './py-globals';
import { PyDict, PyFloat, PyGlobal, PyObject, PyTuple, TorchSize } from './pyvalues';
import { TorchStorage } from './storage';
import { TorchTensor } from './torch-tensor';

/** A storage to be written: either a loaded storage (copied from its file) or a typed array. */
export interface StorageToWrite {
  key: string;
  dtype: DType;
  numel: number;
  source: TorchStorage | Tensor['data'];
}

const BATCH = 1000;

export function isTensorLike(v: unknown): v is Tensor {
  if (v instanceof TorchTensor) return true;
  if (v === null || typeof v !== 'object') return false;
  const t = v as Tensor;
  return isDType(t.dtype) && Array.isArray(t.shape) && ArrayBuffer.isView(t.data);
}

export class Pickler {
  private chunks: Buffer[] = [];
  private cur = Buffer.alloc(1 << 16);
  private n = 0;
  readonly storages: StorageToWrite[] = [];
  private byStorage = new Map<TorchStorage, StorageToWrite>();
  private byArray = new Map<object, Map<DType, StorageToWrite>>();
  private memo = new Map<object, number>();

  constructor(private readonly where: string) {}

  private ensure(k: number): void {
    if (this.n + k <= this.cur.length) return;
    this.chunks.push(this.cur.subarray(0, this.n));
    this.cur = Buffer.alloc(Math.max(1 << 16, k));
    this.n = 0;
  }
  private op(b: number): void { this.ensure(1); this.cur[this.n++] = b; }
  private raw(b: Uint8Array): void { this.ensure(b.length); this.cur.set(b, this.n); this.n += b.length; }

  /** The whole pickle (PROTO 2 ... STOP). */
  dump(value: unknown): Buffer {
    this.op(0x80); this.op(2);
    this.value(value, 'value', 0);
    this.op(0x2e);
    this.chunks.push(this.cur.subarray(0, this.n));
    return Buffer.concat(this.chunks);
  }

  private fail(at: string, what: string): never {
    throw new MyptError('E_BAD_ARGUMENT', `${this.where}: cannot save ${at}: ${what}`);
  }

  private global(module: string, name: string): void {
    this.op(0x63);
    this.raw(Buffer.from(`${module}\n${name}\n`, 'latin1'));
  }

  private str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.ensure(5);
    this.cur[this.n] = 0x58;
    this.cur.writeUInt32LE(b.length, this.n + 1);
    this.n += 5;
    this.raw(b);
  }

  private int(v: number | bigint): void {
    if (typeof v === 'number' && v >= 0 && v < 256) { this.ensure(2); this.cur[this.n++] = 0x4b; this.cur[this.n++] = v; return; }
    if (typeof v === 'number' && v >= 0 && v < 65536) { this.ensure(3); this.cur[this.n] = 0x4d; this.cur.writeUInt16LE(v, this.n + 1); this.n += 3; return; }
    if (typeof v === 'number' && v >= -0x80000000 && v < 0x80000000) { this.ensure(5); this.cur[this.n] = 0x4a; this.cur.writeInt32LE(v, this.n + 1); this.n += 5; return; }
    // LONG1: minimal little-endian two's complement
    let x = BigInt(v);
    const bytes: number[] = [];
    for (;;) {
      bytes.push(Number(x & 0xffn));
      x >>= 8n;
      const sign = bytes[bytes.length - 1] & 0x80;
      if ((x === 0n && !sign) || (x === -1n && sign)) break;
    }
    if (bytes.length > 255) this.fail('an integer', 'too large');
    this.op(0x8a); this.op(bytes.length); this.raw(Uint8Array.from(bytes));
  }

  private float(v: number): void {
    this.ensure(9);
    this.cur[this.n] = 0x47;
    this.cur.writeDoubleBE(v, this.n + 1);
    this.n += 9;
  }

  private items(values: unknown[], at: string, depth: number): void {
    for (let i = 0; i < values.length; i++) this.value(values[i], `${at}[${i}]`, depth);
  }

  private value(v: unknown, at: string, depth: number): void {
    if (depth > 1000) this.fail(at, 'nested deeper than 1000 (or recursive)');
    if (v === null || v === undefined) return this.op(0x4e);
    if (v === true) return this.op(0x88);
    if (v === false) return this.op(0x89);
    if (typeof v === 'number') return Number.isInteger(v) && !Object.is(v, -0) ? this.int(v) : this.float(v);
    if (typeof v === 'bigint') return this.int(v);
    if (typeof v === 'string') return this.str(v);
    if (v instanceof PyFloat) return this.float(v.value);
    if (typeof v !== 'object') this.fail(at, `unsupported value of type ${typeof v}`);
    // An object met again is fetched from the memo (BINGET), as Python's pickler does: identity is
    // kept and a value holding one object many times (a DAG) stays linear in size.
    const seen = this.memo.get(v);
    if (seen !== undefined) return this.memoOp(0x68, 0x6a, seen);
    this.object(v, at, depth);
    this.memo.set(v, this.memo.size);
    this.memoOp(0x71, 0x72, this.memo.size - 1);
  }

  private memoOp(short: number, long: number, i: number): void {
    if (i < 256) { this.op(short); this.op(i); return; }
    this.ensure(5);
    this.cur[this.n] = long;
    this.cur.writeUInt32LE(i, this.n + 1);
    this.n += 5;
  }

  private object(v: object, at: string, depth: number): void {
    if (isTensorLike(v)) return this.tensor(v, at);
    if (v instanceof TorchSize) {
      this.global('torch', 'Size');
      this.intTuple(v.map((x, i) => {
        if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) this.fail(`${at}[${i}]`, 'torch.Size holds a non-integer');
        return x;
      }));
      this.op(0x85);
      return this.op(0x52);
    }
    if (v instanceof PyTuple) {
      if (v.length === 0) return this.op(0x29);
      if (v.length <= 3) { this.items(v, at, depth + 1); return this.op(0x84 + v.length); }
      this.op(0x28); this.items(v, at, depth + 1); return this.op(0x74);
    }
    if (Array.isArray(v)) {
      this.op(0x5d);
      for (let i = 0; i < v.length; i += BATCH) {
        const part = v.slice(i, i + BATCH);
        if (part.length === 1) { this.value(part[0], `${at}[${i}]`, depth + 1); this.op(0x61); continue; }
        this.op(0x28);
        for (let j = 0; j < part.length; j++) this.value(part[j], `${at}[${i + j}]`, depth + 1);
        this.op(0x65);
      }
      return;
    }
    if (v instanceof Map) {
      const ordered = v instanceof PyDict ? v.ordered !== false : false;
      if (ordered) { this.global('collections', 'OrderedDict'); this.op(0x29); this.op(0x52); } else this.op(0x7d);
      this.dictItems([...v.entries()], at, depth);
      if (v instanceof PyDict && v.attrs && ordered && Object.keys(v.attrs).length) {
        const state = new PyDict();
        state.ordered = false;
        for (const [k, x] of Object.entries(v.attrs)) state.set(k, x);
        this.value(state, `${at}.attrs`, depth + 1);
        this.op(0x62);
      }
      return;
    }
    if (v instanceof PyObject || v instanceof PyGlobal) this.fail(at, `${v.fullName} is not a plain value (torch.load(weights_only=True) would refuse it)`);
    if (v instanceof Set) this.fail(at, 'sets cannot be loaded by torch.load(weights_only=True)');
    if (ArrayBuffer.isView(v)) this.fail(at, 'a bare typed array; wrap it as { dtype, shape, data }');
    if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
      this.op(0x7d);
      this.dictItems(Object.entries(v), at, depth);
      return;
    }
    this.fail(at, `unsupported value of type ${v.constructor?.name ?? typeof v}`);
  }

  private dictItems(entries: [unknown, unknown][], at: string, depth: number): void {
    for (let i = 0; i < entries.length; i += BATCH) {
      const part = entries.slice(i, i + BATCH);
      this.op(0x28);
      for (const [k, x] of part) {
        if (!(k === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof k) || k instanceof PyTuple)) {
          this.fail(at, `dict key of type ${typeof k}`);
        }
        this.value(k, `${at} key`, depth + 1);
        this.value(x, `${at}[${JSON.stringify(String(k))}]`, depth + 1);
      }
      this.op(0x75);
    }
  }

  private storageFor(t: Tensor, at: string): { s: StorageToWrite; offset: number; stride: number[] } {
    if (t instanceof TorchTensor && !t.replaced) {
      let s = this.byStorage.get(t.storage);
      if (!s) {
        s = { key: String(this.storages.length), dtype: t.storage.dtype, numel: t.storage.numel, source: t.storage };
        this.storages.push(s);
        this.byStorage.set(t.storage, s);
      }
      return { s, offset: t.storageOffset, stride: t.stride };
    }
    checkTensor(t, `${this.where}: ${at}`);
    let perDtype = this.byArray.get(t.data);
    if (!perDtype) this.byArray.set(t.data, perDtype = new Map());
    let s = perDtype.get(t.dtype);
    if (!s) {
      s = { key: String(this.storages.length), dtype: t.dtype, numel: t.data.length, source: t.data };
      this.storages.push(s);
      perDtype.set(t.dtype, s);
    }
    const stride: number[] = [];
    let acc = 1;
    for (let i = t.shape.length - 1; i >= 0; i--) { stride[i] = acc; acc *= t.shape[i]; }
    return { s, offset: 0, stride };
  }

  private tensor(t: Tensor, at: string): void {
    const { s, offset, stride } = this.storageFor(t, at);
    const param = t instanceof TorchTensor && t.kind === 'parameter';
    if (param) this.global('torch._utils', '_rebuild_parameter');
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.op(0x28);
    // persistent id ('storage', torch.XStorage, key, 'cpu', numel)
    this.op(0x28);
    this.str('storage');
    this.global('torch', DTYPE_STORAGES[s.dtype]);
    this.str(s.key);
    this.str('cpu');
    this.int(s.numel);
    this.op(0x74);
    this.op(0x51);
    this.int(offset);
    this.intTuple(t.shape);
    this.intTuple(stride);
    this.op(0x89);                                   // requires_grad False
    this.global('collections', 'OrderedDict'); this.op(0x29); this.op(0x52);
    this.op(0x74);
    this.op(0x52);
    if (param) {
      // stack: _rebuild_parameter, tensor -> _rebuild_parameter((tensor, requires_grad, OrderedDict()))
      this.op((t as TorchTensor).requiresGrad ? 0x88 : 0x89);
      this.global('collections', 'OrderedDict'); this.op(0x29); this.op(0x52);
      this.op(0x87);
      this.op(0x52);
    }
  }

  private intTuple(xs: number[]): void {
    if (xs.length === 0) return this.op(0x29);
    if (xs.length <= 3) { for (const x of xs) this.int(x); return this.op(0x84 + xs.length); }
    this.op(0x28); for (const x of xs) this.int(x); this.op(0x74);
  }
}
