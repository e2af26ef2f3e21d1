// Reads a GGUF file's header (metadata and tensor infos) without trusting anything in it: every count,
// length, dimension, type and offset is checked against the file's size before it is used, so a truncated
// or hostile file is one E_BAD_FILE error naming the file and what is wrong, never a crash or a huge
// allocation. Tensor data stays on disk until asked for (readGgufTensor).
import { MyptError } from '../../errors';
import { freshBuffer, openForReading, readFd, statFile } from '../torch/storage';
import { closeSync } from 'fs';
import { decodeGgml, ggmlBytes } from './quant';
import {
  GGML_BLOCK, GGML_NAME, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_TYPE, GgufScalar, GgufTensorInfo, GgufValue, GgufValueType,
  SCALAR_SIZE, TYPE_NAME,
} from './types';

export interface GgufFile {
  path: string;
  version: number;
  /** Metadata in file order. */
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Where the data section starts, in the file. */
  dataStart: number;
  fileSize: number;
}

/** The most bytes of header read at once (the header of a GPT-2 file with its vocabulary is about 2 MB). */
const CHUNK = 1 << 20;
const MAX_DIMS = 4;
const MAX_NAME = 64;
const MAX_KEY = 65535;

function bad(file: string, what: string): never {
  throw new MyptError('E_BAD_FILE', `${file}: ${what}`);
}

/** A forward cursor over the file's bytes, reading a chunk at a time; every read is bounds-checked. */
class Cursor {
  pos = 0;
  private buf: Buffer = Buffer.alloc(0);
  private bufStart = 0;
  constructor(readonly file: string, readonly fd: number, readonly size: number) {}

  /** Bytes left in the file after the cursor. */
  get left(): number {
    return this.size - this.pos;
  }

