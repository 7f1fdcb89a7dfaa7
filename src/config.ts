import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dialectOf } from './dialects/index.js';
import { ConfigError } from './errors.js';
import { fleetTokenFor } from './fleet/fleet-config.js';

/** `remotesyncdb.config.json`: defaults below flags and the environment. */
export interface ConfigFile {
  /** Where it was read from, if anywhere. */
  source?: string;
  db?: string;
  workDir?: string;
  app?: string;
  /** A bearer token for every remote that has none of its own. */
  token?: string;
  /**
   * The fleet, by name: `{ host, port, app, exclude, token | tokenEnv, enabled }` each
   * (validated by fleetRemotes). An entry keyed by `host[:port]` with only a token still works.
   */
  remotes?: Record<string, Record<string, unknown>>;
  /** A push site's centres by `host[:port]`: `{ token }` (written by `push --enrol`). */
  centres?: Record<string, { token?: string }>;
  /** At an exchange centre: the conflict policy per model, over the manifest's (DESIGN §10). */
  policies?: Record<string, string>;
}

/** Where a config file is looked for when `--config` is not given, first found wins. */
export function configCandidates(env: NodeJS.ProcessEnv): string[] {
  const xdg = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return [path.resolve('remotesyncdb.config.json'), path.join(xdg, 'remotesyncdb', 'config.json')];
}

/** Read the config file (`--config`, else the first candidate that exists); `{}` when there is none. */
export function loadConfig(explicit: string | undefined, env: NodeJS.ProcessEnv): ConfigFile {
  const file = explicit ? path.resolve(explicit) : configCandidates(env).find((f) => existsSync(f));
  if (!file) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`Cannot read config file ${file}: ${(error as Error).message}`, { meta: { file } });
  }
  const problems: string[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`Config file ${file}: must be a JSON object`);
  const config = raw as Record<string, unknown>;
  for (const key of Object.keys(config)) if (!['db', 'workDir', 'app', 'token', 'remotes', 'centres', 'policies'].includes(key)) problems.push(`${key}: unknown key (known: db, workDir, app, token, remotes, centres, policies)`);
  for (const key of ['db', 'workDir', 'app', 'token']) if (config[key] !== undefined && typeof config[key] !== 'string') problems.push(`${key}: must be a string`);
  if (config.remotes !== undefined) {
    if (typeof config.remotes !== 'object' || config.remotes === null || Array.isArray(config.remotes)) problems.push('remotes: must be an object name -> { host, port, app, exclude, token | tokenEnv, enabled }');
    else for (const [name, spec] of Object.entries(config.remotes)) if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) problems.push(`remotes.${name}: must be an object`);
  }
  if (config.centres !== undefined && (typeof config.centres !== 'object' || config.centres === null || Array.isArray(config.centres))) problems.push('centres: must be an object host[:port] -> { token }');
  if (config.policies !== undefined && (typeof config.policies !== 'object' || config.policies === null || Array.isArray(config.policies) || !Object.values(config.policies).every((v) => typeof v === 'string'))) problems.push('policies: must be an object Model -> conflict policy (home-wins, centre-wins, site-wins, field-merge, manual)');
  if (problems.length > 0) throw new ConfigError(`Config file ${file}:\n  ${problems.join('\n  ')}`, { meta: { file } });
  return resolvePaths({ ...(config as ConfigFile), source: file }, path.dirname(file));
}

/** A manifest given as a path (not a bundled app's name). */
const isPathLike = (app: string) => app.endsWith('.json') || app.includes('/') || app.includes(path.sep);

/**
 * Relative paths in a config file are relative to the file's directory, not to the working
 * directory (cron runs in $HOME): `db` (a SQLite path, `sqlite:PATH` too), `workDir`, and `app`
 * (and each remote's `app`) when it names a manifest file.
 */
function resolvePaths(config: ConfigFile, dir: string): ConfigFile {
  const out = { ...config };
  if (out.db && dialectOf(out.db) === 'sqlite' && out.db !== ':memory:' && out.db !== 'sqlite::memory:') {
    out.db = out.db.startsWith('sqlite:') ? `sqlite:${path.resolve(dir, out.db.slice('sqlite:'.length))}` : path.resolve(dir, out.db);
  }
  if (out.workDir) out.workDir = path.resolve(dir, out.workDir);
  if (out.app && isPathLike(out.app)) out.app = path.resolve(dir, out.app);
  if (out.remotes) {
    out.remotes = Object.fromEntries(Object.entries(out.remotes).map(([name, spec]) => [name, typeof spec.app === 'string' && isPathLike(spec.app) ? { ...spec, app: path.resolve(dir, spec.app) } : spec]));
  }
  return out;
}

/** The token for a remote: the environment's, else the config's entry for that remote (token or tokenEnv), else the config's default. */
export function tokenFor(hostname: string, env: NodeJS.ProcessEnv, config: ConfigFile): string | undefined {
  return env.REMOTESYNCDB_TOKEN || fleetTokenFor(config, env)(hostname) || config.token || undefined;
}

/** A push site's token for a centre: `REMOTESYNCDB_PUSH_TOKEN`, else what `push --enrol` stored in the config file. */
export function pushTokenFor(hostname: string, env: NodeJS.ProcessEnv, config: ConfigFile): string | undefined {
  return env.REMOTESYNCDB_PUSH_TOKEN || config.centres?.[hostname]?.token || undefined;
}
