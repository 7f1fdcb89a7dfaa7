import type { Knex } from 'knex';
import { ConfigError } from '../errors.js';
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
export async function registerRemote(knex: Knex | Knex.Transaction, remote: { hostname: string; name?: string; descr?: string; ipAddress?: string | null; isTls?: boolean }): Promise<RemoteRow> {
  const name = remote.name ?? remote.hostname;
  const clash = await knex(REGISTRY_TABLE).where({ name }).orWhere({ hostname: remote.hostname }).first();
  if (clash) throw new ConfigError(`A remote named "${clash.name}" with hostname ${clash.hostname} is already registered`);
  await knex(REGISTRY_TABLE).insert({ name, hostname: remote.hostname, descr: remote.descr ?? '', ip_address: remote.ipAddress ?? null, is_tls: remote.isTls ?? false });
  return (await knex(REGISTRY_TABLE).where({ hostname: remote.hostname }).first()) as RemoteRow;
}

/** Every registered remote, by name. */
export async function listRemotes(knex: Knex): Promise<RemoteRow[]> {
  if (!(await knex.schema.hasTable(REGISTRY_TABLE))) return [];
  return (await knex(REGISTRY_TABLE).select('*').orderBy('name')) as RemoteRow[];
}
