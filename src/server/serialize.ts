import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import { fixtureModelKey } from '../manifest/load-manifest.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { toFixtureValue } from '../values/values.js';

/** Rows per keyset page: bounds the memory of a served model whatever its size. */
export const PAGE_ROWS = 2000;

/** One object as Django's serializer writes it. */
export interface SerializedObject { model: string; pk: number; fields: Record<string, unknown> }

/** Filter for `modified_after`: rows whose root's lastModified column is later than `after`. */
export interface ModifiedAfter { after: string }

/** `?field=value`: own columns of the model and the values they must equal (null: IS NULL), already checked. */
export type Equals = ReadonlyArray<{ column: string; value: Knex.Value }>;

/**
 * A model's fixture objects in pk order, one keyset page at a time (`WHERE pk > last ORDER
 * BY pk LIMIT n`), exactly as Django's serializer writes them: an MTI child carries only its
 * own fields, FKs are the target's pk, auto m2m fields are lists of pks, through m2m absent.
 * The origin tags stay out of `fields` (DESIGN §8): to a client one level up, this database's
 * replicated rows are its own objects.
 */
export async function* serializeModel(knex: Knex, dialect: DialectAdapter, manifest: AppManifest, model: ModelDef, filter?: ModifiedAfter, equals: Equals = []): AsyncGenerator<SerializedObject> {
  const key = fixtureModelKey(manifest, model);
  const root = manifest.models.get(model.root)!;
  const isRoot = model.parent === undefined;
  let last = 0;
  for (;;) {
    let query = knex(model.table).select(`${model.table}.*`).where(`${model.table}.${model.pk}`, '>', last).orderBy(`${model.table}.${model.pk}`).limit(PAGE_ROWS);
    for (const { column, value } of equals) query = value === null ? query.whereNull(`${model.table}.${column}`) : query.where(`${model.table}.${column}`, value);
    if (filter) {
      if (isRoot) query = query.where(`${model.table}.${root.lastModified!}`, '>', filter.after);
      else query = query.join(root.table, `${root.table}.${root.pk}`, `${model.table}.${model.pk}`).where(`${root.table}.${root.lastModified!}`, '>', filter.after);
    }
    // Give the event loop a turn per page: with a synchronous driver (better-sqlite3) a whole
    // table would otherwise stream before any other request is even read.
    await new Promise((resolve) => setImmediate(resolve));
    const rows = await query;
    if (rows.length === 0) return;
    yield* toObjects(knex, dialect, key, model, rows);
    last = Number(rows[rows.length - 1][model.pk]);
    if (rows.length < PAGE_ROWS) return;
  }
}

/** Objects of the rows with these pks (any order in, pk order out), for an exchange's comparisons. */
export async function* serializeRows(knex: Knex, dialect: DialectAdapter, manifest: AppManifest, model: ModelDef, pks: readonly number[]): AsyncGenerator<SerializedObject> {
  const key = fixtureModelKey(manifest, model);
  const sorted = [...pks].sort((a, b) => a - b);
  for (let i = 0; i < sorted.length; i += 900) {
    const rows = await knex(model.table).select('*').whereIn(model.pk, sorted.slice(i, i + 900)).orderBy(model.pk);
    yield* toObjects(knex, dialect, key, model, rows);
  }
}

/** Rows of one page as Django fixture objects, with their auto m2m lists. */
async function* toObjects(knex: Knex, dialect: DialectAdapter, key: string, model: ModelDef, rows: Array<Record<string, unknown>>): AsyncGenerator<SerializedObject> {
  const autoM2m = model.m2m.filter((m) => m.kind === 'auto');
  const links = new Map<string, Map<number, number[]>>();
  for (const m2m of autoM2m) {
    if (m2m.kind !== 'auto') continue;
    const byOwner = new Map<number, number[]>();
    const linkRows = await knex(m2m.table).select(`${m2m.source} as s`, `${m2m.target} as t`).whereIn(m2m.source, rows.map((r) => r[model.pk] as number)).orderBy([m2m.source, m2m.target]);
    for (const link of linkRows) {
      const s = Number(link.s);
      if (!byOwner.has(s)) byOwner.set(s, []);
      byOwner.get(s)!.push(Number(link.t));
    }
    links.set(m2m.name, byOwner);
  }
  for (const row of rows) {
    const pk = Number(row[model.pk]);
    const fields: Record<string, unknown> = {};
    for (const field of model.fields) fields[field.name] = toFixtureValue(field, row[field.name], dialect);
    for (const fk of model.fks) fields[fk.name] = row[fk.column] === null ? null : Number(row[fk.column]);
    for (const m2m of autoM2m) fields[m2m.name] = links.get(m2m.name)!.get(pk) ?? [];
    yield { model: key, pk, fields };
  }
}

/**
 * Every pk of a model in order, as `{ pk }` objects one keyset page at a time: the ids list a
 * `--prune` client compares with its rows (shaped like a fixture, so it is fetched, checked and
 * staged like one).
 */
export async function* serializeIds(knex: Knex, model: ModelDef): AsyncGenerator<object> {
  let last = 0;
  for (;;) {
    await new Promise((resolve) => setImmediate(resolve));
    const rows = await knex(model.table).select(model.pk).where(model.pk, '>', last).orderBy(model.pk).limit(PAGE_ROWS * 10);
    for (const row of rows) yield { pk: Number(row[model.pk]) };
    if (rows.length < PAGE_ROWS * 10) return;
    last = Number(rows[rows.length - 1][model.pk]);
  }
}
