// The legacy torch format (torch < 1.6, or _use_new_zipfile_serialization=False): five pickles in
// a row (magic number, protocol 1001, sys info, the value, the storage keys), then each storage as
// an int64 element count and its raw bytes. Storage positions are found by skipping, not reading.

import { MyptError } from '../../errors';
import { DType, dtypeSize } from '../tensor';
import { NeedMoreData, Unpickler, describe } from './pickle-read';
import { storageDType } from './py-globals';
import { PyDict, PyObject, PyTuple } from './pyvalues';
import { ByteSource, FileStamp, TorchStorage, readExactly } from './storage';
import { LoadTorchOptions, bad, context, storagePid } from './unpickle-context';

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

class LegacyRegion implements ByteSource {
  start = -1;
  constructor(readonly path: string, public byteLength: number, readonly stamp: FileStamp) {}
  read(offset: number, length: number): Buffer {
    if (this.start < 0) bad(this.path, 'storage data read before its position is known');
    if (offset + length > this.byteLength) bad(this.path, `read past a legacy storage's end`);
    const b = Buffer.allocUnsafeSlow(length);
    readExactly(this.path, b, this.start + offset, this.stamp);
    return b;
  }
}

class OffsetSource implements ByteSource {
  constructor(readonly inner: ByteSource, readonly offset: number, readonly byteLength: number) {}
  read(offset: number, length: number): Buffer {
    return this.inner.read(this.offset + offset, length);
  }
}

export function loadLegacy(path: string, stamp: FileStamp, opts: LoadTorchOptions): unknown {
  const size = stamp.size;
  let chunk = Math.min(size, 1 << 20);
  for (;;) {
    const buf = Buffer.alloc(chunk);
    readExactly(path, buf, 0, stamp);
    try {
      return parseLegacy(path, stamp, buf, chunk === size, opts);
    } catch (e) {
      if (!(e instanceof NeedMoreData)) throw e;
      chunk = Math.min(size, chunk * 4);
    }
  }
}

function parseLegacy(path: string, stamp: FileStamp, buf: Buffer, complete: boolean, opts: LoadTorchOptions): unknown {
  const size = stamp.size;
  const strict = !!opts.strict;
  const plain = context(path, true, () => bad(path, 'unexpected persistent id in the legacy header'));
  const at = (pos: number) => new Unpickler(buf, pos, plain, complete);
  if (buf.length > 262 && buf.toString('latin1', 257, 262) === 'ustar') {
    bad(path, 'a tar archive: the tar-based torch format (PyTorch < 0.4) is not supported; re-save it with a newer PyTorch');
  }
  const u1 = at(0);
  let magic: unknown;
  try {
    magic = u1.load();
  } catch (e) {
    if (e instanceof MyptError) bad(path, 'neither a zip archive nor a legacy torch file (no magic number)');
    throw e;
  }
  if (typeof magic !== 'bigint' || magic !== LEGACY_MAGIC) bad(path, 'neither a zip archive nor a legacy torch file (wrong magic number)');
  const u2 = at(u1.position);
  const protocol = u2.load();
  if (protocol !== 1001) bad(path, `unsupported legacy protocol version ${String(protocol)}`);
  const u3 = at(u2.position);
  const sysInfo = u3.load();
  const littleEndian = !(sysInfo instanceof PyDict) || sysInfo.get('little_endian') !== false;

  const roots = new Map<string, { dtype: DType; numel: number; region: LegacyRegion; storage: TorchStorage }>();
  const views = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown): unknown => {
    if (pid instanceof PyTuple && pid[0] === 'module') return new PyObject('torch', 'module_source', [...pid]);
    const p = storagePid(path, pid);
    const dtype = storageDType(p.type);
    if (!dtype) bad(path, `storage type ${describe(p.type)} is not supported`);
    let root = roots.get(p.key);
    if (!root) {
      const region = new LegacyRegion(path, p.numel * dtypeSize(dtype), stamp);
      root = { dtype, numel: p.numel, region, storage: new TorchStorage(path, p.key, dtype, p.numel, region, !littleEndian) };
      roots.set(p.key, root);
    } else if (root.dtype !== dtype) bad(path, `storage ${p.key} is declared with two dtypes`);
    if (p.view instanceof PyTuple && p.view.length === 3) {
      const [viewKey, offset, viewSize] = p.view;
      if (typeof viewKey !== 'string' || typeof offset !== 'number' || typeof viewSize !== 'number' ||
        !Number.isSafeInteger(offset) || !Number.isSafeInteger(viewSize) || offset < 0 || viewSize < 0 || offset + viewSize > root.numel) {
        bad(path, `bad storage view of ${p.key}`);
      }
      let v = views.get(viewKey);
      if (!v) {
        const es = dtypeSize(dtype);
        v = new TorchStorage(path, viewKey, dtype, viewSize, new OffsetSource(root.region, offset * es, viewSize * es), !littleEndian);
        views.set(viewKey, v);
      }
      return v;
    }
    return root.storage;
  };
  const u4 = new Unpickler(buf, u3.position, context(path, strict, persistentLoad, opts.keepFloatType), complete);
  const value = u4.load();
  const u5 = at(u4.position);
  const keys = u5.load();
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) bad(path, 'legacy storage key list is malformed');
  let pos = u5.position;
  const head = Buffer.alloc(8);
  for (const key of keys as string[]) {
    const root = roots.get(key);
    if (!root) bad(path, `legacy storage ${key} is listed but never used`);
    if (pos + 8 > size) bad(path, `truncated: storage ${key} header is past the end of the file`);
    readExactly(path, head, pos, stamp);
    const n = littleEndian ? head.readBigInt64LE(0) : head.readBigInt64BE(0);
    if (n !== BigInt(root.numel)) bad(path, `legacy storage ${key} holds ${n} elements, the pickle says ${root.numel}`);
    pos += 8;
    const bytes = root.numel * dtypeSize(root.dtype);
    if (pos + bytes > size) bad(path, `truncated: storage ${key} (${bytes} bytes at ${pos}) runs past the end of the file`);
    root.region.start = pos;
    pos += bytes;
  }
  for (const [key, r] of roots) if (r.region.start < 0) bad(path, `legacy storage ${key} has no data`);
  return value;
}
