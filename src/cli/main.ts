// The command line: one yargs command module per file under commands/.
import yargs from 'yargs';
import { benchCommand } from './commands/bench';

export function main(argv: string[]): void {
  yargs(argv)
    .scriptName('mypt-native')
    .command(benchCommand)
    .strict()
    .demandCommand(1)
    .help()
    .parse();
}
