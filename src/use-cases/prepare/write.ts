// Pass 2 of `prepare`: the id stream cut into shards of one format, each written to a temporary name,
// hashed as it is written and renamed when whole (formats/atomic.ts: a full disk removes the partial file
// and names the shard), then meta.pkl for nanoGPT character vocabularies, then manifest.json, last.
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';
import { MyptError } from '../../errors';
import { writeFileAtomic } from '../../formats/atomic';
import { llmcHeader, LLMC_HEADER_BYTES, ShardEntry, SplitName, TokenFormat } from '../../formats/tokens';

export interface ShardPlan {
  file: string;
  split: SplitName;
  /** first id in the stream, and how many */
  start: number;
  tokens: number;
  header: boolean;
}

const pad6 = (i: number) => String(i).padStart(6, '0');

/** The shards of a stream whose first `trainTokens` ids train and the rest validate. */
export function planShards(format: TokenFormat, trainTokens: number, valTokens: number, shardTokens: number, prefix: string): ShardPlan[] {
  if (format === 'nanogpt') {
    return [
      { file: 'train.bin', split: 'train', start: 0, tokens: trainTokens, header: false },
      { file: 'val.bin', split: 'val', start: trainTokens, tokens: valTokens, header: false },
    ];
  }
  const out: ShardPlan[] = [];
  const cut = (split: SplitName, start: number, total: number, first: number) => {
    for (let s = 0, i = first; s < total; s += shardTokens, i++) {
      const file = format === 'llmc' ? `${prefix}_${split}_${pad6(i)}.bin` : `${split}_${pad6(i)}.bin`;
      out.push({ file, split, start: start + s, tokens: Math.min(shardTokens, total - s), header: format === 'llmc' });
    }
  };
  // llm.c's convention: the val shard is number 0, train shards follow
  if (format === 'llmc') { cut('val', trainTokens, valTokens, 0); cut('train', 0, trainTokens, 1); }
  else { cut('train', 0, trainTokens, 0); cut('val', trainTokens, valTokens, 0); }
  return out;
}

const BLOCK = 8 << 20;

/** Writes one shard from the stream; returns its manifest entry. */
export async function writeShard(dir: string, streamFd: number, p: ShardPlan, onBytes: (n: number) => void): Promise<ShardEntry> {
  const hash = crypto.createHash('sha256');
  const target = path.join(dir, p.file);
  const header = p.header ? llmcHeader(p.tokens) : undefined;
  await writeFileAtomic(target, function* (out) {
    const put = (b: Buffer) => {
      out.append(b);
      hash.update(b);
    };
    if (header) put(header);
    let done = 0;
    while (done < p.tokens) {
      const want = Math.min(BLOCK, (p.tokens - done) * 2);
      const buf = Buffer.allocUnsafe(want);   // a block of its own: it is written while the next one is read
      const got = fs.readSync(streamFd, buf, 0, want, (p.start + done) * 2);
      if (got !== want) throw new MyptError('E_IO', `the temporary id stream ended early (${got} of ${want} bytes)`);
      put(buf.subarray(0, got));
      done += got / 2;
      onBytes(got);
      yield;
    }
  });
  const headerBytes = header ? LLMC_HEADER_BYTES : 0;
  return { file: p.file, split: p.split, tokens: p.tokens, bytes: headerBytes + 2 * p.tokens, header_bytes: headerBytes, sha256: hash.digest('hex') };
}
