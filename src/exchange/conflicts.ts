import { readFileSync } from 'node:fs';
import type { Knex } from 'knex';
import { connectExistingDatabase, type Database } from '../dialects/index.js';
import { ConfigError } from '../errors.js';
import { getModel, loadManifest } from '../manifest/load-manifest.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../schema/app-tables.js';
import { toColumnValue } from '../values/values.js';
import { deleteRow, touch } from './base.js';
import { CONFLICT_TABLE } from './exchange-tables.js';
import { parseRef, type Canon } from './version.js';

/** A conflict as `conflicts list|show` print it. */
export interface Conflict {
  id: number;
  site: string;
  model: string;
  /** The centre's id of the row (null: the centre had deleted it). */
  row: number | null;
  ref: string;
  home: string;
  policy: string;
  decision: string;
  reason: string;
  status: string;
  created: string;
  resolved: string | null;
  /** The versions: fields with references as row identities (`c<centre id>`, `s<site pk>`); null where deleted. */
  base: Canon | null;
  siteVersion: Canon | null;
  centreVersion: Canon | null;
}

/** Options of the `conflicts` commands (run at the centre), and of the console's conflict pages. */
export interface ConflictOptions {
  db?: string;
  app: string;
  /** An open connection to use instead of `db` (the console's; left open). */
  database?: Database;
}

async function withCentre<T>(options: ConflictOptions, fn: (db: Database, manifest: AppManifest) => Promise<T>): Promise<T> {
  const manifest = loadManifest(options.app);
  const db = options.database ?? (await connectExistingDatabase(options.db));
  try {
    if (!(await db.knex.schema.hasTable(CONFLICT_TABLE))) throw new ConfigError(`${db.display} has no exchange conflicts table: is it a centre (serve --accept-push)?`);
    return await fn(db, manifest);
  } finally {
    if (!options.database) await db.knex.destroy();
  }
}

const parse = (text: unknown): Canon | null => (text === null || text === undefined ? null : (JSON.parse(String(text)) as Canon));

function toConflict(r: Record<string, unknown>): Conflict {
  return {
    id: Number(r.id), site: String(r.site_name), model: String(r.model), row: r.row_id === null ? null : Number(r.row_id), ref: String(r.ref), home: String(r.home), policy: String(r.policy),
    decision: String(r.decision), reason: String(r.reason), status: String(r.status), created: String(r.created), resolved: r.resolved === null ? null : String(r.resolved),
    base: parse(r.base), siteVersion: parse(r.site_version), centreVersion: parse(r.centre_version),
  };
}

function conflicts(knex: Knex, manifest: AppManifest) {
  return knex(`${CONFLICT_TABLE} as c`).join(`${manifest.registry} as r`, 'r.id', 'c.site_id').select('c.*', 'r.name as site_name');
}

/** Which conflicts: one site's, of one status (open: those a manual policy holds). */
export interface ConflictFilter { site?: string; status?: string }

function filtered(knex: Knex, manifest: AppManifest, filter: ConflictFilter): Knex.QueryBuilder {
  let q = conflicts(knex, manifest);
  if (filter.site) q = q.where('r.name', filter.site);
  if (filter.status) q = q.where('c.status', filter.status);
  return q;
}

/** `conflicts list`: newest first, at most `limit`. */
export async function listConflicts(options: ConflictOptions & ConflictFilter & { limit?: number }): Promise<Conflict[]> {
  return withCentre(options, async (db, manifest) => {
    const q = filtered(db.knex, manifest, options).orderBy('c.id', 'desc');
    return (await (options.limit ? q.limit(options.limit) : q)).map(toConflict);
  });
}

/** How many conflicts the filter keeps. */
export async function countConflicts(options: ConflictOptions & ConflictFilter): Promise<number> {
  return withCentre(options, async (db, manifest) => {
    const [row] = (await filtered(db.knex, manifest, options).clearSelect().count({ n: '*' })) as Array<{ n: unknown }>;
    return Number(row?.n ?? 0);
  });
}

/** `conflicts show ID`. */
export async function showConflict(options: ConflictOptions & { id: number }): Promise<Conflict> {
  return withCentre(options, async (db, manifest) => {
    const row = await conflicts(db.knex, manifest).where('c.id', options.id).first();
    if (!row) throw new ConfigError(`No conflict ${options.id} (remotesyncdb conflicts list shows them)`);
    return toConflict(row);
  });
}

/**
 * `conflicts resolve ID --take site|centre|FILE`: write the chosen version into the centre's
 * row as an edit (its lastModified moves), so it flows to every site like any other edit; a
 * version that is a delete deletes the row. FILE holds a version as `conflicts show` prints it
 * (`{"fields": {...}}` or the fields alone; references as `c<id>`, `s<site pk>` or the centre's id).
 */
