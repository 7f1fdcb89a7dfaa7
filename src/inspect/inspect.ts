import { connectExistingDatabase } from '../dialects/index.js';
import { ConfigError } from '../errors.js';
import { IDENTIFIER } from '../manifest/types.js';
import { buildManifest, type InspectResult } from './build-manifest.js';
import { catalogFor } from './catalog-for.js';
import { getInstanceInfo, type RequestOptions } from '../sources/http-client.js';
import { parseRemote } from '../sources/remote-endpoint.js';

export type { InspectResult } from './build-manifest.js';

/** Options of `remotesyncdb inspect`. */
export interface InspectOptions {
  /** `--db`: a URL or SQLite path. */
  db: string;
  /** The app name of the manifest; a `<app>_` table prefix is dropped from model names. */
  app: string;
  /** Only these tables (exact names); default every table but the tool's own `remotesyncdb_*`. */
  tables?: string[];
  /** The Django app label of fixtures' `model` keys; default the app name. */
  label?: string;
  /** Model names as the app spells them (`--names-from`: a live instance's `GET /api/`). */
  names?: readonly string[];
}

/**
 * Write an app manifest from an existing database's catalog, so any schema can be served and
 * synced. Returns the manifest as plain JSON (the format of `fixtures/hcore/app.json`), already
 * validated with `parseManifest`, and a warning for everything that could not be expressed
 * (skipped tables, FKs kept as plain fields, unknown column types).
 */
export async function inspect(options: InspectOptions): Promise<InspectResult> {
  if (!IDENTIFIER.test(options.app)) throw new ConfigError(`inspect: app "${options.app}" must be an identifier like "hcore"`);
  if (options.label !== undefined && !IDENTIFIER.test(options.label)) throw new ConfigError(`inspect: label "${options.label}" must be an identifier`);
  const db = await connectExistingDatabase(options.db);
  try {
    const tables = await catalogFor(db.dialect.name).readTables(db.knex);
    return buildManifest(tables, { app: options.app, label: options.label, tables: options.tables, source: db.display, names: options.names });
  } finally {
    await db.knex.destroy();
  }
}

/** `--names-from URL`: the model names a live instance serves (its `GET /api/`), spelled as the app spells them. */
export async function modelNamesFrom(url: string, request: RequestOptions = {}): Promise<string[]> {
  const endpoint = parseRemote(url.replace(/\/api\/?$/, ''));
  return (await getInstanceInfo(endpoint, request)).models;
}
