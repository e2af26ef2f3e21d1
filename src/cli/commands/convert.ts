// `mypt-native convert`: legacy MyPT and nanoGPT checkpoints to bundles, anything to .safetensors;
// `--to separated|model-only|unified` rearranges a section 4/5 checkpoint, `--to small|medium` a modded-nanogpt file.
// Deleting the original is offered only after the output reloads to the same model: asked on a terminal,
// done without one only with --yes.
import readline from 'readline';
import type { Argv } from 'yargs';
import { convert, ConvertOptions } from '../../use-cases/convert/convert';
import { convertLayout, ConvertLayoutResult, LAYOUT_TARGETS, LayoutTarget } from '../../use-cases/convert/layout';
import { moddedConvertCommand } from '../../use-cases/convert/modded';
import { formatBytes } from '../../use-cases/inspect/inspect';
import { MyptError } from '../../errors';
import { choiceFlag, intFlag, stringFlag } from '../options';
import { handler as wrap } from '../errors';

const MODDED_TARGETS = ['small', 'medium'] as const;

export const command = 'convert';
export const describe = 'Convert legacy MyPT / nanoGPT checkpoints to bundles, or any checkpoint to .safetensors';

export function builder(y: Argv) {
  return y
    .option('all', { type: 'boolean', describe: 'every model folder under --checkpoints_dir' })
    .option('model_name', { type: 'string', coerce: stringFlag('model_name'), describe: 'the model in checkpoints/<name>' })
    .option('checkpoint', { type: 'string', coerce: stringFlag('checkpoint'), describe: 'a checkpoint file or folder' })
    .option('checkpoints_dir', { type: 'string', coerce: stringFlag('checkpoints_dir'), describe: 'folder of model folders [checkpoints]' })
    .option('to', {
      type: 'string', coerce: choiceFlag('to', [...LAYOUT_TARGETS, ...MODDED_TARGETS]),
      describe: 'rearrange one --checkpoint: separated, model-only or unified (env-var / separated / unified files); small or medium (modded-nanogpt)',
    })
    .option('format', { type: 'string', describe: 'pt: a MyPT bundle; safetensors: one file [pt]' })
    .option('out', { type: 'string', coerce: stringFlag('out'), describe: 'output bundle folder or .safetensors file' })
    .option('input_file', { type: 'string', coerce: stringFlag('input_file'), describe: 'training text (character vocabulary of lecture-trainer files)' })
    .option('head_dim', { type: 'string', coerce: intFlag('head_dim', 1), describe: 'modded-nanogpt --to small|medium: the head size, when the file does not say it and the width is not a multiple of 128' })
    .option('dry-run', { type: 'boolean', describe: 'say what would be converted; write nothing' })
    .option('yes', { type: 'boolean', describe: 'delete each original after its conversion is verified, without asking (--to: delete a pair\'s optimizer file for model-only; overwrite a modded output)' });
}

function ask(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  return new Promise((resolve) => rl.question(question, (a) => {
    rl.close();
    resolve(/^y(es)?$/i.test(a.trim()));
  }));
}

interface Args {
  to?: LayoutTarget | typeof MODDED_TARGETS[number]; all?: boolean; model_name?: string; checkpoint?: string; checkpoints_dir?: string; format?: string;
  out?: string; input_file?: string; dryRun?: boolean; yes?: boolean; head_dim?: number;
}

function describeLayout(r: ConvertLayoutResult, dryRun: boolean): string {
  const would = dryRun ? 'would ' : '';
  const parts = [
    ...(r.written.length ? [`${would}write ${r.written.join(', ')}`] : []),
    ...(r.removed.length ? [`${would}delete ${r.removed.join(', ')}`] : []),
  ];
  const sizes = Number.isFinite(r.bytesAfter) ? ` (${formatBytes(r.bytesBefore)} -> ${formatBytes(r.bytesAfter)})` : '';
  return `${r.from} -> ${r.to}: ${parts.length ? parts.join('; ') : 'nothing to do'}${sizes}`;
}

/** `convert --to X --checkpoint PATH`: one checkpoint rearranged (the original kept unless --yes says otherwise). */
async function convertTo(a: Args & { to: NonNullable<Args['to']> }): Promise<string> {
  if (!a.checkpoint) throw new MyptError('E_BAD_ARGUMENT', `convert --to ${a.to}: name the checkpoint with --checkpoint PATH`);
  if (a.all || a.model_name || a.format) throw new MyptError('E_BAD_ARGUMENT', 'convert --to works on one --checkpoint: drop --all, --model_name and --format');
  if (a.to === 'small' || a.to === 'medium') {
    return moddedConvertCommand(a.checkpoint, { to: a.to, out: a.out, dryRun: a.dryRun, overwrite: a.yes, head_dim: a.head_dim });
  }
  if (a.head_dim !== undefined) {
    throw new MyptError('E_BAD_ARGUMENT', `--head_dim is for modded-nanogpt files (--to small or medium), not --to ${a.to}`);
  }
  const r = await convertLayout(a.checkpoint, a.to, { out: a.out, dryRun: a.dryRun, removeOptimizer: a.yes });
  return describeLayout(r, !!a.dryRun);
}

async function run(a: Args) {
  if (a.to !== undefined) {
    process.stdout.write(`${await convertTo({ ...a, to: a.to })}\n`);
    return;
  }
  await convert({
    all: a.all, model_name: a.model_name, checkpoint: a.checkpoint, checkpoints_dir: a.checkpoints_dir, format: a.format as ConvertOptions['format'],
    out: a.out, input_file: a.input_file, dry_run: a.dryRun, yes: a.yes,
    interactive: !!(process.stdin.isTTY && process.stdout.isTTY), confirm: ask, log: (line) => process.stdout.write(`${line}\n`),
  });
}

export const handler = wrap(run);
