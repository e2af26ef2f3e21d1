// Shared by the torch I/O tests: compare loaded values with the JSON descriptions that
// test/fixtures/make_torch_fixtures.py writes (its enc()), and describe JS values the same way.
'use strict';
const assert = require('uvu/assert');
const m = require('../lib');

function fdec(v) {
  if (v === 'nan') return NaN;
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  if (v === '-0') return -0;
  return v;
}

function sameNumber(got, want, where) {
  if (Number.isNaN(want)) return assert.ok(Number.isNaN(got), `${where}: ${got} is not NaN`);
  assert.ok(Object.is(got, want), `${where}: ${got} != ${want}`);
}

function tensorValues(t) {
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') return Array.from(t.data);
  if (t.dtype === 'int64') return Array.from(t.data, String);
  return Array.from(t.data);
}

function checkTensor(got, exp, where) {
  const dtype = exp.__tensor__ ?? exp.__ndarray__;
  assert.ok(got && got.data && ArrayBuffer.isView(got.data), `${where}: not a tensor`);
  assert.is(got.dtype, { float: 'float32', double: 'float64', half: 'float16', int: 'int32', long: 'int64' }[dtype] ?? dtype, `${where}: dtype`);
  assert.equal(got.shape, exp.shape, `${where}: shape`);
  const vals = tensorValues(got);
  assert.is(vals.length, exp.values.length, `${where}: numel`);
  exp.values.forEach((w, i) => {
    if (got.dtype === 'float32' || got.dtype === 'float64') sameNumber(vals[i], fdec(w), `${where}[${i}]`);
    else if (got.dtype === 'int64') assert.is(vals[i], String(w), `${where}[${i}]`);
    else assert.is(vals[i], w, `${where}[${i}]`);
  });
}

function keyOf(k) {
  if (k !== null && typeof k === 'object' && '__float__' in k) return k.__float__;
  return k;
}

/** Asserts that `got` (as loadTorch returns it) is the Python value `exp` describes. */
function matches(got, exp, where = 'value') {
  if (exp === null || typeof exp === 'string' || typeof exp === 'boolean') return assert.is(got, exp, where);
  if (typeof exp === 'number') return assert.is(typeof got === 'object' && got !== null ? got.valueOf() : got, exp, where);
  if (Array.isArray(exp)) {
    assert.ok(Array.isArray(got) && !(got instanceof m.PyTuple), `${where}: not a list`);
    assert.is(got.length, exp.length, `${where}: length`);
    return exp.forEach((e, i) => matches(got[i], e, `${where}[${i}]`));
  }
  if ('__tensor__' in exp || '__ndarray__' in exp) return checkTensor(got, exp, where);
  if ('__float__' in exp) return sameNumber(got === null || typeof got !== 'object' ? got : got.valueOf(), fdec(exp.__float__), where);
  if ('__bigint__' in exp) return assert.is(got, BigInt(exp.__bigint__), where);
  if ('__npscalar__' in exp) return sameNumber(Number(got), fdec(exp.value), where);
  if ('__size__' in exp) {
    assert.ok(got instanceof m.TorchSize, `${where}: not a torch.Size`);
    return assert.equal([...got], exp.__size__, where);
  }
  if ('__tuple__' in exp) {
    assert.ok(got instanceof m.PyTuple, `${where}: not a tuple`);
    assert.is(got.length, exp.__tuple__.length, `${where}: length`);
    return exp.__tuple__.forEach((e, i) => matches(got[i], e, `${where}[${i}]`));
  }
  if ('__set__' in exp) {
    assert.ok(got instanceof Set, `${where}: not a set`);
    return assert.equal([...got].sort(), exp.__set__, where);
  }
  if ('__bytes__' in exp) {
    assert.ok(got instanceof Uint8Array, `${where}: not bytes`);
    return assert.equal(Array.from(got), exp.__bytes__, where);
  }
  if ('__odict__' in exp || '__dict__' in exp) {
    assert.ok(got instanceof m.PyDict, `${where}: not a dict`);
    assert.is(got.ordered, '__odict__' in exp, `${where}: OrderedDict vs dict`);
    const items = exp.__odict__ ?? exp.__dict__;
    assert.equal([...got.keys()], items.map(([k]) => keyOf(k)), `${where}: keys`);
    return items.forEach(([k, v]) => matches(got.get(keyOf(k)), v, `${where}[${JSON.stringify(k)}]`));
  }
  if ('__object__' in exp) {
    assert.ok(got instanceof m.PyObject, `${where}: not an inert object`);
    assert.is(got.fullName, exp.__object__, `${where}: class`);
    assert.ok(got.state instanceof m.PyDict, `${where}: state`);
    for (const [k, v] of Object.entries(exp.state)) matches(got.state.get(k), v, `${where}.${k}`);
    return;
  }
  throw new Error(`${where}: unknown expectation ${JSON.stringify(exp).slice(0, 80)}`);
}

function fenc(x) {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (Object.is(x, -0)) return '-0';
  return x;
}

/** The JSON description (make_torch_fixtures.py's format) of a JS value as saveTorch writes it. */
function describe(v) {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isInteger(v) && !Object.is(v, -0) ? v : { __float__: fenc(v) };
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : { __bigint__: String(v) };
  if (v instanceof m.PyFloat) return { __float__: fenc(v.value) };
  if (v && ArrayBuffer.isView(v.data)) {
    const vals = v.dtype === 'int64' ? Array.from(v.data, String) : Array.from(v.data, (x) => (typeof x === 'number' && (v.dtype === 'float32' || v.dtype === 'float64') ? fenc(x) : x));
    return { __tensor__: v.dtype, shape: v.shape, values: vals };
  }
  if (v instanceof m.TorchSize) return { __size__: [...v] };
  if (v instanceof m.PyTuple) return { __tuple__: v.map(describe) };
  if (Array.isArray(v)) return v.map(describe);
  if (v instanceof Map) {
    const items = [...v].map(([k, x]) => [describe(k), describe(x)]);
    return v instanceof m.PyDict && v.ordered !== false ? { __odict__: items } : { __dict__: items };
  }
  return { __dict__: Object.entries(v).map(([k, x]) => [k, describe(x)]) };
}

/**
 * A fresh temp folder, on tmpfs when there is one: these tests fsync often, which a slow disk turns
 * into seconds of waiting without testing anything more.
 */
function tempDir(prefix) {
  const fs = require('fs');
  const os = require('os');
  const path = require('path');
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  return fs.mkdtempSync(path.join(base, prefix));
}

module.exports = { matches, describe, tempDir };
