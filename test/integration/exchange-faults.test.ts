import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loaddata } from '../../src/admin/loaddata.js';
import { exchange, repair, type ExchangeOptions } from '../../src/exchange/exchange.js';
import { addSite } from '../../src/push/sites.js';
import { serve, type ServeResult } from '../../src/server/serve.js';
import { nowDatetime } from '../../src/values/values.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';
import { sharedRows } from '../helpers/exchange.js';
import { withDb } from '../helpers/inspect.js';
import { BIN, freePort } from '../helpers/run-bin.js';

const dialects = await availableDialects();
const tmpdir = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));


/** Edit `n` rows on each side (different rows) and add a few at the site. */
async function edits(siteUrl: string, centreUrl: string, round: number, n = 40): Promise<void> {
  const now = nowDatetime();
  await withDb(siteUrl, async (db) => {
    const rows = await db.knex('hcore_gentity').whereNotNull('original_db_id').orderBy('id').limit(n);
    for (const r of rows) await db.knex('hcore_gentity').where({ id: r.id }).update({ remarks: `site round ${round}`, last_modified: now });
    for (let i = 0; i < 5; i++) await db.knex('hcore_variable').insert({ descr: `site ${round}.${i}`, descr_alt: '', last_modified: now });
  });
  await withDb(centreUrl, async (db) => {
    const rows = await db.knex('hcore_gentity').orderBy('id', 'desc').limit(n);
    for (const r of rows) await db.knex('hcore_gentity').where({ id: r.id }).update({ remarks_alt: `centre round ${round}`, last_modified: now });
  });
}

