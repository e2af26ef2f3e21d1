#!/usr/bin/env node
'use strict';
// A closed pipe (`mypt-native list | head`) ends the command quietly, as other command-line tools do.
for (const s of [process.stdout, process.stderr]) {
  s.on('error', (e) => {
    if (e && e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}
require('../lib/cli/main.js').main(process.argv.slice(2));
