// The train command's checkpoint flags and variables (env-var files and separated pairs), kept here so
// the train command needs three lines: `addCheckpointFlags(y)`, `applyCheckpointEnv(opts)`, and
// `checkpointSaver: saverFromFlags(argv, opts)` in its train() call.
import path from 'path';
import type { Argv } from 'yargs';
import { readTrainingEnv, TrainingEnv } from '../use-cases/load-checkpoint/env';
import { MyptError } from '../errors';
import { createCheckpointSaver, CheckpointSaver } from '../use-cases/train/savers';

const int = (flag: string, min: number) => (v: unknown): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (Array.isArray(v) || !Number.isInteger(n) || n < min) throw new MyptError('E_BAD_ARGUMENT', `--${flag} ${String(v)}: must be a whole number >= ${min}`);
  return n;
};

export function addCheckpointFlags<T>(y: Argv<T>) {
  return y
    .option('save_separate_optimizer', { type: 'boolean', describe: 'also write P-stepNNNNNN-model.pt + -optimizer.pt every --checkpoint_interval steps and P-final-* at the end' })
    .option('checkpoint_interval', { type: 'string', coerce: int('checkpoint_interval', 1), describe: 'steps between checkpoint files [CHECKPOINT_INTERVAL, 500]' })
    .option('filename_prefix', { type: 'string', describe: 'prefix P of separated files [checkpoint]' })
    .option('keep_last', { type: 'string', coerce: int('keep_last', 0), describe: 'keep the optimizer state of the last N checkpoints only; older ones become model-only' });
}

export const CHECKPOINT_FLAGS = ['save_separate_optimizer', 'checkpoint_interval', 'filename_prefix', 'keep_last'] as const;

/** TRAINING_STEPS gives --max_iters when the flag is absent (flags win over variables). MODEL_TYPE=gpt2
 *  fine-tunes pretrained GPT-2 as that workflow does: --init_from GPT2_MODEL_NAME (default gpt2) unless
 *  --init_from says otherwise; with --init_from_model it gives --arch gpt2 --tokenization gpt2 when those
 *  flags are absent. MODEL_TYPE=from_scratch is MyPT's lecture GPT, the default. */
export function applyCheckpointEnv<T extends { max_iters?: number; arch?: string; tokenization?: string; init_from?: string; init_from_model?: string }>(
  opts: T, env: TrainingEnv = readTrainingEnv()): T {
  if (opts.max_iters === undefined && env.trainingSteps !== undefined) opts.max_iters = env.trainingSteps;
  if (env.modelType === 'gpt2') {
    if (opts.init_from_model !== undefined) {
      opts.arch ??= 'gpt2';
      opts.tokenization ??= 'gpt2';
    } else {
      opts.init_from ??= env.gpt2ModelName ?? 'gpt2'; // its architecture and tokenizer come with it
    }
  } else if (env.gpt2ModelName !== undefined) {
    throw new MyptError('E_BAD_ARGUMENT', `GPT2_MODEL_NAME=${env.gpt2ModelName} needs MODEL_TYPE=gpt2`);
  }
  return opts;
}

/** The saver for a train command's flags and variables (undefined when no checkpoint files were asked for). */
export function saverFromFlags(
  argv: { save_separate_optimizer?: boolean; save_model_only?: boolean; checkpoint_interval?: number; filename_prefix?: string; keep_last?: number },
  opts: { input_file?: string; checkpoints_dir?: string },
  env: TrainingEnv = readTrainingEnv(),
): CheckpointSaver | undefined {
  if (!env.enableCheckpoints && !argv.save_separate_optimizer) {
    if (argv.checkpoint_interval !== undefined || argv.filename_prefix !== undefined || argv.keep_last !== undefined) {
      throw new MyptError('E_BAD_ARGUMENT', '--checkpoint_interval/--filename_prefix/--keep_last need --save_separate_optimizer or ENABLE_CHECKPOINTS=true');
    }
    return undefined;
  }
  const input = opts.input_file ?? 'tinyshakespeare.txt';
  return createCheckpointSaver({
    env,
    saveSeparateOptimizer: !!argv.save_separate_optimizer,
    saveModelOnly: !!argv.save_separate_optimizer && !!argv.save_model_only,
    checkpointInterval: argv.checkpoint_interval,
    filenamePrefix: argv.filename_prefix,
    keepLast: argv.keep_last,
    // separated files sit beside the bundles, never inside a bundle folder (a bundle save swaps its whole folder)
    dir: process.env.CHECKPOINT_DIR ? env.checkpointDir : (opts.checkpoints_dir ?? env.checkpointDir),
    // MODEL_TYPE=gpt2 files carry the GPT-2 model's name: checkpoint_gpt2_{source}_gpt2medium_step...
    source: path.basename(input).replace(/\.[^.]*$/, '') + (env.modelType === 'gpt2' ? `_${(env.gpt2ModelName ?? 'gpt2').replace(/-/g, '')}` : ''),
  });
}
