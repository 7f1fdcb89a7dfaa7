import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import yargs, { type Argv } from 'yargs';
import { demo } from '../admin/demo.js';
import { history } from '../admin/history.js';
import { restore } from '../backup/restore.js';
import { dumpdata } from '../admin/dumpdata.js';
import { init } from '../admin/init.js';
import { loaddata } from '../admin/loaddata.js';
import { addRemote, getRemotes, removeRemote } from '../admin/remotes.js';
import { DEFAULT_DB } from '../dialects/index.js';
import { ConfigError, maskSecrets, RemoteSyncError } from '../errors.js';
import { parseRemote } from '../sources/remote-endpoint.js';
import { loadConfig, tokenFor, type ConfigFile } from '../config.js';
import { PACKAGE_DIR } from '../manifest/load-manifest.js';
import { serve } from '../server/serve.js';
import { sync } from '../sync/sync.js';
import { exitCodeOf, EXIT } from './exit-codes.js';
import { fleetRemotes, fleetTokenHint, parseInterval, runEvery, syncAll, type FleetBaseOptions } from '../fleet/fleet.js';
import { inspect, modelNamesFrom } from '../inspect/inspect.js';
import { TerminalProgress } from './progress.js';
import { list, readCa, readLines } from './args.js';
import { Renderer } from './render.js';
import { writeTable } from './table.js';
import { dumpToFile } from './args.js';
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

  const parser = yargs()
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
        .option('keep-backups', { type: 'number', default: 5, describe: 'How many backups of this remote and app to keep in <work dir>/<remote>/<app>/backups' })
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
        const progress = (io.stdout as NodeJS.WriteStream).isTTY && !args.silent && !args.json && Number(args.verbosity) >= 1 ? new TerminalProgress(io.stdout) : undefined;
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
      }))
    .command('serve', 'Serve a database as a remote instance over HTTP (read-only)', (y) =>
      common(y)
        .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on (0.0.0.0 opens it to other machines)' })
        .option('port', { alias: 'p', type: 'number', default: 8000, describe: 'Port to listen on (0 picks a free one)' })
        .option('instance', { type: 'string', describe: 'The instance name shown in GET /api/ [default: this host name]' })
        .option('token-file', { type: 'string', describe: 'File of accepted bearer tokens, one a line (also REMOTESYNCDB_SERVE_TOKENS, comma-separated)' })
        .option('tls-cert', { type: 'string', describe: 'PEM certificate: serve https' })
        .option('tls-key', { type: 'string', describe: 'PEM private key of --tls-cert' })
        .option('max-streams', { type: 'number', default: 8, describe: 'Fixtures streamed at once; more requests answer 503' })
        .check((args) => {
          if (!Number.isInteger(args['max-streams']) || (args['max-streams'] as number) < 1) throw new Error('--max-streams takes a whole number of at least 1');
          return true;
        }),
      run(async (args) => {
        const tokens = [...list([io.env.REMOTESYNCDB_SERVE_TOKENS ?? '']), ...(args['token-file'] ? readLines(args['token-file'] as string) : [])];
        if (Boolean(args['tls-cert']) !== Boolean(args['tls-key'])) throw new ConfigError('--tls-cert and --tls-key go together');
        const tls = args['tls-cert'] ? { cert: readCa(args['tls-cert'] as string), key: readCa(args['tls-key'] as string) } : undefined;
        const server = await serve({ app: appOf(args), db: dbOf(args), host: args.host as string, port: args.port as number, instance: args.instance as string | undefined, tokens, tls, maxStreams: args['max-streams'] as number, onError: (e) => renderer.error(e),
          // The access log on stderr: every refusal (4xx, 5xx) at -v 1, every request at -v 2.
          onRequest: (r) => renderer.log(`${r.client} ${r.method} ${r.path} ${r.status} ${r.ms} ms${r.isAborted ? ' (client went away)' : ''}`, r.status >= 400 ? 1 : 2) });
        renderer.info(`Serving ${appOf(args)} from ${maskSecrets(dbOf(args))} at ${server.url}/api/${tokens.length ? ' (bearer token required)' : ''}; Ctrl-C stops`, 0);
        await (io.stopSignal ?? new Promise<void>(() => {}));
        await server.close();
      }))
    .command('init', "Create an app's tables and the bookkeeping tables, or add origin tags to existing tables", common, run(async (args) => {
      const r = await init({ app: appOf(args), db: dbOf(args) });
      renderer.info(`Created ${r.created.length} table(s)${r.tagged.length ? `, added origin tags to ${r.tagged.join(', ')}` : ''}.`, 0);
    }))
    .command('loaddata <files..>', "Load fixtures keeping their pks, as this database's own (untagged) data", common, run(async (args) => {
      const n = await loaddata({ app: appOf(args), db: dbOf(args), files: args.files as string[] });
      renderer.info(`Installed ${n} object(s) from ${(args.files as string[]).length} fixture(s).`, 0);
    }))
    .command('dumpdata [models..]', 'Write models (Station, or hcore.station; default: all non-private) as one Django fixture on stdout or -o FILE', (y) =>
      common(y)
        .option('indent', { type: 'number', describe: 'Pretty-print each object with N spaces (as Django)' })
        .option('output', { alias: 'o', type: 'string', describe: 'Write the fixture to FILE instead of stdout' })
        .check((args) => {
          if (args.indent !== undefined && (!Number.isInteger(args.indent) || (args.indent as number) < 0 || (args.indent as number) > 10)) throw new Error(`--indent takes a whole number from 0 to 10, not ${JSON.stringify(args.indent)}`);
          return true;
        }),
      run(async (args) => {
        const options = { app: appOf(args), db: dbOf(args), models: list(args.models), indent: args.indent as number | undefined };
        if (!args.output) {
          await dumpdata({ ...options, out: io.stdout });
          return;
        }
        const n = await dumpToFile(String(args.output), (out) => dumpdata({ ...options, out }));
        renderer.info(`Wrote ${n} object(s) to ${args.output}.`, 0);
      }))
    .command('remote', 'Manage the registry of remotes', (y) =>
      y
        .command('add <name> <host>', 'Register a remote with a name before its first sync', (z) =>
          common(z).option('port', { alias: 'p', type: 'number', describe: 'Remote port [default: 80]' }).option('descr', { type: 'string', describe: 'Description' }),
          run(async (args) => {
            const row = await addRemote({ db: dbOf(args), name: String(args.name), remote: String(args.host), port: args.port as number | undefined, descr: args.descr as string | undefined });
            renderer.info(`Registered remote ${row.name} (${row.hostname}).`, 0);
          }))
        .command('list', 'List registered remotes (a table on a terminal, TSV when piped, --json)', (z) => common(z).option('json', { type: 'boolean', describe: 'As one JSON array' }), run(async (args) => {
          const rows = await getRemotes({ db: dbOf(args) });
          if (args.json) io.stdout.write(`${JSON.stringify(rows.map((r) => ({ ...r, is_tls: Boolean(r.is_tls) })))}\n`);
          else writeTable(io.stdout, ['name', 'hostname', 'last_sync', 'descr'], rows.map((r) => [r.name, `${r.is_tls ? 'https://' : ''}${r.hostname}`, r.last_sync ?? 'never', r.descr ?? '']));
        }))
        .command('remove <name>', 'Unregister a remote (refuses while rows come from it, unless --purge)', (z) =>
          common(z).option('purge', { type: 'boolean', describe: "Also delete the app's rows that came from it" }),
          run(async (args) => {
            const r = await removeRemote({ db: dbOf(args), app: appOf(args), name: String(args.name), purge: Boolean(args.purge) });
            renderer.info(`Removed remote ${r.remote.name}${r.purged ? ` and ${r.purged} row(s) from it` : ''}.`, 0);
          }))
        .demandCommand(1, 'remote: say add, list or remove'))
    .command('inspect', 'Write an app manifest from an existing database (tables, columns, pks, FKs, m2m tables, MTI)', (y) =>
      y
        .option('db', { type: 'string', describe: 'The database to read [env DATABASE_URL]' })
        .option('app', { alias: 'a', type: 'string', demandOption: true, describe: 'Name of the app (and the table prefix to strip, as in hcore_station)' })
        .option('tables', { type: 'string', array: true, describe: 'Only these tables (repeatable or comma-separated)' })
        .option('output', { alias: 'o', type: 'string', describe: 'Write the manifest to this file [default: stdout]' })
        .option('names-from', { type: 'string', describe: "Spell model names as a live instance of the app does (its GET /api/), e.g. http://host:8000 (token as for a sync)" })
        .option('verbosity', { alias: 'v', type: 'number', choices: [0, 1, 2], default: 1, describe: 'Output: 0 summary, 1 progress, 2 debug' })
        .option('config', { type: 'string', describe: 'Config file' }),
      run(async (args) => {
        const tables = list(args.tables);
        let names: string[] | undefined;
        if (args['names-from']) {
          const from = String(args['names-from']);
          const config = configOf(args);
          const hostname = parseRemote(from.replace(/\/api\/?$/, '')).hostname;
          names = await modelNamesFrom(from, { token: tokenFor(hostname, io.env, config), tokenHint: fleetTokenHint(config, io.env)(hostname) });
        }
        const { manifest, warnings } = await inspect({ db: dbOf(args), app: String(args.app), tables: tables.length > 0 ? tables : undefined, names });
        for (const warning of warnings) renderer.warn(warning);
        const text = `${JSON.stringify(manifest, null, 2)}\n`;
        if (args.output) {
          writeFileSync(String(args.output), text);
          renderer.info(`Wrote the manifest of ${Object.keys((manifest as { models: object }).models).length} models to ${args.output}; use it with -a ${args.output}`, 0);
        } else io.stdout.write(text);
      }))
    .command('restore <file>', 'Bring the app and bookkeeping tables back to a backup taken before a sync', (y) =>
      common(y)
        .option('force', { type: 'boolean', describe: 'Restore a backup taken from another database (refused otherwise)' })
        .option('work-dir', { alias: 'w', type: 'string', describe: 'Work dir: the tables as they were before the restore are saved in <work dir>/<database>/before-restore/' }),
      run(async (args) => {
        // -a overrides the manifest recorded in the backup.
        const r = await restore({ file: String(args.file), db: dbOf(args), app: args.app as string | undefined, force: Boolean(args.force), workDir: workDirOf(args) });
        renderer.info(`Saved the tables as they were in ${r.snapshot} (restore it to undo).`, 0);
        renderer.info(`Restored ${r.rows} row(s) in ${r.tables} table(s) from ${args.file}.`, 0);
      }))
    .command('history', 'Show recent sync runs (a table on a terminal, TSV when piped, --json)', (y) =>
      common(y).option('limit', { type: 'number', default: 20, describe: 'How many runs (at least 1)' }).option('json', { type: 'boolean', describe: 'As one JSON array' })
        .check((args) => {
          const limit = args.limit;
          if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1) throw new Error(`--limit takes a whole number of at least 1, not ${JSON.stringify(limit)}`);
          return true;
        }),
      run(async (args) => {
        const runs = await history({ db: dbOf(args), limit: args.limit as number });
        if (args.json) {
          io.stdout.write(`${JSON.stringify(runs)}\n`);
          return;
        }
        const n = (r: (typeof runs)[number], key: string) => (r.counts && typeof r.counts[key] === 'number' ? r.counts[key] : '');
        writeTable(io.stdout, ['id', 'started', 'finished', 'remote', 'app', 'status', 'received', 'inserted', 'updated', 'deleted', 'skipped', 'unchanged', 'error'],
          runs.map((r) => [r.id, r.started, r.finished ?? '', r.remote, r.app, r.status, n(r, 'received'), n(r, 'inserted'), n(r, 'updated'), n(r, 'deleted'), n(r, 'skipped'), n(r, 'unchanged'), r.error ? maskSecrets(r.error.split('\n')[0]) : '']));
      }))
    .command('demo', 'Serve the bundled hcore sample from a temporary database and sync it into --db', (y) =>
      common(y).option('port', { alias: 'p', type: 'number', default: 8763, describe: 'Port of the temporary instance' }),
      run(async (args) => {
        const result = await demo({ db: dbOf(args), port: args.port as number, emit: renderer.event });
        renderer.summary(result);
        renderer.info(`The replicated data is in ${maskSecrets(dbOf(args))}.`, 0);
      }))
    .strict()
    // "--no-backups" is a flag of its own, not the negation of a "--backups".
    .parserConfiguration({ 'boolean-negation': false })
    .version(VERSION)
    .help('help')
    .alias('help', 'h')
    .wrap(Math.min(110, (io.stdout as NodeJS.WriteStream).columns ?? 100))
    .exitProcess(false)
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
