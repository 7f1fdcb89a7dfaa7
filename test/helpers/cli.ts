import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/index.js';

/** What one in-process run of the CLI did. */
export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Run the CLI in-process (stdout not a terminal, as under cron); returns exit code and what it printed. */
export async function cli(args: string[], env: NodeJS.ProcessEnv = {}, options: { isTTY?: boolean } = {}): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  if (options.isTTY) Object.assign(stdout, { isTTY: true, columns: 120 });
  let out = '';
  let err = '';
  stdout.on('data', (c) => (out += c));
  stderr.on('data', (c) => (err += c));
  const code = await main(args, { stdout, stderr, env });
  return { code, out, err };
}
