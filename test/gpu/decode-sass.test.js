// The decoding GEMVs load their weights before they wait for the kernel before them (cuda/gemv.cu, pdl.cuh), so
// that the loads overlap that kernel's tail: in the addon's SASS every gemv_kernel instance issues at least its
// C x V weight loads (2 C V in fp32, two 16-byte loads a piece) before ACQBULK, griddepcontrol.wait's instruction.
// With __ldg's loads ptxas had placed some of them after it, and an H100 decoded 2,796-2,804 tokens/s greedy
// against 2,912 once they were all before (2026-12-07). The property is the compiler's to break, so it is
// checked on the built addon. Needs cuobjdump (the CUDA toolkit) and an addon with sm_90 code; no GPU is needed.
// Skipped, with the reason, otherwise.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { addonFile } = require('../../lib/native');

function findCuobjdump() {
  const dirs = [...(process.env.PATH || '').split(path.delimiter), process.env.CUDA_HOME && path.join(process.env.CUDA_HOME, 'bin'),
    '/usr/local/cuda/bin'].filter(Boolean);
  for (const d of dirs) {
    const f = path.join(d, 'cuobjdump');
    if (fs.existsSync(f)) return f;
  }
  return null;
}

/** { name, ldgBeforeWait (16-byte global loads before ACQBULK), hasWait } for each function of the SASS whose
 *  name matches `re`. */
function functions(sass, re) {
  const out = [];
  let cur = null;
  for (const line of sass.split('\n')) {
    const m = line.match(/Function : (\S+)/);
    if (m) {
      cur = re.test(m[1]) ? { name: m[1], ldgBeforeWait: 0, hasWait: false } : null;
      if (cur) out.push(cur);
      continue;
    }
    if (!cur || cur.hasWait) continue;
    if (/\bACQBULK\b/.test(line)) cur.hasWait = true;
    else if (/\bLDG\.[A-Z0-9.]*\b128\b/.test(line)) cur.ldgBeforeWait++;  // 16-byte loads: the weights' (the bias is 2 bytes)
  }
  return out;
}

const tool = findCuobjdump();
const addon = addonFile();
let sass = '', why = '';
if (!tool) why = 'no cuobjdump (the CUDA toolkit) on PATH, in CUDA_HOME/bin or /usr/local/cuda/bin';
else if ('error' in addon) why = `no addon: ${addon.error}`;
else {
  const r = spawnSync(tool, ['-sass', addon.file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  sass = r.stdout || '';
  if (!/gemv_kernel/.test(sass)) why = `the addon (${path.basename(addon.file)}) holds no CUDA code`;
  else if (!/\bACQBULK\b/.test(sass)) why = 'the addon holds no sm_90 code (built for other GPUs)';
}
const maybe = why ? test.skip : test;
if (why) console.log(`  skipping the decode SASS test: ${why}`);

maybe('decode GEMVs: every instance loads all its weight pieces before griddepcontrol.wait (ACQBULK)', () => {
  const re = /gemv_kernelI(13__nv_bfloat16|f)Lb([01])ELi(\d+)ELi(\d+)E/;
  const fns = functions(sass, re).filter((f) => f.hasWait);
  assert.ok(fns.length >= 8, `${fns.length} gemv_kernel instances with sm_90 code found`);
  const short = [];
  for (const f of fns) {
    const [, type, ln, V, C] = f.name.match(re);
    const need = Number(C) * Number(V) * (type === 'f' ? 2 : 1);
    if (f.ldgBeforeWait < need) short.push(`${type === 'f' ? 'fp32' : 'bf16'} LN=${ln} V=${V} C=${C}: ${f.ldgBeforeWait} of ${need}`);
  }
  assert.is(short.length, 0, `weight loads after the wait in: ${short.join('; ')}`);
});

test.run();
