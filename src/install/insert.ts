import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import type { ModelDef } from '../manifest/types.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../schema/app-tables.js';

/** How many rows of `columns` columns fit in one statement of this dialect (and at most 1000). */
export function batchSize(dialect: DialectAdapter, columns: number): number {
  return Math.max(1, Math.min(1000, Math.floor(dialect.maxBindParameters / Math.max(1, columns))));
}

/**
 * Rows to insert as one flat array of values, `columns.length` per row, in `columns` order
 * (no object per row: the install builds this straight from its decoded objects).
 */
export interface RowValues {
  readonly columns: readonly string[];
  readonly values: unknown[];
}

/** Below this many rows a dialect's bulk path (COPY) costs more than an INSERT. */
const BULK_MIN_ROWS = 64;

/**
 * Insert rows without reading anything back: through the dialect's bulk path where it has one
 * (PostgreSQL's COPY, MySQL's LOAD DATA) for more than a handful of rows, else as multi-row
 * INSERTs.
 */
export async function insertValues(trx: Knex.Transaction, dialect: DialectAdapter, table: string, rows: RowValues): Promise<void> {
  const count = rows.values.length / rows.columns.length;
  if (count === 0) return;
  if (dialect.bulkInsert && count >= BULK_MIN_ROWS && (await dialect.bulkInsert(trx, table, rows.columns, rows.values))) return;
  await insertStatements(trx, dialect, table, rows);
}

/**
 * Multi-row `INSERT ... VALUES (...), (...)`, optionally with RETURNING (the returned rows
 * in statement order). A batch goes out in statements of a few fixed shapes (the dialect's
 * largest, then 100, 10 and 1 rows), so each table and column set is parsed and prepared at
 * most four times in a run, whatever the batch sizes. knex writes a multi-row insert for
 * SQLite as `SELECT ... UNION ALL ...`, which SQLite caps at 500 terms
 * (SQLITE_MAX_COMPOUND_SELECT); a VALUES list has no such cap and is the same on all three.
 */
async function insertStatements(trx: Knex.Transaction, dialect: DialectAdapter, table: string, rows: RowValues, returning?: readonly string[]): Promise<Record<string, unknown>[]> {
  const { columns, values } = rows;
  const width = columns.length;
  const count = values.length / width;
  const largest = Math.min(batchSize(dialect, width), dialect.maxStatementRows);
  const returned: Record<string, unknown>[] = [];
  for (let at = 0; at < count;) {
    const n = statementRows(count - at, largest);
    const bindings = n === count ? values : values.slice(at * width, (at + n) * width);
    const result = await dialect.execute(trx, insertText(dialect, table, columns, n, returning), bindings, returning !== undefined);
    for (const row of result) returned.push(row);
    at += n;
  }
  return returned;
}

/** Rows for the next statement of a batch with `left` to go: `largest`, else 100, 10 or 1 (a few shapes, each prepared once). */
function statementRows(left: number, largest: number): number {
  return left >= largest ? largest : left >= 100 && largest > 100 ? 100 : left >= 10 ? 10 : 1;
}

/** The INSERT text of `n` rows, cached: full batches repeat the same text. */
function insertText(dialect: DialectAdapter, table: string, columns: readonly string[], n: number, returning?: readonly string[]): string {
  const key = `${dialect.name}|${table}|${columns.join(',')}|${n}|${returning?.join(',') ?? ''}`;
  let sql = insertSql.get(key);
  if (sql === undefined) {
    const q = dialect.quote;
    const tuple = `(${columns.map(() => '?').join(', ')})`;
    sql = `INSERT INTO ${q(table)} (${columns.map(q).join(', ')}) VALUES ${Array.from({ length: n }, () => tuple).join(', ')}${returning ? ` RETURNING ${returning.map(q).join(', ')}` : ''}`;
    if (insertSql.size > 500) insertSql.clear();
    insertSql.set(key, sql);
  }
  return sql;
}

/** Rows as objects (the keys of the first row are the columns) in one flat array of values. */
export function rowValues(rows: readonly Record<string, unknown>[]): RowValues {
  const columns = rows.length === 0 ? [] : Object.keys(rows[0]);
  const values: unknown[] = [];
  for (const row of rows) for (const c of columns) values.push(row[c] === undefined ? null : row[c]);
  return { columns, values };
}

/** Insert rows given as objects (the keys of the first row are the columns). */
export async function insertRows(trx: Knex.Transaction, dialect: DialectAdapter, table: string, rows: Record<string, unknown>[]): Promise<void> {
  if (rows.length > 0) await insertValues(trx, dialect, table, rowValues(rows));
}

/** A stored row to change: its local id and the new values of the columns that differ. */
export interface RowUpdate {
  id: number;
  changed: Record<string, unknown>;
}

/** Rows per UPDATE ... CASE statement. */
const UPDATE_ROWS = 100;

/**
 * Change stored rows by pk, many in each statement: rows that change the same columns go
 * together as `UPDATE t SET c = CASE pk WHEN ? THEN ? ... END, ... WHERE pk IN (...)`, in
 * statements of a few fixed sizes (100, 10, 1 rows) through the dialect's prepared-statement
 * path: an incremental sync of thousands of changed rows is tens of round trips to a server,
 * not thousands. `castOf` gives each column's CAST where the dialect needs one.
 */
