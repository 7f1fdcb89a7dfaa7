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

/** The most recent runs first (`remotesyncdb history`). */
export async function history(options: { db?: string; limit?: number; remote?: string }): Promise<RunRow[]> {
  const db = await connectExistingDatabase(options.db);
  try {
    if (!(await db.knex.schema.hasTable(RUN_TABLE))) return [];
    let query = db.knex(RUN_TABLE).select('*').orderBy('id', 'desc').limit(options.limit ?? 20);
    if (options.remote) query = query.where({ remote: options.remote });
    return (await query) as RunRow[];
  } finally {
    await db.knex.destroy();
  }
}
