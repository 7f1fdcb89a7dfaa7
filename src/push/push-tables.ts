import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import { registryRef } from '../schema/registry-table.js';
import { ensureExchangeTables } from '../exchange/exchange-tables.js';

/** Per push site (keyed by its registry id): hashed token and enrolment code, enabled or not. */
export const SITE_TABLE = 'remotesyncdb_site';
/** Per site and bundle id: sha256, size, bytes received, status and the ack, kept once committed. */
export const BUNDLE_TABLE = 'remotesyncdb_bundle';
/** The uploaded chunks of bundles not committed yet: in the database, so any centre process can resume or commit. */
export const CHUNK_TABLE = 'remotesyncdb_chunk';

/** Create whatever is missing of the centre's push and exchange tables (after the registry exists). */
export async function ensurePushTables(knex: Knex | Knex.Transaction, dialect: DialectAdapter, registry: string): Promise<void> {
  const ref = await registryRef(knex, dialect, registry);
  if (!(await knex.schema.hasTable(SITE_TABLE))) {
    await knex.schema.createTable(SITE_TABLE, (t) => {
      dialect.tableOptions(t);
      ref(t, 'id').primary().references('id').inTable(registry);
      t.string('token_hash', 64).nullable().unique();
      t.string('enrol_hash', 64).nullable().unique();
      t.string('enrol_expires', 32).nullable();
      t.boolean('is_enabled').notNullable().defaultTo(true);
      t.string('created', 32).notNullable();
      t.string('last_contact', 32).nullable();
    });
  }
  // The centre's clock at a site's last commit, feed ack or repair (DESIGN §10's retention).
  if (!(await knex.schema.hasColumn(SITE_TABLE, 'last_contact'))) await knex.schema.alterTable(SITE_TABLE, (t) => t.string('last_contact', 32).nullable());
  if (!(await knex.schema.hasTable(BUNDLE_TABLE))) {
    await knex.schema.createTable(BUNDLE_TABLE, (t) => {
      dialect.tableOptions(t);
      ref(t, 'site_id').notNullable().references('id').inTable(SITE_TABLE);
      t.string('bundle_id', 64).notNullable();
      t.string('sha256', 64).notNullable();
      t.bigInteger('bytes').notNullable();
      t.bigInteger('received').notNullable().defaultTo(0);
      t.string('status', 16).notNullable();
      t.string('created', 32).notNullable();
      t.string('committed', 32).nullable();
      t.text('ack').nullable();
      t.primary(['site_id', 'bundle_id']);
    });
  }
  if (!(await knex.schema.hasTable(CHUNK_TABLE))) {
    await knex.schema.createTable(CHUNK_TABLE, (t) => {
      dialect.tableOptions(t);
      t.integer('site_id').unsigned().notNullable();
      t.string('bundle_id', 64).notNullable();
      t.bigInteger('offset').notNullable();
      dialect.addColumn(t, { name: 'data', type: 'binary', isNullable: false }).notNullable();
      t.primary(['site_id', 'bundle_id', 'offset']);
    });
  }
  // A centre takes exchanges too (DESIGN §10): their base and conflict tables.
  await ensureExchangeTables(knex, dialect, registry);
}
