import type { Knex } from 'knex';
import { connectDatabase, type Database } from '../dialects/index.js';
import { ConfigError, LockError, RemoteSyncError } from '../errors.js';
import { loadManifest } from '../manifest/load-manifest.js';
import { dependencyOrder } from '../manifest/order.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { ensureSchema } from '../schema/ensure-schema.js';
import { parseRemote, type RemoteEndpoint } from '../sources/remote-endpoint.js';
import { defaultWorkDir, stageDir, type FetchManifest } from '../sources/work-dir.js';
import type { SyncEvent } from './events.js';
import { checkExcludes } from './plan.js';
import { findRemote, type RemoteRow } from './registry.js';
import type { Marks } from './report.js';
import type { SyncOptions } from './sync.js';

const LOCK_WAIT_MS = 10_000;

/** What every phase of a sync run shares. */
export interface SyncRun {
  readonly options: SyncOptions;
  readonly manifest: AppManifest;
  readonly excluded: ReadonlySet<string>;
  /** The endpoint `-r` names when it is host-shaped; otherwise `guessError` says why not. */
  readonly guess: RemoteEndpoint | undefined;
  readonly guessError: unknown;
  readonly db: Database;
  readonly workDir: string;
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

/** The remote of a run, found once its lock is held, and the transaction that holds it. */
export interface SyncTarget {
  readonly trx: Knex.Transaction;
  readonly endpoint: RemoteEndpoint;
  readonly registered: RemoteRow | undefined;
  /** `<work dir>/<remote>/<app>/`. */
  readonly dir: string;
  readonly token: string | undefined;
}

/** The planned models and their fixtures in the work dir (fetched or resumed). */
export interface Staged {
  readonly plan: ModelDef[];
  readonly fetched: FetchManifest;
}

/**
 * Start a run: everything checkable without network or database first (exit 2 before any
 * access), then connect. A `-r` that is no host must be the name of a registered remote.
 */
export async function startRun(options: SyncOptions): Promise<SyncRun> {
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
  const db = await connectDatabase(options.db);
  const onQuery = options.onQuery;
  if (onQuery) db.knex.on('query', (q: { sql: string }) => onQuery(q.sql));
  const writes = !options.fetchOnly && !options.dryRun;
  // A -r that is no host may still be a registered name: look before touching anything else.
  if (!guess && !(await findRemote(db.knex, manifest.registry, undefined, options.remote, false).catch(() => undefined))) {
    await db.knex.destroy();
    throw guessError;
  }
  const lockWaitMs = options.lockWaitMs ?? LOCK_WAIT_MS;
  return { options, manifest, excluded, guess, guessError, db, workDir, writes, lockKey: `sync:${manifest.app}`, lockWaitMs, started, startedAt, marks, emit };
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

/** The remote: registered (by hostname, or by name) or as `-r`/`-p` give it; https if it was registered so. */
export async function findTarget(run: SyncRun, trx: Knex.Transaction): Promise<SyncTarget> {
  const { options, guess } = run;
  const registered = await findRemote(trx, run.manifest.registry, guess?.hostname, options.remote, options.port !== undefined);
  if (!guess && !registered) throw run.guessError;
  const endpoint = registered && registered.hostname !== guess?.hostname
    ? parseRemote(`${registered.is_tls || guess?.isTls ? 'https://' : ''}${registered.hostname}`)
    : registered?.is_tls && !guess!.isTls ? parseRemote(`https://${registered.hostname}`) : guess!;
  const dir = stageDir(run.workDir, endpoint.hostname, run.manifest.app);
  const token = options.token ?? options.tokenFor?.(endpoint.hostname);
  return { trx, endpoint, registered, dir, token };
}
