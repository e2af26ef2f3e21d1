// `train --data DIR`: training from token shards instead of a text file. The folder is described by
// formats/tokens (ours, nanoGPT's, llm.c's), its shards memory-mapped by data/shards.ts; the engine draws
// random windows from the mapped train shard of each step (nanoGPT), or this feed hands it llm.c's
// sequential batches. The position is saved in training_state.json (training_config.data) and restored on
// resume; random sampling is a pure function of (seed, step) and needs none.
import path from 'path';
import { MyptError } from '../../errors';
import { SequentialPosition, TokenShards } from '../../data';
import { dropoutSeed } from '../../data/batches';
import type { GptModel } from '../../model';
import { CharTokenizer, createTokenizer, Tokenizer } from '../../tokenizer';
import { describeDataset, DatasetInfo } from '../../formats/tokens';
import type { AdamWOptions } from '../../model';

export type Sampling = 'random' | 'sequential';

/** What training_config.data records. */
export interface DataState {
  dir: string;
  format: string;
  sampling: Sampling;
  position?: SequentialPosition;
}

export function tokenizerOfDataset(d: DatasetInfo): Tokenizer {
  return d.tokenizer.kind === 'char' ? new CharTokenizer(d.tokenizer.chars) : createTokenizer('gpt2');
}

export class DataFeed {
  readonly info: DatasetInfo;
  readonly tokenizer: Tokenizer;
  readonly train: TokenShards;
  readonly val: TokenShards;
  private position: SequentialPosition = { epoch: 0, index: 0, offset: 0 };
  private current = -1;

  constructor(readonly dir: string, readonly sampling: Sampling, private readonly seed: number) {
    this.info = describeDataset(dir);
    this.tokenizer = tokenizerOfDataset(this.info);
    this.train = new TokenShards(this.info.splits.train, `--data ${dir} (train)`);
    this.val = new TokenShards(this.info.splits.val, `--data ${dir} (val)`);
    if (!this.train.length) throw new MyptError('E_BAD_FILE', `--data ${dir}: no train tokens`);
    if (!this.val.length) throw new MyptError('E_BAD_FILE', `--data ${dir}: no val tokens to evaluate on`, 'prepare it with --val_fraction above 0');
  }

  /** Every shard random sampling may pick holds a window; the val shard too. */
  check(blockSize: number): void {
    const short = this.train.shards.find((s) => s.count <= blockSize);
    if (short) throw new MyptError('E_BAD_ARGUMENT', `--data ${this.dir}: ${path.basename(short.path)} holds ${short.count} tokens, fewer than block_size + 1 = ${blockSize + 1}`, 'use a smaller --block_size or larger shards');
    if (this.val.shards[0].count <= blockSize) throw new MyptError('E_BAD_ARGUMENT', `--data ${this.dir}: the val shard holds ${this.val.shards[0].count} tokens, fewer than block_size + 1 = ${blockSize + 1}`, 'use a smaller --block_size or a larger --val_fraction');
  }

  /** The model's native data: the first val shard, and a train shard (the one of step `step`). */
  attach(model: GptModel, step: number): void {
    model.setData('val', this.val.map(0));
    this.current = -1;
    this.select(model, step);
  }

  /** Random sampling: the train shard of step `step` (no-op with one shard). */
  select(model: GptModel, step: number): void {
    this.train.release();
    this.val.release();
    const i = this.sampling === 'random' ? this.train.pick(this.seed, step) : this.shardAt(this.position);
    if (i !== this.current) { model.setData('train', this.train.map(i)); this.current = i; }
  }

  private shardAt(p: SequentialPosition): number {
    const order = this.train.order(this.seed, p.epoch);
    return order[Math.min(p.index, order.length - 1)];
  }

  /** One optimizer step on llm.c's next batches: dropout seeded as trainBatch seeds it, grad_accum micro-batches, AdamW. */
  async trainSequential(model: GptModel, step: number, B: number, T: number, gradAccum: number, adam: AdamWOptions & { lr: number }): Promise<number> {
    model.setSeed(dropoutSeed(this.seed, step));
    let total = 0;
    for (let m = 0; m < gradAccum; m++) {
      const b = this.train.nextSequential(this.seed, this.position, B, T);
      total += await model.forwardBackward({ data: b.x, shape: [B, T] }, { data: b.y, shape: [B, T] }, { train: true, lossScale: 1 / gradAccum, accumulate: m > 0 });
      this.position = b.pos;
    }
    await model.optimizerStep(adam);
    return total / gradAccum;
  }

  state(): DataState {
    return { dir: path.resolve(this.dir), format: this.info.format, sampling: this.sampling, ...(this.sampling === 'sequential' ? { position: { ...this.position } } : {}) };
  }

  /** The position a resumed bundle recorded (sequential sampling); a note when the data or sampling changed. */
  restore(saved: unknown, log: (line: string) => void): void {
    if (!saved || typeof saved !== 'object') {
      if (this.sampling === 'sequential') log('Note: the bundle records no --data position; sequential batches start at the beginning.');
      return;
    }
    const s = saved as Partial<DataState>;
    if (s.dir && s.dir !== path.resolve(this.dir)) log(`Note: the bundle was trained on --data ${s.dir}; continuing on ${path.resolve(this.dir)}.`);
    if (this.sampling !== 'sequential') return;
    const p = s.position;
    const ok = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
    if (s.sampling === 'sequential' && p && ok(p.epoch) && ok(p.index) && ok(p.offset)) {
      this.position = { epoch: p.epoch, index: p.index, offset: p.offset };
      log(`Resuming sequential batches at epoch ${p.epoch}, shard ${p.index + 1} of ${this.train.length}, token ${p.offset.toLocaleString('en-US')}.`);
    } else {
      log('Note: the bundle records no sequential position; sequential batches start at the beginning.');
    }
  }

  close(): void {
    this.train.close();
    this.val.close();
  }
}
