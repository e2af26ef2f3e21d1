// A plain pickle file (not a torch archive), e.g. nanoGPT's meta.pkl, read with the torch reader's
// non-executing pickle machine in strict mode: only dicts, lists, tuples, strings and numbers.
import fs from 'fs';
import { MyptError } from '../../errors';
import { Unpickler } from './pickle-read';
import { buildObject, callGlobal, isAllowedStrict } from './py-globals';

export function loadPickleSync(file: string): unknown {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new MyptError('E_IO', `${file}: cannot read (${(e as Error).message})`);
  }
  return new Unpickler(buf, 0, {
    where: file,
    strict: true,
    persistentLoad: () => {
      throw new MyptError('E_BAD_FILE', `${file}: a plain pickle with a persistent id (is this a torch file?)`);
    },
    call: (g, args) => callGlobal(g, args, file, true),
    build: (obj, state) => buildObject(obj, state, file),
    isAllowedStrict,
  }).load();
}
