// Where a storage's bytes live, read on demand. A file region is read with fs.readSync at its
// computed offset only when a tensor's data is first asked for, so opening a large checkpoint
// costs no tensor memory.

import * as fs from 'fs';
import * as zlib from 'zlib';
import { constants } from 'buffer';
import { ioCause } from '../atomic';
import { MyptError } from '../../errors';
import { DType, dtypeSize } from '../tensor';

const MAX_LENGTH = constants.MAX_LENGTH;

export interface ByteSource {
  readonly byteLength: number;
  /** Bytes [offset, offset+length) of the region, in a fresh buffer of its own (offset 0, aligned). */
  read(offset: number, length: number): Buffer;
}

/** Fresh, 8-byte aligned buffer (its own ArrayBuffer, so any typed array can view it). */
export function freshBuffer(n: number, where: string): Buffer {
  if (n > MAX_LENGTH) {
    throw new MyptError('E_BAD_FILE', `${where}: a tensor of ${n} bytes is larger than one Node.js buffer can hold (${MAX_LENGTH})`);
  }
  try {
    return Buffer.allocUnsafeSlow(n);
  } catch {
    throw new MyptError('E_BAD_FILE', `${where}: cannot allocate ${n} bytes for tensor data`);
  }
}

/** What identifies the file a checkpoint was loaded from, to notice it being replaced later. */
export interface FileStamp { dev: number; ino: number; size: number; mtimeMs: number }

export function stampOf(s: fs.Stats): FileStamp {
  return { dev: s.dev, ino: s.ino, size: s.size, mtimeMs: s.mtimeMs };
}

/** Stats a file about to be read: E_IO when it cannot be, E_BAD_FILE when it is not a regular file. */
export function statFile(path: string): FileStamp {
  let s: fs.Stats;
  try {
    s = fs.statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new MyptError('E_NO_CHECKPOINT', `${path}: no such file`);
    throw new MyptError('E_IO', `${path}: cannot read it: ${ioCause(e)}`);
  }
  if (s.isDirectory()) throw new MyptError('E_BAD_FILE', `${path}: is a folder, not a file`, 'give the checkpoint file inside it, or use loadModel for a folder');
  if (!s.isFile()) throw new MyptError('E_BAD_FILE', `${path}: not a regular file`);
  return stampOf(s);
}

export class FileRegion implements ByteSource {
  /** `check`: the zip entry's CRC-32, verified whenever the whole region is read (a storage read at once). */
  constructor(readonly path: string, readonly start: number, readonly byteLength: number, readonly stamp?: FileStamp,
    readonly check?: EntryCheck) {}
  read(offset: number, length: number): Buffer {
    if (offset < 0 || length < 0 || offset + length > this.byteLength) {
      throw new MyptError('E_BAD_FILE', `${this.path}: read of ${length} bytes at ${offset} is outside a region of ${this.byteLength}`);
    }
    const buf = freshBuffer(length, this.path);
    readExactly(this.path, buf, this.start + offset, this.stamp);
    if (this.check && offset === 0 && length === this.byteLength) checkCrc(this.path, buf, this.check);
    return buf;
  }
}

export function openForReading(path: string): number {
  try {
    return fs.openSync(path, 'r');
  } catch (e) {
    throw new MyptError('E_IO', `${path}: cannot open (${(e as Error).message})`);
  }
}

/** Reads buf.length bytes at `position` from `fd` (of `path`); a short read means the file is truncated. */
export function readFd(fd: number, path: string, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = fs.readSync(fd, buf, done, Math.min(buf.length - done, 1 << 30), position + done);
    if (n === 0) throw new MyptError('E_BAD_FILE', `${path}: truncated (wanted ${buf.length} bytes at ${position}, file ends first)`);
    done += n;
  }
}

/**
 * Reads buf.length bytes of `path` at `position`; a short read means the file is truncated.
 * With `stamp`, the file must still be the one loaded (lazy tensor data read after the file was
 * replaced would otherwise come silently from the new file).
 */
