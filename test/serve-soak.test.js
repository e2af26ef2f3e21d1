// A soak (MYPT_SOAK=1; skipped otherwise): 2,000 completions in a row through the server, 8 clients at a
// time, batched; resident memory printed every 500 and required flat after the first 500 (no leak).
const { test } = require('uvu');
const assert = require('uvu/assert');
const mypt = require('..');
const { serveCheckpoint } = require('./helpers/serve-model');

const TOTAL = 2000;
// a full collection before each reading, so what is measured is what is kept, not garbage not yet collected
require('v8').setFlagsFromString('--expose-gc');
const gc = global.gc ?? require('vm').runInNewContext('gc');

if (!process.env.MYPT_SOAK) {
  test.skip('soak: 2,000 requests, memory flat (set MYPT_SOAK=1)', () => {});
} else {
  test('soak: 2,000 requests, all answered in full, resident memory flat', async () => {
    const ckpt = await serveCheckpoint('tiny');
    const s = await mypt.serve({ checkpoint: ckpt, port: 0, device: 'cpu' });
    const rss = [];
    let done = 0;
    try {
      const worker = async (w) => {
        while (done < TOTAL) {
          const i = done++;
          const stream = i % 2 === 0;
          const res = await fetch(`${s.url}/v1/completions`, {
            method: 'POST', headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ prompt: 'ROMEO:', max_tokens: 32, seed: i, stream, stop: i % 5 === 0 ? ['e'] : undefined }),
          });
          assert.is(res.status, 200);
          const text = await res.text();
          if (stream) assert.ok(text.endsWith('data: [DONE]\n\n'));
          else assert.ok(JSON.parse(text).choices[0].finish_reason);
          if ((i + 1) % 500 === 0) {
            gc();
            rss.push(process.memoryUsage().rss / 2 ** 20);
            console.log(`soak: ${i + 1} requests, rss ${rss[rss.length - 1].toFixed(1)} MB (worker ${w})`);
          }
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
      const h = await (await fetch(`${s.url}/health`)).json();
      assert.is(h.requests.completed, TOTAL);
      assert.is(h.requests.failed, 0);
      // flat: after the first 500 (warm caches, the KV slots allocated) it grows by under 32 MB
      assert.ok(rss[rss.length - 1] - rss[0] < 32, `rss grew ${rss.map((x) => x.toFixed(1)).join(' -> ')} MB`);
    } finally {
      await s.close();
    }
  });
}

test.run();
