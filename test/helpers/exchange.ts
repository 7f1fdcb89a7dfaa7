import { loadManifest } from '../../src/manifest/load-manifest.js';
import { dependencyOrder } from '../../src/manifest/order.js';
import { serializeModel } from '../../src/server/serialize.js';
import { PeerTags, versionOf } from '../../src/exchange/version.js';
import { withDb } from './inspect.js';

const manifest = loadManifest('hcore');

/**
 * Every row of a side, as `Model ref -> its fields` in the pair's neutral terms (references
 * as `s<site pk>` / `c<centre id>`), for comparing a site with its centre row by row.
 * `peer` is the other side's registry name on this side.
 */
export async function sharedRows(url: string, side: 'site' | 'centre', peer: string, models?: string[]): Promise<Map<string, string>> {
  return withDb(url, async (db) => {
    const row = await db.knex(manifest.registry).where(side === 'site' ? { hostname: peer } : { name: peer }).first('id');
    const tags = new PeerTags(db.knex, manifest, Number(row.id), side);
    await tags.load(manifest.models.values());
    const out = new Map<string, string>();
    for (const model of dependencyOrder(manifest)) {
      if (model.isPrivate || (models && !models.includes(model.name))) continue;
      for await (const object of serializeModel(db.knex, db.dialect, manifest, model)) {
        const version = versionOf(manifest, model, object.fields, (m, id) => tags.ref(m, id));
        out.set(`${model.name} ${tags.ref(model, object.pk)}`, JSON.stringify(version.fields));
      }
    }
    return out;
  });
}