  /** The next n bytes. */
  bytes(n: number, what: string): Buffer {
    if (n > this.left) bad(this.file, `truncated: ${what} needs ${n} bytes at offset ${this.pos}, the file has ${this.left} left`);
    const off = this.pos - this.bufStart;
    if (off < 0 || off + n > this.buf.length) {
      const len = Math.min(Math.max(n, CHUNK), this.left);
      this.buf = freshBuffer(len, this.file);
      readFd(this.fd, this.file, this.buf, this.pos);
      this.bufStart = this.pos;
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(at, at + n);
  }

  u32(what: string): number {
    return this.bytes(4, what).readUInt32LE(0);
  }

  /** A u64 that must fit a JS integer (and `max`, a bound from the bytes left): counts, lengths, offsets. */
  count(what: string, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.bytes(8, what).readBigUInt64LE(0);
    if (v > BigInt(max)) {
      bad(this.file, `${what} is ${v}, more than ${max === Number.MAX_SAFE_INTEGER ? 'can be addressed' : `the ${Math.max(max, 0)} the rest of the file (${this.left} bytes) can hold (truncated or corrupt)`}`);
    }
    return Number(v);
  }

  string(what: string, maxBytes = Number.MAX_SAFE_INTEGER): string {
    const n = this.count(`the length of ${what}`, Math.min(this.left - 8, maxBytes));
    const bytes = this.bytes(n, what);
    const s = bytes.toString('utf8');
    if (!Buffer.from(s, 'utf8').equals(bytes)) bad(this.file, `${what} is not valid UTF-8`);
    return s;
  }

  scalar(type: number, what: string): GgufScalar {
    const b = this.bytes(SCALAR_SIZE[type], what);
    switch (type) {
      case GGUF_TYPE.UINT8: return b.readUInt8(0);
      case GGUF_TYPE.INT8: return b.readInt8(0);
      case GGUF_TYPE.UINT16: return b.readUInt16LE(0);
      case GGUF_TYPE.INT16: return b.readInt16LE(0);
      case GGUF_TYPE.UINT32: return b.readUInt32LE(0);
      case GGUF_TYPE.INT32: return b.readInt32LE(0);
      case GGUF_TYPE.FLOAT32: return b.readFloatLE(0);
      case GGUF_TYPE.UINT64: return b.readBigUInt64LE(0);
      case GGUF_TYPE.INT64: return b.readBigInt64LE(0);
      case GGUF_TYPE.FLOAT64: return b.readDoubleLE(0);
      case GGUF_TYPE.BOOL: {
        const v = b.readUInt8(0);
        if (v > 1) bad(this.file, `${what}: a bool holds ${v} (0 or 1 allowed)`);
        return v === 1;
      }
      default: return bad(this.file, `${what}: unknown value type ${type}`);
    }
  }
}

function valueType(c: Cursor, what: string): GgufValueType {
  const t = c.u32(`the type of ${what}`);
  if (!(t in TYPE_NAME)) bad(c.file, `${what} has value type ${t}, not a GGUF type (0..12)`);
  return t as GgufValueType;
}

function readValue(c: Cursor, type: GgufValueType, what: string): GgufValue {
  if (type === GGUF_TYPE.STRING) return { type, value: c.string(what) };
  if (type !== GGUF_TYPE.ARRAY) return { type, value: c.scalar(type, what) };
  const itemType = valueType(c, `the items of ${what}`);
  if (itemType === GGUF_TYPE.ARRAY) bad(c.file, `${what}: arrays of arrays are not supported`);
  const minItem = itemType === GGUF_TYPE.STRING ? 8 : SCALAR_SIZE[itemType];
  const n = c.count(`the item count of ${what}`, Math.floor((c.left - 8) / minItem));
  const items: GgufScalar[] = new Array(n);
  for (let i = 0; i < n; i++) items[i] = itemType === GGUF_TYPE.STRING ? c.string(`${what}[${i}]`) : c.scalar(itemType, `${what}[${i}]`);
  return { type, itemType: itemType as Exclude<GgufValueType, 9>, value: items };
}

/** Parses and checks a GGUF file's header: metadata, tensor infos, alignment and every tensor's extent. */
export function readGgufHeader(file: string): GgufFile {
  const stamp = statFile(file);
  const fd = openForReading(file);
  try {
    const c = new Cursor(file, fd, stamp.size);
    if (stamp.size < 24) bad(file, `too short for a GGUF file (${stamp.size} bytes; the header alone is 24)`);
    const magic = Buffer.from(c.bytes(4, 'the magic'));
    if (magic.toString('latin1') !== GGUF_MAGIC) bad(file, `not a GGUF file (starts with ${JSON.stringify(magic.toString('latin1'))}, not "GGUF")`);
    const version = c.u32('the version');
    if (version !== 2 && version !== 3) bad(file, `GGUF version ${version} is not supported (2 and 3 are)`);
    const nTensors = c.count('the tensor count', Math.floor((stamp.size - 24) / 33));
    const nKv = c.count('the metadata count', Math.floor((stamp.size - 24) / 14));

    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < nKv; i++) {
      const key = c.string(`metadata key ${i}`, MAX_KEY);
      if (key === '' || !/^[\x20-\x7e]+$/.test(key)) bad(file, `metadata key ${i} (${JSON.stringify(key.slice(0, 40))}) is not a printable ASCII name`);
      if (metadata.has(key)) bad(file, `metadata key ${key} appears twice`);
      metadata.set(key, readValue(c, valueType(c, `metadata ${key}`), `metadata ${key}`));
    }

    let alignment = GGUF_DEFAULT_ALIGNMENT;
    const al = metadata.get('general.alignment');
    if (al) {
      if (al.type !== GGUF_TYPE.UINT32) bad(file, `general.alignment is a ${TYPE_NAME[al.type]}, not a uint32`);
      alignment = al.value as number;
      if (alignment === 0 || alignment % 8 !== 0 || alignment > 1 << 20) bad(file, `general.alignment ${alignment} is not a multiple of 8 (up to 1 MiB)`);
    }

    const tensors: GgufTensorInfo[] = [];
    const names = new Set<string>();
    for (let i = 0; i < nTensors; i++) {
      const name = c.string(`the name of tensor ${i}`, MAX_NAME);
      if (name === '') bad(file, `tensor ${i} has an empty name`);
      if (names.has(name)) bad(file, `tensor ${name} appears twice`);
      names.add(name);
      const nd = c.u32(`the dimension count of ${name}`);
      if (nd < 1 || nd > MAX_DIMS) bad(file, `tensor ${name} has ${nd} dimensions (1 to ${MAX_DIMS} allowed)`);
      const dims: number[] = [];
      let numel = 1;
      for (let d = 0; d < nd; d++) {
        const n = c.count(`dimension ${d} of ${name}`);
        if (n === 0) bad(file, `tensor ${name} has a zero dimension`);
        numel *= n;
        if (!Number.isSafeInteger(numel) || numel > stamp.size * 256) bad(file, `tensor ${name} has dimensions [${[...dims, n].join(', ')}...], more values than the file can hold`);
        dims.push(n);
      }
      const type = c.u32(`the type of ${name}`);
      const block = GGML_BLOCK[type];
      if (!block) bad(file, `tensor ${name} has ggml type ${GGML_NAME[type] ?? type}, whose layout this reader does not know`);
      if (dims[0] % block[0] !== 0) bad(file, `tensor ${name}: its rows of ${dims[0]} values are not whole ${GGML_NAME[type]} blocks of ${block[0]}`);
      const offset = c.count(`the offset of ${name}`);
      if (offset % alignment !== 0) bad(file, `tensor ${name} is at offset ${offset}, not a multiple of the alignment ${alignment}`);
      tensors.push({ name, dims, type, offset, byteLength: ggmlBytes(type, numel) });
    }

    const dataStart = Math.ceil(c.pos / alignment) * alignment;
    const dataSize = stamp.size - dataStart;
    let end = 0;
    for (const t of [...tensors].sort((a, b) => a.offset - b.offset)) {
      if (t.offset < end) bad(file, `tensor ${t.name} (at ${t.offset}) overlaps the tensor before it (which ends at ${end})`);
      end = t.offset + t.byteLength;
      if (end > dataSize) bad(file, `tensor ${t.name} ends at ${end} of a data section of ${Math.max(dataSize, 0)} bytes (truncated?)`);
    }
    return { path: file, version, metadata, tensors, alignment, dataStart, fileSize: stamp.size };
  } finally {
    closeSync(fd);
  }
}

