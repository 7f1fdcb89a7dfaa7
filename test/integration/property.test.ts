import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { sync } from '../../src/sync/sync.js';
import { nowDatetime } from '../../src/values/values.js';
import { availableDialects, createDatabase } from '../helpers/databases.js';
import { assertIsomorphic, tableDigests, withDb } from '../helpers/inspect.js';
import { startInstance } from '../helpers/instance.js';

const manifest = loadManifest('hcore');
const dialects = await availableDialects();
/** Models nothing else needs through a NOT NULL FK: any subset may be excluded. */
const OPTIONAL = ['GentityEvent', 'Overseer', 'Timeseries', 'GentityAltCode'];

type Obj = { model: string; pk: number; fields: Record<string, unknown> };

/** A random but valid hcore graph: MTI chains, self references either way, the nullable cycle, both m2m kinds. */
const graph = fc.record({
  persons: fc.integer({ min: 1, max: 5 }),
  orgs: fc.integer({ min: 0, max: 3 }),
  basins: fc.integer({ min: 1, max: 5 }),
  stations: fc.integer({ min: 1, max: 6 }),
  variables: fc.integer({ min: 1, max: 5 }),
  units: fc.integer({ min: 1, max: 3 }),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
  exclude: fc.subarray(OPTIONAL),
});

/** A small deterministic PRNG, so a failing case replays from its seed. */
function prng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9) >>> 0;
    return s % n;
  };
}

function build(g: fc.infer<typeof graph>): Obj[] {
  const r = prng(g.seed);
  const o: Obj[] = [];
  const add = (model: string, pk: number, fields: Record<string, unknown>) => o.push({ model: `hcore.${model.toLowerCase()}`, pk, fields });
  // Shuffled pks, so that references point forward as often as backward.
  const gentityPks = Array.from({ length: g.basins + g.stations }, (_, i) => i + 1).sort(() => r(3) - 1);
  const basinPks = gentityPks.slice(0, g.basins);
  const stationPks = gentityPks.slice(g.basins);
  const lentities = g.persons + g.orgs;
  for (let i = 1; i <= lentities; i++) add('Lentity', i, { remarks: `λ${i}`, remarks_alt: '' });
  for (let i = 1; i <= g.persons; i++) add('Person', i, { last_name: `Πρόσωπο ${i}`, first_name: '', middle_names: '', initials: '', last_name_alt: '', first_name_alt: '', middle_names_alt: '', initials_alt: '' });
  for (let i = g.persons + 1; i <= lentities; i++) add('Organization', i, { name: `Org ${i}`, acronym: '', name_alt: '', acronym_alt: '' });
  const gentity = (pk: number, name: string) => ({ name, short_name: '', remarks: '', name_alt: '', short_name_alt: '', remarks_alt: '', water_basin: r(3) ? basinPks[r(basinPks.length)] : null, water_division: null, political_division: null });
  for (const pk of [...gentityPks].sort((a, b) => a - b)) add('Gentity', pk, gentity(pk, basinPks.includes(pk) ? `Λεκάνη ${pk}` : `Σταθμός ${pk}`));
  for (const pk of stationPks) add('Gpoint', pk, { abscissa: r(1000) / 7, ordinate: null, altitude: null, srid: null, asrid: null, approximate: r(2) === 1 });
  for (const pk of basinPks) add('Garea', pk, { area: r(100) });
  for (const pk of basinPks) add('WaterBasin', pk, { parent: r(2) ? basinPks[r(basinPks.length)] : null, water_division: null });
  add('StationType', 1, { descr: 'Μετεωρολογικός', descr_alt: '' });
  for (const pk of stationPks) add('Station', pk, { owner: 1 + r(lentities), type: 1, is_automatic: r(2) === 1, is_active: true, start_date: r(2) ? '2001-02-03' : null, end_date: null });
  for (let i = 1; i <= g.variables; i++) add('Variable', i, { descr: `var ${i}`, descr_alt: '' });
  for (let i = 1; i <= g.units; i++) add('UnitOfMeasurement', i, { descr: `unit ${i}`, descr_alt: '', symbol: `u${i}`, variables: [...new Set(Array.from({ length: r(4) }, () => 1 + r(g.variables)))] });
  add('TimeZone', 1, { code: 'EET', utc_offset: 120 });
  add('EventType', 1, { descr: 'visit', descr_alt: '' });
  add('GentityAltCodeType', 1, { descr: 'code', descr_alt: '' });
  stationPks.forEach((pk, i) => {
    add('Overseer', i + 1, { station: pk, person: 1 + r(g.persons), is_current: true, start_date: null, end_date: null });
    add('GentityEvent', i + 1, { gentity: gentityPks[r(gentityPks.length)], type: 1, date: '2020-01-01', user: 'u', report: 'ok', report_alt: '' });
    add('GentityAltCode', i + 1, { gentity: pk, type: 1, value: `c${i}` });
    add('Timeseries', i + 1, { gentity: pk, variable: 1 + r(g.variables), unit_of_measurement: 1 + r(g.units), time_zone: 1, instrument: null, time_step: null, name: `ts${i}`, precision: null, remarks: '', nominal_offset_minutes: null, nominal_offset_months: null, actual_offset_minutes: null, actual_offset_months: null });
  });
  return o;
}

