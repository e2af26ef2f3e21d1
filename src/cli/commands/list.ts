// `mypt-native list [DIR]`: every checkpoint in a folder (env-var files, separated pairs, model-only and
// unified files, bundles): name, format, step, val loss, size, optimizer present; --json for machines.
import type { Argv } from 'yargs';
import { listCheckpoints, CheckpointEntry } from '../../use-cases/list/list';
import { handler as wrap } from '../errors';

export const command = 'list [dir]';
export const describe = 'List the checkpoints in a folder (step, validation loss, size, optimizer state)';

export function builder(y: Argv) {
  return y
    .positional('dir', { type: 'string', describe: 'folder to list [checkpoints]' })
    .option('json', { type: 'boolean', describe: 'print JSON instead of a table' });
}

/** 1536 -> "1.5 KB" (powers of 1024, one decimal). */
export function formatSize(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes, u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

export function formatTable(entries: CheckpointEntry[]): string {
  const rows = entries.map((e) => [
    e.name, e.problem ? `${e.format} (damaged)` : e.format, e.final ? `final (${e.step ?? '?'})` : e.step === null ? '-' : String(e.step),
    e.valLoss === null ? '-' : e.valLoss.toFixed(4), formatSize(e.size), e.optimizer ? 'yes' : 'no',
  ]);
  const head = ['NAME', 'FORMAT', 'STEP', 'VAL LOSS', 'SIZE', 'OPTIMIZER'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const right = new Set([2, 3, 4]);
  const line = (r: string[]) => r.map((c, i) => (right.has(i) ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

async function run(a: { dir?: string; json?: boolean }) {
  const dir = a.dir ?? 'checkpoints';
  const entries = await listCheckpoints(dir);
  if (a.json) {
    process.stdout.write(JSON.stringify({ dir, checkpoints: entries.map(({ mtimeMs: _m, ...e }) => e) }, null, 2) + '\n');
    return;
  }
  if (entries.length === 0) {
    process.stdout.write(`no checkpoints in ${dir}\n`);
    return;
  }
  const total = entries.reduce((n, e) => n + e.size, 0);
  process.stdout.write(`${formatTable(entries)}\n${entries.length} checkpoint${entries.length === 1 ? '' : 's'}, ${formatSize(total)} in ${dir}\n`);
  for (const e of entries) if (e.problem) process.stdout.write(`damaged: ${e.name} cannot be loaded: ${e.problem}\n`);
}

export const handler = wrap(run);
