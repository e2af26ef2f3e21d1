// What text generation needs of a tokenizer (TextCodec), and the tokenizers a MyPT bundle records
// (Tokenizer: the char and GPT-2 kinds, which write themselves back as tokenizer.json).
export type TokenKind = 'char' | 'gpt2';

export interface TokenizerJSON {
  token_kind: string;
  chars: string[] | null;
}

/** Text <-> ids: every tokenizer the package reads (MyPT's char and GPT-2, Hugging Face byte-level BPE). */
export interface TextCodec {
  /** Where it came from, for messages (a file, or "GPT-2 tokenizer"). */
  readonly source?: string;
  /** Ids are below this. */
  readonly vocabSize: number;
  /** The end-of-text / document token, where the vocabulary has one. */
  readonly eot?: number;
  encode(text: string): number[];
  decode(ids: number[]): string;
}

export interface Tokenizer extends TextCodec {
  readonly kind: TokenKind;
  toJSON(): TokenizerJSON;
}
