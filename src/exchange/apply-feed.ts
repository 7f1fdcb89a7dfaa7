import type { Knex } from 'knex';
import type { Database, DialectAdapter } from '../dialects/index.js';
import { LockError } from '../errors.js';
import { IdMaps } from '../install/id-map.js';
import { installObjects } from '../install/install.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../schema/app-tables.js';
import { fixtureFile, readFixtureBatches } from '../sources/work-dir.js';
import type { UnpackedBundle } from '../push/bundle.js';
import { setLastSync } from '../sync/registry.js';
import { totals } from '../sync/report.js';
import { deleteRow, dropBase, loadBase, replaceClaims, untag, versionsOf, writeBase, type BaseRow } from './base.js';
import { SENT_TABLE } from './exchange-tables.js';
import type { FeedAck } from './feed.js';
import { parseRef, PeerTags } from './version.js';

/** What applying a feed did at the site. */
export interface FeedResult {
  /** Objects the feed held, rows written (inserted or updated), deletes applied. */
  objects: number;
  written: number;
  deleted: number;
  /** Rows changed here since the centre last knew them, kept as they are (sent by the next exchange). */
  held: Array<{ model: string; id: number; reason: string }>;
  rejects: Array<{ model: string; pk: unknown; reason: string }>;
}

/** The centre as the site knows it: its registry id and hostname. */
export interface CentreRef { id: number; hostname: string }

/**
 * Apply the centre's feed at the site in ONE transaction under the sync lock (DESIGN §10):
 * record the centre's claims on the
 * site's own rows (so a row of the site's comes back onto itself, never as a twin); install the
 * feed with the one install engine (origin = the centre, natural keys off), taking a row only
 * where the site did not change it since the centre knew it (`repair`: always); apply the
 * deletes the same way; record the new base and the ack to send, and commit.
 */
export async function applyFeed(options: { db: Database; manifest: AppManifest; plan: readonly ModelDef[]; centre: CentreRef; feed: UnpackedBundle; repair?: boolean; lockWaitMs?: number }): Promise<FeedResult> {
  const { db, manifest, plan, centre, feed } = options;
  const { dialect } = db;
  const lockKey = `sync:${manifest.app}`;
  const trx = await db.knex.transaction(dialect.transactionConfig);
  try {
    if (!(await dialect.tryLock(trx, lockKey, options.lockWaitMs ?? 30_000))) throw new LockError(`another sync or exchange is writing ${db.display}; try again when it has finished`);
    await writeClaims(trx, manifest, plan, centre.id, feed);
    const tags = new PeerTags(trx, manifest, centre.id, 'site');
    await tags.load(manifest.models.values());
    const idMaps = new IdMaps(trx, manifest, centre.id, dialect);
    const keep = new Map<string, Set<number>>();
    const held: FeedResult['held'] = [];
    const feedPks = new Map<string, number[]>();
    for (const model of plan) {
      await idMaps.of(model);
      const kept = new Set<number>();
      keep.set(model.name, kept);
      const pks: number[] = [];
      feedPks.set(model.name, pks);
      const file = feed.fetched.models[model.name]?.file;
      if (!file) continue;
      for await (const batch of readFixtureBatches(file)) {
        const objects = batch as Array<{ pk: number; hash?: string }>;
        const ids = objects.map((o) => idMaps.lookup(model, Number(o.pk))).filter((x): x is number => x !== undefined);
        const current = await versionsOf(trx, dialect, manifest, model, ids, tags);
        const agreed = await loadBase(trx, centre.id, model, ids);
        for (const object of objects) {
          const pk = Number(object.pk);
          pks.push(pk);
          const local = idMaps.lookup(model, pk);
          if (local === undefined || options.repair) continue;
          const now = current.get(local);
          if (!now || now.hash === object.hash || now.hash === agreed.get(local)?.hash) continue;
          kept.add(pk);
          held.push({ model: model.name, id: local, reason: 'changed here since the centre last knew it: sent by the next exchange' });
        }
      }
    }
    const result = await installObjects({
      trx, dialect, manifest, plan, remoteId: centre.id, remote: centre.hostname,
      objects: (model) => feed.fetched.models[model.name] ? readFixtureBatches(fixtureFile(feed.dir, model.name)) : emptyBatches(),
      decide: (model, incoming) => (keep.get(model.name)?.has(incoming.pk) ? 'keep' : 'take'),
      skip: true, naturalKeys: false,
    });
    const rejected = new Set(result.rejects.map((r) => `${r.model}:${String(r.pk)}`));
    const ack: FeedAck = { feed: feed.header.id, clock: feed.header.siteClock, taken: [], deleted: [] };
    // The new base: what the site holds now of each row it took.
    const after = new IdMaps(trx, manifest, centre.id, dialect);
    await tags.load(manifest.models.values(), true);
    for (const model of plan) {
      await after.of(model);
      const taken = (feedPks.get(model.name) ?? []).filter((pk) => !keep.get(model.name)!.has(pk) && !rejected.has(`${model.name}:${pk}`));
      const locals = new Map<number, number>();
      for (const pk of taken) {
        const local = after.lookup(model, pk);
        if (local !== undefined) locals.set(local, pk);
      }
      const versions = await versionsOf(trx, dialect, manifest, model, [...locals.keys()], tags);
      const rows: BaseRow[] = [];
      for (const [local, version] of versions) {
        const ref = tags.ref(model, local);
        rows.push({ rowId: local, ref, hash: version.hash, fields: version.fields });
        ack.taken.push([model.name, locals.get(local)!, ref, version.hash]);
      }
      await writeBase(trx, dialect, centre.id, model, rows);
    }
    const deleted = await applyCentreDeletes(trx, dialect, manifest, plan, centre, feed, after, tags, Boolean(options.repair), feedPks, held, ack);
    // The ack goes in the same transaction: sent first by the next exchange if this one cannot.
    await trx(SENT_TABLE).where({ peer_id: centre.id, bundle_id: 'ack' }).del();
    await trx(SENT_TABLE).insert({ peer_id: centre.id, bundle_id: 'ack', model: '', row_id: 0, ref: '', hash: null, fields: JSON.stringify(ack) });
    await setLastSync(trx, dialect, manifest.registry, centre.id, feed.header.siteClock);
    await dialect.finish(trx, lockKey, true);
    const { received: objects, written } = totals(result.counts);
    return { objects, written, deleted, held, rejects: result.rejects.map((r) => ({ model: r.model, pk: r.pk, reason: r.reason })) };
  } catch (error) {
    if (!trx.isCompleted()) await dialect.finish(trx, lockKey, false).catch(() => {});
    throw error;
  }
}

