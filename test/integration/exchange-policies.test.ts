import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loaddata } from '../../src/admin/loaddata.js';
import { listConflicts, resolveConflict, showConflict } from '../../src/exchange/conflicts.js';
import { CONFLICT_TABLE } from '../../src/exchange/exchange-tables.js';
import { exchange, repair, type ExchangeOptions } from '../../src/exchange/exchange.js';
import { addSite } from '../../src/push/sites.js';
import { registerRemote } from '../../src/sync/registry.js';
import { serve, type ServeResult } from '../../src/server/serve.js';
import { nowDatetime } from '../../src/values/values.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { withDb } from '../helpers/inspect.js';

const dialects = await availableDialects();
const tmpdir = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));
const POLICIES = { Variable: 'field-merge', EventType: 'manual', StationType: 'site-wins', InstrumentType: 'centre-wins' };

describe.each(dialects)('exchange policies, deletes and repair with a centre on %s', (dialect) => {
  let site: TestDatabase;
  let other: TestDatabase;
  let centre: TestDatabase;
  let server: ServeResult;
  let token: string;
  let otherToken: string;
  let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
  let dropAcks = false;
  let cutFeeds = false;
  const workDir = tmpdir('rsdb-exchange-');
  const run = (extra: Partial<ExchangeOptions> = {}) =>
    exchange({ with: `http://127.0.0.1:${proxy.port}`, app: 'hcore', db: site.url, exclude: ['UserProfile'], token, workDir, http: { retryBaseMs: 20, attempts: 2 }, ...extra });
  const atSite = <T>(fn: (k: import('knex').Knex) => Promise<T>) => withDb(site.url, (db) => fn(db.knex));
  const atCentre = <T>(fn: (k: import('knex').Knex) => Promise<T>) => withDb(centre.url, (db) => fn(db.knex));
  /** The site's copy of centre row `id` of `table`. */
  const siteCopy = (table: string, id: number) => atSite((k) => k(table).where({ original_id: id }).whereNotNull('original_db_id').first());
  const conflictCount = () => atCentre(async (k) => Number((await k(CONFLICT_TABLE).count({ n: '*' }).first())!.n));

  beforeAll(async () => {
    site = await createDatabase('sqlite');
    other = await createDatabase('sqlite');
    centre = await createDatabase(dialect);
    await loaddata({ app: 'hcore', db: centre.url, files: [SAMPLE_FIXTURE] });
    token = (await addSite({ db: centre.url, app: 'hcore', name: 'laptop' })).token!;
    otherToken = (await addSite({ db: centre.url, app: 'hcore', name: 'other' })).token!;
    server = await serve({ app: 'hcore', db: centre.url, port: 0, acceptPush: true, policies: POLICIES });
    // The site reaches the centre through a proxy that can lose the answer to a feed's ack.
    proxy = await startFaultProxy(server.port, (req) => {
      if (dropAcks && req.method === 'POST' && req.path.startsWith('/api/exchange/ack')) return 'drop-answer';
      return cutFeeds && req.method === 'GET' && req.path.startsWith('/api/exchange/feed') ? 'cut-before' : 'pass';
    });
    await run();
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.close();
    await site?.drop();
    await other?.drop();
    await centre?.drop();
  });

  it('field-merge: edits to different columns of one row both survive, with a record', async () => {
    await atSite(async (k) => k('hcore_variable').where({ original_id: 1 }).update({ descr: 'site descr', last_modified: nowDatetime() }));
    await atCentre(async (k) => k('hcore_variable').where({ id: 1 }).update({ descr_alt: 'centre descr_alt', last_modified: nowDatetime() }));
    const before = await conflictCount();
    const r = await run();
    expect(r.conflicts).toBe(1);
    expect(await conflictCount()).toBe(before + 1);
    for (const row of [await siteCopy('hcore_variable', 1), await atCentre((k) => k('hcore_variable').where({ id: 1 }).first())]) {
      expect(row).toMatchObject({ descr: 'site descr', descr_alt: 'centre descr_alt' });
    }
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0, conflicts: 0 });
  });

  it('field-merge: a column changed on both sides falls back to home-wins (the centre here)', async () => {
    await atSite(async (k) => k('hcore_variable').where({ original_id: 2 }).update({ descr: 'site', descr_alt: 'site alt', last_modified: nowDatetime() }));
    await atCentre(async (k) => k('hcore_variable').where({ id: 2 }).update({ descr: 'centre', last_modified: nowDatetime() }));
    expect((await run()).conflicts).toBe(1);
    expect(await siteCopy('hcore_variable', 2)).toMatchObject({ descr: 'centre', descr_alt: 'site alt' });
  });

  it("site-wins and centre-wins", async () => {
    await atSite(async (k) => {
      await k('hcore_stationtype').where({ original_id: 1 }).update({ descr: 'site st', last_modified: nowDatetime() });
      await k('hcore_instrumenttype').where({ original_id: 1 }).update({ descr: 'site it', last_modified: nowDatetime() });
    });
    await atCentre(async (k) => {
      await k('hcore_stationtype').where({ id: 1 }).update({ descr: 'centre st', last_modified: nowDatetime() });
      await k('hcore_instrumenttype').where({ id: 1 }).update({ descr: 'centre it', last_modified: nowDatetime() });
    });
    expect((await run()).conflicts).toBe(2);
    expect((await atCentre((k) => k('hcore_stationtype').where({ id: 1 }).first())).descr).toBe('site st');
    expect((await siteCopy('hcore_instrumenttype', 1)).descr).toBe('centre it');
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0 });
  });

  it('manual: the row is held for the site until resolved, the rest syncs, and the resolution flows like an edit', async () => {
    await atSite(async (k) => {
      await k('hcore_eventtype').where({ original_id: 1 }).update({ descr: 'site ev', last_modified: nowDatetime() });
      await k('hcore_eventtype').where({ original_id: 2 }).update({ descr: 'site only', last_modified: nowDatetime() });
    });
    await atCentre(async (k) => k('hcore_eventtype').where({ id: 1 }).update({ descr: 'centre ev', last_modified: nowDatetime() }));
    expect((await run()).conflicts).toBe(1);
    expect((await siteCopy('hcore_eventtype', 1)).descr).toBe('site ev');
    expect((await atCentre((k) => k('hcore_eventtype').where({ id: 1 }).first())).descr).toBe('centre ev');
    expect((await atCentre((k) => k('hcore_eventtype').where({ id: 2 }).first())).descr).toBe('site only');
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0 });
    const [open] = await listConflicts({ db: centre.url, app: 'hcore', status: 'open' });
    expect(open).toMatchObject({ model: 'EventType', row: 1, decision: 'held', status: 'open', site: 'laptop' });
    expect((await showConflict({ db: centre.url, app: 'hcore', id: open.id })).siteVersion).toMatchObject({ descr: 'site ev' });
    await resolveConflict({ db: centre.url, app: 'hcore', id: open.id, take: 'site' });
    expect((await atCentre((k) => k('hcore_eventtype').where({ id: 1 }).first())).descr).toBe('site ev');
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0 });
    await expect(resolveConflict({ db: centre.url, app: 'hcore', id: open.id, take: 'centre' })).rejects.toThrow(/resolved/);
  });

  it('conflicts resolve --take FILE writes that version, and it reaches the site', async () => {
    await atSite(async (k) => k('hcore_eventtype').where({ original_id: 3 }).update({ descr: 'site 3', last_modified: nowDatetime() }));
    await atCentre(async (k) => k('hcore_eventtype').where({ id: 3 }).update({ descr: 'centre 3', last_modified: nowDatetime() }));
    await run();
    const [open] = await listConflicts({ db: centre.url, app: 'hcore', status: 'open' });
    const file = path.join(workDir, 'v.json');
    writeFileSync(file, JSON.stringify({ fields: { ...open.centreVersion, descr: 'agreed 3' } }));
    await resolveConflict({ db: centre.url, app: 'hcore', id: open.id, take: file });
    expect((await run()).written).toBe(1);
    expect((await siteCopy('hcore_eventtype', 3)).descr).toBe('agreed 3');
  });

  it("update against delete: the centre deletes its row the site changed; home-wins keeps the delete, the site's version in the record", async () => {
    await atSite(async (k) => k('hcore_filetype').where({ original_id: 4 }).update({ descr: 'site ft', last_modified: nowDatetime() }));
    await atCentre(async (k) => {
      await k('hcore_gentityfile').where({ file_type_id: 4 }).del();
      await k('hcore_filetype').where({ id: 4 }).del();
    });
    await atSite(async (k) => {
      const ft = await k('hcore_filetype').where({ original_id: 4 }).first();
      // The site's files of that type were the centre's too: they go with the centre's delete.
      expect(ft.descr).toBe('site ft');
    });
    const r = await run();
    expect(r.conflicts).toBe(1);
    const last = (await listConflicts({ db: centre.url, app: 'hcore' }))[0];
    expect(last).toMatchObject({ model: 'FileType', decision: 'centre', centreVersion: null, siteVersion: expect.objectContaining({ descr: 'site ft' }) });
    expect(await siteCopy('hcore_filetype', 4)).toBeUndefined();
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0, deleted: 0 });
  });

  it('delete against update: the site deletes a centre row the centre changed; home-wins keeps the row and gives it back to the site', async () => {
    const id = await atCentre(async (k) => {
      await k('hcore_timestep').insert({ descr: 'a new step', descr_alt: '', length_minutes: 5, length_months: 0, last_modified: nowDatetime() });
      return Number((await k('hcore_timestep').where({ descr: 'a new step' }).first()).id);
    });
    await run();
    expect(await siteCopy('hcore_timestep', id)).toBeDefined();
    await atSite(async (k) => k('hcore_timestep').where({ original_id: id }).whereNotNull('original_db_id').del());
    await atCentre(async (k) => k('hcore_timestep').where({ id }).update({ descr: 'centre ts', last_modified: nowDatetime() }));
    const r = await run();
    expect(r.conflicts).toBe(1);
    expect((await siteCopy('hcore_timestep', id)).descr).toBe('centre ts');
    expect((await listConflicts({ db: centre.url, app: 'hcore' }))[0]).toMatchObject({ model: 'TimeStep', siteVersion: null, decision: 'centre' });
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0, deleted: 0 });
  });

  it("a site's change to a pulled remote's row is recorded and not applied; the next feed gives the home's version back", async () => {
    const remoteId = await atCentre(async (k) => {
      const remote = await k.transaction((trx) => registerRemote(trx, 'dbsync_database', { hostname: 'upstream.example.org' }));
      await k('hcore_timezone').where({ id: 5 }).update({ original_db_id: remote.id, original_id: 50 });
      return remote.id;
    });
    expect(remoteId).toBeGreaterThan(0);
    await atSite(async (k) => k('hcore_timezone').where({ original_id: 5 }).update({ code: 'SITE', last_modified: nowDatetime() }));
    const r = await run();
    expect(r.conflicts).toBe(1);
    expect((await atCentre((k) => k('hcore_timezone').where({ id: 5 }).first())).code).not.toBe('SITE');
    expect((await siteCopy('hcore_timezone', 5)).code).not.toBe('SITE');
    expect((await listConflicts({ db: centre.url, app: 'hcore' }))[0]).toMatchObject({ model: 'TimeZone', home: 'remote upstream.example.org', decision: 'centre' });
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0 });
  });

  it('a row created at the centre, its ack lost and the feed sent again: one row at the site, no twin at the centre', async () => {
    await atCentre(async (k) => k('hcore_variable').insert({ descr: 'made at the centre', descr_alt: '', last_modified: nowDatetime() }));
    dropAcks = true;
    try {
      await expect(run()).rejects.toThrow(/ack|answer|socket|hang up/i);
    } finally {
      dropAcks = false;
    }
    expect(await atSite((k) => k('hcore_variable').where({ descr: 'made at the centre' }))).toHaveLength(1);
    // The ack waits at the site and goes first next time.
    expect(await atSite((k) => k('remotesyncdb_sent').where({ bundle_id: 'ack' }))).toHaveLength(1);
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0 });
    expect(await atSite((k) => k('remotesyncdb_sent').where({ bundle_id: 'ack' }))).toHaveLength(0);
    // The ack is lost for good (as if the site had never recorded it): the centre sends the row again.
    await atSite((k) => k('remotesyncdb_sent').where({ bundle_id: 'ack' }).del());
    await atCentre((k) => k('remotesyncdb_base').where({ model: 'Variable' }).del());
    const r = await run();
    expect(r.received).toBeGreaterThan(0);
    expect(r.written).toBe(0);
    expect(await atSite((k) => k('hcore_variable').where({ descr: 'made at the centre' }))).toHaveLength(1);
    expect(await atCentre((k) => k('hcore_variable').where({ descr: 'made at the centre' }))).toHaveLength(1);
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0 });
  });

  it('the feed lost after the push committed, then the site edits again: its newest edit is taken, no conflict', async () => {
    const setName = (name: string) => atSite((k) => k('hcore_gentity').where({ original_id: 7 }).update({ name, last_modified: nowDatetime() }));
    await setName('site edit A');
    cutFeeds = true;
    try {
      await expect(run()).rejects.toThrow();
    } finally {
      cutFeeds = false;
    }
    expect((await atCentre((k) => k('hcore_gentity').where({ id: 7 }).first())).name).toBe('site edit A');
    await setName('site edit B');
    const before = await conflictCount();
    expect(await run()).toMatchObject({ conflicts: 0, writtenAtCentre: 1 });
    expect(await conflictCount()).toBe(before);
    expect((await atCentre((k) => k('hcore_gentity').where({ id: 7 }).first())).name).toBe('site edit B');
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0 });
  });

  it('a centre delete the site cannot apply (its new row uses it): a conflict record, the site keeps the row as its own, both converge', async () => {
    await atCentre((k) => k('hcore_variable').insert({ descr: 'to retire', descr_alt: '', last_modified: nowDatetime() }));
    await run();
    const vid = await atCentre(async (k) => {
      const v = await k('hcore_variable').where({ descr: 'to retire' }).first();
      await k('hcore_variable').where({ id: v.id }).del();
      return Number(v.id);
    });
    await atSite(async (k) => {
      const v = await k('hcore_variable').where({ original_id: vid }).whereNotNull('original_db_id').first();
      const { id: _id, original_id: _oi, original_db_id: _od, ...rest } = await k('hcore_timeseries').first();
      await k('hcore_timeseries').insert({ ...rest, name: 'uses the retired variable', variable_id: v.id, last_modified: nowDatetime() });
    });
    const before = await conflictCount();
    for (let i = 0; i < 3; i++) await run();
    expect(await conflictCount()).toBe(before + 1);
    expect((await listConflicts({ db: centre.url, app: 'hcore' }))[0]).toMatchObject({ model: 'Variable', decision: 'site', reason: expect.stringMatching(/cannot delete it/) });
    const ts = await atCentre((k) => k('hcore_timeseries').where({ name: 'uses the retired variable' }).first());
    expect(ts).toBeDefined();
    expect((await atCentre((k) => k('hcore_variable').where({ id: ts.variable_id }).first())).descr).toBe('to retire');
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0, deleted: 0 });
  });

  it("conflicts resolve --take centre on a row the site's version brought back deletes it at the centre and then at the site", async () => {
    await atSite((k) => k('hcore_variable').insert({ descr: 'sv', descr_alt: '', last_modified: nowDatetime() }));
    await run();
    await atCentre((k) => k('hcore_variable').where({ descr: 'sv' }).del());
    await atSite((k) => k('hcore_variable').where({ descr: 'sv' }).update({ descr_alt: 'edited at site', last_modified: nowDatetime() }));
    expect((await run()).conflicts).toBe(1);
    const [c] = await listConflicts({ db: centre.url, app: 'hcore' });
    expect(c).toMatchObject({ model: 'Variable', decision: 'site', centreVersion: null });
    expect(c.row).not.toBeNull();
    await resolveConflict({ db: centre.url, app: 'hcore', id: c.id, take: 'centre' });
    expect(await atCentre((k) => k('hcore_variable').where({ descr: 'sv' }))).toHaveLength(0);
    await run();
    expect(await atSite((k) => k('hcore_variable').where({ descr: 'sv' }))).toHaveLength(0);
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0, deleted: 0 });
  });

  it('repair: unsent changes in the named file, the centre state taken, own rows re-sent, the next exchange a no-op, another site untouched', async () => {
    const otherRun = () => exchange({ with: `http://127.0.0.1:${server.port}`, app: 'hcore', db: other.url, exclude: ['UserProfile'], token: otherToken, workDir, http: { retryBaseMs: 20 } });
    await otherRun();
    await withDb(other.url, (db) => db.knex('hcore_variable').insert({ descr: 'of the other site', descr_alt: '', last_modified: nowDatetime() }));
    await otherRun();
    const otherRows = () => atCentre((k) => k('hcore_variable').join('dbsync_database as d', 'd.id', 'hcore_variable.original_db_id').where('d.name', 'other').select('hcore_variable.*'));
    const otherBefore = await otherRows();
    // A row held for this site by a manual conflict stays as the site has it through the repair.
    await atSite((k) => k('hcore_eventtype').where({ original_id: 4 }).update({ descr: 'held at the site', last_modified: nowDatetime() }));
    await atCentre((k) => k('hcore_eventtype').where({ id: 4 }).update({ descr: 'held at the centre', last_modified: nowDatetime() }));
    await run();
    const held = (await listConflicts({ db: centre.url, app: 'hcore', status: 'open' })).filter((c) => c.model === 'EventType' && c.row === 4);
    expect(held).toHaveLength(1);
    await atSite(async (k) => {
      await k('hcore_variable').where({ original_id: 3 }).update({ descr: 'unsent edit', last_modified: nowDatetime() });
      await k('hcore_variable').insert({ descr: 'unsent new row', descr_alt: '', last_modified: nowDatetime() });
    });
    const r = await repair({ with: `http://127.0.0.1:${proxy.port}`, app: 'hcore', db: site.url, exclude: ['UserProfile'], token, workDir, http: { retryBaseMs: 20 } });
    expect(r.unsentFile).toBeDefined();
    const unsent = JSON.parse(readFileSync(r.unsentFile!, 'utf8')) as Array<{ fields?: { descr?: string } }>;
    expect(unsent.map((o) => o.fields?.descr)).toEqual(expect.arrayContaining(['unsent edit', 'unsent new row']));
    // The centre's state replaced the unsent edit of its row; the site's own new row went up.
    expect((await siteCopy('hcore_variable', 3)).descr).not.toBe('unsent edit');
    expect(await atCentre((k) => k('hcore_variable').where({ descr: 'unsent new row' }))).toHaveLength(1);
    expect(await run()).toMatchObject({ sent: 0, received: 0, written: 0, deleted: 0 });
    expect(await otherRows()).toEqual(otherBefore);
    expect((await siteCopy('hcore_eventtype', 4)).descr).toBe('held at the site');
    expect((await listConflicts({ db: centre.url, app: 'hcore', status: 'open' })).filter((c) => c.model === 'EventType' && c.row === 4)).toHaveLength(1);
  });
});
