import { describe, expect, it } from 'vitest';
import { ConfigError, FetchError, RemoteUnreachableError } from '../../src/errors.js';
import { abortableSleep, fleetRemotes, fleetTokenFor, parseInterval, runEvery, syncAll, type FleetEvent, type FleetRemote } from '../../src/fleet/fleet.js';
import type { SyncResult } from '../../src/sync/events.js';
import type { SyncOptions } from '../../src/sync/sync.js';

const configError = (fn: () => unknown): ConfigError => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
};

describe('parseInterval', () => {
  it('reads s, m, h, d and combinations, largest unit first', () => {
    expect(parseInterval('30s')).toBe(30_000);
    expect(parseInterval('15m')).toBe(900_000);
    expect(parseInterval('1h')).toBe(3_600_000);
    expect(parseInterval('2h30m')).toBe(9_000_000);
    expect(parseInterval('1d')).toBe(86_400_000);
    expect(parseInterval('1m30s')).toBe(90_000);
    expect(parseInterval(' 10s ')).toBe(10_000);
  });

  it('refuses anything else, naming the flag', () => {
    for (const text of ['', '15', 'm', '15 m', '15min', '1.5h', '-5m', '30m2h', '1h1h', '15M', 'soon']) {
      expect(configError(() => parseInterval(text)).message, text).toContain(`--every ${text}: expected a duration like`);
    }
  });

  it('refuses less than 10 seconds', () => {
    for (const text of ['0s', '9s', '0m']) expect(configError(() => parseInterval(text)).message).toContain('at least 10s');
    expect(configError(() => parseInterval('5s')).exitCode).toBe(2);
  });
});

describe('fleetRemotes', () => {
  it('reads the full format with its defaults', () => {
    const remotes = fleetRemotes({
      remotes: {
        itia: { host: 'itia.hydroscope.gr', app: 'hcore', exclude: ['UserProfile'], tokenEnv: 'ITIA_TOKEN' },
        ntua: { host: 'https://openmeteo.ntua.gr', port: 8443, token: 't-ntua', enabled: false },
        'plain.example.org': {},
      },
    }, { ITIA_TOKEN: 't-itia' });
    expect(remotes).toEqual<FleetRemote[]>([
      { name: 'itia', host: 'itia.hydroscope.gr', app: 'hcore', exclude: ['UserProfile'], token: 't-itia', enabled: true },
      { name: 'ntua', host: 'https://openmeteo.ntua.gr', port: 8443, exclude: [], token: 't-ntua', enabled: false },
      { name: 'plain.example.org', host: 'plain.example.org', exclude: [], enabled: true },
    ]);
  });

  it('keeps the old host-keyed format working, for --all and for token lookup', () => {
    const config = { remotes: { 'old.example.org:8000': { token: 't-old' }, 'other.example.org': { token: 't-other' } } };
    expect(fleetRemotes(config, {})).toEqual([
      { name: 'old.example.org:8000', host: 'old.example.org:8000', exclude: [], token: 't-old', enabled: true },
      { name: 'other.example.org', host: 'other.example.org', exclude: [], token: 't-other', enabled: true },
    ]);
    const tokenFor = fleetTokenFor(config, {});
    expect(tokenFor('old.example.org:8000')).toBe('t-old');
    expect(tokenFor('other.example.org')).toBe('t-other');
    expect(tokenFor('old.example.org')).toBeUndefined();
  });

  it('finds a named entry by identity for a single -r sync, tokenEnv included, and never throws', () => {
    const config = { remotes: { itia: { host: 'ITIA.hydroscope.gr', port: 8000, tokenEnv: 'ITIA_TOKEN' }, ntua: { host: 'https://ntua.gr', token: 't' }, broken: 7 } };
    const tokenFor = fleetTokenFor(config, { ITIA_TOKEN: 't-itia' });
    expect(tokenFor('itia.hydroscope.gr:8000')).toBe('t-itia');
    expect(tokenFor('ntua.gr')).toBe('t');
    expect(tokenFor('itia')).toBeUndefined();
    expect(fleetTokenFor({ remotes: 'nonsense' }, {})('x')).toBeUndefined();
  });

  it('is an empty fleet without remotes', () => {
    expect(fleetRemotes({}, {})).toEqual([]);
  });

  it('lists every problem as remotes.<name>.<key>: message', () => {
    const error = configError(() => fleetRemotes({
      source: '/etc/rsdb.json',
      remotes: {
        a: { host: 'a.example.org', port: 70000, enabled: 'yes', exclude: 'UserProfile', colour: 'red' },
        b: { host: 'b.example.org', token: 'x', tokenEnv: 'B_TOKEN' },
        c: { host: 'c.example.org', tokenEnv: 'C_TOKEN' },
        d: { host: 'd.example.org', tokenEnv: 'not a name' },
        'My Remote': { token: 'x' },
        e: { host: 'ftp://e.example.org' },
        f: { host: 'f.example.org:8000', port: 9000 },
        g: 'g.example.org',
        h: { host: 'h.example.org', token: '', app: 3 },
      },
    }, {}));
    expect(error.message.split('\n')[0]).toBe('Config file /etc/rsdb.json:');
    const problems = error.message.split('\n').slice(1).map((l) => l.trim());
    expect(problems).toEqual([
      'remotes.a.colour: unknown key (known: host, port, app, exclude, token, tokenEnv, enabled)',
      'remotes.a.enabled: must be true or false',
      'remotes.a.port: must be an integer from 1 to 65535',
      'remotes.a.exclude: must be an array of model names, e.g. ["UserProfile"]',
      'remotes.b.tokenEnv: give "token" or "tokenEnv", not both',
      'remotes.c.tokenEnv: the environment variable C_TOKEN is not set (or empty)',
      'remotes.d.tokenEnv: must be the name of an environment variable, e.g. "ITIA_TOKEN"',
      expect.stringMatching(/^remotes\.My Remote\.host: missing, and the name is not a host \(My Remote: not a host name.*\); add "host": "\.\.\."$/),
      'remotes.e.host: ftp://e.example.org: only http:// and https:// remotes are supported',
      'remotes.f.port: 9000 contradicts the port 8000 in host "f.example.org:8000"; give it once',
      'remotes.g: must be an object { "host": ..., "token": ..., ... }',
      'remotes.h.app: must be a bundled app name or a manifest path',
      'remotes.h.token: must be a non-empty string',
    ]);
    expect(error.exitCode).toBe(2);
  });

  it('does not require the token variable of a disabled remote', () => {
    expect(fleetRemotes({ remotes: { c: { host: 'c.example.org', tokenEnv: 'C_TOKEN', enabled: false } } }, {})).toEqual([
      { name: 'c', host: 'c.example.org', exclude: [], enabled: false },
    ]);
  });

  it('refuses the same remote twice for the same app, unless one is disabled', () => {
    const twice = { a: { host: 'x.example.org:8000' }, b: { host: 'X.example.org', port: 8000 } };
    expect(configError(() => fleetRemotes({ remotes: twice }, {})).message).toContain('remotes.b: the same remote (x.example.org:8000) as remotes.a');
    expect(fleetRemotes({ remotes: { ...twice, b: { ...twice.b, enabled: false } } }, {})).toHaveLength(2);
    expect(fleetRemotes({ remotes: { a: { host: 'x.example.org', app: 'hcore' }, b: { host: 'x.example.org', app: './other.json' } } }, {})).toHaveLength(2);
  });

  it('refuses a remotes value that is not an object', () => {
    expect(configError(() => fleetRemotes({ remotes: ['a'] }, {})).message).toContain('remotes: must be an object name -> {');
  });
});

