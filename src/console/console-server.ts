import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { connectExistingDatabase, type Database } from '../dialects/index.js';
import { ConfigError } from '../errors.js';
import { countConflicts, listConflicts, resolveConflict, showConflict, type Conflict } from '../exchange/conflicts.js';
import { CONFLICT_TABLE } from '../exchange/exchange-tables.js';
import { loadManifest } from '../manifest/load-manifest.js';
import type { AppManifest } from '../manifest/types.js';
import type { RequestLog } from '../server/create-handler.js';
import { listen, readBody } from '../server/http-server.js';
import { ConsoleMetrics } from './console-metrics.js';
import { readFleet, readMember, RowsCache } from './fleet-status.js';
import { CONSOLE_CSS, conflictPage, conflictsPage, errorPage, fleetPage, memberPage, type ResolveForm } from './pages.js';

/** The console's default port. */
export const CONSOLE_PORT = 8764;
/** Conflicts one page lists. */
const CONFLICTS_PER_PAGE = 200;
/** A wrong token costs this long: guessing it over HTTP is slow. */
const WRONG_TOKEN_DELAY_MS = 500;
const CSRF_COOKIE = 'rsdb_csrf';

/** Options of `remotesyncdb console`. */
export interface ConsoleOptions {
  app: string;
  db?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default {@link CONSOLE_PORT}; 0 picks a free port. */
  port?: number;
  /** PEM certificate and key: https, as `serve`. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** The console token (REMOTESYNCDB_CONSOLE_TOKEN): resolving a conflict needs it; without one the console is read-only. */
  token?: string;
  /** Called once per request when answered: the access log (no header, no token). */
  onRequest?: (request: RequestLog) => void;
  onError?: (error: unknown) => void;
}

/** A running console. */
export interface ConsoleServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const digest = (text: string) => createHash('sha256').update(text).digest();
/** Constant-time equality of two secrets of any length (their digests are compared). */
export function secretsMatch(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected)) && presented.length > 0;
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

function cookies(req: http.IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

/**
 * Whether a form post comes from a page of this console: the browser's own word where it gives
 * one (Origin, Sec-Fetch-Site), and always the double-submitted CSRF value (the cookie set with
 * the page equals the form's hidden field; another site can neither read nor set the cookie).
 */
function isSameOrigin(req: http.IncomingMessage, form: URLSearchParams): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    try {
      if (new URL(origin).host !== req.headers.host) return false;
    } catch {
      return false;
    }
  }
  const cookie = cookies(req).get(CSRF_COOKIE) ?? '';
  const field = form.get('csrf') ?? '';
  return cookie.length >= 32 && secretsMatch(field, cookie);
}

/**
 * `remotesyncdb console`: a small web page over the database's own records (DESIGN §8's
 * aggregate, a centre): the fleet, one remote or site, the conflicts with their resolution,
 * and `/metrics`. Read-only but for resolving a conflict, which needs the console token and a
 * form of this console (CSRF). 127.0.0.1 unless told otherwise.
 */
export async function startConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  const manifest = loadManifest(options.app);
  const db = await connectExistingDatabase(options.db);
  const host = options.host ?? '127.0.0.1';
  const handler = consoleHandler({ db, manifest, token: options.token, isTls: Boolean(options.tls), onRequest: options.onRequest, onError: options.onError });
  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler) : http.createServer(handler);
  server.headersTimeout = 30_000;
  server.requestTimeout = 60_000;
  return listen(server, { what: 'console', host, port: options.port ?? CONSOLE_PORT, isTls: Boolean(options.tls), release: () => db.knex.destroy() });
}

interface HandlerOptions { db: Database; manifest: AppManifest; token?: string; isTls: boolean; onRequest?: ConsoleOptions['onRequest']; onError?: ConsoleOptions['onError'] }

