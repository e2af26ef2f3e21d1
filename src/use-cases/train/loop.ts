// MyPT's training loop: evaluate + save every eval_interval steps, optimizer steps in between (on a GPU in runs
// of steps handed to the engine as one call, each queued before the last has ended), a final evaluation and
// save; an abort (Ctrl-C) finishes the step (the run, at most about half a second) in flight, saves, and stops. A save copies the
// weights and optimizer state out of the engine at its step, then writes the bundle while training goes on
// (the next save, the end of the run and a failure wait for it; a save that fails stops the run). The token data lives
// in the engine, which draws each batch as a pure function of (seed, step) (engine/data.h, mirrored by
// src/data/batches.ts), so a resumed run draws what an uninterrupted one would.
import path from 'path';
import { MyptError } from '../../errors';
import type { GptModel, SnapshotBuffers } from '../../model';
import type { Tokenizer } from '../../tokenizer';
import type { TokenSplits } from '../../data';
import { saveBundle, MyptConfigJson, TrainingConfigJson } from '../../formats/mypt/bundle';
import { lrAt } from './schedule';
import { metricsFiles, MetricRecord } from './metrics';
import type { Resolved } from './options';
import { BackgroundWrite } from './savers';
import type { CheckpointSaver, SaveContext } from './savers';
import type { TrainEvent } from './events';
import type { DataFeed } from './data-feed';

export interface LoopInput {
  v: Resolved;
  model: GptModel;
  tokenizer: Tokenizer;
  splits?: TokenSplits;
  /** --data: token shards instead of splits (mapped, random or sequential batches, the position saved) */
  feed?: DataFeed;
  startStep: number;
  resumed: boolean;
  /** checkpoints/<model_name>; undefined: write no bundle (a checkpointSaver keeps the checkpoints). */
  bundleDir?: string;
  configJson: MyptConfigJson;
  metrics: MetricRecord[];
  checkpointSaver?: CheckpointSaver;
  signal?: AbortSignal;
  emit: (e: TrainEvent) => void;
  log: (line: string) => void;
  /** this process is rank `rank` of a data-parallel job (the model joined its group) */
  dist?: { rank: number; world: number };
}

export interface LoopResult {
  step: number;
  interrupted: boolean;
  last?: { train: number; val: number };
  tokens: number;
  trainSeconds: number;
}

export class TrainingLoop {
  private readonly t0 = Date.now();
  private tokens = 0;
  private trainSeconds = 0;
  private lastStepSeconds = 0;   // per step, of the last run after the first step (runLength)
  private last?: { train: number; val: number };
  /** the bundle being written while training goes on */
  private readonly bundleWrite = new BackgroundWrite();
  private snapshot?: SnapshotBuffers;   // the host buffers each save copies the model into

  constructor(private readonly c: LoopInput) {
    if (c.feed) {
      c.feed.attach(c.model, c.startStep);
    } else if (c.splits) {
      c.model.setData('train', c.splits.train);
      c.model.setData('val', c.splits.val);
    }
  }

  private get B(): number { return this.c.v.batch_size; }
  private get T(): number { return this.c.model.config.block_size; }
  /** tokens of one optimizer step, over every rank */
  private get stepTokens(): number { return this.B * this.T * this.c.v.grad_accum * (this.c.dist?.world ?? 1); }
  /** the process that writes files (rank 0 of a job) */
  private get writer(): boolean { return (this.c.dist?.rank ?? 0) === 0; }

  /** Mean loss (no dropout) of eval_iters batches of a split, drawn for evaluation at `step`. */
  private meanLoss(split: 'train' | 'val', step: number): Promise<number> {
    const { v, model } = this.c;
    return model.estimateLoss(split, v.eval_iters, this.B, this.T, { seed: v.seed, counter0: step * v.eval_iters });
  }

  /** How many steps from `it` go to the engine as one call (trainRun): on a GPU, about half a second of steps
   *  by the last run's time a step (at most 32; one a call for the first two steps, the first being the slow
   *  one), never past the next evaluation or the last step; one step
   *  where the host acts between steps (a job's ranks, a data feed choosing its shard, another trainer's saver)
   *  and on the CPU, where queueing ahead gains nothing. MYPT_TRAIN_RUN=N sets the most steps a call on any
   *  device (1: every step its own call). */
  private runLength(it: number): number {
    const { v, model } = this.c;
    if (this.c.dist || this.c.feed || this.c.checkpointSaver) return 1;
    const forced = Number(process.env.MYPT_TRAIN_RUN);
    let most: number;
    if (Number.isInteger(forced) && forced >= 1) {
      most = forced;
    } else {
      if (!model.device.startsWith('cuda')) return 1;
      most = this.lastStepSeconds > 0 ? Math.min(32, Math.floor(0.5 / this.lastStepSeconds)) : 1;
    }
    const nextEval = (Math.floor(it / v.eval_interval) + 1) * v.eval_interval;
    return Math.max(1, Math.min(most, nextEval - it, v.max_iters - it));
  }

