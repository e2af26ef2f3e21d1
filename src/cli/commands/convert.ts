// `mypt-native convert`: legacy MyPT and nanoGPT checkpoints to bundles, anything to .safetensors.
// Deleting the original is offered only after the output reloads to the same model: asked on a terminal,
// done without one only with --yes.
import readline from 'readline';
import type { Argv } from 'yargs';
import { convert, ConvertOptions } from '../../convert';
import { stringFlag } from '../options';
import { handler as wrap } from '../errors';

export const command = 'convert';
export const describe = 'Convert legacy MyPT / nanoGPT checkpoints to bundles, or any checkpoint to .safetensors';

export function builder(y: Argv) {
  return y
    .option('all', { type: 'boolean', describe: 'every model folder under --checkpoints_dir' })
    .option('model_name', { type: 'string', coerce: stringFlag('model_name'), describe: 'the model in checkpoints/<name>' })
    .option('checkpoint', { type: 'string', coerce: stringFlag('checkpoint'), describe: 'a checkpoint file or folder' })
    .option('checkpoints_dir', { type: 'string', coerce: stringFlag('checkpoints_dir'), describe: 'folder of model folders [checkpoints]' })
    .option('format', { type: 'string', describe: 'pt: a MyPT bundle; safetensors: one file [pt]' })
    .option('out', { type: 'string', coerce: stringFlag('out'), describe: 'output bundle folder or .safetensors file' })
    .option('input_file', { type: 'string', coerce: stringFlag('input_file'), describe: 'training text (character vocabulary of lecture-trainer files)' })
    .option('dry-run', { type: 'boolean', describe: 'say what would be converted; write nothing' })
    .option('yes', { type: 'boolean', describe: 'delete each original after its conversion is verified, without asking' });
}

function ask(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  return new Promise((resolve) => rl.question(question, (a) => {
    rl.close();
    resolve(/^y(es)?$/i.test(a.trim()));
  }));
}

interface Args {
  all?: boolean; model_name?: string; checkpoint?: string; checkpoints_dir?: string; format?: string;
  out?: string; input_file?: string; dryRun?: boolean; yes?: boolean;
}

async function run(a: Args) {
  await convert({
    all: a.all, model_name: a.model_name, checkpoint: a.checkpoint, checkpoints_dir: a.checkpoints_dir, format: a.format as ConvertOptions['format'],
    out: a.out, input_file: a.input_file, dry_run: a.dryRun, yes: a.yes,
    interactive: !!(process.stdin.isTTY && process.stdout.isTTY), confirm: ask,
  });
}

export const handler = wrap(run);
