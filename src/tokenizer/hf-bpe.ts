// Hugging Face `tokenizers` files (tokenizer.json) of the byte-level BPE kind: GPT-2's own, and what
// ByteLevelBPETokenizer or a BpeTrainer behind a ByteLevel pre-tokenizer write (custom vocabularies
// of modded-nanogpt forks are trained this way). The library's semantics, which no JavaScript package
// reproduces (js-tiktoken keys merges by the merged bytes and drops text its pattern does not match):
//   1. the text is normalised (NFC / NFKC when the file says so) and split at added tokens, longest
//      first; each added token is its own id
//   2. each other segment gets a leading space if add_prefix_space and it has none, then is split into
//      pieces: the pattern's matches and the stretches between them (Split "Isolated"); ByteLevel's own
//      pattern is GPT-2's
//   3. each piece, as bytes written with GPT-2's byte-to-character table, is merged pair by pair: the
//      adjacent pair with the lowest merge index, every occurrence left to right, until none is a merge
//      (with ignore_merges, a piece that is a vocab entry is taken whole first)
// Decoding maps ids back to bytes and reads them as UTF-8.
import { MyptError } from '../errors';
import type { TextCodec } from './types';
import { byteChars } from './byte-level';

/** What text generation needs of a tokenizer file. */
export type { TextCodec } from './types';

