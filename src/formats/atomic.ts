// Crash-safe writes. A single file: write a temporary beside it, fsync, rename over the target, fsync the
// folder. A folder of files (a bundle): write every file into a sibling staging folder, fsync, then swap
// the folders with two renames; at every instant either the old or the new folder is whole on disk, and
// readers look in the `.previous` sibling when a crash fell between the two renames.
import fs from 'fs';
import path from 'path';

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

export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${Date.now().toString(36)}`);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncPath(dir);
}

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
  const { onStage } = opts;
  const drop = new Set(opts.dropOld ?? []);
  const target = path.resolve(dir);
  const { staging, previous } = siblingsOf(target);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.rmSync(staging, { recursive: true, force: true });
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
        fs.copyFileSync(src, dst);
      }
    }
  }
  for (const name of fs.readdirSync(staging)) fsyncPath(path.join(staging, name));
  fsyncPath(staging);
  onStage?.('staged');
  if (fs.existsSync(target)) {
    fs.rmSync(previous, { recursive: true, force: true });
    fs.renameSync(target, previous);
    onStage?.('old-moved');
  }
  fs.renameSync(staging, target);
  fsyncPath(path.dirname(target));
  onStage?.('new-in-place');
  fs.rmSync(previous, { recursive: true, force: true });
  onStage?.('done');
}
