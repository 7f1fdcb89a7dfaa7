import { connectExistingDatabase, openDatabase } from '../dialects/index.js';
import { ConfigError, databaseMessage } from '../errors.js';
import { parseRemote } from '../sources/remote-endpoint.js';
import { loadManifest } from '../manifest/load-manifest.js';
import { dependencyOrder } from '../manifest/order.js';
import { ORIGINAL_DB } from '../schema/app-tables.js';
import { ensureBookkeeping } from '../schema/bookkeeping.js';
import { findRemoteByName, listRemotes, registerRemote, unregisterRemote, type RemoteRow } from '../sync/registry.js';

/** Options of `remotesyncdb remote add`. */
export interface AddRemoteOptions { db?: string; /** The app whose registry table holds remotes (default hcore). */ app?: string; name: string; remote: string; port?: number; descr?: string }

/** Register a remote with a name and description before its first sync. */
export async function addRemote(options: AddRemoteOptions): Promise<RemoteRow> {
  const endpoint = parseRemote(options.remote, options.port);
  const { registry } = loadManifest(options.app ?? 'hcore');
  const db = openDatabase(options.db);
  try {
    await ensureBookkeeping(db.knex, db.dialect, registry);
    return await registerRemote(db.knex, registry, { hostname: endpoint.hostname, name: options.name, descr: options.descr, ipAddress: endpoint.host, isTls: endpoint.isTls });
  } finally {
    await db.knex.destroy();
  }
}

/** The registered remotes. */
export async function getRemotes(options: { db?: string; app?: string }): Promise<RemoteRow[]> {
  const { registry } = loadManifest(options.app ?? 'hcore');
  const db = await connectExistingDatabase(options.db);
  try {
    return await listRemotes(db.knex, registry);
  } finally {
    await db.knex.destroy();
  }
}

/** Options of `remotesyncdb remote remove`. */
export interface RemoveRemoteOptions { db?: string; app: string; name: string; purge?: boolean }

/**
 * Unregister a remote (by name or hostname). Refuses while rows of the app are tagged with it,
 * unless `purge`, which deletes those rows (dependents first) in the same transaction.
 */
export async function removeRemote(options: RemoveRemoteOptions): Promise<{ remote: RemoteRow; purged: number }> {
  const manifest = loadManifest(options.app);
  // Nothing to remove from a database that does not exist: refused, not created.
  const db = await connectExistingDatabase(options.db);
  try {
    return await db.knex.transaction(async (trx) => {
      const remote = await findRemoteByName(trx, manifest.registry, options.name);
      if (!remote) throw new ConfigError(`remote remove: no remote named "${options.name}" is registered`);
      const order = dependencyOrder(manifest).reverse();
      const roots = order.filter((m) => m.parent === undefined);
      let tagged = 0;
      for (const root of roots) {
        if ((await trx.schema.hasTable(root.table)) && (await trx.schema.hasColumn(root.table, ORIGINAL_DB))) tagged += Number((await trx(root.table).where(ORIGINAL_DB, remote.id).count({ n: '*' }))[0].n);
      }
      if (tagged > 0 && !options.purge) {
        throw new ConfigError(`remote remove: ${tagged} row(s) of app ${manifest.app} come from ${remote.name} (${remote.hostname}); add --purge to delete them with it`);
      }
      // Nullable FKs may form cycles (Gentity.water_basin -> WaterBasin, a Gentity): cut them first.
      const present = new Set<string>();
      for (const model of manifest.models.values()) if (await trx.schema.hasTable(model.table)) present.add(model.table);
      if (order.some((m) => !present.has(m.table))) {
        // Not every table of this app exists here: only the registry row can go, if nothing references it.
        await unregisterRemote(trx, manifest.registry, remote.id);
        return { remote, purged: tagged };
      }
      for (const model of order) {
        const root = manifest.models.get(model.root)!;
        const nullable = model.fks.filter((fk) => fk.isNullable);
        if (nullable.length === 0) continue;
        const cut = Object.fromEntries(nullable.map((fk) => [fk.column, null]));
        // MySQL cannot UPDATE a table with a subquery on itself: a root filters on its own tags.
        if (model.parent === undefined) await trx(model.table).where(ORIGINAL_DB, remote.id).update(cut);
        else await trx(model.table).whereIn(model.pk, trx(root.table).select(root.pk).where(ORIGINAL_DB, remote.id)).update(cut);
      }
      for (const model of order) {
        const root = manifest.models.get(model.root)!;
        const ids = trx(root.table).select(root.pk).where(ORIGINAL_DB, remote.id);
        for (const m2m of model.m2m) if (m2m.kind === 'auto') await trx(m2m.table).whereIn(m2m.source, ids.clone()).del();
        for (const other of manifest.models.values()) {
          for (const m2m of other.m2m) if (m2m.kind === 'auto' && m2m.to === model.name) await trx(m2m.table).whereIn(m2m.target, ids.clone()).del();
        }
        if (model.parent) await trx(model.table).whereIn(model.pk, ids.clone()).del();
        else await trx(model.table).where(ORIGINAL_DB, remote.id).del();
      }
      await unregisterRemote(trx, manifest.registry, remote.id);
      return { remote, purged: tagged };
    });
  } catch (error) {
    if (!(error instanceof ConfigError) && /foreign key/i.test(databaseMessage(error))) {
      throw new ConfigError(`remote remove: rows that are not app ${manifest.app}'s still refer to remote "${options.name}" (another app's tables, or local rows pointing at its rows); remove it with that app's -a and --purge, or change those rows first`, { cause: error });
    }
    throw error;
  } finally {
    await db.knex.destroy();
  }
}
