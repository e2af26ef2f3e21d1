// The training use case: fresh, resume (a bundle under checkpoints/<model_name>) or fine-tune
// (--init_from_model), MyPT's loop (eval + save every eval_interval steps, final eval + save), progress
// events, metrics.jsonl + loss.svg, and a clean stop on abort (Ctrl-C) that saves first.
import fs from 'fs';
import path from 'path';
import { MyptError } from '../../errors';
import { createModel, GptModel as Model } from '../../model';
import type { ModelConfig } from '../../model/config';
import { DEFAULT_CORPUS, checkSplitsFit, readTextFile, tokenizeAndSplit } from '../../data';
import { CounterRng, dropoutSeed, sampleBatch, STREAM_EVAL_TRAIN, STREAM_EVAL_VAL, STREAM_TRAIN } from '../../data/batches';
import { createTokenizer, TextStreamDecoder, Tokenizer, tokenizerFromJSON } from '../../tokenizer';
import { findBundle, loadBundle, LoadedBundle, MyptConfigJson, saveBundle, TrainingConfigJson } from '../../formats/mypt/bundle';
import { parseConfigJson } from '../../formats/mypt/json';
import { detectCheckpoint } from '../../formats/detect';
import { myptModelConfig } from '../../formats/layouts/mypt';
import { lrAt } from './schedule';
import { floatRepr } from '../../formats/pyjson';
import { renderLossSvg, LossPoint } from './plot';
import { ARCH_KEYS, resolveTrainOptions, Resolved, TrainOptions } from './options';
import type { CheckpointSaver, SaveContext } from './savers';

export type { TrainOptions } from './options';

export type TrainEvent =
  | { type: 'start'; step: number; max_iters: number; resumed: boolean; device: string; numParams: number; trainTokens: number; valTokens: number }
  | { type: 'step'; step: number; loss: number; lr: number; tokens: number; seconds: number }
  | { type: 'eval'; step: number; train_loss: number; val_loss: number }
  | { type: 'save'; step: number; files: Array<[string, string]> }
  | { type: 'sample'; text: string }
  | { type: 'done'; step: number };

export interface TrainRunOptions extends TrainOptions {
  onProgress?: (e: TrainEvent) => void;
  /** Human-readable lines (MyPT's messages, the eval line, `Saved ... to <path>`, warnings). */
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** Env-var / separated checkpoint files besides the bundle (src/checkpoint/savers.ts). */
  checkpointSaver?: CheckpointSaver;
  /** Continue from an already loaded checkpoint instead of a bundle (the model is disposed at the end). */
  startFrom?: { model: Model; tokenizer: Tokenizer; step: number; source: string };
  /** false: write no bundle (the checkpointSaver keeps the checkpoints). */
  saveBundle?: boolean;
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

interface MetricRecord extends LossPoint { lr: number; time: string; elapsed_s: number; tokens_per_s: number }

function readMetrics(dir: string | undefined, upTo: number): MetricRecord[] {
  if (!dir) return [];
  const file = path.join(dir, 'metrics.jsonl');
  if (!fs.existsSync(file)) return [];
  const out: MetricRecord[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as MetricRecord;
      if (typeof r.step === 'number' && r.step <= upTo) out.push(r);
    } catch {
      // a damaged history line is skipped; the weights are what matter
    }
  }
  return out;
}

const shortDevice = (d: string) => (d.startsWith('cuda') ? 'cuda' : 'cpu');

/** Architecture flags the user set that differ from the bundle's config.json, named in one warning. */
function archConflicts(v: Resolved, source: Record<string, string>, b: LoadedBundle, tokenizer: Tokenizer): string[] {
  const have: Record<string, unknown> = {
    n_embd: b.config.n_embd, n_head: b.config.n_head, n_layer: b.config.n_layer, block_size: b.config.block_size,
    bias: b.config.bias, arch: (b.modelConfig as { arch?: string }).arch ?? 'mypt',
  };
  const out: string[] = [];
  for (const k of ARCH_KEYS) {
    if (source[k] === 'default' || source[k] === undefined) continue;
    if (v[k] !== have[k]) out.push(`--${k} ${v[k]}${source[k] === 'flag' ? '' : ` (from ${source[k]})`} (bundle: ${have[k]})`);
  }
  if (source.tokenization && source.tokenization !== 'default' && v.tokenization !== tokenizer.kind) {
    out.push(`--tokenization ${v.tokenization} (bundle: ${tokenizer.kind})`);
  }
  return out;
}

