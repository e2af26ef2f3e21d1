// Pass 1 of `prepare`: every piece of every input to one stream of uint16 ids in a temporary file.
// GPT-2: the native BPE encodes batches of pieces on `workers` threads while this thread reads the next
// batch; the end-of-text id goes between documents. char: nanoGPT's shakespeare_char, the vocabulary is
// sorted(set(text)) of all the text and the ids index it.
import fs from 'fs';
import { MyptError } from '../../errors';
import { ioCause } from '../../formats/atomic';
import { encodeBatchAsync } from '../../tokenizer/bpe-native';
import { buildCharVocab } from '../../tokenizer';
import { jsonlPieces, Piece, ReadStats, textPieces } from './inputs';

export const GPT2_EOT = 50256;

export interface TokenizeOptions {
  files: string[];
  tokenization: 'gpt2' | 'char';
  jsonl: boolean;
  field: string;
  workers: number;
  /** the temporary stream of ids */
  stream: string;
  onBytes: (bytesDone: number, tokens: number) => void;
  /** bytes per piece of a plain file (tests make it small to cut often) */
  pieceBytes?: number;
}

export interface Tokenized {
  tokens: number;
  documents: number;
  stats: ReadStats;
  chars?: string[];
}

const PIECE = 4 << 20;

function* allPieces(o: TokenizeOptions, stats: ReadStats): Generator<Piece> {
  const piece = o.pieceBytes ?? PIECE;
  for (const f of o.files) yield* (o.jsonl ? jsonlPieces(f, o.field, piece, stats) : textPieces(f, piece, stats));
}

class IdStream {
  readonly fd: number;
  tokens = 0;
  constructor(private readonly file: string) {
    try {
      this.fd = fs.openSync(file, 'w');
    } catch (e) {
      throw new MyptError('E_IO', `--out: cannot write ${file}: ${ioCause(e)}`);
    }
  }
  write(ids: Uint16Array): void {
    const b = Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength);
    try {
      let off = 0;
      while (off < b.length) off += fs.writeSync(this.fd, b, off, b.length - off);
    } catch (e) {
      throw new MyptError('E_IO', `--out: cannot write ${this.file}: ${ioCause(e)}`, 'no shard or manifest was written');
    }
    this.tokens += ids.length;
  }
  close(): void { fs.closeSync(this.fd); }
}

export async function tokenizeAll(o: TokenizeOptions): Promise<Tokenized> {
  const stats: ReadStats = { replaced: 0, forcedCuts: 0 };
  const out = new IdStream(o.stream);
  try {
    return o.tokenization === 'char' ? charIds(o, stats, out) : await gpt2Ids(o, stats, out);
  } finally {
    out.close();
  }
}

async function gpt2Ids(o: TokenizeOptions, stats: ReadStats, out: IdStream): Promise<Tokenized> {
  const it = allPieces(o, stats);
  const batchBytes = Math.max(1, o.workers) * 8 * (o.pieceBytes ?? PIECE);
  const nextBatch = (): Piece[] => {
    const batch: Piece[] = [];
    let bytes = 0;
    while (bytes < batchBytes) {
      const r = it.next();
      if (r.done) break;
      batch.push(r.value);
      bytes += r.value.bytes;
    }
    return batch;
  };
  let documents = 0;
  let bytesDone = 0;
  let batch = nextBatch();
  while (batch.length) {
    const encoding = encodeBatchAsync(batch.map((p) => p.data), { threads: o.workers });
    const next = nextBatch(); // read while the native threads encode
    const { ids, docOffsets } = await encoding;
    const starts = batch.filter((p, k) => p.docStart && (documents > 0 || k > 0)).length;
    const out16 = new Uint16Array(ids.length + starts);
    let n = 0;
    batch.forEach((p, k) => {
      if (p.docStart) { if (documents > 0) out16[n++] = GPT2_EOT; documents++; }
      const a = docOffsets[k], b = docOffsets[k + 1];
      out16.set(ids.subarray(a, b), n); // ids < 50257 fit uint16
      n += b - a;
      bytesDone += p.bytes;
    });
    out.write(out16);
    o.onBytes(bytesDone, out.tokens);
    batch = next;
  }
  return { tokens: out.tokens, documents, stats };
}

function charIds(o: TokenizeOptions, stats: ReadStats, out: IdStream): Tokenized {
  const parts: string[] = [];
  let documents = 0;
  let bytesDone = 0;
  const dec = new TextDecoder('utf-8', { ignoreBOM: true });
  for (const p of allPieces(o, stats)) {
    parts.push(typeof p.data === 'string' ? p.data : dec.decode(p.data));
    if (p.docStart) documents++;
    bytesDone += p.bytes;
    o.onBytes(bytesDone, 0);
  }
  const text = parts.join('');
  const chars = buildCharVocab(text);
  if (chars.length > 65536) {
    throw new MyptError('E_UNSUPPORTED', `--tokenization char: the text has ${chars.length} distinct characters; uint16 shards hold ids below 65536`, 'use --tokenization gpt2');
  }
  const index = new Map(chars.map((c, i) => [c, i]));
  const ids = new Uint16Array(text.length);
  let n = 0;
  for (const ch of text) ids[n++] = index.get(ch)!;
  out.write(ids.subarray(0, n));
  o.onBytes(bytesDone, out.tokens);
  return { tokens: out.tokens, documents, stats, chars };
}
