#!/usr/bin/env node
// npm run bench:console -- [--objects 1000000] [--db ADMIN_URL] [--target URL] [--runs 5] [--conflicts 1000]
// How long each console page takes on the bench's aggregate: generates the bench's hcore data
// set of N objects (bench-data.js) into a SQLite source, serves it, syncs it into a fresh target
// (a SQLite file, or a throwaway database on the server of --db), syncs again a few times for a
// history, adds a remote that is down (a failed run) and a site with --conflicts conflict
// records, then requests every page --runs times through real HTTP and prints the first and the
// median milliseconds and the bytes of each. --target URL reuses an aggregate built before.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openDatabase } from '../dist/index.js';
import { startConsole } from '../dist/console/console-server.js';
import { CONFLICT_TABLE } from '../dist/exchange/exchange-tables.js';
import { addSite } from '../dist/push/sites.js';
import { generate } from './bench-data.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'remotesyncdb.js');
const { values: args } = parseArgs({ options: { objects: { type: 'string', default: '1000000' }, db: { type: 'string' }, target: { type: 'string' }, runs: { type: 'string', default: '5' }, conflicts: { type: 'string', default: '1000' }, keep: { type: 'boolean', default: false } } });
const log = (...a) => console.error(...a);
const dir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-bench-console-'));
const cli = (argv) => {
  const started = Date.now();
  const r = spawnSync(process.execPath, [BIN, ...argv], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return { code: r.status, seconds: (Date.now() - started) / 1000, err: r.stderr };
};

async function freshTarget() {
  if (!args.db) return path.join(dir, 'aggregate.sqlite');
  const base = new URL(args.db);
  const name = `rsdb_bench_console_${process.pid}`;
  const admin = openDatabase(args.db);
  await admin.knex.raw(base.protocol.startsWith('mysql') ? `CREATE DATABASE ${name} CHARACTER SET utf8mb4` : `CREATE DATABASE ${name}`);
  await admin.knex.destroy();
  base.pathname = `/${name}`;
  return base.toString();
}

async function build() {
  const source = path.join(dir, 'source.sqlite');
  log(`generating about ${args.objects} objects into ${source}`);
  const objects = await generate(source, Number(args.objects));
  const port = 19000 + (process.pid % 1000);
  const server = spawn(process.execPath, [BIN, 'serve', '--db', source, '--port', String(port), '-v', '0'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 1500));
  const target = await freshTarget();
  try {
    for (let i = 1; i <= 3; i++) {
      const r = cli(['-r', '127.0.0.1', '-p', String(port), '-e', 'UserProfile', '--db', target, '-w', path.join(dir, 'work'), '-N', '-S']);
      if (r.code !== 0) throw new Error(`sync ${i} failed: ${r.err}`);
      log(`  sync ${i}: ${r.seconds.toFixed(1)} s`);
    }
  } finally {
    server.kill('SIGTERM');
  }
  cli(['remote', 'add', 'down', '127.0.0.1:9', '--db', target, '-v', '0']);
  cli(['-r', 'down', '--db', target, '-S']);
  const { site } = await addSite({ db: target, app: 'hcore', name: 'laptop' });
  const db = openDatabase(target);
  try {
    const rows = Array.from({ length: Number(args.conflicts) }, (_, i) => ({
      site_id: site.id, model: 'Variable', row_id: null, ref: `s${i + 1}`, home: 'site', policy: i % 10 === 0 ? 'manual' : 'home-wins', base: JSON.stringify({ descr: 'base', descr_alt: 'x' }),
      site_version: JSON.stringify({ descr: `site ${i}`, descr_alt: 'x' }), centre_version: JSON.stringify({ descr: `centre ${i}`, descr_alt: 'x' }),
      decision: i % 10 === 0 ? 'held' : 'site', reason: 'changed at the site and changed at the centre', status: i % 10 === 0 ? 'open' : 'decided', created: new Date().toISOString(),
    }));
    for (let i = 0; i < rows.length; i += 100) await db.knex(CONFLICT_TABLE).insert(rows.slice(i, i + 100));
  } finally {
    await db.knex.destroy();
  }
  return { target, objects, remote: `127.0.0.1:${port}` };
}

const built = args.target ? { target: args.target, objects: Number(args.objects), remote: undefined } : await build();
const server = await startConsole({ app: 'hcore', db: built.target, port: 0 });
try {
  // The first read counts the rows held per member (a pass over every root table); the pages then reuse the count until a run is recorded.
  const cold = process.hrtime.bigint();
  const fleet = await (await fetch(`${server.url}/fleet.json`)).json();
  const coldMs = Math.round(Number(process.hrtime.bigint() - cold) / 1e6);
  const remote = built.remote ?? fleet.members.find((m) => m.kind === 'remote' && m.lastSuccess)?.hostname;
  const firstConflict = fleet.conflicts.open + fleet.conflicts.decided > 0 ? 1 : undefined;
  const pages = [['fleet', '/'], ['remote', `/remotes/${encodeURIComponent(remote)}`], ['conflicts', '/conflicts'], ['open conflicts', '/conflicts?status=open'], ['conflict', `/conflicts/${firstConflict}`], ['/metrics', '/metrics'], ['/fleet.json', '/fleet.json']];
  const held = fleet.members.reduce((n, m) => n + m.rows, 0);
  log(`console of ${built.target}: ${fleet.members.length} members, ${held.toLocaleString('en-US')} rows held from them, ${fleet.conflicts.open + fleet.conflicts.decided} conflicts`);
  const results = [{ page: 'fleet.json, rows counted', url: '/fleet.json', status: 200, firstMs: coldMs, medianMs: coldMs, bytes: 0 }];
  for (const [name, url] of pages) {
    const times = [];
    let bytes = 0;
    let status = 0;
    for (let i = 0; i < Number(args.runs); i++) {
      const t = process.hrtime.bigint();
      const res = await fetch(`${server.url}${url}`);
      bytes = (await res.arrayBuffer()).byteLength;
      status = res.status;
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const sorted = [...times].sort((a, b) => a - b);
    results.push({ page: name, url, status, firstMs: Math.round(times[0]), medianMs: Math.round(sorted[Math.floor(sorted.length / 2)]), bytes });
  }
  console.log(`page\tstatus\tfirst ms\tmedian ms\tbytes`);
  for (const r of results) console.log(`${r.page}\t${r.status}\t${r.firstMs}\t${r.medianMs}\t${r.bytes}`);
  console.log(JSON.stringify({ objects: built.objects, target: built.target.replace(/\/\/[^@/]*@/, '//'), members: fleet.members.length, rowsHeld: held, results }));
} finally {
  await server.close();
  if (!args.keep && !args.target) rmSync(dir, { recursive: true, force: true });
}
