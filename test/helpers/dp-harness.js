// Runs a data-parallel test group of `world` worker processes (dp-worker.js) on the CPU and collects
// their results: { results[rank], errors[rank], exits[rank] }. Rank 0's group id is relayed to the others.
'use strict';
const { fork } = require('child_process');
const path = require('path');

function runGroup(world, input, { timeoutMs = 120000 } = {}) {
  return new Promise((resolve, reject) => {
    const kids = [];
    const results = new Array(world), errors = new Array(world), exits = new Array(world);
    let left = world;
    const timer = setTimeout(() => {
      for (const k of kids) k.kill('SIGKILL');
      reject(new Error(`the test group did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    for (let rank = 0; rank < world; rank++) {
      const child = fork(path.join(__dirname, 'dp-worker.js'), [], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      child.send({ type: 'input', input: { ...input, rank, world } });
      kids.push(child);
      child.on('message', (m) => {
        if (m.type === 'id') for (const k of kids.slice(1)) k.send(m);
        else if (m.type === 'result') results[rank] = m.result;
        else if (m.type === 'error') errors[rank] = m;
      });
      child.on('exit', (code, signal) => {
        exits[rank] = signal || code;
        if (--left === 0) {
          clearTimeout(timer);
          resolve({ results, errors, exits });
        }
      });
    }
    // ranks > 0 may start before rank 0 sent the id: forward it when it comes (above), nothing to do here
  });
}

module.exports = { runGroup };
