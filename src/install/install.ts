import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import { ModelInstallError, RemoteSyncError } from '../errors.js';
import type { AppManifest, FkDef, ModelDef } from '../manifest/types.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../schema/app-tables.js';
import { canonical, nowDatetime, toColumnValue, ValueError } from '../values/values.js';
import { checkFixtureObject, type FixtureObject } from './fixture-object.js';
import { IdMaps } from './id-map.js';
import { batchSize, insertReturningIds } from './insert.js';
import { linkM2m, type PendingM2m } from './m2m.js';
import { Placeholders } from './placeholders.js';
import { rewire, type PendingFk } from './rewire.js';

/** What happened to one model's objects. */
export interface ModelCounts {
  model: string;
  objects: number;
  inserted: number;
  updated: number;
  unchanged: number;
  skipped: number;
}

/** Progress reported by the install. */
export type InstallEvent =
  | { type: 'model-installing'; model: string }
  | { type: 'model-installed'; model: string; counts: ModelCounts }
  | { type: 'rewiring'; links: number }
  | { type: 'warning'; message: string };

/** Everything the install needs; it runs inside a transaction the caller opened. */
export interface InstallOptions {
  trx: Knex.Transaction;
  dialect: DialectAdapter;
  manifest: AppManifest;
  /** The models to install, in dependency order. */
  plan: readonly ModelDef[];
  remoteId: number;
  /** The remote's hostname, for messages. */
  remote: string;
  /** The fixture objects of a model (already fetched or staged). */
  objects: (model: ModelDef) => AsyncIterable<unknown>;
  emit?: (event: InstallEvent) => void;
}

/** Per-model bookkeeping during one install. */
class Tally {
  objects = 0;
  readonly inserted = new Set<number>();
  readonly updated = new Set<number>();
  counts(model: string): ModelCounts {
    return { model, objects: this.objects, inserted: this.inserted.size, updated: this.updated.size, unchanged: this.objects - this.inserted.size - this.updated.size, skipped: 0 };
  }
}

/** Keys every payload may carry that are never copied: the remote's own origin tags. */
const DROPPED_KEYS = new Set(['original_id', 'original_db', 'original_db_id']);

/**
 * Install every object of the plan under local ids inside the caller's transaction:
 * upsert by origin tags, placeholders for unresolved NOT NULL FKs, then rewire FKs and make
 * m2m sets equal to the remote's, then remove placeholders. Throws on the first problem, and
 * the caller rolls back.
 */
