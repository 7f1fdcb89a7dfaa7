import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { init } from '../../src/admin/init.js';
import { catalogFor } from '../../src/inspect/catalog-for.js';
import { loadManifest, resolveManifestPath } from '../../src/manifest/load-manifest.js';
import type { AppManifest } from '../../src/manifest/types.js';
import { REMOTE_TABLE, WATERMARK_TABLE } from '../../src/schema/bookkeeping.js';
import { serve } from '../../src/server/serve.js';
import { sync } from '../../src/sync/sync.js';
import { availableDialects, createDatabase } from '../helpers/databases.js';
import { assertIsomorphic, tableDigests, withDb } from '../helpers/inspect.js';
import { sourceAndTarget } from '../helpers/instance.js';

const dialects = await availableDialects();
const manifest = loadManifest('hcore');
const SAMPLE_OBJECTS = 461;
const tmpdir = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

/** The table each FK column of `table` references, as the database's own catalog says. */
async function references(url: string, table: string): Promise<Record<string, string>> {
  return withDb(url, async (db) => {
    const tables = await catalogFor(db.dialect.name).readTables(db.knex);
    const found = tables.find((t) => t.name === table)!;
    return Object.fromEntries(found.foreignKeys.map((fk) => [fk.column, fk.refTable]));
  });
}

/**
 * What Enhydris' ORM does on the aggregate, with nothing but the app's schema: every root
 * table joined to `dbsync_database` through `original_db_id` (Django's `select_related('original_db')`),
 * the registry read with Django's columns only.
 */
async function readAsTheApp(url: string, app: AppManifest): Promise<{ objects: number; remotes: string[] }> {
  return withDb(url, async (db) => {
    const remotes = await db.knex('dbsync_database').select('id', 'name', 'ip_address', 'hostname', 'descr').orderBy('id');
    let objects = 0;
    for (const model of app.models.values()) {
      if (model.parent !== undefined) continue;
      const rows = await db.knex({ t: model.table }).leftJoin({ d: 'dbsync_database' }, 'd.id', 't.original_db_id').whereNotNull('t.original_db_id').select('t.original_id', 'd.hostname');
      for (const row of rows) expect(row.hostname, `${model.table} original_id=${row.original_id}`).toBeTruthy();
      objects += rows.length;
    }
    return { objects, remotes: remotes.map((r) => r.hostname as string) };
  });
}

