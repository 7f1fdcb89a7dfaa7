import { IDMAP_TABLE } from '../schema/bookkeeping.js';
import type { InstallContext, ModelStep } from './context.js';
import type { DecodedObject } from './decode-object.js';
import type { FixtureObject } from './fixture-object.js';
import { insertRows } from './insert.js';

/** One FK of a decoded object. */
export type DecodedFk = DecodedObject['fks'][number];

/**
 * Natural keys: a new object whose natural key matches a row that is not this origin's
 * maps onto that row (recorded in the id map table, unless a dry run).
 */
export async function claimByNaturalKey(ctx: InstallContext, step: ModelStep, decoded: DecodedObject[]): Promise<void> {
  const { naturalKeys, rootMap, model } = step;
  if (!naturalKeys) return;
  const claims: Array<{ pk: number; localId: number }> = [];
  for (const object of decoded) {
    if (rootMap.has(object.pk)) continue;
    const localId = naturalKeys.claim(naturalKeys.keyOf(object.row, true));
    if (localId === undefined) continue;
    rootMap.set(object.pk, localId);
    claims.push({ pk: object.pk, localId });
  }
  if (claims.length > 0) ctx.idMaps.noteClaims(model);
  if (claims.length > 0 && !ctx.isDryRun) {
    await insertRows(ctx.trx, ctx.dialect, IDMAP_TABLE, claims.map((c) => ({ original_db_id: ctx.remoteId, model: model.name, original_id: c.pk, local_id: c.localId })));
  }
}

/** The stored rows of the objects that already have a local id, by local id (for the "unchanged" comparison). */
export async function loadStoredRows(ctx: InstallContext, step: ModelStep, objects: FixtureObject[]): Promise<Map<number, Record<string, unknown>>> {
  const { model } = step;
  // Only rows present at the model's own level: an MTI child whose root row exists may not have its own row yet.
  const localIds = objects.map((o) => ctx.idMaps.lookup(model, o.pk)).filter((id): id is number => id !== undefined && id > 0);
  const stored = new Map<number, Record<string, unknown>>();
  if (localIds.length > 0) {
    for (const row of await ctx.trx(model.table).select('*').whereIn(model.pk, localIds)) stored.set(Number(row[model.pk]), row);
  }
  return stored;
}

/**
 * Translate each object's FKs to local ids in its row: NULL for none (or, under `--skip`, a
 * rejected target of a nullable FK), the target's local id when it is installed. Returns,
 * per object, the FKs whose target is not installed yet (undefined when there is none).
 */
export function resolveFks(ctx: InstallContext, decoded: DecodedObject[]): Array<DecodedFk[] | undefined> {
  const { manifest, idMaps, rejects } = ctx;
  const deferred: Array<DecodedFk[] | undefined> = [];
  for (const object of decoded) {
    const row = object.row;
    let pending: DecodedFk[] | undefined;
    for (const link of object.fks) {
      const { fk, target } = link;
      const targetModel = manifest.models.get(fk.to)!;
      if (target === null || (rejects?.has(targetModel, target) && fk.isNullable)) {
        row[fk.column] = null;
        continue;
      }
      const local = idMaps.lookup(targetModel, target);
      if (local !== undefined) row[fk.column] = local;
      else (pending ??= []).push(link);
    }
    deferred.push(pending);
  }
  return deferred;
}
