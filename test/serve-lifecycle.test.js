// serve's life around the requests: api keys, a full queue (503 + Retry-After), a client that goes away
// (its slot freed at once, running or waiting), SIGTERM on the CLI (in-flight work finished, then exit 0),
// and bad flags as one error line.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawn } = require('child_process');
const net = require('net');
const path = require('path');
const { default: OpenAI } = require('openai');
const mypt = require('..');
const { serveCheckpoint } = require('./helpers/serve-model');

const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
let tiny, slow;

test.before(async () => {
  tiny = await serveCheckpoint('tiny');
  slow = await serveCheckpoint('slow'); // ~5 ms a token on the CPU: a 1000-token completion can be cut off
});

const post = (url, body, headers = {}, signal) => fetch(`${url}/v1/completions`, {
  method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal,
});
const health = async (url) => (await fetch(`${url}/health`)).json();
async function until(what, ok, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`gave up waiting: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
/** Starts a streamed completion and resolves once its first piece arrived. */
async function startStream(url, body, controller) {
  const res = await post(url, { ...body, stream: true }, {}, controller.signal);
  const reader = res.body.getReader();
  const first = await reader.read();
  return { res, reader, first: new TextDecoder().decode(first.value) };
}

test('--api_key: a missing or wrong bearer token is 401 in OpenAI shape; the right one passes', async () => {
  const s = await mypt.serve({ checkpoint: tiny, port: 0, device: 'cpu', api_key: 'sekrit' });
  try {
    assert.is(s.host, '127.0.0.1');
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: 'sekrit' }]) {
      const r = await post(s.url, { prompt: 'a', max_tokens: 2 }, headers);
      assert.is(r.status, 401);
      const j = await r.json();
      assert.is(j.error.code, 'invalid_api_key');
      assert.type(j.error.message, 'string');
    }
    const ok = await post(s.url, { prompt: 'a', max_tokens: 2 }, { authorization: 'Bearer sekrit' });
    assert.is(ok.status, 200);
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    try { await client.models.list(); assert.unreachable(); } catch (e) { assert.instance(e, OpenAI.AuthenticationError); }
    const good = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'sekrit', maxRetries: 0 });
    assert.is((await good.completions.create({ model: 'x', prompt: 'a', max_tokens: 3 })).choices[0].text.length, 3);
  } finally {
    await s.close();
  }
});

for (const slots of [1, 2]) {
  const how = slots === 1 ? 'one at a time' : `batched, ${slots} slots`;
  test(`${how}: a full queue answers 503 with Retry-After; a client that disconnects frees its slot at once`, async () => {
    const s = await mypt.serve({ checkpoint: slow, port: 0, device: 'cpu', max_queue: 0, max_batch: slots });
    try {
      assert.is((await health(s.url)).batching, slots === 1 ? false : slots);
      const ctls = Array.from({ length: slots }, () => new AbortController());
      for (const [i, ctl] of ctls.entries()) {
        const a = await startStream(s.url, { prompt: 'A', max_tokens: 1000, seed: i }, ctl);
        assert.match(a.first, /^data: /);
      }
      const busy = await post(s.url, { prompt: 'B', max_tokens: 2 });
      assert.is(busy.status, 503);
      assert.is(busy.headers.get('retry-after'), '1');
      const j = await busy.json();
      assert.is(j.error.type, 'server_error');
      assert.is(j.error.code, 'queue_full');
      // the openai client surfaces it as its typed error (no retries asked)
      const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'x', maxRetries: 0 });
      try { await client.completions.create({ model: 'x', prompt: 'C', max_tokens: 2 }); assert.unreachable(); } catch (e) { assert.is(e.status, 503); }
      // the clients go away mid-stream: the slots are free long before 1000 tokens could be made
      for (const ctl of ctls) ctl.abort();
      const h = await until(() => health(s.url), (x) => x.running === 0);
      assert.is(h.requests.cancelled, slots);
      assert.is(h.requests.completed, 0);
      const after = await post(s.url, { prompt: 'D', max_tokens: 3, seed: 1 });
      assert.is(after.status, 200);
      assert.is((await after.json()).choices[0].text.length, 3);
    } finally {
      await s.close();
    }
  });

  test(`${how}: a waiting request whose client goes away leaves the queue; the others are served in order`, async () => {
    const s = await mypt.serve({ checkpoint: slow, port: 0, device: 'cpu', max_queue: 4, max_batch: slots });
    try {
      const ctls = Array.from({ length: slots }, () => new AbortController());
      for (const [i, ctl] of ctls.entries()) await startStream(s.url, { prompt: 'A', max_tokens: 400, seed: i }, ctl);
      const gone = new AbortController();
      const b = post(s.url, { prompt: 'B', max_tokens: 2 }, {}, gone.signal).catch((e) => e.name);
      const c = post(s.url, { prompt: 'C', max_tokens: 2, seed: 5 });
      await until(() => health(s.url), (x) => x.queue === 2);
      gone.abort();
      assert.is(await b, 'AbortError');
      await until(() => health(s.url), (x) => x.queue <= 1);
      for (const ctl of ctls) ctl.abort();
      const cr = await c;
      assert.is(cr.status, 200);
      assert.is((await cr.json()).choices[0].text, await mypt.generate({ checkpoint: slow, prompt: 'C', max_new_tokens: 2, seed: 5, device: 'cpu' }));
    } finally {
      await s.close();
    }
  });
}

/** The CLI's server: resolves with its url once it listens. */
function startCli(args) {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const url = new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/at (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    child.on('close', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  const exit = new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr: err })));
  return { child, url, exit };
}

test('CLI: SIGTERM stops accepting, finishes the stream in flight in full, then exits 0', async () => {
  const srv = startCli(['--checkpoint', slow, '--port', '0', '--device', 'cpu']);
  const url = await srv.url;
  const ctl = new AbortController();
  const a = await startStream(url, { prompt: 'ROMEO:', max_tokens: 300, seed: 2 }, ctl);
  srv.child.kill('SIGTERM');
  let text = a.first;
  for (;;) {
    const { value, done } = await a.reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  const events = text.split('\n\n').filter(Boolean);
  assert.is(events[events.length - 1], 'data: [DONE]');
  const pieces = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)).choices[0]);
  assert.is(pieces.map((p) => p.text).join(''), await mypt.generate({ checkpoint: slow, prompt: 'ROMEO:', max_new_tokens: 300, seed: 2, device: 'cpu' }));
  assert.is(pieces[pieces.length - 1].finish_reason, 'length');
  const { code, stderr } = await srv.exit;
  assert.is(code, 0, stderr);
  assert.match(stderr, /stopping/);
  // nothing listens any more
  const port = Number(new URL(url).port);
  const refused = await new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.on('connect', () => { sock.destroy(); resolve(false); });
    sock.on('error', () => resolve(true));
  });
  assert.ok(refused);
});

test('CLI: bad flags, a missing checkpoint and a port in use are one error line, exit 1', async () => {
  const run = (args) => new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => resolve({ code, err }));
  });
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  try {
    const cases = [
      [['--checkpoint', tiny, '--port', 'http'], /--port/],
      [['--checkpoint', tiny, '--port', '70000'], /--port 70000/],
      [['--checkpoint', tiny, '--max_queue', '-1'], /--max_queue/],
      [['--checkpoint', path.join(tiny, 'nope')], /nope/],
      [['--checkpoint', tiny, '--port', String(blocker.address().port), '--device', 'cpu'], /already in use/],
    ];
    for (const [args, re] of cases) {
      const { code, err } = await run(args);
      assert.is(code, 1, err);
      assert.match(err, /^error: /m);
      assert.match(err, re);
      assert.not.match(err, /\n\s+at /);
    }
  } finally {
    blocker.close();
  }
});

test.run();
