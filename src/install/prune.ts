import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import { ModelInstallError } from '../errors.js';
import { dependencyOrder } from '../manifest/order.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../schema/app-tables.js';
import { IDMAP_TABLE } from '../schema/bookkeeping.js';
import type { InstallContext } from './context.js';
import type { IntSet } from './int-collections.js';

const IN_BATCH = 900;

/** What `--prune` needs from the install that just ran. */
export interface PruneOptions {
  trx: Knex.Transaction;
  dialect: DialectAdapter;
  manifest: AppManifest;
  plan: readonly ModelDef[];
  remoteId: number;
  remote: string;
  /** Remote pks each planned model still has (a full fetch's fixtures, or the origin's pk lists); called often. */
  seen: (model: ModelDef) => IntSet;
  isDryRun: boolean;
}

async function inBatches<T>(ids: readonly number[], fn: (slice: number[]) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += IN_BATCH) out.push(await fn(ids.slice(i, i + IN_BATCH)));
  return out;
}

/**
 * The prune phase (`--prune`): delete this origin's rows whose objects it no longer holds (the
 * source's pk lists, or the pks its full fixtures held), and count them in the tallies.
 */
export async function pruneObjects(ctx: InstallContext): Promise<void> {
  const { allPks } = ctx.source;
  const seen = allPks ?? ((model: ModelDef) => ctx.tallies.get(model.name)!.seen);
  const deleted = await pruneRemote({ ...ctx, seen });
  for (const [name, n] of deleted) {
    const tally = ctx.tallies.get(name);
    if (tally) tally.deleted = n;
  }
}

/**
 * `--prune`, inside the install's transaction: delete this remote's rows whose objects the
 * remote no longer has (its full fixtures did not hold them). Dependents go first; an MTI
 * object goes with its whole chain; a row that another remote still claims stays; a row that
 * local data still points at blocks the prune with an error, unless that FK is nullable (it
 * is cleared). This remote's claims on other rows are dropped, the rows left alone.
 * Returns the deleted rows per model.
 */
export async function pruneRemote(options: PruneOptions): Promise<Map<string, number>> {
  const { trx, manifest, remoteId, remote, isDryRun } = options;
  const planned = new Set(options.plan.map((m) => m.name));
  const doomed = new Map<string, Set<number>>();
  const mark = (model: ModelDef, id: number) => {
    if (!doomed.has(model.name)) doomed.set(model.name, new Set());
    doomed.get(model.name)!.add(id);
  };
  const order = dependencyOrder(manifest);
  for (const model of order) {
    if (!planned.has(model.name)) continue;
    const root = manifest.models.get(model.root)!;
    const seen = options.seen(model);
    const rows = model.parent === undefined
      ? await trx(model.table).select(`${model.pk} as id`, `${ORIGINAL_ID} as original`).where(ORIGINAL_DB, remoteId)
      : await trx(model.table).join(root.table, `${root.table}.${root.pk}`, `${model.table}.${model.pk}`).select(`${model.table}.${model.pk} as id`, `${root.table}.${ORIGINAL_ID} as original`).where(`${root.table}.${ORIGINAL_DB}`, remoteId);
    for (const row of rows) if (!seen.has(Number(row.original))) mark(model, Number(row.id));
  }
  // A deleted root takes every level of its chain with it (planned or not).
  for (const model of order) {
    if (model.parent === undefined) continue;
    const rootIds = doomed.get(model.root);
    if (!rootIds || rootIds.size === 0) continue;
    for (const found of await inBatches([...rootIds], (slice) => trx(model.table).select(model.pk).whereIn(model.pk, slice))) {
      for (const row of found) mark(model, Number(row[model.pk]));
    }
  }
  // A row another remote still maps to stays, whole chain included.
  const kept = new Set<number>();
  for (const model of order.filter((m) => m.parent === undefined)) {
    const ids = doomed.get(model.name);
    if (!ids || ids.size === 0) continue;
    for (const found of await inBatches([...ids], (slice) => trx(IDMAP_TABLE).select('local_id').where({ model: model.name }).whereIn('local_id', slice))) {
      for (const row of found) kept.add(Number(row.local_id));
    }
  }
  for (const ids of doomed.values()) for (const id of kept) ids.delete(id);

  // References from rows that stay: nullable ones are cleared, NOT NULL ones block.
  const isDoomed = (model: ModelDef, id: number) => doomed.get(model.name)?.has(id) ?? false;
  for (const owner of manifest.models.values()) {
    for (const fk of owner.fks) {
      const targets = doomed.get(fk.to);
      if (!targets || targets.size === 0) continue;
      for (const found of await inBatches([...targets], (slice) => trx(owner.table).select(owner.pk, fk.column).whereIn(fk.column, slice))) {
        for (const row of found) {
          const id = Number(row[owner.pk]);
          if (isDoomed(owner, id)) continue;
          if (!fk.isNullable) {
            throw new ModelInstallError(`${remote}: --prune cannot delete ${fk.to} local id ${row[fk.column]}: ${owner.name} local id ${id} still refers to it through its NOT NULL ${fk.name}; delete or change that row first`, { meta: { remote, model: owner.name, field: fk.name } });
          }
          if (!isDryRun) await trx(owner.table).where(owner.pk, id).update({ [fk.column]: null });
        }
      }
    }
  }
  const deleted = new Map<string, number>();
  for (const [name, ids] of doomed) if (ids.size > 0) deleted.set(name, ids.size);
  if (isDryRun) return deleted;

  for (const model of manifest.models.values()) {
    const ids = doomed.get(model.name);
    if (!ids || ids.size === 0) continue;
    // Links between doomed rows may form cycles: cut the nullable ones first.
    const nullable = model.fks.filter((fk) => fk.isNullable);
    if (nullable.length > 0) await inBatches([...ids], (slice) => trx(model.table).whereIn(model.pk, slice).update(Object.fromEntries(nullable.map((fk) => [fk.column, null]))));
    for (const m2m of model.m2m) if (m2m.kind === 'auto') await inBatches([...ids], (slice) => trx(m2m.table).whereIn(m2m.source, slice).del());
    for (const other of manifest.models.values()) {
      for (const m2m of other.m2m) if (m2m.kind === 'auto' && m2m.to === model.name) await inBatches([...ids], (slice) => trx(m2m.table).whereIn(m2m.target, slice).del());
    }
  }
  for (const model of [...order].reverse()) {
    const ids = doomed.get(model.name);
    if (ids && ids.size > 0) await inBatches([...ids], (slice) => trx(model.table).whereIn(model.pk, slice).del());
  }
  // This remote's claims on objects it no longer has.
  for (const model of order) {
    if (!planned.has(model.name) || model.parent !== undefined) continue;
    const claims = await trx(IDMAP_TABLE).select('original_id').where({ original_db_id: remoteId, model: model.name });
    const gone = claims.map((c) => Number(c.original_id)).filter((pk) => !options.seen(model).has(pk));
    await inBatches(gone, (slice) => trx(IDMAP_TABLE).where({ original_db_id: remoteId, model: model.name }).whereIn('original_id', slice).del());
  }
  return deleted;
}
