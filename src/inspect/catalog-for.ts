import type { DialectName } from '../dialects/index.js';
import { ConfigError } from '../errors.js';
import type { Catalog } from './catalog.js';
import { mysqlCatalog } from './catalog-mysql.js';
import { postgresCatalog } from './catalog-postgres.js';
import { sqliteCatalog } from './catalog-sqlite.js';

/** The catalog reader of a dialect. */
export function catalogFor(name: DialectName): Catalog {
  switch (name) {
    case 'sqlite': return sqliteCatalog;
    case 'postgres': return postgresCatalog;
    case 'mysql': return mysqlCatalog;
    default: {
      const unreachable: never = name;
      throw new ConfigError(`inspect: unknown dialect ${String(unreachable)}`);
    }
  }
}
