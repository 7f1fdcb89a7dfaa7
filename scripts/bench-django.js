#!/usr/bin/env node
// npm run bench:django -- [--objects 100000] [--db URL] [--django-python /usr/bin/python3] [--runs 2]
//                         [--out bench-django-results.json] [--keep]
// Our install against Django 3.2's own `manage.py loaddata` of the SAME fixture, whole processes,
// same machine, same run. The bench data set (bench-data.js) is generated into a SQLite source,
// served by `remotesyncdb serve` and staged by `remotesyncdb --fetch-only`: the staged files are
// the fixture both load. Django loads them into a throwaway project whose models.py is generated
// from the manifest (migrated first, untimed); we install them with `-R -N` into a database that
// `remotesyncdb init` prepared (untimed). Each runs --runs times, alternately, each time into a
// fresh database of the kind of --db (SQLite files by default; on a server, throwaway databases
// created and dropped there); the best of each is reported, after checking that both loaded the
// same number of rows into every table. Results are merged per database into --out.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadManifest, openDatabase } from '../dist/index.js';
import { targetDirName } from '../dist/sources/target-identity.js';
import { generate } from './bench-data.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'remotesyncdb.js');
const { values: args } = parseArgs({ options: { objects: { type: 'string', default: '100000' }, db: { type: 'string' }, 'django-python': { type: 'string', default: '/usr/bin/python3' }, runs: { type: 'string', default: '2' }, out: { type: 'string', default: 'bench-django-results.json' }, keep: { type: 'boolean', default: false } } });
const log = (...a) => console.error(...a);
const kind = args.db ? (args.db.startsWith('postgres') ? 'postgres' : args.db.startsWith('mysql') ? 'mysql' : undefined) : 'sqlite';
if (!kind) throw new Error(`--db: a postgres:// or mysql:// URL (or none, for SQLite), not ${args.db}`);
const python = args['django-python'];
const runs = Math.max(1, Number(args.runs));

// 1. Django (and the database's driver) importable by the chosen python, else skip: the bench is optional.
const driver = { sqlite: 'sqlite3', postgres: 'psycopg2', mysql: 'MySQLdb' }[kind];
const probe = spawnSync(python, ['-c', `import django, ${driver}; print(django.get_version())`], { encoding: 'utf8' });
if (probe.status !== 0) {
  console.log(`bench-django: ${python} cannot import django and ${driver}${probe.error ? ` (${probe.error.message})` : `:\n${probe.stderr.trim().split('\n').pop()}`}`);
  console.log('  On Debian bookworm (Django 3.2): apt-get install -y python3-django python3-psycopg2 python3-mysqldb');
  console.log('  then run again, or give another interpreter with --django-python PATH.');
  console.log('skipped');
  process.exit(0);
}
const djangoVersion = probe.stdout.trim();
if (!djangoVersion.startsWith('3.2')) log(`note: Django ${djangoVersion}, not the 3.2 this bench is about`);

const manifest = loadManifest('hcore');
const dir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-bench-django-'));
// A port the OS hands out free: others run benches with their own `serve` on this machine.
const port = await new Promise((resolve, reject) => {
  const listener = net.createServer().once('error', reject).listen(0, '127.0.0.1', () => {
    const { port: free } = listener.address();
    listener.close(() => resolve(free));
  });
});
const remoteDir = `127.0.0.1_${port}`;

