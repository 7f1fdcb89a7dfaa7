import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import type { ModelDef } from '../manifest/types.js';
import { ORIGINAL_DB } from '../schema/app-tables.js';
import { IDMAP_TABLE } from '../schema/bookkeeping.js';
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
 * remote's own (local-only rows and other remotes' rows). Never within one remote (its own rows
 * are no candidates, and a row it claimed is not claimed again by another of its objects),
 * never on an empty or null key.
 */
export class NaturalKeyIndex {
  private constructor(
    private readonly model: ModelDef,
    private readonly dialect: DialectAdapter,
    private readonly byKey: Map<string, number[]>,
    /** Rows this remote already claimed (earlier runs and this one): never claimed twice. */
    private readonly claimed: Set<number>,
  ) {}

  static async load(trx: Knex.Transaction, dialect: DialectAdapter, model: ModelDef, remoteId: number): Promise<NaturalKeyIndex> {
    const index = new NaturalKeyIndex(model, dialect, new Map(), new Set());
    if (!(await trx.schema.hasTable(model.table))) return index;
    const rows = await trx(model.table).select(model.pk, ...model.naturalKey!).where((q) => q.whereNull(ORIGINAL_DB).orWhereNot(ORIGINAL_DB, remoteId)).orderBy(model.pk);
    for (const row of rows) {
      const key = index.keyOf(row, false);
      if (key === undefined) continue;
      if (!index.byKey.has(key)) index.byKey.set(key, []);
      index.byKey.get(key)!.push(Number(row[model.pk]));
    }
    if (await trx.schema.hasTable(IDMAP_TABLE)) {
      for (const claim of await trx(IDMAP_TABLE).select('local_id').where({ original_db_id: remoteId, model: model.name })) index.claimed.add(Number(claim.local_id));
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

  /** The oldest row with this key that this remote has not claimed yet; claims it. */
  claim(key: string | undefined): number | undefined {
    if (key === undefined) return undefined;
    const id = this.byKey.get(key)?.find((candidate) => !this.claimed.has(candidate));
    if (id !== undefined) this.claimed.add(id);
    return id;
  }
}
