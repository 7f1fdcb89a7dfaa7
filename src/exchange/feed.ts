import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { serializeModel, serializeRows, type SerializedObject } from '../server/serialize.js';
import { WATERMARK_TABLE } from '../schema/bookkeeping.js';
import { modifiedAfterParam, readWatermarks, writeWatermarks } from '../sync/watermarks.js';
import { normalizeDatetime } from '../values/values.js';
import { siteClock, type BundleHeader, type BundleLine } from '../push/bundle.js';
import type { SiteRow } from '../push/sites.js';
import { SITE_TABLE } from '../push/push-tables.js';
import { dropBase, loadBase, sectionLines, writeBase } from './base.js';
import { BASE_TABLE, CONFLICT_TABLE } from './exchange-tables.js';
import { parseRef, PeerTags, versionOf } from './version.js';

/** Ids per claims or deleted line, so that no line grows without bound. */
const PER_LINE = 5000;

/** The header of a feed: a bundle's, from the centre. */
export function feedHeader(manifest: AppManifest, plan: readonly ModelDef[]): BundleHeader {
  return { format: 'remotesyncdb-bundle', version: 1, id: randomUUID(), app: manifest.app, siteClock: siteClock(), base: {}, models: plan.map((m) => m.name), prune: false, full: false, exchange: true };
}

/**
 * The centre's feed for one site (DESIGN §10), model by model in dependency order: the claims
 * (for each row whose home is the site, the centre's id and the site's pk: the site maps them
 * onto its own rows, never a twin), every object whose version differs from what the site
 * holds (under the centre's ids, each with its version's hash), and the rows the site holds
 * that the centre no longer has. A row held for this site by a manual conflict is left out.
 * Reads one page of a model at a time, plus the site's base of that model.
 */
export async function* feedLines(knex: Knex, dialect: DialectAdapter, manifest: AppManifest, model: ModelDef, site: SiteRow, tags: PeerTags, since?: string): AsyncGenerator<BundleLine> {
  yield* sectionLines(knex, model, site.id);
  const agreed = await loadBase(knex, site.id, model);
  const held = new Set((await knex(CONFLICT_TABLE).select('row_id').where({ site_id: site.id, model: model.name, status: 'open' }).whereNotNull('row_id')).map((r) => Number(r.row_id)));
  // Rows held for this site (a manual conflict): named, so that a repair keeps them.
  if (held.size > 0) yield { text: JSON.stringify({ held: [...held] }), isObject: false };
  // The objects of `objects` whose version differs from what the site holds (a held row never).
  const seen = new Set<number>();
  const differing = async function* (objects: AsyncIterable<SerializedObject>): AsyncGenerator<BundleLine> {
    for await (const object of objects) {
      seen.add(object.pk);
      if (held.has(object.pk)) continue;
      const { hash } = versionOf(manifest, model, object.fields, (m, id) => tags.ref(m, id));
      if (agreed.get(object.pk)?.hash !== hash) yield { text: JSON.stringify({ ...object, hash }), isObject: true };
    }
  };
  let present: ReadonlySet<number> = seen;
  if (since === undefined || !manifest.models.get(model.root)!.lastModified) {
    // Every row, hashed.
    yield* differing(serializeModel(knex, dialect, manifest, model));
  } else {
    // Since the last acknowledged feed: rows modified since (the app and every install move
    // lastModified), rows the site does not hold, and rows whose base moved since (the centre
    // kept its version against the site's, a repair); only those are hashed.
    const after = modifiedAfterParam(since)!;
    yield* differing(serializeModel(knex, dialect, manifest, model, { after: normalizeDatetime(after) }));
    const ids = (await knex(model.table).select(model.pk).orderBy(model.pk)).map((r) => Number(r[model.pk]));
    const moved = new Set((await knex(BASE_TABLE).select('row_id').where({ peer_id: site.id, model: model.name }).where('changed', '>', after)).map((r) => Number(r.row_id)));
    const others = ids.filter((id) => !seen.has(id) && (!agreed.has(id) || moved.has(id)));
    present = new Set(ids);
    yield* differing(serializeRows(knex, dialect, manifest, model, others));
  }
  const gone = [...agreed.keys()].filter((id) => !present.has(id) && !held.has(id));
  for (let i = 0; i < gone.length; i += PER_LINE) yield { text: JSON.stringify({ deleted: gone.slice(i, i + PER_LINE).map((pk) => ({ pk, ref: agreed.get(pk)!.ref })) }), isObject: false };
}

/** The centre's clock of the last feed a site acknowledged, per app (the next feed starts there). */
const FEED_APP = (app: string) => `${app}#feed`;

