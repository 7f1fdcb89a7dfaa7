import type { Knex } from 'knex';
import { connectExistingDatabase, openDatabase, type Database } from '../dialects/index.js';
import { ConfigError } from '../errors.js';
import { loadManifest } from '../manifest/load-manifest.js';
import type { AppManifest } from '../manifest/types.js';
import { removeRemote } from '../admin/remotes.js';
import { ensureSchema } from '../schema/ensure-schema.js';
import { findRemoteByName, registerRemote } from '../sync/registry.js';
import { BUNDLE_TABLE, ensurePushTables, SITE_TABLE } from './push-tables.js';
import { hashSecret, newEnrolCode, newToken } from './tokens.js';

/** How long an enrolment code stays good. */
export const ENROL_VALID_MS = 24 * 3600 * 1000;
const SITE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * A push site's identity in the registry: `site/NAME`. A pull remote's is `host[:port]`, and no
 * host holds a `/`, so the two can never collide.
 */
export function siteHostname(name: string): string {
  return `site/${name}`;
}

/** A push site as the centre knows it. */
export interface SiteRow {
  id: number;
  name: string;
  hostname: string;
  descr: string;
  isEnabled: boolean;
  created: string;
}

/** What `site status` says of a site: its last push and how far behind it is. */
export interface SiteStatus extends SiteRow {
  lastBundle?: { id: string; committed: string; siteClock?: string; objects?: number; written?: number; rejects?: number };
  /** Seconds since the site's clock of its last committed bundle. */
  lagSeconds?: number;
}

/** Options shared by the `site` commands (run at the centre). */
export interface SiteOptions { db?: string; app?: string }

/** Run `fn` on the centre's database; only `site add` may create it (the others refuse a mistyped path). */
async function withCentre<T>(options: SiteOptions, fn: (db: Database, manifest: AppManifest) => Promise<T>, mayCreate = false): Promise<T> {
  const manifest = loadManifest(options.app ?? 'hcore');
  const db = mayCreate ? openDatabase(options.db) : await connectExistingDatabase(options.db);
  try {
    await ensureSchema(db.knex, db.dialect, manifest, 'error');
    await ensurePushTables(db.knex, db.dialect, manifest.registry);
    return await fn(db, manifest);
  } finally {
    await db.knex.destroy();
  }
}

function siteQuery(knex: Knex | Knex.Transaction, registry: string): Knex.QueryBuilder {
  return knex({ s: SITE_TABLE }).join({ r: registry }, 'r.id', 's.id').select('s.id', 'r.name', 'r.hostname', 'r.descr', 's.is_enabled', 's.created');
}

function toSite(row: Record<string, unknown>): SiteRow {
  return { id: Number(row.id), name: String(row.name), hostname: String(row.hostname), descr: String(row.descr ?? ''), isEnabled: Boolean(Number(row.is_enabled)), created: String(row.created) };
}

async function findSite(knex: Knex | Knex.Transaction, registry: string, name: string): Promise<SiteRow> {
  const row = await siteQuery(knex, registry).where('r.hostname', siteHostname(name)).first();
  if (!row) throw new ConfigError(`site: no push site named "${name}" (see remotesyncdb site list)`);
  return toSite(row);
}

/**
 * `site add NAME`: register a push site and give it a token, or with `enrol` a one-time code
 * (valid 24 h) that the site trades for its token on its first push. Printed once, stored hashed.
 */
export async function addSite(options: SiteOptions & { name: string; descr?: string; enrol?: boolean }): Promise<{ site: SiteRow; token?: string; code?: string; expires?: string }> {
  if (!SITE_NAME.test(options.name)) throw new ConfigError(`site add: "${options.name}" is not a site name (letters, digits, . _ -, at most 63)`);
  return withCentre(options, (db, manifest) => db.knex.transaction(async (trx) => {
    if (await findRemoteByName(trx, manifest.registry, siteHostname(options.name))) throw new ConfigError(`site add: a site named "${options.name}" exists already`);
    const remote = await registerRemote(trx, manifest.registry, { hostname: siteHostname(options.name), name: options.name, descr: options.descr });
    const secret = options.enrol ? newEnrolCode() : newToken();
    const expires = options.enrol ? new Date(Date.now() + ENROL_VALID_MS).toISOString() : undefined;
    await trx(SITE_TABLE).insert({
      id: remote.id, created: new Date().toISOString(), is_enabled: true,
      ...(options.enrol ? { enrol_hash: hashSecret(secret), enrol_expires: expires } : { token_hash: hashSecret(secret) }),
    });
    const site = await findSite(trx, manifest.registry, options.name);
    return options.enrol ? { site, code: secret, expires } : { site, token: secret };
  }), true);
}

