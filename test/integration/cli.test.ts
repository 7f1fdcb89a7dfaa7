import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { cli } from '../helpers/cli.js';
import { createDatabase, type TestDatabase } from '../helpers/databases.js';
import { tableDigests, withDb } from '../helpers/inspect.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';
import { startStaticRemote } from '../helpers/static-remote.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin', 'remotesyncdb.js');
const manifest = loadManifest('hcore');

describe('the CLI', () => {
  let source: TestInstance;
  let target: TestDatabase;
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-cli-'));
  beforeAll(async () => {
    source = await startInstance({ files: [SAMPLE_FIXTURE] });
    target = await createDatabase('sqlite');
  });
  afterAll(async () => {
    await source?.close();
    await target?.drop();
  });
  const base = () => ['-a', 'hcore', '-r', '127.0.0.1', '-p', String(source.port), '-e', 'UserProfile', '--db', target.url, '-w', workDir];

  it('rejects an unknown flag with exit 2 before touching anything', async () => {
    const r = await cli([...base(), '--silnet']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Unknown argument: silnet/);
    expect(await withDb(target.url, (db) => db.knex.schema.hasTable(manifest.registry))).toBe(false);
  });

  it('shows help for the whole program, takes --no-backups in its long form and validates numbers', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('remotesyncdb inspect');
    expect(help.out).toContain('remotesyncdb restore <file>');
    const long = await cli([...base(), '--no-backups', '--dry-run']);
    expect(long.code).toBe(0);
    for (const bad of [['--timeout', 'abc'], ['--retries', '-1'], ['--keep-backups', '0'], ['--max-fixture-bytes', 'abc']]) {
      const r = await cli([...base(), ...bad]);
      expect(r.code, bad.join(' ')).toBe(2);
      expect(r.err).toContain(`--${bad[0].slice(2)} takes a number`);
    }
  });

  it('serve on a port in use fails at once with exit 2 instead of hanging', async () => {
    const r = await cli(['serve', '--db', source.db.url, '--port', String(source.port)]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`127.0.0.1:${source.port} is already in use`);
  });

  it('rejects an unknown -e model and an unknown app with exit 2', async () => {
    const e = await cli([...base(), '-e', 'Stattion']);
    expect(e.code).toBe(2);
    expect(e.err).toContain('unknown model(s) Stattion');
    const a = await cli(['-a', 'nosuchapp', '-r', 'localhost', '--db', target.url]);
    expect(a.code).toBe(2);
    expect(a.err).toContain('Unknown app "nosuchapp"');
  });

  it('exits 3 when the remote is unreachable', async () => {
    const r = await cli(['-r', '127.0.0.1', '-p', '1', '--db', target.url, '-w', workDir]);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/127\.0\.0\.1:1 is unreachable/);
  });

  it('exits 2 when the remote serves another app', async () => {
    const other = await startStaticRemote('notes', ['Note']);
    try {
      const r = await cli(['-r', `127.0.0.1:${other.port}`, '--db', target.url, '-w', workDir]);
      expect(r.code).toBe(2);
      expect(r.err).toContain('serves app "notes", not "hcore"');
    } finally {
      await other.close();
    }
  });

  it('prints exactly one JSON document with --json', async () => {
    const r = await cli([...base(), '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc).toMatchObject({ remote: `127.0.0.1:${source.port}`, app: 'hcore', status: 'success', objects: 461, fixtures: 26 });
    expect(doc.models).toHaveLength(26);
  });

  it('prints nothing on stdout with -S, and the report without it', async () => {
    const silent = await cli([...base(), '-S']);
    expect(silent.code).toBe(0);
    expect(silent.out).toBe('');
    const loud = await cli([...base(), '-F']);
    expect(loud.out).toContain('Remote host is up');
    // Everything was already there: N counts what was written (issue 14.7).
    expect(loud.out).toContain('Received 461 objects: 0 inserted, 0 updated, 0 deleted, 0 skipped, 461 unchanged.');
    expect(loud.out).toContain('Successfully installed 0 objects from 26 fixtures.');
    // Without -F only what changed since the last run's watermark is fetched: nothing here.
    const incremental = await cli(base());
    expect(incremental.out).toContain('Successfully installed 0 objects from 26 fixtures.');
  });

  it('exits 1 on a bad payload, naming remote, model, pk and field, with the database unchanged', async () => {
    const bad = await startStaticRemote('hcore', [...manifest.models.keys()].filter((m) => m !== 'UserProfile'), {
      Variable: [{ model: 'hcore.variable', pk: 7, fields: { descr: 42, descr_alt: '' } }],
    });
    try {
      const before = await tableDigests(target.url, manifest);
      const r = await cli(['-r', `127.0.0.1:${bad.port}`, '-e', 'UserProfile', '--db', target.url, '-w', workDir]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`127.0.0.1:${bad.port}: Variable pk=7: descr expects a string, got 42`);
      const after = await tableDigests(target.url, manifest);
      expect(after).toEqual(before);
    } finally {
      await bad.close();
    }
  });

  it('registers, lists and removes remotes, refusing while rows come from one unless --purge', async () => {
    expect((await cli(['remote', 'add', 'itia', 'itia.example.org', '--descr', 'ITIA', '--db', target.url])).code).toBe(0);
    const list = await cli(['remote', 'list', '--db', target.url]);
    expect(list.out).toMatch(/itia\titia\.example\.org/);
    const refused = await cli(['remote', 'remove', `127.0.0.1:${source.port}`, '--db', target.url]);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('add --purge');
    const purged = await cli(['remote', 'remove', `127.0.0.1:${source.port}`, '--purge', '--db', target.url]);
    expect(purged.code).toBe(0);
    expect(await withDb(target.url, async (db) => Number((await db.knex('hcore_gentity').count({ n: '*' }))[0].n))).toBe(0);
    expect((await cli(['remote', 'remove', 'itia', '--db', target.url])).code).toBe(0);
  });

  it('keeps TLS and accepts any registered name when -r names a registered remote', async () => {
    expect((await cli(['remote', 'add', 'secure', `https://127.0.0.1:${source.port}`, '--db', target.url])).code).toBe(0);
    const tls = await cli(['-r', 'secure', '-e', 'UserProfile', '--db', target.url, '-w', workDir]);
    // The instance speaks plain HTTP: a TLS handshake must have been tried, and failed.
    expect(tls.code).toBe(3);
    expect(tls.err).toContain(`https://127.0.0.1:${source.port}/api/`);
    expect((await cli(['remote', 'remove', 'secure', '--db', target.url])).code).toBe(0);
    expect((await cli(['remote', 'add', 'Itia Main', '127.0.0.1', '-p', String(source.port), '--db', target.url])).code).toBe(0);
    const named = await cli(['-r', 'Itia Main', '-e', 'UserProfile', '--db', target.url, '-w', workDir, '-F']);
    expect(named.err).toBe('');
    expect(named.out).toContain('Successfully installed 461 objects');
  });

  it('refuses, with exit 2 at plan time, a NOT NULL FK into an excluded model that has no local rows', async () => {
    const fresh = await createDatabase('sqlite');
    try {
      const r = await cli(['-r', '127.0.0.1', '-p', String(source.port), '-e', 'UserProfile,Person', '--db', fresh.url, '-w', workDir]);
      expect(r.code).toBe(2);
      expect(r.err).toContain('Overseer.person is a NOT NULL foreign key to Person, which is excluded');
    } finally {
      await fresh.drop();
    }
  });

  it('reports a manifest dependency cycle with exit 2 before any network access, and usage errors as JSON with --json', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-cyc-'));
    const file = path.join(dir, 'cyc.json');
    writeFileSync(file, JSON.stringify({ app: 'cyc', models: { A: { table: 'a', dependencies: ['B'] }, B: { table: 'b', dependencies: ['A'] } } }));
    const r = await cli(['-a', file, '-r', '127.0.0.1', '-p', '1', '--db', path.join(dir, 'x.sqlite')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Dependency cycle in app cyc: (A -> B -> A|B -> A -> B)/);
    const json = await cli(['-r', 'x', '--bogus', '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.out)).toMatchObject({ status: 'failed', error: { code: 'E_CONFIG' } });
  });

  it('--all syncs every enabled remote of the config, goes on past one that is down, and exits with its code', async () => {
    const second = await startInstance({ files: [SAMPLE_FIXTURE] });
    const fleetDb = await createDatabase('sqlite');
    try {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-fleet-'));
      const config = path.join(dir, 'remotesyncdb.config.json');
      writeFileSync(config, JSON.stringify({
        db: fleetDb.url,
        workDir: dir,
        remotes: {
          first: { host: '127.0.0.1', port: source.port, exclude: ['UserProfile'] },
          down: { host: '127.0.0.1', port: 1, exclude: ['UserProfile'] },
          second: { host: '127.0.0.1', port: second.port, exclude: ['UserProfile'] },
          retired: { host: 'old.example.org', enabled: false },
        },
      }));
      const r = await cli(['--all', '--config', config, '-N']);
      expect(r.code).toBe(3);
      expect(r.out).toMatch(/Fleet: 2 of 4 synced, 1 failed, 1 skipped/);
      expect(r.err).toContain('down (127.0.0.1:1)');
      await withDb(fleetDb.url, async (db) => {
        expect((await db.knex(manifest.registry).select('hostname').orderBy('hostname')).map((x) => x.hostname)).toEqual([`127.0.0.1:${source.port}`, `127.0.0.1:${second.port}`].sort());
      });
      const json = await cli(['--all', '--config', config, '-N', '--json']);
      expect(JSON.parse(json.out)).toMatchObject({ status: 'failed', failed: 1 });
    } finally {
      await second.close();
      await fleetDb.drop();
    }
  });

  it('--every keeps running until SIGTERM, which ends it cleanly after the run in progress', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-every-'));
    const config = path.join(dir, 'remotesyncdb.config.json');
    writeFileSync(config, JSON.stringify({ db: path.join(dir, 'every.sqlite'), workDir: dir, remotes: { only: { host: '127.0.0.1', port: source.port, exclude: ['UserProfile'] } } }));
    const child = spawn(process.execPath, [BIN, '--all', '--every', '10s', '--config', config, '-N'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await new Promise<void>((resolve) => child.stdout.on('data', (c) => {
      out += c;
      if (out.includes('Next run at')) resolve();
    }));
    expect(out).toMatch(/Fleet: 1 of 1 synced/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('the built binary runs the demo end to end from another working directory', () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'rsdb-bin-'));
    const r = spawnSync(process.execPath, [BIN, 'demo', '--port', '0'], { cwd, encoding: 'utf8', env: { ...process.env, DATABASE_URL: '' } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Successfully installed 461 objects from 26 fixtures.');
    const version = spawnSync(process.execPath, [BIN, '--version'], { cwd, encoding: 'utf8' });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