/** A fresh database of the kind of --db: a SQLite file, or a throwaway database on that server. */
async function freshDb(name) {
  if (kind === 'sqlite') {
    const file = path.join(dir, `${name}.sqlite`);
    return { url: file, django: { ENGINE: 'django.db.backends.sqlite3', NAME: file }, drop: async () => rmSync(file, { force: true }) };
  }
  const db = `rsdb_bdj_${name}_${process.pid}`;
  const admin = openDatabase(args.db);
  try {
    await admin.knex.raw(kind === 'mysql' ? `CREATE DATABASE ${db} CHARACTER SET utf8mb4` : `CREATE DATABASE ${db}`);
  } finally {
    await admin.knex.destroy();
  }
  const url = new URL(args.db);
  url.pathname = `/${db}`;
  const server = { NAME: db, USER: decodeURIComponent(url.username), PASSWORD: decodeURIComponent(url.password), HOST: url.hostname, PORT: url.port || (kind === 'mysql' ? '3306' : '5432') };
  return {
    url: url.toString(),
    django: kind === 'mysql' ? { ENGINE: 'django.db.backends.mysql', ...server, OPTIONS: { charset: 'utf8mb4' } } : { ENGINE: 'django.db.backends.postgresql', ...server },
    drop: async () => {
      const a = openDatabase(args.db);
      try {
        await a.knex.raw(kind === 'mysql' ? `DROP DATABASE ${db}` : `DROP DATABASE ${db} WITH (FORCE)`);
      } finally {
        await a.knex.destroy();
      }
    },
  };
}

/** A whole process, timed (wall clock) and its peak RSS (GNU time); throws with its stderr when it fails. */
function timed(argv, options = {}) {
  const started = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', ...argv], { encoding: 'utf8', maxBuffer: 1 << 26, ...options });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.slice(0, 3).join(' ')} ... failed (${r.status}): ${(r.stderr ?? '').slice(-3000)}`);
  return { seconds, peakRssMb: Math.round(Number(r.stderr.trim().split('\n').pop()) / 1024), stdout: r.stdout };
}

/** A python literal for a manifest default (JSON). */
function pyLiteral(v) {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number' || typeof v === 'string') return JSON.stringify(v);
  return `json.loads(${JSON.stringify(JSON.stringify(v))})`;
}

const lower = (name) => name.toLowerCase();
const DJANGO_FIELD = { string: 'CharField', text: 'TextField', integer: 'IntegerField', float: 'FloatField', decimal: 'DecimalField', boolean: 'BooleanField', date: 'DateField', datetime: 'DateTimeField', json: 'JSONField', binary: 'BinaryField' };

/**
 * models.py for the manifest: one class per model (db_table the manifest's table), MTI children
 * subclassing their parent (Django's implicit `<parent>_ptr` link is our `<parent>_ptr_id` pk),
 * FKs with related_name='+' (the app's reverse accessors would clash: WaterBasin is a Gentity and
 * Gentity points to WaterBasin) and on_delete CASCADE (Django's default before 2.0, which the
 * 2010 Enhydris models had; on_delete is Python-side, loaddata never deletes), auto m2m with
 * their tables, through m2m over their model. A child field that shadows an ancestor's (hcore's
 * WaterBasin.water_division) is refused by Django (models.E006), so it gets another attribute
 * name on the same column: the fixture key then resolves to the ancestor's field, and Django's
 * raw save, which writes only the child's own table, leaves that column null (null in the data
 * set anyway).
 */
