// MyPT's character tokenizer: the vocabulary is sorted(set(text)) by Unicode code point, ids are indices.
import { MyptError } from '../errors';
import type { Tokenizer } from './types';

/** The distinct characters (code points, not UTF-16 units) of `text`, in code-point order, as Python's sorted(set(text)). */
export function buildCharVocab(text: string): string[] {
  const seen = new Set<number>();
  for (const ch of text) seen.add(ch.codePointAt(0)!);
  return [...seen].sort((a, b) => a - b).map((cp) => String.fromCodePoint(cp));
}

export class CharTokenizer implements Tokenizer {
  readonly kind = 'char' as const;
  readonly chars: string[];
  private readonly stoi: Map<string, number>;

  constructor(chars: string[]) {
    if (!Array.isArray(chars) || chars.length === 0) {
      throw new MyptError('E_TOKENIZER', 'a char tokenizer needs a non-empty list of characters');
    }
    this.chars = chars.slice();
    this.stoi = new Map();
    chars.forEach((c, i) => {
      if (typeof c !== 'string' || [...c].length !== 1) {
        throw new MyptError('E_TOKENIZER', `char vocabulary entry ${i} is not a single character: ${JSON.stringify(c)}`);
      }
      if (!this.stoi.has(c)) this.stoi.set(c, i);
    });
  }

  static fromText(text: string): CharTokenizer {
    return new CharTokenizer(buildCharVocab(text));
  }

  get vocabSize(): number {
    return this.chars.length;
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (const ch of text) {
      const id = this.stoi.get(ch);
      if (id === undefined) {
        const cp = ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
        throw new MyptError(
          'E_TOKENIZER',
          `character ${JSON.stringify(ch)} (U+${cp}) is not in this model's character vocabulary of ${this.chars.length}`,
          'use only characters that appeared in the training text',
        );
      }
      ids.push(id);
    }
    return ids;
  }

  /** Encodes a whole corpus straight into an Int32Array (no intermediate JS array). */
  encodeToInt32(text: string): Int32Array {
    const out = new Int32Array(text.length); // upper bound: code points <= UTF-16 units
    let n = 0;
    for (const ch of text) {
      const id = this.stoi.get(ch);
      if (id === undefined) this.encode(ch); // throws the clear error
      out[n++] = id!;
    }
    return n === out.length ? out : out.slice(0, n);
  }

  decode(ids: number[]): string {
    let s = '';
    for (const id of ids) {
      const c = this.chars[id];
      if (c === undefined) {
        throw new MyptError('E_TOKENIZER', `token id ${id} is outside the character vocabulary of ${this.chars.length}`);
      }
      s += c;
    }
    return s;
  }

  toJSON(): { token_kind: string; chars: string[] | null } {
    return { token_kind: 'char', chars: this.chars.slice() };
  }
}
