// The hooks the CLI commands call for modded-nanogpt files (inspect, convert --to small|medium).
// They return text; the commands print it.

import * as fs from 'fs';
import { MyptError } from '../../errors';
import { loadTorch } from '../../formats/torch';
import { ModdedLayout, detectModded, formatModdedInfo, parseModded } from '../../formats/modded/modded';
import { convertModded, convertModdedStateDict, defaultModdedOut, formatConvertModded } from '../../formats/modded/convert';

/** The modded layout of a `.pt` file, or null (any other file; tensor data is not read). */
export async function detectModdedFile(path: string): Promise<ModdedLayout | null> {
  try {
    return detectModded(await loadTorch(path));
  } catch {
    return null;
  }
}

/** Whether a CLI target (a name, folder or file) is a modded-nanogpt file. */
export async function isModdedFile(target: string): Promise<boolean> {
  return fs.existsSync(target) && fs.statSync(target).isFile() && (await detectModdedFile(target)) !== null;
}

/** `inspect PATH` for a modded file: the text sections, or JSON with `json`. */
export async function inspectModdedFile(path: string, opts: { json?: boolean; head_dim?: number } = {}): Promise<string> {
  const info = parseModded(await loadTorch(path), path, { head_dim: opts.head_dim }).info;
  const size = fs.statSync(path).size;
  if (opts.json) return JSON.stringify({ format: `modded-${info.layout}`, file_bytes: size, ...info }, null, 2);
  return `${formatModdedInfo(info)}\n  file size:        ${(size / 1e6).toFixed(1)} MB`;
}

/**
 * `convert --to small|medium` on a modded file. dryRun describes the output without writing;
 * overwrite replaces an existing output (the CLI's --yes). Returns the line to print.
 */
export async function moddedConvertCommand(
  inPath: string,
  argv: { to: string; out?: string; dryRun?: boolean; overwrite?: boolean; world_size?: number; trim_embeddings?: boolean },
): Promise<string> {
  const to = argv.to;
  if (to !== 'small' && to !== 'medium') {
    throw new MyptError('E_BAD_ARGUMENT', `convert: --to must be small or medium for a modded-nanogpt file (got ${to})`);
  }
  const opts = { to: to as ModdedLayout, out: argv.out, overwrite: argv.overwrite, world_size: argv.world_size, trim_embeddings: argv.trim_embeddings };
  if (argv.dryRun) {
    const p = parseModded(await loadTorch(inPath), inPath);
    if (p.info.layout === to) return `${inPath} is already in the modded ${to} layout: nothing to do`;
    const { notes } = convertModdedStateDict(p, opts.to, opts);
    const out = argv.out ?? defaultModdedOut(inPath, opts.to);
    const fwd = p.info.forward !== to ? `; records forward: '${p.info.forward}'` : '';
    return `would write ${out} (modded ${to} layout${fwd})${notes.length ? `; ${notes.join('; ')}` : ''}`;
  }
  return formatConvertModded(await convertModded(inPath, opts));
}