function djangoModels() {
  const ordered = [];
  const visit = (m) => {
    if (ordered.includes(m)) return;
    if (m.parent) visit(manifest.models.get(m.parent));
    ordered.push(m);
  };
  for (const m of manifest.models.values()) visit(m);
  const names = (m) => new Set([m.pk, m.pk.replace(/_id$/, ''), ...m.fields.map((f) => f.name), ...m.fks.flatMap((f) => [f.name, f.column]), ...m.m2m.map((x) => x.name)]);
  const out = ['# Generated by scripts/bench-django.js from the remotesyncdb manifest; do not edit.', 'import json', '', 'from django.db import models', ''];
  const throughClasses = [];
  for (const m of ordered) {
    const inherited = new Set(m.chain.slice(0, -1).flatMap((a) => [...names(manifest.models.get(a))]));
    const attr = (name) => (inherited.has(name) ? `${name}_${lower(m.name)}` : name);
    const body = [];
    if (!m.parent && m.pk !== 'id') body.push(`${m.pk} = models.AutoField(primary_key=True)`);
    if (m.parent && m.pk !== `${lower(m.parent)}_ptr_id`) body.push(`${lower(m.parent)}_ptr = models.OneToOneField('${m.parent}', models.CASCADE, parent_link=True, primary_key=True, db_column='${m.pk}', related_name='+')`);
    for (const f of m.fields) {
      const kw = [];
      if (f.type === 'string') kw.push(`max_length=${f.maxLength}`);
      if (f.type === 'decimal') kw.push(`max_digits=${f.maxDigits}`, `decimal_places=${f.decimalPlaces}`);
      if (f.isNullable) kw.push('null=True', 'blank=True');
      if (f.default !== undefined) kw.push(`default=${pyLiteral(f.default)}`);
      if (attr(f.name) !== f.name) kw.push(`db_column='${f.name}'`);
      body.push(`${attr(f.name)} = models.${DJANGO_FIELD[f.type]}(${kw.join(', ')})`);
    }
    for (const fk of m.fks) {
      const kw = [`'${fk.to}'`, 'models.CASCADE', "related_name='+'"];
      if (fk.isNullable) kw.push('null=True', 'blank=True');
      if (fk.column !== `${attr(fk.name)}_id`) kw.push(`db_column='${fk.column}'`);
      body.push(`${attr(fk.name)} = models.ForeignKey(${kw.join(', ')})`);
    }
    for (const x of m.m2m) {
      if (x.kind === 'through') {
        // Django wants the through model's FKs to point at both ends exactly.
        const through = manifest.models.get(x.through);
        const from = through.fks.find((f) => f.to === m.name);
        const to = through.fks.find((f) => f.to === x.to && f !== from);
        if (from && to) body.push(`${x.name} = models.ManyToManyField('${x.to}', through='${x.through}', through_fields=('${from.name}', '${to.name}'), related_name='+')`);
        else body.push(`# ${x.name}: through ${x.through}, whose FKs do not point at ${m.name} and ${x.to} exactly; its rows load as ${x.through}'s own`);
      } else if (x.source === `${lower(m.name)}_id` && x.target === `${lower(x.to)}_id` && x.to !== m.name) {
        body.push(`${x.name} = models.ManyToManyField('${x.to}', db_table='${x.table}', related_name='+')`);
      } else {
        // Other column names than Django's own: an explicit link model on the same table.
        const link = `${m.name}_${x.name}`;
        throughClasses.push(`class ${link}(models.Model):`, `    source = models.ForeignKey('${m.name}', models.CASCADE, db_column='${x.source}', related_name='+')`, `    target = models.ForeignKey('${x.to}', models.CASCADE, db_column='${x.target}', related_name='+')`, '', '    class Meta:', `        db_table = '${x.table}'`, "        unique_together = [('source', 'target')]", '', '');
        body.push(`${x.name} = models.ManyToManyField('${x.to}', through='${link}', through_fields=('source', 'target'), related_name='+')`);
      }
    }
    out.push('', `class ${m.name}(${m.parent ?? 'models.Model'}):`, ...body.map((l) => `    ${l}`), '', '    class Meta:', `        db_table = '${m.table}'`, '');
  }
  return [...out, '', ...throughClasses].join('\n');
}

/** Rows per table of the app (every model, every auto m2m table). */
async function countRows(url) {
  const db = openDatabase(url);
  try {
    const counts = {};
    for (const m of manifest.models.values()) {
      for (const table of [m.table, ...m.m2m.filter((x) => x.kind === 'auto').map((x) => x.table)]) counts[table] = Number((await db.knex(table).count({ n: '*' }))[0].n);
    }
    return counts;
  } finally {
    await db.knex.destroy();
  }
}

