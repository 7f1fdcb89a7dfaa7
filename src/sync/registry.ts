import type { Knex } from 'knex';
import { ConfigError } from '../errors.js';
import { parseRemote } from '../sources/remote-endpoint.js';
import { REGISTRY_TABLE } from '../schema/bookkeeping.js';

/** A row of `remotesyncdb_database`. */
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

/**
 * Find a registered remote: by hostname (`host[:port]`) first, and by name only when no
 * port was given (so `-r itia -p 8001` never silently means the remote named "itia").
 */
export async function findRemote(knex: Knex | Knex.Transaction, hostname: string | undefined, name: string, hasPort: boolean): Promise<RemoteRow | undefined> {
  if (!(await knex.schema.hasTable(REGISTRY_TABLE))) return undefined;
  const byHost = hostname === undefined ? undefined : await knex(REGISTRY_TABLE).where({ hostname }).first();
  if (byHost) return byHost as RemoteRow;
  if (hasPort) return undefined;
  return (await knex(REGISTRY_TABLE).where({ name }).first()) as RemoteRow | undefined;
}

/** Register a remote; its name defaults to its hostname. */
export async function registerRemote(knex: Knex | Knex.Transaction, remote: { hostname: string; name?: string; descr?: string; ipAddress?: string | null; isTls?: boolean; instance?: string }): Promise<RemoteRow> {
  const name = remote.name ?? remote.hostname;
  const clash = await knex(REGISTRY_TABLE).where({ name }).orWhere({ hostname: remote.hostname }).first();
  if (clash) throw new ConfigError(`A remote named "${clash.name}" with hostname ${clash.hostname} is already registered`);
  await knex(REGISTRY_TABLE).insert({ name, hostname: remote.hostname, descr: remote.descr ?? '', ip_address: remote.ipAddress ?? null, is_tls: remote.isTls ?? false, ...(remote.instance ? { instance: remote.instance } : {}) });
  return (await knex(REGISTRY_TABLE).where({ hostname: remote.hostname }).first()) as RemoteRow;
}

/** Every registered remote, by name. */
export async function listRemotes(knex: Knex): Promise<RemoteRow[]> {
  if (!(await knex.schema.hasTable(REGISTRY_TABLE))) return [];
  return (await knex(REGISTRY_TABLE).select('*').orderBy('name')) as RemoteRow[];
}

/**
 * Registered remotes other than `hostname` that reported the same `instance` on the same port:
 * most likely the same server under another spelling (`localhost:8000` and `127.0.0.1:8000`),
 * which would become a second origin and duplicate every object. Instances on other ports are
 * other servers on one host and are left out.
 */
export async function sameInstance(knex: Knex | Knex.Transaction, endpoint: { hostname: string; port: number }, instance: string): Promise<RemoteRow[]> {
  if (!instance || !(await knex.schema.hasTable(REGISTRY_TABLE)) || !(await knex.schema.hasColumn(REGISTRY_TABLE, 'instance'))) return [];
  const rows = (await knex(REGISTRY_TABLE).where({ instance }).whereNot({ hostname: endpoint.hostname })) as RemoteRow[];
  return rows.filter((row) => {
    try {
      return parseRemote(`${row.is_tls ? 'https://' : ''}${row.hostname}`).port === endpoint.port;
    } catch {
      return false;
    }
  });
}
