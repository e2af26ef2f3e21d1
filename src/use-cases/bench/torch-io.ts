// Checkpoint save/load throughput: a float32 state_dict of about `sizeMB` (16 MB tensors, random
// values), saved with saveTorchSync (fsync included) and loaded with loadTorchSync with every
// tensor's data read, in a temp folder removed afterwards. Load follows the save, so the file is
// likely in the page cache: the load figure is parsing + copying, not the disk.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PyDict } from '../../formats/torch/pyvalues';
import { loadTorchSync } from '../../formats/torch/load';
import { saveTorchSync } from '../../formats/torch/save';
import { TorchTensor } from '../../formats/torch/torch-tensor';

export interface TorchIOBench {
  sizeMB: number;
  tensors: number;
  saveSeconds: number;
  loadSeconds: number;
  saveMBps: number;
  loadMBps: number;
}

export function benchTorchIO(opts: { sizeMB?: number; dir?: string } = {}): TorchIOBench {
  const sizeMB = Math.max(1, opts.sizeMB ?? 100);
  const per = 4 << 20;                                  // 4M floats = 16 MB per tensor
  const total = Math.round((sizeMB * 1024 * 1024) / 4);
  const sd = new PyDict();
  let seed = 12345;
  for (let done = 0, i = 0; done < total; i++) {
    const n = Math.min(per, total - done);
    const data = new Float32Array(n);
    for (let j = 0; j < n; j++) { seed = (Math.imul(seed, 1664525) + 1013904223) | 0; data[j] = seed / 2147483648; }
    sd.set(`layer.${i}.weight`, { dtype: 'float32', shape: [n], data });
    done += n;
  }
  const dir = fs.mkdtempSync(path.join(opts.dir ?? os.tmpdir(), 'mypt-bench-io-'));
  const file = path.join(dir, 'bench.pt');
  try {
    const t0 = process.hrtime.bigint();
    saveTorchSync(file, sd);
    const t1 = process.hrtime.bigint();
    const back = loadTorchSync(file) as PyDict;
    let check = 0;
    for (const t of back.values()) check += (t as TorchTensor).data.length;
    const t2 = process.hrtime.bigint();
    if (check !== total) throw new Error(`bench: read back ${check} of ${total} elements`);
    const mb = (total * 4) / (1024 * 1024);
    const saveSeconds = Number(t1 - t0) / 1e9, loadSeconds = Number(t2 - t1) / 1e9;
    return { sizeMB: mb, tensors: sd.size, saveSeconds, loadSeconds, saveMBps: mb / saveSeconds, loadMBps: mb / loadSeconds };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
