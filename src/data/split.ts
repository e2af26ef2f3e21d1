// MyPT's train/val split: the first 90% of the token stream trains, the rest validates
// (n = int(0.9 * len(data))).
import { MyptError } from '../errors';

export interface TokenSplits {
  train: Int32Array;
  val: Int32Array;
}

export function splitTokens(tokens: Int32Array, trainFraction = 0.9): TokenSplits {
  const n = Math.floor(trainFraction * tokens.length);
  return { train: tokens.subarray(0, n), val: tokens.subarray(n) };
}

/** Batches are windows of block_size + 1 tokens, so each split needs more than block_size tokens. */
export function checkSplitsFit(splits: TokenSplits, blockSize: number, source: string): void {
  for (const name of ['train', 'val'] as const) {
    if (splits[name].length <= blockSize) {
      throw new MyptError(
        'E_BAD_ARGUMENT',
        `${source}: the ${name} split has ${splits[name].length} tokens, fewer than block_size + 1 = ${blockSize + 1}`,
        'use a longer text or a smaller --block_size',
      );
    }
  }
}
