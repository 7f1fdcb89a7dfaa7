import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { init } from '../../src/admin/init.js';
import { openDatabase } from '../../src/dialects/index.js';
import { installObjects, type Decide, type InstallOptions, type InstallResult } from '../../src/install/install.js';
import { IntSet } from '../../src/install/int-collections.js';
import { fixtureModelKey, loadManifest } from '../../src/manifest/load-manifest.js';
import type { ModelDef } from '../../src/manifest/types.js';
import { planModels } from '../../src/sync/plan.js';
import { findRemote, registerRemote } from '../../src/sync/registry.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';

// The install's hooks for push and exchange (STYLE "One engine, three directions"): another
// source of batches, the origin's pk lists for prune, another conflict rule.
type Fixture = { model: string; pk: number; fields: Record<string, unknown> };
const manifest = loadManifest('hcore');
const dialects = await availableDialects();
const sample = JSON.parse(readFileSync(SAMPLE_FIXTURE, 'utf8')) as Fixture[];
const plan = await planModels(manifest, new Set(), undefined, undefined);
const timeseries = manifest.models.get('Timeseries')!;
const firstSeries = sample.find((o) => o.model === fixtureModelKey(manifest, timeseries))!;

/** An in-memory source: a model's objects in batches of 7. */
async function* batchesOf(objects: Fixture[], model: ModelDef): AsyncGenerator<unknown[]> {
  const mine = objects.filter((o) => o.model === fixtureModelKey(manifest, model));
  for (let i = 0; i < mine.length; i += 7) yield mine.slice(i, i + 7);
}

/** One install of `objects` from the origin "site-a", committed. */
async function install(url: string, objects: Fixture[], extra: Partial<InstallOptions> = {}): Promise<InstallResult> {
  const db = openDatabase(url);
  try {
    const trx = await db.knex.transaction(db.dialect.transactionConfig);
    try {
      const site = (await findRemote(trx, manifest.registry, 'site-a', 'site-a', true)) ?? (await registerRemote(trx, manifest.registry, { hostname: 'site-a', ipAddress: null }));
      const result = await installObjects({ trx, dialect: db.dialect, manifest, plan, remoteId: site.id, remote: 'site-a', objects: (model) => batchesOf(objects, model), ...extra });
      await trx.commit();
      return result;
    } catch (error) {
      await trx.rollback();
      throw error;
    }
  } finally {
    await db.knex.destroy();
  }
}

const countOf = (result: InstallResult, model: string) => result.counts.find((c) => c.model === model)!;

async function seriesName(url: string): Promise<{ name: string; count: number }> {
  const db = openDatabase(url);
  try {
    const row = await db.knex(timeseries.table).where({ original_id: firstSeries.pk }).first();
    const count = Number((await db.knex(timeseries.table).count({ n: '*' }))[0].n);
    return { name: row?.name as string, count };
  } finally {
    await db.knex.destroy();
  }
}

describe.each(dialects)('the install phases with another source and conflict rule, into %s', (dialect) => {
  let target: TestDatabase;
  beforeAll(async () => {
    target = await createDatabase(dialect);
    await init({ app: 'hcore', db: target.url });
  });
  afterAll(async () => {
    await target?.drop();
  });

  it('installs from an in-memory source, and again with nothing changed writes nothing', async () => {
    const first = await install(target.url, sample);
    expect(first.counts.reduce((n, c) => n + c.inserted, 0)).toBe(sample.length);
    const again = await install(target.url, sample);
    expect(again.counts.every((c) => c.inserted === 0 && c.updated === 0)).toBe(true);
  });

  it("a conflict rule that keeps the stored row leaves it alone; the default takes the origin's version", async () => {
    const renamed = sample.map((o) => (o === firstSeries ? { ...o, fields: { ...o.fields, name: 'renamed at the site' } } : o));
    const asked: string[] = [];
    const keep: Decide = (model, incoming, stored) => {
      if (model.name !== 'Timeseries' || incoming.pk !== firstSeries.pk) return 'take';
      asked.push(`${incoming.row.name} over ${stored.name}`);
      return 'keep';
    };
    const kept = await install(target.url, renamed, { decide: keep });
    expect(asked).toEqual([`renamed at the site over ${firstSeries.fields.name}`]);
    expect(countOf(kept, 'Timeseries').updated).toBe(0);
    expect((await seriesName(target.url)).name).toBe(firstSeries.fields.name);
    const taken = await install(target.url, renamed);
    expect(countOf(taken, 'Timeseries').updated).toBe(1);
    expect((await seriesName(target.url)).name).toBe('renamed at the site');
  });

  it("prunes from the origin's pk lists when the batches hold nothing (an incremental bundle)", async () => {
    const before = (await seriesName(target.url)).count;
    const allPks = (model: ModelDef) => {
      const pks = new IntSet();
      for (const o of sample) if (o.model === fixtureModelKey(manifest, model) && o !== firstSeries) pks.add(o.pk);
      return pks;
    };
    const pruned = await install(target.url, [], { prune: true, allPks });
    expect(pruned.counts.filter((c) => c.deleted > 0).map((c) => [c.model, c.deleted])).toEqual([['Timeseries', 1]]);
    expect(await seriesName(target.url)).toEqual({ name: undefined, count: before - 1 });
  });
});
