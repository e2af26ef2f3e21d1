// The training use case: where to start (start.ts: fresh, resume a bundle, fine-tune, or a handed-over
// model), the data (the corpus tokenized and split 90/10 as MyPT does), MyPT's loop (loop.ts), the history
// (metrics.ts), and a sample at the end. It reports through events and log lines; it prints nothing.
import os from 'os';
import path from 'path';
import { MyptError } from '../../errors';
import { requireCuda, setCpuThreads } from '../../model';
import { DEFAULT_CORPUS, checkSplitsFit, readTextFile, tokenizeAndSplit, TokenSplits } from '../../data';
import type { GptModel } from '../../model';
import type { Tokenizer } from '../../tokenizer';
import type { MyptConfigJson } from '../../formats/mypt/bundle';
import { floatRepr } from '../../formats/pyjson';
import { microBatches, resolveTrainOptions, TrainOptions } from './options';
import { startingPoint } from './start';
import { TrainingLoop } from './loop';
import { readMetrics } from './metrics';
import type { CheckpointSaver } from './savers';
import type { TrainEvent } from './events';
import { joinJob, Joined } from './distributed/join';
import { DataFeed } from './data-feed';
import { readTrainingStateJson } from '../../formats/mypt/json';
import { checkRunFits, withLowerHint } from './memory';
import { describeSchedule } from './schedule';
import { checkWritableDir } from '../../formats/atomic';
import type { WorkerRole } from './distributed/role';

export type { TrainOptions } from './options';
export type { TrainEvent } from './events';

export interface TrainRunOptions extends TrainOptions {
  onProgress?: (e: TrainEvent) => void;
  /** Human-readable lines (MyPT's messages, the eval line, `Saved ... to <path>`, warnings). */
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** Env-var / separated checkpoint files besides the bundle (savers.ts). */
  checkpointSaver?: CheckpointSaver;
  /** Continue from an already loaded checkpoint instead of a bundle (the model is disposed at the end). */
  startFrom?: { model: GptModel; tokenizer: Tokenizer; step: number; source: string };
  /** false: write no bundle (the checkpointSaver keeps the checkpoints). */
  saveBundle?: boolean;
  /** This process is one rank of a data-parallel job (distributed/role.ts): it trains its part of each step
   *  and only rank 0 logs, reports progress, saves and samples. */
  distributed?: DistributedRun;
}

export interface DistributedRun {
  role: WorkerRole;
  /** the longest wait for another rank, ms (default 600000) */
  timeoutMs?: number;
  /** gradient bucket size, MiB (default 25) */
  bucketMB?: number;
  /** gradients on the wire: 'fp32' (default) or 'bf16' */
  reduceDtype?: 'fp32' | 'bf16';
  /** another rank failed, named in the message: the process should end now (a collective may never return) */
  onPeerFailure: (message: string) => void;
}

export interface TrainResult {
  model_name: string;
  dir: string;
  /** Optimizer steps done (what training_state.json records). */
  step: number;
  start_step: number;
  resumed: boolean;
  interrupted: boolean;
  train_loss?: number;
  val_loss?: number;
  sample?: string;
  seconds: number;
  tokens_per_second: number;
  num_params: number;
  warnings: string[];
}

const shortDevice = (d: string) => (d.startsWith('cuda') ? 'cuda' : 'cpu');

/** The corpus as token splits that hold at least one batch window each. */
function dataOf(tokenizer: Tokenizer, text: string, inputFile: string, blockSize: number): TokenSplits {
  let splits: TokenSplits;
  try {
    splits = tokenizeAndSplit(tokenizer, text);
  } catch (e) {
    if (e instanceof MyptError && e.code === 'E_TOKENIZER') throw new MyptError('E_TOKENIZER', `--input_file ${inputFile}: ${e.message}`);
    throw e;
  }
  checkSplitsFit(splits, blockSize, `--input_file ${inputFile}`);
  return splits;
}

/** MyPT's config.json for the model trained (its nine keys; other architectures also say which they are). */
function configJsonOf(model: GptModel, batchSize: number, dropout: number): MyptConfigJson {
  const cfg = model.config;
  return {
    batch_size: batchSize, block_size: cfg.block_size, vocab_size: cfg.vocab_size, n_embd: cfg.n_embd,
    n_head: cfg.n_head, n_layer: cfg.n_layer, dropout, bias: cfg.arch === 'mypt' ? cfg.qkv_bias : cfg.bias,
    device: shortDevice(model.device),
    ...(cfg.arch === 'mypt' ? {} : { arch: cfg.arch, activation: cfg.activation }),
  };
}

