const { test } = require('uvu');
const assert = require('uvu/assert');
const { summarize } = require('../lib/use-cases/bench/stats');
const { casesFor, workOf, trainFlopsPerToken, GPT2_124M } = require('../lib/use-cases/bench/cases');
const { loadAddon } = require('../lib/native');

test('summarize: median of odd and even counts, spread from p10..p90', () => {
  assert.is(summarize([3, 1, 2]).median_ms, 2);
  assert.is(summarize([4, 1, 3, 2]).median_ms, 2.5);
  const s = summarize([10, 10, 10, 10, 20]);
  assert.is(s.min_ms, 10);
  assert.is(s.max_ms, 20);
  assert.ok(Math.abs(s.spread - 1) < 1e-12, 'p90 20 - p10 10 over median 10');
});

test('workOf reproduces the FLOP counts behind ANCHORS.md figures', () => {
  // bf16 GEMM 16384x768 @ 768x2304: 0.106 ms is 548 TFLOP/s
  const mm = casesFor('cuda', false).find((c) => c.op === 'matmul' && c.N === 2304);
  assert.ok(Math.abs(workOf(mm).flops / 0.106e-3 / 1e12 - 548) < 2);
  // causal SDPA forward B16 H12 T1024 D64: 0.113 ms is 229 TFLOP/s; fwd+bwd 0.612 ms is 147
  const fwd = { op: 'attention_fwd', B: 16, H: 12, T: 1024, D: 64, device: 'cuda' };
  assert.ok(Math.abs(workOf(fwd).flops / 0.113e-3 / 1e12 - 229) < 2);
  assert.ok(Math.abs(workOf({ ...fwd, op: 'attention_fwd_bwd' }).flops / 0.612e-3 / 1e12 - 147) < 2);
  // fused AdamW over 124 M fp32 params: 1.42 ms is 2.45 TB/s
  assert.ok(Math.abs(workOf({ op: 'adamw', N: 124_475_904, device: 'cuda' }).bytes / 1.42e-3 / 1e12 - 2.45) < 0.02);
});

test('training FLOPs per token for GPT-2 124M (6N + 12LCT) match nanoGPT estimate', () => {
  // N without wpe = 124,475,904 - 786,432 = 123,689,472 (nanoGPT get_num_params(non_embedding=True))
  const expected = 6 * 123_689_472 + 12 * 12 * 768 * 1024;
  assert.is(trainFlopsPerToken(GPT2_124M, 1024), expected);
});

test('benchOp times a CPU matmul and reports its work', async () => {
  const r = await loadAddon().benchOp({ op: 'matmul', device: 'cpu', M: 64, K: 32, N: 48, warmup: 1, repeats: 4 });
  assert.is(r.ms.length, 4);
  assert.ok(r.ms.every((x) => x > 0));
  assert.is(r.flops, 2 * 64 * 32 * 48);
  try {
    await loadAddon().benchOp({ op: 'nonsense', device: 'cpu', warmup: 0, repeats: 1 });
    assert.unreachable('unknown op must reject');
  } catch (e) {
    assert.match(e.message, /unknown op 'nonsense'/);
  }
});

test.run();
