// `convert --to separated|model-only|unified`: rewrites an env-var, separated, unified or model-only
// checkpoint in another of the section 5 arrangements. The original is never modified, except that
// turning a separated pair into model-only in place means deleting its optimizer file: that happens only
// with `removeOptimizer: true` (the CLI's --yes), which also allows replacing an existing output file. Output is read back and compared before returning.
import fs from 'fs';
import { MyptError } from '../../errors';
import type { CheckpointData } from '../../formats/separated/data';
import { readCheckpoint } from '../../formats/separated/read';
import { baseNameOf, pairOf, writeSeparated, writeUnified } from '../../formats/separated/separated';

export type LayoutTarget = 'separated' | 'model-only' | 'unified';
export const LAYOUT_TARGETS: readonly LayoutTarget[] = ['separated', 'model-only', 'unified'];

export interface ConvertLayoutOptions {
  /** Output base name (separated, model-only) or file (unified); default beside the input. */
  out?: string;
  /** Separated pair -> model-only in place: delete the optimizer file (nothing else changes). */
  removeOptimizer?: boolean;
  /** Report what would be written without writing. */
  dryRun?: boolean;
}

export interface ConvertLayoutResult {
  from: string;                 // format read
  to: LayoutTarget;
  written: string[];
  removed: string[];
  bytesBefore: number;
  bytesAfter: number;
}

const size = (files: string[]) => files.reduce((n, f) => n + (fs.existsSync(f) ? fs.statSync(f).size : 0), 0);

function sameTensors(a: CheckpointData, b: CheckpointData, where: string): void {
  for (const [k, t] of Object.entries(a.params)) {
    const u = b.params[k];
    if (!u || u.data.length !== t.data.length || u.data.some((x, i) => x !== t.data[i])) {
      throw new MyptError('E_IO', `${where}: reading the written checkpoint back gave a different ${k}; the output is not trustworthy`);
    }
  }
  if (a.step !== b.step) throw new MyptError('E_IO', `${where}: step ${b.step} read back, ${a.step} written`);
}

export async function convertLayout(path: string, to: LayoutTarget, opts: ConvertLayoutOptions = {}): Promise<ConvertLayoutResult> {
  if (!LAYOUT_TARGETS.includes(to)) {
    throw new MyptError('E_BAD_ARGUMENT', `--to ${String(to)} is not valid: accepted values are ${LAYOUT_TARGETS.join(', ')}`);
  }
  const src = await readCheckpoint(path, { loadOptimizer: to !== 'model-only', onWarning: () => {} });
  const bytesBefore = size(src.base ? [pairOf(src.base).model, pairOf(src.base).optimizer] : src.files);
  const base = opts.out ? baseNameOf(opts.out) : src.base ?? baseNameOf(path);
  const result: ConvertLayoutResult = { from: src.format, to, written: [], removed: [], bytesBefore, bytesAfter: bytesBefore };

  if (to === 'model-only' && src.base && base === src.base) {
    // the pair itself: the model file already is the model-only checkpoint
    const { optimizer } = pairOf(src.base);
    if (!fs.existsSync(optimizer)) return result;
    if (!opts.removeOptimizer) {
      throw new MyptError('E_BAD_ARGUMENT', `${path}: making this pair model-only deletes ${optimizer}`, 'pass --yes to delete it, or --out NAME to write a copy');
    }
    result.removed.push(optimizer);
    result.bytesAfter = size([pairOf(src.base).model]);
    if (!opts.dryRun) fs.rmSync(optimizer);
    return result;
  }
  if (to === 'separated' && src.format === 'separated' && base === src.base) {
    throw new MyptError('E_BAD_ARGUMENT', `${path}: already a separated pair`, 'give --out NAME to write a copy');
  }
  if (to === 'separated' && !src.data.optimizer) {
    throw new MyptError('E_BAD_ARGUMENT', `${path}: holds no optimizer state, so there is no optimizer file to separate`, 'use --to model-only');
  }
  const target = to === 'unified' ? (opts.out ?? `${base}.pt`) : pairOf(base).model;
  if (src.files.includes(target)) throw new MyptError('E_BAD_ARGUMENT', `${target}: would overwrite the input`, 'give --out NAME');

  const planned = to === 'unified' ? [target] : to === 'separated' ? [pairOf(base).model, pairOf(base).optimizer] : [pairOf(base).model];
  // never replace another checkpoint that happens to sit where the output goes, unless asked to
  const taken = planned.filter((f) => fs.existsSync(f));
  if (taken.length && !opts.removeOptimizer) {
    throw new MyptError('E_BAD_ARGUMENT', `${taken.join(', ')}: already exists and would be overwritten`, 'pass --yes to replace it, or --out NAME');
  }
  if (opts.dryRun) return { ...result, written: planned, bytesAfter: NaN };
  const data = { ...src.data, optimizer: to === 'model-only' ? null : src.data.optimizer };
  result.written = to === 'unified' ? [await writeUnified(target, data)] : await writeSeparated(base, data, { modelOnly: to === 'model-only' });
  const back = await readCheckpoint(to === 'unified' ? target : base, { loadOptimizer: false });
  sameTensors(data, back.data, target);
  result.bytesAfter = size(result.written);
  return result;
}
