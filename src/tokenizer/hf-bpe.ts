// Hugging Face `tokenizers` files (tokenizer.json) of the byte-level BPE kind: GPT-2's own, and what
// ByteLevelBPETokenizer or a BpeTrainer behind a ByteLevel pre-tokenizer write (custom vocabularies
// of modded-nanogpt forks are trained this way). Encoding goes through js-tiktoken's BPE:
//   ranks: byte b -> b; merge i (a, b) -> 256 + i for the token a+b (its first merge), so the lowest
//   rank wins exactly as the lowest merge index does; ids are mapped back through the vocab.
// Pre-tokenization: ByteLevel's GPT-2 pattern (use_regex), or a Split regex followed by ByteLevel
// without one; add_prefix_space honoured. Added tokens are matched in the text as themselves.
import { Tiktoken } from 'js-tiktoken/lite';
import { MyptError } from '../errors';

/** What text generation needs of a tokenizer file. */
export interface TextCodec {
  readonly source: string;    // the file, for messages
  readonly vocabSize: number; // ids are below this
  readonly eot?: number;      // the end-of-text / document token, where the file has one
  encode(text: string): number[];
  decode(ids: number[]): string;
}

const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** GPT-2's bytes_to_unicode, reversed: the character a vocab string uses for each byte -> the byte. */
function unicodeToByte(): Map<string, number> {
  const m = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    m.set(String.fromCodePoint(printable ? b : 256 + extra++), b);
  }
  return m;
}

type Json = Record<string, unknown>;

interface PreTokenizer {
  pattern: string;
  addPrefixSpace: boolean;
}

function preTokenizer(pt: Json | null, where: string): PreTokenizer {
  const bad = (what: string) =>
    new MyptError('E_TOKENIZER', `${where}: ${what}; only byte-level BPE files (GPT-2 style) are supported`);
  if (!pt) throw bad('no pre_tokenizer');
  if (pt.type === 'ByteLevel') {
    return { pattern: pt.use_regex === false ? '[\\s\\S]+' : GPT2_PATTERN, addPrefixSpace: pt.add_prefix_space === true };
  }
  if (pt.type === 'Sequence' && Array.isArray(pt.pretokenizers)) {
    const [split, bl, ...rest] = pt.pretokenizers as Json[];
    const regex = (split?.pattern as Json | undefined)?.Regex;
    if (rest.length || split?.type !== 'Split' || typeof regex !== 'string' || split.behavior !== 'Isolated' ||
        split.invert === true || bl?.type !== 'ByteLevel' || bl.use_regex === true) {
      throw bad('a pre_tokenizer Sequence other than [Split(Regex, Isolated), ByteLevel]');
    }
    try {
      new RegExp(regex, 'ug');
    } catch {
      throw bad(`its Split regex is not one JavaScript can run (${regex.slice(0, 40)}...)`);
    }
    return { pattern: regex, addPrefixSpace: bl.add_prefix_space === true };
  }
  throw bad(`pre_tokenizer ${String(pt.type)}`);
}

export class HfByteLevelBpe implements TextCodec {
  readonly source: string;
  readonly vocabSize: number;
  readonly eot?: number;
  private readonly enc: Tiktoken;
  private readonly rankToId: Int32Array;
  private readonly idBytes: (Uint8Array | undefined)[];
  private readonly addPrefixSpace: boolean;
  private readonly normalize?: 'NFC' | 'NFKC';

