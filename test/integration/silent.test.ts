import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';
import { assertIsomorphic, withDb } from '../helpers/inspect.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';
import { runBin } from '../helpers/run-bin.js';

const dialects = await availableDialects();
const manifest = loadManifest('hcore');
const VARIABLES = 30_000;

/**
 * Cron mails whatever a job prints: a successful `-S` run must print nothing at all, on stdout
 * or stderr, Node's own warnings included. Each run is the built binary in its own process.
 */
describe.each(dialects)('a successful -S run prints nothing (%s)', (dialect) => {
  let source: TestInstance;
  let target: TestDatabase;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-silent-'));
  const args = () => ['-r', `127.0.0.1:${source.port}`, '-e', 'UserProfile', '--db', target.url, '-w', dir, '-S'];

  beforeAll(async () => {
    // Tens of thousands of objects: a Variable fixture of a few MB, so the fetch waits for
    // 'drain' many times (each wait once added a listener that was never removed).
    const big = path.join(dir, 'variables.json');
    writeFileSync(big, JSON.stringify(Array.from({ length: VARIABLES }, (_, i) => ({ model: 'hcore.variable', pk: 1000 + i, fields: { descr: `Μεταβλητή ${i}`, descr_alt: `variable ${i}` } }))));
    source = await startInstance({ files: [SAMPLE_FIXTURE, big] });
    target = await createDatabase(dialect);
  });
  afterAll(async () => {
    await source?.close();
    await target?.drop();
  });

  it('on a first sync of tens of thousands of objects, then on an incremental one', async () => {
    const first = await runBin(args());
    expect(first).toEqual({ code: 0, out: '', err: '' });
    expect(await assertIsomorphic(source.db.url, target.url, manifest, `127.0.0.1:${source.port}`)).toBe(461 + VARIABLES);
    await withDb(source.db.url, (db) => db.knex('hcore_variable').where({ id: 1000 }).update({ descr: 'changed', last_modified: '2100-01-01 00:00:00' }));
    const second = await runBin(args());
    expect(second).toEqual({ code: 0, out: '', err: '' });
    await withDb(target.url, async (db) => {
      expect(await db.knex('hcore_variable').where({ original_id: 1000 }).first('descr')).toEqual({ descr: 'changed' });
    });
  });

  it('on --all over the config file', async () => {
    const config = path.join(dir, 'remotesyncdb.config.json');
    writeFileSync(config, JSON.stringify({ db: target.url, workDir: dir, remotes: { only: { host: '127.0.0.1', port: source.port, exclude: ['UserProfile'] } } }));
    const run = await runBin(['--all', '--config', config, '-S']);
    expect(run).toEqual({ code: 0, out: '', err: '' });
    await withDb(target.url, async (db) => {
      expect((await db.knex('remotesyncdb_run').orderBy('id', 'desc').first('status')).status).toBe('success');
    });
  });
});
