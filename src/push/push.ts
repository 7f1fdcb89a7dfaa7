import { createHash } from 'node:crypto';
import { open, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { connectExistingDatabase } from '../dialects/index.js';
import { ConfigError, LockError, RemoteUnreachableError } from '../errors.js';
import { loadManifest } from '../manifest/load-manifest.js';
import { dependencyOrder } from '../manifest/order.js';
import { parseRemote, remoteDirName, type RemoteEndpoint } from '../sources/remote-endpoint.js';
import { defaultWorkDir } from '../sources/work-dir.js';
import { checkExcludes } from '../sync/plan.js';
import { writeRejects } from '../sync/report.js';
import { cutBundles, type CutBundle, type CutOptions } from './bundle.js';
import type { BundleAck } from './install-bundle.js';
import { centreRequest, PushRefusedError, type CentreClientOptions } from './push-client.js';

/** The size of one upload request. */
export const CHUNK_BYTES = 1024 * 1024;
/** How many times a bundle refused as cut from an old state is cut again. */
const RECUTS = 3;
/** How many times one bundle is uploaded again (lost by the centre) or one chunk re-sent (damaged). */
const MAX_ROUNDS = 10;
/** After a refusal for a site clock behind the centre's: the next cut is full (what was written meanwhile carries old times). */
const NEEDS_FULL = 'needs-full';

/** Options of `remotesyncdb push` (run at the site). */
export interface PushOptions {
  /** The centre: `https://host[:port]` or `host:port`. */
  to: string;
  app: string;
  /** The site's own database (read only). */
  db?: string;
  exclude?: readonly string[];
  /** Delete at the centre the site's rows the site no longer has (from its pk lists). */
  prune?: boolean;
  /** Send every object, not only what changed since the centre's watermark. */
  full?: boolean;
  workDir?: string;
  /** The site's push token (`REMOTESYNCDB_PUSH_TOKEN` or the config file). */
  token?: string;
  http?: Omit<CentreClientOptions, 'token'>;
  chunkBytes?: number;
  /** Split what a push sends into consecutive bundles of at most this many bytes (where the models allow). */
  maxBundleBytes?: number;
  emit?: (event: PushEvent) => void;
  /** How bundles are cut (an exchange cuts by version: DESIGN §10); default {@link cutBundles}. */
  cut?: (options: CutOptions) => Promise<CutBundle[]>;
  /** Where the push keeps its bundles (default `<work dir>/push/<centre>/<app>`). */
  dir?: string;
  /**
   * Called once the centre is known to have committed a bundle, with its ack (fetched again
   * when the commit's answer was lost), before the site forgets the bundle.
   */
  onCommitted?: (ack: BundleAck) => Promise<void>;
}

/** Progress of a push. */
export type PushEvent =
  | { type: 'phase'; phase: 'state' | 'cut' | 'upload' | 'commit'; message: string }
  | { type: 'uploaded'; bytes: number; of: number };

/** What a push did: the acks of the bundles it committed (one, or several with `maxBundleBytes`). */
export interface PushResult {
  status: 'success';
  centre: string;
  /** The last bundle's ack. */
  ack: BundleAck;
  acks: BundleAck[];
  /** The size of each bundle this push committed, in order. */
  bundleBytes: number[];
  /** Objects the bundles held, rows written at the centre, objects rejected there. */
  objects: number;
  written: number;
  /** Objects the centre rejected (listed with their reasons in `rejectsFile`; sent again by the next push). */
  rejected: number;
  rejectsFile: string;
  bytes: number;
  bytesSent: number;
  resumed: boolean;
  durationMs: number;
}

/** What the site keeps of a bundle until an ack names its id and sha256. */
interface Pending { id: string; sha256: string; bytes: number; file: string }

/**
 * One push (DESIGN §9): ask the centre what it holds, send the bundles kept from a push that
 * was not acknowledged (resuming an upload where the centre's copy ends), or cut new ones from
 * the site's database; upload each in chunks, commit, and forget it only on an ack that names
 * it. Nothing is ever lost by forgetting a bundle the centre did not commit: its watermarks did
 * not move, so the next cut holds the same changes again.
 */
export async function push(options: PushOptions): Promise<PushResult> {
  const started = Date.now();
  const manifest = loadManifest(options.app);
  const excluded = checkExcludes(manifest, options.exclude ?? []);
  const endpoint = parseRemote(options.to);
  if (!options.token) throw new ConfigError(`push: no token for centre ${endpoint.hostname}; set REMOTESYNCDB_PUSH_TOKEN, or enrol once with push --to ${options.to} --enrol CODE`);
  const client: CentreClientOptions = { ...options.http, token: options.token };
  const emit = options.emit ?? (() => {});
  const dir = options.dir ?? path.join(path.resolve(options.workDir ?? defaultWorkDir()), 'push', remoteDirName(endpoint.hostname), manifest.app);
  const db = await connectExistingDatabase(options.db);
  const releaseLock = await lockDir(dir).catch(async (error: unknown) => {
    await db.knex.destroy();
    throw error;
  });
  const acks: BundleAck[] = [];
  const bundleBytes: number[] = [];
  let bytes = 0;
  let bytesSent = 0;
  let resumed = false;
  try {
    for (let cut = 0; ; cut++) {
      emit({ type: 'phase', phase: 'state', message: `Asking ${endpoint.baseUrl} what it holds` });
      const state = await centreRequest(endpoint, 'GET', '/api/push/state', client);
      if (state.status === 404) throw new ConfigError(`${endpoint.hostname} takes no pushes (GET /api/push/state answered 404): is it a centre, started with serve --accept-push?`, { meta: { remote: endpoint.hostname } });
      if (state.status !== 200) throw new PushRefusedError(`Centre ${endpoint.hostname}: GET /api/push/state answered ${state.status}: ${String(state.body.error ?? '')}`);
      if (state.body.app !== manifest.app) throw new ConfigError(`Centre ${endpoint.hostname} takes app "${String(state.body.app)}", not "${manifest.app}"`);
      const queue = await readPending(dir);
      // Committed, their ack lost: done with them (the centre answers with its last bundle).
      const last = state.body.lastBundle as { id: string; sha256: string } | null;
      const done = queue.findIndex((b) => b.id === last?.id && b.sha256 === last.sha256);
      if (done >= 0) {
        for (const bundle of queue.slice(0, done + 1)) {
          // Its ack, rejects included, as the centre recorded it (kept for its last 50 bundles).
          const known = await centreRequest(endpoint, 'GET', `/api/push/bundles/${bundle.id}`, client);
          const ack = known.status === 200 ? (known.body.ack as BundleAck | undefined) : undefined;
          if (ack && ack.id === bundle.id && ack.sha256 === bundle.sha256) {
            acks.push(ack);
            await options.onCommitted?.(ack);
          }
        }
        await keep(dir, queue.splice(0, done + 1), queue);
      }
      if (queue.length > 0) resumed = true;
      else {
        emit({ type: 'phase', phase: 'cut', message: `Cutting from ${db.display}` });
        const plan = dependencyOrder(manifest).filter((m) => !m.isPrivate && !excluded.has(m.name));
        for (const model of plan) if (!(await db.knex.schema.hasTable(model.table))) throw new ConfigError(`push: ${db.display} has no table ${model.table} (${model.name}); exclude it with -e ${model.name}`);
        await mkdir(dir, { recursive: true });
        const cuts = await (options.cut ?? cutBundles)({
          knex: db.knex, dialect: db.dialect, manifest, plan, base: (state.body.watermarks ?? {}) as Record<string, string>,
          full: options.full === true || existsSync(path.join(dir, NEEDS_FULL)), prune: options.prune === true, file: path.join(dir, 'bundle.jsonl'), maxBytes: options.maxBundleBytes,
        });
        queue.push(...cuts.map((b) => ({ id: b.header.id, sha256: b.sha256, bytes: b.bytes, file: b.file })));
        await keep(dir, [], queue);
      }
      let refusal: string | undefined;
      while (queue.length > 0 && refusal === undefined) {
        const bundle = queue[0];
        const outcome = await send(endpoint, client, bundle, resumed, options.chunkBytes ?? CHUNK_BYTES, emit).catch(async (error: unknown) => {
          // Refused for good (a clock behind the centre's, a schema it does not have): these
          // bundles must not block every later push.
          if (error instanceof PushRefusedError) await keep(dir, queue.splice(0), queue);
          if (error instanceof PushRefusedError && error.meta.reason === 'clock') await writeFile(path.join(dir, NEEDS_FULL), `${new Date().toISOString()}\n`);
          throw error;
        });
        bytesSent += outcome.bytesSent;
        if (outcome.ack) {
          await options.onCommitted?.(outcome.ack);
          acks.push(outcome.ack);
          bundleBytes.push(bundle.bytes);
          bytes += bundle.bytes;
          await keep(dir, queue.splice(0, 1), queue);
        } else refusal = outcome.refusal;
      }
      if (refusal === undefined) {
        await rm(path.join(dir, NEEDS_FULL), { force: true });
        const ack = acks.at(-1)!;
        const sum = (f: (a: BundleAck) => number) => acks.reduce((n, a) => n + f(a), 0);
        // What the centre would not take, with its reasons, where the site's operator looks.
        const rejects = acks.flatMap((a) => a.rejects.map((r) => ({ model: r.model, pk: typeof r.pk === 'number' ? r.pk : null, reason: r.reason })));
        await writeRejects(dir, `centre ${endpoint.hostname}`, rejects);
        return { status: 'success', centre: endpoint.hostname, ack, acks, bundleBytes, objects: sum((a) => a.objects), written: sum((a) => a.written), rejected: rejects.length, rejectsFile: path.join(dir, 'rejects.txt'), bytes, bytesSent, resumed, durationMs: Date.now() - started };
      }
      // Refused as cut from an old state (another bundle committed first): cut again.
      await keep(dir, queue.splice(0), queue);
      if (cut >= RECUTS) throw new PushRefusedError(`Centre ${endpoint.hostname}: ${refusal}`);
    }
  } finally {
    await releaseLock();
    await db.knex.destroy();
  }
}

/**
 * One push at a time per site and centre (two cron runs overlapping, or one beside `--every`):
 * a lock file holding the pid, taken over when that process is gone, so a killed push never
 * blocks the next one.
 */
export async function lockDir(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'push.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' });
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(await readFile(file, 'utf8').catch(() => ''));
      if (isAlive(pid)) throw new LockError(`Another push (pid ${pid}) is sending to this centre from ${dir}; try again when it has finished`);
      await rm(file, { force: true });
    }
  }
  throw new LockError(`Another push is starting in ${dir}; try again`);
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The bundles kept for the centre, in order (a file of one bundle from before splits is read too). */
async function readPending(dir: string): Promise<Pending[]> {
  try {
    const value = JSON.parse(await readFile(path.join(dir, 'pending.json'), 'utf8')) as Pending | Pending[];
    return Array.isArray(value) ? value : [value];
  } catch {
    return [];
  }
}

