import net from 'node:net';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built binary, as cron runs it. */
export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/remotesyncdb.js');

/** What one run of the binary did. */
export interface BinRun {
  code: number | null;
  out: string;
  err: string;
}

/**
 * Run the built binary as its own process and collect everything it prints. Asynchronous on
 * purpose: a test's in-process `serve` must keep answering while the child runs.
 */
export function runBin(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<BinRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

/** A TCP port free on 127.0.0.1 right now (for a child process that must listen on a known port). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
