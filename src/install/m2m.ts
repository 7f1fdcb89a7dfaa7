import type { M2mDef, ModelDef } from '../manifest/types.js';
import type { InstallContext } from './context.js';
import { groupBy } from './group-by.js';
import { insertRows } from './insert.js';
import { touched, unresolved } from './links.js';

/** The remote's link list of one object's auto m2m field. */
export interface PendingM2m {
  model: ModelDef;
  m2m: M2mDef;
  ownerPk: number;
  targets: number[];
}

const IN_BATCH = 1000;

/**
 * The m2m phase: make each object's auto m2m links equal to the remote's list: insert the
 * missing, delete the extra, keep the rest (a kept link keeps its row). Only objects the remote
 * sent are touched.
 */
export async function linkM2m(ctx: InstallContext): Promise<void> {
  for (const items of groupBy(ctx.pendingM2m, (p) => `${p.model.name}.${p.m2m.name}`)) {
    const { model, m2m } = items[0];
    if (m2m.kind !== 'auto') continue;
    const owners = await ctx.idMaps.prepare(model);
    const targetModel = ctx.manifest.models.get(m2m.to)!;
    await ctx.idMaps.prepare(targetModel);
    for (let i = 0; i < items.length; i += IN_BATCH) {
      const slice = items.slice(i, i + IN_BATCH);
      const ownerIds = slice.map((p) => owners.get(p.ownerPk)!);
      const existing = new Map<number, Set<number>>(ownerIds.map((id) => [id, new Set()]));
      // Owners a dry run has not really inserted (negative ids) have no links yet.
      const stored = ownerIds.filter((id) => id > 0);
      const rows = stored.length === 0 ? [] : await ctx.trx(m2m.table).select(`${m2m.source} as s`, `${m2m.target} as t`).whereIn(m2m.source, stored);
      for (const row of rows) existing.get(Number(row.s))!.add(Number(row.t));
      await ctx.idMaps.need(targetModel, slice.flatMap((p) => p.targets));
      // Which stored links point at this remote's rows: only those are the remote's to remove.
      const theirs = await ctx.idMaps.owned(targetModel, [...new Set(rows.map((row) => Number(row.t)))]);
      const inserts: Record<string, number>[] = [];
      const deletes: Array<[number, number]> = [];
      slice.forEach((p, k) => {
        const ownerId = ownerIds[k];
        const wanted = new Set<number>();
        for (const targetPk of p.targets) {
          const targetId = ctx.idMaps.lookup(targetModel, targetPk);
          if (targetId === undefined) unresolved(ctx, model, m2m.name, p.ownerPk, m2m.to, targetPk, true);
          else wanted.add(targetId);
        }
        const have = existing.get(ownerId)!;
        let changed = false;
        for (const t of wanted) if (!have.has(t)) { inserts.push({ [m2m.source]: ownerId, [m2m.target]: t }); changed = true; }
        // Only links to this remote's objects are the remote's to remove; a link to a local-only
        // row (or another remote's) was made here, and local rows are never touched.
        for (const t of have) if (!wanted.has(t) && theirs.has(t)) { deletes.push([ownerId, t]); changed = true; }
        if (changed) touched(ctx, model, ownerId);
      });
      if (ctx.isDryRun) continue;
      for (let j = 0; j < inserts.length; j += IN_BATCH) await insertRows(ctx.trx, ctx.dialect, m2m.table, inserts.slice(j, j + IN_BATCH));
      for (const [s, t] of deletes) await ctx.trx(m2m.table).where({ [m2m.source]: s, [m2m.target]: t }).del();
    }
  }
}
