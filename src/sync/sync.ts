import type { Knex } from 'knex';
import { RemoteSyncError } from '../errors.js';
import type { RequestOptions } from '../sources/http-client.js';
import { checkRemote } from './check.js';
import type { SyncEvent, SyncResult } from './events.js';
import { installStaged } from './install-staged.js';
import { planRun } from './plan.js';
import { recordRun, reportFetched, reportRun } from './report.js';
import { endRun, findTarget, lock, openRun, prepare, startRun, type Staged, type StartedRun } from './run.js';
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

/**
 * One sync run, DESIGN §6, as the list of its phases: check, prepare, plan, fetch, then backup
 * and install in ONE transaction, report. Throws a RemoteSyncError (with its exit code) on
 * failure; the database is then as it was.
 */
export async function sync(options: SyncOptions): Promise<SyncResult> {
  let run: StartedRun = await startRun(options);
  let trx: Knex.Transaction | undefined;
  try {
    // The remote first: nothing is created locally for a remote that does not answer.
    const info = options.resume ? undefined : await checkRemote(run);
    const local = (run = await openRun(run));
    if (local.writes) await prepare(local);
    trx = await local.db.knex.transaction(local.db.dialect.transactionConfig);
    await lock(local, trx);
    const target = await findTarget(local, trx, info);
    let staged: Staged;
    if (!info) staged = await resumeStaged(local, target);
    else {
      const plan = await planRun(local, target, info);
      staged = { plan, fetched: await fetchStaged(local, target, plan, info) };
      if (options.fetchOnly) return await reportFetched(local, target, staged);
    }
    const installed = await installStaged(local, target, staged);
    return await reportRun(local, target, staged, installed);
  } catch (error) {
    const { db } = run;
    if (db && trx && !trx.isCompleted()) await db.dialect.finish(trx, run.lockKey, false).catch(() => {});
    if (db && run.writes) await recordRun(db.knex, { startedAt: run.startedAt, remote: run.endpoint.hostname, app: run.manifest.app, status: 'failed', error }).catch(() => {});
    throw error;
  } finally {
    await endRun(run);
  }
}

export { RemoteSyncError };
