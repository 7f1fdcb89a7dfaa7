import type { ModelDef } from '../manifest/types.js';
import type { InstallContext } from './context.js';
import { IntSet } from './int-collections.js';

/** UPDATE statements touch at most this many rows each. */
const BUMP_BATCH = 1000;

/**
 * Note that a row's root must show this run's time: an MTI child or a link of it changed,
 * which its root row's own columns do not show. Written by {@link touchRoots}.
 */
export function bumpRoot(ctx: InstallContext, model: ModelDef, localId: number): void {
  const root = ctx.manifest.models.get(model.root)!;
  // A root inserted by this run already carries this run's time.
  if (!root.lastModified || ctx.tallies.get(root.name)?.inserted.has(localId)) return;
  let ids = ctx.bumps.get(root.name);
  if (!ids) ctx.bumps.set(root.name, (ids = new IntSet()));
  ids.add(localId);
}

/**
 * The last phase: set `last_modified` to this run's time on every root noted by
 * {@link bumpRoot}, so this database can itself be served incrementally.
 */
export async function touchRoots(ctx: InstallContext): Promise<void> {
  if (ctx.isDryRun) return;
  for (const [rootName, ids] of ctx.bumps) {
    const root = ctx.manifest.models.get(rootName)!;
    const list = [...ids.values()];
    for (let i = 0; i < list.length; i += BUMP_BATCH) await ctx.trx(root.table).whereIn(root.pk, list.slice(i, i + BUMP_BATCH)).update({ [root.lastModified!]: ctx.now });
  }
}
