import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Database } from '../dialects/index.js';
import { RemoteSyncError } from '../errors.js';
import type { AppManifest } from '../manifest/types.js';
import { readWatermarks } from '../sync/watermarks.js';
import { unpackBundle } from './bundle.js';
import { CentreBusyError, installBundle, RepairNeededError, StaleBundleError } from './install-bundle.js';
import { dependencyOrder } from '../manifest/order.js';
import type { Policies } from '../exchange/centre-install.js';
import { acceptFeedAck, centreTags, feedHeader, feedLines, feedSince, resetSiteBase, type FeedAck } from '../exchange/feed.js';
import { BUNDLE_TABLE, CHUNK_TABLE } from './push-tables.js';
import { authenticateSite, enrolSite, type SiteRow } from './sites.js';
import { readBody } from '../server/http-server.js';

/**
 * The largest chunk a site may upload in one request: mysql2 sends a binary value as hex, so a
 * chunk takes twice its size of MySQL's max_allowed_packet (16 MiB by default on MariaDB 10.11,
 * 4 MiB on MySQL 5.7: keep chunks at 1 MiB there).
 */
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
/** The largest bundle a centre takes (a site splits with --max-bundle-bytes). */
export const MAX_BUNDLE_BYTES = 4 * 1024 ** 3;
const BUNDLE_ID = /^[A-Za-z0-9-]{8,64}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** How a centre accepts pushes (`serve --accept-push`). */
export interface CentreOptions {
  db: Database;
  manifest: AppManifest;
  /** How long a commit waits for another install's lock before answering 503 (busy). */
  lockWaitMs?: number;
  /** Called with a line per refusal and per committed bundle (`-v`). */
  log?: (line: string) => void;
  /** Exchange conflict policies by model, over the manifest's (the config file's `policies`). */
  policies?: Policies;
  /** An exchange site silent for longer than this must repair (default {@link DEFAULT_RETENTION_MS}). */
  retentionMs?: number;
  /** Told of every commit asked for: the bundle accepted, or refused and why (serve's metrics). */
  onBundle?: (outcome: 'accepted' | 'refused', reason?: string) => void;
}

/** How long an exchange site may stay silent before it is told to repair: 90 days. */
export const DEFAULT_RETENTION_MS = 90 * 86_400_000;

type Send = (res: http.ServerResponse, status: number, body: unknown, extra?: Record<string, string>) => void;


/**
 * The push API of a centre (DESIGN §9), beside the read-only instance API:
 * `POST /api/push/enrol`, `GET /api/push/state`, `GET|PUT /api/push/bundles/<id>[?offset=N]`,
 * `POST /api/push/bundles/<id>/commit`. Every request but enrolment needs a site's push token
 * (a read token of `serve` is not one). Uploads, bundles and acks live in the database, so
 * another centre process over the same database resumes or commits what this one began.
 * Returns whether the request was a push request (answered here).
 */
