// Token shards on disk as training data: each shard memory-mapped (the engine reads only the windows it
// draws, so resident memory does not grow with the corpus), and the two ways of walking them:
//   random (nanoGPT): each step's windows are drawn by the engine from one shard, chosen for step s by
//     CounterRng(seed, STREAM_SHARD, s) with odds proportional to its tokens (one shard: nanoGPT exactly);
//   sequential (llm.c): B*T + 1 tokens at the position, which then moves B*T; a shard's tail shorter than
//     that is skipped; the shards are visited in an order shuffled per epoch by CounterRng(seed, STREAM_ORDER, epoch).
// Both are seeded and resumable: random is a pure function of (seed, step), sequential resumes from a
// saved SequentialPosition.
import fs from 'fs';
import { MyptError } from '../errors';
import { fromNative, loadAddon, NativeTokenMap } from '../native';
import { CounterRng } from './batches';

export const STREAM_SHARD = 5;
export const STREAM_ORDER = 6;

/** count uint16 tokens of `path` from byte `byteOffset` (formats/tokens ShardRef). */
export interface ShardFile {
  path: string;
  byteOffset: number;
  count: number;
}

export interface SequentialPosition {
  epoch: number;
  /** index into the epoch's shuffled order */
  index: number;
  /** token offset in that shard */
  offset: number;
}

export class TokenShards {
  private readonly maps: (NativeTokenMap | undefined)[];
  private readonly fds: (number | undefined)[];
  readonly total: number;

  constructor(readonly shards: ShardFile[], readonly what: string) {
    this.shards = shards.filter((s) => s.count > 0);
    this.maps = this.shards.map(() => undefined);
    this.fds = this.shards.map(() => undefined);
    this.total = this.shards.reduce((a, s) => a + s.count, 0);
  }

  get length(): number { return this.shards.length; }

  /** Shard i mapped read-only (once). */
  map(i: number): NativeTokenMap {
    let m = this.maps[i];
    if (!m) {
      const s = this.shards[i];
      try {
        m = loadAddon().mapTokens(s.path, s.byteOffset, s.count, 'uint16');
      } catch (e) {
        throw fromNative(e);
      }
      this.maps[i] = m;
    }
    return m;
  }

  /** The shard whose windows train step `step` (random sampling). */
  pick(seed: number, step: number): number {
    if (this.shards.length === 1) return 0;
    let r = new CounterRng(seed, STREAM_SHARD, step).below(this.total);
    for (let i = 0; i < this.shards.length; i++) {
      if (r < this.shards[i].count) return i;
      r -= this.shards[i].count;
    }
    return this.shards.length - 1;
  }

  /** Tokens [start, start + n) of shard i, read from the file (sequential batches, eval). */
  read(i: number, start: number, n: number): Int32Array {
    const s = this.shards[i];
    if (start < 0 || start + n > s.count) throw new MyptError('E_BAD_ARGUMENT', `${s.path}: tokens [${start}, ${start + n}) outside its ${s.count}`);
    let fd = this.fds[i];
    try {
      if (fd === undefined) fd = this.fds[i] = fs.openSync(s.path, 'r');
      const b = Buffer.alloc(n * 2);
      const got = fs.readSync(fd, b, 0, b.length, s.byteOffset + start * 2);
      if (got !== b.length) throw new Error(`read ${got} of ${b.length} bytes`);
      return Int32Array.from(new Uint16Array(b.buffer, b.byteOffset, n));
    } catch (e) {
      throw new MyptError('E_IO', `${this.what}: cannot read ${s.path}: ${(e as Error).message}`);
    }
  }

  /** The order of the shards in `epoch` (a seeded Fisher-Yates shuffle). */
  order(seed: number, epoch: number): number[] {
    const o = this.shards.map((_, i) => i);
    const rng = new CounterRng(seed, STREAM_ORDER, epoch);
    for (let i = o.length - 1; i > 0; i--) {
      const j = rng.below(i + 1);
      [o[i], o[j]] = [o[j], o[i]];
    }
    return o;
  }

  /** The next `rows` windows of T + 1 tokens from `pos` (sequential sampling): x, y [rows, T], and the position after. */
  nextSequential(seed: number, pos: SequentialPosition, rows: number, T: number): { x: Int32Array; y: Int32Array; pos: SequentialPosition } {
    const need = rows * T + 1;
    if (!this.shards.some((s) => s.count >= need)) {
      throw new MyptError('E_BAD_ARGUMENT', `${this.what}: no shard holds batch_size x block_size + 1 = ${need} tokens for --sampling sequential`, 'use a smaller --batch_size or --block_size, or --sampling random');
    }
    let { epoch, index, offset } = pos;
    for (;;) {
      const order = this.order(seed, epoch);
      if (index >= order.length) { epoch++; index = 0; offset = 0; continue; }
      const shard = order[index];
      if (offset + need > this.shards[shard].count) { index++; offset = 0; continue; }
      const w = this.read(shard, offset, need);
      const x = new Int32Array(rows * T), y = new Int32Array(rows * T);
      for (let r = 0; r < rows; r++) {
        x.set(w.subarray(r * T, r * T + T), r * T);
        y.set(w.subarray(r * T + 1, r * T + T + 1), r * T);
      }
      return { x, y, pos: { epoch, index, offset: offset + rows * T } };
    }
  }

  /** Drops the pages read so far from the resident set (the kernel maps large folios around each window:
   *  without this a long run's RSS grows toward the size of the shards). */
  release(): void {
    for (const m of this.maps) m?.release();
  }

  close(): void {
    for (const m of this.maps) m?.close();
    for (const fd of this.fds) if (fd !== undefined) try { fs.closeSync(fd); } catch { /* closed */ }
    this.maps.fill(undefined);
    this.fds.fill(undefined);
  }
}
