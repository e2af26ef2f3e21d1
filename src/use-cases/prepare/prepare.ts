// `prepare`: text files to token shards other tools read unchanged (nanoGPT's train.bin / val.bin +
// meta.pkl, llm.c's headed shards) or ours, with a manifest.json. Two passes: the inputs become one
// stream of ids in a temporary file (tokenize.ts), then the stream is cut into the train split (the first
// 1 - val_fraction of the ids, as nanoGPT's shakespeare_char splits) and the val split (the rest) and
// written shard by shard (write.ts). A rerun after an interruption starts over cleanly: once the input is
// read, the old manifest goes first (so it never names a shard being replaced), then the shards it named and
// any temporary files.
import fs from 'fs';
import os from 'os';
import path from 'path';
import { MyptError } from '../../errors';
import { ioCause, writeFileAtomic } from '../../formats/atomic';
import { Manifest, MANIFEST, manifestText, metaPklBytes, readManifest, ShardEntry, TOKEN_FORMATS, TokenFormat } from '../../formats/tokens';
import { inputFiles } from './inputs';
import { GPT2_EOT, tokenizeAll } from './tokenize';

const MAX_WORKERS = 1024;
import { planShards, writeShard } from './write';

export interface PrepareOptions {
  /** a file, a folder, a pattern, or several of them */
  input: string | string[];
  out: string;
  tokenization?: 'gpt2' | 'char';
  format?: TokenFormat;
  val_fraction?: number;
  shard_tokens?: number;
  workers?: number;
  jsonl?: boolean;
  field?: string;
  onProgress?: (e: PrepareProgress) => void;
  log?: (line: string) => void;
  /** bytes per piece of a plain file [4 MiB] (tests make it small) */
  piece_bytes?: number;
}

export interface PrepareProgress {
  phase: 'tokenize' | 'write';
  done: number;
  total: number;
  tokens: number;
}

export interface PrepareResult {
  out: string;
  manifest: Manifest;
  seconds: number;
  /** input MB per second of the tokenize pass */
  mbPerSecond: number;
}

export const DEFAULT_SHARD_TOKENS = 100_000_000;
const STREAM = '.prepare-ids.tmp';

function bad(msg: string, hint?: string): never {
  throw new MyptError('E_BAD_ARGUMENT', msg, hint);
}

/** Removes what an earlier run left: manifest.json first, then the shards it named and temporary files. */
function clearOld(out: string): void {
  let old: Manifest | null = null;
  try { old = readManifest(out); } catch { /* an unreadable manifest is replaced all the same */ }
  const rm = (f: string) => { try { fs.unlinkSync(path.join(out, f)); } catch { /* absent */ } };
  rm(MANIFEST);
  for (const s of old?.shards ?? []) rm(s.file);
  if (old?.tokenizer.kind === 'char' && old.format === 'nanogpt') rm('meta.pkl');
  for (const f of fs.readdirSync(out)) if (/^\..*\.tmp-\d+-/.test(f)) rm(f);
}