/** Record what is still to send, and delete the files of the bundles done with. */
async function keep(dir: string, done: readonly Pending[], queue: readonly Pending[]): Promise<void> {
  if (queue.length > 0) await writeFile(path.join(dir, 'pending.json'), JSON.stringify(queue));
  else await rm(path.join(dir, 'pending.json'), { force: true });
  for (const bundle of done) await rm(bundle.file, { force: true });
}

/** Upload what the centre does not hold yet, then commit; an ack, or why the bundle must be cut again. */
async function send(endpoint: RemoteEndpoint, client: CentreClientOptions, bundle: Pending, isResumed: boolean, chunkBytes: number, emit: (e: PushEvent) => void): Promise<{ ack?: BundleAck; refusal?: string; bytesSent: number }> {
  const base = `/api/push/bundles/${bundle.id}`;
  let bytesSent = 0;
  // A bundle just cut is new to the centre; one kept from an earlier push may be partly there.
  let mayBeThere = isResumed;
  // Bounded: a centre that keeps losing the upload, or a link that damages every chunk, is a
  // failure to report (and retry on the next run), not a loop.
  let rounds = 0;
  let damaged = 0;
  const file = await open(bundle.file, 'r');
  try {
    for (;;) {
      if (++rounds > MAX_ROUNDS) throw new RemoteUnreachableError(`Centre ${endpoint.hostname} lost bundle ${bundle.id} ${MAX_ROUNDS} times; try again later`, { meta: { remote: endpoint.hostname } });
      const known = mayBeThere ? await centreRequest(endpoint, 'GET', base, client) : undefined;
      mayBeThere = true;
      let received = known?.status === 200 ? Number(known.body.received) : 0;
      emit({ type: 'phase', phase: 'upload', message: `Uploading bundle ${bundle.id} (${bundle.bytes} bytes${received > 0 ? `, resuming at ${received}` : ''})` });
      while (received < bundle.bytes) {
        const length = Math.min(chunkBytes, bundle.bytes - received);
        const chunk = Buffer.alloc(length);
        await file.read(chunk, 0, length, received);
        const answer = await centreRequest(endpoint, 'PUT', `${base}?offset=${received}`, client, chunk, {
          'x-bundle-sha256': bundle.sha256, 'x-bundle-bytes': String(bundle.bytes), 'x-chunk-sha256': createHash('sha256').update(chunk).digest('hex'),
        });
        bytesSent += length;
        if (answer.status === 200 || (answer.status === 409 && typeof answer.body.received === 'number')) received = Number(answer.body.received);
        else if (answer.status === 400 && /corrupted/.test(String(answer.body.error)) && ++damaged <= MAX_ROUNDS) continue; // damaged on the way: send it again
        else throw refused(endpoint, answer.status, answer.body);
        emit({ type: 'uploaded', bytes: received, of: bundle.bytes });
      }
      emit({ type: 'phase', phase: 'commit', message: `Committing bundle ${bundle.id}` });
      const answer = await centreRequest(endpoint, 'POST', `${base}/commit`, client);
      if (answer.status === 200) {
        const ack = answer.body as unknown as BundleAck;
        if (ack.id !== bundle.id || ack.sha256 !== bundle.sha256) throw new PushRefusedError(`Centre ${endpoint.hostname} acknowledged bundle ${ack.id} (${ack.sha256}) for bundle ${bundle.id} (${bundle.sha256})`);
        return { ack, bytesSent };
      }
      if (answer.status === 409 && answer.body.reason === 'clock') throw refused(endpoint, answer.status, answer.body, 'clock');
      if (answer.status === 409 && answer.body.state) return { refusal: String(answer.body.error), bytesSent };
      if (answer.status === 409 && typeof answer.body.received === 'number') continue; // the centre lost part of it: upload again from there
      if (answer.status === 404) continue; // the upload was forgotten: start it again
      // Refused for good; the centre's reason (a retention that asks for a repair) goes with it.
      throw refused(endpoint, answer.status, answer.body, typeof answer.body.reason === 'string' ? answer.body.reason : undefined);
    }
  } finally {
    await file.close();
  }
}

function refused(endpoint: RemoteEndpoint, status: number, body: Record<string, unknown>, reason?: string): PushRefusedError {
  return new PushRefusedError(`Centre ${endpoint.hostname} refused the push (${status}): ${String(body.error ?? '')}`, { meta: { remote: endpoint.hostname, ...(reason ? { reason } : {}) } });
}
