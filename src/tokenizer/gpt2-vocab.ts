// GPT-2's vocabulary as the files of other tools spell it: the 50,257 tokens by id in the byte-level
// alphabet (Hugging Face's vocab.json, llama.cpp's tokenizer.ggml.tokens) and the 50,000 merges (merges.txt,
// tokenizer.json, tokenizer.ggml.merges), rebuilt from the rank table js-tiktoken ships.
//
// Merges from ranks (the standard reconstruction): a token of rank r is the merge of the two parts that BPE
// reaches on its bytes using only the merges of rank < r. Ordered by the rank of their result, merge i makes
// token 256 + i, as in GPT-2's own merges.txt. Every merge is checked: two parts, each a token of lower rank,
// whose concatenation is the token.
import { MyptError } from '../errors';
import { bytesToByteLevel } from './byte-level';
import { GPT2_VOCAB } from './gpt2';

export const GPT2_EOT = 50256;
export const GPT2_EOT_TEXT = '<|endoftext|>';

interface Gpt2Files {
  /** Token id -> byte-level spelling (id 50256 is `<|endoftext|>`). */
  tokens: string[];
  /** "left right" in byte-level spelling, by rank. */
  merges: string[];
}

let cached: Gpt2Files | undefined;

/** The rank table of js-tiktoken's `gpt2` ranks file: token bytes by rank (id). */
function rankedBytes(): Uint8Array[] {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const ranks = require('js-tiktoken/ranks/gpt2');
  const data = (ranks.default ?? ranks) as { bpe_ranks: string };
  const out: Uint8Array[] = [];
  for (const line of data.bpe_ranks.split('\n')) {
    if (!line) continue;
    const [, offsetStr, ...tokens] = line.split(' ');
    const offset = Number.parseInt(offsetStr, 10);
    tokens.forEach((b64, i) => { out[offset + i] = Buffer.from(b64, 'base64'); });
  }
  return out;
}

const key = (b: Uint8Array) => Buffer.from(b).toString('latin1');

/** The two parts BPE makes of `token` with the merges of rank below `maxRank`. */
function splitOf(token: Uint8Array, rank: Map<string, number>, maxRank: number): Uint8Array[] {
  let parts: Uint8Array[] = [...token].map((b) => Uint8Array.of(b));
  for (;;) {
    let best = -1, bestRank = Infinity;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = rank.get(key(Buffer.concat([parts[i], parts[i + 1]])));
      if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
    }
    if (best < 0 || bestRank >= maxRank) return parts;
    parts = [...parts.slice(0, best), Buffer.concat([parts[best], parts[best + 1]]), ...parts.slice(best + 2)];
  }
}

/** GPT-2's tokens and merges (built once per process, about a second). */
export function gpt2Files(): Gpt2Files {
  if (cached) return cached;
  const byRank = rankedBytes();
  if (byRank.length !== GPT2_EOT) throw new MyptError('E_TOKENIZER', `js-tiktoken's gpt2 ranks hold ${byRank.length} tokens, expected ${GPT2_EOT}`);
  const rank = new Map(byRank.map((b, i) => [key(b), i]));
  const tokens = byRank.map(bytesToByteLevel);
  tokens.push(GPT2_EOT_TEXT);
  const merges: string[] = [];
  for (let r = 0; r < byRank.length; r++) {
    const t = byRank[r];
    if (t.length < 2) continue;
    const parts = splitOf(t, rank, r);
    const [a, b] = parts;
    if (parts.length !== 2 || rank.get(key(a))! >= r || rank.get(key(b))! >= r) {
      throw new MyptError('E_TOKENIZER', `GPT-2 rank ${r}: no two-part split of lower-ranked tokens (got ${parts.length} parts)`);
    }
    merges.push(`${bytesToByteLevel(a)} ${bytesToByteLevel(b)}`);
  }
  if (tokens.length !== GPT2_VOCAB) throw new MyptError('E_TOKENIZER', `GPT-2 vocabulary of ${tokens.length} tokens, expected ${GPT2_VOCAB}`);
  cached = { tokens, merges };
  return cached;
}
