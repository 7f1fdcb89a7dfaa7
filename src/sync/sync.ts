import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { DEFAULT_KEEP_BACKUPS, pruneBackups, writeBackup } from '../backup/backup.js';
import { connectDatabase, databaseExists, DEFAULT_DB, type Database } from '../dialects/index.js';
import { ConfigError, LockError, maskSecrets, RemoteSyncError } from '../errors.js';
import { checkTcp, getInstanceInfo, type InstanceInfo, type RequestOptions } from '../sources/http-client.js';
import { parseRemote, type RemoteEndpoint } from '../sources/remote-endpoint.js';
import { defaultWorkDir, fixtureFile, readFetchManifest, readFixtureBatches, stageDir, type FetchManifest } from '../sources/work-dir.js';
import { targetIdentity } from '../sources/target-identity.js';
import { installObjects, type InstallResult, type ModelCounts } from '../install/install.js';
import { ensureSchema } from '../schema/ensure-schema.js';
import { loadManifest } from '../manifest/load-manifest.js';
import { dependencyOrder } from '../manifest/order.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { REGISTRY_TABLE } from '../schema/bookkeeping.js';
import type { SyncEvent, SyncResult } from './events.js';
import { checkExcludes, planModels } from './plan.js';
import { findRemote, registerRemote, sameInstance, type RemoteRow } from './registry.js';
import { emptyCounts, recordRun, result, timings, writeRejects, type Marks } from './report.js';
import { fetchAll, verifyStaged } from './stage.js';
import { isIncremental, readWatermarks, writeWatermarks } from './watermarks.js';

/** Options of one sync run (the CLI's flags, already parsed). */
export interface SyncOptions {
  /** A bundled app name or a manifest path. */
  app: string;
  /** `-r`: host, `host:port`, `http(s)://host`, or a registered name. */
  remote: string;
  /** `-p`; default 80 (443 for https). */
  port?: number;
  exclude?: readonly string[];
  workDir?: string;
  /** `--db`: a URL or SQLite path; default the embedded `./remotesyncdb.sqlite`. */
  db?: string;
  fetchOnly?: boolean;
  resume?: boolean;
  dryRun?: boolean;
  /** Bearer token for the remote (from the environment or config, never a flag). */
  token?: string;
  /** The token for a remote's identity `host[:port]`, when `token` is not given (per-remote tokens of the config file). */
  tokenFor?: (hostname: string) => string | undefined;
  /** Where the token for a remote is expected, for the message of a 401/403 (the config's tokenEnv). */
  tokenHintFor?: (hostname: string) => string;
  /** `-s`: leave out objects that cannot be installed, and what depends on them, listing them in rejects.txt. */
  skip?: boolean;
  /** `-N`: no snapshot before the install. */
  noBackups?: boolean;
  /** How many backups of this remote and app to keep (default 5). */
  keepBackups?: number;
  /** `-F`: ignore the incremental watermarks and fetch every model in full. */
  full?: boolean;
  /** `--prune`: delete this remote's rows that it no longer has (implies a full fetch). */
  prune?: boolean;
  /** Timeouts, retries, TLS trust and the size limit of fetches (defaults in sources/http-client). */
  http?: Omit<RequestOptions, 'token'>;
  /** How long to wait for another sync's lock. */
  lockWaitMs?: number;
  emit?: (event: SyncEvent) => void;
  /** Called with every SQL statement the run sends (debugging, and tests that count writes). */
  onQuery?: (sql: string) => void;
}

const LOCK_WAIT_MS = 10_000;

/**
 * One sync run, DESIGN §6: prepare, check, plan, fetch, install in ONE transaction, report.
 * Throws a RemoteSyncError (with its exit code) on failure; the database is then as it was.
 */
