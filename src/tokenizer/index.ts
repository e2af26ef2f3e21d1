// Tokenizers: MyPT's char kind and GPT-2 BPE, and the tokenizer.json record of either.
import { MyptError } from '../errors';
import { CharTokenizer } from './char';
import { Gpt2Tokenizer } from './gpt2';
import type { Tokenizer, TokenKind } from './types';

export { CharTokenizer, buildCharVocab } from './char';
export { Gpt2Tokenizer, GPT2_VOCAB, GPT2_PADDED_VOCAB } from './gpt2';
export type { Tokenizer, TokenKind, TokenizerJSON, TextCodec } from './types';
export { TextStreamDecoder } from './stream';

/** A tokenizer of `kind` built for `text` (char: the vocabulary of the text; gpt2: fixed). */
export function createTokenizer(kind: TokenKind, text?: string): Tokenizer {
  if (kind === 'gpt2') return new Gpt2Tokenizer();
  if (kind === 'char') {
    if (text === undefined) throw new MyptError('E_TOKENIZER', 'a char tokenizer is built from the training text; none was given');
    return CharTokenizer.fromText(text);
  }
  throw new MyptError('E_BAD_ARGUMENT', `unknown tokenization ${JSON.stringify(kind)} (expected char or gpt2)`);
}

/** Rebuilds a tokenizer from its tokenizer.json record (`source` names the file in errors). */
export function tokenizerFromJSON(state: unknown, source = 'tokenizer.json'): Tokenizer {
  if (!state || typeof state !== 'object') throw new MyptError('E_BAD_FILE', `${source}: not a JSON object`);
  const s = state as { token_kind?: unknown; chars?: unknown };
  if (s.token_kind === 'gpt2') return new Gpt2Tokenizer();
  if (s.token_kind === 'char') {
    if (!Array.isArray(s.chars)) throw new MyptError('E_BAD_FILE', `${source}: a char tokenizer without a "chars" list`);
    return new CharTokenizer(s.chars as string[]);
  }
  throw new MyptError('E_BAD_FILE', `${source}: unknown token_kind ${JSON.stringify(s.token_kind)} (expected char or gpt2)`);
}
