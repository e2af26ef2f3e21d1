// The one path from any checkpoint to a model: loadModel(nameOrPath, opts) reads what is there through the
// registry (each file parsed once, formats/detect.ts readAnySync), then builds the family's model with
// the checkpoint's tokenizer: a GPT (every GPT format) or a modded-nanogpt model. generate, inspect,
// convert, load-checkpoint, serve and the API come through here.
//
// A checkpoint without a vocabulary still loads (forward, inspect, conversion, training on ids); only
// text generation needs one, and its error says where the loader looked and how to give one. A GPT-2-sized
// vocabulary without a recorded tokenizer is GPT-2's, as nanoGPT's sample.py assumes.
import { MyptError, expectPath } from '../../errors';
import { createModdedModel, createModel, GptModel, ModdedModel, ModdedOptions } from '../../model';
import type { ModelOrigin } from '../../model';
import type { ModelConfig } from '../../model/config';
import { GPT2_VOCAB, Gpt2Tokenizer, tokenizerFromJSON, Tokenizer } from '../../tokenizer';
import { gpt2Codec, loadTokenizerFile } from '../../tokenizer/file';
import type { TextCodec } from '../../tokenizer/types';
import { readAnySync, AnyCheckpoint, ModdedCheckpoint } from '../../formats/detect';
import type { DetectedCheckpoint } from '../../formats/types';
import type { CanonicalOptimizer, NamedTensors } from '../../formats/layouts/common';
import { parseModded } from '../../formats/modded/modded';
import { moddedEngineWeights } from '../../formats/modded/weights';

export type Device = 'auto' | 'cpu' | 'cuda';

export interface LoadModelOptions extends Omit<ModdedOptions, 'device' | 'where'> {
  /** 'auto' (default): the GPU when this build has a usable one. */
  device?: Device;
  /** Where model names are looked up (default ./checkpoints). */
  checkpoints_dir?: string;
  /** The training text, for the char vocabulary of files that store none (the env-var trainer's). */
  input_file?: string;
  /** Also restore the AdamW state (GPT checkpoints that hold one), to resume training. */
  optimizer?: boolean;
  /** modded-nanogpt files: a tokenizer file (MyPT's or a Hugging Face byte-level BPE tokenizer.json) or a codec; default GPT-2's. */
  tokenizer?: string | TextCodec;
  /** modded-nanogpt files: the head size, when the saved code does not say and the width is no multiple of 128. */
  head_dim?: number;
}

export type LoadedModel = GptModel | ModdedModel;

function badArg(msg: string): never {
  throw new MyptError('E_BAD_ARGUMENT', msg);
}

/** The tokenizer a GPT checkpoint came with; undefined (with the reason in its origin) when it has none. */
export function tokenizerOf(d: DetectedCheckpoint): Tokenizer | undefined {
  if (!d.tokenizer) {
    if (d.config.vocab_size >= GPT2_VOCAB) {
      d.warnings.push(`${d.path}: no tokenizer recorded; a ${d.config.vocab_size}-token vocabulary is taken as GPT-2's`);
      return new Gpt2Tokenizer();
    }
    return undefined;
  }
  const t = tokenizerFromJSON(d.tokenizer, d.tokenizerSource ?? d.path);
  if (t.kind === 'char' && t.vocabSize !== d.config.vocab_size) {
    throw new MyptError('E_TOKENIZER', `${d.tokenizerSource ?? d.path}: ${t.vocabSize} characters but the model's vocab_size is ${d.config.vocab_size}`);
  }
  if (t.kind === 'gpt2' && d.config.vocab_size < GPT2_VOCAB) {
    d.warnings.push(`${d.path}: a GPT-2 tokenizer with a ${d.config.vocab_size}-token vocabulary: ids beyond it cannot be fed`);
  }
  return t;
}

/** What the model keeps of where it came from: the registry's record without the weights. */
function originOf(d: DetectedCheckpoint): ModelOrigin {
  const { params: _p, optimizer: _o, ...rest } = d;
  void _p;
  void _o;
  return rest;
}

