import type { Knex } from 'knex';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../schema/app-tables.js';
import { IDMAP_TABLE } from '../schema/bookkeeping.js';
import { IntMap, IntSet } from './int-collections.js';

/**
 * The remote pk -> local id map of one remote, one map per MTI root (an MTI child shares its
 * root's ids), plus, per MTI child model, which remote pks have a row at that level (a
 * Gentity row is not yet a Station). Loaded lazily from the tagged rows already in the
 * database, then extended as rows are inserted. Only integers are kept.
 */
export class IdMaps {
  private readonly maps = new Map<string, IntMap>();
  private readonly present = new Map<string, IntSet>();
  private readonly tables = new Map<string, boolean>();

  constructor(
    private readonly trx: Knex.Transaction,
    private readonly manifest: AppManifest,
    private readonly remoteId: number,
  ) {}

  /** Load what `lookup` needs for a model; returns its root's map. */
  async of(model: ModelDef): Promise<IntMap> {
    const root = this.manifest.models.get(model.root)!;
    let map = this.maps.get(root.name);
    if (!map) {
      map = new IntMap();
      // A dry run may look at a database whose tables do not exist yet: everything is new.
      const rows = !(await this.hasTable(root.table)) ? [] : await this.trx(root.table).select(`${root.pk} as id`, `${ORIGINAL_ID} as original`).where(ORIGINAL_DB, this.remoteId).orderBy(ORIGINAL_ID);
      for (const row of rows) map.set(Number(row.original), Number(row.id));
      // This remote's claims on rows it did not create (natural-key matches).
      if (await this.hasTable(IDMAP_TABLE)) {
        const claims = await this.trx(IDMAP_TABLE).select('original_id', 'local_id').where({ original_db_id: this.remoteId, model: root.name }).orderBy('original_id');
        for (const claim of claims) map.set(Number(claim.original_id), Number(claim.local_id));
      }
      this.maps.set(root.name, map);
    }
    if (model.parent !== undefined && !this.present.has(model.name)) {
      const rows = !(await this.hasTable(model.table)) ? [] : await this.trx(model.table)
        .join(root.table, `${root.table}.${root.pk}`, `${model.table}.${model.pk}`)
        .select(`${root.table}.${ORIGINAL_ID} as original`)
        .where(`${root.table}.${ORIGINAL_DB}`, this.remoteId);
      const set = new IntSet();
      for (const row of rows) set.add(Number(row.original));
      // Rows this remote claims (an exchange's rows of the other side) are present where their child row is.
      if (await this.hasTable(IDMAP_TABLE) && (await this.hasTable(model.table))) {
        const claimed = await this.trx(IDMAP_TABLE)
          .join(model.table, `${model.table}.${model.pk}`, `${IDMAP_TABLE}.local_id`)
          .select(`${IDMAP_TABLE}.original_id as original`)
          .where({ [`${IDMAP_TABLE}.original_db_id`]: this.remoteId, [`${IDMAP_TABLE}.model`]: root.name });
        for (const row of claimed) set.add(Number(row.original));
      }
      this.present.set(model.name, set);
    }
    return map;
  }

  private async hasTable(table: string): Promise<boolean> {
    if (!this.tables.has(table)) this.tables.set(table, await this.trx.schema.hasTable(table));
    return this.tables.get(table)!;
  }

  /** The local id of a remote object of `model`, if its row exists at that model's level. */
  lookup(model: ModelDef, remotePk: number): number | undefined {
    const id = this.maps.get(model.root)?.get(remotePk);
    if (id === undefined || model.parent === undefined) return id;
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
