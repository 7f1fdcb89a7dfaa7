import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import { ConfigError } from '../errors.js';
import { DEFAULT_REGISTRY_TABLE, type FieldDef } from '../manifest/types.js';
import { toColumnValue } from '../values/values.js';

/** What the tool keeps per remote beyond the registry's own columns (last sync, TLS, instance), keyed by the registry's id. */
export const REMOTE_TABLE = 'remotesyncdb_remote';

/**
 * Columns a registry written before DESIGN §8 held beside the app's five; `is_tls` marks such a
 * registry (no app has it), and both move to {@link REMOTE_TABLE}.
 */
const MOVED_COLUMNS = ['last_sync', 'is_tls'] as const;

/** The registry's own `last_sync` (Enhydris has it): the remote's clock at its last sync, as a datetime the app reads. */
const LAST_SYNC: FieldDef = { name: 'last_sync', type: 'datetime', isNullable: true };

/**
 * How to declare a column that references the registry's id: of the same integer kind, signed
 * or not (MySQL refuses a FK between the two; Django's ids are signed, knex's increments not).
 */
export async function registryRef(knex: Knex | Knex.Transaction, dialect: DialectAdapter, registry: string): Promise<(t: Knex.CreateTableBuilder | Knex.AlterTableBuilder, name: string) => Knex.ColumnBuilder> {
  const isUnsigned = await dialect.isUnsigned(knex, registry, 'id');
  return (t, name) => (isUnsigned ? t.integer(name).unsigned() : t.integer(name));
}

/**
 * Make `registry` the table of remotes, with the app's columns only (`id, name, ip_address,
 * hostname, descr`: Enhydris' `dbsync.Database`), and {@link REMOTE_TABLE} beside it. A database
 * whose remotes are still in `remotesyncdb_database` while the manifest names the app's own
 * table is moved over: the table is renamed (every origin tag, watermark and id-map row keeps
 * its id, and the databases repoint their FKs themselves), and the tool's columns move out.
 * One transaction on SQLite and PostgreSQL; MySQL commits each DDL statement on its own, so
 * every step there can be taken again after a crash.
 */
export async function ensureRegistry(knex: Knex | Knex.Transaction, dialect: DialectAdapter, registry: string): Promise<void> {
  const steps = async (k: Knex | Knex.Transaction) => {
    if (registry !== DEFAULT_REGISTRY_TABLE && (await k.schema.hasTable(DEFAULT_REGISTRY_TABLE))) {
      if (await k.schema.hasTable(registry)) {
        throw new ConfigError(`Both ${DEFAULT_REGISTRY_TABLE} (the remotes of an earlier remotesyncdb) and the app's own registry ${registry} exist; move the remotes into ${registry} by hand (keeping their ids) and drop ${DEFAULT_REGISTRY_TABLE}`);
      }
      await k.schema.renameTable(DEFAULT_REGISTRY_TABLE, registry);
    }
    if (!(await k.schema.hasTable(registry))) {
      await k.schema.createTable(registry, (t) => {
        dialect.tableOptions(t);
        t.increments('id');
        t.string('name', 64).notNullable();
        t.string('ip_address', 64).notNullable().defaultTo('');
        t.string('hostname', 255).notNullable().unique();
        t.text('descr').notNullable();
        dialect.addColumn(t, LAST_SYNC).nullable();
      });
    }
    const ref = await registryRef(k, dialect, registry);
    if (!(await k.schema.hasTable(REMOTE_TABLE))) {
      await k.schema.createTable(REMOTE_TABLE, (t) => {
        dialect.tableOptions(t);
        ref(t, 'id').primary().references('id').inTable(registry);
        t.string('last_sync', 32).nullable();
        t.boolean('is_tls').notNullable().defaultTo(false);
        t.string('instance', 255).nullable();
      });
    } else if (!(await k.schema.hasColumn(REMOTE_TABLE, 'instance'))) {
      // What the remote's GET /api/ calls itself: one server registered under two spellings shows by it.
      await k.schema.alterTable(REMOTE_TABLE, (t) => t.string('instance', 255).nullable());
    }
    if (await k.schema.hasColumn(registry, 'is_tls')) await moveToolColumns(k, registry);
    // Enhydris' dbsync.Database has a nullable datetime last_sync, which its ORM selects.
    if (!(await k.schema.hasColumn(registry, 'last_sync'))) {
      await k.schema.alterTable(registry, (t) => dialect.addColumn(t as unknown as Knex.CreateTableBuilder, LAST_SYNC).nullable());
      for (const row of await k(REMOTE_TABLE).whereNotNull('last_sync').select('id', 'last_sync')) {
        await k(registry).where({ id: row.id }).update({ last_sync: toColumnValue(LAST_SYNC, row.last_sync, dialect) as string });
      }
    }
  };
  if (dialect.name === 'mysql') await steps(knex);
  else await knex.transaction(steps);
}

async function moveToolColumns(knex: Knex | Knex.Transaction, registry: string): Promise<void> {
  const have = new Set((await knex(REMOTE_TABLE).select('id')).map((r) => Number(r.id)));
  // After a crash half-way on MySQL (each DROP commits alone) a column may be gone already.
  const present: string[] = [];
  for (const column of MOVED_COLUMNS) if (await knex.schema.hasColumn(registry, column)) present.push(column);
  const rows = (await knex(registry).select('id', ...present)).filter((r) => !have.has(Number(r.id)));
  if (rows.length > 0) await knex(REMOTE_TABLE).insert(rows.map((r) => ({ id: r.id, last_sync: r.last_sync ?? null, is_tls: Boolean(Number(r.is_tls)) })));
  for (const column of MOVED_COLUMNS) {
    if (await knex.schema.hasColumn(registry, column)) await knex.raw('ALTER TABLE ?? DROP COLUMN ??', [registry, column]);
  }
}
