// `mypt-native convert`: legacy MyPT latest.pt/final.pt -> bundle, nanoGPT ckpt.pt -> bundle (any other
// checkpoint with a tokenizer too), any checkpoint -> .safetensors. The original is never modified; the
// output is reloaded and compared with the source before anything else happens; deleting the original is
// offered only then: asked on a terminal, done without one only with --yes.
import fs from 'fs';
import path from 'path';
import { MyptError } from '../../errors';
import { formatOfOpened, openTarget, OpenedTarget, readBundle, readOpened } from '../../formats/detect';
import { recognise } from '../../formats/recognise';
import type { CheckpointFormat, DetectedCheckpoint } from '../../formats/types';
import { readSafetensorsFile, ST_META } from '../../formats/hf/gpt2';
import { canonicalToStateDict, layoutForConfig } from '../../formats/layouts';
import type { F32Tensor } from '../../formats/layouts/common';
import { findLegacyFile, LEGACY_NAMES } from '../../formats/mypt/legacy';
import { isBundle, saveBundle } from '../../formats/mypt/bundle';
import type { MyptConfigJson, TrainingConfigJson } from '../../formats/mypt/json';
import { saveSafetensorsSync } from '../../formats/safetensors';
import { loadTorchSync } from '../../formats/torch';

export type ConvertFormat = 'pt' | 'safetensors';

export interface ConvertOptions {
  /** Every model folder under checkpoints_dir. */
  all?: boolean;
  /** checkpoints_dir/<model_name>. */
  model_name?: string;
  /** A checkpoint file or folder anywhere. */
  checkpoint?: string;
  checkpoints_dir?: string;
  /** Say what would be done; write nothing. */
  dry_run?: boolean;
  /** pt: a MyPT bundle (default); safetensors: one .safetensors file. */
  format?: ConvertFormat;
  /** Delete the original after a verified conversion without asking. */
  yes?: boolean;
  /** Output path (a bundle folder or a .safetensors file); not with --all. */
  out?: string;
  /** The lecture trainer's training text, for its character vocabulary. */
  input_file?: string;
  /** A terminal is attached: deletion is asked through `confirm`. */
  interactive?: boolean;
  confirm?: (question: string) => Promise<boolean>;
  log?: (line: string) => void;
}

export interface ConversionPlan {
  source: string;
  sourceFormat: CheckpointFormat;
  to: 'bundle' | 'safetensors';
  target: string;
  /** Why nothing will be done for this source. */
  skip?: string;
  /** Whether the original could be deleted afterwards (bundles are never offered for deletion). */
  deletable: boolean;
}

export interface ConversionResult extends ConversionPlan {
  status: 'converted' | 'planned' | 'skipped';
  verified: boolean;
  deleted: boolean;
}

/** What each plan's source was opened as, so the conversion reads the file the plan already parsed. */
const opened = new WeakMap<ConversionPlan, OpenedTarget>();

function planOne(where: OpenedTarget, opts: ConvertOptions): ConversionPlan {
  const plan = planFor(where, opts);
  opened.set(plan, where);
  return plan;
}

function planFor(where: OpenedTarget, opts: ConvertOptions): ConversionPlan {
  const to = opts.format === 'safetensors' ? 'safetensors' : 'bundle';
  const fmt = formatOfOpened(where);
  const deletable = where.kind === 'file';
  const base = { source: where.path, sourceFormat: fmt, to, deletable } as const;
  if (to === 'safetensors') {
    if (fmt === 'safetensors') return { ...base, target: where.path, skip: 'already a .safetensors file' };
    // beside the source: <name>.safetensors; a bundle's or HF's pytorch_model.bin's: model.safetensors (HF's name)
    const into = opts.out !== undefined && fs.existsSync(opts.out) && fs.statSync(opts.out).isDirectory() ? opts.out : undefined;
    const named = where.kind === 'bundle' || path.basename(where.path) === 'pytorch_model.bin' ? 'model.safetensors'
      : path.basename(where.path).replace(/\.(pt|bin|pth)$/, '') + '.safetensors';
    const target = into ? path.join(into, named) : opts.out ?? (where.kind === 'bundle' ? path.join(where.path, 'model.safetensors')
      : path.basename(where.path) === 'pytorch_model.bin' ? path.join(path.dirname(where.path), 'model.safetensors')
        : where.path.replace(/\.(pt|bin|pth)$/, '') + '.safetensors');
    if (fs.existsSync(target)) {
      if (opts.out !== undefined) throw new MyptError('E_BAD_ARGUMENT', `--out ${opts.out}: ${target} already exists`, 'remove it or name another file');
      return { ...base, target, skip: `${target} already exists` };
    }
    return { ...base, target };
  }
  if (fmt === 'mypt-bundle') return { ...base, target: where.path, skip: 'already a bundle' };
  // MyPT's own converter writes the bundle beside the legacy file; others go to checkpoints_dir/<folder name>.
  const target = opts.out ?? (fmt === 'mypt-legacy' ? path.dirname(where.path)
    : path.join(opts.checkpoints_dir ?? 'checkpoints', path.basename(path.dirname(path.resolve(where.path)))));
  if (isBundle(target)) return { ...base, target, skip: `a bundle already exists at ${target}` };
  if (fmt !== 'mypt-legacy' && opts.out === undefined && fs.existsSync(target) && fs.readdirSync(target).length) {
    return { ...base, target, skip: `${target} exists and is not empty (name another folder with --out)` };
  }
  return { ...base, target };
}