/** A tensor's values as float32 (F32, F16, BF16, Q8_0). */
export function readGgufTensor(g: GgufFile, t: GgufTensorInfo): Float32Array {
  const fd = openForReading(g.path);
  try {
    const buf = freshBuffer(t.byteLength, g.path);
    readFd(fd, g.path, buf, g.dataStart + t.offset);
    return decodeGgml(buf, t.type, t.dims.reduce((a, b) => a * b, 1), `${g.path}: tensor ${t.name}`);
  } finally {
    closeSync(fd);
  }
}

/** A metadata value as a number (any integer or float type), or undefined when absent. */
export function metaNumber(g: GgufFile, key: string): number | undefined {
  const v = g.metadata.get(key);
  if (!v) return undefined;
  if (v.type === GGUF_TYPE.ARRAY || v.type === GGUF_TYPE.STRING || v.type === GGUF_TYPE.BOOL) bad(g.path, `metadata ${key} is a ${TYPE_NAME[v.type]}, not a number`);
  const n = Number(v.value);
  if (!Number.isFinite(n) || (typeof v.value === 'bigint' && !Number.isSafeInteger(n))) bad(g.path, `metadata ${key} = ${v.value} is out of range`);
  return n;
}

export function metaString(g: GgufFile, key: string): string | undefined {
  const v = g.metadata.get(key);
  if (!v) return undefined;
  if (v.type !== GGUF_TYPE.STRING) bad(g.path, `metadata ${key} is a ${TYPE_NAME[v.type]}, not a string`);
  return v.value as string;
}

export function metaArray(g: GgufFile, key: string, itemType: GgufValueType): GgufScalar[] | undefined {
  const v = g.metadata.get(key);
  if (!v) return undefined;
  if (v.type !== GGUF_TYPE.ARRAY || v.itemType !== itemType) {
    bad(g.path, `metadata ${key} is not an array of ${TYPE_NAME[itemType]}`);
  }
  return v.value;
}

/** True when the file starts with the GGUF magic (cheap: reads 4 bytes). */
export function hasGgufMagic(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openForReading(file);
    const b = Buffer.alloc(4);
    readFd(fd, file, b, 0);
    return b.toString('latin1') === GGUF_MAGIC;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
