const { test } = require('uvu');
const assert = require('uvu/assert');
const { summarize } = require('../lib/use-cases/bench/stats');
const { casesFor, workOf, trainFlopsPerToken, GPT2_124M, GPT2_350M } = require('../lib/use-cases/bench/cases');
const { rowCells, HEADER } = require('../lib/use-cases/bench/report');
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

test('the train suite has GPT-2 350M at B=8, T=1024 on CUDA only, beside 124M, with its FLOPs per token', () => {
  const train = casesFor('cuda', false).filter((c) => c.suite === 'train');
  assert.equal(train.map((c) => c.id), ['train/train_step B16 T1024', 'train/train_step 350M B8 T1024', 'train/train_step 350M recompute 1 B8 T1024', 'train/train_step recompute 2 B32 T1024']);
  assert.equal([train[2].B, train[2].recompute, train[2].model], [8, 1, GPT2_350M]);
  assert.equal([train[3].B, train[3].recompute, train[3].model], [32, 2, GPT2_124M]);
  const c = train[1];
  assert.equal(c.model, { arch: 'gpt2', vocab_size: 50304, block_size: 1024, n_layer: 24, n_head: 16, n_embd: 1024, bias: true,
    activation: 'gelu_tanh' });
  assert.is(c.model, GPT2_350M);
  assert.equal([c.B, c.T, c.device, c.op], [8, 1024, 'cuda', 'train_step']);
  assert.ok(!casesFor('cpu', false).some((x) => x.model === GPT2_350M), 'not in the CPU suite');
  // GPT-2 medium has 354,823,168 parameters with vocab 50257 (nanoGPT); 47 more rows of 1024 with 50304;
  // without the position table (1024 x 1024): N = 353,822,720
  const N = 354_823_168 + 47 * 1024 - 1024 * 1024;
  assert.is(N, 353_822_720);
  assert.is(trainFlopsPerToken(GPT2_350M, 1024), 6 * N + 12 * 24 * 1024 * 1024);
});

test('a GPU train_step row shows our peak memory beside PyTorch eager and compiled', () => {
  const row = {
    id: 'train/train_step 350M B8 T1024', suite: 'train', device: 'cuda',
    timing: { median_ms: 100, min_ms: 99, max_ms: 101, spread: 0.01, repeats: 20 }, tokens_per_s: 81920, mfu: 0.2,
    peak_mb: 12345.4, pytorch_ms: 150, pytorch_compile_ms: 110, pytorch_peak_mb: 20000.2, pytorch_compile_peak_mb: 15000.7, speedup: 1.1,
  };
  const cells = rowCells(row);
  assert.is(cells.length, HEADER.length);
  assert.is(cells[HEADER.indexOf('peak MB')], '12345');
  assert.is(rowCells({ ...row, driver_mb: 12700.6 })[HEADER.indexOf('peak MB')], '12345 (driver 12701)');
  assert.is(cells[HEADER.indexOf('PyTorch ms')], '150.000 (compiled 110.000)');
  assert.is(cells[HEADER.indexOf('PyTorch peak MB')], '20000 (compiled 15001)');
  assert.is(rowCells({ ...row, pytorch_peak_mb: undefined, pytorch_compile_peak_mb: undefined })[HEADER.indexOf('PyTorch peak MB')], '');
  assert.is(rowCells({ id: 'x', suite: 'train', device: 'cuda', error: 'boom' }).length, HEADER.length);
});

test('deviceMemory: null on the CPU, a reading or E_NO_CUDA for CUDA', () => {
  const addon = loadAddon();
  assert.is(addon.deviceMemory('cpu', 0), null);
  if (addon.backends().cuda) {
    const m = addon.deviceMemory('cuda', 0);
    assert.ok(m.totalBytes > 0 && m.freeBytes >= 0 && m.freeBytes <= m.totalBytes);
  } else {
    try {
      addon.deviceMemory('cuda', 0);
      assert.unreachable('no usable CUDA: an error');
    } catch (e) {
      assert.is(e.code, 'E_NO_CUDA');
    }
  }
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

test('bench --case: only the cases whose name contains the text; none matching is a one-line usage error', async () => {
  const { runBench } = require('../lib/use-cases/bench/run');
  const r = await runBench({ device: 'cpu', quick: true, suites: ['layernorm', 'adamw'], cases: ['layernorm'] });
  assert.equal(r.rows.map((x) => x.id), ['layernorm/layernorm_fwd_bwd M2048 K128']);
  assert.ok(r.rows[0].timing.median_ms > 0);
  try {
    await runBench({ device: 'cpu', quick: true, cases: ['no such case'] });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.is(e.code, 'E_BAD_ARGUMENT');
    assert.match(e.message, /--case no such case: no cpu bench case's name contains it/);
  }
});

test.run();
