// torch.load for mypt-native: the zip format (PyTorch >= 1.6) and the legacy pickle-stream
// format, into plain JS values (see pyvalues.ts) with lazily read TorchTensors.

import * as fs from 'fs';
import { MyptError } from '../../errors';
import { DType, dtypeSize } from '../tensor';
import { NeedMoreData, Unpickler, UnpickleContext, describe } from './pickle-read';
import { buildObject, callGlobal, isAllowedStrict, storageDType } from './py-globals';
import { PyDict, PyGlobal, PyObject, PyTuple } from './pyvalues';
import { ByteSource, TorchStorage, readExactly } from './storage';
import { checkStructure } from './structure';
import { ZipArchive } from './zip-read';

export interface LoadTorchOptions {
  /** Refuse anything but tensors and plain containers (numpy, user classes, ...) with an error naming the global. */
  strict?: boolean;
  /** Read integral Python floats (1.0) as PyFloat, so a re-save writes them as floats again. */
  keepFloatType?: boolean;
}

function bad(path: string, what: string): never {
  throw new MyptError('E_BAD_FILE', `${path}: ${what}`);
}

function context(path: string, strict: boolean, persistentLoad: (pid: unknown) => unknown, keepFloatType = false): UnpickleContext {
  return {
    keepFloatType,
    where: path,
    strict,
    persistentLoad,
    call: (g, args) => callGlobal(g, args, path, strict),
    build: (obj, state) => buildObject(obj, state, path),
    isAllowedStrict,
  };
}

/** Reads a torch.save file (zip or legacy). Tensor data is read from the file on first access. */
export function loadTorchSync(path: string, opts: LoadTorchOptions = {}): unknown {
  let size: number;
  try {
    const st = fs.statSync(path);
    if (!st.isFile()) bad(path, 'not a regular file');
    size = st.size;
  } catch (e) {
    if (e instanceof MyptError) throw e;
    throw new MyptError('E_IO', `${path}: cannot read (${(e as Error).message})`);
  }
  if (size < 4) bad(path, `too short to be a torch checkpoint (${size} bytes)`);
  const head = Buffer.alloc(4);
  readExactly(path, head, 0);
  const value = ZipArchive.isZip(head) ? loadZip(path, size, opts) : loadLegacy(path, size, opts);
  checkStructure(value, path);
  return value;
}

export async function loadTorch(path: string, opts: LoadTorchOptions = {}): Promise<unknown> {
  return loadTorchSync(path, opts);
}

// ---- zip format ------------------------------------------------------------------------------

function loadZip(path: string, size: number, opts: LoadTorchOptions): unknown {
  const zip = ZipArchive.open(path, size);
  try {
    return unpickleZip(path, zip, opts);
  } finally {
    zip.close();
  }
}

function unpickleZip(path: string, zip: ZipArchive, opts: LoadTorchOptions): unknown {
  const strict = !!opts.strict;
  const first = zip.entries[0].name;
  const slash = first.indexOf('/');
  if (slash <= 0) bad(path, `zip entry ${first} is not under a top folder (not a torch checkpoint)`);
  const top = first.slice(0, slash);
  const pkl = zip.get(`${top}/data.pkl`);
  if (!pkl) bad(path, `no ${top}/data.pkl in the archive (not a torch checkpoint)`);
  const bo = zip.get(`${top}/byteorder`);
  const bigEndian = bo ? zip.read(bo).toString('latin1').trim() === 'big' : false;
  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown): unknown => {
    const p = storagePid(path, pid);
    const dtype = storageDType(p.type);
    if (!dtype) {
      if (strict) bad(path, `refuses storage type ${describe(p.type)} (strict mode)`);
      return new PyObject('torch', 'storage', [...(pid as unknown[])]);
    }
    const known = storages.get(p.key);
    if (known) {
      if (known.dtype !== dtype || known.numel !== p.numel) bad(path, `storage ${p.key} is declared twice with different types or sizes`);
      return known;
    }
    const entry = zip.get(`${top}/data/${p.key}`);
    if (!entry) bad(path, `storage ${p.key} has no entry ${top}/data/${p.key}`);
    const s = new TorchStorage(path, p.key, dtype, p.numel, zip.source(entry), bigEndian);
    storages.set(p.key, s);
    return s;
  };
  const u = new Unpickler(zip.read(pkl), 0, context(path, strict, persistentLoad, opts.keepFloatType));
  return u.load();
}

interface StoragePid { type: unknown; key: string; numel: number; view?: unknown }

function storagePid(path: string, pid: unknown): StoragePid {
  if (!(pid instanceof PyTuple) || pid.length < 5 || pid[0] !== 'storage') {
    bad(path, `persistent id ${describe(pid)} is not a storage ('storage', type, key, location, numel)`);
  }
  const [, type, key, , numel, view] = pid;
  if (typeof key !== 'string' || key.length === 0 || key.length > 256 || key.includes('/') || key.includes('\0')) bad(path, `bad storage key ${String(key)}`);
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) bad(path, `storage ${key} has bad size ${String(numel)}`);
  return { type, key, numel, view };
}

// ---- legacy format (torch < 1.6, or _use_new_zipfile_serialization=False) --------------------

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

class LegacyRegion implements ByteSource {
  start = -1;
  constructor(readonly path: string, public byteLength: number) {}
  read(offset: number, length: number): Buffer {
    if (this.start < 0) bad(this.path, 'storage data read before its position is known');
    if (offset + length > this.byteLength) bad(this.path, `read past a legacy storage's end`);
    const b = Buffer.allocUnsafeSlow(length);
    readExactly(this.path, b, this.start + offset);
    return b;
  }
}

class OffsetSource implements ByteSource {
  constructor(readonly inner: ByteSource, readonly offset: number, readonly byteLength: number) {}
  read(offset: number, length: number): Buffer {
    return this.inner.read(this.offset + offset, length);
  }
}

function loadLegacy(path: string, size: number, opts: LoadTorchOptions): unknown {
  let chunk = Math.min(size, 1 << 20);
  for (;;) {
    const buf = Buffer.alloc(chunk);
    readExactly(path, buf, 0);
    try {
      return parseLegacy(path, size, buf, chunk === size, opts);
    } catch (e) {
      if (!(e instanceof NeedMoreData)) throw e;
      chunk = Math.min(size, chunk * 4);
    }
  }
}

function parseLegacy(path: string, size: number, buf: Buffer, complete: boolean, opts: LoadTorchOptions): unknown {
  const strict = !!opts.strict;
  const plain = context(path, true, () => bad(path, 'unexpected persistent id in the legacy header'));
  const at = (pos: number) => new Unpickler(buf, pos, plain, complete);
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
      const region = new LegacyRegion(path, p.numel * dtypeSize(dtype));
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
    readExactly(path, head, pos);
    const n = littleEndian ? head.readBigInt64LE(0) : head.readBigInt64BE(0);
    if (n !== BigInt(root.numel)) bad(path, `legacy storage ${key} holds ${n} elements, the pickle says ${root.numel}`);
    pos += 8;
    const bytes = root.numel * dtypeSize(root.dtype);
    if (pos + bytes > size) bad(path, `truncated: storage ${key} (${bytes} bytes at ${pos}) runs past the end of the file`);
    root.region.start = pos;
    pos += bytes;
  }
  for (const [key, r] of roots) if (r.region.start < 0) bad(path, `legacy storage ${key} has no data`);
  void PyGlobal;
  return value;
}
