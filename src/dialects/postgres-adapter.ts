import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Knex } from 'knex';
import { connectionOf, lockKey, type DialectAdapter } from './dialect.js';

const OID = { int8: 20, date: 1082, timestamp: 1114, timestamptz: 1184 } as const;

/** Keep dates and times as the text PostgreSQL sends (UTC session), and counts as numbers. */
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === OID.date || oid === OID.timestamp || oid === OID.timestamptz) return (v: string) => v;
    if (oid === OID.int8) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** PostgreSQL through pg. */
export const postgresAdapter: DialectAdapter = {
  name: 'postgres',
  supportsReturning: true,
  integerCastType: 'INTEGER',
  transactionConfig: {},
  supportsNulInText: false,
  supportsForwardReferences: false,
  maxBindParameters: 65535,
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
  async isUnsigned() {
    return false;
  },
  quote: (identifier) => `"${identifier}"`,
  async execute(trx, sql, bindings, wantRows) {
    // Named statements: PostgreSQL parses and plans each distinct text once per session.
    const conn = await connectionOf<pg.Client>(trx);
    let n = 0;
    const text = sql.replace(/\?/g, () => `$${++n}`);
    const name = `rsdb_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    const result = await conn.query({ name, text, values: bindings as unknown[] });
    return wantRows ? (result.rows as Record<string, unknown>[]) : [];
  },
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