const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class HfByteLevelBpe implements TextCodec {
  readonly source: string;
  readonly vocabSize: number;
  readonly eot?: number;
  private readonly vocab = new Map<string, number>();
  private readonly ranks = new Map<string, number>();  // "a b" -> merge index
  private readonly idBytes: (Uint8Array | undefined)[];
  private readonly chars = byteChars();
  private readonly addedRe?: RegExp;
  private readonly addedIds = new Map<string, number>();
  private readonly pattern: RegExp | null;  // null: the whole segment is one piece
  private readonly addPrefixSpace: boolean;
  private readonly ignoreMerges: boolean;
  private readonly normalize?: 'NFC' | 'NFKC';
  private readonly unk?: number;
  private readonly cache = new Map<string, number[]>();

  /** Parses a tokenizer.json object; `source` names it in messages. */
  constructor(json: unknown, source: string) {
    this.source = source;
    const bad = (what: string) => new MyptError('E_TOKENIZER', `${source}: ${what}`, 'only byte-level BPE tokenizer.json files (GPT-2 style) are supported');
    if (!isObj(json) || !isObj(json.model)) throw bad('no "model" object');
    const model = json.model;
    if (model.type !== 'BPE') throw bad(`model type ${String(model.type)} is not supported (byte-level BPE only)`);
    if (model.continuing_subword_prefix || model.end_of_word_suffix) throw bad('BPE with word prefixes/suffixes is not byte-level');
    this.ignoreMerges = model.ignore_merges === true;

    const norm = json.normalizer;
    if (norm !== null && norm !== undefined) {
      if (!isObj(norm) || (norm.type !== 'NFC' && norm.type !== 'NFKC')) throw bad(`normalizer ${String(isObj(norm) ? norm.type : norm)} is not supported`);
      this.normalize = norm.type as 'NFC' | 'NFKC';
    }

    // pre-tokenizer: ByteLevel, or [Split(Isolated), ByteLevel without its own pattern]
    const pt = json.pre_tokenizer;
    if (!isObj(pt)) throw bad('no pre_tokenizer');
    if (pt.type === 'ByteLevel') {
      this.pattern = pt.use_regex === false ? null : new RegExp(GPT2_PATTERN, 'gu');
      this.addPrefixSpace = pt.add_prefix_space === true;
    } else if (pt.type === 'Sequence' && Array.isArray(pt.pretokenizers) && pt.pretokenizers.length === 2) {
      const [split, bl] = pt.pretokenizers as unknown[];
      const p = isObj(split) && isObj(split.pattern) ? split.pattern : undefined;
      const src = typeof p?.Regex === 'string' ? p.Regex : typeof p?.String === 'string' ? escape(p.String) : undefined;
      if (!isObj(split) || split.type !== 'Split' || src === undefined || split.behavior !== 'Isolated' || split.invert === true ||
          !isObj(bl) || bl.type !== 'ByteLevel' || bl.use_regex === true || bl.add_prefix_space === true) {
        throw bad('a pre_tokenizer Sequence other than [Split(pattern, Isolated), ByteLevel(use_regex false, add_prefix_space false)]');
      }
      try {
        this.pattern = new RegExp(src, 'gu');
      } catch {
        throw bad(`its Split pattern is not one JavaScript can run (${src.slice(0, 40)})`);
      }
      this.addPrefixSpace = false;
    } else {
      throw bad(`pre_tokenizer ${String(pt.type)} is not supported`);
    }

    if (!isObj(model.vocab)) throw bad('model.vocab is missing');
    let maxId = -1;
    for (const [s, id] of Object.entries(model.vocab)) {
      if (!isId(id)) throw bad(`vocab entry ${JSON.stringify(s)} has id ${JSON.stringify(id)}, not a non-negative integer`);
      this.vocab.set(s, id);
      maxId = Math.max(maxId, id);
    }
    const merges = model.merges ?? [];
    if (!Array.isArray(merges)) throw bad('model.merges is not a list');
    merges.forEach((m, i) => {
      const pair = typeof m === 'string' ? m.split(' ') : m;
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
        throw bad(`merge ${i} is not a pair of strings (${JSON.stringify(m)})`);
      }
      if (!this.vocab.has(pair[0] + pair[1])) throw bad(`merge ${i} (${pair[0]} ${pair[1]}) makes no vocab token`);
      const k = `${pair[0]} ${pair[1]}`;
      if (!this.ranks.has(k)) this.ranks.set(k, i);
    });
    const added = json.added_tokens ?? [];
    if (!Array.isArray(added)) throw bad('added_tokens is not a list');
    for (const t of added) {
      if (!isObj(t) || !isId(t.id) || typeof t.content !== 'string' || t.content === '') {
        throw bad(`added token ${JSON.stringify(t)} needs an integer id and a non-empty content`);
      }
      this.addedIds.set(t.content, t.id);
      maxId = Math.max(maxId, t.id);
    }
    this.vocabSize = maxId + 1;

    // id -> bytes: vocab strings through the byte table, added tokens as their UTF-8
    const toByte = new Map(this.chars.map((c, b) => [c, b]));
    this.idBytes = new Array(this.vocabSize);
    for (const [s, id] of this.vocab) {
      const bytes: number[] = [];
      let ok = true;
      for (const ch of s) {
        const b = toByte.get(ch);
        if (b === undefined) { ok = false; break; }
        bytes.push(b);
      }
      if (ok) this.idBytes[id] = Uint8Array.from(bytes);
    }
    const enc = new TextEncoder();
    for (const [content, id] of this.addedIds) this.idBytes[id] = enc.encode(content);
    if (this.addedIds.size) {
      const longestFirst = [...this.addedIds.keys()].sort((a, b) => b.length - a.length);
      this.addedRe = new RegExp(longestFirst.map(escape).join('|'), 'gu');
    }
    if (typeof model.unk_token === 'string' && this.vocab.has(model.unk_token)) this.unk = this.vocab.get(model.unk_token);

    const addedList = added as { id: number; content: string; special?: boolean }[];
    const eot = addedList.find((t) => /^<\|?(endoftext|eot|eos)\|?>$|^<\/s>$/i.test(t.content)) ?? addedList.find((t) => t.special);
    if (eot) this.eot = eot.id;
  }

  encode(text: string): number[] {
    const t = this.normalize ? text.normalize(this.normalize) : text;
    const out: number[] = [];
    let at = 0;
    if (this.addedRe) {
      this.addedRe.lastIndex = 0;
      for (const m of t.matchAll(this.addedRe)) {
        this.encodeSegment(t.slice(at, m.index), out);
        out.push(this.addedIds.get(m[0])!);
        at = m.index! + m[0].length;
      }
    }
    this.encodeSegment(t.slice(at), out);
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

  private encodeSegment(segment: string, out: number[]): void {
    if (!segment) return;
    const s = this.addPrefixSpace && !segment.startsWith(' ') ? ' ' + segment : segment;
    if (!this.pattern) return this.encodePiece(s, out);
    let at = 0;
    this.pattern.lastIndex = 0;
    for (const m of s.matchAll(this.pattern)) {
      if (m[0] === '') continue;
      if (m.index! > at) this.encodePiece(s.slice(at, m.index), out);  // a stretch the pattern skipped
      this.encodePiece(m[0], out);
      at = m.index! + m[0].length;
    }
    if (at < s.length) this.encodePiece(s.slice(at), out);
  }

  private encodePiece(piece: string, out: number[]): void {
    let ids = this.cache.get(piece);
    if (!ids) {
      ids = this.bpe(piece);
      if (this.cache.size < 50_000) this.cache.set(piece, ids);
    }
    for (const id of ids) out.push(id);
  }

  private bpe(piece: string): number[] {
    let word = '';
    for (const b of Buffer.from(piece, 'utf8')) word += this.chars[b];
    if (this.ignoreMerges && this.vocab.has(word)) return [this.vocab.get(word)!];
    let syms = [...word];
    for (;;) {
      let best = -1, rank = Infinity;
      for (let i = 0; i + 1 < syms.length; i++) {
        const r = this.ranks.get(`${syms[i]} ${syms[i + 1]}`);
        if (r !== undefined && r < rank) { rank = r; best = i; }
      }
      if (best < 0) break;
      const a = syms[best], b = syms[best + 1];
      const next: string[] = [];
      for (let i = 0; i < syms.length;) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
          next.push(a + b);
          i += 2;
        } else {
          next.push(syms[i++]);
        }
      }
      syms = next;
    }
    return syms.map((s) => {
      const id = this.vocab.get(s);
      if (id !== undefined) return id;
      if (this.unk !== undefined) return this.unk;
      throw new MyptError('E_TOKENIZER', `${this.source}: the text holds ${JSON.stringify(piece)}, which has a byte the vocabulary has no token for`);
    });
  }
}
