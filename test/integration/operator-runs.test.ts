import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { targetDirName } from '../../src/sources/target-identity.js';
import { nowDatetime } from '../../src/values/values.js';
import { cli } from '../helpers/cli.js';
import { createDatabase, type TestDatabase } from '../helpers/databases.js';
import { tableDigests, withDb } from '../helpers/inspect.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';
import { runBin } from '../helpers/run-bin.js';

const manifest = loadManifest('hcore');
const tmp = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

// Issue 14.2, 14.4, 14.6: dry runs write nothing, read-only commands create nothing, exit codes say what went wrong.
describe('what an operator trips on', () => {
  let source: TestInstance;
  let locked: TestInstance;
  beforeAll(async () => {
    source = await startInstance({ files: [SAMPLE_FIXTURE] });
    locked = await startInstance({ files: [], tokens: ['the-right-token'] });
  });
  afterAll(async () => {
    await source?.close();
    await locked?.close();
  });
  const remote = () => ['-r', '127.0.0.1', '-p', String(source.port), '-e', 'UserProfile'];

  it('--dry-run replaces no staged file: -R after it installs what -f staged', async () => {
    const target = await createDatabase('sqlite');
    const workDir = tmp('rsdb-dry-');
    try {
      expect((await cli([...remote(), '--db', target.url, '-w', workDir, '-f'])).code).toBe(0);
      const stage = path.join(workDir, targetDirName(target.url), `127.0.0.1_${source.port}`, 'hcore');
      const staged = Object.fromEntries(readdirSync(stage).map((n) => [n, readFileSync(path.join(stage, n), 'utf8')]));
      await withDb(source.db.url, (db) => db.knex('hcore_gentity').where({ id: 8 }).update({ name: 'changed after -f', last_modified: nowDatetime() }));
      const dry = await cli([...remote(), '--db', target.url, '-w', workDir, '--dry-run', '-F']);
      expect(dry.code, dry.err).toBe(0);
      expect(Object.fromEntries(readdirSync(stage).map((n) => [n, readFileSync(path.join(stage, n), 'utf8')]))).toEqual(staged);
      expect((await cli([...remote(), '--db', target.url, '-w', workDir, '-R'])).code).toBe(0);
      expect((await withDb(target.url, (db) => db.knex('hcore_gentity').where({ original_id: 8 }).first())).name).not.toBe('changed after -f');
    } finally {
      await target.drop();
    }
  });

  it('--dry-run (and --prune --dry-run) on a fresh target leaves no database file', async () => {
    const file = path.join(tmp('rsdb-fresh-'), 'fresh.sqlite');
    for (const extra of [[], ['--prune']]) {
      const r = await cli([...remote(), '--db', file, '-w', tmp('rsdb-w-'), '--dry-run', ...extra]);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/would/);
      expect(existsSync(file)).toBe(false);
    }
    const pg = await createDatabase('postgres').catch(() => undefined);
    if (pg) {
      try {
        const r = await cli([...remote(), '--db', pg.url, '-w', tmp('rsdb-w-'), '--dry-run', '--prune']);
        expect(r.code, r.err).toBe(0);
      } finally {
        await pg.drop();
      }
    }
  });

  it('read-only commands refuse a SQLite file that does not exist (exit 2, how to create it) and create none', async () => {
    const file = path.join(tmp('rsdb-ro-'), 'typo.sqlite');
    for (const args of [['dumpdata'], ['history'], ['remote', 'list'], ['remote', 'remove', 'x'], ['inspect', '-a', 'hcore'], ['serve', '--port', '0']]) {
      const r = await cli([...args, '--db', file]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toContain(file);
      expect(r.err).toContain(`remotesyncdb init --db ${file}`);
      expect(existsSync(file)).toBe(false);
    }
  });

  it('a sync to an unreachable remote creates no database file and no table', async () => {
    const file = path.join(tmp('rsdb-unr-'), 'new.sqlite');
    const r = await cli(['-r', '127.0.0.1', '-p', '1', '--db', file, '-w', tmp('rsdb-w-')]);
    expect(r.code).toBe(3);
    expect(existsSync(file)).toBe(false);
    const empty = await createDatabase('sqlite');
    try {
      await withDb(empty.url, (db) => db.knex.raw('SELECT 1'));
      expect((await cli(['-r', '127.0.0.1', '-p', '1', '--db', empty.url, '-w', tmp('rsdb-w-')])).code).toBe(3);
      expect(Object.values(await tableDigests(empty.url, manifest)).every((d) => d === 'absent')).toBe(true);
    } finally {
      await empty.drop();
    }
  });

  it('a bad --db is exit 2 with how to create it', async () => {
    const missingDir = await cli([...remote(), '--db', path.join(tmp('rsdb-bad-'), 'no', 'such', 'dir', 'x.sqlite')]);
    expect(missingDir.code).toBe(2);
    expect(missingDir.err).toMatch(/does not exist: create it \(mkdir -p\)/);
    const missingDb = await cli([...remote(), '--db', 'postgres://postgres@127.0.0.1:5432/rsdb_no_such_database']);
    expect(missingDb.code).toBe(2);
    expect(missingDb.err).toContain('createdb');
  });

  it('a 401 is exit 2 and names where the token comes from (tokenEnv when the config uses it)', async () => {
    const target = path.join(tmp('rsdb-401-'), 't.sqlite');
    const plain = await cli(['-r', '127.0.0.1', '-p', String(locked.port), '--db', target, '-w', tmp('rsdb-w-')]);
    expect(plain.code).toBe(2);
    expect(plain.err).toContain('401');
    expect(plain.err).toContain('REMOTESYNCDB_TOKEN');
    const config = path.join(tmp('rsdb-cfg-'), 'remotesyncdb.config.json');
    writeFileSync(config, JSON.stringify({ remotes: { locked: { host: '127.0.0.1', port: locked.port, tokenEnv: 'LOCKED_TOKEN' } } }));
    const viaEnv = await cli(['-r', '127.0.0.1', '-p', String(locked.port), '--db', target, '-w', tmp('rsdb-w-'), '--config', config], { LOCKED_TOKEN: 'a-wrong-token' });
    expect(viaEnv.code).toBe(2);
    expect(viaEnv.err).toContain('LOCKED_TOKEN');
    expect(viaEnv.err).not.toContain('a-wrong-token');
    expect(existsSync(target)).toBe(false);
  });

  it('a tampered staged file on -R is exit 2, nothing installed', async () => {
    const target = await createDatabase('sqlite');
    const workDir = tmp('rsdb-tamper-');
    try {
      expect((await cli([...remote(), '--db', target.url, '-w', workDir, '-f'])).code).toBe(0);
      const file = path.join(workDir, targetDirName(target.url), `127.0.0.1_${source.port}`, 'hcore', 'Variable.json');
      writeFileSync(file, readFileSync(file, 'utf8').replace(/"descr": ?"/, '"descr": "X'));
      const r = await cli([...remote(), '--db', target.url, '-w', workDir, '-R']);
      expect(r.code).toBe(2);
      expect(r.err).toContain('Variable.json');
      expect(await withDb(target.url, (db) => db.knex('hcore_variable').count({ n: '*' }))).toEqual([{ n: 0 }]);
    } finally {
      await target.drop();
    }
  });

  it('relative paths in a config file are relative to the file, not the working directory', async () => {
    const etc = tmp('rsdb-etc-');
    const cwd = tmp('rsdb-cwd-');
    const config = path.join(etc, 'remotesyncdb.config.json');
    writeFileSync(config, JSON.stringify({ db: 'fleet.sqlite', workDir: 'work', remotes: { src: { host: '127.0.0.1', port: source.port, exclude: ['UserProfile'] } } }));
    const r = await runBin(['--all', '--config', config, '-S'], { cwd });
    expect(r.code, r.err).toBe(0);
    expect(readdirSync(cwd)).toEqual([]);
    expect(existsSync(path.join(etc, 'fleet.sqlite'))).toBe(true);
    expect(existsSync(path.join(etc, 'work'))).toBe(true);
    expect(await withDb(path.join(etc, 'fleet.sqlite'), (db) => db.knex('hcore_gentity').count({ n: '*' }))).not.toEqual([{ n: 0 }]);
  });
});
