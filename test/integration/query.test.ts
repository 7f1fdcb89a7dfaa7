import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { cli } from '../helpers/cli.js';
import { availableDialects } from '../helpers/databases.js';
import { withDb } from '../helpers/inspect.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';

const dialects = await availableDialects();

/** python-sync-db's query: GET /api/<Model>/?field=value and `remotesyncdb query`. */
describe.each(dialects)('query an instance on %s', (dialect) => {
  let instance: TestInstance;
  beforeAll(async () => {
    instance = await startInstance({ dialect, files: [SAMPLE_FIXTURE] });
  });
  afterAll(async () => instance?.close());
  const get = async (path: string) => {
    const response = await fetch(`http://127.0.0.1:${instance.port}${path}`);
    return { status: response.status, body: await response.json() };
  };

  it('filters a model by equality on its own fields and references, null included', async () => {
    const expected = await withDb(instance.db.url, async (db) => ({
      active: (await db.knex('hcore_station').where({ is_active: true }).orderBy('gpoint_ptr_id').pluck('gpoint_ptr_id')).map(Number),
      owner: Number((await db.knex('hcore_station').first('owner_id')).owner_id),
      noInstrument: Number((await db.knex('hcore_timeseries').whereNull('instrument_id').count({ n: '*' }))[0].n),
    }));
    const active = await get('/api/Station/?is_active=true');
    expect(active.status).toBe(200);
    expect(active.body.map((o: { pk: number }) => o.pk)).toEqual(expected.active);
    const owned = await get(`/api/Station/?owner=${expected.owner}&is_active=true`);
    expect(owned.body.length).toBeGreaterThan(0);
    for (const o of owned.body) expect(o.fields).toMatchObject({ owner: expected.owner, is_active: true });
    expect((await get('/api/Timeseries/?instrument=null')).body).toHaveLength(expected.noInstrument);
    const bad = await get('/api/Station/?colour=red');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain('Station has no field "colour"');
    expect((await get('/api/Station/?is_active=maybe')).status).toBe(400);
  });

  it('remotesyncdb query prints the matching objects as a Django fixture', async () => {
    const r = await cli(['query', '-r', `127.0.0.1:${instance.port}`, 'Variable', 'descr=Βροχόπτωση']);
    expect(r.code, r.err).toBe(0);
    const objects = JSON.parse(r.out) as Array<{ model: string; fields: { descr: string } }>;
    expect(objects.length).toBeGreaterThan(0);
    expect(objects.length).toBe(await withDb(instance.db.url, async (db) => Number((await db.knex('hcore_variable').where({ descr: 'Βροχόπτωση' }).count({ n: '*' }))[0].n)));
    for (const o of objects) expect(o).toMatchObject({ model: 'hcore.variable', fields: { descr: 'Βροχόπτωση' } });
    const unknown = await cli(['query', '-r', `127.0.0.1:${instance.port}`, 'Nope', 'a=b']);
    expect(unknown.code).toBe(2);
  });
});
