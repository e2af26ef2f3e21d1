// Turns a stream of token ids into text pieces as soon as they are whole characters: a byte-level BPE token
// can end in the middle of a UTF-8 sequence, so ids are held back while their text ends in U+FFFD (at most
// 4 ids, the longest UTF-8 sequence), then decoded together. A char tokenizer's ids are whole characters.
import type { TextCodec } from './types';

export class TextStreamDecoder {
  private pending: number[] = [];
  private readonly whole: boolean;
  constructor(private readonly tokenizer: TextCodec & { kind?: string }) {
    this.whole = tokenizer.kind === 'char';
  }

  /** The new text made whole by `id` ('' while a character is still incomplete). */
  push(id: number): string {
    if (this.whole) return this.tokenizer.decode([id]);
    this.pending.push(id);
    const text = this.tokenizer.decode(this.pending);
    if (text.endsWith('\uFFFD') && this.pending.length < 4) return '';
    this.pending = [];
    return text;
  }

  /** Whatever is still held back (an incomplete character decodes as U+FFFD, as tiktoken's decode does). */
  flush(): string {
    if (this.pending.length === 0) return '';
    const text = this.tokenizer.decode(this.pending);
    this.pending = [];
    return text;
  }
}
