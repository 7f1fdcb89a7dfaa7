import type { Knex } from 'knex';
import type { Database } from '../dialects/index.js';
import { installExchangeBundle, type ExchangeInstallResult, type Policies } from '../exchange/centre-install.js';
import { BASE_TABLE } from '../exchange/exchange-tables.js';
import { touchContact } from '../exchange/feed.js';
import { LockError, RemoteSyncError } from '../errors.js';
import { installObjects, type InstallResult } from '../install/install.js';
import { IntSet } from '../install/int-collections.js';
import type { AppManifest } from '../manifest/types.js';
import { fixtureFile, readFixtureBatches } from '../sources/work-dir.js';
import { planModels } from '../sync/plan.js';
import { dependencyOrder } from '../manifest/order.js';
import { setLastSync } from '../sync/registry.js';
import { recordRun, totals } from '../sync/report.js';
import { isIncremental, readWatermarks, writeWatermarks } from '../sync/watermarks.js';
import type { BundleHeader, UnpackedBundle } from './bundle.js';
import { BUNDLE_TABLE, CHUNK_TABLE, SITE_TABLE } from './push-tables.js';
import type { SiteRow } from './sites.js';

/** The centre's answer to a committed bundle; the site forgets the bundle only on one naming its id and sha256. */
export interface BundleAck {
  id: string;
  sha256: string;
  status: 'committed';
  site: string;
  siteClock: string;
  /** Objects the bundle held, and those inserted, updated or deleted. */
  objects: number;
  written: number;
  models: Array<{ model: string; objects: number; inserted: number; updated: number; deleted: number; skipped: number }>;
  rejects: Array<{ model: string; pk: unknown; reason: string }>;
  /** An exchange bundle: the conflicts it met (kept in remotesyncdb_conflict) and the site's deletes applied. */
  conflicts?: number;
  deleted?: number;
}

/** Thrown when another install holds the centre's lock: the site backs off and tries again. */
export class CentreBusyError extends LockError {}

/** A bundle cut from a state that is not the centre's, or with a site clock behind it: cut again. */
export class StaleBundleError extends RemoteSyncError {
  constructor(message: string, readonly reason: 'clock' | 'stale') {
    super(message, { code: 'E_STALE_BUNDLE' });
  }
}

function isExchangeResult(result: InstallResult): result is ExchangeInstallResult {
  return 'conflicts' in result;
}

/** Refused: a site silent for longer than the centre's retention must repair before it exchanges again. */
export class RepairNeededError extends RemoteSyncError {
  constructor(message: string) {
    super(message, { code: 'E_REPAIR' });
  }
}

/**
 * DESIGN §10's retention: a site that holds versions agreed with the centre but has not
 * exchanged for longer than `retentionMs` is told to repair (`remotesyncdb repair --with URL`),
 * which starts it again from the centre's state; a site after a repair holds none.
 */
async function checkRetention(trx: Knex.Transaction, site: SiteRow, retentionMs: number | undefined): Promise<void> {
  const last = (await trx(SITE_TABLE).where({ id: site.id }).first('last_contact'))?.last_contact as string | null | undefined;
  await touchContact(trx, site);
  if (retentionMs === undefined || !last || Date.now() - Date.parse(last) <= retentionMs) return;
  if (!(await trx(BASE_TABLE).where({ peer_id: site.id }).first('row_id'))) return;
  const span = retentionMs >= 86_400_000 ? `${Math.round(retentionMs / 86_400_000)} days` : `${Math.round(retentionMs / 1000)} s`;
  throw new RepairNeededError(`site ${site.name} last exchanged on ${last}, longer ago than this centre's retention (${span}): run remotesyncdb repair --with <this centre> at the site`);
}

/** How many committed bundles (ids and acks) the centre keeps per site. */
export const KEPT_BUNDLES = 50;

/**
 * Whether a bundle may be installed over what the centre holds from the site: cut from the
 * watermarks the centre has now (for its own models: the bundles of one split cut share a base,
 * and each earlier one moved its models' watermarks), with a site clock not behind them. A full
 * bundle replaces the watermarks whatever they are (the way out of a clock that was wrong).
 */
function checkBase(header: BundleHeader, current: Map<string, string>): void {
  if (header.full) return;
  const behind = [...current].find(([, w]) => w > header.siteClock);
  if (behind) throw new StaleBundleError(`the site's clock (${header.siteClock}) is behind what the centre already holds from it (${behind[0]} up to ${behind[1]}); set the clock right: the next push is sent in full`, 'clock');
  const differs = header.models.find((model) => (current.get(model) ?? null) !== (header.base[model] ?? null));
  if (differs) throw new StaleBundleError(`bundle cut from an old state (${differs}: ${header.base[differs] ?? 'none'}, the centre holds ${current.get(differs) ?? 'none'}); cut it again`, 'stale');
}

/**
 * Install a site's bundle at the centre with the one install a pull uses (DESIGN §9): in ONE
 * transaction under the sync lock, origin tags = the site, `--skip` so that a bad object is
 * rejected in the ack instead of blocking every later push, `--prune` from the site's pk lists;
 * then the site's clock as its watermarks and `last_sync`, the bundle recorded with its ack and
 * its chunks deleted, all committed together. A bundle committed meanwhile by another centre
 * process is not installed twice: its recorded ack is returned.
 */
