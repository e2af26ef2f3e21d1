// What a checkpoint holds, without building a model: MyPT's inspect_model sections (FORMAT, CONFIG,
// TOKENIZER, TRAINING STATE) plus the parameter count, the file sizes and the weights' dtype.
import fs from 'fs';
import path from 'path';
import { readBundleMeta } from '../../formats/mypt/bundle';
import type { MyptConfigJson, TrainingStateJson } from '../../formats/mypt/json';
import { loadTorch } from '../../formats/torch';
import { detectCheckpoint, resolveCheckpoint } from '../../formats/detect';
import type { CheckpointFormat } from '../../formats/detect';
import { MYPT_CONFIG_DEFAULTS } from '../../formats/mypt/json';

export interface ModelInfo {
  name: string;
  format: CheckpointFormat;
  location: string;
  /** Steps, vocabulary source, format records (non-bundle formats). */
  notes?: string[];
  config: MyptConfigJson;
  tokenizer: { kind: string | null; vocab_size: number | null; chars: string[] | null };
  training: {
    step: number | null; training_config: TrainingStateJson['training_config'] | null; optimizer_file: string | null;
    /** The validation loss the file records (separated / unified files), when any. */
    val_loss?: number | null;
  };
  /** Trainable parameters (model.parameters(): the tril buffers are not counted). */
  num_params: number;
  /** The dtypes of the tensors in model.pt, and model.pt's wrapper record when present. */
  dtypes: string[];
  checkpoint_dtype?: string;
  files: Array<{ name: string; bytes: number }>;
}

interface TensorShape { dtype: string; shape: number[] }

export async function getModelInfo(nameOrPath: string, opts: { checkpoints_dir?: string; input_file?: string } = {}): Promise<ModelInfo> {
  const where = resolveCheckpoint(nameOrPath, { checkpointsDir: opts.checkpoints_dir });
  if (where.kind === 'file') return fileInfo(nameOrPath, where.path, opts);
  const src = { dir: where.path, label: nameOrPath };
  const meta = readBundleMeta(src.dir);
  const loaded = (await loadTorch(path.join(meta.dir, 'model.pt'))) as Map<string, unknown>;
  const wrapped = loaded instanceof Map && loaded.get('state_dict') instanceof Map;
  const sd = (wrapped ? loaded.get('state_dict') : loaded) as Map<string, TensorShape>;
  let num = 0;
  const dtypes = new Set<string>();
  for (const [k, t] of sd) {
    if (!t || !Array.isArray((t as TensorShape).shape)) continue;
    dtypes.add(t.dtype);
    if (!/\.tril$/.test(String(k))) num += t.shape.reduce((a, b) => a * b, 1);
  }
  const files = fs.readdirSync(meta.dir)
    .filter((n) => !n.startsWith('.') && fs.statSync(path.join(meta.dir, n)).isFile())
    .sort()
    .map((n) => ({ name: n, bytes: fs.statSync(path.join(meta.dir, n)).size }));
  const chars = meta.tokenizer?.chars ?? null;
  const cd = wrapped ? loaded.get('checkpoint_dtype') : undefined;
  return {
    name: src.label,
    format: 'mypt-bundle',
    location: meta.dir,
    config: meta.config,
    tokenizer: {
      kind: meta.tokenizer?.token_kind ?? null,
      vocab_size: meta.tokenizer ? (meta.tokenizer.token_kind === 'gpt2' ? 50304 : chars?.length ?? null) : null,
      chars,
    },
    training: {
      step: meta.trainingState?.step ?? null,
      training_config: meta.trainingState?.training_config ?? null,
      optimizer_file: meta.trainingState?.optimizer_file ?? null,
    },
    num_params: num,
    dtypes: [...dtypes],
    checkpoint_dtype: typeof cd === 'string' ? cd : undefined,
    files,
  };
}

