// Crash-safe file replacement: write a temp file beside the target, fsync it, rename it over the
// target, fsync the folder. A crash at any point leaves either the old file or the new one whole.

import * as fs from 'fs';
import * as path from 'path';
import { MyptError } from '../../errors';

export function writeFileAtomicSync(target: string, writeBody: (fd: number) => void): void {
  const dir = path.dirname(path.resolve(target));
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`);
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
  } catch (e) {
    throw new MyptError('E_IO', `${target}: cannot create a file in ${dir} (${(e as Error).message})`);
  }
  try {
    writeBody(fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, target);
  } catch (e) {
    if (fd >= 0) try { fs.closeSync(fd); } catch { /* already failing */ }
    try { fs.unlinkSync(tmp); } catch { /* may not exist */ }
    if (e instanceof MyptError) throw e;
    throw new MyptError('E_IO', `${target}: write failed (${(e as Error).message})`);
  }
  try {
    const dfd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch { /* some filesystems refuse fsync on folders */ }
}
