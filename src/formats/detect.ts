// The checkpoint registry: given a file, a folder or a model name, find what is there (locate.ts), load it
// once, recognise it (recognise.ts) and return its model in the canonical layout with its config,
// tokenizer, step and (on request) optimizer state; a modded-nanogpt file comes back as its parsed
// description and weights. Reading never writes anything.
import fs from 'fs';
import path from 'path';
import { MyptError } from '../errors';
import type { CheckpointFormat, DetectedCheckpoint, DetectOptions, TokenizerRecord } from './types';
import { hfConfigBeside, readHfStateDict, readSafetensorsFile } from './hf/gpt2';
import { optimizerToCanonical, stateDictToCanonical, unknownLayoutError, LayoutHints, LayoutName } from './layouts';
import { dictKeys, pyNumber } from './layouts/common';
import { PyObject, loadTorchSync } from './torch';
import { readLecture } from './lecture/lecture';
import { readMyptLegacy } from './mypt/legacy';
import { readBundleSync } from './mypt/bundle';
import { ModdedParsed, moddedIsNotGpt, parseModded } from './modded/modded';
import { readNanogpt } from './nanogpt/ckpt';
import { readSection5 } from './separated/detect';
import { readGgufCheckpoint } from './gguf/gpt2';
import { hasGgufMagic } from './gguf/read';
import { resolveCheckpointPaths } from './separated/separated';
import { resolveCheckpoint } from './locate';
import { OPTIMIZER_KEYS, recognise } from './recognise';

export type { CheckpointFormat, DetectedCheckpoint, DetectOptions, TokenizerRecord } from './types';
export { LOOKED_FOR, findInFolder, resolveCheckpoint } from './locate';

/** A modded-nanogpt file as read: its description and its state_dict (tensors read lazily). */
export interface ModdedCheckpoint {
  format: 'modded-small' | 'modded-medium';
  path: string;
  parsed: ModdedParsed;
  step?: number;
  files: Array<{ name: string; bytes: number }>;
}

/** What any checkpoint holds, read once: a GPT of a known layout, or a modded-nanogpt model. */
export type AnyCheckpoint = { family: 'gpt'; checkpoint: DetectedCheckpoint } | { family: 'modded'; checkpoint: ModdedCheckpoint };

/** A MyPT bundle folder (any layout mypt-native writes into one; MyPT's own by default). */
export function readBundle(dir: string, opts: DetectOptions = {}): DetectedCheckpoint {
  const b = readBundleSync(dir, { optimizer: opts.optimizer });
  const tok = b.tokenizer;
  const tokenizer: TokenizerRecord | undefined =
    tok?.token_kind === 'char' && tok.chars ? { token_kind: 'char', chars: tok.chars } : tok?.token_kind === 'gpt2' ? { token_kind: 'gpt2', chars: null } : undefined;
  const files = fs.readdirSync(b.dir).filter((n) => !n.startsWith('.') && fs.statSync(path.join(b.dir, n)).isFile()).sort()
    .map((n) => ({ name: path.join(b.dir, n), bytes: fs.statSync(path.join(b.dir, n)).size }));
  return {
    format: 'mypt-bundle', layout: b.layout, path: b.dir, config: b.modelConfig, params: b.params,
    tokenizer,
    tokenizerSource: tokenizer ? path.join(b.dir, 'tokenizer.json') : undefined,
    tokenizerProblem: tokenizer ? undefined : `${b.dir}: no usable tokenizer.json`,
    step: b.trainingState?.step ?? undefined,
    optimizer: b.optimizer,
    hasOptimizer: b.hasOptimizer,
    extra: { checkpoint_dtype: b.checkpointDtype, model_dtype: b.modelDtype, config_json: b.config, training_state: b.trainingState, dtypes: b.dtypes, files },
    warnings: [],
  };
}

/** The dtypes of the weight tensors in a loaded .pt value (optimizer state left out), without reading data. */
export function weightDtypes(v: unknown, depth = 0, out = new Set<string>()): string[] {
  if (depth > 4 || v === null || typeof v !== 'object') return [...out];
  const t = v as { dtype?: unknown; shape?: unknown };
  if (typeof t.dtype === 'string' && Array.isArray(t.shape)) { out.add(t.dtype); return [...out]; }
  const entries: Array<[unknown, unknown]> = v instanceof Map ? [...v.entries()] : Array.isArray(v) ? [] : Object.entries(v);
  for (const [k, x] of entries) if (!/optim/i.test(String(k))) weightDtypes(x, depth + 1, out);
  return [...out];
}