/** Any other checkpoint file, through the registry (sizes from its weights, step and tokenizer as recorded). */
async function fileInfo(label: string, file: string, opts: { checkpoints_dir?: string; input_file?: string }): Promise<ModelInfo> {
  const det = await detectCheckpoint(file, { checkpointsDir: opts.checkpoints_dir, inputFile: opts.input_file });
  const c = det.config as unknown as Record<string, unknown>;
  const config: MyptConfigJson = {
    ...MYPT_CONFIG_DEFAULTS, batch_size: recordedBatchSize(det.extra) ?? MYPT_CONFIG_DEFAULTS.batch_size, block_size: det.config.block_size,
    vocab_size: det.config.vocab_size, n_embd: det.config.n_embd, n_head: det.config.n_head, n_layer: det.config.n_layer,
    dropout: Number(c.dropout ?? 0), bias: Boolean(c.bias), device: 'cpu', arch: String(c.arch ?? 'mypt'),
  };
  const num = Object.values(det.params).reduce((n, t) => n + t.data.length, 0);
  // a separated pair is both its files (the registry lists them with their sizes), whichever was named
  const recorded = det.extra.files as Array<{ name: string; bytes: number }> | undefined;
  const files = (recorded ?? [{ name: file, bytes: fs.statSync(file).size }]).map((f) => ({ name: path.basename(f.name), bytes: f.bytes }));
  const notes = [`layout: ${det.layout}`, ...(det.tokenizerSource ? [`tokenizer from ${det.tokenizerSource}`] : []), ...(det.tokenizerProblem ? [det.tokenizerProblem] : []), ...det.warnings];
  return {
    name: label, format: det.format, location: det.path, config, notes,
    tokenizer: {
      kind: det.tokenizer?.token_kind ?? null,
      vocab_size: det.tokenizer ? (det.tokenizer.token_kind === 'gpt2' ? 50304 : det.tokenizer.chars?.length ?? null) : null,
      chars: det.tokenizer?.chars ?? null,
    },
    training: {
      step: det.step ?? null, training_config: null, optimizer_file: det.hasOptimizer ? (files.length > 1 ? files[1].name : '(in the file)') : null,
      val_loss: typeof det.extra.val_loss === 'number' ? det.extra.val_loss : null,
    },
    num_params: num,
    dtypes: file.endsWith('.safetensors') ? fileDtypes(det.extra) : weightDtypes(await loadTorch(det.path)),
    checkpoint_dtype: typeof det.extra.checkpoint_dtype === 'string' ? det.extra.checkpoint_dtype : undefined,
    files,
  };
}

/** batch_size as the file records it (MyPT legacy config, nanoGPT config, lecture hyperparameters). */
function recordedBatchSize(extra: Record<string, unknown>): number | undefined {
  for (const k of ['config', 'hyperparameters', 'train_config']) {
    const rec = extra[k];
    const v = rec instanceof Map ? rec.get('batch_size') : rec && typeof rec === 'object' ? (rec as Record<string, unknown>).batch_size : undefined;
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  }
  const v = extra.batch_size;
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
}

/** The dtypes of the weight tensors in a loaded .pt value (optimizer state left out), without reading data. */
function weightDtypes(v: unknown, depth = 0, out = new Set<string>()): string[] {
  if (depth > 4 || v === null || typeof v !== 'object') return [...out];
  const t = v as { dtype?: unknown; shape?: unknown };
  if (typeof t.dtype === 'string' && Array.isArray(t.shape)) { out.add(t.dtype); return [...out]; }
  const entries: Array<[unknown, unknown]> = v instanceof Map ? [...v.entries()] : Array.isArray(v) ? [] : Object.entries(v);
  for (const [k, x] of entries) if (!/optim/i.test(String(k))) weightDtypes(x, depth + 1, out);
  return [...out];
}

