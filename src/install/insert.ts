import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import type { ModelDef } from '../manifest/types.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../schema/app-tables.js';

/** How many rows of `columns` columns fit in one statement of this dialect (and at most 1000). */
export function batchSize(dialect: DialectAdapter, columns: number): number {
  return Math.max(1, Math.min(1000, Math.floor(dialect.maxBindParameters / Math.max(1, columns))));
}

/**
 * One multi-row `INSERT ... VALUES (...), (...)`, optionally with RETURNING. knex writes a
 * multi-row insert for SQLite as `SELECT ... UNION ALL ...`, which SQLite caps at 500 terms
 * (SQLITE_MAX_COMPOUND_SELECT); a VALUES list has no such cap and is the same on all three.
 */
export async function insertRows(trx: Knex.Transaction, dialect: DialectAdapter, table: string, rows: Record<string, unknown>[], returning?: string[]): Promise<Record<string, unknown>[]> {
  if (rows.length === 0) return [];
  const columns = Object.keys(rows[0]);
  const bindings: unknown[] = [];
  for (const row of rows) for (const c of columns) bindings.push(row[c] === undefined ? null : row[c]);
  const key = `${dialect.name}|${table}|${columns.join(',')}|${rows.length}|${returning?.join(',') ?? ''}`;
  let sql = insertSql.get(key);
  if (sql === undefined) {
    const q = dialect.quote;
    const tuple = `(${columns.map(() => '?').join(', ')})`;
    sql = `INSERT INTO ${q(table)} (${columns.map(q).join(', ')}) VALUES ${rows.map(() => tuple).join(', ')}${returning ? ` RETURNING ${returning.map(q).join(', ')}` : ''}`;
    if (insertSql.size > 500) insertSql.clear();
    insertSql.set(key, sql);
  }
  return dialect.execute(trx, sql, bindings, returning !== undefined);
}

/**
 * One row's UPDATE by pk, through the dialect's prepared-statement path (a statement per table
 * and set of columns, parsed once: SQLite's cache, PostgreSQL's named statements) rather than
 * a query built per row.
 */
export async function updateRow(trx: Knex.Transaction, dialect: DialectAdapter, table: string, pk: string, id: number, changed: Record<string, unknown>): Promise<void> {
  const columns = Object.keys(changed);
  const key = `${dialect.name}|${table}|${pk}|${columns.join(',')}`;
  let sql = updateSql.get(key);
  if (sql === undefined) {
    const q = dialect.quote;
    sql = `UPDATE ${q(table)} SET ${columns.map((c) => `${q(c)} = ?`).join(', ')} WHERE ${q(pk)} = ?`;
    if (updateSql.size > 500) updateSql.clear();
    updateSql.set(key, sql);
  }
  await dialect.execute(trx, sql, [...columns.map((c) => changed[c] ?? null), id], false);
}

/** UPDATE texts by table and columns. */
const updateSql = new Map<string, string>();

/** INSERT texts by table, columns and row count: full batches repeat the same text. */
const insertSql = new Map<string, string>();

/**
 * Insert rows into a root table and return their generated ids in row order. With
 * RETURNING where the dialect has it; otherwise (MySQL) by reading the ids back through the
 * unique origin index when the rows are tagged, or from LAST_INSERT_ID for one row.
 */
export async function insertReturningIds(trx: Knex.Transaction, dialect: DialectAdapter, model: ModelDef, rows: Record<string, unknown>[]): Promise<number[]> {
  if (rows.length === 0) return [];
  if (dialect.supportsReturning) {
    const returned = await insertRows(trx, dialect, model.table, rows, [model.pk, ORIGINAL_ID]);
    if (rows.length === 1) return [Number(returned[0][model.pk])];
    // Map back by origin tag rather than trusting the order of RETURNING.
    const byOriginal = new Map<number, number>(returned.map((r: Record<string, unknown>) => [Number(r[ORIGINAL_ID]), Number(r[model.pk])]));
    return rows.map((row) => byOriginal.get(Number(row[ORIGINAL_ID]))!);
  }
  if (rows.length === 1) {
    const [id] = await trx(model.table).insert(rows);
    return [Number(id)];
  }
  await insertRows(trx, dialect, model.table, rows);
  const remoteId = rows[0][ORIGINAL_DB] as number;
  const found = await trx(model.table)
    .select(`${model.pk} as id`, `${ORIGINAL_ID} as original`)
    .where(ORIGINAL_DB, remoteId)
    .whereIn(ORIGINAL_ID, rows.map((r) => r[ORIGINAL_ID] as number));
  const byOriginal = new Map<number, number>(found.map((r) => [Number(r.original), Number(r.id)]));
  return rows.map((row) => byOriginal.get(Number(row[ORIGINAL_ID]))!);
}