/** Training settings recorded in the bundle win over built-in defaults on resume; explicit ones win over both. */
function adoptRecorded(v: Resolved, source: Record<string, string>, tc: TrainingConfigJson | undefined, b: LoadedBundle): void {
  const keys = ['learning_rate', 'eval_interval', 'eval_iters', 'seed', 'weight_decay', 'grad_clip', 'warmup_iters', 'lr_decay_iters', 'min_lr'] as const;
  for (const k of keys) {
    const rec = tc?.[k];
    if (source[k] === 'default' && typeof rec === 'number' && Number.isFinite(rec)) (v as unknown as Record<string, number>)[k] = rec;
  }
  if (source.min_lr === 'default' && typeof tc?.min_lr !== 'number') v.min_lr = v.learning_rate / 10;
  if (source.dropout === 'default') v.dropout = b.config.dropout;
  if (source.batch_size === 'default') v.batch_size = b.config.batch_size;
}

export async function train(opts: TrainRunOptions = {}): Promise<TrainResult> {
  const { onProgress, signal } = opts;
  const log = opts.log ?? (() => {});
  const emit = (e: TrainEvent) => onProgress?.(e);
  const { values: v, source } = resolveTrainOptions(stripRunOptions(opts), DEFAULT_CORPUS);
  const warnings: string[] = [];
  const warn = (m: string) => { warnings.push(m); log(`warning: ${m}`); };
  const dir = path.join(v.checkpoints_dir, v.model_name);
  const existing = findBundle(dir);
  const legacy = existing ? undefined : legacyLatest(dir);
  const text = readTextFile(v.input_file);

  let model: Model;
  let tokenizer: Tokenizer;
  let startStep = 0;
  let resumed = false;
  let base: LoadedBundle | undefined;
  const modelOpts = (): Pick<ModelConfig, 'dropout' | 'device' | 'seed'> => ({ dropout: v.dropout, device: v.device, seed: v.seed });

  if (opts.startFrom) {
    ({ model, tokenizer, step: startStep } = opts.startFrom);
    log(`Resuming from ${opts.startFrom.source} at step ${startStep}.`);
    resumed = true;
  } else if (existing || legacy) {
    if (existing) {
      log(`Found checkpoint at ${existing}, resuming training.`);
      base = await loadBundle(existing, { optimizer: true });
    } else {
      log(`Found legacy checkpoint ${legacy}, resuming training (it is kept; saves go to the JSON bundle format).`);
      base = await loadLegacy(legacy!, dir);
    }
    const from = existing ?? legacy!;
    if (!base.tokenizer) throw new MyptError('E_BAD_FILE', `${from}: no tokenizer recorded, so the training text cannot be encoded`);
    tokenizer = tokenizerFromJSON(base.tokenizer, existing ? path.join(existing, 'tokenizer.json') : legacy);
    const conflicts = archConflicts(v, source, base, tokenizer);
    if (conflicts.length) warn(`resuming ${dir} with the architecture in its config.json; ignoring ${conflicts.join(', ')}`);
    adoptRecorded(v, source, base.trainingState?.training_config, base);
    model = createModel({ ...base.modelConfig, ...modelOpts() });
    model.setParameters(base.params);
    const recorded = base.trainingState?.step;
    if (base.optimizer) {
      model.setOptimizerState(base.optimizer);
      startStep = base.optimizer.step;
      if (typeof recorded === 'number' && recorded !== startStep) {
        log(`Note: training_state.json records step ${recorded}, the optimizer has taken ${startStep} steps; continuing from ${startStep}.`);
      }
    } else {
      startStep = recorded ?? 0;
      warn(`${from} has no optimizer state: AdamW moments start from zero at step ${startStep}`);
    }
    resumed = true;
  } else if (v.init_from_model) {
    const baseDir = path.join(v.checkpoints_dir, v.init_from_model);
    const at = findBundle(baseDir);
    if (!at) throw new MyptError('E_NO_CHECKPOINT', `--init_from_model ${v.init_from_model}: no checkpoint at ${baseDir} (looked for config.json + model.pt)`);
    log(`Initializing from base model '${v.init_from_model}' at ${at}`);
    base = await loadBundle(at);
    if (!base.tokenizer) throw new MyptError('E_BAD_FILE', `--init_from_model ${v.init_from_model}: ${at} has no tokenizer.json; cannot safely fine-tune`);
    tokenizer = tokenizerFromJSON(base.tokenizer, path.join(at, 'tokenizer.json'));
    if (source.tokenization !== 'default' && v.tokenization !== tokenizer.kind) {
      throw new MyptError('E_BAD_ARGUMENT', `--tokenization ${v.tokenization}: base model '${v.init_from_model}' uses ${tokenizer.kind} tokens; fine-tuning requires the same tokenizer`);
    }
    if (tokenizer.kind === 'char') log(`Using base model's char vocabulary (size: ${tokenizer.vocabSize})`);
    const conflicts = archConflicts(v, source, base, tokenizer);
    if (conflicts.length) warn(`fine-tuning keeps the architecture of '${v.init_from_model}'; ignoring ${conflicts.join(', ')}`);
    if (source.batch_size === 'default') v.batch_size = base.config.batch_size;
    model = createModel({ ...base.modelConfig, ...modelOpts() });
    model.setParameters(base.params);
  } else {
    log('No checkpoint found. Starting from scratch.');
    tokenizer = createTokenizer(v.tokenization, text);
    const sizes = { vocab_size: tokenizer.vocabSize, block_size: v.block_size, n_layer: v.n_layer, n_head: v.n_head, n_embd: v.n_embd };
    model = createModel(v.arch === 'mypt'
      ? { ...myptModelConfig({ ...sizes, bias: v.bias }), ...modelOpts() }
      : { ...sizes, arch: v.arch, bias: source.bias === 'default' ? undefined : v.bias, ...modelOpts() });
  }

  try {
    const cfg = model.config;
    let splits;
    try {
      splits = tokenizeAndSplit(tokenizer, text);
    } catch (e) {
      if (e instanceof MyptError && e.code === 'E_TOKENIZER') {
        throw new MyptError('E_TOKENIZER', `--input_file ${v.input_file}: ${e.message}`);
      }
      throw e;
    }
    checkSplitsFit(splits, cfg.block_size, `--input_file ${v.input_file}`);
    const configJson: MyptConfigJson = {
      batch_size: v.batch_size, block_size: cfg.block_size, vocab_size: cfg.vocab_size, n_embd: cfg.n_embd,
      n_head: cfg.n_head, n_layer: cfg.n_layer, dropout: v.dropout, bias: cfg.arch === 'mypt' ? cfg.qkv_bias : cfg.bias,
      device: shortDevice(model.device),
      // MyPT's own loader cannot run other architectures; their config.json says which they are
      ...(cfg.arch === 'mypt' ? {} : { arch: cfg.arch, activation: cfg.activation }),
    };
    log(`Using config: ${Object.entries(configJson).map(([k, x]) => `${k}:${k === 'dropout' ? floatRepr(x as number) : x}`).join(', ')}`);
    log(`${model.numParams.toLocaleString('en-US')} parameters on ${model.device}; ${splits.train.length.toLocaleString('en-US')} train / ${splits.val.length.toLocaleString('en-US')} val tokens (${tokenizer.kind})`);
    emit({ type: 'start', step: startStep, max_iters: v.max_iters, resumed, device: model.device, numParams: model.numParams, trainTokens: splits.train.length, valTokens: splits.val.length });

    const metrics: MetricRecord[] = resumed ? readMetrics(existing, startStep) : [];
    const t0 = Date.now();
    let tokensDone = 0;
    let trainSeconds = 0;
    let last: { train: number; val: number } | undefined;
    const B = v.batch_size, T = cfg.block_size;

    const evaluate = async (step: number) => {
      const mean = async (data: Int32Array, stream: number) => {
        let s = 0;
        for (let k = 0; k < v.eval_iters; k++) {
          const b = sampleBatch(data, B, T, new CounterRng(v.seed, stream, step * v.eval_iters + k));
          s += await model.loss(b.tokens, b.targets);
        }
        return s / v.eval_iters;
      };
      const train_loss = await mean(splits.train, STREAM_EVAL_TRAIN);
      const val_loss = await mean(splits.val, STREAM_EVAL_VAL);
      last = { train: train_loss, val: val_loss };
      log(`step ${step}: train loss ${train_loss.toFixed(4)}, val loss ${val_loss.toFixed(4)}`);
      emit({ type: 'eval', step, train_loss, val_loss });
      await opts.checkpointSaver?.onEval(saveCtx(step), { trainLoss: train_loss, valLoss: val_loss });
      metrics.push({
        step, train_loss, val_loss, lr: lrAt(step, v), time: new Date().toISOString(),
        elapsed_s: (Date.now() - t0) / 1000, tokens_per_s: trainSeconds > 0 ? tokensDone / trainSeconds : 0,
      });
    };

    const saveCtx = (step: number): SaveContext => ({
      model, step, tokenizer, batchSize: B, log,
      optimizer: { lr: lrAt(Math.max(0, step - 1), v), weight_decay: v.weight_decay },
      hyperparameters: { max_iters: v.max_iters, eval_interval: v.eval_interval, eval_iters: v.eval_iters, learning_rate: v.learning_rate,
        seed: v.seed, weight_decay: v.weight_decay, grad_clip: v.grad_clip, input_file: path.resolve(v.input_file) },
    });
    const save = async (step: number) => {
      if (opts.saveBundle === false) return;
      const trainingConfig: TrainingConfigJson = {
        max_iters: v.max_iters, eval_interval: v.eval_interval, eval_iters: v.eval_iters, learning_rate: v.learning_rate,
        start_step: startStep, seed: v.seed, weight_decay: v.weight_decay, grad_clip: v.grad_clip,
        warmup_iters: v.warmup_iters, lr_decay_iters: v.lr_decay_iters, min_lr: v.min_lr,
      };
      const report = await saveBundle(dir, {
        config: configJson, layout: cfg, params: model.getParameters(), tokenizer: tokenizer.toJSON(), step, trainingConfig,
        optimizer: v.save_model_only ? undefined : model.getOptimizerState(),
        optimizerHyper: { lr: lrAt(Math.max(0, step - 1), v), weight_decay: v.weight_decay },
        extras: {
          'metrics.jsonl': metrics.map((m) => JSON.stringify(m)).join('\n') + (metrics.length ? '\n' : ''),
          'loss.svg': renderLossSvg(metrics, `${v.model_name}: loss`),
        },
      });
      for (const [what, p] of report.files) log(`Saved ${what} to ${p}`);
      emit({ type: 'save', step, files: report.files });
    };

    let step = startStep;
    let interrupted = false;
    if (startStep >= v.max_iters) {
      log(`Already at step ${startStep} of --max_iters ${v.max_iters}; nothing to train (raise --max_iters to continue).`);
    } else {
      for (let it = startStep; it < v.max_iters; it++) {
        if (it % v.eval_interval === 0 && !(resumed && it === startStep)) {
          await evaluate(it);
          await save(it);
        }
        if (it > startStep) await opts.checkpointSaver?.onStep(saveCtx(it));
        if (signal?.aborted) { interrupted = true; break; }
        const lr = lrAt(it, v);
        const batch = sampleBatch(splits.train, B, T, new CounterRng(v.seed, STREAM_TRAIN, it));
        model.setSeed(dropoutSeed(v.seed, it));   // dropout masks from (seed, step), so a resumed run continues them
        const ts = performance.now();
        const loss = await model.trainStep({ ...batch, lr, weight_decay: v.weight_decay, grad_clip: v.grad_clip > 0 ? v.grad_clip : undefined });
        const seconds = (performance.now() - ts) / 1000;
        step = it + 1;
        tokensDone += B * T;
        trainSeconds += seconds;
        if (!Number.isFinite(loss)) {
          throw new MyptError('E_NATIVE', `the loss became ${loss} at step ${step}`, 'lower --learning_rate or set --grad_clip 1.0');
        }
        emit({ type: 'step', step, loss, lr, tokens: B * T, seconds });
        if (signal?.aborted) { interrupted = true; break; }
      }
      if (interrupted) {
        log(`Interrupted: saving at step ${step}.`);
        await save(step);
      } else {
        await evaluate(step);
        await save(step);
      }
      await opts.checkpointSaver?.onEnd(saveCtx(step));
    }

    let sample: string | undefined;
    if (!interrupted && v.sample_tokens > 0 && !signal?.aborted) {
      sample = await writeSample(model, tokenizer, v.sample_tokens, v.seed, (piece) => emit({ type: 'sample', text: piece }), signal);
    }
    emit({ type: 'done', step });
    return {
      model_name: v.model_name, dir, step, start_step: startStep, resumed, interrupted,
      train_loss: last?.train, val_loss: last?.val, sample, seconds: (Date.now() - t0) / 1000,
      tokens_per_second: trainSeconds > 0 ? tokensDone / trainSeconds : 0, num_params: model.numParams, warnings,
    };
  } finally {
    model.dispose();
  }
}

