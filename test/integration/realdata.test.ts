import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { sync } from '../../src/sync/sync.js';
import { availableDialects, createDatabase } from '../helpers/databases.js';
import { assertIsomorphic, tableDigests, withDb } from '../helpers/inspect.js';
import { startInstance } from '../helpers/instance.js';
import { splitByModel, startStaticRemote } from '../helpers/static-remote.js';

/** Real Enhydris payloads, from ../shared beside the project (skipped cleanly when absent). */
const REALDATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/realdata/enhydris');
const hasRealdata = existsSync(REALDATA);
const dialects = await availableDialects();
const manifest = loadManifest('hcore');
const work = () => mkdtempSync(path.join(os.tmpdir(), 'rsdb-real-'));

describe.skipIf(!hasRealdata).each(dialects)('real Enhydris payloads into %s', (dialect) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  /** A real payload served exactly as it is (one fixture per model), and a fresh target. */
  const servePayload = async (file: string) => {
    const objects = JSON.parse(readFileSync(path.join(REALDATA, file), 'utf8'));
    const names = [...manifest.models.values()].filter((m) => !m.isPrivate).map((m) => m.name);
    const remote = await startStaticRemote('hcore', names, splitByModel(objects, names));
    const target = await createDatabase(dialect);
    cleanups.push(() => remote.close(), () => target.drop());
    return { remote, target, names };
  };

  for (const file of ['dbsync-testdata-2010.json', 'api-testdata-2011.json']) {
    it(`replicates ${file} (32 objects) as loaded into an instance`, async () => {
      const source = await startInstance({ files: [path.join(REALDATA, file)] });
      const target = await createDatabase(dialect);
      cleanups.push(() => source.close(), () => target.drop());
      const result = await sync({ app: 'hcore', remote: '127.0.0.1', port: source.port, exclude: ['UserProfile'], db: target.url, workDir: work() });
      expect(result.objects).toBe(32);
      expect(await assertIsomorphic(source.db.url, target.url, manifest, `127.0.0.1:${source.port}`)).toBe(32);
      await withDb(target.url, async (db) => {
        const station = await db.knex('hcore_station').first();
        const owner = await db.knex('hcore_lentity').where({ id: station.owner_id }).first();
        expect(owner.remarks).toBe('Test Owner');
        const uom = await db.knex('hcore_unitofmeasurement').first();
        const links = await db.knex('hcore_unitofmeasurement_variables').where({ unitofmeasurement_id: uom.id });
        const variable = await db.knex('hcore_variable').where({ id: links[0].variable_id }).first();
        expect(variable.descr).toBe('Test Variable');
      });
    });
  }

  it('replicates the 2010 payload served exactly as Enhydris sent it (remote tags and last_modified in fields)', async () => {
    const { remote, target } = await servePayload('dbsync-testdata-2010.json');
    const result = await sync({ app: 'hcore', remote: `127.0.0.1:${remote.port}`, exclude: ['UserProfile'], db: target.url, workDir: work() });
    expect(result.objects).toBe(32);
    await withDb(target.url, async (db) => {
      const gentity = await db.knex('hcore_gentity').where({ name: 'Test Station' }).first();
      const basin = await db.knex('hcore_gentity').where({ id: gentity.water_basin_id }).first();
      expect(basin.name).toBe('Test Water Basin');
      expect(basin.original_id).toBe(1);
    });
  });

  it('refuses the 2013 payload, naming Station and its missing NOT NULL type, and writes nothing', async () => {
    const { remote, target, names } = await servePayload('api-testdata-2013.json');
    const workDir = work();
    // Prepare the target first so that "nothing written" compares real tables.
    await sync({ app: 'hcore', remote: `127.0.0.1:${remote.port}`, db: target.url, workDir, exclude: names.filter((n) => n !== 'Variable') }).catch(() => undefined);
    const before = await tableDigests(target.url, manifest);
    const error = await sync({ app: 'hcore', remote: `127.0.0.1:${remote.port}`, exclude: ['UserProfile'], db: target.url, workDir }).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/Station pk=\d+: type is missing from the payload/);
    expect(await tableDigests(target.url, manifest)).toEqual(before);
  });
});
