import type { FkDef, ModelDef } from '../manifest/types.js';
import type { InstallContext } from './context.js';
import { updateRows } from './insert.js';
import { IntList } from './int-collections.js';
import { touched, unresolved } from './links.js';

/** A foreign key whose target was not installed when its row was written. */
export interface PendingFk {
  model: ModelDef;
  fk: FkDef;
  ownerPk: number;
  targetPk: number;
  /** The stored local value of an existing row; undefined for a row this run inserted. */
  current: number | null | undefined;
}

/** `current` in a typed array: ids are positive. */
const NULL_ID = -1;
const NO_ROW = -2;

/**
 * The deferred FKs of an install, per model and FK in typed arrays: a first sync of a data set
 * full of forward references defers one per object (millions), which must not cost an object each.
 */
export class PendingFks {
  private readonly byLink = new Map<string, { model: ModelDef; fk: FkDef; owners: IntList; targets: IntList; current: IntList }>();
  length = 0;

  push(model: ModelDef, fk: FkDef, ownerPk: number, targetPk: number, current: number | null | undefined): void {
    const key = `${model.name}.${fk.name}`;
    let link = this.byLink.get(key);
    if (!link) this.byLink.set(key, (link = { model, fk, owners: new IntList(), targets: new IntList(), current: new IntList() }));
    link.owners.push(ownerPk);
    link.targets.push(targetPk);
    link.current.push(current === undefined ? NO_ROW : current === null ? NULL_ID : Number(current));
    this.length++;
  }

  /** Each model and FK with its deferred links, in slices of at most `size`. */
  *slices(size: number): Generator<PendingFk[]> {
    for (const { model, fk, owners, targets, current } of this.byLink.values()) {
      for (let start = 0; start < owners.length; start += size) {
        const slice: PendingFk[] = [];
        for (let i = start; i < Math.min(owners.length, start + size); i++) {
          const c = current.get(i);
          slice.push({ model, fk, ownerPk: owners.get(i), targetPk: targets.get(i), current: c === NO_ROW ? undefined : c === NULL_ID ? null : c });
        }
        yield slice;
      }
    }
  }
}

/** Deferred links looked at at a time. */
const REWIRE_SLICE = 10_000;

/**
 * The rewire phase: point every deferred FK of the context at its target's local id, in bulk
 * (`updateRows`: `UPDATE t SET col = CASE pk WHEN .. THEN .. END WHERE pk IN (..)`).
 */
export async function rewire(ctx: InstallContext): Promise<void> {
  for (const items of ctx.pendingFks.slices(REWIRE_SLICE)) {
    const { model, fk } = items[0];
    const owners = await ctx.idMaps.prepare(model);
    const targetModel = ctx.manifest.models.get(fk.to)!;
    await ctx.idMaps.prepare(targetModel);
    await ctx.idMaps.need(targetModel, items.map((p) => p.targetPk));
    const pairs: Array<[number, number | null]> = [];
    for (const p of items) {
      const ownerId = owners.get(p.ownerPk)!;
      let targetId: number | null | undefined = ctx.idMaps.lookup(targetModel, p.targetPk);
      if (targetId === undefined) {
        unresolved(ctx, model, fk.name, p.ownerPk, fk.to, p.targetPk, fk.isNullable);
        if (p.current !== undefined) continue;
        targetId = null;
      }
      if (p.current !== undefined && p.current !== null && Number(p.current) === targetId) continue;
      pairs.push([ownerId, targetId]);
      touched(ctx, model, ownerId);
    }
    // The rewire's values are ids: cast as such on every dialect (a CASE of NULLs and parameters has no type of its own).
    if (!ctx.isDryRun) await updateRows(ctx.trx, ctx.dialect, model.table, model.pk, () => ctx.dialect.integerCastType, pairs.map(([id, value]) => ({ id, changed: { [fk.column]: value } })));
  }
}
