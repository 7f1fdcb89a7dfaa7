import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loaddata } from '../../src/admin/loaddata.js';
import type { DialectName } from '../../src/dialects/index.js';
import { exchange } from '../../src/exchange/exchange.js';
import { addSite } from '../../src/push/sites.js';
import { serve, type ServeResult } from '../../src/server/serve.js';
import { sync, type SyncResult } from '../../src/sync/sync.js';
import { nowDatetime } from '../../src/values/values.js';
import { createDatabase, type TestDatabase } from './databases.js';
import { withDb } from './inspect.js';

/** A centre as an operator finds it in the morning: a pulled remote that fails since its last success, and a site with a conflict waiting. */
export interface MorningCentre {
  centre: TestDatabase;
  /** The centre's `serve --accept-push`, still running (its /metrics counted the site's exchanges). */
  server: ServeResult;
  /** The pulled remote's name in the registry (its host:port), its first (successful) sync, and its `serve` (closed since). */
  upstream: string;
  upstreamSync: SyncResult;
  /** The pulled remote's serve /metrics text, read before it went down, and the bytes of the fixtures the sync received. */
  upstreamMetrics: string;
  upstreamBytes: number;
  site: TestDatabase;
  /** The site's exchanges with the centre so far, and one more. */
  exchanges: number;
  exchange(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Build it: a centre on `dialect` with the sample as its own rows and EventType under the manual
 * policy; a remote (the sample again, served) pulled once and then gone; a site `laptop` that
 * exchanged, and then changed EventType 1 as the centre did, differently: a conflict held open.
 */
export async function morningCentre(dialect: DialectName): Promise<MorningCentre> {
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-console-'));
  const centre = await createDatabase(dialect);
  await loaddata({ app: 'hcore', db: centre.url, files: [SAMPLE_FIXTURE] });
  const upstreamDb = await createDatabase('sqlite');
  await loaddata({ app: 'hcore', db: upstreamDb.url, files: [SAMPLE_FIXTURE] });
  const upstreamServer = await serve({ app: 'hcore', db: upstreamDb.url, port: 0 });
  const upstream = `127.0.0.1:${upstreamServer.port}`;
  let upstreamBytes = 0;
  const pull = () => sync({ app: 'hcore', remote: upstream, db: centre.url, exclude: ['UserProfile'], workDir, noBackups: true, http: { attempts: 1, retryBaseMs: 10 }, emit: (e) => { if (e.type === 'model-fetched') upstreamBytes += e.bytes; } });
  const upstreamSync = await pull();
  const upstreamMetrics = await (await fetch(`${upstreamServer.url}/metrics`)).text();
  await upstreamServer.close();
  await upstreamDb.drop();
  await pull().then(() => { throw new Error('the sync of a remote that is down succeeded'); }, () => undefined);

  const token = (await addSite({ db: centre.url, app: 'hcore', name: 'laptop' })).token!;
  const server = await serve({ app: 'hcore', db: centre.url, port: 0, acceptPush: true, policies: { EventType: 'manual' } });
  const site = await createDatabase('sqlite');
  const run = () => exchange({ with: server.url, app: 'hcore', db: site.url, exclude: ['UserProfile'], token, workDir, http: { retryBaseMs: 20, attempts: 2 } });
  await run();
  await withDb(site.url, (db) => db.knex('hcore_eventtype').where({ original_id: 1 }).update({ descr: 'Maintenance (site)', last_modified: nowDatetime() }));
  await withDb(centre.url, (db) => db.knex('hcore_eventtype').where({ id: 1 }).update({ descr: 'Maintenance (centre)', last_modified: nowDatetime() }));
  const second = await run();
  if (second.conflicts !== 1) throw new Error(`expected one conflict, the exchange met ${second.conflicts}`);
  return {
    centre, server, upstream, upstreamSync, upstreamMetrics, upstreamBytes, site, exchanges: 2,
    async exchange() {
      await run();
      this.exchanges++;
    },
    async close() {
      await server.close();
      await site.drop();
      await centre.drop();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

/** The value of one series of a Prometheus text scrape (undefined when absent). */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(m[3]);
  }
  return undefined;
}
