import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import type { FkDef, ModelDef } from '../manifest/types.js';
import type { InstallContext } from './context.js';
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

/** Pairs per UPDATE ... CASE statement (3 bind parameters a pair). */
const REWIRE_BATCH = 500;

/** Deferred links looked at at a time. */
const REWIRE_SLICE = 10_000;

/**
 * The rewire phase: point every deferred FK of the context at its target's local id, in bulk:
 * one `UPDATE t SET col = CASE pk WHEN .. THEN .. END WHERE pk IN (..)` per batch and column.
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
    if (!ctx.isDryRun) await updateByCase(ctx.trx, ctx.dialect, model.table, model.pk, fk.column, pairs);
  }
}

/**
 * `UPDATE table SET column = CASE pk WHEN id THEN value ... END WHERE pk IN (...)`, batched,
 * through the dialect's prepared-statement path (full batches repeat one text).
 */
export async function updateByCase(trx: Knex.Transaction, dialect: DialectAdapter, table: string, pk: string, column: string, pairs: Array<[number, number | null]>): Promise<void> {
  const q = dialect.quote;
  for (let i = 0; i < pairs.length; i += REWIRE_BATCH) {
    const slice = pairs.slice(i, i + REWIRE_BATCH);
    const cases = slice.map(() => `WHEN ? THEN CAST(? AS ${dialect.integerCastType})`).join(' ');
    const bindings: unknown[] = [];
    for (const [id, value] of slice) bindings.push(id, value);
    for (const [id] of slice) bindings.push(id);
    await dialect.execute(trx, `UPDATE ${q(table)} SET ${q(column)} = CASE ${q(pk)} ${cases} END WHERE ${q(pk)} IN (${slice.map(() => '?').join(',')})`, bindings, false);
  }
}
