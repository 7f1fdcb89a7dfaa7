import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/dialects/index.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { sync } from '../../src/sync/sync.js';
import { tableDigests } from '../helpers/inspect.js';
import { canRunMariadb, canRunPostgres, startPrivateMariadb, startPrivatePostgres, type PrivateServer } from '../helpers/private-servers.js';
import { startStaticRemote } from '../helpers/static-remote.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/remotesyncdb.js');
const manifest = loadManifest('hcore');
const IS_CI = process.env.CI === 'true';
const others = [...manifest.models.keys()].filter((m) => m !== 'Variable');

const servers: Array<[string, boolean, () => Promise<PrivateServer>]> = [
  ['postgres', canRunPostgres, startPrivatePostgres],
  ['mysql', canRunMariadb, startPrivateMariadb],
];

describe.each(servers)('the %s server restarted mid-install', (name, available, start) => {
  // Under CI=true a server that cannot be started is a failure, never a skip.
  it.skipIf(!available && !IS_CI)('fails the run with a clear message and leaves every table as it was', async () => {
    const server = await start();
    const objects = Array.from({ length: 80_000 }, (_, i) => ({ model: 'hcore.variable', pk: i + 1, fields: { descr: `Μεταβλητή ${i}`, descr_alt: '' } }));
    const remote = await startStaticRemote('hcore', ['Variable'], { Variable: objects });
    try {
      const admin = openDatabase(server.url);
      await admin.knex.raw(name === 'postgres' ? 'CREATE DATABASE target' : 'CREATE DATABASE target CHARACTER SET utf8mb4');
      await admin.knex.destroy();
      const target = server.url.replace(/\/(postgres|mysql)$/, '/target');
      const stage = mkdtempSync(path.join(os.tmpdir(), 'rsdb-restart-'));
      // Tables and a first small state, then the big fixture staged.
      remote.set('Variable', objects.slice(0, 10));
      await sync({ app: 'hcore', remote: `127.0.0.1:${remote.port}`, exclude: others, db: target, workDir: stage, noBackups: true });
      remote.set('Variable', objects);
      await sync({ app: 'hcore', remote: `127.0.0.1:${remote.port}`, exclude: others, db: target, workDir: stage, fetchOnly: true, full: true });
      const before = await tableDigests(target, manifest);

      const child = spawn(process.execPath, [BIN, '-r', `127.0.0.1:${remote.port}`, '-e', others.join(','), '--db', target, '-w', stage, '-N', '-R', '-v', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stderr.on('data', (c) => (err += c));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      await new Promise<void>((resolve) => child.stdout.on('data', (chunk) => {
        out += chunk;
        if (out.includes('installing Variable')) setTimeout(resolve, 200);
      }));
      await server.crashAndRestart();
      expect(await exited).toBe(1);
      if (process.env.RSDB_SHOW) console.log(err);
      expect(err).toMatch(/remotesyncdb: error: .*(terminat|connection|closed|lost|shut|ECONNRESET|gone away)/i);
      expect(out).toContain('Rolling back');
      expect(await tableDigests(target, manifest)).toEqual(before);
      // And the next run goes through.
      const again = await sync({ app: 'hcore', remote: `127.0.0.1:${remote.port}`, exclude: others, db: target, workDir: stage, noBackups: true, resume: true });
      expect(again.objects).toBe(80_000);
    } finally {
      await remote.close();
      await server.stop();
    }
  }, 120_000);
});
