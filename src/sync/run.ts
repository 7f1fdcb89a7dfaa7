import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { connectDatabase, databaseExists, DEFAULT_DB, type Database } from '../dialects/index.js';
import { ConfigError, LockError, maskSecrets, RemoteSyncError } from '../errors.js';
import { loadManifest } from '../manifest/load-manifest.js';
import { dependencyOrder } from '../manifest/order.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { ensureSchema } from '../schema/ensure-schema.js';
import type { InstanceInfo, RequestOptions } from '../sources/http-client.js';
import { parseRemote, type RemoteEndpoint } from '../sources/remote-endpoint.js';
import { defaultWorkDir, stageDir, type FetchManifest } from '../sources/work-dir.js';
import type { SyncEvent } from './events.js';
import { checkExcludes } from './plan.js';
import { findRemote, sameInstance, type RemoteRow } from './registry.js';
import type { Marks } from './report.js';
import type { SyncOptions } from './sync.js';

const LOCK_WAIT_MS = 10_000;

/** What every phase of a sync run shares; the local database may not be open yet (see {@link openRun}). */
export interface StartedRun {
  readonly options: SyncOptions;
  readonly manifest: AppManifest;
  readonly excluded: ReadonlySet<string>;
  /** The local database, when it was open before the remote answered (it exists, or the run only reads). */
  readonly db: Database | undefined;
  /** The remote as registered (by hostname, or by name) or as `-r`/`-p` give it; https if it was registered so. */
  readonly endpoint: RemoteEndpoint;
  /** `<work dir>/<database>/<remote>/<app>/`: staged files, backups, rejects. */
  readonly stagePath: string;
  /** Where this run stages: `stagePath`, or for a dry run a temporary directory it removes (a dry run writes nothing anywhere). */
  readonly dir: string;
  readonly isTempDir: boolean;
  /** How to talk to the remote: timeouts, retries, TLS trust, the token and where it is expected. */
  readonly request: RequestOptions;
  /** Whether this run writes (not `--fetch-only`, not `--dry-run`). */
  readonly writes: boolean;
  readonly lockKey: string;
  readonly lockWaitMs: number;
  readonly started: number;
  readonly startedAt: string;
  /** When each phase began, for the timings of the result (`npm run bench` reads them). */
  readonly marks: Marks;
  readonly emit: (event: SyncEvent) => void;
}

/** A run with its local database open. */
export interface SyncRun extends StartedRun {
  readonly db: Database;
}

/** The remote's registry row, found once the run's lock is held, and the transaction that holds it. */
export interface SyncTarget {
  readonly trx: Knex.Transaction;
  readonly endpoint: RemoteEndpoint;
  readonly registered: RemoteRow | undefined;
  /** Where this run stages (see {@link StartedRun.dir}). */
  readonly dir: string;
  readonly request: RequestOptions;
}

/** The planned models and their fixtures in the work dir (fetched or resumed). */
export interface Staged {
  readonly plan: ModelDef[];
  readonly fetched: FetchManifest;
}

/**
 * Start a run: everything checkable without network or database first (exit 2 before any
 * access). The local database is opened now only if it exists or the run only reads (a dry run
 * of a SQLite file not there yet reads an empty one in memory: no file appears); a sync
 * creates it once the remote has answered. A `-r` that is no host must be a registered name.
 */
export async function startRun(options: SyncOptions): Promise<StartedRun> {
  const started = Date.now();
  const startedAt = new Date().toISOString();
  const marks: Marks = {};
  const emitOuter = options.emit ?? (() => {});
  const emit = (event: SyncEvent) => {
    if (event.type === 'phase') marks[event.phase] ??= Date.now();
    else if (event.type === 'rewiring') marks.rewire = Date.now();
    else if (event.type === 'model-installing') marks.insert ??= Date.now();
    emitOuter(event);
  };
  const manifest = loadManifest(options.app);
  dependencyOrder(manifest);
  const excluded = checkExcludes(manifest, options.exclude ?? []);
  if (options.resume && options.fetchOnly) throw new ConfigError('--resume and --fetch-only exclude each other');
  let guess: RemoteEndpoint | undefined;
  let guessError: unknown;
  try {
    guess = parseRemote(options.remote, options.port);
  } catch (error) {
    // Not host-shaped: it may still be the name of a registered remote (looked up below).
    if (options.port !== undefined || !(error instanceof ConfigError)) throw error;
    guessError = error;
  }
  const workDir = options.workDir ?? defaultWorkDir();
  const writes = !options.fetchOnly && !options.dryRun;
  const isAbsent = !databaseExists(options.db);
  const db = isAbsent && writes && !options.resume ? undefined : await openLocal(options, isAbsent && !writes);
  // A -r that is no host may still be a registered name: look before touching anything else.
  const named = db ? await findRemote(db.knex, manifest.registry, guess?.hostname, options.remote, options.port !== undefined).catch(() => undefined) : undefined;
  if (!guess && !named) {
    await db?.knex.destroy();
    throw guessError;
  }
  const endpoint = named && named.hostname !== guess?.hostname
    ? parseRemote(`${named.is_tls || guess?.isTls ? 'https://' : ''}${named.hostname}`)
    : named?.is_tls && !guess!.isTls ? parseRemote(`https://${named.hostname}`) : guess!;
  const stagePath = stageDir(workDir, options.db, endpoint.hostname, manifest.app);
  const isTempDir = options.dryRun === true && !options.resume;
  const dir = isTempDir ? await mkdtemp(path.join(os.tmpdir(), 'remotesyncdb-dry-run-')) : stagePath;
  const token = options.token ?? options.tokenFor?.(endpoint.hostname);
  const request = { ...options.http, token, tokenHint: options.tokenHintFor?.(endpoint.hostname) };
  const lockWaitMs = options.lockWaitMs ?? LOCK_WAIT_MS;
  return { options, manifest, excluded, db, endpoint, stagePath, dir, isTempDir, request, writes, lockKey: `sync:${manifest.app}`, lockWaitMs, started, startedAt, marks, emit };
}

