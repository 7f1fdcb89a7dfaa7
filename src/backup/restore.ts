import { createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { openDatabase } from '../dialects/index.js';
import { ConfigError } from '../errors.js';
import { ensureSchema } from '../schema/ensure-schema.js';
import { loadManifest } from '../manifest/load-manifest.js';
import type { AppManifest } from '../manifest/types.js';
import { insertRows } from '../install/insert.js';
import { backupTables, writeBackup } from './backup.js';
import { targetIdentity } from '../sources/target-identity.js';
import { databaseDir, defaultWorkDir } from '../sources/work-dir.js';

/** Options of `remotesyncdb restore`. */
export interface RestoreOptions {
  file: string;
  db?: string;
  /** Overrides the manifest recorded in the backup. */
  app?: string;
  /** Restore a backup of another database (or one that records none). */
  force?: boolean;
  /** Where the snapshot of what the restore replaces goes: `<work dir>/<database>/before-restore/`. */
  workDir?: string;
}

/** What a restore did. */
export interface RestoreResult {
  tables: number;
  rows: number;
  /** The snapshot of the tables as they were before the restore (restore it to undo). */
  snapshot: string;
}

const BATCH = 500;

/**
 * Bring the app's and bookkeeping tables back to a backup, in one transaction: every table the
 * backup holds is emptied and refilled with its rows, FK checks deferred to the commit.
 */
export async function restore(options: RestoreOptions): Promise<RestoreResult> {
  if (!existsSync(options.file)) throw new ConfigError(`restore: no such file ${options.file}`, { meta: { file: options.file } });
  const lines = createInterface({ input: createReadStream(options.file).pipe(createGunzip()), crlfDelay: Infinity });
  const iterator = lines[Symbol.asyncIterator]();
  let header: { format?: string; app?: string; manifest?: string; tables?: string[]; database?: string };
  try {
    const first = await iterator.next();
    header = JSON.parse(first.value ?? '');
  } catch (error) {
    throw new ConfigError(`restore: ${options.file} is not a remotesyncdb backup (${(error as Error).message})`, { meta: { file: options.file } });
  }
  if (header.format !== 'remotesyncdb-backup' || !header.app) throw new ConfigError(`restore: ${options.file} is not a remotesyncdb backup`, { meta: { file: options.file } });
  const here = targetIdentity(options.db);
  if (header.database !== here && !options.force) {
    const from = header.database ? `was taken from ${header.database}` : 'records no database it was taken from';
    throw new ConfigError(`restore: ${options.file} ${from}, not ${here}; restoring it would replace this database's tables with another's. Add --force to restore it anyway`, { meta: { file: options.file } });
  }
  const manifest: AppManifest = loadManifest(options.app ?? header.manifest ?? header.app);
  const known = new Map(backupTables(manifest).map((t) => [t.table, t]));
  const db = openDatabase(options.db);
  let rows = 0;
  let tables = 0;
  let snapshot = '';
  try {
    await ensureSchema(db.knex, db.dialect, manifest, 'add-tags');
    await db.knex.transaction(async (trx) => {
      // What is about to be replaced, first: a restore is undone by restoring this.
      snapshot = await writeBackup(trx, db.dialect, manifest, path.join(databaseDir(options.workDir ?? defaultWorkDir(), options.db), 'before-restore'), here);
      await db.dialect.deferConstraints(trx);
      // Empty app tables before the registry they reference.
      for (const { table } of [...backupTables(manifest)].reverse()) if (header.tables?.includes(table)) await trx(table).del();
      let table: string | undefined;
      let batch: Record<string, unknown>[] = [];
      const flush = async () => {
        if (table && batch.length > 0) await insertRows(trx, db.dialect, table, batch);
        rows += batch.length;
        batch = [];
      };
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        if (!next.value.trim()) continue;
        const line = JSON.parse(next.value) as Record<string, unknown>;
        if (typeof line.table === 'string' && Object.keys(line).length === 1) {
          await flush();
          if (table) await resetIfSerial(table);
          if (!known.has(line.table)) throw new ConfigError(`restore: the backup holds table ${line.table}, which app ${manifest.app} does not have`);
          table = line.table;
          tables++;
          continue;
        }
        batch.push(Object.fromEntries(Object.entries(line).map(([k, v]) => [k, decode(v)])));
        if (batch.length >= BATCH) await flush();
      }
      await flush();
      if (table) await resetIfSerial(table);

      async function resetIfSerial(name: string) {
        const spec = known.get(name)!;
        if (spec.isKeyed) await db.dialect.resetSequence(trx, name, spec.orderBy);
      }
    });
  } finally {
    await db.knex.destroy();
  }
  return { tables, rows, snapshot };
}

function decode(value: unknown): unknown {
  if (value && typeof value === 'object' && '$b64' in value) return Buffer.from((value as { $b64: string }).$b64, 'base64');
  if (value && typeof value === 'object' && '$json' in value) return JSON.stringify((value as { $json: unknown }).$json);
  return value;
}
