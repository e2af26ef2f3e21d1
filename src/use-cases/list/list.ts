// Listing the checkpoints in a folder and choosing one: `latest` (highest step, `final` after every step)
// or `best` (lowest recorded validation loss). Never prompts; never modifies anything.
import fs from 'fs';
import path from 'path';
import { MyptError, expectPath } from '../../errors';
import { field, pyNumber } from '../../formats/layouts/common';
import { parseEnvCheckpointFileName } from '../../formats/lecture/envvar-name';
import { pairOf, parseSeparatedName, recordedValLoss } from '../../formats/separated/separated';
import { OPTIMIZER_KEYS, recognise } from '../../formats/recognise';
import { loadTorch, loadTorchSync } from '../../formats/torch';

export type ListedFormat = 'envvar' | 'separated' | 'model-only' | 'unified' | 'mypt-bundle' | 'mypt-legacy' | 'nanogpt'
  | 'modded-small' | 'modded-medium' | 'other';

export interface CheckpointEntry {
  name: string;              // what the user sees: file name, pair base name, or bundle folder
  path: string;              // what loadCheckpoint / generate accept
  format: ListedFormat;
  step: number | null;
  final: boolean;
  valLoss: number | null;
  size: number;              // bytes, all files of the checkpoint together
  optimizer: boolean;        // optimizer state present (resumable; modded files hold one GPU's shard: not)
  files: string[];
  mtimeMs: number;
  /** Why it cannot be loaded as it is (a truncated or corrupt file), when listing found out. */
  problem?: string;
}

const sizeOf = (files: string[]) => files.reduce((n, f) => n + fs.statSync(f).size, 0);
const mtimeOf = (files: string[]) => Math.max(...files.map((f) => fs.statSync(f).mtimeMs));

async function peek(file: string): Promise<unknown> {
  try {
    return await loadTorch(file);
  } catch {
    return null;
  }
}

function valLossOf(d: unknown, file: string): number | null {
  return recordedValLoss(d, file) ?? null;
}

async function separatedEntry(base: string): Promise<CheckpointEntry | null> {
  const pair = pairOf(base);
  const parsed = parseSeparatedName(pair.model);
  const d = await peek(pair.model);
  if (recognise(d).kind !== 'separated-model') return null;
  const hasOpt = fs.existsSync(pair.optimizer);
  const files = hasOpt ? [pair.model, pair.optimizer] : [pair.model];
  return {
    name: path.basename(base), path: base, format: hasOpt ? 'separated' : 'model-only',
    step: pyNumber(field(d, 'global_step')) ?? (typeof parsed?.step === 'number' ? parsed.step : null),
    final: parsed?.step === 'final', valLoss: valLossOf(d, pair.model), size: sizeOf(files), optimizer: hasOpt, files,
    mtimeMs: mtimeOf(files),
  };
}

async function singleEntry(file: string): Promise<CheckpointEntry | null> {
  const d = await peek(file);
  if (d === null) return null;
  const base = { name: path.basename(file), path: file, size: sizeOf([file]), files: [file], mtimeMs: mtimeOf([file]) };
  const kind = recognise(d).kind;
  switch (kind) {
    case 'modded-small':
    case 'modded-medium':
      return { ...base, format: kind, step: pyNumber(field(d, 'step')) ?? null, final: false,
        valLoss: pyNumber(field(d, 'val_loss')) ?? null, optimizer: false };
    case 'nanogpt':
      return { ...base, format: 'nanogpt', step: pyNumber(field(d, 'iter_num')) ?? null, final: false,
        valLoss: pyNumber(field(d, 'best_val_loss')) ?? null, optimizer: !!field(d, 'optimizer') };
    case 'mypt-legacy':
      return { ...base, format: 'mypt-legacy', step: pyNumber(field(d, 'step')) ?? null, final: path.basename(file) === 'final.pt',
        valLoss: null, optimizer: !!field(d, 'optimizer_state_dict') };
    case 'envvar':
      return { ...base, format: 'envvar', step: pyNumber(field(d, 'step')) ?? parseEnvCheckpointFileName(file)?.step ?? null,
        final: false, valLoss: valLossOf(d, file), optimizer: !!field(d, 'optimizer_state_dict') };
    case 'unified':
    case 'wrapped': {
      const opt = OPTIMIZER_KEYS.map((k) => field(d, k)).find((x) => x !== undefined && x !== null);
      return { ...base, format: 'unified', step: pyNumber(field(d, 'global_step')) ?? pyNumber(field(d, 'iter_num')) ?? pyNumber(field(d, 'step')) ?? null,
        final: /final/.test(path.basename(file)), valLoss: valLossOf(d, file), optimizer: !!opt };
    }
    default:
  }
  return null;
}

