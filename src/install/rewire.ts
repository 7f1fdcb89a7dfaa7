import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import type { FkDef, ModelDef } from '../manifest/types.js';
import type { InstallContext } from './context.js';
import { groupBy } from './group-by.js';
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

/** Pairs per UPDATE ... CASE statement (3 bind parameters a pair). */
const REWIRE_BATCH = 500;

/**
 * The rewire phase: point every deferred FK of the context at its target's local id, in bulk:
 * one `UPDATE t SET col = CASE pk WHEN .. THEN .. END WHERE pk IN (..)` per batch and column.
 */
export async function rewire(ctx: InstallContext): Promise<void> {
  for (const items of groupBy(ctx.pendingFks, (p) => `${p.model.name}.${p.fk.name}`)) {
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
    if (!ctx.isDryRun) await updateByCase(ctx.trx, ctx.dialect, model.table, model.pk, fk.column, pairs);
  }
}

/** `UPDATE table SET column = CASE pk WHEN id THEN value ... END WHERE pk IN (...)`, batched. */
export async function updateByCase(trx: Knex.Transaction, dialect: DialectAdapter, table: string, pk: string, column: string, pairs: Array<[number, number | null]>): Promise<void> {
  for (let i = 0; i < pairs.length; i += REWIRE_BATCH) {
    const slice = pairs.slice(i, i + REWIRE_BATCH);
    const cases = slice.map(() => `WHEN ? THEN CAST(? AS ${dialect.integerCastType})`).join(' ');
    const bindings: Knex.RawBinding[] = [table, column, pk];
    for (const [id, value] of slice) bindings.push(id, value);
    bindings.push(pk, ...slice.map(([id]) => id));
    await trx.raw(`UPDATE ?? SET ?? = CASE ?? ${cases} END WHERE ?? IN (${slice.map(() => '?').join(',')})`, bindings);
  }
}