/** A GPT holding these parameters (and AdamW state, when given), on `device`. */
export function buildGpt(source: { config: ModelConfig | DetectedCheckpoint['config']; params: NamedTensors; optimizer?: (CanonicalOptimizer & { step: number }) | null },
  opts: { device?: Device; dropout?: number; tokenizer?: Tokenizer; origin?: ModelOrigin } = {}): GptModel {
  const config = { ...(source.config as ModelConfig), dropout: opts.dropout ?? (source.config as ModelConfig).dropout ?? 0, device: opts.device ?? 'auto' };
  const model = createModel(config, { tokenizer: opts.tokenizer, origin: opts.origin });
  try {
    model.setParameters(source.params);
    if (source.optimizer) model.setOptimizerState(source.optimizer);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

function moddedCodec(t: LoadModelOptions['tokenizer']): TextCodec {
  return typeof t === 'string' ? loadTokenizerFile(t) : t ?? gpt2Codec();
}

function buildModded(c: ModdedCheckpoint, opts: LoadModelOptions): ModdedModel {
  const info = c.parsed.info;
  const origin: ModelOrigin = { path: c.path, format: c.format, step: c.step, layout: info.layout, val_loss: info.val_loss };
  return createModdedModel(info, moddedEngineWeights(c.parsed), moddedCodec(opts.tokenizer), { ...opts, device: opts.device ?? 'auto', where: c.path }, origin);
}

/** A model from what the registry read (one file parse, done by the caller). */
export function modelFrom(a: AnyCheckpoint, opts: LoadModelOptions = {}): LoadedModel {
  if (a.family === 'modded') return buildModded(a.checkpoint, opts);
  if (opts.tokenizer !== undefined) {
    badArg(`--tokenizer applies to modded-nanogpt files; ${a.checkpoint.path} records its own tokenizer`);
  }
  const d = a.checkpoint;
  const tokenizer = tokenizerOf(d);
  return buildGpt(d, { device: opts.device, dropout: 0, tokenizer, origin: originOf(d) });
}

/**
 * Any checkpoint mypt-native reads (a model name under checkpoints/, a MyPT bundle folder, a legacy
 * latest.pt/final.pt, nanoGPT ckpt.pt, Hugging Face GPT-2 weights, the env-var trainer's files, separated /
 * unified / model-only files, modded-nanogpt files) as a model with its tokenizer, on opts.device (auto).
 */
export async function loadModel(nameOrPath: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  expectPath(nameOrPath, 'loadModel');
  if (typeof nameOrPath !== 'string' || nameOrPath === '') {
    badArg('loadModel: name a model (a name under checkpoints/) or a checkpoint path (a string)');
  }
  if (opts === null || typeof opts !== 'object') badArg('loadModel: options must be an object');
  const a = readAnySync(nameOrPath, { checkpointsDir: opts.checkpoints_dir, inputFile: opts.input_file, optimizer: !!opts.optimizer, head_dim: opts.head_dim });
  return modelFrom(a, opts);
}

/**
 * A modded-nanogpt file (or an already loaded dict) as a model: loadModel with the modded options, kept for
 * callers of the first API. Default device 'auto'.
 */
export async function loadModdedModel(pathOrDict: string | unknown, opts: LoadModelOptions & { where?: string } = {}): Promise<ModdedModel> {
  if (typeof pathOrDict === 'string') {
    const m = await loadModel(pathOrDict, opts);
    if (m.family !== 'modded') {
      m.dispose();
      throw new MyptError('E_BAD_FILE', `${pathOrDict}: not a modded-nanogpt checkpoint (a ${String(m.origin?.format)} GPT)`, 'load it with loadModel');
    }
    return m;
  }
  const where = opts.where ?? 'modded checkpoint';
  const parsed = parseModded(pathOrDict, where, { head_dim: opts.head_dim });
  return buildModded({ format: `modded-${parsed.info.layout}`, path: where, parsed, files: [] }, opts);
}

/** A GPT checkpoint's model and tokenizer, with the registry's record (the first API's shape). */
export interface OpenedCheckpoint {
  model: GptModel;
  tokenizer?: Tokenizer;
  checkpoint: ModelOrigin;
}

export async function openCheckpoint(target: string, opts: LoadModelOptions = {}): Promise<OpenedCheckpoint> {
  expectPath(target, 'openCheckpoint');
  const m = await loadModel(target, opts);
  if (m.family !== 'gpt') {
    m.dispose();
    throw new MyptError('E_UNSUPPORTED', `${target}: a modded-nanogpt checkpoint; openCheckpoint gives GPT models`, 'use loadModel');
  }
  return { model: m, tokenizer: m.tokenizer, checkpoint: m.origin! };
}
