import { targetDirName } from '../../src/sources/target-identity.js';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loaddata } from '../../src/admin/loaddata.js';
import { restore } from '../../src/backup/restore.js';
import { ModelInstallError } from '../../src/errors.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { sync } from '../../src/sync/sync.js';
import { nowDatetime } from '../../src/values/values.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';
import { assertIsomorphic, tableDigests, withDb } from '../helpers/inspect.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';

const manifest = loadManifest('hcore');
const dialects = await availableDialects();
const sample = JSON.parse(readFileSync(SAMPLE_FIXTURE, 'utf8')) as Array<{ model: string; pk: number; fields: Record<string, unknown> }>;
const tmp = (p: string) => mkdtempSync(path.join(os.tmpdir(), p));

/** The sample with every pk shifted: the same objects as another instance would number them. */
function shifted(offset: number): string {
  const byKey = new Map([...manifest.models.values()].map((m) => [`hcore.${m.name.toLowerCase()}`, m]));
  const objects = sample.map((o) => {
    const model = byKey.get(o.model)!;
    const fields = { ...o.fields };
    for (const fk of model.fks) if (typeof fields[fk.name] === 'number') fields[fk.name] = (fields[fk.name] as number) + offset;
    for (const m2m of model.m2m) if (Array.isArray(fields[m2m.name])) fields[m2m.name] = (fields[m2m.name] as number[]).map((t) => t + offset);
    return { ...o, pk: o.pk + offset, fields };
  });
  const file = path.join(tmp('rsdb-shift-'), 'sample.json');
  writeFileSync(file, JSON.stringify(objects));
  return file;
}

