import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loaddata } from '../../src/admin/loaddata.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { addSite } from '../../src/push/sites.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { assertIsomorphic, tableDigests, withDb } from '../helpers/inspect.js';
import { BIN, freePort, runBin } from '../helpers/run-bin.js';

const dialects = await availableDialects();
const manifest = loadManifest('hcore');
const SAMPLE_OBJECTS = 461;
const tmpdir = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

/** A centre as its own process: `serve --accept-push` on `port`, resolved once it listens. */
async function startCentre(db: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--accept-push', '--db', db, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c) => {
      out += c;
      if (out.includes('Serving')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`centre exited with ${code}`)));
  });
  return child;
}

const stop = (child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM') => new Promise<void>((resolve) => {
  if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
  child.once('exit', () => resolve());
  child.kill(signal);
});

describe.each(dialects)('push between processes, centre on %s', (dialect) => {
  let site: TestDatabase;
  let centre: TestDatabase;
  const dir = tmpdir('rsdb-pushcli-');
  const config = path.join(dir, 'site', 'remotesyncdb.config.json');

  beforeAll(async () => {
    site = await createDatabase('sqlite');
    await loaddata({ app: 'hcore', db: site.url, files: [SAMPLE_FIXTURE] });
    centre = await createDatabase(dialect);
  });
  afterAll(async () => {
    await site?.drop();
    await centre?.drop();
  });

  it('enrols with a one-time code, then a push -S prints nothing and gives the centre a copy', async () => {
    const added = await runBin(['site', 'add', 'station7', '--enrol', '--json', '--db', centre.url]);
    expect(added.code).toBe(0);
    const { code } = JSON.parse(added.out) as { code: string };
    const port = await freePort();
    const server = await startCentre(centre.url, port);
    try {
      const enrolled = await runBin(['push', '--to', `127.0.0.1:${port}`, '--enrol', code, '--config', config]);
      expect(enrolled.code).toBe(0);
      expect(enrolled.out).toContain('Enrolled as site station7');
      expect(statSync(config).mode & 0o777).toBe(0o600);
      const again = await runBin(['push', '--to', `127.0.0.1:${port}`, '--enrol', code, '--config', path.join(dir, 'other.json')]);
      expect(again.code).toBe(2);
      const pushed = await runBin(['push', '--to', `127.0.0.1:${port}`, '--config', config, '--db', site.url, '-e', 'UserProfile', '-w', dir, '-S']);
      expect(pushed).toEqual({ code: 0, out: '', err: '' });
      expect(await assertIsomorphic(site.url, centre.url, manifest, 'site/station7')).toBe(SAMPLE_OBJECTS);
      const status = await runBin(['site', 'status', 'station7', '--json', '--db', centre.url]);
      expect(JSON.parse(status.out)[0]).toMatchObject({ name: 'station7', lastBundle: { objects: SAMPLE_OBJECTS, rejects: 0 } });
    } finally {
      await stop(server);
    }
  });

  it('survives a centre killed mid-install: nothing of the bundle shows, and the retry on a new process installs it whole', async () => {
    const { token } = await addSite({ db: centre.url, app: 'hcore', name: 'big', descr: 'many variables' });
    const big = await createDatabase('sqlite');
    const file = path.join(dir, 'variables.json');
    writeFileSync(file, JSON.stringify(Array.from({ length: 40_000 }, (_, i) => ({ model: 'hcore.variable', pk: i + 1, fields: { descr: `Μεταβλητή ${i}`, descr_alt: `variable ${i}` } }))));
    await loaddata({ app: 'hcore', db: big.url, files: [file] });
    const port = await freePort();
    let server: ChildProcess | undefined = await startCentre(centre.url, port);
    const before = await tableDigests(centre.url, manifest);
    let killed = false;
    let afterKill: Record<string, string> | undefined;
    const proxy = await startFaultProxy(port, ({ method, path: p }) => {
      if (method === 'POST' && p.endsWith('/commit') && !killed) {
        killed = true;
        // Mid-install: the commit has begun on the centre, which dies before it can finish.
        setTimeout(() => void stop(server, 'SIGKILL').then(async () => {
          afterKill = await tableDigests(centre.url, manifest);
          server = await startCentre(centre.url, port);
        }), 300);
      }
      return 'pass';
    });
    try {
      const others = [...manifest.models.keys()].filter((m) => m !== 'Variable').join(',');
      const pushed = await runBin(['push', '--to', `127.0.0.1:${proxy.port}`, '--db', big.url, '-e', others, '-w', dir, '--json'], { env: { REMOTESYNCDB_PUSH_TOKEN: token } });
      expect(pushed.err).toBe('');
      expect(pushed.code).toBe(0);
      expect(killed).toBe(true);
      expect(afterKill).toEqual(before);
      expect(JSON.parse(pushed.out).ack).toMatchObject({ objects: 40_000, written: 40_000 });
      expect(await withDb(centre.url, async (db) => Number((await db.knex('hcore_variable').count({ n: '*' }))[0].n))).toBeGreaterThanOrEqual(40_000);
      expect(await assertIsomorphic(big.url, centre.url, manifest, 'site/big', ['Variable'])).toBe(40_000);
    } finally {
      await proxy.close();
      await stop(server);
      await big.drop();
    }
  });

  it('completes through two centre processes behind one address, requests alternating, the link cut mid-upload', async () => {
    const { token } = await addSite({ db: centre.url, app: 'hcore', name: 'twin' });
    const twin = await createDatabase('sqlite');
    await loaddata({ app: 'hcore', db: twin.url, files: [SAMPLE_FIXTURE] });
    const ports = [await freePort(), await freePort()];
    const servers = await Promise.all(ports.map((p) => startCentre(centre.url, p)));
    let turn = 0;
    const proxy = await startFaultProxy(() => ports[turn++ % 2], ({ method, nth }) => (method === 'PUT' && nth === 2 ? 'cut-before' : 'pass'));
    try {
      const pushed = await runBin(['push', '--to', `127.0.0.1:${proxy.port}`, '--db', twin.url, '-e', 'UserProfile', '-w', dir, '-S', '--chunk-bytes', '16384'], { env: { REMOTESYNCDB_PUSH_TOKEN: token } });
      expect(pushed).toEqual({ code: 0, out: '', err: '' });
      expect(proxy.seen.filter((r) => r.method === 'PUT').length).toBeGreaterThan(5);
      expect(await assertIsomorphic(twin.url, centre.url, manifest, 'site/twin')).toBe(SAMPLE_OBJECTS);
    } finally {
      await proxy.close();
      await Promise.all(servers.map((s) => stop(s)));
      await twin.drop();
    }
  });
});