describe.each(dialects)('the app runs on its aggregate (%s)', (dialect) => {
  const pair = sourceAndTarget(dialect);
  const workDir = tmpdir('rsdb-registry-');
  const hostname = () => `127.0.0.1:${pair.source.port}`;


  it("writes the remotes to the app's own registry table, which every origin tag references", async () => {
    await sync({ app: 'hcore', remote: hostname(), exclude: ['UserProfile'], db: pair.target.url, workDir, noBackups: true });
    const { objects, remotes } = await readAsTheApp(pair.target.url, manifest);
    expect(remotes).toEqual([hostname()]);
    // Every root object of the sample is a tagged root row (MTI children share their root's).
    const roots = [...manifest.models.values()].filter((m) => !m.parent && !m.isPrivate).map((m) => m.table);
    expect(objects).toBe(await withDb(pair.source.db.url, async (db) => {
      let n = 0;
      for (const table of roots) n += Number((await db.knex(table).count({ n: '*' }))[0].n);
      return n;
    }));
    expect(await references(pair.target.url, 'hcore_gentity')).toMatchObject({ original_db_id: 'dbsync_database' });
    expect(await references(pair.target.url, REMOTE_TABLE)).toMatchObject({ id: 'dbsync_database' });
    expect(await withDb(pair.target.url, (db) => db.knex.schema.hasTable('remotesyncdb_database'))).toBe(false);
  });

  it('serves the aggregate one level up: a regional centre feeds a national one', async () => {
    const regional = await serve({ app: 'hcore', db: pair.target.url, port: 0, instance: 'regional' });
    const national = await createDatabase(dialect);
    try {
      const served = await (await fetch(`http://127.0.0.1:${regional.port}/api/Station/`)).json() as Array<{ fields: Record<string, unknown> }>;
      expect(served.length).toBeGreaterThan(0);
      for (const o of served) expect(Object.keys(o.fields)).not.toContain('original_id');
      const result = await sync({ app: 'hcore', remote: `127.0.0.1:${regional.port}`, exclude: ['UserProfile'], db: national.url, workDir, noBackups: true });
      expect(result.status).toBe('success');
      expect(await assertIsomorphic(pair.target.url, national.url, manifest, `127.0.0.1:${regional.port}`)).toBe(SAMPLE_OBJECTS);
      expect((await readAsTheApp(national.url, manifest)).remotes).toEqual([`127.0.0.1:${regional.port}`]);
    } finally {
      await regional.close();
      await national.drop();
    }
  });

  it('moves a database with the old registry (remotesyncdb_database) over, keeping every tag and watermark', async () => {
    // The layout before DESIGN §8: the same manifest without "registry", remotes in
    // remotesyncdb_database with the tool's own columns (last_sync, is_tls) in it.
    const dir = tmpdir('rsdb-oldapp-');
    const raw = JSON.parse(readFileSync(resolveManifestPath('hcore'), 'utf8'));
    delete raw.registry;
    const oldApp = path.join(dir, 'hcore-old.json');
    writeFileSync(oldApp, JSON.stringify(raw));
    const old = await createDatabase(dialect);
    try {
      await sync({ app: oldApp, remote: hostname(), exclude: ['UserProfile'], db: old.url, workDir: dir, noBackups: true });
      await withDb(old.url, async (db) => {
        await db.knex.raw('ALTER TABLE ?? DROP COLUMN ??', ['remotesyncdb_database', 'last_sync']);
        await db.knex.schema.alterTable('remotesyncdb_database', (t) => {
          t.string('last_sync', 32).nullable();
          t.boolean('is_tls').notNullable().defaultTo(false);
        });
        await db.knex('remotesyncdb_database').update({ last_sync: '2026-01-02T03:04:05Z', is_tls: true });
        await db.knex.schema.dropTable(REMOTE_TABLE);
      });
      const oldManifest = loadManifest(oldApp);
      const before = await tableDigests(old.url, oldManifest);
      const watermarks = await withDb(old.url, (db) => db.knex(WATERMARK_TABLE).orderBy(['database_id', 'model']));
      expect(watermarks.length).toBeGreaterThan(10);

      await init({ app: 'hcore', db: old.url });

      const after = await tableDigests(old.url, manifest);
      for (const model of manifest.models.values()) expect(after[model.table], model.table).toBe(before[model.table]);
      expect(await withDb(old.url, (db) => db.knex.schema.hasTable('remotesyncdb_database'))).toBe(false);
      expect(await withDb(old.url, (db) => db.knex(WATERMARK_TABLE).orderBy(['database_id', 'model']))).toEqual(watermarks);
      expect(await withDb(old.url, async (db) => Object.keys(await db.knex('dbsync_database').columnInfo()).sort())).toEqual(['descr', 'hostname', 'id', 'ip_address', 'last_sync', 'name']);
      const kept = await withDb(old.url, (db) => db.knex(REMOTE_TABLE).first());
      expect({ last_sync: kept.last_sync, is_tls: Boolean(kept.is_tls) }).toEqual({ last_sync: '2026-01-02T03:04:05Z', is_tls: true });
      expect(await references(old.url, 'hcore_gentity')).toMatchObject({ original_db_id: 'dbsync_database' });
      expect(await references(old.url, WATERMARK_TABLE)).toMatchObject({ database_id: 'dbsync_database' });
      expect((await readAsTheApp(old.url, manifest)).remotes).toEqual([hostname()]);

      // The moved registry is the same remote with the same tags: the next sync changes nothing
      // (over plain http: the TLS flag above was only there to be carried over).
      await withDb(old.url, (db) => db.knex(REMOTE_TABLE).update({ is_tls: false }));
      const again = await sync({ app: 'hcore', remote: hostname(), exclude: ['UserProfile'], db: old.url, workDir: dir, noBackups: true });
      expect(again.models.reduce((n, m) => n + m.inserted + m.updated, 0)).toBe(0);
    } finally {
      await old.drop();
    }
  });

  it("takes a registry the application created with Django's own DDL (signed id, 16-character ip_address, last_sync)", async () => {
    const ddl: Record<string, string> = {
      sqlite: 'CREATE TABLE "dbsync_database" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "name" varchar(64) NOT NULL, "ip_address" varchar(16) NOT NULL, "hostname" varchar(255) NOT NULL UNIQUE, "descr" text NOT NULL, "last_sync" datetime NULL)',
      postgres: 'CREATE TABLE "dbsync_database" ("id" serial NOT NULL PRIMARY KEY, "name" varchar(64) NOT NULL, "ip_address" varchar(16) NOT NULL, "hostname" varchar(255) NOT NULL UNIQUE, "descr" text NOT NULL, "last_sync" timestamp with time zone NULL)',
      mysql: 'CREATE TABLE `dbsync_database` (`id` integer AUTO_INCREMENT NOT NULL PRIMARY KEY, `name` varchar(64) NOT NULL, `ip_address` varchar(16) NOT NULL, `hostname` varchar(255) NOT NULL UNIQUE, `descr` longtext NOT NULL, `last_sync` datetime(6) NULL)',
    };
    const app = await createDatabase(dialect);
    try {
      await withDb(app.url, (db) => db.knex.raw(ddl[dialect]));
      // "localhost" is no IP address: the registry's ip_address stays empty rather than overflow.
      const result = await sync({ app: 'hcore', remote: `localhost:${pair.source.port}`, exclude: ['UserProfile'], db: app.url, workDir, noBackups: true });
      expect(result.status).toBe('success');
      await withDb(app.url, async (db) => {
        const row = await db.knex('dbsync_database').first();
        expect(row).toMatchObject({ hostname: `localhost:${pair.source.port}`, ip_address: '' });
        expect(row.last_sync).not.toBeNull();
      });
      expect((await readAsTheApp(app.url, manifest)).objects).toBeGreaterThan(100);
      expect(await references(app.url, 'hcore_gentity')).toMatchObject({ original_db_id: 'dbsync_database' });
    } finally {
      await app.drop();
    }
  });
});
