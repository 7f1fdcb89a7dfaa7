import { targetDirName } from '../../src/sources/target-identity.js';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { FetchError, RemoteSyncError } from '../../src/errors.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../../src/schema/app-tables.js';
import { REMOTE_TABLE, WATERMARK_TABLE } from '../../src/schema/bookkeeping.js';
import { sync, type SyncOptions } from '../../src/sync/sync.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';
import { tableDigests, withDb } from '../helpers/inspect.js';

/**
 * Every file write stream the code under test opens gets one extra 'error' listener that
 * records errors nobody else listens to: in production such an error is an uncaught
 * exception that kills the process (see the test "a connection reset while a chunk is being
 * written..."). Recording them keeps those crashes from failing unrelated tests at random.
 * `slowWritesMs` and `slowOpenMs` delay the completion of every write and open, to make the
 * races of those tests deterministic.
 */
const streams = vi.hoisted(() => ({ unheard: [] as Error[], slowWritesMs: 0, slowOpenMs: 0 }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const createWriteStream = (file: string, options?: Record<string, unknown>) => {
    // A write that takes long to complete; an open that takes long to happen.
    const slowWrite = (...args: unknown[]) => {
      const done = args.pop() as (...r: unknown[]) => void;
      (fs.write as (...a: unknown[]) => void)(...args, (...r: unknown[]) => setTimeout(() => done(...r), streams.slowWritesMs));
    };
    const slowOpen = (...args: unknown[]) => setTimeout(() => (fs.open as (...a: unknown[]) => void)(...args), streams.slowOpenMs);
    const isSlow = streams.slowWritesMs > 0 || streams.slowOpenMs > 0;
    const slowFs = { open: slowOpen, close: fs.close, write: slowWrite };
    const stream = fs.createWriteStream(file, { ...options, ...(isSlow ? { fs: slowFs } : {}) } as Parameters<typeof fs.createWriteStream>[1]);
    stream.on('error', (error) => {
      if (stream.listenerCount('error') === 1) streams.unheard.push(error);
    });
    return stream;
  };
  return { ...fs, createWriteStream, default: { ...fs, createWriteStream } };
});

/**
 * Network faults while fetching ONE model (Variable): every one must end in a clear error
 * (exit 1, naming remote, model and what happened) with the database exactly as it was, or,
 * for the transient ones that recover, in a normal install.
 */
const dialects = await availableDialects();
const manifest = loadManifest('hcore');
const served = [...manifest.models.values()].filter((m) => !m.isPrivate).map((m) => m.name);
/** Everything but Variable and UnitOfMeasurement (whose m2m points at Variable): a small, fast plan. */
const EXCLUDE = [...manifest.models.keys()].filter((m) => m !== 'Variable' && m !== 'UnitOfMeasurement');
const sample = JSON.parse(readFileSync(SAMPLE_FIXTURE, 'utf8')) as Array<{ model: string; pk: number; fields: Record<string, unknown> }>;
const VARIABLES = sample.filter((o) => o.model === 'hcore.variable');
const UNITS = sample.filter((o) => o.model === 'hcore.unitofmeasurement');
const GOOD_VARIABLE_BODY = JSON.stringify(VARIABLES);
const GOOD_UNIT_BODY = JSON.stringify(UNITS);
/** Fast retries for every case unless a case says otherwise. */
const FAST = { attempts: 3, retryBaseMs: 10, idleTimeoutMs: 5_000, connectTimeoutMs: 2_000 };

type Fault = (req: http.IncomingMessage, res: http.ServerResponse, attempt: number) => void;

/** A fake instance that answers `GET /api/` and every model properly, except the models given a fault. */
interface FaultyRemote {
  port: number;
  /** Requests per model since the last reset (incremental URLs included). */
  requests: Map<string, number>;
  /** How a model misbehaves; a model without a fault answers its good fixture. */
  faults: Map<string, Fault>;
  /** Answers to model URLs that the client has not closed yet. */
  open: Set<http.ServerResponse>;
  close(): Promise<void>;
}

const serverTime = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