/** Change the source the way the application would: values, links and m2m sets, each bumping its root's last_modified. */
async function mutate(url: string, seed: number): Promise<void> {
  const r = prng(seed * 7 + 1);
  await withDb(url, async (db) => {
    const now = nowDatetime();
    const stations = await db.knex('hcore_station').select('gpoint_ptr_id');
    const lentities = await db.knex('hcore_lentity').select('id');
    const basins = await db.knex('hcore_waterbasin').select('garea_ptr_id');
    for (const { gpoint_ptr_id: id } of stations) {
      if (r(2)) await db.knex('hcore_station').where({ gpoint_ptr_id: id }).update({ owner_id: lentities[r(lentities.length)].id, is_active: r(2) });
      if (r(2)) await db.knex('hcore_gentity').where({ id }).update({ water_basin_id: r(2) ? basins[r(basins.length)].garea_ptr_id : null, name: `άλλο ${id}` });
      await db.knex('hcore_gentity').where({ id }).update({ last_modified: now });
    }
    const links = await db.knex('hcore_unitofmeasurement_variables').select('id', 'unitofmeasurement_id');
    for (const link of links) if (r(2)) await db.knex('hcore_unitofmeasurement_variables').where({ id: link.id }).del();
    await db.knex('hcore_variable').insert({ id: 100 + r(50), descr: 'new', descr_alt: '', last_modified: now });
    await db.knex('hcore_unitofmeasurement').update({ last_modified: now });
  });
}

describe.each(dialects)('property: the invariants hold for random graphs into %s', (dialect) => {
  it('copies isomorphically, follows mutations, and re-runs without writes', async () => {
    await fc.assert(
      fc.asyncProperty(graph, async (g) => {
        const dir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-prop-'));
        const file = path.join(dir, 'graph.json');
        writeFileSync(file, JSON.stringify(build(g)));
        const source = await startInstance({ files: [file] });
        const target = await createDatabase(dialect);
        const exclude = ['UserProfile', ...g.exclude];
        const planned = [...manifest.models.keys()].filter((m) => !exclude.includes(m));
        const host = `127.0.0.1:${source.port}`;
        const run = () => sync({ app: 'hcore', remote: '127.0.0.1', port: source.port, exclude, db: target.url, workDir: dir, noBackups: true });
        try {
          await run();
          await assertIsomorphic(source.db.url, target.url, manifest, host, planned);
          await mutate(source.db.url, g.seed);
          await run();
          await assertIsomorphic(source.db.url, target.url, manifest, host, planned);
          const before = await tableDigests(target.url, manifest);
          const again = await run();
          expect(again.models.every((m) => m.inserted === 0 && m.updated === 0)).toBe(true);
          const { remotesyncdb_remote: _a, ...a } = await tableDigests(target.url, manifest);
          const { remotesyncdb_remote: _b, ...b } = before;
          expect(a).toEqual(b);
        } finally {
          await source.close();
          await target.drop();
        }
      }),
      { numRuns: dialect === 'sqlite' ? 25 : 8, endOnFailure: true },
    );
  }, 300_000);
});
