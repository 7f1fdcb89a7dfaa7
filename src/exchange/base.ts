import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import { insertRows } from '../install/insert.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../schema/app-tables.js';
import { IDMAP_TABLE } from '../schema/bookkeeping.js';
import type { BundleLine } from '../push/bundle.js';
import { serializeRows } from '../server/serialize.js';
import { nowDatetime } from '../values/values.js';
import { BASE_TABLE } from './exchange-tables.js';
import { versionOf, type Canon, type PeerTags, type RowRef, type Version } from './version.js';

const IN_BATCH = 500;

/** One agreed version of a row, as kept in the base table. */
export interface BaseRow { rowId: number; ref: RowRef; hash: string; fields?: Canon | null }

async function inBatches<T>(ids: readonly number[], fn: (slice: number[]) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += IN_BATCH) out.push(...(await fn(ids.slice(i, i + IN_BATCH))));
  return out;
}

/** The agreed versions of these rows (or of every row of the model, without `ids`), by local id. */
export async function loadBase(knex: Knex | Knex.Transaction, peerId: number, model: ModelDef, ids?: readonly number[], withFields = false): Promise<Map<number, BaseRow>> {
  const columns = ['row_id', 'ref', 'hash', ...(withFields ? ['fields'] : [])];
  const query = (slice?: number[]) => {
    const q = knex(BASE_TABLE).select(columns).where({ peer_id: peerId, model: model.name });
    return slice ? q.whereIn('row_id', slice) : q.orderBy('row_id');
  };
  const rows = ids ? await inBatches(ids, (slice) => query(slice)) : await query();
  const out = new Map<number, BaseRow>();
  for (const r of rows) out.set(Number(r.row_id), { rowId: Number(r.row_id), ref: String(r.ref), hash: String(r.hash), fields: withFields && r.fields ? (JSON.parse(String(r.fields)) as Canon) : null });
  return out;
}

/** Record agreed versions (replacing what was there for those rows). */
export async function writeBase(trx: Knex.Transaction, dialect: DialectAdapter, peerId: number, model: ModelDef, rows: readonly BaseRow[]): Promise<void> {
  if (rows.length === 0) return;
  await dropBase(trx, peerId, model, rows.map((r) => r.rowId));
  const changed = new Date().toISOString();
  for (let i = 0; i < rows.length; i += 100) {
    await insertRows(trx, dialect, BASE_TABLE, rows.slice(i, i + 100).map((r) => ({ peer_id: peerId, model: model.name, row_id: r.rowId, ref: r.ref, hash: r.hash, fields: r.fields ? JSON.stringify(r.fields) : null, changed })));
  }
}

/** Forget the agreed versions of these rows. */
export async function dropBase(trx: Knex.Transaction, peerId: number, model: ModelDef, ids: readonly number[]): Promise<void> {
  for (let i = 0; i < ids.length; i += IN_BATCH) await trx(BASE_TABLE).where({ peer_id: peerId, model: model.name }).whereIn('row_id', ids.slice(i, i + IN_BATCH)).del();
}

/** Forget the agreed versions kept under another id for these rows' identities (a row re-created under a new id). */
export async function dropStaleBase(trx: Knex.Transaction, peerId: number, model: ModelDef, rows: ReadonlyArray<{ rowId: number; ref: RowRef }>): Promise<void> {
  for (const { rowId, ref } of rows) await trx(BASE_TABLE).where({ peer_id: peerId, model: model.name, ref }).whereNot('row_id', rowId).del();
}

/** The current versions of these local rows (a row that does not exist is absent). */
export async function versionsOf(knex: Knex | Knex.Transaction, dialect: DialectAdapter, manifest: AppManifest, model: ModelDef, ids: readonly number[], tags: PeerTags): Promise<Map<number, Version>> {
  const out = new Map<number, Version>();
  for await (const object of serializeRows(knex, dialect, manifest, model, ids)) out.set(object.pk, versionOf(manifest, model, object.fields, (m, id) => tags.ref(m, id)));
  return out;
}

/**
 * Delete one row of `model` for an exchange, or say why it cannot go: another row still points
 * at it (an FK, or its own MTI child), which a delete must never break. Auto m2m links to and
 * from it go with it, as Django deletes them. Returns undefined when deleted.
 */
