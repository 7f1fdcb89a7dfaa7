import path from 'node:path';
import type Database from 'better-sqlite3';
import { columnsByTable, connectionOf, reportQuery, type DialectAdapter } from './dialect.js';

/** Prepared statements per connection, by SQL text: preparing a 1000-row INSERT costs as much as running it. */
const statements = new WeakMap<Database.Database, Map<string, Database.Statement>>();
import type { FieldDef } from '../manifest/types.js';
import { LOCK_TABLE } from '../schema/bookkeeping.js';

const BUSY_TIMEOUT_MS = 5000;

/** SQLite through better-sqlite3: the embedded default. */
export const sqliteAdapter: DialectAdapter = {
  name: 'sqlite',
  supportsReturning: true,
  integerCastType: 'INTEGER',
  transactionConfig: {},
  supportsNulInText: true,
  supportsForwardReferences: true,
  // SQLITE_MAX_VARIABLE_NUMBER is 32766 since SQLite 3.32.
  maxBindParameters: 32766,
  maxStatementRows: 100,
  knexConfig(target) {
    const filename = target.startsWith('sqlite:') ? target.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '') : target;
    return {
      client: 'better-sqlite3',
      useNullAsDefault: true,
      connection: { filename: filename === ':memory:' ? filename : path.resolve(filename) },
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: { pragma(s: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
          conn.pragma('foreign_keys = ON');
          conn.pragma('journal_mode = WAL');
          conn.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
          done(null, conn);
        },
      },
    };
  },
  addColumn(t, field: FieldDef) {
    switch (field.type) {
      case 'string': return t.string(field.name, field.maxLength);
      case 'text': return t.text(field.name);
      case 'integer': return t.integer(field.name);
      case 'float': return t.specificType(field.name, 'real');
      // knex would write "float" for SQLite; Django writes decimal(p, s) (NUMERIC affinity).
      case 'decimal': return t.specificType(field.name, `decimal(${field.maxDigits}, ${field.decimalPlaces})`);
      case 'boolean': return t.boolean(field.name);
      case 'date': return t.date(field.name);
      case 'datetime': return t.datetime(field.name);
      case 'json': return t.text(field.name);
      case 'binary': return t.binary(field.name);
    }
  },
  tableOptions() {},
  async ensureIndex(knex, table, name, columns) {
    await knex.raw(`CREATE INDEX IF NOT EXISTS ?? ON ?? (${columns.map(() => '??').join(', ')})`, [name, table, ...columns]);
  },
  async isUnsigned() {
    return false;
  },
  quote: (identifier) => `"${identifier}"`,
  async execute(trx, sql, bindings, wantRows) {
    reportQuery(trx, sql, bindings);
    const conn = await connectionOf<Database.Database>(trx);
    let cache = statements.get(conn);
    if (!cache) statements.set(conn, (cache = new Map()));
    let statement = cache.get(sql);
    if (!statement) {
      statement = conn.prepare(sql);
      if (cache.size > 200) cache.clear();
      cache.set(sql, statement);
    }
    // An array binds as anonymous parameters: no spreading thousands of arguments.
    if (wantRows) return statement.all(bindings) as Record<string, unknown>[];
    statement.run(bindings);
    return [];
  },
  async reserveIds(trx, table, pk, n) {
    // One writer at a time: the install's transaction holds SQLite's write lock from its first
    // write, so nobody else numbers rows of this table before it ends (and a row inserted since
    // this read would make the insert fail, never share an id). AUTOINCREMENT's counter moves
    // past explicit ids by itself.
    const conn = await connectionOf<Database.Database>(trx);
    const max = Number((conn.prepare(`SELECT MAX("${pk}") AS m FROM "${table}"`).get() as { m: number | null }).m ?? 0);
    const hasSequence = conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'").get() !== undefined;
    const seq = hasSequence ? Number((conn.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?').get(table) as { seq: number } | undefined)?.seq ?? 0) : 0;
    const start = Math.max(max, seq) + 1;
    return Array.from({ length: n }, (_, i) => start + i);
  },
  async listColumns(knex) {
    return columnsByTable(await knex.raw("SELECT m.name AS t, p.name AS c FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'"));
  },
  castOf: () => undefined,
  bindBoolean: (v) => (v ? 1 : 0),
  readJson: (v) => (typeof v === 'string' ? JSON.parse(v) : v),
  async deferConstraints(trx) {
    await trx.raw('PRAGMA defer_foreign_keys = ON');
  },
  async resetSequence() {
    // INTEGER PRIMARY KEY takes max(rowid)+1 by itself.
  },
  // The lock is the database's own write lock: the sync's transaction writes first, so it holds
  // SQLite's RESERVED lock until commit or rollback, and a killed process releases it.
  // https://www.sqlite.org/lockingv3.html
  async tryLock(conn, key, waitMs) {
    // The write must be the transaction's first statement: after a read, SQLite could not wait
    // for the lock (the read's snapshot would be stale) and would fail at once.
    await conn.raw(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(waitMs))}`);
    try {
      await conn.raw(`INSERT INTO ${LOCK_TABLE} (name, runs) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET runs = runs + 1`, [key]);
      return true;
    } catch (error) {
      if (/^SQLITE_BUSY/.test((error as { code?: string }).code ?? '')) return false;
      // No lock table: no sync ever prepared this database (a first --fetch-only); nothing to guard.
      if (/no such table/.test((error as Error).message)) return true;
      throw error;
    } finally {
      await conn.raw(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  },
  // The lock is part of the transaction: it ends with it.
  async finish(trx, _key, commit) {
    if (commit) await trx.commit();
    else await trx.rollback();
  },
};
