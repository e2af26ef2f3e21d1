// Where a training run starts: a bundle under checkpoints/<model_name> is resumed (or MyPT's legacy
// latest.pt there), --init_from_model fine-tunes from another bundle, a caller may hand over a loaded model
// (load-checkpoint's resume), and otherwise a fresh model of the flags' architecture is built.
// Architecture recorded in a checkpoint wins over flags (with a warning naming what is ignored); training
// settings recorded in a bundle win over built-in defaults, explicit ones over both.
import fs from 'fs';
import path from 'path';
import { MyptError } from '../../errors';
import { createModel, GptModel } from '../../model';
import type { ModelConfig } from '../../model/config';
import { createTokenizer, Tokenizer, tokenizerFromJSON } from '../../tokenizer';
import { findBundle, loadBundle, LoadedBundle, TrainingConfigJson } from '../../formats/mypt/bundle';
import { parseConfigJson } from '../../formats/mypt/json';
import { detectCheckpoint } from '../../formats/detect';
import { myptModelConfig } from '../../formats/layouts/mypt';
import type { LayoutName } from '../../formats/layouts';
import { ARCH_KEYS, RECORDED, Resolved } from './options';
import { locateInitFrom, readInitFrom } from './init-from';

export interface Start {
  model: GptModel;
  tokenizer: Tokenizer;
  /** Optimizer steps already taken. */
  step: number;
  resumed: boolean;
  /** The bundle folder resumed (its metrics history continues). */
  resumedBundle?: string;
}

export interface Handover {
  model: GptModel;
  tokenizer: Tokenizer;
  step: number;
  source: string;
}

interface Ctx {
  v: Resolved;
  source: Record<string, string>;
  text: string;
  log: (line: string) => void;
  warn: (message: string) => void;
  /** the GPU of this process (a rank of a data-parallel job: its LOCAL_RANK); default 0 */
  deviceIndex?: number;
  /** the tokenizer of --data's shards (a fresh model takes it instead of one built from the text) */
  tokenizer?: Tokenizer;
}

/** Where to start; `dir` is checkpoints/<model_name>. Nothing is created here. */
export async function startingPoint(c: Ctx, dir: string, handover?: Handover): Promise<Start> {
  const { v, source, log } = c;
  if (handover) {
    log(`Resuming from ${handover.source} at step ${handover.step}.`);
    return { model: handover.model, tokenizer: handover.tokenizer, step: handover.step, resumed: true };
  }
  const existing = findBundle(dir);
  const legacy = existing ? undefined : legacyLatest(dir);
  if (existing || legacy) return resume(c, dir, existing, legacy);
  if (v.init_from_model) return fineTune(c);
  // nanoGPT's other two values: 'resume' needs the checkpoint (found above), 'scratch' is a fresh model
  if (v.init_from === 'resume') {
    throw new MyptError('E_NO_CHECKPOINT', `--init_from resume: no checkpoint at ${dir} (looked for config.json + model.pt, latest.pt)`, 'check --model_name and --checkpoints_dir');
  }
  if (v.init_from && v.init_from !== 'scratch') return initFrom(c);
  const tokenizer = c.tokenizer ?? createTokenizer(v.tokenization, c.text);
  const model = build(c, tokenizer, v.arch === 'mypt'
    ? myptModelConfig({ vocab_size: tokenizer.vocabSize, block_size: v.block_size, n_layer: v.n_layer, n_head: v.n_head, n_embd: v.n_embd, bias: v.bias })
    : { vocab_size: tokenizer.vocabSize, block_size: v.block_size, n_layer: v.n_layer, n_head: v.n_head, n_embd: v.n_embd, arch: v.arch, bias: source.bias === 'default' ? undefined : v.bias });
  log('No checkpoint found. Starting from scratch.');
  return { model, tokenizer, step: 0, resumed: false };
}

/** The model of a config with this run's dropout, device and seed, and its tokenizer (for the sample). */
function build(c: Ctx, tokenizer: Tokenizer, config: ModelConfig): GptModel {
  return createModel({ ...config, dropout: c.v.dropout, device: c.v.device, seed: c.v.seed }, { tokenizer, deviceIndex: c.deviceIndex });
}

