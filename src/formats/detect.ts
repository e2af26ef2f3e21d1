// The checkpoint registry: given a file, a folder or a model name, find what is there, recognise its
// format, and return the model in the canonical layout with its config, tokenizer, step and (on request)
// optimizer state. Reading never writes anything.
//
// A model name X means the folder <checkpointsDir>/X (default ./checkpoints/X). In a folder, MyPT's order:
// a bundle (config.json + model.pt) first, then latest.pt, then final.pt; then the other tools' file names.
import fs from 'fs';
import path from 'path';
import { MyptError } from '../errors';
import type { CheckpointFormat, DetectedCheckpoint, DetectOptions, TokenizerRecord } from './types';
import { hfConfigBeside, readHfStateDict, readSafetensorsFile } from './hf/gpt2';
import { optimizerToCanonical, stateDictToCanonical, unknownLayoutError, layoutOf, LayoutHints } from './layouts';
import { dictKeys, isDictLike, pyNumber } from './layouts/common';
import { PyObject } from './torch';
import { LECTURE_FILE, isLectureDict, lectureStepOf, readLecture } from './lecture/lecture';
import { findLegacyFile, isMyptLegacy, readMyptLegacy } from './mypt/legacy';
import { findBundle, isBundle, readBundleMeta } from './mypt/bundle';
import { detectModded, moddedIsNotGpt } from './modded/modded';
import { isNanogpt, readNanogpt } from './nanogpt/ckpt';
import { loadTorchSync } from './torch';
import { isSection5Dict, readSection5Sync, section5FileFor } from './separated/detect';

export type { CheckpointFormat, DetectedCheckpoint, DetectOptions, TokenizerRecord } from './types';

/** What a folder is searched for, in order (for the "looked for" part of errors). */
export const LOOKED_FOR = ['config.json + model.pt', 'latest.pt', 'final.pt', 'ckpt.pt', 'pytorch_model.bin', 'model.safetensors', 'checkpoint_*.pt'];

/** A file given inside a bundle stands for the bundle. */
const BUNDLE_FILES = ['model.pt', 'config.json', 'optimizer.pt', 'tokenizer.json', 'training_state.json'];

/** The checkpoint a folder holds: a bundle folder or a file; undefined when nothing recognisable is there. */
export function findInFolder(dir: string): { kind: 'bundle' | 'file'; path: string } | undefined {
  const bundle = findBundle(dir); // the folder, or the sibling an interrupted save left
  if (bundle) return { kind: 'bundle', path: bundle };
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) return undefined;
  const legacy = findLegacyFile(dir);
  if (legacy) return { kind: 'file', path: legacy };
  for (const name of ['ckpt.pt', 'pytorch_model.bin', 'model.safetensors']) {
    const p = path.join(dir, name);
    if (fs.existsSync(p) && fs.statSync(p).isFile()) return { kind: 'file', path: p };
  }
  const lecture = fs.readdirSync(dir).filter((n) => LECTURE_FILE.test(n)).sort((a, b) => lectureStepOf(b)! - lectureStepOf(a)! || (a < b ? 1 : -1));
  if (lecture.length) return { kind: 'file', path: path.join(dir, lecture[0]) };
  return undefined;
}

/**
 * Where a target points: an existing file, an existing folder's checkpoint, or model name X's folder.
 * Throws `no checkpoint for model X at DIR (looked for ...)` when nothing is found.
 */
