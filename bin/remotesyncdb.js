#!/usr/bin/env node
// The remotesyncdb command: a tiny shim over the compiled CLI.
import { main } from '../dist/cli/index.js';

let stop;
const stopSignal = new Promise((resolve) => { stop = resolve; });
let interrupted = false;
// DESIGN §7: a sync stopped by a signal has failed and was rolled back: exit 1.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    const code = servingOnly ? 0 : 1;
    if (interrupted) process.exit(code);
    interrupted = true;
    stop();
    // A sync in progress has not committed: dying closes its connection, and the database
    // rolls the transaction back. `serve` gets a moment to close cleanly.
    if (!servingOnly) {
      process.stderr.write(`remotesyncdb: ${signal}: stopping; the transaction is rolled back, the database is left as it was\n`);
      process.exit(code);
    }
    setTimeout(() => process.exit(code), 2000).unref();
  });
}
const servingOnly = process.argv[2] === 'serve';
process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, stopSignal });
