// nanoGPT's meta.pkl for character vocabularies (data/shakespeare_char/prepare.py):
//   {'vocab_size': len(chars), 'itos': {i: ch}, 'stoi': {ch: i}}, pickled (protocol 2 here; any loads).
import { Pickler } from '../torch/pickle-write';

export function metaPklBytes(chars: string[]): Buffer {
  const itos = new Map<number, string>();
  const stoi = new Map<string, number>();
  chars.forEach((ch, i) => { itos.set(i, ch); stoi.set(ch, i); });
  const meta = new Map<string, unknown>([['vocab_size', chars.length], ['itos', itos], ['stoi', stoi]]);
  return new Pickler('meta.pkl').dump(meta);
}
