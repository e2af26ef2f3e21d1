// `mypt-native train`: MyPT's train.py flags (names, meanings, defaults) plus --preset, --device, --seed,
// --arch, --weight_decay, --grad_clip, the optional warmup + cosine schedule and --save_model_only.
// With no flags at all: the built-in default run on the bundled Tiny Shakespeare corpus.
import type { Argv } from 'yargs';
import { train, TrainEvent, TrainResult } from '../../use-cases/train/train';
import type { TrainOptions } from '../../use-cases/train/options';
import { Progress } from '../progress';
import { getPreset, presetNames } from '../../use-cases/train/presets';
import { MYPT_TRAIN_DEFAULTS } from '../../use-cases/train/options';
import { choiceFlag, intFlag, numFlag, stringFlag } from '../options';
import { handler as wrap } from '../errors';
import { MyptError } from '../../errors';
import { addCheckpointFlags, applyCheckpointEnv, saverFromFlags } from '../train-flags';
import { addDistributedFlags, runLauncher, workerRun } from '../distributed';
import { distributedRole } from '../../use-cases/train/distributed/role';

export const command = 'train';
export const describe = 'Train a GPT (fresh, resume from checkpoints/<model_name>, or fine-tune with --init_from gpt2|PATH or --init_from_model)';

const pos = (x: number) => x > 0;
/** `[built-in run X; MyPT Y]` from the tables the run uses (presets/default.json, MYPT_TRAIN_DEFAULTS). */
function builtin(key: string, note = ''): string {
  const mine = key === 'lr_decay_iters' ? '--max_iters' : String(getPreset('default').values[key] ?? (MYPT_TRAIN_DEFAULTS as Record<string, unknown>)[key]);
  return `[built-in run ${mine}; MyPT ${String((MYPT_TRAIN_DEFAULTS as Record<string, unknown>)[key])}${note}]`;
}
export function builder(y: Argv) {
  return addDistributedFlags(addCheckpointFlags(y))
    .usage('$0 train [flags]\n\nWith no flags: the built-in run, a small char model on the bundled Tiny Shakespeare corpus (one and a half to four minutes on two CPU cores), then a sample. With --preset or --config_file, flags left out take MyPT\'s train.py defaults.')
    .option('model_name', { type: 'string', coerce: stringFlag('model_name'), describe: 'bundle folder under --checkpoints_dir; an existing bundle there is resumed [default: default]' })
    .option('input_file', { type: 'string', coerce: stringFlag('input_file'), describe: 'training text (UTF-8) [default: the bundled tinyshakespeare.txt]' })
    .option('tokenization', { type: 'string', coerce: choiceFlag('tokenization', ['char', 'gpt2'] as const), describe: 'char or gpt2 [default: char for the built-in run, gpt2 with --preset/--config_file]' })
    .option('init_from_model', { type: 'string', coerce: stringFlag('init_from_model'), describe: 'fine-tune from the bundle of another model (same tokenizer)' })
    .option('config_file', { type: 'string', coerce: stringFlag('config_file'), describe: "a MyPT config JSON (architecture and batch size)" })
    .option('preset', { type: 'string', coerce: stringFlag('preset'), describe: `a preset (see \`mypt-native presets\`): ${presetNames().join(', ')}` })
    .option('max_iters', { type: 'string', coerce: intFlag('max_iters', 0), describe: `absolute step to train to (also on resume) ${builtin('max_iters')}` })
    .option('eval_interval', { type: 'string', coerce: intFlag('eval_interval', 1), describe: `evaluate and save every N steps ${builtin('eval_interval')}` })
    .option('eval_iters', { type: 'string', coerce: intFlag('eval_iters', 1), describe: `batches per loss estimate ${builtin('eval_iters')}` })
    .option('learning_rate', { type: 'string', coerce: numFlag('learning_rate', pos, 'must be > 0'), describe: `AdamW learning rate ${builtin('learning_rate')}` })
    .option('batch_size', { type: 'string', coerce: intFlag('batch_size', 1), describe: `sequences per step ${builtin('batch_size')}` })
    .option('block_size', { type: 'string', coerce: intFlag('block_size', 1), describe: `context length ${builtin('block_size')}` })
    .option('n_embd', { type: 'string', coerce: intFlag('n_embd', 1), describe: `embedding width ${builtin('n_embd')}` })
    .option('n_head', { type: 'string', coerce: intFlag('n_head', 1), describe: `attention heads ${builtin('n_head')}` })
    .option('n_layer', { type: 'string', coerce: intFlag('n_layer', 1), describe: `transformer blocks ${builtin('n_layer')}` })
    .option('dropout', { type: 'string', coerce: numFlag('dropout', (x) => x >= 0 && x < 1, 'must be in [0, 1)'), describe: `dropout rate ${builtin('dropout')}` })
    .option('bias', { type: 'boolean', describe: 'q/k/v biases (MyPT) [false]' })
    .option('device', { type: 'string', coerce: choiceFlag('device', ['auto', 'cpu', 'cuda'] as const), describe: 'auto, cpu or cuda [cpu for the built-in run, else auto]' })
    .option('seed', { type: 'string', coerce: intFlag('seed', 0), describe: 'seed for init, batches and the sample [1337]' })
    .option('arch', { type: 'string', coerce: choiceFlag('arch', ['mypt', 'gpt2'] as const), describe: "mypt (MyPT's lecture GPT) or gpt2 (nanoGPT) [mypt]" })
    .option('weight_decay', { type: 'string', coerce: numFlag('weight_decay', (x) => x >= 0, 'must be >= 0'), describe: "AdamW weight decay [0.01, PyTorch's default as in MyPT]" })
    .option('grad_clip', { type: 'string', coerce: numFlag('grad_clip', (x) => x >= 0, 'must be >= 0'), describe: 'clip the global gradient norm (0: off) [0]' })
    .option('warmup_iters', { type: 'string', coerce: intFlag('warmup_iters', 0), describe: `linear warmup steps ${builtin('warmup_iters', ': constant rate')}` })
    .option('lr_decay_iters', { type: 'string', coerce: intFlag('lr_decay_iters', 0), describe: `cosine decay to --min_lr by this step ${builtin('lr_decay_iters', ': no decay')}` })
    .option('min_lr', { type: 'string', coerce: numFlag('min_lr', (x) => x >= 0, 'must be >= 0'), describe: 'floor of the cosine decay [learning_rate / 10]' })
    .option('save_model_only', { type: 'boolean', describe: 'do not write optimizer.pt' })
    .option('checkpoints_dir', { type: 'string', coerce: stringFlag('checkpoints_dir'), describe: 'folder of model bundles [checkpoints]' })
    .option('sample_tokens', { type: 'string', coerce: intFlag('sample_tokens', 0), describe: 'length of the sample printed at the end (0: none) [500]' })
    .option('grad_accum', { type: 'string', coerce: intFlag('grad_accum', 1), describe: 'micro-batches of --batch_size per step and process (gradient accumulation) [1]' })
    .option('gradient_accumulation_steps', { type: 'string', coerce: intFlag('gradient_accumulation_steps', 1), describe: "nanoGPT's: micro-batches per step over all processes (divided by their number) [grad_accum x processes]" })
    .option('total_batch_size', { type: 'string', coerce: intFlag('total_batch_size', 1), describe: "llm.c's: tokens per step, a multiple of batch_size x block_size x processes; sets the micro-batches" })
    .option('recompute', { type: 'string', coerce: intFlag('recompute', 0), describe: 'GPU memory for compute: recompute in the backward 1: the MLP activation, 2: also the LayerNorm outputs (about 1.1 / 1.6 GB less at GPT-2 124M B16 T1024) [0]' })
    .option('beta1', { type: 'string', coerce: numFlag('beta1', (x) => x >= 0 && x < 1, 'must be in [0, 1)'), describe: 'AdamW beta1 [0.9]' })
    .option('beta2', { type: 'string', coerce: numFlag('beta2', (x) => x >= 0 && x < 1, 'must be in [0, 1)'), describe: "AdamW beta2 [0.999, PyTorch's default as in MyPT; nanoGPT 0.95]" })
    .option('eval_only', { type: 'boolean', describe: 'evaluate the starting point (train and val loss) and stop: no training, no files written' })
    .option('log_interval', { type: 'string', coerce: intFlag('log_interval', 0), describe: 'log "iter N: loss, time" every N steps (0: off) [0]' })
    .option('init_from', { type: 'string', coerce: stringFlag('init_from'), describe: 'fine-tune from gpt2, gpt2-medium, gpt2-large, gpt2-xl (a Hugging Face folder or cache, never the network) or a checkpoint PATH; resume, scratch as nanoGPT' })
    .option('data', { type: 'string', coerce: stringFlag('data'), describe: "token shards to train on instead of --input_file: a `prepare` folder, nanoGPT's train.bin/val.bin (+ meta.pkl), llm.c's *_train_*.bin (memory-mapped)" })
    .option('sampling', { type: 'string', coerce: choiceFlag('sampling', ['random', 'sequential'] as const), describe: 'with --data: random windows (nanoGPT) or sequential over shuffled shards (llm.c), seeded and resumed [random]' });
}

