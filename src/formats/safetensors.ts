// safetensors read and write (https://github.com/huggingface/safetensors, format section):
// u64 little-endian header size N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
// "__metadata__": {string: string}}, then the byte buffer. Offsets are relative to the buffer,
// which the tensors must cover entirely, without holes or overlaps. Tensors are read lazily.

import { MyptError, expectPath } from '../errors';
import { DType, Tensor, TypedArray, checkTensor, dtypeSize, numelOf } from './tensor';
import { FileSink, writeFileAtomic, writeFileAtomicSync } from './atomic';
import { FileRegion, TorchStorage, readExactly, statFile } from './torch/storage';
import { TorchTensor } from './torch/torch-tensor';

/** The spec's limit on the header size. */
const MAX_HEADER = 100_000_000;

const ST_TO_DTYPE: Record<string, DType> = {
  F32: 'float32', F64: 'float64', F16: 'float16', BF16: 'bfloat16',
  I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};
const DTYPE_TO_ST = Object.fromEntries(Object.entries(ST_TO_DTYPE).map(([k, v]) => [v, k])) as Record<DType, string>;

export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

function bad(path: string, what: string): never {
  throw new MyptError('E_BAD_FILE', `${path}: ${what}`);
}

const isIndex = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

export function loadSafetensorsSync(path: string): SafetensorsFile {
  expectPath(path, 'loadSafetensorsSync');
  const stamp = statFile(path);
  const size = stamp.size;
  if (size < 8) bad(path, `too short for a safetensors file (${size} bytes)`);
  const head = Buffer.alloc(8);
  readExactly(path, head, 0, stamp);
  const n64 = head.readBigUInt64LE(0);
  if (n64 < 2n || n64 > BigInt(MAX_HEADER)) bad(path, `safetensors header size ${n64} is out of bounds (2..${MAX_HEADER})`);
  const n = Number(n64);
  if (8 + n > size) bad(path, `safetensors header (${n} bytes) runs past the end of the file (${size} bytes; truncated?)`);
  const hbuf = Buffer.alloc(n);
  readExactly(path, hbuf, 8, stamp);
  if (hbuf[0] !== 0x7b) bad(path, 'safetensors header does not start with "{"');
  let header: unknown;
  try {
    header = JSON.parse(hbuf.toString('utf8'));
  } catch (e) {
    bad(path, `safetensors header is not valid JSON (${(e as Error).message.replace(/\s*\n\s*/g, ' ')})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) bad(path, 'safetensors header is not a JSON object');
  const dataStart = 8 + n;
  const dataSize = size - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object' || Array.isArray(info)) bad(path, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(info as object)) {
        if (typeof v !== 'string') bad(path, `__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const t = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (t === null || typeof t !== 'object') bad(path, `tensor ${name}: not an object`);
    const dtype = typeof t.dtype === 'string' ? ST_TO_DTYPE[t.dtype] : undefined;
    if (!dtype) bad(path, `tensor ${name}: unsupported dtype ${JSON.stringify(t.dtype)} (known: ${Object.keys(ST_TO_DTYPE).join(' ')})`);
    if (!Array.isArray(t.shape) || t.shape.length > 64 || !t.shape.every(isIndex)) bad(path, `tensor ${name}: bad shape ${JSON.stringify(t.shape)}`);
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !isIndex(off[0]) || !isIndex(off[1]) || off[0] > off[1]) {
      bad(path, `tensor ${name}: bad data_offsets ${JSON.stringify(off)}`);
    }
    const shape = t.shape as number[];
    const bytes = numelOf(shape) * dtypeSize(dtype);
    if (!Number.isSafeInteger(bytes) || bytes !== off[1] - off[0]) {
      bad(path, `tensor ${name}: shape [${shape}] of ${t.dtype} needs ${bytes} bytes, data_offsets give ${off[1] - off[0]}`);
    }
    if (off[1] > dataSize) bad(path, `tensor ${name}: data_offsets end ${off[1]} past the data (${dataSize} bytes; truncated?)`);
    entries.push({ name, dtype, shape, begin: off[0], end: off[1] });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of entries) {
    if (e.begin !== cursor) bad(path, `tensor ${e.name}: ${e.begin < cursor ? 'overlaps the previous tensor' : `leaves a hole at ${cursor}`}`);
    cursor = e.end;
  }
  if (cursor !== dataSize) bad(path, `tensors cover ${cursor} bytes of the ${dataSize}-byte data buffer`);
  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    const numel = numelOf(e.shape);
    const storage = new TorchStorage(path, e.name, e.dtype, numel, new FileRegion(path, dataStart + e.begin, e.end - e.begin, stamp));
    const stride: number[] = [];
    let acc = 1;
    for (let i = e.shape.length - 1; i >= 0; i--) { stride[i] = acc; acc *= e.shape[i]; }
    tensors.set(e.name, new TorchTensor(storage, 0, e.shape, stride));
  }
  return { tensors, metadata };
}

export async function loadSafetensors(path: string): Promise<SafetensorsFile> {
  expectPath(path, 'loadSafetensors');
  return loadSafetensorsSync(path);
}

function contiguous(t: Tensor): TypedArray {
  return t instanceof TorchTensor ? t.readData() : t.data;
}

type TensorSet = Map<string, Tensor> | Record<string, Tensor>;

/** Validates the tensors and builds the padded header; returns it with the tensors in order. */
function safetensorsHeader(path: string, tensors: TensorSet, metadata?: Record<string, string>): { json: Buffer; list: [string, Tensor][] } {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new MyptError('E_BAD_ARGUMENT', `${path}: metadata ${k} must be a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new MyptError('E_BAD_ARGUMENT', `${path}: a tensor cannot be named __metadata__`);
    if (!(t instanceof TorchTensor)) checkTensor(t, `${path}: ${name}`);
    const bytes = numelOf(t.shape) * dtypeSize(t.dtype);
    header[name] = { dtype: DTYPE_TO_ST[t.dtype], shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  return { json, list };
}

function* safetensorsSteps(out: FileSink, json: Buffer, list: [string, Tensor][]): Generator<void> {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length), 0);
  const write = (b: Uint8Array) => out.append(b);
  write(len);
  write(json);
  for (const [, t] of list) {
    const d = contiguous(t);
    let bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    if (t.dtype === 'bool' && bytes.some((b) => b > 1)) bytes = bytes.map((b) => (b ? 1 : 0));
    write(bytes);
    yield;
  }
}

export function saveSafetensorsSync(path: string, tensors: TensorSet, metadata?: Record<string, string>): void {
  expectPath(path, 'saveSafetensorsSync');
  const { json, list } = safetensorsHeader(path, tensors, metadata);
  writeFileAtomicSync(path, (out) => safetensorsSteps(out, json, list));
}

/** saveSafetensorsSync that returns to the event loop between tensors. */
export async function saveSafetensors(path: string, tensors: TensorSet, metadata?: Record<string, string>): Promise<void> {
  expectPath(path, 'saveSafetensors');
  const { json, list } = safetensorsHeader(path, tensors, metadata);
  await writeFileAtomic(path, (out) => safetensorsSteps(out, json, list));
}