async function* emptyBatches(): AsyncGenerator<unknown[]> {}

/** Claims: the centre's ids of the site's own rows. A row the centre re-homed to the site loses its tags. */
async function writeClaims(trx: Knex.Transaction, manifest: AppManifest, plan: readonly ModelDef[], centreId: number, feed: UnpackedBundle): Promise<void> {
  for (const model of plan) {
    if (model.parent !== undefined) continue;
    const wanted = new Map<number, number>();
    const pairs = feed.claims.get(model.name) ?? [];
    for (let i = 0; i < pairs.length; i += 500) {
      const slice = pairs.slice(i, i + 500);
      const rows = await trx(model.table).select(model.pk, ORIGINAL_DB).whereIn(model.pk, slice.map((p) => p[1]));
      const present = new Map(rows.map((r) => [Number(r[model.pk]), r[ORIGINAL_DB]]));
      await untag(trx, manifest, model, rows.filter((r) => Number(r[ORIGINAL_DB] ?? 0) === centreId).map((r) => Number(r[model.pk])));
      for (const [x, local] of slice) if (present.has(local)) wanted.set(x, local);
    }
    await replaceClaims(trx, centreId, model, wanted);
  }
}

/**
 * The centre's deletes, children first: a row unchanged here since the centre knew it goes
 * (unless another row still needs it); a changed one stays and is sent by the next exchange.
 * With `repair`, every row of the centre's that the whole feed did not hold goes too.
 */
async function applyCentreDeletes(trx: Knex.Transaction, dialect: DialectAdapter, manifest: AppManifest, plan: readonly ModelDef[], centre: CentreRef, feed: UnpackedBundle, idMaps: IdMaps, tags: PeerTags, repair: boolean, feedPks: Map<string, number[]>, held: FeedResult['held'], ack: FeedAck): Promise<number> {
  let deleted = 0;
  for (const model of [...plan].reverse()) {
    const wanted = new Map<number, number>();
    for (const { pk, ref } of feed.deleted.get(model.name) ?? []) {
      // A row of the site's own that the centre deleted: named by its pk here.
      const parsed = parseRef(ref);
      const own = parsed?.side === 'site' ? parsed.pk : undefined;
      const local = idMaps.lookup(model, pk) ?? (own !== undefined && (await trx(model.table).where(model.pk, own).first(model.pk)) ? own : undefined);
      if (local === undefined) ack.deleted.push([model.name, pk]);
      else wanted.set(local, pk);
    }
    if (repair) {
      const root = manifest.models.get(model.root)!;
      const inFeed = new Set([...(feedPks.get(model.name) ?? []), ...(feed.held.get(model.name) ?? [])]);
      let query = trx(model.table).select(`${model.table}.${model.pk} as id`, `${root.table}.${ORIGINAL_ID} as original`);
      if (model.parent !== undefined) query = query.join(root.table, `${root.table}.${root.pk}`, `${model.table}.${model.pk}`);
      for (const r of await query.where(`${root.table}.${ORIGINAL_DB}`, centre.id)) if (!inFeed.has(Number(r.original))) wanted.set(Number(r.id), Number(r.original));
    }
    if (wanted.size === 0) continue;
    const locals = [...wanted.keys()];
    const current = await versionsOf(trx, dialect, manifest, model, locals, tags);
    const agreed = await loadBase(trx, centre.id, model, locals);
    const gone: number[] = [];
    for (const [local, pk] of wanted) {
      const now = current.get(local);
      if (!repair && now && now.hash !== agreed.get(local)?.hash) {
        held.push({ model: model.name, id: local, reason: 'deleted at the centre but changed here: sent by the next exchange' });
        continue;
      }
      const blocked = await deleteRow(trx, manifest, model, local);
      if (blocked) {
        // Still needed here: the row becomes the site's own (untagged) and goes up again as new.
        await untag(trx, manifest, model, [local]);
        for (const level of manifest.models.values()) if (level.root === model.root) await dropBase(trx, centre.id, level, [local]);
        held.push({ model: model.name, id: local, reason: `deleted at the centre, but it cannot go here (${blocked}): kept as this site's own row` });
        (ack.refused ??= []).push([model.name, pk, blocked]);
        continue;
      }
      deleted++;
      gone.push(local);
      ack.deleted.push([model.name, pk]);
    }
    await dropBase(trx, centre.id, model, gone);
  }
  return deleted;
}

