import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRemote } from '../../src/sync/registry.js';
import { init } from '../../src/admin/init.js';
import { loaddata } from '../../src/admin/loaddata.js';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { ModelInstallError } from '../../src/errors.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { ORIGINAL_DB } from '../../src/schema/app-tables.js';
import { sync } from '../../src/sync/sync.js';
import { IdMaps } from '../../src/install/id-map.js';
import { nowDatetime } from '../../src/values/values.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';
import { assertIsomorphic, tableDigests, withDb } from '../helpers/inspect.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';

const dialects = await availableDialects();
const manifest = loadManifest('hcore');
const SAMPLE_OBJECTS = 461;

/** The sample with every natural key changed: local data that looks like the remote's but matches nothing. */
function localCopyOfSample(): string {
  const objects = JSON.parse(readFileSync(SAMPLE_FIXTURE, 'utf8')) as Array<{ model: string; fields: Record<string, unknown> }>;
  for (const object of objects) {
    const model = [...manifest.models.values()].find((m) => `hcore.${m.name.toLowerCase()}` === object.model);
    for (const key of model?.naturalKey ?? []) object.fields[key] = `local ${String(object.fields[key])}`;
  }
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'rsdb-local-')), 'local.json');
  writeFileSync(file, JSON.stringify(objects));
  return file;
}

/** Rows with NULL origin tags, per root table, plus their MTI children: what a sync must never touch. */
async function localOnlyRows(url: string): Promise<string> {
  return withDb(url, async (db) => {
    const out: Record<string, unknown[]> = {};
    for (const model of manifest.models.values()) {
      const root = manifest.models.get(model.root)!;
      const ids = db.knex(root.table).select(root.pk).whereNull(ORIGINAL_DB);
      out[model.name] = await db.knex(model.table).select('*').whereIn(model.pk, ids).orderBy(model.pk);
    }
    return JSON.stringify(out);
  });
}