/** Every model folder's convertible checkpoint under checkpoints_dir (for --all). */
function allSources(opts: ConvertOptions): OpenedTarget[] {
  const root = opts.checkpoints_dir ?? 'checkpoints';
  if (!fs.existsSync(root)) throw new MyptError('E_NO_CHECKPOINT', `--all: no ${root} folder here`);
  const out: OpenedTarget[] = [];
  const open = (file: string): OpenedTarget | undefined => {
    try {
      return { kind: 'file', path: file, value: loadTorchSync(file) };
    } catch {
      return undefined;
    }
  };
  for (const name of fs.readdirSync(root).sort()) {
    const dir = path.join(root, name);
    if (name.startsWith('.') || !fs.statSync(dir).isDirectory()) continue;
    if (opts.format !== 'safetensors') {
      if (isBundle(dir)) continue;
      // legacy: latest.pt, final.pt, else any *.pt the recogniser calls a MyPT legacy file; then nanoGPT's ckpt.pt
      const known = findLegacyFile(dir);
      const legacy = known ? open(known) : fs.readdirSync(dir).filter((f) => f.endsWith('.pt') && !LEGACY_NAMES.includes(f))
        .map((f) => open(path.join(dir, f))).find((o) => o && recognise(o.value).kind === 'mypt-legacy');
      const nano = !legacy && fs.existsSync(path.join(dir, 'ckpt.pt')) ? open(path.join(dir, 'ckpt.pt')) : undefined;
      if (legacy ?? nano) out.push((legacy ?? nano)!);
      continue;
    }
    try {
      out.push(openTarget(dir));
    } catch {
      // a folder with nothing recognisable is not an error for --all
    }
  }
  return out;
}

/** What convert would do, without doing it. */
export function planConversions(opts: ConvertOptions): ConversionPlan[] {
  const named = [opts.all, opts.model_name !== undefined, opts.checkpoint !== undefined].filter(Boolean).length;
  if (named !== 1) throw new MyptError('E_BAD_ARGUMENT', 'convert: name what to convert: --all, --model_name NAME or --checkpoint PATH (one of them)');
  if (opts.all && opts.out) throw new MyptError('E_BAD_ARGUMENT', 'convert: --out names one output and cannot be used with --all');
  if (opts.format && opts.format !== 'pt' && opts.format !== 'safetensors') {
    throw new MyptError('E_BAD_ARGUMENT', `--format ${opts.format}: expected pt or safetensors`);
  }
  const sources = opts.all ? allSources(opts)
    : opts.checkpoint !== undefined ? [openTarget(opts.checkpoint)]
      : [openTarget(opts.model_name!, { checkpointsDir: opts.checkpoints_dir })];
  return sources.map((s) => planOne(s, opts));
}

function bundleConfig(d: DetectedCheckpoint): MyptConfigJson {
  const c = d.config;
  const recorded = (d.extra.config ?? {}) as Record<string, unknown>;
  const batch = typeof recorded.batch_size === 'number' ? recorded.batch_size : typeof d.extra.batch_size === 'number' ? d.extra.batch_size : 32;
  const out: MyptConfigJson = {
    batch_size: batch, block_size: c.block_size, vocab_size: c.vocab_size, n_embd: c.n_embd, n_head: c.n_head,
    n_layer: c.n_layer, dropout: c.dropout, bias: c.bias, device: typeof recorded.device === 'string' ? recorded.device : 'cpu',
  };
  if (layoutForConfig(c) !== 'mypt') Object.assign(out, { arch: c.arch, activation: c.activation });
  return out;
}

function trainingConfig(d: DetectedCheckpoint): TrainingConfigJson | undefined {
  const t = d.format === 'nanogpt' ? (d.extra.config as Record<string, unknown>) : undefined;
  if (!t) return undefined; // legacy MyPT files record none (like MyPT's older bundles)
  return {
    max_iters: Number(t.max_iters), eval_interval: Number(t.eval_interval), eval_iters: Number(t.eval_iters),
    learning_rate: Number(t.learning_rate), start_step: 0,
  };
}

async function writeBundle(d: DetectedCheckpoint, target: string): Promise<void> {
  if (!d.tokenizer) throw new MyptError('E_TOKENIZER', d.tokenizerProblem ?? `${d.path}: no tokenizer`, 'a bundle needs one');
  const common = {
    config: bundleConfig(d), layout: d.config, params: d.params, tokenizer: d.tokenizer, step: d.step ?? 0,
    trainingConfig: trainingConfig(d), optimizer: d.optimizer, optimizerHyper: d.optimizer?.hyper,
  };
  await saveBundle(target, common); // model.pt in MyPT's names, or nanoGPT's for the GPT-2 family
}

