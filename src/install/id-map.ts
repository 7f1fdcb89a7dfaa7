import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../schema/app-tables.js';
import { IDMAP_TABLE } from '../schema/bookkeeping.js';
import { IntMap, IntSet } from './int-collections.js';

/** Remote pks looked up per query (well under every dialect's bind-parameter limit). */
const LOOKUP_BATCH = 900;

/**
 * The remote pk -> local id map of one remote, one map per MTI root (an MTI child shares its
 * root's ids), plus, per MTI child model, which remote pks have a row at that level (a
 * Gentity row is not yet a Station). Only integers are kept.
 *
 * A map is either whole (`of`: every tagged row and claim loaded at once, what the exchange
 * and `--skip` read) or looked up on demand (`prepare`, then `need` for each batch's pks: an
 * incremental sync touching 1% of a large database reads 1% of its id map, through the origin
 * index). A model whose table holds fewer than `onDemandFrom` rows of this remote is read
 * whole at once (a first sync's empty table, a small database). Either way, rows inserted in
 * this run are added as they go in.
 */
export class IdMaps {
  /** Pks of one root looked up on demand, after which its whole map is read instead (tests lower it). */
  static wholeAfter = 20_000;
  /** Rows of the remote a root's table must hold for its map to be looked up on demand (tests lower it). */
  static onDemandFrom = 20_000;

  private readonly maps = new Map<string, IntMap>();
  private readonly present = new Map<string, IntSet>();
  private readonly tables = new Map<string, boolean>();
  private isListed = false;
  /** Per root (or MTI child, for its level) looked up on demand: the remote pks already asked for. */
  private readonly checked = new Map<string, IntSet>();
  /** Roots looked up on demand of which this remote claims rows (no claim: no claims query per batch). */
  private readonly claimed = new Set<string>();

  constructor(
    private readonly trx: Knex.Transaction,
    private readonly manifest: AppManifest,
    private readonly remoteId: number,
    private readonly dialect?: DialectAdapter,
  ) {}

  /** Load the whole map a model needs (its root's, and its level's); returns its root's map. */
  async of(model: ModelDef): Promise<IntMap> {
    const root = this.manifest.models.get(model.root)!;
    let map = this.maps.get(root.name);
    if (!map || this.checked.has(root.name)) {
      map ??= new IntMap();
      // A dry run may look at a database whose tables do not exist yet: everything is new.
      const rows = !(await this.hasTable(root.table)) ? [] : await this.trx(root.table).select(`${root.pk} as id`, `${ORIGINAL_ID} as original`).where(ORIGINAL_DB, this.remoteId).orderBy(ORIGINAL_ID);
      for (const row of rows) map.set(Number(row.original), Number(row.id));
      // This remote's claims on rows it did not create (natural-key matches).
      if (await this.hasTable(IDMAP_TABLE)) {
        const claims = await this.trx(IDMAP_TABLE).select('original_id', 'local_id').where({ original_db_id: this.remoteId, model: root.name }).orderBy('original_id');
        for (const claim of claims) map.set(Number(claim.original_id), Number(claim.local_id));
      }
      this.maps.set(root.name, map);
      this.checked.delete(root.name);
      // The root's levels looked up on demand so far become whole with it.
      for (const level of this.manifest.models.values()) if (level.root === root.name && level !== model && this.checked.has(level.name)) await this.wholeLevel(level);
    }
    if (model.parent !== undefined && (!this.present.has(model.name) || this.checked.has(model.name))) await this.wholeLevel(model);
    return map;
  }

  /** Every remote pk present at an MTI child's level, loaded whole. */
  private async wholeLevel(model: ModelDef): Promise<void> {
    const set = this.present.get(model.name) ?? new IntSet();
    for (const original of await this.presentAt(model)) set.add(original);
    this.present.set(model.name, set);
    this.checked.delete(model.name);
  }

