// Small Python-value helpers for the checkpoint files of sections 4 and 5.
import type { TokenizerJSON } from '../tokenizer/types';
import { field } from './layouts/common';
import { PyDict } from './torch';
import { PyFloat } from './torch';

/** A number written as a Python float even when integral (dropout 0.0, lr 1.0). */
export const pyF = (x: number): PyFloat => new PyFloat(x);

/** {"token_kind", "chars"} as a Python dict. */
export function tokenizerDict(t: TokenizerJSON): PyDict {
  const d = new PyDict<unknown>();
  d.set('token_kind', t.token_kind);
  d.set('chars', t.chars ? [...t.chars] : null);
  return d as PyDict;
}

/** A stored tokenizer record (dict or JSON object) -> TokenizerJSON, or null when absent/unusable. */
export function tokenizerFrom(v: unknown): TokenizerJSON | null {
  if (v === null || v === undefined) return null;
  const kind = field(v, 'token_kind');
  if (typeof kind !== 'string') return null;
  const chars = field(v, 'chars');
  return { token_kind: kind, chars: Array.isArray(chars) ? chars.map(String) : null };
}

/** A Python value as plain JSON-able JS (PyDict -> object, PyFloat -> number, tensors -> a shape note). */
export function plain(v: unknown): unknown {
  if (v instanceof PyFloat) return v.value;
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) o[String(k)] = plain(x);
    return o;
  }
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && 'shape' in v && 'dtype' in v) return `tensor ${(v as any).dtype}[${(v as any).shape}]`;
  return v;
}
