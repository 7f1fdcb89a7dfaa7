import { ConfigError } from '../errors.js';
import { parseRemote } from '../sources/remote-endpoint.js';

/**
 * One remote of the fleet, from an entry of `remotes` in the config file:
 *
 * ```json
 * { "remotes": {
 *     "itia":  { "host": "itia.hydroscope.gr", "app": "hcore", "exclude": ["UserProfile"], "tokenEnv": "ITIA_TOKEN" },
 *     "ntua":  { "host": "https://openmeteo.ntua.gr", "port": 8443, "token": "...", "enabled": false },
 *     "old.example.org:8000": { "token": "..." } } }
 * ```
 *
 * The last entry is the older format (keyed by identity `host[:port]`, only a token): it still
 * works, as a remote whose host is its key.
 */
export interface FleetRemote {
  /** The key of its entry in `remotes`. */
  name: string;
  /** What `-r` would say: a host, `host:port`, `http(s)://host`, or a registered name; default the key. */
  host: string;
  port?: number;
  /** Default: the run's app (`-a`, else the config's `app`). */
  app?: string;
  exclude: string[];
  /** Its own bearer token (`token`, or the variable `tokenEnv` names); else the run's default applies. */
  token?: string;
  /** Default true; a disabled remote is listed but never contacted. */
  enabled: boolean;
}

/** The part of a config file (`ConfigFile` of src/config.ts) the fleet reads. */
export interface FleetConfig {
  /** Where the config was read from, for messages. */
  source?: string;
  remotes?: unknown;
}

const KNOWN_KEYS = ['host', 'port', 'app', 'exclude', 'token', 'tokenEnv', 'enabled'];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

type Entry = Record<string, unknown>;
const isObject = (v: unknown): v is Entry => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';

/**
 * The remotes of a config file, in the file's order, validated; `tokenEnv` is resolved from
 * `env`. Every problem is collected first and reported in one ConfigError (exit 2) as
 * `remotes.<name>.<key>: message`. No `remotes` at all is an empty fleet.
 */
export function fleetRemotes(config: FleetConfig, env: NodeJS.ProcessEnv): FleetRemote[] {
  if (config.remotes === undefined) return [];
  const where = config.source ? `Config file ${config.source}` : 'Config';
  if (!isObject(config.remotes)) throw new ConfigError(`${where}:\n  remotes: must be an object name -> { "host": ..., "port": ..., "app": ..., "exclude": [...], "token" or "tokenEnv": ..., "enabled": ... }`, { meta: { file: config.source } });
  const problems: string[] = [];
  const remotes: FleetRemote[] = [];
  const seen = new Map<string, string>();
  for (const [name, entry] of Object.entries(config.remotes)) {
    const remote = parseEntry(name, entry, env, (key, message) => problems.push(`remotes.${name}${key ? `.${key}` : ''}: ${message}`));
    if (!remote) continue;
    remotes.push(remote);
    // The same remote twice for the same app would sync it twice per run, the second under the
    // first's lock-step: almost certainly a copy-and-paste slip.
    const identity = identityOf(remote);
    const key = `${identity}\u0000${remote.app ?? ''}`;
    if (remote.enabled && identity && seen.has(key)) problems.push(`remotes.${name}: the same remote (${identity}${remote.app ? `, app ${remote.app}` : ''}) as remotes.${seen.get(key)}; disable one with "enabled": false`);
    else if (remote.enabled && identity) seen.set(key, name);
  }
  if (problems.length > 0) throw new ConfigError(`${where}:\n  ${problems.join('\n  ')}`, { meta: { file: config.source } });
  return remotes;
}

/** Validate one entry; `undefined` when it is not even an object. */
function parseEntry(name: string, entry: unknown, env: NodeJS.ProcessEnv, problem: (key: string, message: string) => void): FleetRemote | undefined {
  if (name.trim() === '') problem('', 'a remote needs a non-empty name');
  if (!isObject(entry)) {
    problem('', 'must be an object { "host": ..., "token": ..., ... }');
    return undefined;
  }
  for (const key of Object.keys(entry)) if (!KNOWN_KEYS.includes(key)) problem(key, `unknown key (known: ${KNOWN_KEYS.join(', ')})`);

  const enabled = entry.enabled ?? true;
  if (typeof enabled !== 'boolean') problem('enabled', 'must be true or false');

  const host = entry.host ?? name;
  let port: number | undefined;
  if (entry.port !== undefined) {
    if (typeof entry.port !== 'number' || !Number.isInteger(entry.port) || entry.port < 1 || entry.port > 65535) problem('port', 'must be an integer from 1 to 65535');
    else port = entry.port;
  }
  if (!isNonEmptyString(host)) problem('host', 'must be a non-empty string: a host, host:port or http(s):// URL');
  else checkHost(host.trim(), port, entry.host === undefined, problem);

  if (entry.app !== undefined && !isNonEmptyString(entry.app)) problem('app', 'must be a bundled app name or a manifest path');

  let exclude: string[] = [];
  if (entry.exclude !== undefined) {
    if (!Array.isArray(entry.exclude) || !entry.exclude.every(isNonEmptyString)) problem('exclude', 'must be an array of model names, e.g. ["UserProfile"]');
    else exclude = entry.exclude.map((m) => m.trim());
  }

  const token = tokenOf(entry, env, enabled !== false, problem);
  return {
    name, host: typeof host === 'string' ? host.trim() : '', ...(port !== undefined ? { port } : {}),
    ...(isNonEmptyString(entry.app) ? { app: entry.app } : {}), exclude, ...(token !== undefined ? { token } : {}), enabled: enabled !== false,
  };
}

