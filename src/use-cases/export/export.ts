// `export`: any GPT checkpoint mypt-native reads, out to the tools around it:
//   hf:   a Hugging Face folder (GPT2LMHeadModel + its tokenizer) for transformers and the Hub;
//   gguf: one GGUF file of llama.cpp's gpt2 architecture (llama.cpp, node-llama-cpp, Ollama, LM Studio).
// The checkpoint is read through the registry (formats/detect.ts, as loadModel reads it), put in GPT-2's
// form where the maths allows (gpt2-form.ts), written atomically, then read back through this package's own
// readers and compared with the source on a few tokens (`check` in the result). Prints nothing.
import fs from 'fs';
import path from 'path';
import { MyptError } from '../../errors';
import { writeFileAtomicSync } from '../../formats/atomic';
import { readAnySync } from '../../formats/detect';
import type { DetectedCheckpoint, TokenizerRecord } from '../../formats/types';
import { HF_DTYPES, HfDtype, writeHfFolder } from '../../formats/hf/folder';
import { ggufGpt2File, myptGgufKeys } from '../../formats/gguf/gpt2';
import type { GgmlTypeName } from '../../formats/gguf/types';
import { writeGguf } from '../../formats/gguf/write';
import { GPT2_VOCAB, tokenizerFromJSON } from '../../tokenizer';
import { buildGpt } from '../open/open';
import { toGpt2Form } from './gpt2-form';

export type ExportFormat = 'hf' | 'gguf';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['hf', 'gguf'];
export const GGUF_TYPES: readonly GgmlTypeName[] = ['f32', 'f16', 'bf16', 'q8_0'];
export { HF_DTYPES };
export type { HfDtype, GgmlTypeName };

export interface ExportOptions {
  format: ExportFormat;
  /** hf: the folder to write; gguf: the .gguf file. */
  out: string;
  /** A checkpoint file or folder. */
  checkpoint?: string;
  /** checkpoints_dir/<model_name> (default: 'default'). */
  model_name?: string;
  checkpoints_dir?: string;
  /** The training text, for the character vocabulary of files that store none (the env-var trainer's). */
  input_file?: string;
  /** hf: the dtype of model.safetensors (default float32). */
  dtype?: HfDtype;
  /** gguf: the ggml type of the weight matrices (default f32; norms, biases and positions stay f32). */
  type?: GgmlTypeName;
  /** Replace an existing output (a folder's model and tokenizer files; a file). */
  overwrite?: boolean;
  /** gguf: general.name (default: the checkpoint's name). */
  name?: string;
  /** Read the export back and compare its logits with the source's (default true). */
  verify?: boolean;
  /** Also write this JSON: a text, its ids and the exported model's logits, for checking the export elsewhere
   *  (test/fixtures/check_hf_export.py runs it through transformers). */
  reference?: string;
  reference_text?: string;
  onWarning?: (message: string) => void;
}

export interface ExportCheck {
  tokens: number;
  /** ||exported - source|| / ||source|| over the logits. */
  relErr: number;
  maxAbsDiff: number;
  /** Positions whose argmax agrees. */
  top1: number;
}

export interface ExportResult {
  format: ExportFormat;
  out: string;
  source: string;
  sourceFormat: string;
  /** Files written (names in the folder for hf; the file for gguf). */
  files: string[];
  bytes: number;
  /** hf dtype or gguf type. */
  encoding: string;
  tokenizer: string;
  /** What was changed to fit GPT-2's form, and what the padded vocabulary became. */
  changes: string[];
  warnings: string[];
  check?: ExportCheck;
}

export const DEFAULT_REFERENCE_TEXT = 'First Citizen:\nBefore we proceed any further, hear me speak.\n';

function badArg(msg: string): never {
  throw new MyptError('E_BAD_ARGUMENT', msg);
}

