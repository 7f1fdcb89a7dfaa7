import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { ConfigError, RemoteSyncError } from '../../src/errors.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../../src/schema/app-tables.js';
import type { SyncEvent } from '../../src/sync/events.js';
import { sync, type SyncOptions } from '../../src/sync/sync.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';
import { tableDigests, withDb } from '../helpers/inspect.js';
import { splitByModel, startStaticRemote, type StaticRemote } from '../helpers/static-remote.js';

/**
 * A corpus of bad payloads a remote could send. Each one must end in a clear error (exit 1
 * unless noted) that names the remote, the model and, where there is one, the pk and field,
 * with every app table and the registry exactly as they were; or, where the contract says
 * so, be ignored with a warning.
 */
const dialects = await availableDialects();
const manifest = loadManifest('hcore');
const served = [...manifest.models.values()].filter((m) => !m.isPrivate).map((m) => m.name);
type FixtureObject = { model: string; pk: unknown; fields: Record<string, unknown> };
const sample = JSON.parse(readFileSync(SAMPLE_FIXTURE, 'utf8')) as FixtureObject[];
const SAMPLE = splitByModel(sample, served) as Record<string, FixtureObject[]>;
const SAMPLE_OBJECTS = 461;
const tmpdir = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

/** The sample objects of a model, deep-copied, with `edit` applied to the one of pk `pk`. */
function edited(model: string, pk: number, edit: (o: FixtureObject) => void): FixtureObject[] {
  const copy = structuredClone(SAMPLE[model]);
  const object = copy.find((o) => o.pk === pk);
  if (!object) throw new Error(`no ${model} pk=${pk} in the sample`);
  edit(object);
  return copy;
}

/** A good change in the FIRST model of the plan, so that every failure has something to roll back. */
const GOOD_CHANGE = { Lentity: edited('Lentity', 1, (o) => { o.fields.remarks = 'changed before the failure'; }) };

interface Expected {
  /** Texts the message must contain besides the remote. */
  says: Array<string | RegExp>;
  meta?: Record<string, unknown>;
  exitCode?: number;
}

/**
 * One sync against `remote` serving the sample with `bodies` over it: expect it to fail as
 * `expected`, with the target exactly as before; the remote serves the sample again afterwards.
 */
async function expectRejected(target: TestDatabase, remote: StaticRemote, workDir: string, bodies: Record<string, unknown>, expected: Expected, options: Partial<SyncOptions> = {}): Promise<RemoteSyncError> {
  const before = await tableDigests(target.url, manifest);
  for (const [model, body] of Object.entries({ ...GOOD_CHANGE, ...bodies })) remote.set(model, body);
  let error: unknown;
  try {
    error = await sync({ app: 'hcore', remote: `127.0.0.1:${remote.port}`, exclude: ['UserProfile'], db: target.url, workDir, noBackups: true, ...options }).then(
      (r) => new Error(`expected a failure, the sync succeeded: ${JSON.stringify(r.models.filter((m) => m.inserted + m.updated > 0))}`),
      (e: unknown) => e,
    );
  } finally {
    for (const model of Object.keys({ ...GOOD_CHANGE, ...bodies })) remote.set(model, SAMPLE[model] ?? []);
  }
  expect(error, String(error)).toBeInstanceOf(RemoteSyncError);
  const e = error as RemoteSyncError;
  expect(e.exitCode, e.message).toBe(expected.exitCode ?? 1);
  expect(e.message).toContain(`127.0.0.1:${remote.port}`);
  for (const text of expected.says) {
    if (typeof text === 'string') expect(e.message).toContain(text);
    else expect(e.message).toMatch(text);
  }
  if (expected.meta) expect(e.meta).toMatchObject({ remote: `127.0.0.1:${remote.port}`, ...expected.meta });
  expect(await tableDigests(target.url, manifest)).toEqual(before);
  return e;
}

