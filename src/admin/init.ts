import { openDatabase } from '../dialects/index.js';
import { ensureSchema } from '../schema/ensure-schema.js';
import { loadManifest } from '../manifest/load-manifest.js';

/** Options of `remotesyncdb init`. */
export interface InitOptions { app: string; db?: string }
/** What `init` created or changed. */
export interface InitResult { created: string[]; tagged: string[] }

/** Create an app's tables and the bookkeeping tables, or add origin tags to existing ones. */
export async function init(options: InitOptions): Promise<InitResult> {
  const manifest = loadManifest(options.app);
  const db = openDatabase(options.db);
  try {
    return await ensureSchema(db.knex, db.dialect, manifest, 'add-tags');
  } finally {
    await db.knex.destroy();
  }
}
