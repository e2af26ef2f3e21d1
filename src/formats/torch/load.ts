// torch.load for mypt-native: the zip format (PyTorch >= 1.6) and the legacy pickle-stream
// format (load-legacy.ts), into plain JS values (see pyvalues.ts) with lazily read TorchTensors.

import { expectPath } from '../../errors';
import { Unpickler, describe } from './pickle-read';
import { storageDType } from './py-globals';
import { PyObject } from './pyvalues';
import { FileStamp, TorchStorage, readExactly, statFile } from './storage';
import { checkStructure } from './structure';
import { LoadTorchOptions, bad, context, storagePid } from './unpickle-context';
import { loadLegacy } from './load-legacy';
import { ZipArchive } from './zip-read';

export type { LoadTorchOptions } from './unpickle-context';

/** Reads a torch.save file (zip or legacy). Tensor data is read from the file on first access. */
export function loadTorchSync(path: string, opts: LoadTorchOptions = {}): unknown {
  expectPath(path, 'loadTorchSync');
  const stamp = statFile(path);
  const size = stamp.size;
  if (size < 4) bad(path, `too short to be a torch checkpoint (${size} bytes)`);
  const head = Buffer.alloc(4);
  readExactly(path, head, 0, stamp);
  const value = ZipArchive.isZip(head) ? loadZip(path, stamp, opts) : loadLegacy(path, stamp, opts);
  checkStructure(value, path);
  return value;
}

export async function loadTorch(path: string, opts: LoadTorchOptions = {}): Promise<unknown> {
  expectPath(path, 'loadTorch');
  return loadTorchSync(path, opts);
}

// ---- zip format ------------------------------------------------------------------------------

function loadZip(path: string, stamp: FileStamp, opts: LoadTorchOptions): unknown {
  const zip = ZipArchive.open(path, stamp.size, stamp);
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