export async function train(opts: TrainRunOptions = {}): Promise<TrainResult> {
  const { signal, distributed: dist } = opts;
  const rank = dist?.role.rank ?? 0;
  // a job's ranks other than 0 train silently
  const onProgress = rank === 0 ? opts.onProgress : undefined;
  const print = (rank === 0 ? opts.log : undefined) ?? (() => {});
  // Status lines wait until every up-front check has passed (the device, the memory the sizes need, the
  // checkpoints folder, the data): a refused run prints its one error and nothing before it.
  const held: string[] = [];
  let holding = true;
  const log = (line: string) => (holding ? held.push(line) : print(line));
  const release = () => { holding = false; for (const l of held.splice(0)) print(l); };
  const emit = progressEmitter(onProgress);
  const { values: v, source } = resolveTrainOptions(stripRunOptions(opts), DEFAULT_CORPUS);
  if (dist && (opts.checkpointSaver || opts.startFrom || opts.saveBundle === false)) {
    throw new MyptError('E_UNSUPPORTED', 'a data-parallel job saves the bundle only (no env-var or separated checkpoint files, no hand-over)');
  }
  if (dist && v.device === 'cpu') setCpuThreads(Math.max(1, Math.floor(os.cpus().length / dist.role.localWorld)));
  const warnings: string[] = [];
  const warn = (m: string) => { warnings.push(m); log(`warning: ${m}`); };
  const dir = path.join(v.checkpoints_dir, v.model_name);
  const feed = v.data !== undefined ? openFeed(v, source, !!dist) : undefined;
  let text: string;
  try {
    text = feed ? '' : readTextFile(v.input_file);
    if (rank === 0 && opts.saveBundle !== false) checkWritableDir(v.checkpoints_dir, `--checkpoints_dir ${v.checkpoints_dir}`);
    if (v.device === 'cuda' && !opts.startFrom) requireCuda();
  } catch (e) {
    feed?.close();
    throw e;
  }
  let start;
  try {
    start = await startingPoint({ v, source, text, log, warn, deviceIndex: dist?.role.localRank, tokenizer: feed?.tokenizer }, dir, opts.startFrom);
  } catch (e) {
    feed?.close();
    throw e;
  }
  const { model, tokenizer } = start;
  const t0 = Date.now();
  let job: Joined | undefined;
  try {
    v.grad_accum = microBatches(v, source, model.config.block_size, dist?.role.world ?? 1);
    const mc = model.config;
    checkRunFits({ numParams: model.numParams, batch_size: v.batch_size, block_size: mc.block_size, n_layer: mc.n_layer,
      n_embd: mc.n_embd, n_head: mc.n_head, vocab_size: mc.vocab_size, device: model.device, recompute: v.recompute });
    if (v.recompute) model.setRecompute(v.recompute as 1 | 2);
    if (dist) {
      job = await joinJob(model, start.step, { role: dist.role, timeoutMs: dist.timeoutMs ?? 600000, bucketMB: dist.bucketMB,
        reduceDtype: dist.reduceDtype, onPeerFailure: dist.onPeerFailure });
      const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : what.endsWith('h') ? 'es' : 's'}`;
      log(`Data parallel: ${job.group.description}, ${dist.role.world} ranks x ${n(v.grad_accum, 'micro-batch')} of ${v.batch_size}; optimizer state sharded (${n(job.buckets, 'gradient bucket')}, ${job.shardSize.toLocaleString('en-US')} of ${model.numParams.toLocaleString('en-US')} moments per rank)`);
    }
    if (feed) {
      sameVocabulary(feed, tokenizer, v.data!);
      feed.check(model.config.block_size);
      if (start.resumed && start.resumedBundle) feed.restore(readTrainingStateJson(start.resumedBundle)?.training_config?.data, log);
      log(`Training data: ${feed.info.format} shards in ${v.data} (${feed.train.length} train, ${feed.val.length} val; memory-mapped), ${v.sampling} batches`);
    }
    const splits = feed ? undefined : dataOf(tokenizer, text, v.input_file, model.config.block_size);
    release();
    const nTrain = feed ? feed.train.total : splits!.train.length;
    const nVal = feed ? feed.val.total : splits!.val.length;
    const configJson = configJsonOf(model, v.batch_size, v.dropout);
    log(`Using config: ${Object.entries(configJson).map(([k, x]) => `${k}:${k === 'dropout' ? floatRepr(x as number) : x}`).join(', ')}`);
    log(describeSchedule(v));
    log(`${model.numParams.toLocaleString('en-US')} parameters on ${model.device}; ${nTrain.toLocaleString('en-US')} train / ${nVal.toLocaleString('en-US')} val tokens (${tokenizer.kind})`);
    emit({ type: 'start', step: start.step, max_iters: v.max_iters, resumed: start.resumed, device: model.device, numParams: model.numParams, trainTokens: nTrain, valTokens: nVal });
    const loop = new TrainingLoop({
      v, model, tokenizer, splits, feed, startStep: start.step, resumed: start.resumed, configJson,
      bundleDir: opts.saveBundle === false ? undefined : dir,
      metrics: start.resumed ? readMetrics(start.resumedBundle, start.step) : [],
      checkpointSaver: opts.checkpointSaver, signal, emit, log,
      dist: dist ? { rank, world: dist.role.world } : undefined,
    });
    const r = await loop.run();
    let sample: string | undefined;
    if (rank === 0 && !r.interrupted && !v.eval_only && v.sample_tokens > 0 && !signal?.aborted) {
      sample = '';
      for await (const piece of model.generateStream('', { max_new_tokens: v.sample_tokens, seed: v.seed, signal })) {
        sample += piece;
        emit({ type: 'sample', text: piece });
      }
    }
    emit({ type: 'done', step: r.step });
    return {
      model_name: v.model_name, dir, step: r.step, start_step: start.step, resumed: start.resumed, interrupted: r.interrupted,
      train_loss: r.last?.train, val_loss: r.last?.val, sample, seconds: (Date.now() - t0) / 1000,
      tokens_per_second: r.trainSeconds > 0 ? r.tokens / r.trainSeconds : 0, num_params: model.numParams, warnings,
    };
  } catch (e) {
    job?.control.reportFailure((e as Error).message);
    throw withLowerHint(e);
  } finally {
    job?.control.close();
    model.dispose();
    feed?.close();
    job?.group.close();
  }
}

/** The shards of --data, checked against the other flags. */
function openFeed(v: TrainOptions & { seed: number; sampling: 'random' | 'sequential'; tokenization: string }, source: Record<string, string>, distributed: boolean): DataFeed {
  if (distributed && v.sampling === 'sequential') {
    throw new MyptError('E_UNSUPPORTED', '--sampling sequential in a data-parallel job', 'use --sampling random (each rank draws its own windows of the mapped shards)');
  }
  const feed = new DataFeed(v.data!, v.sampling, v.seed);
  if (source.tokenization === 'flag' && v.tokenization !== feed.tokenizer.kind) {
    feed.close();
    throw new MyptError('E_BAD_ARGUMENT', `--tokenization ${v.tokenization}: --data ${v.data} holds ${feed.tokenizer.kind} tokens`, 'leave --tokenization out: the data decides');
  }
  return feed;
}

/** A resumed or fine-tuned model must speak the data's tokens. */
function sameVocabulary(feed: DataFeed, tokenizer: Tokenizer, dir: string): void {
  const a = feed.tokenizer, b = tokenizer;
  const same = a.kind === b.kind && (a.kind !== 'char' || JSON.stringify(a.toJSON().chars) === JSON.stringify(b.toJSON().chars));
  if (!same) {
    throw new MyptError('E_TOKENIZER', `--data ${dir}: its ${a.kind} tokens (vocabulary ${a.vocabSize}) are not the model's ${b.kind} tokens (vocabulary ${b.vocabSize})`,
      'train a new --model_name on this data, or prepare the data with the model\'s tokenizer');
  }
}

/** Passes every event on, adding a 'progress' event at most once a second and after the last step. */
function progressEmitter(onProgress?: (e: TrainEvent) => void): (e: TrainEvent) => void {
  if (!onProgress) return () => {};
  let maxIters = 0, tokens = 0, seconds = 0, done = 0, last = -Infinity;
  return (e: TrainEvent) => {
    onProgress(e);
    if (e.type === 'start') maxIters = e.max_iters;
    if (e.type !== 'step') return;
    tokens += e.tokens; seconds += e.seconds; done += 1;
    const now = Date.now();
    if (now - last < 1000 && e.step < maxIters) return;
    last = now;
    onProgress({ type: 'progress', step: e.step, max_iters: maxIters, loss: e.loss, tokens_per_second: seconds > 0 ? tokens / seconds : 0,
      eta_seconds: done > 0 ? (seconds / done) * Math.max(0, maxIters - e.step) : 0 });
  };
}

function stripRunOptions(o: TrainRunOptions): TrainOptions {
  const { onProgress: _p, log: _l, signal: _s, checkpointSaver: _c, startFrom: _f, saveBundle: _b, distributed: _d, ...rest } = o;
  return rest;
}