describe('push --every', () => {
  it('reports a centre that is down and keeps going; a refused token stops it with exit 2', async () => {
    const site = await createDatabase('sqlite');
    await loaddata({ app: 'hcore', db: site.url, files: [SAMPLE_FIXTURE] });
    const port = await freePort();
    const dir = tmpdir('rsdb-every-');
    try {
      const child = spawn(process.execPath, [BIN, 'push', '--to', `127.0.0.1:${port}`, '--db', site.url, '-e', 'UserProfile', '-w', dir, '--every', '10s', '--retries', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REMOTESYNCDB_PUSH_TOKEN: 'rsp_x' } });
      let err = '';
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      await new Promise<void>((resolve) => child.stderr.on('data', (c) => {
        err += c;
        if (err.includes('ECONNREFUSED')) resolve();
      }));
      expect(child.exitCode).toBe(null);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);

      const centre = await createDatabase('sqlite');
      await addSite({ db: centre.url, app: 'hcore', name: 'other' });
      const server = await startCentre(centre.url, port);
      try {
        const refused = await runBin(['push', '--to', `127.0.0.1:${port}`, '--db', site.url, '-e', 'UserProfile', '-w', dir, '--every', '10s'], { env: { REMOTESYNCDB_PUSH_TOKEN: 'rsp_wrong' } });
        expect(refused.code).toBe(2);
        expect(refused.err).toContain('refused the push token (401)');
      } finally {
        await stop(server);
        await centre.drop();
      }
    } finally {
      await site.drop();
    }
  });
});
