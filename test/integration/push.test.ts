import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loaddata } from '../../src/admin/loaddata.js';
import { ConfigError, type LockError } from '../../src/errors.js';
import { loadManifest, resolveManifestPath } from '../../src/manifest/load-manifest.js';
import { unpackBundle } from '../../src/push/bundle.js';
import { PushRefusedError } from '../../src/push/push-client.js';
import { push, type PushOptions } from '../../src/push/push.js';
import { CHUNK_TABLE } from '../../src/push/push-tables.js';
import { addSite, removeSite, rotateSiteToken, setSiteEnabled, siteStatus } from '../../src/push/sites.js';
import { REMOTE_TABLE, WATERMARK_TABLE } from '../../src/schema/bookkeeping.js';
import { serve, type ServeResult } from '../../src/server/serve.js';
import { nowDatetime } from '../../src/values/values.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';
import { startFaultProxy, type ProxyAction } from '../helpers/fault-proxy.js';
import { assertIsomorphic, tableDigests, withDb } from '../helpers/inspect.js';

const dialects = await availableDialects();
const manifest = loadManifest('hcore');
const SAMPLE_OBJECTS = 461;
const tmpdir = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));
/** Real Enhydris payloads, from ../shared beside the project (skipped cleanly when absent). */
const REALDATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/realdata/enhydris');

/** The centre's app tables and registry as digests, without the tool's per-remote clock. */
async function appDigests(url: string) {
  const { [REMOTE_TABLE]: _clock, ...rest } = await tableDigests(url, manifest);
  return rest;
}

