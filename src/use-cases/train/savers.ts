// Checkpoint savers the training loop calls: env-var files (ENABLE_CHECKPOINTS / CHECKPOINT_INTERVAL /
// CHECKPOINT_DIR, FORMATS.md section 4) and separated pairs (--save_separate_optimizer [--save_model_only]
// [--checkpoint_interval N] [--filename_prefix P] [--keep_last N], section 5).
//
// The train loop needs three calls, each a no-op when nothing was asked:
//   const saver = createCheckpointSaver({...});          // once, before the loop
//   await saver.onStep(ctx);                             // after every optimizer step (ctx.step = steps done)
//   await saver.onEval(ctx, { trainLoss, valLoss });     // after each evaluation
//   await saver.onEnd(ctx);                              // after the last step
//   await saver.flush();                                 // before an error goes up: the files being written end
// onStep copies the weights (and moments) out of the model at its step and writes the files while training
// goes on; the next save, onEnd and flush wait for that write, and a write that failed throws from the next
// of those calls (one snapshot in host memory at a time).
import fs from 'fs';
import path from 'path';
import type { GptModel as Model, SnapshotBuffers } from '../../model';
import type { Tokenizer } from '../../tokenizer/types';
import type { AdamWHyper } from '../../formats/layouts/common';
import type { CheckpointData } from '../../formats/separated/data';
import type { TrainingEnv } from '../load-checkpoint/env';
import { writeEnvCheckpoint } from '../../formats/lecture/envvar';
import { parseEnvCheckpointFileName, sanitizeNamePart } from '../../formats/lecture/envvar-name';
import { isSaveStep, pairOf, parseSeparatedName, separatedBase, writeSeparated, writeUnified } from '../../formats/separated/separated';
import { loadTorch, saveTorch } from '../../formats/torch';
import { field } from '../../formats/layouts/common';

export interface SaveContext {
  model: Model;
  step: number;                       // optimizer steps done
  tokenizer: Tokenizer;
  batchSize: number;
  optimizer: Partial<AdamWHyper>;     // lr (as used now), betas, eps, weight_decay
  hyperparameters?: Record<string, unknown>;   // the run's settings (max_iters, eval_interval, input_file, ...)
  log?: (line: string) => void;
  /** onEnd only: the run was stopped (Ctrl-C) before max_iters, so its last files are not `final` */
  interrupted?: boolean;
}

export interface CheckpointSaver {
  onStep(ctx: SaveContext): Promise<void>;
  onEval(ctx: SaveContext, losses: { trainLoss?: number; valLoss?: number }): Promise<void>;
  onEnd(ctx: SaveContext): Promise<void>;
  /** Waits for a save still being written; throws if it failed (optional for savers of one's own). */
  flush?(): Promise<void>;
  /** Every file written so far, in order. */
  readonly written: string[];
}

export interface CheckpointSaverOptions {
  /** ENABLE_CHECKPOINTS etc. (readTrainingEnv()); flags below override CHECKPOINT_INTERVAL. */
  env?: TrainingEnv;
  saveSeparateOptimizer?: boolean;
  saveModelOnly?: boolean;
  /** One unified file per save: `{prefix}-step{N:06d}.pt`, `{prefix}-final.pt` (resuming a unified checkpoint). */
  saveUnified?: boolean;
  checkpointInterval?: number;        // --checkpoint_interval (separated; also env-var files when given)
  filenamePrefix?: string;            // --filename_prefix (default "checkpoint")
  keepLast?: number;                  // --keep_last N: older checkpoints become model-only
  dir?: string;                       // folder for separated files (default: env CHECKPOINT_DIR)
  source?: string;                    // {source} of env-var file names (the data file's stem)
  /** Env-var files continue this run's numbering; they keep the same {model}_{source}. */
  now?: () => Date;
}

/** One write at a time that runs while training goes on (the bundle's, the checkpoint files'): settle() before
 *  taking the next snapshot, then start() its write; a write that fails is kept and thrown by the next
 *  settle() or check(). */
