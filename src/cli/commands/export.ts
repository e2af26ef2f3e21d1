// `mypt-native export`: a checkpoint out to Hugging Face (a GPT2LMHeadModel folder) or llama.cpp (a gpt2
// GGUF file). One line per file family written, then what was changed to fit and the read-back check.
import type { Argv } from 'yargs';
import { EXPORT_FORMATS, ExportFormat, exportModel, ExportResult, GGUF_TYPES, GgmlTypeName, HF_DTYPES, HfDtype } from '../../use-cases/export/export';
import { formatBytes } from '../../use-cases/inspect/inspect';
import { MyptError } from '../../errors';
import { choiceFlag, stringFlag } from '../options';
import { handler as wrap } from '../errors';

export const command = 'export';
export const describe = 'Export a GPT-2-family checkpoint as a Hugging Face folder (--format hf) or a llama.cpp GGUF file (--format gguf)';

export function builder(y: Argv) {
  return y
    .option('format', { type: 'string', coerce: choiceFlag('format', EXPORT_FORMATS), describe: 'hf (a transformers model folder) or gguf (a llama.cpp file) [required]' })
    .option('out', { type: 'string', coerce: stringFlag('out'), describe: 'the folder (hf) or the .gguf file to write [required]' })
    .option('model_name', { type: 'string', coerce: stringFlag('model_name'), describe: 'model under --checkpoints_dir [default]' })
    .option('checkpoint', { type: 'string', coerce: stringFlag('checkpoint'), describe: 'any checkpoint file or folder mypt-native reads, instead of --model_name' })
    .option('checkpoints_dir', { type: 'string', coerce: stringFlag('checkpoints_dir'), describe: 'folder of model bundles [checkpoints]' })
    .option('input_file', { type: 'string', coerce: stringFlag('input_file'), describe: "training text, for the char vocabulary of files that store none (the lecture trainer's)" })
    .option('dtype', { type: 'string', coerce: choiceFlag('dtype', HF_DTYPES), describe: 'hf: the dtype of model.safetensors [float32]' })
    .option('type', { type: 'string', coerce: choiceFlag('type', GGUF_TYPES), describe: 'gguf: the ggml type of the weight matrices (norms, biases, positions stay f32) [f32]' })
    .option('name', { type: 'string', coerce: stringFlag('name'), describe: "gguf: general.name [the checkpoint's name]" })
    .option('overwrite', { type: 'boolean', describe: 'replace an existing output' })
    .option('reference', { type: 'string', coerce: stringFlag('reference'), describe: 'also write this JSON: a text, its ids and the exported logits (for test/fixtures/check_hf_export.py)' })
    .option('reference_text', { type: 'string', coerce: stringFlag('reference_text'), describe: 'the text of --reference [a line of Shakespeare]' });
}

interface Args {
  format?: ExportFormat; out?: string; model_name?: string; checkpoint?: string; checkpoints_dir?: string; input_file?: string;
  dtype?: HfDtype; type?: GgmlTypeName; name?: string; overwrite?: boolean; reference?: string; reference_text?: string;
}

/** The lines the command prints for a result. */
export function describeExport(r: ExportResult): string[] {
  const what = r.format === 'hf' ? `Hugging Face folder ${r.out} (${r.files.join(', ')})` : `GGUF file ${r.out}`;
  const lines = [`exported ${r.source} (${r.sourceFormat}) -> ${what}: ${r.encoding}, ${formatBytes(r.bytes)}, tokenizer ${r.tokenizer}`];
  for (const c of r.changes) lines.push(`  ${c}`);
  if (r.check) {
    const c = r.check;
    lines.push(`  read back: logits over ${c.tokens} tokens differ by ${c.relErr.toExponential(2)} relative (max ${c.maxAbsDiff.toExponential(2)}), top-1 agrees at ${c.top1}/${c.tokens}`);
  }
  return lines;
}

async function run(a: Args) {
  if (!a.format) throw new MyptError('E_BAD_ARGUMENT', 'name the format: --format hf (a transformers model folder) or --format gguf (a llama.cpp file)');
  if (!a.out) throw new MyptError('E_BAD_ARGUMENT', `name the output: --out ${a.format === 'hf' ? 'DIR' : 'FILE.gguf'}`);
  const r = await exportModel({
    format: a.format, out: a.out, checkpoint: a.checkpoint, model_name: a.model_name, checkpoints_dir: a.checkpoints_dir, input_file: a.input_file,
    dtype: a.dtype, type: a.type, name: a.name, overwrite: a.overwrite, reference: a.reference, reference_text: a.reference_text,
    onWarning: (m) => process.stderr.write(`warning: ${m}\n`),
  });
  process.stdout.write(describeExport(r).join('\n') + '\n');
}

export const handler = wrap(run);
