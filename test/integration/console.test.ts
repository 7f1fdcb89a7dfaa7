import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConsole, type ConsoleServer } from '../../src/console/console-server.js';
import { CONFLICT_TABLE } from '../../src/exchange/exchange-tables.js';
import { addRemote } from '../../src/admin/remotes.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { serve } from '../../src/server/serve.js';
import { ORIGINAL_DB } from '../../src/schema/app-tables.js';
import { RUN_TABLE } from '../../src/schema/bookkeeping.js';
import { KEPT_RUNS, recordRun } from '../../src/sync/report.js';
import { nowDatetime } from '../../src/values/values.js';
import { availableDialects } from '../helpers/databases.js';
import { metric, morningCentre, type MorningCentre } from '../helpers/console-fleet.js';
import { withDb } from '../helpers/inspect.js';
import { runBin } from '../helpers/run-bin.js';

const dialects = await availableDialects();
const TOKEN = 'console-token-for-tests-0123456789';
const manifest = loadManifest('hcore');

/*
 * The console and the metrics of a centre as an operator finds it in the morning (a pulled
 * remote failing since its last success, a site with a conflict waiting), on each database:
 * every number the pages, /metrics and `status --json` show is checked against the database's
 * own records. The page in a real browser is in console-browser.test.ts.
 */