export async function installObjects(options: InstallOptions): Promise<ModelCounts[]> {
  const { trx, dialect, manifest, plan, remoteId, remote } = options;
  const emit = options.emit ?? (() => {});
  const now = nowDatetime();
  const idMaps = new IdMaps(trx, manifest, remoteId);
  const placeholders = new Placeholders(trx, dialect, manifest);
  const planned = new Set(plan.map((m) => m.name));
  const tallies = new Map(plan.map((m) => [m.name, new Tally()]));
  const pendingFks: PendingFk[] = [];
  const pendingM2m: PendingM2m[] = [];
  /** root model name -> local ids whose last_modified must move (a child or link changed). */
  const bumps = new Map<string, Set<number>>();
  const warned = new Set<string>();
  const warnOnce = (key: string, message: string) => {
    if (!warned.has(key)) {
      warned.add(key);
      emit({ type: 'warning', message });
    }
  };
  const bump = (model: ModelDef, id: number) => {
    const root = manifest.models.get(model.root)!;
    // A root inserted by this run already carries this run's time.
    if (!root.lastModified || tallies.get(root.name)?.inserted.has(id)) return;
    if (!bumps.has(root.name)) bumps.set(root.name, new Set());
    bumps.get(root.name)!.add(id);
  };

  for (const model of plan) {
    emit({ type: 'model-installing', model: model.name });
    const tally = tallies.get(model.name)!;
    const rootMap = await idMaps.of(model);
    const parent = model.parent === undefined ? undefined : manifest.models.get(model.parent)!;
    if (parent) await idMaps.of(parent);
    for (const fk of model.fks) await idMaps.of(manifest.models.get(fk.to)!);
    const known = new Set([...model.fields.map((f) => f.name), ...model.fks.map((f) => f.name), ...model.m2m.map((m) => m.name)]);
    const seen = new Set<number>();
    const columns = 3 + model.fields.length + model.fks.length;
    const size = batchSize(dialect, columns);
    let batch: FixtureObject[] = [];
    const flush = async () => {
      try {
        await installBatch(batch);
      } catch (error) {
        if (error instanceof RemoteSyncError) throw error;
        const pks = batch.map((o) => o.pk);
        throw new ModelInstallError(`${remote}: ${model.name}: the database refused the objects pk=${Math.min(...pks)}..${Math.max(...pks)}: ${(error as Error).message}`, { meta: { remote, model: model.name }, cause: error });
      }
      batch = [];
    };

    const installBatch = async (objects: FixtureObject[]) => {
      if (objects.length === 0) return;
      const where = (pk: number, field?: string) => ({ remote, model: model.name, pk, ...(field ? { field } : {}) });
      const fail = (pk: number, field: string, message: string, cause?: unknown): never => {
        throw new ModelInstallError(`${remote}: ${model.name} pk=${pk}: ${field} ${message}`, { meta: where(pk, field), cause });
      };
      // Existing rows of these objects, for the "unchanged" comparison.
      const localIds = objects.map((o) => rootMap.get(o.pk)).filter((id): id is number => id !== undefined);
      if (parent) {
        const missing = objects.filter((o) => idMaps.lookup(parent, o.pk) === undefined);
        if (missing.length > 0) {
          const pk = missing[0].pk;
          throw new ModelInstallError(`${remote}: ${model.name} pk=${pk} has no ${model.parent} pk=${pk} (an MTI child needs its parent object, which the remote did not send)`, { meta: where(pk) });
        }
      }
      const existing = new Map<number, Record<string, unknown>>();
      if (localIds.length > 0) {
        const rows = await trx(model.table).select('*').whereIn(model.pk, localIds);
        for (const row of rows) existing.set(Number(row[model.pk]), row);
      }
      const inserts: Array<{ pk: number; row: Record<string, unknown> }> = [];
      for (const object of objects) {
        const localId = rootMap.get(object.pk);
        const current = localId === undefined ? undefined : existing.get(localId);
        const row: Record<string, unknown> = {};
        for (const field of model.fields) {
          if (field.name === rootLastModified(manifest, model)) continue;
          try {
            row[field.name] = toColumnValue(field, object.fields[field.name], dialect);
          } catch (error) {
            if (error instanceof ValueError) fail(object.pk, field.name, error.message);
            throw error;
          }
        }
        const deferred: Array<{ fk: FkDef; target: number }> = [];
        for (const fk of model.fks) {
          const value = object.fields[fk.name];
          if (value === null || value === undefined) {
            if (!fk.isNullable) fail(object.pk, fk.name, value === null ? 'is null but the foreign key is NOT NULL' : 'is missing from the payload (a NOT NULL foreign key)');
            row[fk.column] = null;
            continue;
          }
          if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(object.pk, fk.name, `expects the pk of a ${fk.to}, got ${JSON.stringify(value)}`);
          const target = idMaps.lookup(manifest.models.get(fk.to)!, value as number);
          if (target !== undefined) row[fk.column] = target;
          else deferred.push({ fk, target: value as number });
        }
        for (const m2m of model.m2m) {
          const value = object.fields[m2m.name];
          if (m2m.kind !== 'auto' || value === undefined) continue;
          if (!Array.isArray(value) || value.some((v) => typeof v !== 'number' || !Number.isSafeInteger(v))) fail(object.pk, m2m.name, `expects a list of ${m2m.to} pks, got ${JSON.stringify(value)}`);
          pendingM2m.push({ model, m2m, ownerPk: object.pk, targets: value as number[] });
        }
        for (const key of Object.keys(object.fields)) {
          if (!known.has(key) && !DROPPED_KEYS.has(key) && key !== rootLastModified(manifest, model)) {
            warnOnce(`${model.name}.${key}`, `${remote}: ${model.name}: ignoring field "${key}", which the manifest does not declare`);
          }
        }
        if (current === undefined) {
          // New object: unresolved FKs are NULL or a placeholder until the rewire.
          for (const { fk, target } of deferred) {
            row[fk.column] = fk.isNullable ? null : await placeholders.idOf(manifest.models.get(fk.to)!);
            pendingFks.push({ model, fk, ownerPk: object.pk, targetPk: target, current: undefined });
          }
          inserts.push({ pk: object.pk, row });
          continue;
        }
        // Existing object: an unresolved FK keeps its value until the rewire decides.
        for (const { fk, target } of deferred) pendingFks.push({ model, fk, ownerPk: object.pk, targetPk: target, current: current[fk.column] as number | null });
        const changed: Record<string, unknown> = {};
        for (const field of model.fields) {
          if (!(field.name in row)) continue;
          if (canonical(field, row[field.name], dialect) !== canonical(field, current[field.name], dialect)) changed[field.name] = row[field.name];
        }
        for (const fk of model.fks) {
          if (fk.column in row && numOrNull(row[fk.column]) !== numOrNull(current[fk.column])) changed[fk.column] = row[fk.column];
        }
        if (Object.keys(changed).length > 0) {
          const lm = rootLastModified(manifest, model);
          if (lm) changed[lm] = now;
          else bump(model, localId!);
          await trx(model.table).where(model.pk, localId!).update(changed);
          tally.updated.add(localId!);
        }
      }
      if (inserts.length > 0) {
        const lm = rootLastModified(manifest, model);
        if (model.parent === undefined) {
          const rows = inserts.map(({ pk, row }) => ({ ...row, ...(lm ? { [lm]: now } : {}), [ORIGINAL_ID]: pk, [ORIGINAL_DB]: remoteId }));
          const ids = await insertReturningIds(trx, dialect, model, rows);
          inserts.forEach(({ pk }, i) => {
            rootMap.set(pk, ids[i]);
            tally.inserted.add(ids[i]);
          });
        } else {
          const rows = inserts.map(({ pk, row }) => ({ ...row, [model.pk]: rootMap.get(pk)! }));
          await trx(model.table).insert(rows);
          idMaps.markPresent(model, inserts.map(({ pk }) => pk));
          for (const { pk } of inserts) {
            tally.inserted.add(rootMap.get(pk)!);
            bump(model, rootMap.get(pk)!);
          }
        }
      }
    };

    let position = 0;
    for await (const raw of options.objects(model)) {
      position++;
      const object = checkFixtureObject(raw, manifest, model, remote, position);
      if (seen.has(object.pk)) throw new ModelInstallError(`${remote}: ${model.name} pk=${object.pk} appears twice in the fixture`, { meta: { remote, model: model.name, pk: object.pk } });
      seen.add(object.pk);
      tally.objects++;
      batch.push(object);
      if (batch.length >= size) await flush();
    }
    await flush();
    emit({ type: 'model-installed', model: model.name, counts: tally.counts(model.name) });
  }

  emit({ type: 'rewiring', links: pendingFks.length + pendingM2m.length });
  const touched = (model: ModelDef, localId: number) => {
    const tally = tallies.get(model.name);
    if (tally && !tally.inserted.has(localId)) tally.updated.add(localId);
    bump(model, localId);
  };
  const unresolved = (model: ModelDef, field: string, ownerPk: number, to: string, targetPk: number, isNullable: boolean): 'skip' => {
    if (planned.has(to) || !isNullable) {
      throw new ModelInstallError(`${remote}: ${model.name} pk=${ownerPk}: ${field} refers to ${to} pk=${targetPk}, which the remote did not send`, { meta: { remote, model: model.name, pk: ownerPk, field } });
    }
    warnOnce(`unresolved ${model.name}.${field}`, `${remote}: ${model.name}.${field}: links to excluded ${to} objects that do not exist locally are left empty`);
    return 'skip';
  };
  await rewire({ trx, dialect, manifest, idMaps, pending: pendingFks, touched, unresolved });
  await linkM2m({ trx, dialect, manifest, idMaps, pending: pendingM2m, touched, unresolved });
  await placeholders.removeAll();

  for (const [rootName, ids] of bumps) {
    const root = manifest.models.get(rootName)!;
    const list = [...ids];
    for (let i = 0; i < list.length; i += 1000) {
      await trx(root.table).whereIn(root.pk, list.slice(i, i + 1000)).update({ [root.lastModified!]: now });
    }
  }
  return plan.map((m) => tallies.get(m.name)!.counts(m.name));
}

function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

/** The lastModified column when the model itself is a root that declares one. */
function rootLastModified(manifest: AppManifest, model: ModelDef): string | undefined {
  return model.parent === undefined ? model.lastModified : undefined;
}

export { RemoteSyncError };