describe('bad payloads into sqlite', () => {
  let remote: StaticRemote;
  let target: TestDatabase;
  const workDir = tmpdir('rsdb-payloads-');
  const hostname = () => `127.0.0.1:${remote.port}`;
  const rejected = (bodies: Record<string, unknown>, expected: Expected, options: Partial<SyncOptions> = {}) => expectRejected(target, remote, workDir, bodies, expected, options);
  const run = (options: Partial<SyncOptions> = {}) => sync({ app: 'hcore', remote: hostname(), exclude: ['UserProfile'], db: target.url, workDir, noBackups: true, ...options });

  beforeAll(async () => {
    remote = await startStaticRemote('hcore', served, SAMPLE);
    target = await createDatabase('sqlite');
    // One good run: the tables exist and hold this remote's rows, which a bad run may update.
    const warnings: SyncEvent[] = [];
    const result = await run({ emit: (e) => e.type === 'warning' && warnings.push(e) });
    expect(result.objects).toBe(SAMPLE_OBJECTS);
    // The sample's own original_id/original_db/last_modified keys are dropped silently.
    expect(warnings).toEqual([]);
  });
  afterAll(async () => {
    await remote?.close();
    await target?.drop();
  });

  it('the good change used by every case is installed on its own (so each failure has a write to undo)', async () => {
    remote.set('Lentity', GOOD_CHANGE.Lentity);
    try {
      expect((await run()).models.find((m) => m.model === 'Lentity')!.updated).toBe(1);
    } finally {
      remote.set('Lentity', SAMPLE.Lentity);
    }
    expect((await run()).models.find((m) => m.model === 'Lentity')!.updated).toBe(1);
  });

  describe('malformed JSON', () => {
    const broken = () => `[${JSON.stringify(SAMPLE.Variable[0])}, {"model": "hcore.variable", "pk": 2, "fields": {"descr": "x", "descr_alt": "y",}}]`;

    it('inside an object: the run fails and every table is as it was', async () => {
      const before = await tableDigests(target.url, manifest);
      for (const [model, body] of Object.entries({ ...GOOD_CHANGE, Variable: broken() })) remote.set(model, body);
      try {
        await expect(run()).rejects.toThrow(/object #2/);
      } finally {
        remote.set('Lentity', SAMPLE.Lentity);
        remote.set('Variable', SAMPLE.Variable);
      }
      expect(await tableDigests(target.url, manifest)).toEqual(before);
    });

    // Regression, fixed: a syntax error inside one object passes the fetch (the splitter checks only the
    // array's structure) and is found by JSON.parse during the install (parseFixture), which
    // throws a bare FixtureSyntaxError "object #2: Expected double-quoted property name in JSON
    // at position 79": not a RemoteSyncError (no code, no meta), and the message names neither
    // the remote nor the model (the CLI prints exactly that, exit 1 by the fallback).
    it('inside an object: the error names remote, model and the object', async () => {
      await rejected({ Variable: broken() }, { says: ['Variable', /object #2|pk=2/], meta: { model: 'Variable' } });
    });

    // Regression, fixed: with --skip the same object fails the whole run (findRejects only catches
    // ObjectProblem and ModelInstallError, and the FixtureSyntaxError escapes), whereas DESIGN
    // §6 says an object that cannot be installed is rejected and listed; RejectSet already
    // handles objects without a usable pk ("(no pk)"), as it does for a pk "abc".
    it('inside an object, with --skip: listed as rejected, the rest committed', async () => {
      const fresh = await createDatabase('sqlite');
      remote.set('Variable', broken());
      try {
        const result = await sync({ app: 'hcore', remote: hostname(), exclude: ['UserProfile'], db: fresh.url, workDir: tmpdir('rsdb-skip-'), noBackups: true, skip: true });
        expect(readFileSync(result.rejectsFile!, 'utf8')).toMatch(/Variable \(no pk\): .*object #2/);
        expect(result.models.find((m) => m.model === 'Variable')).toMatchObject({ inserted: 1, skipped: 1 });
      } finally {
        remote.set('Variable', SAMPLE.Variable);
        await fresh.drop();
      }
    });

    it('two objects without a comma between them: refused at fetch time, not retried into an install', async () => {
      const [a, b] = SAMPLE.Variable.map((o) => JSON.stringify(o));
      await rejected({ Variable: `[${a} ${b}]` }, { says: ['Variable', 'not a JSON array of objects', 'expected "," or "]"'], meta: { model: 'Variable' } });
    });

    it('an object where the array should be', async () => {
      await rejected({ Variable: JSON.stringify(SAMPLE.Variable[0]) }, { says: ['Variable', 'expected a JSON array'], meta: { model: 'Variable' } });
    });

    it('an empty body', async () => {
      await rejected({ Variable: '' }, { says: ['Variable', 'empty body'], meta: { model: 'Variable' } });
    });
  });

  describe('objects of the wrong model', () => {
    it('another model of the app (hcore.station in the Variable fixture)', async () => {
      const body = structuredClone(SAMPLE.Variable);
      body[2] = { ...structuredClone(SAMPLE.Station[0]), pk: 3 };
      await rejected({ Variable: body }, { says: ['Variable', 'object #3', '"hcore.station"', 'expected "hcore.variable"'], meta: { model: 'Variable' } });
    });

    it('a model not in the manifest (auth.user)', async () => {
      const body = [...structuredClone(SAMPLE.Variable), { model: 'auth.user', pk: 1, fields: { username: 'admin', password: 'pbkdf2_sha256$...' } }];
      await rejected({ Variable: body }, { says: ['Variable', '"auth.user"'], meta: { model: 'Variable' } });
    });

    it('an object without "model" or with a non-object "fields"', async () => {
      await rejected({ TimeZone: [{ pk: 1, fields: { code: 'EET', utc_offset: 120 } }] }, { says: ['TimeZone', '"model" is undefined'], meta: { model: 'TimeZone' } });
      await rejected({ TimeZone: [{ model: 'hcore.timezone', pk: 1, fields: ['EET', 120] }] }, { says: ['TimeZone', 'pk=1', '"fields" is not an object'], meta: { model: 'TimeZone', pk: 1 } });
    });
  });

  describe('names built to break paths or SQL', () => {
    it('a field name with SQL in it is ignored with one warning, and the table is still there', async () => {
      const evil = "descr'; DROP TABLE hcore_variable; --";
      const body = structuredClone(SAMPLE.Variable);
      body[0].fields = { ...body[0].fields, descr: 'x', [evil]: 1 };
      body[1].fields = { ...body[1].fields, [evil]: 2 };
      remote.set('Variable', body);
      const warnings: string[] = [];
      try {
        await run({ emit: (e) => e.type === 'warning' && warnings.push(e.message) });
      } finally {
        remote.set('Variable', SAMPLE.Variable);
      }
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(hostname());
      expect(warnings[0]).toContain('Variable');
      expect(warnings[0]).toContain(evil);
      await withDb(target.url, async (db) => {
        expect(await db.knex.schema.hasTable('hcore_variable')).toBe(true);
        const registry = await db.knex(manifest.registry).where({ hostname: hostname() }).first();
        const row = await db.knex('hcore_variable').where({ [ORIGINAL_DB]: registry.id, [ORIGINAL_ID]: body[0].pk }).first();
        expect(row.descr).toBe('x');
        expect(Object.keys(row)).not.toContain(evil);
      });
      // And the next run puts the remote's real value back.
      expect((await run()).models.find((m) => m.model === 'Variable')!.updated).toBe(1);
    });

    it('-e with a path in it is a configuration error (exit 2) before any database access', async () => {
      const dir = tmpdir('rsdb-evil-');
      const db = path.join(dir, 'never.sqlite');
      const error = await sync({ app: 'hcore', remote: hostname(), exclude: ['../../etc'], db, workDir: dir }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).exitCode).toBe(2);
      expect((error as Error).message).toContain('unknown model(s) ../../etc');
      expect(existsSync(db)).toBe(false);
      expect(existsSync(path.join(dir, `127.0.0.1_${remote.port}`))).toBe(false);
    });

    it('a model name with a path in it, advertised by the remote, is never fetched nor used', async () => {
      const evil = await startStaticRemote('hcore', [...served, '../../etc', 'Variable/../../../x'], SAMPLE);
      const dir = tmpdir('rsdb-evil-');
      try {
        const result = await sync({ app: 'hcore', remote: `127.0.0.1:${evil.port}`, exclude: ['UserProfile'], db: target.url, workDir: dir, noBackups: true });
        expect(result.models.map((m) => m.model).sort()).toEqual([...served].sort());
        expect(existsSync(path.join(dir, 'etc'))).toBe(false);
        expect(existsSync(path.join(dir, 'x.json'))).toBe(false);
      } finally {
        await evil.close();
      }
    });
  });

  it('unknown fields are ignored with exactly one warning per model and field, across batches', async () => {
    // More Variables than one INSERT batch holds (1000), every one with two unknown fields.
    const variables: FixtureObject[] = structuredClone(SAMPLE.Variable).map((o) => ({ ...o, fields: { ...o.fields, colour: 'red', size: 3 } }));
    for (let pk = 1000; pk < 2200; pk++) variables.push({ model: 'hcore.variable', pk, fields: { descr: `v${pk}`, descr_alt: '', colour: 'red', size: pk } });
    const units = structuredClone(SAMPLE.UnitOfMeasurement).map((o) => ({ ...o, fields: { ...o.fields, colour: 'blue', __proto__: { descr: 'polluted' } } }));
    // JSON text, so "__proto__" arrives as an own key, as it would from a remote.
    const unitsText = JSON.stringify(units).replace(/"colour":"blue"/g, '"colour":"blue","__proto__":{"descr":"polluted"}');
    remote.set('Variable', variables);
    remote.set('UnitOfMeasurement', unitsText);
    const warnings: string[] = [];
    let result;
    try {
      result = await run({ emit: (e) => e.type === 'warning' && warnings.push(e.message) });
    } finally {
      remote.set('Variable', SAMPLE.Variable);
      remote.set('UnitOfMeasurement', SAMPLE.UnitOfMeasurement);
    }
    expect(result.models.find((m) => m.model === 'Variable')!.inserted).toBe(1200);
    expect(warnings.sort()).toEqual([
      `${hostname()}: UnitOfMeasurement: ignoring field "__proto__", which the manifest does not declare`,
      `${hostname()}: UnitOfMeasurement: ignoring field "colour", which the manifest does not declare`,
      `${hostname()}: Variable: ignoring field "colour", which the manifest does not declare`,
      `${hostname()}: Variable: ignoring field "size", which the manifest does not declare`,
    ]);
    expect(({} as Record<string, unknown>).descr).toBeUndefined();
    expect(await withDb(target.url, async (db) => (await db.knex('hcore_unitofmeasurement').where({ descr: 'polluted' })).length)).toBe(0);
  });

  describe('values of the wrong type', () => {
    it('a number for a string (Variable descr: 42)', async () => {
      await rejected({ Variable: edited('Variable', 7, (o) => { o.fields.descr = 42; }) }, { says: ['Variable pk=7: descr expects a string, got 42'], meta: { model: 'Variable', pk: 7, field: 'descr' } });
    });

    it('a string for a boolean (Station is_active: "yes")', async () => {
      await rejected({ Station: edited('Station', 11, (o) => { o.fields.is_active = 'yes'; }) }, { says: ['Station pk=11: is_active expects true or false, got "yes"'], meta: { model: 'Station', pk: 11, field: 'is_active' } });
    });

    it('text for an integer (TimeZone utc_offset: "abc"), and a fraction', async () => {
      await rejected({ TimeZone: edited('TimeZone', 2, (o) => { o.fields.utc_offset = 'abc'; }) }, { says: ['TimeZone pk=2: utc_offset expects a 32-bit integer, got "abc"'], meta: { model: 'TimeZone', pk: 2, field: 'utc_offset' } });
      await rejected({ TimeZone: edited('TimeZone', 2, (o) => { o.fields.utc_offset = 1.5; }) }, { says: ['TimeZone pk=2: utc_offset expects a 32-bit integer, got 1.5'], meta: { model: 'TimeZone', pk: 2, field: 'utc_offset' } });
    });

    it('an impossible date, a float that is not finite, a FK given as text', async () => {
      await rejected({ Station: edited('Station', 11, (o) => { o.fields.start_date = '2023-02-30'; }) }, { says: ['Station pk=11: start_date', '2023-02-30'], meta: { model: 'Station', pk: 11, field: 'start_date' } });
      await rejected({ Gpoint: edited('Gpoint', SAMPLE.Gpoint[0].pk as number, (o) => { o.fields.altitude = '1e999'; }) }, { says: [`Gpoint pk=${SAMPLE.Gpoint[0].pk}: altitude expects a number`], meta: { model: 'Gpoint', field: 'altitude' } });
      await rejected({ Station: edited('Station', 11, (o) => { o.fields.owner = String(o.fields.owner); }) }, { says: ['Station pk=11: owner expects the pk of a Lentity'], meta: { model: 'Station', pk: 11, field: 'owner' } });
    });

    it('a pk that is not a positive integer', async () => {
      await rejected({ Variable: edited('Variable', 4, (o) => { o.pk = 'abc'; }) }, { says: ['Variable', 'object #4', 'pk "abc" is not a positive integer'], meta: { model: 'Variable' } });
      await rejected({ Variable: edited('Variable', 4, (o) => { o.pk = 0; }) }, { says: ['Variable', 'pk 0 is not a positive integer'], meta: { model: 'Variable' } });
    });
  });

  // Regression, fixed: isDate()/normalizeDatetime() in src/values/values.ts build the date with
  // Date.UTC(year, ...), which maps years 0-99 to 1900-1999, so every date of the first
  // century is refused as "expects a date YYYY-MM-DD, got "0050-01-01"" (and the whole run
  // with it), although it is a well-formed date that Django's DateField accepts (years 1-9999)
  // and serializes exactly so; a typo'd year in a real instance stops every nightly sync.
  it('a date in the first century (0050-01-01) is a date', async () => {
    remote.set('Station', edited('Station', 11, (o) => { o.fields.start_date = '0050-01-01'; }));
    try {
      const result = await run();
      expect(result.models.find((m) => m.model === 'Station')!.updated).toBe(1);
    } finally {
      remote.set('Station', SAMPLE.Station);
      await run().catch(() => {});
    }
  });

  it('an MTI child whose parent object was not sent (Station pk=999 without Gpoint 999)', async () => {
    await rejected({ Station: [...structuredClone(SAMPLE.Station), { ...structuredClone(SAMPLE.Station[0]), pk: 999 }] }, {
      says: ['Station pk=999: has no Gpoint pk=999'],
      meta: { model: 'Station', pk: 999 },
    });
  });

  it('the same pk twice in one fixture, also as number and as text', async () => {
    const twice = [...structuredClone(SAMPLE.Variable), { ...structuredClone(SAMPLE.Variable[2]), fields: { descr: 'again', descr_alt: '' } }];
    await rejected({ Variable: twice }, { says: ['Variable pk=3: appears twice in the fixture'], meta: { model: 'Variable', pk: 3 } });
    const asText = [...structuredClone(SAMPLE.Variable), { ...structuredClone(SAMPLE.Variable[2]), pk: '3' }];
    await rejected({ Variable: asText }, { says: ['Variable pk=3: appears twice in the fixture'], meta: { model: 'Variable', pk: 3 } });
  });

  it('a FK to an object the remote did not send (Instrument.station -> 999)', async () => {
    await rejected({ Instrument: edited('Instrument', 5, (o) => { o.fields.station = 999; }) }, {
      says: ['Instrument pk=5: station refers to Station pk=999, which the remote did not send'],
      meta: { model: 'Instrument', pk: 5, field: 'station' },
    });
  });

  it('an m2m link to an object the remote did not send (UnitOfMeasurement.variables [999])', async () => {
    await rejected({ UnitOfMeasurement: edited('UnitOfMeasurement', 1, (o) => { o.fields.variables = [1, 999]; }) }, {
      says: ['UnitOfMeasurement pk=1: variables refers to Variable pk=999, which the remote did not send'],
      meta: { model: 'UnitOfMeasurement', pk: 1, field: 'variables' },
    });
  });

  describe('NOT NULL fields missing or null', () => {
    it('a NOT NULL FK missing (Station.owner)', async () => {
      await rejected({ Station: edited('Station', 11, (o) => { delete o.fields.owner; }) }, { says: ['Station pk=11: owner is missing from the payload'], meta: { model: 'Station', pk: 11, field: 'owner' } });
    });

    it('a NOT NULL FK null (Station.type)', async () => {
      await rejected({ Station: edited('Station', 11, (o) => { o.fields.type = null; }) }, { says: ['Station pk=11: type is null but the foreign key is NOT NULL'], meta: { model: 'Station', pk: 11, field: 'type' } });
    });

    it('a NOT NULL integer null, and missing (TimeZone.utc_offset)', async () => {
      await rejected({ TimeZone: edited('TimeZone', 3, (o) => { o.fields.utc_offset = null; }) }, { says: ['TimeZone pk=3: utc_offset is null but the column is NOT NULL'], meta: { model: 'TimeZone', pk: 3, field: 'utc_offset' } });
      await rejected({ TimeZone: edited('TimeZone', 3, (o) => { delete o.fields.utc_offset; }) }, { says: ['TimeZone pk=3: utc_offset is missing from the payload'], meta: { model: 'TimeZone', pk: 3, field: 'utc_offset' } });
    });

    it('a missing NOT NULL string takes "" and a missing boolean false, as the contract says', async () => {
      // Station 4 is automatic in the sample: without the key it must become false.
      remote.set('Variable', edited('Variable', 6, (o) => { delete o.fields.descr_alt; }));
      remote.set('Station', edited('Station', 4, (o) => { delete o.fields.is_automatic; }));
      try {
        await run();
      } finally {
        remote.set('Variable', SAMPLE.Variable);
        remote.set('Station', SAMPLE.Station);
      }
      const read = () => withDb(target.url, async (db) => {
        const registry = await db.knex(manifest.registry).where({ hostname: hostname() }).first();
        const variable = await db.knex('hcore_variable').where({ [ORIGINAL_DB]: registry.id, [ORIGINAL_ID]: 6 }).first();
        const gentity = await db.knex('hcore_gentity').where({ [ORIGINAL_DB]: registry.id, [ORIGINAL_ID]: 4 }).first();
        const station = await db.knex('hcore_station').where({ gpoint_ptr_id: gentity.id }).first();
        return { descrAlt: variable.descr_alt, isAutomatic: Boolean(Number(station.is_automatic)) };
      });
      expect(await read()).toEqual({ descrAlt: '', isAutomatic: false });
      await run();
      expect(await read()).toEqual({ descrAlt: SAMPLE.Variable.find((o) => o.pk === 6)!.fields.descr_alt, isAutomatic: true });
    });
  });

  it('a string longer than its column (Variable descr of 201 characters)', async () => {
    await rejected({ Variable: edited('Variable', 8, (o) => { o.fields.descr = 'α'.repeat(201); }) }, {
      says: ["Variable pk=8: descr is 201 characters long, more than the column's 200"],
      meta: { model: 'Variable', pk: 8, field: 'descr' },
    });
  });

  it('a fixture over maxFixtureBytes', async () => {
    const allBut = (keep: string) => [...manifest.models.keys()].filter((m) => m !== keep);
    await rejected({}, { says: ['Variable', 'larger than the limit of 100 bytes'], meta: { model: 'Variable' } }, { exclude: allBut('Variable'), http: { maxFixtureBytes: 100, attempts: 3, retryBaseMs: 10 } });
  });

  it('--skip leaves the bad object out, lists it in rejectsFile, and commits the rest', async () => {
    const fresh = await createDatabase('sqlite');
    remote.set('Variable', edited('Variable', 5, (o) => { o.fields.descr = 'x'.repeat(201); }));
    try {
      const result = await sync({ app: 'hcore', remote: hostname(), exclude: ['UserProfile'], db: fresh.url, workDir: tmpdir('rsdb-skip-'), noBackups: true, skip: true });
      expect(result.rejectsFile).toBeDefined();
      const rejects = readFileSync(result.rejectsFile!, 'utf8');
      expect(rejects).toContain("Variable pk=5: descr is 201 characters long, more than the column's 200");
      const timeseries = SAMPLE.Timeseries.filter((t) => t.fields.variable === 5);
      for (const t of timeseries) expect(rejects).toContain(`Timeseries pk=${t.pk}: variable refers to Variable pk=5, which is rejected`);
      const counts = Object.fromEntries(result.models.map((m) => [m.model, m]));
      expect(counts.Variable).toMatchObject({ skipped: 1, inserted: SAMPLE.Variable.length - 1 });
      expect(counts.Timeseries).toMatchObject({ skipped: timeseries.length, inserted: SAMPLE.Timeseries.length - timeseries.length });
      expect(result.objects).toBe(SAMPLE_OBJECTS - 1 - timeseries.length);
      await withDb(fresh.url, async (db) => {
        const variables = await db.knex('hcore_variable').select(ORIGINAL_ID);
        expect(variables.map((r) => Number(r[ORIGINAL_ID])).sort((a, b) => a - b)).toEqual(SAMPLE.Variable.map((o) => o.pk).filter((pk) => pk !== 5));
        // Unit 5's only link was to the rejected variable; every other link is there.
        const links = await db.knex('hcore_unitofmeasurement_variables').count({ n: '*' });
        const sent = SAMPLE.UnitOfMeasurement.reduce((n, u) => n + (u.fields.variables as number[]).filter((v) => v !== 5).length, 0);
        expect(Number(links[0].n)).toBe(sent);
      });
    } finally {
      remote.set('Variable', SAMPLE.Variable);
      await fresh.drop();
    }
  });
});

/** Three representative cases on the server dialects: a bad value mid-install, a too-long string (and the longest allowed one), a dangling m2m found at rewire time. */
describe.each(dialects.filter((d) => d !== 'sqlite'))('bad payloads into %s', (dialect) => {
  let remote: StaticRemote;
  let target: TestDatabase;
  const workDir = tmpdir('rsdb-payloads-');
  const rejected = (bodies: Record<string, unknown>, expected: Expected) => expectRejected(target, remote, workDir, bodies, expected);

  beforeAll(async () => {
    remote = await startStaticRemote('hcore', served, SAMPLE);
    target = await createDatabase(dialect);
    const result = await sync({ app: 'hcore', remote: `127.0.0.1:${remote.port}`, exclude: ['UserProfile'], db: target.url, workDir, noBackups: true });
    expect(result.objects).toBe(SAMPLE_OBJECTS);
  });
  afterAll(async () => {
    await remote?.close();
    await target?.drop();
  });

  it('a number for a string', async () => {
    await rejected({ Variable: edited('Variable', 7, (o) => { o.fields.descr = 42; }) }, { says: ['Variable pk=7: descr expects a string, got 42'], meta: { model: 'Variable', pk: 7, field: 'descr' } });
  });

  it('201 characters are refused; 200 four-byte characters fit and come back intact', async () => {
    await rejected({ Variable: edited('Variable', 8, (o) => { o.fields.descr = '🌧'.repeat(201); }) }, {
      says: ["Variable pk=8: descr is 201 characters long, more than the column's 200"],
      meta: { model: 'Variable', pk: 8, field: 'descr' },
    });
    const longest = '🌧'.repeat(199) + 'Ω';
    remote.set('Variable', edited('Variable', 8, (o) => { o.fields.descr = longest; }));
    try {
      await sync({ app: 'hcore', remote: `127.0.0.1:${remote.port}`, exclude: ['UserProfile'], db: target.url, workDir, noBackups: true });
    } finally {
      remote.set('Variable', SAMPLE.Variable);
    }
    await withDb(target.url, async (db) => {
      const registry = await db.knex(manifest.registry).where({ hostname: `127.0.0.1:${remote.port}` }).first();
      expect((await db.knex('hcore_variable').where({ [ORIGINAL_DB]: registry.id, [ORIGINAL_ID]: 8 }).first()).descr).toBe(longest);
    });
  });

  it('an m2m link to an object the remote did not send', async () => {
    await rejected({ UnitOfMeasurement: edited('UnitOfMeasurement', 1, (o) => { o.fields.variables = [1, 999]; }) }, {
      says: ['UnitOfMeasurement pk=1: variables refers to Variable pk=999, which the remote did not send'],
      meta: { model: 'UnitOfMeasurement', pk: 1, field: 'variables' },
    });
  });
  // Regression (PostgreSQL only), fixed: a NUL character in a string passes toColumnValue, and PostgreSQL,
  // which cannot store it in text, refuses the whole INSERT batch: the error is "Variable: the
  // database refused the objects pk=1..11: invalid byte sequence for encoding "UTF8": 0x00",
  // with a pk range instead of the pk and no field (meta has neither), where DESIGN §7 asks
  // for remote, model, pk and field. SQLite and MySQL store the same payload as it is.
  (dialect === 'postgres' ? it : it.skip)('a NUL character PostgreSQL cannot store is refused naming pk and field', async () => {
    await rejected({ Variable: edited('Variable', 3, (o) => { o.fields.descr = 'a\u0000b'; }) }, {
      says: ['Variable pk=3: descr'],
      meta: { model: 'Variable', pk: 3, field: 'descr' },
    });
  });
});
