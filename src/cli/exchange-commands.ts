import type { Argv } from 'yargs';
import { pushTokenFor } from '../config.js';
import { listConflicts, resolveConflict, showConflict, type Conflict } from '../exchange/conflicts.js';
import { exchange, repair, type ExchangeOptions, type ExchangeResult } from '../exchange/exchange.js';
import { parseRemote } from '../sources/remote-endpoint.js';
import { list } from './args.js';
import { centreLinkOptions, checkCentreLink, httpOf, repeat } from './push-commands.js';
import type { CommandContext } from './admin-commands.js';

type Args = Record<string, unknown>;

function conflictLine(c: Conflict): string {
  return `${c.id}\t${c.status}\t${c.site}\t${c.model} ${c.row ?? c.ref}\t${c.policy}: kept ${c.decision}\t${c.created}`;
}

function summary(r: ExchangeResult, verb: string): string {
  const held = r.held.length > 0 ? `, ${r.held.length} held here (changed since; sent next time)` : '';
  return `${verb} with ${r.centre}: sent ${r.sent} (${r.writtenAtCentre} written there, ${r.conflicts} conflict(s), ${r.rejected} rejected); received ${r.received} (${r.written} written, ${r.deleted} deleted${held}).${r.unsentFile ? ` Unsent local changes were written to ${r.unsentFile}.` : ''}`;
}

/** `exchange` and `repair` (at a site), `conflicts ...` (at the centre): DESIGN §10. */
export function exchangeCommands(parser: Argv, kit: CommandContext): Argv {
  const { common, run, appOf, dbOf, io } = kit;
  const print = (args: Args, value: unknown, text: string) => {
    if (args.json) io.stdout.write(`${JSON.stringify(value)}\n`);
    else kit.renderer().info(text, 0);
  };
  /** Data (a list, a conflict) goes to stdout as it is, for a pipe or a file: no log prefix. */
  const data = (args: Args, value: unknown, text: string) => io.stdout.write(`${args.json ? JSON.stringify(value) : text}\n`);
  const siteOptions = (y: Argv) =>
    common(y)
      .option('with', { type: 'string', demandOption: true, describe: 'The centre: https://host[:port] or host:port (serve --accept-push)' })
      .option('exclude', { alias: 'e', type: 'string', array: true, describe: 'Models not to exchange (repeatable or comma-separated)' })
      .option('work-dir', { alias: 'w', type: 'string', describe: 'Where bundles and the feed wait [default: $XDG_STATE_HOME/remotesyncdb]' })
      .option('max-bundle-bytes', { type: 'number', describe: 'Split what one exchange sends into consecutive bundles of at most N bytes' })
      .options(centreLinkOptions)
      .check(checkCentreLink);
  const optionsOf = (args: Args): ExchangeOptions => {
    const config = kit.configOf(args);
    return {
      with: String(args.with), app: appOf(args), db: dbOf(args), exclude: list(args.exclude), workDir: kit.workDirOf(args),
      token: pushTokenFor(parseRemote(String(args.with)).hostname, io.env, config),
      http: httpOf(args),
      chunkBytes: args['chunk-bytes'] as number,
      ...(args['max-bundle-bytes'] !== undefined ? { maxBundleBytes: args['max-bundle-bytes'] as number } : {}),
      emit: (message) => kit.renderer().info(message, 2),
      ...(args.full ? { full: true } : {}),
    };
  };
  const report = (args: Args, r: ExchangeResult, verb: string) => {
    // A cron run (-S) says where cron looks what needs an operator: rejects (exit 0, sent again next time).
    if (r.rejected > 0) io.stderr.write(`remotesyncdb: warning: centre ${r.centre} rejected ${r.rejected} object(s), to be sent again by the next exchange\n`);
    print(args, r, summary(r, verb));
  };
  return parser
    .command('exchange', "Two-way sync with a centre: send this site's changes, then apply the centre's (DESIGN §10)", (y) =>
      siteOptions(y)
        .option('every', { type: 'string', describe: 'Keep running: an exchange every DURATION (15m, 1h), with jitter' })
        .option('full', { alias: 'F', type: 'boolean', describe: "Have the centre compare every row with what this site holds, not only the rows whose lastModified moved since the last exchange" })
        .example('$0 exchange --with https://centre.example.org -a hcore --db laptop.sqlite -S', "a field laptop's cron line"),
      run(async (args) => {
        await repeat(kit, args, async () => report(args, await exchange(optionsOf(args)), 'Exchanged'));
      }))
    .command('repair', "Start again from the centre's state: unsent local changes go to a file first, the site's own rows are sent in full", siteOptions, run(async (args) => {
      report(args, await repair(optionsOf(args)), 'Repaired');
    }))
    .command('conflicts', 'The conflicts exchanges met at this centre: list, show, resolve', (y) =>
      y
        .command('list', 'List conflicts, newest first', (z) =>
          common(z)
            .option('site', { type: 'string', describe: "Only this site's" })
            .option('open', { type: 'boolean', describe: 'Only those a manual policy holds until resolved' })
            .option('json', { type: 'boolean', describe: 'As JSON' }),
          run(async (args) => {
            const found = await listConflicts({ db: dbOf(args), app: appOf(args), ...(args.site ? { site: String(args.site) } : {}), ...(args.open ? { status: 'open' } : {}) });
            data(args, found, found.length === 0 ? 'No conflicts.' : found.map(conflictLine).join('\n'));
          }))
        .command('show <id>', 'A conflict: the base, both versions, the policy and the decision', (z) => common(z).positional('id', { type: 'number' }).option('json', { type: 'boolean', describe: 'As JSON' }), run(async (args) => {
          const c = await showConflict({ db: dbOf(args), app: appOf(args), id: Number(args.id) });
          data(args, c, JSON.stringify(c, null, 2));
        }))
        .command('resolve <id>', 'Keep one version: it is written at the centre and flows to every site like an edit', (z) =>
          common(z)
            .positional('id', { type: 'number' })
            .option('take', { type: 'string', demandOption: true, describe: 'site, centre, or a JSON file with the fields to keep (as "conflicts show" prints a version)' })
            .option('json', { type: 'boolean', describe: 'As JSON' }),
          run(async (args) => {
            const c = await resolveConflict({ db: dbOf(args), app: appOf(args), id: Number(args.id), take: String(args.take) });
            print(args, c, `Conflict ${c.id} resolved: ${c.model} ${c.row ?? c.ref} now holds the ${args.take === 'site' || args.take === 'centre' ? `${String(args.take)}'s version` : `version in ${String(args.take)}`}.`);
          }))
        .demandCommand(1, 'conflicts: say list, show or resolve'));
}
