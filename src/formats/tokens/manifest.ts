// manifest.json of a `prepare` output folder: what tokenizer made the shards, how many tokens each split
// holds, and every shard with its size and SHA-256. It is written last (atomically), so a folder whose
// manifest names a shard holds that shard whole; a run that stops early leaves no manifest.
import fs from 'fs';
import path from 'path';
import { MyptError } from '../../errors';

export type TokenFormat = 'mypt' | 'nanogpt' | 'llmc';
export const TOKEN_FORMATS: readonly TokenFormat[] = ['mypt', 'nanogpt', 'llmc'];
export type SplitName = 'train' | 'val';

/** The tokenizer of the shards: GPT-2's BPE, or a character vocabulary (ids index `chars`). */
export type TokenizerRecord = { kind: 'gpt2' } | { kind: 'char'; chars: string[] };

export interface ShardEntry {
  file: string;
  split: SplitName;
  tokens: number;
  bytes: number;
  /** bytes before the first token (llm.c's header: 1024) */
  header_bytes: number;
  sha256: string;
}

export interface Manifest {
  mypt_tokens: 1;
  format: TokenFormat;
  tokenizer: TokenizerRecord;
  dtype: 'uint16';
  /** the end-of-text id put between documents (GPT-2: 50256), or null */
  eot: number | null;
  documents: number;
  input_files: number;
  input_bytes: number;
  /** invalid UTF-8 sequences decoded as U+FFFD */
  replaced_utf8: number;
  val_fraction: number;
  tokens: Record<SplitName, number>;
  shards: ShardEntry[];
}

export const MANIFEST = 'manifest.json';

export function manifestText(m: Manifest): string {
  return JSON.stringify(m, null, 2) + '\n';
}

function bad(file: string, what: string): never {
  throw new MyptError('E_BAD_FILE', `${file}: ${what}`, 'run `mypt-native prepare` again to rewrite the folder');
}

/** The manifest of a folder (null when it has none), every field checked. */
export function readManifest(dir: string): Manifest | null {
  const file = path.join(dir, MANIFEST);
  if (!fs.existsSync(file)) return null;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    bad(file, `not valid JSON (${(e as Error).message})`);
  }
  if (!o || typeof o !== 'object' || o.mypt_tokens !== 1) bad(file, 'not a mypt-native token manifest (no "mypt_tokens": 1)');
  if (!TOKEN_FORMATS.includes(o.format as TokenFormat)) bad(file, `unknown format ${JSON.stringify(o.format)}`);
  const t = o.tokenizer as { kind?: unknown; chars?: unknown } | undefined;
  if (!t || (t.kind !== 'gpt2' && t.kind !== 'char')) bad(file, 'tokenizer.kind must be gpt2 or char');
  if (t.kind === 'char' && (!Array.isArray(t.chars) || t.chars.some((c) => typeof c !== 'string'))) bad(file, 'a char tokenizer needs a "chars" list');
  if (!Array.isArray(o.shards)) bad(file, 'no "shards" list');
  const isCount = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  (o.shards as unknown[]).forEach((s, i) => {
    const e = s as Partial<ShardEntry>;
    if (!e || typeof e.file !== 'string' || !e.file || e.file !== path.basename(e.file)) bad(file, `shard ${i}: "file" must be a file name in the folder`);
    if (e.split !== 'train' && e.split !== 'val') bad(file, `shard ${i} (${e.file}): split must be train or val`);
    if (!isCount(e.tokens) || !isCount(e.header_bytes) || !isCount(e.bytes)) bad(file, `shard ${i} (${e.file}): tokens, bytes and header_bytes must be whole numbers`);
    if (e.bytes !== e.header_bytes! + 2 * e.tokens!) bad(file, `shard ${i} (${e.file}): ${e.bytes} bytes do not hold a ${e.header_bytes}-byte header and ${e.tokens} uint16 tokens`);
  });
  return o as unknown as Manifest;
}