async function resume(c: Ctx, dir: string, existing: string | undefined, legacy: string | undefined): Promise<Start> {
  const { v, source, log } = c;
  let base: LoadedBundle;
  if (existing) {
    log(`Found checkpoint at ${existing}, resuming training.`);
    base = await loadBundle(existing, { optimizer: true });
  } else {
    log(`Found legacy checkpoint ${legacy}, resuming training (it is kept; saves go to the JSON bundle format).`);
    base = await loadLegacy(legacy!, dir);
  }
  const from = existing ?? legacy!;
  if (!base.tokenizer) throw new MyptError('E_TOKENIZER', `${from}: no tokenizer recorded, so the training text cannot be encoded`);
  const tokenizer = tokenizerFromJSON(base.tokenizer, existing ? path.join(existing, 'tokenizer.json') : legacy);
  const conflicts = archConflicts(v, source, base, tokenizer);
  if (conflicts.length) c.warn(`resuming ${dir} with the architecture in its config.json; ignoring ${conflicts.join(', ')}`);
  adoptRecorded(v, source, base.trainingState?.training_config, base);
  const model = build(c, tokenizer, base.modelConfig);
  try {
    model.setParameters(base.params);
    const recorded = base.trainingState?.step;
    let step: number;
    if (base.optimizer) {
      model.setOptimizerState(base.optimizer);
      step = base.optimizer.step;
      if (typeof recorded === 'number' && recorded !== step) {
        log(`Note: training_state.json records step ${recorded}, the optimizer has taken ${step} steps; continuing from ${step}.`);
      }
    } else {
      step = recorded ?? 0;
      c.warn(`${from} has no optimizer state: AdamW moments start from zero at step ${step}`);
    }
    return { model, tokenizer, step, resumed: true, resumedBundle: existing };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

async function fineTune(c: Ctx): Promise<Start> {
  const { v, source, log } = c;
  const baseDir = path.join(v.checkpoints_dir, v.init_from_model!);
  const at = findBundle(baseDir);
  if (!at) throw new MyptError('E_NO_CHECKPOINT', `--init_from_model ${v.init_from_model}: no checkpoint at ${baseDir} (looked for config.json + model.pt)`);
  log(`Initializing from base model '${v.init_from_model}' at ${at}`);
  const base = await loadBundle(at);
  if (!base.tokenizer) throw new MyptError('E_TOKENIZER', `--init_from_model ${v.init_from_model}: ${at} has no tokenizer.json; cannot safely fine-tune`);
  const tokenizer = tokenizerFromJSON(base.tokenizer, path.join(at, 'tokenizer.json'));
  if (source.tokenization !== 'default' && v.tokenization !== tokenizer.kind) {
    throw new MyptError('E_BAD_ARGUMENT', `--tokenization ${v.tokenization}: base model '${v.init_from_model}' uses ${tokenizer.kind} tokens; fine-tuning requires the same tokenizer`);
  }
  if (tokenizer.kind === 'char') log(`Using base model's char vocabulary (size: ${tokenizer.vocabSize})`);
  const conflicts = archConflicts(v, source, base, tokenizer);
  if (conflicts.length) c.warn(`fine-tuning keeps the architecture of '${v.init_from_model}'; ignoring ${conflicts.join(', ')}`);
  if (source.batch_size === 'default') v.batch_size = base.config.batch_size;
  const model = build(c, tokenizer, base.modelConfig);
  try {
    model.setParameters(base.params);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, tokenizer, step: 0, resumed: false };
}

/** nanoGPT's --init_from: pretrained GPT-2 from a Hugging Face folder or cache, or any checkpoint PATH. */
async function initFrom(c: Ctx): Promise<Start> {
  const { v, source, log } = c;
  const flag = `--init_from ${v.init_from}`;
  const where = locateInitFrom(v.init_from!);
  const { checkpoint: d, tokenizer } = readInitFrom(where, flag);
  log(`Initializing from ${v.init_from}${where !== v.init_from ? ` (${where})` : ''}: ${d.format}, ${tokenizer.kind} tokens (vocab ${d.config.vocab_size})`);
  for (const w of d.warnings) c.warn(w);
  if (source.tokenization !== 'default' && v.tokenization !== tokenizer.kind) {
    throw new MyptError('E_BAD_ARGUMENT', `--tokenization ${v.tokenization}: ${flag} uses ${tokenizer.kind} tokens; fine-tuning requires the same tokenizer`);
  }
  const cfg = { ...d.config } as ModelConfig;
  let params = d.params;
  if (source.block_size === 'flag' && v.block_size < cfg.block_size) {
    // nanoGPT's crop_block_size: a shorter context keeps the first rows of the position embeddings
    log(`Cropping the context of ${v.init_from} from ${cfg.block_size} to --block_size ${v.block_size}`);
    const wpe = params.wpe;
    if (!wpe || wpe.shape.length !== 2 || wpe.shape[0] !== cfg.block_size) throw new MyptError('E_UNSUPPORTED', `--block_size ${v.block_size}: ${v.init_from} has no position table to crop`);
    params = { ...params, wpe: { ...wpe, shape: [v.block_size, wpe.shape[1]], data: wpe.data.slice(0, v.block_size * wpe.shape[1]) } };
    cfg.block_size = v.block_size;
  }
  const have: Record<string, unknown> = { n_embd: cfg.n_embd, n_head: cfg.n_head, n_layer: cfg.n_layer, block_size: cfg.block_size, arch: cfg.arch ?? 'mypt' };
  const ignored = Object.keys(have).filter((k) => source[k] !== undefined && source[k] !== 'default' && v[k as keyof Resolved] !== have[k])
    .map((k) => `--${k} ${String(v[k as keyof Resolved])} (${v.init_from}: ${String(have[k])})`);
  if (ignored.length) c.warn(`fine-tuning keeps the architecture of ${v.init_from}; ignoring ${ignored.join(', ')}`);
  const model = build(c, tokenizer, cfg);
  try {
    model.setParameters(params);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, tokenizer, step: 0, resumed: false };
}

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
  const keys = ['learning_rate', 'eval_interval', 'eval_iters', 'seed', 'weight_decay', 'grad_clip', 'warmup_iters', 'lr_decay_iters', 'min_lr',
    'beta1', 'beta2', 'log_interval'] as const;
  for (const k of keys) {
    const rec = tc?.[k];
    if (source[k] === 'default' && typeof rec === 'number' && Number.isFinite(rec)) (v as unknown as Record<string, number>)[k] = rec;
  }
  if (source.min_lr === 'default' && typeof tc?.min_lr !== 'number') v.min_lr = v.learning_rate / 10;
  // the micro-batches of a step over all processes, as recorded (re-divided over this run's processes: microBatches)
  const accumGiven = ['grad_accum', 'gradient_accumulation_steps', 'total_batch_size'].some((k) => source[k] !== undefined && source[k] !== 'default');
  if (tc && !accumGiven && (typeof tc.grad_accum === 'number' || typeof tc.world_size === 'number')) {
    const per = typeof tc.grad_accum === 'number' ? tc.grad_accum : 1, world = typeof tc.world_size === 'number' ? tc.world_size : 1;
    if (Number.isSafeInteger(per * world) && per * world >= 1) {
      v.gradient_accumulation_steps = per * world;
      source.gradient_accumulation_steps = RECORDED;
    }
  }
  if (source.dropout === 'default') v.dropout = b.config.dropout;
  if (source.batch_size === 'default') v.batch_size = b.config.batch_size;
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
    dir, layout: det.layout as LayoutName /* a legacy file: MyPT's */, modelConfig: det.config, params: det.params, optimizer: det.optimizer, dtypes: [], hasOptimizer: det.hasOptimizer,
    config: parseConfigJson({ ...cfg, vocab_size: det.config.vocab_size, block_size: det.config.block_size }, file),
    tokenizer: det.tokenizer ?? null,
    trainingState: { step: det.step ?? null },
  };
}
