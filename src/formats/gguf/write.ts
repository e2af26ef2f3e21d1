// Writes a GGUF v3 file: the header, the metadata in the order given, the tensor infos, zero padding to the
// alignment, then each tensor's bytes at an aligned offset (padded after each, as gguf-py's writer does).
// Through formats/atomic.ts: a crash leaves the previous file, or none, never half a file.
import { MyptError } from '../../errors';
import { FileSink, writeFileAtomic, writeFileAtomicSync, WriteSteps } from '../atomic';
import { ggmlBytes } from './quant';
import { GGML_BLOCK, GGML_NAME, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_TYPE, GGUF_VERSION, GgufScalar, GgufValue, SCALAR_SIZE } from './types';

export interface GgufTensorOut {
  name: string;
  /** ggml order (ne0 first). */
  dims: number[];
  type: number;
  bytes: Uint8Array;
}

export interface GgufOut {
  metadata: Array<[string, GgufValue]>;
  tensors: GgufTensorOut[];
  /** Written as general.alignment when not the default 32. */
  alignment?: number;
}

/** Little-endian bytes of header parts, grown as needed. */
class Bytes {
  private buf: Buffer = Buffer.alloc(1 << 16);
  length = 0;
  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u32(v: number): void { this.room(4); this.buf.writeUInt32LE(v, this.length); this.length += 4; }
  u64(v: number | bigint): void { this.room(8); this.buf.writeBigUInt64LE(BigInt(v), this.length); this.length += 8; }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.room(b.length);
    b.copy(this.buf, this.length);
    this.length += b.length;
  }
  scalar(type: number, v: GgufScalar): void {
    if (type === GGUF_TYPE.STRING) return this.string(String(v));
    const n = SCALAR_SIZE[type];
    this.room(n);
    const at = this.length;
    const b = this.buf;
    switch (type) {
      case GGUF_TYPE.UINT8: b.writeUInt8(Number(v), at); break;
      case GGUF_TYPE.INT8: b.writeInt8(Number(v), at); break;
      case GGUF_TYPE.UINT16: b.writeUInt16LE(Number(v), at); break;
      case GGUF_TYPE.INT16: b.writeInt16LE(Number(v), at); break;
      case GGUF_TYPE.UINT32: b.writeUInt32LE(Number(v), at); break;
      case GGUF_TYPE.INT32: b.writeInt32LE(Number(v), at); break;
      case GGUF_TYPE.FLOAT32: b.writeFloatLE(Number(v), at); break;
      case GGUF_TYPE.BOOL: b.writeUInt8(v ? 1 : 0, at); break;
      case GGUF_TYPE.UINT64: b.writeBigUInt64LE(BigInt(v), at); break;
      case GGUF_TYPE.INT64: b.writeBigInt64LE(BigInt(v), at); break;
      case GGUF_TYPE.FLOAT64: b.writeDoubleLE(Number(v), at); break;
      default: throw new MyptError('E_BAD_ARGUMENT', `GGUF value type ${type} is not a scalar`);
    }
    this.length += n;
  }
  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.room(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  get bytes(): Buffer { return this.buf.subarray(0, this.length); }
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

/** The header bytes (through the padding before the data) and each tensor's offset in the data section. */
export function ggufHeader(g: GgufOut): { header: Buffer; offsets: number[]; alignment: number } {
  const alignment = g.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) throw new MyptError('E_BAD_ARGUMENT', `GGUF alignment ${alignment} must be a positive multiple of 8`);
  const meta = g.metadata.filter(([k]) => k !== 'general.alignment');
  if (alignment !== GGUF_DEFAULT_ALIGNMENT) meta.splice(1, 0, ['general.alignment', { type: GGUF_TYPE.UINT32, value: alignment }]);
  const h = new Bytes();
  h.u32(Buffer.from(GGUF_MAGIC, 'latin1').readUInt32LE(0));
  h.u32(GGUF_VERSION);
  h.u64(g.tensors.length);
  h.u64(meta.length);
  for (const [key, v] of meta) {
    h.string(key);
    h.u32(v.type);
    if (v.type === GGUF_TYPE.ARRAY) {
      h.u32(v.itemType);
      h.u64(v.value.length);
      for (const x of v.value) h.scalar(v.itemType, x);
    } else {
      h.scalar(v.type, v.value);
    }
  }
  const offsets: number[] = [];
  let at = 0;
  for (const t of g.tensors) {
    const numel = t.dims.reduce((a, b) => a * b, 1);
    const block = GGML_BLOCK[t.type];
    if (!block || t.dims[0] % block[0] !== 0 || ggmlBytes(t.type, numel) !== t.bytes.length) {
      throw new MyptError('E_BAD_ARGUMENT', `GGUF tensor ${t.name}: ${t.bytes.length} bytes do not hold [${t.dims}] of ${GGML_NAME[t.type] ?? t.type}`);
    }
    h.string(t.name);
    h.u32(t.dims.length);
    for (const d of t.dims) h.u64(d);
    h.u32(t.type);
    h.u64(at);
    offsets.push(at);
    at = align(at + t.bytes.length, alignment);
  }
  h.pad(alignment);
  return { header: h.bytes, offsets, alignment };
}

function steps(g: GgufOut): WriteSteps {
  const { header, alignment } = ggufHeader(g);
  return function* (out: FileSink) {
    const write = (b: Uint8Array) => out.append(b);
    write(header);
    for (const t of g.tensors) {
      write(t.bytes);
      const pad = align(t.bytes.length, alignment) - t.bytes.length;
      if (pad) write(new Uint8Array(pad));
      yield;
    }
  };
}

export function writeGgufSync(file: string, g: GgufOut): void {
  writeFileAtomicSync(file, steps(g));
}

export async function writeGguf(file: string, g: GgufOut): Promise<void> {
  await writeFileAtomic(file, steps(g));
}
