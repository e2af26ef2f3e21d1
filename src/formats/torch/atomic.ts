// Crash-safe file replacement: write a temp file beside the target, fsync it, rename it over the
// target, fsync the folder. A crash at any point leaves either the old file or the new one whole.
// The body is a sequence of steps (a generator): the sync form runs them back to back, the async
// form returns to the event loop between steps, so a long save does not freeze the process.

import * as fs from 'fs';
import * as path from 'path';
import { MyptError } from '../../errors';

/** Writes done in steps; each `yield` is a point where the event loop may run. */
export type WriteSteps = (fd: number) => Iterable<void>;

interface Temp { fd: number; tmp: string; dir: string }

function openTemp(target: string): Temp {
  const dir = path.dirname(path.resolve(target));
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`);
  try {
    return { fd: fs.openSync(tmp, 'wx', 0o644), tmp, dir };
  } catch (e) {
    throw new MyptError('E_IO', `${target}: cannot create a file in ${dir} (${(e as Error).message})`);
  }
}

function commit(t: Temp, target: string): void {
  fs.fsyncSync(t.fd);
  fs.closeSync(t.fd);
  t.fd = -1;
  fs.renameSync(t.tmp, target);
  try {
    const dfd = fs.openSync(t.dir, 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch { /* some filesystems refuse fsync on folders */ }
}

function abort(t: Temp, target: string, e: unknown): never {
  if (t.fd >= 0) try { fs.closeSync(t.fd); } catch { /* already failing */ }
  try { fs.unlinkSync(t.tmp); } catch { /* may not exist */ }
  if (e instanceof MyptError) throw e;
  throw new MyptError('E_IO', `${target}: write failed (${(e as Error).message})`);
}

export function writeFileAtomicSync(target: string, body: WriteSteps): void {
  const t = openTemp(target);
  try {
    for (const _ of body(t.fd)) { /* run every step */ }
    commit(t, target);
  } catch (e) {
    abort(t, target, e);
  }
}

export async function writeFileAtomic(target: string, body: WriteSteps): Promise<void> {
  const t = openTemp(target);
  try {
    for (const _ of body(t.fd)) await new Promise<void>((r) => setImmediate(r));
    commit(t, target);
  } catch (e) {
    abort(t, target, e);
  }
}

/** Runs a step generator to its end. */
export function drain(steps: Iterable<void>): void {
  for (const _ of steps) { /* run every step */ }
}
