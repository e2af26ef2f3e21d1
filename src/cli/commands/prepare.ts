// `mypt-native prepare`: text files to token shards (ours, nanoGPT's train.bin/val.bin, llm.c's) with a
// manifest.json; a progress bar per pass, then one line per split and the folder.
import os from 'os';
import type { Argv } from 'yargs';
import { prepare, PrepareProgress } from '../../use-cases/prepare/prepare';
import { TOKEN_FORMATS, TokenFormat } from '../../formats/tokens';
import { MyptError } from '../../errors';
import { ByteProgress } from '../progress';
import { choiceFlag, intFlag, numFlag, stringFlag } from '../options';
import { handler as wrap } from '../errors';

export const command = 'prepare';
export const describe = 'Tokenize text files into shards that train --data (and nanoGPT, llm.c) read, with a manifest.json';

export function builder(y: Argv) {
  return y
    .option('input', { type: 'string', array: true, coerce: inputFlag, describe: 'text files, a folder (every file below it) or a pattern like "data/*.txt" [required]' })
    .option('out', { type: 'string', coerce: stringFlag('out'), describe: 'the folder to write [required]' })
    .option('tokenization', { type: 'string', coerce: choiceFlag('tokenization', ['gpt2', 'char'] as const), describe: 'gpt2 (BPE, <|endoftext|> between documents) or char [gpt2]' })
    .option('format', { type: 'string', coerce: choiceFlag('format', TOKEN_FORMATS), describe: "mypt (train_/val_NNNNNN.bin), nanogpt (train.bin, val.bin, meta.pkl) or llmc (llm.c's headed shards) [mypt]" })
    .option('val_fraction', { type: 'string', coerce: numFlag('val_fraction', (x) => x >= 0 && x < 1, 'must be in [0, 1)'), describe: 'the last part of the ids that validates [0.0005]' })
    .option('shard_tokens', { type: 'string', coerce: intFlag('shard_tokens', 1), describe: 'tokens per shard (mypt, llmc) [100000000]' })
    .option('workers', { type: 'string', coerce: intFlag('workers', 1), describe: `tokenizer threads [every core: ${os.cpus().length}]` })
    .option('jsonl', { type: 'boolean', describe: 'one JSON object per line, a document each' })
    .option('field', { type: 'string', coerce: stringFlag('field'), describe: 'with --jsonl: the text field [text]' });
}

/** One value or several (a pattern the shell expanded). */
function inputFlag(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  const list = (Array.isArray(v) ? v : [v]).map((x) => stringFlag('input')(x)!);
  return list.length ? list : undefined;
}

interface Args {
  input?: string[]; out?: string; tokenization?: 'gpt2' | 'char'; format?: TokenFormat; val_fraction?: number;
  shard_tokens?: number; workers?: number; jsonl?: boolean; field?: string;
}

async function run(a: Args) {
  if (!a.input) throw new MyptError('E_BAD_ARGUMENT', 'name the text: --input FILE|DIR|PATTERN');
  if (!a.out) throw new MyptError('E_BAD_ARGUMENT', 'name the output folder: --out DIR');
  if (a.field !== undefined && !a.jsonl) throw new MyptError('E_BAD_ARGUMENT', '--field names a JSON field: add --jsonl');
  let bar: ByteProgress | undefined;
  let phase = '';
  const onProgress = (e: PrepareProgress) => {
    if (e.phase !== phase) { bar?.stop(); phase = e.phase; bar = new ByteProgress(e.phase === 'tokenize' ? 'tokenize' : 'write   ', e.total); }
    bar!.update(e.done, e.tokens);
  };
  try {
    const r = await prepare({
      input: a.input, out: a.out, tokenization: a.tokenization, format: a.format, val_fraction: a.val_fraction, shard_tokens: a.shard_tokens,
      workers: a.workers, jsonl: a.jsonl, field: a.field, onProgress,
      log: (l) => { if (bar) bar.stop(), bar = undefined, phase = ''; (l.startsWith('warning:') ? process.stderr : process.stdout).write(l + '\n'); },
    });
    bar?.stop();
    const m = r.manifest;
    const n = (k: number) => k.toLocaleString('en-US');
    for (const split of ['train', 'val'] as const) {
      const shards = m.shards.filter((s) => s.split === split);
      process.stdout.write(`${split}: ${n(m.tokens[split])} tokens in ${shards.length} shard${shards.length === 1 ? '' : 's'} (${shards.map((s) => s.file).slice(0, 3).join(', ')}${shards.length > 3 ? ', ...' : ''})\n`);
    }
    process.stdout.write(`Prepared ${n(m.documents)} document${m.documents === 1 ? '' : 's'} (${(m.input_bytes / 1e6).toFixed(1)} MB, ${r.mbPerSecond.toFixed(1)} MB/s) as ${m.format} in ${r.out}; manifest.json written last\n`);
  } finally {
    bar?.stop();
  }
}

export const handler = wrap(run);
