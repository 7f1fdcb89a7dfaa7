import { openDatabase } from '../dialects/index.js';
import { ConfigError, ModelInstallError } from '../errors.js';
import { InvalidElement } from '../fixtures/fixture-splitter.js';
import { readFixtureFile } from '../fixtures/work-dir.js';
import { checkFixtureObject, type FixtureObject } from '../install/fixture-object.js';
import { batchSize, insertRows } from '../install/insert.js';
import { ensureSchema } from '../schema/ensure-schema.js';
import { loadManifest } from '../manifest/load-manifest.js';
import { dependencyOrder } from '../manifest/order.js';
import type { ModelDef } from '../manifest/types.js';
import { nowDatetime, toColumnValue, ValueError } from '../values/values.js';

/** Options of `remotesyncdb loaddata`. */
export interface LoadDataOptions { app: string; db?: string; files: readonly string[] }

/**
 * Django's loaddata: load fixtures keeping their pks, as the instance's own (untagged) data,
 * in one transaction with FK checks deferred to the commit. An existing pk is overwritten.
 * Returns the number of objects loaded.
 */
export async function loaddata(options: LoadDataOptions): Promise<number> {
  const manifest = loadManifest(options.app);
  const byKey = new Map([...manifest.models.values()].map((m) => [`${manifest.label}.${m.name.toLowerCase()}`, m]));
  const objects = new Map<string, FixtureObject[]>();
  for (const file of options.files) {
    let position = 0;
    try {
      for await (const raw of readFixtureFile(file)) {
        position++;
        if (raw instanceof InvalidElement) throw new ConfigError(`${file}: object #${position} is not valid JSON: ${raw.message}`, { meta: { file } });
        const key = typeof (raw as { model?: unknown })?.model === 'string' ? ((raw as { model: string }).model).toLowerCase() : '';
        const model = byKey.get(key);
        if (!model) throw new ConfigError(`${file}: object #${position} is of model ${JSON.stringify((raw as { model?: unknown })?.model)}, which app ${manifest.app} does not have`, { meta: { file } });
        const object = checkFixtureObject(raw, manifest, model, file, position);
        if (!objects.has(model.name)) objects.set(model.name, []);
        objects.get(model.name)!.push(object);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new ConfigError(`loaddata: no such file ${file}`);
      if (error instanceof Error && error.name === 'FixtureSyntaxError') throw new ConfigError(`${file}: not a fixture: ${error.message}`, { meta: { file } });
      throw error;
    }
  }
  const db = openDatabase(options.db);
  const now = nowDatetime();
  let count = 0;
  try {
    await ensureSchema(db.knex, db.dialect, manifest, 'add-tags');
    await db.knex.transaction(async (trx) => {
      await db.dialect.deferConstraints(trx);
      for (const model of dependencyOrder(manifest)) {
        const list = objects.get(model.name) ?? [];
        const size = batchSize(db.dialect, 3 + model.fields.length + model.fks.length);
        for (let i = 0; i < list.length; i += size) {
          const slice = list.slice(i, i + size);
          const rows = slice.map((o) => toRow(model, o, now, db.dialect));
          const existing = new Set((await trx(model.table).select(model.pk).whereIn(model.pk, slice.map((o) => o.pk))).map((r) => Number(r[model.pk])));
          const fresh = rows.filter((r) => !existing.has(r[model.pk] as number));
          if (fresh.length > 0) await insertRows(trx, db.dialect, model.table, fresh);
          for (const row of rows) if (existing.has(row[model.pk] as number)) await trx(model.table).where(model.pk, row[model.pk] as number).update(row);
          for (const m2m of model.m2m) {
            if (m2m.kind !== 'auto') continue;
            const owners = slice.filter((o) => Array.isArray(o.fields[m2m.name]));
            if (owners.length === 0) continue;
            await trx(m2m.table).whereIn(m2m.source, owners.map((o) => o.pk)).del();
            const links = owners.flatMap((o) => [...new Set(o.fields[m2m.name] as number[])].map((t) => ({ [m2m.source]: o.pk, [m2m.target]: t })));
            for (let j = 0; j < links.length; j += 1000) await insertRows(trx, db.dialect, m2m.table, links.slice(j, j + 1000));
          }
          count += slice.length;
        }
        if (list.length > 0) await db.dialect.resetSequence(trx, model.table, model.pk);
      }
    });
  } finally {
    await db.knex.destroy();
  }
  return count;
}

function toRow(model: ModelDef, object: FixtureObject, now: string, dialect: Parameters<typeof toColumnValue>[2]): Record<string, unknown> {
  const row: Record<string, unknown> = { [model.pk]: object.pk };
  const fail = (field: string, message: string): never => {
    throw new ModelInstallError(`${model.name} pk=${object.pk}: ${field} ${message}`, { meta: { model: model.name, pk: object.pk, field } });
  };
  for (const field of model.fields) {
    let value = object.fields[field.name];
    if (field.name === model.lastModified && (value === undefined || value === null)) value = now;
    try {
      row[field.name] = toColumnValue(field, value, dialect);
    } catch (error) {
      if (error instanceof ValueError) fail(field.name, error.message);
      throw error;
    }
  }
  for (const fk of model.fks) {
    const value = object.fields[fk.name];
    if ((value === null || value === undefined) && !fk.isNullable) fail(fk.name, 'is a NOT NULL foreign key but is missing or null');
    if (value !== null && value !== undefined && !Number.isSafeInteger(value)) fail(fk.name, `expects a pk, got ${JSON.stringify(value)}`);
    row[fk.column] = value ?? null;
  }
  return row;
}
