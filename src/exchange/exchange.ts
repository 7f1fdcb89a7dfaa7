import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { connectDatabase, type Database } from '../dialects/index.js';
import { ConfigError, FetchError } from '../errors.js';
import { loadManifest } from '../manifest/load-manifest.js';
import { dependencyOrder } from '../manifest/order.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { ensureSchema } from '../schema/ensure-schema.js';
import { parseRemote, remoteDirName, type RemoteEndpoint } from '../sources/remote-endpoint.js';
import { defaultWorkDir } from '../sources/work-dir.js';
import { checkExcludes } from '../sync/plan.js';
import { findRemote, registerRemote } from '../sync/registry.js';
import { unpackBundle } from '../push/bundle.js';
import { centreRequest, PushRefusedError, type CentreClientOptions } from '../push/push-client.js';
import { lockDir, push, type PushResult } from '../push/push.js';
import { applyFeed, type CentreRef, type FeedResult } from './apply-feed.js';
import { BASE_TABLE, ensureExchangeTables, SENT_TABLE } from './exchange-tables.js';
import type { FeedAck } from './feed.js';
import { exchangeCut, markCommitted, siteChanges } from './site-cut.js';
import { PeerTags } from './version.js';

/** Options of `remotesyncdb exchange` and `repair` (run at the site). */
export interface ExchangeOptions {
  /** The centre: `https://host[:port]` or `host:port`. */
  with: string;
  app: string;
  /** The site's database (read and written: it receives the centre's rows). */
  db?: string;
  exclude?: readonly string[];
  workDir?: string;
  /** The site's token at the centre (`REMOTESYNCDB_PUSH_TOKEN` or the config file). */
  token?: string;
  http?: Omit<CentreClientOptions, 'token'>;
  chunkBytes?: number;
  maxBundleBytes?: number;
  emit?: (message: string) => void;
  /**
   * Ask for a whole feed: the centre compares every row with what the site holds, not only the
   * rows whose lastModified moved since the last acknowledged feed (one changed by hand without it).
   */
  full?: boolean;
}

/** What one exchange did. */
export interface ExchangeResult {
  status: 'success';
  centre: string;
  /** Objects sent up (changed rows and deletes), and what the centre wrote and met. */
  sent: number;
  writtenAtCentre: number;
  conflicts: number;
  rejected: number;
  /** The bundles sent: how many, and the largest one's bytes. */
  bundles: number;
  largestBundle: number;
  /** Objects the centre's feed held, rows written here, deletes applied, rows held back. */
  received: number;
  written: number;
  deleted: number;
  held: FeedResult['held'];
  /** `repair`: where the unsent local changes were written first. */
  unsentFile?: string;
  durationMs: number;
}

/**
 * One exchange (DESIGN §10): send the ack of a feed applied before if the centre has not
 * confirmed it, push the site's changes (cut by version against the agreed base), then fetch
 * the centre's feed for this site and apply it in ONE site transaction, and acknowledge it.
 * Killed at any point, each database is as before a transaction or fully after it, and the
 * next exchange carries on from there (a bundle is idempotent, a feed is sent again until
 * acknowledged, and a version sent twice is recognised).
 */
export async function exchange(options: ExchangeOptions): Promise<ExchangeResult> {
  return withSite(options, async (site) => {
    const pushed = await pushChanges(site);
    const feed = await receiveFeed(site, false);
    return result(site, pushed, feed);
  });
}

/**
 * `repair` (DESIGN §10): write every change the site has not sent to a file it names, then
 * take the centre's whole state of its rows (the centre forgets what it believed the site
 * held), push the site's own rows in full, and exchange once more to settle. Nothing local is
 * dropped silently: what the centre's state replaced is in the file.
 */
