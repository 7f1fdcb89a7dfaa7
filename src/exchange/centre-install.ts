import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import type { DecodedObject } from '../install/decode-object.js';
import { IdMaps } from '../install/id-map.js';
import { installObjects, type InstallResult } from '../install/install.js';
import type { ConflictPolicy, AppManifest, ModelDef } from '../manifest/types.js';
import { ORIGINAL_DB } from '../schema/app-tables.js';
import { IDMAP_TABLE } from '../schema/bookkeeping.js';
import { fixtureFile, readFixtureBatches } from '../sources/work-dir.js';
import type { UnpackedBundle } from '../push/bundle.js';
import { SITE_TABLE } from '../push/push-tables.js';
import type { SiteRow } from '../push/sites.js';
import { deleteRow, dropBase, dropStaleBase, loadBase, originsOf, replaceClaims, untag, versionsOf, writeBase, type BaseRow } from './base.js';
import { CONFLICT_TABLE } from './exchange-tables.js';
import { threeWay, type Home, type Outcome } from './policy.js';
import { parseRef, PeerTags, versionOf, type Canon, type Version } from './version.js';

/** A conflict as recorded at the centre. */
interface ConflictRecord { model: string; sitePk?: number; rowId: number | null; ref: string; home: string; policy: ConflictPolicy; base: Canon | null; site: Canon | null; centre: Canon | null; outcome: Outcome }

/** What the centre made of one changed object before the install writes it. */
type Plan = { kind: 'take' } | { kind: 'keep' } | { kind: 'merge'; keep: string[] };

/** The policy of a model at this centre: its config file's, else the manifest's. */
export type Policies = ReadonlyMap<string, ConflictPolicy>;

/** What an exchange bundle did at the centre, beside the install's counts. */
export interface ExchangeInstallResult extends InstallResult { conflicts: number; deletedRows: number }

/**
 * Install a site's exchange bundle at the centre (DESIGN §10), inside the bundle's transaction:
 * record the site's claims (its ids of rows whose home is not the site), decide each changed
 * object with the three-way rule against the base the site sent, install with the one install
 * engine (origin = the site, natural keys off, the decisions as its conflict rule), apply the
 * site's deletes, keep every loser in the conflict table, and record what the site now holds.
 */
