import type { Knex } from 'knex';
import type { Database } from '../dialects/index.js';
import { CONFLICT_TABLE } from '../exchange/exchange-tables.js';
import type { AppManifest } from '../manifest/types.js';
import { BUNDLE_TABLE, SITE_TABLE } from '../push/push-tables.js';
import { ORIGINAL_DB } from '../schema/app-tables.js';
import { REMOTE_TABLE, RUN_TABLE, WATERMARK_TABLE } from '../schema/bookkeeping.js';
import { parseCounts, type RunRecord, type RunRow } from '../admin/history.js';
import { maskSecrets } from '../errors.js';

/** Runs a sparkline and a member's page show. */
export const RECENT_RUNS = 30;

/** One run as the fleet shows it. */
export interface RunSummary {
  id: number;
  started: string;
  finished: string | null;
  status: string;
  /** Rows the run wrote (inserted + updated + deleted). */
  objects: number | null;
  /** Objects the run received. */
  received: number | null;
  /** Objects `--skip` (or a centre) left out. */
  rejects: number | null;
  durationMs: number | null;
  error: string | null;
}

/** A remote the database pulls from, or a site that pushes to it (or exchanges with it). */
export interface FleetMember {
  id: number;
  kind: 'remote' | 'site';
  name: string;
  hostname: string;
  /** The last run that succeeded, and the last that failed. */
  lastSuccess: RunSummary | null;
  lastFailure: RunSummary | null;
  lastRun: RunSummary | null;
  /** Failed runs in the history. */
  failures: number;
  /** Runs in the history. */
  runs: number;
  /** Rows of the app held here whose home is this member. */
  rows: number;
  /** Seconds between now and the member's own clock at its last success (a remote's server time, a site's clock when it cut its bundle, or the site's last contact if later). */
  lagSeconds: number | null;
  /** Rows written per run, the last {@link RECENT_RUNS} runs, oldest first (null: a run that failed). */
  sparkline: Array<number | null>;
  /** Conflicts of a site's exchanges waiting for a decision (a manual policy holds the row). */
  openConflicts: number;
  /** A site is disabled at the centre. */
  isEnabled: boolean;
  /** A site's last contact with the centre (a bundle committed, a feed acknowledged, a repair), the centre's clock. */
  lastContact: string | null;
}

/** What a member's page shows beyond its fleet line. */
export interface MemberDetail extends FleetMember {
  recent: RunRecord[];
  /** What the last run left out, as recorded with it. */
  rejects: Array<{ model: string; pk: unknown; reason: string }>;
  /** Per app and model: the member's clock at its last successful fetch (a remote) or feed acknowledged (a site). */
  watermarks: Array<{ app: string; model: string; serverTime: string }>;
}

/** The whole fleet: its members, and the conflicts waiting. */
export interface FleetStatus {
  /** When it was read (this machine's clock). */
  at: string;
  database: string;
  app: string;
  members: FleetMember[];
  conflicts: { open: number; decided: number; resolved: number };
}

const hasTable = (knex: Knex, table: string) => knex.schema.hasTable(table);
/** An aggregate query's rows (knex types a count's rows as the count alone). */
const all = async (query: Knex.QueryBuilder): Promise<Array<Record<string, unknown>>> => (await query) as Array<Record<string, unknown>>;

function summary(row: RunRow): RunSummary {
  const counts = parseCounts(row.counts);
  const ms = row.finished ? Date.parse(row.finished) - Date.parse(row.started) : NaN;
  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  return {
    id: Number(row.id), started: String(row.started), finished: row.finished === null ? null : String(row.finished), status: String(row.status),
    objects: row.objects === null || row.objects === undefined ? null : Number(row.objects), received: num(counts?.received), rejects: num(counts?.skipped),
    durationMs: Number.isFinite(ms) ? ms : null, error: row.error === null || row.error === undefined ? null : maskSecrets(String(row.error)),
  };
}

const summaryOf = (row: RunRow | undefined) => (row ? summary(row) : null);

/** Rows held per origin tag, over the app's root tables (the ones that carry the tags), a few tables at a time. */
async function rowsByOrigin(knex: Knex, manifest: AppManifest): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  const roots = [...manifest.models.values()].filter((m) => m.parent === undefined && !m.isPrivate);
  const count = async (table: string) => {
    if (!(await hasTable(knex, table))) return;
    for (const r of await all(knex(table).select(`${ORIGINAL_DB} as db`).count({ n: '*' }).whereNotNull(ORIGINAL_DB).groupBy(ORIGINAL_DB))) out.set(Number(r.db), (out.get(Number(r.db)) ?? 0) + Number(r.n));
  };
  for (let i = 0; i < roots.length; i += ROWS_CONCURRENCY) await Promise.all(roots.slice(i, i + ROWS_CONCURRENCY).map((m) => count(m.table)));
  return out;
}

/** Root tables counted at once (each on its own connection of the pool). */
const ROWS_CONCURRENCY = 4;
/** How long counted rows are reused while no run has been recorded since. */
export const ROWS_MAX_AGE_MS = 5 * 60_000;

