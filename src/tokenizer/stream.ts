// Turns a stream of token ids into text pieces as soon as they are whole characters: a GPT-2 token can end
// in the middle of a UTF-8 sequence, so ids are held back while their text ends in U+FFFD (at most 4 ids,
// the longest UTF-8 sequence), then decoded together.
import type { Tokenizer } from './types';

export class TextStreamDecoder {
  private pending: number[] = [];
  constructor(private readonly tokenizer: Tokenizer) {}

  /** The new text made whole by `id` ('' while a character is still incomplete). */
  push(id: number): string {
    if (this.tokenizer.kind === 'char') return this.tokenizer.decode([id]);
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
