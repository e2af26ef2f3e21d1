// `serve` driven by the official openai client: completions, streaming, n > 1, stop sequences, echo,
// logprobs, seeded determinism equal to generate(), every error case in OpenAI's shape, and 32 streaming
// clients at once all answered in full. The model: a small real checkpoint (test/helpers/serve-model.js).
const { test } = require('uvu');
const assert = require('uvu/assert');
const { default: OpenAI } = require('openai');
const mypt = require('..');
const { serveCheckpoint } = require('./helpers/serve-model');

let ckpt, server, client;
const generate = (prompt, seed, max_new_tokens, extra = {}) =>
  mypt.generate({ checkpoint: ckpt, prompt, seed, max_new_tokens, device: 'cpu', ...extra });

test.before(async () => {
  ckpt = await serveCheckpoint('tiny');
  server = await mypt.serve({ checkpoint: ckpt, port: 0, device: 'cpu' });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
test.after(async () => { await server?.close(); });

async function raw(pathname, body, headers = {}) {
  const res = await fetch(server.url + pathname, {
    method: body === undefined ? 'GET' : 'POST', headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* SSE or HTML */ }
  return { status: res.status, headers: res.headers, text, json };
}

function assertApiError(r, status, param) {
  assert.is(r.status, status, r.text);
  assert.type(r.json.error.message, 'string');
  assert.ok(r.json.error.message.length > 10);
  assert.type(r.json.error.type, 'string');
  assert.ok('code' in r.json.error && 'param' in r.json.error);
  if (param !== undefined) assert.is(r.json.error.param, param);
}

test('GET /v1/models and /health name the model, its device and the queue', async () => {
  const models = await client.models.list();
  assert.equal(models.data.map((m) => m.id), ['tiny']);
  const h = (await raw('/health')).json;
  assert.is(h.status, 'ok');
  assert.is(h.ready, true);
  assert.is(h.device, 'cpu');
  assert.is(h.queue, 0);
});

test('a completion: the text generate() makes with the same seed, usage counted, finish_reason length', async () => {
  const r = await client.completions.create({ model: 'tiny', prompt: 'ROMEO:', max_tokens: 40, seed: 7, temperature: 0.9 });
  assert.is(r.object, 'text_completion');
  assert.is(r.model, 'tiny');
  assert.is(r.choices.length, 1);
  assert.is(r.choices[0].finish_reason, 'length');
  assert.is(r.choices[0].text, await generate('ROMEO:', 7, 40, { temperature: 0.9 }));
  // char tokenizer: one token per character
  assert.equal(r.usage, { prompt_tokens: 6, completion_tokens: 40, total_tokens: 46 });
  const again = await client.completions.create({ model: 'tiny', prompt: 'ROMEO:', max_tokens: 40, seed: 7, temperature: 0.9 });
  assert.is(again.choices[0].text, r.choices[0].text);
  const other = await client.completions.create({ model: 'tiny', prompt: 'ROMEO:', max_tokens: 40, seed: 8, temperature: 0.9 });
  assert.is.not(other.choices[0].text, r.choices[0].text);
});

test('top_k and top_p reach the sampler (the same text as generate with them)', async () => {
  const r = await client.completions.create({ model: 'tiny', prompt: 'A', max_tokens: 30, seed: 3, top_p: 0.5, top_k: 5 });
  assert.is(r.choices[0].text, await generate('A', 3, 30, { top_p: 0.5, top_k: 5 }));
});

test('streaming: the pieces join to the unstreamed text, each an OpenAI chunk, ending with data: [DONE]', async () => {
  const stream = await client.completions.create({ model: 'tiny', prompt: 'KING:', max_tokens: 50, seed: 11, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let chunks = 0;
  let finish = null;
  let usage = null;
  for await (const c of stream) {
    chunks++;
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) { text += ch.text; if (ch.finish_reason) finish = ch.finish_reason; }
  }
  assert.ok(chunks > 10);
  assert.is(finish, 'length');
  assert.equal(usage, { prompt_tokens: 5, completion_tokens: 50, total_tokens: 55 });
  assert.is(text, await generate('KING:', 11, 50));
  // on the wire: "data: {json}\n\n" events, the last one "data: [DONE]"
  const r = await raw('/v1/completions', { prompt: 'KING:', max_tokens: 5, seed: 11, stream: true });
  assert.is(r.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const events = r.text.split('\n\n').filter(Boolean);
  assert.is(events[events.length - 1], 'data: [DONE]');
  for (const e of events.slice(0, -1)) {
    assert.ok(e.startsWith('data: '));
    const j = JSON.parse(e.slice(6));
    assert.is(j.object, 'text_completion');
    assert.is(j.choices[0].index, 0);
  }
});

test('n > 1: n choices, choice k is generate() with seed + k; several prompts give prompts x n choices', async () => {
  const r = await client.completions.create({ model: 'tiny', prompt: 'To be', max_tokens: 20, seed: 100, n: 3 });
  assert.equal(r.choices.map((c) => c.index), [0, 1, 2]);
  for (let k = 0; k < 3; k++) assert.is(r.choices[k].text, await generate('To be', 100 + k, 20));
  assert.is(r.usage.completion_tokens, 60);
  const two = await client.completions.create({ model: 'tiny', prompt: ['A', 'B'], max_tokens: 5, seed: 1, n: 2 });
  assert.is(two.choices.length, 4);
  assert.is(two.choices[2].text, await generate('B', 1, 5));
  // streamed: every index gets its own pieces and its own finish
  const s = await client.completions.create({ model: 'tiny', prompt: 'To be', max_tokens: 20, seed: 100, n: 3, stream: true });
  const texts = ['', '', ''];
  const finished = [];
  for await (const c of s) for (const ch of c.choices) { texts[ch.index] += ch.text; if (ch.finish_reason) finished.push(ch.index); }
  assert.equal(texts, r.choices.map((c) => c.text));
  assert.equal(finished.sort(), [0, 1, 2]);
});

test('stop sequences end the text before the first match (finish_reason stop), streamed or not', async () => {
  const full = await generate('ROMEO:', 21, 120);
  // a stop that occurs in the text: a two-character piece from its middle
  const at = full.indexOf(' ', 10) > 0 ? full.indexOf(' ', 10) : 10;
  const stop = full.slice(at, at + 2);
  const expected = full.slice(0, full.indexOf(stop));
  const r = await client.completions.create({ model: 'tiny', prompt: 'ROMEO:', max_tokens: 120, seed: 21, stop: [stop, '\u0000never'] });
  assert.is(r.choices[0].text, expected);
  assert.is(r.choices[0].finish_reason, 'stop');
  const s = await client.completions.create({ model: 'tiny', prompt: 'ROMEO:', max_tokens: 120, seed: 21, stop, stream: true });
  let text = '';
  let finish;
  for await (const c of s) for (const ch of c.choices) { text += ch.text; finish = ch.finish_reason ?? finish; }
  assert.is(text, expected);
  assert.is(finish, 'stop');
  // a stop that never occurs changes nothing
  const n = await client.completions.create({ model: 'tiny', prompt: 'ROMEO:', max_tokens: 120, seed: 21, stop: '@@' });
  assert.is(n.choices[0].text, full);
  assert.is(n.choices[0].finish_reason, 'length');
});

test('echo puts the prompt before the text; logprobs with temperature 0 pick the most likely token', async () => {
  const r = await client.completions.create({ model: 'tiny', prompt: 'First', max_tokens: 10, seed: 1, echo: true });
  assert.is(r.choices[0].text, 'First' + await generate('First', 1, 10));
  const g = await client.completions.create({ model: 'tiny', prompt: 'First', max_tokens: 12, temperature: 0, logprobs: 3 });
  const lp = g.choices[0].logprobs;
  assert.is(lp.tokens.join(''), g.choices[0].text);
  assert.is(lp.tokens.length, 12);
  assert.is(lp.text_offset[3], 3);
  for (let i = 0; i < 12; i++) {
    const top = Object.values(lp.top_logprobs[i]);
    assert.is(top.length, 3);
    assert.ok(lp.token_logprobs[i] <= 0);
    // greedy: the chosen token is the most likely one
    assert.ok(Math.abs(lp.token_logprobs[i] - Math.max(...top)) < 1e-9);
  }
  // and the probabilities of the whole vocabulary sum to one: the top 3 hold at most all of it
  assert.ok(Object.values(lp.top_logprobs[0]).reduce((a, x) => a + Math.exp(x), 0) <= 1 + 1e-6);
});

test('errors in OpenAI JSON shape: malformed JSON, wrong types, out of range, context, chat, 404', async () => {
  assertApiError(await raw('/v1/completions', '{"prompt": "a", '), 400);
  assertApiError(await raw('/v1/completions', '[1, 2]'), 400);
  assertApiError(await raw('/v1/completions', { prompt: 'a', temperature: 'hot' }), 400, 'temperature');
  assertApiError(await raw('/v1/completions', { prompt: 'a', temperature: -0.5 }), 400, 'temperature');
  assertApiError(await raw('/v1/completions', { prompt: 'a', max_tokens: 2.5 }), 400, 'max_tokens');
  assertApiError(await raw('/v1/completions', { prompt: 'a', max_tokens: -1 }), 400, 'max_tokens');
  assertApiError(await raw('/v1/completions', { prompt: 42 }), 400, 'prompt');
  assertApiError(await raw('/v1/completions', { prompt: 'a', stream: 'yes' }), 400, 'stream');
  assertApiError(await raw('/v1/completions', { prompt: 'a', n: 0 }), 400, 'n');
  assertApiError(await raw('/v1/completions', { prompt: 'a', stop: [1] }), 400, 'stop');
  assertApiError(await raw('/v1/completions', { prompt: 'a', top_p: 0 }), 400, 'top_p');
  // max_tokens beyond the context (256): the limit is named
  const big = await raw('/v1/completions', { prompt: 'abc', max_tokens: 300 });
  assertApiError(big, 400, 'max_tokens');
  assert.match(big.json.error.message, /256 tokens/);
  assert.is(big.json.error.code, 'context_length_exceeded');
  const long = await raw('/v1/completions', { prompt: 'a'.repeat(300), max_tokens: 1 });
  assertApiError(long, 400, 'prompt');
  assert.match(long.json.error.message, /256 tokens.*300 tokens/);
  // the tokenizer cannot spell this prompt
  assertApiError(await raw('/v1/completions', { prompt: '\u{1F642} emoji' }), 400, 'prompt');
  // chat: this tokenizer has no chat template
  const chat = await raw('/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'hi' }] });
  assertApiError(chat, 400, 'messages');
  assert.match(chat.json.error.message, /chat template/);
  assertApiError(await raw('/v1/nothing'), 404);
  // the openai client raises its typed error with the server's message
  try {
    await client.completions.create({ model: 'tiny', prompt: 'x', max_tokens: 1000 });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, OpenAI.BadRequestError);
    assert.match(e.message, /maximum context length is 256/);
  }
  // the server is still fine
  const ok = await client.completions.create({ model: 'tiny', prompt: 'x', max_tokens: 3, seed: 1 });
  assert.is(ok.choices[0].text.length, 3);
});

test('32 streaming clients at once are all answered in full, each with its own seed', async () => {
  const one = async (i) => {
    const s = await client.completions.create({ model: 'tiny', prompt: 'HAMLET:', max_tokens: 64, seed: 1000 + i, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage;
    for await (const c of s) { if (c.usage) usage = c.usage; for (const ch of c.choices) text += ch.text; }
    return { text, usage };
  };
  const all = await Promise.all(Array.from({ length: 32 }, (_, i) => one(i)));
  for (const r of all) {
    assert.is(r.usage.completion_tokens, 64);
    assert.is(r.text.length, 64);
  }
  for (const i of [0, 17, 31]) assert.is(all[i].text, await generate('HAMLET:', 1000 + i, 64));
  const h = (await raw('/health')).json;
  assert.is(h.queue, 0);
  assert.is(h.running, 0);
});

test('one at a time (--max_batch 1) and batched (default) answer alike, 32 streams each, with stop and n', async () => {
  const single = await mypt.serve({ checkpoint: ckpt, port: 0, device: 'cpu', max_batch: 1 });
  try {
    assert.is((await (await fetch(single.url + '/health')).json()).batching, false);
    assert.is((await raw('/health')).json.batching, 16);
    const c1 = new OpenAI({ baseURL: `${single.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const ask = async (c, i) => {
      const s = await c.completions.create({ model: 'tiny', prompt: ['A', 'BB'][i % 2], max_tokens: 20 + i, seed: i, n: 1 + (i % 3), stop: i % 4 ? ['e '] : undefined, stream: true });
      const texts = [];
      for await (const ch of s) for (const x of ch.choices) texts[x.index] = (texts[x.index] ?? '') + x.text;
      return texts;
    };
    const [a, b] = await Promise.all([0, 1].map((k) => Promise.all(Array.from({ length: 32 }, (_, i) => ask(k ? c1 : client, i)))));
    assert.equal(a, b);
  } finally {
    await single.close();
  }
});

test('the model card: architecture, parameters, steps, val loss and loss.svg', async () => {
  const c = (await raw('/card')).json;
  assert.is(c.id, 'tiny');
  assert.is(c.architecture.n_layer, 2);
  assert.is(c.architecture.block_size, 256);
  assert.is(c.steps, 20);
  assert.type(c.val_loss, 'number');
  assert.is(c.loss_svg, '/loss.svg');
  const svg = await fetch(server.url + '/loss.svg');
  assert.is(svg.status, 200);
  assert.match(await svg.text(), /<svg/);
  const page = await raw('/');
  assert.match(page.text, /<textarea id="prompt"/);
  assert.not.match(page.text, /https?:\/\/(?!127)/); // nothing fetched from elsewhere
});

test.run();
