import { createInstallContext, installResult, type InstallOptions, type InstallResult } from './context.js';
import { installModel } from './install-model.js';
import { touchRoots } from './last-modified.js';
import { linkM2m } from './m2m.js';
import { pruneObjects } from './prune.js';
import { leaveOutRejects } from './rejects.js';
import { rewire } from './rewire.js';

export type { BatchSource, InstallContext, InstallEvent, InstallOptions, InstallResult } from './context.js';
export { takeIncoming, type Decide, type Decision } from './conflict-rule.js';
export type { ModelCounts } from './tally.js';

/**
 * Install every object of the plan under local ids inside the caller's transaction, as a
 * list of phases over one {@link InstallContext}: upsert by origin tags (placeholders for
 * unresolved NOT NULL FKs), then rewire FKs and make m2m sets equal to the remote's, then
 * remove placeholders. Throws on the first problem (unless `skip`), and the caller rolls back.
 *
 * Pull, push and exchange differ only in the context's source of batches and conflict rule
 * (`objects`, `allPks`, `decide`), never in these phases.
 */
export async function installObjects(options: InstallOptions): Promise<InstallResult> {
  const ctx = createInstallContext(options);
  // --skip: read everything once first, and leave out what cannot be installed.
  if (options.skip) await leaveOutRejects(ctx);
  // Per model, per batch: read, decode, resolve ids, write rows (placeholders where needed).
  for (const model of ctx.plan) await installModel(ctx, model);
  ctx.emit({ type: 'rewiring', links: ctx.pendingFks.length + ctx.pendingM2m.length });
  await rewire(ctx);
  await linkM2m(ctx);
  // Checks that no row still references a placeholder, then deletes them.
  await ctx.placeholders.removeAll();
  // A remote not registered here yet (a dry run into a fresh database) has no rows to prune.
  if (options.prune && options.remoteId !== undefined) await pruneObjects(ctx);
  await touchRoots(ctx);
  return installResult(ctx);
}
