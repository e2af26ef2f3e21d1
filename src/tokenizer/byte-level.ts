// GPT-2's byte-level alphabet (bytes_to_unicode): every byte is written as one printable character, so a
// token of any bytes is a plain string. Hugging Face's vocab.json / tokenizer.json and llama.cpp's GGUF
// `tokenizer.ggml.tokens` of the `gpt2` kind all spell tokens this way.

let table: string[] | undefined;
let reverse: Map<string, number> | undefined;

/** The character each byte is written as: printable Latin-1 bytes as themselves, the rest from U+0100 on. */
export function byteChars(): string[] {
  if (!table) {
    const out: string[] = [];
    let extra = 0;
    for (let b = 0; b < 256; b++) {
      const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      out.push(String.fromCodePoint(printable ? b : 256 + extra++));
    }
    table = out;
  }
  return table;
}

function charBytes(): Map<string, number> {
  if (!reverse) reverse = new Map(byteChars().map((c, b) => [c, b]));
  return reverse;
}

/** Bytes -> their byte-level spelling. */
export function bytesToByteLevel(bytes: Uint8Array): string {
  const t = byteChars();
  let s = '';
  for (const b of bytes) s += t[b];
  return s;
}

/** Text -> the byte-level spelling of its UTF-8. */
export function textToByteLevel(text: string): string {
  return bytesToByteLevel(Buffer.from(text, 'utf8'));
}

/** A byte-level spelling -> its bytes; undefined when a character is outside the alphabet. */
export function byteLevelToBytes(s: string): Uint8Array | undefined {
  const map = charBytes();
  const out: number[] = [];
  for (const ch of s) {
    const b = map.get(ch);
    if (b === undefined) return undefined;
    out.push(b);
  }
  return Uint8Array.from(out);
}
