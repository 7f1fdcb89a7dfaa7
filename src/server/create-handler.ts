import type http from 'node:http';
import type { Database } from '../dialects/index.js';
import { getModel } from '../manifest/load-manifest.js';
import type { AppManifest } from '../manifest/types.js';
import { createPushRoutes } from '../push/centre.js';
import { secretsMatch } from '../push/tokens.js';
import { normalizeDatetime, ValueError } from '../values/values.js';
import { parseEquals, QueryError } from './query-filter.js';
import { ServeMetrics } from './serve-metrics.js';
import type { Policies } from '../exchange/centre-install.js';
import { serializeIds, serializeModel, type Equals, type ModifiedAfter } from './serialize.js';

/** What a handler serves. */
export interface HandlerOptions {
  db: Database;
  manifest: AppManifest;
  /** `instance` in `GET /api/` (informational). */
  instance: string;
  /** When non-empty, every request needs `Authorization: Bearer <one of these>`. */
  tokens?: readonly string[];
  /** How many fixtures may stream at once; beyond it 503 with Retry-After. Default 8. */
  maxStreams?: number;
  /** Models whose table does not exist in this database (answer 404). */
  missing?: readonly string[];
  /** Called on a failure while streaming (headers already sent). */
  onError?: (error: unknown) => void;
  /** `--accept-push`: also take bundles from enrolled sites (DESIGN §9); the pull API stays read-only. */
  acceptPush?: { lockWaitMs?: number; log?: (line: string) => void; policies?: Policies; retentionMs?: number };
  /** Called once per request when its answer is finished (or the client went away): for the access log. Carries no header, so no token. */
  onRequest?: (request: RequestLog) => void;
}

/** One line of the access log. */
export interface RequestLog {
  client: string;
  method: string;
  /** The path without its query string. */
  path: string;
  status: number;
  ms: number;
  /** The client closed the connection before the answer was complete. */
  isAborted: boolean;
}

/** The instance's clock in whole seconds, UTC: `X-Server-Time`. */
export function serverTime(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Characters gathered before one write of a streamed fixture. */
const WRITE_CHARS = 64 * 1024;

/** Compare a presented token with every accepted one in constant time. */
function isAuthorized(header: string | undefined, tokens: readonly string[]): boolean {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  const presented = match ? match[1] : '';
  let ok = false;
  for (const token of tokens) ok = secretsMatch(presented, token) || ok;
  return ok && match !== null;
}

/** decodeURIComponent, or undefined for a malformed escape. */
function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * The instance API of DESIGN §5 as a plain request handler (no listen), read-only:
 * `GET /api/`, `GET /api/<Model>/`, `GET /api/<Model>/modified_after/<ISO>/`, and
 * `GET /api/<Model>/?field=value` (equality filters), and `GET /api/<Model>/ids/` (every pk the model holds, as `[{"pk": 1}, ...]`: what `--prune` needs
 * beside an incremental fetch), and `GET /metrics` (Prometheus' text format: see ServeMetrics).
 */
export function createHandler(options: HandlerOptions): http.RequestListener {
  const { db, manifest } = options;
  const served = [...manifest.models.values()].filter((m) => !m.isPrivate);
  const send = (res: http.ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-server-time': serverTime(), ...extra });
    res.end(JSON.stringify(body));
  };
  const maxStreams = options.maxStreams ?? 8;
  let streams = 0;
  const metrics = new ServeMetrics(() => streams);
  const push = options.acceptPush ? createPushRoutes({ db, manifest, ...options.acceptPush, onBundle: (outcome, reason) => metrics.bundle(outcome, reason) }, send) : undefined;
  return (req, res) => {
    metrics.observe(req, res);
    if (options.onRequest) {
      const onRequest = options.onRequest;
      const started = Date.now();
      // Read now: once the request is destroyed (a body cut short), its socket is gone.
      const client = req.socket.remoteAddress ?? '-';
      let isLogged = false;
      const log = (isAborted: boolean) => {
        if (isLogged) return;
        isLogged = true;
        onRequest({ client, method: req.method ?? '-', path: (req.url ?? '/').split('?')[0].slice(0, 200), status: res.statusCode, ms: Date.now() - started, isAborted });
      };
      res.once('finish', () => log(false));
      res.once('close', () => log(!res.writableFinished));
    }
    void (async () => {
      if (push && (await push(req, res))) return;
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'read-only API: only GET' }, { allow: 'GET' });
      if (Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding']) return send(res, 413, { error: 'requests carry no body' });
      if ((req.url ?? '').length > 2048) return send(res, 414, { error: 'URL too long' });
      if (options.tokens && options.tokens.length > 0 && !isAuthorized(req.headers.authorization, options.tokens)) {
        return send(res, 401, { error: 'missing or wrong bearer token' }, { 'www-authenticate': 'Bearer' });
      }
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/metrics') {
        const { contentType, body } = await metrics.text();
        res.writeHead(200, { 'content-type': contentType });
        return res.end(req.method === 'HEAD' ? undefined : body);
      }
      if (path === '/api/' || path === '/api') {
        // `features`: what this instance serves beyond DESIGN §5 (`ids`: GET /api/<Model>/ids/).
        return send(res, 200, { app: manifest.app, instance: options.instance, models: served.map((m) => m.name), server_time: serverTime(), features: ['ids'] });
      }
      const m = /^\/api\/([^/]+)\/(?:modified_after\/([^/]+)\/?|(ids)\/?)?$/.exec(path);
      const name = m ? safeDecode(m[1]) : undefined;
      const model = name === undefined ? undefined : getModel(manifest, name);
      if (!m || !model || model.isPrivate || options.missing?.includes(model.name)) return send(res, 404, { error: m ? `no model ${JSON.stringify(name ?? m[1])} is served by this instance` : 'not found' });
      let equals: Equals = [];
      try {
        equals = parseEquals(model, new URL(req.url ?? '/', 'http://instance').searchParams, db.dialect);
      } catch (error) {
        if (error instanceof QueryError) return send(res, 400, { error: error.message });
        throw error;
      }
      let filter: ModifiedAfter | undefined;
      if (m[2] !== undefined) {
        if (!manifest.models.get(model.root)!.lastModified) return send(res, 404, { error: `${model.name} has no lastModified column: fetch it in full` });
        try {
          filter = { after: normalizeDatetime(safeDecode(m[2]) ?? '') };
        } catch (error) {
          if (error instanceof ValueError) return send(res, 404, { error: `modified_after: ${error.message}` });
          throw error;
        }
      }
      if (streams >= maxStreams) return send(res, 503, { error: `busy: ${maxStreams} fixtures are being streamed; try again` }, { 'retry-after': '2' });
      streams++;
      try {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'x-server-time': serverTime() });
        if (req.method === 'HEAD') return res.end();
        let closed = false;
        res.once('close', () => { closed = true; });
        // Objects go out in writes of about 64 KiB: one write per object costs the server more than the serializing.
        let pending = '[';
        let first = true;
        const objects = m[3] ? serializeIds(db.knex, model) : serializeModel(db.knex, db.dialect, manifest, model, filter, equals);
        for await (const object of objects) {
          if (closed) return;
          pending += `${first ? '' : ',\n'}${JSON.stringify(object)}`;
          first = false;
          if (pending.length >= WRITE_CHARS) {
            const isFull = !res.write(pending);
            pending = '';
            if (isFull) await new Promise((r) => res.once('drain', r));
          }
        }
        res.end(`${pending}]\n`);
      } finally {
        streams--;
      }
    })().catch((error) => {
      options.onError?.(error);
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy(error as Error);
    });
  };
}
