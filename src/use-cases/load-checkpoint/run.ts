// The `load-checkpoint` use case (FORMATS.md section 4's loader, done properly): MODE=inference prints
// what it loaded and samples; MODE=resume really resumes — optimizer restored, the requested learning
// rate, new files in the same format continuing the step count.
import fs from 'fs';
import path from 'path';
import { MyptError } from '../../errors';
import { loadCheckpoint, LoadedCheckpoint } from './load';
import { Gpt2Tokenizer, TextStreamDecoder, Tokenizer } from '../../tokenizer';
import { GPT2_VOCAB } from '../../tokenizer/gpt2';
import { parseEnvCheckpointFileName } from '../../formats/lecture/envvar-name';
import { parseSeparatedName } from '../../formats/separated/separated';
import { createCheckpointSaver, CheckpointSaverOptions } from '../train/savers';
import { train, TrainResult } from '../train/train';
import type { EnvDevice } from './env';
import { selectCheckpoint } from '../list/list';
import { findBundle } from '../../formats/mypt/bundle';

/** Lines held until the checks of a run pass (release()), so a refused run shows its one error alone. */
function heldLog(log: (l: string) => void): { log: (l: string) => void; release: () => void } {
  const held: string[] = [];
  let open = false;
  return {
    log: (l) => (open ? log(l) : void held.push(l)),
    release: () => { if (!open) { open = true; for (const l of held.splice(0)) log(l); } },
  };
}

/** A folder means the checkpoint `select` picks in it (never a prompt). */
async function target(o: CheckpointRunOptions, log: (l: string) => void): Promise<string> {
  if (!fs.existsSync(o.checkpoint_path) || !fs.statSync(o.checkpoint_path).isDirectory()) return o.checkpoint_path;
  if (findBundle(o.checkpoint_path)) return o.checkpoint_path; // the folder is a bundle itself
  const e = await selectCheckpoint(o.checkpoint_path, o.select ?? 'latest');
  if (e.format === 'mypt-bundle') {
    throw new MyptError('E_BAD_ARGUMENT', `${e.path}: a MyPT bundle; use \`generate --checkpoint\` or \`train --model_name\` for bundles`);
  }
  log(`Selected ${e.name} (${o.select ?? 'latest'}: step ${e.step ?? '?'}${e.valLoss !== null ? `, val loss ${e.valLoss.toFixed(4)}` : ''}) in ${o.checkpoint_path}`);
  return e.path;
}

export interface CheckpointRunOptions {
  /** A checkpoint, or a folder: then `select` picks one (latest: highest step, final last; best: lowest val loss). */
  checkpoint_path: string;
  select?: 'latest' | 'best';
  device?: EnvDevice;
  log?: (line: string) => void;
  onWarning?: (message: string) => void;
}

export interface InferenceOptions extends CheckpointRunOptions {
  prompt?: string;
  max_new_tokens?: number;      // 300
  temperature?: number;
  top_k?: number;
  seed?: number;
  onText?: (piece: string) => void;
  signal?: AbortSignal;
}

export interface ResumeOptions extends CheckpointRunOptions {
  resume_training_steps?: number;   // 5000 more optimizer steps
  resume_learning_rate?: number;    // 3e-4
  input_file?: string;              // default: the one the checkpoint records
  checkpoint_interval?: number;     // default: the recorded one, else 500
  eval_interval?: number;
  eval_iters?: number;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: Parameters<typeof train>[0] extends infer T ? T extends { onProgress?: infer P } ? P : never : never;
}

/** One line naming what was loaded (the original prints step, vocab size, block size, batch size). */
export function describeLoaded(c: LoadedCheckpoint, p: string): string {
  const tok = c.tokenizer ? `${c.tokenizer.kind} tokens (vocabulary from ${c.tokenizerSource ?? 'GPT-2'})` : 'no tokenizer';
  return `Loaded ${c.format} checkpoint ${p}: step ${c.global_step}, vocab size ${c.config.vocab_size}, ` +
    `block size ${c.config.block_size}, batch size ${c.batch_size ?? 'unrecorded'}, ${c.model.numParams.toLocaleString('en-US')} parameters on ${c.model.device}; ${tok}`;
}

/** The checkpoint's tokenizer; a GPT-2-sized vocabulary without one is GPT-2's; a char model without one is an error. */
function tokenizerOf(c: LoadedCheckpoint, p: string): Tokenizer {
  if (c.tokenizer) return c.tokenizer;
  if (c.config.vocab_size >= GPT2_VOCAB) return new Gpt2Tokenizer();
  throw new MyptError('E_TOKENIZER', `${p}: no vocabulary stored in the file and no tokenizer.json beside it; ` +
    `its ${c.config.vocab_size} token ids cannot be turned into text`, 'put the tokenizer.json of the run that made it beside the file');
}

