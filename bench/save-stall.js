// How long a bundle save holds up the event loop (the thread that hands a GPU its next run of training steps):
//   node bench/save-stall.js [DIR] [LIB] [GB]        (defaults: a folder under the OS temp dir, ./lib, 1)
// Replaces the folder DIR three times through LIB's formats/atomic replaceDirAtomic, each generation one file
// of GB gigabytes (written and fsynced by the caller, as the checkpoint writers do), and prints the save's time
// and the longest gap between 2 ms timer ticks during it and 50 ms after. From the second generation on, the
// save also removes the generation before. Compare two builds with LIB (a clone's lib/ before a change).
const fs = require('fs');
const os = require('os');
const path = require('path');

const dir = path.resolve(process.argv[2] || path.join(os.tmpdir(), 'mypt-save-stall'));
const lib = path.resolve(process.argv[3] || path.join(__dirname, '..', 'lib'));
const gb = Number(process.argv[4] || 1);
const { replaceDirAtomic, siblingsOf } = require(path.join(lib, 'formats', 'atomic'));

(async () => {
  const body = Buffer.alloc(Math.round(gb * 2 ** 30), 7);
  const clean = () => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(siblingsOf(dir).previous, { recursive: true, force: true });
  };
  clean();
  try {
    for (let gen = 0; gen < 3; gen++) {
      let longest = 0;
      let last = Date.now();
      const tick = setInterval(() => {
        const now = Date.now();
        longest = Math.max(longest, now - last);
        last = now;
      }, 2);
      const t0 = Date.now();
      await replaceDirAtomic(dir, async (staging) => {
        const h = await fs.promises.open(path.join(staging, 'body.bin'), 'w');
        try {
          await h.writeFile(body);
          await h.sync();
        } finally {
          await h.close();
        }
      });
      const took = Date.now() - t0;
      await new Promise((r) => setTimeout(r, 50));
      clearInterval(tick);
      console.log(`generation ${gen}: saved in ${took} ms; the event loop's longest stall ${longest} ms`);
    }
  } finally {
    clean();
  }
})();