export function resolveCheckpoint(target: string, opts: Pick<DetectOptions, 'checkpointsDir'> = {}): { kind: 'bundle' | 'file'; path: string } {
  if (fs.existsSync(target)) {
    const st = fs.statSync(target);
    if (st.isFile()) {
      const dir = path.dirname(target);
      if (BUNDLE_FILES.includes(path.basename(target)) && isBundle(dir)) return { kind: 'bundle', path: dir };
      return { kind: 'file', path: target };
    }
    const found = findInFolder(target);
    if (found) return found;
    throw new MyptError('E_NO_CHECKPOINT', `no checkpoint at ${target} (looked for ${LOOKED_FOR.join(', ')})`);
  }
  const pairFile = section5FileFor(target);   // the base name of a separated pair
  if (pairFile) return { kind: 'file', path: pairFile };
  const dir = path.join(opts.checkpointsDir ?? 'checkpoints', target);
  const found = findInFolder(dir);
  if (found) return found;
  // a path (not a model name) that does not exist
  if (path.isAbsolute(target) || /[\\/]/.test(target) || /\.(pt|pth|bin|safetensors)$/.test(target)) {
    throw new MyptError('E_NO_CHECKPOINT', `${target}: no such file or folder`);
  }
  throw new MyptError(
    'E_NO_CHECKPOINT',
    `no checkpoint for model ${target} at ${dir} (looked for ${LOOKED_FOR.join(', ')})`,
    'give --checkpoint PATH for a file elsewhere, or train the model first',
  );
}

function unwrapModelPt(v: unknown, file: string): { sd: Map<string, unknown>; extra: Record<string, unknown> } {
  if (!(v instanceof Map)) throw new MyptError('E_BAD_FILE', `${file}: expected a state_dict (a dict of tensors)`);
  const inner = v.get('state_dict');
  if (inner instanceof Map) {
    return { sd: inner as Map<string, unknown>, extra: { checkpoint_dtype: v.get('checkpoint_dtype'), model_dtype: v.get('model_dtype') } };
  }
  return { sd: v as Map<string, unknown>, extra: {} };
}

/** A MyPT bundle folder (any layout mypt-native writes into one; MyPT's own by default). */
export function readBundle(dir: string, opts: DetectOptions = {}): DetectedCheckpoint {
  const meta = readBundleMeta(dir);
  const modelFile = path.join(meta.dir, 'model.pt');
  const { sd, extra } = unwrapModelPt(loadTorchSync(modelFile), modelFile);
  const hints = meta.config as unknown as LayoutHints;
  const { layout, config, params } = stateDictToCanonical(sd, hints, modelFile);
  const optFile = path.join(meta.dir, path.basename(meta.trainingState?.optimizer_file || 'optimizer.pt'));
  const hasOptimizer = fs.existsSync(optFile);
  const tok = meta.tokenizer;
  const tokenizer: TokenizerRecord | undefined =
    tok?.token_kind === 'char' && tok.chars ? { token_kind: 'char', chars: tok.chars } : tok?.token_kind === 'gpt2' ? { token_kind: 'gpt2', chars: null } : undefined;
  return {
    format: 'mypt-bundle', layout, path: meta.dir, config, params,
    tokenizer,
    tokenizerSource: tokenizer ? path.join(meta.dir, 'tokenizer.json') : undefined,
    tokenizerProblem: tokenizer ? undefined : `${meta.dir}: no usable tokenizer.json`,
    step: meta.trainingState?.step ?? undefined,
    optimizer: opts.optimizer && hasOptimizer ? optimizerToCanonical(loadTorchSync(optFile), layout, config, optFile) : undefined,
    hasOptimizer,
    extra: { ...extra, config_json: meta.config, training_state: meta.trainingState },
    warnings: [],
  };
}