describe.each(dialects)('push to a centre on %s', (dialect) => {
  let site: TestDatabase;
  let centre: TestDatabase;
  let server: ServeResult;
  let token: string;
  const workDir = tmpdir('rsdb-push-');
  const siteId = 'site/field1';
  const run = (extra: Partial<PushOptions> = {}) =>
    push({ to: `http://127.0.0.1:${server.port}`, app: 'hcore', db: site.url, exclude: ['UserProfile'], token, workDir, http: { retryBaseMs: 20 }, ...extra });

  beforeAll(async () => {
    site = await createDatabase('sqlite');
    await loaddata({ app: 'hcore', db: site.url, files: [SAMPLE_FIXTURE] });
    centre = await createDatabase(dialect);
    token = (await addSite({ db: centre.url, app: 'hcore', name: 'field1', descr: 'a field station' })).token!;
    server = await serve({ app: 'hcore', db: centre.url, port: 0, acceptPush: true });
  });
  afterAll(async () => {
    await server?.close();
    await site?.drop();
    await centre?.drop();
  });

  it('pushes the whole site into an empty centre as an isomorphic copy tagged with the site', async () => {
    const result = await run();
    expect(result.ack).toMatchObject({ status: 'committed', site: 'field1', objects: SAMPLE_OBJECTS, written: SAMPLE_OBJECTS, rejects: [] });
    expect(await assertIsomorphic(site.url, centre.url, manifest, siteId)).toBe(SAMPLE_OBJECTS);
    const [status] = await siteStatus({ db: centre.url, app: 'hcore', name: 'field1' });
    expect(status).toMatchObject({ name: 'field1', isEnabled: true, lastBundle: { id: result.ack.id, objects: SAMPLE_OBJECTS, rejects: 0 } });
  });

  it('a push with nothing changed writes nothing', async () => {
    const before = await appDigests(centre.url);
    const result = await run();
    expect(result.ack.written).toBe(0);
    expect(await appDigests(centre.url)).toEqual(before);
  });

  it('brings updates, new objects and, with --prune, deletions at the site', async () => {
    const now = nowDatetime();
    await withDb(site.url, async (db) => {
      await db.knex('hcore_gentity').where({ id: 5 }).update({ name: 'Renamed at the site', last_modified: now });
      await db.knex('hcore_variable').insert({ id: 900, descr: 'Νέα μεταβλητή', descr_alt: 'new variable', last_modified: now });
      await db.knex('hcore_gentityevent').where({ id: (await db.knex('hcore_gentityevent').min({ id: 'id' }).first()).id }).del();
    });
    const result = await run({ prune: true });
    expect(result.ack.objects).toBeLessThan(20);
    expect(result.ack.models.find((m) => m.model === 'GentityEvent')?.deleted).toBe(1);
    expect(await assertIsomorphic(site.url, centre.url, manifest, siteId)).toBe(SAMPLE_OBJECTS);
  });

  it('keeps one copy when the commit was done but its answer was lost', async () => {
    await withDb(site.url, (db) => db.knex('hcore_gentity').where({ id: 6 }).update({ name: 'Lost answer', last_modified: nowDatetime() }));
    const proxy = await startFaultProxy(server.port, ({ method, path, nth }) => (method === 'POST' && path.endsWith('/commit') && nth === 0 ? 'drop-answer' : 'pass'));
    try {
      const result = await run({ to: `http://127.0.0.1:${proxy.port}` });
      expect(result.ack.written).toBe(1);
      expect(proxy.seen.filter((r) => r.path.endsWith('/commit'))).toHaveLength(2);
    } finally {
      await proxy.close();
    }
    expect(await assertIsomorphic(site.url, centre.url, manifest, siteId)).toBe(SAMPLE_OBJECTS);
  });

  it('resumes an upload cut mid-way where the centre copy ends, and re-sends a corrupted chunk', async () => {
    const chunk = 4096;
    const faults: Record<number, ProxyAction> = { 3: 'cut-before', 5: 'corrupt' };
    const proxy = await startFaultProxy(server.port, ({ method, nth }) => (method === 'PUT' ? faults[nth] ?? 'pass' : 'pass'));
    try {
      const result = await run({ to: `http://127.0.0.1:${proxy.port}`, full: true, chunkBytes: chunk });
      expect(result.bytes).toBeGreaterThan(10 * chunk);
      // In all: the bundle, plus the chunk cut and the chunk damaged, and no more.
      expect(result.bytesSent).toBeLessThanOrEqual(result.bytes + 2 * chunk);
      const puts = proxy.seen.filter((r) => r.method === 'PUT');
      expect(puts.reduce((n, r) => n + r.bytes, 0)).toBeLessThanOrEqual(result.bytes + 2 * chunk);
      expect(result.ack.written).toBe(0);
    } finally {
      await proxy.close();
    }
    expect(await assertIsomorphic(site.url, centre.url, manifest, siteId)).toBe(SAMPLE_OBJECTS);
  });

  it('answers a lost race for one chunk with where the copy ends, not a refusal', async () => {
    const body = 'x'.repeat(5000);
    const sha = createHash('sha256').update(body).digest('hex');
    for (let round = 0; round < 5; round++) {
      const url = `http://127.0.0.1:${server.port}/api/push/bundles/22222222-3333-4444-5555-66666666666${round}?offset=0`;
      const put = () => fetch(url, { method: 'PUT', body, headers: { authorization: `Bearer ${token}`, 'x-bundle-sha256': sha, 'x-bundle-bytes': String(body.length * 2), 'x-chunk-sha256': sha } });
      const answers = await Promise.all([put(), put(), put()]);
      const bodies = await Promise.all(answers.map((a) => a.json() as Promise<{ received?: number }>));
      expect(answers.filter((a) => a.status === 200), `round ${round}`).toHaveLength(1);
      for (const [i, a] of answers.entries()) if (a.status !== 200) expect([a.status, bodies[i].received]).toEqual([409, 5000]);
    }
  });

  it('refuses a bundle id used again for other content, and installs nothing of it', async () => {
    const before = await appDigests(centre.url);
    const url = `http://127.0.0.1:${server.port}/api/push/bundles/11111111-2222-3333-4444-555555555555`;
    const put = (body: string) => fetch(`${url}?offset=0`, {
      method: 'PUT', body,
      headers: { authorization: `Bearer ${token}`, 'x-bundle-sha256': createHash('sha256').update(body).digest('hex'), 'x-bundle-bytes': String(Buffer.byteLength(body)), 'x-chunk-sha256': createHash('sha256').update(body).digest('hex') },
    });
    expect((await put('{"a":1}\n')).status).toBe(200);
    const again = await put('{"b":2}\n');
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: string }).error).toContain('used before for other content');
    expect(await appDigests(centre.url)).toEqual(before);
  });

  it('refuses bad, rotated, disabled and read-only tokens with exit 2, writing nothing', async () => {
    const before = await appDigests(centre.url);
    const wrong = await run({ token: 'rsp_not-a-token' }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(ConfigError);
    expect((wrong as Error).message).toContain('refused the push token (401)');
    expect((wrong as Error).message).not.toContain('rsp_not-a-token');
    await setSiteEnabled({ db: centre.url, app: 'hcore', name: 'field1', isEnabled: false });
    const disabled = await run().catch((e: unknown) => e);
    expect((disabled as Error).message).toContain('(403)');
    await setSiteEnabled({ db: centre.url, app: 'hcore', name: 'field1', isEnabled: true });
    const old = token;
    token = (await rotateSiteToken({ db: centre.url, app: 'hcore', name: 'field1' })).token;
    const rotated = await run({ token: old }).catch((e: unknown) => e);
    expect((rotated as ConfigError).exitCode).toBe(2);
    // A read token of serve is not a push token.
    const reader = await serve({ app: 'hcore', db: centre.url, port: 0, acceptPush: true, tokens: ['read-token'] });
    try {
      const read = await run({ to: `http://127.0.0.1:${reader.port}`, token: 'read-token' }).catch((e: unknown) => e);
      expect((read as Error).message).toContain('(401)');
    } finally {
      await reader.close();
    }
    expect(await appDigests(centre.url)).toEqual(before);
    expect((await run()).ack.written).toBe(0);
    // Committed bundles keep no chunks, and the upload given up above was dropped by the next one.
    expect(await withDb(centre.url, async (db) => Number((await db.knex(CHUNK_TABLE).count({ n: '*' }))[0].n))).toBe(0);
  });

  it('refuses a site of another app, or whose schema does not match, with a clear error and nothing written', async () => {
    const before = await appDigests(centre.url);
    const dir = tmpdir('rsdb-schema-');
    const raw = JSON.parse(readFileSync(resolveManifestPath('hcore'), 'utf8'));
    const other = path.join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ ...raw, app: 'other', label: 'hcore' }));
    const wrongApp = await run({ app: other }).catch((e: unknown) => e);
    expect((wrongApp as ConfigError).exitCode).toBe(2);
    expect((wrongApp as Error).message).toContain('takes app "hcore", not "other"');
    const extra = path.join(dir, 'extra.json');
    writeFileSync(extra, JSON.stringify({ ...raw, models: { ...raw.models, Extra: { table: 'hcore_extra', fields: { note: 'string' } } } }));
    await withDb(site.url, (db) => db.knex.schema.createTable('hcore_extra', (t) => { t.increments('id'); t.string('note'); }));
    const mismatch = await run({ app: extra }).catch((e: unknown) => e);
    expect(mismatch).toBeInstanceOf(PushRefusedError);
    expect((mismatch as Error).message).toMatch(/\(422\).*model "Extra".*schema does not match/);
    expect(await appDigests(centre.url)).toEqual(before);
  });

  it('refuses a bundle from a site clock behind the centre watermark, clearly and once', async () => {
    await withDb(centre.url, (db) => db.knex(WATERMARK_TABLE).where({ model: 'Gentity' }).update({ server_time: '2100-01-01T00:00:00Z' }));
    const before = await appDigests(centre.url);
    const error = await run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PushRefusedError);
    expect((error as Error).message).toMatch(/clock .* is behind .*Gentity up to 2100-01-01T00:00:00Z.*the next push is sent in full/);
    expect(await appDigests(centre.url)).toEqual(before);
    // The clock set right (here: the watermark back in the past), the next push goes through.
    await withDb(centre.url, (db) => db.knex(WATERMARK_TABLE).where({ model: 'Gentity' }).update({ server_time: '2000-01-01T00:00:00Z' }));
    // ... in full: what was written while the clock was wrong carries old times.
    const healed = await run();
    expect(healed.ack).toMatchObject({ written: 0, objects: SAMPLE_OBJECTS });
    expect((await run()).ack.objects).toBeLessThan(SAMPLE_OBJECTS);
  });

  it('splits a push over --max-bundle-bytes into consecutive bundles that each commit, and the copy is whole', async () => {
    const { token: splitToken } = await addSite({ db: centre.url, app: 'hcore', name: 'splitter' });
    const result = await run({ token: splitToken, maxBundleBytes: 16 * 1024, workDir: tmpdir('rsdb-split-') });
    expect(result.acks.length).toBeGreaterThan(2);
    expect(new Set(result.acks.map((a) => a.id)).size).toBe(result.acks.length);
    for (const ack of result.acks) expect(ack.status).toBe('committed');
    expect(result.objects).toBe(SAMPLE_OBJECTS);
    expect(await assertIsomorphic(site.url, centre.url, manifest, 'site/splitter')).toBe(SAMPLE_OBJECTS);
    // The next push, split the same way, finds nothing to write.
    const again = await run({ token: splitToken, maxBundleBytes: 16 * 1024, workDir: tmpdir('rsdb-split-') });
    expect(again.written).toBe(0);
  });

  it('takes eight sites pushing at once: all succeed, every copy right', async () => {
    const sites = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const db = await createDatabase('sqlite');
      await loaddata({ app: 'hcore', db: db.url, files: [SAMPLE_FIXTURE] });
      const added = await addSite({ db: centre.url, app: 'hcore', name: `crowd${i}` });
      return { db, token: added.token! };
    }));
    try {
      const results = await Promise.all(sites.map((s) => run({ db: s.db.url, token: s.token, workDir: tmpdir('rsdb-crowd-') })));
      expect(results.map((r) => r.ack.status)).toEqual(Array(8).fill('committed'));
      for (const [i, s] of sites.entries()) expect(await assertIsomorphic(s.db.url, centre.url, manifest, `site/crowd${i}`)).toBe(SAMPLE_OBJECTS);
    } finally {
      await Promise.all(sites.map((s) => s.db.drop()));
    }
  });

  it('brings rows sharing one last_modified second across two bundles, each once', async () => {
    const first = await run();
    const second = first.ack.siteClock.replace('T', ' ').replace('Z', '');
    // Written after the push but stamped in the very second its bundle was cut.
    await withDb(site.url, (db) => db.knex('hcore_gentity').where({ id: 7 }).update({ name: 'Same second', last_modified: second }));
    const next = await run();
    expect(next.ack.written).toBe(1);
    expect(await assertIsomorphic(site.url, centre.url, manifest, siteId)).toBe(SAMPLE_OBJECTS);
  });
});

