import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { dumpdata } from '../../src/admin/dumpdata.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { sync } from '../../src/sync/sync.js';
import { availableDialects, createDatabase } from '../helpers/databases.js';
import { assertIsomorphic } from '../helpers/inspect.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';

const dialects = await availableDialects();
const manifest = loadManifest('hcore');
const sample = JSON.parse(readFileSync(SAMPLE_FIXTURE, 'utf8')) as Array<{ model: string; pk: number; fields: Record<string, unknown> }>;

async function get(port: number, urlPath: string, headers: Record<string, string> = {}) {
  const response = await fetch(`http://127.0.0.1:${port}${urlPath}`, { headers });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

/** The sample's objects as served: datetimes in the served form, remote tags as stored. */
function comparable(o: { model: string; pk: number; fields: Record<string, unknown> }) {
  const { last_modified: _lm, original_id: _oi, original_db: _od, ...fields } = o.fields;
  return { model: o.model, pk: o.pk, fields };
}

describe.each(dialects)('serve from %s', (dialect) => {
  let instance: TestInstance;
  beforeAll(async () => {
    instance = await startInstance({ dialect, files: [SAMPLE_FIXTURE] });
  });
  afterAll(async () => instance?.close());

  it('describes the instance on GET /api/ with X-Server-Time, never listing private models', async () => {
    const { status, headers, body } = await get(instance.port, '/api/');
    expect(status).toBe(200);
    expect(body.app).toBe('hcore');
    expect(body.models).toHaveLength(26);
    expect(body.models).not.toContain('UserProfile');
    expect(headers.get('x-server-time')).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });

  it('answers 404 with a JSON error for private, unknown and malformed model paths', async () => {
    for (const p of ['/api/UserProfile/', '/api/Nope/', '/api/..%2F..%2Fetc/', '/api/%E0%A4%A/', '/api/Station/extra/', '/other']) {
      const { status, body } = await get(instance.port, p);
      expect(status, p).toBe(404);
      expect(typeof body.error).toBe('string');
    }
  });

  it('serves each model exactly as the Django fixture it was loaded from, in pk order', async () => {
    for (const model of manifest.models.values()) {
      if (model.isPrivate) continue;
      const key = `hcore.${model.name.toLowerCase()}`;
      const want = sample.filter((o) => o.model === key).sort((a, b) => a.pk - b.pk).map(comparable);
      const { body } = await get(instance.port, `/api/${model.name}/`);
      expect(body.map(comparable), model.name).toEqual(want);
    }
  });

  it('serves only the objects modified after a time, MTI children through their root', async () => {
    const all = await get(instance.port, '/api/Station/');
    const none = await get(instance.port, '/api/Station/modified_after/2999-01-01T00:00:00Z/');
    expect(all.body.length).toBe(30);
    expect(none.body).toEqual([]);
    const bad = await get(instance.port, '/api/Station/modified_after/yesterday/');
    expect(bad.status).toBe(404);
  });

  it('is a source that replicates isomorphically into SQLite', async () => {
    const target = await createDatabase('sqlite');
    try {
      await sync({ app: 'hcore', remote: '127.0.0.1', port: instance.port, exclude: ['UserProfile'], db: target.url, workDir: mkdtempSync(path.join(os.tmpdir(), 'rsdb-')) });
      expect(await assertIsomorphic(instance.db.url, target.url, manifest, `127.0.0.1:${instance.port}`)).toBe(461);
    } finally {
      await target.drop();
    }
  });

  it('dumpdata writes back the fixture loaddata read', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const n = await dumpdata({ app: 'hcore', db: instance.db.url, out });
    expect(n).toBe(461);
    const dumped = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof sample;
    const key = (o: { model: string; pk: number }) => `${o.model}:${o.pk}`;
    expect(dumped.map(comparable).sort((a, b) => key(a).localeCompare(key(b)))).toEqual(sample.map(comparable).sort((a, b) => key(a).localeCompare(key(b))));
  });
});

describe('serve with tokens', () => {
  it('answers 401 without the bearer token and 200 with it', async () => {
    const instance = await startInstance({ files: [], tokens: ['s3cret-token'] });
    try {
      expect((await get(instance.port, '/api/')).status).toBe(401);
      expect((await get(instance.port, '/api/', { authorization: 'Bearer wrong' })).status).toBe(401);
      expect((await get(instance.port, '/api/', { authorization: 'Bearer s3cret-token' })).status).toBe(200);
    } finally {
      await instance.close();
    }
  });
});
