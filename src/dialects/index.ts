import { existsSync } from 'node:fs';
import path from 'node:path';
import knexPackage, { type Knex } from 'knex';

// knex is CommonJS: its factory is the module itself.
const createKnex = knexPackage as unknown as (config: Knex.Config) => Knex;
import { ConfigError, databaseMessage, maskSecrets } from '../errors.js';
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

/** The file of a SQLite target (`sqlite:PATH` or a path), absolute; undefined for a server URL or `:memory:`. */
export function sqliteFile(target: string = DEFAULT_DB): string | undefined {
  if (dialectOf(target) !== 'sqlite') return undefined;
  const file = target.startsWith('sqlite:') ? target.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '') : target;
  return file === ':memory:' ? undefined : path.resolve(file);
}

/** Whether the target exists as far as can be told without connecting: a SQLite file is there; a server is assumed to be. */
export function databaseExists(target: string = DEFAULT_DB): boolean {
  const file = sqliteFile(target);
  return file === undefined || existsSync(file);
}

/** How to create a database that is missing or cannot be opened, for the message. */
function createHint(target: string): string {
  const file = sqliteFile(target);
  if (file) {
    return existsSync(path.dirname(file))
      ? `create it with "remotesyncdb init --db ${file}" or a sync`
      : `its directory ${path.dirname(file)} does not exist: create it (mkdir -p), then "remotesyncdb init --db ${file}" or a sync`;
  }
  return dialectOf(target) === 'postgres'
    ? 'check --db; a missing database is created with "createdb NAME" (or CREATE DATABASE), then "remotesyncdb init" or a sync'
    : 'check --db; a missing database is created with CREATE DATABASE NAME CHARACTER SET utf8mb4, then "remotesyncdb init" or a sync';
}

/**
 * Open a database and make sure it answers, with a clear error (password masked) if not: a
 * configuration error (exit 2) that says how to create it.
 */
export async function connectDatabase(target: string = DEFAULT_DB): Promise<Database> {
  const file = sqliteFile(target);
  if (file && !existsSync(path.dirname(file))) {
    throw new ConfigError(`Cannot use the local database ${file}: ${createHint(target)}`, { code: 'E_DATABASE', meta: { file } });
  }
  const db = openDatabase(target);
  try {
    await db.knex.raw('SELECT 1');
  } catch (error) {
    await db.knex.destroy();
    throw new ConfigError(`Cannot use the local database ${db.display}: ${maskSecrets(databaseMessage(error))}; ${createHint(target)}`, { code: 'E_DATABASE', cause: error });
  }
  return db;
}

/**
 * Open a database that must already exist, for a command that only reads (`dumpdata`,
 * `history`, `remote list`, `inspect`, `serve`): a missing SQLite file is refused, not created.
 */
export async function connectExistingDatabase(target: string = DEFAULT_DB): Promise<Database> {
  const file = sqliteFile(target);
  if (file && !existsSync(file)) {
    throw new ConfigError(`No database at ${file}: ${createHint(target)}`, { code: 'E_DATABASE', meta: { file } });
  }
  return connectDatabase(target);
}
