#!/usr/bin/env node
// npm run bench -- [--objects 100000] [--db URL] [--out FILE]
// Generates a deterministic hcore data set of N objects (the sample's shapes: MTI chains,
// forward self references, the nullable Gentity <-> WaterBasin cycle, NOT NULL FKs into MTI
// parents, both kinds of m2m) into a SQLite source, serves it with `remotesyncdb serve` (a
// child process), syncs it into a fresh target, and prints per phase seconds and objects/s,
// peak RSS of the sync and of the server, the FLOOR (the same rows inserted with their remote
// ids by a plain batched insert), a re-sync with nothing changed, and a sampled isomorphism check.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, createReadStream, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { init, loadManifest, openDatabase, dependencyOrder } from '../dist/index.js';
import { insertRows, batchSize } from '../dist/install/insert.js';
import { parseFixture } from '../dist/sources/fixture-splitter.js';
import { toColumnValue } from '../dist/values/values.js';
import { targetDirName } from '../dist/sources/target-identity.js';
import { canonical } from '../dist/values/values.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'remotesyncdb.js');
const { values: args } = parseArgs({ options: { objects: { type: 'string', default: '100000' }, db: { type: 'string' }, out: { type: 'string', default: 'bench-results.json' }, keep: { type: 'boolean', default: false } } });
const N = Number(args.objects);
const manifest = loadManifest('hcore');
const dir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-bench-'));
const sourceUrl = path.join(dir, 'source.sqlite');
const log = (...a) => console.error(...a);

/** A fresh target: a SQLite file, or a throwaway database on the server of --db. */
async function freshTarget(name) {
  if (!args.db) return { url: path.join(dir, `${name}.sqlite`), drop: async () => {} };
  const base = new URL(args.db);
  const db = `rsdb_bench_${name}_${process.pid}`;
  const admin = openDatabase(args.db);
  await admin.knex.raw(base.protocol.startsWith('mysql') ? `CREATE DATABASE ${db} CHARACTER SET utf8mb4` : `CREATE DATABASE ${db}`);
  await admin.knex.destroy();
  base.pathname = `/${db}`;
  return {
    url: base.toString(),
    drop: async () => {
      const a = openDatabase(args.db);
      await a.knex.raw(base.protocol.startsWith('mysql') ? `DROP DATABASE ${db}` : `DROP DATABASE ${db} WITH (FORCE)`);
      await a.knex.destroy();
    },
  };
}

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

async function generate() {
  await init({ app: 'hcore', db: sourceUrl });
  const db = openDatabase(sourceUrl);
  let objects = 0;
  await db.knex.transaction(async (trx) => {
    await db.dialect.deferConstraints(trx);
    // About 12.3 objects per unit (see dataset), plus 58 lookup rows.
    for (const [table, rows] of dataset(Math.max(10, Math.round((N - 58) / 12.3)))) {
      for (let i = 0; i < rows.length; i += 500) await insertRows(trx, db.dialect, table, rows.slice(i, i + 500));
      if (!table.endsWith('_variables')) objects += rows.length;
    }
  });
  await db.knex.destroy();
  return objects;
}

function timed(cmd, argv, env = {}) {
  const started = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, BIN, ...argv], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const rssKb = Number(r.stderr.trim().split('\n').pop());
  return { seconds, peakRssMb: Math.round(rssKb / 1024), json: r.stdout.trim() ? JSON.parse(r.stdout.trim().split('\n').pop()) : undefined };
}

function serverPeakMb(pid) {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
    return Math.round(Number(line.split(/\s+/)[1]) / 1024);
  } catch {
    return undefined;
  }
}

