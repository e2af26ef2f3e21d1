// The command line: one yargs command module per file under commands/.
import yargs from 'yargs';

export function main(argv: string[]): void {
  yargs(argv)
    .scriptName('mypt-native')
    .strict()
    .demandCommand(1)
    .help()
    .parse();
}
