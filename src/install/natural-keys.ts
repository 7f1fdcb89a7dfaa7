import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import type { ModelDef } from '../manifest/types.js';
import { ORIGINAL_DB } from '../schema/app-tables.js';
import { canonical } from '../values/values.js';

/** A row whose natural key matched, and where its fields and the remote's disagree. */
export interface Disagreement {
  model: string;
  /** The object's pk on the remote. */
  pk: number;
  /** The local row it maps onto. */
  localId: number;
  key: string;
  fields: string[];
  /** What was done: the local values kept, or the remote's taken. */
  resolution: 'kept-local' | 'took-remote';
}

/**
 * The natural keys of the rows a remote may map onto: every row of the model that is not this
 * remote's own (local-only rows and other remotes' rows). Never within one remote, never on an
 * empty or null key.
 */
export class NaturalKeyIndex {
  private constructor(
    private readonly model: ModelDef,
    private readonly dialect: DialectAdapter,
    private readonly byKey: Map<string, number>,
  ) {}

  static async load(trx: Knex.Transaction, dialect: DialectAdapter, model: ModelDef, remoteId: number): Promise<NaturalKeyIndex> {
    const index = new NaturalKeyIndex(model, dialect, new Map());
    if (!(await trx.schema.hasTable(model.table))) return index;
    const rows = await trx(model.table).select(model.pk, ...model.naturalKey!).where((q) => q.whereNull(ORIGINAL_DB).orWhereNot(ORIGINAL_DB, remoteId)).orderBy(model.pk);
    for (const row of rows) {
      const key = index.keyOf(row, false);
      // The oldest row wins when local data already holds duplicates.
      if (key !== undefined && !index.byKey.has(key)) index.byKey.set(key, Number(row[model.pk]));
    }
    return index;
  }

  /** The key of a row (stored values, or values about to be bound), or undefined when any part is empty. */
  keyOf(row: Record<string, unknown>, isBound: boolean): string | undefined {
    const parts: unknown[] = [];
    for (const name of this.model.naturalKey!) {
      const field = this.model.fields.find((f) => f.name === name)!;
      const value = canonical(field, row[name], this.dialect, isBound);
      if (value === null || value === '') return undefined;
      parts.push(value);
    }
    return JSON.stringify(parts);
  }

  find(key: string | undefined): number | undefined {
    return key === undefined ? undefined : this.byKey.get(key);
  }
}