/** Since when a site's next feed looks (undefined: every row). */
export async function feedSince(knex: Knex, manifest: AppManifest, site: SiteRow): Promise<string | undefined> {
  return (await readWatermarks(knex, site.id, FEED_APP(manifest.app))).get('*');
}

/** What a site says it did with a feed: rows taken (with the version it now holds) and deletes applied. */
export interface FeedAck {
  feed: string;
  /** The feed header's clock (the centre's, when it began reading): the next feed starts there. */
  clock?: string;
  taken: Array<[model: string, id: number, ref: string, hash: string]>;
  deleted: Array<[model: string, id: number]>;
  /** Deletes the site could not apply (another of its rows still needs the row): it keeps the row as its own. */
  refused?: Array<[model: string, id: number, reason: string]>;
}

/** Record at the centre what a site holds after applying a feed (idempotent: an ack sent twice writes the same). */
export async function acceptFeedAck(knex: Knex, dialect: DialectAdapter, manifest: AppManifest, site: SiteRow, ack: FeedAck): Promise<number> {
  const byModel = new Map<string, { taken: Array<{ rowId: number; ref: string; hash: string }>; deleted: number[] }>();
  const entry = (name: string) => {
    const model = manifest.models.get(name);
    if (!model || model.isPrivate) throw new Error(`the ack names model "${name}", which app ${manifest.app} does not serve`);
    if (!byModel.has(name)) byModel.set(name, { taken: [], deleted: [] });
    return byModel.get(name)!;
  };
  for (const [name, id, ref, hash] of ack.taken) {
    if (!Number.isSafeInteger(id) || !parseRef(ref) || !/^[0-9a-f]{32}$/.test(hash)) throw new Error(`the ack's entry for ${name} ${String(id)} is not [model, id, ref, hash]`);
    entry(name).taken.push({ rowId: id, ref, hash });
  }
  for (const [name, id] of ack.deleted) {
    if (!Number.isSafeInteger(id)) throw new Error(`the ack's delete of ${name} ${String(id)} has no id`);
    entry(name).deleted.push(id);
  }
  const refused = (ack.refused ?? []).filter(([name, id]) => { entry(name); return Number.isSafeInteger(id); });
  await knex.transaction(async (trx) => {
    await touchContact(trx, site);
    const clock = typeof ack.clock === 'string' && !Number.isNaN(Date.parse(ack.clock)) ? ack.clock : undefined;
    const since = (await readWatermarks(trx, site.id, FEED_APP(manifest.app))).get('*');
    if (clock && (!since || clock > since)) await writeWatermarks(trx, site.id, FEED_APP(manifest.app), new Map([['*', clock]]));
    for (const [name, { taken, deleted }] of byModel) {
      const model = manifest.models.get(name)!;
      await writeBase(trx, dialect, site.id, model, taken);
      await dropBase(trx, site.id, model, deleted);
    }
    // The site keeps these rows as its own: it sends them again as new; the centre's delete loses, with a record.
    const created = new Date().toISOString();
    for (const [name, id, reason] of refused) {
      const model = manifest.models.get(name)!;
      await dropBase(trx, site.id, model, [id]);
      await trx(CONFLICT_TABLE).insert({
        site_id: site.id, model: name, row_id: null, ref: `c${id}`, home: 'centre', policy: model.conflictPolicy, base: null, site_version: null, centre_version: null,
        decision: 'site', reason: `deleted at the centre, but the site cannot delete it: ${String(reason)}; the site keeps it as its own row and sends it again`, status: 'decided', created,
      });
    }
  });
  return ack.taken.length + ack.deleted.length + refused.length;
}

/** `repair`: forget what the centre believes the site holds, so the next feed is whole. */
export async function resetSiteBase(knex: Knex, manifest: AppManifest, site: SiteRow): Promise<number> {
  return knex.transaction(async (trx) => {
    await touchContact(trx, site);
    await trx(WATERMARK_TABLE).where({ database_id: site.id, app: FEED_APP(manifest.app) }).del();
    return Number(await trx(BASE_TABLE).where({ peer_id: site.id }).del());
  });
}

/** The centre's clock of a site's last contact (a commit, a feed ack, a repair): what retention measures. */
export async function touchContact(knex: Knex | Knex.Transaction, site: SiteRow): Promise<void> {
  await knex(SITE_TABLE).where({ id: site.id }).update({ last_contact: new Date().toISOString() });
}

/** A centre's tags seen from one site: rows tagged with the site are its own. */
export async function centreTags(knex: Knex, manifest: AppManifest, site: SiteRow): Promise<PeerTags> {
  const tags = new PeerTags(knex, manifest, site.id, 'centre');
  await tags.load(manifest.models.values());
  return tags;
}
