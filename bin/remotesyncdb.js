#!/usr/bin/env node
// The remotesyncdb command: a tiny shim over the compiled CLI.
import { main } from '../dist/cli/index.js';

const isServe = process.argv[2] === 'serve';
// `--every` keeps running: the first signal lets the remote in progress finish.
const isLoop = process.argv.some((a) => a === '--every' || a.startsWith('--every='));
// `remotesyncdb ... | head`: a closed stdout is not a reason to abort a sync.
process.stdout.on('error', (error) => {
  if (error.code !== 'EPIPE') throw error;
});
const wantsJson = process.argv.includes('--json') && !process.argv.includes('-S') && !process.argv.includes('--silent');
let stop;
const stopSignal = new Promise((resolve) => { stop = resolve; });
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    // DESIGN §7: a sync stopped by a signal has failed and was rolled back: exit 1.
    if (interrupted || (!isServe && !isLoop)) {
      // A sync in progress has not committed: dying closes its connection, and the database
      // rolls the transaction back.
      process.stderr.write(`remotesyncdb: ${signal}: stopping; the transaction is rolled back, the database is left as it was\n`);
      // --json promises one document on stdout, an interrupted run included.
      if (wantsJson && !isServe) process.stdout.write(`${JSON.stringify({ status: 'failed', error: { code: 'E_SIGNAL', message: `stopped by ${signal}; rolled back` } })}\n`);
      process.exit(isServe ? 0 : 1);
    }
    interrupted = true;
    stop();
    if (isServe) setTimeout(() => process.exit(0), 2000).unref();
    else process.stderr.write(`remotesyncdb: ${signal}: stopping after the remote in progress; signal again to abort it\n`);
  });
}
process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, stopSignal });
