import { databaseMessage, ModelInstallError, RemoteSyncError } from '../errors.js';
import type { ModelDef } from '../manifest/types.js';
import type { InstallContext, ModelStep } from './context.js';
import { decodeBatch } from './decode-batch.js';
import { ownLastModified } from './decode-object.js';
import type { FixtureObject } from './fixture-object.js';
import { batchSize } from './insert.js';
import { NaturalKeyIndex } from './natural-keys.js';
import { readBatches } from './read-batches.js';
import { claimByNaturalKey, loadStoredRows, resolveFks } from './resolve-ids.js';
import { insertNewRows, writeRows } from './write-rows.js';

/**
 * Install one model's objects, batch by batch: read, decode, resolve ids, write rows. Links
 * whose targets are not installed yet wait in the context for the rewire and m2m phases.
 */
export async function installModel(ctx: InstallContext, model: ModelDef): Promise<void> {
  ctx.emit({ type: 'model-installing', model: model.name });
  const step = await startModel(ctx, model);
  for await (const objects of readBatches(ctx, step)) {
    try {
      await installBatch(ctx, step, objects);
    } catch (error) {
      throw batchError(ctx, model, objects, error);
    }
  }
  ctx.emit({ type: 'model-installed', model: model.name, counts: step.tally.counts(model.name) });
}

/** The phases of one batch, each handing the next what it needs. */
async function installBatch(ctx: InstallContext, step: ModelStep, objects: FixtureObject[]): Promise<void> {
  await needIds(ctx, step, objects);
  const decoded = decodeBatch(ctx, step, objects);
  await claimByNaturalKey(ctx, step, decoded);
  const stored = await loadStoredRows(ctx, step, objects);
  const deferred = resolveFks(ctx, decoded);
  const inserts = await writeRows(ctx, step, decoded, stored, deferred);
  await insertNewRows(ctx, step, inserts);
}

/** Look up the local ids a batch can meet: its objects' own (and their parents'), and their FKs' targets. */
async function needIds(ctx: InstallContext, step: ModelStep, objects: FixtureObject[]): Promise<void> {
  const { idMaps, manifest } = ctx;
  const { model, parent } = step;
  const pks = objects.map((o) => o.pk);
  await idMaps.need(model, pks);
  if (parent) await idMaps.need(parent, pks);
  for (const fk of model.fks) {
    const targets: number[] = [];
    for (const object of objects) {
      const target = object.fields[fk.name];
      if (typeof target === 'number') targets.push(target);
    }
    await idMaps.need(manifest.models.get(fk.to)!, targets);
  }
}

/** Load what a model's objects need: the id maps of its root, parent and FK targets, its natural keys. */
async function startModel(ctx: InstallContext, model: ModelDef): Promise<ModelStep> {
  const { manifest, idMaps } = ctx;
  const rootMap = await idMaps.prepare(model);
  const parent = model.parent === undefined ? undefined : manifest.models.get(model.parent)!;
  if (parent) await idMaps.prepare(parent);
  for (const fk of model.fks) await idMaps.prepare(manifest.models.get(fk.to)!);
  const naturalKeys = model.naturalKey && !model.parent && ctx.useNaturalKeys ? await NaturalKeyIndex.load(ctx.trx, ctx.dialect, model, ctx.remoteId) : undefined;
  return {
    model,
    tally: ctx.tallies.get(model.name)!,
    rootMap,
    parent,
    lastModified: ownLastModified(model),
    naturalKeys,
    batchSize: batchSize(ctx.dialect, 3 + model.fields.length + model.fks.length),
  };
}

/** A batch the database refused (or lost the connection on), named by model and pk range; our own errors pass as they are. */
function batchError(ctx: InstallContext, model: ModelDef, objects: FixtureObject[], error: unknown): unknown {
  if (error instanceof RemoteSyncError) return error;
  const { remote } = ctx;
  const pks = objects.map((o) => o.pk);
  const reason = databaseMessage(error);
  const isLost = /connection (terminated|lost)|server closed|gone away|ECONNRESET|terminating connection|EPIPE/i.test(reason);
  const what = isLost ? 'lost the connection to the database while installing' : 'the database refused';
  return new ModelInstallError(`${remote}: ${model.name}: ${what} the objects pk=${Math.min(...pks)}..${Math.max(...pks)}: ${reason}${isLost ? ' (nothing was committed; run again once the database is back)' : ''}`, { meta: { remote, model: model.name }, cause: error });
}
