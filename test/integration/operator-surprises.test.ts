import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/index.js';
import { cli } from '../helpers/cli.js';
import { tableDigests } from '../helpers/inspect.js';
import { sourceAndTarget } from '../helpers/instance.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';

const manifest = loadManifest('hcore');
const tmp = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

/** `serve` in-process until `stop()`: its port, and what it printed on stderr so far. */
async function serveCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c) => (out += c));
  stderr.on('data', (c) => (err += c));
  let stop!: () => void;
  const stopSignal = new Promise<void>((r) => (stop = r));
  const done = main(['serve', '--port', '0', ...args], { stdout, stderr, env, stopSignal });
  for (let i = 0; i < 100 && !/:(\d+)\/api\//.test(out); i++) await new Promise((r) => setTimeout(r, 50));
  const port = Number(/:(\d+)\/api\//.exec(out)?.[1]);
  return { port, err: () => err, stop: async () => { stop(); return done; } };
}

// Issue 14.9: the quietly surprising things.
describe('quietly surprising', () => {
  const pair = sourceAndTarget();

  it('warns when a new remote reports the instance of a registered one on the same port', async () => {
    const workDir = tmp('rsdb-twin-');
    const first = await cli(['-r', '127.0.0.1', '-p', String(pair.source.port), '-e', 'UserProfile', '--db', pair.target.url, '-w', workDir]);
    expect(first.code, first.err).toBe(0);
    expect(first.err).toBe('');
    const twin = await cli(['-r', 'localhost', '-p', String(pair.source.port), '-e', 'UserProfile', '--db', pair.target.url, '-w', workDir, '--dry-run']);
    expect(twin.code, twin.err).toBe(0);
    expect(twin.err).toContain(`registered remote "127.0.0.1:${pair.source.port}"`);
    expect(twin.err).toContain(`-r 127.0.0.1:${pair.source.port}`);
  });

  it('refuses conflicting flags with exit 2 before touching anything', async () => {
    const before = await tableDigests(pair.target.url, manifest);
    for (const args of [['-r', '127.0.0.1', '-p', String(pair.source.port), '-S', '--json'], ['-r', `127.0.0.1:1`, '-p', String(pair.source.port)], ['-r', '127.0.0.1', '-p', String(pair.source.port), '-R', '-F']]) {
      const r = await cli([...args, '-e', 'UserProfile', '--db', pair.target.url, '-w', tmp('rsdb-w-')]);
      expect(r.code, args.join(' ')).toBe(2);
    }
    expect(await tableDigests(pair.target.url, manifest)).toEqual(before);
  });

  it('dumpdata takes Django labels (hcore.station), --indent and -o', async () => {
    const labelled = await cli(['dumpdata', 'hcore.station', 'Variable', '--db', pair.source.db.url]);
    expect(labelled.code, labelled.err).toBe(0);
    const objects = JSON.parse(labelled.out) as Array<{ model: string }>;
    expect(new Set(objects.map((o) => o.model))).toEqual(new Set(['hcore.station', 'hcore.variable']));
    const file = path.join(tmp('rsdb-dump-'), 'stations.json');
    const written = await cli(['dumpdata', 'hcore.Station', '--indent', '2', '-o', file, '--db', pair.source.db.url]);
    expect(written.code, written.err).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^\[\n\{\n {2}"model": "hcore.station",/);
    expect(JSON.parse(text)).toEqual(objects.filter((o) => o.model === 'hcore.station'));
    expect((await cli(['dumpdata', 'other.station', '--db', pair.source.db.url])).code).toBe(2);
  });

  it('serve logs every request at -v 2 and every refusal at -v 1, on stderr, never a token', async () => {
    const env = { REMOTESYNCDB_SERVE_TOKENS: 'the-serve-token' };
    const loud = await serveCli(['--db', pair.source.db.url, '-v', '2'], env);
    const quiet = await serveCli(['--db', pair.source.db.url], env);
    try {
      for (const port of [loud.port, quiet.port]) {
        const base = `http://127.0.0.1:${port}/api`;
        expect((await fetch(`${base}/`, { headers: { authorization: 'Bearer the-serve-token' } })).status).toBe(200);
        expect((await fetch(`${base}/Nope/`, { headers: { authorization: 'Bearer the-serve-token' } })).status).toBe(404);
        expect((await fetch(`${base}/Station/`, { headers: { authorization: 'Bearer a-wrong-secret' } })).status).toBe(401);
      }
      await new Promise((r) => setTimeout(r, 100));
      expect(loud.err()).toMatch(/GET \/api\/ 200/);
      for (const s of [loud, quiet]) {
        expect(s.err()).toMatch(/GET \/api\/Nope\/ 404/);
        expect(s.err()).toMatch(/GET \/api\/Station\/ 401/);
        expect(s.err()).not.toMatch(/the-serve-token|a-wrong-secret/);
      }
      expect(quiet.err()).not.toMatch(/ 200 /);
    } finally {
      expect(await loud.stop()).toBe(0);
      expect(await quiet.stop()).toBe(0);
    }
  });
});