/** `site rotate-token NAME`: a new token; the old one stops working at once. */
export async function rotateSiteToken(options: SiteOptions & { name: string }): Promise<{ site: SiteRow; token: string }> {
  return withCentre(options, async (db, manifest) => {
    const site = await findSite(db.knex, manifest.registry, options.name);
    const token = newToken();
    await db.knex(SITE_TABLE).where({ id: site.id }).update({ token_hash: hashSecret(token), enrol_hash: null, enrol_expires: null });
    return { site, token };
  });
}

/** `site disable|enable NAME`: a disabled site's pushes are refused (403); its rows stay. */
export async function setSiteEnabled(options: SiteOptions & { name: string; isEnabled: boolean }): Promise<SiteRow> {
  return withCentre(options, async (db, manifest) => {
    const site = await findSite(db.knex, manifest.registry, options.name);
    await db.knex(SITE_TABLE).where({ id: site.id }).update({ is_enabled: options.isEnabled });
    return { ...site, isEnabled: options.isEnabled };
  });
}

/** `site list` and `site status [NAME]`: every site (or one) with its last committed bundle. */
export async function siteStatus(options: SiteOptions & { name?: string }): Promise<SiteStatus[]> {
  return withCentre(options, async (db, manifest) => {
    const query = siteQuery(db.knex, manifest.registry).orderBy('r.name');
    if (options.name !== undefined) query.where('r.hostname', siteHostname(options.name));
    const rows = (await query).map(toSite);
    if (options.name !== undefined && rows.length === 0) await findSite(db.knex, manifest.registry, options.name);
    const out: SiteStatus[] = [];
    for (const site of rows) {
      const last = await db.knex(BUNDLE_TABLE).where({ site_id: site.id, status: 'committed' }).orderBy('committed', 'desc').first();
      if (!last) {
        out.push(site);
        continue;
      }
      const ack = JSON.parse(last.ack ?? '{}') as { siteClock?: string; objects?: number; written?: number; rejects?: unknown[] };
      const lag = ack.siteClock ? Math.max(0, Math.round((Date.now() - Date.parse(ack.siteClock)) / 1000)) : undefined;
      out.push({ ...site, lastBundle: { id: last.bundle_id, committed: last.committed, siteClock: ack.siteClock, objects: ack.objects, written: ack.written, rejects: ack.rejects?.length ?? 0 }, lagSeconds: lag });
    }
    return out;
  });
}

/** The site a push token belongs to, or why it is refused (401: unknown; 403: disabled). */
export async function authenticateSite(knex: Knex, registry: string, token: string | undefined): Promise<{ site?: SiteRow; status?: 401 | 403; error?: string }> {
  if (!token) return { status: 401, error: 'a push needs Authorization: Bearer <the site token>' };
  const row = await siteQuery(knex, registry).where('s.token_hash', hashSecret(token)).first();
  if (!row) return { status: 401, error: 'unknown or rotated push token' };
  const site = toSite(row);
  if (!site.isEnabled) return { status: 403, error: `site ${site.name} is disabled at the centre` };
  return { site };
}

/** Trade a one-time enrolment code for the site's token (the code is spent). */
export async function enrolSite(knex: Knex, registry: string, code: string): Promise<{ site: SiteRow; token: string } | undefined> {
  return knex.transaction(async (trx) => {
    const row = await trx(SITE_TABLE).where({ enrol_hash: hashSecret(code) }).first();
    if (!row || !row.enrol_expires || Date.parse(row.enrol_expires) < Date.now()) return undefined;
    const token = newToken();
    await trx(SITE_TABLE).where({ id: row.id }).update({ token_hash: hashSecret(token), enrol_hash: null, enrol_expires: null });
    const site = toSite(await siteQuery(trx, registry).where('s.id', row.id).first());
    return { site, token };
  });
}

/**
 * `site remove NAME [--purge]`: unregister a push site with its token, bundles and uploads.
 * Refused while the app's rows come from it, unless `purge`, which deletes them (as `remote remove`).
 */
export async function removeSite(options: SiteOptions & { name: string; purge?: boolean }): Promise<{ purged: number }> {
  const manifest = loadManifest(options.app ?? 'hcore');
  const db = await connectExistingDatabase(options.db);
  try {
    await findSite(db.knex, manifest.registry, options.name);
  } finally {
    await db.knex.destroy();
  }
  const { purged } = await removeRemote({ db: options.db, app: options.app ?? 'hcore', name: siteHostname(options.name), purge: options.purge });
  return { purged };
}
