import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import { maskSecrets } from '../errors.js';
import type { InstallResult, ModelCounts } from '../install/install.js';
import type { Reject } from '../install/rejects.js';
import type { AppManifest } from '../manifest/types.js';
import { RUN_TABLE } from '../schema/bookkeeping.js';
import type { RunTotals, SyncResult } from './events.js';
import type { Staged, SyncRun, SyncTarget } from './run.js';

/** Phase 6, report: the run in the history table (unless it wrote nothing), and its result. */
export async function reportRun(run: SyncRun, target: SyncTarget, staged: Staged, installed: InstallResult): Promise<SyncResult> {
  const { options, manifest } = run;
  const { endpoint, dir } = target;
  const counts = installed.counts;
  if (run.writes) await recordRun(run.db.knex, { startedAt: run.startedAt, remote: endpoint.hostname, app: manifest.app, status: 'success', counts, rejects: installed.rejects });
  return {
    ...result(options.dryRun ? 'dry-run' : 'success', endpoint.hostname, manifest, counts, staged.fetched.serverTime, run.stagePath, run.started),
    timings: timings(run.marks),
    disagreements: installed.disagreements,
    ...(options.skip && !options.dryRun ? { rejectsFile: path.join(dir, 'rejects.txt') } : {}),
  };
}

/** `--fetch-only` stops after the fetch: the lock is released (nothing was written) and the fetched counts reported. */
export async function reportFetched(run: SyncRun, target: SyncTarget, staged: Staged): Promise<SyncResult> {
  const { plan, fetched } = staged;
  await run.db.dialect.finish(target.trx, run.lockKey, false);
  return result('fetched', target.endpoint.hostname, run.manifest, plan.map((m) => emptyCounts(m.name, fetched.models[m.name].objects)), fetched.serverTime, run.stagePath, run.started);
}

/** `rejects.txt`: what `--skip` left out, one object a line with its reason. */
export async function writeRejects(dir: string, remote: string, rejects: Reject[]): Promise<void> {
  const lines = rejects.map((r) => `${r.model} ${r.pk === null ? '(no pk)' : `pk=${r.pk}`}: ${r.reason}`);
  await writeFile(path.join(dir, 'rejects.txt'), `# ${new Date().toISOString()} ${remote}: ${rejects.length} object(s) rejected by --skip\n${lines.join('\n')}${lines.length ? '\n' : ''}`);
}

/** The totals of per-model counts. */
export function totals(models: readonly ModelCounts[]): RunTotals {
  const sum = (key: 'objects' | 'inserted' | 'updated' | 'deleted' | 'skipped' | 'unchanged') => models.reduce((n, c) => n + (c[key] ?? 0), 0);
  const t = { received: sum('objects'), inserted: sum('inserted'), updated: sum('updated'), deleted: sum('deleted'), skipped: sum('skipped'), unchanged: sum('unchanged') };
  return { ...t, written: t.inserted + t.updated + t.deleted };
}

/** Rejects recorded with a run (all of them are in rejects.txt, or in a bundle's ack). */
export const RECORDED_REJECTS = 100;
/**
 * Runs kept per remote or site: the history of one that syncs every 15 minutes (an exchange
 * site, `--every 15m`) would otherwise grow by 35,000 rows a year, and what reads it with it.
 * 2,000 is three weeks of those, five years of a nightly cron.
 */
export const KEPT_RUNS = 2000;

/**
 * A row of the run history (`remotesyncdb_run`), when that table exists: `objects` is what the
 * run wrote (its closing line's N), `counts` the totals and the per-model counts as JSON.
 */
export async function recordRun(knex: Knex, run: { startedAt: string; remote: string; app: string; status: string; counts?: ModelCounts[]; rejects?: ReadonlyArray<{ model: string; pk: unknown; reason: string }>; error?: unknown }): Promise<void> {
  if (!(await knex.schema.hasTable(RUN_TABLE))) return;
  const objects = run.counts ? totals(run.counts).written : null;
  // The first rejects go with the run, so that the console shows them without the work dir's rejects.txt.
  const rejects = run.rejects?.length ? { rejects: run.rejects.slice(0, RECORDED_REJECTS) } : {};
  await knex(RUN_TABLE).insert({
    started: run.startedAt, finished: new Date().toISOString(), remote: run.remote, app: run.app, status: run.status, objects,
    counts: run.counts ? JSON.stringify({ ...totals(run.counts), models: run.counts, ...rejects }) : null,
    // Kept masked: the history is printed, shown by the console and served as metrics.
    error: run.error === undefined ? null : maskSecrets(run.error instanceof Error ? run.error.message : String(run.error)),
  });
  const [oldest] = await knex(RUN_TABLE).where({ remote: run.remote }).orderBy('id', 'desc').offset(KEPT_RUNS).limit(1).select('id');
  if (oldest) await knex(RUN_TABLE).where({ remote: run.remote }).where('id', '<=', oldest.id).del();
}

/** When each phase began (ms since the epoch). */
export type Marks = Partial<Record<'prepare' | 'check' | 'plan' | 'fetch' | 'install' | 'report' | 'insert' | 'rewire' | 'commit' | 'done', number>>;

/** Milliseconds per phase, from the marks that were reached. */
export function timings(marks: Marks): Record<string, number> {
  const span = (from?: number, to?: number) => (from !== undefined && to !== undefined ? to - from : undefined);
  const out: Record<string, number | undefined> = {
    fetchMs: span(marks.fetch, marks.install),
    backupMs: span(marks.install, marks.insert),
    insertMs: span(marks.insert, marks.rewire),
    rewireMs: span(marks.rewire, marks.commit),
    commitMs: span(marks.commit, marks.done),
  };
  return Object.fromEntries(Object.entries(out).filter((e): e is [string, number] => e[1] !== undefined));
}

/** Counts of a model nothing was installed for (a `--fetch-only` run): only its objects. */
export function emptyCounts(model: string, objects: number): ModelCounts {
  return { model, objects, inserted: 0, updated: 0, unchanged: 0, skipped: 0, deleted: 0 };
}

/** The result of a run from its per-model counts (objects exclude the ones `--skip` left out). */
export function result(status: SyncResult['status'], remote: string, manifest: AppManifest, models: ModelCounts[], serverTime: string, workDir: string, started: number): SyncResult {
  const t = totals(models);
  return { remote, app: manifest.app, status, ...t, objects: t.received - t.skipped, fixtures: models.length, models, serverTime, workDir, durationMs: Date.now() - started };
}

