import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { connectExistingDatabase, type Database } from '../dialects/index.js';
import { ConfigError } from '../errors.js';
import { countConflicts, listConflicts, resolveConflict, showConflict, type Conflict } from '../exchange/conflicts.js';
import { CONFLICT_TABLE } from '../exchange/exchange-tables.js';
import { loadManifest } from '../manifest/load-manifest.js';
import type { AppManifest } from '../manifest/types.js';
import { secretsMatch } from '../push/tokens.js';
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
/** The resolve form is a few fields. */
const MAX_FORM_BYTES = 16 * 1024;
/** The largest id a conflict can have (an INTEGER column); a larger one is no conflict, never a database error. */
const MAX_ID = 2_147_483_647;
const STATUSES = ['open', 'decided', 'resolved'];

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
 * The console's CSRF values: a nonce and its HMAC under a secret of this process, so that a
 * cookie planted by another service of the same host (cookies ignore ports) is not one.
 */
class CsrfValues {
  private readonly secret = randomBytes(32);
  private sign(nonce: string): string {
    return createHmac('sha256', this.secret).update(nonce).digest('hex');
  }
  make(): string {
    const nonce = randomBytes(16).toString('hex');
    return `${nonce}${this.sign(nonce)}`;
  }
  isValid(value: string): boolean {
    if (!/^[0-9a-f]{96}$/.test(value)) return false;
    return timingSafeEqual(Buffer.from(value.slice(32), 'hex'), Buffer.from(this.sign(value.slice(0, 32)), 'hex'));
  }
}

/**
 * Whether a form post comes from a page of this console: the browser's own word where it gives
 * one (Sec-Fetch-Site, Origin; an opaque `null` origin is refused), and always the
 * double-submitted CSRF value: the cookie set with the page, one this process signed, equals
 * the form's hidden field.
 */
function isSameOrigin(req: http.IncomingMessage, form: URLSearchParams, csrf: CsrfValues): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.headers.origin;
  if (origin !== undefined) {
    try {
      if (new URL(origin).host !== req.headers.host) return false;
    } catch {
      return false;
    }
  }
  const cookie = cookies(req).get(CSRF_COOKIE) ?? '';
  return csrf.isValid(cookie) && secretsMatch(form.get('csrf') ?? '', cookie);
}

/**
 * Token checks one after another, a wrong token holding the line for {@link WRONG_TOKEN_DELAY_MS}:
 * guesses sent in parallel are as slow as guesses sent in turn.
 */
class TokenGate {
  private queue: Promise<unknown> = Promise.resolve();
  constructor(private readonly token: string) {}
  check(presented: string): Promise<boolean> {
    const turn = this.queue.then(async () => {
      const isRight = secretsMatch(presented, this.token);
      if (!isRight) await new Promise((r) => setTimeout(r, WRONG_TOKEN_DELAY_MS));
      return isRight;
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }
}

/** Host names a console bound to a loopback address answers to (anything else is a DNS rebinding). */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

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
  const handler = consoleHandler({ db, manifest, token: options.token, isTls: Boolean(options.tls), host, onRequest: options.onRequest, onError: options.onError });
  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler) : http.createServer(handler);
  server.headersTimeout = 30_000;
  server.requestTimeout = 60_000;
  return listen(server, { what: 'console', host, port: options.port ?? CONSOLE_PORT, isTls: Boolean(options.tls), release: () => db.knex.destroy() });
}

