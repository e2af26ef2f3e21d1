// Token batches at the API boundary: number[][] or { data: Int32Array, shape: [B, T] }, checked once.
import { MyptError } from '../errors';

export type Tokens = number[][] | { data: Int32Array; shape: [number, number] };

export interface TokenBatch {
  data: Int32Array;
  B: number;
  T: number;
}

function bad(what: string, msg: string): never {
  throw new MyptError('E_BAD_ARGUMENT', `${what}: ${msg}`);
}

/** A [B, T] batch as one Int32Array; ids are range-checked by the engine against the vocabulary. */
export function toTokenBatch(t: Tokens, what: string, blockSize: number): TokenBatch {
  let out: TokenBatch;
  if (Array.isArray(t)) {
    const B = t.length;
    if (B === 0 || !Array.isArray(t[0])) bad(what, 'must be a non-empty number[][] or { data: Int32Array, shape: [B, T] }');
    const T = t[0].length;
    const data = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const row = t[b];
      if (!Array.isArray(row) || row.length !== T) bad(what, `row ${b} has ${Array.isArray(row) ? row.length : 'no'} tokens, row 0 has ${T}`);
      for (let i = 0; i < T; i++) {
        const v = row[i];
        if (!Number.isInteger(v) || Math.abs(v) >= 2 ** 31) bad(what, `[${b}][${i}] is ${JSON.stringify(v)}, not an integer token id`);
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
    bad(what, 'must be number[][] or { data: Int32Array, shape: [B, T] }');
  }
  if (out.B < 1 || out.T < 1) bad(what, `shape [${out.B}, ${out.T}] is empty`);
  if (out.T > blockSize) bad(what, `sequence length ${out.T} is longer than block_size ${blockSize}`);
  return out;
}

export function sameShape(a: TokenBatch, b: TokenBatch, what: string): void {
  if (a.B !== b.B || a.T !== b.T) bad(what, `shape [${b.B}, ${b.T}] differs from the tokens' [${a.B}, ${a.T}]`);
}
