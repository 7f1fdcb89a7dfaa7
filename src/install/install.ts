import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import { databaseMessage, ModelInstallError, RemoteSyncError } from '../errors.js';
import type { AppManifest, FkDef, ModelDef } from '../manifest/types.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../schema/app-tables.js';
import { IDMAP_TABLE } from '../schema/bookkeeping.js';
import { canonical, nowDatetime } from '../values/values.js';
import { decodeObject, ObjectProblem, ownLastModified } from './decode-object.js';
import { checkFixtureObject, wrapFixtureErrors, type FixtureObject } from './fixture-object.js';
import { IdMaps } from './id-map.js';
import { IntSet } from './int-collections.js';
import { Tally, type ModelCounts } from './tally.js';
import { NaturalKeyIndex, type Disagreement } from './natural-keys.js';
import { batchSize, insertReturningIds, insertRows } from './insert.js';
import { linkM2m, type PendingM2m } from './m2m.js';
import { Placeholders } from './placeholders.js';
import { pruneRemote } from './prune.js';
import { findRejects, type Reject, type RejectSet } from './rejects.js';
import { rewire, type PendingFk } from './rewire.js';

export type { ModelCounts } from './tally.js';

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
  /** The remote's registry id (`undefined` for a dry run against a remote not registered yet). */
  remoteId: number | undefined;
  /** The remote's hostname, for messages. */
  remote: string;
  /** The fixture objects of a model in batches (already fetched or staged); may be called twice with `skip`. */
  objects: (model: ModelDef) => AsyncIterable<unknown[]>;
  /** `--skip`: leave out what cannot be installed (and what depends on it) instead of failing. */
  skip?: boolean;
  /** `--dry-run`: compute every count, write nothing. */
  isDryRun?: boolean;
  /** `--prune`: delete this remote's rows whose objects its (full) fixtures no longer hold. */
  prune?: boolean;
  emit?: (event: InstallEvent) => void;
}

/** The outcome of an install. */
export interface InstallResult {
  counts: ModelCounts[];
  rejects: Reject[];
  /** Natural-key matches whose other fields disagreed, and what was done. */
  disagreements: Disagreement[];
}

/**
 * Install every object of the plan under local ids inside the caller's transaction:
 * upsert by origin tags, placeholders for unresolved NOT NULL FKs, then rewire FKs and make
 * m2m sets equal to the remote's, then remove placeholders. Throws on the first problem
 * (unless `skip`), and the caller rolls back.
 */
