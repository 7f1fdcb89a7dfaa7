import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loaddata } from '../../src/admin/loaddata.js';
import { CONFLICT_TABLE } from '../../src/exchange/exchange-tables.js';
import { exchange, type ExchangeOptions } from '../../src/exchange/exchange.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { addSite } from '../../src/push/sites.js';
import { serve, type ServeResult } from '../../src/server/serve.js';
import { nowDatetime } from '../../src/values/values.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';
import { withDb } from '../helpers/inspect.js';

const dialects = await availableDialects();
const manifest = loadManifest('hcore');
const SAMPLE_OBJECTS = 461;
const tmpdir = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

describe.each(dialects)('exchange with a centre on %s', (dialect) => {
  let site: TestDatabase;
  let centre: TestDatabase;
  let server: ServeResult;
  let token: string;
  const workDir = tmpdir('rsdb-exchange-');
  const run = (extra: Partial<ExchangeOptions> = {}) =>
    exchange({ with: `http://127.0.0.1:${server.port}`, app: 'hcore', db: site.url, exclude: ['UserProfile'], token, workDir, http: { retryBaseMs: 20 }, ...extra });

  beforeAll(async () => {
    site = await createDatabase('sqlite');
    centre = await createDatabase(dialect);
    await loaddata({ app: 'hcore', db: centre.url, files: [SAMPLE_FIXTURE] });
    token = (await addSite({ db: centre.url, app: 'hcore', name: 'laptop' })).token!;
    server = await serve({ app: 'hcore', db: centre.url, port: 0, acceptPush: true });
  });
  afterAll(async () => {
    await server?.close();
    await site?.drop();
    await centre?.drop();
  });

  it('a first exchange brings the centre rows to an empty site, tagged with the centre', async () => {
    const r = await run();
    expect(r.received).toBe(SAMPLE_OBJECTS);
    await withDb(site.url, async (db) => {
      const rows = await db.knex('hcore_gentity').select('original_db_id').whereNull('original_db_id');
      expect(rows).toHaveLength(0);
    });
  });

  it('a quiet exchange writes nothing on either side and sends no changed row', async () => {
    const r = await run();
    expect(r).toMatchObject({ sent: 0, writtenAtCentre: 0, received: 0, written: 0, deleted: 0, conflicts: 0 });
  });

  it('a site edit of a centre row reaches the centre, and is not echoed back', async () => {
    const localId = await withDb(site.url, async (db) => {
      const row = await db.knex('hcore_gentity').where({ original_id: 5 }).first();
      await db.knex('hcore_gentity').where({ id: row.id }).update({ name: 'Renamed at the laptop', last_modified: nowDatetime() });
      return row.id as number;
    });
    const r = await run();
    expect(r).toMatchObject({ sent: 1, writtenAtCentre: 1, conflicts: 0, received: 0 });
    expect(localId).toBeGreaterThan(0);
    await withDb(centre.url, async (db) => expect((await db.knex('hcore_gentity').where({ id: 5 }).first()).name).toBe('Renamed at the laptop'));
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0 });
  });

  it('a row created at the site goes up tagged with the site, and comes back onto itself', async () => {
    await withDb(site.url, async (db) => {
      await db.knex('hcore_variable').insert({ descr: 'Νέα μεταβλητή', descr_alt: 'new', last_modified: nowDatetime() });
    });
    const r = await run();
    expect(r).toMatchObject({ sent: 1, writtenAtCentre: 1, received: 0 });
    const centreId = await withDb(centre.url, async (db) => {
      const row = await db.knex('hcore_variable').where({ descr: 'Νέα μεταβλητή' }).first();
      expect(row.original_db_id).not.toBeNull();
      await db.knex('hcore_variable').where({ id: row.id }).update({ descr_alt: 'edited at the centre', last_modified: nowDatetime() });
      return row.id;
    });
    expect(centreId).toBeGreaterThan(0);
    const r2 = await run();
    expect(r2).toMatchObject({ sent: 0, received: 1, written: 1 });
    await withDb(site.url, async (db) => {
      const rows = await db.knex('hcore_variable').where({ descr: 'Νέα μεταβλητή' });
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ descr_alt: 'edited at the centre', original_db_id: null });
    });
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0 });
  });

  it('both sides change one row differently: home-wins, and the loser is kept', async () => {
    await withDb(site.url, async (db) => {
      const row = await db.knex('hcore_gentity').where({ original_id: 6 }).first();
      await db.knex('hcore_gentity').where({ id: row.id }).update({ name: 'site says', last_modified: nowDatetime() });
    });
    await withDb(centre.url, async (db) => db.knex('hcore_gentity').where({ id: 6 }).update({ name: 'centre says', last_modified: nowDatetime() }));
    const r = await run();
    expect(r.conflicts).toBe(1);
    await withDb(site.url, async (db) => expect((await db.knex('hcore_gentity').where({ original_id: 6 }).first()).name).toBe('centre says'));
    await withDb(centre.url, async (db) => {
      expect((await db.knex('hcore_gentity').where({ id: 6 }).first()).name).toBe('centre says');
      const conflicts = await db.knex(CONFLICT_TABLE).select('*');
      expect(conflicts).toHaveLength(1);
      expect(JSON.parse(conflicts[0].site_version).name).toBe('site says');
    });
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0, conflicts: 0 });
  });

  it('m2m links travel both ways, through the rows identities (a site link to its own row included)', async () => {
    const table = 'hcore_unitofmeasurement_variables';
    const siteVariable = await withDb(site.url, async (db) => {
      await db.knex('hcore_variable').insert({ descr: 'site variable for a unit', descr_alt: '', last_modified: nowDatetime() });
      const v = await db.knex('hcore_variable').where({ descr: 'site variable for a unit' }).first();
      const unit = await db.knex('hcore_unitofmeasurement').where({ original_id: 1 }).first();
      await db.knex(table).insert({ unitofmeasurement_id: unit.id, variable_id: v.id });
      await db.knex('hcore_unitofmeasurement').where({ id: unit.id }).update({ last_modified: nowDatetime() });
      return v.id as number;
    });
    expect((await run()).conflicts).toBe(0);
    const links = await withDb(centre.url, async (db) => {
      const v = await db.knex('hcore_variable').where({ descr: 'site variable for a unit' }).first();
      expect(v.original_id).toBe(siteVariable);
      const rows = await db.knex(table).where({ unitofmeasurement_id: 1 }).orderBy('variable_id');
      expect(rows.map((r) => r.variable_id)).toContain(v.id);
      // The centre drops one of the unit's other links.
      const drop = rows.find((r) => r.variable_id !== v.id);
      await db.knex(table).where({ unitofmeasurement_id: 1, variable_id: drop.variable_id }).del();
      await db.knex('hcore_unitofmeasurement').where({ id: 1 }).update({ last_modified: nowDatetime() });
      return rows.length - 1;
    });
    expect((await run()).written).toBe(1);
    await withDb(site.url, async (db) => {
      const unit = await db.knex('hcore_unitofmeasurement').where({ original_id: 1 }).first();
      expect(await db.knex(table).where({ unitofmeasurement_id: unit.id })).toHaveLength(links);
    });
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0 });
  });

  it('a centre change made by hand without moving last_modified reaches the site with --full', async () => {
    await withDb(centre.url, async (db) => {
      // Nothing says it moved: neither its last_modified nor its base (as if both were long ago).
      await db.knex('hcore_variable').where({ id: 3 }).update({ descr_alt: 'changed by hand', last_modified: '2000-01-01 00:00:00' });
      await db.knex('remotesyncdb_base').where({ model: 'Variable', row_id: 3 }).update({ changed: '2000-01-01T00:00:00.000Z' });
    });
    expect((await run()).received).toBe(0);
    expect(await run({ full: true })).toMatchObject({ received: 1, written: 1 });
    await withDb(site.url, async (db) => expect((await db.knex('hcore_variable').where({ original_id: 3 }).first()).descr_alt).toBe('changed by hand'));
    expect(await run({ full: true })).toMatchObject({ sent: 0, received: 0, written: 0 });
  });

  it('deletes travel both ways', async () => {
    await withDb(site.url, async (db) => {
      const v = await db.knex('hcore_variable').where({ descr: 'Νέα μεταβλητή' }).first();
      await db.knex('hcore_variable').where({ id: v.id }).del();
    });
    const r = await run();
    expect(r.sent).toBe(1);
    await withDb(centre.url, async (db) => expect(await db.knex('hcore_variable').where({ descr: 'Νέα μεταβλητή' })).toHaveLength(0));
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0, deleted: 0 });
  });
});
