// GPT-2 BPE through js-tiktoken's `gpt2` ranks: the ids of tiktoken's encode_ordinary (special-token text is
// ordinary text), and a model vocabulary padded from 50257 to 50304 as MyPT and nanoGPT do.
import { Tiktoken } from 'js-tiktoken/lite';
import type { Tokenizer } from './types';

export const GPT2_VOCAB = 50257;
export const GPT2_PADDED_VOCAB = 50304;

let shared: Tiktoken | undefined;
/** The one GPT-2 BPE instance of the process (js-tiktoken's `gpt2` ranks, loaded on first use). */
export function gpt2Encoding(): Tiktoken {
  if (!shared) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const ranks = require('js-tiktoken/ranks/gpt2');
    shared = new Tiktoken(ranks.default ?? ranks);
  }
  return shared;
}

export class Gpt2Tokenizer implements Tokenizer {
  readonly kind = 'gpt2' as const;
  readonly vocabSize = GPT2_PADDED_VOCAB;

  encode(text: string): number[] {
    return gpt2Encoding().encode(text, [], []);
  }

  /** Ids of the padding rows (50257..50303) decode to nothing, as they stand for no text. */
  decode(ids: number[]): string {
    return gpt2Encoding().decode(ids.filter((id) => id >= 0 && id < GPT2_VOCAB));
  }

  toJSON(): { token_kind: string; chars: string[] | null } {
    return { token_kind: 'gpt2', chars: null };
  }
}