export class BackgroundWrite {
  private pending?: Promise<void>;
  private failure?: { error: unknown };
  /** Waits for the write in flight; throws what made a write fail. */
  async settle(): Promise<void> {
    await this.pending;
    this.pending = undefined;
    this.check();
  }
  /** Throws what made a write fail, without waiting. */
  check(): void {
    if (this.failure) throw this.failure.error;
  }
  start(write: Promise<void>): void {
    this.pending = write.catch((error) => { this.failure = { error }; });
  }
  /** Waits for the write in flight and ignores its failure (another error is going up). */
  async drain(): Promise<void> {
    await this.pending;
  }
}

/** What a live model holds, as CheckpointData; copied into `into` (the model's snapshotBuffers) when given. */
export function dataFromModel(ctx: SaveContext, withOptimizer: boolean, losses: { trainLoss?: number; valLoss?: number } = {},
  record: Record<string, unknown> = {}, into?: SnapshotBuffers): CheckpointData {
  const m = ctx.model;
  const opt = withOptimizer ? m.getOptimizerState(into) : null;
  return {
    config: m.config as any,
    params: m.getParameters(into) as any,
    optimizer: opt ? { ...(opt as any), hyper: ctx.optimizer } : null,
    step: ctx.step,
    epoch: 0,
    tokenizer: ctx.tokenizer.toJSON(),
    valLoss: losses.valLoss,
    trainLoss: losses.trainLoss,
    batchSize: ctx.batchSize,
    hyperparameters: { batch_size: ctx.batchSize, learning_rate: ctx.optimizer.lr, ...(ctx.hyperparameters ?? {}), ...record },
  };
}

/** Turns the older of a folder's checkpoints (this prefix / this model+source) into model-only ones. */
export async function keepLastWithOptimizer(dir: string, keep: number, which: { prefix?: string; envModel?: string; envSource?: string }): Promise<string[]> {
  const changed: string[] = [];
  if (!fs.existsSync(dir)) return changed;
  const names = fs.readdirSync(dir);
  if (which.prefix !== undefined) {
    const steps = names.map((n) => parseSeparatedName(n))
      .filter((p): p is NonNullable<typeof p> => !!p && p.prefix === which.prefix && p.part === 'optimizer' && p.step !== 'final')
      .map((p) => p.step as number).sort((a, b) => a - b);
    for (const s of steps.slice(0, Math.max(0, steps.length - keep))) {
      const pair = pairOf(separatedBase(dir, which.prefix, s));
      if (fs.existsSync(pair.model)) {
        await fs.promises.rm(pair.optimizer);   // on libuv's threads: a large unlink would stall the GPU's feed
        changed.push(pair.optimizer);
      }
    }
  }
  if (which.envModel !== undefined) {
    const files = names.map((n) => ({ n, p: parseEnvCheckpointFileName(n) }))
      .filter((x) => x.p && x.p.model === which.envModel && x.p.source === which.envSource)
      .sort((a, b) => a.p!.step - b.p!.step || a.p!.time.getTime() - b.p!.time.getTime());
    for (const { n } of files.slice(0, Math.max(0, files.length - keep))) {
      const file = path.join(dir, n);
      const d = await loadTorch(file);
      if (!(d instanceof Map) || field(d, 'optimizer_state_dict') == null) continue;
      d.set('optimizer_state_dict', null);       // the section 4 dict keeps its keys; the state is gone
      await saveTorch(file, d);
      changed.push(file);
    }
  }
  return changed;
}

