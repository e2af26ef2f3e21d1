// GPT-2 BPE in the native addon (binding/text/bpe.h): tiktoken's encode_ordinary ids, several times faster
// than js-tiktoken on one core and spread over all cores for corpora. The ranks are js-tiktoken's `gpt2`
// file, loaded once per process.
//
// The addon's surface is typed in src/native (NativeBpe).
import { MyptError } from '../errors';
import { fromNative, loadAddon, NativeBpe } from '../native';

export type BpePattern = 'gpt2' | 'gpt2-js';

/** A tiktoken rank file as js-tiktoken ships it: lines of `NAME FIRST_ID BASE64 BASE64 ...` (ids FIRST_ID, +1, ...). */
export interface TiktokenRanks {
  bpe_ranks: string;
  special_tokens: Record<string, number>;
}

/** The vocabulary of a js-tiktoken rank file as the native Bpe takes it: token i = bytes[offsets[i], offsets[i+1]). */
export function ranksTable(ranks: TiktokenRanks): { bytes: Uint8Array; offsets: Uint32Array; special: number[] } {
  const tokens: Buffer[] = [];
  for (const line of ranks.bpe_ranks.split('\n')) {
    if (!line) continue;
    const [, first, ...words] = line.split(' ');
    const base = Number.parseInt(first, 10);
    words.forEach((w, i) => { tokens[base + i] = Buffer.from(w, 'base64'); });
  }
  const special: number[] = [];
  for (const [text, id] of Object.entries(ranks.special_tokens)) {
    tokens[id] = Buffer.from(text, 'utf8');
    special.push(id);
  }
  const offsets = new Uint32Array(tokens.length + 1);
  let size = 0;
  for (let i = 0; i < tokens.length; i++) {
    size += tokens[i]?.length ?? 0; // a gap is an empty entry: an id no token has
    offsets[i + 1] = size;
  }
  const bytes = new Uint8Array(size);
  for (let i = 0; i < tokens.length; i++) if (tokens[i]) bytes.set(tokens[i], offsets[i]);
  return { bytes, offsets, special };
}

const instances = new Map<BpePattern, NativeBpe>();

/**
 * The process's native GPT-2 BPE (built on first use, ~0.1 s). 'gpt2' (default): tiktoken's ids;
 * 'gpt2-js': js-tiktoken's ids (they differ only where U+0085 or U+FEFF meets other text).
 */
export function gpt2Bpe(pattern: BpePattern = 'gpt2'): NativeBpe {
  let bpe = instances.get(pattern);
  if (!bpe) {
    const { Bpe } = loadAddon();
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const ranks = require('js-tiktoken/ranks/gpt2');
    const table = ranksTable((ranks.default ?? ranks) as TiktokenRanks);
    try {
      bpe = new Bpe(table.bytes, table.offsets, pattern, { special: table.special });
    } catch (e) {
      throw fromNative(e);
    }
    instances.set(pattern, bpe);
  }
  return bpe;
}

/** tiktoken's encode_ordinary(text) for GPT-2, on this thread (prompts, short texts). */
export function encode(text: string | Uint8Array, pattern: BpePattern = 'gpt2'): Uint32Array {
  try {
    return gpt2Bpe(pattern).encode(text);
  } catch (e) {
    throw fromNative(e);
  }
}

/** The same ids, computed off the main thread on `threads` threads (0 or absent: all cores). */
export async function encodeAsync(text: string | Uint8Array, threads?: number, pattern: BpePattern = 'gpt2'): Promise<Uint32Array> {
  try {
    return await gpt2Bpe(pattern).encodeAsync(text, threads);
  } catch (e) {
    throw fromNative(e);
  }
}

/** Many documents at once: their ids concatenated, document d's at ids[docOffsets[d], docOffsets[d+1]). */
export async function encodeBatchAsync(docs: (string | Uint8Array)[], opts: { threads?: number } = {},
  pattern: BpePattern = 'gpt2'): Promise<{ ids: Uint32Array; docOffsets: Float64Array }> {
  try {
    return await gpt2Bpe(pattern).encodeBatchAsync(docs, opts);
  } catch (e) {
    throw fromNative(e);
  }
}

/** The bytes of the ids (<|endoftext|> included); E_BAD_ARGUMENT for an id outside 0..50256. */
export function decodeBytes(ids: Uint32Array | Int32Array | number[]): Uint8Array {
  try {
    return gpt2Bpe().decode(ids);
  } catch (e) {
    throw fromNative(e);
  }
}

// ignoreBOM: a leading U+FEFF is text like any other (js-tiktoken's decoder drops it)
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
/** The text of the ids (bytes that are not UTF-8 on their own become U+FFFD, as in js-tiktoken). */
export function decode(ids: Uint32Array | Int32Array | number[]): string {
  return utf8.decode(decodeBytes(ids));
}
