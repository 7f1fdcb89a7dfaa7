import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import { ConfigError } from '../errors.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { registryRef } from './registry-table.js';

/** The origin tag columns every root table gets. */
export const ORIGINAL_ID = 'original_id';
export const ORIGINAL_DB = 'original_db_id';

/** What to do with an existing app table that lacks the origin tags. */
export type ExistingTablePolicy = 'add-tags' | 'error';

interface ForeignKey { table: string; column: string; refTable: string; refColumn: string }

/** A constraint/index name within MySQL's 64 and PostgreSQL's 63 character limits. */
export function constraintName(prefix: string, table: string, columns: string[]): string {
  const name = `${prefix}_${table}_${columns.join('_')}`;
  return name.length <= 60 ? name : `${name.slice(0, 48)}_${createHash('sha1').update(name).digest('hex').slice(0, 10)}`;
}

/**
 * Create whatever is missing of an app's tables (every model, the auto m2m tables) with
 * origin tags on every root table. An existing root table without tags gets them with
 * `add-tags` (what `init` does) and is an error with `error` (what a sync's prepare does).
 */
export async function ensureAppTables(knex: Knex | Knex.Transaction, dialect: DialectAdapter, manifest: AppManifest, policy: ExistingTablePolicy): Promise<{ created: string[]; tagged: string[] }> {
  const created: string[] = [];
  const tagged: string[] = [];
  const fks: ForeignKey[] = [];
  const inline = dialect.supportsForwardReferences;
  // The origin tag references the registry's id: the same integer kind (signed or not) as it.
  const ref = await registryRef(knex, dialect, manifest.registry);
  // One catalog query for every table and column (on a server, a hasTable is a query each).
  const existing = await dialect.listColumns(knex);
  for (const model of manifest.models.values()) {
    const isRoot = model.parent === undefined;
    const columns = existing.get(model.table);
    if (columns) {
      checkColumns(columns, model);
      if (isRoot && !columns.has(ORIGINAL_ID)) {
        if (policy === 'error') {
          throw new ConfigError(`Table ${model.table} (${model.name}) has no origin tags (original_id, original_db_id); run "remotesyncdb init -a ${manifest.app}" against this database first`, { meta: { model: model.name } });
        }
        await knex.schema.alterTable(model.table, (t) => {
          t.integer(ORIGINAL_ID).nullable();
          ref(t, ORIGINAL_DB).nullable();
          t.unique([ORIGINAL_DB, ORIGINAL_ID], { indexName: constraintName('uq', model.table, ['origin']) });
        });
        if (!inline) fks.push({ table: model.table, column: ORIGINAL_DB, refTable: manifest.registry, refColumn: 'id' });
        tagged.push(model.table);
      }
    } else {
      const modelFks = foreignKeys(manifest, model);
      await knex.schema.createTable(model.table, (t) => {
        dialect.tableOptions(t);
        if (isRoot) t.increments(model.pk);
        else t.integer(model.pk).unsigned().notNullable().primary();
        for (const field of model.fields) {
          const col = dialect.addColumn(t, field);
          if (field.isNullable) col.nullable();
          else col.notNullable();
        }
        for (const fk of model.fks) {
          const col = t.integer(fk.column).unsigned();
          if (fk.isNullable) col.nullable();
          else col.notNullable();
          t.index([fk.column], constraintName('ix', model.table, [fk.column]));
        }
        if (isRoot) {
          t.integer(ORIGINAL_ID).nullable();
          ref(t, ORIGINAL_DB).nullable();
          t.unique([ORIGINAL_DB, ORIGINAL_ID], { indexName: constraintName('uq', model.table, ['origin']) });
        }
        if (inline) for (const fk of modelFks) t.foreign(fk.column, constraintName('fk', fk.table, [fk.column])).references(fk.refColumn).inTable(fk.refTable);
      });
      if (!inline) fks.push(...modelFks);
      created.push(model.table);
    }
    for (const m2m of model.m2m) {
      if (m2m.kind !== 'auto' || existing.has(m2m.table)) continue;
      const target = manifest.models.get(m2m.to)!;
      const linkFks: ForeignKey[] = [
        { table: m2m.table, column: m2m.source, refTable: model.table, refColumn: model.pk },
        { table: m2m.table, column: m2m.target, refTable: target.table, refColumn: target.pk },
      ];
      await knex.schema.createTable(m2m.table, (t) => {
        dialect.tableOptions(t);
        t.increments('id');
        t.integer(m2m.source).unsigned().notNullable();
        t.integer(m2m.target).unsigned().notNullable();
        t.unique([m2m.source, m2m.target], { indexName: constraintName('uq', m2m.table, ['link']) });
        t.index([m2m.target], constraintName('ix', m2m.table, [m2m.target]));
        if (inline) for (const fk of linkFks) t.foreign(fk.column, constraintName('fk', fk.table, [fk.column])).references(fk.refColumn).inTable(fk.refTable);
      });
      if (!inline) fks.push(...linkFks);
      created.push(m2m.table);
    }
  }
  for (const fk of fks) {
    await knex.schema.alterTable(fk.table, (t) => {
      const builder = t.foreign(fk.column, constraintName('fk', fk.table, [fk.column])).references(fk.refColumn).inTable(fk.refTable);
      if (dialect.name === 'postgres') builder.deferrable('immediate');
    });
  }
  return { created, tagged };
}

function foreignKeys(manifest: AppManifest, model: ModelDef): ForeignKey[] {
  const result: ForeignKey[] = [];
  if (model.parent) {
    const parent = manifest.models.get(model.parent)!;
    result.push({ table: model.table, column: model.pk, refTable: parent.table, refColumn: parent.pk });
  } else {
    result.push({ table: model.table, column: ORIGINAL_DB, refTable: manifest.registry, refColumn: 'id' });
  }
  for (const fk of model.fks) {
    const target = manifest.models.get(fk.to)!;
    result.push({ table: model.table, column: fk.column, refTable: target.table, refColumn: target.pk });
  }
  return result;
}

function checkColumns(columns: ReadonlySet<string>, model: ModelDef): void {
  const wanted = [model.pk, ...model.fields.map((f) => f.name), ...model.fks.map((f) => f.column)];
  const missing = wanted.filter((c) => !columns.has(c));
  if (missing.length > 0) {
    throw new ConfigError(`Table ${model.table} (${model.name}) exists but lacks column(s) ${missing.join(', ')} that the manifest declares; migrate it or fix the manifest`, { meta: { model: model.name } });
  }
}
