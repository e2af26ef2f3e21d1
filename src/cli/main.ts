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
      reportAndExit(new MyptError('E_BAD_ARGUMENT', oneLine(String(msg))));
    })
    .parse();
}