/** Open the local database (a SQLite file that is not there yet, in memory when the run only reads). */
async function openLocal(options: SyncOptions, inMemory: boolean): Promise<Database> {
  const db = inMemory ? { ...(await connectDatabase(':memory:')), display: maskSecrets(options.db ?? DEFAULT_DB) } : await connectDatabase(options.db);
  const onQuery = options.onQuery;
  if (onQuery) db.knex.on('query', (q: { sql: string }) => onQuery(q.sql));
  return db;
}

/** The run with its local database open: opened now if the remote had to answer first. */
export async function openRun(run: StartedRun): Promise<SyncRun> {
  return run.db ? (run as SyncRun) : { ...run, db: await openLocal(run.options, false) };
}

/** The end of every run: its database closed, a dry run's temporary directory removed. */
export async function endRun(run: StartedRun): Promise<void> {
  await run.db?.knex.destroy();
  if (run.isTempDir) await rm(run.dir, { recursive: true, force: true });
}

/**
 * Phase 0, prepare: create what is missing of the bookkeeping and app tables, even when another
 * first sync prepares the same database at the same moment (a table the other one created
 * first is simply there on the next look).
 */
export async function prepare(run: SyncRun): Promise<void> {
  const { db, manifest } = run;
  run.emit({ type: 'phase', phase: 'prepare', message: `Preparing ${db.display}` });
  const deadline = Date.now() + run.lockWaitMs;
  for (;;) {
    try {
      await ensureSchema(db.knex, db.dialect, manifest, 'error');
      return;
    } catch (error) {
      const message = error instanceof Error ? error.message : '';
      const isRace = /already exists|duplicate key value|SQLITE_BUSY|database is locked/i.test(message) || (error as { code?: string }).code === 'SQLITE_BUSY';
      if (!isRace || error instanceof RemoteSyncError) throw error;
      if (Date.now() > deadline) throw new LockError(`Another sync is preparing ${db.display}; try again when it has finished`, { cause: error });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Take the run's lock in the transaction the caller just opened: one run at a time, from before
 * the fetch (which rewrites the staged files) to the commit. That transaction is the install's;
 * a fetch-only or dry run rolls it back.
 */
export async function lock(run: SyncRun, trx: Knex.Transaction): Promise<void> {
  const { db, manifest } = run;
  if (!(await db.dialect.tryLock(trx, run.lockKey, run.lockWaitMs))) {
    throw new LockError(`Another sync of ${manifest.app} holds the lock on ${db.display}; try again when it has finished`);
  }
}

/**
 * The remote's registry row, once the lock is held. A remote not registered yet that reports
 * the instance of a registered one on the same port is warned about: it is most likely the
 * same server under another spelling, and would duplicate every object.
 */
export async function findTarget(run: SyncRun, trx: Knex.Transaction, info: InstanceInfo | undefined): Promise<SyncTarget> {
  const { options, endpoint, manifest } = run;
  const registered = await findRemote(trx, manifest.registry, endpoint.hostname, options.remote, options.port !== undefined);
  if (info && !registered) {
    for (const twin of await sameInstance(trx, manifest.registry, endpoint, info.instance)) {
      run.emit({ type: 'warning', message: `${endpoint.hostname} is not registered, but registered remote "${twin.name}" (${twin.hostname}) reported the same instance "${info.instance}" on the same port: if it is the same server, syncing it under a second name duplicates every object; stop and use -r ${twin.hostname}` });
    }
  }
  return { trx, endpoint, registered, dir: run.dir, request: run.request };
}
