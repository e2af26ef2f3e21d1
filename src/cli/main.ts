// The command line: one yargs command module per file under commands/. Flags are strict; a bad flag or
// value is one line naming it (exit 1), never a stack trace.
import yargs from 'yargs';
import { benchCommand } from './commands/bench';
import { reportAndExit } from './errors';
import { MyptError } from '../errors';
import * as trainCmd from './commands/train';
import * as generateCmd from './commands/generate';
import * as inspectCmd from './commands/inspect';
import * as presetsCmd from './commands/presets';
import * as listCmd from './commands/list';
import * as loadCheckpointCmd from './commands/load-checkpoint';
import * as convertCmd from './commands/convert';
import * as exportCmd from './commands/export';
import * as serveCmd from './commands/serve';
import * as prepareCmd from './commands/prepare';
import * as evalCmd from './commands/eval';
import * as doctorCmd from './commands/doctor';

/** yargs' messages span lines ("Invalid values:\n  Argument: suite, Given: ..."): keep all of it, on one line. */
function oneLine(msg: string): string {
  return msg.split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
}

/** yargs names an unknown flag as it parsed it: `--no-such-flag` becomes "such-flag, suchFlag" (the negation
 * dropped, and the camel-case alias beside it). Name the flags as typed instead, where they can be found; a stray
 * positional (`generate model.pt`) gets the flag that names a checkpoint, where the command has one. */
const CHECKPOINT_COMMANDS = ['generate', 'convert', 'export', 'eval', 'serve'];
function unknownAsTyped(msg: string, argv: string[]): MyptError {
  const m = /^Unknown arguments?: (.*)$/.exec(msg);
  if (!m) return new MyptError('E_BAD_ARGUMENT', msg);
  const names = new Set(m[1].split(', '));
  const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const typed = new Set<string>();
  let positional: string | undefined;
  for (const a of argv) {
    if (a === '--') break;
    if (!a.startsWith('-')) {
      if (names.has(a)) positional ??= a;
      continue;
    }
    const flag = a.split('=')[0];
    const name = flag.replace(/^-+/, '');
    if ([name, name.replace(/^no-/, '')].some((k) => names.has(k) || names.has(camel(k)))) typed.add(flag);
  }
  if (positional !== undefined) typed.add(positional);
  const text = typed.size === 0 ? msg : `Unknown argument${typed.size > 1 ? 's' : ''}: ${[...typed].join(', ')}`;
  const cmd = argv.find((a) => !a.startsWith('-'));
  if (positional === undefined || !cmd) return new MyptError('E_BAD_ARGUMENT', text);
  const hint = CHECKPOINT_COMMANDS.includes(cmd)
    ? `${cmd} takes no positional arguments: name a checkpoint with --checkpoint ${positional}`
    : `see mypt-native ${cmd} --help`;
  return new MyptError('E_BAD_ARGUMENT', text, hint);
}

export function main(argv: string[]): void {
  yargs(argv)
    .scriptName('mypt-native')
    .command(trainCmd)
    .command(generateCmd)
    .command(inspectCmd)
    .command(presetsCmd)
    .command(listCmd)
    .command(loadCheckpointCmd)
    .command(convertCmd)
    .command(exportCmd)
    .command(serveCmd)
    .command(prepareCmd)
    .command(evalCmd)
    .command(benchCommand)
    .command(doctorCmd)
    .strict()
    .demandCommand(1, 'name a command: train, generate, inspect, convert, export, serve, prepare, eval, list, load-checkpoint, presets, bench, doctor (see --help)')
    .recommendCommands()
    .help()
    .version()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      // yargs re-wraps errors thrown by a flag's coerce (our MyptErrors) as YError: still a user error
      if (err && !(err instanceof MyptError) && err.name === 'YError') reportAndExit(new MyptError('E_BAD_ARGUMENT', oneLine(err.message)));
      if (err) reportAndExit(err);
      reportAndExit(unknownAsTyped(oneLine(String(msg)), argv));
    })
    .parse();
}
