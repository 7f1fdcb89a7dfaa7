import { mkdtempSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import type { DialectName } from '../../src/dialects/index.js';
import { fleetRemotes, runEvery, syncAll, type FleetEvent, type FleetResult } from '../../src/fleet/fleet.js';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';
import { assertIsomorphic, withDb } from '../helpers/inspect.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';

const manifest = loadManifest('hcore');
const SAMPLE_OBJECTS = 461;
// SQLite always; one PostgreSQL target when a server answers (the fleet adds nothing dialect-specific).
const dialects = (await availableDialects()).filter((d): d is DialectName => d === 'sqlite' || d === 'postgres');

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A TCP listener that only counts who connects: a disabled remote must see nobody. */
async function countingListener(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let count = 0;
  const server = net.createServer((socket) => {
    count++;
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, connections: () => count, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe.each(dialects)('a fleet synced into %s', (dialect) => {
  let east: TestInstance;
  let west: TestInstance;
  let disabled: Awaited<ReturnType<typeof countingListener>>;
  let downPort: number;
  let target: TestDatabase;
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-fleet-'));
  const env = { RSDB_EAST_TOKEN: 'east-s3cret' };
  const config = () => ({
    app: 'hcore',
    remotes: {
      // `east` wants a bearer token: it comes from the variable its entry names.
      east: { host: '127.0.0.1', port: east.port, exclude: ['UserProfile'], tokenEnv: 'RSDB_EAST_TOKEN' },
      down: { host: `127.0.0.1:${downPort}`, exclude: ['UserProfile'] },
      spare: { host: '127.0.0.1', port: disabled.port, enabled: false },
      // The older format: keyed by identity, nothing but a token.
      [`127.0.0.1:${west.port}`]: { exclude: ['UserProfile'] },
    },
  });

  beforeAll(async () => {
    [east, west, disabled, downPort, target] = await Promise.all([
      startInstance({ files: [SAMPLE_FIXTURE], tokens: ['east-s3cret'] }),
      startInstance({ files: [SAMPLE_FIXTURE] }),
      countingListener(),
      closedPort(),
      createDatabase(dialect),
    ]);
  });
  afterAll(async () => {
    await Promise.all([east?.close(), west?.close(), disabled?.close(), target?.drop()]);
  });

  it('replicates every live remote, records the down one as failed (exit 3) and never contacts a disabled one', async () => {
    const remotes = fleetRemotes(config(), env);
    const events: FleetEvent[] = [];
    const result = await syncAll(remotes, { app: 'hcore', db: target.url, workDir }, (e) => events.push(e));

    const byName = Object.fromEntries(result.outcomes.map((o) => [o.name, o]));
    expect(result.outcomes.map((o) => [o.name, o.status])).toEqual([
      ['east', 'success'], ['down', 'failed'], ['spare', 'skipped'], [`127.0.0.1:${west.port}`, 'success'],
    ]);
    expect(result.failed).toBe(1);
    expect(result.exitCode).toBe(3);
    expect(byName.down.remote).toBe(`127.0.0.1:${downPort}`);
    expect(byName.down.error).toMatchObject({ code: 'E_UNREACHABLE', exitCode: 3 });
    expect(byName.down.error!.message).toContain(`127.0.0.1:${downPort}`);
    expect(byName.spare).toMatchObject({ status: 'skipped', reason: 'disabled', remote: `127.0.0.1:${disabled.port}` });
    expect(disabled.connections()).toBe(0);

    for (const [instance, name] of [[east, 'east'], [west, `127.0.0.1:${west.port}`]] as const) {
      expect(byName[name].result).toMatchObject({ status: 'success', objects: SAMPLE_OBJECTS, remote: `127.0.0.1:${instance.port}` });
      expect(await assertIsomorphic(instance.db.url, target.url, manifest, `127.0.0.1:${instance.port}`)).toBe(SAMPLE_OBJECTS);
    }
    // Only the remotes that synced are registered: a failed run leaves the registry as it was.
    const registered = await withDb(target.url, async (db) => (await db.knex(manifest.registry).select('hostname').orderBy('hostname')).map((r) => r.hostname as string));
    expect(registered).toEqual([`127.0.0.1:${east.port}`, `127.0.0.1:${west.port}`].sort());

    // Each remote's sync events arrive tagged with its name, between its start and its end.
    const east0 = events.findIndex((e) => e.type === 'remote-start' && e.name === 'east');
    const eastDone = events.findIndex((e) => e.type === 'remote-done' && e.outcome.name === 'east');
    expect(events.slice(east0 + 1, eastDone).every((e) => e.type === 'sync-event' && e.name === 'east')).toBe(true);
    expect(events.slice(east0 + 1, eastDone)).toContainEqual({ type: 'sync-event', name: 'east', event: expect.objectContaining({ type: 'remote-up', remote: `127.0.0.1:${east.port}` }) });
    expect(events.some((e) => e.type === 'remote-start' && e.name === 'spare')).toBe(false);
  });

  it('without its token, only the remote that needs one fails (401), and the others still sync', async () => {
    const remotes = fleetRemotes(config(), env).map((r) => (r.name === 'east' ? { ...r, token: 'wrong-token' } : r));
    const result = await syncAll(remotes, { app: 'hcore', db: target.url, workDir });
    expect(result.outcomes.map((o) => [o.name, o.status])).toEqual([
      ['east', 'failed'], ['down', 'failed'], ['spare', 'skipped'], [`127.0.0.1:${west.port}`, 'success'],
    ]);
    expect(result.outcomes[0].error!.message).not.toContain('wrong-token');
    expect(result.outcomes[0].error!.message).toContain('401');
    // The first failure, east's refused token, decides the exit code.
    expect(result).toMatchObject({ failed: 2, exitCode: result.outcomes[0].error!.exitCode });
    expect(await assertIsomorphic(east.db.url, target.url, manifest, `127.0.0.1:${east.port}`)).toBe(SAMPLE_OBJECTS);
  });

  it.runIf(dialect === 'sqlite')('runEvery repeats the fleet until stopped, finishing the run in progress', async () => {
    const controller = new AbortController();
    const results: FleetResult[] = [];
    const live = fleetRemotes(config(), env).filter((r) => r.name !== 'down');
    await runEvery(50, async () => {
      if (results.length === 1) setTimeout(() => controller.abort(), 5);
      results.push(await syncAll(live, { app: 'hcore', db: target.url, workDir }));
    }, { signal: controller.signal });
    expect(results).toHaveLength(2);
    for (const result of results) expect(result).toMatchObject({ failed: 0, exitCode: 0 });
    // The second run was stopped while it ran, and still went through its remotes: unchanged.
    const second = results[1].outcomes.filter((o) => o.status === 'success');
    expect(second).toHaveLength(2);
    for (const o of second) expect(o.result!.models.every((m) => m.inserted === 0 && m.updated === 0)).toBe(true);
  });
});
