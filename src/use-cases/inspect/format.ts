// The text `mypt-native inspect` prints: MyPT's inspect_model sections (FORMAT, CONFIG, TOKENIZER, TRAINING
// STATE) plus WEIGHTS; a modded-nanogpt file prints its own description.
import { formatModdedInfo } from '../../formats/modded/modded';
import type { ModelInfo } from './types';

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
  if (i.modded) return `${formatModdedInfo(i.modded)}\n  file size:        ${(i.files.reduce((a, f) => a + f.bytes, 0) / 1e6).toFixed(1)} MB`;
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