export function createPushRoutes(options: CentreOptions, send: Send): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean> {
  const { db, manifest } = options;
  const log = options.log ?? (() => {});
  const refuse = (res: http.ServerResponse, status: number, error: string, extra: Record<string, unknown> = {}) => {
    log(`push refused (${status}): ${error}`);
    send(res, status, { error, ...extra }, status === 503 ? { 'retry-after': '2' } : {});
  };
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://centre');
    const isExchange = url.pathname.startsWith('/api/exchange/');
    if (!url.pathname.startsWith('/api/push/') && !isExchange) return false;
    if (url.pathname === '/api/push/enrol' && req.method === 'POST') {
      const body = await readBody(req, 4096);
      let code: unknown;
      try {
        code = body ? JSON.parse(body.toString('utf8')).code : undefined;
      } catch {
        code = undefined;
      }
      const enrolled = typeof code === 'string' ? await enrolSite(db.knex, manifest.registry, code) : undefined;
      if (!enrolled) return refuse(res, 401, 'unknown, spent or expired enrolment code (ask the centre for a new one: remotesyncdb site rotate-token)'), true;
      log(`site ${enrolled.site.name} enrolled`);
      return send(res, 200, { site: enrolled.site.name, token: enrolled.token }), true;
    }
    const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const auth = await authenticateSite(db.knex, manifest.registry, match?.[1]);
    if (!auth.site) return refuse(res, auth.status!, auth.error!), true;
    const site = auth.site;
    if (url.pathname === '/api/push/state' && req.method === 'GET') return send(res, 200, await state(site)), true;
    if (isExchange) return exchangeRoute(site, url, req, res), true;
    const m = /^\/api\/push\/bundles\/([^/]+)(\/commit)?\/?$/.exec(url.pathname);
    if (!m || !BUNDLE_ID.test(m[1])) return refuse(res, 404, 'not a push request'), true;
    const id = m[1];
    if (m[2] && req.method === 'POST') return commit(site, id, res), true;
    if (!m[2] && req.method === 'GET') {
      const row = await db.knex(BUNDLE_TABLE).where({ site_id: site.id, bundle_id: id }).first();
      // A committed bundle's ack too: a site whose commit answer was lost learns its rejects here.
      return send(res, row ? 200 : 404, row ? { id, sha256: row.sha256, bytes: Number(row.bytes), received: Number(row.received), status: row.status, ...(row.ack ? { ack: JSON.parse(row.ack) } : {}) } : { error: `no bundle ${id} of site ${site.name}` }), true;
    }
    if (!m[2] && req.method === 'PUT') return upload(site, id, url, req, res), true;
    return refuse(res, 405, 'method not allowed'), true;
  };

  async function state(site: SiteRow) {
    const watermarks = await readWatermarks(db.knex, site.id, manifest.app);
    const last = await db.knex(BUNDLE_TABLE).where({ site_id: site.id, status: 'committed' }).orderBy('committed', 'desc').first();
    return { site: site.name, app: manifest.app, watermarks: Object.fromEntries(watermarks), lastBundle: last ? { id: last.bundle_id, sha256: last.sha256 } : null };
  }

  async function upload(site: SiteRow, id: string, url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const sha256 = String(req.headers['x-bundle-sha256'] ?? '');
    const bytes = Number(req.headers['x-bundle-bytes']);
    const chunkSha = String(req.headers['x-chunk-sha256'] ?? '');
    const offset = Number(url.searchParams.get('offset'));
    if (!SHA256.test(sha256) || !SHA256.test(chunkSha) || !Number.isSafeInteger(bytes) || bytes <= 0 || !Number.isSafeInteger(offset) || offset < 0) {
      return refuse(res, 400, 'an upload needs ?offset=N and the headers X-Bundle-Sha256, X-Bundle-Bytes and X-Chunk-Sha256');
    }
    if (bytes > MAX_BUNDLE_BYTES) return refuse(res, 413, `a bundle is at most ${MAX_BUNDLE_BYTES} bytes; split it with push --max-bundle-bytes`);
    const data = await readBody(req, MAX_CHUNK_BYTES);
    if (!data) return refuse(res, 413, `a chunk is at most ${MAX_CHUNK_BYTES} bytes`);
    if (createHash('sha256').update(data).digest('hex') !== chunkSha) return refuse(res, 400, `chunk at offset ${offset} of bundle ${id} arrived corrupted (sha256 differs); send it again`);
    const answer = await db.knex.transaction(async (trx) => {
      let row = await trx(BUNDLE_TABLE).where({ site_id: site.id, bundle_id: id }).first();
      if (!row) {
        // A site keeps one bundle at a time: an upload it began before and gave up is garbage now.
        const abandoned = (await trx(BUNDLE_TABLE).select('bundle_id').where({ site_id: site.id, status: 'uploading' }).whereNot({ bundle_id: id })).map((r) => r.bundle_id as string);
        if (abandoned.length > 0) {
          await trx(CHUNK_TABLE).where({ site_id: site.id }).whereIn('bundle_id', abandoned).del();
          await trx(BUNDLE_TABLE).where({ site_id: site.id }).whereIn('bundle_id', abandoned).del();
        }
        await trx(BUNDLE_TABLE).insert({ site_id: site.id, bundle_id: id, sha256, bytes, received: 0, status: 'uploading', created: new Date().toISOString() });
        row = { sha256, bytes, received: 0, status: 'uploading' };
      }
      if (row.sha256 !== sha256 || Number(row.bytes) !== bytes) return { status: 409, body: { error: `bundle id ${id} was used before for other content; cut a new bundle` } };
      if (row.status === 'committed') return { status: 200, body: { received: bytes, committed: true } };
      const received = Number(row.received);
      if (offset !== received || offset + data.length > bytes) return { status: 409, body: { error: `the centre holds ${received} bytes of bundle ${id}; send from there`, received } };
      await trx(CHUNK_TABLE).insert({ site_id: site.id, bundle_id: id, offset, data });
      // Only the writer that saw `received` moves it: a second process racing on the same offset loses here.
      const moved = await trx(BUNDLE_TABLE).where({ site_id: site.id, bundle_id: id, received }).update({ received: offset + data.length });
      if (moved !== 1) throw new CentreBusyError(`bundle ${id}: another upload of the same chunk won`);
      return { status: 200, body: { received: offset + data.length } };
    }).catch(async (error: unknown) => {
      // Another request stored this chunk first (two centre processes, a retried PUT): say where the copy ends.
      if (!(error instanceof CentreBusyError) && !/duplicate|unique|UNIQUE/i.test(String((error as Error).message))) throw error;
      const row = await db.knex(BUNDLE_TABLE).where({ site_id: site.id, bundle_id: id }).first('received');
      return { status: 409, body: { error: `bundle ${id}: a chunk at offset ${offset} is there already; send from where the centre's copy ends`, received: Number(row?.received ?? 0) } };
    });
    if (answer.status !== 200) return refuse(res, answer.status, (answer.body as { error: string }).error, answer.body);
    send(res, 200, answer.body);
  }

  async function commit(site: SiteRow, id: string, res: http.ServerResponse): Promise<void> {
    const bundleRefused = (reason: string) => options.onBundle?.('refused', reason);
    const row = await db.knex(BUNDLE_TABLE).where({ site_id: site.id, bundle_id: id }).first();
    if (!row) return refuse(res, 404, `no bundle ${id} of site ${site.name}: upload it first`);
    if (row.status === 'committed') return send(res, 200, JSON.parse(row.ack));
    if (Number(row.received) < Number(row.bytes)) return bundleRefused('incomplete'), refuse(res, 409, `bundle ${id} is incomplete: ${row.received} of ${row.bytes} bytes`, { received: Number(row.received) });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rsdb-bundle-'));
    try {
      const file = path.join(dir, 'bundle.jsonl');
      const sha = await assemble(site, id, file);
      if (sha !== row.sha256) {
        await forget(site, id);
        return bundleRefused('sha256'), refuse(res, 422, `bundle ${id} does not match its sha256 once assembled; cut a new bundle`);
      }
      const bundle = await unpackBundle(file, path.join(dir, 'stage'), manifest, site.hostname);
      if (bundle.header.id !== id) return bundleRefused('invalid'), refuse(res, 422, `bundle ${id} holds bundle ${bundle.header.id}`);
      const ack = await installBundle({ db, manifest, site, bundle, sha256: sha, prune: bundle.header.prune === true, lockWaitMs: options.lockWaitMs ?? 10_000, retentionMs: options.retentionMs ?? DEFAULT_RETENTION_MS, ...(options.policies ? { policies: options.policies } : {}) });
      log(`site ${site.name}: bundle ${id} committed, ${ack.objects} objects, ${ack.written} written, ${ack.rejects.length} rejected`);
      options.onBundle?.('accepted');
      send(res, 200, ack);
    } catch (error) {
      if (error instanceof CentreBusyError) return bundleRefused('busy'), refuse(res, 503, error.message);
      if (error instanceof RepairNeededError) {
        await forget(site, id);
        return bundleRefused('repair'), refuse(res, 409, error.message, { reason: 'repair' });
      }
      if (error instanceof StaleBundleError) {
        await forget(site, id);
        return bundleRefused('stale'), refuse(res, 409, error.message, { reason: error.reason, state: await state(site) });
      }
      if (error instanceof RemoteSyncError) {
        await forget(site, id);
        return bundleRefused('invalid'), refuse(res, 422, error.message);
      }
      bundleRefused('error');
      throw error;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * The exchange routes (DESIGN §10), for a site's token: `GET /api/exchange/feed` (the feed as
   * JSON lines: a bundle header, then per model its claims, changed objects and deletes),
   * `POST /api/exchange/ack` (what the site took of it), `POST /api/exchange/reset` (`repair`).
   */
  async function exchangeRoute(site: SiteRow, url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (url.pathname === '/api/exchange/feed' && req.method === 'GET') {
      // `?exclude=A,B`: the models the site does not take (its -e).
      const excluded = new Set((url.searchParams.get('exclude') ?? '').split(',').filter(Boolean));
      const plan = dependencyOrder(manifest).filter((m) => !m.isPrivate && !excluded.has(m.name));
      const tables = await db.dialect.listColumns(db.knex);
      for (const model of plan) if (!tables.has(model.table)) return refuse(res, 500, `the centre has no table ${model.table}`);
      const tags = await centreTags(db.knex, manifest, site);
      // `?full=1`: every row compared, not only what moved since the last acknowledged feed.
      const since = url.searchParams.get('full') === '1' ? undefined : await feedSince(db.knex, manifest, site);
      res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'x-server-time': new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
      const write = (text: string) => (res.write(`${text}\n`) ? Promise.resolve() : new Promise<void>((resolve) => res.once('drain', resolve)));
      try {
        await write(JSON.stringify(feedHeader(manifest, plan)));
        for (const model of plan) for await (const line of feedLines(db.knex, db.dialect, manifest, model, site, tags, since)) await write(line.text);
        await write(JSON.stringify({ end: true }));
        res.end();
      } catch (error) {
        log(`site ${site.name}: feed failed: ${(error as Error).message}`);
        res.destroy(error as Error);
      }
      return;
    }
    if (url.pathname === '/api/exchange/ack' && req.method === 'POST') {
      const body = await readBody(req, MAX_CHUNK_BYTES * 16);
      if (!body) return refuse(res, 413, 'a feed ack is at most 64 MiB');
      let ack: FeedAck;
      try {
        ack = JSON.parse(body.toString('utf8')) as FeedAck;
        if (typeof ack.feed !== 'string' || !Array.isArray(ack.taken) || !Array.isArray(ack.deleted)) throw new Error('an ack is {feed, taken, deleted}');
        const n = await acceptFeedAck(db.knex, db.dialect, manifest, site, ack);
        log(`site ${site.name}: feed ${ack.feed} acknowledged (${n} rows)`);
        return send(res, 200, { feed: ack.feed, rows: n });
      } catch (error) {
        return refuse(res, 422, `feed ack of site ${site.name}: ${(error as Error).message}`);
      }
    }
    if (url.pathname === '/api/exchange/reset' && req.method === 'POST') {
      const n = await resetSiteBase(db.knex, manifest, site);
      log(`site ${site.name}: repair: forgot the ${n} versions it held`);
      return send(res, 200, { site: site.name, forgotten: n });
    }
    return refuse(res, 404, 'not an exchange request');
  }

  /** The chunks of a bundle, in order, into one file; returns its sha256. */
  async function assemble(site: SiteRow, id: string, file: string): Promise<string> {
    const out = createWriteStream(file);
    const hash = createHash('sha256');
    let offset = 0;
    for (;;) {
      const rows = await db.knex(CHUNK_TABLE).select('offset', 'data').where({ site_id: site.id, bundle_id: id }).andWhere('offset', '>=', offset).orderBy('offset').limit(8);
      if (rows.length === 0) break;
      for (const r of rows) {
        const data = Buffer.from(r.data as Buffer);
        hash.update(data);
        if (!out.write(data)) await new Promise<void>((resolve) => out.once('drain', resolve));
        offset = Number(r.offset) + data.length;
      }
    }
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    return hash.digest('hex');
  }

  /** Drop an upload the centre will not install (never a committed bundle: its ack must be answered again). */
  async function forget(site: SiteRow, id: string): Promise<void> {
    await db.knex.transaction(async (trx) => {
      const row = await trx(BUNDLE_TABLE).where({ site_id: site.id, bundle_id: id }).first('status');
      if (!row || row.status === 'committed') return;
      await trx(CHUNK_TABLE).where({ site_id: site.id, bundle_id: id }).del();
      await trx(BUNDLE_TABLE).where({ site_id: site.id, bundle_id: id }).whereNot({ status: 'committed' }).del();
    });
  }
}