describe.each(dialects)('natural keys into %s', (dialect) => {
  const remotes: TestInstance[] = [];
  let target: TestDatabase;
  beforeAll(async () => {
    for (const offset of [0, 1000, 5000]) remotes.push(await startInstance({ files: [offset ? shifted(offset) : SAMPLE_FIXTURE] }));
    target = await createDatabase(dialect);
  });
  afterAll(async () => {
    for (const r of remotes) await r.close();
    await target?.drop();
  });
  const run = (r: TestInstance, extra: Partial<Parameters<typeof sync>[0]> = {}) =>
    sync({ app: 'hcore', remote: '127.0.0.1', port: r.port, exclude: ['UserProfile'], db: target.url, workDir: tmp('rsdb-nk-'), noBackups: true, ...extra });

  it('three remotes with the same lookups under other pks give one row per lookup, and every link is right', async () => {
    for (const r of remotes) await run(r);
    const lookupModels = [...manifest.models.values()].filter((m) => m.naturalKey);
    await withDb(target.url, async (db) => {
      for (const model of lookupModels) {
        const rows = Number((await db.knex(model.table).count({ n: '*' }))[0].n);
        expect(rows, model.name).toBe(sample.filter((o) => o.model === `hcore.${model.name.toLowerCase()}`).length);
      }
      // Non-lookups are per remote.
      expect(Number((await db.knex('hcore_station').count({ n: '*' }))[0].n)).toBe(90);
      const claims = Number((await db.knex('remotesyncdb_idmap').count({ n: '*' }))[0].n);
      expect(claims).toBe(2 * lookupModels.reduce((n, m) => n + sample.filter((o) => o.model === `hcore.${m.name.toLowerCase()}`).length, 0));
    });
    for (const r of remotes) await assertIsomorphic(r.db.url, target.url, manifest, `127.0.0.1:${r.port}`);
    // A timeseries of the third remote points at the one shared Variable row of its descr.
    await withDb(target.url, async (db) => {
      const ts = await db.knex('hcore_timeseries').join(manifest.registry, `${manifest.registry}.id`, 'hcore_timeseries.original_db_id').where(`${manifest.registry}.hostname`, `127.0.0.1:${remotes[2].port}`).first('hcore_timeseries.*');
      const variable = await db.knex('hcore_variable').where({ id: ts.variable_id }).first();
      const original = sample.find((o) => o.model === 'hcore.timeseries' && o.pk === ts.original_id - 5000)!;
      expect(variable.descr).toBe(sample.find((o) => o.model === 'hcore.variable' && o.pk === original.fields.variable)!.fields.descr);
    });
  });

  it('keeps the local values by default when a matched row disagrees, and lists the disagreement', async () => {
    await withDb(remotes[1].db.url, (db) => db.knex('hcore_variable').where({ id: 1001 }).update({ descr_alt: 'changed on the second remote', last_modified: nowDatetime() }));
    const result = await run(remotes[1]);
    expect(result.disagreements).toEqual([expect.objectContaining({ model: 'Variable', pk: 1001, fields: ['descr_alt'], resolution: 'kept-local' })]);
    const row = await withDb(target.url, (db) => db.knex('hcore_variable').where({ id: result.disagreements![0].localId }).first());
    expect(row.descr_alt).not.toBe('changed on the second remote');
  });

  it('a backup taken while other remotes hold claims restores to the same tables', async () => {
    const dir = tmp('rsdb-nkb-');
    const before = await tableDigests(target.url, manifest);
    await withDb(remotes[2].db.url, (db) => db.knex('hcore_gentity').where({ id: 5001 }).update({ name: 'to be undone', last_modified: nowDatetime() }));
    await sync({ app: 'hcore', remote: '127.0.0.1', port: remotes[2].port, exclude: ['UserProfile'], db: target.url, workDir: dir });
    const backups = path.join(dir, targetDirName(target.url), `127.0.0.1_${remotes[2].port}`, 'hcore', 'backups');
    await restore({ file: path.join(backups, readdirSync(backups)[0]), db: target.url });
    const { remotesyncdb_remote: _a, ...after } = await tableDigests(target.url, manifest);
    const { remotesyncdb_remote: _b, ...was } = before;
    expect(after).toEqual(was);
  });

  it('never matches within one remote, nor on an empty key', async () => {
    const dir = tmp('rsdb-nk1-');
    const file = path.join(dir, 'v.json');
    writeFileSync(file, JSON.stringify([
      { model: 'hcore.variable', pk: 1, fields: { descr: 'Διπλό', descr_alt: '' } },
      { model: 'hcore.variable', pk: 2, fields: { descr: 'Διπλό', descr_alt: '' } },
      { model: 'hcore.variable', pk: 3, fields: { descr: '', descr_alt: '' } },
      { model: 'hcore.variable', pk: 4, fields: { descr: '', descr_alt: '' } },
    ]));
    const source = await startInstance({ files: [file] });
    const fresh = await createDatabase(dialect);
    try {
      const local = path.join(dir, 'local.json');
      writeFileSync(local, JSON.stringify([
        { model: 'hcore.variable', pk: 1, fields: { descr: 'Διπλό', descr_alt: '' } },
        { model: 'hcore.variable', pk: 2, fields: { descr: '', descr_alt: '' } },
        { model: 'hcore.variable', pk: 3, fields: { descr: '', descr_alt: '' } },
      ]));
      await loaddata({ app: 'hcore', db: fresh.url, files: [local] });
      const result = await sync({ app: 'hcore', remote: '127.0.0.1', port: source.port, db: fresh.url, workDir: dir, exclude: [...manifest.models.keys()].filter((m) => m !== 'Variable') });
      const counts = result.models.find((m) => m.model === 'Variable')!;
      // pk 1 matches the local "Διπλό" row; pk 2 may not claim it again (same remote); empty keys never match.
      expect(counts.inserted).toBe(3);
      expect(await withDb(fresh.url, async (db) => Number((await db.knex('hcore_variable').count({ n: '*' }))[0].n))).toBe(6);
    } finally {
      await source.close();
      await fresh.drop();
    }
  });

  it('take-remote rewrites another remote\'s row but never a local-only one; error fails naming the disagreement', async () => {
    const dir = tmp('rsdb-nk2-');
    const app = JSON.parse(readFileSync(manifest.source, 'utf8'));
    app.models.Variable.naturalKeyPolicy = 'take-remote';
    const takeRemote = path.join(dir, 'take-remote.json');
    writeFileSync(takeRemote, JSON.stringify(app));
    app.models.Variable.naturalKeyPolicy = 'error';
    const strict = path.join(dir, 'strict.json');
    writeFileSync(strict, JSON.stringify(app));
    const only = [...manifest.models.keys()].filter((m) => m !== 'Variable');
    const fresh = await createDatabase(dialect);
    const local = path.join(dir, 'local.json');
    writeFileSync(local, JSON.stringify([{ model: 'hcore.variable', pk: 1, fields: { descr: 'Τοπική', descr_alt: 'local value' } }]));
    const remoteFile = path.join(dir, 'remote.json');
    writeFileSync(remoteFile, JSON.stringify([
      { model: 'hcore.variable', pk: 7, fields: { descr: 'Τοπική', descr_alt: 'remote value' } },
      { model: 'hcore.variable', pk: 8, fields: { descr: 'Κοινή', descr_alt: 'first remote' } },
    ]));
    const other = path.join(dir, 'other.json');
    writeFileSync(other, JSON.stringify([{ model: 'hcore.variable', pk: 3, fields: { descr: 'Κοινή', descr_alt: 'second remote' } }]));
    const a = await startInstance({ files: [remoteFile] });
    const b = await startInstance({ files: [other] });
    try {
      await loaddata({ app: 'hcore', db: fresh.url, files: [local] });
      const first = await sync({ app: takeRemote, remote: '127.0.0.1', port: a.port, db: fresh.url, workDir: dir, exclude: only });
      expect(first.disagreements).toEqual([expect.objectContaining({ pk: 7, resolution: 'kept-local' })]);
      await sync({ app: takeRemote, remote: '127.0.0.1', port: b.port, db: fresh.url, workDir: dir, exclude: only });
      await withDb(fresh.url, async (db) => {
        expect((await db.knex('hcore_variable').where({ descr: 'Τοπική' }).first()).descr_alt).toBe('local value');
        expect((await db.knex('hcore_variable').where({ descr: 'Κοινή' }).first()).descr_alt).toBe('second remote');
      });
      const error = await sync({ app: strict, remote: '127.0.0.1', port: a.port, db: fresh.url, workDir: dir, exclude: only, full: true }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ModelInstallError);
      expect((error as Error).message).toMatch(/Variable pk=\d: descr_alt disagrees with the local row \d+ it matches by natural key/);
    } finally {
      await a.close();
      await b.close();
      await fresh.drop();
    }
  });
});