export async function installExchangeBundle(options: { trx: Knex.Transaction; dialect: DialectAdapter; manifest: AppManifest; plan: readonly ModelDef[]; site: SiteRow; bundle: UnpackedBundle; policies?: Policies }): Promise<ExchangeInstallResult> {
  const { trx, dialect, manifest, plan, site, bundle } = options;
  const policyOf = (model: ModelDef) => options.policies?.get(model.name) ?? model.conflictPolicy;
  const homes = await homeNames(trx, manifest);
  await writeClaims(trx, manifest, plan, site, bundle);
  // Every model has its section (its claims count), but only those with objects have anything to
  // decide or install: a quiet exchange's bundle holds none, and each model costs queries.
  const active = plan.filter((m) => (bundle.fetched.models[m.name]?.objects ?? 0) > 0);
  // The site's identities of its objects' references: a claimed id is the centre's row (even
  // one the centre has deleted since: the claim still says whose it was).
  // A bundle of a split cut carries the claims of its own models only: the others' are those kept.
  const siteClaims = new Map<string, Map<number, number>>();
  for (const r of await trx(IDMAP_TABLE).select('model', 'original_id', 'local_id').where({ original_db_id: site.id })) {
    if (!siteClaims.has(r.model)) siteClaims.set(r.model, new Map());
    siteClaims.get(r.model)!.set(Number(r.original_id), Number(r.local_id));
  }
  for (const [name, pairs] of bundle.claims) siteClaims.set(name, new Map(pairs));
  const siteRef = (target: ModelDef, id: number) => {
    const x = siteClaims.get(target.root)?.get(id);
    return x === undefined ? `s${id}` : `c${x}`;
  };
  const tags = new PeerTags(trx, manifest, site.id, 'centre');
  await tags.load(manifest.models.values());
  const idMaps = new IdMaps(trx, manifest, site.id, dialect);
  const plans = new Map<string, Map<number, Plan>>();
  const dropped = new Map<string, Set<number>>();
  const conflicts: ConflictRecord[] = [];
  /** What the site holds after this bundle, per model: by centre id, or by site pk for rows not inserted yet. */
  const holds = new Map<string, Array<{ pk: number; rowId?: number; ref: string; hash: string }>>();

  for (const model of active) {
    await idMaps.of(model);
    const byPk = new Map<number, Plan>();
    const drop = new Set<number>();
    plans.set(model.name, byPk);
    dropped.set(model.name, drop);
    const held: Array<{ pk: number; rowId?: number; ref: string; hash: string }> = [];
    holds.set(model.name, held);
    for await (const batch of readFixtureBatches(fixtureFile(bundle.dir, model.name))) {
      const objects = batch as Array<{ pk: number; fields: Record<string, unknown>; base?: { hash: string; fields: Canon } | null }>;
      const ids = objects.map((o) => idMaps.lookup(model, Number(o.pk))).filter((x): x is number => x !== undefined);
      const current = await versionsOf(trx, dialect, manifest, model, ids, tags);
      const agreed = await loadBase(trx, site.id, model, ids);
      const origins = await originsOf(trx, manifest, model, ids);
      for (const object of objects) {
        const pk = Number(object.pk);
        const incoming = versionOf(manifest, model, object.fields, siteRef);
        const base: Version | null = object.base ? { hash: String(object.base.hash), fields: object.base.fields ?? {} } : null;
        const rowId = idMaps.lookup(model, pk);
        const ref = siteRef(model, pk);
        if (rowId === undefined) {
          // New to the centre, or a row the centre deleted that the site changed meanwhile.
          if (base !== null) {
            const home: Home = ref.startsWith('s') ? { kind: 'site' } : { kind: 'centre' };
            const outcome = threeWay(policyOf(model), home, base, incoming, null);
            conflicts.push({ model: model.name, sitePk: pk, rowId: null, ref, home: describeHome(home), policy: policyOf(model), base: base.fields, site: incoming.fields, centre: null, outcome });
            if (outcome.decision !== 'site') {
              drop.add(pk);
              continue;
            }
          }
          held.push({ pk, ref, hash: incoming.hash });
          continue;
        }
        held.push({ pk, rowId, ref: tags.ref(model, rowId), hash: incoming.hash });
        // Sent again (a lost ack, a bundle cut again): the centre already knows the site holds it.
        if (agreed.get(rowId)?.hash === incoming.hash) {
          byPk.set(pk, { kind: 'keep' });
          continue;
        }
        const home = homeOf(origins.get(rowId) ?? null, site, homes);
        const now = current.get(rowId) ?? null;
        const outcome = threeWay(policyOf(model), home, base, incoming, now);
        if (outcome.isConflict) conflicts.push({ model: model.name, rowId, ref: tags.ref(model, rowId), home: describeHome(home), policy: policyOf(model), base: base?.fields ?? null, site: incoming.fields, centre: now?.fields ?? null, outcome });
        byPk.set(pk, outcome.decision === 'site' ? { kind: 'take' } : outcome.decision === 'merge' ? { kind: 'merge', keep: outcome.keepFromCentre } : { kind: 'keep' });
      }
    }
  }

  const result = await installObjects({
    trx, dialect, manifest, plan: active, remoteId: site.id, remote: site.hostname,
    objects: (model) => withoutDropped(readFixtureBatches(fixtureFile(bundle.dir, model.name)), dropped.get(model.name)),
    decide: (model, incoming, stored) => applyPlan(model, plans.get(model.name)?.get(incoming.pk), incoming, stored),
    skip: true, naturalKeys: false, mayTakeClaimed: false,
  });

  // What the site holds now, as the centre knows it (rejected objects were not taken: sent again).
  const rejected = new Set(result.rejects.map((r) => `${r.model}:${String(r.pk)}`));
  const after = new IdMaps(trx, manifest, site.id, dialect);
  await tags.load(manifest.models.values(), true);
  for (const model of active) {
    await after.of(model);
    const rows: BaseRow[] = [];
    for (const h of holds.get(model.name) ?? []) {
      if (rejected.has(`${model.name}:${h.pk}`)) continue;
      const rowId = h.rowId ?? after.lookup(model, h.pk);
      if (rowId !== undefined) rows.push({ rowId, ref: h.ref, hash: h.hash });
    }
    await writeBase(trx, dialect, site.id, model, rows);
    // A row the centre had deleted and the site's version brought back: its new id. The base of
    // the deleted id goes (else the next feed would tell the site to delete what it holds).
    const revived: Array<{ rowId: number; ref: string }> = [];
    for (const c of conflicts) {
      if (c.model !== model.name || c.rowId !== null || c.sitePk === undefined || rejected.has(`${model.name}:${c.sitePk}`)) continue;
      c.rowId = after.lookup(model, c.sitePk) ?? null;
      if (c.rowId !== null) revived.push({ rowId: c.rowId, ref: c.ref });
    }
    await dropStaleBase(trx, site.id, model, revived);
  }

  const deletedRows = await applySiteDeletes(trx, dialect, manifest, plan, site, bundle, tags, homes, policyOf, conflicts);
  return { ...result, conflicts: await recordConflicts(trx, site, conflicts), deletedRows };
}

