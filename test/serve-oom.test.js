// An out-of-memory while a request is decoded (a GPU whose memory other work took, caches grown past what
// the up-front check assumed) is the operator's to fix, not a bug: the reply is 503 with OpenAI's error shape,
// code 'out_of_memory' and Retry-After, the log line names --max_batch, and the server keeps serving.
const { test } = require('uvu');
const assert = require('uvu/assert');
const api = require('..');
const { serveCheckpoint } = require('./helpers/serve-model');

test('a request that runs out of memory: 503 out_of_memory, a log line naming --max_batch, the server still serves', async () => {
  const model = await api.loadModel(await serveCheckpoint('tiny'), { device: 'cpu' });
  const real = model.generateStream.bind(model);
  let fail = true;
  model.generateStream = (prompt, o) => {
    if (!fail) return real(prompt, o);
    // what the engine's E_OUT_OF_MEMORY looks like when it reaches the server (src/native fromNative)
    return (async function* () { throw new api.MyptError('E_OUT_OF_MEMORY', 'CUDA out of memory: the KV cache asked for 2.00 GiB (2147483648 bytes)'); })();
  };
  const logs = [];
  const server = await api.serve({ model, max_batch: 1, port: 0, log: (l) => logs.push(l) });
  try {
    const post = () => fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Th', max_tokens: 4, seed: 1 }) });
    const r = await post();
    assert.is(r.status, 503);
    assert.is(r.headers.get('retry-after'), '1');
    const body = await r.json();
    assert.equal(body.error, { message: 'out of memory: CUDA out of memory: the KV cache asked for 2.00 GiB (2147483648 bytes)', type: 'server_error',
      param: null, code: 'out_of_memory' });
    assert.ok(logs.includes('error: CUDA out of memory: the KV cache asked for 2.00 GiB (2147483648 bytes) (lower --max_batch)'), logs.join('\n'));
    fail = false;
    const ok = await post();
    assert.is(ok.status, 200, 'the next request is served');
    assert.is((await ok.json()).choices[0].text.length > 0, true);
  } finally {
    await server.close();
    model.dispose();
  }
});

test.run();