export async function updateRows(trx: Knex.Transaction, dialect: DialectAdapter, table: string, pk: string, castOf: (column: string) => string | undefined, updates: readonly RowUpdate[]): Promise<void> {
  const groups = new Map<string, RowUpdate[]>();
  for (const update of updates) {
    const key = Object.keys(update.changed).join(',');
    const group = groups.get(key);
    if (group) group.push(update);
    else groups.set(key, [update]);
  }
  for (const [key, group] of groups) {
    const columns = key.split(',');
    for (let at = 0; at < group.length;) {
      const n = statementRows(group.length - at, UPDATE_ROWS);
      const slice = group.slice(at, at + n);
      const bindings: unknown[] = [];
      for (const c of columns) for (const { id, changed } of slice) bindings.push(id, changed[c] ?? null);
      for (const { id } of slice) bindings.push(id);
      await dialect.execute(trx, updateText(dialect, table, pk, columns, n, castOf), bindings, false);
      at += n;
    }
  }
}

/** The UPDATE ... CASE text of `n` rows, cached. */
function updateText(dialect: DialectAdapter, table: string, pk: string, columns: readonly string[], n: number, castOf: (column: string) => string | undefined): string {
  const key = `${dialect.name}|${table}|${pk}|${columns.join(',')}|${n}`;
  let sql = updateSql.get(key);
  if (sql === undefined) {
    const q = dialect.quote;
    const sets = columns.map((c) => {
      const cast = castOf(c);
      const value = cast ? `CAST(? AS ${cast})` : '?';
      return `${q(c)} = CASE ${q(pk)} ${Array.from({ length: n }, () => `WHEN ? THEN ${value}`).join(' ')} END`;
    });
    sql = `UPDATE ${q(table)} SET ${sets.join(', ')} WHERE ${q(pk)} IN (${Array.from({ length: n }, () => '?').join(', ')})`;
    if (updateSql.size > 500) updateSql.clear();
    updateSql.set(key, sql);
  }
  return sql;
}

/** UPDATE texts by table, columns and row count. */
const updateSql = new Map<string, string>();

/** INSERT texts by table, columns and row count. */
const insertSql = new Map<string, string>();

/**
 * Insert rows into a root table (their origin tags among the columns) and return their new
 * ids in row order:
 * - where the dialect reserves ids (PostgreSQL, SQLite), the rows go in with those ids (by the
 *   bulk path where there is one) and nothing is read back;
 * - with RETURNING where the dialect has it, matched back by origin tag rather than trusting
 *   the order of RETURNING;
 * - otherwise (MySQL: its bulk path or INSERTs) by reading the ids back through the unique
 *   origin index, or from LAST_INSERT_ID for one row.
 */
export async function insertReturningIds(trx: Knex.Transaction, dialect: DialectAdapter, model: ModelDef, rows: RowValues): Promise<number[]> {
  const { columns, values } = rows;
  const count = values.length / columns.length;
  if (count === 0) return [];
  const originAt = columns.indexOf(ORIGINAL_ID);
  if (dialect.reserveIds && count >= BULK_MIN_ROWS && !columns.includes(model.pk)) {
    const ids = await dialect.reserveIds(trx, model.table, model.pk, count);
    const width = columns.length;
    const withIds: unknown[] = new Array(count * (width + 1));
    for (let r = 0, from = 0, to = 0; r < count; r++) {
      withIds[to++] = ids[r];
      for (let c = 0; c < width; c++) withIds[to++] = values[from++];
    }
    await insertValues(trx, dialect, model.table, { columns: [model.pk, ...columns], values: withIds });
    return ids;
  }
  if (dialect.supportsReturning) {
    const returned = await insertStatements(trx, dialect, model.table, rows, [model.pk, ORIGINAL_ID]);
    if (count === 1 || originAt < 0) return returned.map((r) => Number(r[model.pk]));
    const byOriginal = new Map<number, number>();
    for (const r of returned) byOriginal.set(Number(r[ORIGINAL_ID]), Number(r[model.pk]));
    return originsOf(rows, originAt).map((original) => byOriginal.get(original)!);
  }
  if (count === 1) {
    const row = Object.fromEntries(columns.map((c, i) => [c, values[i]]));
    const [id] = await trx(model.table).insert(row);
    return [Number(id)];
  }
  await insertValues(trx, dialect, model.table, rows);
  const remoteId = values[columns.indexOf(ORIGINAL_DB)] as number;
  const origins = originsOf(rows, originAt);
  const found = await trx(model.table)
    .select(`${model.pk} as id`, `${ORIGINAL_ID} as original`)
    .where(ORIGINAL_DB, remoteId)
    .whereIn(ORIGINAL_ID, origins);
  const byOriginal = new Map<number, number>(found.map((r) => [Number(r.original), Number(r.id)]));
  return origins.map((original) => byOriginal.get(original)!);
}

/** The origin id of each row. */
function originsOf(rows: RowValues, originAt: number): number[] {
  const { columns, values } = rows;
  const origins: number[] = [];
  for (let at = originAt; at < values.length; at += columns.length) origins.push(Number(values[at]));
  return origins;
}
