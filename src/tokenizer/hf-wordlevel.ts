// Hugging Face `tokenizers` files of the WordLevel kind behind a Split pre-tokenizer: the text is cut into
// the pattern's matches and the stretches between them (Split "Isolated"), and each piece is one vocabulary
// entry (or unk_token; with none, an error as in the library). This is how mypt-native writes a character
// vocabulary for transformers (src/formats/hf/tokenizer.ts): the pattern `[\s\S]` makes every Unicode
// character a piece, so ids are the character's index in MyPT's vocabulary. Decoding concatenates the
// entries (the Fuse decoder).
import { MyptError } from '../errors';
import type { TextCodec } from './types';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

export class HfWordLevel implements TextCodec {
  readonly source: string;
  readonly vocabSize: number;
  private readonly vocab = new Map<string, number>();
  private readonly byId: string[] = [];
  private readonly pattern: RegExp;
  private readonly unk?: number;

  constructor(json: unknown, source: string) {
    this.source = source;
    const bad = (what: string) => new MyptError('E_TOKENIZER', `${source}: ${what}`, 'WordLevel tokenizer.json files are read with a Split(Regex, Isolated) pre-tokenizer only');
    if (!isObj(json) || !isObj(json.model) || json.model.type !== 'WordLevel') throw bad('not a WordLevel model');
    if (json.normalizer !== null && json.normalizer !== undefined) throw bad('a normalizer is not supported');
    const pt = json.pre_tokenizer;
    const p = isObj(pt) && isObj(pt.pattern) ? pt.pattern : undefined;
    if (!isObj(pt) || pt.type !== 'Split' || typeof p?.Regex !== 'string' || pt.behavior !== 'Isolated' || pt.invert === true) {
      throw bad('the pre_tokenizer is not Split(Regex, Isolated)');
    }
    try {
      this.pattern = new RegExp(p.Regex as string, 'gu');
    } catch {
      throw bad(`its Split pattern is not one JavaScript can run (${String(p.Regex).slice(0, 40)})`);
    }
    if (!isObj(json.model.vocab)) throw bad('model.vocab is missing');
    let maxId = -1;
    for (const [s, id] of Object.entries(json.model.vocab)) {
      if (!isId(id)) throw bad(`vocab entry ${JSON.stringify(s)} has id ${JSON.stringify(id)}`);
      this.vocab.set(s, id);
      this.byId[id] = s;
      maxId = Math.max(maxId, id);
    }
    const unk = json.model.unk_token;
    if (typeof unk === 'string' && this.vocab.has(unk)) this.unk = this.vocab.get(unk);
    this.vocabSize = maxId + 1;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    let at = 0;
    const piece = (s: string) => {
      const id = this.vocab.get(s) ?? this.unk;
      if (id === undefined) {
        throw new MyptError('E_TOKENIZER', `${this.source}: ${JSON.stringify(s)} is not in the vocabulary and there is no unk_token`);
      }
      out.push(id);
    };
    this.pattern.lastIndex = 0;
    for (const m of text.matchAll(this.pattern)) {
      if (m[0] === '') continue;
      if (m.index! > at) piece(text.slice(at, m.index));
      piece(m[0]);
      at = m.index! + m[0].length;
    }
    if (at < text.length) piece(text.slice(at));
    return out;
  }

  decode(ids: number[]): string {
    return ids.map((id) => this.byId[id] ?? '').join('');
  }
}
