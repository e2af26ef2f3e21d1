// Shared by the modded tests: fixture paths and the relative error ||a - b|| / ||b||.
const fs = require('fs');
const path = require('path');

const FIX = path.join(__dirname, 'fixtures', 'modded');
const ref = (k) => JSON.parse(fs.readFileSync(path.join(FIX, `${k}.json`), 'utf8'));

const { relErr } = require('./helpers/relerr');

module.exports = { FIX, ref, relErr };
