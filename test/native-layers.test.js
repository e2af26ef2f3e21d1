// The native layers depend downward only (shared/reference/ARCHITECTURE.md): napi -> engine <- backends.
// Checked on the #include lines of every native source, so a shortcut shows up here, not in a review.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');

function sources(dir) {
  const out = [];
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(rel));
    else if (/\.(cc|h|cu|cuh)$/.test(e.name)) out.push(rel);
  }
  return out;
}

function includes(file) {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  return [...text.matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)].map((m) => m[1]);
}

// Each folder: which quoted includes it may use.
const rules = [
  { dir: 'binding/engine', ok: (inc) => inc.startsWith('engine/'), what: 'only engine/ headers' },
  { dir: 'binding/text', ok: (inc) => inc.startsWith('text/'), what: 'only text/ headers (the tokenizer stands apart from the engine)' },
  { dir: 'binding/cpu', ok: (inc) => /^(engine|cpu)\//.test(inc), what: 'engine/ and cpu/ headers' },
  {
    dir: 'binding/napi',
    ok: (inc) => /^(engine|napi|text)\//.test(inc) || inc === 'backends.h',
    what: 'engine/, napi/, text/ (the BPE) and the composition root (backends.h), never a backend',
  },
  {
    dir: 'cuda',
    ok: (inc) => inc.startsWith('engine/') || !inc.includes('/') || inc.startsWith('cublaslt/'),
    what: 'engine/ headers and its own files, never binding/cpu or binding/napi',
  },
];

for (const rule of rules) {
  test(`${rule.dir} includes ${rule.what}`, () => {
    const files = sources(rule.dir);
    assert.ok(files.length > 0, `no sources under ${rule.dir}`);
    const bad = [];
    for (const f of files) for (const inc of includes(f)) if (!rule.ok(inc)) bad.push(`${f}: "${inc}"`);
    assert.equal(bad, [], bad.join('\n'));
  });
}

test('neither the engine nor the N-API layer calls into a backend namespace (cpu::, cuda::)', () => {
  const bad = [];
  for (const dir of ['binding/engine', 'binding/napi'])
    for (const f of sources(dir)) {
      const code = fs.readFileSync(path.join(root, f), 'utf8').split('\n').map((l) => l.replace(/\/\/.*$/, ''));
      code.forEach((l, i) => { if (/\b(cpu|cuda)::/.test(l)) bad.push(`${f}:${i + 1}: ${l.trim()}`); });
    }
  assert.equal(bad, [], bad.join('\n'));
});

test('cuda/ headers that name a file of binding/ name one that exists under binding/engine', () => {
  for (const f of sources('cuda'))
    for (const inc of includes(f))
      if (inc.startsWith('engine/')) assert.ok(fs.existsSync(path.join(root, 'binding', inc)), `${f}: ${inc}`);
});

test.run();