export async function prepare(o: PrepareOptions): Promise<PrepareResult> {
  const t0 = performance.now();
  const tokenization = o.tokenization ?? 'gpt2';
  const format = o.format ?? 'mypt';
  const vf = o.val_fraction ?? 0.0005;
  const workers = o.workers ?? os.cpus().length;
  if (tokenization !== 'gpt2' && tokenization !== 'char') bad(`--tokenization ${tokenization}: expected gpt2 or char`);
  if (!TOKEN_FORMATS.includes(format)) bad(`--format ${format}: expected ${TOKEN_FORMATS.join(', ')}`);
  if (!(vf >= 0 && vf < 1)) bad(`--val_fraction ${vf}: must be in [0, 1)`);
  // the native tokenizer's limit (binding/napi/bpe_wrap.cc), checked before anything is printed or made
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) bad(`--workers ${workers}: must be a whole number from 1 to ${MAX_WORKERS}`);
  if (o.shard_tokens !== undefined && format === 'nanogpt') bad('--shard_tokens: the nanogpt format is one train.bin and one val.bin', 'leave --shard_tokens out, or use --format mypt|llmc');
  const shardTokens = o.shard_tokens ?? DEFAULT_SHARD_TOKENS;
  if (!Number.isInteger(shardTokens) || shardTokens < 1 || (format === 'llmc' && shardTokens > 0x7fffffff)) bad(`--shard_tokens ${shardTokens}: must be a whole number in [1, 2^31)`);
  const field = o.field ?? 'text';
  const inputs = Array.isArray(o.input) ? o.input : [o.input];
  if (!inputs.length) bad('name the text: --input FILE|DIR|PATTERN');
  const files = inputs.flatMap((i) => inputFiles(i));
  let totalBytes = 0;
  for (const f of files) {
    try { totalBytes += fs.statSync(f).size; } catch (e) { throw new MyptError('E_IO', `--input: cannot read ${f}: ${ioCause(e)}`); }
  }
  try {
    fs.mkdirSync(o.out, { recursive: true });
  } catch (e) {
    throw new MyptError('E_IO', `--out ${o.out}: cannot create the folder: ${ioCause(e)}`);
  }
  const stream = path.join(o.out, STREAM);
  const log = o.log ?? (() => {});
  log(`Tokenizing ${files.length} file${files.length === 1 ? '' : 's'} (${(totalBytes / 1e6).toFixed(1)} MB) with ${tokenization}${tokenization === 'gpt2' ? ` on ${workers} thread${workers === 1 ? '' : 's'}` : ''}`);
  try {
    const tk = await tokenizeAll({
      files, tokenization, jsonl: !!o.jsonl, field, workers, stream, pieceBytes: o.piece_bytes,
      onBytes: (done, tokens) => o.onProgress?.({ phase: 'tokenize', done, total: totalBytes, tokens }),
    });
    const tSec = (performance.now() - t0) / 1000;
    if (tk.tokens === 0) {
      throw new MyptError('E_BAD_FILE', `--input ${inputs.join(' ')}: no text (${files.length} file${files.length === 1 ? '' : 's'}, ${totalBytes} bytes)`);
    }
    clearOld(o.out); // only now: a run that fails reading its input leaves the previous output whole
    if (tk.stats.replaced > 0) log(`warning: ${tk.stats.replaced} invalid UTF-8 sequence${tk.stats.replaced === 1 ? '' : 's'} decoded as U+FFFD`);
    if (tk.stats.forcedCuts > 0) log(`warning: ${tk.stats.forcedCuts} line${tk.stats.forcedCuts === 1 ? '' : 's'} longer than 32 MB cut where no newline allowed: ids there may differ from tiktoken's`);
    const trainTokens = Math.floor(tk.tokens * (1 - vf));
    const plan = planShards(format, trainTokens, tk.tokens - trainTokens, shardTokens, path.basename(path.resolve(o.out)).replace(/[^A-Za-z0-9.-]/g, '_') || 'data');
    const fd = fs.openSync(stream, 'r');
    const shards: ShardEntry[] = [];
    let written = 0;
    try {
      for (const p of plan) {
        shards.push(await writeShard(o.out, fd, p, (n) => { written += n; o.onProgress?.({ phase: 'write', done: written, total: tk.tokens * 2, tokens: tk.tokens }); }));
      }
    } finally {
      fs.closeSync(fd);
    }
    if (format === 'nanogpt' && tk.chars) await writeFileAtomic(path.join(o.out, 'meta.pkl'), metaPklBytes(tk.chars));
    const manifest: Manifest = {
      mypt_tokens: 1, format, tokenizer: tk.chars ? { kind: 'char', chars: tk.chars } : { kind: 'gpt2' }, dtype: 'uint16',
      eot: tokenization === 'gpt2' ? GPT2_EOT : null, documents: tk.documents, input_files: files.length, input_bytes: totalBytes,
      replaced_utf8: tk.stats.replaced, val_fraction: vf, tokens: { train: trainTokens, val: tk.tokens - trainTokens }, shards,
    };
    await writeFileAtomic(path.join(o.out, MANIFEST), manifestText(manifest));
    return { out: o.out, manifest, seconds: (performance.now() - t0) / 1000, mbPerSecond: totalBytes / 1e6 / tSec };
  } finally {
    try { fs.unlinkSync(stream); } catch { /* gone */ }
  }
}