/** Batches without the objects a decision left out (a row the centre deleted and keeps deleted). */
async function* withoutDropped(batches: AsyncIterable<unknown[]>, drop: Set<number> | undefined): AsyncGenerator<unknown[]> {
  for await (const batch of batches) yield drop && drop.size > 0 ? batch.filter((o) => !drop.has(Number((o as { pk: unknown }).pk))) : batch;
}

/** The install's conflict rule for one stored row: the decision made before the install. */
function applyPlan(model: ModelDef, plan: Plan | undefined, incoming: DecodedObject, stored: Record<string, unknown>): 'take' | 'keep' {
  if (plan === undefined || plan.kind === 'take') return 'take';
  if (plan.kind === 'keep') return 'keep';
  for (const name of plan.keep) {
    const field = model.fields.find((f) => f.name === name);
    if (field) incoming.row[field.name] = stored[field.name];
    const fk = model.fks.find((f) => f.name === name);
    if (fk) incoming.row[fk.column] = stored[fk.column];
    if (model.m2m.some((m) => m.name === name)) incoming.m2m = incoming.m2m.filter((m) => m.m2m.name !== name);
  }
  return 'take';
}

/** Names of the registry's ids, and which are push/exchange sites. */
async function homeNames(trx: Knex.Transaction, manifest: AppManifest): Promise<{ names: Map<number, string>; sites: Set<number> }> {
  const names = new Map((await trx(manifest.registry).select('id', 'name')).map((r) => [Number(r.id), String(r.name)]));
  const sites = new Set((await trx(SITE_TABLE).select('id')).map((r) => Number(r.id)));
  return { names, sites };
}

function homeOf(origin: number | null, site: SiteRow, homes: { names: Map<number, string>; sites: Set<number> }): Home {
  if (origin === null) return { kind: 'centre' };
  if (origin === site.id) return { kind: 'site' };
  const name = homes.names.get(origin) ?? `registry id ${origin}`;
  return homes.sites.has(origin) ? { kind: 'other-site', name: `site ${name}` } : { kind: 'pulled', name: `remote ${name}` };
}

function describeHome(home: Home): string {
  return home.kind === 'site' || home.kind === 'centre' ? home.kind : home.name;
}

/**
 * The site's claims: per root model, its ids of rows whose home is not the site, with the
 * centre's ids; they replace what the centre kept from earlier bundles. A claim on a row
 * that is gone, or that is the site's own, is left out (the object then counts as new).
 */
async function writeClaims(trx: Knex.Transaction, manifest: AppManifest, plan: readonly ModelDef[], site: SiteRow, bundle: UnpackedBundle): Promise<void> {
  for (const model of plan) {
    if (model.parent !== undefined || !bundle.fetched.models[model.name]) continue;
    const wanted = new Map<number, number>();
    const pairs = bundle.claims.get(model.name) ?? [];
    for (let i = 0; i < pairs.length; i += 500) {
      const slice = pairs.slice(i, i + 500);
      const rows = await trx(model.table).select(model.pk, ORIGINAL_DB).whereIn(model.pk, slice.map((p) => p[1]));
      const valid = new Set(rows.filter((r) => Number(r[ORIGINAL_DB] ?? 0) !== site.id).map((r) => Number(r[model.pk])));
      for (const [local, centre] of slice) if (valid.has(centre)) wanted.set(local, centre);
    }
    await replaceClaims(trx, site.id, model, wanted);
  }
}

