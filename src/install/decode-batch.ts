import { failObject, warnOnce, type InstallContext, type ModelStep } from './context.js';
import { decodeObject, ObjectProblem, type DecodedObject } from './decode-object.js';
import type { FixtureObject } from './fixture-object.js';

/**
 * Decode a batch: every object's fields to column values, its links still as remote pks.
 * An MTI child whose parent object was never installed, or a field that does not convert,
 * fails the install naming the object and field.
 */
export function decodeBatch(ctx: InstallContext, step: ModelStep, objects: FixtureObject[]): DecodedObject[] {
  const { manifest, dialect, idMaps } = ctx;
  const { model, parent } = step;
  if (parent) {
    const orphan = objects.find((o) => idMaps.lookup(parent, o.pk) === undefined);
    if (orphan) failObject(ctx, model, orphan.pk, undefined, `has no ${parent.name} pk=${orphan.pk} (an MTI child needs its parent object, which the remote did not send)`);
  }
  return objects.map((object) => {
    try {
      return decodeObject(manifest, model, object, dialect);
    } catch (error) {
      if (error instanceof ObjectProblem) failObject(ctx, model, object.pk, error.field, error.message.slice(error.field.length + 1));
      throw error;
    }
  });
}

/** Warn (once per install) about keys the payload has and the manifest does not, and the reverse. */
export function warnShape(ctx: InstallContext, step: ModelStep, decoded: DecodedObject): void {
  const { remote } = ctx;
  const { model } = step;
  for (const key of decoded.unknown) warnOnce(ctx, `${model.name}.${key}`, `${remote}: ${model.name}: ignoring field "${key}", which the manifest does not declare`);
  for (const key of decoded.missing) warnOnce(ctx, `${model.name}.${key}?`, `${remote}: ${model.name}: the remote does not send "${key}"; using its default (the remote may run another revision of the app)`);
}
