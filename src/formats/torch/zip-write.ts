// Writes a zip archive the way PyTorch's writer does: every entry stored (not compressed), each
// entry's data starting on a 64-byte boundary (padding in a local-header extra field 'FB'),
// zip64 records where sizes or offsets pass 4 GiB. Data is streamed to a FileSink (formats/atomic.ts);
// CRC-32 is patched in after.

import * as zlib from 'zlib';
import { FileSink } from '../atomic';

const ALIGN = 64;
const U32_MAX = 0xffffffff;

interface CentralEntry { name: Buffer; crc: number; size: number; offset: number }

export class ZipWriter {
  private readonly out: FileSink;
  private readonly central: CentralEntry[] = [];

  /** `out`: a sink, or a descriptor written at once from offset 0; `zip64From`: sizes/offsets from which
   *  zip64 records are used (lowered only by tests). */
  constructor(out: FileSink | number, private readonly zip64From = U32_MAX) {
    this.out = typeof out === 'number' ? new FileSink(out) : out;
  }

  private get pos(): number {
    return this.out.pos;
  }

  private write(b: Uint8Array): void {
    this.out.append(b);
  }

  /** Adds a stored entry of exactly `size` bytes, produced by `chunks` (in order). */
  addEntry(name: string, size: number, chunks: Iterable<Uint8Array>): void {
    for (const _ of this.entrySteps(name, size, chunks)) { /* run every step */ }
  }

  /** addEntry in steps: yields after each chunk written. */
  *entrySteps(name: string, size: number, chunks: Iterable<Uint8Array>): Generator<void> {
    const nameBuf = Buffer.from(name, 'utf8');
    const offset = this.pos;
    const zip64 = size >= this.zip64From;
    const z64Len = zip64 ? 20 : 0;
    const base = offset + 30 + nameBuf.length + z64Len + 4;
    const pad = (ALIGN - (base % ALIGN)) % ALIGN;
    const h = Buffer.alloc(30 + nameBuf.length + z64Len + 4 + pad);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(zip64 ? 45 : 20, 4);    // version needed
    h.writeUInt16LE(0, 6);                   // flags
    h.writeUInt16LE(0, 8);                   // stored
    h.writeUInt32LE(0, 10);                  // time, date
    h.writeUInt32LE(0, 14);                  // CRC-32, patched below
    h.writeUInt32LE(zip64 ? U32_MAX : size, 18);
    h.writeUInt32LE(zip64 ? U32_MAX : size, 22);
    h.writeUInt16LE(nameBuf.length, 26);
    h.writeUInt16LE(z64Len + 4 + pad, 28);
    nameBuf.copy(h, 30);
    let x = 30 + nameBuf.length;
    if (zip64) {
      h.writeUInt16LE(0x0001, x); h.writeUInt16LE(16, x + 2);
      h.writeBigUInt64LE(BigInt(size), x + 4); h.writeBigUInt64LE(BigInt(size), x + 12);
      x += 20;
    }
    h.writeUInt16LE(0x4246, x); h.writeUInt16LE(pad, x + 2);   // 'FB' padding field, as PyTorch
    h.fill(0x5a, x + 4);                                          // 'Z'
    this.write(h);
    let crc = 0;
    let written = 0;
    for (const c of chunks) {
      crc = zlib.crc32(c, crc);
      written += c.length;
      if (written > size) throw new Error(`zip entry ${name}: more data than the declared ${size} bytes`);
      this.write(c);
      yield;
    }
    if (written !== size) throw new Error(`zip entry ${name}: ${written} bytes written, ${size} declared`);
    const crcBuf = Buffer.alloc(4);
    crcBuf.writeUInt32LE(crc >>> 0, 0);
    this.out.writeAt(crcBuf, offset + 14);
    this.central.push({ name: nameBuf, crc: crc >>> 0, size, offset });
  }

  /** Writes the central directory and end records. */
  finish(): void {
    const cdOffset = this.pos;
    for (const e of this.central) {
      const needSize = e.size >= this.zip64From, needOff = e.offset >= this.zip64From;
      const z64Len = (needSize ? 16 : 0) + (needOff ? 8 : 0);
      const extraLen = z64Len ? z64Len + 4 : 0;
      const c = Buffer.alloc(46 + e.name.length + extraLen);
      c.writeUInt32LE(0x02014b50, 0);
      c.writeUInt16LE(45, 4);                  // version made by
      c.writeUInt16LE(z64Len ? 45 : 20, 6);    // version needed
      c.writeUInt16LE(0, 8);
      c.writeUInt16LE(0, 10);
      c.writeUInt32LE(0, 12);
      c.writeUInt32LE(e.crc, 16);
      c.writeUInt32LE(needSize ? U32_MAX : e.size, 20);
      c.writeUInt32LE(needSize ? U32_MAX : e.size, 24);
      c.writeUInt16LE(e.name.length, 28);
      c.writeUInt16LE(extraLen, 30);
      c.writeUInt32LE(needOff ? U32_MAX : e.offset, 42);
      e.name.copy(c, 46);
      let x = 46 + e.name.length;
      if (z64Len) {
        c.writeUInt16LE(0x0001, x); c.writeUInt16LE(z64Len, x + 2); x += 4;
        if (needSize) { c.writeBigUInt64LE(BigInt(e.size), x); c.writeBigUInt64LE(BigInt(e.size), x + 8); x += 16; }
        if (needOff) c.writeBigUInt64LE(BigInt(e.offset), x);
      }
      this.write(c);
    }
    const cdSize = this.pos - cdOffset;
    const n = this.central.length;
    const zip64 = n >= 0xffff || cdOffset >= this.zip64From || cdSize >= this.zip64From;
    if (zip64) {
      const recPos = this.pos;
      const r = Buffer.alloc(56 + 20);
      r.writeUInt32LE(0x06064b50, 0);
      r.writeBigUInt64LE(44n, 4);
      r.writeUInt16LE(45, 12); r.writeUInt16LE(45, 14);
      r.writeBigUInt64LE(BigInt(n), 24); r.writeBigUInt64LE(BigInt(n), 32);
      r.writeBigUInt64LE(BigInt(cdSize), 40); r.writeBigUInt64LE(BigInt(cdOffset), 48);
      r.writeUInt32LE(0x07064b50, 56);
      r.writeBigUInt64LE(BigInt(recPos), 64);
      r.writeUInt32LE(1, 72);
      this.write(r);
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(zip64 ? 0xffff : n, 8);
    end.writeUInt16LE(zip64 ? 0xffff : n, 10);
    end.writeUInt32LE(zip64 ? U32_MAX : cdSize, 12);
    end.writeUInt32LE(zip64 ? U32_MAX : cdOffset, 16);
    this.write(end);
  }
}