/** A host must be what `-r` accepts; an explicit port must not contradict one in the host. */
function checkHost(host: string, port: number | undefined, isFromName: boolean, problem: (key: string, message: string) => void): void {
  try {
    parseRemote(host, port);
  } catch (error) {
    const why = (error as Error).message.replace(/^-[rp] /, '');
    problem('host', isFromName ? `missing, and the name is not a host (${why}); add "host": "..."` : why);
    return;
  }
  const inHost = /:(\d+)(?:\/.*)?$/.exec(host.replace(/^[a-z]+:\/\//i, ''));
  if (port !== undefined && inHost && Number(inHost[1]) !== port) problem('port', `${port} contradicts the port ${inHost[1]} in host "${host}"; give it once`);
}

/** The entry's own token: `token`, or the environment variable `tokenEnv` names (required while enabled). */
function tokenOf(entry: Entry, env: NodeJS.ProcessEnv, isEnabled: boolean, problem: (key: string, message: string) => void): string | undefined {
  if (entry.token !== undefined && entry.tokenEnv !== undefined) {
    problem('tokenEnv', 'give "token" or "tokenEnv", not both');
    return undefined;
  }
  if (entry.token !== undefined) {
    if (!isNonEmptyString(entry.token)) problem('token', 'must be a non-empty string');
    else return entry.token;
    return undefined;
  }
  if (entry.tokenEnv === undefined) return undefined;
  if (typeof entry.tokenEnv !== 'string' || !ENV_NAME.test(entry.tokenEnv)) {
    problem('tokenEnv', 'must be the name of an environment variable, e.g. "ITIA_TOKEN"');
    return undefined;
  }
  const value = env[entry.tokenEnv];
  // A disabled remote's variable may well be unset on this machine; it is never used.
  if (!value) {
    if (isEnabled) problem('tokenEnv', `the environment variable ${entry.tokenEnv} is not set (or empty)`);
    return undefined;
  }
  return value;
}

/** A remote's identity `host[:port]` (DESIGN §2), or `undefined` when its host does not parse. */
export function identityOf(remote: Pick<FleetRemote, 'host' | 'port'>): string | undefined {
  try {
    return parseRemote(remote.host, remote.port).hostname;
  } catch {
    return undefined;
  }
}

/**
 * A lenient token lookup by identity over the config's remotes, for a single `-r` sync: finds
 * an entry of the new format (named, with `host`/`port`/`tokenEnv`) as well as one of the old
 * (keyed by `host[:port]`). Never throws: an invalid entry simply matches nothing.
 */
export function fleetTokenFor(config: FleetConfig, env: NodeJS.ProcessEnv): (hostname: string) => string | undefined {
  return (hostname) => {
    if (!isObject(config.remotes)) return undefined;
    for (const [name, entry] of Object.entries(config.remotes)) {
      if (!isObject(entry)) continue;
      const host = typeof entry.host === 'string' ? entry.host : name;
      const port = typeof entry.port === 'number' ? entry.port : undefined;
      if (identityOf({ host, port }) !== hostname) continue;
      if (isNonEmptyString(entry.token)) return entry.token;
      if (typeof entry.tokenEnv === 'string' && env[entry.tokenEnv]) return env[entry.tokenEnv];
    }
    return undefined;
  };
}

/**
 * Where the token for a remote is expected, for the message of a 401/403: the config entry's
 * `tokenEnv` when it has one, else REMOTESYNCDB_TOKEN or the config file.
 */
export function fleetTokenHint(config: FleetConfig, env: NodeJS.ProcessEnv): (hostname: string) => string {
  return (hostname) => {
    for (const [name, entry] of Object.entries(isObject(config.remotes) ? config.remotes : {})) {
      if (!isObject(entry) || typeof entry.tokenEnv !== 'string') continue;
      const host = typeof entry.host === 'string' ? entry.host : name;
      if (identityOf({ host, port: typeof entry.port === 'number' ? entry.port : undefined }) !== hostname) continue;
      return `the config file${config.source ? ` ${config.source}` : ''} takes remote "${name}"'s token from the environment variable ${entry.tokenEnv}${env[entry.tokenEnv] ? ' (set, but refused: check its value)' : ' (not set)'}`;
    }
    return `give the token it expects in REMOTESYNCDB_TOKEN or the config file${config.source ? ` (${config.source})` : ''}`;
  };
}
