// What loading a torch file shares between the zip and legacy formats: options, the unpickler
// context (known globals applied, nothing executed), and the storage persistent-id check.

import { MyptError } from '../../errors';
import { UnpickleContext, describe } from './pickle-read';
import { buildObject, callGlobal, isAllowedStrict } from './py-globals';
import { PyTuple } from './pyvalues';

export interface LoadTorchOptions {
  /** Refuse anything but tensors and plain containers (numpy, user classes, ...) with an error naming the global. */
  strict?: boolean;
  /** Read integral Python floats (1.0) as PyFloat, so a re-save writes them as floats again. */
  keepFloatType?: boolean;
}

export function bad(path: string, what: string): never {
  throw new MyptError('E_BAD_FILE', `${path}: ${what}`);
}

export function context(path: string, strict: boolean, persistentLoad: (pid: unknown) => unknown, keepFloatType = false): UnpickleContext {
  return {
    keepFloatType,
    where: path,
    strict,
    persistentLoad,
    call: (g, args) => callGlobal(g, args, path, strict),
    build: (obj, state) => buildObject(obj, state, path),
    isAllowedStrict,
  };
}

export interface StoragePid { type: unknown; key: string; numel: number; view?: unknown }

export function storagePid(path: string, pid: unknown): StoragePid {
  if (!(pid instanceof PyTuple) || pid.length < 5 || pid[0] !== 'storage') {
    bad(path, `persistent id ${describe(pid)} is not a storage ('storage', type, key, location, numel)`);
  }
  const [, type, key, , numel, view] = pid;
  if (typeof key !== 'string' || key.length === 0 || key.length > 256 || key.includes('/') || key.includes('\0')) bad(path, `bad storage key ${String(key)}`);
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) bad(path, `storage ${key} has bad size ${String(numel)}`);
  return { type, key, numel, view };
}
