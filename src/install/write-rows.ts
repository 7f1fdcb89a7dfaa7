import type { FieldType } from '../manifest/types.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../schema/app-tables.js';
import { canonical } from '../values/values.js';
import { failObject, type InstallContext, type ModelStep } from './context.js';
import { warnShape } from './decode-batch.js';
import type { DecodedObject } from './decode-object.js';
import { insertReturningIds, insertValues, updateRows, type RowUpdate } from './insert.js';
import { bumpRoot } from './last-modified.js';
import type { DecodedFk } from './resolve-ids.js';

/** A new object's row, to be inserted. */
export interface NewRow {
  pk: number;
  row: Record<string, unknown>;
}

/**
 * Write rows, part one: update each stored row whose incoming version differs (as the
 * context's conflict rule and the natural-key policy allow), queue every link the rewire
 * and m2m phases must settle, and collect the new objects. A new object's unresolved
 * NOT NULL FK points at its model's placeholder until the rewire. Returns the new rows.
 */
export async function writeRows(ctx: InstallContext, step: ModelStep, decoded: DecodedObject[], stored: Map<number, Record<string, unknown>>, deferred: Array<DecodedFk[] | undefined>): Promise<NewRow[]> {
  const { manifest, placeholders, pendingFks, pendingM2m } = ctx;
  const { model, rootMap } = step;
  const inserts: NewRow[] = [];
  const updates: RowUpdate[] = [];
  for (let index = 0; index < decoded.length; index++) {
    const object = decoded[index];
    warnShape(ctx, step, object);
    const localId = rootMap.get(object.pk);
    const current = localId === undefined ? undefined : stored.get(localId);
    if (current !== undefined) {
      // Synchronous: no promise per stored object; the batch's changes are written together below.
      const changed = changesOf(ctx, step, object, localId!, current, deferred[index]);
      if (changed !== undefined) {
        updates.push({ id: localId!, changed });
        step.tally.updated.add(localId!);
      }
      continue;
    }
    for (const { m2m, targets } of object.m2m) pendingM2m.push({ model, m2m, ownerPk: object.pk, targets });
    // New object: unresolved FKs are NULL or a placeholder until the rewire.
    const unresolved = deferred[index];
    if (unresolved) {
      for (const { fk, target } of unresolved) {
        object.row[fk.column] = fk.isNullable ? null : await placeholders.idOf(manifest.models.get(fk.to)!);
        pendingFks.push(model, fk, object.pk, target!, undefined);
      }
    }
    inserts.push({ pk: object.pk, row: object.row });
  }
  if (updates.length > 0 && !ctx.isDryRun) await updateRows(ctx.trx, ctx.dialect, model.table, model.pk, castsOf(ctx, step), updates);
  return inserts;
}

/**
 * One stored row: if the conflict rule takes the incoming version, its links are queued and
 * its changed columns returned (with this run's time) for the caller to write; undefined when
 * nothing is to be written.
 */
