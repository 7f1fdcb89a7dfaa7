import { ModelInstallError } from '../errors.js';
import type { ModelDef } from '../manifest/types.js';
import type { InstallContext } from './context.js';
import { decodeObject, ObjectProblem } from './decode-object.js';
import { checkFixtureObject, wrapFixtureErrors } from './fixture-object.js';

/** One object left out by `--skip`, and why. */
export interface Reject { model: string; pk: number | null; reason: string }

/**
 * The objects `--skip` leaves out: those that cannot be installed (bad shape or value, a NOT
 * NULL FK to an object the remote did not send), together with their whole MTI chain (the same
 * root pk at every level) and, transitively, everything whose NOT NULL FK depends on them.
 */
export class RejectSet {
  private readonly byRoot = new Map<string, Set<number>>();
  readonly reasons: Reject[] = [];

  has(model: ModelDef, pk: number): boolean {
    return this.byRoot.get(model.root)?.has(pk) ?? false;
  }

  add(model: ModelDef, pk: number | null, reason: string): boolean {
    if (pk === null) {
      this.reasons.push({ model: model.name, pk, reason });
      return true;
    }
    if (this.has(model, pk)) return false;
    if (!this.byRoot.has(model.root)) this.byRoot.set(model.root, new Set());
    this.byRoot.get(model.root)!.add(pk);
    this.reasons.push({ model: model.name, pk, reason });
    return true;
  }

  get size(): number {
    return this.reasons.length;
  }
}

/**
 * The `--skip` phase, before anything is written: find what must be left out, keep it in the
 * context for the phases that follow, and list it.
 */
export async function leaveOutRejects(ctx: InstallContext): Promise<void> {
  const rejects = await findRejects(ctx);
  ctx.rejects = rejects;
  for (const reject of rejects.reasons) {
    ctx.rejectList.push(reject);
    ctx.listed.add(`${reject.model}:${reject.pk}`);
  }
}

/** Read every fixture once, without writing, and work out what `--skip` must leave out. */
export async function findRejects(options: Pick<InstallContext, 'manifest' | 'plan' | 'dialect' | 'remote' | 'idMaps' | 'source'>): Promise<RejectSet> {
  const { manifest, plan, dialect, idMaps } = options;
  const rejects = new RejectSet();
  const sent = new Map<string, Set<number>>();
  const refs: Array<{ model: ModelDef; field: string; to: ModelDef; owner: number; target: number }> = [];
  for (const model of plan) {
    await idMaps.of(model);
    // A parent not planned in this run (a push split into bundles) may be there already.
    if (model.parent) await idMaps.of(manifest.models.get(model.parent)!);
    for (const fk of model.fks) await idMaps.of(manifest.models.get(fk.to)!);
    const pks = new Set<number>();
    sent.set(model.name, pks);
    let position = 0;
    for await (const chunk of wrapFixtureErrors(options.source.batches(model), options.remote, model)) for (const raw of chunk) {
      position++;
      let pk: number | null = null;
      try {
        const object = checkFixtureObject(raw, manifest, model, options.remote, position);
        pk = object.pk;
        if (pks.has(pk)) throw new ObjectProblem('pk', 'appears twice in the fixture');
        pks.add(pk);
        const decoded = decodeObject(manifest, model, object, dialect);
        for (const { fk, target } of decoded.fks) {
          if (target !== null && !fk.isNullable) refs.push({ model, field: fk.name, to: manifest.models.get(fk.to)!, owner: pk, target });
        }
      } catch (error) {
        if (!(error instanceof ObjectProblem) && !(error instanceof ModelInstallError)) throw error;
        rejects.add(model, pk, error instanceof ObjectProblem ? error.message : error.message.replace(/^[^:]*: /, ''));
      }
    }
  }
  const exists = (model: ModelDef, pk: number) => (sent.get(model.name)?.has(pk) ?? false) || idMaps.lookup(model, pk) !== undefined;
  // An MTI child needs its parent's row.
  for (const model of plan) {
    if (!model.parent) continue;
    const parent = manifest.models.get(model.parent)!;
    for (const pk of sent.get(model.name)!) if (!exists(parent, pk)) rejects.add(model, pk, `has no ${parent.name} pk=${pk} (the remote did not send its parent object)`);
  }
  // Everything that depends, through NOT NULL FKs, on what is rejected or was never sent.
  for (let changed = true; changed; ) {
    changed = false;
    for (const ref of refs) {
      if (rejects.has(ref.model, ref.owner)) continue;
      if (rejects.has(ref.to, ref.target)) changed = rejects.add(ref.model, ref.owner, `${ref.field} refers to ${ref.to.name} pk=${ref.target}, which is rejected`) || changed;
      else if (!exists(ref.to, ref.target)) changed = rejects.add(ref.model, ref.owner, `${ref.field} refers to ${ref.to.name} pk=${ref.target}, which the remote did not send`) || changed;
    }
  }
  return rejects;
}
