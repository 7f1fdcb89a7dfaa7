import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import { ensureRegistry, registryRef } from './registry-table.js';

export { REMOTE_TABLE } from './registry-table.js';
/** Per remote, app and model: the remote's clock at the last successful fetch. */
export const WATERMARK_TABLE = 'remotesyncdb_watermark';
/** One row per sync run: the history. */
export const RUN_TABLE = 'remotesyncdb_run';
/** Every remote's claim on a row it did not create (a natural-key match): model, its pk there, the local id. */
export const IDMAP_TABLE = 'remotesyncdb_idmap';
/** SQLite only: the row a sync writes first, so that its transaction holds the database's write lock. */
export const LOCK_TABLE = 'remotesyncdb_lock';

/**
 * Create whatever is missing of the bookkeeping tables, around `registry`, the table of remotes
 * the origin tags reference (the app's own where its manifest names one: DESIGN §8).
 */
export async function ensureBookkeeping(knex: Knex | Knex.Transaction, dialect: DialectAdapter, registry: string): Promise<void> {
  await ensureRegistry(knex, dialect, registry);
  const ref = await registryRef(knex, dialect, registry);
  if (!(await knex.schema.hasTable(WATERMARK_TABLE))) {
    await knex.schema.createTable(WATERMARK_TABLE, (t) => {
      dialect.tableOptions(t);
      ref(t, 'database_id').notNullable().references('id').inTable(registry);
      t.string('app', 64).notNullable();
      t.string('model', 64).notNullable();
      t.string('server_time', 32).notNullable();
      t.primary(['database_id', 'app', 'model']);
    });
  }
  if (!(await knex.schema.hasTable(IDMAP_TABLE))) {
    await knex.schema.createTable(IDMAP_TABLE, (t) => {
      dialect.tableOptions(t);
      ref(t, 'original_db_id').notNullable().references('id').inTable(registry);
      t.string('model', 64).notNullable();
      t.integer('original_id').notNullable();
      t.integer('local_id').notNullable();
      t.primary(['original_db_id', 'model', 'original_id']);
      t.index(['model', 'local_id']);
    });
  }
  if (!(await knex.schema.hasTable(LOCK_TABLE))) {
    await knex.schema.createTable(LOCK_TABLE, (t) => {
      dialect.tableOptions(t);
      t.string('name', 128).primary();
      t.integer('runs').notNullable().defaultTo(0);
    });
  }
  if (!(await knex.schema.hasTable(RUN_TABLE))) {
    await knex.schema.createTable(RUN_TABLE, (t) => {
      dialect.tableOptions(t);
      t.increments('id');
      t.string('started', 32).notNullable();
      t.string('finished', 32).nullable();
      t.string('remote', 255).notNullable();
      t.string('app', 64).notNullable();
      t.string('status', 16).notNullable();
      t.integer('objects').nullable();
      t.text('counts').nullable();
      t.text('error').nullable();
    });
  }
  // One remote's runs, newest first (the console, the history's pruning); a table made before it had none.
  await dialect.ensureIndex(knex, RUN_TABLE, RUN_INDEX, ['remote', 'id']);
}

/** The run table's index by remote. */
const RUN_INDEX = 'remotesyncdb_run_remote_id_index';
