import type { DialectAdapter } from '../dialects/index.js';
import type { AppManifest, FkDef, M2mDef, ModelDef } from '../manifest/types.js';
import { toColumnValue, ValueError } from '../values/values.js';
import type { FixtureObject } from './fixture-object.js';

/** Something wrong with one field of one object. */
export class ObjectProblem extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field} ${message}`);
  }
}

/** A fixture object turned into column values, with its links still as remote pks. */
export interface DecodedObject {
  pk: number;
  /** Plain columns, bound-ready (the root's lastModified column is left out: it is the local write time). */
  row: Record<string, unknown>;
  fks: Array<{ fk: FkDef; target: number | null }>;
  /** Auto m2m lists the payload carries (a missing key leaves that object's links alone). */
  m2m: Array<{ m2m: M2mDef; targets: number[] }>;
  /** Keys the manifest does not declare (warned about, never used). */
  unknown: string[];
  /** Declared fields the payload lacks, filled with their default (schema drift, warned about). */
  missing: string[];
}

/** Keys every payload may carry that are never copied: the remote's own origin tags. */
const DROPPED_KEYS = new Set(['original_id', 'original_db', 'original_db_id']);

/** The lastModified column when the model itself is a root that declares one. */
export function ownLastModified(model: ModelDef): string | undefined {
  return model.parent === undefined ? model.lastModified : undefined;
}

/** Check and convert one object's fields; throws an ObjectProblem naming the field. */
export function decodeObject(manifest: AppManifest, model: ModelDef, object: FixtureObject, dialect: DialectAdapter): DecodedObject {
  const lastModified = ownLastModified(model);
  const row: Record<string, unknown> = {};
  for (const field of model.fields) {
    if (field.name === lastModified) continue;
    try {
      row[field.name] = toColumnValue(field, object.fields[field.name], dialect);
    } catch (error) {
      if (error instanceof ValueError) throw new ObjectProblem(field.name, error.message);
      throw error;
    }
  }
  const fks: DecodedObject['fks'] = [];
  for (const fk of model.fks) {
    const value = object.fields[fk.name];
    if (value === null || value === undefined) {
      if (!fk.isNullable) throw new ObjectProblem(fk.name, value === null ? 'is null but the foreign key is NOT NULL' : 'is missing from the payload (a NOT NULL foreign key)');
      fks.push({ fk, target: null });
      continue;
    }
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new ObjectProblem(fk.name, `expects the pk of a ${fk.to}, got ${JSON.stringify(value)}`);
    fks.push({ fk, target: value });
  }
  const m2m: DecodedObject['m2m'] = [];
  for (const link of model.m2m) {
    const value = object.fields[link.name];
    if (link.kind !== 'auto' || value === undefined) continue;
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'number' || !Number.isSafeInteger(v))) {
      throw new ObjectProblem(link.name, `expects a list of ${link.to} pks, got ${JSON.stringify(value)}`);
    }
    m2m.push({ m2m: link, targets: value as number[] });
  }
  return { pk: object.pk, row, fks, m2m, ...shapeOf(model, object.fields, lastModified) };
}

/** Objects of a model nearly always carry the same keys: their unknown/missing lists are worked out once per key set. */
const shapes = new WeakMap<ModelDef, Map<string, { unknown: string[]; missing: string[] }>>();

/** The key list of the last object seen per model, and its shape: the next object most likely has the same keys. */
const lastShape = new WeakMap<ModelDef, { keys: string[]; shape: { unknown: string[]; missing: string[] } }>();

function shapeOf(model: ModelDef, fields: Record<string, unknown>, lastModified: string | undefined): { unknown: string[]; missing: string[] } {
  const keys = Object.keys(fields);
  const last = lastShape.get(model);
  if (last !== undefined && sameKeys(last.keys, keys)) return last.shape;
  const shape = shapeOfKeys(model, keys, fields, lastModified);
  lastShape.set(model, { keys, shape });
  return shape;
}

function sameKeys(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function shapeOfKeys(model: ModelDef, keys: string[], fields: Record<string, unknown>, lastModified: string | undefined): { unknown: string[]; missing: string[] } {
  const signature = keys.join('\u0000');
  let cache = shapes.get(model);
  if (!cache) shapes.set(model, (cache = new Map()));
  let shape = cache.get(signature);
  if (!shape) {
    const declared = new Set([...model.fields.map((f) => f.name), ...model.fks.map((f) => f.name), ...model.m2m.map((m) => m.name)]);
    shape = {
      unknown: keys.filter((key) => !DROPPED_KEYS.has(key) && key !== lastModified && !declared.has(key)),
      missing: [...model.fields.filter((f) => f.name !== lastModified).map((f) => f.name), ...model.fks.map((f) => f.name)].filter((name) => !(name in fields)),
    };
    if (cache.size < 1000) cache.set(signature, shape);
  }
  return shape;
}