/**
 * The rows held per member, counted again only when a run was recorded since (a sync, a
 * bundle, an exchange: what moves them) or after {@link ROWS_MAX_AGE_MS} (an edit by the app
 * itself): counting is a pass over every root table, the whole cost of a page on a large
 * aggregate, while the runs that change the counts come a few times a day.
 */
export class RowsCache {
  private last?: { key: string; at: number; rows: Map<number, number> };

  async rows(knex: Knex, manifest: AppManifest): Promise<Map<number, number>> {
    const newest = (await hasTable(knex, RUN_TABLE)) ? (await all(knex(RUN_TABLE).max({ id: 'id' })))[0]?.id : undefined;
    const key = String(newest ?? '');
    if (this.last && this.last.key === key && Date.now() - this.last.at < ROWS_MAX_AGE_MS) return this.last.rows;
    const rows = await rowsByOrigin(knex, manifest);
    this.last = { key, at: Date.now(), rows };
    return rows;
  }
}

/** The last runs of each member, newest first (at most `limit` each): a query each, through the run table's index by remote. */
async function recentRuns(knex: Knex, app: string, remotes: readonly string[], limit: number): Promise<Map<string, RunRow[]>> {
  const out = new Map<string, RunRow[]>();
  if (!(await hasTable(knex, RUN_TABLE))) return out;
  for (const remote of remotes) out.set(remote, (await knex(RUN_TABLE).select('*').where({ remote, app }).orderBy('id', 'desc').limit(limit)) as RunRow[]);
  return out;
}

/** Per member, its newest run of each status, however far back (a remote failing for weeks still shows its last success). */
async function lastByStatus(knex: Knex, app: string): Promise<Map<string, Map<string, RunRow>>> {
  const out = new Map<string, Map<string, RunRow>>();
  if (!(await hasTable(knex, RUN_TABLE))) return out;
  const ids = (await all(knex(RUN_TABLE).select('remote', 'status').max({ id: 'id' }).where({ app }).groupBy('remote', 'status'))).map((r) => Number(r.id));
  for (let i = 0; i < ids.length; i += 500) {
    for (const row of (await knex(RUN_TABLE).select('*').whereIn('id', ids.slice(i, i + 500))) as RunRow[]) {
      if (!out.has(row.remote)) out.set(row.remote, new Map());
      out.get(row.remote)!.set(row.status, row);
    }
  }
  return out;
}

async function runCounts(knex: Knex, app: string): Promise<Map<string, { runs: number; failures: number }>> {
  const out = new Map<string, { runs: number; failures: number }>();
  if (!(await hasTable(knex, RUN_TABLE))) return out;
  for (const r of await all(knex(RUN_TABLE).select('remote', 'status').count({ n: '*' }).where({ app }).groupBy('remote', 'status'))) {
    const entry = out.get(String(r.remote)) ?? { runs: 0, failures: 0 };
    entry.runs += Number(r.n);
    if (r.status === 'failed') entry.failures += Number(r.n);
    out.set(String(r.remote), entry);
  }
  return out;
}

/** Per member: its own clock at its last success (the newest watermark of a remote; a site's last bundle clock). */
async function memberClocks(knex: Knex, app: string, sites: ReadonlySet<number>): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  if (await hasTable(knex, WATERMARK_TABLE)) {
    for (const r of await all(knex(WATERMARK_TABLE).select('database_id').max({ t: 'server_time' }).where({ app }).groupBy('database_id'))) {
      if (!sites.has(Number(r.database_id)) && r.t) out.set(Number(r.database_id), String(r.t));
    }
  }
  if (sites.size > 0 && (await hasTable(knex, BUNDLE_TABLE))) {
    const newest = new Map<number, { committed: string; ack: string | null }>();
    for (const r of await knex(BUNDLE_TABLE).select('site_id', 'committed', 'ack').where({ status: 'committed' })) {
      const seen = newest.get(Number(r.site_id));
      if (!seen || String(r.committed) > seen.committed) newest.set(Number(r.site_id), { committed: String(r.committed), ack: r.ack === null ? null : String(r.ack) });
    }
    for (const [id, { ack }] of newest) {
      const clock = ack ? (JSON.parse(ack) as { siteClock?: string }).siteClock : undefined;
      if (clock) out.set(id, clock);
    }
  }
  return out;
}

async function conflictCounts(knex: Knex): Promise<Map<number, Record<string, number>>> {
  const out = new Map<number, Record<string, number>>();
  if (!(await hasTable(knex, CONFLICT_TABLE))) return out;
  for (const r of await all(knex(CONFLICT_TABLE).select('site_id', 'status').count({ n: '*' }).groupBy('site_id', 'status'))) {
    const entry = out.get(Number(r.site_id)) ?? {};
    entry[String(r.status)] = Number(r.n);
    out.set(Number(r.site_id), entry);
  }
  return out;
}

