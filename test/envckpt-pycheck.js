// Runs test/fixtures/make_env_checkpoints.py check on files we wrote (PyTorch loads them weights-only and
// validates the dicts); returns one object per file, or null when PyTorch is unavailable (reason printed once).
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const PY = process.env.MYPT_TEST_PYTHON || '/usr/bin/python3';
const SCRIPT = path.join(__dirname, 'fixtures', 'make_env_checkpoints.py');
let available;

function torchAvailable() {
  if (available === undefined) {
    const r = spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' });
    available = r.status === 0;
    if (!available) console.log(`  (skipping PyTorch checks: ${PY} -c "import torch" failed: ${(r.stderr || r.error || '').toString().trim().split('\n').pop()})`);
  }
  return available;
}

function pyCheck(files) {
  if (!torchAvailable()) return null;
  const r = spawnSync(PY, [SCRIPT, 'check', ...files], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`python check failed: ${r.stderr}`);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l));
}

const { relErr: maxRelErr } = require('./helpers/relerr');

module.exports = { pyCheck, torchAvailable, maxRelErr };