export async function sync(options: SyncOptions): Promise<SyncResult> {
  const started = Date.now();
  const startedAt = new Date().toISOString();
  const marks: Marks = {};
  const emitOuter = options.emit ?? (() => {});
  // Phase boundaries, for the timings of the result (`npm run bench` reads them).
  const emit = (event: SyncEvent) => {
    if (event.type === 'phase') marks[event.phase] ??= Date.now();
    else if (event.type === 'rewiring') marks.rewire = Date.now();
    else if (event.type === 'model-installing') marks.insert ??= Date.now();
    emitOuter(event);
  };
  // Everything checkable without network or database first: exit 2 before any access.
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
  // A SQLite file that does not exist yet: a dry run or a fetch-only run reads it as the empty
  // database it is (in memory: no file appears); a sync creates it only once the remote answered.
  const isAbsent = !databaseExists(options.db);
  const open = async (): Promise<Database> => {
    const opened = isAbsent && !writes ? { ...(await connectDatabase(':memory:')), display: maskSecrets(options.db ?? DEFAULT_DB) } : await connectDatabase(options.db);
    const onQuery = options.onQuery;
    if (onQuery) opened.knex.on('query', (q: { sql: string }) => onQuery(q.sql));
    return opened;
  };
  let db: Database | undefined = isAbsent && writes && !options.resume ? undefined : await open();
  // A -r that is no host may still be a registered name: look before touching anything else.
  const named = db ? await findRemote(db.knex, guess?.hostname, options.remote, options.port !== undefined).catch(() => undefined) : undefined;
  if (!guess && !named) {
    await db?.knex.destroy();
    throw guessError;
  }
  const endpoint = named && named.hostname !== guess?.hostname
    ? parseRemote(`${named.is_tls || guess?.isTls ? 'https://' : ''}${named.hostname}`)
    : named?.is_tls && !guess!.isTls ? parseRemote(`https://${named.hostname}`) : guess!;
  const remoteLabel = endpoint.hostname;
  const stagePath = stageDir(workDir, options.db, endpoint.hostname, manifest.app);
  // A dry run writes nothing anywhere: it fetches into a temporary directory, removed at the end.
  const isTempDir = options.dryRun === true && !options.resume;
  const dir = isTempDir ? await mkdtemp(path.join(os.tmpdir(), 'remotesyncdb-dry-run-')) : stagePath;
  const token = options.token ?? options.tokenFor?.(endpoint.hostname);
  const request = { ...options.http, token, tokenHint: options.tokenHintFor?.(endpoint.hostname) };
  let trx: Knex.Transaction | undefined;
  const lockKey = `sync:${manifest.app}`;
  try {
    let info: InstanceInfo | undefined;
    if (!options.resume) {
      // The remote first: nothing is created in the local database for a remote that does not answer.
      emit({ type: 'phase', phase: 'check', message: `Checking ${endpoint.baseUrl}` });
      await checkTcp(endpoint, options.http?.connectTimeoutMs);
      info = await getInstanceInfo(endpoint, request);
      if (info.app !== manifest.app) {
        throw new ConfigError(`Remote ${endpoint.hostname} serves app "${info.app}", not "${manifest.app}"; use -a ${info.app} with its manifest`, { meta: { remote: endpoint.hostname } });
      }
      emit({ type: 'remote-up', remote: endpoint.hostname, app: info.app, instance: info.instance });
    }
    db ??= await open();
    if (writes) {
      emit({ type: 'phase', phase: 'prepare', message: `Preparing ${db.display}` });
      await prepareSchema(db, manifest, options.lockWaitMs ?? LOCK_WAIT_MS);
    }
    // One run at a time, from before the fetch (which rewrites the staged files) to the commit.
    // The transaction opened here is the install's; a fetch-only or dry run rolls it back.
    trx = await db.knex.transaction(db.dialect.transactionConfig);
    if (!(await db.dialect.tryLock(trx, lockKey, options.lockWaitMs ?? LOCK_WAIT_MS))) {
      throw new LockError(`Another sync of ${manifest.app} holds the lock on ${db.display}; try again when it has finished`);
    }
    const registered = await findRemote(trx, endpoint.hostname, options.remote, options.port !== undefined);
    if (info && !registered) {
      for (const twin of await sameInstance(trx, endpoint, info.instance)) {
        emit({ type: 'warning', message: `${endpoint.hostname} is not registered, but registered remote "${twin.name}" (${twin.hostname}) reported the same instance "${info.instance}" on the same port: if it is the same server, syncing it under a second name duplicates every object; stop and use -r ${twin.hostname}` });
      }
    }

    let fetched: FetchManifest;
    let plan: ModelDef[];
    if (!info) {
      const staged = await readFetchManifest(dir);
      if (!staged) throw new ConfigError(`--resume: nothing staged for ${endpoint.hostname} (${manifest.app}) in ${dir}; run with --fetch-only first`);
      emit({ type: 'phase', phase: 'plan', message: `Resuming from ${dir}` });
      plan = await planModels(manifest, excluded, trx, registered?.id);
      await verifyStaged(dir, staged, plan, endpoint.hostname);
      const partial = plan.find((m) => staged.models[m.name]?.modifiedAfter);
      if (options.prune && partial) throw new ConfigError(`--prune needs full fixtures, but ${partial.name} was fetched incrementally; fetch again with -f -F`);
      fetched = staged;
    } else {
      plan = await planModels(manifest, excluded, trx, registered?.id, info.models);
      emit({ type: 'plan', models: plan.map((m) => m.name) });
      // Deletions show only in full fixtures: --prune fetches everything.
      const watermarks = options.full || options.prune ? new Map<string, string>() : await readWatermarks(trx, registered?.id, manifest.app);
      fetched = await fetchAll(endpoint, manifest, plan, dir, info, watermarks, request, emit);
      if (options.fetchOnly) {
        await db.dialect.finish(trx, lockKey, false);
        return result('fetched', endpoint.hostname, manifest, plan.map((m) => emptyCounts(m.name, fetched.models[m.name].objects)), fetched.serverTime, stagePath, started);
      }
    }

    emit({ type: 'phase', phase: 'install', message: `Installing ${plan.length} fixtures into ${db.display}` });
    const installed = await installInTransaction(trx, db, manifest, plan, endpoint, registered, dir, fetched, options, emit, marks, lockKey);
    const counts = installed.counts;
    if (writes) await recordRun(db.knex, { startedAt, remote: endpoint.hostname, app: manifest.app, status: 'success', counts });
    return {
      ...result(options.dryRun ? 'dry-run' : 'success', endpoint.hostname, manifest, counts, fetched.serverTime, stagePath, started),
      timings: timings(marks),
      disagreements: installed.disagreements,
      ...(options.skip && !options.dryRun ? { rejectsFile: path.join(dir, 'rejects.txt') } : {}),
    };
  } catch (error) {
    if (db && trx && !trx.isCompleted()) await db.dialect.finish(trx, lockKey, false).catch(() => {});
    if (db && writes) await recordRun(db.knex, { startedAt, remote: remoteLabel, app: manifest.app, status: 'failed', error }).catch(() => {});
    throw error;
  } finally {
    await db?.knex.destroy();
    if (isTempDir) await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Prepare (create what is missing) even when another first sync prepares the same database at
 * the same moment: a table the other one created first is simply there on the next look.
 */
async function prepareSchema(db: Database, manifest: AppManifest, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
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

async function installInTransaction(trx: Knex.Transaction, db: Database, manifest: AppManifest, plan: ModelDef[], endpoint: RemoteEndpoint, registered: RemoteRow | undefined, dir: string, fetched: FetchManifest, options: SyncOptions, emit: (e: SyncEvent) => void, marks: Marks, lockKey: string): Promise<InstallResult> {
  const isDryRun = options.dryRun === true;
  try {
    // A dry run only reads: no backup, no registration; the transaction is rolled back.
    let backup: string | undefined;
    if (!options.noBackups && !isDryRun) {
      backup = await writeBackup(trx, db.dialect, manifest, path.join(dir, 'backups'), targetIdentity(options.db));
      emit({ type: 'backup', file: backup });
    }
    let remote = registered;
    if (!remote && !isDryRun) {
      remote = await registerRemote(trx, { hostname: endpoint.hostname, ipAddress: options.resume ? null : endpoint.host, isTls: endpoint.isTls, instance: fetched.instance });
      emit({ type: 'remote-registered', remote: endpoint.hostname });
    }
    const result = await installObjects({
      trx, dialect: db.dialect, manifest, plan, remoteId: remote?.id, remote: endpoint.hostname,
      objects: (model) => readFixtureBatches(fixtureFile(dir, model.name)),
      skip: options.skip, isDryRun, prune: options.prune, emit,
    });
    if (remote && !isDryRun) {
      if (fetched.serverTime) await trx(REGISTRY_TABLE).where('id', remote.id).update({ last_sync: fetched.serverTime, ...(fetched.instance ? { instance: fetched.instance } : {}) });
      const watermarks = new Map(plan.filter((m) => isIncremental(manifest, m) && fetched.models[m.name]?.serverTime).map((m) => [m.name, fetched.models[m.name].serverTime]));
      await writeWatermarks(trx, remote.id, manifest.app, watermarks);
    }
    marks.commit = Date.now();
    await db.dialect.finish(trx, lockKey, !isDryRun);
    marks.done = Date.now();
    if (options.skip && !isDryRun) await writeRejects(dir, endpoint.hostname, result.rejects);
    if (backup && !hasChanged(result.counts) && registered) {
      // Nothing changed: this backup equals the previous one; keeping it would rotate out an older, useful one.
      await rm(backup, { force: true });
      emit({ type: 'backup-discarded', file: backup });
    } else if (backup) await pruneBackups(path.dirname(backup), options.keepBackups ?? DEFAULT_KEEP_BACKUPS);
    return result;
  } catch (error) {
    if (!isDryRun) emit({ type: 'rolled-back', error });
    if (!trx.isCompleted()) await db.dialect.finish(trx, lockKey, false).catch(() => {});
    throw error;
  }
}

/** Whether a run wrote any app row (watermarks and last_sync move on every run and do not count). */
function hasChanged(counts: readonly ModelCounts[]): boolean {
  return counts.some((c) => c.inserted + c.updated + c.deleted > 0);
}

export { RemoteSyncError };
