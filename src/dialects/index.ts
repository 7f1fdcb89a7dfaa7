import knexPackage, { type Knex } from 'knex';

// knex is CommonJS: its factory is the module itself.
const createKnex = knexPackage as unknown as (config: Knex.Config) => Knex;
import { ConfigError, databaseMessage, maskSecrets, RemoteSyncError } from '../errors.js';
import type { DialectAdapter, DialectName } from './dialect.js';
import { mysqlAdapter } from './mysql-adapter.js';
import { postgresAdapter } from './postgres-adapter.js';
import { sqliteAdapter } from './sqlite-adapter.js';

export type { DialectAdapter, DialectName } from './dialect.js';

/** The embedded default database, relative to the working directory. */
export const DEFAULT_DB = './remotesyncdb.sqlite';

/** A database connection with the adapter of its dialect. */
export interface Database {
  readonly knex: Knex;
  readonly dialect: DialectAdapter;
  /** The target with any password masked, for messages. */
  readonly display: string;
}

/** Which dialect a `--db` value means. */
export function dialectOf(target: string): DialectName {
  if (/^postgres(ql)?:\/\//i.test(target)) return 'postgres';
  if (/^mysql:\/\//i.test(target)) return 'mysql';
  if (/^[a-z][a-z0-9+.-]+:\/\//i.test(target)) {
    throw new ConfigError(`--db: unsupported database URL scheme in "${maskSecrets(target)}"; use postgres://, mysql://, sqlite:PATH or a file path`);
  }
  return 'sqlite';
}

/** The adapter for a dialect; the one place that switches on the dialect name. */
export function adapterFor(name: DialectName): DialectAdapter {
  switch (name) {
    case 'sqlite': return sqliteAdapter;
    case 'postgres': return postgresAdapter;
    case 'mysql': return mysqlAdapter;
    default: {
      const unreachable: never = name;
      throw new ConfigError(`unknown dialect ${String(unreachable)}`);
    }
  }
}

/** Open a database from `--db` (URL or SQLite path). The caller destroys it. */
export function openDatabase(target: string = DEFAULT_DB): Database {
  const dialect = adapterFor(dialectOf(target));
  // knex would print pool warnings on the console itself; errors reach the caller instead.
  const quiet = () => {};
  const knex = createKnex({ ...dialect.knexConfig(target), log: { warn: quiet, error: quiet, deprecate: quiet, debug: quiet } });
  return { knex, dialect, display: maskSecrets(target) };
}

/** Open a database and make sure it answers, with a clear error (password masked) if not. */
export async function connectDatabase(target: string = DEFAULT_DB): Promise<Database> {
  const db = openDatabase(target);
  try {
    await db.knex.raw('SELECT 1');
  } catch (error) {
    await db.knex.destroy();
    throw new RemoteSyncError(`Cannot use the local database ${db.display}: ${maskSecrets(databaseMessage(error))}`, { code: 'E_DATABASE', exitCode: 1, cause: error });
  }
  return db;
}