/** The FLOOR: the staged rows inserted with their remote ids by a plain batched insert (no remap, no rewire). */
async function floor(stage, url) {
  await init({ app: 'hcore', db: url });
  const db = openDatabase(url);
  const started = process.hrtime.bigint();
  await db.knex.transaction(async (trx) => {
    await db.dialect.deferConstraints(trx);
    for (const model of dependencyOrder(manifest).filter((m) => !m.isPrivate)) {
      const size = batchSize(db.dialect, 3 + model.fields.length + model.fks.length);
      let batch = [];
      const links = [];
      for await (const o of parseFixture(createReadStream(path.join(stage, `${model.name}.json`), { highWaterMark: 1 << 20 }))) {
        const row = { [model.pk]: o.pk };
        for (const f of model.fields) row[f.name] = toColumnValue(f, o.fields[f.name], db.dialect);
        for (const fk of model.fks) row[fk.column] = o.fields[fk.name] ?? null;
        for (const m of model.m2m) if (m.kind === 'auto') for (const t of o.fields[m.name] ?? []) links.push([m, { [m.source]: o.pk, [m.target]: t }]);
        batch.push(row);
        if (batch.length >= size) { await insertRows(trx, db.dialect, model.table, batch); batch = []; }
      }
      await insertRows(trx, db.dialect, model.table, batch);
      for (const [m, link] of links) await insertRows(trx, db.dialect, m.table, [link]);
    }
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await db.knex.destroy();
  return seconds;
}

/** Parse alone: every staged fixture through the splitter and JSON.parse. */
async function parseOnly(stage) {
  const started = process.hrtime.bigint();
  let n = 0;
  for (const model of manifest.models.values()) {
    if (model.isPrivate) continue;
    for await (const _ of parseFixture(createReadStream(path.join(stage, `${model.name}.json`), { highWaterMark: 1 << 20 }))) n++;
  }
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, objects: n };
}

/** Compare a sample of objects of every model, links translated through the id map. */
async function verifySample(targetUrl, hostname, perModel = 200) {
  const source = openDatabase(sourceUrl);
  const target = openDatabase(targetUrl);
  let checked = 0;
  try {
    const remote = await target.knex('remotesyncdb_database').where({ hostname }).first();
    const mapOf = async (model, pks) => {
      const root = manifest.models.get(model.root);
      const rows = await target.knex(root.table).select(root.pk, 'original_id').where('original_db_id', remote.id).whereIn('original_id', pks);
      return new Map(rows.map((r) => [Number(r.original_id), Number(r[root.pk])]));
    };
    for (const model of manifest.models.values()) {
      if (model.isPrivate) continue;
      const rows = await source.knex(model.table).select('*').orderByRaw('random()').limit(perModel);
      if (rows.length === 0) continue;
      const map = await mapOf(model, rows.map((r) => r[model.pk]));
      const local = await target.knex(model.table).select('*').whereIn(model.pk, [...map.values()]);
      const byId = new Map(local.map((r) => [Number(r[model.pk]), r]));
      for (const src of rows) {
        const dst = byId.get(map.get(Number(src[model.pk])));
        if (!dst) throw new Error(`${model.name} pk=${src[model.pk]} missing in the target`);
        for (const f of model.fields) {
          if (f.name === 'last_modified') continue;
          if (canonical(f, src[f.name], source.dialect) !== canonical(f, dst[f.name], target.dialect)) throw new Error(`${model.name} pk=${src[model.pk]}.${f.name} differs`);
        }
        for (const fk of model.fks) {
          if (src[fk.column] === null) { if (dst[fk.column] !== null) throw new Error(`${model.name}.${fk.name} should be null`); continue; }
          const t = await mapOf(manifest.models.get(fk.to), [src[fk.column]]);
          if (t.get(Number(src[fk.column])) !== Number(dst[fk.column])) throw new Error(`${model.name} pk=${src[model.pk]}.${fk.name} points elsewhere`);
        }
        checked++;
      }
    }
  } finally {
    await source.knex.destroy();
    await target.knex.destroy();
  }
  return checked;
}

const results = { date: new Date().toISOString(), machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.cpus()[0]?.model ?? ''}`.trim(), node: process.version, target: args.db ? new URL(args.db).protocol.replace(':', '') : 'sqlite', requested: N };
log(`generating about ${N} objects into ${sourceUrl}`);
results.objects = await generate();
const port = 18000 + (process.pid % 1000);
const server = spawn(process.execPath, [BIN, 'serve', '--db', sourceUrl, '--port', String(port), '-v', '0'], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 1500));
const work = path.join(dir, 'work');
let stage = '';
try {
  const target = await freshTarget('target');
  log(`sync 1: serve + fetch + install into ${args.db ? new URL(args.db).protocol : 'sqlite'}`);
  const first = timed('sync', ['-r', '127.0.0.1', '-p', String(port), '-e', 'UserProfile', '--db', target.url, '-w', work, '-N', '--json']);
  // Staged under the target database's own directory of the work dir.
  stage = first.json.workDir;
  results.serverPeakRssMb = serverPeakMb(server.pid);
  const t = first.json.timings;
  results.sync = { seconds: first.seconds, objectsPerSecond: Math.round(results.objects / first.seconds), peakRssMb: first.peakRssMb, phases: Object.fromEntries(Object.entries(t).map(([k, v]) => [k.replace('Ms', 'Seconds'), v / 1000])) };
  results.sync.phases.insertObjectsPerSecond = Math.round(results.objects / (t.insertMs / 1000));
  const parsed = await parseOnly(stage);
  results.parse = { seconds: parsed.seconds, objectsPerSecond: Math.round(parsed.objects / parsed.seconds) };
  log('verifying a sample of objects');
  results.verifiedObjects = await verifySample(target.url, `127.0.0.1:${port}`);
  log('sync 2: nothing changed (incremental)');
  const second = timed('sync', ['-r', '127.0.0.1', '-p', String(port), '-e', 'UserProfile', '--db', target.url, '-w', work, '-N', '--json']);
  results.resyncIncremental = { seconds: second.seconds, ratio: +(second.seconds / first.seconds).toFixed(3), objects: second.json.objects };
  log('sync 3: nothing changed, full fetch and compare (-F)');
  const third = timed('sync', ['-r', '127.0.0.1', '-p', String(port), '-e', 'UserProfile', '--db', target.url, '-w', work, '-N', '-F', '--json']);
  results.resyncFull = { seconds: third.seconds, ratio: +(third.seconds / first.seconds).toFixed(3), updated: third.json.models.reduce((n, m) => n + m.updated + m.inserted, 0) };
  await target.drop();
  log('install alone from the staged files (-R -N) into a fresh target');
  const fresh = await freshTarget('resume');
  // Each target database has its own staging directory: stage the same files for this one.
  cpSync(stage, path.join(work, targetDirName(fresh.url), `127.0.0.1_${port}`, 'hcore'), { recursive: true });
  const resume = timed('sync', ['-r', '127.0.0.1', '-p', String(port), '-e', 'UserProfile', '--db', fresh.url, '-w', work, '-N', '-R', '--json']);
  results.installStaged = { seconds: resume.seconds, objectsPerSecond: Math.round(results.objects / resume.seconds), peakRssMb: resume.peakRssMb, insertAndRewireSeconds: (resume.json.timings.insertMs + resume.json.timings.rewireMs + resume.json.timings.commitMs) / 1000 };
  await fresh.drop();
  log('FLOOR: the same rows with their remote ids, plain batched insert');
  const floorDb = await freshTarget('floor');
  results.floor = { seconds: await floor(stage, floorDb.url) };
  results.floor.ratio = +(results.installStaged.insertAndRewireSeconds / results.floor.seconds).toFixed(2);
  await floorDb.drop();
} finally {
  server.kill('SIGTERM');
  if (!args.keep) rmSync(dir, { recursive: true, force: true });
}
writeFileSync(args.out, `${JSON.stringify(results, null, 2)}\n`);
const p = results.sync.phases;
console.log(`remotesyncdb bench: ${results.objects} objects into ${results.target} (${results.machine}, node ${results.node})`);
console.log(`  first sync, end to end      ${results.sync.seconds.toFixed(2)} s  ${results.sync.objectsPerSecond} objects/s  peak RSS ${results.sync.peakRssMb} MB`);
console.log(`    serve + fetch             ${p.fetchSeconds.toFixed(2)} s`);
console.log(`    parse (alone)             ${results.parse.seconds.toFixed(2)} s  ${results.parse.objectsPerSecond} objects/s`);
console.log(`    parse + insert            ${p.insertSeconds.toFixed(2)} s  ${p.insertObjectsPerSecond} objects/s`);
console.log(`    rewire + m2m + checks     ${p.rewireSeconds.toFixed(2)} s`);
console.log(`    commit                    ${p.commitSeconds.toFixed(2)} s`);
console.log(`  server peak RSS             ${results.serverPeakRssMb} MB`);
console.log(`  install alone (-R -N)       ${results.installStaged.seconds.toFixed(2)} s whole process, ${results.installStaged.insertAndRewireSeconds.toFixed(2)} s insert+rewire+commit, peak RSS ${results.installStaged.peakRssMb} MB`);
console.log(`  FLOOR (remote ids, no remap) ${results.floor.seconds.toFixed(2)} s   install/floor = ${results.floor.ratio}x`);
console.log(`  re-sync, nothing changed    ${results.resyncIncremental.seconds.toFixed(2)} s incremental (${Math.round(results.resyncIncremental.ratio * 100)}% of the first), ${results.resyncFull.seconds.toFixed(2)} s with -F (${Math.round(results.resyncFull.ratio * 100)}%, ${results.resyncFull.updated} rows changed)`);
console.log(`  verified                    ${results.verifiedObjects} sampled objects isomorphic`);
console.log(`  results written to ${args.out}`);
