import { failObject, type InstallContext, type ModelStep } from './context.js';
import { checkFixtureObject, wrapFixtureErrors, type FixtureObject } from './fixture-object.js';

/**
 * The first phase of a model: its objects from the context's source, checked for shape,
 * counted, in batches of the model's batch size. Under `--skip` an object that is rejected
 * (or in the chain of one) is counted as skipped, listed and left out; an object sent twice
 * fails the install.
 */
export async function* readBatches(ctx: InstallContext, step: ModelStep): AsyncGenerator<FixtureObject[]> {
  const { manifest, remote, rejects } = ctx;
  const { model, tally } = step;
  const seen = tally.seen;
  let batch: FixtureObject[] = [];
  let position = 0;
  for await (const chunk of wrapFixtureErrors(ctx.source.batches(model), remote, model)) for (const raw of chunk) {
    position++;
    tally.objects++;
    if (rejects) {
      const rawPk = (raw as { pk?: unknown })?.pk;
      const pk = typeof rawPk === 'string' && /^\d+$/.test(rawPk) ? Number(rawPk) : rawPk;
      if (typeof pk !== 'number' || rejects.has(model, pk) || seen.has(pk)) {
        // Still the remote's: --prune must not delete it.
        if (typeof pk === 'number') seen.add(pk);
        tally.skipped++;
        if (typeof pk === 'number' && !ctx.listed.has(`${model.name}:${pk}`)) {
          ctx.listed.add(`${model.name}:${pk}`);
          ctx.rejectList.push({ model: model.name, pk, reason: 'left out with the rest of its MTI chain' });
        }
        continue;
      }
    }
    const object = checkFixtureObject(raw, manifest, model, remote, position);
    if (seen.has(object.pk)) failObject(ctx, model, object.pk, undefined, 'appears twice in the fixture');
    seen.add(object.pk);
    batch.push(object);
    if (batch.length >= step.batchSize) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