const FLAGS = [
  'model_name', 'input_file', 'tokenization', 'init_from_model', 'config_file', 'preset', 'max_iters', 'eval_interval',
  'eval_iters', 'learning_rate', 'batch_size', 'block_size', 'n_embd', 'n_head', 'n_layer', 'dropout', 'bias', 'device',
  'seed', 'arch', 'weight_decay', 'grad_clip', 'warmup_iters', 'lr_decay_iters', 'min_lr', 'save_model_only',
  'checkpoints_dir', 'sample_tokens', 'grad_accum', 'recompute',
  'gradient_accumulation_steps', 'total_batch_size', 'beta1', 'beta2', 'eval_only', 'log_interval', 'init_from', 'data', 'sampling',
] as const;

async function run(argv: Record<string, unknown>): Promise<void> {
  const opts: Record<string, unknown> = {};
  for (const k of FLAGS) if (argv[k] !== undefined) opts[k] = argv[k];
  applyCheckpointEnv(opts);
  const role = distributedRole({
    gpus: (argv.gpus ?? argv.nproc_per_node) as number | undefined, nnodes: argv.nnodes as number | undefined,
    node_rank: argv.node_rank as number | undefined, master_addr: argv.master_addr as string | undefined,
    master_port: argv.master_port as number | undefined,
  });
  if (role.kind === 'launch') {
    const g = opts.gradient_accumulation_steps as number | undefined;
    if (g !== undefined && g % role.world !== 0) throw new MyptError('E_BAD_ARGUMENT', `--gradient_accumulation_steps ${g}: must be divisible by the number of processes (${role.world})`);
    const code = await runLauncher(role, opts as TrainOptions, process.argv.slice(2));
    process.exit(code);
  }
  const checkpointSaver = saverFromFlags(argv, opts);
  let progress: Progress | undefined;
  const controller = new AbortController();
  const worker = role.kind === 'worker'
    ? workerRun(role, controller, { reduce_dtype: argv.reduce_dtype as 'fp32' | 'bf16' | undefined, bucket_mb: argv.bucket_mb as number | undefined })
    : undefined;
  const quiet = role.kind === 'worker' && role.rank !== 0;
  let sigints = 0;
  const onSigint = () => {
    sigints += 1;
    if (sigints > 1) {
      progress?.stop();
      process.stderr.write('\nsecond Ctrl-C: quitting without saving\n');
      process.exit(130);
    }
    const msg = 'Ctrl-C: finishing the current step, then saving (Ctrl-C again quits without saving)';
    if (progress) progress.log(msg); else process.stderr.write(msg + '\n');
    controller.abort();
  };
  if (!worker) process.on('SIGINT', onSigint);
  let sampling = false;
  const log = (line: string) => (progress ? progress.log(line) : process.stdout.write(line + '\n'));
  const onProgress = (e: TrainEvent) => {
    if (e.type === 'start') progress = new Progress({ startStep: e.step, maxIters: e.max_iters });
    else if (e.type === 'step') progress?.step(e.step, e.loss, e.tokens, e.seconds);
    else if (e.type === 'sample') {
      if (!sampling) {
        progress?.stop();
        progress = undefined;
        process.stdout.write('\n---------- sample ----------\n');
        sampling = true;
      }
      process.stdout.write(e.text);
    }
  };
  try {
    const r = await train({ ...(opts as TrainOptions), log, onProgress, signal: controller.signal, checkpointSaver, distributed: worker?.run });
    if (quiet) return;
    progress?.stop();
    progress = undefined;
    if (sampling) process.stdout.write('\n----------------------------\n');
    if (argv.eval_only) {
      process.stdout.write(`Evaluated at step ${r.step}: train loss ${r.train_loss?.toFixed(4)}, val loss ${r.val_loss?.toFixed(4)} (--eval_only: nothing trained or written)\n`);
      return;
    }
    const tps = Math.round(r.tokens_per_second).toLocaleString('en-US');
    process.stdout.write(
      r.interrupted
        ? `Stopped at step ${r.step}; the bundle in ${r.dir} is saved. Run the same command to continue.\n`
        : summaryLines(r, tps),
    );
  } finally {
    progress?.stop();
    process.off('SIGINT', onSigint);
    worker?.detach();
  }
}

/** The end of a run, printed after the progress bar is gone so a terminal keeps it. */
function summaryLines(r: TrainResult, tps: string): string {
  const loss = (x?: number) => (x === undefined ? '-' : x.toFixed(4));
  const steps = r.step - r.start_step;
  return `Training finished at step ${r.step} in ${r.seconds.toFixed(1)}s (${tps} tokens/s).\n`
    + `  steps:  ${steps} this run${r.resumed ? ` (resumed at ${r.start_step})` : ''}\n`
    + `  loss:   train ${loss(r.train_loss)}, val ${loss(r.val_loss)} (final eval)\n`
    + `  bundle: ${r.dir}\n`;
}

export const handler = wrap(run);