function fileDtypes(extra: Record<string, unknown>): string[] {
  const d = extra.dtypes;
  return Array.isArray(d) ? d.map(String) : ['(read as float32)'];
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

const py = (v: unknown) => (typeof v === 'boolean' ? (v ? 'True' : 'False') : String(v));

/** MyPT's inspect_model text, plus a WEIGHTS section. */
export function formatModelInfo(i: ModelInfo): string {
  const c = i.config;
  const L: string[] = [];
  L.push(`Inspecting model '${i.name}'`, '');
  const FORMAT_NAMES: Record<string, string> = {
    'mypt-bundle': 'New JSON-based format', 'mypt-legacy': 'Legacy single-file format', nanogpt: 'nanoGPT ckpt.pt',
    'hf-gpt2': 'Hugging Face GPT-2 weights', envvar: "The env-var (lecture) trainer's single-file checkpoint", 'state-dict': 'A state_dict file',
    safetensors: 'A safetensors file', separated: 'Separated model + optimizer files', 'model-only': 'A model-only file (no optimizer state)',
    unified: 'A unified file (model, optimizer and scheduler in one)',
  };
  L.push('=== FORMAT ===', FORMAT_NAMES[i.format] ?? i.format, `Location: ${i.location}`, ...(i.notes ?? []), '');
  const dropout = Number.isInteger(c.dropout) ? `${c.dropout}.0` : String(c.dropout);
  L.push('=== CONFIG ===');
  L.push(`batch_size:${c.batch_size}, block_size:${c.block_size}, vocab_size:${c.vocab_size}, n_embd:${c.n_embd}, n_head:${c.n_head}, n_layer:${c.n_layer}, dropout:${dropout}, bias:${py(c.bias)}, device:${c.device}${c.arch && c.arch !== 'mypt' ? `, arch:${c.arch}` : ''}`, '');
  L.push('=== TOKENIZER ===');
  if (!i.tokenizer.kind) L.push('No tokenizer state stored in this checkpoint.');
  else {
    L.push(`kind      : ${i.tokenizer.kind}`);
    if (i.tokenizer.kind === 'char') {
      if (i.tokenizer.chars) {
        L.push(`vocab size: ${i.tokenizer.chars.length} (char-level)`);
        L.push(`sample chars: ${JSON.stringify(i.tokenizer.chars.slice(0, 50).join(''))}`);
      } else L.push("WARNING: char tokenizer with no 'chars' list saved.");
    } else if (i.tokenizer.kind === 'gpt2') L.push('vocab     : GPT-2 BPE (fixed ~50k tokens)');
    else L.push('vocab     : unknown tokenizer kind');
  }
  L.push('', '=== TRAINING STATE ===');
  L.push(i.training.step === null ? 'No training step info stored.' : `Last recorded training step: ${i.training.step}`);
  if (typeof i.training.val_loss === 'number') L.push(`Recorded validation loss: ${i.training.val_loss.toFixed(4)}`);
  const tc = i.training.training_config;
  if (tc) {
    L.push('', 'Training hyperparameters:');
    for (const k of ['max_iters', 'eval_interval', 'eval_iters', 'learning_rate', 'start_step']) {
      L.push(`  ${k.padEnd(14)}: ${tc[k] ?? 'N/A'}`);
    }
    for (const [k, v] of Object.entries(tc)) {
      if (!['max_iters', 'eval_interval', 'eval_iters', 'learning_rate', 'start_step'].includes(k)) L.push(`  ${k.padEnd(14)}: ${v}`);
    }
  }
  L.push(`  optimizer     : ${i.training.optimizer_file ?? 'not saved (model only)'}`);
  L.push('', '=== WEIGHTS ===');
  L.push(`parameters: ${i.num_params.toLocaleString('en-US')} (${(i.num_params / 1e6).toFixed(2)}M)`);
  L.push(`dtype     : ${i.dtypes.join(', ')}${i.checkpoint_dtype ? ` (checkpoint_dtype ${i.checkpoint_dtype})` : ''}`);
  L.push('files     :');
  const w = Math.max(...i.files.map((f) => f.name.length), 4);
  for (const f of i.files) L.push(`  ${f.name.padEnd(w)}  ${formatBytes(f.bytes).padStart(9)}`);
  L.push(`  ${'total'.padEnd(w)}  ${formatBytes(i.files.reduce((a, f) => a + f.bytes, 0)).padStart(9)}`);
  L.push('', 'Inspection complete.');
  return L.join('\n');
}
