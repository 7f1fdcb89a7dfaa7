import type { Writable } from 'node:stream';
import { connectExistingDatabase } from '../dialects/index.js';
import { ConfigError } from '../errors.js';
import { getModel, loadManifest } from '../manifest/load-manifest.js';
import { dependencyOrder } from '../manifest/order.js';
import { serializeModel } from '../server/serialize.js';

/** Options of `remotesyncdb dumpdata`. */
export interface DumpDataOptions { app: string; db?: string; models?: readonly string[]; out: Writable }

/** Django's dumpdata: write the models' objects (all non-private ones by default) as one fixture. */
export async function dumpdata(options: DumpDataOptions): Promise<number> {
  const manifest = loadManifest(options.app);
  const wanted = options.models && options.models.length > 0 ? options.models : undefined;
  const unknown = (wanted ?? []).filter((name) => !getModel(manifest, name));
  if (unknown.length > 0) throw new ConfigError(`dumpdata: unknown model(s) ${unknown.join(', ')} in app ${manifest.app}`);
  const models = dependencyOrder(manifest).filter((m) => (wanted ? wanted.includes(m.name) : !m.isPrivate));
  const db = await connectExistingDatabase(options.db);
  const write = (text: string) => (options.out.write(text) ? Promise.resolve() : new Promise<void>((r) => options.out.once('drain', () => r())));
  let count = 0;
  try {
    await write('[');
    for (const model of models) {
      if (!(await db.knex.schema.hasTable(model.table))) continue;
      for await (const object of serializeModel(db.knex, db.dialect, manifest, model)) {
        await write(`${count === 0 ? '' : ',\n'}${JSON.stringify(object)}`);
        count++;
      }
    }
    await write(']\n');
  } finally {
    await db.knex.destroy();
  }
  return count;
}
