import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import { registryRef } from '../schema/registry-table.js';

/**
 * Per peer, model and local row: the version both sides last agreed on (DESIGN §10). At a site
 * the peer is its centre and the row is what the centre knows the site holds (moved by an
 * acknowledged push or an applied feed); at the centre the peer is a site and the row what
 * that site holds. `ref` is the row's identity between the pair (`s<site pk>`, `c<centre id>`).
 */
export const BASE_TABLE = 'remotesyncdb_base';
/** Every conflict an exchange met at the centre: base, both versions, the policy and the decision. */
export const CONFLICT_TABLE = 'remotesyncdb_conflict';
/**
 * At a site: the versions sent in bundles not yet applied to the base (moved there, in the feed's
 * transaction, once the centre acknowledged the bundle), and the ack of an applied feed that the
 * centre has not confirmed yet (`model` = '', sent first by the next exchange).
 */
export const SENT_TABLE = 'remotesyncdb_sent';

/** Create whatever is missing of the exchange's tables (after the registry exists). */
export async function ensureExchangeTables(knex: Knex | Knex.Transaction, dialect: DialectAdapter, registry: string): Promise<void> {
  const ref = await registryRef(knex, dialect, registry);
  if (!(await knex.schema.hasTable(BASE_TABLE))) {
    await knex.schema.createTable(BASE_TABLE, (t) => {
      dialect.tableOptions(t);
      ref(t, 'peer_id').notNullable().references('id').inTable(registry);
      t.string('model', 64).notNullable();
      t.integer('row_id').notNullable();
      t.string('ref', 24).notNullable();
      t.string('hash', 32).notNullable();
      t.text('fields').nullable();
      /** When it was written (this side's clock): a centre's feed looks again at rows whose base moved. */
      t.string('changed', 32).nullable();
      t.primary(['peer_id', 'model', 'row_id']);
    });
  }
  if (!(await knex.schema.hasTable(SENT_TABLE))) {
    await knex.schema.createTable(SENT_TABLE, (t) => {
      dialect.tableOptions(t);
      t.increments('id');
      ref(t, 'peer_id').notNullable().references('id').inTable(registry);
      t.string('bundle_id', 64).notNullable();
      t.string('model', 64).notNullable();
      t.integer('row_id').notNullable();
      t.string('ref', 24).notNullable();
      /** Null: the row was deleted. */
      t.string('hash', 32).nullable();
      t.text('fields').nullable();
      t.index(['peer_id', 'bundle_id']);
    });
  }
  if (!(await knex.schema.hasTable(CONFLICT_TABLE))) {
    await knex.schema.createTable(CONFLICT_TABLE, (t) => {
      dialect.tableOptions(t);
      t.increments('id');
      ref(t, 'site_id').notNullable().references('id').inTable(registry);
      t.string('model', 64).notNullable();
      /** The centre's id of the row (null when the row no longer exists there). */
      t.integer('row_id').nullable();
      t.string('ref', 24).notNullable();
      /** site, centre, another site's name, or a pulled remote's. */
      t.string('home', 255).notNullable();
      t.string('policy', 16).notNullable();
      t.text('base').nullable();
      /** The versions as JSON; null where that side deleted the row. */
      t.text('site_version').nullable();
      t.text('centre_version').nullable();
      /** What was kept: site, centre, merge, or held (manual: nothing changed until resolved). */
      t.string('decision', 16).notNullable();
      t.text('reason').notNullable();
      /** open (manual, waiting), decided (kept as a record), resolved. */
      t.string('status', 16).notNullable();
      t.string('created', 32).notNullable();
      t.string('resolved', 32).nullable();
      t.index(['site_id', 'status']);
    });
  }
}