/** Reads a loaded .pt value by what the recogniser says it is. */
function readTorchValue(file: string, v: unknown, opts: DetectOptions): AnyCheckpoint {
  const r = recognise(v);
  const gpt = (checkpoint: DetectedCheckpoint): AnyCheckpoint => {
    checkpoint.extra.dtypes ??= weightDtypes(v);
    return { family: 'gpt', checkpoint };
  };
  switch (r.kind) {
    case 'modded-small':
    case 'modded-medium': {
      const parsed = parseModded(v, file, { head_dim: opts.head_dim });
      return { family: 'modded', checkpoint: { format: r.kind, path: file, parsed, step: parsed.info.step ?? undefined, files: [{ name: file, bytes: fs.statSync(file).size }] } };
    }
    case 'separated-model':
    case 'separated-optimizer':
    case 'unified':
      if (r.kind !== 'unified' || !isWrappedLayout(v)) return gpt(readSection5(file, v, opts));
      break;
    case 'envvar': return gpt(readLecture(file, v as Map<unknown, unknown>, opts));
    case 'mypt-legacy': return gpt(readMyptLegacy(file, v as Map<unknown, unknown>, opts));
    case 'nanogpt': return gpt(readNanogpt(file, v as Map<unknown, unknown>, opts));
    case 'state-dict': return gpt(readBareStateDict(file, v as Map<string, unknown>, r.layout));
    case 'wrapped': return gpt(readWrapped(file, v as Map<string, unknown>, r.key!, opts));
    case 'not-a-dict':
      throw new MyptError('E_UNSUPPORTED', `${file}: holds a ${Array.isArray(v) ? 'list' : typeof v}, not a checkpoint dict`);
    default:
  }
  const inner = ['state_dict', 'model_state_dict', 'model'].map((k) => (v instanceof Map ? v.get(k) : undefined)).find((x) => x instanceof Map);
  // nothing we know: name the keys of the state_dict (or of the dict itself) and the layouts known
  throw unknownLayoutError(file, dictKeys(inner ?? v));
}

/** A section 5 unified file (lr_scheduler or a config with the tokenizer) goes to that reader even when its
 *  state_dict is of a known layout; the recogniser says 'unified' only for those and for unknown weights. */
function isWrappedLayout(v: unknown): boolean {
  return !(v instanceof Map && (v.has('lr_scheduler') || (v.get('config') instanceof Map && (v.get('config') as Map<unknown, unknown>).has('tokenizer'))));
}

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
    throw new MyptError('E_BAD_FILE', `${tokFile}: not valid JSON (${(e as Error).message.replace(/\s*\n\s*/g, ' ')})`);
  }
  return t.token_kind === 'gpt2' ? { token_kind: 'gpt2', chars: null } : Array.isArray(t.chars) ? { token_kind: 'char', chars: t.chars } : undefined;
}

/** A bare state_dict (model.pt alone, pytorch_model.bin, ...): sizes from the shapes, hints from config.json beside. */
function readBareStateDict(file: string, sd: Map<string, unknown>, layout: LayoutName | undefined): DetectedCheckpoint {
  const hints = hfConfigBeside(file);
  if (layout === 'hf-gpt2' || path.basename(file) === 'pytorch_model.bin') return readHfStateDict(file, sd, hints);
  const read = stateDictToCanonical(sd, hints ?? {}, file);
  const tokenizer = tokenizerBeside(file);
  return {
    format: 'state-dict', layout: read.layout, path: file, config: read.config, params: read.params,
    tokenizer, tokenizerSource: tokenizer ? path.join(path.dirname(file), 'tokenizer.json') : undefined,
    tokenizerProblem: tokenizer ? undefined : `${file}: a bare state_dict holds no tokenizer and there is no tokenizer.json beside it`,
    hasOptimizer: false, extra: {}, warnings: [],
  };
}

/** A target located and, for a .pt file, loaded (tensor data stays on disk until read): what the registry
 *  reads from, so a caller that asks the format first (convert's plan) never parses the file twice. */
export interface OpenedTarget {
  kind: 'bundle' | 'file';
  path: string;
  /** The loaded value of a .pt file (absent for bundles and .safetensors files). */
  value?: unknown;
}