/** Wait until `serve` answers. */
async function waitForServer(url, child) {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`serve exited (${child.exitCode})`);
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`serve did not answer at ${url}`);
}

const results = { date: new Date().toISOString(), machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.cpus()[0]?.model ?? ''}`.trim(), node: process.version, python, django: djangoVersion, database: kind, runs };
const dbs = [];
try {
  // 2. The data set, served and staged as a sync downloads it.
  const sourceUrl = path.join(dir, 'source.sqlite');
  log(`generating about ${args.objects} objects into ${sourceUrl}`);
  results.objects = await generate(sourceUrl, Number(args.objects));
  const work = path.join(dir, 'work');
  const server = spawn(process.execPath, [BIN, 'serve', '--db', sourceUrl, '--port', String(port), '-v', '0'], { stdio: 'ignore' });
  let stage;
  try {
    await waitForServer(`http://127.0.0.1:${port}/api/`, server);
    log('staging the fixtures (--fetch-only)');
    const fetched = timed([process.execPath, BIN, '-r', '127.0.0.1', '-p', String(port), '-e', 'UserProfile', '--db', path.join(dir, 'stage.sqlite'), '-w', work, '-f', '--json']);
    stage = JSON.parse(fetched.stdout.trim().split('\n').pop()).workDir;
  } finally {
    server.kill('SIGTERM');
  }
  // The staged files, in the order of the fetch record (the manifest's), and their object counts.
  const record = JSON.parse(readFileSync(path.join(stage, 'fetch.json'), 'utf8'));
  const staged = Object.values(record.models);
  const files = staged.map((s) => path.join(stage, s.file));
  const expected = Object.fromEntries(staged.map((s) => [manifest.models.get(s.model).table, s.objects]));
  const fixtureObjects = staged.reduce((n, s) => n + s.objects, 0);
  if (fixtureObjects !== results.objects) throw new Error(`staged ${fixtureObjects} objects, generated ${results.objects}`);

  // 3. The throwaway Django project: manage.py and settings.py from scripts/django, the app generated.
  const project = path.join(dir, 'django');
  mkdirSync(path.join(project, manifest.label), { recursive: true });
  for (const f of ['manage.py', 'settings.py']) cpSync(path.join(ROOT, 'scripts', 'django', f), path.join(project, f));
  writeFileSync(path.join(project, manifest.label, '__init__.py'), '');
  writeFileSync(path.join(project, manifest.label, 'models.py'), djangoModels());
  const manage = (db, argv, timedRun = false) => {
    const options = { cwd: project, env: { ...process.env, RSDB_DJANGO_APP: manifest.label, RSDB_DJANGO_DB: JSON.stringify(db.django) } };
    if (timedRun) return timed([python, 'manage.py', ...argv], options);
    const r = spawnSync(python, ['manage.py', ...argv], { encoding: 'utf8', ...options });
    if (r.status !== 0) throw new Error(`manage.py ${argv[0]} failed (${r.status}): ${r.stderr.slice(-3000)}`);
    return r;
  };

  // 4. Alternately: Django's loaddata into a freshly migrated database, our install into an initialized one.
  const loaddata = [];
  const ours = [];
  const check = (who, counts) => {
    for (const [table, n] of Object.entries(expected)) if (counts[table] !== n) throw new Error(`${who}: ${table} holds ${counts[table]} rows, the fixture ${n}`);
  };
  for (let i = 0; i < runs; i++) {
    const dj = await freshDb(`django${i}`);
    dbs.push(dj);
    manage(dj, ['migrate', '--run-syncdb', '-v', '0']);
    log(`run ${i + 1}/${runs}: manage.py loaddata (${files.length} files)`);
    const d = manage(dj, ['loaddata', '-v', '1', ...files], true);
    const installed = Number(/Installed (\d+) object/.exec(d.stdout)?.[1]);
    if (installed !== fixtureObjects) throw new Error(`loaddata: ${d.stdout.trim()} (the fixture has ${fixtureObjects} objects)`);
    const djCounts = await countRows(dj.url);
    check('loaddata', djCounts);
    loaddata.push({ seconds: d.seconds, peakRssMb: d.peakRssMb, counts: djCounts });
    await dj.drop();
    dbs.pop();

    const rs = await freshDb(`ours${i}`);
    dbs.push(rs);
    const init = spawnSync(process.execPath, [BIN, 'init', '--db', rs.url, '-v', '0'], { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`init failed (${init.status}): ${init.stderr}`);
    // Each target database has its own staging directory under the work dir: stage the same files for this one.
    cpSync(stage, path.join(work, targetDirName(rs.url), remoteDir, manifest.app), { recursive: true });
    log(`run ${i + 1}/${runs}: remotesyncdb -R -N`);
    const r = timed([process.execPath, BIN, '-r', '127.0.0.1', '-p', String(port), '-e', 'UserProfile', '--db', rs.url, '-w', work, '-N', '-R', '--json']);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop());
    if (summary.inserted !== fixtureObjects) throw new Error(`our install inserted ${summary.inserted} objects, the fixture has ${fixtureObjects}`);
    const rsCounts = await countRows(rs.url);
    check('our install', rsCounts);
    // Both loaded the same rows into every table (the m2m tables too, which the fixture counts do not cover).
    for (const [table, n] of Object.entries(djCounts)) if (rsCounts[table] !== n) throw new Error(`${table}: loaddata ${n} rows, our install ${rsCounts[table]}`);
    ours.push({ seconds: r.seconds, peakRssMb: r.peakRssMb, insertRewireCommitSeconds: (summary.timings.insertMs + summary.timings.rewireMs + summary.timings.commitMs) / 1000 });
    await rs.drop();
    dbs.pop();
  }
  const best = (xs) => xs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  results.counts = loaddata[0].counts;
  results.loaddata = { best: best(loaddata).seconds, seconds: loaddata.map((x) => x.seconds), peakRssMb: best(loaddata).peakRssMb };
  results.ours = { best: best(ours).seconds, seconds: ours.map((x) => x.seconds), peakRssMb: best(ours).peakRssMb, insertRewireCommitSeconds: best(ours).insertRewireCommitSeconds };
  results.ratio = +(results.loaddata.best / results.ours.best).toFixed(1);
} finally {
  for (const db of dbs) await db.drop().catch((e) => log(`could not drop a bench database: ${e.message}`));
  if (args.keep) log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

// 5. Results merged per database (one run of this script measures one), and the table of all of them.
const all = existsSync(args.out) ? JSON.parse(readFileSync(args.out, 'utf8')) : {};
all[kind] = results;
writeFileSync(args.out, `${JSON.stringify(all, null, 2)}\n`);
console.log(`Django ${djangoVersion} manage.py loaddata vs remotesyncdb -R -N, the same staged fixture, whole processes, best of ${runs} runs each`);
console.log('| database | objects | loaddata | our install | loaddata / ours | measured |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const [name, r] of Object.entries(all)) {
  console.log(`| ${name}${name === kind ? ' (this run)' : ''} | ${r.objects} | ${r.loaddata.best.toFixed(2)} s | ${r.ours.best.toFixed(2)} s | ${r.ratio}x faster | ${r.date.slice(0, 16).replace('T', ' ')} |`);
}
console.log(`  this run: loaddata ${results.loaddata.seconds.map((s) => s.toFixed(2)).join(', ')} s (peak RSS ${results.loaddata.peakRssMb} MB); ours ${results.ours.seconds.map((s) => s.toFixed(2)).join(', ')} s (peak RSS ${results.ours.peakRssMb} MB, insert+rewire+commit ${results.ours.insertRewireCommitSeconds.toFixed(2)} s); same rows in all ${Object.keys(results.counts).length} tables`);
console.log(`  results written to ${args.out}`);