/**
 * The site's deletes, children before parents: a row unchanged at the centre since the base
 * goes; one changed meanwhile is a conflict under the policy; one that cannot go (another row
 * still needs it) is a conflict record, never a failed exchange. A row of the site's that
 * stays is re-homed to the centre (its tags cleared), so the next feed gives it back to the
 * site as the centre's row. Either way the site no longer holds it: its base is dropped.
 */
async function applySiteDeletes(trx: Knex.Transaction, dialect: DialectAdapter, manifest: AppManifest, plan: readonly ModelDef[], site: SiteRow, bundle: UnpackedBundle, tags: PeerTags, homes: { names: Map<number, string>; sites: Set<number> }, policyOf: (m: ModelDef) => ConflictPolicy, conflicts: ConflictRecord[]): Promise<number> {
  let deleted = 0;
  const idMaps = new IdMaps(trx, manifest, site.id, dialect);
  for (const model of [...plan].reverse()) {
    const entries = bundle.deleted.get(model.name) ?? [];
    if (entries.length === 0) continue;
    await idMaps.of(model);
    const gone: number[] = [];
    // The rows the site deleted, by their identity: the centre's id, or the site's pk of its own row.
    const rows: Array<{ rowId: number; ref: string; entry: (typeof entries)[number] }> = [];
    for (const entry of entries) {
      const ref = String(entry.ref ?? `s${entry.pk}`);
      const parsed = parseRef(ref);
      const rowId = parsed === undefined ? undefined : parsed.side === 'centre' ? parsed.pk : idMaps.lookup(model, parsed.pk);
      if (rowId !== undefined) rows.push({ rowId, ref, entry });
    }
    const ids = rows.map((r) => r.rowId);
    const versions = await versionsOf(trx, dialect, manifest, model, ids, tags);
    const origins = await originsOf(trx, manifest, model, ids);
    for (const { rowId, ref, entry } of rows) {
      const now = versions.get(rowId) ?? null;
      gone.push(rowId);
      if (now === null) continue;
      const base: Version | null = entry.base ? { hash: entry.base.hash, fields: entry.base.fields } : null;
      const home = homeOf(origins.get(rowId) ?? null, site, homes);
      const outcome = threeWay(policyOf(model), home, base, null, now);
      const record = (o: Outcome) => conflicts.push({ model: model.name, rowId, ref, home: describeHome(home), policy: policyOf(model), base: base?.fields ?? null, site: null, centre: now.fields, outcome: o });
      if (outcome.decision === 'site') {
        const blocked = await deleteRow(trx, manifest, model, rowId);
        if (blocked === undefined) {
          deleted++;
          if (outcome.isConflict) record(outcome);
          continue;
        }
        record({ decision: 'centre', keepFromCentre: [], isConflict: true, reason: `deleted at the site, but the delete cannot apply here: ${blocked}` });
      } else record(outcome);
      // The row stays: a row of the site's is the centre's from now on.
      if (ref.startsWith('s') && model.parent === undefined) await untag(trx, manifest, model, [rowId]);
    }
    await dropBase(trx, site.id, model, gone);
  }
  return deleted;
}

/** Keep the conflicts; returns how many were new (one met again is recorded once). */
async function recordConflicts(trx: Knex.Transaction, site: SiteRow, conflicts: readonly ConflictRecord[]): Promise<number> {
  const created = new Date().toISOString();
  let recorded = 0;
  const json = (v: Canon | null) => (v === null ? null : JSON.stringify(v));
  for (const c of conflicts) {
    const record = { site_id: site.id, model: c.model, ref: c.ref, site_version: json(c.site), centre_version: json(c.centre) };
    // The same conflict met again (a bundle cut again after a lost answer, a repair's re-push): one record.
    const seen = await trx(CONFLICT_TABLE).where({ site_id: site.id, model: c.model, ref: c.ref }).whereNot({ status: 'resolved' }).select('site_version', 'centre_version');
    if (seen.some((r) => r.site_version === record.site_version && r.centre_version === record.centre_version)) continue;
    await trx(CONFLICT_TABLE).insert({
      site_id: site.id, model: c.model, row_id: c.rowId, ref: c.ref, home: c.home, policy: c.policy,
      base: json(c.base), site_version: json(c.site), centre_version: json(c.centre),
      decision: c.outcome.decision, reason: c.outcome.reason, status: c.outcome.decision === 'held' ? 'open' : 'decided', created,
    });
    recorded++;
  }
  return recorded;
}