/** A GGUF file: by its name, or by its first four bytes ("GGUF"). */
export function isGgufFile(file: string): boolean {
  return file.endsWith('.gguf') || hasGgufMagic(file);
}

/** Files read without the .pt loader: safetensors and GGUF (their readers parse their own headers). */
const notTorch = (file: string) => file.endsWith('.safetensors') || isGgufFile(file);

export function openTarget(target: string, opts: { checkpointsDir?: string } = {}): OpenedTarget {
  const where = resolveCheckpoint(target, opts);
  if (where.kind === 'bundle' || notTorch(where.path)) return where;
  return { ...where, value: loadTorchSync(where.path) };
}

/** What an opened target holds, read: the one door the loaders use. */
export function readOpened(o: OpenedTarget, opts: DetectOptions = {}): AnyCheckpoint {
  if (o.kind === 'bundle') return { family: 'gpt', checkpoint: readBundle(o.path, opts) };
  if (o.value === undefined) return { family: 'gpt', checkpoint: isGgufFile(o.path) ? readGgufCheckpoint(o.path) : readSafetensorsFile(o.path) };
  return readTorchValue(o.path, o.value, opts);
}

/** Reads one checkpoint file of any known format, modded-nanogpt files included (loaded once). */
export function readAnyFile(file: string, opts: DetectOptions = {}): AnyCheckpoint {
  return readOpened(notTorch(file) ? { kind: 'file', path: file } : { kind: 'file', path: file, value: loadTorchSync(file) }, opts);
}

/** Any path or model name -> what it holds, each file parsed once: the one door the loaders use. */
export function readAnySync(target: string, opts: DetectOptions = {}): AnyCheckpoint {
  return readOpened(openTarget(target, opts), opts);
}

/** A GPT checkpoint (a modded-nanogpt file is an error saying how to run it). */
function gptOnly(a: AnyCheckpoint): DetectedCheckpoint {
  if (a.family === 'modded') throw moddedIsNotGpt(a.checkpoint.path, a.checkpoint.parsed.info.layout);
  return a.checkpoint;
}

/** Reads one GPT checkpoint file of any known format. */
export function readCheckpointFile(file: string, opts: DetectOptions = {}): DetectedCheckpoint {
  return gptOnly(readAnyFile(file, opts));
}

/**
 * Any path or model name -> the GPT it holds, in the canonical layout.
 * Formats: MyPT bundle, MyPT legacy latest.pt/final.pt, nanoGPT ckpt.pt, HF GPT-2 pytorch_model.bin /
 * model.safetensors, the env-var trainer's checkpoint_*.pt, section 5 files, bare state_dicts of those layouts,
 * llama.cpp GGUF files of the gpt2 architecture.
 */
export function detectCheckpointSync(target: string, opts: DetectOptions = {}): DetectedCheckpoint {
  return gptOnly(readAnySync(target, opts));
}

export async function detectCheckpoint(target: string, opts: DetectOptions = {}): Promise<DetectedCheckpoint> {
  return detectCheckpointSync(target, opts);
}

/** The format name of what an opened target holds, without mapping its weights. */
export function formatOfOpened(o: OpenedTarget): CheckpointFormat {
  if (o.kind === 'bundle') return 'mypt-bundle';
  if (o.value === undefined) return isGgufFile(o.path) ? 'gguf' : 'safetensors';
  const v = o.value;
  const r = recognise(v);
  return r.kind === 'modded-small' || r.kind === 'modded-medium' || r.kind === 'envvar' || r.kind === 'mypt-legacy' || r.kind === 'nanogpt' ? r.kind
    : r.kind === 'separated-model' || r.kind === 'separated-optimizer' ? (pairHasOptimizer(o.path) ? 'separated' : 'model-only')
      : r.kind === 'unified' && !isWrappedLayout(v) ? 'unified'
        : r.layout === 'hf-gpt2' && r.kind === 'state-dict' ? 'hf-gpt2' : 'state-dict';
}

function pairHasOptimizer(file: string): boolean {
  const r = resolveCheckpointPaths(file);
  return r.kind === 'separated' && r.hasOptimizer;
}

/** The format name of what a target holds, without mapping its weights (cheap: tensors are read lazily). */
export function formatOf(target: string, opts: { checkpointsDir?: string } = {}): { format: CheckpointFormat; path: string } {
  const o = openTarget(target, opts);
  return { format: formatOfOpened(o), path: o.path };
}
