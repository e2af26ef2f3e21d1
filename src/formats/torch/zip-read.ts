// A small, strict reader of the zip container torch.save writes. Only the central directory and
// the local headers are read up front; entry data is read on demand at computed offsets (which is
// why this is not yauzl: its API is asynchronous and stream-based, while tensors here are read
// lazily and synchronously by fs.readSync). Every size and offset is checked against the file.

import * as fs from 'fs';
import * as zlib from 'zlib';
import { MyptError } from '../../errors';
import { ByteSource, DeflatedRegion, FileRegion, FileStamp, inflateBounded, openForReading, readFd } from './storage';

export interface ZipEntry {
  name: string;
  method: number;           // 0 stored, 8 deflated
  crc32: number;
  compressedSize: number;
  size: number;
  dataOffset: number;       // of the (compressed) data in the file
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_LOC64 = 0x07064b50;
const SIG_CEN = 0x02014b50;
const SIG_LOC = 0x04034b50;
/** Deflate cannot expand more than ~1032:1; a larger declared ratio is a zip bomb. */
const MAX_DEFLATE_RATIO = 1032;

export class ZipArchive {
  readonly entries: ZipEntry[] = [];
  private readonly byName = new Map<string, ZipEntry>();
  /** Open while the directory and the small entries are read; closed by close(). */
  private fd: number;

  private constructor(readonly path: string, readonly fileSize: number, readonly stamp?: FileStamp) {
    this.fd = openForReading(path);
  }

  static isZip(head: Uint8Array): boolean {
    return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
  }

  static open(path: string, fileSize: number, stamp?: FileStamp): ZipArchive {
    const z = new ZipArchive(path, fileSize, stamp);
    try {
      z.readDirectory();
    } catch (e) {
      z.close();
      throw e;
    }
    return z;
  }

  /** Releases the file handle; entry sources (lazy tensor data) keep working, opening the file as needed. */
  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  private bad(what: string): never {
    throw new MyptError('E_BAD_FILE', `${this.path}: ${what}`);
  }

  private readAt(position: number, length: number): Buffer {
    if (position < 0 || length < 0 || position + length > this.fileSize) this.bad(`zip structure points outside the file (${length} bytes at ${position}, file is ${this.fileSize})`);
    const b = Buffer.alloc(length);
    if (this.fd < 0) this.fd = openForReading(this.path);
    readFd(this.fd, this.path, b, position);
    return b;
  }