describe.each(dialects)('sync into %s', (dialect) => {
  let source: TestInstance;
  let target: TestDatabase;
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-work-'));
  const hostname = () => `127.0.0.1:${source.port}`;
  const run = (extra: Partial<Parameters<typeof sync>[0]> = {}) =>
    sync({ app: 'hcore', remote: '127.0.0.1', port: source.port, exclude: ['UserProfile'], db: target.url, workDir, ...extra });

  beforeAll(async () => {
    source = await startInstance({ files: [SAMPLE_FIXTURE] });
    target = await createDatabase(dialect);
    // The target already holds the same objects as its own local-only data, under the same
    // pks: a sync that confused remote and local ids would link to these. Its lookups are
    // renamed, so that no natural key matches (natural-keys.test.ts covers matching).
    await loaddata({ app: 'hcore', db: target.url, files: [localCopyOfSample()] });
  });
  afterAll(async () => {
    await source?.close();
    await target?.drop();
  });

  it('replicates the sample as a graph-isomorphic copy and leaves local-only rows alone', async () => {
    const before = await localOnlyRows(target.url);
    const result = await run();
    expect(result.status).toBe('success');
    expect(result.objects).toBe(SAMPLE_OBJECTS);
    expect(result.fixtures).toBe(26);
    expect(result.models.reduce((n, m) => n + m.inserted, 0)).toBe(SAMPLE_OBJECTS);
    expect(await assertIsomorphic(source.db.url, target.url, manifest, hostname())).toBe(SAMPLE_OBJECTS);
    expect(await localOnlyRows(target.url)).toBe(before);
    await withDb(target.url, async (db) => {
      // New local ids: the local-only copy holds the remote's pks already.
      const station = await db.knex('hcore_gentity').where({ original_id: 1 }).whereNotNull(ORIGINAL_DB).first();
      expect(Number(station.id)).not.toBe(1);
      const remote = await findRemote(db.knex, manifest.registry, hostname(), hostname(), true);
      expect(remote!.name).toBe(hostname());
      expect(remote!.last_sync).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    });
  });

  it('issues no INSERT, UPDATE or DELETE on app tables when the remote is unchanged', async () => {
    const before = await tableDigests(target.url, manifest);
    const writes: string[] = [];
    const appTables = [...manifest.models.values()].flatMap((m) => [m.table, ...m.m2m.flatMap((l) => (l.kind === 'auto' ? [l.table] : []))]);
    const result = await run({ onQuery: (sql) => { if (/^\s*(insert|update|delete)/i.test(sql) && appTables.some((t) => sql.includes(t))) writes.push(sql); } });
    expect(writes).toEqual([]);
    expect(result.models.every((m) => m.inserted === 0 && m.updated === 0 && m.unchanged === m.objects)).toBe(true);
    const after = await tableDigests(target.url, manifest);
    const { remotesyncdb_remote: _a, ...restBefore } = before;
    const { remotesyncdb_remote: _b, ...restAfter } = after;
    expect(restAfter).toEqual(restBefore);
  });

  it('propagates updates, new objects, moved links and removed m2m links', async () => {
    // Changed the way the application would: every change moves its root's last_modified.
    await withDb(source.db.url, async (db) => {
      const now = nowDatetime();
      await db.knex('hcore_gentity').where({ id: 1 }).update({ name: 'Λιδωρίκι (νέο)', last_modified: now });
      await db.knex('hcore_station').where({ gpoint_ptr_id: 1 }).update({ is_active: 0, owner_id: 2 });
      await db.knex('hcore_gentity').where({ id: 2 }).update({ water_basin_id: null, last_modified: now });
      const uom = await db.knex('hcore_unitofmeasurement_variables').first();
      await db.knex('hcore_unitofmeasurement_variables').where({ id: uom.id }).del();
      await db.knex('hcore_variable').insert({ id: 900, descr: 'Νέα μεταβλητή', descr_alt: 'New variable', last_modified: now });
      await db.knex('hcore_unitofmeasurement_variables').insert({ unitofmeasurement_id: uom.unitofmeasurement_id, variable_id: 900 });
      await db.knex('hcore_unitofmeasurement').where({ id: uom.unitofmeasurement_id }).update({ last_modified: now });
    });
    // A link made locally, from a replicated unit to a local-only variable, is not the remote's to remove.
    const localLink = await withDb(target.url, async (db) => {
      const unit = await db.knex('hcore_unitofmeasurement').whereNotNull(ORIGINAL_DB).first();
      const variable = await db.knex('hcore_variable').whereNull(ORIGINAL_DB).first();
      await db.knex('hcore_unitofmeasurement_variables').insert({ unitofmeasurement_id: unit.id, variable_id: variable.id });
      return { unitofmeasurement_id: unit.id, variable_id: variable.id };
    });
    const result = await run({ full: true });
    const counts = Object.fromEntries(result.models.map((m) => [m.model, m]));
    expect(await withDb(target.url, (db) => db.knex('hcore_unitofmeasurement_variables').where(localLink).first())).toBeTruthy();
    await withDb(target.url, (db) => db.knex('hcore_unitofmeasurement_variables').where(localLink).del());
    expect(counts.Variable.inserted).toBe(1);
    expect(counts.Gentity.updated).toBe(2);
    expect(counts.Station.updated).toBe(1);
    expect(counts.UnitOfMeasurement.updated).toBe(1);
    expect(await assertIsomorphic(source.db.url, target.url, manifest, hostname())).toBe(SAMPLE_OBJECTS + 1);
  });

  it('reads the id map only for what an incremental sync receives, not the whole table', async () => {
    await withDb(source.db.url, (db) => db.knex('hcore_gentity').where({ id: 3 }).update({ name: 'Μόνο αυτό', last_modified: nowDatetime() }));
    const reads: string[] = [];
    // A table this small is read whole; on demand from one row, as a large one would be.
    IdMaps.onDemandFrom = 1;
    const result = await run({ onQuery: (sql) => { if (/^\s*select/i.test(sql) && /original_id/i.test(sql) && /original_db/i.test(sql) && !/\blimit\b/i.test(sql)) reads.push(sql); } }).finally(() => { IdMaps.onDemandFrom = 20_000; });
    expect(result.models.find((m) => m.model === 'Gentity')!.updated).toBe(1);
    expect(await withDb(target.url, (db) => db.knex('hcore_gentity').where({ original_id: 3 }).whereNotNull(ORIGINAL_DB).first())).toMatchObject({ name: 'Μόνο αυτό' });
    // Every read of the origin tags is for a list of pks: the cost follows the change, not the database.
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.filter((sql) => !/ in \(/i.test(sql))).toEqual([]);
    expect(await assertIsomorphic(source.db.url, target.url, manifest, hostname())).toBe(SAMPLE_OBJECTS + 1);
  });

  it('reads whole id maps midway when a full compare passes the on-demand limit, and stays exact', async () => {
    await withDb(source.db.url, (db) => db.knex('hcore_gentity').where({ id: 4 }).update({ name: 'Πάνω από το όριο', last_modified: nowDatetime() }));
    const limit = IdMaps.wholeAfter;
    IdMaps.wholeAfter = 7;
    IdMaps.onDemandFrom = 1;
    try {
      const result = await run({ full: true });
      expect(result.models.find((m) => m.model === 'Gentity')!.updated).toBe(1);
      expect(result.models.reduce((n, m) => n + m.inserted, 0)).toBe(0);
    } finally {
      IdMaps.wholeAfter = limit;
      IdMaps.onDemandFrom = 20_000;
    }
    expect(await assertIsomorphic(source.db.url, target.url, manifest, hostname())).toBe(SAMPLE_OBJECTS + 1);
  });

  it('rolls back every table when the last model has a bad object', async () => {
    await withDb(source.db.url, async (db) => {
      const ts = await db.knex('hcore_timeseries').orderBy('id', 'desc').first();
      await db.knex('hcore_timeseries').insert({ ...ts, id: 999, name: 'x'.repeat(250), last_modified: nowDatetime() });
      await db.knex('hcore_gentity').where({ id: 3 }).update({ name: 'changed before the failure', last_modified: nowDatetime() });
    });
    const before = await tableDigests(target.url, manifest);
    const error = await run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelInstallError);
    expect((error as Error).message).toContain('Timeseries pk=999: name is 250 characters long');
    expect((error as ModelInstallError).meta).toMatchObject({ remote: hostname(), model: 'Timeseries', pk: 999, field: 'name' });
    expect(await tableDigests(target.url, manifest)).toEqual(before);
    // Once the bad object is gone, the same run goes through, the earlier change included.
    await withDb(source.db.url, (db) => db.knex('hcore_timeseries').where({ id: 999 }).del());
    const result = await run();
    expect(result.models.find((m) => m.model === 'Gentity')!.updated).toBe(1);
    expect(await assertIsomorphic(source.db.url, target.url, manifest, hostname())).toBe(SAMPLE_OBJECTS + 1);
  });

  it('aggregates a second remote without collisions and without touching the first', async () => {
    const second = await startInstance({ files: [SAMPLE_FIXTURE] });
    try {
      await withDb(second.db.url, (db) => db.knex('hcore_gentity').where({ id: 5 }).update({ name: 'Only on the second remote' }));
      const firstRows = await withDb(target.url, async (db) => {
        const remote = await db.knex(manifest.registry).where({ hostname: hostname() }).first();
        return JSON.stringify(await db.knex('hcore_gentity').where(ORIGINAL_DB, remote.id).orderBy('id'));
      });
      const variablesBefore = await withDb(target.url, async (db) => Number((await db.knex('hcore_variable').count({ n: '*' }))[0].n));
      const result = await sync({ app: 'hcore', remote: `127.0.0.1:${second.port}`, exclude: ['UserProfile'], db: target.url, workDir });
      // Lookups (natural keys) map onto the first remote's rows: no duplicated Variable, TimeZone...
      const lookups = result.models.filter((m) => manifest.models.get(m.model)!.naturalKey).reduce((n, m) => n + m.objects, 0);
      expect(lookups).toBeGreaterThan(50);
      expect(result.models.reduce((n, m) => n + m.inserted, 0)).toBe(SAMPLE_OBJECTS - lookups);
      expect(await withDb(target.url, async (db) => Number((await db.knex('hcore_variable').count({ n: '*' }))[0].n))).toBe(variablesBefore);
      expect(await assertIsomorphic(second.db.url, target.url, manifest, `127.0.0.1:${second.port}`)).toBe(SAMPLE_OBJECTS);
      expect(await assertIsomorphic(source.db.url, target.url, manifest, hostname())).toBeGreaterThan(SAMPLE_OBJECTS);
      await withDb(target.url, async (db) => {
        const remote = await db.knex(manifest.registry).where({ hostname: hostname() }).first();
        expect(JSON.stringify(await db.knex('hcore_gentity').where(ORIGINAL_DB, remote.id).orderBy('id'))).toBe(firstRows);
      });
    } finally {
      await second.close();
    }
  });
});

describe('prepare', () => {
  it('refuses an existing app table without origin tags and says to run init', async () => {
    const target = await createDatabase('sqlite');
    const source = await startInstance({ files: [SAMPLE_FIXTURE] });
    try {
      await withDb(target.url, (db) => db.knex.schema.createTable('hcore_variable', (t) => { t.increments('id'); t.string('descr', 200); t.string('descr_alt', 200); t.datetime('last_modified'); }));
      const error = await sync({ app: 'hcore', remote: '127.0.0.1', port: source.port, exclude: ['UserProfile'], db: target.url, workDir: mkdtempSync(path.join(os.tmpdir(), 'rsdb-')) }).catch((e: Error) => e);
      expect((error as Error).message).toMatch(/hcore_variable .* has no origin tags.*remotesyncdb init/);
      await init({ app: 'hcore', db: target.url });
      const result = await sync({ app: 'hcore', remote: '127.0.0.1', port: source.port, exclude: ['UserProfile'], db: target.url, workDir: mkdtempSync(path.join(os.tmpdir(), 'rsdb-')) });
      expect(result.objects).toBe(SAMPLE_OBJECTS);
    } finally {
      await source.close();
      await target.drop();
    }
  });
});