/**
 * Every remote this database pulls from and every site that pushes to it, from its own records:
 * the run history, the watermarks, the sites' bundles and the conflicts. Read-only.
 */
export async function readFleet(db: Database, manifest: AppManifest, options: { rowsCache?: RowsCache } = {}): Promise<FleetStatus> {
  const { knex } = db;
  const at = new Date();
  const status: FleetStatus = { at: at.toISOString(), database: db.display, app: manifest.app, members: [], conflicts: { open: 0, decided: 0, resolved: 0 } };
  if (!(await hasTable(knex, manifest.registry))) return status;
  const registry = await knex(manifest.registry).select('id', 'name', 'hostname').orderBy('name');
  const pulled = (await hasTable(knex, REMOTE_TABLE)) ? new Set((await knex(REMOTE_TABLE).select('id')).map((r) => Number(r.id))) : new Set<number>();
  const siteRows = (await hasTable(knex, SITE_TABLE)) ? await knex(SITE_TABLE).select('*') : [];
  const sites = new Map(siteRows.map((r) => [Number(r.id), { isEnabled: Boolean(Number(r.is_enabled)), lastContact: r.last_contact ? String(r.last_contact) : null }]));
  const [runs, last, counts, clocks, conflicts, rows] = await Promise.all([
    recentRuns(knex, manifest.app, registry.map((r) => String(r.hostname)), RECENT_RUNS), lastByStatus(knex, manifest.app), runCounts(knex, manifest.app), memberClocks(knex, manifest.app, new Set(sites.keys())), conflictCounts(knex),
    options.rowsCache ? options.rowsCache.rows(knex, manifest) : rowsByOrigin(knex, manifest),
  ]);
  for (const c of conflicts.values()) for (const [k, n] of Object.entries(c)) if (k in status.conflicts) status.conflicts[k as keyof FleetStatus['conflicts']] += n;
  for (const r of registry) {
    const id = Number(r.id);
    const hostname = String(r.hostname);
    const isSite = sites.has(id);
    // A registry row that is neither pulled nor a site (an app's own entry never synced) has nothing to show.
    if (!isSite && !pulled.has(id) && !runs.get(hostname)?.length) continue;
    const recent = (runs.get(hostname) ?? []).map(summary);
    // A site that exchanges with nothing to send commits no bundle, but its contact (a feed acknowledged) says it is not behind.
    const lastContact = sites.get(id)?.lastContact ?? null;
    const clock = [clocks.get(id), lastContact].filter((t): t is string => Boolean(t)).map((t) => Date.parse(t)).filter((t) => !Number.isNaN(t));
    const lag = clock.length ? Math.max(0, Math.round((at.getTime() - Math.max(...clock)) / 1000)) : NaN;
    const c = conflicts.get(id) ?? {};
    status.members.push({
      id, kind: isSite ? 'site' : 'remote', name: String(r.name), hostname,
      lastSuccess: summaryOf(last.get(hostname)?.get('success')), lastFailure: summaryOf(last.get(hostname)?.get('failed')), lastRun: recent[0] ?? null,
      failures: counts.get(hostname)?.failures ?? 0, runs: counts.get(hostname)?.runs ?? 0, rows: rows.get(id) ?? 0,
      lagSeconds: Number.isFinite(lag) ? lag : null,
      sparkline: recent.map((x) => (x.status === 'failed' ? null : (x.objects ?? 0))).reverse(),
      openConflicts: c.open ?? 0, isEnabled: sites.get(id)?.isEnabled ?? true, lastContact,
    });
  }
  return status;
}

/** One member by its hostname in the registry (`host:port`, `site/NAME`), with its recent runs, the last run's rejects and its watermarks; undefined if unknown. */
export async function readMember(db: Database, manifest: AppManifest, hostname: string, options: { rowsCache?: RowsCache } = {}): Promise<MemberDetail | undefined> {
  const fleet = await readFleet(db, manifest, options);
  const member = fleet.members.find((m) => m.hostname === hostname);
  if (!member) return undefined;
  const { knex } = db;
  const recent = (await hasTable(knex, RUN_TABLE))
    ? ((await knex(RUN_TABLE).select('*').where({ app: manifest.app, remote: member.hostname }).orderBy('id', 'desc').limit(RECENT_RUNS)) as RunRow[]).map((r) => ({ ...r, error: r.error === null ? null : maskSecrets(String(r.error)), counts: parseCounts(r.counts) }))
    : [];
  const last = recent[0]?.counts as { rejects?: MemberDetail['rejects'] } | null | undefined;
  const watermarks = (await hasTable(knex, WATERMARK_TABLE))
    ? (await knex(WATERMARK_TABLE).select('app', 'model', 'server_time').where({ database_id: member.id }).orderBy(['app', 'model'])).map((r) => ({ app: String(r.app), model: String(r.model), serverTime: String(r.server_time) }))
    : [];
  return { ...member, recent, rejects: last?.rejects ?? [], watermarks };
}
