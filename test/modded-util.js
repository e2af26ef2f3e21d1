// Shared by the modded tests: fixture paths and the relative error ||a - b|| / ||b||.
const fs = require('fs');
const path = require('path');

const FIX = path.join(__dirname, 'fixtures', 'modded');
const ref = (k) => JSON.parse(fs.readFileSync(path.join(FIX, `${k}.json`), 'utf8'));

function relErr(a, b) {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

module.exports = { FIX, ref, relErr };