describe.skipIf(!existsSync(REALDATA))('push of a site the application wrote (real Enhydris payloads)', () => {
  it('gives the centre an isomorphic copy of dbsync-testdata-2010.json, on every database', async () => {
    for (const dialect of dialects) {
      const site = await createDatabase('sqlite');
      const centre = await createDatabase(dialect);
      await loaddata({ app: 'hcore', db: site.url, files: [path.join(REALDATA, 'dbsync-testdata-2010.json')] });
      const { token } = await addSite({ db: centre.url, app: 'hcore', name: 'enhydris' });
      const server = await serve({ app: 'hcore', db: centre.url, port: 0, acceptPush: true });
      try {
        const result = await push({ to: `http://127.0.0.1:${server.port}`, app: 'hcore', db: site.url, exclude: ['UserProfile'], token, workDir: tmpdir('rsdb-pushreal-') });
        expect(result.ack.objects, dialect).toBe(32);
        expect(await assertIsomorphic(site.url, centre.url, manifest, 'site/enhydris'), dialect).toBe(32);
      } finally {
        await server.close();
        await site.drop();
        await centre.drop();
      }
    }
  });
});

describe('push: what must not be lost or run twice (SQLite centre)', () => {
  let site: TestDatabase;
  let centre: TestDatabase;
  let server: ServeResult;
  let token: string;
  const workDir = tmpdir('rsdb-push-keep-');
  const run = (extra: Partial<PushOptions> = {}) =>
    push({ to: `http://127.0.0.1:${server.port}`, app: 'hcore', db: site.url, exclude: ['UserProfile'], token, workDir, http: { retryBaseMs: 20 }, ...extra });

  beforeAll(async () => {
    site = await createDatabase('sqlite');
    await loaddata({ app: 'hcore', db: site.url, files: [SAMPLE_FIXTURE] });
    centre = await createDatabase('sqlite');
    token = (await addSite({ db: centre.url, app: 'hcore', name: 'keeper' })).token!;
    server = await serve({ app: 'hcore', db: centre.url, port: 0, acceptPush: true });
  });
  afterAll(async () => {
    await server?.close();
    await site?.drop();
    await centre?.drop();
  });

  it('lists what the centre rejected and sends it again until it is taken', async () => {
    await withDb(site.url, (db) => db.knex('hcore_station').where({ gpoint_ptr_id: 3 }).update({ start_date: 'not a date' }));
    const first = await run();
    expect(first.rejected).toBeGreaterThan(0);
    expect(readFileSync(first.rejectsFile, 'utf8')).toMatch(/Station pk=3: .*start_date/);
    // Mended at the site without touching last_modified: the next push still brings it.
    await withDb(site.url, (db) => db.knex('hcore_station').where({ gpoint_ptr_id: 3 }).update({ start_date: '2001-01-01' }));
    const second = await run();
    expect(second.rejected).toBe(0);
    expect(await assertIsomorphic(site.url, centre.url, manifest, 'site/keeper')).toBe(SAMPLE_OBJECTS);
  });

  it('runs one push at a time per site and centre, and takes over the lock of a dead one', async () => {
    const lockFile = path.join(workDir, 'push', `127.0.0.1_${server.port}`, 'hcore', 'push.lock');
    writeFileSync(lockFile, String(process.pid));
    const busy = await run().catch((e: unknown) => e);
    expect((busy as LockError).exitCode).toBe(4);
    expect((busy as Error).message).toContain(`Another push (pid ${process.pid})`);
    writeFileSync(lockFile, '999999999');
    expect((await run()).written).toBe(0);
    expect(existsSync(lockFile)).toBe(false);
  });

  it('counts the objects of a bundle as the site\'s, even when its pk list was read before they were written', async () => {
    const dir = tmpdir('rsdb-unpack-');
    const file = path.join(dir, 'bundle.jsonl');
    const header = { format: 'remotesyncdb-bundle', version: 1, id: 'abcdefgh-0000', app: 'hcore', siteClock: '2026-01-01T00:00:00Z', base: {}, models: ['Variable'], prune: true, full: false };
    const object = (pk: number) => JSON.stringify({ model: 'hcore.variable', pk, fields: { descr: `v${pk}`, descr_alt: '' } });
    writeFileSync(file, [JSON.stringify(header), JSON.stringify({ section: 'Variable', modifiedAfter: null, pks: [1] }), object(1), object(2)].join('\n'));
    const unpacked = await unpackBundle(file, path.join(dir, 'stage'), manifest, 'site/x');
    expect([...new Set(unpacked.pks.get('Variable'))].sort()).toEqual([1, 2]);
  });

  it("never lets a site's push write another origin's row, whatever the natural-key policy", async () => {
    const dir = tmpdir('rsdb-take-');
    const raw = JSON.parse(readFileSync(resolveManifestPath('hcore'), 'utf8'));
    raw.models.Variable.naturalKeyPolicy = 'take-remote';
    const app = path.join(dir, 'take.json');
    writeFileSync(app, JSON.stringify(raw));
    const hub = await createDatabase('sqlite');
    const other = await createDatabase('sqlite');
    await loaddata({ app: 'hcore', db: other.url, files: [SAMPLE_FIXTURE] });
    const first = (await addSite({ db: hub.url, app, name: 'first' })).token!;
    const second = (await addSite({ db: hub.url, app, name: 'second' })).token!;
    const hubServer = await serve({ app, db: hub.url, port: 0, acceptPush: true });
    try {
      const to = `http://127.0.0.1:${hubServer.port}`;
      await push({ to, app, db: site.url, exclude: ['UserProfile'], token: first, workDir: tmpdir('rsdb-take-a-') });
      const descr = await withDb(other.url, async (db) => {
        const row = await db.knex('hcore_variable').orderBy('id').first();
        await db.knex('hcore_variable').where({ id: row.id }).update({ descr_alt: 'changed by the second site' });
        return row.descr as string;
      });
      const result = await push({ to, app, db: other.url, exclude: ['UserProfile'], token: second, workDir: tmpdir('rsdb-take-b-') });
      expect(result.written).toBeGreaterThan(0);
      await withDb(hub.url, async (db) => {
        const rows = await db.knex('hcore_variable').where({ descr });
        expect(rows).toHaveLength(1);
        expect(rows[0].descr_alt).not.toBe('changed by the second site');
      });
    } finally {
      await hubServer.close();
      await hub.drop();
      await other.drop();
    }
  });

  it('removes a site: refused while its rows are there, with --purge its rows, bundles and token go too', async () => {
    const refused = await removeSite({ db: centre.url, app: 'hcore', name: 'keeper' }).catch((e: unknown) => e);
    expect((refused as Error).message).toMatch(/row\(s\) of app hcore come from keeper .*--purge/);
    const { purged } = await removeSite({ db: centre.url, app: 'hcore', name: 'keeper', purge: true });
    expect(purged).toBeGreaterThan(0);
    expect((await siteStatus({ db: centre.url, app: 'hcore' })).map((s) => s.name)).not.toContain('keeper');
    await withDb(centre.url, async (db) => {
      expect(await db.knex('hcore_gentity').whereNotNull('original_db_id').first()).toBeUndefined();
      expect(await db.knex('remotesyncdb_bundle').first()).toBeUndefined();
    });
    const gone = await run().catch((e: unknown) => e);
    expect((gone as ConfigError).exitCode).toBe(2);
  });
});