describe.each(dialects)('exchange killed at any point, centre on %s', (dialect) => {
  let site: TestDatabase;
  let centre: TestDatabase;
  let token: string;
  const workDir = tmpdir('rsdb-exchange-kill-');
  const options = (port: number): ExchangeOptions => ({ with: `http://127.0.0.1:${port}`, app: 'hcore', db: site.url, exclude: ['UserProfile'], token, workDir, http: { retryBaseMs: 20, attempts: 2 } });
  /** Exchange until an exchange changes nothing (at most 4), and check both sides hold the same rows. */
  async function settle(port: number): Promise<void> {
    for (let i = 0; i < 4; i++) {
      const r = await exchange(options(port));
      if (r.sent === 0 && r.received === 0 && r.written === 0 && r.deleted === 0) break;
    }
    expect(await exchange(options(port))).toMatchObject({ sent: 0, writtenAtCentre: 0, received: 0, written: 0, deleted: 0 });
    const [s, c] = [await sharedRows(site.url, 'site', `127.0.0.1:${port}`), await sharedRows(centre.url, 'centre', 'laptop')];
    expect([...s.keys()].sort()).toEqual([...c.keys()].sort());
    for (const [key, value] of s) expect(c.get(key), key).toBe(value);
  }

  /** Each test's centre listens on a new port: the site's registry row of it moves there, as an operator would move it. */
  const moveCentre = (port: number) => withDb(site.url, async (db) => {
    if (await db.knex.schema.hasTable('dbsync_database')) await db.knex('dbsync_database').whereLike('hostname', '127.0.0.1:%').update({ hostname: `127.0.0.1:${port}`, name: `127.0.0.1:${port}` });
  });

  beforeAll(async () => {
    site = await createDatabase('sqlite');
    centre = await createDatabase(dialect);
    await loaddata({ app: 'hcore', db: centre.url, files: [SAMPLE_FIXTURE] });
    token = (await addSite({ db: centre.url, app: 'hcore', name: 'laptop' })).token!;
  });
  afterAll(async () => {
    await site?.drop();
    await centre?.drop();
  });

  it('SIGKILL of the site at any point: the next exchanges converge, no row lost or doubled', async () => {
    const server: ServeResult = await serve({ app: 'hcore', db: centre.url, port: 0, acceptPush: true });
    try {
      await exchange(options(server.port));
      for (const [round, delay] of [80, 250, 500].entries()) {
        await edits(site.url, centre.url, round);
        const child = spawn(process.execPath, [BIN, 'exchange', '--with', `http://127.0.0.1:${server.port}`, '-a', 'hcore', '--db', site.url, '-e', 'UserProfile', '-w', workDir, '-S'], { env: { ...process.env, REMOTESYNCDB_PUSH_TOKEN: token }, stdio: 'ignore' });
        await sleep(delay);
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
        await settle(server.port);
      }
      await withDb(site.url, async (db) => expect(await db.knex('hcore_variable').where('descr', 'like', 'site %')).toHaveLength(15));
      await withDb(centre.url, async (db) => expect(await db.knex('hcore_variable').where('descr', 'like', 'site %')).toHaveLength(15));
    } finally {
      await server.close();
    }
  });

  it('SIGKILL of the centre at any point: the next exchanges converge', async () => {
    const start = async (): Promise<{ child: ChildProcess }> => {
      const child = spawn(process.execPath, [BIN, 'serve', '--accept-push', '-a', 'hcore', '--db', centre.url, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
      await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (c) => {
          out += c;
          const m = /:(\d+)\/api\//.exec(out);
          if (m) resolve(Number(m[1]));
        });
        child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
      });
      return { child };
    };
    const port = await freePort();
    await moveCentre(port);
    let centreProcess = await start();
    try {
      for (const [round, delay] of [60, 200, 400].entries()) {
        await edits(site.url, centre.url, 10 + round);
        const running = exchange(options(port)).catch((error: unknown) => error);
        await sleep(delay);
        centreProcess.child.kill('SIGKILL');
        await new Promise((resolve) => centreProcess.child.once('exit', resolve));
        await running;
        centreProcess = await start();
        await settle(port);
      }
    } finally {
      centreProcess.child.kill('SIGKILL');
    }
  });

  it('a site offline for 30 days with thousands of changes on both sides: one exchange brings both up to date, bundles within --max-bundle-bytes', async () => {
    const server: ServeResult = await serve({ app: 'hcore', db: centre.url, port: 0, acceptPush: true });
    try {
      await moveCentre(server.port);
      await settle(server.port);
      const now = nowDatetime();
      await withDb(site.url, async (db) => {
        const rows = Array.from({ length: 2000 }, (_, i) => ({ descr: `offline ${i}`, descr_alt: 'x'.repeat(100), last_modified: now }));
        for (let i = 0; i < rows.length; i += 200) await db.knex('hcore_variable').insert(rows.slice(i, i + 200));
        await db.knex('hcore_gentity').whereNotNull('original_db_id').where('original_id', '<=', 33).update({ short_name: 'site', last_modified: now });
        // A Station (an MTI child, cut into a later bundle than its FK targets' claims).
        const station = await db.knex('hcore_station').join('hcore_gentity', 'hcore_gentity.id', 'hcore_station.gpoint_ptr_id').where('hcore_gentity.original_id', '<=', 33).first('hcore_station.gpoint_ptr_id as id', 'hcore_station.is_active as active');
        await db.knex('hcore_station').where({ gpoint_ptr_id: station.id }).update({ is_active: station.active ? 0 : 1 });
      });
      await withDb(centre.url, async (db) => {
        const rows = Array.from({ length: 2000 }, (_, i) => ({ descr: `centre ${i}`, descr_alt: 'y'.repeat(100), last_modified: now }));
        for (let i = 0; i < rows.length; i += 200) await db.knex('hcore_timestep').insert(rows.slice(i, i + 200).map((r) => ({ ...r, length_minutes: 10, length_months: 0 })));
        await db.knex('hcore_gentity').where('id', '>', 33).update({ short_name_alt: 'centre', last_modified: now });
      });
      const maxBundleBytes = 200_000;
      const r = await exchange({ ...options(server.port), maxBundleBytes });
      expect(r.sent).toBeGreaterThanOrEqual(2000);
      // Exactly the centre's changes come down: nothing the site sent comes back.
      const centreChanged = await withDb(centre.url, async (db) => Number((await db.knex('hcore_gentity').where('id', '>', 33).count({ n: '*' }).first())!.n));
      expect(r.received).toBe(2000 + centreChanged);
      expect(r.conflicts).toBe(0);
      expect(r.bundles).toBeGreaterThan(2);
      expect(r.largestBundle).toBeLessThanOrEqual(maxBundleBytes);
      expect(await exchange(options(server.port))).toMatchObject({ sent: 0, received: 0, written: 0, deleted: 0 });
      await settle(server.port);
    } finally {
      await server.close();
    }
  });

  it('a site silent for longer than the retention is told to repair; repair brings it back', async () => {
    const server: ServeResult = await serve({ app: 'hcore', db: centre.url, port: 0, acceptPush: true, retentionMs: 1500 });
    try {
      await moveCentre(server.port);
      await sleep(2000);
      await expect(exchange(options(server.port))).rejects.toThrow(/repair/);
      await repair(options(server.port));
      await settle(server.port);
    } finally {
      await server.close();
    }
  });
});
