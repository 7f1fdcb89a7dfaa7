// The bench's floors: each database's own fastest way to load the staged rows with their
// remote ids (no remap, no rewire), and JSON.parse of whole files as the parse floor. They
// are lower bounds to compare the install against, not something the install could do: they
// skip every check, every id translation and every conflict rule.
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import mysql from 'mysql2/promise';
import { dependencyOrder, init, openDatabase } from '../dist/index.js';
import { parseFixture } from '../dist/sources/fixture-splitter.js';
import { toColumnValue } from '../dist/values/values.js';

/** Above this a file is not JSON.parsed whole (V8's string limit is about 512 MiB): it is streamed. */
export const WHOLE_FILE_MAX_BYTES = 256 * 2 ** 20;

/** The parse floor: read and JSON.parse each whole staged fixture file (reading and decoding included). */
export function parseFloor(stage, manifest) {
  const started = process.hrtime.bigint();
  let objects = 0;
  for (const model of manifest.models.values()) {
    if (model.isPrivate) continue;
    objects += JSON.parse(readFileSync(path.join(stage, `${model.name}.json`), 'utf8')).length;
  }
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, objects };
}

async function readObjects(file) {
  if (statSync(file).size <= WHOLE_FILE_MAX_BYTES) return JSON.parse(readFileSync(file, 'utf8'));
  const all = [];
  for await (const o of parseFixture(createReadStream(file, { highWaterMark: 1 << 20 }))) all.push(o);
  return all;
}

/**
 * The staged rows of each table in dependency order, as column arrays plus value arrays (the
 * values converted for `dialect` as the install converts them), then the auto m2m link tables.
 */
async function* stagedTables(stage, manifest, dialect) {
  const links = [];
  for (const model of dependencyOrder(manifest).filter((m) => !m.isPrivate)) {
    const columns = [model.pk, ...model.fields.map((f) => f.name), ...model.fks.map((fk) => fk.column)];
    const rows = [];
    for (const o of await readObjects(path.join(stage, `${model.name}.json`))) {
      const row = [o.pk];
      for (const f of model.fields) row.push(toColumnValue(f, o.fields[f.name], dialect));
      for (const fk of model.fks) row.push(o.fields[fk.name] ?? null);
      rows.push(row);
      for (const m of model.m2m) if (m.kind === 'auto') for (const t of o.fields[m.name] ?? []) links.push([m, o.pk, t]);
    }
    yield { table: model.table, columns, rows };
  }
  const byTable = new Map();
  for (const [m, s, t] of links) {
    if (!byTable.has(m.table)) byTable.set(m.table, { table: m.table, columns: [m.source, m.target], rows: [] });
    byTable.get(m.table).rows.push([s, t]);
  }
  yield* byTable.values();
}

/** SQLite: one prepared INSERT per table, reused in one transaction on the raw better-sqlite3 handle. */
async function sqliteFloor(stage, manifest, url, dialect) {
  const db = new Database(url);
  // WAL as the install's connection; foreign keys off (better-sqlite3 turns them on): a floor checks nothing.
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = OFF');
  try {
    db.exec('BEGIN');
    for await (const { table, columns, rows } of stagedTables(stage, manifest, dialect)) {
      const insert = db.prepare(`INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
      for (const row of rows) insert.run(row);
    }
    db.exec('COMMIT');
  } finally {
    db.close();
  }
  return 'prepared INSERT in one transaction (raw better-sqlite3)';
}

/** PostgreSQL COPY text format: https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2 */
const copyValue = (v) => (v === null ? '\\N' : typeof v === 'boolean' ? (v ? 't' : 'f') : Buffer.isBuffer(v) ? `\\\\x${v.toString('hex')}` : String(v).replace(/[\\\n\r\t]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c]));

/** Rows as tab-separated lines, in strings of about 1 MB. */
function* tsvChunks(rows, encode) {
  let text = '';
  for (const row of rows) {
    text += `${row.map(encode).join('\t')}\n`;
    if (text.length >= 1 << 20) { yield text; text = ''; }
  }
  if (text) yield text;
}

/** PostgreSQL: COPY table (cols) FROM STDIN, all tables in one transaction, constraints deferred. */
async function postgresFloor(stage, manifest, url, dialect) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET CONSTRAINTS ALL DEFERRED');
    for await (const { table, columns, rows } of stagedTables(stage, manifest, dialect)) {
      const sql = `COPY "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) FROM STDIN`;
      await pipeline(Readable.from(tsvChunks(rows, copyValue)), client.query(copyFrom(sql)));
    }
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
  return 'COPY FROM STDIN';
}

/** MySQL LOAD DATA's default escapes (FIELDS ESCAPED BY '\\'): https://mariadb.com/kb/en/load-data-infile/ */
const infileValue = (v) => (v === null ? '\\N' : typeof v === 'boolean' ? (v ? '1' : '0') : String(v).replace(/[\\\n\r\t\0]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\0': '\\0' })[c]));

/** mysql2 copies each chunk of an infile stream as a Buffer. */
function* asBuffers(chunks) {
  for (const text of chunks) yield Buffer.from(text, 'utf8');
}

/** Multi-row INSERTs of this many rows (well under max_allowed_packet for these rows). */
const MYSQL_INSERT_ROWS = 5000;

/** MySQL: LOAD DATA LOCAL INFILE where the server allows it, else the largest multi-row INSERTs. */
async function mysqlFloor(stage, manifest, url, dialect) {
  const conn = await mysql.createConnection({ uri: url, flags: ['+LOCAL_FILES'] });
  const [[variable]] = await conn.query("SHOW VARIABLES LIKE 'local_infile'");
  const isInfile = variable?.Value === 'ON';
  try {
    await conn.query('SET FOREIGN_KEY_CHECKS = 0');
    await conn.query('START TRANSACTION');
    for await (const { table, columns, rows } of stagedTables(stage, manifest, dialect)) {
      const cols = columns.map((c) => `\`${c}\``).join(', ');
      if (isInfile) {
        await conn.query({ sql: `LOAD DATA LOCAL INFILE 'rows.tsv' INTO TABLE \`${table}\` CHARACTER SET utf8mb4 (${cols})`, infileStreamFactory: () => Readable.from(asBuffers(tsvChunks(rows, infileValue))) });
      } else {
        for (let i = 0; i < rows.length; i += MYSQL_INSERT_ROWS) await conn.query(`INSERT INTO \`${table}\` (${cols}) VALUES ?`, [rows.slice(i, i + MYSQL_INSERT_ROWS)]);
      }
    }
    await conn.query('COMMIT');
  } finally {
    await conn.end();
  }
  return isInfile ? 'LOAD DATA LOCAL INFILE' : `multi-row INSERT of ${MYSQL_INSERT_ROWS} rows (the server refuses LOAD DATA LOCAL: local_infile is OFF)`;
}

/**
 * The database floor: the staged rows loaded with their remote ids by the database's fastest
 * bulk path, timed from reading the files (JSON.parse of whole files) to the commit. The app's
 * tables are created first (as `init` does), outside the timing.
 */
export async function databaseFloor(stage, manifest, url) {
  await init({ app: manifest.app, db: url });
  const { knex, dialect } = openDatabase(url);
  await knex.destroy();
  const load = url.startsWith('postgres') ? postgresFloor : url.startsWith('mysql') ? mysqlFloor : sqliteFloor;
  const started = process.hrtime.bigint();
  const method = await load(stage, manifest, url, dialect);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, method };
}