/** Recognises a loaded .pt value. */
function readTorchValue(file: string, v: unknown, opts: DetectOptions): DetectedCheckpoint {
  if (isSection5Dict(v)) return readSection5Sync(file, opts);
  if (isMyptLegacy(v)) return readMyptLegacy(file, v as Map<unknown, unknown>, opts);
  if (isNanogpt(v)) return readNanogpt(file, v as Map<unknown, unknown>, opts);
  if (isLectureDict(v)) return readLecture(file, v as Map<unknown, unknown>, opts);
  if (v instanceof Map && layoutOf(v as Map<string, unknown>)) return readBareStateDict(file, v as Map<string, unknown>, opts);
  if (!isDictLike(v)) throw new MyptError('E_UNSUPPORTED', `${file}: holds a ${Array.isArray(v) ? 'list' : typeof v}, not a checkpoint dict`);
  const key = WRAPPED_KEYS.find((k) => v instanceof Map && v.get(k) instanceof Map);
  const inner = key ? (v as Map<string, unknown>).get(key) as Map<string, unknown> : undefined;
  if (inner && layoutOf(inner)) return readWrapped(file, v as Map<string, unknown>, key!, opts);
  const modded = detectModded(v);
  if (modded) throw moddedIsNotGpt(file, modded);
  // nothing we know: name the keys of the state_dict (or of the dict itself) and the layouts known
  throw unknownLayoutError(file, dictKeys(inner ?? v));
}

/** Keys other tools keep their state_dict under (later MyPT's model.pt, unified and separated files). */
const WRAPPED_KEYS = ['state_dict', 'model_state_dict', 'model'];
const OPTIMIZER_KEYS = ['optimizer', 'optimizer_state_dict', 'optimizer_state'];

/** A Python record of sizes: a dict, or a dataclass kept as an inert object with its fields as state. */
function hintsOf(v: unknown): LayoutHints {
  const src = v instanceof PyObject ? v.state : v;
  const out: Record<string, unknown> = {};
  if (src instanceof Map) for (const [k, x] of src) out[String(k)] = typeof x === 'bigint' ? Number(x) : x;
  else if (src && typeof src === 'object') Object.assign(out, src);
  return out as LayoutHints;
}

/**
 * A dict holding a known state_dict under state_dict / model_state_dict / model, with whatever else the
 * tool keeps (config or model_config, a step, an optimizer, a tokenizer): the other trainers' unified and
 * separated files land here.
 */
function readWrapped(file: string, v: Map<string, unknown>, key: string, opts: DetectOptions): DetectedCheckpoint {
  const hints = { ...hfConfigBeside(file), ...hintsOf(v.get('model_config') ?? v.get('model_args') ?? v.get('config')) };
  const { layout, config, params } = stateDictToCanonical(v.get(key) as Map<string, unknown>, hints, `${file} ${key}`);
  const tok = v.get('tokenizer');
  const chars = tok instanceof Map ? tok.get('chars') : undefined;
  const recorded: TokenizerRecord | undefined = tok instanceof Map && tok.get('token_kind') === 'gpt2' ? { token_kind: 'gpt2', chars: null }
    : Array.isArray(chars) ? { token_kind: 'char', chars: chars.map(String) } : undefined;
  const tokenizer = recorded ?? tokenizerBeside(file);
  let optSd = OPTIMIZER_KEYS.map((k) => v.get(k)).find((x) => x instanceof Map);
  const states = v.get('optimizer_states');
  if (!optSd && Array.isArray(states) && states[0] instanceof Map) optSd = states[0];
  let optimizer: DetectedCheckpoint['optimizer'];
  const warnings: string[] = [];
  if (opts.optimizer && optSd) {
    try {
      optimizer = optimizerToCanonical(optSd, layout, config, `${file} optimizer`);
    } catch (e) {
      warnings.push(`${file}: optimizer state not used (${(e as Error).message})`);
    }
  }
  const step = ['step', 'global_step', 'iter_num'].map((k) => pyNumber(v.get(k))).find((x) => x !== undefined);
  return {
    format: 'state-dict', layout, path: file, config, params, tokenizer,
    tokenizerSource: recorded ? `the "tokenizer" record in ${path.basename(file)}` : tokenizer ? path.join(path.dirname(file), 'tokenizer.json') : undefined,
    tokenizerProblem: tokenizer ? undefined : `${file}: the file records no tokenizer and there is no tokenizer.json beside it`,
    step, optimizer, hasOptimizer: !!optSd,
    extra: { container: key, keys: [...v.keys()].map(String), checkpoint_dtype: v.get('checkpoint_dtype') },
    warnings,
  };
}

