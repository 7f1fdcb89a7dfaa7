import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import type { Knex } from 'knex';
import type { FieldType } from '../manifest/types.js';
import { columnsByTable, connectionOf, lockKey, reportQuery, type DialectAdapter } from './dialect.js';
import { tsvChunks } from './tsv.js';

const OID = { int8: 20, date: 1082, timestamp: 1114, timestamptz: 1184 } as const;

/** Keep dates and times as the text PostgreSQL sends (UTC session), and counts as numbers. */
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === OID.date || oid === OID.timestamp || oid === OID.timestamptz) return (v: string) => v;
    if (oid === OID.int8) return (v: string) => Number(v);
    return driver().types.getTypeParser(oid, format as 'text');
  },
};

// The driver is loaded when a PostgreSQL database is opened, not by every run of the command.
const load = createRequire(import.meta.url);
const driver = (): typeof pg => load('pg');
const copyFrom = (sql: string): ReturnType<typeof import('pg-copy-streams').from> => (load('pg-copy-streams') as typeof import('pg-copy-streams')).from(sql);

/** PostgreSQL through pg. */
export const postgresAdapter: DialectAdapter = {
  name: 'postgres',
  supportsReturning: true,
  integerCastType: 'INTEGER',
  transactionConfig: {},
  supportsNulInText: false,
  supportsForwardReferences: false,
  maxBindParameters: 65535,
  maxStatementRows: 1000,
  knexConfig(target) {
    return {
      client: 'pg',
      connection: { connectionString: target, types } as Knex.PgConnectionConfig,
      pool: {
        min: 0,
        max: 4,
        afterCreate(conn: pg.Client, done: (err: Error | null, conn: unknown) => void) {
          conn.query("SET TIME ZONE 'UTC'", (err) => done(err ?? null, conn));
        },
      },
    };
  },
  addColumn(t, field) {
    switch (field.type) {
      case 'string': return t.string(field.name, field.maxLength);
      case 'text': return t.text(field.name);
      case 'integer': return t.integer(field.name);
      case 'float': return t.specificType(field.name, 'double precision');
      case 'decimal': return t.decimal(field.name, field.maxDigits, field.decimalPlaces);
      case 'boolean': return t.boolean(field.name);
      case 'date': return t.date(field.name);
      case 'datetime': return t.timestamp(field.name, { useTz: true, precision: 6 });
      case 'json': return t.jsonb(field.name);
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
    // Named statements: PostgreSQL parses and plans each distinct text once per session.
    const conn = await connectionOf<pg.Client>(trx);
    let n = 0;
    const text = sql.replace(/\?/g, () => `$${++n}`);
    const name = `rsdb_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    const result = await conn.query({ name, text, values: bindings as unknown[] });
    return wantRows ? (result.rows as Record<string, unknown>[]) : [];
  },
  async bulkInsert(trx, table, columns, values) {
    const conn = await connectionOf<pg.Client>(trx);
    const sql = `COPY "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) FROM STDIN`;
    reportQuery(trx, sql);
    await pipeline(Readable.from(tsvChunks(columns.length, values, copyValue)), conn.query(copyFrom(sql)));
    return true;
  },
  async reserveIds(trx, table, pk, n) {
    // nextval hands each id to one caller only, whatever else writes to the table meanwhile.
    const conn = await connectionOf<pg.Client>(trx);
    const { rows } = await conn.query({ text: 'SELECT nextval(pg_get_serial_sequence($1, $2)) AS id FROM generate_series(1, $3)', values: [`"${table}"`, pk, n], rowMode: 'array' });
    return rows.map((r: unknown[]) => Number(r[0]));
  },
  async listColumns(knex) {
    const { rows } = await knex.raw('SELECT table_name AS t, column_name AS c FROM information_schema.columns WHERE table_schema = current_schema()');
    return columnsByTable(rows);
  },
  castOf: (type) => PG_CASTS[type],
  bindBoolean: (v) => v,
  readJson: (v) => v,
  async deferConstraints(trx) {
    await trx.raw('SET CONSTRAINTS ALL DEFERRED');
  },
  async resetSequence(trx, table, pk) {
    await trx.raw(`SELECT setval(pg_get_serial_sequence(?, ?), COALESCE((SELECT MAX(??) FROM ??), 0) + 1, false)`, [table, pk, pk, table]);
  },
  // A transaction-level advisory lock: released by commit, rollback, or the session dying.
  async tryLock(conn, key, waitMs) {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const { rows } = await conn.raw('SELECT pg_try_advisory_xact_lock(?) AS ok', [lockKey(key)]);
      if (rows[0].ok) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 200));
    }
  },
  // The lock is part of the transaction: it ends with it.
  async finish(trx, _key, commit) {
    if (commit) await trx.commit();
    else await trx.rollback();
  },
};

/** The cast of a parameter per field type (the column takes it by assignment: varchar(n), numeric(p, s)). */
const PG_CASTS: Record<FieldType | 'id', string> = {
  id: 'integer', string: 'text', text: 'text', integer: 'integer', float: 'double precision', decimal: 'numeric',
  boolean: 'boolean', date: 'date', datetime: 'timestamptz', json: 'jsonb', binary: 'bytea',
};

/** One value in COPY's text format: https://www.postgresql.org/docs/current/sql-copy.html (File Formats, Text Format). */
function copyValue(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (Buffer.isBuffer(value)) return `\\\\x${value.toString('hex')}`;
  const text = value instanceof Date ? value.toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return COPY_SPECIAL.test(text) ? text.replace(COPY_ESCAPES, (c) => COPY_ESCAPE[c]) : text;
}

const COPY_SPECIAL = /[\\\n\r\t]/;
const COPY_ESCAPES = /[\\\n\r\t]/g;
const COPY_ESCAPE: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