/** The saver for a run's options; every method is a no-op when no checkpointing was asked for. */
export function createCheckpointSaver(o: CheckpointSaverOptions): CheckpointSaver {
  const env = o.env;
  const envOn = !!env?.enableCheckpoints;
  const sepOn = !!o.saveSeparateOptimizer || !!o.saveModelOnly;
  const uniOn = !!o.saveUnified;
  const interval = o.checkpointInterval ?? env?.checkpointInterval ?? 500;
  const dir = o.dir ?? env?.checkpointDir ?? 'checkpoints';
  const prefix = o.filenamePrefix ?? 'checkpoint';
  const modelType = env?.modelType ?? 'from_scratch';
  const source = o.source ?? 'data';
  const written: string[] = [];
  let lastSaved = -1;
  const record = { checkpoint_interval: interval };   // a resumed run keeps the cadence
  let losses: { trainLoss?: number; valLoss?: number } = {};
  let lossStep = -1;
  // a file records the losses of an evaluation at its own step only (never an older one's)
  const lossesAt = (ctx: SaveContext) => (lossStep === ctx.step ? losses : {});
  const log = (ctx: SaveContext, f: string) => ctx.log?.(`Saved checkpoint to ${f}`);

  // the model at ctx's step, with the optimizer state when any file of this save holds it, copied into the same
  // host buffers each time (one snapshot at a time: the next waits for the write of this one)
  const withOptimizer = envOn || ((sepOn || uniOn) && !o.saveModelOnly);
  let buffers: SnapshotBuffers | undefined;
  const snapshot = (ctx: SaveContext): CheckpointData => {
    // a model of one's own may lack them (fresh arrays then); a saver used again for another model takes new ones
    if (buffers?.params.length !== ctx.model.numParams) buffers = ctx.model.snapshotBuffers?.(withOptimizer);
    return dataFromModel(ctx, withOptimizer, lossesAt(ctx), record, buffers);
  };
  const forFiles = (d: CheckpointData): CheckpointData => (o.saveModelOnly ? { ...d, optimizer: null } : d);
  async function saveEnv(ctx: SaveContext, d: CheckpointData) {
    const f = await writeEnvCheckpoint(dir, d, { modelType, source, time: o.now?.() });
    written.push(f);
    log(ctx, f);
  }
  async function saveSep(ctx: SaveContext, d: CheckpointData, label: number | 'final') {
    const files = await writeSeparated(separatedBase(dir, prefix, label), forFiles(d), { modelOnly: !!o.saveModelOnly });
    for (const f of files) { written.push(f); log(ctx, f); }
  }
  async function saveUni(ctx: SaveContext, d: CheckpointData, label: number | 'final') {
    const f = await writeUnified(`${separatedBase(dir, prefix, label)}.pt`, forFiles(d));
    written.push(f);
    log(ctx, f);
  }
  // every file of one step (interval files; `final` ones are written by onEnd)
  async function writeStep(ctx: SaveContext, d: CheckpointData, env: boolean, named: boolean) {
    if (env) await saveEnv(ctx, d);
    if (named && sepOn) await saveSep(ctx, d, ctx.step);
    if (named && uniOn) await saveUni(ctx, d, ctx.step);
  }
  const background = new BackgroundWrite();   // the step's files being written while training goes on
  async function saveAt(ctx: SaveContext) {
    await background.settle();
    const d = snapshot(ctx);
    lastSaved = ctx.step;
    background.start((async () => {
      await writeStep(ctx, d, envOn, true);
      await prune(ctx);
    })());
  }
  async function prune(ctx: SaveContext) {
    if (o.keepLast === undefined || o.saveModelOnly) return;
    const changed = await keepLastWithOptimizer(dir, o.keepLast, {
      prefix: sepOn ? prefix : undefined, envModel: envOn ? sanitizeNamePart(modelType) : undefined, envSource: envOn ? sanitizeNamePart(source) : undefined,
    });
    for (const f of changed) ctx.log?.(`Kept the model only: ${f}`);
  }

  return {
    written,
    async onStep(ctx) {
      background.check();   // a save that failed stops the run at the next step
      if ((envOn || sepOn || uniOn) && isSaveStep(ctx.step, interval)) await saveAt(ctx);
    },
    async onEval(ctx, l) {
      losses = { ...l };
      lossStep = ctx.step;
    },
    async onEnd(ctx) {
      await background.settle();
      if (!(envOn || sepOn || uniOn)) return;
      // the last step: an interval file when it falls on one (env-var files always get a last one), then `final`;
      // the model is copied out only when a file is written
      let copy: CheckpointData | undefined;
      const d = () => (copy ??= snapshot(ctx));
      if (ctx.interrupted) {   // stopped early: the last files carry their step, not `final`
        if (lastSaved !== ctx.step) {
          await writeStep(ctx, d(), envOn, true);
          lastSaved = ctx.step;
        }
        await prune(ctx);
        return;
      }
      if (lastSaved !== ctx.step && (envOn || isSaveStep(ctx.step, interval))) {
        await writeStep(ctx, d(), envOn, isSaveStep(ctx.step, interval));
        lastSaved = ctx.step;
      }
      if (sepOn) await saveSep(ctx, d(), 'final');
      if (uniOn) await saveUni(ctx, d(), 'final');
      await prune(ctx);
    },
    flush: () => background.settle(),
  };
}
