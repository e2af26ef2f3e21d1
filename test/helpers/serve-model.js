// Small real checkpoints for the serve suites, trained for a few steps on the bundled Tiny Shakespeare (char
// tokenizer), so they have a training history (metrics.jsonl, loss.svg) for the model card. Made once per
// process in a temporary folder: 'tiny' (context 256, fast) and 'slow' (context 1024, wider: a long
// completion takes long enough to be cut off mid-stream).
const fs = require('fs');
const os = require('os');
const path = require('path');
const mypt = require('../..');

const SIZES = {
  tiny: { max_iters: 20, eval_interval: 10, eval_iters: 2, batch_size: 2, block_size: 256, n_embd: 32, n_head: 2, n_layer: 2 },
  slow: { max_iters: 1, eval_interval: 1, eval_iters: 1, batch_size: 1, block_size: 1024, n_embd: 256, n_head: 4, n_layer: 6 },
};
const made = {};
let dir;

function serveCheckpoint(name = 'tiny') {
  made[name] ??= (async () => {
    if (!dir) {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-serve-'));
      process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    }
    await mypt.train({ model_name: name, checkpoints_dir: dir, device: 'cpu', seed: 1, sample_tokens: 0, log: () => {}, ...SIZES[name] });
    return path.join(dir, name);
  })();
  return made[name];
}

module.exports = { serveCheckpoint };
