import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { serializeModel, type SerializedObject } from '../server/serialize.js';
import { cutBundles, type BundleLine, type CutBundle, type CutOptions } from '../push/bundle.js';
import type { BundleAck } from '../push/install-bundle.js';
import { dropBase, loadBase, sectionLines, writeBase, type BaseRow } from './base.js';
import { SENT_TABLE } from './exchange-tables.js';
import { PeerTags, versionOf, type Canon, type Version } from './version.js';

/** Objects compared and written per round. */
const BATCH = 500;

/** A change the site has not agreed with its centre yet: a changed or new object, or a delete. */
export interface SiteChange {
  model: ModelDef;
  pk: number;
  ref: string;
  /** The current version; undefined for a delete. */
  version?: Version;
  object?: SerializedObject;
  /** The agreed version it changes (null: new to the exchange). */
  base: { hash: string; fields: Canon } | null;
}

/**
 * The site's changes of one model against the versions agreed with the centre (DESIGN §10):
 * every row whose version differs from its base (or has none), and every base whose row is
 * gone. Read one page at a time; only the model's base hashes are held.
 */
export async function* siteChanges(knex: Knex | Knex.Transaction, dialect: DialectAdapter, manifest: AppManifest, model: ModelDef, centreId: number, tags: PeerTags): AsyncGenerator<SiteChange[]> {
  const agreed = await loadBase(knex, centreId, model);
  const seen = new Set<number>();
  let batch: Array<{ object: SerializedObject; version: Version }> = [];
  const flush = async (): Promise<SiteChange[]> => {
    const known = batch.filter((b) => agreed.has(b.object.pk)).map((b) => b.object.pk);
    const bases = known.length > 0 ? await loadBase(knex, centreId, model, known, true) : new Map();
    const out = batch.map(({ object, version }): SiteChange => {
      const b = bases.get(object.pk);
      return { model, pk: object.pk, ref: tags.ref(model, object.pk), version, object, base: b ? { hash: b.hash, fields: b.fields ?? {} } : null };
    });
    batch = [];
    return out;
  };
  for await (const object of serializeModel(knex as Knex, dialect, manifest, model)) {
    seen.add(object.pk);
    const version = versionOf(manifest, model, object.fields, (m, id) => tags.ref(m, id));
    if (agreed.get(object.pk)?.hash === version.hash) continue;
    batch.push({ object, version });
    if (batch.length >= BATCH) yield await flush();
  }
  if (batch.length > 0) yield await flush();
  const gone = [...agreed.keys()].filter((id) => !seen.has(id));
  for (let i = 0; i < gone.length; i += BATCH) {
    const bases = await loadBase(knex, centreId, model, gone.slice(i, i + BATCH), true);
    yield [...bases.values()].map((b) => ({ model, pk: b.rowId, ref: b.ref, base: { hash: b.hash, fields: b.fields ?? {} } }));
  }
}

/**
 * A bundle the centre committed: the versions it carried become the base at once (the centre
 * knows the site holds them), but those of objects it rejected, which are sent again.
 */
export async function markCommitted(knex: Knex, dialect: DialectAdapter, manifest: AppManifest, centreId: number, ack: BundleAck): Promise<void> {
  await knex.transaction(async (trx) => {
    for (const reject of ack.rejects) await trx(SENT_TABLE).where({ peer_id: centreId, bundle_id: ack.id, model: reject.model, row_id: Number(reject.pk) }).del();
    const rows = await trx(SENT_TABLE).where({ peer_id: centreId, bundle_id: ack.id }).orderBy('id');
    const byModel = new Map<string, { put: Map<number, BaseRow>; drop: Set<number> }>();
    for (const r of rows) {
      if (!byModel.has(r.model)) byModel.set(r.model, { put: new Map(), drop: new Set() });
      const m = byModel.get(r.model)!;
      const id = Number(r.row_id);
      if (r.hash === null) {
        m.drop.add(id);
        m.put.delete(id);
      } else {
        m.put.set(id, { rowId: id, ref: String(r.ref), hash: String(r.hash), fields: JSON.parse(String(r.fields)) as Canon });
        m.drop.delete(id);
      }
    }
    for (const [name, { put, drop }] of byModel) {
      const model = manifest.models.get(name);
      if (!model) continue;
      await writeBase(trx, dialect, centreId, model, [...put.values()]);
      await dropBase(trx, centreId, model, [...drop]);
    }
    await trx(SENT_TABLE).where({ peer_id: centreId, bundle_id: ack.id }).del();
  });
}

