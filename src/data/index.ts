// Training data: read the corpus, tokenize it into an Int32Array, split 90/10.
import type { Tokenizer } from '../tokenizer';
import { CharTokenizer } from '../tokenizer';
import { splitTokens, TokenSplits } from './split';

export { readTextFile, universalNewlines, DEFAULT_CORPUS } from './text';
export { splitTokens, checkSplitsFit } from './split';
export type { TokenSplits } from './split';

export function encodeCorpus(tokenizer: Tokenizer, text: string): Int32Array {
  if (tokenizer instanceof CharTokenizer) return tokenizer.encodeToInt32(text);
  return Int32Array.from(tokenizer.encode(text));
}

export function tokenizeAndSplit(tokenizer: Tokenizer, text: string): TokenSplits & { total: number } {
  const all = encodeCorpus(tokenizer, text);
  return { ...splitTokens(all), total: all.length };
}
export { TokenShards } from './shards';
export type { ShardFile, SequentialPosition } from './shards';
