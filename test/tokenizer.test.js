// Tokenizers against Python (char: sorted(set(open(f, encoding='utf-8').read()))) and tiktoken's documented ids.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { CharTokenizer, Gpt2Tokenizer, TextStreamDecoder, tokenizerFromJSON, createTokenizer } = require('../lib/tokenizer');
const { readTextFile } = require('../lib/data');

const hasPython = spawnSync('/usr/bin/python3', ['-c', 'pass']).status === 0;

function tmpFile(bytes) {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-tok-')), 'input.txt');
  fs.writeFileSync(f, bytes);
  return f;
}

// BOM, CRLF, lone CR, astral characters (code-point order differs from UTF-16 order there), a char above them in UTF-16.
const tricky = Buffer.concat([
  Buffer.from([0xef, 0xbb, 0xbf]),
  Buffer.from('Hello\r\nworld\rzebra \u{1F600} \uFFFD \u00e9 \u{10400}\n'),
]);

test('char vocabulary and ids equal Python sorted(set(text)) with universal newlines and the BOM kept', () => {
  const file = tmpFile(tricky);
  const text = readTextFile(file);
  assert.ok(text.startsWith('\uFEFF'), 'BOM kept');
  assert.not.ok(text.includes('\r'), 'universal newlines');
  const tok = CharTokenizer.fromText(text);
  if (!hasPython) { console.log('  skip python comparison: /usr/bin/python3 not runnable'); return; }
  const py = spawnSync('/usr/bin/python3', ['-c', `
import json,sys
t=open(sys.argv[1],'r',encoding='utf-8').read()
chars=sorted(list(set(t)))
stoi={c:i for i,c in enumerate(chars)}
print(json.dumps({"chars":chars,"ids":[stoi[c] for c in t]}))`, file], { encoding: 'utf8' });
  assert.is(py.status, 0, py.stderr);
  const want = JSON.parse(py.stdout);
  assert.equal(tok.chars, want.chars);
  assert.equal(tok.encode(text), want.ids);
  assert.is(tok.decode(want.ids), text);
});

test('a prompt character outside the char vocabulary is a clear MyptError naming it', () => {
  const tok = CharTokenizer.fromText('abc\n');
  try {
    tok.encode('abz');
    assert.unreachable('should throw');
  } catch (e) {
    assert.is(e.name, 'MyptError');
    assert.is(e.code, 'E_TOKENIZER');
    assert.match(e.message, /"z" \(U\+007A\) is not in this model's character vocabulary of 4/);
  }
});

test('char tokenizer: encodeToInt32 equals encode, JSON round trip', () => {
  const text = fs.readFileSync(path.join(__dirname, '..', 'data', 'tinyshakespeare.txt'), 'utf8').slice(0, 20000);
  const tok = createTokenizer('char', text);
  assert.equal(Array.from(tok.encodeToInt32(text)), tok.encode(text));
  const again = tokenizerFromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
  assert.equal(again.chars, tok.chars);
  assert.is(tok.toJSON().token_kind, 'char');
});

test('tinyshakespeare has the well-known 65-character vocabulary', () => {
  const text = readTextFile(path.join(__dirname, '..', 'data', 'tinyshakespeare.txt'));
  const tok = CharTokenizer.fromText(text);
  assert.is(tok.vocabSize, 65);
  assert.is(tok.chars.join(''), "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
});

test('gpt2: tiktoken encode_ordinary ids (documented values), specials as ordinary text, padded vocab', () => {
  const tok = new Gpt2Tokenizer();
  assert.is(tok.vocabSize, 50304);
  assert.equal(tok.encode('hello world'), [31373, 995]);
  assert.equal(tok.encode('Hello world'), [15496, 995]);
  const special = tok.encode('<|endoftext|>');
  assert.not.ok(special.includes(50256), 'encode_ordinary never yields the special id');
  assert.is(tok.decode(special), '<|endoftext|>');
  assert.is(tok.decode([15496, 995, 50300]), 'Hello world', 'padding ids decode to nothing');
  assert.equal(tok.toJSON(), { token_kind: 'gpt2', chars: null });
  assert.is(tokenizerFromJSON({ token_kind: 'gpt2' }).kind, 'gpt2', 'docs form without chars accepted');
});

test('stream decoder yields whole characters for multi-token UTF-8 sequences', () => {
  const tok = new Gpt2Tokenizer();
  const text = 'naïve 😀 日本語 done';
  const ids = tok.encode(text);
  const dec = new TextStreamDecoder(tok);
  let out = '';
  for (const id of ids) {
    const piece = dec.push(id);
    assert.not.ok(piece.includes('\uFFFD'), 'no replacement characters mid-stream');
    out += piece;
  }
  out += dec.flush();
  assert.is(out, text);
});

test.run();
