// bench --suite serve runs end to end: six rows (batched and one at a time, 1/8/32 clients) and two without
// HTTP (one sequence through the batched decoder, and through generate()), each with tokens/s and a p95
// latency no lower than its median. Speed itself is compared in the bench, not here.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { runBench } = require('../lib/use-cases/bench/run');

test('bench --suite serve --quick: eight rows, throughput and p50 <= p95 for each', async () => {
  const r = await runBench({ device: 'cpu', suites: ['serve'], quick: true });
  assert.equal(r.rows.map((x) => x.id), [
    'serve/serve_batched B1', 'serve/serve_batched B8', 'serve/serve_batched B32',
    'serve/serve_single B1', 'serve/serve_single B8', 'serve/serve_single B32',
    'serve/serve_decoder B1', 'serve/serve_generate B1',
  ]);
  for (const row of r.rows) {
    assert.is(row.error, undefined, row.error);
    assert.ok(row.tokens_per_s > 0);
    assert.ok(row.p95_ms >= row.timing.median_ms);
    // B clients x 2 requests each; 3 sequences for the two rows without HTTP
    assert.is(row.timing.repeats, /decoder|generate/.test(row.id) ? 3 : 2 * Number(row.id.split(' B')[1]));
  }
});

test.run();
