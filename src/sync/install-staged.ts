import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_KEEP_BACKUPS, pruneBackups, writeBackup } from '../backup/backup.js';
import { installObjects, type InstallResult } from '../install/install.js';
import { targetIdentity } from '../sources/target-identity.js';
import { fixtureFile, idsFile, readFixtureFile, readFixtureBatches } from '../sources/work-dir.js';
import { IntSet } from '../install/int-collections.js';
import type { ModelDef } from '../manifest/types.js';
import { registerRemote, setLastSync, type RemoteRow } from './registry.js';
import { totals, writeRejects } from './report.js';
import type { Staged, SyncRun, SyncTarget } from './run.js';
import { isIncremental, writeWatermarks } from './watermarks.js';

/**
 * Phases 4 and 5 in the run's transaction: backup, install (registering a new remote), the
 * remote's clock as `last_sync` and watermarks, commit. On any failure the transaction is
 * rolled back ("rolled-back" is reported) and the error rethrown. A dry run only reads: no
 * backup, no registration, and the transaction is rolled back.
 */
export async function installStaged(run: SyncRun, target: SyncTarget, staged: Staged): Promise<InstallResult> {
  const { db, options } = run;
  const { trx, endpoint, dir } = target;
  const isDryRun = options.dryRun === true;
  run.emit({ type: 'phase', phase: 'install', message: `Installing ${staged.plan.length} fixtures into ${db.display}` });
  try {
    const backup = isDryRun ? undefined : await backupTables(run, target);
    const remote = target.registered ?? (isDryRun ? undefined : await register(run, target, staged));
    const allPks = await stagedIds(dir, staged);
    const result = await installObjects({
      trx, dialect: db.dialect, manifest: run.manifest, plan: staged.plan, remoteId: remote?.id, remote: endpoint.hostname,
      objects: (model) => readFixtureBatches(fixtureFile(dir, model.name)),
      ...(allPks.size > 0 ? { allPks: (model: ModelDef) => allPks.get(model.name)! } : {}),
      skip: options.skip, isDryRun, prune: options.prune, emit: run.emit,
    });
    if (remote && !isDryRun) await recordClock(run, target, staged, remote);
    run.marks.commit = Date.now();
    await db.dialect.finish(trx, run.lockKey, !isDryRun);
    run.marks.done = Date.now();
    if (options.skip && !isDryRun) await writeRejects(dir, endpoint.hostname, result.rejects);
    // (watermarks and last_sync move on every run and do not count as a change)
    if (backup && totals(result.counts).written === 0 && target.registered) {
      // Nothing changed: this backup equals the previous one; keeping it would rotate out an older, useful one.
      await rm(backup, { force: true });
      run.emit({ type: 'backup-discarded', file: backup });
    } else if (backup) await pruneBackups(path.dirname(backup), options.keepBackups ?? DEFAULT_KEEP_BACKUPS);
    return result;
  } catch (error) {
    if (!isDryRun) run.emit({ type: 'rolled-back', error });
    if (!trx.isCompleted()) await db.dialect.finish(trx, run.lockKey, false).catch(() => {});
    throw error;
  }
}

/** Phase 4, backup (unless `-N`): a snapshot of the app's and bookkeeping tables; returns its file. */
async function backupTables(run: SyncRun, target: SyncTarget): Promise<string | undefined> {
  if (run.options.noBackups) return undefined;
  const backup = await writeBackup(target.trx, run.db.dialect, run.manifest, path.join(target.dir, 'backups'), targetIdentity(run.options.db));
  run.emit({ type: 'backup', file: backup });
  return backup;
}

/** A remote not registered yet is registered inside the install's transaction (`--resume` knows no ip address). */
async function register(run: SyncRun, target: SyncTarget, staged: Staged): Promise<RemoteRow> {
  const { endpoint } = target;
  const remote = await registerRemote(target.trx, run.manifest.registry, { hostname: endpoint.hostname, ipAddress: run.options.resume ? null : endpoint.host, isTls: endpoint.isTls, instance: staged.fetched.instance });
  run.emit({ type: 'remote-registered', remote: endpoint.hostname });
  return remote;
}

/** `last_sync` and the watermarks of the incremental models, from the remote's clock. */
async function recordClock(run: SyncRun, target: SyncTarget, staged: Staged, remote: RemoteRow): Promise<void> {
  const { manifest } = run;
  const { plan, fetched } = staged;
  if (fetched.serverTime) await setLastSync(target.trx, run.db.dialect, manifest.registry, remote.id, fetched.serverTime, fetched.instance);
  const watermarks = new Map(plan.filter((m) => isIncremental(manifest, m) && fetched.models[m.name]?.serverTime).map((m) => [m.name, fetched.models[m.name].serverTime]));
  await writeWatermarks(target.trx, remote.id, manifest.app, watermarks);
}

/**
 * The remote's staged ids lists, where `--prune` fetched them beside incremental fixtures: every
 * planned model then has one (a model fetched in full holds all its pks in its fixture).
 */
async function stagedIds(dir: string, staged: Staged): Promise<Map<string, IntSet>> {
  const out = new Map<string, IntSet>();
  if (!staged.plan.some((m) => staged.fetched.models[m.name]?.ids)) return out;
  for (const model of staged.plan) {
    const record = staged.fetched.models[model.name];
    const file = record?.ids ? idsFile(dir, model.name) : fixtureFile(dir, model.name);
    const set = new IntSet();
    for await (const object of readFixtureFile(file)) set.add(Number((object as { pk: unknown }).pk));
    out.set(model.name, set);
  }
  return out;
}