interface HandlerOptions {
  db: Database;
  manifest: AppManifest;
  token?: string;
  isTls: boolean;
  /** The address listened on: on a loopback address, requests must name a loopback host (no DNS rebinding). */
  host: string;
  onRequest?: ConsoleOptions['onRequest'];
  onError?: ConsoleOptions['onError'];
}

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
  const csrfValues = new CsrfValues();
  const gate = options.token ? new TokenGate(options.token) : undefined;
  const isLoopback = LOOPBACK.has(options.host);
  /** A Host header this console answers to: any, unless it listens on a loopback address. */
  const isOwnHost = (header: string | undefined) => {
    if (!isLoopback) return true;
    const m = /^(\[[^\]]*\]|[^:]+)(?::\d+)?$/.exec(header ?? '');
    return m !== null && LOOPBACK.has(m[1].toLowerCase());
  };
  const plain = (res: http.ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': type, 'x-content-type-options': 'nosniff', 'cache-control': 'no-store', ...extra });
    res.end(body);
  };

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
    const csrf = kept && csrfValues.isValid(kept) ? kept : csrfValues.make();
    const cookie = `${CSRF_COOKIE}=${csrf}; Path=/; HttpOnly; SameSite=Strict${options.isTls ? '; Secure' : ''}`;
    const done = /[?&]resolved=1(?:&|$)/.test(req.url ?? '');
    const note = message ?? (done && conflict.status === 'resolved' ? { text: `Resolved: ${conflict.reason.split('; resolved: ').pop()}.`, isError: false } : undefined);
    page(res, status, conflictPage(conflict, { csrf, isEnabled: Boolean(options.token), ...(note ? { message: note } : {}) }, Date.now()), { 'set-cookie': cookie });
  }

  async function resolve(req: http.IncomingMessage, res: http.ServerResponse, id: number): Promise<void> {
    if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) return page(res, 415, errorPage('Not a form', 'Resolve a conflict from its page.'));
    const tooLarge = () => page(res, 413, errorPage('Too large', 'That form is too large.'), { connection: 'close' });
    if (Number(req.headers['content-length'] ?? 0) > MAX_FORM_BYTES) return tooLarge();
    const body = await readBody(req, MAX_FORM_BYTES);
    const form = body && new URLSearchParams(body.toString('utf8'));
    if (!form) return tooLarge();
    if (!isSameOrigin(req, form, csrfValues)) return page(res, 403, errorPage('Refused', 'This form did not come from a page of this console (CSRF check). Open the conflict again and resolve it from there.'));
    if (!gate) return showConflictPage(req, res, id, 403, { text: 'Resolving is off: start the console with REMOTESYNCDB_CONSOLE_TOKEN set.', isError: true });
    if (!(await gate.check(form.get('token') ?? ''))) return showConflictPage(req, res, id, 403, { text: 'Wrong console token: nothing was changed.', isError: true });
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
    if (!isOwnHost(req.headers.host)) return plain(res, 421, 'text/plain; charset=utf-8', `this console answers to ${options.host} and localhost only, not to the host "${String(req.headers.host ?? '')}" (a DNS rebinding?)\n`);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://console');
    } catch {
      return page(res, 400, errorPage('Bad address', 'That address is not valid.'));
    }
    const path = url.pathname;
    const idOf = (text: string) => (Number(text) <= MAX_ID ? Number(text) : undefined);
    const post = /^\/conflicts\/(\d+)\/resolve$/.exec(path);
    if (req.method === 'POST' && post) {
      const id = idOf(post[1]);
      return id === undefined ? page(res, 404, errorPage('No such conflict', `No conflict ${post[1]}.`)) : resolve(req, res, id);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' });
    if (path === '/console.css') return plain(res, 200, 'text/css; charset=utf-8', CONSOLE_CSS, { 'cache-control': 'max-age=3600' });
    if (path === '/metrics') {
      const { contentType, body } = await metrics.text(await fleet());
      return plain(res, 200, contentType, body);
    }
    if (path === '/fleet.json') return plain(res, 200, 'application/json; charset=utf-8', JSON.stringify(await fleet()));
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
      const status = url.searchParams.get('status') || undefined;
      const site = url.searchParams.get('site') || undefined;
      if (status !== undefined && !STATUSES.includes(status)) return page(res, 400, errorPage('No such status', `A conflict is ${STATUSES.join(', ')}; not "${status}".`));
      const filter = { ...(status ? { status } : {}), ...(site ? { site } : {}) };
      const list = await listConflicts({ ...conflictOptions, ...filter, limit: CONFLICTS_PER_PAGE });
      const total = list.length < CONFLICTS_PER_PAGE ? list.length : await countConflicts({ ...conflictOptions, ...filter });
      return page(res, 200, conflictsPage(list, filter, total, Date.now()));
    }
    const conflict = /^\/conflicts\/(\d+)$/.exec(path);
    if (conflict) {
      const id = idOf(conflict[1]);
      if (id === undefined || !(await isCentre())) return page(res, 404, errorPage('No such conflict', id === undefined ? `No conflict ${conflict[1]}.` : 'This database is not an exchange centre.'));
      return showConflictPage(req, res, id);
    }
    page(res, 404, errorPage('Not found', `Nothing at ${path}.`));
  }

  return (req, res) => {
    const started = Date.now();
    // Read now: once the request is destroyed (a body cut short), its socket is gone.
    const client = req.socket.remoteAddress ?? '-';
    res.once('close', () => options.onRequest?.({ client, method: req.method ?? '-', path: (req.url ?? '/').split('?')[0].slice(0, 200), status: res.statusCode, ms: Date.now() - started, isAborted: !res.writableFinished }));
    route(req, res).catch((error: unknown) => {
      options.onError?.(error);
      if (!res.headersSent) page(res, 500, errorPage('Error', 'The console could not read the database; see its log.'));
      else res.destroy(error as Error);
    });
  };
}
