import type { Knex } from 'knex';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../schema/app-tables.js';

/**
 * The remote pk -> local id map of one remote, one map per MTI root (an MTI child shares its
 * root's ids). Loaded lazily from the tagged rows already in the database, then extended as
 * rows are inserted. Only integers are kept.
 */
export class IdMaps {
  private readonly maps = new Map<string, Map<number, number>>();

  constructor(
    private readonly trx: Knex.Transaction,
    private readonly manifest: AppManifest,
    private readonly remoteId: number,
  ) {}

  /** The map of a model's root, loading it on first use. */
  async of(model: ModelDef): Promise<Map<number, number>> {
    const root = this.manifest.models.get(model.root)!;
    let map = this.maps.get(root.name);
    if (!map) {
      map = new Map();
      const rows = await this.trx(root.table).select(`${root.pk} as id`, `${ORIGINAL_ID} as original`).where(ORIGINAL_DB, this.remoteId);
      for (const row of rows) map.set(Number(row.original), Number(row.id));
      this.maps.set(root.name, map);
    }
    return map;
  }

  /** The map of a model's root if it was already loaded (for hot paths). */
  loaded(model: ModelDef): Map<number, number> | undefined {
    return this.maps.get(model.root);
  }
}
