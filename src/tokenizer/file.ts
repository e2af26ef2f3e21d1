// A tokenizer given as a file (`generate --tokenizer PATH`, loadModdedModel's `tokenizer` option): MyPT's
// tokenizer.json record ({"token_kind": "gpt2" | "char", ...}) or a Hugging Face tokenizers file
// (byte-level BPE, or the WordLevel character vocabulary mypt-native exports). Without one, modded-nanogpt files use GPT-2's tokenizer (gpt2Codec).
import * as fs from 'fs';
import { MyptError, expectPath } from '../errors';
import { HfByteLevelBpe, TextCodec } from './hf-bpe';
import { HfWordLevel } from './hf-wordlevel';
import { GPT2_VOCAB, Gpt2Tokenizer, gpt2Encoding } from './gpt2';
import { tokenizerFromJSON } from '.';

export type { TextCodec } from './hf-bpe';

/** GPT-2's tokenizer as the speedrun scripts use it: `<|endoftext|>` in the text is the EOT token 50256
 *  (Gpt2Tokenizer, MyPT's, reads it as plain text). */
export function gpt2Codec(source = 'GPT-2 tokenizer'): TextCodec {
  const tok = new Gpt2Tokenizer();
  return {
    source,
    vocabSize: GPT2_VOCAB,
    eot: 50256,
    encode: (text) => gpt2Encoding().encode(text, 'all'),
    decode: (ids) => tok.decode(ids),
  };
}

/** Reads a tokenizer file; a one-line E_IO / E_TOKENIZER / E_BAD_FILE error names the file when it is not one. */
export function loadTokenizerFile(path: string): TextCodec {
  expectPath(path, 'loadTokenizerFile');
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new MyptError(code === 'ENOENT' ? 'E_IO' : 'E_TOKENIZER', `${path}: cannot read the tokenizer file (${code ?? (e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new MyptError('E_TOKENIZER', `${path}: not a JSON tokenizer file`, "give MyPT's tokenizer.json or a Hugging Face tokenizer.json");
  }
  const j = json as { token_kind?: unknown; model?: unknown };
  if (j && typeof j === 'object' && 'token_kind' in j) {
    const t = tokenizerFromJSON(json, path);
    if (t.kind === 'gpt2') return gpt2Codec(path);  // the same GPT-2 tokenizer as without a file
    return { source: path, vocabSize: t.vocabSize, encode: (s) => t.encode(s), decode: (ids) => t.decode(ids) };
  }
  if (j && typeof j === 'object' && 'model' in j) {
    const type = (j.model as { type?: unknown } | null)?.type;
    return type === 'WordLevel' ? new HfWordLevel(json, path) : new HfByteLevelBpe(json, path);
  }
  throw new MyptError('E_TOKENIZER', `${path}: neither MyPT's tokenizer.json (token_kind) nor a Hugging Face tokenizers file (model)`);
}
