import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import type { FetchManifest } from '../../src/sources/work-dir.js';
import { sync } from '../../src/sync/sync.js';
import { availableDialects } from '../helpers/databases.js';
import { assertIsomorphic, withDb } from '../helpers/inspect.js';
import { sourceAndTarget } from '../helpers/instance.js';
import { startStaticRemote } from '../helpers/static-remote.js';

const dialects = await availableDialects();
const manifest = loadManifest('hcore');

/** Cheap deletions: a nightly --prune fetches incrementally, with each model's ids beside it. */
describe.each(dialects)('--prune from the remote ids lists (%s)', (dialect) => {
  const pair = sourceAndTarget(dialect);
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-ids-'));
  const run = (extra: Partial<Parameters<typeof sync>[0]> = {}) =>
    sync({ app: 'hcore', remote: `127.0.0.1:${pair.source.port}`, exclude: ['UserProfile'], db: pair.target.url, workDir, noBackups: true, ...extra });


  it('deletes what the remote deleted without fetching the unchanged objects again', async () => {
    await run();
    const gone = await withDb(pair.source.db.url, async (db) => {
      const row = await db.knex('hcore_timeseries').orderBy('id', 'desc').first('id');
      await db.knex('hcore_timeseries').where({ id: row.id }).del();
      return Number(row.id);
    });
    const result = await run({ prune: true });
    expect(result.models.find((m) => m.model === 'Timeseries')!.deleted).toBe(1);
    // Incremental: nothing changed at the remote, so (almost) no object came again.
    expect(result.models.reduce((n, m) => n + m.objects, 0)).toBeLessThan(50);
    const record = JSON.parse(readFileSync(path.join(result.workDir, 'fetch.json'), 'utf8')) as FetchManifest;
    expect(record.models.Timeseries).toMatchObject({ modifiedAfter: expect.any(String), ids: { objects: 50 } });
    await withDb(pair.target.url, async (db) => {
      expect(await db.knex('hcore_gentity').join('hcore_timeseries', 'hcore_timeseries.gentity_id', 'hcore_gentity.id').where('hcore_timeseries.original_id', gone).first()).toBeUndefined();
    });
    await assertIsomorphic(pair.source.db.url, pair.target.url, manifest, `127.0.0.1:${pair.source.port}`);
    // The staged ids are checked like the fixtures on --resume.
    const resumed = await run({ prune: true, resume: true });
    expect(resumed.models.every((m) => m.deleted === 0)).toBe(true);
  });

  it('fetches everything for --prune from a remote that offers no ids', async () => {
    const objects = JSON.parse(readFileSync(SAMPLE_FIXTURE, 'utf8')).filter((o: { model: string }) => o.model === 'hcore.lentity');
    const remote = await startStaticRemote('hcore', ['Lentity'], { Lentity: objects });
    const others = [...manifest.models.keys()].filter((m) => m !== 'Lentity');
    try {
      const base = { app: 'hcore', remote: `127.0.0.1:${remote.port}`, exclude: others, db: pair.target.url, workDir, noBackups: true };
      await sync(base);
      remote.set('Lentity', objects.slice(1));
      const pruned = await sync({ ...base, prune: true });
      expect(pruned.models[0]).toMatchObject({ model: 'Lentity', objects: objects.length - 1, deleted: 1 });
    } finally {
      await remote.close();
    }
  });
});
