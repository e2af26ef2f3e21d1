// The MyPT JSON bundle (FORMATS.md section 1): a folder with config.json, tokenizer.json,
// training_state.json, model.pt, optimizer.pt (+ mypt-native's metrics.jsonl and loss.svg). model.pt uses
// MyPT's names for MyPT's architecture; other architectures (--arch gpt2) use nanoGPT's names, with
// `arch`/`activation` recorded in config.json beside MyPT's nine keys.
// Reading is lenient and never writes; writing replaces the whole folder atomically (atomic.ts), so a
// crash at any point of a save leaves the previous bundle whole.
import fs from 'fs';
import path from 'path';
import { MyptError, expectPath } from '../../errors';
import type { TokenizerJSON } from '../../tokenizer/types';
import { committedDir, replaceDirAtomic, SaveStage } from '../atomic';
import {
  canonicalToOptimizerStateDict, canonicalToStateDict, FormatModelConfig, LayoutHints, LayoutName, optimizerToCanonical,
  stateDictToCanonical,
} from '../layouts';
import type { AdamWHyper, CanonicalOptimizer, LayoutConfig, NamedTensors, StateDictIn } from '../layouts/common';
import {
  configJsonText, MyptConfigJson, readConfigJson, readTokenizerJson, readTrainingStateJson, tokenizerJsonText,
  TrainingConfigJson, TrainingStateJson, trainingStateJsonText,
} from './json';
import { loadTorchSync, saveTorch } from '../torch';

export type { MyptConfigJson, TrainingConfigJson, TrainingStateJson } from './json';

/** A folder is a bundle iff config.json AND model.pt exist (MyPT's exists_new_format). */
export function isBundle(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'config.json')) && fs.existsSync(path.join(dir, 'model.pt'));
}

/** The folder holding the last whole save of bundle `dir` (itself, or the sibling left by an interrupted save). */
export function findBundle(dir: string): string | undefined {
  return committedDir(dir, isBundle);
}

export interface BundleMeta {
  dir: string;
  config: MyptConfigJson;
  tokenizer: TokenizerJSON | null;
  trainingState: TrainingStateJson | null;
}

export interface LoadedBundle extends BundleMeta {
  /** The state_dict naming of model.pt: 'mypt' for MyPT's own bundles, 'nanogpt' for --arch gpt2, ... */
  layout: LayoutName;
  modelConfig: FormatModelConfig;
  params: NamedTensors;
  /** Present when optimizer.pt exists and was asked for. */
  optimizer?: CanonicalOptimizer & { hyper: AdamWHyper };
  /** model.pt's wrapper dtype records, when a later MyPT wrapped the state_dict. */
  checkpointDtype?: string;
  modelDtype?: string;
  /** The dtypes of model.pt's tensors (read from their records, not their data). */
  dtypes: string[];
  /** Whether optimizer.pt is there (whether or not it was read). */
  hasOptimizer: boolean;
}

function noBundle(dir: string): never {
  throw new MyptError('E_NO_CHECKPOINT', `no checkpoint at ${dir} (looked for config.json + model.pt)`);
}

export function readBundleMeta(dir: string): BundleMeta {
  expectPath(dir, 'readBundleMeta');
  const at = findBundle(dir) ?? noBundle(dir);
  return { dir: at, config: readConfigJson(at), tokenizer: readTokenizerJson(at), trainingState: readTrainingStateJson(at) };
}

/** model.pt holds a raw state_dict, or (later MyPT) {"state_dict": ..., "checkpoint_dtype", "model_dtype"}. */
function unwrapStateDict(v: unknown, file: string): { sd: StateDictIn; dtype?: string; modelDtype?: string } {
  if (!(v instanceof Map)) throw new MyptError('E_BAD_FILE', `${file}: expected a state_dict (a dict of tensors)`);
  const inner = v.get('state_dict');
  if (inner instanceof Map) {
    const str = (x: unknown) => (typeof x === 'string' ? x : undefined);
    return { sd: inner as StateDictIn, dtype: str(v.get('checkpoint_dtype')), modelDtype: str(v.get('model_dtype')) };
  }
  return { sd: v as StateDictIn };
}