function writeSafetensors(d: DetectedCheckpoint, target: string): void {
  const sd = canonicalToStateDict(d.params, d.config);
  const tensors = new Map<string, F32Tensor>();
  const seen = new Set<F32Tensor>();
  for (const [k, t] of sd) {
    if (String(k).endsWith('.tril') || seen.has(t)) continue; // mask buffers and the tied head's second name
    seen.add(t);
    tensors.set(String(k), t);
  }
  const meta: Record<string, string> = { format: 'pt', [ST_META.config]: JSON.stringify(d.config) };
  if (d.tokenizer) meta[ST_META.tokenizer] = JSON.stringify(d.tokenizer);
  if (d.step !== undefined) meta[ST_META.step] = String(d.step);
  fs.mkdirSync(path.dirname(path.resolve(target)), { recursive: true });
  saveSafetensorsSync(target, tensors, meta);
}

/** Reloads the output and requires the same config, tokenizer, weights (bit for bit) and optimizer state. */
export function verifyConversion(d: DetectedCheckpoint, target: string, to: 'bundle' | 'safetensors'): void {
  const back = to === 'bundle' ? readBundle(target, { optimizer: !!d.optimizer }) : readSafetensorsFile(target);
  const fail = (what: string) => {
    throw new MyptError('E_IO', `convert: the output ${target} does not reload to the same model (${what}); the original is kept`);
  };
  for (const k of ['vocab_size', 'block_size', 'n_layer', 'n_head', 'n_embd', 'activation', 'tied_head', 'qkv_bias', 'ln_bias', 'head_bias', 'attn_scale'] as const) {
    if (back.config[k] !== d.config[k]) fail(`${k} ${String(back.config[k])} vs ${String(d.config[k])}`);
  }
  if (JSON.stringify(back.tokenizer) !== JSON.stringify(d.tokenizer)) fail('tokenizer differs');
  const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
  for (const [name, t] of Object.entries(d.params)) {
    const u = back.params[name];
    if (!u || !same(u.data, t.data)) fail(`parameter ${name} differs`);
  }
  if (d.optimizer && to === 'bundle') {
    const o = back.optimizer;
    if (!o || o.step !== d.optimizer.step) fail('optimizer step differs');
    for (const [name, t] of Object.entries(d.optimizer.exp_avg)) {
      if (!same(o!.exp_avg[name].data, t.data) || !same(o!.exp_avg_sq[name].data, d.optimizer.exp_avg_sq[name].data)) fail(`optimizer moments of ${name} differ`);
    }
  }
}

async function maybeDelete(p: ConversionPlan, opts: ConvertOptions, log: (s: string) => void): Promise<boolean> {
  if (!p.deletable) return false;
  let ok = !!opts.yes;
  if (!ok && opts.interactive && opts.confirm) ok = await opts.confirm(`Delete the original ${p.source}? [y/N] `);
  if (!ok) {
    log(`  kept the original ${p.source}${opts.interactive ? '' : ' (no terminal: pass --yes to delete it)'}`);
    return false;
  }
  fs.rmSync(p.source);
  log(`  deleted the original ${p.source}`);
  return true;
}

/** Runs the conversions (or, with dry_run, only reports them). */
export async function convert(opts: ConvertOptions): Promise<ConversionResult[]> {
  const log = opts.log ?? (() => {});
  const plans = planConversions(opts);
  if (!plans.length) log('nothing to convert');
  const results: ConversionResult[] = [];
  for (const p of plans) {
    const what = `${p.source} (${p.sourceFormat}) -> ${p.to} ${p.target}`;
    if (p.skip) {
      log(`skip ${p.source}: ${p.skip}`);
      results.push({ ...p, status: 'skipped', verified: false, deleted: false });
      continue;
    }
    if (opts.dry_run) {
      log(`would convert ${what}`);
      results.push({ ...p, status: 'planned', verified: false, deleted: false });
      continue;
    }
    const read = readOpened(opened.get(p) ?? openTarget(p.source), { optimizer: p.to === 'bundle', inputFile: opts.input_file });
    if (read.family === 'modded') {
      throw new MyptError('E_UNSUPPORTED', `${p.source}: a modded-nanogpt checkpoint; convert it with --to small|medium`, 'its weights are no GPT layout');
    }
    const d = read.checkpoint;
    if (p.to === 'bundle') await writeBundle(d, p.target);
    else writeSafetensors(d, p.target);
    verifyConversion(d, p.target, p.to);
    log(`converted ${what}: reloaded and checked (${Object.keys(d.params).length} tensors${d.optimizer ? ' + optimizer state' : ''})`);
    const deleted = await maybeDelete(p, opts, log);
    results.push({ ...p, status: 'converted', verified: true, deleted });
  }
  return results;
}
