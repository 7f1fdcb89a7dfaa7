import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { cli } from '../helpers/cli.js';
import { assertIsomorphic } from '../helpers/inspect.js';
import { sourceAndTarget } from '../helpers/instance.js';

// Issue 14.5: the README's round trip, against the bundled hcore: inspect the database an
// instance serves, spelling model names as the instance does, then sync that instance with it.
describe('inspect, then sync with the inspected manifest', () => {
  const pair = sourceAndTarget();

  it('--names-from takes the model names of a live instance, and the manifest syncs it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-rt-'));
    const file = path.join(dir, 'inspected.json');
    const inspected = await cli(['inspect', '--db', pair.source.db.url, '-a', 'hcore', '--names-from', `http://127.0.0.1:${pair.source.port}`, '-o', file]);
    expect(inspected.code, inspected.err).toBe(0);
    const models = Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { models: object }).models);
    const served = [...loadManifest('hcore').models.values()].filter((m) => !m.isPrivate).map((m) => m.name);
    for (const name of served) expect(models).toContain(name);
    // The private model is not served: inspect cannot know its spelling and says how to exclude it.
    expect(inspected.err).toContain('-e Userprofile');
    const synced = await cli(['-a', file, '-r', '127.0.0.1', '-p', String(pair.source.port), '-e', 'Userprofile', '--db', pair.target.url, '-w', dir]);
    expect(synced.code, synced.err).toBe(0);
    expect(await assertIsomorphic(pair.source.db.url, pair.target.url, loadManifest(file), `127.0.0.1:${pair.source.port}`)).toBe(461);
  });
});