  /**
   * Ready a model's map for lookups on demand (see the class); returns its root's map, which
   * answers for the pks `need` was given.
   */
  async prepare(model: ModelDef): Promise<IntMap> {
    const root = this.manifest.models.get(model.root)!;
    if (!this.maps.has(root.name)) {
      // Few rows of the remote (a small database, a test): the whole map costs less than a query per batch.
      if (!(await this.holdsMany(root))) return this.of(model);
      this.maps.set(root.name, new IntMap());
      this.checked.set(root.name, new IntSet());
    }
    if (model.parent !== undefined && !this.present.has(model.name)) {
      if (this.checked.has(root.name)) {
        this.present.set(model.name, new IntSet());
        this.checked.set(model.name, new IntSet());
      } else {
        // A whole root map: the level is loaded whole too (nothing to load when the root holds nothing).
        this.present.set(model.name, this.maps.get(root.name)!.size === 0 ? new IntSet() : IntSet.of(await this.presentAt(model)));
      }
    }
    return this.maps.get(root.name)!;
  }

  /** Look up, where the map is on demand, these remote pks of a model (at its level) not asked for yet. */
  async need(model: ModelDef, pks: Iterable<number>): Promise<void> {
    const root = this.manifest.models.get(model.root)!;
    const asked = this.checked.get(root.name);
    if (asked === undefined) return;
    // A large change (a full compare, -F) reads the whole map once: cheaper than query after query.
    if (asked.size >= IdMaps.wholeAfter) {
      await this.of(model);
      return;
    }
    const map = this.maps.get(root.name)!;
    const levelAsked = model.parent === undefined ? undefined : this.checked.get(model.name);
    const fresh: number[] = [];
    const freshAtLevel: number[] = [];
    for (const pk of pks) {
      if (!Number.isSafeInteger(pk) || pk < 0) continue;
      if (!asked.has(pk)) {
        asked.add(pk);
        fresh.push(pk);
      }
      if (levelAsked && !levelAsked.has(pk)) {
        levelAsked.add(pk);
        freshAtLevel.push(pk);
      }
    }
    fresh.sort((a, b) => a - b);
    for (let i = 0; i < fresh.length; i += LOOKUP_BATCH) {
      const slice = fresh.slice(i, i + LOOKUP_BATCH);
      const rows = await this.trx(root.table).select(`${root.pk} as id`, `${ORIGINAL_ID} as original`).where(ORIGINAL_DB, this.remoteId).whereIn(ORIGINAL_ID, slice).orderBy(ORIGINAL_ID);
      for (const row of rows) map.set(Number(row.original), Number(row.id));
      if (!this.claimed.has(root.name)) continue;
      const claims = await this.trx(IDMAP_TABLE).select('original_id', 'local_id').where({ original_db_id: this.remoteId, model: root.name }).whereIn('original_id', slice).orderBy('original_id');
      for (const claim of claims) map.set(Number(claim.original_id), Number(claim.local_id));
    }
    if (freshAtLevel.length > 0) {
      const set = this.present.get(model.name)!;
      freshAtLevel.sort((a, b) => a - b);
      for (let i = 0; i < freshAtLevel.length; i += LOOKUP_BATCH) for (const original of await this.presentAt(model, freshAtLevel.slice(i, i + LOOKUP_BATCH))) set.add(original);
    }
  }

  /** This remote now claims rows of a root (a natural-key match in this run): later lookups ask for claims too. */
  noteClaims(model: ModelDef): void {
    this.claimed.add(model.root);
  }

  /**
   * Whether the root's table holds at least `onDemandFrom` rows of this remote (one index range
   * read, stopped there); notes in `claimed` whether this remote claims any of its rows.
   */
  private async holdsMany(root: ModelDef): Promise<boolean> {
    if (!(await this.hasTable(root.table))) return false;
    if ((await this.hasTable(IDMAP_TABLE)) && (await this.trx(IDMAP_TABLE).where({ original_db_id: this.remoteId, model: root.name }).first('local_id')) !== undefined) this.claimed.add(root.name);
    const nth = await this.trx(root.table).where(ORIGINAL_DB, this.remoteId).orderBy(ORIGINAL_ID).offset(IdMaps.onDemandFrom - 1).first(ORIGINAL_ID);
    return nth !== undefined;
  }

