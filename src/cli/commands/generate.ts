// `mypt-native generate`: sample from a trained model, streaming the text as it is produced.
import type { Argv } from 'yargs';
import { describeRun } from '../../use-cases/generate/generate';
import { loadModel } from '../../use-cases/open/open';
import { MyptError } from '../../errors';
import { choiceFlag, intFlag, numFlag, stringFlag } from '../options';
import { handler as wrap } from '../errors';

export const command = 'generate';
export const describe = 'Generate text from a trained model (streams as it is produced)';

export function builder(y: Argv) {
  return y
    .option('model_name', { type: 'string', coerce: stringFlag('model_name'), describe: 'model under --checkpoints_dir [default]' })
    .option('checkpoint', { type: 'string', coerce: stringFlag('checkpoint'), describe: 'a bundle folder (or a file in it), or any checkpoint file (modded-nanogpt included), instead of --model_name' })
    .option('checkpoints_dir', { type: 'string', coerce: stringFlag('checkpoints_dir'), describe: 'folder of model bundles [checkpoints]' })
    .option('prompt', { type: 'string', coerce: stringFlag('prompt'), describe: 'text to continue [a newline]' })
    .option('max_new_tokens', { type: 'string', coerce: intFlag('max_new_tokens', 0), describe: 'tokens to generate [500]' })
    .option('temperature', { type: 'string', coerce: numFlag('temperature', (x) => x >= 0, 'must be >= 0'), describe: 'sampling temperature; 0 = greedy [1.0]' })
    .option('top_k', { type: 'string', coerce: intFlag('top_k', 0), describe: 'keep the k most likely tokens (0: off) [0]' })
    .option('top_p', { type: 'string', coerce: numFlag('top_p', (x) => x > 0 && x <= 1, 'must be in (0, 1]'), describe: 'nucleus sampling (1: off) [1]' })
    .option('seed', { type: 'string', coerce: intFlag('seed', 0), describe: 'same seed, same text [random]' })
    .option('input_file', { type: 'string', coerce: stringFlag('input_file'), describe: "training text, for the char vocabulary of files that store none (the lecture trainer's)" })
    .option('tokenizer', { type: 'string', coerce: stringFlag('tokenizer'), describe: "modded-nanogpt files: a tokenizer file (MyPT's or a Hugging Face byte-level BPE tokenizer.json) [GPT-2's]" })
    .option('device', { type: 'string', coerce: choiceFlag('device', ['auto', 'cpu', 'cuda'] as const), describe: 'auto, cpu or cuda [auto]' });
}

interface Args {
  model_name?: string; checkpoint?: string; checkpoints_dir?: string; input_file?: string; prompt?: string; max_new_tokens?: number;
  temperature?: number; top_k?: number; top_p?: number; seed?: number; device?: 'auto' | 'cpu' | 'cuda'; tokenizer?: string;
}

async function run(a: Args) {
  if (a.model_name && a.checkpoint) throw new MyptError('E_BAD_ARGUMENT', 'give either --model_name or --checkpoint, not both');
  const m = await loadModel(a.checkpoint ?? a.model_name ?? 'default', { device: a.device, checkpoints_dir: a.checkpoints_dir, input_file: a.input_file, tokenizer: a.tokenizer });
  if (m.family === 'modded') process.stderr.write(`${describeRun(m)}\n`);  // what runs; stdout stays the text alone
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.on('SIGINT', onSigint);
  try {
    const prompt = a.prompt ?? '';
    const seed = a.seed ?? Math.floor(Math.random() * 2 ** 31);
    // the prompt goes out with the first piece, so a prompt the tokenizer refuses prints only the error
    let shown = false;
    for await (const piece of m.generateStream(prompt, {
      max_new_tokens: a.max_new_tokens, temperature: a.temperature, top_k: a.top_k, top_p: a.top_p, seed, signal: controller.signal,
    })) {
      process.stdout.write(shown ? piece : prompt + piece);
      shown = true;
    }
    process.stdout.write(shown ? '\n' : `${prompt}\n`);
  } finally {
    process.off('SIGINT', onSigint);
    m.dispose();
  }
}

export const handler = wrap(run);
