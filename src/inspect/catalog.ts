import type { Knex } from 'knex';
import type { DialectName } from '../dialects/index.js';

/** One column as the database's catalog describes it. */
export interface CatalogColumn {
  readonly name: string;
  /**
   * The type name, lowercased, without arguments (`varchar`, `character varying`, `integer`),
   * with the dialect's own aliases already resolved by its catalog: MySQL's `tinyint(1)` is
   * `boolean`, MariaDB's JSON (a LONGTEXT with a `json_valid` check) is `json`.
   */
  readonly type: string;
  /** The type as the database declares it, for messages (`varchar(100)`, `time without time zone`). */
  readonly declared: string;
  readonly isNullable: boolean;
  /** Character length of a char/varchar column. */
  readonly maxLength?: number;
  /** Precision and scale of a numeric/decimal column. */
  readonly precision?: number;
  readonly scale?: number;
  /** Part of the primary key. */
  readonly isPk: boolean;
}

/** One column of a foreign key constraint. */
export interface CatalogForeignKey {
  readonly column: string;
  readonly refTable: string;
  readonly refColumn: string;
  /** One column of a multi-column FK, which a manifest cannot express. */
  readonly isComposite: boolean;
}

/** A base table with its columns (in declaration order) and foreign keys. */
export interface CatalogTable {
  readonly name: string;
  readonly columns: readonly CatalogColumn[];
  readonly foreignKeys: readonly CatalogForeignKey[];
}

/**
 * Reads the tables of the connected database (SQLite: the file; PostgreSQL: the current
 * schema; MySQL/MariaDB: `DATABASE()`) from its own catalog. One implementation per dialect,
 * so the dialect-specific SQL stays in one file each.
 */
export interface Catalog {
  readonly dialect: DialectName;
  readTables(knex: Knex): Promise<CatalogTable[]>;
}

/** A whole number from a catalog value (drivers hand back numbers, bigint strings or null). */
export function toCount(value: unknown): number | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