describe.each(dialects)('the console and /metrics of a centre on %s', (dialect) => {
  let fleet: MorningCentre;
  let console_: ConsoleServer;
  const get = async (p: string) => {
    const res = await fetch(`${console_.url}${p}`);
    return { status: res.status, type: res.headers.get('content-type') ?? '', csp: res.headers.get('content-security-policy') ?? '', cookie: res.headers.get('set-cookie') ?? '', text: await res.text() };
  };
  const runs = (remote: string) => withDb(fleet.centre.url, (db) => db.knex(RUN_TABLE).where({ remote }).orderBy('id', 'desc'));

  beforeAll(async () => {
    fleet = await morningCentre(dialect);
    console_ = await startConsole({ app: 'hcore', db: fleet.centre.url, port: 0, token: TOKEN });
  }, 120_000);
  afterAll(async () => {
    await console_?.close();
    await fleet?.close();
  });

  it("the console's /metrics says what the run history holds, per remote and site", async () => {
    const text = (await get('/metrics')).text;
    const [failed, succeeded] = await runs(fleet.upstream);
    expect(failed).toMatchObject({ status: 'failed' });
    expect(String(failed.error)).toMatch(/unreachable/);
    const up = { member: fleet.upstream, kind: 'remote' };
    expect(metric(text, 'remotesyncdb_last_run_failed', up)).toBe(1);
    expect(metric(text, 'remotesyncdb_runs_total', { ...up, status: 'failed' })).toBe(1);
    expect(metric(text, 'remotesyncdb_runs_total', { ...up, status: 'success' })).toBe(1);
    expect(metric(text, 'remotesyncdb_last_success_timestamp_seconds', up)).toBe(Math.floor(Date.parse(succeeded.started) / 1000));
    expect(succeeded.objects).toBe(fleet.upstreamSync.written);
    // The rows tagged with the remote, counted table by table.
    const held = await withDb(fleet.centre.url, async (db) => {
      const id = (await db.knex(manifest.registry).where({ hostname: fleet.upstream }).first('id')).id;
      let n = 0;
      for (const m of manifest.models.values()) if (m.parent === undefined && !m.isPrivate) n += Number((await db.knex(m.table).where({ [ORIGINAL_DB]: id }).count({ n: '*' }).first())!.n);
      return n;
    });
    expect(held).toBeGreaterThan(0);
    expect(metric(text, 'remotesyncdb_rows', up)).toBe(held);
    const laptop = { member: 'laptop', kind: 'site' };
    const [lastPush] = await runs('site/laptop');
    expect(lastPush).toMatchObject({ status: 'success' });
    expect(metric(text, 'remotesyncdb_last_run_objects', laptop)).toBe(Number(lastPush.objects));
    expect(metric(text, 'remotesyncdb_last_run_failed', laptop)).toBe(0);
    expect(metric(text, 'remotesyncdb_open_conflicts', laptop)).toBe(1);
    expect(metric(text, 'remotesyncdb_conflicts', { status: 'open' })).toBe(1);
    // A site's lag runs from its last contact (here its last exchange's feed ack, after its last bundle).
    const contact = await withDb(fleet.centre.url, async (db) => String((await db.knex('remotesyncdb_site').first('last_contact')).last_contact));
    expect(metric(text, 'remotesyncdb_lag_seconds', laptop)).toBeGreaterThanOrEqual(0);
    expect(metric(text, 'remotesyncdb_lag_seconds', laptop)).toBeLessThanOrEqual(Math.ceil((Date.now() - Date.parse(contact)) / 1000) + 1);
  });

  it("serve's /metrics counts requests, bytes out and bundles (a pull's fixtures, a site's exchanges)", async () => {
    // The remote's serve, read right after the pull: one request per fixture, and every byte of them.
    const pulled = fleet.upstreamMetrics;
    expect(metric(pulled, 'remotesyncdb_serve_requests_total', { route: 'fixture', method: 'GET', status: '200' })).toBe(fleet.upstreamSync.fixtures);
    // Every byte of the fixtures, and little more (GET /api/'s answer).
    expect(fleet.upstreamBytes).toBeGreaterThan(0);
    expect(metric(pulled, 'remotesyncdb_serve_bytes_out_total')).toBeGreaterThanOrEqual(fleet.upstreamBytes);
    expect(metric(pulled, 'remotesyncdb_serve_bytes_out_total')).toBeLessThan(fleet.upstreamBytes + 2048);
    expect(metric(pulled, 'remotesyncdb_serve_streams_in_flight')).toBe(0);
    // The centre's: both exchanges committed a bundle (the first sent nothing: no bundle), none refused.
    const res = await fetch(`${fleet.server.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const committed = (await runs('site/laptop')).length;
    expect(metric(text, 'remotesyncdb_serve_bundles_total', { outcome: 'accepted', reason: '' })).toBe(committed);
    expect(metric(text, 'remotesyncdb_serve_bundles_total', { outcome: 'refused' })).toBeUndefined();
    expect(metric(text, 'remotesyncdb_serve_requests_total', { route: 'exchange', method: 'GET', status: '200' })).toBe(fleet.exchanges);
    expect(metric(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('the pages show the failing remote with its error, the site with its conflict, and the conflict side by side', async () => {
    const home = await get('/');
    expect(home.status).toBe(200);
    expect(home.csp).toContain("default-src 'none'");
    expect(home.text).toContain('unreachable');
    expect(home.text).toMatch(/1<\/strong> failing/);
    expect(home.text).toContain('1 open conflict');
    const remote = await get(`/remotes/${encodeURIComponent(fleet.upstream)}`);
    expect(remote.status).toBe(200);
    expect(remote.text).toContain('hcore'); // its watermarks, one per model
    const site = await get('/sites/laptop');
    expect(site.status).toBe(200);
    expect((await get('/sites/nobody')).status).toBe(404);
    const [open] = await withDb(fleet.centre.url, (db) => db.knex(CONFLICT_TABLE).where({ status: 'open' }));
    const list = await get('/conflicts?status=open');
    expect(list.text).toContain(`/conflicts/${open.id}`);
    const page = await get(`/conflicts/${open.id}`);
    expect(page.text).toContain('Maintenance (site)');
    expect(page.text).toContain('Maintenance (centre)');
    expect(page.text).toMatch(/descr <span class="badge warn">differs/);
    expect(page.cookie).toMatch(/^rsdb_csrf=[0-9a-f]{96}; Path=\/; HttpOnly; SameSite=Strict/);
  });

  it('a resolve without the page\'s CSRF value, or with a wrong token, changes nothing', async () => {
    const [open] = await withDb(fleet.centre.url, (db) => db.knex(CONFLICT_TABLE).where({ status: 'open' }));
    const page = await get(`/conflicts/${open.id}`);
    const csrf = /name="csrf" value="([0-9a-f]{96})"/.exec(page.text)![1];
    const post = (body: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(`${console_.url}/conflicts/${open.id}/resolve`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(body).toString() });
    // No cookie (another site's form): refused, even with the right token.
    expect((await post({ csrf, token: TOKEN, take: 'site' })).status).toBe(403);
    // The cookie, but from another origin.
    expect((await post({ csrf, token: TOKEN, take: 'site' }, { cookie: `rsdb_csrf=${csrf}`, origin: 'http://evil.example' })).status).toBe(403);
    // A cookie and field of the right shape that this console did not sign (planted by another service of the host).
    const planted = 'a'.repeat(96);
    expect((await post({ csrf: planted, token: TOKEN, take: 'site' }, { cookie: `rsdb_csrf=${planted}` })).status).toBe(403);
    // The page's own form with a wrong token.
    const wrong = await post({ csrf, token: 'not-the-token', take: 'site' }, { cookie: `rsdb_csrf=${csrf}` });
    expect(wrong.status).toBe(403);
    expect(await wrong.text()).toContain('Wrong console token');
    const after = await withDb(fleet.centre.url, async (db) => ({ conflict: await db.knex(CONFLICT_TABLE).where({ id: open.id }).first(), row: await db.knex('hcore_eventtype').where({ id: 1 }).first() }));
    expect(after.conflict.status).toBe('open');
    expect(after.row.descr).toBe('Maintenance (centre)');
  });

  it('the rows held are counted again once a run was recorded since (a new row of the site)', async () => {
    const laptop = { member: 'laptop', kind: 'site' };
    const before = metric((await get('/metrics')).text, 'remotesyncdb_rows', laptop);
    expect(before).toBe(0);
    await withDb(fleet.site.url, (db) => db.knex('hcore_eventtype').insert({ descr: 'Calibration', descr_alt: 'Calibration', last_modified: nowDatetime() }));
    await fleet.exchange();
    expect(metric((await get('/metrics')).text, 'remotesyncdb_rows', laptop)).toBe(1);
  });

  it('status --json gives the numbers of the fleet page, and exits 1 while a remote fails', async () => {
    const r = await runBin(['status', '--json', '--db', fleet.centre.url]);
    expect(r.code).toBe(1);
    expect(r.err).toBe('');
    const status = JSON.parse(r.out) as { members: Array<{ name: string; lastRun: { objects: number | null; status: string }; rows: number; openConflicts: number }> };
    const fromPage = JSON.parse((await get('/fleet.json')).text) as typeof status;
    const pick = (s: typeof status) => s.members.map((m) => ({ name: m.name, last: m.lastRun?.status, objects: m.lastRun?.objects, rows: m.rows, open: m.openConflicts }));
    expect(pick(status)).toEqual(pick(fromPage));
    expect(pick(status)).toEqual(expect.arrayContaining([expect.objectContaining({ name: fleet.upstream, last: 'failed' }), expect.objectContaining({ name: 'laptop', last: 'success', open: 1 })]));
  });

  it('bad requests get a clear 4xx and the console keeps answering: a body too large, a foreign Host, an address or id out of range', async () => {
    const big = await fetch(`${console_.url}/conflicts/1/resolve`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a'.repeat(16 * 1024 + 1) });
    expect(big.status).toBe(413);
    const raw = (options: http.RequestOptions) => new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: Number(new URL(console_.url).port), ...options }, (res) => { res.resume(); resolve(res.statusCode!); });
      req.on('error', reject);
      req.end();
    });
    // A body cut short with no content-length (chunked) as well.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: Number(new URL(console_.url).port), method: 'POST', path: '/conflicts/1/resolve', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (res) => { res.resume(); resolve(res.statusCode!); });
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write('a'.repeat(1024));
      req.end();
    });
    expect(chunked).toBe(413);
    expect(await raw({ path: '/', headers: { host: `rebind.example:${new URL(console_.url).port}` } })).toBe(421);
    expect(await raw({ path: '/', headers: { host: `localhost:${new URL(console_.url).port}` } })).toBe(200);
    expect(await raw({ path: 'http://[::1' })).toBe(400);
    expect((await get('/conflicts/2147483648')).status).toBe(404);
    expect((await get('/conflicts?status=bogus')).status).toBe(400);
    expect((await get('/')).status).toBe(200);
    // serve's access log had the same flaw: an enrolment body over its limit, then serve still answers.
    const logged: number[] = [];
    const centre = await serve({ app: 'hcore', db: fleet.centre.url, port: 0, acceptPush: true, onRequest: (r) => logged.push(r.status) });
    try {
      const enrol = await fetch(`${centre.url}/api/push/enrol`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: 'x'.repeat(8000) }) }).then((r) => r.status, () => 0);
      expect([0, 401, 413]).toContain(enrol);
      expect((await fetch(`${centre.url}/api/`)).status).toBe(200);
      expect(logged.at(-1)).toBe(200);
    } finally {
      await centre.close();
    }
  });

  it('wrong tokens are checked one at a time: three guesses at once take three delays', async () => {
    const [open] = await withDb(fleet.centre.url, (db) => db.knex(CONFLICT_TABLE).where({ status: 'open' }));
    const page = await get(`/conflicts/${open.id}`);
    const csrf = /name="csrf" value="([0-9a-f]{96})"/.exec(page.text)![1];
    const started = Date.now();
    const answers = await Promise.all([1, 2, 3].map((i) => fetch(`${console_.url}/conflicts/${open.id}/resolve`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `rsdb_csrf=${csrf}` }, body: new URLSearchParams({ csrf, token: `guess-${i}`, take: 'site' }).toString() })));
    expect(answers.map((a) => a.status)).toEqual([403, 403, 403]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
  });

  it('--port is checked; HEAD answers of serve are not counted as bytes sent', async () => {
    expect(await runBin(['console', '--port', 'abc', '--db', fleet.centre.url])).toMatchObject({ code: 2, err: expect.stringContaining('--port takes a whole number from 0 to 65535') });
    const scrape = async () => {
      const text = await (await fetch(`${fleet.server.url}/metrics`)).text();
      return { bytes: metric(text, 'remotesyncdb_serve_bytes_out_total')!, size: Buffer.byteLength(text) };
    };
    const first = await scrape();
    for (let i = 0; i < 3; i++) expect((await fetch(`${fleet.server.url}/api/`, { method: 'HEAD' })).status).toBe(200);
    // Between the two reads, only the first scrape's own answer went out: no HEAD body.
    expect((await scrape()).bytes).toBe(first.bytes + first.size);
  });

  it("a remote's page is found by its hostname, never by another remote's name", async () => {
    // A remote named as another's host:port (names are free text).
    await addRemote({ db: fleet.centre.url, name: '127.0.0.1:1', remote: '127.0.0.1:2' });
    expect((await get(`/remotes/${encodeURIComponent('127.0.0.1:1')}`)).status).toBe(404);
    const page = await get(`/remotes/${encodeURIComponent('127.0.0.1:2')}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('<h1>127.0.0.1:1 ');
  });

  it('two resolves of one conflict at once: one wins, the other is told, the row holds the winner', async () => {
    const [open] = await withDb(fleet.centre.url, (db) => db.knex(CONFLICT_TABLE).where({ status: 'open' }));
    // Two operators, two processes (in one process, two SQLite connections would wait on each other's lock with the event loop held).
    const resolve = (take: string) => runBin(['conflicts', 'resolve', String(open.id), '--take', take, '--db', fleet.centre.url]);
    const outcomes = await Promise.all([resolve('site'), resolve('centre')]);
    expect(outcomes.map((o) => o.code).sort()).toEqual([0, 2]);
    expect(outcomes.find((o) => o.code === 2)!.err).toMatch(/was resolved/);
    const winner = outcomes[0].code === 0 ? 'Maintenance (site)' : 'Maintenance (centre)';
    const after = await withDb(fleet.centre.url, async (db) => ({ conflict: await db.knex(CONFLICT_TABLE).where({ id: open.id }).first(), row: await db.knex('hcore_eventtype').where({ id: 1 }).first() }));
    expect(after.conflict.reason).toMatch(new RegExp(`resolved: took the ${winner.includes('site') ? 'site' : 'centre'}'s version$`));
    expect(after.row.descr).toBe(winner);
  });

  it('a remote failing for more than 30 runs still shows its last success; a password in an error is never shown', async () => {
    const [success] = await runs(fleet.upstream).then((r) => r.filter((x) => x.status === 'success'));
    await withDb(fleet.centre.url, async (db) => {
      for (let i = 0; i < 31; i++) await recordRun(db.knex, { startedAt: new Date().toISOString(), remote: fleet.upstream, app: 'hcore', status: 'failed', error: new Error('cannot reach postgres://sync:hunter2@db.internal/enhydris') });
    });
    const fleetNow = JSON.parse((await get('/fleet.json')).text) as { members: Array<{ hostname: string; lastSuccess: { id: number } | null; failures: number }> };
    const up = fleetNow.members.find((m) => m.hostname === fleet.upstream)!;
    expect(up.lastSuccess?.id).toBe(Number(success.id));
    expect(up.failures).toBe(32);
    expect(metric((await get('/metrics')).text, 'remotesyncdb_last_success_timestamp_seconds', { member: fleet.upstream, kind: 'remote' })).toBe(Math.floor(Date.parse(success.started) / 1000));
    for (const p of ['/', `/remotes/${encodeURIComponent(fleet.upstream)}`, '/fleet.json', '/metrics']) expect((await get(p)).text).not.toContain('hunter2');
    expect((await get('/')).text).toContain('sync:***@db.internal');
  });

  it('the history keeps the newest 2,000 runs of each remote (an exchange every 15 minutes would grow it by 35,000 a year)', async () => {
    await withDb(fleet.centre.url, async (db) => {
      const rows = Array.from({ length: KEPT_RUNS }, () => ({ started: new Date().toISOString(), finished: new Date().toISOString(), remote: fleet.upstream, app: 'hcore', status: 'success', objects: 0 }));
      for (let i = 0; i < rows.length; i += 200) await db.knex(RUN_TABLE).insert(rows.slice(i, i + 200));
      const [before] = await db.knex(RUN_TABLE).where({ remote: fleet.upstream }).orderBy('id', 'desc').offset(KEPT_RUNS - 1).limit(1).select('id');
      const others = await db.knex(RUN_TABLE).whereNot({ remote: fleet.upstream }).count({ n: '*' });
      await recordRun(db.knex, { startedAt: new Date().toISOString(), remote: fleet.upstream, app: 'hcore', status: 'failed', error: 'down' });
      const kept = await db.knex(RUN_TABLE).where({ remote: fleet.upstream }).orderBy('id');
      expect(kept).toHaveLength(KEPT_RUNS);
      // The oldest kept is the one that was 2,000th newest before, less the one that made room.
      expect(Number(kept[0].id)).toBeGreaterThan(Number(before.id));
      expect(kept.at(-1)).toMatchObject({ status: 'failed' });
      expect(await db.knex(RUN_TABLE).whereNot({ remote: fleet.upstream }).count({ n: '*' })).toEqual(others);
    });
  });
});