export async function installBundle(options: { db: Database; manifest: AppManifest; site: SiteRow; bundle: UnpackedBundle; sha256: string; prune: boolean; lockWaitMs: number; policies?: Policies; retentionMs?: number }): Promise<BundleAck> {
  const { db, manifest, site, bundle, sha256 } = options;
  const { header } = bundle;
  const startedAt = new Date().toISOString();
  const lockKey = `sync:${manifest.app}`;
  const trx = await db.knex.transaction(db.dialect.transactionConfig);
  try {
    if (!(await db.dialect.tryLock(trx, lockKey, options.lockWaitMs))) throw new CentreBusyError(`the centre is busy installing another bundle; try again`);
    // Under the lock: a commit retried while the first one ran finds it committed here.
    const recorded = await trx(BUNDLE_TABLE).where({ site_id: site.id, bundle_id: header.id }).first();
    if (recorded?.status === 'committed') {
      await db.dialect.finish(trx, lockKey, false);
      return JSON.parse(recorded.ack) as BundleAck;
    }
    // An exchange's changes are found by version, not by clock: no watermark to check or move.
    if (header.exchange) await checkRetention(trx, site, options.retentionMs);
    else checkBase(header, await readWatermarks(trx, site.id, manifest.app));
    const sent = new Set(Object.keys(bundle.fetched.models));
    const excluded = new Set([...manifest.models.keys()].filter((name) => !sent.has(name)));
    // An exchange bundle (one of a split cut, too) holds what changed: its objects refer to rows
    // the centre has, by tag or claim, or to nothing it can resolve (rejected, sent again).
    const plan = header.exchange ? dependencyOrder(manifest).filter((m) => !m.isPrivate && sent.has(m.name)) : await planModels(manifest, excluded, trx, site.id);
    const allPks = new Map([...bundle.pks].map(([model, pks]) => [model, IntSet.of(pks)]));
    const result = header.exchange
      ? await installExchangeBundle({ trx, dialect: db.dialect, manifest, plan, site, bundle, ...(options.policies ? { policies: options.policies } : {}) })
      : await installObjects({
        trx, dialect: db.dialect, manifest, plan, remoteId: site.id, remote: site.hostname,
        objects: (model) => readFixtureBatches(fixtureFile(bundle.dir, model.name)),
        allPks: (model) => allPks.get(model.name) ?? new IntSet(),
        skip: true, prune: options.prune, mayTakeClaimed: false,
      });
    await setLastSync(trx, db.dialect, manifest.registry, site.id, header.siteClock);
    // A model with rejects keeps its watermark: its rejected objects come again with the next
    // push (fixed at the site, or rejected again and reported again), never silently dropped.
    const rejected = new Set(result.rejects.map((r) => r.model));
    if (!header.exchange) await writeWatermarks(trx, site.id, manifest.app, new Map(plan.filter((m) => isIncremental(manifest, m) && !rejected.has(m.name)).map((m) => [m.name, header.siteClock])));
    const models = result.counts.map((c) => ({ model: c.model, objects: c.objects, inserted: c.inserted, updated: c.updated, deleted: c.deleted, skipped: c.skipped }));
    const { received, written } = totals(result.counts);
    const ack: BundleAck = {
      id: header.id, sha256, status: 'committed', site: site.name, siteClock: header.siteClock,
      objects: received, written,
      models,
      rejects: result.rejects.map((r) => ({ model: r.model, pk: r.pk, reason: r.reason })),
      ...(isExchangeResult(result) ? { conflicts: result.conflicts, deleted: result.deletedRows } : {}),
    };
    const recordedNow = await trx(BUNDLE_TABLE).where({ site_id: site.id, bundle_id: header.id }).whereNot({ status: 'committed' }).update({ status: 'committed', committed: new Date().toISOString(), ack: JSON.stringify(ack) });
    if (recordedNow !== 1) throw new StaleBundleError(`bundle ${header.id} is no longer an upload of site ${site.name} (a newer upload replaced it); cut it again`, 'stale');
    await trx(CHUNK_TABLE).where({ site_id: site.id, bundle_id: header.id }).del();
    const old = (await trx(BUNDLE_TABLE).where({ site_id: site.id, status: 'committed' }).orderBy('committed', 'desc').offset(KEPT_BUNDLES).select('bundle_id')).map((r) => r.bundle_id as string);
    if (old.length > 0) await trx(BUNDLE_TABLE).where({ site_id: site.id }).whereIn('bundle_id', old).del();
    await db.dialect.finish(trx, lockKey, true);
    await recordRun(db.knex, { startedAt, remote: site.hostname, app: manifest.app, status: 'success', counts: result.counts, rejects: result.rejects }).catch(() => {});
    return ack;
  } catch (error) {
    if (!trx.isCompleted()) await db.dialect.finish(trx, lockKey, false).catch(() => {});
    if (!(error instanceof CentreBusyError)) await recordRun(db.knex, { startedAt, remote: site.hostname, app: manifest.app, status: 'failed', error }).catch(() => {});
    throw error;
  }
}
