#!/usr/bin/env node
// npm run bench -- [--objects 100000] [--db URL] [--out FILE]
// Generates a deterministic hcore data set of N objects (the sample's shapes: MTI chains,
// forward self references, the nullable Gentity <-> WaterBasin cycle, NOT NULL FKs into MTI
// parents, both kinds of m2m) into a SQLite source, serves it with `remotesyncdb serve` (a
// child process), syncs it into a fresh target, and prints per phase seconds and objects/s,
// peak RSS of the sync and of the server, the floors (the same rows loaded with their remote ids
// by the database's own fastest bulk path, and JSON.parse of whole files; see bench-floor.js) with
// the install and the parse as ratios of them, a re-sync with nothing changed, and a sampled
// isomorphism check.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, createReadStream, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadManifest, openDatabase } from '../dist/index.js';
import { databaseFloor, parseFloor } from './bench-floor.js';
import { generate } from './bench-data.js';
import { addSite } from '../dist/push/sites.js';
import { copyFileSync } from 'node:fs';
import { parseFixture, parseFixtureBatches } from '../dist/sources/fixture-splitter.js';
import { targetDirName } from '../dist/sources/target-identity.js';
import { canonical } from '../dist/values/values.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'remotesyncdb.js');
const { values: args } = parseArgs({ options: { objects: { type: 'string', default: '100000' }, db: { type: 'string' }, out: { type: 'string', default: 'bench-results.json' }, keep: { type: 'boolean', default: false }, 'push-objects': { type: 'string', default: '5000' }, 'push-sites': { type: 'string', default: '1,4,16' } } });
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

const results = { date: new Date().toISOString(), machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.cpus()[0]?.model ?? ''}`.trim(), node: process.version, target: args.db ? new URL(args.db).protocol.replace(':', '') : 'sqlite', requested: N };
log(`generating about ${N} objects into ${sourceUrl}`);
results.objects = await generate(sourceUrl, N);
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
  // Parse and its floor in rounds, back to back, so that both see the same load on a shared
  // machine: the ratio is the median of the rounds' ratios (the first round also warms the JIT).
  const rounds = [];
  for (let i = 0; i < 7; i++) rounds.push({ floor: parseFloor(stage, manifest), parse: await parseOnly(stage), batches: await parseOnly(stage, true) });
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  results.parseFloor = { seconds: median(rounds.map((r) => r.floor.seconds)), objects: rounds[0].floor.objects, ratio: +median(rounds.map((r) => r.parse.seconds / r.floor.seconds)).toFixed(2), batchesRatio: +median(rounds.map((r) => r.batches.seconds / r.floor.seconds)).toFixed(2) };
  const parseSeconds = median(rounds.map((r) => r.parse.seconds));
  results.parse = { seconds: parseSeconds, objectsPerSecond: Math.round(rounds[0].parse.objects / parseSeconds), batchesSeconds: median(rounds.map((r) => r.batches.seconds)) };
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
  log("FLOOR: the same rows with their remote ids, the database's fastest bulk path");
  const floorDb = await freshTarget('floor');
  const f = await databaseFloor(stage, manifest, floorDb.url);
  results.floor = { ...f, installRatio: +(results.installStaged.insertAndRewireSeconds / f.seconds).toFixed(2), processRatio: +(results.installStaged.seconds / f.seconds).toFixed(2) };
  await floorDb.drop();
  results.push = await pushRuns();
} finally {
  server.kill('SIGTERM');
  if (!args.keep) rmSync(dir, { recursive: true, force: true });
}
writeFileSync(args.out, `${JSON.stringify(results, null, 2)}\n`);
const p = results.sync.phases;
console.log(`remotesyncdb bench: ${results.objects} objects into ${results.target} (${results.machine}, node ${results.node})`);
console.log(`  first sync, end to end      ${results.sync.seconds.toFixed(2)} s  ${results.sync.objectsPerSecond} objects/s  peak RSS ${results.sync.peakRssMb} MB`);
console.log(`    serve + fetch             ${p.fetchSeconds.toFixed(2)} s`);
console.log(`    parse (alone)             ${results.parse.seconds.toFixed(3)} s  ${results.parse.objectsPerSecond} objects/s`);
console.log(`    parse + insert            ${p.insertSeconds.toFixed(2)} s  ${p.insertObjectsPerSecond} objects/s`);
console.log(`    rewire + m2m + checks     ${p.rewireSeconds.toFixed(2)} s`);
console.log(`    commit                    ${p.commitSeconds.toFixed(2)} s`);
console.log(`  server peak RSS             ${results.serverPeakRssMb} MB`);
console.log(`  install alone (-R -N)       ${results.installStaged.seconds.toFixed(2)} s whole process, ${results.installStaged.insertAndRewireSeconds.toFixed(2)} s insert+rewire+commit, peak RSS ${results.installStaged.peakRssMb} MB`);
console.log(`  FLOOR, ${results.floor.method} (whole-file JSON.parse + load, remote ids, no remap, no checks)`);
console.log(`                              ${results.floor.seconds.toFixed(2)} s   install insert+rewire+commit / floor = ${results.floor.installRatio}x, whole -R -N process / floor = ${results.floor.processRatio}x`);
console.log(`  PARSE FLOOR, JSON.parse of whole files ${results.parseFloor.seconds.toFixed(3)} s   streaming parse / floor = ${results.parseFloor.ratio}x object by object (parseFixture, ${results.parse.seconds.toFixed(3)} s), ${results.parseFloor.batchesRatio}x in batches (the install's, ${results.parse.batchesSeconds.toFixed(3)} s); medians of 7 rounds`);
console.log(`  re-sync, nothing changed    ${results.resyncIncremental.seconds.toFixed(2)} s incremental (${Math.round(results.resyncIncremental.ratio * 100)}% of the first), ${results.resyncFull.seconds.toFixed(2)} s with -F (${Math.round(results.resyncFull.ratio * 100)}%, ${results.resyncFull.updated} rows changed)`);
console.log(`  verified                    ${results.verifiedObjects} sampled objects isomorphic`);
for (const r of results.push) console.log(`  push: ${String(r.sites).padStart(2)} site(s) x ${r.objectsPerSite} objects at once  ${r.seconds.toFixed(2)} s  ${r.bundlesPerSecond} bundles/s  ${r.objectsPerSecond} objects/s at the centre`);
console.log(`  results written to ${args.out}`);
