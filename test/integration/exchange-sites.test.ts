import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loaddata } from '../../src/admin/loaddata.js';
import { exchange } from '../../src/exchange/exchange.js';
import { addSite } from '../../src/push/sites.js';
import { serve, type ServeResult } from '../../src/server/serve.js';
import { nowDatetime } from '../../src/values/values.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';
import { sharedRows } from '../helpers/exchange.js';
import { withDb } from '../helpers/inspect.js';

const dialects = await availableDialects();
const tmpdir = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

describe.each(dialects)('two sites exchanging at once with a centre on %s', (dialect) => {
  let centre: TestDatabase;
  let server: ServeResult;
  const sites: Array<{ name: string; db: TestDatabase; token: string }> = [];
  const workDir = tmpdir('rsdb-exchange-sites-');
  const run = (site: (typeof sites)[number]) => exchange({ with: `http://127.0.0.1:${server.port}`, app: 'hcore', db: site.db.url, exclude: ['UserProfile'], token: site.token, workDir: path.join(workDir, site.name), http: { retryBaseMs: 20 } });

  beforeAll(async () => {
    centre = await createDatabase(dialect);
    await loaddata({ app: 'hcore', db: centre.url, files: [SAMPLE_FIXTURE] });
    for (const name of ['north', 'south']) sites.push({ name, db: await createDatabase('sqlite'), token: (await addSite({ db: centre.url, app: 'hcore', name })).token! });
    server = await serve({ app: 'hcore', db: centre.url, port: 0, acceptPush: true });
  });
  afterAll(async () => {
    await server?.close();
    for (const site of sites) await site.db.drop();
    await centre?.drop();
  });

  it("both at once, round after round: each ends with the centre's rows, the other site's rows included, and no twin", async () => {
    await Promise.all(sites.map(run));
    for (let round = 0; round < 3; round++) {
      for (const [i, site] of sites.entries()) {
        await withDb(site.db.url, async (db) => {
          await db.knex('hcore_variable').insert({ descr: `${site.name} ${round}`, descr_alt: '', last_modified: nowDatetime() });
          // Different centre rows per site: no conflict expected.
          await db.knex('hcore_gentity').where({ original_id: 10 + round * 2 + i }).update({ remarks: `${site.name} ${round}`, last_modified: nowDatetime() });
        });
      }
      const results = await Promise.all(sites.map(run));
      for (const r of results) expect(r.conflicts).toBe(0);
    }
    // Settle: what one site sent reaches the other on its next exchange.
    for (let i = 0; i < 2; i++) for (const site of sites) await run(site);
    for (const site of sites) {
      expect(await run(site)).toMatchObject({ sent: 0, received: 0, written: 0, deleted: 0 });
      const [mine, theirs] = [await sharedRows(site.db.url, 'site', `127.0.0.1:${server.port}`), await sharedRows(centre.url, 'centre', site.name)];
      expect([...mine.keys()].sort()).toEqual([...theirs.keys()].sort());
      for (const [key, value] of mine) expect(theirs.get(key), `${site.name}: ${key}`).toBe(value);
      await withDb(site.db.url, async (db) => {
        expect(await db.knex('hcore_variable').where('descr', 'like', 'north %')).toHaveLength(3);
        expect(await db.knex('hcore_variable').where('descr', 'like', 'south %')).toHaveLength(3);
      });
    }
    await withDb(centre.url, async (db) => expect(await db.knex('hcore_variable').where('descr', 'like', 'north %').orWhere('descr', 'like', 'south %')).toHaveLength(6));
  });
});
