import type { Knex } from 'knex';
import { RemoteSyncError } from '../errors.js';
import type { RequestOptions } from '../sources/http-client.js';
import { checkRemote } from './check.js';
import type { SyncEvent, SyncResult } from './events.js';
import { installStaged } from './install-staged.js';
import { planRun } from './plan.js';
import { recordRun, reportFetched, reportRun } from './report.js';
import { findTarget, lock, prepare, startRun, type Staged } from './run.js';
import { fetchStaged, resumeStaged } from './stage.js';

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

/**
 * One sync run, DESIGN §6, as the list of its phases: prepare, check, plan, fetch, then backup
 * and install in ONE transaction, report. Throws a RemoteSyncError (with its exit code) on
 * failure; the database is then as it was.
 */
export async function sync(options: SyncOptions): Promise<SyncResult> {
  const run = await startRun(options);
  const { db, manifest } = run;
  let remoteLabel = run.guess?.hostname ?? options.remote;
  let trx: Knex.Transaction | undefined;
  try {
    if (run.writes) await prepare(run);
    trx = await db.knex.transaction(db.dialect.transactionConfig);
    await lock(run, trx);
    const target = await findTarget(run, trx);
    remoteLabel = target.endpoint.hostname;
    let staged: Staged;
    if (options.resume) staged = await resumeStaged(run, target);
    else {
      const info = await checkRemote(run, target);
      const plan = await planRun(run, target, info);
      staged = { plan, fetched: await fetchStaged(run, target, plan, info) };
      if (options.fetchOnly) return await reportFetched(run, target, staged);
    }
    const installed = await installStaged(run, target, staged);
    return await reportRun(run, target, staged, installed);
  } catch (error) {
    if (trx && !trx.isCompleted()) await db.dialect.finish(trx, run.lockKey, false).catch(() => {});
    if (run.writes) await recordRun(db.knex, { startedAt: run.startedAt, remote: remoteLabel, app: manifest.app, status: 'failed', error }).catch(() => {});
    throw error;
  } finally {
    await db.knex.destroy();
  }
}

export { RemoteSyncError };
