import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { sync } from '../../src/sync/sync.js';
import { cli } from '../helpers/cli.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';
import { tableDigests, withDb } from '../helpers/inspect.js';
import { nowDatetime } from '../../src/values/values.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';

const dialects = await availableDialects();
const manifest = loadManifest('hcore');

// Issue 14.1: a backup knows its database; restore into another is refused; backups of two databases never mix.
describe.each(dialects)('backups and restore on %s', (dialect) => {
  let source: TestInstance;
  let a: TestDatabase;
  let b: TestDatabase;
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-restore-'));
  const run = (db: string, extra: Partial<Parameters<typeof sync>[0]> = {}) => sync({ app: 'hcore', remote: '127.0.0.1', port: source.port, exclude: ['UserProfile'], db, workDir, ...extra });
  const backupsOf = (dir: string) => readdirSync(path.join(dir, 'backups')).filter((n) => n.startsWith('backup-')).sort();

  beforeAll(async () => {
    source = await startInstance({ files: [SAMPLE_FIXTURE] });
    a = await createDatabase(dialect);
    b = await createDatabase(dialect);
  });
  afterAll(async () => {
    await source?.close();
    await a?.drop();
    await b?.drop();
  });

  it('refuses a backup of another database (exit 2, nothing touched) unless --force, and snapshots what it replaces', async () => {
    const ra = await run(a.url);
    const rb = await run(b.url);
    expect(ra.workDir).not.toBe(rb.workDir);
    // A's first backup is of an empty database: restored into B, it would wipe B.
    const file = path.join(ra.workDir, 'backups', backupsOf(ra.workDir)[0]);
    const before = await tableDigests(b.url, manifest);
    const refused = await cli(['restore', file, '--db', b.url, '-w', workDir]);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('--force');
    expect(await tableDigests(b.url, manifest)).toEqual(before);

    const forced = await cli(['restore', file, '--db', b.url, '-w', workDir, '--force']);
    expect(forced.code, forced.err).toBe(0);
    const snapshot = /Saved the tables as they were in (\S+)/.exec(forced.out)?.[1];
    expect(snapshot && existsSync(snapshot)).toBe(true);
    expect(await withDb(b.url, (db) => db.knex('hcore_gentity').count({ n: '*' }))).toEqual([{ n: 0 }]);
    // The snapshot is B's own: restoring it undoes the restore, no --force needed.
    const undo = await cli(['restore', snapshot!, '--db', b.url, '-w', workDir]);
    expect(undo.code, undo.err).toBe(0);
    expect(await tableDigests(b.url, manifest)).toEqual(before);
  });

  it('a run that changed nothing keeps no backup and rotates out none', async () => {
    await withDb(source.db.url, (db) => db.knex('hcore_gentity').where({ id: 8 }).update({ name: 'changed once', last_modified: nowDatetime() }));
    const changed = await run(a.url, { keepBackups: 2 });
    const kept = backupsOf(changed.workDir);
    for (let i = 0; i < 3; i++) await run(a.url, { keepBackups: 2 });
    expect(backupsOf(changed.workDir)).toEqual(kept);
  });
});
