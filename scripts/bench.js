#!/usr/bin/env node
// npm run bench -- [--objects 100000] [--db URL] [--out FILE] [--only sync,push,exchange] [--change-percent 1]
//                   [--exchange-rows 10000] [--exchange-centres sqlite,postgres,mysql]
// Generates a deterministic hcore data set of N objects (the sample's shapes: MTI chains,
// forward self references, the nullable Gentity <-> WaterBasin cycle, NOT NULL FKs into MTI
// parents, both kinds of m2m) into a SQLite source, serves it with `remotesyncdb serve` (a
// child process), syncs it into a fresh target, and prints per phase seconds and objects/s,
// peak RSS of the sync and of the server, the floors (the same rows loaded with their remote ids
// by the database's own fastest bulk path, and JSON.parse of whole files; see bench-floor.js) with
// the install and the parse as ratios of them, a re-sync with nothing changed, and a sampled
// isomorphism check. Then pushes of K sites at once to a centre, and an exchange (DESIGN §10)
// of --exchange-rows changed rows each way with a centre on each database that answers.
// --only sync,push,exchange runs only those sections (default: all).
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, createReadStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadManifest, openDatabase } from '../dist/index.js';
import { databaseFloor, parseFloor, WHOLE_FILE_MAX_BYTES } from './bench-floor.js';
import { generate, generateVariables, variableRows } from './bench-data.js';
import { addSite } from '../dist/push/sites.js';
import { copyFileSync } from 'node:fs';
import { parseFixture, parseFixtureBatches } from '../dist/sources/fixture-splitter.js';
import { targetDirName } from '../dist/sources/target-identity.js';
import { canonical, nowDatetime } from '../dist/values/values.js';
import { exchange } from '../dist/exchange/exchange.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'remotesyncdb.js');
const { values: args } = parseArgs({ options: { objects: { type: 'string', default: '100000' }, 'change-percent': { type: 'string', default: '1' }, db: { type: 'string' }, out: { type: 'string', default: 'bench-results.json' }, keep: { type: 'boolean', default: false }, 'push-objects': { type: 'string', default: '5000' }, 'push-sites': { type: 'string', default: '1,4,16' }, only: { type: 'string', default: 'sync,push,exchange' }, 'exchange-rows': { type: 'string', default: '10000' }, 'exchange-centres': { type: 'string', default: 'sqlite,postgres,mysql' } } });
const SECTIONS = ['sync', 'push', 'exchange'];
const only = new Set(args.only.split(',').map((s) => s.trim()).filter(Boolean));
for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`--only: no section "${s}" (${SECTIONS.join(', ')})`);
const N = Number(args.objects);
const manifest = loadManifest('hcore');
const dir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-bench-'));
const sourceUrl = path.join(dir, 'source.sqlite');
const log = (...a) => console.error(...a);

/** A fresh target: a SQLite file, or a throwaway database on the server of --db (or of `adminUrl`). */
async function freshTarget(name, adminUrl = args.db) {
  if (!adminUrl) return { url: path.join(dir, `${name}.sqlite`), drop: async () => {} };
  const base = new URL(adminUrl);
  const db = `rsdb_bench_${name}_${process.pid}`;
  const admin = openDatabase(adminUrl);
  await admin.knex.raw(base.protocol.startsWith('mysql') ? `CREATE DATABASE ${db} CHARACTER SET utf8mb4` : `CREATE DATABASE ${db}`);
  await admin.knex.destroy();
  base.pathname = `/${db}`;
  return {
    url: base.toString(),
    drop: async () => {
      const a = openDatabase(adminUrl);
      await a.knex.raw(base.protocol.startsWith('mysql') ? `DROP DATABASE ${db}` : `DROP DATABASE ${db} WITH (FORCE)`);
      await a.knex.destroy();
    },
  };
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

/** Parse alone: every staged fixture through the streaming splitter, object by object (parseFixture) or in the install's batches. */
async function parseOnly(stage, isBatches = false) {
  const started = process.hrtime.bigint();
  let n = 0;
  for (const model of manifest.models.values()) {
    if (model.isPrivate) continue;
    const source = createReadStream(path.join(stage, `${model.name}.json`), { highWaterMark: 1 << 20 });
    if (isBatches) for await (const batch of parseFixtureBatches(source)) n += batch.length;
    else for await (const _ of parseFixture(source)) n++;
  }
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, objects: n };
}

