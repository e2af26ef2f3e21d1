// A child process of the `data` bench suite (forked, so its peak resident size is its own): trains from a
// memory-mapped token folder and sends back its resident sizes. Modes:
//   train      the product path: train({ data }) (the pages read are released every step)
//   no-release the engine alone on the same mapping, the pages never released (what RSS would be without it)
import fs from 'fs';
import os from 'os';
import path from 'path';
import { train } from '../train/train';
import { createModel } from '../../model/gpt';
import { loadAddon } from '../../native';

function status(): { rss_mb: number; hwm_mb: number; file_mb: number; anon_mb: number } {
  const s = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string) => Number(s.match(new RegExp(`${k}:\\s+(\\d+)`))?.[1] ?? NaN) / 1024;
  return { rss_mb: kb('VmRSS'), hwm_mb: kb('VmHWM'), file_mb: kb('RssFile'), anon_mb: kb('RssAnon') };
}

async function main(): Promise<void> {
  const [mode, dir, stepsText] = process.argv.slice(2);
  const steps = Number(stepsText);
  const shape = { n_layer: 2, n_head: 4, n_embd: 64, block_size: 256 };
  const B = 32;
  let tokensPerSecond: number;
  if (mode === 'train') {
    const ck = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-bench-ck-'));
    const r = await train({ data: dir, checkpoints_dir: ck, model_name: 'rss', max_iters: steps,
      eval_interval: steps, eval_iters: 1, batch_size: B, dropout: 0, warmup_iters: 0, lr_decay_iters: 0, sample_tokens: 0, device: 'cpu', ...shape });
    tokensPerSecond = r.tokens_per_second;
    fs.rmSync(ck, { recursive: true, force: true });
  } else {
    const file = path.join(dir, 'train.bin');
    const map = loadAddon().mapTokens(file, 0, fs.statSync(file).size / 2, 'uint16');
    const model = createModel({ vocab_size: 96, ...shape, device: 'cpu', seed: 1 });
    model.setData('train', map);
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) await model.trainBatch({ batch_size: B, block_size: shape.block_size, lr: 1e-3, seed: 1, step: s });
    tokensPerSecond = (steps * B * shape.block_size) / ((performance.now() - t0) / 1000);
    model.dispose();
  }
  process.send!({ ...status(), tokens_per_s: tokensPerSecond });
}

main().catch((e) => { process.send!({ error: (e as Error).message }); });
