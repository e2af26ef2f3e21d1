// cuda/lib_search.h: where the CUDA libraries opened at run time (cuBLASLt, NCCL) are looked for. Built with
// the C++ compiler into a check program (test/native/lib_search_check.cc: no CUDA needed) and run against
// fake libraries placed the way pip, CUDA_HOME and the override variables place them.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const cxx = process.env.CXX || 'c++';
const haveCxx = spawnSync(cxx, ['--version']).status === 0;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libsearch-'));
const exe = path.join(dir, 'lib_search_check');
const SONAME = 'libmyptfake.so.7';

// a real shared library with that soname, at `file`
function fakeLib(file) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const src = path.join(dir, 'fake.c');
  fs.writeFileSync(src, 'int mypt_fake_symbol(void) { return 7; }\n');
  const r = spawnSync(cxx, ['-x', 'c', '-shared', '-fPIC', `-Wl,-soname,${SONAME}`, '-o', file, src], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
}
// a clean environment: no Python prefixes of this machine, no CUDA folders
const run = (env) => {
  const r = spawnSync(exe, [SONAME, 'MYPT_FAKE_LIB', 'nvidia/fake/lib'], {
    encoding: 'utf8', env: { PATH: '/nonexistent', HOME: path.join(dir, 'home'), ...env },
  });
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  return { tries: lines.filter((l) => l.startsWith('try ')).map((l) => l.slice(4)), last: lines[lines.length - 1] };
};

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

if (!haveCxx) {
  test('lib_search (skipped: no C++ compiler)', () => {});
} else {
  test('builds the check program', () => {
    const r = spawnSync(cxx, ['-std=c++17', '-O0', '-I', path.join(ROOT, 'cuda'), path.join(ROOT, 'cuda', 'lib_search.cc'),
      path.join(ROOT, 'test', 'native', 'lib_search_check.cc'), '-ldl', '-o', exe], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
  });

  test('nothing anywhere: the loader\'s search and CUDA\'s lib64 are tried, and the reason names the override variable', () => {
    const { tries, last } = run({});
    assert.equal(tries, [SONAME, `/usr/local/cuda/lib64/${SONAME}`]);
    assert.match(last, new RegExp(`^fail ${SONAME.replace(/\./g, '\\.')} was not found \\(library path, CUDA's lib64, pip's nvidia packages, torch/lib\\); set MYPT_FAKE_LIB$`));
  });

  test('a pip package on PYTHONPATH (site-packages/nvidia/<pkg>/lib) is found and opened, after CUDA_HOME', () => {
    const site = path.join(dir, 'site');
    const lib = path.join(site, 'nvidia', 'fake', 'lib', SONAME);
    fakeLib(lib);
    const { tries, last } = run({ PYTHONPATH: site, CUDA_HOME: path.join(dir, 'cuda') });
    assert.equal(tries, [SONAME, path.join(dir, 'cuda', 'lib64', SONAME), `/usr/local/cuda/lib64/${SONAME}`, lib]);
    assert.is(last, `open ${lib}`);
  });

  test('a virtualenv\'s site-packages, torch/lib included, in the order pip folder then torch/lib', () => {
    const venv = path.join(dir, 'venv');
    const site = path.join(venv, 'lib', 'python3.11', 'site-packages');
    const torchLib = path.join(site, 'torch', 'lib', SONAME);
    fakeLib(torchLib);
    let r = run({ VIRTUAL_ENV: venv });
    assert.equal(r.tries.slice(-1), [torchLib]);
    assert.is(r.last, `open ${torchLib}`);
    const pipLib = path.join(site, 'nvidia', 'fake', 'lib', SONAME);
    fakeLib(pipLib);
    r = run({ VIRTUAL_ENV: venv });
    assert.equal(r.tries.slice(-2), [pipLib, torchLib]);
    assert.is(r.last, `open ${pipLib}`);
  });

  test('CUDA_HOME/lib64 comes before the Python packages', () => {
    const cudaLib = path.join(dir, 'cudahome', 'lib64', SONAME);
    fakeLib(cudaLib);
    const { last } = run({ CUDA_HOME: path.join(dir, 'cudahome'), PYTHONPATH: path.join(dir, 'site') });
    assert.is(last, `open ${cudaLib}`);
  });

  test('the override variable (a file or a folder) is the only place tried; a wrong one is named', () => {
    const lib = path.join(dir, 'site', 'nvidia', 'fake', 'lib', SONAME);
    assert.equal(run({ MYPT_FAKE_LIB: lib, CUDA_HOME: path.join(dir, 'cudahome') }), { tries: [lib], last: `open ${lib}` });
    assert.equal(run({ MYPT_FAKE_LIB: path.dirname(lib) }), { tries: [lib], last: `open ${lib}` });
    const r = run({ MYPT_FAKE_LIB: '/nonexistent/libx.so', CUDA_HOME: path.join(dir, 'cudahome') });
    assert.equal(r.tries, ['/nonexistent/libx.so']);
    assert.is(r.last, 'fail cannot open MYPT_FAKE_LIB=/nonexistent/libx.so: no such file');
  });

  test('a file that is not a library: the loader\'s message, and the search goes on to the next place', () => {
    const bad = path.join(dir, 'badcuda', 'lib64', SONAME);
    fs.mkdirSync(path.dirname(bad), { recursive: true });
    fs.writeFileSync(bad, 'not an ELF file');
    const site = path.join(dir, 'site');
    const { last } = run({ CUDA_HOME: path.join(dir, 'badcuda'), PYTHONPATH: site });
    assert.is(last, `open ${path.join(site, 'nvidia', 'fake', 'lib', SONAME)}`);
    const only = run({ MYPT_FAKE_LIB: bad });
    assert.match(only.last, /^fail cannot open MYPT_FAKE_LIB=.*; .*(invalid ELF header|file too short)/);
  });
}

test.run();
