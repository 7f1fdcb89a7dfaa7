import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loaddata } from '../../src/admin/loaddata.js';
import { addSite } from '../../src/push/sites.js';
import { nowDatetime } from '../../src/values/values.js';
import { createDatabase, type TestDatabase } from '../helpers/databases.js';
import { withDb } from '../helpers/inspect.js';
import { BIN, freePort, runBin } from '../helpers/run-bin.js';

const tmpdir = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

describe('exchange, repair and conflicts from the command line', () => {
  let site: TestDatabase;
  let centre: TestDatabase;
  let child: ChildProcess;
  let token: string;
  let url: string;
  const dir = tmpdir('rsdb-exchange-cli-');
  const centreConfig = path.join(dir, 'centre.json');
  const env = () => ({ REMOTESYNCDB_PUSH_TOKEN: token, XDG_STATE_HOME: path.join(dir, 'state'), XDG_CONFIG_HOME: path.join(dir, 'none') });
  const siteArgs = (...args: string[]) => [...args, '--with', url, '--db', site.url, '-e', 'UserProfile'];
  const atCentre = ['--db', '', '--config', centreConfig];

  beforeAll(async () => {
    site = await createDatabase('sqlite');
    centre = await createDatabase('sqlite');
    atCentre[1] = centre.url;
    await loaddata({ app: 'hcore', db: centre.url, files: [SAMPLE_FIXTURE] });
    token = (await addSite({ db: centre.url, app: 'hcore', name: 'laptop' })).token!;
    writeFileSync(centreConfig, JSON.stringify({ policies: { EventType: 'manual' } }));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [BIN, 'serve', '--accept-push', '--db', centre.url, '--port', String(port), '--config', centreConfig], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c) => {
        out += c;
        if (out.includes('Serving')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`centre exited with ${code}`)));
    });
  });
  afterAll(async () => {
    child?.kill('SIGTERM');
    await site?.drop();
    await centre?.drop();
  });

  it('exchange -S: a successful run prints nothing at all, on stdout or stderr', async () => {
    const first = await runBin(siteArgs('exchange', '-S'), { env: env() });
    expect(first).toEqual({ code: 0, out: '', err: '' });
    const quiet = await runBin(siteArgs('exchange', '-S'), { env: env() });
    expect(quiet).toEqual({ code: 0, out: '', err: '' });
  });

  it('exchange --json prints one JSON document; a quiet exchange sends and writes nothing', async () => {
    const r = await runBin(siteArgs('exchange', '--json'), { env: env() });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ status: 'success', sent: 0, received: 0, written: 0, conflicts: 0 });
  });

  it("the config file's policies hold the row (manual); conflicts list, show and resolve settle it", async () => {
    await withDb(site.url, (db) => db.knex('hcore_eventtype').where({ original_id: 1 }).update({ descr: 'site', last_modified: nowDatetime() }));
    await withDb(centre.url, (db) => db.knex('hcore_eventtype').where({ id: 1 }).update({ descr: 'centre', last_modified: nowDatetime() }));
    const r = await runBin(siteArgs('exchange'), { env: env() });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/1 conflict\(s\)/);
    const listed = await runBin(['conflicts', 'list', ...atCentre]);
    expect(listed.code).toBe(0);
    const id = Number(/^(\d+)\topen\tlaptop\tEventType 1\tmanual: kept held/m.exec(listed.out)?.[1]);
    expect(id).toBeGreaterThan(0);
    const shown = await runBin(['conflicts', 'show', String(id), '--json', ...atCentre]);
    expect(JSON.parse(shown.out)).toMatchObject({ id, siteVersion: { descr: 'site' }, centreVersion: { descr: 'centre' }, status: 'open' });
    const resolved = await runBin(['conflicts', 'resolve', String(id), '--take', 'site', ...atCentre]);
    expect(resolved).toMatchObject({ code: 0, out: expect.stringMatching(/Conflict \d+ resolved: EventType 1 now holds the site's version/) });
    const again = await runBin(['conflicts', 'resolve', String(id), '--take', 'centre', ...atCentre]);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/was resolved/);
    await withDb(centre.url, async (db) => expect((await db.knex('hcore_eventtype').where({ id: 1 }).first()).descr).toBe('site'));
    expect(JSON.parse((await runBin(siteArgs('exchange', '--json'), { env: env() })).out)).toMatchObject({ sent: 0, received: 0, written: 0 });
  });

  it('repair names the file of unsent changes', async () => {
    await withDb(site.url, (db) => db.knex('hcore_variable').where({ original_id: 2 }).update({ descr: 'not sent yet', last_modified: nowDatetime() }));
    const r = await runBin(siteArgs('repair'), { env: env() });
    expect(r.code).toBe(0);
    const file = /Unsent local changes were written to (\S+?)\.?$/m.exec(r.out)?.[1];
    expect(file && existsSync(file)).toBe(true);
  });

  it('a wrong token stops with exit 2 and never prints the token; a policy typo stops serve with exit 2', async () => {
    const r = await runBin(siteArgs('exchange'), { env: { ...env(), REMOTESYNCDB_PUSH_TOKEN: 'not-the-token-0123456789' } });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/refused the push token/);
    expect(r.err + r.out).not.toContain('not-the-token-0123456789');
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ policies: { EventTyp: 'manual' } }));
    const served = await runBin(['serve', '--accept-push', '--db', centre.url, '--port', '0', '--config', bad]);
    expect(served.code).toBe(2);
    expect(served.err).toMatch(/no model "EventTyp"/);
  });
});
