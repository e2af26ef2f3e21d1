// mypt-native bench [--suite NAME] [--case TEXT] [--quick] [--json FILE] [--device cpu|cuda] [--compare pytorch]
import fs from 'fs';
import path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { SUITES, Suite } from '../../use-cases/bench/cases';
import { runBench } from '../../use-cases/bench/run';
import { formatTable, HEADER, rowCells } from '../../use-cases/bench/report';
import { backends } from '../..';
import { MyptError } from '../../errors';
import { requireCuda } from '../../model';

interface Args {
  suite?: string[];
  case?: string[];
  quick?: boolean;
  json?: string;
  device: string;
  compare?: string;
}

export const benchCommand: CommandModule<object, Args> = {
  command: 'bench',
  describe: 'Time kernels, a training step, generation and checkpoint I/O (optionally beside PyTorch)',
  builder: (y: Argv) =>
    y
      .option('suite', { type: 'string', array: true, choices: SUITES as unknown as string[], describe: 'only these suites' })
      .option('case', { type: 'string', array: true, describe: "only the cases whose name contains this text ('train_step B16')" })
      .option('quick', { type: 'boolean', describe: 'fewer repeats and smaller checkpoint files' })
      .option('json', { type: 'string', describe: 'also write the results, with the machine, to this JSON file' })
      .option('device', { type: 'string', choices: ['auto', 'cpu', 'cuda'], default: 'auto' })
      .option('compare', { type: 'string', choices: ['pytorch'], describe: 'time the same cases through PyTorch in this run' }) as Argv<Args>,
  handler: async (a) => {
    if (a.json) {
      // checked before minutes of timing, not after
      const dir = path.dirname(path.resolve(a.json));
      if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new MyptError('E_IO', `--json ${a.json}: the folder ${dir} does not exist`);
    }
    const device = a.device === 'auto' ? (backends().cuda ? 'cuda' : 'cpu') : (a.device as 'cpu' | 'cuda');
    if (device === 'cuda') requireCuda(); // one error line, not one in every row
    const live = !a.compare && process.stdout.isTTY;
    if (live) console.log(HEADER.join(' | '));
    const report = await runBench({
      device,
      suites: a.suite as Suite[] | undefined,
      cases: a.case,
      quick: a.quick,
      compare: a.compare as 'pytorch' | undefined,
      onRow: live ? (r) => console.log(rowCells(r).filter(Boolean).join(' | ')) : undefined,
    });
    if (live) console.log('');
    console.log(formatTable(report));
    if (a.json) {
      fs.writeFileSync(a.json, JSON.stringify(report, null, 2) + '\n');
      console.log(`\nwrote ${a.json}`);
    }
    const failed = report.rows.filter((r) => r.error);
    if (failed.length) {
      throw new MyptError('E_NATIVE', `${failed.length} of ${report.rows.length} bench cases failed (see their rows); first: ${failed[0].id}: ${failed[0].error}`);
    }
  },
};
