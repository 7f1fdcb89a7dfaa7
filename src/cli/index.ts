import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import yargs, { type Argv } from 'yargs';
import { DEFAULT_DB } from '../dialects/index.js';
import { ConfigError, RemoteSyncError } from '../errors.js';
import { parseRemote } from '../sources/remote-endpoint.js';
import { loadConfig, tokenFor, type ConfigFile } from '../config.js';
import { PACKAGE_DIR } from '../manifest/load-manifest.js';
import { sync } from '../sync/sync.js';
import { exitCodeOf, EXIT } from './exit-codes.js';
import { fleetRemotes, fleetTokenHint, parseInterval, runEvery, syncAll, type FleetBaseOptions } from '../fleet/fleet.js';
import { TerminalProgress } from './progress.js';
import { list, readCa } from './args.js';
import { Renderer } from './render.js';
import { adminCommands } from './admin-commands.js';
import { pushCommands } from './push-commands.js';
import { consoleCommands } from './console-commands.js';
import { exchangeCommands } from './exchange-commands.js';
import type { SyncEvent } from '../sync/events.js';

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  /** Resolves when `serve` should stop (SIGINT/SIGTERM in the real process). */
  stopSignal?: Promise<void>;
}

const VERSION = (JSON.parse(readFileSync(path.join(PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string }).version;


/**
 * Run the CLI with `argv` (without node and the script) and return the exit code.
 * Never calls process.exit: the bin does, with what this returns.
 */
export async function main(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  let code: number = EXIT.ok;
  let renderer = new Renderer({ stdout: io.stdout, stderr: io.stderr, verbosity: 1, isSilent: false, isJson: false, hasTimestamps: false });
  const rendererFor = (args: Record<string, unknown>) => {
    renderer = new Renderer({
      stdout: io.stdout, stderr: io.stderr,
      verbosity: Number(args.verbosity ?? 1), isSilent: Boolean(args.silent), isJson: Boolean(args.json),
      hasTimestamps: !(io.stdout as NodeJS.WriteStream).isTTY,
    });
    return renderer;
  };
  // Precedence: flags > environment > config file > defaults.
  // Read once per command (flags, app and db all consult it).
  const configs = new WeakMap<Record<string, unknown>, ConfigFile>();
  const configOf = (args: Record<string, unknown>) => {
    if (!configs.has(args)) configs.set(args, loadConfig(args.config as string | undefined, io.env));
    return configs.get(args)!;
  };
  const appOf = (args: Record<string, unknown>) => (args.app as string | undefined) ?? configOf(args).app ?? 'hcore';
  const dbOf = (args: Record<string, unknown>) => (args.db as string | undefined) || io.env.DATABASE_URL || configOf(args).db || DEFAULT_DB;
  const workDirOf = (args: Record<string, unknown>) => (args['work-dir'] as string | undefined) || io.env.REMOTESYNCDB_WORK_DIR || configOf(args).workDir;
  const run = (handler: (args: Record<string, unknown>) => Promise<number | void>) => async (args: Record<string, unknown>) => {
    const r = rendererFor(args);
    try {
      code = (await handler(args)) ?? EXIT.ok;
    } catch (error) {
      r.failure(error, remoteOf(error, args));
      r.error(error);
      code = exitCodeOf(error);
    }
  };
  /** The remote's identity for a failure report: what the error names, else what -r/-p form. */
  const remoteOf = (error: unknown, args: Record<string, unknown>): string | undefined => {
    if (error instanceof RemoteSyncError && typeof error.meta.remote === 'string') return error.meta.remote;
    if (typeof args.remote !== 'string') return undefined;
    try {
      return parseRemote(args.remote, args.port as number | undefined).hostname;
    } catch {
      return args.remote;
    }
  };
  /** `--all` (and `--every`): every enabled remote of the config file. */
  const runFleet = async (args: Record<string, unknown>, base: Omit<FleetBaseOptions, 'app'>): Promise<number> => {
    const once = async (signal?: AbortSignal) => {
      // Read afresh each run: with --every, an operator may enable or disable remotes meanwhile.
      const config = loadConfig(args.config as string | undefined, io.env);
      const remotes = fleetRemotes(config, io.env).map((r) => ({ ...r, exclude: [...new Set([...r.exclude, ...list(args.exclude)])] }));
      const result = await syncAll(remotes, { ...base, app: appOf(args) }, renderer.fleetEvent, { signal });
      renderer.fleetSummary(result);
      return result;
    };
    if (!args.every) return (await once()).exitCode;
    const abort = new AbortController();
    void io.stopSignal?.then(() => abort.abort());
    let first = true;
    await runEvery(parseInterval(String(args.every)), async () => {
      try {
        await once(abort.signal);
      } catch (error) {
        // A configuration error at start-up is exit 2; later, it is reported and the loop goes on.
        if (first) throw error;
        renderer.error(error);
      } finally {
        first = false;
      }
    }, { signal: abort.signal, onWait: (ms) => renderer.info(`Next run at ${new Date(Date.now() + ms).toISOString()}`, 1) });
    return EXIT.ok;
  };
  const common = (y: Argv) =>
    y
      .option('app', { alias: 'a', type: 'string', describe: 'App: a bundled name or a manifest .json path [default: hcore]' })
      .option('db', { type: 'string', describe: `Local database: postgres://user@host:port/db, mysql://user@host:port/db, sqlite:PATH or a file path [env DATABASE_URL] [default: ${DEFAULT_DB}]` })
      .option('verbosity', { alias: 'v', type: 'number', choices: [0, 1, 2], default: 1, describe: 'Output: 0 summary, 1 progress, 2 debug' })
      .option('config', { type: 'string', describe: 'Config file [default: ./remotesyncdb.config.json, else ~/.config/remotesyncdb/config.json]' });

  const context = { io, renderer: () => renderer, common, run, appOf, dbOf, configOf, workDirOf };
  const parser = consoleCommands(exchangeCommands(pushCommands(adminCommands(yargs()
    .scriptName('remotesyncdb')
    .usage('$0 [sync] -r HOST [options]: replicate a remote instance into the local database')
    .command(['sync', '$0'], 'Replicate a remote instance into the local database (the default command)', (y) =>
      common(y)
        .option('remote', { alias: 'r', type: 'string', describe: 'Remote: host, host:port, https://host, or a registered name' })
        .option('port', { alias: 'p', type: 'number', describe: 'Remote port [default: 80, or 443 with https://]' })
        .option('exclude', { alias: 'e', type: 'string', array: true, describe: 'Models not to sync (repeatable or comma-separated)' })
        .option('fetch-only', { alias: 'f', type: 'boolean', describe: 'Fetch the fixtures into the work dir and stop (install later with --resume)' })
        .option('resume', { alias: 'R', type: 'boolean', describe: 'Install the fixtures staged by --fetch-only without contacting the remote' })
        .option('work-dir', { alias: 'w', type: 'string', describe: 'Where fixtures are staged [default: $XDG_STATE_HOME/remotesyncdb or ~/.local/state/remotesyncdb]' })
        .option('skip', { alias: 's', type: 'boolean', describe: 'Skip objects that cannot be installed (and what depends on them), list them in rejects.txt, install the rest' })
        .option('no-backups', { alias: 'N', type: 'boolean', describe: 'No snapshot of the tables before the install' })
        .option('keep-backups', { type: 'number', default: 5, describe: 'How many backups of this database, remote and app to keep in <work dir>/<database>/<remote>/<app>/backups (a run that changed nothing keeps none and rotates none out)' })
        .option('timeout', { type: 'number', default: 300, describe: 'Seconds without a byte from the remote before an attempt is abandoned' })
        .option('retries', { type: 'number', default: 3, describe: 'Retries of a fixture after a transient failure (exponential backoff with jitter)' })
        .option('max-fixture-bytes', { type: 'number', default: 4 * 1024 ** 3, describe: 'Refuse a fixture larger than this' })
        .option('ca', { type: 'string', describe: 'PEM file of certificate authorities to trust for an https:// remote' })
        .option('full', { alias: 'F', type: 'boolean', describe: 'Fetch every model in full, ignoring the incremental watermarks' })
        .option('silent', { alias: 'S', type: 'boolean', describe: 'Nothing on stdout; errors still on stderr; the exit code tells' })
        .option('json', { type: 'boolean', describe: 'Print one JSON summary on stdout and nothing else there' })
        .option('dry-run', { type: 'boolean', describe: 'Plan and count what would change; commit nothing' })
        .example('$0 -a hcore -r itia.hydroscope.gr -e UserProfile --silent', 'the nightly cron job')
        .example('$0 -r localhost -p 8000 --db postgres://postgres@127.0.0.1:5432/enhydris', 'into PostgreSQL')
        .option('prune', { type: 'boolean', describe: "Delete this remote's rows that it no longer has (fetches in full)" })
        .option('repair', { type: 'boolean', describe: "Re-fetch everything and make this remote's rows an exact copy (--full --prune)" })
        .option('all', { type: 'boolean', describe: 'Sync every enabled remote of the config file, each in its own transaction' })
        .option('every', { type: 'string', describe: 'With --all: keep running, a run every DURATION (15m, 1h, 2h30m), with jitter; SIGTERM stops after the remote in progress' })
        .example('$0 --all --config /etc/remotesyncdb.json -S', 'the whole fleet, nightly')
        .check((args) => {
          if (args.help) return true;
          if (args.all && args.remote) throw new Error('--all syncs the remotes of the config file: give no -r');
          if (!args.all && !args.remote) throw new Error('Missing required argument: remote (-r HOST), or --all');
          if (args.every && !args.all) throw new Error('--every goes with --all');
          if (args.every) parseInterval(String(args.every));
          // Flags that contradict each other are refused, not silently resolved one way.
          if (args.silent && args.json) throw new Error('-S and --json exclude each other: -S prints nothing on stdout, --json one document there');
          if (args.resume && (args.full || args.repair)) throw new Error(`-R installs what was staged and fetches nothing: ${args.full ? '-F' : '--repair'} does not go with it; fetch with -f -F, then -R (with --prune to delete)`);
          const portInRemote = typeof args.remote === 'string' ? /^(?:[a-z]+:\/\/)?(?:\[[^\]]*\]|[^:/[\]]+):(\d+)/i.exec(args.remote) : null;
          if (portInRemote && typeof args.port === 'number' && Number(portInRemote[1]) !== args.port) throw new Error(`-r ${args.remote} names port ${portInRemote[1]} and -p says ${args.port}: give the port once`);
          const positive = (name: string, min: number) => {
            const v = args[name];
            if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < min || Array.isArray(v))) throw new Error(`--${name} takes a number of at least ${min}, not ${JSON.stringify(v)}`);
          };
          positive('timeout', 1);
          positive('retries', 0);
          positive('max-fixture-bytes', 1);
          positive('keep-backups', 1);
          if (args.port !== undefined && (Array.isArray(args.port) || !Number.isInteger(args.port))) throw new Error('-p takes one port number');
          return true;
        }),
      run(async (args) => {
        const config = configOf(args);
        const base = {
          db: dbOf(args),
          workDir: workDirOf(args),
          fetchOnly: Boolean(args['fetch-only']), resume: Boolean(args.resume), dryRun: Boolean(args['dry-run']),
          full: Boolean(args.full) || Boolean(args.repair), prune: Boolean(args.prune) || Boolean(args.repair),
          noBackups: Boolean(args['no-backups']), skip: Boolean(args.skip), keepBackups: args['keep-backups'] as number,
          tokenFor: (hostname: string) => tokenFor(hostname, io.env, config),
          tokenHintFor: fleetTokenHint(config, io.env),
          http: {
            idleTimeoutMs: (args.timeout as number) * 1000, attempts: 1 + (args.retries as number), maxFixtureBytes: args['max-fixture-bytes'] as number,
            ...(args.ca ? { ca: readCa(args.ca as string) } : {}),
          },
        };
        if (args.all) return runFleet(args, base);
        // listr2 on a terminal; plain timestamped lines otherwise (cron, logs); nothing with -S/--json.
        const progress = (io.stdout as NodeJS.WriteStream).isTTY && !args.silent && !args.json && Number(args.verbosity) >= 1 ? await TerminalProgress.create(io.stdout) : undefined;
        progress?.start();
        const emit = progress ? (e: SyncEvent) => { if (e.type === 'warning') renderer.event(e); else progress.event(e); } : renderer.event;
        let result;
        try {
          result = await sync({ ...base, app: appOf(args), remote: args.remote as string, port: args.port as number | undefined, exclude: list(args.exclude), emit });
        } catch (error) {
          await progress?.finish(error);
          throw error;
        }
        await progress?.finish();
        renderer.summary(result);
      })), context)
    .strict()
    // "--no-backups" is a flag of its own, not the negation of a "--backups".
    .parserConfiguration({ 'boolean-negation': false })
    .version(VERSION)
    .help('help')
    .alias('help', 'h')
    .wrap(Math.min(110, (io.stdout as NodeJS.WriteStream).columns ?? 100))
    .exitProcess(false), context), context), context)
    .fail((message, error) => {
      throw error ?? new ConfigError(message);
    });
  try {
    const output = await new Promise<string>((resolve, reject) => {
      parser.parseAsync(argv as string[], {}, (err: Error | undefined, _argv: unknown, out: string) => (err ? reject(err) : resolve(out))).catch(reject);
    });
    if (output) io.stdout.write(`${output}\n`);
  } catch (error) {
    const usage = error instanceof ConfigError ? error : new ConfigError(error instanceof Error ? error.message : String(error));
    // --json promises one document on stdout, a usage error included.
    if (argv.includes('--json') && !argv.includes('-S') && !argv.includes('--silent')) {
      new Renderer({ stdout: io.stdout, stderr: io.stderr, verbosity: 1, isSilent: false, isJson: true, hasTimestamps: false }).failure(usage);
    }
    renderer.error(usage);
    io.stderr.write('Run "remotesyncdb --help" for usage.\n');
    return EXIT.usage;
  }
  return code;
}