describe.each(dialects)('--prune into %s', (dialect) => {
  it('deletes what the remote deleted only with --prune, keeps claimed rows, clears local nullable links and refuses NOT NULL ones', async () => {
    const source = await startInstance({ files: [SAMPLE_FIXTURE] });
    const target = await createDatabase(dialect);
    const dir = tmp('rsdb-prune-');
    const run = (extra: Partial<Parameters<typeof sync>[0]> = {}) => sync({ app: 'hcore', remote: '127.0.0.1', port: source.port, exclude: ['UserProfile'], db: target.url, workDir: dir, noBackups: true, ...extra });
    try {
      await run();
      // The remote deletes a station with everything that hangs on it, and a variable.
      const gone = await withDb(source.db.url, async (db) => {
        const station = 4;
        const instruments = (await db.knex('hcore_instrument').where({ station_id: station })).map((r) => r.id);
        await db.knex('hcore_timeseries').whereIn('instrument_id', instruments).orWhere({ gentity_id: station }).del();
        for (const t of ['hcore_overseer', 'hcore_instrument']) await db.knex(t).where({ station_id: station }).del();
        for (const t of ['hcore_gentityaltcode', 'hcore_gentityfile', 'hcore_gentityevent']) await db.knex(t).where({ gentity_id: station }).del();
        await db.knex('hcore_gline').where({ gpoint1_id: station }).update({ gpoint1_id: null });
        await db.knex('hcore_gline').where({ gpoint2_id: station }).update({ gpoint2_id: null });
        await db.knex('hcore_station').where({ gpoint_ptr_id: station }).del();
        await db.knex('hcore_gpoint').where({ gentity_ptr_id: station }).del();
        await db.knex('hcore_gentity').where({ id: station }).del();
        return station;
      });
      const localStation = await withDb(target.url, async (db) => (await db.knex('hcore_gentity').where({ original_id: gone }).first()).id as number);
      // Local data points at it: a nullable link (cleared by the prune) ...
      const localGline = await withDb(target.url, async (db) => {
        const [g] = await db.knex('hcore_gentity').insert({ name: 'local line', short_name: '', remarks: '', name_alt: '', short_name_alt: '', remarks_alt: '' }).returning('id');
        const id = typeof g === 'object' ? g.id : g;
        await db.knex('hcore_gline').insert({ gentity_ptr_id: id, length: 1, gpoint1_id: localStation, gpoint2_id: null });
        return Number(id);
      });
      // Without --prune nothing is deleted.
      const plain = await run({ full: true });
      expect(plain.models.every((m) => m.deleted === 0)).toBe(true);
      expect(await withDb(target.url, (db) => db.knex('hcore_station').where({ gpoint_ptr_id: localStation }).first())).toBeTruthy();
      // --dry-run counts, writes nothing.
      const dry = await run({ prune: true, dryRun: true });
      expect(dry.models.find((m) => m.model === 'Station')!.deleted).toBe(1);
      expect(await withDb(target.url, (db) => db.knex('hcore_station').where({ gpoint_ptr_id: localStation }).first())).toBeTruthy();
      // A NOT NULL local link blocks the prune, and nothing is written.
      const blocker = await withDb(target.url, async (db) => {
        const [e] = await db.knex('hcore_gentityevent').insert({ gentity_id: localStation, type_id: (await db.knex('hcore_eventtype').first()).id, date: '2020-01-01', user: 'local', report: '', report_alt: '' }).returning('id');
        return Number(typeof e === 'object' ? e.id : e);
      });
      const refused = await run({ prune: true }).catch((e: unknown) => e);
      expect((refused as Error).message).toMatch(/--prune cannot delete Gentity local id \d+: GentityEvent local id \d+ still refers to it through its NOT NULL gentity/);
      await withDb(target.url, (db) => db.knex('hcore_gentityevent').where({ id: blocker }).del());
      const pruned = await run({ prune: true });
      const counts = Object.fromEntries(pruned.models.map((m) => [m.model, m.deleted]));
      expect(counts.Station).toBe(1);
      expect(counts.Gentity).toBe(1);
      await withDb(target.url, async (db) => {
        expect(await db.knex('hcore_gentity').where({ id: localStation }).first()).toBeUndefined();
        expect((await db.knex('hcore_gline').where({ gentity_ptr_id: localGline }).first()).gpoint1_id).toBeNull();
      });
      await assertIsomorphic(source.db.url, target.url, manifest, `127.0.0.1:${source.port}`);
    } finally {
      await source.close();
      await target.drop();
    }
  });
});
