// The tokenizer files of a Hugging Face model folder, for the two vocabularies mypt-native trains:
//   GPT-2 BPE: vocab.json and merges.txt exactly as GPT-2's own (byte-level spellings, ids = tiktoken ranks,
//     merges rebuilt from the ranks), tokenizer.json of the `tokenizers` library (ByteLevel pre-tokenizer,
//     BPE model, <|endoftext|> as the one added special token), tokenizer_config.json for GPT2Tokenizer(Fast).
//   A character vocabulary: tokenizer.json with a WordLevel model (each character its MyPT id) behind a
//     Split pre-tokenizer on `[\s\S]` (behavior Isolated: every Unicode character is its own piece) and a
//     Fuse decoder (the pieces joined with nothing between), no normalizer, no added tokens; the
//     tokenizer_config.json names PreTrainedTokenizerFast and turns clean_up_tokenization_spaces off, so
//     decode(encode(text)) is the text.
// Reading back: the character vocabulary of such a tokenizer.json (hfCharVocab).
import fs from 'fs';
import path from 'path';
import { MyptError } from '../../errors';
import { gpt2Files, GPT2_EOT, GPT2_EOT_TEXT } from '../../tokenizer/gpt2-vocab';
import type { TokenizerRecord } from '../types';

/** The Split pattern of the character tokenizer.json: one piece per Unicode code point. */
export const CHAR_SPLIT = '[\\s\\S]';

/** File name -> contents. */
export type FileSet = Record<string, string>;

const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

function gpt2TokenizerFiles(maxLength: number): FileSet {
  const { tokens, merges } = gpt2Files();
  const vocab: Record<string, number> = {};
  tokens.forEach((t, id) => { vocab[t] = id; });
  const eot = { id: GPT2_EOT, content: GPT2_EOT_TEXT, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true };
  const byteLevel = (addPrefixSpace: boolean, trimOffsets: boolean) => ({ type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: trimOffsets, use_regex: true });
  const tokenizer = {
    version: '1.0', truncation: null, padding: null, added_tokens: [eot], normalizer: null,
    pre_tokenizer: byteLevel(false, true),
    post_processor: byteLevel(true, false),
    decoder: byteLevel(true, true),
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, vocab, merges,
    },
  };
  return {
    'vocab.json': JSON.stringify(vocab) + '\n',
    'merges.txt': ['#version: 0.2', ...merges].join('\n') + '\n',
    'tokenizer.json': JSON.stringify(tokenizer) + '\n',
    'tokenizer_config.json': json({
      tokenizer_class: 'GPT2Tokenizer', model_max_length: maxLength, add_prefix_space: false, add_bos_token: false,
      bos_token: GPT2_EOT_TEXT, eos_token: GPT2_EOT_TEXT, unk_token: GPT2_EOT_TEXT, clean_up_tokenization_spaces: false,
    }),
    'special_tokens_map.json': json({ bos_token: GPT2_EOT_TEXT, eos_token: GPT2_EOT_TEXT, unk_token: GPT2_EOT_TEXT }),
  };
}

function charTokenizerFiles(chars: string[], maxLength: number): FileSet {
  const vocab: Record<string, number> = {};
  chars.forEach((c, id) => { if (!(c in vocab)) vocab[c] = id; });
  const tokenizer = {
    version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: { type: 'Split', pattern: { Regex: CHAR_SPLIT }, behavior: 'Isolated', invert: false },
    post_processor: null,
    decoder: { type: 'Fuse' },
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  };
  return {
    'tokenizer.json': JSON.stringify(tokenizer) + '\n',
    'tokenizer_config.json': json({ tokenizer_class: 'PreTrainedTokenizerFast', model_max_length: maxLength, clean_up_tokenization_spaces: false }),
  };
}

/** The tokenizer files of a model folder for MyPT's tokenizer record (`maxLength`: the context length). */
export function hfTokenizerFiles(tok: TokenizerRecord, maxLength: number): FileSet {
  if (tok.token_kind === 'gpt2') return gpt2TokenizerFiles(maxLength);
  if (!tok.chars?.length) throw new MyptError('E_TOKENIZER', 'a char tokenizer without characters cannot be written');
  return charTokenizerFiles(tok.chars, maxLength);
}

/**
 * The character vocabulary a tokenizer.json in `dir` holds, when it is the WordLevel / Split(`[\s\S]`) kind
 * written above with ids 0..n-1 each one character; undefined for anything else (BPE files, none).
 */
export function hfCharVocab(dir: string): TokenizerRecord | undefined {
  const p = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(p)) return undefined;
  let j: { model?: { type?: unknown; vocab?: unknown }; pre_tokenizer?: { type?: unknown; pattern?: { Regex?: unknown } } };
  try {
    j = JSON.parse(fs.readFileSync(p, 'utf8'));
  } catch (e) {
    throw new MyptError('E_BAD_FILE', `${p}: not valid JSON (${(e as Error).message.replace(/\s*\n\s*/g, ' ')})`);
  }
  if (j?.model?.type !== 'WordLevel' || j.pre_tokenizer?.type !== 'Split' || j.pre_tokenizer.pattern?.Regex !== CHAR_SPLIT) return undefined;
  const vocab = j.model.vocab as Record<string, unknown>;
  if (!vocab || typeof vocab !== 'object') return undefined;
  const chars: string[] = [];
  for (const [c, id] of Object.entries(vocab)) {
    if (!Number.isSafeInteger(id) || [...c].length !== 1 || chars[id as number] !== undefined) return undefined;
    chars[id as number] = c;
  }
  for (let i = 0; i < chars.length; i++) if (chars[i] === undefined) return undefined;
  return chars.length ? { token_kind: 'char', chars } : undefined;
}