function checkOptions(o: ExportOptions): void {
  if (o === null || typeof o !== 'object') badArg('export: options must be an object');
  if (!EXPORT_FORMATS.includes(o.format)) badArg(`--format ${String(o.format)}: expected ${EXPORT_FORMATS.join(' or ')}`);
  if (typeof o.out !== 'string' || o.out === '') badArg('export: name the output with --out');
  if (o.checkpoint && o.model_name) badArg('give either --model_name or --checkpoint, not both');
  if (o.dtype !== undefined && (o.format !== 'hf' || !HF_DTYPES.includes(o.dtype))) {
    badArg(o.format !== 'hf' ? '--dtype is for --format hf (GGUF files take --type)' : `--dtype ${o.dtype}: expected ${HF_DTYPES.join(', ')}`);
  }
  if (o.type !== undefined && (o.format !== 'gguf' || !GGUF_TYPES.includes(o.type))) {
    badArg(o.format !== 'gguf' ? '--type is for --format gguf (Hugging Face folders take --dtype)' : `--type ${o.type}: expected ${GGUF_TYPES.join(', ')}`);
  }
  if (o.format === 'gguf' && !o.out.endsWith('.gguf')) badArg(`--out ${o.out}: a GGUF file's name ends in .gguf`);
  if (fs.existsSync(o.out) && !o.overwrite) {
    const isDir = fs.statSync(o.out).isDirectory();
    if (o.format === 'gguf' || !isDir || fs.readdirSync(o.out).length) {
      throw new MyptError('E_IO', `${o.out} already exists`, 'give --overwrite to replace it');
    }
  }
  if (o.format === 'gguf' && fs.existsSync(o.out) && fs.statSync(o.out).isDirectory()) throw new MyptError('E_IO', `${o.out} is a folder; --out names the .gguf file`);
  if (o.format === 'hf' && fs.existsSync(o.out) && !fs.statSync(o.out).isDirectory()) throw new MyptError('E_IO', `${o.out} is a file; --out names the model folder`);
}

/** The source's tokenizer (GPT-2's for a GPT-2-sized vocabulary that records none, as loadModel does). */
function tokenizerFor(d: DetectedCheckpoint, warn: (m: string) => void): TokenizerRecord | undefined {
  if (d.tokenizer) {
    if (d.tokenizer.token_kind === 'char' && d.tokenizer.chars?.length !== d.config.vocab_size) {
      throw new MyptError('E_TOKENIZER', `${d.tokenizerSource ?? d.path}: ${d.tokenizer.chars?.length} characters but the model's vocab_size is ${d.config.vocab_size}`);
    }
    return d.tokenizer;
  }
  if (d.config.vocab_size >= GPT2_VOCAB) {
    warn(`${d.path}: no tokenizer recorded; a ${d.config.vocab_size}-token vocabulary is taken as GPT-2's`);
    return { token_kind: 'gpt2', chars: null };
  }
  return undefined;
}

/** Exports one checkpoint; see ExportOptions. */
export async function exportModel(o: ExportOptions): Promise<ExportResult> {
  checkOptions(o);
  const source = o.checkpoint ?? o.model_name ?? 'default';
  const a = readAnySync(source, { checkpointsDir: o.checkpoints_dir, inputFile: o.input_file });
  if (a.family === 'modded') {
    throw new MyptError('E_UNSUPPORTED', `${a.checkpoint.path}: a modded-nanogpt model (rotary embeddings, RMSNorm without weights, QK-norm, value embeddings, ReLU², U-net skips, a logit soft-cap) has no GPT-2 equivalent`);
  }
  const d = a.checkpoint;
  const warnings: string[] = [...d.warnings];
  const warn = (m: string) => { warnings.push(m); o.onWarning?.(m); };
  d.warnings.forEach((m) => o.onWarning?.(m));
  let tok = tokenizerFor(d, warn);
  if (tok?.token_kind === 'gpt2' && d.config.vocab_size < GPT2_VOCAB) {
    const why = `a GPT-2 tokenizer with a ${d.config.vocab_size}-token model: ids ${d.config.vocab_size}..${GPT2_VOCAB - 1} would have no row`;
    if (o.format === 'gguf') throw new MyptError('E_TOKENIZER', `${why}; a GGUF file must hold a vocabulary that fits the model`);
    warn(`${d.path}: ${why}; the folder gets no tokenizer files`);
    tok = undefined;
  }
  const form = toGpt2Form(d.config, d.params, o.format);
  const changes = [...form.changes];
  if (tok?.token_kind === 'gpt2' && form.config.vocab_size > GPT2_VOCAB) {
    changes.push(o.format === 'hf'
      ? `the vocabulary stays padded to ${form.config.vocab_size} rows (config.json vocab_size ${form.config.vocab_size}); the tokenizer's ${GPT2_VOCAB} tokens are ids 0..${GPT2_VOCAB - 1}, ids ${GPT2_VOCAB}..${form.config.vocab_size - 1} are rows no text maps to`
      : `the vocabulary stays padded to ${form.config.vocab_size} rows: tokens ${GPT2_VOCAB}..${form.config.vocab_size - 1} are placeholders [PAD${GPT2_VOCAB}].. of type unused`);
  }
  const name = o.name ?? (o.model_name ?? path.basename(d.path).replace(/\.(pt|pth|bin|safetensors|gguf)$/, ''));
  const notes = { source: path.basename(d.path), source_format: d.format, ...(changes.length ? { changes } : {}) };

  let files: string[];
  let encoding: string;
  if (o.format === 'hf') {
    if (!tok && !d.tokenizer) warn(`${d.tokenizerProblem ?? `${d.path}: no tokenizer`}; the folder gets no tokenizer files`);
    encoding = o.dtype ?? 'float32';
    files = await writeHfFolder(o.out, { config: form.config, params: form.params, tokenizer: tok, dtype: encoding as HfDtype, notes });
  } else {
    if (!tok) {
      throw new MyptError('E_TOKENIZER', `${d.tokenizerProblem ?? `${d.path}: no tokenizer`}; a GGUF file must hold its vocabulary`);
    }
    if (form.config.activation === 'gelu') {
      warn('the model uses the exact (erf) GELU; llama.cpp\'s gpt2 computes the tanh approximation, so its logits differ slightly from this model\'s (the file records the exact GELU for mypt-native)');
    }
    encoding = o.type ?? 'f32';
    const extra = myptGgufKeys({
      source: path.basename(d.path),
      ...(form.config.activation === 'gelu' ? { activation: 'gelu' } : {}),
      ...(form.zeroBiases ? { biases: false } : {}),
    });
    await writeGguf(o.out, ggufGpt2File({ config: form.config, params: form.params, tokenizer: tok, type: encoding as GgmlTypeName, name, extra }));
    files = [o.out];
  }
  const bytes = o.format === 'hf' ? files.reduce((n, f) => n + fs.statSync(path.join(o.out, f)).size, 0) : fs.statSync(o.out).size;
  const result: ExportResult = {
    format: o.format, out: o.out, source: d.path, sourceFormat: d.format, files, bytes, encoding,
    tokenizer: tok ? (tok.token_kind === 'gpt2' ? `GPT-2 BPE (${GPT2_VOCAB} tokens)` : `char (${tok.chars?.length} characters)`) : 'none',
    changes, warnings,
  };
  if (o.verify !== false || o.reference) {
    result.check = await verifyExport(o, d, tok, o.reference ? { file: o.reference, text: o.reference_text ?? DEFAULT_REFERENCE_TEXT } : undefined);
  }
  return result;
}

