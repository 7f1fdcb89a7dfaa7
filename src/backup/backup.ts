import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import type { AppManifest } from '../manifest/types.js';
import { IDMAP_TABLE, REMOTE_TABLE, WATERMARK_TABLE } from '../schema/bookkeeping.js';

/** How many backups of a remote and app are kept by default. */
export const DEFAULT_KEEP_BACKUPS = 5;
const PAGE_ROWS = 5000;

/** A table a backup holds, the unique column it is read in order of, and its JSON columns. */
export interface BackupTable { table: string; orderBy: string; isKeyed: boolean; json: ReadonlySet<string> }

/**
 * The tables a backup holds: the bookkeeping tables a sync writes (registry, watermarks, id map) and
 * every table of the app (m2m tables too). The run history is a log, not state: not included.
 */
export function backupTables(manifest: AppManifest): BackupTable[] {
  const none = new Set<string>();
  const tables: BackupTable[] = [
    { table: manifest.registry, orderBy: 'id', isKeyed: true, json: none },
    { table: REMOTE_TABLE, orderBy: 'id', isKeyed: false, json: none },
    { table: WATERMARK_TABLE, orderBy: 'database_id', isKeyed: false, json: none },
    { table: IDMAP_TABLE, orderBy: 'original_db_id', isKeyed: false, json: none },
  ];
  for (const model of manifest.models.values()) {
    tables.push({ table: model.table, orderBy: model.pk, isKeyed: true, json: new Set(model.fields.filter((f) => f.type === 'json').map((f) => f.name)) });
    for (const m2m of model.m2m) if (m2m.kind === 'auto') tables.push({ table: m2m.table, orderBy: 'id', isKeyed: true, json: none });
  }
  return tables;
}

/** A JSON-safe form of a stored value: binary as base64, JSON columns tagged so that restore writes them back as JSON. */
function encode(value: unknown, isJson: boolean, dialect: DialectAdapter): unknown {
  if (Buffer.isBuffer(value)) return { $b64: value.toString('base64') };
  if (isJson && value !== null && value !== undefined) return { $json: typeof value === 'string' ? dialect.readJson(value) : value };
  return value;
}

/**
 * Write a snapshot of the app's and bookkeeping tables as gzipped JSON lines, reading through
 * `knex` (the install's transaction, so the snapshot is exactly what the install starts from).
 * `database` is the target's identity (targetIdentity): restore refuses another database.
 */
export async function writeBackup(knex: Knex | Knex.Transaction, dialect: DialectAdapter, manifest: AppManifest, dir: string, database: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = path.join(dir, `backup-${stamp}.jsonl.gz`);
  const tables = backupTables(manifest);
  async function* lines(): AsyncGenerator<string> {
    yield `${JSON.stringify({ format: 'remotesyncdb-backup', version: 1, app: manifest.app, manifest: manifest.source, dialect: dialect.name, database, created: new Date().toISOString(), tables: tables.map((t) => t.table) })}\n`;
    for (const { table, orderBy, isKeyed, json } of tables) {
      if (!(await knex.schema.hasTable(table))) continue;
      yield `${JSON.stringify({ table })}\n`;
      // Keyset pages: memory stays bounded whatever the table's size.
      for (let last: unknown = undefined; ;) {
        let query = knex(table).select('*').orderBy(orderBy);
        if (isKeyed) query = query.limit(PAGE_ROWS);
        if (isKeyed && last !== undefined) query = query.where(orderBy, '>', last as number);
        const rows = await query;
        for (const row of rows) yield `${JSON.stringify(Object.fromEntries(Object.entries(row).map(([k, v]) => [k, encode(v, json.has(k), dialect)])))}\n`;
        if (!isKeyed || rows.length < PAGE_ROWS) break;
        last = rows[rows.length - 1][orderBy];
      }
    }
  }
  await pipeline(Readable.from(lines()), createGzip(), createWriteStream(`${file}.partial`));
  await rename(`${file}.partial`, file);
  return file;
}

/** Delete all but the newest `keep` backups in `dir`. */
export async function pruneBackups(dir: string, keep: number): Promise<string[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => /^backup-.*\.jsonl\.gz$/.test(n)).sort();
  const old = names.slice(0, Math.max(0, names.length - keep));
  for (const name of old) await rm(path.join(dir, name), { force: true });
  return old;
}

