// Crash-safe writes, the one writer every format uses.
//   A single file: write a temporary beside it, fsync, rename over the target, fsync the folder. A crash
//   at any point leaves either the old file or the new one whole. The body is bytes, or a sequence of
//   steps (a generator handing its bytes to a FileSink): the sync form writes them at once, the async form
//   queues them and writes them on libuv's threads while the generator prepares the next chunk (its CRC,
//   its conversion), returns to the event loop between steps, and asks the disk to start writing back
//   every 64 MB (fdatasync in the background), so that the final fsync waits for the tail alone.
//   A folder of files (a bundle): write every file into a sibling staging folder, fsync, then swap the
//   folders with two renames; at every instant either the old or the new folder is whole on disk, and
//   readers look in the `.previous` sibling when a crash fell between the two renames.
//   The async forms never wait on the disk on the event loop's thread: fsyncs, copies and the removal of
//   the old generation (a gigabyte's unlink takes a third of a second on a disk) run on libuv's threads,
//   so that a training run saving in the background keeps the GPU fed. Renames stay synchronous (metadata
//   only, and the order of the stages is the crash safety).
// A failure is a MyptError E_IO naming the file and the cause in words (a full disk says so).
import fs from 'fs';
import path from 'path';
import { MyptError } from '../errors';

/** Writes `b` whole at file offset `at`. */
function writeFully(fd: number, b: Uint8Array, at: number): void {
  let done = 0;
  while (done < b.length) done += fs.writeSync(fd, b, done, b.length - done, at + done);
}

function writeFullyAsync(fd: number, b: Uint8Array, at: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const more = (done: number) => fs.write(fd, b, done, b.length - done, at + done, (e, n) => {
      if (e) reject(e);
      else if (done + n < b.length) more(done + n);
      else resolve();
    });
    more(0);
  });
}

/**
 * Where a writer puts its bytes: `append` at the end of what it wrote so far, `writeAt` anywhere (a header
 * field patched afterwards). Bytes handed over must not change afterwards: the async form writes them later.
 */
export class FileSink {
  /** bytes appended so far */
  pos = 0;
  /** `queue`: writes to perform later (the async form); without it each write happens at once */
  constructor(readonly fd: number, private readonly queue?: Array<[Uint8Array, number]>) {}
  append(b: Uint8Array): void {
    this.writeAt(b, this.pos);
    this.pos += b.length;
  }
  writeAt(b: Uint8Array, at: number): void {
    if (b.length === 0) return;
    if (this.queue) this.queue.push([b, at]);
    else writeFully(this.fd, b, at);
  }
}

/** Writes done in steps; each `yield` is a point where the event loop may run and queued bytes go out. */
export type WriteSteps = (out: FileSink) => Iterable<void>;

interface Temp { fd: number; tmp: string; dir: string }

