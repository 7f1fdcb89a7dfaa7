import type { Writable } from 'node:stream';
import { connectExistingDatabase } from '../dialects/index.js';
import { ConfigError } from '../errors.js';
import { getModel, loadManifest } from '../manifest/load-manifest.js';
import { dependencyOrder } from '../manifest/order.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { serializeModel } from '../server/serialize.js';

/** Options of `remotesyncdb dumpdata`. */
export interface DumpDataOptions {
  app: string;
  db?: string;
  /** Model names (`Station`), or Django labels (`hcore.station`, `hcore`); default all non-private models. */
  models?: readonly string[];
  out: Writable;
  /** Django's `--indent N`: pretty-print each object with N spaces. */
  indent?: number;
}

/**
 * A model by the manifest's name, or as Django names it on the command line: `app_label.model`
 * (any case) or the app label alone for every non-private model. Undefined when nothing matches.
 */
export function modelsNamed(manifest: AppManifest, name: string): ModelDef[] | undefined {
  const exact = getModel(manifest, name);
  if (exact) return [exact];
  const [label, model, ...rest] = name.split('.');
  if (rest.length > 0 || label.toLowerCase() !== manifest.label.toLowerCase()) {
    const byCase = model === undefined ? [...manifest.models.values()].find((m) => m.name.toLowerCase() === name.toLowerCase()) : undefined;
    return byCase ? [byCase] : undefined;
  }
  if (model === undefined) return [...manifest.models.values()].filter((m) => !m.isPrivate);
  const found = [...manifest.models.values()].find((m) => m.name.toLowerCase() === model.toLowerCase());
  return found ? [found] : undefined;
}

/** Django's dumpdata: write the models' objects (all non-private ones by default) as one fixture. */
export async function dumpdata(options: DumpDataOptions): Promise<number> {
  const manifest = loadManifest(options.app);
  const names = options.models ?? [];
  const unknown = names.filter((name) => !modelsNamed(manifest, name));
  if (unknown.length > 0) throw new ConfigError(`dumpdata: unknown model(s) ${unknown.join(', ')} in app ${manifest.app}; give a model name (Station) or its label (${manifest.label}.station)`);
  const wanted = names.length > 0 ? new Set(names.flatMap((name) => modelsNamed(manifest, name)!.map((m) => m.name))) : undefined;
  const models = dependencyOrder(manifest).filter((m) => (wanted ? wanted.has(m.name) : !m.isPrivate));
  const db = await connectExistingDatabase(options.db);
  const write = (text: string) => (options.out.write(text) ? Promise.resolve() : new Promise<void>((r) => options.out.once('drain', () => r())));
  const indent = options.indent;
  let count = 0;
  try {
    await write(indent === undefined ? '[' : '[\n');
    for (const model of models) {
      if (!(await db.knex.schema.hasTable(model.table))) continue;
      for await (const object of serializeModel(db.knex, db.dialect, manifest, model)) {
        await write(`${count === 0 ? '' : ',\n'}${JSON.stringify(object, null, indent)}`);
        count++;
      }
    }
    await write(indent === undefined || count === 0 ? ']\n' : '\n]\n');
  } finally {
    await db.knex.destroy();
  }
  return count;
}