  /** AdamW's settings of every step, the learning rate aside */
  private get adamw() {
    const v = this.c.v;
    return { weight_decay: v.weight_decay, betas: [v.beta1, v.beta2] as [number, number], grad_clip: v.grad_clip > 0 ? v.grad_clip : undefined };
  }

  /** The steps it .. it + n - 1 in one engine call, each queued before the one before it has ended, with the
   *  batches, masks and results of n trainOn calls. */
  private async trainRun(it: number, n: number): Promise<{ loss: number; stop: boolean }[]> {
    const { v, model } = this.c;
    const lrs = Array.from({ length: n }, (_, k) => lrAt(it + k, v));
    const r = await model.trainBatches({ batch_size: this.B, block_size: this.T, grad_accum: v.grad_accum, seed: v.seed, step: it, lrs,
      ...this.adamw });
    return r.losses.map((loss) => ({ loss, stop: false }));
  }

  /** One optimizer step on the batch of step `it` (its dropout masks from (seed, step) too); the loss before the
   *  update. In a job, `stop` is true on every rank when any rank asked to stop (Ctrl-C) with this step. */
  private async trainOn(it: number, lr: number): Promise<{ loss: number; stop: boolean }> {
    const { v, model, signal, feed } = this.c;
    const adam = { lr, ...this.adamw };
    if (feed?.sampling === 'sequential') {
      return { loss: await feed.trainSequential(model, it, this.B, this.T, v.grad_accum, adam), stop: !!signal?.aborted };
    }
    const r = await model.trainBatch({ batch_size: this.B, block_size: this.T, grad_accum: v.grad_accum, seed: v.seed, step: it, ...adam,
      stop: !!signal?.aborted });
    return { loss: r.loss, stop: r.stop };
  }

  async evaluate(step: number): Promise<void> {
    const train_loss = await this.meanLoss('train', step);
    const val_loss = await this.meanLoss('val', step);
    this.last = { train: train_loss, val: val_loss };
    this.c.log(`step ${step}: train loss ${train_loss.toFixed(4)}, val loss ${val_loss.toFixed(4)}`);
    this.c.emit({ type: 'eval', step, train_loss, val_loss });
    await this.c.checkpointSaver?.onEval(this.saveContext(step), { trainLoss: train_loss, valLoss: val_loss });
    this.c.metrics.push({
      step, train_loss, val_loss, lr: lrAt(step, this.c.v), time: new Date().toISOString(),
      elapsed_s: (Date.now() - this.t0) / 1000, tokens_per_s: this.trainSeconds > 0 ? this.tokens / this.trainSeconds : 0,
    });
  }

  /** What the other trainers' savers need at a step. */
  saveContext(step: number): SaveContext {
    const { v, model, tokenizer, log } = this.c;
    return {
      model, step, tokenizer, batchSize: this.B, log,
      optimizer: { lr: lrAt(Math.max(0, step - 1), v), weight_decay: v.weight_decay, betas: [v.beta1, v.beta2] },
      hyperparameters: { max_iters: v.max_iters, eval_interval: v.eval_interval, eval_iters: v.eval_iters, learning_rate: v.learning_rate,
        seed: v.seed, weight_decay: v.weight_decay, grad_clip: v.grad_clip, input_file: path.resolve(v.input_file) },
    };
  }

  /** The bundle: config, tokenizer, training state, weights, optimizer, history. In a job every rank gathers
   *  the sharded optimizer state (a collective) and rank 0 alone writes: one bundle, the format every command reads. */
  async save(step: number): Promise<void> {
    const { v, model, tokenizer, bundleDir } = this.c;
    if (!bundleDir) return;
    await this.bundleWrite.settle();   // one snapshot in host memory at a time, in the same buffers each time
    if (this.writer) this.snapshot ??= model.snapshotBuffers(!v.save_model_only);   // the other ranks only gather
    const optimizer = v.save_model_only ? undefined : model.getOptimizerState(this.snapshot);
    if (!this.writer) return;
    const trainingConfig: TrainingConfigJson = {
      max_iters: v.max_iters, eval_interval: v.eval_interval, eval_iters: v.eval_iters, learning_rate: v.learning_rate,
      start_step: this.c.startStep, seed: v.seed, weight_decay: v.weight_decay, grad_clip: v.grad_clip,
      warmup_iters: v.warmup_iters, lr_decay_iters: v.lr_decay_iters, min_lr: v.min_lr, beta1: v.beta1, beta2: v.beta2,
      ...(v.log_interval !== 0 ? { log_interval: v.log_interval } : {}),
      ...(v.grad_accum !== 1 ? { grad_accum: v.grad_accum } : {}),
      ...(this.c.dist ? { world_size: this.c.dist.world } : {}),
      ...(this.c.feed ? { data: this.c.feed.state() } : {}),
    };
    this.bundleWrite.start(saveBundle(bundleDir, {
      config: this.c.configJson, layout: model.config, params: model.getParameters(this.snapshot), tokenizer: tokenizer.toJSON(), step, trainingConfig,
      optimizer,
      optimizerHyper: { lr: lrAt(Math.max(0, step - 1), v), weight_decay: v.weight_decay, betas: [v.beta1, v.beta2] },
      extras: metricsFiles(this.c.metrics, `${v.model_name}: loss`),
    }).then((report) => {
      for (const [what, p] of report.files) this.c.log(`Saved ${what} to ${p}`);
      this.c.emit({ type: 'save', step, files: report.files });
    }));
  }