function openTemp(target: string): Temp {
  const dir = path.dirname(path.resolve(target));
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`);
  try {
    return { fd: fs.openSync(tmp, 'wx', 0o644), tmp, dir };
  } catch (e) {
    throw new MyptError('E_IO', `${target}: cannot create a file in ${dir}: ${ioCause(e)}`);
  }
}

/** `synced`: the caller has fsynced the file already. */
function commit(t: Temp, target: string, synced = false): void {
  if (!synced) fs.fsyncSync(t.fd);
  fs.closeSync(t.fd);
  t.fd = -1;
  fs.renameSync(t.tmp, target);
  try {
    const dfd = fs.openSync(t.dir, 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch { /* some filesystems refuse fsync on folders */ }
}

/** commit() off the event loop's thread: the fsyncs on libuv's threads. */
async function commitAsync(t: Temp, target: string, synced = false): Promise<void> {
  if (!synced) await fs.promises.open(t.tmp, 'r+').then(async (h) => { try { await h.sync(); } finally { await h.close(); } });
  fs.closeSync(t.fd);
  t.fd = -1;
  fs.renameSync(t.tmp, target);
  await fsyncPathAsync(t.dir);
}

/** What a file-system error means, in words (the code kept for the curious). */
export function ioCause(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  const words: Record<string, string> = {
    ENOSPC: 'the disk is full', EDQUOT: 'the disk quota is used up', EFBIG: 'the file is larger than this system allows',
    EACCES: 'permission denied', EPERM: 'permission denied', EROFS: 'the file system is read-only',
    ENOENT: 'no such file or folder', EISDIR: 'is a folder, not a file', ENOTDIR: 'a part of the path is not a folder',
  };
  return code && words[code] ? `${words[code]} (${code})` : (e as Error)?.message ?? String(e);
}

function abort(t: Temp, target: string, e: unknown): never {
  if (t.fd >= 0) try { fs.closeSync(t.fd); } catch { /* already failing */ }
  try { fs.unlinkSync(t.tmp); } catch { /* may not exist */ }
  if (e instanceof MyptError) throw e;
  throw new MyptError('E_IO', `${target}: write failed: ${ioCause(e)}; the previous file, if any, is untouched`);
}

/** Bytes (a string is UTF-8) as a one-step body. */
function stepsOf(body: WriteSteps | string | Uint8Array): WriteSteps {
  if (typeof body === 'function') return body;
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return function* (out: FileSink) {
    out.append(bytes);
    yield;
  };
}

export function writeFileAtomicSync(target: string, data: WriteSteps | string | Uint8Array): void {
  const body = stepsOf(data);
  const t = openTemp(target);
  try {
    for (const _ of body(new FileSink(t.fd))) { /* run every step */ }
    commit(t, target);
  } catch (e) {
    abort(t, target, e);
  }
}

const WRITEBACK_BYTES = 64 << 20;

export async function writeFileAtomic(target: string, data: WriteSteps | string | Uint8Array): Promise<void> {
  const body = stepsOf(data);
  const t = openTemp(target);
  const queue: Array<[Uint8Array, number]> = [];
  let inFlight: Promise<void> = Promise.resolve();
  let writeback: Promise<void> | null = null;
  let unflushed = 0;
  // one batch of writes at a time, in order; the generator runs on while it is written
  const send = () => {
    if (!queue.length) return;
    const batch = queue.splice(0);
    inFlight = inFlight.then(async () => {
      for (const [b, at] of batch) await writeFullyAsync(t.fd, b, at);
    });
    inFlight.catch(() => undefined);   // handled: its failure is met at the next await
    for (const [b] of batch) unflushed += b.length;
    if (unflushed >= WRITEBACK_BYTES && !writeback) {
      unflushed = 0;
      // a hint to the disk, never a failure: the final fsync reports what went wrong
      writeback = inFlight.then(() => new Promise<void>((r) => fs.fdatasync(t.fd, () => r())))
        .catch(() => undefined).finally(() => { writeback = null; });
    }
  };
  try {
    for (const _ of body(new FileSink(t.fd, queue))) {
      const previous = inFlight;
      send();
      await previous;            // at most one step's bytes wait behind the one being written
      await new Promise<void>((r) => setImmediate(r));
    }
    send();
    await inFlight;
    await writeback;
    await new Promise<void>((resolve, reject) => fs.fsync(t.fd, (e) => (e ? reject(e) : resolve())));
    await commitAsync(t, target, true);
  } catch (e) {
    await inFlight.catch(() => undefined);   // nothing may still write to the descriptor once it is closed
    await writeback;
    abort(t, target, e);
  }
}

/** Runs a step generator to its end. */
export function drain(steps: Iterable<void>): void {
  for (const _ of steps) { /* run every step */ }
}

export function fsyncPath(p: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(p, 'r');
    fs.fsyncSync(fd);
  } catch {
    // some file systems refuse fsync on folders; the rename is still atomic there
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** fsyncPath on libuv's threads. */
export async function fsyncPathAsync(p: string): Promise<void> {
  let h: fs.promises.FileHandle | undefined;
  try {
    h = await fs.promises.open(p, 'r');
    await h.sync();
  } catch {
    // some file systems refuse fsync on folders; the rename is still atomic there
  } finally {
    await h?.close().catch(() => undefined);
  }
}

const rmTree = (p: string) => fs.promises.rm(p, { recursive: true, force: true });

/** The staging and previous-generation siblings of a bundle folder. */
export function siblingsOf(dir: string): { staging: string; previous: string } {
  const parent = path.dirname(path.resolve(dir));
  const base = path.basename(path.resolve(dir));
  return { staging: path.join(parent, `.${base}.saving`), previous: path.join(parent, `.${base}.previous`) };
}

/**
 * The folder that holds the last whole generation of `dir`: `dir` itself, or its `.previous` sibling when a
 * save was interrupted between the two renames (then `dir` is absent). Never creates or moves anything.
 */
export function committedDir(dir: string, isWhole: (d: string) => boolean): string | undefined {
  if (isWhole(dir)) return dir;
  const { previous } = siblingsOf(dir);
  if (!fs.existsSync(dir) && isWhole(previous)) return previous;
  return undefined;
}

export type SaveStage = 'staged' | 'old-moved' | 'new-in-place' | 'done';

/**
 * Replaces folder `dir` by a new generation. `fill(staging)` writes the new files (it may be async);
 * files of the old folder that `fill` did not write are carried over (hard links, or copies), except
 * those named in `dropOld`.
 * `onStage` is called after each stage (tests use it to simulate a crash).
 */
export async function replaceDirAtomic(
  dir: string,
  fill: (staging: string) => Promise<void> | void,
  opts: { onStage?: (stage: SaveStage) => void; dropOld?: string[] } = {},
): Promise<void> {
  const target = path.resolve(dir);
  const { staging } = siblingsOf(target);
  try {
    await replaceDir(target, fill, opts);
  } catch (e) {
    const ioFailure = e instanceof MyptError ? e.code === 'E_IO' : typeof (e as NodeJS.ErrnoException)?.code === 'string';
    if (!ioFailure) throw e;
    // a file-system failure (a full disk, no permission): the staged copy goes, the last whole folder stays
    if (fs.existsSync(target) || fs.existsSync(siblingsOf(target).previous)) {
      try { fs.rmSync(staging, { recursive: true, force: true }); } catch { /* already failing */ }
    }
    if (e instanceof MyptError) throw e;
    throw new MyptError('E_IO', `${dir}: save failed: ${ioCause(e)}; the previous save, if any, is untouched`);
  }
}

async function replaceDir(
  target: string,
  fill: (staging: string) => Promise<void> | void,
  opts: { onStage?: (stage: SaveStage) => void; dropOld?: string[] },
): Promise<void> {
  const { onStage } = opts;
  const drop = new Set(opts.dropOld ?? []);
  const { staging, previous } = siblingsOf(target);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  await rmTree(staging);
  fs.mkdirSync(staging);
  await fill(staging);
  // Whatever lived in the old folder and was not rewritten (user files, legacy .pt) moves along.
  const live = fs.existsSync(target) ? target : fs.existsSync(previous) ? previous : undefined;
  if (live) {
    for (const name of fs.readdirSync(live)) {
      const dst = path.join(staging, name);
      if (fs.existsSync(dst) || drop.has(name) || /\.tmp-/.test(name)) continue;
      const src = path.join(live, name);
      if (!fs.statSync(src).isFile()) continue;
      try {
        fs.linkSync(src, dst);
      } catch {
        await fs.promises.copyFile(src, dst);
      }
    }
  }
  for (const name of fs.readdirSync(staging)) await fsyncPathAsync(path.join(staging, name));
  await fsyncPathAsync(staging);
  onStage?.('staged');
  if (fs.existsSync(target)) {
    await rmTree(previous);
    fs.renameSync(target, previous);
    onStage?.('old-moved');
  }
  fs.renameSync(staging, target);
  await fsyncPathAsync(path.dirname(target));
  onStage?.('new-in-place');
  await rmTree(previous);
  onStage?.('done');
}

/** Throws E_IO when files cannot be created in folder `dir` (or, while it does not exist yet, in the nearest
 *  folder above it that does): checked before long work that ends in a save. Creates nothing. */
export function checkWritableDir(dir: string, what: string): void {
  let at = path.resolve(dir);
  while (!fs.existsSync(at) && path.dirname(at) !== at) at = path.dirname(at);
  let st: fs.Stats;
  try {
    st = fs.statSync(at);
  } catch (e) {
    throw new MyptError('E_IO', `${what}: cannot write in ${at}: ${ioCause(e)}`);
  }
  if (!st.isDirectory()) throw new MyptError('E_IO', `${what}: ${at} is a file, not a folder`);
  try {
    fs.accessSync(at, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    throw new MyptError('E_IO', `${what}: cannot write in ${at}: ${ioCause(e)}`, 'choose a folder you can write to');
  }
}