export function readExactly(path: string, buf: Uint8Array, position: number, stamp?: FileStamp): void {
  const fd = openForReading(path);
  try {
    if (stamp) {
      const now = stampOf(fs.fstatSync(fd));
      if (now.dev !== stamp.dev || now.ino !== stamp.ino || now.size !== stamp.size || now.mtimeMs !== stamp.mtimeMs) {
        throw new MyptError('E_BAD_FILE', `${path}: changed on disk since it was loaded (tensor data is read lazily: read .data before replacing the file)`);
      }
    }
    readFd(fd, path, buf, position);
  } finally {
    fs.closeSync(fd);
  }
}

export class MemoryRegion implements ByteSource {
  constructor(readonly bytes: Uint8Array) {}
  get byteLength(): number { return this.bytes.length; }
  read(offset: number, length: number): Buffer {
    const buf = freshBuffer(length, 'memory');
    buf.set(this.bytes.subarray(offset, offset + length));
    return buf;
  }
}

/** A deflated zip entry, inflated (bounded by its declared size) on first use. */
export class DeflatedRegion implements ByteSource {
  private inflated?: Buffer;
  constructor(readonly path: string, readonly compressed: FileRegion, readonly byteLength: number, readonly name: string,
    readonly check?: EntryCheck) {}
  read(offset: number, length: number): Buffer {
    if (!this.inflated) {
      this.inflated = inflateBounded(this.compressed.read(0, this.compressed.byteLength), this.byteLength, `${this.path}: ${this.name}`);
      if (this.check) checkCrc(this.path, this.inflated, this.check);
    }
    const buf = freshBuffer(length, this.path);
    buf.set(this.inflated.subarray(offset, offset + length));
    return buf;
  }
}

/** A zip entry's recorded CRC-32 (of its uncompressed bytes) and its name, for the error. */
export interface EntryCheck { crc32: number; name: string }

/** Throws E_BAD_FILE naming the entry when bytes read do not have the CRC-32 the archive recorded. */
export function checkCrc(path: string, bytes: Uint8Array, c: EntryCheck): void {
  const got = zlib.crc32(bytes) >>> 0;
  if (got !== c.crc32 >>> 0) {
    throw new MyptError('E_BAD_FILE', `${path}: entry ${c.name} is corrupt (CRC-32 ${got.toString(16).padStart(8, '0')}, the archive records ${(c.crc32 >>> 0).toString(16).padStart(8, '0')})`,
      'the file was damaged after it was written: restore it from a copy or a previous save');
  }
}

export function inflateBounded(data: Buffer, declared: number, where: string): Buffer {
  let out: Buffer;
  try {
    out = zlib.inflateRawSync(data, { maxOutputLength: Math.max(1, declared) });
  } catch (e) {
    throw new MyptError('E_BAD_FILE', `${where}: deflated data is corrupt or larger than its declared ${declared} bytes (${(e as Error).message})`);
  }
  if (out.length !== declared) throw new MyptError('E_BAD_FILE', `${where}: inflates to ${out.length} bytes, declared ${declared}`);
  return out;
}

/** Swaps each element's bytes in place (big-endian files). */
export function swapBytes(buf: Buffer, elemSize: number): void {
  if (elemSize === 2) buf.swap16();
  else if (elemSize === 4) buf.swap32();
  else if (elemSize === 8) buf.swap64();
}

/** One storage of a checkpoint: `numel` elements of `dtype`, shared by the tensors that view it. */
export class TorchStorage {
  constructor(
    readonly file: string,
    readonly key: string,
    readonly dtype: DType,
    readonly numel: number,
    readonly source: ByteSource,
    readonly bigEndian = false,
  ) {
    const need = numel * dtypeSize(dtype);
    if (need > source.byteLength) {
      throw new MyptError('E_BAD_FILE', `${file}: storage ${key} declares ${numel} ${dtype} elements (${need} bytes) but holds ${source.byteLength} bytes`);
    }
  }
  get byteLength(): number { return this.numel * dtypeSize(this.dtype); }
  /** Little-endian bytes of elements [start, start+count). */
  readElements(start: number, count: number): Buffer {
    const es = dtypeSize(this.dtype);
    const buf = this.source.read(start * es, count * es);
    if (this.bigEndian) swapBytes(buf, es);
    return buf;
  }
}

