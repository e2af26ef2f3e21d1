// `mypt-native eval`: a checkpoint's loss and perplexity over a split of token shards (`prepare`'s,
// nanoGPT's, llm.c's). One line, or --json.
import type { Argv } from 'yargs';
import { evaluate } from '../../use-cases/eval/eval';
import { MyptError } from '../../errors';
import { choiceFlag, intFlag, stringFlag } from '../options';
import { handler as wrap } from '../errors';

export const command = 'eval';
export const describe = 'Loss and perplexity of a checkpoint over a split of token shards (--data DIR)';

export function builder(y: Argv) {
  return y
    .option('checkpoint', { type: 'string', coerce: stringFlag('checkpoint'), describe: 'a checkpoint file or folder, or a model name under --checkpoints_dir [required]' })
    .option('data', { type: 'string', coerce: stringFlag('data'), describe: "a folder of token shards: prepare's, nanoGPT's train.bin/val.bin, llm.c's [required]" })
    .option('split', { type: 'string', coerce: choiceFlag('split', ['val', 'train'] as const), describe: 'val or train [val]' })
    .option('batch_size', { type: 'string', coerce: intFlag('batch_size', 1), describe: 'windows per forward pass [8]' })
    .option('block_size', { type: 'string', coerce: intFlag('block_size', 1), describe: "tokens of context per window [the model's]" })
    .option('max_batches', { type: 'string', coerce: intFlag('max_batches', 1), describe: 'stop after N batches [the whole split]' })
    .option('device', { type: 'string', coerce: choiceFlag('device', ['auto', 'cpu', 'cuda'] as const), describe: 'auto, cpu or cuda [auto]' })
    .option('checkpoints_dir', { type: 'string', coerce: stringFlag('checkpoints_dir'), describe: 'folder of model bundles [checkpoints]' })
    .option('json', { type: 'boolean', describe: 'print the result as JSON' });
}

interface Args {
  checkpoint?: string; data?: string; split?: 'val' | 'train'; batch_size?: number; block_size?: number; max_batches?: number;
  device?: 'auto' | 'cpu' | 'cuda'; checkpoints_dir?: string; json?: boolean;
}

async function run(a: Args) {
  if (!a.checkpoint) throw new MyptError('E_BAD_ARGUMENT', 'name the model: --checkpoint PATH');
  if (!a.data) throw new MyptError('E_BAD_ARGUMENT', 'name the token shards: --data DIR');
  const r = await evaluate({
    checkpoint: a.checkpoint, data: a.data, split: a.split, batch_size: a.batch_size, block_size: a.block_size, max_batches: a.max_batches,
    device: a.device, checkpoints_dir: a.checkpoints_dir,
  });
  if (a.json) { process.stdout.write(JSON.stringify(r, null, 2) + '\n'); return; }
  const part = r.windows * r.block_size < r.split_tokens - r.windows ? ` (of ${r.split_tokens.toLocaleString('en-US')})` : '';
  process.stdout.write(`${r.split}: loss ${r.loss.toFixed(4)}, perplexity ${r.perplexity.toFixed(2)} over ${r.tokens.toLocaleString('en-US')} tokens${part} in ${r.windows} windows of ${r.block_size} (${r.format} shards in ${r.data}, ${r.seconds.toFixed(1)}s)\n`);
}

export const handler = wrap(run);