export async function resolveConflict(options: ConflictOptions & { id: number; take: string }): Promise<Conflict> {
  return withCentre(options, async (db, manifest) => {
    const row = await conflicts(db.knex, manifest).where('c.id', options.id).first();
    if (!row) throw new ConfigError(`No conflict ${options.id} (remotesyncdb conflicts list shows them)`);
    const conflict = toConflict(row);
    if (conflict.status === 'resolved') throw new ConfigError(`Conflict ${conflict.id} was resolved on ${conflict.resolved}`);
    const model = getModel(manifest, conflict.model);
    if (!model) throw new ConfigError(`Conflict ${conflict.id} is on model ${conflict.model}, which app ${manifest.app} does not have`);
    const version = options.take === 'site' ? conflict.siteVersion : options.take === 'centre' ? conflict.centreVersion : readVersion(options.take);
    await db.knex.transaction(async (trx) => {
      // Claimed first, on the condition that nobody resolved it meanwhile (two operators, a double click):
      // the second waits for the first's row lock, finds it resolved and changes nothing.
      const how = options.take === 'site' || options.take === 'centre' ? `took the ${options.take}'s version` : `took the version in ${options.take}`;
      const claimed = await trx(CONFLICT_TABLE).where({ id: conflict.id }).whereNot({ status: 'resolved' }).update({ status: 'resolved', resolved: new Date().toISOString(), reason: `${conflict.reason}; resolved: ${how}` });
      if (Number(claimed) !== 1) throw new ConfigError(`Conflict ${conflict.id} was resolved meanwhile (remotesyncdb conflicts show ${conflict.id} says how)`);
      const exists = conflict.row !== null && (await trx(model.table).where(model.pk, conflict.row).first(model.pk)) !== undefined;
      if (version === null) {
        if (exists) {
          const blocked = await deleteRow(trx, manifest, model, conflict.row!);
          if (blocked) throw new ConfigError(`Conflict ${conflict.id}: the ${options.take}'s version deletes ${model.name} ${conflict.row}, but it cannot go: ${blocked}`);
        }
      } else {
        if (!exists) throw new ConfigError(`Conflict ${conflict.id}: ${model.name} ${conflict.row ?? conflict.ref} no longer exists at the centre; create it again (at a site or here) from the version "conflicts show ${conflict.id}" prints`);
        await writeVersion(trx, db, manifest, model, conflict.row!, row.site_id as number, version);
      }
      // Any resolution is an edit of the row (a feed looks at rows modified since the last one).
      if (version !== null && exists && options.take === 'centre') await touch(trx, manifest, model, conflict.row!);
    });
    return toConflict(await conflicts(db.knex, manifest).where('c.id', options.id).first());
  });
}

function readVersion(file: string): Canon | null {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`--take ${file}: not a JSON file (${(error as Error).message}); give site, centre or a file with the fields of the version to keep`);
  }
  if (value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`--take ${file}: expected {"fields": {...}} or the fields as an object`);
  const v = value as Record<string, unknown>;
  return (typeof v.fields === 'object' && v.fields !== null ? v.fields : v) as Canon;
}

/** Write a version (fields, references as row identities) into the centre's row `id`. */
async function writeVersion(trx: Knex.Transaction, db: Database, manifest: AppManifest, model: ModelDef, id: number, siteId: number, version: Canon): Promise<void> {
  const idOf = async (target: ModelDef, value: unknown, field: string): Promise<number | null> => {
    if (value === null || value === undefined) return null;
    if (typeof value === 'number') return value;
    const ref = parseRef(value);
    if (!ref) throw new ConfigError(`${model.name}.${field}: ${JSON.stringify(value)} is not a reference (c<centre id>, s<site pk> or a number)`);
    if (ref.side === 'centre') return ref.pk;
    const root = manifest.models.get(target.root)!;
    const row = await trx(root.table).where({ [ORIGINAL_DB]: siteId, [ORIGINAL_ID]: ref.pk }).first(root.pk);
    if (!row) throw new ConfigError(`${model.name}.${field}: the site's ${target.name} ${ref.pk} is not at the centre`);
    return Number(row[root.pk]);
  };
  const update: Record<string, unknown> = {};
  for (const field of model.fields) {
    if (field.name === model.lastModified || !(field.name in version)) continue;
    const value = version[field.name];
    update[field.name] = toColumnValue(field, field.type === 'json' && typeof value === 'string' ? JSON.parse(value) : value, db.dialect);
  }
  for (const fk of model.fks) if (fk.name in version) update[fk.column] = await idOf(manifest.models.get(fk.to)!, version[fk.name], fk.name);
  if (Object.keys(update).length > 0) await trx(model.table).where(model.pk, id).update(update);
  for (const m2m of model.m2m) {
    if (m2m.kind !== 'auto' || !Array.isArray(version[m2m.name])) continue;
    const targets: number[] = [];
    for (const v of version[m2m.name] as unknown[]) targets.push((await idOf(manifest.models.get(m2m.to)!, v, m2m.name))!);
    await trx(m2m.table).where(m2m.source, id).del();
    if (targets.length > 0) await trx(m2m.table).insert(targets.map((t) => ({ [m2m.source]: id, [m2m.target]: t })));
  }
  await touch(trx, manifest, model, id);
}
