// Where a model lives: a model name (checkpoints/<name>), a bundle folder, or a file inside one.
// Looking never creates anything.
import fs from 'fs';
import path from 'path';
import { MyptError } from './errors';
import { findBundle } from './checkpoint/mypt-bundle';

export interface ModelSource {
  /** The bundle folder actually read (may be the sibling left by an interrupted save). */
  dir: string;
  /** What the user named, for messages. */
  label: string;
}

export function resolveModelSource(nameOrPath: string, checkpointsDir = 'checkpoints'): ModelSource {
  if (typeof nameOrPath !== 'string' || nameOrPath === '') {
    throw new MyptError('E_BAD_ARGUMENT', 'name a model (--model_name NAME) or a checkpoint (--checkpoint PATH)');
  }
  const looksLikePath = nameOrPath.includes('/') || nameOrPath.includes(path.sep) || fs.existsSync(nameOrPath);
  if (looksLikePath) {
    let dir = nameOrPath;
    if (fs.existsSync(nameOrPath) && fs.statSync(nameOrPath).isFile()) {
      dir = path.dirname(nameOrPath);
      const at = findBundle(dir);
      if (at) return { dir: at, label: nameOrPath };
      throw new MyptError('E_UNSUPPORTED', `${nameOrPath}: not part of a MyPT bundle (config.json + model.pt beside it)`);
    }
    const at = findBundle(dir);
    if (at) return { dir: at, label: nameOrPath };
    if (!fs.existsSync(dir)) throw new MyptError('E_NO_CHECKPOINT', `${dir}: no such file or folder`);
    throw new MyptError('E_NO_CHECKPOINT', `no checkpoint at ${dir} (looked for config.json + model.pt)`);
  }
  const dir = path.join(checkpointsDir, nameOrPath);
  const at = findBundle(dir);
  if (!at) throw new MyptError('E_NO_CHECKPOINT', `no checkpoint for model ${nameOrPath} at ${dir} (looked for config.json + model.pt)`);
  return { dir: at, label: nameOrPath };
}
