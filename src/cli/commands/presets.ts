// `mypt-native presets`: the presets --preset takes (MyPT's configs and the built-in default).
import type { Argv } from 'yargs';
import { listPresets, myptParamCount } from '../../use-cases/train/presets';
import { handler as wrap } from '../errors';

export const command = 'presets';
export const describe = 'List the model presets for `train --preset NAME`';

export function builder(y: Argv) {
  return y.option('json', { type: 'boolean', describe: 'print JSON for machines' });
}

function run(a: { json?: boolean }) {
  const presets = listPresets();
  if (a.json) {
    process.stdout.write(JSON.stringify(presets.map((p) => ({ preset: p.key, name: p.name, description: p.description, ...p.values })), null, 2) + '\n');
    return;
  }
  const rows = presets.map((p) => {
    const v = p.values as Record<string, number | string>;
    const tok = String(v.tokenization ?? 'gpt2');
    const vocab = tok === 'gpt2' ? 50304 : Number(v.vocab_size ?? 65);
    const n = myptParamCount({ vocab_size: vocab, block_size: Number(v.block_size), n_embd: Number(v.n_embd), n_layer: Number(v.n_layer) });
    return [p.key, `${(n / 1e6).toFixed(2)}M`, String(v.n_layer), String(v.n_head), String(v.n_embd), String(v.block_size), String(v.batch_size), tok, p.description];
  });
  const head = ['preset', 'params', 'layers', 'heads', 'embd', 'block', 'batch', 'tokens', 'description'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  process.stdout.write([line(head), line(widths.map((w) => '-'.repeat(Math.min(w, 12)))), ...rows.map(line)].join('\n') + '\n');
  process.stdout.write('\nparams: with the vocabulary of the preset\'s tokenization (char presets: the 65 characters of Tiny Shakespeare).\n');
}

export const handler = wrap(run);
