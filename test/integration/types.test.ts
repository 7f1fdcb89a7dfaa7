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