/** Reads a bundle: config, tokenizer and training state leniently, model.pt into the canonical layout, and
 *  optimizer.pt when asked (tensors are read as they are mapped; nothing is written). */
export function readBundleSync(dir: string, opts: { optimizer?: boolean } = {}): LoadedBundle {
  expectPath(dir, 'readBundleSync');
  const meta = readBundleMeta(dir);
  const modelFile = path.join(meta.dir, 'model.pt');
  const { sd, dtype, modelDtype } = unwrapStateDict(loadTorchSync(modelFile), modelFile);
  const { layout, config: modelConfig, params } = stateDictToCanonical(sd, meta.config as unknown as LayoutHints, modelFile);
  const dtypes = [...new Set([...(sd as Map<string, unknown>).values()].map((t) => (t as { dtype?: unknown })?.dtype).filter((d): d is string => typeof d === 'string'))];
  const optName = meta.trainingState?.optimizer_file || 'optimizer.pt';
  const optFile = path.join(meta.dir, path.basename(optName));
  const hasOptimizer = fs.existsSync(optFile);
  const out: LoadedBundle = { ...meta, layout, modelConfig, params, checkpointDtype: dtype, modelDtype, dtypes, hasOptimizer };
  if (opts.optimizer && hasOptimizer) out.optimizer = optimizerToCanonical(loadTorchSync(optFile), layout, modelConfig, optFile);
  return out;
}

export async function loadBundle(dir: string, opts: { optimizer?: boolean } = {}): Promise<LoadedBundle> {
  expectPath(dir, 'loadBundle');
  return readBundleSync(dir, opts);
}

export interface BundleWrite {
  config: MyptConfigJson;
  /** The model's config: picks model.pt's naming (MyPT's for the MyPT architecture, nanoGPT's for gpt2). */
  layout: LayoutConfig & { arch?: string; attn_scale?: unknown };
  params: NamedTensors;
  tokenizer: TokenizerJSON;
  step: number;
  /** Absent for files that record none (MyPT's older bundles, legacy files). */
  trainingConfig?: TrainingConfigJson;
  /** Omitted with --save_model_only. */
  optimizer?: CanonicalOptimizer;
  optimizerHyper?: Partial<AdamWHyper>;
  /** Extra files written into the bundle (metrics.jsonl, loss.svg). */
  extras?: Record<string, string>;
}

export interface SaveReport {
  /** [what, final path] for each file, in write order (MyPT prints one `Saved ... to <path>` line each). */
  files: Array<[string, string]>;
}

/**
 * Writes a bundle atomically. Files are staged in a sibling folder in MyPT's order (config, tokenizer,
 * weights, optimizer, extras) with training_state.json last, then the folder is swapped in.
 */
export async function saveBundle(dir: string, b: BundleWrite, onStage?: (s: SaveStage) => void): Promise<SaveReport> {
  expectPath(dir, 'saveBundle');
  const files: Array<[string, string]> = [];
  const final = (name: string) => path.join(dir, name);
  await replaceDirAtomic(dir, async (staging) => {
    const put = (name: string, text: string) => fs.writeFileSync(path.join(staging, name), text);
    put('config.json', configJsonText(b.config));
    files.push(['config', final('config.json')]);
    put('tokenizer.json', tokenizerJsonText(b.tokenizer));
    files.push(['tokenizer', final('tokenizer.json')]);
    await saveTorch(path.join(staging, 'model.pt'), canonicalToStateDict(b.params, b.layout));
    files.push(['model weights', final('model.pt')]);
    if (b.optimizer) {
      await saveTorch(path.join(staging, 'optimizer.pt'), canonicalToOptimizerStateDict(b.optimizer, b.layout, b.optimizerHyper));
      files.push(['optimizer state', final('optimizer.pt')]);
    }
    for (const [name, text] of Object.entries(b.extras ?? {})) put(name, text);
    put('training_state.json', trainingStateJsonText({
      step: b.step, training_config: b.trainingConfig, optimizer_file: b.optimizer ? 'optimizer.pt' : null,
    }));
    files.push(['training state', final('training_state.json')]);
  }, { onStage, dropOld: ['optimizer.pt'] }); // an older optimizer.pt never sits beside newer weights
  return { files };
}
