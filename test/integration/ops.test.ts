import { targetDirName } from '../../src/sources/target-identity.js';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { restore } from '../../src/backup/restore.js';
import { openDatabase } from '../../src/dialects/index.js';
import { ConfigError, LockError } from '../../src/errors.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { sync } from '../../src/sync/sync.js';
import { nowDatetime } from '../../src/values/values.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';
import { assertIsomorphic, tableDigests, withDb } from '../helpers/inspect.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';
import { startStaticRemote } from '../helpers/static-remote.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/remotesyncdb.js');
const dialects = await availableDialects();
const manifest = loadManifest('hcore');
const tmpdir = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

describe.each(dialects)('operations on %s', (dialect) => {
  let source: TestInstance;
  let target: TestDatabase;
  const workDir = tmpdir('rsdb-ops-');
  const hostname = () => `127.0.0.1:${source.port}`;
  const run = (extra: Partial<Parameters<typeof sync>[0]> = {}) =>
    sync({ app: 'hcore', remote: '127.0.0.1', port: source.port, exclude: ['UserProfile'], db: target.url, workDir, ...extra });
  const stageDir = () => path.join(workDir, targetDirName(target.url), `127.0.0.1_${source.port}`, 'hcore');

  beforeAll(async () => {
    source = await startInstance({ files: [SAMPLE_FIXTURE] });
    target = await createDatabase(dialect);
  });
  afterAll(async () => {
    await source?.close();
    await target?.drop();
  });

  it('--dry-run counts what would change and writes nothing', async () => {
    const result = await run({ dryRun: true });
    expect(result.status).toBe('dry-run');
    expect(result.models.reduce((n, m) => n + m.inserted, 0)).toBe(461);
    expect(await withDb(target.url, (db) => db.knex.schema.hasTable('hcore_gentity'))).toBe(false);
  });

  it('refuses a staged file altered since the fetch, naming it, and writes nothing', async () => {
    await run({ fetchOnly: true });
    await run({ resume: true });
    const before = await tableDigests(target.url, manifest);
    const file = path.join(stageDir(), 'Station.json');
    appendFileSync(file, ' ');
    const error = await run({ resume: true }).catch((e: unknown) => e);
    // A refusal before anything is installed: a configuration error, exit 2 (issue 14.6).
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(2);
    expect((error as Error).message).toContain(`${file} has`);
    expect(await tableDigests(target.url, manifest)).toEqual(before);
  });

  it('resumes from the staged files when the remote is gone', async () => {
    await run({ fetchOnly: true, full: true });
    await withDb(source.db.url, (db) => db.knex('hcore_gentity').where({ id: 7 }).update({ name: 'changed after the fetch', last_modified: nowDatetime() }));
    await source.server.close();
    try {
      const result = await run({ resume: true });
      expect(result.objects).toBe(461);
      // The staged copy is what got installed, not the remote's later state.
      const name = await withDb(target.url, async (db) => (await db.knex('hcore_gentity').where({ original_id: 7 }).first()).name);
      expect(name).not.toBe('changed after the fetch');
      expect(existsSync(path.join(stageDir(), 'Station.json'))).toBe(true);
    } finally {
      const { serve } = await import('../../src/server/serve.js');
      source.server = await serve({ app: 'hcore', db: source.db.url, port: source.port });
    }
  });

  it('picks up an update made in the same second as the previous watermark', async () => {
    await run({ full: true });
    const watermark = await withDb(target.url, async (db) => (await db.knex('remotesyncdb_watermark').where({ model: 'Variable' }).first()).server_time as string);
    expect(watermark).toMatch(/Z$/);
    await withDb(source.db.url, async (db) => {
      await db.knex('hcore_variable').where({ id: 1 }).update({ descr: 'same second', last_modified: watermark.replace('T', ' ').replace('Z', '') });
      // Changed without moving last_modified: an incremental fetch does not see it.
      await db.knex('hcore_variable').where({ id: 2 }).update({ descr: 'silent change' });
    });
    const result = await run();
    expect(result.models.find((m) => m.model === 'Variable')).toMatchObject({ objects: 1, updated: 1 });
    await withDb(target.url, async (db) => {
      expect((await db.knex('hcore_variable').where({ original_id: 1 }).first()).descr).toBe('same second');
      expect((await db.knex('hcore_variable').where({ original_id: 2 }).first()).descr).not.toBe('silent change');
    });
    await run({ full: true });
    expect(await assertIsomorphic(source.db.url, target.url, manifest, hostname())).toBe(461);
  });

  it('takes a backup before the install that restore brings back exactly', async () => {
    const before = await tableDigests(target.url, manifest);
    await withDb(source.db.url, (db) => db.knex('hcore_gentity').where({ id: 8 }).update({ name: 'to be undone', last_modified: nowDatetime() }));
    await run({ keepBackups: 2 });
    expect(await tableDigests(target.url, manifest)).not.toEqual(before);
    const dir = path.join(stageDir(), 'backups');
    const backups = readdirSync(dir).sort();
    expect(backups.length).toBeLessThanOrEqual(2);
    await restore({ file: path.join(dir, backups[backups.length - 1]), db: target.url });
    expect(await tableDigests(target.url, manifest)).toEqual(before);
    await run({ full: true });
  });

  it('--skip leaves out a bad object with its MTI chain and dependents, lists them, and installs the rest', async () => {
    await withDb(source.db.url, async (db) => {
      await db.knex('hcore_station').where({ gpoint_ptr_id: 3 }).update({ start_date: 'not a date' });
      await db.knex('hcore_variable').insert({ id: 950, descr: 'new and fine', descr_alt: '', last_modified: nowDatetime() });
    });
    const fresh = await createDatabase(dialect);
    try {
      const result = await sync({ app: 'hcore', remote: '127.0.0.1', port: source.port, exclude: ['UserProfile'], db: fresh.url, workDir: tmpdir('rsdb-skip-'), skip: true });
      const counts = Object.fromEntries(result.models.map((m) => [m.model, m]));
      expect(counts.Station.skipped).toBe(1);
      expect(counts.Gentity.skipped).toBe(1);
      expect(counts.Gpoint.skipped).toBe(1);
      expect(counts.Variable.inserted).toBe(12);
      const rejects = readFileSync(result.rejectsFile!, 'utf8');
      expect(rejects).toMatch(/^Station pk=3: start_date expects a date YYYY-MM-DD, got "not a date"$/m);
      const dependents = await withDb(source.db.url, async (db) => ({
        overseers: (await db.knex('hcore_overseer').where({ station_id: 3 })).map((r) => r.id as number),
        instruments: (await db.knex('hcore_instrument').where({ station_id: 3 })).map((r) => r.id as number),
      }));
      for (const pk of dependents.overseers) expect(rejects).toContain(`Overseer pk=${pk}: station refers to Station pk=3, which is rejected`);
      expect(counts.Overseer.skipped).toBe(dependents.overseers.length);
      expect(counts.Instrument.skipped).toBe(dependents.instruments.length);
      await withDb(fresh.url, async (db) => {
        expect(await db.knex('hcore_gentity').where({ original_id: 3 }).first()).toBeUndefined();
        expect(await db.knex('hcore_gentity').where({ original_id: 4 }).first()).toBeTruthy();
        // What was installed is consistent: every placeholder is gone, every NOT NULL link resolves.
        const orphans = await db.knex('hcore_timeseries').leftJoin('hcore_gentity', 'hcore_gentity.id', 'hcore_timeseries.gentity_id').whereNull('hcore_gentity.id');
        expect(orphans).toEqual([]);
      });
    } finally {
      await fresh.drop();
      await withDb(source.db.url, (db) => db.knex('hcore_station').where({ gpoint_ptr_id: 3 }).update({ start_date: '2001-01-01' }));
    }
  });

  it('waits a bounded time for another sync holding the lock, then exits 4; never blocks after', async () => {
    const db = openDatabase(target.url);
    const trx = await db.knex.transaction();
    try {
      expect(await db.dialect.tryLock(trx, 'sync:hcore', 1000)).toBe(true);
      const error = await run({ lockWaitMs: 300, noBackups: true }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockError);
      expect((error as LockError).exitCode).toBe(4);
    } finally {
      await db.dialect.finish(trx, 'sync:hcore', false);
      await db.knex.destroy();
    }
    expect((await run({ noBackups: true })).status).toBe('success');
  });

  it('runs two concurrent syncs one after the other, never interleaved', async () => {
    const second = await startInstance({ files: [SAMPLE_FIXTURE] });
    try {
      // The second run is another process, as two cron jobs would be (SQLite waits for its lock
      // inside the driver, blocking the whole process).
      const child = spawn(process.execPath, [BIN, '-r', `127.0.0.1:${second.port}`, '-e', 'UserProfile', '--db', target.url, '-w', workDir, '-N', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let childOut = '';
      child.stdout.on('data', (c) => (childOut += c));
      const childDone = new Promise<number | null>((resolve) => child.on('exit', resolve));
      const mine = await run({ full: true, noBackups: true, lockWaitMs: 30_000 });
      expect(await childDone).toBe(0);
      expect([mine.status, JSON.parse(childOut).status]).toEqual(['success', 'success']);
      // Earlier tests added an object to the first source: the check counts both sides itself.
      await assertIsomorphic(source.db.url, target.url, manifest, hostname());
      expect(await assertIsomorphic(second.db.url, target.url, manifest, `127.0.0.1:${second.port}`)).toBe(461);
      // Recorded one after the other: the later run started its install after the earlier finished.
      const history = await withDb(target.url, (db) => db.knex('remotesyncdb_run').orderBy('id', 'desc').limit(2));
      expect(history.map((h) => h.status)).toEqual(['success', 'success']);
    } finally {
      await second.close();
    }
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`leaves every table as it was when the sync gets ${signal} mid-install`, async () => {
      const objects = Array.from({ length: 60_000 }, (_, i) => ({ model: 'hcore.variable', pk: i + 1, fields: { descr: `Μεταβλητή ${i}`, descr_alt: `variable ${i}` } }));
      const big = await startStaticRemote('hcore', ['Variable'], { Variable: objects });
      const stage = tmpdir('rsdb-signal-');
      const args = ['-r', `127.0.0.1:${big.port}`, '-e', [...manifest.models.keys()].filter((m) => m !== 'Variable').join(','), '--db', target.url, '-w', stage, '-N', '-v', '2'];
      try {
        await sync({ app: 'hcore', remote: `127.0.0.1:${big.port}`, exclude: [...manifest.models.keys()].filter((m) => m !== 'Variable'), db: target.url, workDir: stage, fetchOnly: true });
        const before = await tableDigests(target.url, manifest);
        const child = spawn(process.execPath, [BIN, ...args, '-R'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        const killed = new Promise<number | null>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? -1 : null))));
        await new Promise<void>((resolve) => child.stdout.on('data', (chunk) => {
          out += chunk;
          if (out.includes('installing Variable')) setTimeout(resolve, 150);
        }));
        child.kill(signal);
        const code = await killed;
        expect(code).toBe(signal === 'SIGTERM' ? 1 : -1);
        expect(await tableDigests(target.url, manifest)).toEqual(before);
        // The lock died with the process: the next run goes through.
        const after = await sync({ app: 'hcore', remote: `127.0.0.1:${big.port}`, exclude: [...manifest.models.keys()].filter((m) => m !== 'Variable'), db: target.url, workDir: stage, resume: true, noBackups: true, lockWaitMs: 5000 });
        expect(after.objects).toBe(60_000);
      } finally {
        await big.close();
      }
    });
  }
});
