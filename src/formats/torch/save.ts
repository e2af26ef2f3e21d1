// torch.save for mypt-native: a zip archive PyTorch loads with torch.load(path, weights_only=True)
// (archive/data.pkl protocol 2, archive/byteorder, archive/data/<key>, archive/version = 3),
// written through a temp file + fsync + rename.

import { dtypeSize } from '../tensor';
import { drain, FileSink, writeFileAtomic, writeFileAtomicSync } from '../atomic';
import { Pickler, StorageToWrite } from './pickle-write';
import { TorchStorage } from './storage';
import { ZipWriter } from './zip-write';

// 4 MB a step: the CRC-32 of one step (1-2 ms) is the longest the event loop, and with it a training
// step waiting to be launched, is held while a checkpoint is written in the background.
const CHUNK_ELEMS_BYTES = 1 << 22;

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

/** The steps writing the torch zip archive of `value` to a sink or an open file (zip64 from `zip64From` bytes; tests lower it). */
export function* torchArchiveSteps(out: FileSink | number, value: unknown, where: string, zip64From?: number): Generator<void> {
  const pickler = new Pickler(where);
  const pkl = pickler.dump(value);
  const top = 'archive';
  const z = new ZipWriter(out, zip64From);
  z.addEntry(`${top}/data.pkl`, pkl.length, [pkl]);
  const bo = Buffer.from('little', 'latin1');
  z.addEntry(`${top}/byteorder`, bo.length, [bo]);
  for (const s of pickler.storages) yield* z.entrySteps(`${top}/data/${s.key}`, s.numel * dtypeSize(s.dtype), storageChunks(s));
  const ver = Buffer.from('3\n', 'latin1');
  z.addEntry(`${top}/version`, ver.length, [ver]);
  z.finish();
}

export function writeTorchArchive(fd: number, value: unknown, where: string, zip64From?: number): void {
  drain(torchArchiveSteps(fd, value, where, zip64From));
}

/** Saves `value` (dicts, PyDict, arrays, PyTuple, numbers, strings, booleans, null, tensors). */
export function saveTorchSync(path: string, value: unknown): void {
  new Pickler(path).dump(value);                 // refuse unsavable values before touching the disk
  writeFileAtomicSync(path, (out) => torchArchiveSteps(out, value, path));
}

/** saveTorchSync that returns to the event loop between 16 MB chunks. */
export async function saveTorch(path: string, value: unknown): Promise<void> {
  new Pickler(path).dump(value);
  await writeFileAtomic(path, (out) => torchArchiveSteps(out, value, path));
}
