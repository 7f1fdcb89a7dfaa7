import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nowDatetime } from '../../src/values/values.js';
import { cli } from '../helpers/cli.js';
import { withDb } from '../helpers/inspect.js';
import { sourceAndTarget } from '../helpers/instance.js';

// Issue 14.7, 14.8, 14.9 (-s -S): the closing line counts what changed; tables read and parse; a cron run that skipped says so.
describe('what a run says', () => {
  const pair = sourceAndTarget();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-out-'));
  const sync = (...extra: string[]) => cli(['-r', '127.0.0.1', '-p', String(pair.source.port), '-e', 'UserProfile', '--db', pair.target.url, '-w', workDir, ...extra]);

  it('says received, inserted, updated, deleted, skipped, unchanged, and N = objects written', async () => {
    const first = await sync();
    expect(first.out).toContain('Received 461 objects: 461 inserted, 0 updated, 0 deleted, 0 skipped, 0 unchanged.');
    expect(first.out).toContain('Successfully installed 461 objects from 26 fixtures.');
    const again = await sync('-F');
    expect(again.out).toContain('Received 461 objects: 0 inserted, 0 updated, 0 deleted, 0 skipped, 461 unchanged.');
    expect(again.out).toContain('Successfully installed 0 objects from 26 fixtures.');

    await withDb(pair.source.db.url, (db) => db.knex('hcore_variable').insert({ id: 950, descr: 'short-lived', descr_alt: '', last_modified: nowDatetime() }));
    await withDb(pair.source.db.url, (db) => db.knex('hcore_gentity').where({ id: 8 }).update({ name: 'renamed', last_modified: nowDatetime() }));
    const dry = await sync('--dry-run', '-F');
    expect(dry.out).toContain('would insert 1, update 1, delete 0, skip 0; 460 unchanged.');
    expect(dry.out).toContain('Dry run: 2 objects from 26 fixtures would be installed; nothing was written.');
    expect((await sync()).out).toContain('Successfully installed 2 objects');

    await withDb(pair.source.db.url, (db) => db.knex('hcore_variable').where({ id: 950 }).del());
    const pruned = await sync('--prune', '-F');
    expect(pruned.out).toContain('Received 461 objects: 0 inserted, 0 updated, 1 deleted, 0 skipped, 461 unchanged.');
    expect(pruned.out).toContain('Successfully installed 1 objects');
  });

  it('-s -S that left objects out: one line on stderr with the count and the rejects file, exit 0; history agrees', async () => {
    await withDb(pair.source.db.url, (db) => db.knex('hcore_station').where({ gpoint_ptr_id: 3 }).update({ start_date: 'not a date' }));
    try {
      const silent = await sync('-s', '-S', '-F');
      expect(silent.code).toBe(0);
      expect(silent.out).toBe('');
      const lines = silent.err.trim().split('\n');
      expect(lines).toHaveLength(1);
      const skipped = Number(/left out (\d+) object/.exec(lines[0])?.[1]);
      expect(skipped).toBeGreaterThan(0);
      expect(lines[0]).toContain(path.join(`127.0.0.1_${pair.source.port}`, 'hcore', 'rejects.txt'));
      const runs = JSON.parse((await cli(['history', '--json', '--limit', '1', '--db', pair.target.url])).out);
      expect(runs[0].counts).toMatchObject({ skipped, written: 0 });
      expect(runs[0].objects).toBe(0);
    } finally {
      await withDb(pair.source.db.url, (db) => db.knex('hcore_station').where({ gpoint_ptr_id: 3 }).update({ start_date: '2001-01-01' }));
    }
  });

  it('history and remote list: TSV with a header when piped, aligned columns on a terminal, JSON with real objects', async () => {
    const piped = await cli(['history', '--db', pair.target.url]);
    const rows = piped.out.replace(/\n$/, '').split('\n').map((l) => l.split('\t'));
    expect(rows[0].slice(0, 6)).toEqual(['id', 'started', 'finished', 'remote', 'app', 'status']);
    expect(rows.length).toBeGreaterThan(2);
    expect(rows.every((r) => r.length === rows[0].length)).toBe(true);
    expect(piped.out).not.toMatch(/^\[\d{4}-/m);

    const tty = await cli(['history', '--db', pair.target.url], {}, { isTTY: true });
    const lines = tty.out.trim().split('\n');
    expect(lines[0]).toMatch(/^id +started +finished +remote +app +status +received/);
    const at = lines[0].indexOf('status');
    expect(lines.slice(1).every((l) => /^(success|failed)/.test(l.slice(at)))).toBe(true);

    const json = JSON.parse((await cli(['history', '--json', '--db', pair.target.url])).out);
    expect(typeof json[0].counts).toBe('object');
    expect(json[0].counts.received).toBe(461);

    const remotes = await cli(['remote', 'list', '--json', '--db', pair.target.url]);
    expect(remotes.code, remotes.err).toBe(0);
    expect(JSON.parse(remotes.out)).toEqual([expect.objectContaining({ hostname: `127.0.0.1:${pair.source.port}` })]);
    const list = (await cli(['remote', 'list', '--db', pair.target.url])).out.trim().split('\n');
    expect(list[0]).toBe('name\thostname\tlast_sync\tdescr');

    const negative = await cli(['history', '--limit', '-3', '--db', pair.target.url]);
    expect(negative.code).toBe(2);
    expect(negative.err).toContain('--limit');
  });
});