async function startFaultyRemote(): Promise<FaultyRemote> {
  const requests = new Map<string, number>();
  const faults = new Map<string, Fault>();
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const headers = jsonHeaders();
    if (req.url === '/api/') {
      res.writeHead(200, headers);
      res.end(JSON.stringify({ app: 'hcore', instance: 'x', models: served, server_time: headers['x-server-time'] }));
      return;
    }
    const m = /^\/api\/([A-Za-z]+)\/(?:modified_after\/[^/]+\/)?$/.exec(req.url ?? '');
    if (!m || !served.includes(m[1])) {
      res.writeHead(404, headers);
      res.end('{"error":"not found"}');
      return;
    }
    const model = m[1];
    const attempt = (requests.get(model) ?? 0) + 1;
    requests.set(model, attempt);
    open.add(res);
    res.once('close', () => open.delete(res));
    const fault = faults.get(model);
    if (fault) return fault(req, res, attempt);
    res.writeHead(200, headers);
    res.end(model === 'Variable' ? GOOD_VARIABLE_BODY : model === 'UnitOfMeasurement' ? GOOD_UNIT_BODY : '[]');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port, requests, faults, open,
    close: () => new Promise<void>((r) => {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** The headers of a proper JSON answer. */
const jsonHeaders = () => ({ 'content-type': 'application/json', 'x-server-time': serverTime() });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


describe.each(dialects)('fetch faults into %s', (dialect) => {
  let remote: FaultyRemote;
  let target: TestDatabase;
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-faults-'));
  const hostname = () => `127.0.0.1:${remote.port}`;
  const stage = () => path.join(workDir, targetDirName(target.url), `127.0.0.1_${remote.port}`, 'hcore');
  const run = (http: SyncOptions['http'] = {}, extra: Partial<SyncOptions> = {}) =>
    sync({ app: 'hcore', remote: '127.0.0.1', port: remote.port, exclude: EXCLUDE, db: target.url, workDir, noBackups: true, http: { ...FAST, ...http }, ...extra });

  /** Everything a failed run must leave alone: app tables, registry, and the incremental watermarks. */
  const state = async () => ({
    tables: await tableDigests(target.url, manifest),
    watermarks: await withDb(target.url, (db) => db.knex(WATERMARK_TABLE).select('*').orderBy(['database_id', 'model'])),
  });

  /** Run with the fault set, expect a FetchError naming remote and Variable, and nothing changed. */
  const expectFailure = async (fault: Fault, http: SyncOptions['http'], what: RegExp): Promise<RemoteSyncError> => {
    remote.faults.set('Variable', fault);
    const before = await state();
    const error = await run(http).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FetchError);
    const e = error as RemoteSyncError;
    expect(e.exitCode).toBe(1);
    expect(e.message).toContain(hostname());
    expect(e.message).toContain('Variable');
    expect(e.message).toMatch(what);
    expect(e.meta).toMatchObject({ remote: hostname(), model: 'Variable' });
    expect(await state()).toEqual(before);
    return e;
  };

  beforeAll(async () => {
    remote = await startFaultyRemote();
    target = await createDatabase(dialect);
    // One good sync first: the tables exist and hold this remote's rows.
    const result = await run();
    expect(result.objects).toBe(VARIABLES.length + UNITS.length);
  });
  afterAll(async () => {
    await remote?.close();
    await target?.drop();
  });
  beforeEach(() => {
    remote.requests.clear();
    remote.faults.clear();
    streams.unheard.length = 0;
    streams.slowWritesMs = 0;
    streams.slowOpenMs = 0;
  });
  afterEach(async () => {
    // Whatever a failed run left running (see the test on in-flight fetches) is cut off here,
    // so that it cannot write into the next test's staging directory.
    for (let i = 0; i < 20 && remote.open.size > 0; i++) await sleep(25);
    for (const res of remote.open) res.destroy();
    await sleep(remote.open.size > 0 ? 100 : 0);
  });

  it('a connection reset in the middle of the body is retried, then fails after the last attempt', async () => {
    const e = await expectFailure((_req, res) => {
      res.writeHead(200, { ...jsonHeaders(), 'content-length': Buffer.byteLength(GOOD_VARIABLE_BODY) });
      res.write(GOOD_VARIABLE_BODY.slice(0, GOOD_VARIABLE_BODY.length >> 1), () => res.socket?.resetAndDestroy());
    }, { attempts: 2 }, /aborted|ECONNRESET|socket hang up/);
    expect(e.message).toContain('after 2 attempt(s)');
    expect(remote.requests.get('Variable')).toBe(2);
  });

  it('a connection closed cleanly before Content-Length bytes arrived is an error, not a short fixture', async () => {
    await expectFailure((_req, res) => {
      res.writeHead(200, { ...jsonHeaders(), 'content-length': Buffer.byteLength(GOOD_VARIABLE_BODY) });
      res.write(GOOD_VARIABLE_BODY.slice(0, GOOD_VARIABLE_BODY.length >> 1), () => res.socket?.end());
    }, { attempts: 2 }, /aborted|ECONNRESET|socket hang up|truncated/);
    expect(remote.requests.get('Variable')).toBe(2);
  });

  it('a chunked body that ends cleanly without "]" is truncated: retried, then an error', async () => {
    // Cut after the third object and its comma: everything seen is valid, the array never closes.
    const cut = JSON.stringify(VARIABLES.slice(0, 3)).slice(0, -1) + ',';
    await expectFailure((_req, res) => {
      res.writeHead(200, jsonHeaders());
      res.end(cut);
    }, { attempts: 3 }, /truncated: the array ends after 3 complete object\(s\)/);
    expect(remote.requests.get('Variable')).toBe(3);
  });

  it('an HTTP 500 is retried, and the second answer is installed', async () => {
    const extra = { model: 'hcore.variable', pk: 500, fields: { descr: 'Εξάτμιση', descr_alt: 'Evaporation' } };
    remote.faults.set('Variable', (_req, res, attempt) => {
      if (attempt === 1) {
        res.writeHead(500, jsonHeaders());
        res.end('{"error":"database is restarting"}');
        return;
      }
      res.writeHead(200, jsonHeaders());
      res.end(JSON.stringify([...VARIABLES, extra]));
    });
    const result = await run({ attempts: 3 });
    expect(result.status).toBe('success');
    expect(remote.requests.get('Variable')).toBe(2);
    expect(result.models.find((m) => m.model === 'Variable')).toMatchObject({ inserted: 1, updated: 0 });
    await withDb(target.url, async (db) => {
      const registry = await db.knex(manifest.registry).where({ hostname: hostname() }).first();
      const row = await db.knex('hcore_variable').where({ [ORIGINAL_DB]: registry.id, [ORIGINAL_ID]: 500 }).first();
      expect(row).toMatchObject({ descr: 'Εξάτμιση', descr_alt: 'Evaporation' });
    });
  });

  it('an HTTP 503 that never ends fails after exactly `attempts` requests', async () => {
    const e = await expectFailure((_req, res) => {
      res.writeHead(503, jsonHeaders());
      res.end('{"error":"busy"}');
    }, { attempts: 3 }, /answered 503/);
    expect(e.message).toContain('/api/Variable/');
    expect(remote.requests.get('Variable')).toBe(3);
  });

  it('a 404 for a model /api/ lists is not retried', async () => {
    await expectFailure((_req, res) => {
      res.writeHead(404, jsonHeaders());
      res.end('{"error":"not found"}');
    }, { attempts: 3 }, /answered 404/);
    expect(remote.requests.get('Variable')).toBe(1);
  });

  it('a body that never ends times out after the idle timeout, with a clear error', async () => {
    const started = Date.now();
    await expectFailure((_req, res) => {
      res.writeHead(200, jsonHeaders());
      res.write('[');
    }, { idleTimeoutMs: 300, attempts: 1 }, /no data for 300 ms/);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  // Regression, fixed: the idle timeout inside a body is not retried. fetchOnce destroys the response with
  // `new Error('no data for 300 ms')`, and isTransient() only knows /timeout|no answer|socket
  // hang up|aborted/, so the error is final at the first attempt ("failed after 1
  // attempt(s)"), although IDLE_TIMEOUT_MS's own comment and DESIGN §6 ("Timeouts and retries
  // with backoff") say a stalled fetch is retried; the same stall before the headers
  // ("no answer for 300 ms") is retried.
  it('a body that never ends is retried `attempts` times, each cut off by the idle timeout', async () => {
    const started = Date.now();
    const e = await expectFailure((_req, res) => {
      res.writeHead(200, jsonHeaders());
      res.write('[');
    }, { idleTimeoutMs: 300, attempts: 2, retryBaseMs: 10 }, /no data for 300 ms/);
    expect(remote.requests.get('Variable')).toBe(2);
    expect(e.message).toContain('after 2 attempt(s)');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('an answer whose headers never come times out after the idle timeout, per attempt', async () => {
    await expectFailure(() => {}, { idleTimeoutMs: 300, attempts: 2, retryBaseMs: 10 }, /no answer for 300 ms|no data for 300 ms/);
    expect(remote.requests.get('Variable')).toBe(2);
  });

  it('a slow trickle that never pauses for the idle timeout completes', async () => {
    const body = JSON.stringify([...VARIABLES, { model: 'hcore.variable', pk: 501, fields: { descr: 'Αργή', descr_alt: 'Slow' } }]);
    const pieces = 20;
    remote.faults.set('Variable', (_req, res) => {
      res.writeHead(200, jsonHeaders());
      const size = Math.ceil(body.length / pieces);
      let i = 0;
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        const piece = body.slice(i * size, (i + 1) * size);
        i++;
        if (i >= pieces) {
          clearInterval(timer);
          res.end(piece);
        } else res.write(piece);
      }, 50);
    });
    const started = Date.now();
    const result = await run({ idleTimeoutMs: 300, attempts: 1 });
    // Longer in total than the idle timeout: it is idleness that counts, not duration.
    expect(Date.now() - started).toBeGreaterThan(900);
    expect(result.status).toBe('success');
    expect(remote.requests.get('Variable')).toBe(1);
    expect(result.models.find((m) => m.model === 'Variable')).toMatchObject({ inserted: 1 });
  });

  it('an HTML page instead of JSON is a clear error, not retried', async () => {
    await expectFailure((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<html><body><h1>Server Error (500)</h1></body></html>');
    }, { attempts: 3 }, /text\/html.*not JSON/);
    expect(remote.requests.get('Variable')).toBe(1);
  });

  /** A valid fixture, padded with JSON whitespace past `limit`. */
  const oversize = (limit: number) => `[${' '.repeat(limit)}${GOOD_VARIABLE_BODY.slice(1)}`;
  // Room for the UnitOfMeasurement fixture (Greek: 2 bytes a character), fetched at the same time.
  const LIMIT = Buffer.byteLength(GOOD_UNIT_BODY) + 100;

  it('a fixture over maxFixtureBytes, announced by Content-Length, is refused without reading it', async () => {
    const body = oversize(LIMIT);
    await expectFailure((_req, res) => {
      res.writeHead(200, { ...jsonHeaders(), 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }, { maxFixtureBytes: LIMIT }, new RegExp(`larger than the limit of ${LIMIT} bytes`));
    expect(remote.requests.get('Variable')).toBe(1);
  });

  it('a chunked fixture that grows over maxFixtureBytes is cut off and refused', async () => {
    const body = oversize(LIMIT * 4);
    await expectFailure((_req, res) => {
      res.writeHead(200, jsonHeaders());
      for (let i = 0; i < body.length; i += 1024) res.write(body.slice(i, i + 1024));
      res.end();
    }, { maxFixtureBytes: LIMIT }, new RegExp(`larger than the limit of ${LIMIT} bytes`));
    expect(remote.requests.get('Variable')).toBe(1);
  });

  // Regression, fixed: when one fetch fails, sync() rejects at once (Promise.all in fetchAll) while the
  // other fetches of the run (FETCH_CONCURRENCY = 3) go on, neither aborted nor awaited. They
  // keep writing `<Model>.json.partial` and renaming it into the staging directory after the
  // run has "ended", and they keep the CLI process alive: with Variable answering 404 and
  // UnitOfMeasurement stalled, `remotesyncdb ... --timeout 4` prints the 404 error and then
  // exits only 4 s later, when the stalled fetch times out (with the default --timeout 300, a
  // nightly cron run hangs for 5 minutes after its error).
  it('a failed fetch stops the other fetches of the run before the error is reported', async () => {
    remote.faults.set('Variable', (_req, res) => {
      res.writeHead(404, jsonHeaders());
      res.end('{"error":"not found"}');
    });
    remote.faults.set('UnitOfMeasurement', (_req, res) => {
      res.writeHead(200, jsonHeaders());
      res.write('[');
    });
    const error = await run({ idleTimeoutMs: 2_000, attempts: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FetchError);
    expect((error as Error).message).toContain('answered 404');
    await sleep(200);
    expect(remote.open.size, 'requests of the failed run still open').toBe(0);
    expect(readdirSync(stage()).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  // Regression, fixed: fetchOnce's file write stream has no 'error' listener. When the response fails while
  // a chunk is still being written to `<Model>.json.partial`, `out.destroy()` lets that write
  // complete with ERR_STREAM_DESTROYED, which the stream emits as an 'error' nobody listens to:
  // an uncaught exception. The CLI then dies with a Node stack trace ("Error
  // [ERR_STREAM_DESTROYED]: Cannot call write after a stream was destroyed ... Emitted 'error'
  // event on WriteStream instance") instead of its own message, and no failed run is recorded.
  // Seen with the real binary against a server that resets mid-body (about 1 run in 6); made
  // deterministic here by slowing file writes down.
  it('a connection reset while a chunk is being written to disk raises no uncaught error', async () => {
    streams.slowWritesMs = 100;
    remote.faults.set('Variable', (_req, res) => {
      res.writeHead(200, { ...jsonHeaders(), 'content-length': Buffer.byteLength(GOOD_VARIABLE_BODY) });
      res.write(GOOD_VARIABLE_BODY.slice(0, GOOD_VARIABLE_BODY.length >> 1), () => setTimeout(() => res.socket?.resetAndDestroy(), 20));
    });
    const error = await run({ attempts: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FetchError);
    await sleep(300);
    expect(streams.unheard.map((e) => e.message)).toEqual([]);
  });

  // Regression, fixed: a failed fetch can leave `<Model>.json.partial` behind. fetchFixture removes the
  // partial file right after fetchOnce fails, but fetchOnce only calls `out.destroy()` and does
  // not wait for the write stream: when its open() completes after the rm(), the file is
  // created after the clean-up and stays. Seen about 1 run in 8 with the chunked oversize case
  // above; made deterministic here by slowing open() down.
  it('a failed fetch leaves no partial file in the staging directory', async () => {
    streams.slowOpenMs = 100;
    remote.faults.set('Variable', (_req, res) => {
      res.writeHead(200, jsonHeaders());
      res.end(GOOD_VARIABLE_BODY.slice(0, -1));
    });
    const error = await run({ attempts: 1 }).catch((e: unknown) => e);
    expect((error as Error).message).toContain('truncated');
    await sleep(300);
    expect(readdirSync(stage()).filter((f) => f.startsWith('Variable.json.'))).toEqual([]);
  });

  it('after all of this, a clean run still finds nothing to change', async () => {
    const before = await state();
    const result = await run({}, { full: true });
    expect(result.models.reduce((n, m) => n + m.inserted + m.updated, 0)).toBe(0);
    // Only the remote's last_sync may move.
    const { [REMOTE_TABLE]: _registry, ...appBefore } = before.tables;
    const { [REMOTE_TABLE]: _registryAfter, ...appAfter } = (await state()).tables;
    expect(appAfter).toEqual(appBefore);
  });
});
