// The layers of src/ as ARCHITECTURE.md draws them, checked from the imports themselves: no import cycle,
// dependencies point down only, formats reach neither the model nor the addon, the model knows no file,
// use cases print nothing. A new file that breaks a rule fails here with the import that breaks it.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const path = require('path');

const SRC = path.join(__dirname, '..', 'src');

// Layers, top to bottom. An import goes to a lower layer, or stays inside its own folder of the same layer.
const LAYERS = [
  ['cli'],
  ['index.ts'],
  ['use-cases'],
  ['formats', 'model'],
  ['data'],
  ['tokenizer'],
  ['native'],
  ['config', 'errors.ts'],
];

function files(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

const rel = (p) => path.relative(SRC, p).split(path.sep).join('/');
const top = (r) => r.split('/')[0];
const layerOf = (r) => LAYERS.findIndex((l) => l.includes(top(r)));

/** The src files a file imports (runtime and type imports both: a type import is an arrow too). */
function importsOf(file) {
  const text = fs.readFileSync(file, 'utf8');
  const out = [];
  const re = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s+'([^']+)'|(?:^|\n)\s*import\s+'([^']+)'|require\('([^']+)'\)/g;
  let m;
  while ((m = re.exec(text))) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec.startsWith('.')) { out.push({ module: spec }); continue; }
    const base = path.resolve(path.dirname(file), spec);
    const hit = [base + '.ts', path.join(base, 'index.ts')].find((c) => fs.existsSync(c));
    if (hit) out.push({ file: hit });
  }
  return out;
}

const all = files(SRC);
const graph = new Map(all.map((f) => [f, importsOf(f)]));

test('every src file belongs to a layer', () => {
  const stray = all.map(rel).filter((r) => layerOf(r) < 0);
  assert.equal(stray, [], `files outside the layers of ARCHITECTURE.md: ${stray.join(', ')}`);
});

test('no import cycle in src/', () => {
  const state = new Map();
  const stack = [];
  let cycle = null;
  const visit = (f) => {
    if (cycle) return;
    state.set(f, 1);
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      if (!d.file || cycle) continue;
      if (state.get(d.file) === 1) { cycle = [...stack.slice(stack.indexOf(d.file)), d.file].map(rel); return; }
      if (!state.has(d.file)) visit(d.file);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of all) if (!state.has(f)) visit(f);
  assert.is(cycle, null, `import cycle: ${cycle && cycle.join(' -> ')}`);
});

test('dependencies point down: an import goes to a lower layer or stays in its own folder', () => {
  const bad = [];
  for (const [f, deps] of graph) {
    const from = rel(f);
    for (const d of deps) {
      if (!d.file) continue;
      const to = rel(d.file);
      if (top(to) === top(from)) continue;
      if (layerOf(to) <= layerOf(from)) bad.push(`${from} -> ${to}`);
    }
  }
  assert.equal(bad, [], `upward or sideways imports:\n${bad.join('\n')}`);
});

/** Every src file a file reaches through imports. */
function reach(f, seen = new Set()) {
  for (const d of graph.get(f) ?? []) if (d.file && !seen.has(d.file)) { seen.add(d.file); reach(d.file, seen); }
  return seen;
}

test('formats reach neither the model nor the addon (at any depth)', () => {
  const bad = [];
  for (const f of all.filter((x) => top(rel(x)) === 'formats')) {
    for (const r of reach(f)) if (['model', 'native'].includes(top(rel(r)))) bad.push(`${rel(f)} reaches ${rel(r)}`);
  }
  assert.equal(bad, []);
});

test('the model knows no file: no fs, no formats', () => {
  const bad = [];
  for (const f of all.filter((x) => top(rel(x)) === 'model')) {
    for (const d of graph.get(f)) {
      if (d.module === 'fs' || d.module === 'fs/promises') bad.push(`${rel(f)} imports ${d.module}`);
      if (d.file && top(rel(d.file)) === 'formats') bad.push(`${rel(f)} imports ${rel(d.file)}`);
    }
  }
  assert.equal(bad, []);
});

test('use cases print nothing (they emit events and log lines; the CLI draws them)', () => {
  const bad = [];
  for (const f of all.filter((x) => top(rel(x)) === 'use-cases')) {
    const lines = fs.readFileSync(f, 'utf8').split('\n');
    lines.forEach((l, i) => {
      if (/^\s*\/\//.test(l)) return;
      if (/process\.(stdout|stderr)\.write|console\.(log|error|warn|info)|process\.emitWarning/.test(l)) bad.push(`${rel(f)}:${i + 1}`);
    });
  }
  assert.equal(bad, []);
});

test('only src/native loads the addon', () => {
  const bad = all.filter((f) => top(rel(f)) !== 'native' && /node-gyp-build|\.node['"]/.test(fs.readFileSync(f, 'utf8'))).map(rel);
  assert.equal(bad, []);
});

test.run();