  async run(): Promise<LoopResult> {
    try {
      return await this.steps();   // which waits for its last save
    } catch (e) {
      await this.bundleWrite.drain();   // the bundle, then the checkpoint files, being written end before the error goes up
      await this.c.checkpointSaver?.flush?.().catch(() => undefined);
      throw e;
    }
  }

  private async steps(): Promise<LoopResult> {
    const { v, startStep, resumed, signal } = this.c;
    let step = startStep;
    let interrupted = false;
    if (v.eval_only) {
      // nanoGPT's eval_only: the losses of the starting point, then stop; nothing trained, nothing written
      const train_loss = await this.meanLoss('train', startStep);
      const val_loss = await this.meanLoss('val', startStep);
      this.last = { train: train_loss, val: val_loss };
      this.c.log(`step ${startStep}: train loss ${train_loss.toFixed(4)}, val loss ${val_loss.toFixed(4)}`);
      this.c.emit({ type: 'eval', step: startStep, train_loss, val_loss });
      return this.result(step, false);
    }
    if (startStep >= v.max_iters) {
      this.c.log(`Already at step ${startStep} of --max_iters ${v.max_iters}; nothing to train (raise --max_iters to continue).`);
      return this.result(step, false);
    }
    for (let it = startStep; it < v.max_iters;) {
      this.c.feed?.select(this.c.model, it);
      if (it % v.eval_interval === 0 && !(resumed && it === startStep)) {
        await this.evaluate(it);
        await this.save(it);
      }
      this.bundleWrite.check();
      if (it > startStep) await this.c.checkpointSaver?.onStep(this.saveContext(it));
      // a job's ranks stop together, after the step whose result says so (a rank alone would leave the others waiting)
      if (!this.c.dist && signal?.aborted) { interrupted = true; break; }
      const n = this.runLength(it);
      const ts = performance.now();
      const results = n === 1 ? [await this.trainOn(it, lrAt(it, v))] : await this.trainRun(it, n);
      const seconds = (performance.now() - ts) / 1000 / results.length;   // a run's steps share its time
      if (it > startStep) this.lastStepSeconds = seconds;
      for (const { loss, stop } of results) {
        const lr = lrAt(it, v);
        step = it + 1;
        this.tokens += this.stepTokens;
        this.trainSeconds += seconds;
        if (!Number.isFinite(loss)) {
          throw new MyptError('E_NATIVE', `the loss became ${loss} at step ${step}`, 'lower --learning_rate or set --grad_clip 1.0');
        }
        this.c.emit({ type: 'step', step, loss, lr, tokens: this.stepTokens, seconds });
        if (v.log_interval > 0 && it % v.log_interval === 0) {
          this.c.log(`iter ${it}: loss ${loss.toFixed(4)}, time ${(seconds * 1000).toFixed(2)}ms, lr ${lr.toExponential(3)}, ${Math.round(this.stepTokens / seconds).toLocaleString('en-US')} tokens/s`);
        }
        it++;
        if (this.c.dist && stop) interrupted = true;
      }
      if (interrupted || (!this.c.dist && signal?.aborted)) { interrupted = true; break; }
    }
    if (interrupted) {
      this.c.log(`Interrupted: saving at step ${step}.`);
      await this.save(step);
    } else {
      await this.evaluate(step);
      await this.save(step);
    }
    await this.bundleWrite.settle();
    await this.c.checkpointSaver?.onEnd({ ...this.saveContext(step), interrupted });
    return this.result(step, interrupted);
  }

  private result(step: number, interrupted: boolean): LoopResult {
    return { step, interrupted, last: this.last, tokens: this.tokens, trainSeconds: this.trainSeconds };
  }
}