/** Reads the export back through the registry and compares its logits with the source's on a few tokens. */
async function verifyExport(o: ExportOptions, d: DetectedCheckpoint, tok: TokenizerRecord | undefined,
  reference?: { file: string; text: string }): Promise<ExportCheck> {
  const back = readAnySync(o.format === 'hf' ? path.join(o.out, 'model.safetensors') : o.out);
  if (back.family !== 'gpt') throw new MyptError('E_BAD_FILE', `${o.out}: did not read back as a GPT`);
  const b = back.checkpoint;
  const T = Math.min(16, d.config.block_size);
  let ids: number[];
  if (reference && tok) {
    ids = tokenizerFromJSON(tok).encode(reference.text).slice(0, d.config.block_size);
    if (!ids.length) badArg('--reference_text: encodes to no tokens');
  } else {
    ids = Array.from({ length: T }, (_, i) => (i * 7919 + 13) % Math.min(d.config.vocab_size, tok?.token_kind === 'gpt2' ? GPT2_VOCAB : d.config.vocab_size));
  }
  const run = async (src: DetectedCheckpoint) => {
    const m = buildGpt(src, { device: 'cpu', dropout: 0 });
    try {
      return (await m.forward([ids])).logits;
    } finally {
      m.dispose();
    }
  };
  const want = await run(d);
  const got = await run(b);
  const V = d.config.vocab_size;
  let num = 0, den = 0, maxAbs = 0, top1 = 0;
  for (let i = 0; i < want.length; i++) {
    const e = got[i] - want[i];
    num += e * e;
    den += want[i] * want[i];
    maxAbs = Math.max(maxAbs, Math.abs(e));
  }
  for (let t = 0; t < ids.length; t++) {
    let aw = 0, ag = 0;
    for (let v = 1; v < V; v++) {
      if (want[t * V + v] > want[t * V + aw]) aw = v;
      if (got[t * V + v] > got[t * V + ag]) ag = v;
    }
    if (aw === ag) top1++;
  }
  if (reference) {
    const logits = Buffer.from(got.buffer, got.byteOffset, got.byteLength).toString('base64');
    writeFileAtomicSync(reference.file, JSON.stringify({
      text: reference.text, ids, shape: [1, ids.length, V], format: o.format, encoding: o.dtype ?? o.type ?? 'float32',
      tokenizer: tok?.token_kind ?? null, logits_float32_base64: logits,
    }) + '\n');
  }
  return { tokens: ids.length, relErr: Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30), maxAbsDiff: maxAbs, top1 };
}