  /** The remote pks (of `among`, or all) whose row exists at an MTI child's level: tagged rows, and claimed ones. */
  private async presentAt(model: ModelDef, among?: number[]): Promise<number[]> {
    const root = this.manifest.models.get(model.root)!;
    if (!(await this.hasTable(model.table))) return [];
    let tagged = this.trx(model.table)
      .join(root.table, `${root.table}.${root.pk}`, `${model.table}.${model.pk}`)
      .select(`${root.table}.${ORIGINAL_ID} as original`)
      .where(`${root.table}.${ORIGINAL_DB}`, this.remoteId);
    if (among) tagged = tagged.whereIn(`${root.table}.${ORIGINAL_ID}`, among);
    const found = (await tagged).map((row) => Number(row.original));
    // Rows this remote claims (an exchange's rows of the other side) are present where their child row is.
    if ((among === undefined || this.claimed.has(root.name)) && (await this.hasTable(IDMAP_TABLE))) {
      let claimed = this.trx(IDMAP_TABLE)
        .join(model.table, `${model.table}.${model.pk}`, `${IDMAP_TABLE}.local_id`)
        .select(`${IDMAP_TABLE}.original_id as original`)
        .where({ [`${IDMAP_TABLE}.original_db_id`]: this.remoteId, [`${IDMAP_TABLE}.model`]: root.name });
      if (among) claimed = claimed.whereIn(`${IDMAP_TABLE}.original_id`, among);
      for (const row of await claimed) found.push(Number(row.original));
    }
    return found;
  }

  /**
   * The local ids among `localIds` that are this remote's rows of a model's root (tagged with
   * it, or claimed by it).
   */
  async owned(model: ModelDef, localIds: readonly number[]): Promise<IntSet> {
    const root = this.manifest.models.get(model.root)!;
    const owned = new IntSet();
    for (let i = 0; i < localIds.length; i += LOOKUP_BATCH) {
      const slice = localIds.slice(i, i + LOOKUP_BATCH);
      for (const row of await this.trx(root.table).select(`${root.pk} as id`).where(ORIGINAL_DB, this.remoteId).whereIn(root.pk, slice)) owned.add(Number(row.id));
      if (await this.hasTable(IDMAP_TABLE)) {
        for (const row of await this.trx(IDMAP_TABLE).select('local_id').where({ original_db_id: this.remoteId, model: root.name }).whereIn('local_id', slice)) owned.add(Number(row.local_id));
      }
    }
    return owned;
  }

  private async hasTable(table: string): Promise<boolean> {
    // With the dialect, every table is known from one catalog query; without, one query per table.
    if (this.dialect && !this.isListed) {
      this.isListed = true;
      for (const name of (await this.dialect.listColumns(this.trx)).keys()) this.tables.set(name, true);
    }
    if (!this.tables.has(table)) this.tables.set(table, this.dialect ? false : await this.trx.schema.hasTable(table));
    return this.tables.get(table)!;
  }

  /**
   * The local id of a remote object of `model`, if its row exists at that model's level. On
   * demand, only a pk `need` was given (or one inserted in this run) is known: asking for
   * another is a defect, and fails rather than answer "new".
   */
  lookup(model: ModelDef, remotePk: number): number | undefined {
    const id = this.maps.get(model.root)?.get(remotePk);
    if (id === undefined) {
      if (this.checked.get(model.root)?.has(remotePk) === false) throw new Error(`internal: the id map of ${model.root} was not asked for pk ${remotePk}`);
      return undefined;
    }
    if (model.parent === undefined) return id;
    if (this.checked.get(model.name)?.has(remotePk) === false && !this.present.get(model.name)?.has(remotePk)) throw new Error(`internal: the id map of ${model.name} was not asked for pk ${remotePk}`);
    return this.present.get(model.name)?.has(remotePk) ? id : undefined;
  }

  /** Record that rows of an MTI child model now exist for these remote pks. */
  markPresent(model: ModelDef, remotePks: Iterable<number>): void {
    if (model.parent === undefined) return;
    let set = this.present.get(model.name);
    if (!set) this.present.set(model.name, (set = new IntSet()));
    for (const pk of remotePks) set.add(pk);
  }
}
