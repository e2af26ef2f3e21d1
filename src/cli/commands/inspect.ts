// `mypt-native inspect [NAME|PATH]`: MyPT's inspect_model sections, parameter count, sizes, dtype; --json.
import type { Argv } from 'yargs';
import { formatModelInfo, getModelInfo } from '../../use-cases/inspect/inspect';
import { MyptError } from '../../errors';
import { stringFlag } from '../options';
import { handler as wrap } from '../errors';

export const command = 'inspect [target]';
export const describe = 'Show what a checkpoint holds (config, tokenizer, training state, parameters, files)';

export function builder(y: Argv) {
  return y
    .positional('target', { type: 'string', describe: 'a model name (checkpoints/<name>) or a bundle path' })
    .option('model_name', { type: 'string', coerce: stringFlag('model_name'), describe: 'model under --checkpoints_dir' })
    .option('checkpoint', { type: 'string', coerce: stringFlag('checkpoint'), describe: 'a bundle folder or a file in it' })
    .option('checkpoints_dir', { type: 'string', coerce: stringFlag('checkpoints_dir'), describe: 'folder of model bundles [checkpoints]' })
    .option('input_file', { type: 'string', coerce: stringFlag('input_file'), describe: "training text, for the char vocabulary of files that store none (the lecture trainer's)" })
    .option('json', { type: 'boolean', describe: 'print JSON for machines' });
}

async function run(a: { target?: string; model_name?: string; checkpoint?: string; checkpoints_dir?: string; input_file?: string; json?: boolean }) {
  const given = [a.target, a.model_name, a.checkpoint].filter((x) => x !== undefined);
  if (given.length > 1) throw new MyptError('E_BAD_ARGUMENT', 'name one model: a positional NAME/PATH, --model_name or --checkpoint');
  const target = String(given[0] ?? 'default');
  const info = await getModelInfo(target, { checkpoints_dir: a.checkpoints_dir, input_file: a.input_file });
  // a modded-nanogpt file's JSON is its own description (layout, scalars, forward), as the scripts name things
  const json = info.modded ? { format: info.format, file_bytes: info.files[0]?.bytes, ...info.modded } : info;
  process.stdout.write((a.json ? JSON.stringify(json, null, 2) : formatModelInfo(info)) + '\n');
}

export const handler = wrap(run);