  private readDirectory(): void {
    if (this.fileSize < 22) this.bad('truncated zip (no end of central directory)');
    const tailLen = Math.min(this.fileSize, 22 + 0xffff);
    const tailStart = this.fileSize - tailLen;
    const tail = this.readAt(tailStart, tailLen);
    let e = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === SIG_EOCD && i + 22 + tail.readUInt16LE(i + 20) <= tailLen) { e = i; break; }
    }
    if (e < 0) this.bad('not a complete zip archive (end of central directory not found; truncated?)');
    const eocdPos = tailStart + e;
    let count = tail.readUInt16LE(e + 10);
    let cdSize = tail.readUInt32LE(e + 12);
    let cdOffset = tail.readUInt32LE(e + 16);
    let cdLimit = eocdPos;
    if (eocdPos >= 20) {
      const loc = this.readAt(eocdPos - 20, 20);
      if (loc.readUInt32LE(0) === SIG_LOC64) {
        const pos = num64(loc, 8, () => this.bad('zip64 locator offset too large'));
        const rec = this.readAt(pos, 56);
        if (rec.readUInt32LE(0) !== SIG_EOCD64) this.bad('zip64 end of central directory record missing');
        const tooBig = () => this.bad('zip64 sizes too large');
        count = num64(rec, 32, tooBig);
        cdSize = num64(rec, 40, tooBig);
        cdOffset = num64(rec, 48, tooBig);
        cdLimit = pos;
      }
    }
    if (cdOffset + cdSize > cdLimit) this.bad(`central directory (${cdSize} bytes at ${cdOffset}) overlaps its end record`);
    if (count * 46 > cdSize) this.bad(`central directory claims ${count} entries in ${cdSize} bytes`);
    const cd = this.readAt(cdOffset, cdSize);
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== SIG_CEN) this.bad(`corrupt central directory at entry ${i}`);
      const flags = cd.readUInt16LE(p + 8);
      const method = cd.readUInt16LE(p + 10);
      const crc = cd.readUInt32LE(p + 16);
      let csize = cd.readUInt32LE(p + 20);
      let usize = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let local = cd.readUInt32LE(p + 42);
      const end = p + 46 + nameLen + extraLen + commentLen;
      if (end > cd.length) this.bad(`corrupt central directory at entry ${i}`);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      // zip64 extended information: the 64-bit values of the fields that hold 0xFFFFFFFF, in order.
      let x = p + 46 + nameLen;
      const xEnd = x + extraLen;
      while (x + 4 <= xEnd) {
        const id = cd.readUInt16LE(x);
        const len = cd.readUInt16LE(x + 2);
        if (x + 4 + len > xEnd) this.bad(`corrupt extra field of ${name}`);
        if (id === 0x0001) {
          let q = x + 4;
          const take = () => {
            if (q + 8 > x + 4 + len) this.bad(`short zip64 field of ${name}`);
            const v = num64(cd, q, () => this.bad(`zip64 size of ${name} too large`));
            q += 8;
            return v;
          };
          if (usize === 0xffffffff) usize = take();
          if (csize === 0xffffffff) csize = take();
          if (local === 0xffffffff) local = take();
        }
        x += 4 + len;
      }
      if (flags & 1) this.bad(`entry ${name} is encrypted`);
      if (method !== 0 && method !== 8) this.bad(`entry ${name} uses compression method ${method} (only stored and deflate are read)`);
      if (method === 0 && csize !== usize) this.bad(`stored entry ${name} has compressed size ${csize} != size ${usize}`);
      if (method === 8 && usize > csize * MAX_DEFLATE_RATIO + 1024) this.bad(`entry ${name} declares ${usize} bytes from ${csize} compressed (zip bomb?)`);
      if (this.byName.has(name)) this.bad(`duplicate zip entry ${name}`);
      const lh = this.readAt(local, 30);
      if (lh.readUInt32LE(0) !== SIG_LOC) this.bad(`local header of ${name} missing at ${local}`);
      const dataOffset = local + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
      if (dataOffset + csize > cdOffset) this.bad(`data of ${name} (${csize} bytes at ${dataOffset}) runs past the entries area`);
      const entry: ZipEntry = { name, method, crc32: crc, compressedSize: csize, size: usize, dataOffset };
      this.entries.push(entry);
      this.byName.set(name, entry);
      p = end;
    }
    if (this.entries.length === 0) this.bad('empty zip archive');
  }

  get(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** The entry's (uncompressed) bytes as a lazily read source. */
  source(e: ZipEntry): ByteSource {
    const check = { crc32: e.crc32, name: e.name };
    if (e.method === 0) return new FileRegion(this.path, e.dataOffset, e.compressedSize, this.stamp, check);
    return new DeflatedRegion(this.path, new FileRegion(this.path, e.dataOffset, e.compressedSize, this.stamp), e.size, e.name, check);
  }

  /** Reads a whole (small) entry into memory, checking its CRC-32. */
  read(e: ZipEntry): Buffer {
    let data = this.readAt(e.dataOffset, e.compressedSize);
    if (e.method === 8) data = inflateBounded(data, e.size, `${this.path}: ${e.name}`);
    if (zlib.crc32(data) !== e.crc32) this.bad(`CRC-32 mismatch in ${e.name} (corrupt file)`);
    return data;
  }
}

function num64(b: Buffer, at: number, tooBig: () => never): number {
  const v = b.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) tooBig();
  return Number(v);
}
