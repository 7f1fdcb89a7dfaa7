import type { Knex } from 'knex';
import type { FieldDef, FieldType } from '../manifest/types.js';

/** The database kinds remotesyncdb supports. */
export type DialectName = 'sqlite' | 'postgres' | 'mysql';

/**
 * Everything that differs between SQLite, PostgreSQL and MySQL lives behind this interface
 * (kysely's DialectAdapter habit): no `if (client === 'pg')` outside `dialects/`.
 */
export interface DialectAdapter {
  readonly name: DialectName;
  /** `INSERT ... RETURNING` gives back generated ids in one round trip. */
  readonly supportsReturning: boolean;
  /** An FK may name a table that does not exist yet (so tables can be created with inline FKs in any order). */
  readonly supportsForwardReferences: boolean;
  /** Text columns can hold U+0000 (PostgreSQL's cannot). */
  readonly supportsNulInText: boolean;
  /** The type name of `CAST(x AS <type>)` for an integer. */
  readonly integerCastType: string;
  /** How many bind parameters one statement may carry. */
  readonly maxBindParameters: number;
  /**
   * The most rows one multi-row INSERT should carry: large where each statement is a round
   * trip to a server, small where the database is in the process (SQLite), since preparing a
   * statement of a thousand rows costs more than running ten of a hundred.
   */
  readonly maxStatementRows: number;
  /** knex config for a parsed connection. */
  knexConfig(target: string): Knex.Config;
  /** Declare a column of a manifest field type. */
  addColumn(table: Knex.CreateTableBuilder, field: FieldDef): Knex.ColumnBuilder;
  /** Per-table options (charset, engine). */
  tableOptions(table: Knex.CreateTableBuilder): void;
  /**
   * Whether an integer column is UNSIGNED (MySQL only: a FK column must match the signedness of
   * the id it references, and Django's ids are signed where knex's increments() are not).
   */
  isUnsigned(knex: Knex | Knex.Transaction, table: string, column: string): Promise<boolean>;
  /** A JS value ready to bind for a boolean. */
  bindBoolean(value: boolean): boolean | number;
  /** A stored JSON column value back to a JS value. */
  readJson(value: unknown): unknown;
  /** Options of the sync's transaction (isolation level). */
  readonly transactionConfig: Knex.TransactionConfig;
  /** An identifier (already checked against the manifest's pattern) quoted for SQL. */
  quote(identifier: string): string;
  /**
   * Run one statement with `?` placeholders on the transaction's own connection, reusing a
   * prepared statement for the same text where the driver allows it (the hot path of the
   * install). Returns the rows when `wantRows`.
   */
  execute(trx: Knex.Transaction, sql: string, bindings: readonly unknown[], wantRows: boolean): Promise<Record<string, unknown>[]>;
  /**
   * The database's bulk load of many rows (PostgreSQL: `COPY ... FROM STDIN`; MySQL: `LOAD
   * DATA LOCAL INFILE` from a stream), given as one flat array of values, `columns.length` per
   * row. False when the bulk path cannot take these rows (the server refuses it, or a value it
   * cannot carry): nothing was written and the caller inserts them otherwise. Absent where
   * multi-row INSERTs are the fastest path.
   */
  bulkInsert?(trx: Knex.Transaction, table: string, columns: readonly string[], values: readonly unknown[]): Promise<boolean>;
  /**
   * `n` new ids of a table's id counter, never handed to anyone else (PostgreSQL: taken from its
   * sequence in one statement; SQLite: past the largest, under the transaction's write lock),
   * so rows can go in with them and nothing has to be read back; absent where the database
   * only numbers rows as it inserts them (MySQL).
   */
  reserveIds?(trx: Knex.Transaction, table: string, pk: string, n: number): Promise<number[]>;
  /**
   * The type to CAST a bound value to where the database cannot tell it from the statement (a
   * CASE of parameters: PostgreSQL would take text), by field type; `id` for keys. Undefined
   * where a bare parameter is converted on assignment (SQLite, MySQL).
   */
  castOf(type: FieldType | 'id'): string | undefined;
  /** Every table of the connection's database (its current schema) with its column names, in one query. */
  listColumns(knex: Knex | Knex.Transaction): Promise<Map<string, Set<string>>>;
  /** Create an index on a table unless one of that name exists (added to a table an earlier version created without it). */
  ensureIndex(knex: Knex | Knex.Transaction, table: string, name: string, columns: readonly string[]): Promise<void>;
  /** Let FK checks wait until commit (Django's loaddata does the same). */
  deferConstraints(trx: Knex.Transaction): Promise<void>;
  /** Move the id counter past the largest id after inserts with explicit ids. */
  resetSequence(trx: Knex.Transaction, table: string, pk: string): Promise<void>;
  /**
   * Take the one-sync-at-a-time lock on the transaction's connection, waiting up to `waitMs`;
   * false if it is held elsewhere. It dies with the session, so a killed run never blocks the next.
   */
  tryLock(conn: Knex | Knex.Transaction, key: string, waitMs: number): Promise<boolean>;
  /**
   * End the transaction (commit or roll back) and release the lock `tryLock` took on it, in
   * the order the database needs: a lock released before the commit would let the next sync
   * in while this one's rows are not committed yet.
   */
  finish(trx: Knex.Transaction, key: string, commit: boolean): Promise<void>;
}

/** A 31-bit integer key for advisory locks, from a string. */
export function lockKey(key: string): number {
  let hash = 0;
  for (const ch of key) hash = (Math.imul(hash, 31) + ch.charCodeAt(0)) | 0;
  return hash & 0x7fffffff;
}

/** The connection a knex transaction runs on (knex hands its own connection to the trx client). */
export async function connectionOf<T>(trx: Knex.Transaction): Promise<T> {
  return (await (trx as unknown as { client: { acquireConnection(): Promise<T> } }).client.acquireConnection());
}

/**
 * Tell the knex instance's 'query' listeners about a statement run on the raw connection (the
 * prepared-statement and bulk paths), as knex does for its own: `sync({ onQuery })` sees every write.
 */
export function reportQuery(trx: Knex.Transaction, sql: string, bindings?: readonly unknown[]): void {
  const client = (trx as unknown as { client?: { emit?(event: string, data: unknown): void; listenerCount?(event: string): number } }).client;
  if (client?.listenerCount?.('query')) client.emit!('query', { sql, bindings, method: 'raw' });
}

/** Table and column rows of a catalog query as a map. */
export function columnsByTable(rows: ReadonlyArray<{ t: string; c: string }>): Map<string, Set<string>> {
  const tables = new Map<string, Set<string>>();
  for (const { t, c } of rows) {
    let columns = tables.get(t);
    if (!columns) tables.set(t, (columns = new Set()));
    columns.add(c);
  }
  return tables;
}
