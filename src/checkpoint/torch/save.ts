// torch.save for mypt-native: a zip archive PyTorch loads with torch.load(path, weights_only=True)
// (archive/data.pkl protocol 2, archive/byteorder, archive/data/<key>, archive/version = 3),
// written through a temp file + fsync + rename.

import { dtypeSize } from '../tensor';
import { writeFileAtomicSync } from './atomic';
import { Pickler, StorageToWrite } from './pickle-write';
import { TorchStorage } from './storage';
import { ZipWriter } from './zip-write';

const CHUNK_ELEMS_BYTES = 1 << 24;

function* storageChunks(s: StorageToWrite): Iterable<Uint8Array> {
  const src = s.source;
  if (src instanceof TorchStorage) {
    const per = Math.max(1, Math.floor(CHUNK_ELEMS_BYTES / dtypeSize(s.dtype)));
    for (let i = 0; i < s.numel; i += per) yield src.readElements(i, Math.min(per, s.numel - i));
    return;
  }
  let bytes = new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  if (s.dtype === 'bool' && bytes.some((b) => b > 1)) bytes = bytes.map((b) => (b ? 1 : 0));
  for (let i = 0; i < bytes.length; i += CHUNK_ELEMS_BYTES) yield bytes.subarray(i, Math.min(bytes.length, i + CHUNK_ELEMS_BYTES));
}

/** Saves `value` (dicts, PyDict, arrays, PyTuple, numbers, strings, booleans, null, tensors). */
export function saveTorchSync(path: string, value: unknown): void {
  const pickler = new Pickler(path);
  const pkl = pickler.dump(value);
  const top = 'archive';
  writeFileAtomicSync(path, (fd) => {
    const z = new ZipWriter(fd);
    z.addEntry(`${top}/data.pkl`, pkl.length, [pkl]);
    const bo = Buffer.from('little', 'latin1');
    z.addEntry(`${top}/byteorder`, bo.length, [bo]);
    for (const s of pickler.storages) z.addEntry(`${top}/data/${s.key}`, s.numel * dtypeSize(s.dtype), storageChunks(s));
    const ver = Buffer.from('3\n', 'latin1');
    z.addEntry(`${top}/version`, ver.length, [ver]);
    z.finish();
  });
}

export async function saveTorch(path: string, value: unknown): Promise<void> {
  saveTorchSync(path, value);
}