export async function runInference(o: InferenceOptions): Promise<{ loaded: LoadedCheckpoint; text: string }> {
  const h = heldLog(o.log ?? (() => {}));
  const p = await target(o, h.log);
  const c = await loadCheckpoint(p, { device: o.device, loadOptimizer: false, onWarning: o.onWarning });
  try {
    h.log(describeLoaded(c, p));
    const tok = tokenizerOf(c, p);
    const prompt = o.prompt ? tok.encode(o.prompt) : [0];       // the original starts from token 0 without a prompt
    h.release();
    const dec = new TextStreamDecoder(tok);
    let text = '';
    const out = (s: string) => { if (s) { text += s; o.onText?.(s); } };
    await c.model.generate(prompt, {
      max_new_tokens: o.max_new_tokens ?? 300, temperature: o.temperature, top_k: o.top_k,
      seed: o.seed ?? Math.floor(Math.random() * 2 ** 31), signal: o.signal,
      onToken: (id: number) => out(dec.push(id)),
    });
    out(dec.flush());
    return { loaded: c, text };
  } finally {
    c.model.dispose();
  }
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Where and how a resumed run writes its checkpoints: the format it was loaded from. */
export function saverFor(c: LoadedCheckpoint, p: string, interval: number): CheckpointSaverOptions {
  const file = c.files[0];
  const dir = path.dirname(file);
  if (c.format === 'envvar') {
    const n = parseEnvCheckpointFileName(file);
    return {
      env: { enableCheckpoints: true, checkpointInterval: interval, checkpointDir: dir, modelType: (n?.model ?? 'from_scratch') as any },
      source: n?.source ?? String(c.hyperparameters?.training_data_source ?? 'data'),
    };
  }
  if (c.format === 'separated') {
    return { saveSeparateOptimizer: true, checkpointInterval: interval, dir, filenamePrefix: parseSeparatedName(file)?.prefix ?? 'checkpoint' };
  }
  if (c.format === 'unified') {
    return { saveUnified: true, checkpointInterval: interval, dir, filenamePrefix: path.basename(p).replace(/\.pt$/, '').replace(/-(step\d+|final)$/, '') };
  }
  if (c.format === 'bundle') {
    throw new MyptError('E_BAD_ARGUMENT', `${p}: a MyPT bundle; resume it with \`train --checkpoints_dir ${path.dirname(path.resolve(c.files[0], '..'))} --model_name ${path.basename(path.dirname(c.files[0]))}\``);
  }
  throw new MyptError('E_NO_CHECKPOINT', `cannot resume from ${p}: a ${c.format} checkpoint holds no optimizer state`);
}

export async function resumeFromCheckpoint(o: ResumeOptions): Promise<TrainResult & { files: string[] }> {
  // the lines before training wait for train()'s own checks (memory, data, folder): its first line releases them
  const out = o.log ?? (() => {});
  const h = heldLog(out);
  const log = h.log;
  const p = await target(o, log);
  const c = await loadCheckpoint(p, { device: o.device, purpose: 'resume', onWarning: o.onWarning });
  let handedOver = false;
  try {
    log(describeLoaded(c, p));
    const hp = c.hyperparameters ?? {};
    const input = o.input_file ?? (typeof hp.input_file === 'string' ? hp.input_file : undefined);
    if (!input) {
      throw new MyptError('E_BAD_ARGUMENT', `MODE=resume needs the training text: ${p} records no input file`, 'pass --input_file PATH');
    }
    if (!fs.existsSync(input)) throw new MyptError('E_BAD_ARGUMENT', `${input}: the training text is not there`, 'pass --input_file PATH');
    const tokenizer = tokenizerOf(c, p);
    const steps = o.resume_training_steps ?? 5000;
    const lr = o.resume_learning_rate ?? 3e-4;
    const interval = o.checkpoint_interval ?? num(hp.checkpoint_interval) ?? 500;
    const saver = createCheckpointSaver(saverFor(c, p, interval));
    log(`Resuming at step ${c.global_step} for ${steps} more steps at learning rate ${lr}; checkpoints every ${interval} steps`);
    handedOver = true;   // train() disposes the model
    const r = await train({
      // the rate as asked, constant (no warmup or decay from a preset)
      input_file: input, max_iters: c.global_step + steps, learning_rate: lr, warmup_iters: 0, lr_decay_iters: 0, device: o.device,
      batch_size: c.batch_size ?? num(hp.batch_size), eval_interval: o.eval_interval ?? num(hp.eval_interval),
      eval_iters: o.eval_iters ?? num(hp.eval_iters), seed: o.seed ?? num(hp.seed), weight_decay: num(hp.weight_decay),
      grad_clip: num(hp.grad_clip), dropout: c.config.dropout, sample_tokens: 0,
      startFrom: { model: c.model, tokenizer, step: c.global_step, source: p },
      saveBundle: false, checkpointSaver: saver, log: (l) => { h.release(); out(l); }, signal: o.signal, onProgress: o.onProgress,
    });
    return { ...r, files: saver.written };
  } finally {
    if (!handedOver) c.model.dispose();
  }
}
