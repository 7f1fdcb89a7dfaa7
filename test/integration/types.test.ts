import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { sync } from '../../src/sync/sync.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';
import { assertIsomorphic, tableDigests, withDb } from '../helpers/inspect.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';
import { startStaticRemote } from '../helpers/static-remote.js';

const APP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/types-app.json');
const manifest = loadManifest(APP);
const dialects = await availableDialects();

/** Every field type, edge values included: Greek text, negative and fractional numbers, offsets, JSON that is a bare string. */
const objects = [
  { model: 'typesapp.kind', pk: 1, fields: { name: 'Βροχή', last_modified: '2024-01-01T00:00:00Z' } },
  { model: 'typesapp.kind', pk: 2, fields: { name: 'Θερμοκρασία', last_modified: '2024-01-01T00:00:00Z' } },
  { model: 'typesapp.thing', pk: 10, fields: { label: 'πρώτο', notes: 'κείμενο\nμε γραμμές', count: -7, ratio: 0.1, price: '12.500', flag: true, day: '2024-02-29', seen: '2024-03-01T12:30:45.123456+02:00', meta: { a: [1, 'β'], b: null }, blob: Buffer.from('δυαδικό').toString('base64'), kind: 2, next: 11, kinds: [1, 2] } },
  { model: 'typesapp.thing', pk: 11, fields: { label: 'second', count: null, ratio: -1.5e-7, price: null, flag: false, day: null, seen: '2024-03-01 10:30:45', meta: 'just a string', blob: null, kind: 1, next: null, kinds: [] } },
];

