// `eval`: the loss and perplexity of a GPT checkpoint over a split of token shards (a `prepare` folder,
// nanoGPT's, llm.c's). Every shard of the split is cut into windows of block_size + 1 tokens that move by
// block_size (each token after a window's first is predicted once, none twice), batched, and the loss is
// the mean over all predicted tokens; perplexity is exp(loss). Nothing is written.
import { MyptError } from '../../errors';
import { GptModel } from '../../model';
import { TokenShards } from '../../data';
import { describeDataset, SplitName } from '../../formats/tokens';
import { loadModel } from '../open/open';
import { tokenizerOfDataset } from '../train/data-feed';

export interface EvalOptions {
  checkpoint: string;
  data: string;
  split?: SplitName;
  /** windows per forward pass [8] */
  batch_size?: number;
  /** tokens of context [the model's block_size] */
  block_size?: number;
  /** stop after this many batches [all of the split] */
  max_batches?: number;
  device?: 'auto' | 'cpu' | 'cuda';
  checkpoints_dir?: string;
  onProgress?: (windowsDone: number, windowsTotal: number) => void;
}

export interface EvalResult {
  checkpoint: string;
  data: string;
  format: string;
  split: SplitName;
  loss: number;
  perplexity: number;
  /** tokens predicted */
  tokens: number;
  windows: number;
  block_size: number;
  /** tokens of the split */
  split_tokens: number;
  seconds: number;
}

function bad(msg: string, hint?: string): never {
  throw new MyptError('E_BAD_ARGUMENT', msg, hint);
}

export async function evaluate(o: EvalOptions): Promise<EvalResult> {
  const t0 = performance.now();
  const split = o.split ?? 'val';
  if (split !== 'train' && split !== 'val') bad(`--split ${split}: expected train or val`);
  const B = o.batch_size ?? 8;
  if (!Number.isInteger(B) || B < 1) bad(`--batch_size ${B}: must be a whole number >= 1`);
  if (o.max_batches !== undefined && (!Number.isInteger(o.max_batches) || o.max_batches < 1)) bad(`--max_batches ${o.max_batches}: must be a whole number >= 1`);
  const info = describeDataset(o.data);
  const shards = new TokenShards(info.splits[split], `--data ${o.data} (${split})`);
  if (!shards.length) { shards.close(); throw new MyptError('E_BAD_FILE', `--data ${o.data}: no ${split} tokens`); }
  const model = await loadModel(o.checkpoint, { device: o.device ?? 'auto', checkpoints_dir: o.checkpoints_dir });
  try {
    if (!(model instanceof GptModel)) throw new MyptError('E_UNSUPPORTED', `--checkpoint ${o.checkpoint}: eval takes GPT checkpoints (this one is ${model.family})`);
    const T = o.block_size ?? model.config.block_size;
    if (!Number.isInteger(T) || T < 1 || T > model.config.block_size) bad(`--block_size ${T}: must be a whole number in [1, ${model.config.block_size}] (the model's context)`);
    const mine = model.tokenizer;
    const theirs = tokenizerOfDataset(info);
    if (mine && (mine.kind !== theirs.kind || (mine.kind === 'char' && JSON.stringify(mine.toJSON().chars) !== JSON.stringify(theirs.toJSON().chars)))) {
      throw new MyptError('E_TOKENIZER', `--data ${o.data} holds ${theirs.kind} tokens (vocabulary ${theirs.vocabSize}); --checkpoint ${o.checkpoint} reads ${mine.kind} tokens (vocabulary ${mine.vocabSize})`);
    }
    const starts: Array<[number, number]> = [];
    shards.shards.forEach((s, i) => { for (let off = 0; off + T + 1 <= s.count; off += T) starts.push([i, off]); });
    if (!starts.length) bad(`--data ${o.data}: no ${split} shard holds block_size + 1 = ${T + 1} tokens`, 'use a smaller --block_size');
    const total = Math.min(starts.length, (o.max_batches ?? Infinity) * B);
    let sum = 0;
    let done = 0;
    while (done < total) {
      const rows = Math.min(B, total - done);
      const x = new Int32Array(rows * T), y = new Int32Array(rows * T);
      for (let r = 0; r < rows; r++) {
        const [i, off] = starts[done + r];
        const w = shards.read(i, off, T + 1);
        x.set(w.subarray(0, T), r * T);
        y.set(w.subarray(1), r * T);
      }
      const loss = await model.loss({ data: x, shape: [rows, T] }, { data: y, shape: [rows, T] }).catch((e: unknown) => {
        // the engine's allocation for a batch failed: the flags that size it
        if (e instanceof MyptError && e.code === 'E_OUT_OF_MEMORY') throw new MyptError('E_OUT_OF_MEMORY', e.message, `lower --batch_size (now ${B}) or --block_size (now ${T})`);
        throw e;
      });
      sum += loss * rows; // the batch's mean over rows * T tokens
      done += rows;
      o.onProgress?.(done, total);
    }
    const loss = sum / done;
    return {
      checkpoint: o.checkpoint, data: o.data, format: info.format, split, loss, perplexity: Math.exp(loss), tokens: done * T, windows: done,
      block_size: T, split_tokens: shards.total, seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    model.dispose();
    shards.close();
  }
}
