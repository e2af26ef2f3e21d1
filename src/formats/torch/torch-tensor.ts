// A tensor read from a checkpoint: metadata at once, data on first access of `.data`.
// `.data` is always contiguous (row-major); views (offsets, transposes, slices, expands) are
// materialised from the storage they look into. Tensors sharing a storage share `storage`
// (compare `storageKey`), so writers can keep them shared.

import { MyptError } from '../../errors';
import { DType, Tensor, TypedArray, dtypeSize, numelOf, toFloat32, viewAs } from '../tensor';
import { TorchStorage, freshBuffer } from './storage';

/** Largest tensor (bytes) a view may materialise beyond its storage's own size. */
const MAX_EXPANDED_BYTES = 2 ** 32;

export class TorchTensor implements Tensor {
  readonly dtype: DType;
  readonly shape: number[];
  readonly stride: number[];
  readonly storageOffset: number;
  readonly storage: TorchStorage;
  requiresGrad = false;
  /** 'parameter' when the pickle rebuilt an nn.Parameter. */
  kind: 'tensor' | 'parameter' = 'tensor';
  private cached?: TypedArray;

  constructor(storage: TorchStorage, storageOffset: number, shape: number[], stride: number[]) {
    const where = `${storage.file}: tensor on storage ${storage.key}`;
    if (shape.length !== stride.length) throw new MyptError('E_BAD_FILE', `${where}: size has ${shape.length} dims, stride ${stride.length}`);
    if (shape.length > 64) throw new MyptError('E_BAD_FILE', `${where}: ${shape.length} dimensions`);
    for (let i = 0; i < shape.length; i++) {
      if (!Number.isSafeInteger(shape[i]) || shape[i] < 0) throw new MyptError('E_BAD_FILE', `${where}: bad size ${shape[i]}`);
      if (!Number.isSafeInteger(stride[i]) || stride[i] < 0) throw new MyptError('E_BAD_FILE', `${where}: bad stride ${stride[i]}`);
    }
    if (!Number.isSafeInteger(storageOffset) || storageOffset < 0) throw new MyptError('E_BAD_FILE', `${where}: bad storage offset ${storageOffset}`);
    let numel = 1;
    let last = storageOffset;                     // highest element index touched
    for (let i = 0; i < shape.length; i++) {
      numel *= shape[i];
      if (shape[i] > 0) last += (shape[i] - 1) * stride[i];
    }
    if (!Number.isSafeInteger(numel) || !Number.isSafeInteger(last)) throw new MyptError('E_BAD_FILE', `${where}: size too large`);
    if (numel > 0 && last >= storage.numel) {
      throw new MyptError('E_BAD_FILE', `${where}: view reaches element ${last} (offset ${storageOffset}, size [${shape}], stride [${stride}]) past the storage's ${storage.numel} elements`);
    }
    if (numel > storage.numel && numel * dtypeSize(storage.dtype) > MAX_EXPANDED_BYTES) {
      throw new MyptError('E_BAD_FILE', `${where}: view of ${numel} elements over a storage of ${storage.numel} is too large to materialise`);
    }
    this.dtype = storage.dtype;
    this.shape = shape;
    this.stride = stride;
    this.storageOffset = storageOffset;
    this.storage = storage;
  }

  get numel(): number { return numelOf(this.shape); }
  get storageKey(): string { return this.storage.key; }

  /** True when the view is the row-major layout of its shape (any offset). */
  isContiguous(): boolean {
    let expect = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.stride[i] !== expect) return false;
      expect *= this.shape[i];
    }
    return true;
  }

  /** Contiguous data, read from the file on first access and kept. */
  get data(): TypedArray {
    if (!this.cached) this.cached = this.materialise();
    return this.cached;
  }
  /** Replacing the data makes this a plain contiguous tensor for writers (its storage is no longer used). */
  set data(v: TypedArray) { this.cached = v; this.replaced = true; }
  /** True once `.data` was assigned. */
  replaced = false;

  /** The contiguous data without keeping it (for streaming writers); the cache is used when present. */
  readData(): TypedArray { return this.cached ?? this.materialise(); }

  /** Releases the cached data (it is read again on the next access). */
  drop(): void { this.cached = undefined; }

  toFloat32(): Float32Array { return toFloat32(this); }

  /** console.log / util.inspect: metadata only (printing never reads tensor data). */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    const view = this.isContiguous() ? '' : ` stride [${this.stride}]`;
    const off = this.storageOffset ? `+${this.storageOffset}` : '';
    return `TorchTensor(${this.dtype} [${this.shape}]${view} storage ${this.storage.key}${off}${this.kind === 'parameter' ? ' parameter' : ''})`;
  }

  private materialise(): TypedArray {
    const n = this.numel;
    const es = dtypeSize(this.dtype);
    if (n === 0) return viewAs(this.dtype, new ArrayBuffer(0), 0, 0);
    if (this.isContiguous()) {
      const buf = this.storage.readElements(this.storageOffset, n);
      return viewAs(this.dtype, buf.buffer, buf.byteOffset, n);
    }
    // Strided: read the span the view touches, then gather element by element.
    let last = this.storageOffset;
    for (let i = 0; i < this.shape.length; i++) last += (this.shape[i] - 1) * this.stride[i];
    const span = this.storage.readElements(this.storageOffset, last - this.storageOffset + 1);
    const out = freshBuffer(n * es, this.storage.file);
    gather(span, out, this.shape, this.stride, es);
    return viewAs(this.dtype, out.buffer, out.byteOffset, n);
  }
}

/** out[i] = src[sum_d idx_d * stride_d] for i over the shape in row-major order (byte copies). */
function gather(src: Buffer, out: Buffer, shape: number[], stride: number[], es: number): void {
  const nd = shape.length;
  const idx = new Array(nd).fill(0);
  const inner = shape[nd - 1];
  const innerStride = stride[nd - 1] * es;
  let base = 0;                                   // byte offset of idx[0..nd-2] with idx[nd-1] = 0
  let o = 0;
  for (;;) {
    let s = base;
    if (es === 4) {
      for (let j = 0; j < inner; j++, s += innerStride, o += 4) out.writeUInt32LE(src.readUInt32LE(s), o);
    } else {
      for (let j = 0; j < inner; j++, s += innerStride, o += es) src.copy(out, o, s, s + es);
    }
    let d = nd - 2;
    for (; d >= 0; d--) {
      idx[d]++;
      base += stride[d] * es;
      if (idx[d] < shape[d]) break;
      base -= idx[d] * stride[d] * es;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}
