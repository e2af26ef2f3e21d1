// The tokenizer interface shared by the char and GPT-2 kinds (contracts D).
export type TokenKind = 'char' | 'gpt2';

export interface TokenizerJSON {
  token_kind: string;
  chars: string[] | null;
}

export interface Tokenizer {
  readonly kind: TokenKind;
  readonly vocabSize: number;
  encode(text: string): number[];
  decode(ids: number[]): string;
  toJSON(): TokenizerJSON;
}