/** MyPT resumes a legacy checkpoints/<name>/latest.pt when no bundle is there (final.pt is not resumed). */
function legacyLatest(dir: string): string | undefined {
  const file = path.join(dir, 'latest.pt');
  return fs.existsSync(file) && fs.statSync(file).isFile() ? file : undefined;
}

async function loadLegacy(file: string, dir: string): Promise<LoadedBundle> {
  const det = await detectCheckpoint(file, { optimizer: true });
  if (det.format !== 'mypt-legacy') throw new MyptError('E_BAD_FILE', `${file}: not a MyPT legacy checkpoint (found ${det.format})`);
  const cfg = det.extra.config && typeof det.extra.config === 'object' ? (det.extra.config as Record<string, unknown>) : {};
  return {
    dir, layout: det.layout, modelConfig: det.config, params: det.params, optimizer: det.optimizer, dtypes: [], hasOptimizer: det.hasOptimizer,
    config: parseConfigJson({ ...cfg, vocab_size: det.config.vocab_size, block_size: det.config.block_size }, file),
    tokenizer: det.tokenizer ?? null,
    trainingState: { step: det.step ?? null },
  };
}

/** A sample from a newline prompt (or token 0 when the vocabulary has no newline), streamed piece by piece. */
async function writeSample(model: Model, tokenizer: Tokenizer, n: number, seed: number, onPiece: (s: string) => void, signal?: AbortSignal): Promise<string> {
  let prompt: number[];
  try {
    prompt = tokenizer.encode('\n');
  } catch {
    prompt = [0];
  }
  const dec = new TextStreamDecoder(tokenizer);
  let text = '';
  await model.generate(prompt, {
    max_new_tokens: n, seed, signal,
    onToken: (id) => {
      const piece = dec.push(id);
      if (piece) { text += piece; onPiece(piece); }
    },
  });
  const rest = dec.flush();
  if (rest) { text += rest; onPiece(rest); }
  return text;
}

function stripRunOptions(o: TrainRunOptions): TrainOptions {
  const { onProgress: _p, log: _l, signal: _s, checkpointSaver: _c, startFrom: _f, saveBundle: _b, ...rest } = o;
  return rest;
}