  /** Parses a tokenizer.json object; `source` names it in messages. */
  constructor(json: unknown, source: string) {
    this.source = source;
    const bad = (what: string) => new MyptError('E_TOKENIZER', `${source}: ${what}`);
    const j = json as Json;
    const model = j?.model as Json | undefined;
    if (!model || model.type !== 'BPE') {
      throw bad(`model type ${String(model?.type)} is not supported (byte-level BPE only)`);
    }
    if (model.continuing_subword_prefix || model.end_of_word_suffix) throw bad('BPE with word prefixes/suffixes is not byte-level');
    const norm = j.normalizer as Json | null;
    if (norm && norm.type !== 'NFC' && norm.type !== 'NFKC') throw bad(`normalizer ${String(norm.type)} is not supported`);
    if (norm) this.normalize = norm.type as 'NFC' | 'NFKC';
    const pre = preTokenizer(j.pre_tokenizer as Json | null, source);
    this.addPrefixSpace = pre.addPrefixSpace;
    const vocab = model.vocab as Record<string, number>;
    if (!vocab || typeof vocab !== 'object') throw bad('model.vocab is missing');
    const merges = (model.merges ?? []) as (string | [string, string])[];
    if (!Array.isArray(merges)) throw bad('model.merges is not a list');

    const u2b = unicodeToByte();
    const bytesOf = (s: string): Uint8Array | undefined => {
      const out: number[] = [];
      for (const ch of s) {
        const b = u2b.get(ch);
        if (b === undefined) return undefined;
        out.push(b);
      }
      return Uint8Array.from(out);
    };
    const key = (b: Uint8Array) => Buffer.from(b).toString('base64');

    let maxId = -1;
    for (const id of Object.values(vocab)) maxId = Math.max(maxId, id);
    const added = (Array.isArray(j.added_tokens) ? j.added_tokens : []) as { id: number; content: string; special?: boolean }[];
    for (const t of added) maxId = Math.max(maxId, t.id);
    this.vocabSize = maxId + 1;
    this.idBytes = new Array(this.vocabSize);
    for (const [s, id] of Object.entries(vocab)) this.idBytes[id] = bytesOf(s);
    const enc = new TextEncoder();
    for (const t of added) this.idBytes[t.id] = enc.encode(t.content);

    // ranks: the 256 bytes, then the merges in order (a token keeps its first merge's rank)
    const rankOf = new Map<string, number>();
    const rankToId: number[] = [];
    for (let b = 0; b < 256; b++) {
      const bytes = Uint8Array.of(b);
      const s = [...u2b.entries()].find(([, v]) => v === b)![0];
      rankOf.set(key(bytes), b);
      rankToId[b] = vocab[s] ?? -1;  // -1: the file has no token for this byte
    }
    merges.forEach((m, i) => {
      const [a, b] = typeof m === 'string' ? m.split(' ') : m;
      const tok = a + b;
      const bytes = bytesOf(tok);
      if (!bytes || vocab[tok] === undefined) throw bad(`merge ${i} (${a} ${b}) makes no vocab token`);
      const k = key(bytes);
      if (!rankOf.has(k)) {
        rankOf.set(k, 256 + i);
        rankToId[256 + i] = vocab[tok];
      }
    });
    // added tokens get ranks of their own after the merges (tiktoken returns them in the same list)
    const special: Record<string, number> = {};
    let next = 256 + merges.length;
    for (const t of added) {
      special[t.content] = next;
      rankToId[next++] = t.id;
    }
    const lines: string[] = [];
    for (const [k, r] of rankOf) lines.push(`! ${r} ${k}`);
    this.rankToId = Int32Array.from(rankToId, (x) => (x === undefined ? -1 : x));
    this.enc = new Tiktoken({ pat_str: pre.pattern, special_tokens: special, bpe_ranks: lines.join('\n') });
    const eot = added.find((t) => /^<\|?(endoftext|eot|eos)\|?>$|^<\/s>$/i.test(t.content)) ?? added.find((t) => t.special);
    if (eot) this.eot = eot.id;
  }

  encode(text: string): number[] {
    const n = this.normalize ? text.normalize(this.normalize) : text;
    const t = this.addPrefixSpace && n.length && !n.startsWith(' ') ? ' ' + n : n;
    const out: number[] = [];
    for (const r of this.enc.encode(t, 'all')) {
      const id = this.rankToId[r];
      if (id === undefined || id < 0) {
        throw new MyptError('E_TOKENIZER', `${this.source}: the text holds a byte the vocabulary has no token for`);
      }
      out.push(id);
    }
    return out;
  }

  decode(ids: number[]): string {
    const parts: Uint8Array[] = [];
    for (const id of ids) {
      const b = this.idBytes[id];
      if (b) parts.push(b);
    }
    return new TextDecoder('utf-8').decode(Buffer.concat(parts));
  }
}
