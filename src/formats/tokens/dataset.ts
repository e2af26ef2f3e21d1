// A folder of token shards, described without reading the tokens: ours (manifest.json, written by
// `prepare` in any of the three formats), nanoGPT's (train.bin / val.bin of uint16, meta.pkl for a
// character vocabulary) or llm.c's (*_train_*.bin / *_val_*.bin with the 1024-byte header). Every size is
// checked against the file; nothing is written.
import fs from 'fs';
import path from 'path';
import { MyptError } from '../../errors';
import { readMetaPkl } from '../nanogpt/ckpt';
import { LLMC_HEADER_BYTES, parseLlmcHeader } from './llmc';
import { readManifest, SplitName, TokenFormat, TokenizerRecord } from './manifest';

/** count uint16 tokens of `path` from byte `byteOffset`. */
export interface ShardRef {
  path: string;
  byteOffset: number;
  count: number;
}

export interface DatasetInfo {
  dir: string;
  format: TokenFormat;
  /** where the description came from, for messages */
  from: 'manifest.json' | 'train.bin' | 'llm.c shards';
  tokenizer: TokenizerRecord;
  splits: Record<SplitName, ShardRef[]>;
}

function sizeOf(file: string, flag: string): number {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new MyptError('E_IO', `${flag}: cannot read ${file} (${code === 'ENOENT' ? 'no such file' : (e as Error).message})`);
  }
  if (!st.isFile()) throw new MyptError('E_BAD_FILE', `${flag}: ${file} is not a file`);
  return st.size;
}

function readHead(file: string, n: number, flag: string): Buffer {
  const b = Buffer.alloc(n);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new MyptError('E_IO', `${flag}: cannot read ${file} (${(e as Error).message})`);
  }
  try {
    const got = fs.readSync(fd, b, 0, n, 0);
    return b.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

/** What `--data DIR` holds (flag: the flag to name in errors). */
export function describeDataset(dir: string, flag = '--data'): DatasetInfo {
  const where = `${flag} ${dir}`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new MyptError('E_IO', `${where}: ${code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'not a folder' : (e as Error).message}`);
  }
  const manifest = readManifest(dir);
  if (manifest) {
    const splits: Record<SplitName, ShardRef[]> = { train: [], val: [] };
    for (const s of manifest.shards) {
      const file = path.join(dir, s.file);
      const size = sizeOf(file, where);
      if (size !== s.bytes) throw new MyptError('E_BAD_FILE', `${where}: ${s.file} holds ${size} bytes, manifest.json says ${s.bytes}`, 'run `mypt-native prepare` again');
      splits[s.split].push({ path: file, byteOffset: s.header_bytes, count: s.tokens });
    }
    return { dir, format: manifest.format, from: 'manifest.json', tokenizer: manifest.tokenizer, splits };
  }
  if (names.includes('train.bin')) {
    const splits: Record<SplitName, ShardRef[]> = { train: [], val: [] };
    for (const split of ['train', 'val'] as const) {
      if (!names.includes(`${split}.bin`)) continue;
      const file = path.join(dir, `${split}.bin`);
      const size = sizeOf(file, where);
      if (size % 2) throw new MyptError('E_BAD_FILE', `${where}: ${split}.bin holds ${size} bytes, not a whole number of uint16 tokens`);
      if (size > 0) splits[split].push({ path: file, byteOffset: 0, count: size / 2 });
    }
    const meta = path.join(dir, 'meta.pkl');
    const tokenizer: TokenizerRecord = fs.existsSync(meta) ? { kind: 'char', chars: readMetaPkl(meta) } : { kind: 'gpt2' };
    return { dir, format: 'nanogpt', from: 'train.bin', tokenizer, splits };
  }
  const shard = /^(.*)_(train|val)_(\d+)\.bin$/;
  const llmc = names.filter((n) => shard.test(n)).sort();
  if (llmc.length) {
    const splits: Record<SplitName, ShardRef[]> = { train: [], val: [] };
    for (const n of llmc) {
      const file = path.join(dir, n);
      const count = parseLlmcHeader(readHead(file, LLMC_HEADER_BYTES, where), sizeOf(file, where), file);
      if (count > 0) splits[shard.exec(n)![2] as SplitName].push({ path: file, byteOffset: LLMC_HEADER_BYTES, count });
    }
    return { dir, format: 'llmc', from: 'llm.c shards', tokenizer: { kind: 'gpt2' }, splits };
  }
  throw new MyptError('E_BAD_FILE', `${where}: no token shards here (looked for manifest.json, nanoGPT's train.bin, llm.c's *_train_*.bin)`,
    'make them with `mypt-native prepare --input FILE --out DIR`');
}

/** The tokens of a split, summed. */
export function splitTokens(d: DatasetInfo, split: SplitName): number {
  return d.splits[split].reduce((s, r) => s + r.count, 0);
}
