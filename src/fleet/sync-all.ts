import { ConfigError, databaseMessage, maskSecrets, RemoteSyncError, type ErrorMeta } from '../errors.js';
import { loadManifest } from '../manifest/load-manifest.js';
import type { AppManifest } from '../manifest/types.js';
import type { SyncEvent, SyncResult } from '../sync/events.js';
import { checkExcludes } from '../sync/plan.js';
import { sync, type SyncOptions } from '../sync/sync.js';
import { identityOf, type FleetRemote } from './fleet-config.js';

/** How one remote of a fleet run ended. */
export interface FleetOutcome {
  name: string;
  /** Its identity `host[:port]` (what the registry and the work dir call it). */
  remote: string;
  status: 'success' | 'failed' | 'skipped';
  /** Why a remote was skipped: disabled in the config, or the run was stopped before its turn. */
  reason?: 'disabled' | 'stopped';
  result?: SyncResult;
  /** A failure, its message with passwords and tokens masked. */
  error?: { code: string; message: string; exitCode: number; meta?: ErrorMeta };
}

/** The outcome of a whole fleet run. */
export interface FleetResult {
  outcomes: FleetOutcome[];
  failed: number;
  /** 0 when nothing failed, else the exit code of the first failure (1 for an unexpected error). */
  exitCode: number;
  durationMs: number;
}

/** What a fleet run reports while it runs; each remote's own sync events arrive wrapped. */
export type FleetEvent =
  | { type: 'remote-start'; name: string; remote: string }
  | { type: 'remote-done'; outcome: FleetOutcome }
  | { type: 'sync-event'; name: string; event: SyncEvent };

/** Options shared by every remote's sync; `app` is the default of remotes that name none. */
export type FleetBaseOptions = Omit<SyncOptions, 'remote' | 'port' | 'app' | 'exclude' | 'token'> & { app?: string };

/** How a fleet run is controlled. */
export interface SyncAllControl {
  /** Aborted: the remote being synced finishes (its transaction commits or rolls back), the rest are skipped as `stopped`. */
  signal?: AbortSignal;
  /** The sync of one remote; `sync` unless a test or an embedder says otherwise. */
  run?: (options: SyncOptions) => Promise<SyncResult>;
}

/**
 * Sync every enabled remote, one after the other, each its own `sync()` (its own transaction,
 * lock, work dir and backups). A failure is recorded and the next remote goes on; a disabled
 * remote is `skipped` and never contacted.
 *
 * Throws a ConfigError (exit 2), before any network or database access, when there is no
 * enabled remote or any of them names an unknown app or excluded model: a typo in the config
 * is not a per-remote failure to discover at 3 a.m. one remote at a time.
 */
export async function syncAll(remotes: FleetRemote[], base: FleetBaseOptions, emit: (event: FleetEvent) => void = () => {}, control: SyncAllControl = {}): Promise<FleetResult> {
  const started = Date.now();
  preflight(remotes, base.app);
  const run = control.run ?? sync;
  const outcomes: FleetOutcome[] = [];
  for (const remote of remotes) {
    const label = identityOf(remote) ?? remote.host;
    let outcome: FleetOutcome;
    if (!remote.enabled || control.signal?.aborted) {
      outcome = { name: remote.name, remote: label, status: 'skipped', reason: remote.enabled ? 'stopped' : 'disabled' };
    } else {
      emit({ type: 'remote-start', name: remote.name, remote: label });
      outcome = await syncOne(remote, label, base, emit, run);
    }
    outcomes.push(outcome);
    emit({ type: 'remote-done', outcome });
  }
  const failures = outcomes.filter((o) => o.status === 'failed');
  return { outcomes, failed: failures.length, exitCode: failures[0]?.error?.exitCode ?? 0, durationMs: Date.now() - started };
}

async function syncOne(remote: FleetRemote, label: string, base: FleetBaseOptions, emit: (event: FleetEvent) => void, run: (options: SyncOptions) => Promise<SyncResult>): Promise<FleetOutcome> {
  try {
    const result = await run({
      ...base,
      app: (remote.app ?? base.app)!,
      remote: remote.host,
      ...(remote.port !== undefined ? { port: remote.port } : {}),
      exclude: remote.exclude,
      // The remote's own token wins over the run's default (REMOTESYNCDB_TOKEN, the config's `token`),
      // which `base.tokenFor` still supplies to remotes without one.
      ...(remote.token !== undefined ? { token: remote.token } : {}),
      emit: (event) => {
        base.emit?.(event);
        emit({ type: 'sync-event', name: remote.name, event });
      },
    });
    return { name: remote.name, remote: result.remote, status: 'success', result };
  } catch (error) {
    const e = error instanceof RemoteSyncError ? error : undefined;
    const raw = e ? e.message : databaseMessage(error);
    // maskSecrets knows URLs and `Bearer x`; the token itself may appear bare in a message.
    const message = remote.token ? maskSecrets(raw).split(remote.token).join('***') : maskSecrets(raw);
    const where = typeof e?.meta.remote === 'string' ? e.meta.remote : label;
    return {
      name: remote.name, remote: where, status: 'failed',
      error: { code: e?.code ?? 'E_INTERNAL', message, exitCode: e?.exitCode ?? 1, ...(e && Object.keys(e.meta).length > 0 ? { meta: e.meta } : {}) },
    };
  }
}

/** Every enabled remote's app and excludes, checked together; every problem in one error. */
function preflight(remotes: FleetRemote[], defaultApp: string | undefined): void {
  const enabled = remotes.filter((r) => r.enabled);
  if (enabled.length === 0) {
    throw new ConfigError(remotes.length === 0
      ? 'No remotes to sync: list them under "remotes" in remotesyncdb.config.json (or the file given with --config)'
      : `No enabled remote to sync: ${remotes.map((r) => r.name).join(', ')} ${remotes.length === 1 ? 'is' : 'are all'} "enabled": false`);
  }
  const problems: string[] = [];
  const manifests = new Map<string, AppManifest>();
  for (const remote of enabled) {
    const app = remote.app ?? defaultApp;
    if (app === undefined) {
      problems.push(`remotes.${remote.name}.app: no app given, here or with -a`);
      continue;
    }
    let manifest = manifests.get(app);
    try {
      manifest ??= loadManifest(app);
      manifests.set(app, manifest);
    } catch (error) {
      problems.push(`remotes.${remote.name}.app: ${(error as Error).message}`);
      continue;
    }
    try {
      checkExcludes(manifest, remote.exclude);
    } catch (error) {
      problems.push(`remotes.${remote.name}.exclude: ${(error as Error).message.replace(/^-e: /, '')}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`The fleet cannot run:\n  ${problems.join('\n  ')}`);
}
