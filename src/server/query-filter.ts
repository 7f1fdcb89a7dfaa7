import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import type { ModelDef } from '../manifest/types.js';
import { toColumnValue, ValueError } from '../values/values.js';
import type { Equals } from './serialize.js';

/** A query parameter that names no column of the model, or whose value the column cannot hold. */
export class QueryError extends Error {}

/**
 * `GET /api/<Model>/?field=value[&field=value]` (python-sync-db's query): each parameter names a
 * declared field or FK of the model itself (an MTI child's own, not its parents'), and its value
 * is what that column must equal, as the fixture would carry it: `true`, `3`, `2020-01-31`,
 * `null` for IS NULL. Values are checked like incoming fixture values, so no text reaches SQL.
 */
export function parseEquals(model: ModelDef, params: URLSearchParams, dialect: DialectAdapter): Equals {
  const out: Array<{ column: string; value: Knex.Value }> = [];
  for (const [name, raw] of params) {
    if (raw === 'null') {
      const nullable = model.fields.find((f) => f.name === name)?.isNullable ?? model.fks.find((f) => f.name === name)?.isNullable;
      if (nullable === undefined) throw new QueryError(`${model.name} has no field "${name}" to filter on`);
      out.push({ column: model.fks.find((f) => f.name === name)?.column ?? name, value: null });
      continue;
    }
    const fk = model.fks.find((f) => f.name === name);
    if (fk) {
      if (!/^\d+$/.test(raw)) throw new QueryError(`${model.name}.${name} is a reference: give the pk it points at, not ${JSON.stringify(raw)}`);
      out.push({ column: fk.column, value: Number(raw) });
      continue;
    }
    const field = model.fields.find((f) => f.name === name);
    if (!field) throw new QueryError(`${model.name} has no field "${name}" to filter on (its fields: ${[...model.fields.map((f) => f.name), ...model.fks.map((f) => f.name)].join(', ')})`);
    const text = ['string', 'text', 'date', 'datetime', 'decimal'].includes(field.type);
    let value: unknown = raw;
    if (!text) {
      try {
        value = JSON.parse(raw);
      } catch {
        value = raw;
      }
    }
    try {
      out.push({ column: field.name, value: toColumnValue(field, value, dialect) as Knex.Value });
    } catch (error) {
      if (error instanceof ValueError) throw new QueryError(`${model.name}.${name} ${error.message}`);
      throw error;
    }
  }
  return out;
}
