import { connectExistingDatabase } from '../dialects/index.js';
import { RUN_TABLE } from '../schema/bookkeeping.js';

/** One recorded sync run. */
export interface RunRow {
  id: number;
  started: string;
  finished: string | null;
  remote: string;
  app: string;
  status: string;
  objects: number | null;
  counts: string | null;
  error: string | null;
}

/** A recorded run as data: its counts an object (the totals, and `models` per model). */
export interface RunRecord extends Omit<RunRow, 'counts'> {
  counts: Record<string, unknown> | null;
}

/** The counts column as an object; rows written before the totals were recorded held only the per-model array. */
export function parseCounts(counts: string | null): Record<string, unknown> | null {
  if (!counts) return null;
  const parsed = JSON.parse(counts) as unknown;
  if (!Array.isArray(parsed)) return parsed as Record<string, unknown>;
  const sum = (k: string) => parsed.reduce((n: number, c: Record<string, number>) => n + (c[k] ?? 0), 0);
  const t = { received: sum('objects'), inserted: sum('inserted'), updated: sum('updated'), deleted: sum('deleted'), skipped: sum('skipped'), unchanged: sum('unchanged') };
  return { ...t, written: t.inserted + t.updated + t.deleted, models: parsed };
}

/** The most recent runs first (`remotesyncdb history`). */
export async function history(options: { db?: string; limit?: number; remote?: string }): Promise<RunRecord[]> {
  const db = await connectExistingDatabase(options.db);
  try {
    if (!(await db.knex.schema.hasTable(RUN_TABLE))) return [];
    let query = db.knex(RUN_TABLE).select('*').orderBy('id', 'desc').limit(options.limit ?? 20);
    if (options.remote) query = query.where({ remote: options.remote });
    return ((await query) as RunRow[]).map((r) => ({ ...r, counts: parseCounts(r.counts) }));
  } finally {
    await db.knex.destroy();
  }
}
