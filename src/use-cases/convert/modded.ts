// `convert --to small|medium` on a modded-nanogpt file: the line the command prints (the conversion itself
// is formats/modded/convert.ts).

import { MyptError } from '../../errors';
import { loadTorch } from '../../formats/torch';
import { ModdedLayout, parseModded } from '../../formats/modded/modded';
import { convertModded, convertModdedStateDict, defaultModdedOut, formatConvertModded } from '../../formats/modded/convert';

/**
 * `convert --to small|medium` on a modded file. dryRun describes the output without writing;
 * overwrite replaces an existing output (the CLI's --yes). Returns the line to print.
 */
export async function moddedConvertCommand(
  inPath: string,
  argv: { to: string; out?: string; dryRun?: boolean; overwrite?: boolean; world_size?: number; trim_embeddings?: boolean; head_dim?: number },
): Promise<string> {
  const to = argv.to;
  if (to !== 'small' && to !== 'medium') {
    throw new MyptError('E_BAD_ARGUMENT', `convert: --to must be small or medium for a modded-nanogpt file (got ${to})`);
  }
  const opts = { to: to as ModdedLayout, out: argv.out, overwrite: argv.overwrite, world_size: argv.world_size, trim_embeddings: argv.trim_embeddings, head_dim: argv.head_dim };
  if (argv.dryRun) {
    const p = parseModded(await loadTorch(inPath), inPath, { head_dim: argv.head_dim });
    if (p.info.layout === to) return `${inPath} is already in the modded ${to} layout: nothing to do`;
    const { notes } = convertModdedStateDict(p, opts.to, opts);
    const out = argv.out ?? defaultModdedOut(inPath, opts.to);
    const fwd = p.info.forward !== to ? `; records forward: '${p.info.forward}'` : '';
    return `would write ${out} (modded ${to} layout${fwd})${notes.length ? `; ${notes.join('; ')}` : ''}`;
  }
  return formatConvertModded(await convertModded(inPath, opts));
}
