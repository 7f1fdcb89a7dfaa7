import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loaddata } from '../../src/admin/loaddata.js';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { sync } from '../../src/sync/sync.js';
import { availableDialects, createDatabase } from '../helpers/databases.js';
import { assertIsomorphic, withDb } from '../helpers/inspect.js';
import { startInstance } from '../helpers/instance.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/remotesyncdb.js');
const manifest = loadManifest('hcore');
const dialects = await availableDialects();
const CLIENTS = 50;
const OBJECTS = 40_000;

describe('serve under load', () => {
  it(`answers ${CLIENTS} clients fetching the largest model at once, with bounded memory`, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-load-'));
    const file = path.join(dir, 'variables.json');
    writeFileSync(file, JSON.stringify(Array.from({ length: OBJECTS }, (_, i) => ({ model: 'hcore.variable', pk: i + 1, fields: { descr: `Μεταβλητή αριθμός ${i}`, descr_alt: `variable number ${i}` } }))));
    const db = path.join(dir, 'source.sqlite');
    await loaddata({ app: 'hcore', db, files: [file] });
    const server = spawn(process.execPath, [BIN, 'serve', '--db', db, '--port', '0', '--max-streams', '8'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        server.stdout.on('data', (c) => {
          out += c;
          const m = /127\.0\.0\.1:(\d+)\/api\//.exec(out);
          if (m) resolve(Number(m[1]));
        });
        server.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
      });
      let busy = 0;
      // One connection per client (no shared agent), so that they really arrive at once.
      const get = () => new Promise<{ status: number; body: string }>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/api/Variable/', agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        }).on('error', reject);
      });
      const client = async (): Promise<number> => {
        for (let attempt = 0; attempt < 400; attempt++) {
          const response = await get();
          if (response.status === 503) {
            busy++;
            await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
            continue;
          }
          expect(response.status).toBe(200);
          return (JSON.parse(response.body) as unknown[]).length;
        }
        throw new Error('never served');
      };
      const counts = await Promise.all(Array.from({ length: CLIENTS }, client));
      expect(counts).toEqual(Array(CLIENTS).fill(OBJECTS));
      expect(busy).toBeGreaterThan(0);
      const peakKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))![1]);
      expect(peakKb / 1024).toBeLessThan(256);
    } finally {
      server.kill('SIGTERM');
    }
  }, 120_000);
});

describe.each(dialects.filter((d) => d !== 'sqlite'))('a sync beside other writers on %s', (dialect) => {
  it('commits while another connection keeps writing local rows, and loses none of them', async () => {
    const source = await startInstance({ files: [SAMPLE_FIXTURE] });
    const target = await createDatabase(dialect);
    try {
      await sync({ app: 'hcore', remote: '127.0.0.1', port: source.port, exclude: ['UserProfile'], db: target.url, workDir: mkdtempSync(path.join(os.tmpdir(), 'rsdb-w-')), noBackups: true });
      let writing = true;
      let written = 0;
      const writer = withDb(target.url, async (db) => {
        while (writing) {
          await db.knex('hcore_variable').insert({ descr: `local ${written}`, descr_alt: '', last_modified: '2026-01-01 00:00:00' });
          written++;
        }
      });
      const result = await sync({ app: 'hcore', remote: '127.0.0.1', port: source.port, exclude: ['UserProfile'], db: target.url, workDir: mkdtempSync(path.join(os.tmpdir(), 'rsdb-w-')), full: true });
      writing = false;
      await writer;
      expect(result.status).toBe('success');
      expect(written).toBeGreaterThan(0);
      await assertIsomorphic(source.db.url, target.url, manifest, `127.0.0.1:${source.port}`);
      const local = await withDb(target.url, async (db) => Number((await db.knex('hcore_variable').whereNull('original_db_id').where('descr', 'like', 'local %').count({ n: '*' }))[0].n));
      expect(local).toBe(written);
    } finally {
      await source.close();
      await target.drop();
    }
  }, 60_000);
});