export async function repair(options: ExchangeOptions): Promise<ExchangeResult> {
  return withSite(options, async (site) => {
    const unsentFile = path.join(site.dir, `unsent-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await writeUnsent(site, unsentFile);
    site.emit(`Unsent local changes written to ${unsentFile}`);
    const answer = await centreRequest(site.endpoint, 'POST', '/api/exchange/reset', site.client, Buffer.from('{}'), { 'content-type': 'application/json' });
    if (answer.status !== 200) throw new PushRefusedError(`Centre ${site.endpoint.hostname} refused the repair (${answer.status}): ${String(answer.body.error ?? '')}`);
    await site.db.knex.transaction(async (trx) => {
      await trx(BASE_TABLE).where({ peer_id: site.centre.id }).del();
      await trx(SENT_TABLE).where({ peer_id: site.centre.id }).del();
    });
    await rm(path.join(site.dir, 'push'), { recursive: true, force: true });
    const first = await receiveFeed(site, true);
    const pushed = await pushChanges(site);
    const feed = await receiveFeed(site, false);
    return { ...result(site, pushed, feed), received: first.objects + feed.objects, written: first.written + feed.written, deleted: first.deleted + feed.deleted, unsentFile };
  });
}

/** Everything one exchange with one centre shares. */
interface Site {
  options: ExchangeOptions;
  manifest: AppManifest;
  plan: ModelDef[];
  endpoint: RemoteEndpoint;
  client: CentreClientOptions;
  db: Database;
  centre: CentreRef;
  dir: string;
  started: number;
  emit: (message: string) => void;
}

async function withSite(options: ExchangeOptions, fn: (site: Site) => Promise<ExchangeResult>): Promise<ExchangeResult> {
  const started = Date.now();
  const manifest = loadManifest(options.app);
  const excluded = checkExcludes(manifest, options.exclude ?? []);
  const endpoint = parseRemote(options.with);
  if (!options.token) throw new ConfigError(`exchange: no token for centre ${endpoint.hostname}; set REMOTESYNCDB_PUSH_TOKEN, or enrol once with push --to ${options.with} --enrol CODE`);
  const client: CentreClientOptions = { ...options.http, token: options.token };
  const plan = dependencyOrder(manifest).filter((m) => !m.isPrivate && !excluded.has(m.name));
  const dir = path.join(path.resolve(options.workDir ?? defaultWorkDir()), 'exchange', remoteDirName(endpoint.hostname), manifest.app);
  await mkdir(dir, { recursive: true });
  const release = await lockDir(dir);
  let db: Database | undefined;
  try {
    // A new laptop starts from nothing: its first exchange creates the database.
    db = await connectDatabase(options.db);
    // The site receives the centre's rows: its tables need origin tags (as init adds them).
    await ensureSchema(db.knex, db.dialect, manifest, 'add-tags');
    await ensureExchangeTables(db.knex, db.dialect, manifest.registry);
    const known = await findRemote(db.knex, manifest.registry, endpoint.hostname, endpoint.hostname, true);
    // One site exchanges with one centre: the same centre under another address would look like
    // a second one, and each would take the other's rows for the site's own.
    const other = await db.knex(BASE_TABLE).join(`${manifest.registry} as r`, 'r.id', `${BASE_TABLE}.peer_id`).modify((q) => { if (known) q.whereNot(`${BASE_TABLE}.peer_id`, known.id); }).first('r.hostname');
    if (other) throw new ConfigError(`${db.display} exchanges with the centre ${String(other.hostname)}; one site exchanges with one centre (a centre that moved keeps its registry row: change its hostname there rather than exchanging under a new address)`);
    const row = known ?? (await db.knex.transaction((trx) => registerRemote(trx, manifest.registry, { hostname: endpoint.hostname, descr: 'exchange centre', isTls: endpoint.isTls })));
    const site: Site = { options, manifest, plan, endpoint, client, db, centre: { id: row.id, hostname: endpoint.hostname }, dir, started, emit: options.emit ?? (() => {}) };
    await sendPendingAck(site);
    return await fn(site);
  } finally {
    await db?.knex.destroy();
    await release();
  }
}

async function pushChanges(site: Site): Promise<PushResult> {
  const { options } = site;
  site.emit(`Sending this site's changes to ${site.endpoint.baseUrl}`);
  return push({
    to: options.with, app: options.app, ...(options.db ? { db: options.db } : {}), exclude: options.exclude ?? [], token: options.token,
    ...(options.http ? { http: options.http } : {}), ...(options.chunkBytes ? { chunkBytes: options.chunkBytes } : {}), ...(options.maxBundleBytes ? { maxBundleBytes: options.maxBundleBytes } : {}),
    dir: path.join(site.dir, 'push'), cut: exchangeCut(site.centre.id), onCommitted: (ack) => markCommitted(site.db.knex, site.db.dialect, site.manifest, site.centre.id, ack),
    emit: (e) => { if (e.type === 'phase') site.emit(e.message); },
  });
}

/** Fetch the centre's feed for this site, apply it in one transaction, and acknowledge it. */
async function receiveFeed(site: Site, isRepair: boolean): Promise<FeedResult> {
  const { endpoint, client, manifest } = site;
  site.emit(`Fetching ${endpoint.baseUrl}'s feed for this site`);
  const file = path.join(site.dir, 'feed.jsonl');
  const stage = path.join(site.dir, 'feed');
  await rm(stage, { recursive: true, force: true });
  const excluded = [...manifest.models.values()].filter((m) => !m.isPrivate && !site.plan.includes(m)).map((m) => m.name);
  const query = new URLSearchParams({ ...(excluded.length > 0 ? { exclude: excluded.join(',') } : {}), ...(site.options.full ? { full: '1' } : {}) }).toString();
  const answer = await centreRequest(endpoint, 'GET', `/api/exchange/feed${query ? `?${query}` : ''}`, client, undefined, { accept: 'application/x-ndjson' }, file);
  if (answer.status === 404) throw new ConfigError(`${endpoint.hostname} takes no exchanges (GET /api/exchange/feed answered 404): is it a centre, started with serve --accept-push?`, { meta: { remote: endpoint.hostname } });
  if (answer.status !== 200) throw new PushRefusedError(`Centre ${endpoint.hostname}: GET /api/exchange/feed answered ${answer.status}: ${String(answer.body.error ?? '')}`);
  try {
    const feed = await unpackBundle(file, stage, manifest, endpoint.hostname);
    if (!feed.isComplete) throw new FetchError(`Centre ${endpoint.hostname}: the feed ended early (the connection dropped); the next exchange fetches it again`, { meta: { remote: endpoint.hostname } });
    site.emit(`Applying the feed to ${site.db.display}`);
    const applied = await applyFeed({
      db: site.db, manifest, plan: site.plan.filter((m) => feed.header.models.includes(m.name)), centre: site.centre, feed,
      repair: isRepair,
    });
    await sendPendingAck(site);
    return applied;
  } finally {
    await rm(stage, { recursive: true, force: true });
    await rm(file, { force: true });
  }
}

/** Send the ack of the last applied feed, if the centre has not confirmed it; forget it once it has. */
async function sendPendingAck(site: Site): Promise<void> {
  const row = await site.db.knex(SENT_TABLE).where({ peer_id: site.centre.id, bundle_id: 'ack' }).first('id', 'fields');
  if (!row) return;
  const ack = JSON.parse(String(row.fields)) as FeedAck;
  const answer = await centreRequest(site.endpoint, 'POST', '/api/exchange/ack', site.client, Buffer.from(JSON.stringify(ack)), { 'content-type': 'application/json' });
  if (answer.status !== 200) throw new PushRefusedError(`Centre ${site.endpoint.hostname} refused the ack of feed ${ack.feed} (${answer.status}): ${String(answer.body.error ?? '')}`, { meta: { remote: site.endpoint.hostname } });
  await site.db.knex(SENT_TABLE).where({ id: row.id }).del();
}

/** `repair`'s file: every local change not agreed with the centre, as objects with their bases, and the deletes. */
async function writeUnsent(site: Site, file: string): Promise<void> {
  const { db, manifest } = site;
  const tags = new PeerTags(db.knex, manifest, site.centre.id, 'site');
  await tags.load(site.plan);
  const out: unknown[] = [];
  for (const model of site.plan) {
    for await (const changes of siteChanges(db.knex, db.dialect, manifest, model, site.centre.id, tags)) {
      for (const c of changes) out.push(c.object ? { ...c.object, ref: c.ref, base: c.base } : { model: model.name, pk: c.pk, ref: c.ref, deleted: true, base: c.base });
    }
  }
  await writeFile(file, `${JSON.stringify(out, null, 1)}\n`, { mode: 0o600 });
}

function result(site: Site, pushed: PushResult, feed: FeedResult): ExchangeResult {
  const sum = (f: (a: PushResult['acks'][number]) => number) => pushed.acks.reduce((n, a) => n + f(a), 0);
  return {
    status: 'success', centre: site.endpoint.hostname,
    sent: pushed.objects + sum((a) => a.deleted ?? 0), writtenAtCentre: pushed.written, conflicts: sum((a) => a.conflicts ?? 0), rejected: pushed.rejected,
    bundles: pushed.bundleBytes.length, largestBundle: Math.max(0, ...pushed.bundleBytes),
    received: feed.objects, written: feed.written, deleted: feed.deleted, held: feed.held,
    durationMs: Date.now() - site.started,
  };
}