export async function deleteRow(trx: Knex.Transaction, manifest: AppManifest, model: ModelDef, id: number): Promise<string | undefined> {
  for (const other of manifest.models.values()) {
    if (other.parent === model.name && (await trx(other.table).where(other.pk, id).first(other.pk))) return `its ${other.name} row still exists`;
    for (const fk of other.fks) {
      if (fk.to !== model.name) continue;
      const user = await trx(other.table).where(fk.column, id).first(other.pk);
      if (user) return `${other.name} ${String(user[other.pk])} still refers to it (${fk.name})`;
    }
  }
  for (const other of manifest.models.values()) {
    for (const m2m of other.m2m) {
      if (m2m.kind !== 'auto') continue;
      if (m2m.to === model.name) await trx(m2m.table).where(m2m.target, id).del();
      if (other.name === model.name) await trx(m2m.table).where(m2m.source, id).del();
    }
  }
  await trx(model.table).where(model.pk, id).del();
  return undefined;
}

/** Which registry id tags the root rows of these ids (null: the database's own). */
export async function originsOf(knex: Knex | Knex.Transaction, manifest: AppManifest, model: ModelDef, ids: readonly number[]): Promise<Map<number, number | null>> {
  const root = manifest.models.get(model.root)!;
  const rows = await inBatches(ids, (slice) => knex(root.table).select(`${root.pk} as id`, `${ORIGINAL_DB} as db`).whereIn(root.pk, slice));
  return new Map(rows.map((r) => [Number(r.id), r.db === null || r.db === undefined ? null : Number(r.db)]));
}

/** Ids per claims line, so that no line grows without bound. */
const PER_LINE = 5000;

/**
 * A model's section opening in a bundle or a feed: its section line, then, for a root, its
 * claims, `[local id, the peer's pk]` of every row tagged with the peer. Always one claims line,
 * even empty: the receiver replaces what it kept with them (a stale claim must go).
 */
export async function* sectionLines(knex: Knex | Knex.Transaction, model: ModelDef, peerId: number): AsyncGenerator<BundleLine> {
  yield { text: JSON.stringify({ section: model.name, modifiedAfter: null, pks: [] }), isObject: false };
  if (model.parent !== undefined) return;
  const rows = await knex(model.table).select(`${model.pk} as id`, `${ORIGINAL_ID} as original`).where(ORIGINAL_DB, peerId).orderBy(model.pk);
  for (let i = 0; i === 0 || i < rows.length; i += PER_LINE) yield { text: JSON.stringify({ claims: rows.slice(i, i + PER_LINE).map((r) => [Number(r.id), Number(r.original)]) }), isObject: false };
}

/** Make a peer's claims of a root model exactly `wanted` (its pk -> the local id), writing only what differs. */
export async function replaceClaims(trx: Knex.Transaction, peerId: number, model: ModelDef, wanted: ReadonlyMap<number, number>): Promise<void> {
  const where = { original_db_id: peerId, model: model.name };
  const kept = new Map((await trx(IDMAP_TABLE).select('original_id', 'local_id').where(where)).map((r) => [Number(r.original_id), Number(r.local_id)]));
  const gone = [...kept].filter(([theirs, local]) => wanted.get(theirs) !== local).map(([theirs]) => theirs);
  for (let i = 0; i < gone.length; i += IN_BATCH) await trx(IDMAP_TABLE).where(where).whereIn('original_id', gone.slice(i, i + IN_BATCH)).del();
  const fresh = [...wanted].filter(([theirs, local]) => kept.get(theirs) !== local);
  for (let i = 0; i < fresh.length; i += 200) await trx(IDMAP_TABLE).insert(fresh.slice(i, i + 200).map(([theirs, local]) => ({ ...where, original_id: theirs, local_id: local })));
}

/** Clear the origin tags of these rows' root: they are this database's own from now on. */
export async function untag(trx: Knex.Transaction, manifest: AppManifest, model: ModelDef, ids: readonly number[]): Promise<void> {
  const root = manifest.models.get(model.root)!;
  for (let i = 0; i < ids.length; i += IN_BATCH) await trx(root.table).whereIn(root.pk, ids.slice(i, i + IN_BATCH)).update({ [ORIGINAL_DB]: null, [ORIGINAL_ID]: null });
}

/** Move a root row's lastModified column to now (a resolution written by hand is an edit). */
export async function touch(trx: Knex.Transaction, manifest: AppManifest, model: ModelDef, id: number): Promise<void> {
  const root = manifest.models.get(model.root)!;
  if (root.lastModified) await trx(root.table).where(root.pk, id).update({ [root.lastModified]: nowDatetime() });
}
