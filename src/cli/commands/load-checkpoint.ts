// `mypt-native load-checkpoint`: the env-var loader (FORMATS.md section 4). Variables CHECKPOINT_PATH,
// MODE=inference|resume, PROMPT, MAX_NEW_TOKENS, DEVICE, TEMPERATURE, TOP_K, RESUME_TRAINING_STEPS,
// RESUME_LEARNING_RATE; each has a flag of the same name in lower case, and a flag wins over its variable.
import type { Argv } from 'yargs';
import { envInt, readLoadCheckpointEnv, LOAD_MODES, ENV_DEVICES } from '../../use-cases/load-checkpoint/env';
import { MyptError } from '../../errors';
import { resumeFromCheckpoint, runInference } from '../../use-cases/load-checkpoint/run';
import { choiceFlag, intFlag, numFlag, stringFlag } from '../options';
import { handler as wrap } from '../errors';

export const command = 'load-checkpoint';
export const describe = 'Sample from (MODE=inference) or resume training (MODE=resume) an env-var, separated or unified checkpoint';

const pos = (x: number) => x > 0;
export function builder(y: Argv) {
  return y
    .usage('CHECKPOINT_PATH=... MODE=inference|resume $0 load-checkpoint   (or the flags below; a flag wins over its variable)')
    .option('checkpoint_path', { type: 'string', coerce: stringFlag('checkpoint_path'), describe: 'checkpoint file, either file of a separated pair, its base name, or a folder (see --select) [CHECKPOINT_PATH]' })
    .option('select', { type: 'string', coerce: choiceFlag('select', ['latest', 'best'] as const), describe: 'in a folder: latest (highest step, final last) or best (lowest recorded val loss) [latest]' })
    .option('mode', { type: 'string', coerce: choiceFlag('mode', LOAD_MODES), describe: 'inference or resume [MODE, inference]' })
    .option('prompt', { type: 'string', describe: 'text to continue [PROMPT, none]' })
    .option('max_new_tokens', { type: 'string', coerce: intFlag('max_new_tokens', 1), describe: 'tokens to generate [MAX_NEW_TOKENS, 300]' })
    .option('device', { type: 'string', coerce: choiceFlag('device', ENV_DEVICES), describe: 'auto, cpu or cuda [DEVICE, auto]' })
    .option('temperature', { type: 'string', coerce: numFlag('temperature', (x) => x >= 0, 'must be >= 0'), describe: 'sampling temperature [TEMPERATURE, 1.0]' })
    .option('top_k', { type: 'string', coerce: intFlag('top_k', 1), describe: 'keep the k most likely tokens [TOP_K, off]' })
    .option('seed', { type: 'string', coerce: intFlag('seed', 0), describe: 'same seed, same text / same resumed run [random / recorded]' })
    .option('resume_training_steps', { type: 'string', coerce: intFlag('resume_training_steps', 1), describe: 'more optimizer steps to train [RESUME_TRAINING_STEPS, 5000]' })
    .option('resume_learning_rate', { type: 'string', coerce: numFlag('resume_learning_rate', pos, 'must be > 0'), describe: 'learning rate of the resumed run [RESUME_LEARNING_RATE, 3e-4]' })
    .option('input_file', { type: 'string', coerce: stringFlag('input_file'), describe: 'training text for MODE=resume [the one the checkpoint records]' })
    .option('checkpoint_interval', { type: 'string', coerce: intFlag('checkpoint_interval', 1), describe: 'save every N steps when resuming [CHECKPOINT_INTERVAL, 500]' })
    .option('eval_interval', { type: 'string', coerce: intFlag('eval_interval', 1), describe: 'evaluate every N steps when resuming [recorded]' })
    .option('eval_iters', { type: 'string', coerce: intFlag('eval_iters', 1), describe: 'batches per loss estimate when resuming [recorded]' });
}

interface Args {
  checkpoint_path?: string; select?: 'latest' | 'best'; mode?: 'inference' | 'resume'; prompt?: string; max_new_tokens?: number; device?: 'auto' | 'cpu' | 'cuda';
  temperature?: number; top_k?: number; seed?: number; resume_training_steps?: number; resume_learning_rate?: number;
  input_file?: string; checkpoint_interval?: number; eval_interval?: number; eval_iters?: number;
}

/** The variables, minus those a flag overrides (an invalid variable a flag replaces is not an error). */
function envWithout(a: Args): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  const byFlag: Array<[keyof Args, string]> = [
    ['checkpoint_path', 'CHECKPOINT_PATH'], ['mode', 'MODE'], ['prompt', 'PROMPT'], ['max_new_tokens', 'MAX_NEW_TOKENS'],
    ['device', 'DEVICE'], ['temperature', 'TEMPERATURE'], ['top_k', 'TOP_K'], ['resume_training_steps', 'RESUME_TRAINING_STEPS'],
    ['resume_learning_rate', 'RESUME_LEARNING_RATE'],
  ];
  for (const [flag, name] of byFlag) if (a[flag] !== undefined) delete env[name];
  return env;
}

async function run(a: Args) {
  const e = readLoadCheckpointEnv(envWithout(a));
  const checkpoint_path = a.checkpoint_path ?? e.checkpointPath;
  if (!checkpoint_path) throw new MyptError('E_BAD_ARGUMENT', 'no checkpoint given: set CHECKPOINT_PATH or pass --checkpoint_path');
  const mode = a.mode ?? e.mode;
  const device = a.device ?? e.device;
  const log = (l: string) => process.stderr.write(l + '\n');
  const onWarning = (m: string) => process.stderr.write(`warning: ${m}\n`);
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.on('SIGINT', onSigint);
  try {
    if (mode === 'inference') {
      const prompt = a.prompt ?? e.prompt;
      let started = false;
      await runInference({
        checkpoint_path, select: a.select, device, onWarning, prompt, signal: controller.signal,
        log: (l) => process.stdout.write(l + '\n'),
        max_new_tokens: a.max_new_tokens ?? e.maxNewTokens, temperature: a.temperature ?? e.temperature, top_k: a.top_k ?? e.topK, seed: a.seed,
        onText: (s) => {
          if (!started) { process.stdout.write(`---------- sample ----------\n${prompt}`); started = true; }
          process.stdout.write(s);
        },
      });
      process.stdout.write('\n');
    } else {
      const r = await resumeFromCheckpoint({
        checkpoint_path, select: a.select, device, log, onWarning, signal: controller.signal,
        resume_training_steps: a.resume_training_steps ?? e.resumeTrainingSteps,
        resume_learning_rate: a.resume_learning_rate ?? e.resumeLearningRate,
        input_file: a.input_file, checkpoint_interval: a.checkpoint_interval ?? envInt(process.env, 'CHECKPOINT_INTERVAL', undefined), eval_interval: a.eval_interval,
        eval_iters: a.eval_iters, seed: a.seed,
      });
      log(`Resumed training ended at step ${r.step}${r.val_loss !== undefined ? ` (val loss ${r.val_loss.toFixed(4)})` : ''}; wrote ${r.files.length} file${r.files.length === 1 ? '' : 's'}`);
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}

export const handler = wrap(run);
