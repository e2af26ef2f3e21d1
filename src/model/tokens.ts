// Token batches at the API boundary (model/types.ts Tokens), checked once: one sequence (number[] or
// Int32Array) is a batch of one.
import { MyptError } from '../errors';

import type { Tokens } from './types';

export type { Tokens } from './types';

export interface TokenBatch {
  data: Int32Array;
  B: number;
  T: number;
}

/** A token id the engine can take: an integer in [0, 2^31) (Int32Array.from would wrap 2^32 + 3 into 3). */
const isId = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0 && (v as number) < 2 ** 31;

function bad(what: string, msg: string): never {
  throw new MyptError('E_BAD_ARGUMENT', `${what}: ${msg}`);
}

/** A [B, T] batch as one Int32Array; ids are range-checked by the engine against the vocabulary. */
export function toTokenBatch(t: Tokens, what: string, blockSize: number | null): TokenBatch {
  let out: TokenBatch;
  if (t instanceof Int32Array) {
    out = { data: t, B: 1, T: t.length };
  } else if (Array.isArray(t) && (t.length === 0 || !Array.isArray(t[0]))) {
    const row = t as number[];
    const data = new Int32Array(row.length);
    row.forEach((v, i) => {
      if (!isId(v)) bad(what, `token id ${String(v)} at position ${i} is not a non-negative integer id`);
      data[i] = v;
    });
    out = { data, B: 1, T: row.length };
  } else if (Array.isArray(t)) {
    const rows = t as number[][];
    const B = rows.length;
    const T = rows[0].length;
    const data = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const row = rows[b];
      if (!Array.isArray(row) || row.length !== T) bad(what, `row ${b} has ${Array.isArray(row) ? row.length : 'no'} tokens, row 0 has ${T}`);
      for (let i = 0; i < T; i++) {
        const v = row[i];
        if (!isId(v)) bad(what, `token id ${String(v)} at [${b}][${i}] is not a non-negative integer id`);
        data[b * T + i] = v;
      }
    }
    out = { data, B, T };
  } else if (t && t.data instanceof Int32Array && Array.isArray(t.shape) && t.shape.length === 2) {
    const [B, T] = t.shape;
    if (!Number.isInteger(B) || !Number.isInteger(T) || B * T !== t.data.length)
      bad(what, `shape [${t.shape}] does not match ${t.data.length} values`);
    out = { data: t.data, B, T };
  } else {
    bad(what, 'must be token ids: number[], Int32Array, number[][] or { data: Int32Array, shape: [B, T] }');
  }
  if (out.B < 1 || out.T < 1) bad(what, `shape [${out.B}, ${out.T}] is empty`);
  if (blockSize !== null && out.T > blockSize) bad(what, `sequence length ${out.T} is longer than block_size ${blockSize}`);
  return out;
}

export function sameShape(a: TokenBatch, b: TokenBatch, what: string): void {
  if (a.B !== b.B || a.T !== b.T) bad(what, `shape [${b.B}, ${b.T}] differs from the tokens' [${a.B}, ${a.T}]`);
}
