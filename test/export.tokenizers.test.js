// The tokenizer files of an exported Hugging Face folder, loaded by Hugging Face's own `tokenizers` library
// (its Node binding, a dev dependency with the Rust library prebuilt): tokenizer.json (GPT-2's and the
// character kind) and vocab.json + merges.txt (as GPT2TokenizerFast builds itself from them) give the ids
// mypt-native's tokenizers give, and decode back to the text. Skips where the binding cannot load.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const path = require('path');
const m = require('../lib');
const { hfTokenizerFiles } = require('../lib/formats/hf/tokenizer');
const { tmpdir, CORPUS } = require('./export.helpers');

let tk;
try {
  tk = require('tokenizers');
  tk.Tokenizer.fromString(JSON.stringify({ model: { type: 'WordLevel', vocab: { a: 0 }, unk_token: 'a' } }));
} catch (e) {
  tk = undefined;
  console.log(`skipping: Hugging Face's tokenizers binding cannot load here (${String(e && e.message).split('\n')[0]})`);
}
const maybe = tk ? test : test.skip;

const TEXT = `${CORPUS.slice(0, 2500)}\n  Numbers 1234567 and 3.14159, https://example.com/a?b=c, for (let i=0;i<10;i++) {}\n` +
  "It's we're they'll I'd   spaces\t\ttabs\r\n\n\nÜnïcödé — “quotes” 日本語 😀👍🏽 ٱلْعَرَبِيَّة  trailing ";

async function ids(tokenizer, text) {
  return (await tokenizer.encode(text, null, { addSpecialTokens: false })).getIds();
}

maybe('GPT-2 tokenizer.json: the library\'s ids are js-tiktoken\'s, and decode gives the text back', async () => {
  const files = hfTokenizerFiles({ token_kind: 'gpt2', chars: null }, 1024);
  const t = tk.Tokenizer.fromString(files['tokenizer.json']);
  const ours = new m.Gpt2Tokenizer();
  for (const text of [TEXT, ' leading space', 'a', '']) {
    const want = ours.encode(text);
    assert.equal(await ids(t, text), want, JSON.stringify(text.slice(0, 30)));
    assert.is(await t.decode(want, false), text);
  }
  assert.equal(await ids(t, 'x<|endoftext|>y'), [87, 50256, 88], 'the special token is one id (MyPT reads it as text)');
});

maybe('GPT-2 vocab.json + merges.txt: the BPE model the library builds from them gives the same ids, in its byte-level alphabet', async () => {
  const d = tmpdir('mypt-tok-');
  const files = hfTokenizerFiles({ token_kind: 'gpt2', chars: null }, 1024);
  for (const n of ['vocab.json', 'merges.txt']) fs.writeFileSync(path.join(d, n), files[n]);
  const model = await tk.BPE.fromFile(path.join(d, 'vocab.json'), path.join(d, 'merges.txt'));
  const t = new tk.Tokenizer(model);
  t.setPreTokenizer(tk.byteLevelPreTokenizer(false, true));
  assert.equal(await ids(t, TEXT), new m.Gpt2Tokenizer().encode(TEXT));
  // and the byte-level alphabet the files are spelled in is the library's
  const { byteChars } = require('../lib/tokenizer/byte-level');
  assert.equal(tk.byteLevelAlphabet().sort(), [...byteChars()].sort());
});

maybe('character tokenizer.json: every character its MyPT id, unknown characters refused, decode is the text', async () => {
  const chars = m.CharTokenizer.fromText(TEXT + CORPUS);
  const t = tk.Tokenizer.fromString(hfTokenizerFiles(chars.toJSON(), 256)['tokenizer.json']);
  for (const text of [TEXT, CORPUS.slice(100_000, 104_000), ' ', '\n\n', '😀a👍🏽']) {
    const want = chars.encode(text);
    assert.equal(await ids(t, text), want, JSON.stringify(text.slice(0, 30)));
    assert.is(await t.decode(want, false), text);
  }
  let err;
  const small = m.CharTokenizer.fromText('ab');
  const ts = tk.Tokenizer.fromString(hfTokenizerFiles(small.toJSON(), 8)['tokenizer.json']);
  err = undefined;
  try { await ids(ts, 'abc'); } catch (e) { err = e; }
  assert.ok(err, 'a character outside the vocabulary is an error, as in MyPT');
});

test.run();
