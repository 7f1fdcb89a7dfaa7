import { ConfigError } from '../errors.js';

/** The shortest `--every`: a tighter loop would only hammer the remotes. */
export const MIN_INTERVAL_MS = 10_000;
/** Default jitter: ±10 % of the interval. */
export const DEFAULT_JITTER_RATIO = 0.1;
/** setTimeout fires at once past 2^31-1 ms (~24.8 days); longer sleeps are taken in steps. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 } as const;
const INTERVAL = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/**
 * `--every`: `30s`, `15m`, `1h`, `2h30m`, `1d` (units d h m s, largest first, each at most
 * once) in milliseconds. A bare number is refused: minutes or seconds would be a guess.
 */
export function parseInterval(text: string): number {
  const trimmed = text.trim();
  const m = INTERVAL.exec(trimmed);
  if (!m || trimmed === '') throw new ConfigError(`--every ${text}: expected a duration like 30s, 15m, 1h or 2h30m`);
  const [, d, h, min, s] = m;
  const ms = Number(d ?? 0) * UNIT_MS.d + Number(h ?? 0) * UNIT_MS.h + Number(min ?? 0) * UNIT_MS.m + Number(s ?? 0) * UNIT_MS.s;
  if (ms < MIN_INTERVAL_MS) throw new ConfigError(`--every ${text}: the interval must be at least ${MIN_INTERVAL_MS / 1000}s`);
  return ms;
}

/** Options of `runEvery`. */
export interface RunEveryOptions {
  /** The pause varies by ± this share of the interval (default 0.1), so that sites started together drift apart. */
  jitterRatio?: number;
  /** Aborted: a pause ends at once; a run in progress is finished first. */
  signal: AbortSignal;
  /** How to pause; resolves early (or rejects) when `signal` aborts. Tests pass a fake. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** A number in [0, 1): Math.random unless a test says otherwise. */
  random?: () => number;
  /** Told before each pause how long it will be (the CLI says when the next run is). */
  onWait?: (ms: number) => void;
}

/**
 * Run `task`, pause `intervalMs` ± jitter (from the end of one run to the start of the next,
 * so two runs never overlap however long one takes), and repeat until `signal` aborts.
 * Resolves once stopped. The task handles its own failures: a rejection ends the loop and is
 * rethrown.
 */
export async function runEvery(intervalMs: number, task: () => Promise<unknown>, options: RunEveryOptions): Promise<void> {
  const ratio = options.jitterRatio ?? DEFAULT_JITTER_RATIO;
  if (!(intervalMs > 0) || !Number.isFinite(intervalMs)) throw new ConfigError(`runEvery: the interval must be a positive number of milliseconds, not ${intervalMs}`);
  if (!(ratio >= 0 && ratio < 1)) throw new ConfigError(`runEvery: jitterRatio must be at least 0 and below 1, not ${ratio}`);
  const { signal } = options;
  const sleep = options.sleep ?? abortableSleep;
  const random = options.random ?? Math.random;
  while (!signal.aborted) {
    await task();
    if (signal.aborted) break;
    const ms = Math.round(intervalMs * (1 + ratio * (2 * random() - 1)));
    options.onWait?.(ms);
    try {
      await sleep(ms, signal);
    } catch (error) {
      // A sleep that rejects on abort (like timers/promises) is a stop, not a failure.
      if (!signal.aborted) throw error;
    }
  }
}

/** Wait `ms`, or less if `signal` aborts first; always resolves. Keeps the process alive meanwhile. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const wait = (left: number) => {
      timer = setTimeout(() => (left > MAX_TIMEOUT_MS ? wait(left - MAX_TIMEOUT_MS) : done()), Math.min(left, MAX_TIMEOUT_MS));
    };
    signal.addEventListener('abort', done, { once: true });
    wait(ms);
  });
}
