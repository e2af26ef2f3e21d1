// Random training windows (x = data[i:i+T], y = data[i+1:i+T+1], i uniform in [0, len - T)) drawn from
// a counter-based generator: the batch of step s is a pure function of (seed, split, s), so a resumed run
// draws exactly the batches an uninterrupted run would have drawn.

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A small deterministic generator (sfc32) for one (seed, stream, counter) triple. */
export class CounterRng {
  private a: number; private b: number; private c: number; private d: number;
  constructor(seed: number, stream: number, counter: number) {
    const s = mix32((seed >>> 0) ^ mix32(Math.floor(seed / 2 ** 32) >>> 0));
    this.a = mix32(s ^ 0x9e3779b9);
    this.b = mix32(this.a ^ mix32(stream >>> 0));
    this.c = mix32(this.b ^ mix32(counter >>> 0));
    this.d = mix32(this.c ^ mix32(Math.floor(counter / 2 ** 32) >>> 0) ^ 1);
    for (let i = 0; i < 12; i++) this.next32();
  }
  next32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }
  /** Uniform integer in [0, n). */
  below(n: number): number {
    const u = (this.next32() * 2 ** 21 + (this.next32() >>> 11)) / 2 ** 53;
    return Math.min(n - 1, Math.floor(u * n));
  }
}

export interface Batch {
  tokens: { data: Int32Array; shape: [number, number] };
  targets: { data: Int32Array; shape: [number, number] };
}

export const STREAM_TRAIN = 1;
export const STREAM_EVAL_TRAIN = 2;
export const STREAM_EVAL_VAL = 3;
export const STREAM_DROPOUT = 4;

/** The dropout seed of training step `step`: a pure function of (seed, step), so a resumed run draws the
 *  same masks as an uninterrupted one. 53 bits, exact through the native binding's double. */
export function dropoutSeed(seed: number, step: number): number {
  const r = new CounterRng(seed, STREAM_DROPOUT, step);
  return r.next32() * 2 ** 21 + (r.next32() >>> 11);
}

export function sampleBatch(data: Int32Array, batchSize: number, blockSize: number, rng: CounterRng): Batch {
  const x = new Int32Array(batchSize * blockSize);
  const y = new Int32Array(batchSize * blockSize);
  const range = data.length - blockSize;
  for (let b = 0; b < batchSize; b++) {
    const i = rng.below(range);
    x.set(data.subarray(i, i + blockSize), b * blockSize);
    y.set(data.subarray(i + 1, i + blockSize + 1), b * blockSize);
  }
  return { tokens: { data: x, shape: [batchSize, blockSize] }, targets: { data: y, shape: [batchSize, blockSize] } };
}
