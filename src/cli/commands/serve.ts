// `mypt-native serve`: an OpenAI-compatible HTTP server (and a playground page at /) over one model.
// SIGTERM / Ctrl-C: stop accepting, finish the requests in flight (a second signal cancels them), exit.
import type { Argv } from 'yargs';
import { serve } from '../../use-cases/serve/server';
import { choiceFlag, intFlag, stringFlag } from '../options';
import { handler as wrap } from '../errors';

export const command = 'serve';
export const describe = 'Serve a model over the OpenAI HTTP API (/v1/completions) with a playground page at /';

export function builder(y: Argv) {
  return y
    .option('model_name', { type: 'string', coerce: stringFlag('model_name'), describe: 'model under --checkpoints_dir [default]' })
    .option('checkpoint', { type: 'string', coerce: stringFlag('checkpoint'), describe: 'a bundle folder or any checkpoint file, instead of --model_name' })
    .option('checkpoints_dir', { type: 'string', coerce: stringFlag('checkpoints_dir'), describe: 'folder of model bundles [checkpoints]' })
    .option('input_file', { type: 'string', coerce: stringFlag('input_file'), describe: 'training text, for the char vocabulary of files that store none' })
    .option('tokenizer', { type: 'string', coerce: stringFlag('tokenizer'), describe: "modded-nanogpt files: a tokenizer file [GPT-2's]" })
    .option('host', { type: 'string', coerce: stringFlag('host'), describe: 'address to listen on [127.0.0.1: this machine only]' })
    .option('port', { type: 'string', coerce: intFlag('port', 0), describe: 'port (0: a free one) [8080]' })
    .option('device', { type: 'string', coerce: choiceFlag('device', ['auto', 'cpu', 'cuda'] as const), describe: 'auto, cpu or cuda [auto]' })
    .option('max_batch', { type: 'string', coerce: intFlag('max_batch', 1), describe: 'sequences decoded together (continuous batching where the backend can; 1: one at a time) [16]' })
    .option('max_queue', { type: 'string', coerce: intFlag('max_queue', 0), describe: 'requests that may wait; beyond it 503 + Retry-After [256]' })
    .option('api_key', { type: 'string', coerce: stringFlag('api_key'), describe: 'require "Authorization: Bearer KEY" on /v1 routes' });
}

interface Args {
  model_name?: string; checkpoint?: string; checkpoints_dir?: string; input_file?: string; tokenizer?: string; host?: string;
  port?: number; device?: 'auto' | 'cpu' | 'cuda'; max_batch?: number; max_queue?: number; api_key?: string;
}

async function run(a: Args) {
  const h = await serve({ ...a, log: (l) => process.stderr.write(`${l}\n`) });
  process.stderr.write(`playground: ${h.url}/   API: ${h.url}/v1   (Ctrl-C to stop)\n`);
  let signals = 0;
  const stop = () => {
    signals++;
    if (signals === 1) {
      process.stderr.write('stopping: finishing the requests in flight (again to cancel them)\n');
      h.close().then(() => process.exit(0), () => process.exit(1));
    } else {
      h.close({ graceMs: 0 }).finally(() => process.exit(0));
      setTimeout(() => process.exit(0), 2000).unref();
    }
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export const handler = wrap(run);
