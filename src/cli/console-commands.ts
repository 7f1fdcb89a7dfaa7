import type { Argv } from 'yargs';
import { CONSOLE_PORT, startConsole } from '../console/console-server.js';
import { readFleet, type FleetMember } from '../console/fleet-status.js';
import { duration } from '../console/pages.js';
import { connectExistingDatabase } from '../dialects/index.js';
import { ConfigError, maskSecrets } from '../errors.js';
import { loadManifest } from '../manifest/load-manifest.js';
import { readCa } from './args.js';
import { EXIT } from './exit-codes.js';
import type { CommandContext } from './admin-commands.js';
import { writeTable } from './table.js';

/** A console token shorter than this is warned about. */
const MIN_TOKEN_CHARS = 16;

/** `--port`: a whole number from 0 (any free port) to 65535. */
export function checkPort(args: Record<string, unknown>): true {
  const port = args.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port takes a whole number from 0 to 65535${Number.isNaN(port) ? '' : `, not ${String(port)}`}`);
  return true;
}

/** `console` (the web page and its /metrics) and `status` (the fleet page's numbers in a terminal or as JSON). */
export function consoleCommands(parser: Argv, ctx: CommandContext): Argv {
  const { io, common, run, appOf, dbOf } = ctx;
  const ui = () => ctx.renderer();
  return parser
    .command('console', 'A web page over this database: the fleet, each remote and site, the conflicts (resolvable with REMOTESYNCDB_CONSOLE_TOKEN), and /metrics', (y) =>
      common(y)
        .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on (0.0.0.0 opens it to other machines)' })
        .option('port', { alias: 'p', type: 'number', default: CONSOLE_PORT, describe: 'Port to listen on (0 picks a free one)' })
        .option('tls-cert', { type: 'string', describe: 'PEM certificate: serve https' })
        .option('tls-key', { type: 'string', describe: 'PEM private key of --tls-cert' })
        .check(checkPort)
        .example('REMOTESYNCDB_CONSOLE_TOKEN=$(cat ~/.console-token) $0 console --db postgres://centre@localhost/enhydris', 'the console of a centre, conflicts resolvable'),
      run(async (args) => {
        if (Boolean(args['tls-cert']) !== Boolean(args['tls-key'])) throw new ConfigError('--tls-cert and --tls-key go together');
        const tls = args['tls-cert'] ? { cert: readCa(args['tls-cert'] as string), key: readCa(args['tls-key'] as string) } : undefined;
        const token = io.env.REMOTESYNCDB_CONSOLE_TOKEN || undefined;
        if (token && token.length < MIN_TOKEN_CHARS) ui().warn(`REMOTESYNCDB_CONSOLE_TOKEN has ${token.length} characters: one of ${MIN_TOKEN_CHARS} or more is hard to guess (openssl rand -hex 16)`);
        const server = await startConsole({ app: appOf(args), db: dbOf(args), host: args.host as string, port: args.port as number, tls, token, onError: (e) => ui().error(e),
          onRequest: (r) => ui().log(`${r.client} ${r.method} ${r.path} ${r.status} ${r.ms} ms${r.isAborted ? ' (client went away)' : ''}`, r.status >= 400 ? 1 : 2) });
        // Resolving over plain http from other machines sends the token in clear.
        if (token && !tls && !['127.0.0.1', 'localhost', '::1'].includes(String(args.host))) ui().warn(`console listens on ${String(args.host)} over plain http: the console token crosses the network in clear; give --tls-cert and --tls-key`);
        ui().info(`Console of ${maskSecrets(dbOf(args))} at ${server.url}/ (${token ? 'conflicts resolvable with the console token' : 'read-only: set REMOTESYNCDB_CONSOLE_TOKEN to resolve conflicts'}); metrics at ${server.url}/metrics; Ctrl-C stops`, 0);
        await (io.stopSignal ?? new Promise<void>(() => {}));
        await server.close();
      }))
    .command('status', 'Every remote and site: last success, last failure, rows written, lag (the console\'s fleet page; a table on a terminal, TSV when piped, --json)', (y) =>
      common(y).option('json', { type: 'boolean', describe: 'As one JSON document' }),
      run(async (args) => {
        const manifest = loadManifest(appOf(args));
        const db = await connectExistingDatabase(dbOf(args));
        try {
          const fleet = await readFleet(db, manifest);
          // Under cron, a failing member is worth the mail: exit 1 tells the wrapper.
          const code = fleet.members.some((m) => m.isEnabled && m.lastRun?.status === 'failed') ? EXIT.failed : EXIT.ok;
          if (args.json) return io.stdout.write(`${JSON.stringify(fleet)}\n`), code;
          const state = (m: FleetMember) => (!m.isEnabled ? 'disabled' : !m.lastRun ? 'no runs' : m.lastRun.status === 'failed' ? 'FAILING' : 'ok');
          writeTable(io.stdout, ['name', 'kind', 'state', 'last success', 'last failure', 'error', 'written', 'rows', 'lag', 'conflicts'],
            fleet.members.map((m) => [m.name, m.kind, state(m), m.lastSuccess?.started ?? '', m.lastFailure?.started ?? '', m.lastFailure?.error ? maskSecrets(m.lastFailure.error.split('\n')[0]) : '',
              m.lastRun?.objects ?? '', m.rows, duration(m.lagSeconds), m.kind === 'site' ? m.openConflicts : '']));
          return code;
        } finally {
          await db.knex.destroy();
        }
      }));
}