/** A fake sync: per remote host, a result or an error. */
function fakeRun(outcomes: Record<string, Error | undefined>, calls: SyncOptions[] = []) {
  return async (options: SyncOptions): Promise<SyncResult> => {
    calls.push(options);
    options.emit?.({ type: 'phase', phase: 'check', message: `Checking ${options.remote}` });
    const error = outcomes[options.remote];
    if (error) throw error;
    return { remote: options.remote, app: options.app, status: 'success', objects: 1, skipped: 0, fixtures: 1, models: [], workDir: '/w', durationMs: 1 };
  };
}

const remote = (name: string, extra: Partial<FleetRemote> = {}): FleetRemote => ({ name, host: `${name}.example.org`, exclude: [], enabled: true, ...extra });

describe('syncAll (with a fake sync)', () => {
  it('syncs every enabled remote in order, a failure not stopping the next, and skips disabled ones', async () => {
    const calls: SyncOptions[] = [];
    const events: FleetEvent[] = [];
    const run = fakeRun({ 'b.example.org': new RemoteUnreachableError('Remote b.example.org is unreachable', { meta: { remote: 'b.example.org' } }), 'd.example.org': new FetchError('d: 500') }, calls);
    const result = await syncAll(
      [remote('a', { token: 'ta', exclude: ['UserProfile'] }), remote('b'), remote('c', { enabled: false }), remote('d', { port: 8000 }), remote('e', { app: 'hcore' })],
      { app: 'hcore', db: 'x.sqlite', tokenFor: () => 'default' },
      (e) => events.push(e), { run },
    );
    expect(calls.map((c) => [c.remote, c.port, c.token, c.exclude, c.app, c.db])).toEqual([
      ['a.example.org', undefined, 'ta', ['UserProfile'], 'hcore', 'x.sqlite'],
      ['b.example.org', undefined, undefined, [], 'hcore', 'x.sqlite'],
      ['d.example.org', 8000, undefined, [], 'hcore', 'x.sqlite'],
      ['e.example.org', undefined, undefined, [], 'hcore', 'x.sqlite'],
    ]);
    // Without a token of its own, a remote falls back to the run's default.
    expect(calls[1].tokenFor?.('b.example.org')).toBe('default');
    expect(result.outcomes.map((o) => [o.name, o.remote, o.status, o.reason, o.error?.exitCode])).toEqual([
      ['a', 'a.example.org', 'success', undefined, undefined],
      ['b', 'b.example.org', 'failed', undefined, 3],
      ['c', 'c.example.org', 'skipped', 'disabled', undefined],
      ['d', 'd.example.org:8000', 'failed', undefined, 1],
      ['e', 'e.example.org', 'success', undefined, undefined],
    ]);
    expect(result.outcomes[1].error).toEqual({ code: 'E_UNREACHABLE', message: 'Remote b.example.org is unreachable', exitCode: 3, meta: { remote: 'b.example.org' } });
    expect(result).toMatchObject({ failed: 2, exitCode: 3 });
    expect(events.filter((e) => e.type !== 'sync-event').map((e) => (e.type === 'remote-start' ? `start ${e.name}` : e.type === 'remote-done' ? `done ${e.outcome.name}` : ''))).toEqual([
      'start a', 'done a', 'start b', 'done b', 'done c', 'start d', 'done d', 'start e', 'done e',
    ]);
    expect(events).toContainEqual({ type: 'sync-event', name: 'd', event: { type: 'phase', phase: 'check', message: 'Checking d.example.org' } });
  });

  it('exits 0 when all succeeded, 1 for an unexpected error', async () => {
    expect(await syncAll([remote('a')], { app: 'hcore' }, undefined, { run: fakeRun({}) })).toMatchObject({ failed: 0, exitCode: 0 });
    const result = await syncAll([remote('a')], { app: 'hcore' }, undefined, { run: fakeRun({ 'a.example.org': new TypeError('boom') }) });
    expect(result).toMatchObject({ failed: 1, exitCode: 1 });
    expect(result.outcomes[0].error).toEqual({ code: 'E_INTERNAL', message: 'boom', exitCode: 1 });
  });

  it('masks passwords and tokens in the messages it keeps', async () => {
    const run = fakeRun({ 'a.example.org': new FetchError('GET with Bearer s3cr3t-token from postgres://u:pw@h/db failed; token s3cr3t-token refused') });
    const result = await syncAll([remote('a', { token: 's3cr3t-token' })], { app: 'hcore' }, undefined, { run });
    const message = result.outcomes[0].error!.message;
    expect(message).not.toContain('s3cr3t');
    expect(message).not.toContain(':pw@');
    expect(message).toBe('GET with Bearer *** from postgres://u:***@h/db failed; token *** refused');
  });

  it('stops between remotes when its signal aborts: the current one finishes, the rest are skipped', async () => {
    const controller = new AbortController();
    const calls: SyncOptions[] = [];
    const inner = fakeRun({}, calls);
    const run = async (options: SyncOptions) => {
      const result = await inner(options);
      if (options.remote === 'a.example.org') controller.abort();
      return result;
    };
    const result = await syncAll([remote('a'), remote('b'), remote('c', { enabled: false })], { app: 'hcore' }, undefined, { run, signal: controller.signal });
    expect(calls).toHaveLength(1);
    expect(result.outcomes.map((o) => [o.name, o.status, o.reason])).toEqual([['a', 'success', undefined], ['b', 'skipped', 'stopped'], ['c', 'skipped', 'disabled']]);
    expect(result.exitCode).toBe(0);
  });

  it('refuses, before contacting anything, a fleet with nothing enabled or an unknown app or model', async () => {
    const calls: SyncOptions[] = [];
    const run = fakeRun({}, calls);
    await expect(syncAll([], { app: 'hcore' }, undefined, { run })).rejects.toThrow(/^No remotes to sync/);
    await expect(syncAll([remote('a', { enabled: false })], { app: 'hcore' }, undefined, { run })).rejects.toThrow('No enabled remote to sync: a is "enabled": false');
    const error = await syncAll([remote('a', { exclude: ['Nope'] }), remote('b', { app: 'nosuchapp' }), remote('c'), remote('d', { exclude: ['Bad'], enabled: false })], { app: 'hcore' }, undefined, { run }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const lines = (error as Error).message.split('\n').map((l) => l.trim());
    expect(lines[0]).toBe('The fleet cannot run:');
    expect(lines[1]).toMatch(/^remotes\.a\.exclude: unknown model\(s\) Nope in app hcore/);
    expect(lines[2]).toMatch(/^remotes\.b\.app: Unknown app "nosuchapp"/);
    expect(lines).toHaveLength(3);
    await expect(syncAll([remote('a')], {}, undefined, { run })).rejects.toThrow('remotes.a.app: no app given, here or with -a');
    expect(calls).toEqual([]);
  });
});

describe('runEvery', () => {
  /** A fake sleep that records pauses, aborting after `stopAfter` of them. */
  function fakeSleep(controller: AbortController, stopAfter: number) {
    const pauses: number[] = [];
    const sleep = async (ms: number, signal: AbortSignal) => {
      expect(signal).toBe(controller.signal);
      pauses.push(ms);
      if (pauses.length >= stopAfter) controller.abort();
    };
    return { pauses, sleep };
  }

  it('runs, pauses interval ± jitter, and repeats until aborted', async () => {
    const controller = new AbortController();
    const { pauses, sleep } = fakeSleep(controller, 3);
    const randoms = [0, 0.5, 0.999999];
    let runs = 0;
    const waits: number[] = [];
    await runEvery(60_000, async () => { runs++; }, { signal: controller.signal, sleep, jitterRatio: 0.1, random: () => randoms[(runs - 1) % 3], onWait: (ms) => waits.push(ms) });
    expect(runs).toBe(3);
    expect(pauses).toEqual([54_000, 60_000, 66_000]);
    expect(waits).toEqual(pauses);
  });

  it('keeps every pause within the jitter with Math.random', async () => {
    const controller = new AbortController();
    const { pauses, sleep } = fakeSleep(controller, 200);
    await runEvery(900_000, async () => {}, { signal: controller.signal, sleep });
    expect(pauses).toHaveLength(200);
    for (const ms of pauses) expect(ms >= 810_000 && ms <= 990_000, String(ms)).toBe(true);
    expect(new Set(pauses).size).toBeGreaterThan(1);
  });

  it('never runs when already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    let runs = 0;
    await runEvery(10_000, async () => { runs++; }, { signal: controller.signal, sleep: async () => {} });
    expect(runs).toBe(0);
  });

  it('an abort during a run ends after that run, without another pause', async () => {
    const controller = new AbortController();
    const { pauses, sleep } = fakeSleep(controller, 99);
    let runs = 0;
    let finished = 0;
    await runEvery(10_000, async () => {
      runs++;
      if (runs === 2) controller.abort();
      await new Promise((r) => setTimeout(r, 5));
      finished++;
    }, { signal: controller.signal, sleep });
    expect([runs, finished, pauses.length]).toEqual([2, 2, 1]);
  });

  it('an abort during a pause ends at once, with the real sleep', async () => {
    const controller = new AbortController();
    let runs = 0;
    const started = Date.now();
    setTimeout(() => controller.abort(), 30);
    await runEvery(3_600_000, async () => { runs++; }, { signal: controller.signal });
    expect(runs).toBe(1);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('treats a sleep that rejects on abort as a stop', async () => {
    const controller = new AbortController();
    let runs = 0;
    const sleep = async (_ms: number, signal: AbortSignal) => {
      controller.abort();
      throw signal.reason;
    };
    await runEvery(10_000, async () => { runs++; }, { signal: controller.signal, sleep });
    expect(runs).toBe(1);
  });

  it('never overlaps two runs, however slow a run is', async () => {
    const controller = new AbortController();
    const { sleep } = fakeSleep(controller, 5);
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    await runEvery(10_000, async () => {
      running++;
      runs++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setTimeout(r, 10));
      running--;
    }, { signal: controller.signal, sleep });
    expect(runs).toBe(5);
    expect(maxRunning).toBe(1);
  });

  it('ends with the rejection of a task that fails', async () => {
    const controller = new AbortController();
    let runs = 0;
    await expect(runEvery(10_000, async () => { runs++; throw new Error('bad config'); }, { signal: controller.signal, sleep: async () => {} })).rejects.toThrow('bad config');
    expect(runs).toBe(1);
  });

  it('refuses a nonsensical interval or jitter', async () => {
    const signal = new AbortController().signal;
    await expect(runEvery(0, async () => {}, { signal })).rejects.toThrow(ConfigError);
    await expect(runEvery(10_000, async () => {}, { signal, jitterRatio: 1 })).rejects.toThrow(/jitterRatio/);
  });
});

describe('abortableSleep', () => {
  it('waits, or resolves at once when aborted', async () => {
    const controller = new AbortController();
    let started = Date.now();
    await abortableSleep(20, controller.signal);
    expect(Date.now() - started).toBeGreaterThanOrEqual(15);
    started = Date.now();
    const pending = abortableSleep(60_000, controller.signal);
    controller.abort();
    await pending;
    expect(Date.now() - started).toBeLessThan(1000);
    await abortableSleep(60_000, controller.signal);
  });
});
