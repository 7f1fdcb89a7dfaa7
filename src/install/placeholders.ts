import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import { ModelInstallError } from '../errors.js';
import type { AppManifest, FieldDef, ModelDef } from '../manifest/types.js';
import { insertReturningIds, rowValues } from './insert.js';

/** A value that satisfies a NOT NULL column of a field type, for a placeholder row. */
export function placeholderValue(field: FieldDef, dialect: DialectAdapter): unknown {
  if (field.default !== undefined) return field.type === 'json' ? JSON.stringify(field.default) : field.default;
  if (field.isNullable) return null;
  switch (field.type) {
    case 'string':
    case 'text': return '';
    case 'integer':
    case 'float': return 0;
    case 'decimal': return '0';
    case 'boolean': return dialect.bindBoolean(false);
    case 'date': return '1970-01-01';
    case 'datetime': return '1970-01-01 00:00:00';
    case 'json': return '{}';
    case 'binary': return Buffer.alloc(0);
  }
}

/**
 * Placeholder ("dummy") objects: one per model, created on demand inside the install
 * transaction to satisfy NOT NULL FKs whose target is not installed yet, derived from the
 * manifest alone. Every reference to one is rewired before the commit, and they are deleted.
 */
export class Placeholders {
  /** model name -> local id of its placeholder (the id of its whole MTI chain). */
  private readonly ids = new Map<string, number>();
  private readonly building = new Set<string>();

  constructor(
    private readonly trx: Knex.Transaction,
    private readonly dialect: DialectAdapter,
    private readonly manifest: AppManifest,
    /** A dry run only hands out ids that no row has. */
    private readonly isDryRun = false,
  ) {}

  /** The local id of the placeholder of a model, creating its MTI chain the first time. */
  async idOf(model: ModelDef): Promise<number> {
    const known = this.ids.get(model.name);
    if (known !== undefined) return known;
    if (this.building.has(model.name)) {
      throw new ModelInstallError(`Cannot build a placeholder for ${model.name}: its NOT NULL foreign keys form a cycle (${[...this.building, model.name].join(' -> ')}); make one of them nullable in the manifest`, { meta: { model: model.name } });
    }
    if (this.isDryRun) {
      const fake = -1_000_000_000 - this.ids.size;
      this.ids.set(model.name, fake);
      return fake;
    }
    this.building.add(model.name);
    try {
      let id: number | undefined;
      for (const name of model.chain) {
        const level = this.manifest.models.get(name)!;
        const row: Record<string, unknown> = {};
        for (const field of level.fields) row[field.name] = placeholderValue(field, this.dialect);
        for (const fk of level.fks) row[fk.column] = fk.isNullable ? null : await this.idOf(this.manifest.models.get(fk.to)!);
        if (id === undefined) {
          [id] = await insertReturningIds(this.trx, this.dialect, level, rowValues([row]));
        } else {
          row[level.pk] = id;
          await this.trx(level.table).insert(row);
        }
      }
      this.ids.set(model.name, id!);
      return id!;
    } finally {
      this.building.delete(model.name);
    }
  }

  /** Every placeholder made so far, as [model, local id]. */
  entries(): Array<[ModelDef, number]> {
    return [...this.ids].map(([name, id]) => [this.manifest.models.get(name)!, id]);
  }

  /** The ids of placeholders whose chain includes `model` (a reference to any of them is a reference to a placeholder). */
  idsReachableAs(model: ModelDef): number[] {
    return this.entries().filter(([m]) => m.chain.includes(model.name)).map(([, id]) => id);
  }

  /** Check nothing references a placeholder, then delete them (children before parents). */
  async removeAll(): Promise<void> {
    const entries = this.entries();
    if (entries.length === 0 || this.isDryRun) return;
    for (const model of this.manifest.models.values()) {
      for (const fk of model.fks) {
        const ids = this.idsReachableAs(this.manifest.models.get(fk.to)!);
        if (ids.length === 0) continue;
        const row = await this.trx(model.table).select(model.pk).whereIn(fk.column, ids).first();
        if (row) {
          throw new ModelInstallError(`${model.name} local id ${row[model.pk]}: ${fk.name} still points at a placeholder ${fk.to} after rewiring (internal error; nothing was committed)`, { meta: { model: model.name, field: fk.name } });
        }
      }
    }
    for (const [model, id] of entries) {
      for (const name of [...model.chain].reverse()) {
        const level = this.manifest.models.get(name)!;
        await this.trx(level.table).where(level.pk, id).del();
      }
    }
    this.ids.clear();
  }
}
