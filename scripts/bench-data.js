// The deterministic hcore data set of `npm run bench` (the sample's shapes at any size).
import { init, openDatabase } from '../dist/index.js';
import { insertRows } from '../dist/install/insert.js';

/** Deterministic rows of the data set, per table, with remote ids (about 12.3 objects per unit). */
function* dataset(units) {
  const basins = Math.max(2, Math.floor(units / 10));
  const lm = '2024-01-01 00:00:00';
  const lookups = { hcore_stationtype: 5, hcore_instrumenttype: 5, hcore_variable: 20, hcore_unitofmeasurement: 10, hcore_timestep: 5, hcore_eventtype: 3 };
  for (const [table, n] of Object.entries(lookups)) {
    yield [table, Array.from({ length: n }, (_, i) => ({ id: i + 1, descr: `${table.slice(6)} ${i + 1}`, descr_alt: '', last_modified: lm, ...(table === 'hcore_unitofmeasurement' ? { symbol: `u${i}` } : {}), ...(table === 'hcore_timestep' ? { length_minutes: 10 * (i + 1), length_months: 0 } : {}) }))];
  }
  yield ['hcore_unitofmeasurement_variables', Array.from({ length: 10 }, (_, i) => [{ unitofmeasurement_id: i + 1, variable_id: i + 1 }, { unitofmeasurement_id: i + 1, variable_id: 20 - i }]).flat()];
  yield ['hcore_timezone', Array.from({ length: 5 }, (_, i) => ({ id: i + 1, code: `TZ${i}`, utc_offset: 60 * i, last_modified: lm }))];
  const chunk = 2000;
  for (let start = 1; start <= units; start += chunk) {
    const ids = Array.from({ length: Math.min(chunk, units - start + 1) }, (_, i) => start + i);
    yield ['hcore_lentity', ids.flatMap((u) => [{ id: 2 * u - 1, remarks: `org ${u}`, remarks_alt: '', last_modified: lm }, { id: 2 * u, remarks: '', remarks_alt: '', last_modified: lm }])];
    yield ['hcore_organization', ids.map((u) => ({ lentity_ptr_id: 2 * u - 1, name: `Οργανισμός ${u}`, acronym: `O${u}`, name_alt: '', acronym_alt: '' }))];
    yield ['hcore_person', ids.map((u) => ({ lentity_ptr_id: 2 * u, last_name: `Παπαδόπουλος ${u}`, first_name: 'Γιάννης', middle_names: '', initials: '', last_name_alt: '', first_name_alt: '', middle_names_alt: '', initials_alt: '' }))];
    yield ['hcore_gentity', ids.map((u) => ({ id: u, name: `Σταθμός ${u}`, short_name: '', remarks: '', name_alt: '', short_name_alt: '', remarks_alt: '', water_basin_id: units + 1 + (u % basins), water_division_id: null, political_division_id: null, last_modified: lm }))];
    yield ['hcore_gpoint', ids.map((u) => ({ gentity_ptr_id: u, abscissa: 21 + u / 1e6, ordinate: 38 + u / 1e6, altitude: u % 2000, srid: 4326, asrid: null, approximate: 0 }))];
    yield ['hcore_station', ids.map((u) => ({ gpoint_ptr_id: u, owner_id: u % 3 === 0 ? 2 * u : 2 * u - 1, type_id: 1 + (u % 5), is_automatic: u % 2, is_active: 1, start_date: '2000-01-01', end_date: null }))];
    yield ['hcore_overseer', ids.map((u) => ({ id: u, station_id: u, person_id: 2 * (1 + (u % units)), is_current: 1, start_date: null, end_date: null, last_modified: lm }))];
    yield ['hcore_instrument', ids.map((u) => ({ id: u, station_id: u, type_id: 1 + (u % 5), manufacturer: 'Vaisala', model: 'X', is_active: 1, start_date: null, end_date: null, name: `όργανο ${u}`, remarks: '', name_alt: '', remarks_alt: '', last_modified: lm }))];
    yield ['hcore_gentityevent', ids.map((u) => ({ id: u, gentity_id: u, type_id: 1 + (u % 3), date: '2020-02-02', user: 'bench', report: 'ok', report_alt: '', last_modified: lm }))];
    yield ['hcore_timeseries', ids.flatMap((u) => [0, 1].map((k) => ({ id: 2 * u - 1 + k, gentity_id: u, variable_id: 1 + ((u + k) % 20), unit_of_measurement_id: 1 + (u % 10), time_zone_id: 1 + (u % 5), instrument_id: k ? u : null, time_step_id: k ? 1 + (u % 5) : null, name: `ts ${u}/${k}`, precision: 2, remarks: '', nominal_offset_minutes: null, nominal_offset_months: null, actual_offset_minutes: null, actual_offset_months: null, last_modified: lm })))];
  }
  const b = Array.from({ length: basins }, (_, i) => units + 1 + i);
  yield ['hcore_gentity', b.map((id, i) => ({ id, name: `Λεκάνη ${i}`, short_name: '', remarks: '', name_alt: '', short_name_alt: '', remarks_alt: '', water_basin_id: b[(i + 1) % basins], water_division_id: null, political_division_id: null, last_modified: lm }))];
  yield ['hcore_garea', b.map((id) => ({ gentity_ptr_id: id, area: 1000.5 }))];
  yield ['hcore_waterbasin', b.map((id, i) => ({ garea_ptr_id: id, parent_id: i + 1 < basins ? b[i + 1] : null, water_division_id: null }))];
}

/** Fill a new SQLite database at `url` with about `n` objects of the data set; returns the count. */
export async function generate(url, n) {
  await init({ app: 'hcore', db: url });
  const db = openDatabase(url);
  let objects = 0;
  await db.knex.transaction(async (trx) => {
    await db.dialect.deferConstraints(trx);
    // About 12.3 objects per unit (see dataset), plus 58 lookup rows.
    for (const [table, rows] of dataset(Math.max(10, Math.round((n - 58) / 12.3)))) {
      for (let i = 0; i < rows.length; i += 500) await insertRows(trx, db.dialect, table, rows.slice(i, i + 500));
      if (!table.endsWith('_variables')) objects += rows.length;
    }
  });
  await db.knex.destroy();
  return objects;
}


/** Rows of Variable (a simple model: two text fields and last_modified) with ids 1..n, labelled. */
export function variableRows(n, label) {
  return Array.from({ length: n }, (_, i) => ({ id: i + 1, descr: `${label} ${i + 1}`, descr_alt: '', last_modified: '2024-01-01 00:00:00' }));
}

/** The app's tables in a new database at `url` (any dialect), and `n` Variable rows created there, as `generate` loads. */
export async function generateVariables(url, n, label) {
  await init({ app: 'hcore', db: url });
  const db = openDatabase(url);
  try {
    await db.knex.transaction(async (trx) => {
      const rows = variableRows(n, label);
      for (let i = 0; i < rows.length; i += 500) await insertRows(trx, db.dialect, 'hcore_variable', rows.slice(i, i + 500));
      // Explicit ids: PostgreSQL's sequence must move past them (as loaddata does), or the next row made there collides.
      await db.dialect.resetSequence(trx, 'hcore_variable', 'id');
    });
  } finally {
    await db.knex.destroy();
  }
  return n;
}