function bundleEntry(dir: string): CheckpointEntry | null {
  const model = path.join(dir, 'model.pt');
  if (!fs.existsSync(path.join(dir, 'config.json')) || !fs.existsSync(model)) return null;
  const files = ['config.json', 'tokenizer.json', 'training_state.json', 'model.pt', 'optimizer.pt']
    .map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f));
  let step: number | null = null;
  try {
    step = JSON.parse(fs.readFileSync(path.join(dir, 'training_state.json'), 'utf8')).step ?? null;
  } catch { /* no training state: step unknown */ }
  let valLoss: number | null = null;
  try {   // the last eval line of the bundle's metrics history, when it has one
    const lines = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n');
    for (const l of lines.reverse()) {
      const v = JSON.parse(l).val_loss;
      if (typeof v === 'number') { valLoss = v; break; }
    }
  } catch { /* no metrics */ }
  let problem: string | undefined;
  for (const f of [model, path.join(dir, 'optimizer.pt')].filter((x) => fs.existsSync(x))) {
    try {
      loadTorchSync(f);   // the zip's directory and the pickle: cheap, and a truncated file fails here
    } catch (e) {
      problem ??= (e as Error).message;
    }
  }
  return { name: path.basename(dir) + '/', path: dir, format: 'mypt-bundle', step, final: false, valLoss,
    size: sizeOf(files), optimizer: fs.existsSync(path.join(dir, 'optimizer.pt')), files, mtimeMs: mtimeOf(files), ...(problem ? { problem } : {}) };
}

/** Every checkpoint in `dir` (and bundles in its subfolders), sorted by step, `final` last. */
export async function listCheckpoints(dir: string): Promise<CheckpointEntry[]> {
  expectPath(dir, 'listCheckpoints');
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new MyptError('E_NO_CHECKPOINT', `${dir}: no such folder`);
  }
  const out: CheckpointEntry[] = [];
  const bases = new Set<string>();
  const names = fs.readdirSync(dir).sort();
  for (const n of names) {
    const p = path.join(dir, n);
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      continue; // a dangling link or an entry removed meanwhile is no checkpoint
    }
    if (st.isDirectory()) {
      const b = bundleEntry(p);
      if (b) out.push(b);
      else {
        // a model folder of another trainer: MyPT's legacy latest.pt / final.pt, nanoGPT's ckpt.pt
        for (const f of ['latest.pt', 'final.pt', 'ckpt.pt']) {
          const e = fs.existsSync(path.join(p, f)) ? await singleEntry(path.join(p, f)) : null;
          if (e) out.push({ ...e, name: `${n}/${f}` });
        }
      }
      continue;
    }
    if (!n.endsWith('.pt') || n.startsWith('.')) continue;
    const sep = parseSeparatedName(n);
    if (sep) {
      const base = p.replace(/-(model|optimizer)\.pt$/, '');
      if (bases.has(base)) continue;
      bases.add(base);
      const e = fs.existsSync(pairOf(base).model) ? await separatedEntry(base) : null;
      if (e) out.push(e);
      continue;
    }
    const e = await singleEntry(p);
    if (e) out.push(e);
  }
  return out.sort(compareLatest);
}

/** Order for `latest`: by step, `final` after every step, then by modification time. */
export function compareLatest(a: CheckpointEntry, b: CheckpointEntry): number {
  if (a.final !== b.final) return a.final ? 1 : -1;
  const sa = a.step ?? -1, sb = b.step ?? -1;
  if (sa !== sb) return sa - sb;
  return a.mtimeMs - b.mtimeMs;
}

/** The checkpoint to use: `latest` (highest step, `final` last) or `best` (lowest recorded validation loss). */
export async function selectCheckpoint(dir: string, which: 'latest' | 'best'): Promise<CheckpointEntry> {
  expectPath(dir, 'selectCheckpoint');
  if (which !== 'latest' && which !== 'best') {
    throw new MyptError('E_BAD_ARGUMENT', `selectCheckpoint: ${String(which)} is not valid: accepted values are latest, best`);
  }
  const listed = await listCheckpoints(dir);
  const all = listed.filter((e) => !e.format.startsWith('modded-'));  // they run their own forward pass elsewhere
  if (all.length === 0 && listed.length > 0) {
    throw new MyptError('E_NO_CHECKPOINT', `${dir}: only modded-nanogpt checkpoints, which this loader does not run`,
      'sample one with `mypt-native generate --checkpoint FILE`');
  }
  if (all.length === 0) throw new MyptError('E_NO_CHECKPOINT', `${dir}: no checkpoint found (looked for *.pt files and bundle folders)`);
  if (which === 'latest') return all[all.length - 1];
  const scored = all.filter((e) => e.valLoss !== null);
  if (scored.length === 0) {
    throw new MyptError('E_NO_CHECKPOINT', `${dir}: none of the ${all.length} checkpoints records a validation loss`, 'use latest');
  }
  // lowest loss; ties go to the later checkpoint
  return scored.reduce((best, e) => (e.valLoss! < best.valLoss! || (e.valLoss === best.valLoss && compareLatest(e, best) > 0) ? e : best));
}