describe.each(dialects)('every field type into %s', (dialect) => {
  let source: TestInstance;
  let target: TestDatabase;
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-types-'));
  beforeAll(async () => {
    const file = path.join(workDir, 'things.json');
    writeFileSync(file, JSON.stringify(objects));
    source = await startInstance({ dialect, files: [file], app: APP });
    target = await createDatabase(dialect);
  });
  afterAll(async () => {
    await source?.close();
    await target?.drop();
  });
  const run = () => sync({ app: APP, remote: '127.0.0.1', port: source.port, db: target.url, workDir, full: true });

  it('replicates every type exactly and a re-run writes nothing', async () => {
    await run();
    expect(await assertIsomorphic(source.db.url, target.url, manifest, `127.0.0.1:${source.port}`)).toBe(4);
    await withDb(target.url, async (db) => {
      const thing = await db.knex('ta_thing').where({ original_id: 10 }).first();
      expect(Buffer.from(thing.blob).toString('utf8')).toBe('δυαδικό');
      expect(String(thing.seen)).toMatch(/^2024-03-01[ T]10:30:45\.123456/);
      expect(Number(thing.price)).toBe(12.5);
      expect(thing.notes).toBe('κείμενο\nμε γραμμές');
      const other = await db.knex('ta_thing').where({ original_id: 11 }).first();
      expect(other.notes).toBe('none');
    });
    const before = await tableDigests(target.url, manifest);
    const writes: string[] = [];
    const result = await sync({ app: APP, remote: '127.0.0.1', port: source.port, db: target.url, workDir, full: true, onQuery: (sql) => { if (/^\s*(insert|update|delete)/i.test(sql) && /ta_/.test(sql)) writes.push(sql); } });
    expect(writes).toEqual([]);
    expect(result.models.every((m) => m.unchanged === m.objects)).toBe(true);
    const { remotesyncdb_remote: _a, ...b } = before;
    const { remotesyncdb_remote: _b, ...a } = await tableDigests(target.url, manifest);
    expect(a).toEqual(b);
  });

  it('serves decimals with their scale, as Django does, and datetimes in UTC with their microseconds', async () => {
    const body = await (await fetch(`http://127.0.0.1:${source.port}/api/Thing/`)).json();
    expect(body[0].fields.price).toBe('12.500');
    expect(body[0].fields.seen).toBe('2024-03-01T10:30:45.123456Z');
    expect(body[1].fields.meta).toBe('just a string');
  });

  it("replicates every type exactly in bulk (the database's bulk path: COPY on PostgreSQL, LOAD DATA on MySQL), hard characters included", async () => {
    // Enough rows of each model that new rows take the bulk path; text, JSON and bytes with
    // every character COPY's text format escapes (tab, newline, carriage return, backslash).
    const hard = ['tab\there', 'line\nbreak', 'cr\rhere', 'back\\slash \\N', '\\.', 'Ελληνικά \u{1F30A}', ''];
    const kinds = Array.from({ length: 80 }, (_, i) => ({ model: 'typesapp.kind', pk: 100 + i, fields: { name: hard[i % hard.length] + i, last_modified: '2024-01-01T00:00:00Z' } }));
    const things = Array.from({ length: 150 }, (_, i) => ({ model: 'typesapp.thing', pk: 1000 + i, fields: {
      label: `${hard[i % hard.length]} ${i}`, notes: hard[(i + 3) % hard.length], count: i % 5 === 0 ? null : i - 75, ratio: i % 7 === 0 ? null : i / 3,
      price: i % 4 === 0 ? null : `${i}.125`, flag: i % 2 === 0, day: i % 3 === 0 ? null : '2024-02-29', seen: i % 6 === 0 ? null : '2024-03-01T12:30:45.123456+02:00',
      meta: i % 5 === 0 ? null : { text: hard[i % hard.length], list: [i, 'β', null] }, blob: i % 8 === 0 ? null : Buffer.from([0x5c, 0x09, 0x0a, 0x0d, 0x00, 0xff, i & 0xff]).toString('base64'),
      kind: 100 + (i % 80), next: i + 1 < 150 ? 1001 + i : null, kinds: [100 + (i % 80), 100 + ((i + 1) % 80)],
    } }));
    const file = path.join(workDir, 'bulk.json');
    writeFileSync(file, JSON.stringify([...kinds, ...things]));
    const bulkSource = await startInstance({ dialect, files: [file], app: APP });
    const fresh = await createDatabase(dialect);
    try {
      const once = () => sync({ app: APP, remote: '127.0.0.1', port: bulkSource.port, db: fresh.url, workDir, full: true });
      expect((await once()).objects).toBe(230);
      expect(await assertIsomorphic(bulkSource.db.url, fresh.url, manifest, `127.0.0.1:${bulkSource.port}`)).toBe(230);
      await withDb(fresh.url, async (db) => {
        const thing = await db.knex('ta_thing').where({ original_id: 1001 }).first();
        expect(Buffer.from(thing.blob)).toEqual(Buffer.from([0x5c, 0x09, 0x0a, 0x0d, 0x00, 0xff, 1]));
        expect(thing.label).toBe('line\nbreak 1');
        expect(thing.notes).toBe('\\.');
        expect((await db.knex('ta_thing_kinds').count({ n: '*' }))[0].n).toEqual(expect.anything());
        expect(Number((await db.knex('ta_thing_kinds').count({ n: '*' }))[0].n)).toBe(300);
      });
      const again = await once();
      expect(again.models.every((m) => m.unchanged === m.objects)).toBe(true);
      // Every column of every thing changed at the source: the updates go out many rows a statement.
      await withDb(bulkSource.db.url, async (db) => {
        for (let i = 0; i < 150; i++) {
          await db.knex('ta_thing').where({ id: 1000 + i }).update({
            label: `νέο ${hard[(i + 1) % hard.length]}`, notes: hard[i % hard.length] + '!', count: i, ratio: i % 3 === 0 ? null : -i / 7, price: `${i + 1}.500`,
            flag: db.dialect.bindBoolean(i % 2 === 1), day: i % 4 === 0 ? null : '2023-12-31', seen: '2025-01-02 03:04:05.678901', meta: JSON.stringify({ changed: i, text: hard[i % hard.length] }),
            blob: i % 5 === 0 ? null : Buffer.from([i & 0xff, 0x5c, 0x0a]), kind_id: (await db.knex('ta_kind').where({ id: 100 + ((i + 7) % 80) }).first()).id, last_modified: '2030-01-01 00:00:00',
          });
        }
      });
      const changed = await once();
      expect(changed.models.find((m) => m.model === 'Thing')!.updated).toBe(150);
      expect(await assertIsomorphic(bulkSource.db.url, fresh.url, manifest, `127.0.0.1:${bulkSource.port}`)).toBe(230);
    } finally {
      await bulkSource.close();
      await fresh.drop();
    }
  });

  it.runIf(dialect !== 'sqlite')('refuses in bulk what the column cannot hold, as an INSERT would, and writes nothing', async () => {
    // LOAD DATA LOCAL would only warn and store a clipped value: the install makes it an error.
    const things = Array.from({ length: 100 }, (_, i) => ({ model: 'typesapp.thing', pk: 5000 + i, fields: { label: `t${i}`, flag: true, price: i === 42 ? '1234567890123.000' : '1.000', kind: 1, kinds: [] } }));
    const badSource = await startStaticRemote('typesapp', ['Kind', 'Thing'], { Kind: [objects[0]], Thing: things });
    const fresh = await createDatabase(dialect);
    try {
      await expect(sync({ app: APP, remote: `127.0.0.1:${badSource.port}`, db: fresh.url, workDir })).rejects.toThrow(/Thing.*pk=5000\.\.5099.*(out of range|overflow)/i);
      expect(await withDb(fresh.url, async (db) => Number((await db.knex('ta_thing').count({ n: '*' }))[0].n))).toBe(0);
    } finally {
      await badSource.close();
      await fresh.drop();
    }
  });

  it('accepts pks sent as strings, with or without --skip', async () => {
    const remote = await startStaticRemote('typesapp', ['Kind', 'Thing'], {
      Kind: objects.slice(0, 2).map((o) => ({ ...o, pk: String(o.pk) })),
      Thing: [],
    });
    const fresh = await createDatabase(dialect);
    try {
      const result = await sync({ app: APP, remote: `127.0.0.1:${remote.port}`, db: fresh.url, workDir, skip: true });
      expect(result.skipped).toBe(0);
      expect(result.objects).toBe(2);
    } finally {
      await remote.close();
      await fresh.drop();
    }
  });
});
