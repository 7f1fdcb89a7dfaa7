import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { openDatabase, type Database } from '../../src/dialects/index.js';
import type { AppManifest, ModelDef } from '../../src/manifest/types.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../../src/schema/app-tables.js';
import { REMOTE_TABLE } from '../../src/schema/bookkeeping.js';
import { canonical } from '../../src/values/values.js';

/** Run `fn` with an open database, destroying it afterwards. */
export async function withDb<T>(url: string, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = openDatabase(url);
  try {
    return await fn(db);
  } finally {
    await db.knex.destroy();
  }
}

/** Every table of the app (and its m2m tables) plus the registry and the tool's columns of it: the tables a sync may write. */
export function appTables(manifest: AppManifest): Array<{ table: string; orderBy: string }> {
  const tables = [{ table: manifest.registry, orderBy: 'id' }, { table: REMOTE_TABLE, orderBy: 'id' }];
  for (const m of manifest.models.values()) {
    tables.push({ table: m.table, orderBy: m.pk });
    for (const link of m.m2m) if (link.kind === 'auto') tables.push({ table: link.table, orderBy: 'id' });
  }
  return tables;
}

/** A digest per table of every row's values, to prove "exactly as it was" (the registry's last_sync aside). */
export async function tableDigests(url: string, manifest: AppManifest): Promise<Record<string, string>> {
  return withDb(url, async (db) => {
    const out: Record<string, string> = {};
    for (const { table, orderBy } of appTables(manifest)) {
      if (!(await db.knex.schema.hasTable(table))) {
        out[table] = 'absent';
        continue;
      }
      const rows = await db.knex(table).select('*').orderBy(orderBy);
      // The registry's last_sync is the remote's clock, mirrored from remotesyncdb_remote: it moves with every successful run.
      if (table === manifest.registry) for (const row of rows) delete row.last_sync;
      out[table] = `${rows.length}:${createHash('sha256').update(JSON.stringify(rows, (_k, v) => (Buffer.isBuffer(v) ? v.toString('base64') : v))).digest('hex').slice(0, 16)}`;
    }
    return out;
  });
}

/** remote pk -> local id of one remote, per root model: the rows it created and the rows it claimed by natural key. */
async function idMap(db: Database, manifest: AppManifest, model: ModelDef, remoteId: number): Promise<Map<number, number>> {
  const root = manifest.models.get(model.root)!;
  const rows = await db.knex(root.table).select(root.pk, ORIGINAL_ID).where(ORIGINAL_DB, remoteId);
  const map = new Map(rows.map((r) => [Number(r[ORIGINAL_ID]), Number(r[root.pk])]));
  if (await db.knex.schema.hasTable('remotesyncdb_idmap')) {
    for (const c of await db.knex('remotesyncdb_idmap').where({ original_db_id: remoteId, model: root.name })) map.set(Number(c.original_id), Number(c.local_id));
  }
  return map;
}

/**
 * Assert the target's rows of one remote are a graph-isomorphic copy of the source: same
 * objects per model, same values, and every FK and auto m2m link translated through the id map.
 * Returns the number of objects compared.
 */
export async function assertIsomorphic(sourceUrl: string, targetUrl: string, manifest: AppManifest, hostname: string, models?: string[]): Promise<number> {
  return withDb(sourceUrl, (source) => withDb(targetUrl, async (target) => {
    const remote = await target.knex(manifest.registry).where({ hostname }).first();
    expect(remote, `remote ${hostname} registered`).toBeTruthy();
    const remoteId = Number(remote.id);
    let compared = 0;
    for (const model of manifest.models.values()) {
      if (model.isPrivate || (models && !models.includes(model.name))) continue;
      const map = await idMap(target, manifest, model, remoteId);
      const sourceRows = await source.knex(model.table).select('*').orderBy(model.pk);
      const localIds = sourceRows.map((r) => map.get(Number(r[model.pk])));
      expect(localIds.every((id) => id !== undefined), `${model.name}: every source object has a local id`).toBe(true);
      const root = manifest.models.get(model.root)!;
      const claimed = model.parent ? 0 : [...map.values()].length - Number((await target.knex(model.table).where(ORIGINAL_DB, remoteId).count({ n: '*' }))[0].n);
      const targetCount = claimed + (model.parent
        ? Number((await target.knex(model.table).join(root.table, `${root.table}.${root.pk}`, `${model.table}.${model.pk}`).where(`${root.table}.${ORIGINAL_DB}`, remoteId).count({ n: '*' }))[0].n)
        : Number((await target.knex(model.table).where(ORIGINAL_DB, remoteId).count({ n: '*' }))[0].n));
      expect(targetCount, `${model.name}: as many rows from ${hostname} as the source has`).toBe(sourceRows.length);
      const targetRows = new Map<number, Record<string, unknown>>();
      for (let i = 0; i < localIds.length; i += 500) {
        for (const row of await target.knex(model.table).select('*').whereIn(model.pk, localIds.slice(i, i + 500) as number[])) targetRows.set(Number(row[model.pk]), row);
      }
      const fkMaps = new Map<string, Map<number, number>>();
      for (const fk of model.fks) fkMaps.set(fk.name, await idMap(target, manifest, manifest.models.get(fk.to)!, remoteId));
      // Rows claimed by natural key belong to someone else: their values follow the policy, not this remote.
      const own = new Set((await target.knex(root.table).select(root.pk).where(ORIGINAL_DB, remoteId)).map((r) => Number(r[root.pk])));
      for (const [i, src] of sourceRows.entries()) {
        const dst = targetRows.get(localIds[i]!)!;
        const where = `${model.name} pk=${src[model.pk]}`;
        expect(dst, where).toBeTruthy();
        if (!own.has(localIds[i]!)) {
          compared++;
          continue;
        }
        for (const field of model.fields) {
          if (field.name === root.lastModified) continue;
          expect(canonical(field, dst[field.name], target.dialect), `${where}.${field.name}`).toEqual(canonical(field, src[field.name], source.dialect));
        }
        for (const fk of model.fks) {
          const want = src[fk.column] === null ? null : fkMaps.get(fk.name)!.get(Number(src[fk.column]));
          expect(dst[fk.column] === null ? null : Number(dst[fk.column]), `${where}.${fk.name}`).toBe(want);
        }
        compared++;
      }
      for (const link of model.m2m) {
        if (link.kind !== 'auto') continue;
        const targetMap = await idMap(target, manifest, manifest.models.get(link.to)!, remoteId);
        const want = (await source.knex(link.table).select(link.source, link.target)).filter((r) => own.has(map.get(Number(r[link.source]))!)).map((r) => `${map.get(Number(r[link.source]))}->${targetMap.get(Number(r[link.target]))}`).sort();
        const owners = [...map.values()].filter((id) => own.has(id));
        const got = (await target.knex(link.table).select(link.source, link.target).whereIn(link.source, owners)).map((r) => `${Number(r[link.source])}->${Number(r[link.target])}`).sort();
        expect(got, `${model.name}.${link.name} links`).toEqual(want);
      }
    }
    return compared;
  }));
}
