import { execFileSync } from 'node:child_process';
import https from 'node:https';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { findRemote } from '../../src/sync/registry.js';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loaddata } from '../../src/admin/loaddata.js';
import { main } from '../../src/cli/index.js';
import { RemoteUnreachableError } from '../../src/errors.js';
import { serve } from '../../src/server/serve.js';
import { startConsole } from '../../src/console/console-server.js';
import { sync } from '../../src/sync/sync.js';
import { createDatabase } from '../helpers/databases.js';
import { withDb } from '../helpers/inspect.js';
import { startInstance } from '../helpers/instance.js';

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  stdout.on('data', (c) => (out += c));
  stderr.on('data', (c) => (out += c));
  const code = await main(args, { stdout, stderr, env });
  return { code, out };
}

/** A self-signed certificate for 127.0.0.1 and its key, and a SQLite database holding the sample, in a new directory. */
async function tlsFixture(prefix: string): Promise<{ dir: string; key: string; cert: string; db: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const db = path.join(dir, 'source.sqlite');
  await loaddata({ app: 'hcore', db, files: [SAMPLE_FIXTURE] });
  return { dir, key, cert, db };
}

describe('TLS and secrets', () => {
  it('serves https with --tls-cert/--tls-key, and a sync trusts it only with --ca', async () => {
    const { dir, key, cert, db: source } = await tlsFixture('rsdb-tls-');
    const server = await serve({ app: 'hcore', db: source, port: 0, tls: { cert: readFileSync(cert), key: readFileSync(key) } });
    const target = await createDatabase('sqlite');
    try {
      const untrusted = await sync({ app: 'hcore', remote: `https://127.0.0.1:${server.port}`, exclude: ['UserProfile'], db: target.url, workDir: dir }).catch((e: unknown) => e);
      expect(untrusted).toBeInstanceOf(RemoteUnreachableError);
      expect((untrusted as Error).message).toMatch(/self.signed|certificate/i);
      const r = await cli(['-r', `https://127.0.0.1:${server.port}`, '-e', 'UserProfile', '--ca', cert, '--db', target.url, '-w', dir, '-v', '0']);
      expect(r.out).toContain('Successfully installed 461 objects from 26 fixtures.');
      expect(r.code).toBe(0);
      const remote = await withDb(target.url, (db) => findRemote(db.knex, 'dbsync_database', `127.0.0.1:${server.port}`, '', true));
      expect(remote!.hostname).toBe(`127.0.0.1:${server.port}`);
      expect(Boolean(remote!.is_tls)).toBe(true);
    } finally {
      await server.close();
      await target.drop();
    }
  });

  it('never prints a bearer token or a database password', async () => {
    const source = await startInstance({ files: [], tokens: ['the-right-token'] });
    try {
      const wrong = await cli(['-r', '127.0.0.1', '-p', String(source.port), '--db', path.join(mkdtempSync(path.join(os.tmpdir(), 'rsdb-s-')), 'x.sqlite'), '--json'], { REMOTESYNCDB_TOKEN: 'supersecret-token-value' });
      // Reachable and refusing: a configuration error (issue 14.6).
      expect(wrong.code).toBe(2);
      expect(wrong.out).toContain('401');
      expect(wrong.out).not.toContain('supersecret-token-value');
      const db = await cli(['-r', '127.0.0.1', '-p', '1', '--db', 'postgres://someone:hunter2@127.0.0.1:1/nothing', '-v', '2']);
      expect(db.code).toBe(2);
      expect(db.out).toContain('Cannot use the local database postgres://someone:***@127.0.0.1:1/nothing');
      expect(db.out).not.toContain('hunter2');
    } finally {
      await source.close();
    }
  });

  it('the console serves https with a certificate, as serve does', async () => {
    const { key, cert, db } = await tlsFixture('rsdb-tls-console-');
    const server = await startConsole({ app: 'hcore', db, port: 0, tls: { cert: readFileSync(cert), key: readFileSync(key) } });
    try {
      expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const page = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        https.get(`${server.url}/`, { ca: readFileSync(cert) }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        }).on('error', reject);
      });
      expect(page.status).toBe(200);
      expect(page.body).toContain('<h1>Fleet</h1>');
      // Not trusted without the certificate.
      await expect(new Promise((resolve, reject) => https.get(`${server.url}/`, resolve).on('error', reject))).rejects.toThrow(/self-signed|certificate/);
    } finally {
      await server.close();
    }
  });
});