/** Compare a sample of objects of every model, links translated through the id map. */
async function verifySample(targetUrl, hostname, perModel = 200) {
  const source = openDatabase(sourceUrl);
  const target = openDatabase(targetUrl);
  let checked = 0;
  try {
    const remote = await target.knex('dbsync_database').where({ hostname }).first();
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

/** Run a process to its end; resolves with its exit code and stdout. */
function runChild(argv, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

/** Push runs: K sites of the same size pushing at once to one centre (serve --accept-push), for each K. */
async function pushRuns() {
  const perSite = Number(args['push-objects']);
  const template = path.join(dir, 'site-template.sqlite');
  const objects = await generate(template, perSite);
  const runs = [];
  for (const k of args['push-sites'].split(',').map(Number)) {
    log(`push: ${k} site(s) x ${objects} objects at once`);
    const centre = await freshTarget(`centre${k}`);
    const sites = [];
    for (let i = 0; i < k; i++) {
      const db = path.join(dir, `site${k}-${i}.sqlite`);
      copyFileSync(template, db);
      sites.push({ db, token: (await addSite({ db: centre.url, app: 'hcore', name: `bench${i}` })).token });
    }
    const centrePort = port + 1;
    const server = spawn(process.execPath, [BIN, 'serve', '--accept-push', '--db', centre.url, '--port', String(centrePort), '-v', '0'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 1500));
    try {
      const started = process.hrtime.bigint();
      const done = await Promise.all(sites.map((s, i) => runChild(['push', '--to', `127.0.0.1:${centrePort}`, '--db', s.db, '-e', 'UserProfile', '-w', path.join(dir, `push${k}-${i}`), '--json'], { REMOTESYNCDB_PUSH_TOKEN: s.token })));
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const failed = done.find((r) => r.code !== 0);
      if (failed) throw new Error(`push failed (${failed.code}): ${failed.err.slice(-2000)}`);
      runs.push({ sites: k, objectsPerSite: objects, seconds, bundlesPerSecond: +(k / seconds).toFixed(2), objectsPerSecond: Math.round((k * objects) / seconds) });
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
      await centre.drop();
    }
  }
  return runs;
}

/** Peak RSS of a process (VmHWM) in MB, after resetting it to the current RSS (writing 5 to clear_refs); false where Linux refuses. */
function resetPeak(pid = 'self') {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The centres the exchange section tries: SQLite always, a server database when it answers (else skipped, as the tests skip). */
async function exchangeCentres() {
  const admins = {
    sqlite: undefined,
    postgres: args.db?.startsWith('postgres') ? args.db : process.env.RSDB_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    mysql: args.db?.startsWith('mysql') ? args.db : process.env.RSDB_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test',
  };
  const centres = [];
  for (const name of args['exchange-centres'].split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(name in admins)) throw new Error(`--exchange-centres: no database "${name}" (sqlite, postgres, mysql)`);
    if (!admins[name]) { centres.push({ name }); continue; }
    const probe = openDatabase(admins[name]);
    try {
      await probe.knex.raw('SELECT 1');
      centres.push({ name, admin: admins[name] });
    } catch (error) {
      log(`exchange: skipping a ${name} centre, ${admins[name]} does not answer: ${error.message}`);
      centres.push({ name, skipped: error.message });
    } finally {
      await probe.knex.destroy();
    }
  }
  return centres;
}

/**
 * One exchange of `n` changed rows each way, for a centre on each database, the site on SQLite.
 * Setup: the centre (its app tables, n Variable rows made there, a site registered with addSite,
 * `serve --accept-push` as a child process) and a site (n Variable rows made there) that have
 * done a first exchange, so both hold the same 2n rows. Then each side changes n different
 * rows (descr_alt and last_modified; the rows whose home pk is even at the site, odd at the
 * centre: half of each side's own rows and half of the other's), and ONE exchange (in this
 * process, through dist/) is timed: it sends the n site changes up and brings the n centre
 * changes down. Its floor: 2n Variable rows written into the centre's database by the bench's
 * floor (bench-floor.js) from a staged fixture, in the same run.
 */
async function exchangeRuns() {
  const n = Number(args['exchange-rows']);
  const runs = [];
  const centrePort = port + 2;
  for (const c of await exchangeCentres()) {
    if (c.skipped) { runs.push({ centre: c.name, skipped: c.skipped }); continue; }
    log(`exchange: centre on ${c.name}, site on sqlite, ${n} changed rows each way`);
    const centre = await freshTarget(`xcentre_${c.name}`, c.admin);
    const siteUrl = path.join(dir, `xsite-${c.name}.sqlite`);
    const work = path.join(dir, `xwork-${c.name}`);
    await generateVariables(centre.url, n, 'made at the centre');
    await generateVariables(siteUrl, n, 'made at the site');
    const { token } = await addSite({ db: centre.url, app: 'hcore', name: `xbench-${c.name}` });
    const server = spawn(process.execPath, [BIN, 'serve', '--accept-push', '--db', centre.url, '--port', String(centrePort), '-v', '0'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 1500));
    let marks = [];
    let bytesUp = 0;
    let bytesDown;
    const emit = (message) => {
      marks.push([message.split(' ')[0], process.hrtime.bigint()]);
      const up = /^Uploading bundle \S+ \((\d+) bytes/.exec(message);
      if (up) bytesUp += Number(up[1]);
      if (message.startsWith('Applying the feed')) {
        // The feed is downloaded whole to the exchange's work dir before it is applied (and removed after).
        const xdir = path.join(work, 'exchange');
        for (const host of readdirSync(xdir)) try { bytesDown = statSync(path.join(xdir, host, 'hcore', 'feed.jsonl')).size; } catch {}
      }
    };
    // The exchange's phases, from the times of its progress messages.
    const phasesOf = (started, ended) => {
      const at = (word) => marks.find(([w]) => w === word)?.[1];
      const phase = (from, to) => (from && to ? Number(to - from) / 1e9 : undefined);
      return { pushSeconds: phase(started, at('Fetching')), feedFetchSeconds: phase(at('Fetching'), at('Applying')), feedApplySeconds: phase(at('Applying'), ended) };
    };
    const run = () => exchange({ with: `http://127.0.0.1:${centrePort}`, app: 'hcore', db: siteUrl, exclude: ['UserProfile'], token, workDir: work, emit });
    try {
      const setupStarted = process.hrtime.bigint();
      const first = await run();
      if (first.sent !== n || first.received !== n) throw new Error(`exchange setup: the first exchange sent ${first.sent} and received ${first.received}, not ${n} each`);
      const setupSeconds = Number(process.hrtime.bigint() - setupStarted) / 1e9;
      // n different rows changed on each side, identified by their home pk (a row's own pk at its home, original_id elsewhere).
      const change = async (url, parity, text) => {
        const db = openDatabase(url);
        try {
          return await db.knex('hcore_variable').whereRaw(`COALESCE(original_id, id) % 2 = ${parity}`).update({ descr_alt: text, last_modified: nowDatetime() });
        } finally {
          await db.knex.destroy();
        }
      };
      const changedAtSite = await change(siteUrl, 0, 'changed at the site');
      const changedAtCentre = await change(centre.url, 1, 'changed at the centre');
      if (changedAtSite !== n || changedAtCentre !== n) throw new Error(`exchange setup: changed ${changedAtSite} rows at the site and ${changedAtCentre} at the centre, not ${n}`);
      log('exchange: the timed exchange');
      marks = [];
      bytesUp = 0;
      bytesDown = undefined;
      const rssBefore = process.memoryUsage().rss;
      let rssSampled = rssBefore;
      const sampler = setInterval(() => { rssSampled = Math.max(rssSampled, process.memoryUsage().rss); }, 10);
      const isPeakReset = resetPeak();
      const isServerPeakReset = resetPeak(server.pid);
      const started = process.hrtime.bigint();
      const r = await run();
      const ended = process.hrtime.bigint();
      clearInterval(sampler);
      rssSampled = Math.max(rssSampled, process.memoryUsage().rss);
      const seconds = Number(ended - started) / 1e9;
      const mb = (bytes) => Math.round(bytes / 2 ** 20);
      const run1 = {
        centre: c.name, rows: n, seconds, sent: r.sent, writtenAtCentre: r.writtenAtCentre, received: r.received, written: r.written, conflicts: r.conflicts, rejected: r.rejected,
        upRowsPerSecond: Math.round(r.sent / seconds), downRowsPerSecond: Math.round(r.received / seconds),
        phases: phasesOf(started, ended),
        bundleBytes: bytesUp, feedBytes: bytesDown,
        peakRssMb: isPeakReset ? serverPeakMb(process.pid) : mb(rssSampled), peakRssMethod: isPeakReset ? 'VmHWM reset before the exchange' : 'process.memoryUsage().rss sampled every 10 ms',
        rssBeforeMb: mb(rssBefore), sampledPeakRssMb: mb(rssSampled), centrePeakRssMb: isServerPeakReset ? serverPeakMb(server.pid) : undefined, setupSeconds,
      };
      // Both sides hold the other's changes.
      const count = async (url, text) => {
        const db = openDatabase(url);
        try {
          return Number((await db.knex('hcore_variable').where({ descr_alt: text }).count({ n: '*' }))[0].n);
        } finally {
          await db.knex.destroy();
        }
      };
      run1.verified = (await count(centre.url, 'changed at the site')) === n && (await count(siteUrl, 'changed at the centre')) === n && (await count(siteUrl, 'changed at the site')) === n && (await count(centre.url, 'changed at the centre')) === n;
      log('exchange: the quiet exchange after it');
      bytesUp = 0;
      marks = [];
      const quietStarted = process.hrtime.bigint();
      const q = await run();
      const quietEnded = process.hrtime.bigint();
      run1.quiet = { seconds: Number(quietEnded - quietStarted) / 1e9, phases: phasesOf(quietStarted, quietEnded), sent: q.sent, writtenAtCentre: q.writtenAtCentre, received: q.received, written: q.written, deleted: q.deleted, conflicts: q.conflicts, bundleBytes: bytesUp };
      run1.quiet.isQuiet = q.sent === 0 && q.received === 0 && q.written === 0 && q.writtenAtCentre === 0 && q.deleted === 0;
      runs.push(run1);
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
      await centre.drop();
    }
    log(`exchange: FLOOR, ${2 * n} Variable rows into ${c.name} by its fastest bulk path`);
    const stage = path.join(dir, `xfloor-${c.name}`);
    mkdirSync(stage, { recursive: true });
    for (const model of manifest.models.values()) {
      if (model.isPrivate) continue;
      const objects = model.name === 'Variable' ? variableRows(2 * n, 'floor').map(({ id, ...fields }) => ({ model: 'hcore.variable', pk: id, fields: { ...fields, last_modified: '2024-01-01T00:00:00Z' } })) : [];
      writeFileSync(path.join(stage, `${model.name}.json`), JSON.stringify(objects));
    }
    const floorDb = await freshTarget(`xfloor_${c.name}`, c.admin);
    try {
      const f = await databaseFloor(stage, manifest, floorDb.url);
      const last = runs[runs.length - 1];
      last.floor = { rows: 2 * n, seconds: f.seconds, method: f.method };
      last.floorRatio = +(last.seconds / f.seconds).toFixed(1);
    } finally {
      await floorDb.drop();
    }
  }
  return runs;
}

const results = { date: new Date().toISOString(), machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.cpus()[0]?.model ?? ''}`.trim(), node: process.version, target: args.db ? new URL(args.db).protocol.replace(':', '') : 'sqlite', requested: N };
/** Log a finished step and keep what is measured so far in --out, so that a long run that fails later loses nothing. */
function checkpoint(message) {
  log(message);
  writeFileSync(args.out, `${JSON.stringify(results, null, 2)}\n`);
}

/** Above this many objects the full compare (-F) is not run: it would double a run of tens of minutes. */
const FULL_RESYNC_MAX = 2_000_000;

/** Parse and its floor are timed in this many rounds (fewer at millions of objects: each round reads every file three times). */
const PARSE_ROUNDS = N > 2_000_000 ? 3 : 7;

/**
 * Change `percent`% of the source's objects as an app would: every root row whose id is 0 mod
 * (100 / percent) gets a new text and a new last_modified; returns how many rows changed.
 */
async function changeSource(url, percent) {
  const every = Math.max(1, Math.round(100 / percent));
  const db = openDatabase(url);
  let changed = 0;
  try {
    await db.knex.transaction(async (trx) => {
      for (const model of manifest.models.values()) {
        if (model.isPrivate || !model.lastModified) continue;
        const text = model.fields.find((f) => (f.type === 'text' || f.type === 'string') && !(model.naturalKey ?? []).includes(f.name) && f.name !== model.lastModified);
        if (!text) continue;
        changed += await trx(model.table).where(trx.raw(`${model.pk} % ${every} = 0`)).update({ [text.name]: trx.raw(`${text.name} || ' *'`), [model.lastModified]: nowDatetime() });
      }
    });
  } finally {
    await db.knex.destroy();
  }
  return changed;
}

/** The sync section: generate, serve, sync into a fresh target, the floors, re-syncs and an install alone. */
async function syncRuns() {
  log(`generating about ${N} objects into ${sourceUrl}`);
  results.objects = await generate(sourceUrl, N);
  const server = spawn(process.execPath, [BIN, 'serve', '--db', sourceUrl, '--port', String(port), '-v', '0'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 1500));
  const work = path.join(dir, 'work');
  let stage = '';
  try {
    const target = await freshTarget('target');
    log(`sync 1: serve + fetch + install into ${args.db ? new URL(args.db).protocol : 'sqlite'}`);
    const first = timed('sync', ['-r', '127.0.0.1', '-p', String(port), '-e', 'UserProfile', '--db', target.url, '-w', work, '-N', '--json']);
    // Staged under the target database's own directory of the work dir; the re-syncs below
    // stage their incremental fixtures there, so the whole one is kept aside for the install
    // alone and the floor.
    const fullStage = path.join(dir, 'first-stage');
    cpSync(first.json.workDir, fullStage, { recursive: true });
    stage = fullStage;
    results.serverPeakRssMb = serverPeakMb(server.pid);
    const t = first.json.timings;
    results.sync = { seconds: first.seconds, objectsPerSecond: Math.round(results.objects / first.seconds), peakRssMb: first.peakRssMb, phases: Object.fromEntries(Object.entries(t).map(([k, v]) => [k.replace('Ms', 'Seconds'), v / 1000])) };
    results.sync.phases.insertObjectsPerSecond = Math.round(results.objects / (t.insertMs / 1000));
    // Parse and its floor in rounds, back to back, so that both see the same load on a shared
    // machine: the ratio is the median of the rounds' ratios (the first round also warms the JIT).
    const rounds = [];
    log(`  first sync ${first.seconds.toFixed(2)} s (fetch ${t.fetchMs / 1000} s, insert ${t.insertMs / 1000} s, rewire ${t.rewireMs / 1000} s, commit ${t.commitMs / 1000} s), peak RSS ${first.peakRssMb} MB, server ${results.serverPeakRssMb} MB`);
    // JSON.parse takes a file whole, and V8's strings stop at 512 MiB: with a larger file there is no floor to compare with.
    const tooLarge = readdirSync(stage).filter((f) => f.endsWith('.json') && statSync(path.join(stage, f)).size > WHOLE_FILE_MAX_BYTES);
    if (tooLarge.length > 0) {
      results.parseFloor = { skipped: `${tooLarge.join(', ')} above ${WHOLE_FILE_MAX_BYTES / 2 ** 20} MiB: JSON.parse cannot take a file that large whole` };
    } else {
      for (let i = 0; i < PARSE_ROUNDS; i++) rounds.push({ floor: parseFloor(stage, manifest), parse: await parseOnly(stage), batches: await parseOnly(stage, true) });
      const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      results.parseFloor = { seconds: median(rounds.map((r) => r.floor.seconds)), objects: rounds[0].floor.objects, ratio: +median(rounds.map((r) => r.parse.seconds / r.floor.seconds)).toFixed(2), batchesRatio: +median(rounds.map((r) => r.batches.seconds / r.floor.seconds)).toFixed(2) };
      const parseSeconds = median(rounds.map((r) => r.parse.seconds));
      results.parse = { seconds: parseSeconds, objectsPerSecond: Math.round(rounds[0].parse.objects / parseSeconds), batchesSeconds: median(rounds.map((r) => r.batches.seconds)) };
    }
    log('verifying a sample of objects');
    results.verifiedObjects = await verifySample(target.url, `127.0.0.1:${port}`);
    log('sync 2: nothing changed (incremental)');
    const second = timed('sync', ['-r', '127.0.0.1', '-p', String(port), '-e', 'UserProfile', '--db', target.url, '-w', work, '-N', '--json']);
    results.resyncIncremental = { seconds: second.seconds, ratio: +(second.seconds / first.seconds).toFixed(3), objects: second.json.objects };
    checkpoint(`  nothing changed: ${second.seconds.toFixed(2)} s`);
    log(`sync 2b: ${args['change-percent']}% of the objects changed at the source (incremental)`);
    const changed = await changeSource(sourceUrl, Number(args['change-percent']));
    const changedRun = timed('sync', ['-r', '127.0.0.1', '-p', String(port), '-e', 'UserProfile', '--db', target.url, '-w', work, '-N', '--json']);
    results.resyncChanged = { percent: Number(args['change-percent']), changedAtSource: changed, seconds: changedRun.seconds, ratio: +(changedRun.seconds / first.seconds).toFixed(3), peakRssMb: changedRun.peakRssMb, received: changedRun.json.objects, updated: changedRun.json.models.reduce((n, m) => n + m.updated, 0) };
    if (results.resyncChanged.updated !== changed) throw new Error(`sync 2b updated ${results.resyncChanged.updated} objects, the source changed ${changed}`);
    checkpoint(`  ${args['change-percent']}% changed: ${changedRun.seconds.toFixed(2)} s, peak RSS ${changedRun.peakRssMb} MB`);
    if (N <= FULL_RESYNC_MAX) {
      log('sync 3: nothing changed, full fetch and compare (-F)');
      const third = timed('sync', ['-r', '127.0.0.1', '-p', String(port), '-e', 'UserProfile', '--db', target.url, '-w', work, '-N', '-F', '--json']);
      results.resyncFull = { seconds: third.seconds, ratio: +(third.seconds / first.seconds).toFixed(3), updated: third.json.models.reduce((n, m) => n + m.updated + m.inserted, 0), peakRssMb: third.peakRssMb };
      checkpoint(`  full compare: ${third.seconds.toFixed(2)} s, peak RSS ${third.peakRssMb} MB`);
    }
    await target.drop();
    log('install alone from the staged files (-R -N) into a fresh target');
    const fresh = await freshTarget('resume');
    // Each target database has its own staging directory: stage the same files for this one.
    cpSync(stage, path.join(work, targetDirName(fresh.url), `127.0.0.1_${port}`, 'hcore'), { recursive: true });
    const resume = timed('sync', ['-r', '127.0.0.1', '-p', String(port), '-e', 'UserProfile', '--db', fresh.url, '-w', work, '-N', '-R', '--json']);
    results.installStaged = { seconds: resume.seconds, objectsPerSecond: Math.round(results.objects / resume.seconds), peakRssMb: resume.peakRssMb, insertAndRewireSeconds: (resume.json.timings.insertMs + resume.json.timings.rewireMs + resume.json.timings.commitMs) / 1000 };
    checkpoint(`  install alone: ${resume.seconds.toFixed(2)} s whole process, ${results.installStaged.insertAndRewireSeconds.toFixed(2)} s insert+rewire+commit, peak RSS ${resume.peakRssMb} MB`);
    await fresh.drop();
    log("FLOOR: the same rows with their remote ids, the database's fastest bulk path");
    const floorDb = await freshTarget('floor');
    const f = await databaseFloor(stage, manifest, floorDb.url);
    results.floor = { ...f, installRatio: +(results.installStaged.insertAndRewireSeconds / f.seconds).toFixed(2), processRatio: +(results.installStaged.seconds / f.seconds).toFixed(2) };
    checkpoint(`  floor: ${f.seconds.toFixed(2)} s (${f.method})`);
    await floorDb.drop();
  } finally {
    server.kill('SIGTERM');
  }
}

const port = 18000 + (process.pid % 1000);
try {
  if (only.has('sync')) await syncRuns();
  if (only.has('push')) results.push = await pushRuns();
  if (only.has('exchange')) results.exchange = await exchangeRuns();
} finally {
  if (!args.keep) rmSync(dir, { recursive: true, force: true });
}
writeFileSync(args.out, `${JSON.stringify(results, null, 2)}\n`);
if (results.sync) console.log(`remotesyncdb bench: ${results.objects} objects into ${results.target} (${results.machine}, node ${results.node})`);
else console.log(`remotesyncdb bench, sections ${[...only].join(', ')} (${results.machine}, node ${results.node})`);
if (results.sync) {
  const p = results.sync.phases;
  console.log(`  first sync, end to end      ${results.sync.seconds.toFixed(2)} s  ${results.sync.objectsPerSecond} objects/s  peak RSS ${results.sync.peakRssMb} MB`);
  console.log(`    serve + fetch             ${p.fetchSeconds.toFixed(2)} s`);
  if (results.parse) console.log(`    parse (alone)             ${results.parse.seconds.toFixed(3)} s  ${results.parse.objectsPerSecond} objects/s`);
  console.log(`    parse + insert            ${p.insertSeconds.toFixed(2)} s  ${p.insertObjectsPerSecond} objects/s`);
  console.log(`    rewire + m2m + checks     ${p.rewireSeconds.toFixed(2)} s`);
  console.log(`    commit                    ${p.commitSeconds.toFixed(2)} s`);
  console.log(`  server peak RSS             ${results.serverPeakRssMb} MB`);
  console.log(`  install alone (-R -N)       ${results.installStaged.seconds.toFixed(2)} s whole process, ${results.installStaged.insertAndRewireSeconds.toFixed(2)} s insert+rewire+commit, peak RSS ${results.installStaged.peakRssMb} MB`);
  console.log(`  FLOOR, ${results.floor.method} (whole-file JSON.parse + load, remote ids, no remap, no checks)`);
  console.log(`                              ${results.floor.seconds.toFixed(2)} s   install insert+rewire+commit / floor = ${results.floor.installRatio}x, whole -R -N process / floor = ${results.floor.processRatio}x`);
  if (results.parseFloor.skipped) console.log(`  PARSE FLOOR                 not measured: ${results.parseFloor.skipped}`);
  else console.log(`  PARSE FLOOR, JSON.parse of whole files ${results.parseFloor.seconds.toFixed(3)} s   streaming parse / floor = ${results.parseFloor.ratio}x object by object (parseFixture, ${results.parse.seconds.toFixed(3)} s), ${results.parseFloor.batchesRatio}x in batches (the install's, ${results.parse.batchesSeconds.toFixed(3)} s); medians of ${PARSE_ROUNDS} rounds`);
  const c = results.resyncChanged;
  console.log(`  re-sync, ${c.percent}% changed       ${c.seconds.toFixed(2)} s incremental (${(c.ratio * 100).toFixed(1)}% of the first), ${c.updated} objects updated of ${c.received} received, peak RSS ${c.peakRssMb} MB`);
  if (!results.resyncFull) console.log(`  re-sync, nothing changed    ${results.resyncIncremental.seconds.toFixed(2)} s incremental (${Math.round(results.resyncIncremental.ratio * 100)}% of the first); -F not run above ${FULL_RESYNC_MAX} objects`);
  else console.log(`  re-sync, nothing changed    ${results.resyncIncremental.seconds.toFixed(2)} s incremental (${Math.round(results.resyncIncremental.ratio * 100)}% of the first), ${results.resyncFull.seconds.toFixed(2)} s with -F (${Math.round(results.resyncFull.ratio * 100)}%, ${results.resyncFull.updated} rows changed)`);
  console.log(`  verified                    ${results.verifiedObjects} sampled objects isomorphic`);
}
if (results.push) for (const r of results.push) console.log(`  push: ${String(r.sites).padStart(2)} site(s) x ${r.objectsPerSite} objects at once  ${r.seconds.toFixed(2)} s  ${r.bundlesPerSecond} bundles/s  ${r.objectsPerSecond} objects/s at the centre`);
const mib = (bytes) => (bytes === undefined ? '?' : `${(bytes / 2 ** 20).toFixed(2)} MiB`);
for (const x of results.exchange ?? []) {
  if (x.skipped) { console.log(`  exchange, centre on ${x.centre}: skipped (${x.skipped})`); continue; }
  const ph = x.phases;
  console.log(`  exchange, centre on ${x.centre}, site on sqlite: ONE exchange, ${x.sent} rows up + ${x.received} rows down (${x.rows} changed on each side)`);
  console.log(`                              ${x.seconds.toFixed(2)} s  up ${x.upRowsPerSecond} rows/s (${x.writtenAtCentre} written at the centre), down ${x.downRowsPerSecond} rows/s (${x.written} written at the site), ${x.conflicts} conflicts, both sides hold both changes: ${x.verified ? 'yes' : 'NO'}`);
  console.log(`    push (cut+upload+centre install) ${ph.pushSeconds?.toFixed(2)} s, feed (centre cut+download) ${ph.feedFetchSeconds?.toFixed(2)} s, feed apply at the site + ack ${ph.feedApplySeconds?.toFixed(2)} s`);
  console.log(`    bundle up ${mib(x.bundleBytes)}, feed down ${mib(x.feedBytes)}; peak RSS of this process ${x.peakRssMb} MB (${x.rssBeforeMb} MB before it; ${x.peakRssMethod}), centre server ${x.centrePeakRssMb ?? '?'} MB`);
  if (x.floor) console.log(`    FLOOR, ${x.floor.method}: ${x.floor.rows} Variable rows into ${x.centre}  ${x.floor.seconds.toFixed(3)} s   exchange / floor = ${x.floorRatio}x`);
  const q = x.quiet;
  console.log(`    quiet exchange after it    ${q.seconds.toFixed(2)} s  sent ${q.sent}, received ${q.received}, written ${q.written} (centre ${q.writtenAtCentre}), deleted ${q.deleted}: ${q.isQuiet ? 'wrote nothing' : 'NOT QUIET'}`);
  console.log(`                              push ${q.phases.pushSeconds?.toFixed(2)} s (bundle up ${mib(q.bundleBytes)}), feed ${q.phases.feedFetchSeconds?.toFixed(2)} s, apply + ack ${q.phases.feedApplySeconds?.toFixed(2)} s`);
}
console.log(`  results written to ${args.out}`);
