import { writeFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { demo } from '../admin/demo.js';
import { dumpdata } from '../admin/dumpdata.js';
import { history } from '../admin/history.js';
import { init } from '../admin/init.js';
import { loaddata } from '../admin/loaddata.js';
import { query } from '../admin/query.js';
import { addRemote, getRemotes, removeRemote } from '../admin/remotes.js';
import { restore } from '../backup/restore.js';
import { tokenFor, type ConfigFile } from '../config.js';
import { ConfigError, maskSecrets } from '../errors.js';
import { fleetTokenHint, parseInterval } from '../fleet/fleet.js';
import { inspect, modelNamesFrom } from '../inspect/inspect.js';
import { serve } from '../server/serve.js';
import { parseRemote } from '../sources/remote-endpoint.js';
import { dumpToFile, list, readCa, readLines } from './args.js';
import { checkPort } from './console-commands.js';
import type { Renderer } from './render.js';
import { writeTable } from './table.js';
import type { CliIo } from './index.js';

type Args = Record<string, unknown>;

/** What the commands share with the CLI's entry point (src/cli/index.ts). */
export interface CommandContext {
  io: CliIo;
  /** The renderer of the command being run (made from its flags). */
  renderer: () => Renderer;
  /** The options every command takes: -a, --db, -v, --config. */
  common: (y: Argv) => Argv;
  /** A handler that reports errors and sets the exit code. */
  run: (handler: (args: Args) => Promise<number | void>) => (args: Args) => Promise<void>;
  appOf: (args: Args) => string;
  dbOf: (args: Args) => string;
  configOf: (args: Args) => ConfigFile;
  workDirOf: (args: Args) => string | undefined;
}

/**
 * Every command but the sync: serve, init, loaddata, dumpdata, remote, inspect, restore,
 * history, demo. Each handler turns flags into options and prints what the core returns.
 */
export function adminCommands(parser: Argv, ctx: CommandContext): Argv {
  const { io, common, run, appOf, dbOf, configOf, workDirOf } = ctx;
  const ui = () => ctx.renderer();
  return parser
    .command('serve', 'Serve a database as a remote instance over HTTP (read-only; with --accept-push also a centre sites push to)', (y) =>
      common(y)
        .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on (0.0.0.0 opens it to other machines)' })
        .option('port', { alias: 'p', type: 'number', default: 8000, describe: 'Port to listen on (0 picks a free one)' })
        .option('instance', { type: 'string', describe: 'The instance name shown in GET /api/ [default: this host name]' })
        .option('token-file', { type: 'string', describe: 'File of accepted bearer tokens, one a line (also REMOTESYNCDB_SERVE_TOKENS, comma-separated)' })
        .option('tls-cert', { type: 'string', describe: 'PEM certificate: serve https' })
        .option('tls-key', { type: 'string', describe: 'PEM private key of --tls-cert' })
        .option('max-streams', { type: 'number', default: 8, describe: 'Fixtures streamed at once; more requests answer 503' })
        .option('accept-push', { type: 'boolean', describe: 'Also be a centre: take bundles and exchanges from the sites registered with "site add" (DESIGN §9, §10)' })
        .option('retention', { type: 'string', default: '90d', describe: 'An exchange site silent for longer than this (30d, 12h) is told to repair' })
        .check((args) => {
          checkPort(args);
          parseInterval(String(args.retention));
          if (!Number.isInteger(args['max-streams']) || (args['max-streams'] as number) < 1) throw new Error('--max-streams takes a whole number of at least 1');
          return true;
        }),
      run(async (args) => {
        const tokens = [...list([io.env.REMOTESYNCDB_SERVE_TOKENS ?? '']), ...(args['token-file'] ? readLines(args['token-file'] as string) : [])];
        if (Boolean(args['tls-cert']) !== Boolean(args['tls-key'])) throw new ConfigError('--tls-cert and --tls-key go together');
        const tls = args['tls-cert'] ? { cert: readCa(args['tls-cert'] as string), key: readCa(args['tls-key'] as string) } : undefined;
        const server = await serve({ app: appOf(args), db: dbOf(args), host: args.host as string, port: args.port as number, instance: args.instance as string | undefined, tokens, tls, maxStreams: args['max-streams'] as number, onError: (e) => ui().error(e),
          acceptPush: Boolean(args['accept-push']), log: (line) => ui().info(line, 1),
          policies: configOf(args).policies ?? {}, retentionMs: parseInterval(String(args.retention)),
          // The access log on stderr: every refusal (4xx, 5xx) at -v 1, every request at -v 2.
          onRequest: (r) => ui().log(`${r.client} ${r.method} ${r.path} ${r.status} ${r.ms} ms${r.isAborted ? ' (client went away)' : ''}`, r.status >= 400 ? 1 : 2) });
        // A centre open to other machines serves every site's data: say so when nothing guards it.
        if (args['accept-push'] && !['127.0.0.1', 'localhost', '::1'].includes(String(args.host)) && tokens.length === 0) {
          ui().warn(`serve --accept-push listens on ${String(args.host)} with no read token: anyone who reaches it can read every site's data; give REMOTESYNCDB_SERVE_TOKENS or --token-file`);
        }
        ui().info(`Serving ${appOf(args)} from ${maskSecrets(dbOf(args))} at ${server.url}/api/${tokens.length ? ' (bearer token required)' : ''}; Ctrl-C stops`, 0);
        await (io.stopSignal ?? new Promise<void>(() => {}));
        await server.close();
      }))
    .command('init', "Create an app's tables and the bookkeeping tables, or add origin tags to existing tables", common, run(async (args) => {
      const r = await init({ app: appOf(args), db: dbOf(args) });
      ui().info(`Created ${r.created.length} table(s)${r.tagged.length ? `, added origin tags to ${r.tagged.join(', ')}` : ''}.`, 0);
    }))
    .command('loaddata <files..>', "Load fixtures keeping their pks, as this database's own (untagged) data", common, run(async (args) => {
      const n = await loaddata({ app: appOf(args), db: dbOf(args), files: args.files as string[] });
      ui().info(`Installed ${n} object(s) from ${(args.files as string[]).length} fixture(s).`, 0);
    }))
    .command('query <model> [filters..]', "Print a remote's objects of MODEL whose fields equal field=value (null: none), as a Django fixture", (y) =>
      common(y)
        .option('remote', { alias: 'r', type: 'string', demandOption: true, describe: 'Remote: host, host:port or https://host' })
        .option('port', { alias: 'p', type: 'number', describe: 'Remote port [default: 80, or 443 with https://]' })
        .option('ca', { type: 'string', describe: 'PEM file of certificate authorities to trust for an https:// remote' })
        .example('$0 query -r itia.hydroscope.gr Station owner=3 is_active=true', "one owner's active stations"),
      run(async (args) => {
        const config = configOf(args);
        const hostname = parseRemote(String(args.remote), args.port as number | undefined).hostname;
        await query({
          app: appOf(args), remote: String(args.remote), port: args.port as number | undefined, model: String(args.model), filters: ((args.filters as unknown[] | undefined) ?? []).map(String), out: io.stdout,
          request: { token: tokenFor(hostname, io.env, config), tokenHint: fleetTokenHint(config, io.env)(hostname), ...(args.ca ? { ca: readCa(args.ca as string) } : {}) },
        });
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
        ui().info(`Wrote ${n} object(s) to ${args.output}.`, 0);
      }))
    .command('remote', 'Manage the registry of remotes', (y) =>
      y
        .command('add <name> <host>', 'Register a remote with a name before its first sync', (z) =>
          common(z).option('port', { alias: 'p', type: 'number', describe: 'Remote port [default: 80]' }).option('descr', { type: 'string', describe: 'Description' }),
          run(async (args) => {
            const row = await addRemote({ db: dbOf(args), app: appOf(args), name: String(args.name), remote: String(args.host), port: args.port as number | undefined, descr: args.descr as string | undefined });
            ui().info(`Registered remote ${row.name} (${row.hostname}).`, 0);
          }))
        .command('list', 'List registered remotes (a table on a terminal, TSV when piped, --json)', (z) => common(z).option('json', { type: 'boolean', describe: 'As one JSON array' }), run(async (args) => {
          const rows = await getRemotes({ db: dbOf(args), app: appOf(args) });
          if (args.json) io.stdout.write(`${JSON.stringify(rows.map((r) => ({ ...r, is_tls: Boolean(r.is_tls) })))}\n`);
          else writeTable(io.stdout, ['name', 'hostname', 'last_sync', 'descr'], rows.map((r) => [r.name, `${r.is_tls ? 'https://' : ''}${r.hostname}`, r.last_sync ?? 'never', r.descr ?? '']));
        }))
        .command('remove <name>', 'Unregister a remote (refuses while rows come from it, unless --purge)', (z) =>
          common(z).option('purge', { type: 'boolean', describe: "Also delete the app's rows that came from it" }),
          run(async (args) => {
            const r = await removeRemote({ db: dbOf(args), app: appOf(args), name: String(args.name), purge: Boolean(args.purge) });
            ui().info(`Removed remote ${r.remote.name}${r.purged ? ` and ${r.purged} row(s) from it` : ''}.`, 0);
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
        for (const warning of warnings) ui().warn(warning);
        const text = `${JSON.stringify(manifest, null, 2)}\n`;
        if (args.output) {
          writeFileSync(String(args.output), text);
          ui().info(`Wrote the manifest of ${Object.keys((manifest as { models: object }).models).length} models to ${args.output}; use it with -a ${args.output}`, 0);
        } else io.stdout.write(text);
      }))
    .command('restore <file>', 'Bring the app and bookkeeping tables back to a backup taken before a sync', (y) =>
      common(y)
        .option('force', { type: 'boolean', describe: 'Restore a backup taken from another database (refused otherwise)' })
        .option('work-dir', { alias: 'w', type: 'string', describe: 'Work dir: the tables as they were before the restore are saved in <work dir>/<database>/before-restore/' }),
      run(async (args) => {
        // -a overrides the manifest recorded in the backup.
        const r = await restore({ file: String(args.file), db: dbOf(args), app: args.app as string | undefined, force: Boolean(args.force), workDir: workDirOf(args) });
        ui().info(`Saved the tables as they were in ${r.snapshot} (restore it to undo).`, 0);
        ui().info(`Restored ${r.rows} row(s) in ${r.tables} table(s) from ${args.file}.`, 0);
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
        const result = await demo({ db: dbOf(args), port: args.port as number, emit: ui().event });
        ui().summary(result);
        ui().info(`The replicated data is in ${maskSecrets(dbOf(args))}.`, 0);
      }));
}
