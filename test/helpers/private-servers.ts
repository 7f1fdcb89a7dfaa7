import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * Database servers of a test's own, on their own ports and data directories, so that a test
 * can restart them mid-install without disturbing the shared servers other tests use.
 */
export interface PrivateServer {
  url: string;
  /** Kill the server at once (no clean shutdown) and start it again on the same data. */
  crashAndRestart(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function pgBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const version = readdirSync(base).sort().pop();
  return version ? path.join(base, version, 'bin') : undefined;
}

/** Whether this machine can run a private PostgreSQL (its binaries and the postgres user). */
export const canRunPostgres = (() => {
  try {
    return pgBin() !== undefined && process.getuid?.() === 0 && execFileSync('id', ['-u', 'postgres']).length > 0;
  } catch {
    return false;
  }
})();

/** Whether this machine can run a private MariaDB. */
export const canRunMariadb = existsSync('/usr/sbin/mariadbd') && existsSync('/usr/bin/mariadb-install-db') && process.getuid?.() === 0;

/** A throwaway PostgreSQL cluster (initdb as the postgres user), trust auth on 127.0.0.1. */
export async function startPrivatePostgres(): Promise<PrivateServer> {
  const bin = pgBin()!;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-pg-'));
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
  chownSync(dir, uid, gid);
  const data = path.join(dir, 'data');
  const port = await freePort();
  const asPostgres = (cmd: string) => execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', cmd], { stdio: 'ignore' });
  asPostgres(`${bin}/initdb -D ${data} -A trust -U postgres --no-sync >/dev/null`);
  const start = () => asPostgres(`${bin}/pg_ctl -D ${data} -l ${dir}/log -w -o "-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off" start`);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async crashAndRestart() {
      asPostgres(`${bin}/pg_ctl -D ${data} -m immediate -w stop`);
      start();
      await waitForPort(port);
    },
    async stop() {
      try {
        asPostgres(`${bin}/pg_ctl -D ${data} -m immediate -w stop`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** A throwaway MariaDB server (its own datadir, socket and port), root without a password. */
export async function startPrivateMariadb(): Promise<PrivateServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-my-'));
  const data = path.join(dir, 'data');
  const port = await freePort();
  execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'], { stdio: 'ignore' });
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('/usr/sbin/mariadbd', ['--no-defaults', `--datadir=${data}`, `--port=${port}`, `--socket=${dir}/sock`, '--bind-address=127.0.0.1', '--user=root', '--skip-log-bin', `--pid-file=${dir}/pid`], { stdio: 'ignore' });
    await waitForPort(port);
  };
  await start();
  return {
    url: `mysql://root@127.0.0.1:${port}/mysql`,
    async crashAndRestart() {
      const exited = new Promise((r) => child!.once('exit', r));
      child!.kill('SIGKILL');
      await exited;
      await start();
    },
    async stop() {
      const exited = new Promise((r) => child!.once('exit', r));
      child!.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