/** The tokenizer.json beside a file, when there is one. */
function tokenizerBeside(file: string): TokenizerRecord | undefined {
  const tokFile = path.join(path.dirname(file), 'tokenizer.json');
  if (!fs.existsSync(tokFile)) return undefined;
  let t: { token_kind?: string; chars?: string[] };
  try {
    t = JSON.parse(fs.readFileSync(tokFile, 'utf8'));
  } catch (e) {
    throw new MyptError('E_BAD_FILE', `${tokFile}: not valid JSON (${(e as Error).message})`);
  }
  return t.token_kind === 'gpt2' ? { token_kind: 'gpt2', chars: null } : Array.isArray(t.chars) ? { token_kind: 'char', chars: t.chars } : undefined;
}

/** A bare state_dict (model.pt alone, pytorch_model.bin, ...): sizes from the shapes, hints from config.json beside. */
function readBareStateDict(file: string, sd: Map<string, unknown>, opts: DetectOptions): DetectedCheckpoint {
  const hints = hfConfigBeside(file);
  if (layoutOf(sd) === 'hf-gpt2' || path.basename(file) === 'pytorch_model.bin') return readHfStateDict(file, sd, hints);
  const { layout, config, params } = stateDictToCanonical(sd, hints ?? {}, file);
  const tokenizer = tokenizerBeside(file);
  void opts;
  return {
    format: 'state-dict', layout, path: file, config, params,
    tokenizer, tokenizerSource: tokenizer ? path.join(path.dirname(file), 'tokenizer.json') : undefined,
    tokenizerProblem: tokenizer ? undefined : `${file}: a bare state_dict holds no tokenizer and there is no tokenizer.json beside it`,
    hasOptimizer: false, extra: {}, warnings: [],
  };
}

/** Reads one checkpoint file of any known format. */
export function readCheckpointFile(file: string, opts: DetectOptions = {}): DetectedCheckpoint {
  if (file.endsWith('.safetensors')) return readSafetensorsFile(file);
  return readTorchValue(file, loadTorchSync(file), opts);
}

/**
 * Any path or model name -> the model it holds, in the canonical layout.
 * Formats: MyPT bundle, MyPT legacy latest.pt/final.pt, nanoGPT ckpt.pt, HF GPT-2 pytorch_model.bin /
 * model.safetensors, the lecture trainer's checkpoint_*.pt, bare state_dicts of those layouts.
 */
export function detectCheckpointSync(target: string, opts: DetectOptions = {}): DetectedCheckpoint {
  const where = resolveCheckpoint(target, opts);
  return where.kind === 'bundle' ? readBundle(where.path, opts) : readCheckpointFile(where.path, opts);
}

export async function detectCheckpoint(target: string, opts: DetectOptions = {}): Promise<DetectedCheckpoint> {
  return detectCheckpointSync(target, opts);
}

/** The format name of what a target holds, without mapping its weights (cheap: tensors are read lazily). */
export function formatOf(target: string, opts: Pick<DetectOptions, 'checkpointsDir'> = {}): { format: CheckpointFormat; path: string } {
  const where = resolveCheckpoint(target, opts);
  if (where.kind === 'bundle') return { format: 'mypt-bundle', path: where.path };
  if (where.path.endsWith('.safetensors')) return { format: 'safetensors', path: where.path };
  const v = loadTorchSync(where.path);
  if (isSection5Dict(v)) return { format: readSection5Sync(where.path).format, path: where.path };
  const format: CheckpointFormat = isMyptLegacy(v) ? 'mypt-legacy' : isNanogpt(v) ? 'nanogpt' : isLectureDict(v) ? 'lecture'
    : v instanceof Map && layoutOf(v as Map<string, unknown>) === 'hf-gpt2' ? 'hf-gpt2' : 'state-dict';
  return { format, path: where.path };
}
