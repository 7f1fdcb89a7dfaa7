import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import { ConfigError } from '../errors.js';
import { columnsByTable, connectionOf, reportQuery, type DialectAdapter } from './dialect.js';
import { tsvChunks } from './tsv.js';

/** MySQL / MariaDB through mysql2, utf8mb4 everywhere. */
export const mysqlAdapter: DialectAdapter = {
  name: 'mysql',
  supportsReturning: false,
  integerCastType: 'SIGNED',
  // READ COMMITTED: a snapshot taken before the lock was granted would not see tables another
  // sync created meanwhile ("Table definition has changed").
  transactionConfig: { isolationLevel: 'read committed' },
  supportsNulInText: true,
  supportsForwardReferences: false,
  maxBindParameters: 65535,
  maxStatementRows: 1000,
  knexConfig(target) {
    let url: URL;
    try {
      url = new URL(target);
    } catch (error) {
      throw new ConfigError(`--db: cannot parse MySQL URL`, { cause: error });
    }
    const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
    if (!database) throw new ConfigError('--db: a MySQL URL needs a database name: mysql://user@host:3306/db');
    return {
      client: 'mysql2',
      connection: {
        host: url.hostname || '127.0.0.1',
        port: url.port ? Number(url.port) : 3306,
        user: decodeURIComponent(url.username || 'root'),
        password: decodeURIComponent(url.password),
        database,
        charset: 'utf8mb4',
        timezone: 'Z',
        dateStrings: true,
        // JSON comes back as its text, parsed by readJson: MariaDB's JSON is LONGTEXT and
        // MySQL's is JSON, and a JSON value that is a bare string must not be parsed twice.
        jsonStrings: true,
        supportBigNumbers: true,
        multipleStatements: false,
        // LOAD DATA LOCAL for the bulk path. The server reads only what bulkInsert streams:
        // mysql2 refuses a file request for any query that gives no stream of its own.
        flags: ['+LOCAL_FILES'],
      },
      pool: {
        min: 0,
        max: 4,
        afterCreate(conn: { query(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, conn: unknown) => void) {
          conn.query("SET time_zone = '+00:00'", (err) => done(err, conn));
        },
      },
    };
  },
  addColumn(t, field) {
    switch (field.type) {
      case 'string': return t.string(field.name, field.maxLength);
      case 'text': return t.text(field.name, 'longtext');
      case 'integer': return t.integer(field.name);
      // DOUBLE without precision or scale: an 8-byte double, as in Django.
      case 'float': return t.specificType(field.name, 'double');
      case 'decimal': return t.decimal(field.name, field.maxDigits, field.decimalPlaces);
      case 'boolean': return t.boolean(field.name);
      case 'date': return t.date(field.name);
      case 'datetime': return t.datetime(field.name, { precision: 6 });
      case 'json': return t.json(field.name);
      case 'binary': return t.specificType(field.name, 'longblob');
    }
  },
  // MySQL has no CREATE INDEX IF NOT EXISTS (MariaDB has): the catalog says.
  async ensureIndex(knex, table, name, columns) {
    const [rows] = (await knex.raw('SELECT 1 FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ? LIMIT 1', [table, name])) as [unknown[]];
    if (rows.length === 0) await knex.raw(`CREATE INDEX ?? ON ?? (${columns.map(() => '??').join(', ')})`, [name, table, ...columns]);
  },
  async isUnsigned(knex, table, column) {
    const [rows] = await knex.raw('SELECT COLUMN_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?', [table, column]);
    return /unsigned/i.test(String((rows as Array<{ t: string }>)[0]?.t ?? 'unsigned'));
  },
  tableOptions(t) {
    t.engine('InnoDB');
    t.charset('utf8mb4');
    t.collate('utf8mb4_unicode_ci');
  },
  quote: (identifier) => `\`${identifier}\``,
  async execute(trx, sql, bindings, wantRows) {
    const [rows] = await trx.raw(sql, bindings as Knex.RawBinding[]);
    return wantRows ? (rows as Record<string, unknown>[]) : [];
  },
  async bulkInsert(trx, table, columns, values) {
    const conn = await connectionOf<MysqlConnection>(trx);
    if (infileRefused.has(conn)) return false;
    // Bytes travel as hex into a variable, and UNHEX puts them in their column: the file is read as utf8mb4 text.
    const isBinary = columns.map((_, c) => {
      for (let at = c; at < values.length; at += columns.length) if (Buffer.isBuffer(values[at])) return true;
      return false;
    });
    const targets = columns.map((c, i) => (isBinary[i] ? `@b${i}` : `\`${c}\``)).join(', ');
    const sets = columns.flatMap((c, i) => (isBinary[i] ? [`\`${c}\` = UNHEX(@b${i})`] : []));
    const sql = `LOAD DATA LOCAL INFILE 'rows.tsv' INTO TABLE \`${table}\` CHARACTER SET utf8mb4 (${targets})${sets.length > 0 ? ` SET ${sets.join(', ')}` : ''}`;
    reportQuery(trx, sql);
    let result: { warningStatus?: number; affectedRows?: number };
    try {
      result = await new Promise((resolve, reject) => conn.query({ sql, infileStreamFactory: () => Readable.from(infileChunks(columns.length, values)) }, (error, res) => (error ? reject(error) : resolve(res as typeof result))));
    } catch (error) {
      const code = (error as { code?: string; errno?: number }).code;
      // The server (or this connection) does not allow LOAD DATA LOCAL: INSERTs from now on.
      if (code === 'ER_NOT_ALLOWED_COMMAND' || code === 'ER_LOAD_INFILE_CAPABILITY_DISABLED' || (error as { errno?: number }).errno === 4166) {
        infileRefused.add(conn);
        return false;
      }
      throw error;
    }
    // LOAD DATA LOCAL turns what an INSERT would refuse into warnings (truncated, converted
    // values): here they are errors, as they would be for the INSERT.
    if (result.warningStatus) {
      const [warnings] = await trx.raw('SHOW WARNINGS LIMIT 3');
      throw new Error(`LOAD DATA into ${table}: ${(warnings as Array<{ Message: string }>).map((w) => w.Message).join('; ')}`);
    }
    return true;
  },
  async listColumns(knex) {
    const [rows] = await knex.raw('SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()');
    return columnsByTable(rows);
  },
  castOf: () => undefined,
  bindBoolean: (v) => (v ? 1 : 0),
  // Always text (jsonStrings): parse it once.
  readJson: (v) => (typeof v === 'string' ? JSON.parse(v) : v),
  async deferConstraints(trx) {
    await trx.raw('SET FOREIGN_KEY_CHECKS = 0');
  },
  async resetSequence() {
    // AUTO_INCREMENT moves past explicit ids by itself.
  },
  async tryLock(conn, key, waitMs) {
    // Lock names are global to the server: the database's name keeps two databases apart.
    const [rows] = await conn.raw(`SELECT GET_LOCK(LEFT(CONCAT('rsdb:', DATABASE(), ':', ?), 64), ?) AS ok`, [key, Math.ceil(waitMs / 1000)]);
    return Number(rows[0].ok) === 1;
  },
  // GET_LOCK belongs to the session, not the transaction: commit first, then release it on
  // the same connection (knex hands the connection back to its pool at trx.commit()).
  async finish(trx, key, commit) {
    try {
      await trx.raw(commit ? 'COMMIT' : 'ROLLBACK');
    } finally {
      await trx.raw(`SELECT RELEASE_LOCK(LEFT(CONCAT('rsdb:', DATABASE(), ':', ?), 64))`, [key]).catch(() => undefined);
      // Let knex close its transaction object too (a second COMMIT/ROLLBACK is a no-op).
      if (commit) await trx.commit();
      else await trx.rollback();
    }
  },

};

/** What bulkInsert needs of a mysql2 (callback) connection. */
interface MysqlConnection {
  query(options: { sql: string; infileStreamFactory: () => Readable }, callback: (error: Error | null, result: unknown) => void): void;
}

/** Connections whose server refused LOAD DATA LOCAL. */
const infileRefused = new WeakSet<object>();

/** One value as LOAD DATA reads it (FIELDS ESCAPED BY '\\', the default): https://mariadb.com/kb/en/load-data-infile/ */
function infileValue(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (Buffer.isBuffer(value)) return value.toString('hex');
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return INFILE_SPECIAL.test(text) ? text.replace(INFILE_ESCAPES, (c) => INFILE_ESCAPE[c]) : text;
}

const INFILE_SPECIAL = /[\\\n\r\t\0]/;
const INFILE_ESCAPES = /[\\\n\r\t\0]/g;
const INFILE_ESCAPE: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\0': '\\0' };

/** The rows as LOAD DATA's lines, in Buffers (what mysql2 sends of an infile stream). */
function* infileChunks(width: number, values: readonly unknown[]): Generator<Buffer> {
  for (const text of tsvChunks(width, values, infileValue)) yield Buffer.from(text, 'utf8');
}