export async function installObjects(options: InstallOptions): Promise<InstallResult> {
  const { trx, dialect, manifest, plan, remote } = options;
  const isDryRun = options.isDryRun === true;
  const remoteId = options.remoteId ?? -1;
  const emit = options.emit ?? (() => {});
  const now = nowDatetime();
  const idMaps = new IdMaps(trx, manifest, remoteId);
  const placeholders = new Placeholders(trx, dialect, manifest, isDryRun);
  const planned = new Set(plan.map((m) => m.name));
  const tallies = new Map(plan.map((m) => [m.name, new Tally()]));
  const rejects: RejectSet | undefined = options.skip ? await findRejects({ manifest, plan, dialect, remote, idMaps, objects: options.objects }) : undefined;
  const rejectList: Reject[] = rejects ? [...rejects.reasons] : [];
  const listed = new Set(rejectList.map((r) => `${r.model}:${r.pk}`));
  const pendingFks: PendingFk[] = [];
  const pendingM2m: PendingM2m[] = [];
  /** root model name -> local ids whose last_modified must move (a child or link changed). */
  const bumps = new Map<string, IntSet>();
  let fakeId = 0;
  const disagreements: Disagreement[] = [];
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
    if (!bumps.has(root.name)) bumps.set(root.name, new IntSet());
    bumps.get(root.name)!.add(id);
  };

  for (const model of plan) {
    emit({ type: 'model-installing', model: model.name });
    const tally = tallies.get(model.name)!;
    const rootMap = await idMaps.of(model);
    const parent = model.parent === undefined ? undefined : manifest.models.get(model.parent)!;
    if (parent) await idMaps.of(parent);
    for (const fk of model.fks) await idMaps.of(manifest.models.get(fk.to)!);
    const lastModified = ownLastModified(model);
    const naturalKeys = model.naturalKey && !model.parent ? await NaturalKeyIndex.load(trx, dialect, model, remoteId) : undefined;
    const seen = tally.seen;
    const size = batchSize(dialect, 3 + model.fields.length + model.fks.length);
    const fail = (pk: number, field: string | undefined, message: string): never => {
      throw new ModelInstallError(`${remote}: ${model.name} pk=${pk}: ${field ? `${field} ` : ''}${message}`, { meta: { remote, model: model.name, pk, ...(field ? { field } : {}) } });
    };

    const installBatch = async (objects: FixtureObject[]) => {
      if (parent) {
        const orphan = objects.find((o) => idMaps.lookup(parent, o.pk) === undefined);
        if (orphan) fail(orphan.pk, undefined, `has no ${parent.name} pk=${orphan.pk} (an MTI child needs its parent object, which the remote did not send)`);
      }
      const decodedAll = objects.map((object) => {
        try {
          return decodeObject(manifest, model, object, dialect);
        } catch (error) {
          if (error instanceof ObjectProblem) fail(object.pk, error.field, error.message.slice(error.field.length + 1));
          throw error;
        }
      });
      // A new object whose natural key matches a row that is not this remote's maps onto it.
      if (naturalKeys) {
        const claims: Array<{ pk: number; localId: number }> = [];
        for (const decoded of decodedAll) {
          if (rootMap.has(decoded.pk)) continue;
          const localId = naturalKeys.claim(naturalKeys.keyOf(decoded.row, true));
          if (localId === undefined) continue;
          rootMap.set(decoded.pk, localId);
          claims.push({ pk: decoded.pk, localId });
        }
        if (claims.length > 0 && !isDryRun) {
          await insertRows(trx, dialect, IDMAP_TABLE, claims.map((c) => ({ original_db_id: remoteId, model: model.name, original_id: c.pk, local_id: c.localId })));
        }
      }
      // Existing rows of these objects, for the "unchanged" comparison.
      const localIds = objects.map((o) => rootMap.get(o.pk)).filter((id): id is number => id !== undefined && id > 0);
      const existing = new Map<number, Record<string, unknown>>();
      if (localIds.length > 0) {
        for (const row of await trx(model.table).select('*').whereIn(model.pk, localIds)) existing.set(Number(row[model.pk]), row);
      }
      const inserts: Array<{ pk: number; row: Record<string, unknown> }> = [];
      for (const [index, object] of objects.entries()) {
        const decoded = decodedAll[index];
        for (const key of decoded.unknown) warnOnce(`${model.name}.${key}`, `${remote}: ${model.name}: ignoring field "${key}", which the manifest does not declare`);
        for (const key of decoded.missing) warnOnce(`${model.name}.${key}?`, `${remote}: ${model.name}: the remote does not send "${key}"; using its default (the remote may run another revision of the app)`);
        const { row } = decoded;
        const deferred: Array<{ fk: FkDef; target: number }> = [];
        for (const { fk, target } of decoded.fks) {
          const targetModel = manifest.models.get(fk.to)!;
          if (target === null || (rejects?.has(targetModel, target) && fk.isNullable)) {
            row[fk.column] = null;
            continue;
          }
          const local = idMaps.lookup(targetModel, target);
          if (local !== undefined) row[fk.column] = local;
          else deferred.push({ fk, target });
        }
        const localId = rootMap.get(object.pk);
        const current = localId === undefined ? undefined : existing.get(localId);
        // A row this remote did not create (matched by natural key) is only written as its policy says.
        const isClaimed = naturalKeys !== undefined && current !== undefined && Number(current[ORIGINAL_DB] ?? 0) !== remoteId;
        if (!isClaimed) for (const { m2m, targets } of decoded.m2m) pendingM2m.push({ model, m2m, ownerPk: object.pk, targets });
        if (current === undefined) {
          // New object: unresolved FKs are NULL or a placeholder until the rewire.
          for (const { fk, target } of deferred) {
            row[fk.column] = fk.isNullable ? null : await placeholders.idOf(manifest.models.get(fk.to)!);
            pendingFks.push({ model, fk, ownerPk: object.pk, targetPk: target, current: undefined });
          }
          inserts.push({ pk: object.pk, row });
          continue;
        }
        // A claimed row's links are the local data's: they are only rewired when the remote's values are taken.
        const isLocalOnly = current[ORIGINAL_DB] === null || current[ORIGINAL_DB] === undefined;
        const mayWrite = !isClaimed || (model.naturalKeyPolicy === 'take-remote' && !isLocalOnly);
        // Existing object: an unresolved FK keeps its value until the rewire decides.
        if (mayWrite) for (const { fk, target } of deferred) pendingFks.push({ model, fk, ownerPk: object.pk, targetPk: target, current: current[fk.column] as number | null });
        const changed: Record<string, unknown> = {};
        for (const field of model.fields) {
          if (field.name in row && canonical(field, row[field.name], dialect, true) !== canonical(field, current[field.name], dialect)) changed[field.name] = row[field.name];
        }
        for (const fk of model.fks) {
          if (fk.column in row && numOrNull(row[fk.column]) !== numOrNull(current[fk.column])) changed[fk.column] = row[fk.column];
        }
        if (isClaimed && Object.keys(changed).length > 0) {
          const key = naturalKeys?.keyOf(row, true) ?? '';
          const fields = Object.keys(changed);
          if (model.naturalKeyPolicy === 'error') fail(object.pk, fields[0], `disagrees with the local row ${localId} it matches by natural key ${key} (fields ${fields.join(', ')}); naturalKeyPolicy is "error"`);
          const resolution = mayWrite ? 'took-remote' : 'kept-local';
          disagreements.push({ model: model.name, pk: object.pk, localId: localId!, key, fields, resolution });
          emit({ type: 'warning', message: `${remote}: ${model.name} pk=${object.pk} matches local row ${localId} by ${model.naturalKey!.join(', ')} ${key} but differs in ${fields.join(', ')}: ${resolution === 'kept-local' ? 'kept the local values' : "took the remote's values"}` });
          if (resolution === 'kept-local') continue;
        }
        if (Object.keys(changed).length > 0) {
          if (lastModified) changed[lastModified] = now;
          else bump(model, localId!);
          if (!isDryRun) await trx(model.table).where(model.pk, localId!).update(changed);
          tally.updated.add(localId!);
        }
      }
      if (inserts.length === 0) return;
      if (model.parent === undefined) {
        const rows = inserts.map(({ pk, row }) => ({ ...row, ...(lastModified ? { [lastModified]: now } : {}), [ORIGINAL_ID]: pk, [ORIGINAL_DB]: remoteId }));
        const ids = isDryRun ? rows.map(() => --fakeId) : await insertReturningIds(trx, dialect, model, rows);
        inserts.forEach(({ pk }, i) => {
          rootMap.set(pk, ids[i]);
          tally.inserted.add(ids[i]);
        });
      } else {
        if (!isDryRun) await insertRows(trx, dialect, model.table, inserts.map(({ pk, row }) => ({ ...row, [model.pk]: rootMap.get(pk)! })));
        idMaps.markPresent(model, inserts.map(({ pk }) => pk));
        for (const { pk } of inserts) {
          tally.inserted.add(rootMap.get(pk)!);
          bump(model, rootMap.get(pk)!);
        }
      }
    };

    let batch: FixtureObject[] = [];
    const flush = async () => {
      try {
        if (batch.length > 0) await installBatch(batch);
      } catch (error) {
        if (error instanceof RemoteSyncError) throw error;
        const pks = batch.map((o) => o.pk);
        const reason = databaseMessage(error);
        const isLost = /connection (terminated|lost)|server closed|gone away|ECONNRESET|terminating connection|EPIPE/i.test(reason);
        const what = isLost ? 'lost the connection to the database while installing' : 'the database refused';
        throw new ModelInstallError(`${remote}: ${model.name}: ${what} the objects pk=${Math.min(...pks)}..${Math.max(...pks)}: ${reason}${isLost ? ' (nothing was committed; run again once the database is back)' : ''}`, { meta: { remote, model: model.name }, cause: error });
      }
      batch = [];
    };
    let position = 0;
    for await (const chunk of wrapFixtureErrors(options.objects(model), remote, model)) for (const raw of chunk) {
      position++;
      tally.objects++;
      if (rejects) {
        const rawPk = (raw as { pk?: unknown })?.pk;
        const pk = typeof rawPk === 'string' && /^\d+$/.test(rawPk) ? Number(rawPk) : rawPk;
        if (typeof pk !== 'number' || rejects.has(model, pk) || seen.has(pk)) {
          // Still the remote's: --prune must not delete it.
          if (typeof pk === 'number') seen.add(pk);
          tally.skipped++;
          if (typeof pk === 'number' && !listed.has(`${model.name}:${pk}`)) {
            listed.add(`${model.name}:${pk}`);
            rejectList.push({ model: model.name, pk, reason: 'left out with the rest of its MTI chain' });
          }
          continue;
        }
      }
      const object = checkFixtureObject(raw, manifest, model, remote, position);
      if (seen.has(object.pk)) fail(object.pk, undefined, 'appears twice in the fixture');
      seen.add(object.pk);
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
    const isRejected = rejects?.has(manifest.models.get(to)!, targetPk) ?? false;
    if ((planned.has(to) || !isNullable) && !(rejects && isNullable)) {
      throw new ModelInstallError(`${remote}: ${model.name} pk=${ownerPk}: ${field} refers to ${to} pk=${targetPk}, which the remote did not send`, { meta: { remote, model: model.name, pk: ownerPk, field } });
    }
    if (rejects && planned.has(to)) {
      rejectList.push({ model: model.name, pk: ownerPk, reason: `${field}: link to ${to} pk=${targetPk} left empty (${isRejected ? 'rejected' : 'not sent by the remote'})` });
    } else {
      warnOnce(`unresolved ${model.name}.${field}`, `${remote}: ${model.name}.${field}: links to excluded ${to} objects that do not exist locally are left empty`);
    }
    return 'skip';
  };
  await rewire({ trx, dialect, manifest, idMaps, pending: pendingFks, touched, unresolved, isDryRun });
  await linkM2m({ trx, dialect, manifest, idMaps, pending: pendingM2m, touched, unresolved, isDryRun });
  await placeholders.removeAll();
  // A remote not registered here yet (a dry run into a fresh database) has no rows to prune.
  if (options.prune && options.remoteId !== undefined) {
    const deleted = await pruneRemote({ trx, dialect, manifest, plan, remoteId, remote, isDryRun, seen: (m) => tallies.get(m.name)!.seen });
    for (const [name, n] of deleted) {
      const tally = tallies.get(name);
      if (tally) tally.deleted = n;
    }
  }

  if (!isDryRun) {
    for (const [rootName, ids] of bumps) {
      const root = manifest.models.get(rootName)!;
      const list = [...ids.values()];
      for (let i = 0; i < list.length; i += 1000) await trx(root.table).whereIn(root.pk, list.slice(i, i + 1000)).update({ [root.lastModified!]: now });
    }
  }
  return { counts: plan.map((m) => tallies.get(m.name)!.counts(m.name)), rejects: rejectList, disagreements };
}

function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}
