import { ModelInstallError } from '../errors.js';
import type { ModelDef } from '../manifest/types.js';
import { warnOnce, type InstallContext } from './context.js';
import { bumpRoot } from './last-modified.js';

/**
 * Shared by the rewire and m2m phases: a row changed through its links. It counts as updated
 * (unless this run inserted it) and its root's last_modified moves.
 */
export function touched(ctx: InstallContext, model: ModelDef, localId: number): void {
  const tally = ctx.tallies.get(model.name);
  if (tally && !tally.inserted.has(localId)) tally.updated.add(localId);
  bumpRoot(ctx, model, localId);
}

/**
 * Shared by the rewire and m2m phases: a link whose target the origin did not send. Throws
 * when the target's model was planned or the link is NOT NULL (unless `--skip` may leave a
 * nullable link empty); otherwise lists it as a reject (`--skip`) or warns once, and the
 * caller leaves the link out.
 */
export function unresolved(ctx: InstallContext, model: ModelDef, field: string, ownerPk: number, to: string, targetPk: number, isNullable: boolean): 'skip' {
  const { rejects, planned, remote } = ctx;
  const isRejected = rejects?.has(ctx.manifest.models.get(to)!, targetPk) ?? false;
  if ((planned.has(to) || !isNullable) && !(rejects && isNullable)) {
    throw new ModelInstallError(`${remote}: ${model.name} pk=${ownerPk}: ${field} refers to ${to} pk=${targetPk}, which the remote did not send`, { meta: { remote, model: model.name, pk: ownerPk, field } });
  }
  if (rejects && planned.has(to)) {
    ctx.rejectList.push({ model: model.name, pk: ownerPk, reason: `${field}: link to ${to} pk=${targetPk} left empty (${isRejected ? 'rejected' : 'not sent by the remote'})` });
  } else {
    warnOnce(ctx, `unresolved ${model.name}.${field}`, `${remote}: ${model.name}.${field}: links to excluded ${to} objects that do not exist locally are left empty`);
  }
  return 'skip';
}
