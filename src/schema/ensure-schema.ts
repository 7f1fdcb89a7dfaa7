import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import type { AppManifest } from '../manifest/types.js';
import { ensureAppTables, type ExistingTablePolicy } from './app-tables.js';
import { ensureBookkeeping } from './bookkeeping.js';

/** Create whatever is missing of the bookkeeping tables and the app's tables (what `init` does). */
export async function ensureSchema(knex: Knex, dialect: DialectAdapter, manifest: AppManifest, policy: ExistingTablePolicy): Promise<{ created: string[]; tagged: string[] }> {
  await ensureBookkeeping(knex, dialect, manifest.registry);
  return ensureAppTables(knex, dialect, manifest, policy);
}
