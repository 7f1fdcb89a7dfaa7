import type { Knex } from 'knex';
import { isIPv4 } from 'node:net';
import type { DialectAdapter } from '../dialects/index.js';
import { ConfigError } from '../errors.js';
import { toColumnValue } from '../values/values.js';
import { parseRemote } from '../sources/remote-endpoint.js';
import { BUNDLE_TABLE, CHUNK_TABLE, SITE_TABLE } from '../push/push-tables.js';
import { IDMAP_TABLE, WATERMARK_TABLE } from '../schema/bookkeeping.js';
import { BASE_TABLE, CONFLICT_TABLE, SENT_TABLE } from '../exchange/exchange-tables.js';
import { REMOTE_TABLE } from '../schema/registry-table.js';

/** A registered remote: a row of the registry (the app's own table or `remotesyncdb_database`) and the tool's columns. */
export interface RemoteRow {
  id: number;
  name: string;
  ip_address: string | null;
  hostname: string;
  descr: string | null;
  last_sync: string | null;
  /** Reached over https (the identity `host[:port]` leaves 443 out, so it is recorded here). */
  is_tls: boolean | number | null;
  /** The `instance` its `GET /api/` reported at its last sync (informational). */
  instance?: string | null;
}

/** The registry's rows joined with what the tool keeps per remote. */
function remotes(knex: Knex | Knex.Transaction, registry: string): Knex.QueryBuilder {
  return knex({ r: registry })
    .leftJoin({ x: REMOTE_TABLE }, 'x.id', 'r.id')
    .select('r.id', 'r.name', 'r.ip_address', 'r.hostname', 'r.descr', 'x.last_sync', 'x.is_tls', 'x.instance');
}

/**
 * Find a registered remote: by hostname (`host[:port]`) first, and by name only when no
 * port was given (so `-r itia -p 8001` never silently means the remote named "itia").
 */
export async function findRemote(knex: Knex | Knex.Transaction, registry: string, hostname: string | undefined, name: string, hasPort: boolean): Promise<RemoteRow | undefined> {
  if (!(await knex.schema.hasTable(registry)) || !(await knex.schema.hasTable(REMOTE_TABLE))) return undefined;
  const byHost = hostname === undefined ? undefined : await remotes(knex, registry).where('r.hostname', hostname).first();
  if (byHost) return byHost as RemoteRow;
  if (hasPort) return undefined;
  return (await remotes(knex, registry).where('r.name', name).first()) as RemoteRow | undefined;
}

/** Find a remote by its name or hostname (`remote remove`). */
export async function findRemoteByName(knex: Knex | Knex.Transaction, registry: string, name: string): Promise<RemoteRow | undefined> {
  return (await remotes(knex, registry).where('r.name', name).orWhere('r.hostname', name).first()) as RemoteRow | undefined;
}

/** Register a remote; its name defaults to its hostname. */
export async function registerRemote(knex: Knex | Knex.Transaction, registry: string, remote: { hostname: string; name?: string; descr?: string; ipAddress?: string | null; isTls?: boolean; instance?: string }): Promise<RemoteRow> {
  const name = remote.name ?? remote.hostname;
  const clash = await knex(registry).where({ name }).orWhere({ hostname: remote.hostname }).first();
  if (clash) throw new ConfigError(`A remote named "${clash.name}" with hostname ${clash.hostname} is already registered`);
  // The app's own registry has NOT NULL ip_address and descr (Django's CharField/TextField): '' for unknown.
  await knex(registry).insert({ name, hostname: remote.hostname, descr: remote.descr ?? '', ip_address: ipAddressOf(remote.ipAddress) });
  const row = await knex(registry).where({ hostname: remote.hostname }).first('id');
  await knex(REMOTE_TABLE).insert({ id: row.id, is_tls: remote.isTls ?? false, instance: remote.instance || null });
  return (await remotes(knex, registry).where('r.id', row.id).first()) as RemoteRow;
}

/**
 * Record the remote's clock of its last successful sync, and the instance it reported (a
 * registry row the app added may have no row of ours yet).
 */
export async function setLastSync(knex: Knex | Knex.Transaction, dialect: DialectAdapter, registry: string, id: number, serverTime: string, instance?: string): Promise<void> {
  const values = { last_sync: serverTime, ...(instance ? { instance } : {}) };
  const updated = await knex(REMOTE_TABLE).where({ id }).update(values);
  if (updated === 0) await knex(REMOTE_TABLE).insert({ id, is_tls: false, ...values });
  // The app's own registry shows it too (Enhydris' admin lists dbsync.Database.last_sync).
  if (await knex.schema.hasColumn(registry, 'last_sync')) {
    await knex(registry).where({ id }).update({ last_sync: toColumnValue({ name: 'last_sync', type: 'datetime', isNullable: true }, serverTime, dialect) as string });
  }
}

/**
 * What goes into the registry's `ip_address`: the host when it is an IPv4 address, else ''
 * (the hostname column names it; Enhydris' column is 16 characters wide).
 */
export function ipAddressOf(host: string | undefined | null): string {
  return host && isIPv4(host) ? host : '';
}

/** Delete a remote's (or a push site's) registry row and everything the tool keeps for it. */
export async function unregisterRemote(knex: Knex | Knex.Transaction, registry: string, id: number): Promise<void> {
  // What the tool keeps of a remote or a push site, children first.
  const owned: Array<[string, string]> = [[WATERMARK_TABLE, 'database_id'], [IDMAP_TABLE, 'original_db_id'], [BASE_TABLE, 'peer_id'], [SENT_TABLE, 'peer_id'], [CONFLICT_TABLE, 'site_id'], [CHUNK_TABLE, 'site_id'], [BUNDLE_TABLE, 'site_id'], [SITE_TABLE, 'id'], [REMOTE_TABLE, 'id']];
  for (const [table, column] of owned) if (await knex.schema.hasTable(table)) await knex(table).where(column, id).del();
  await knex(registry).where({ id }).del();
}

/** Every registered remote, by name. */
export async function listRemotes(knex: Knex | Knex.Transaction, registry: string): Promise<RemoteRow[]> {
  if (!(await knex.schema.hasTable(registry)) || !(await knex.schema.hasTable(REMOTE_TABLE))) return [];
  return (await remotes(knex, registry).orderBy('r.name')) as RemoteRow[];
}

/**
 * Registered remotes other than `hostname` that reported the same `instance` on the same port:
 * most likely the same server under another spelling (`localhost:8000` and `127.0.0.1:8000`),
 * which would become a second origin and duplicate every object. Instances on other ports are
 * other servers on one host and are left out.
 */
export async function sameInstance(knex: Knex | Knex.Transaction, registry: string, endpoint: { hostname: string; port: number }, instance: string): Promise<RemoteRow[]> {
  if (!instance) return [];
  const rows = (await listRemotes(knex, registry)).filter((row) => row.instance === instance && row.hostname !== endpoint.hostname);
  return rows.filter((row) => {
    try {
      return parseRemote(`${row.is_tls ? 'https://' : ''}${row.hostname}`).port === endpoint.port;
    } catch {
      return false;
    }
  });
}
