import { openDatabase, type DialectAdapter } from '../dialects/index.js';
import { ConfigError, ModelInstallError } from '../errors.js';
import { InvalidElement } from '../sources/fixture-splitter.js';
import { readFixtureFile } from '../sources/work-dir.js';
import { decodeObject, ObjectProblem, ownLastModified, type DecodedObject } from '../install/decode-object.js';
import { checkFixtureObject, type FixtureObject } from '../install/fixture-object.js';
import { batchSize, insertRows } from '../install/insert.js';
import { ensureSchema } from '../schema/ensure-schema.js';
import { fixtureModelKey, loadManifest } from '../manifest/load-manifest.js';
import { dependencyOrder } from '../manifest/order.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { nowDatetime, toColumnValue } from '../values/values.js';

/** Options of `remotesyncdb loaddata`. */
export interface LoadDataOptions { app: string; db?: string; files: readonly string[] }

/**
 * Django's loaddata: load fixtures keeping their pks, as the instance's own (untagged) data,
 * in one transaction with FK checks deferred to the commit. An existing pk is overwritten.
 * Returns the number of objects loaded.
 */
export async function loaddata(options: LoadDataOptions): Promise<number> {
  const manifest = loadManifest(options.app);
  const byKey = new Map([...manifest.models.values()].map((m) => [fixtureModelKey(manifest, m), m]));
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
          const decoded = slice.map((o) => toRow(manifest, model, o, now, db.dialect));
          const rows = decoded.map((d) => d.row);
          const existing = new Set((await trx(model.table).select(model.pk).whereIn(model.pk, slice.map((o) => o.pk))).map((r) => Number(r[model.pk])));
          const fresh = rows.filter((r) => !existing.has(r[model.pk] as number));
          if (fresh.length > 0) await insertRows(trx, db.dialect, model.table, fresh);
          for (const row of rows) if (existing.has(row[model.pk] as number)) await trx(model.table).where(model.pk, row[model.pk] as number).update(row);
          for (const m2m of model.m2m) {
            if (m2m.kind !== 'auto') continue;
            const owners = decoded.flatMap((d, k) => d.m2m.filter((l) => l.m2m === m2m).map((l) => ({ pk: slice[k].pk, targets: l.targets })));
            if (owners.length === 0) continue;
            await trx(m2m.table).whereIn(m2m.source, owners.map((o) => o.pk)).del();
            const links = owners.flatMap((o) => [...new Set(o.targets)].map((t) => ({ [m2m.source]: o.pk, [m2m.target]: t })));
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

/** A fixture object as a row with its own pk and FK values, and its auto m2m lists (the install's checks). */
function toRow(manifest: AppManifest, model: ModelDef, object: FixtureObject, now: string, dialect: DialectAdapter): { row: Record<string, unknown>; m2m: DecodedObject['m2m'] } {
  let decoded: DecodedObject;
  try {
    decoded = decodeObject(manifest, model, object, dialect);
  } catch (error) {
    if (error instanceof ObjectProblem) throw new ModelInstallError(`${model.name} pk=${object.pk}: ${error.message}`, { meta: { model: model.name, pk: object.pk, field: error.field } });
    throw error;
  }
  const row: Record<string, unknown> = { [model.pk]: object.pk, ...decoded.row };
  // The instance's own data keeps its change time (now when it has none).
  const lastModified = model.fields.find((f) => f.name === ownLastModified(model));
  if (lastModified) row[lastModified.name] = toColumnValue(lastModified, object.fields[lastModified.name] ?? now, dialect);
  for (const { fk, target } of decoded.fks) row[fk.column] = target;
  return { row, m2m: decoded.m2m };
}