/** The console's routes as a request handler (no listen). */
export function consoleHandler(options: HandlerOptions): http.RequestListener {
  const { db, manifest } = options;
  const metrics = new ConsoleMetrics();
  const rowsCache = new RowsCache();
  const fleet = () => readFleet(db, manifest, { rowsCache });
  const conflictOptions = { app: manifest.app, database: db };
  const page = (res: http.ServerResponse, status: number, html: string, extra: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS, ...extra });
    res.end(html);
  };
  const isCentre = () => db.knex.schema.hasTable(CONFLICT_TABLE);

  /** The conflict page, with a CSRF value in a cookie and in the form (a cookie already set is kept). */
  async function showConflictPage(req: http.IncomingMessage, res: http.ServerResponse, id: number, status = 200, message?: ResolveForm['message']): Promise<void> {
    let conflict: Conflict;
    try {
      conflict = await showConflict({ ...conflictOptions, id });
    } catch (error) {
      if (error instanceof ConfigError) return page(res, 404, errorPage('No such conflict', error.message));
      throw error;
    }
    const kept = cookies(req).get(CSRF_COOKIE);
    const csrf = kept && /^[0-9a-f]{64}$/.test(kept) ? kept : randomBytes(32).toString('hex');
    const cookie = `${CSRF_COOKIE}=${csrf}; Path=/; HttpOnly; SameSite=Strict${options.isTls ? '; Secure' : ''}`;
    const done = new URL(req.url ?? '/', 'http://console').searchParams.get('resolved');
    const note = message ?? (done && conflict.status === 'resolved' ? { text: `Resolved: ${conflict.reason.split('; resolved: ').pop()}.`, isError: false } : undefined);
    page(res, status, conflictPage(conflict, { csrf, isEnabled: Boolean(options.token), ...(note ? { message: note } : {}) }, Date.now()), { 'set-cookie': cookie });
  }

  async function resolve(req: http.IncomingMessage, res: http.ServerResponse, id: number): Promise<void> {
    if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) return page(res, 415, errorPage('Not a form', 'Resolve a conflict from its page.'));
    const body = await readBody(req, 16 * 1024);
    const form = body && new URLSearchParams(body.toString('utf8'));
    if (!form) return page(res, 413, errorPage('Too large', 'That form is too large.'));
    if (!isSameOrigin(req, form)) return page(res, 403, errorPage('Refused', 'This form did not come from a page of this console (CSRF check). Open the conflict again and resolve it from there.'));
    if (!options.token) return showConflictPage(req, res, id, 403, { text: 'Resolving is off: start the console with REMOTESYNCDB_CONSOLE_TOKEN set.', isError: true });
    if (!secretsMatch(form.get('token') ?? '', options.token)) {
      await new Promise((r) => setTimeout(r, WRONG_TOKEN_DELAY_MS));
      return showConflictPage(req, res, id, 403, { text: 'Wrong console token: nothing was changed.', isError: true });
    }
    const take = form.get('take');
    if (take !== 'site' && take !== 'centre') return showConflictPage(req, res, id, 400, { text: 'Choose the site\'s or the centre\'s version.', isError: true });
    try {
      await resolveConflict({ ...conflictOptions, id, take });
    } catch (error) {
      if (error instanceof ConfigError) return showConflictPage(req, res, id, 409, { text: error.message, isError: true });
      throw error;
    }
    // Post/redirect/get: a reload does not post again.
    res.writeHead(303, { location: `/conflicts/${id}?resolved=1`, ...SECURITY_HEADERS });
    res.end();
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console');
    const path = url.pathname;
    const post = /^\/conflicts\/(\d+)\/resolve$/.exec(path);
    if (req.method === 'POST' && post) return resolve(req, res, Number(post[1]));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      return void res.end('method not allowed\n');
    }
    if (path === '/console.css') {
      res.writeHead(200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'max-age=3600', 'x-content-type-options': 'nosniff' });
      return void res.end(CONSOLE_CSS);
    }
    if (path === '/metrics') {
      const { contentType, body } = await metrics.text(await fleet());
      res.writeHead(200, { 'content-type': contentType });
      return void res.end(body);
    }
    if (path === '/fleet.json') {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      return void res.end(JSON.stringify(await fleet()));
    }
    if (path === '/') return page(res, 200, fleetPage(await fleet()));
    const member = /^\/(remotes|sites)\/([^/]+)$/.exec(path);
    if (member) {
      let name: string;
      try {
        name = decodeURIComponent(member[2]);
      } catch {
        return page(res, 400, errorPage('Bad address', 'That address is not valid.'));
      }
      const detail = await readMember(db, manifest, member[1] === 'sites' ? `site/${name}` : name, { rowsCache });
      if (!detail || detail.kind !== (member[1] === 'sites' ? 'site' : 'remote')) return page(res, 404, errorPage('Not found', `No ${member[1] === 'sites' ? 'site' : 'remote'} named ${name} in this database.`));
      return page(res, 200, memberPage(detail, new Date().toISOString()));
    }
    if (path === '/conflicts') {
      if (!(await isCentre())) return page(res, 200, errorPage('Conflicts', 'This database is not an exchange centre (serve --accept-push): it has no conflicts.'));
      const status = url.searchParams.get('status') ?? undefined;
      const site = url.searchParams.get('site') ?? undefined;
      const filter = { ...(status ? { status } : {}), ...(site ? { site } : {}) };
      const list = await listConflicts({ ...conflictOptions, ...filter, limit: CONFLICTS_PER_PAGE });
      const total = list.length < CONFLICTS_PER_PAGE ? list.length : await countConflicts({ ...conflictOptions, ...filter });
      return page(res, 200, conflictsPage(list, filter, total, Date.now()));
    }
    const conflict = /^\/conflicts\/(\d+)$/.exec(path);
    if (conflict) {
      if (!(await isCentre())) return page(res, 404, errorPage('No such conflict', 'This database is not an exchange centre.'));
      return showConflictPage(req, res, Number(conflict[1]));
    }
    page(res, 404, errorPage('Not found', `Nothing at ${path}.`));
  }

  return (req, res) => {
    const started = Date.now();
    res.once('close', () => options.onRequest?.({ client: req.socket.remoteAddress ?? '-', method: req.method ?? '-', path: (req.url ?? '/').split('?')[0].slice(0, 200), status: res.statusCode, ms: Date.now() - started, isAborted: !res.writableFinished }));
    route(req, res).catch((error: unknown) => {
      options.onError?.(error);
      if (!res.headersSent) page(res, 500, errorPage('Error', 'The console could not read the database; see its log.'));
      else res.destroy(error as Error);
    });
  };
}
