// Where a target points: an existing file, a folder's checkpoint (MyPT's order: a bundle, then latest.pt,
// then final.pt, then the other tools' file names), a separated pair's base name, or model name X's folder
// <checkpointsDir>/X. Nothing is read but directory listings; nothing is written.
import fs from 'fs';
import path from 'path';
import { MyptError, expectPath } from '../errors';
import { LECTURE_FILE, lectureStepOf } from './lecture/lecture';
import { findLegacyFile } from './mypt/legacy';
import { findBundle, isBundle } from './mypt/bundle';
import { pairOf } from './separated/separated';

export interface Located {
  kind: 'bundle' | 'file';
  path: string;
}

/** A base name (`run-step000500`) whose `-model.pt` exists: the file a target names. */
export function section5FileFor(target: string): string | undefined {
  const m = pairOf(target.replace(/\.pt$/, '')).model;
  return !fs.existsSync(target) && fs.existsSync(m) ? m : undefined;
}

/** What a folder is searched for, in order (for the "looked for" part of errors). */
export const LOOKED_FOR = ['config.json + model.pt', 'latest.pt', 'final.pt', 'ckpt.pt', 'pytorch_model.bin', 'model.safetensors', 'checkpoint_*.pt', 'a single *.gguf'];

/** A file given inside a bundle stands for the bundle. */
const BUNDLE_FILES = ['model.pt', 'config.json', 'optimizer.pt', 'tokenizer.json', 'training_state.json'];

/** The checkpoint a folder holds: a bundle folder or a file; undefined when nothing recognisable is there. */
export function findInFolder(dir: string): Located | undefined {
  const bundle = findBundle(dir); // the folder, or the sibling an interrupted save left
  if (bundle) return { kind: 'bundle', path: bundle };
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) return undefined;
  const legacy = findLegacyFile(dir);
  if (legacy) return { kind: 'file', path: legacy };
  for (const name of ['ckpt.pt', 'pytorch_model.bin', 'model.safetensors']) {
    const p = path.join(dir, name);
    if (fs.existsSync(p) && fs.statSync(p).isFile()) return { kind: 'file', path: p };
  }
  const lecture = fs.readdirSync(dir).filter((n) => LECTURE_FILE.test(n)).sort((a, b) => lectureStepOf(b)! - lectureStepOf(a)! || (a < b ? 1 : -1));
  if (lecture.length) return { kind: 'file', path: path.join(dir, lecture[0]) };
  const gguf = fs.readdirSync(dir).filter((n) => n.endsWith('.gguf') && fs.statSync(path.join(dir, n)).isFile());
  if (gguf.length === 1) return { kind: 'file', path: path.join(dir, gguf[0]) };
  return undefined;
}

/**
 * Where a target points: an existing file, an existing folder's checkpoint, or model name X's folder.
 * Throws `no checkpoint for model X at DIR (looked for ...)` when nothing is found.
 */
export function resolveCheckpoint(target: string, opts: { checkpointsDir?: string } = {}): Located {
  expectPath(target, 'resolveCheckpoint');
  if (fs.existsSync(target)) {
    const st = fs.statSync(target);
    if (st.isFile()) {
      const dir = path.dirname(target);
      if (BUNDLE_FILES.includes(path.basename(target)) && isBundle(dir)) return { kind: 'bundle', path: dir };
      return { kind: 'file', path: target };
    }
    const found = findInFolder(target);
    if (found) return found;
    throw new MyptError('E_NO_CHECKPOINT', `no checkpoint at ${target} (looked for ${LOOKED_FOR.join(', ')})`);
  }
  const pairFile = section5FileFor(target);   // the base name of a separated pair
  if (pairFile) return { kind: 'file', path: pairFile };
  const dir = path.join(opts.checkpointsDir ?? 'checkpoints', target);
  const found = findInFolder(dir);
  if (found) return found;
  // a path (not a model name) that does not exist
  if (path.isAbsolute(target) || /[\\/]/.test(target) || /\.(pt|pth|bin|safetensors|gguf)$/.test(target)) {
    throw new MyptError('E_NO_CHECKPOINT', `${target}: no such file or folder`);
  }
  throw new MyptError(
    'E_NO_CHECKPOINT',
    `no checkpoint for model ${target} at ${dir} (looked for ${LOOKED_FOR.join(', ')})`,
    'give --checkpoint PATH for a file elsewhere, or train the model first',
  );
}