function changesOf(ctx: InstallContext, step: ModelStep, object: DecodedObject, localId: number, current: Record<string, unknown>, unresolved: DecodedFk[] | undefined): Record<string, unknown> | undefined {
  const { dialect, remoteId, pendingFks } = ctx;
  const { model, naturalKeys, lastModified } = step;
  const { row } = object;
  // A row this remote did not create (matched by natural key) is only written as its policy says.
  const isClaimed = naturalKeys !== undefined && Number(current[ORIGINAL_DB] ?? 0) !== remoteId;
  // A row of this origin: the conflict rule decides whether the incoming version is taken.
  if (!isClaimed && ctx.decide(model, object, current) === 'keep') return undefined;
  if (!isClaimed) for (const { m2m, targets } of object.m2m) ctx.pendingM2m.push({ model, m2m, ownerPk: object.pk, targets });
  // A claimed row's links are the local data's: they are only rewired when the remote's values are taken.
  const isLocalOnly = current[ORIGINAL_DB] === null || current[ORIGINAL_DB] === undefined;
  const mayWrite = !isClaimed || (model.naturalKeyPolicy === 'take-remote' && !isLocalOnly && ctx.mayTakeClaimed);
  // Existing object: an unresolved FK keeps its value until the rewire decides.
  if (mayWrite && unresolved) for (const { fk, target } of unresolved) pendingFks.push(model, fk, object.pk, target!, current[fk.column] as number | null);
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
    if (model.naturalKeyPolicy === 'error') failObject(ctx, model, object.pk, fields[0], `disagrees with the local row ${localId} it matches by natural key ${key} (fields ${fields.join(', ')}); naturalKeyPolicy is "error"`);
    const resolution = mayWrite ? 'took-remote' : 'kept-local';
    ctx.disagreements.push({ model: model.name, pk: object.pk, localId, key, fields, resolution });
    ctx.emit({ type: 'warning', message: `${ctx.remote}: ${model.name} pk=${object.pk} matches local row ${localId} by ${model.naturalKey!.join(', ')} ${key} but differs in ${fields.join(', ')}: ${resolution === 'kept-local' ? 'kept the local values' : "took the remote's values"}` });
    if (resolution === 'kept-local') return undefined;
  }
  if (Object.keys(changed).length === 0) return undefined;
  if (lastModified) changed[lastModified] = ctx.now;
  else bumpRoot(ctx, model, localId);
  return changed;
}

/**
 * Write rows, part two: insert the new objects in one statement. A root's rows get their
 * origin tags and this run's time, and their generated ids go to the id map (a dry run hands
 * out negative ids); an MTI child's rows take their root's id.
 */
export async function insertNewRows(ctx: InstallContext, step: ModelStep, inserts: NewRow[]): Promise<void> {
  if (inserts.length === 0) return;
  const { trx, dialect, remoteId, now, isDryRun } = ctx;
  const { model, rootMap, tally, lastModified } = step;
  const columns = Object.keys(inserts[0].row);
  if (model.parent === undefined) {
    // The origin tags and this run's time after the row's own columns.
    const tags = lastModified ? [lastModified, ORIGINAL_ID, ORIGINAL_DB] : [ORIGINAL_ID, ORIGINAL_DB];
    const ids = isDryRun ? inserts.map(() => --ctx.fakeId) : await insertReturningIds(trx, dialect, model, { columns: [...columns, ...tags], values: valuesOf(inserts, columns, (pk, values) => {
      if (lastModified) values.push(now);
      values.push(pk, remoteId);
    }) });
    for (let i = 0; i < inserts.length; i++) {
      rootMap.set(inserts[i].pk, ids[i]);
      tally.inserted.add(ids[i]);
    }
  } else {
    if (!isDryRun) await insertValues(trx, dialect, model.table, { columns: [...columns, model.pk], values: valuesOf(inserts, columns, (pk, values) => values.push(rootMap.get(pk)!)) });
    ctx.idMaps.markPresent(model, inserts.map(({ pk }) => pk));
    for (const { pk } of inserts) {
      tally.inserted.add(rootMap.get(pk)!);
      bumpRoot(ctx, model, rootMap.get(pk)!);
    }
  }
}

/** The new rows' values in one flat array: each row's `columns`, then what `more` appends for it. */
function valuesOf(inserts: NewRow[], columns: string[], more: (pk: number, values: unknown[]) => void): unknown[] {
  const values: unknown[] = [];
  for (const { pk, row } of inserts) {
    for (const column of columns) {
      const value = row[column];
      values.push(value === undefined ? null : value);
    }
    more(pk, values);
  }
  return values;
}

/** Each column's CAST for a batched UPDATE of the model (fields by type, FKs as ids), per dialect. */
function castsOf(ctx: InstallContext, step: ModelStep): (column: string) => string | undefined {
  const { dialect } = ctx;
  const { model } = step;
  const types = new Map<string, FieldType | 'id'>([...model.fields.map((f) => [f.name, f.type] as const), ...model.fks.map((fk) => [fk.column, 'id'] as const)]);
  return (column) => dialect.castOf(types.get(column) ?? 'text');
}

function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}