/**
 * Name the bundle that carries each version sent: by the objects each bundle holds (a model
 * split across bundles has its versions in several), and a model's deletes with its last bundle.
 */
async function recordBundles(knex: Knex, centreId: number, bundles: readonly CutBundle[]): Promise<void> {
  for (const bundle of bundles) {
    const byModel = await objectsOf(bundle.file);
    for (const [model, pks] of byModel) {
      for (let i = 0; i < pks.length; i += 500) await knex(SENT_TABLE).where({ peer_id: centreId, bundle_id: '', model }).whereIn('row_id', pks.slice(i, i + 500)).update({ bundle_id: bundle.header.id });
    }
  }
  const last = new Map<string, string>();
  for (const bundle of bundles) for (const model of bundle.header.models) last.set(model, bundle.header.id);
  for (const [model, id] of last) await knex(SENT_TABLE).where({ peer_id: centreId, bundle_id: '', model }).update({ bundle_id: id });
}

/** The pks of the objects in a bundle file, per model (read line by line). */
async function objectsOf(file: string): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  let model = '';
  for await (const text of createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity })) {
    if (text.startsWith('{"section":')) {
      model = String((JSON.parse(text) as { section: string }).section);
      if (!out.has(model)) out.set(model, []);
    } else if (text.startsWith('{"model":')) out.get(model)?.push(Number((JSON.parse(text) as { pk: number }).pk));
  }
  return out;
}

/**
 * An exchange's cut (the site's side of DESIGN §10): per model its claims (the site's ids of
 * rows whose home is the centre, with the centre's ids), its changed objects each with its
 * base, its deletes. Each version sent is recorded in the sent table, to become the base once
 * the centre acknowledges the bundle that carried it.
 */
export function exchangeCut(centreId: number): (options: CutOptions) => Promise<CutBundle[]> {
  return async (options) => {
    const { knex, dialect, manifest } = options;
    // A new cut means no bundle is pending: versions of bundles never committed go.
    await knex(SENT_TABLE).where({ peer_id: centreId }).whereNot({ bundle_id: 'ack' }).del();
    const tags = new PeerTags(knex, manifest, centreId, 'site');
    await tags.load(options.plan);
    const lines = async function* (model: ModelDef): AsyncGenerator<BundleLine> {
      yield* sectionLines(knex, model, centreId);
      for await (const changes of siteChanges(knex, dialect, manifest, model, centreId, tags)) {
        const sent = changes.map((c) => ({ peer_id: centreId, bundle_id: '', model: model.name, row_id: c.pk, ref: c.ref, hash: c.version?.hash ?? null, fields: c.version ? JSON.stringify(c.version.fields) : null }));
        for (let i = 0; i < sent.length; i += 100) await knex(SENT_TABLE).insert(sent.slice(i, i + 100));
        const deletes = changes.filter((c) => !c.version).map((c) => ({ pk: c.pk, ref: c.ref, base: c.base }));
        for (const c of changes) if (c.object) yield { text: JSON.stringify({ ...c.object, base: c.base }), isObject: true };
        if (deletes.length > 0) yield { text: JSON.stringify({ deleted: deletes }), isObject: false };
      }
    };
    const bundles = await cutBundles({ ...options, lines, exchange: true, splitModels: true, full: false, prune: false, base: {} });
    await recordBundles(knex, centreId, bundles);
    return bundles;
  };
}
