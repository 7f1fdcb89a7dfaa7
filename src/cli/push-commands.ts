import { existsSync } from 'node:fs';
import type { Argv } from 'yargs';
import { configCandidates, pushTokenFor } from '../config.js';
import { RemoteSyncError } from '../errors.js';
import { parseInterval, runEvery } from '../fleet/fleet.js';
import { enrol } from '../push/enrol.js';
import { MAX_CHUNK_BYTES } from '../push/centre.js';
import { PushRefusedError, type CentreClientOptions } from '../push/push-client.js';
import { push, type PushResult } from '../push/push.js';
import { addSite, removeSite, rotateSiteToken, setSiteEnabled, siteStatus, type SiteStatus } from '../push/sites.js';
import { parseRemote } from '../sources/remote-endpoint.js';
import { list, readCa } from './args.js';
import type { CommandContext } from './admin-commands.js';

type Args = Record<string, unknown>;

function siteLine(s: SiteStatus): string {
  const last = s.lastBundle ? `last push ${s.lastBundle.committed} (bundle ${s.lastBundle.id}, ${s.lastBundle.objects ?? 0} objects, ${s.lastBundle.written ?? 0} written, ${s.lastBundle.rejects ?? 0} rejected), ${s.lagSeconds ?? '?'} s behind` : 'never pushed';
  return `${s.name}\t${s.isEnabled ? 'enabled' : 'disabled'}\t${last}${s.descr ? `\t${s.descr}` : ''}`;
}

/** The options of a command that talks to a centre (push, exchange, repair). */
export const centreLinkOptions = {
  timeout: { type: 'number', default: 300, describe: 'Seconds without an answer before a request is abandoned' },
  retries: { type: 'number', default: 5, describe: 'Retries of a request after a transient failure' },
  ca: { type: 'string', describe: 'PEM file of certificate authorities to trust for an https:// centre' },
  'chunk-bytes': { type: 'number', default: 1024 * 1024, describe: 'Bytes per upload request (a link that drops often wants smaller ones)' },
  silent: { alias: 'S', type: 'boolean', describe: 'Nothing on stdout; errors still on stderr; the exit code tells' },
  json: { type: 'boolean', describe: 'Print one JSON summary on stdout' },
} as const;

/** Checks of {@link centreLinkOptions} (and of --every and --max-bundle-bytes where a command has them). */
export function checkCentreLink(args: Args): true {
  if (args.every) parseInterval(String(args.every));
  if (args.silent && args.json) throw new Error('-S and --json exclude each other');
  const max = args['max-bundle-bytes'];
  if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 1024)) throw new Error('--max-bundle-bytes takes a whole number of at least 1024');
  const chunk = args['chunk-bytes'];
  if (typeof chunk !== 'number' || !Number.isInteger(chunk) || chunk < 1024 || chunk > MAX_CHUNK_BYTES) throw new Error(`--chunk-bytes takes a whole number from 1024 to ${MAX_CHUNK_BYTES}`);
  return true;
}

/** The HTTP options of {@link centreLinkOptions}. */
export function httpOf(args: Args): Omit<CentreClientOptions, 'token'> {
  return { idleTimeoutMs: (args.timeout as number) * 1000, attempts: 1 + (args.retries as number), ...(args.ca ? { ca: readCa(args.ca as string) } : {}) };
}

/**
 * Run `once`, or with `--every` again and again (with jitter) until stopped. Transient trouble
 * was already retried with backoff: it is said and the next turn waits; a refusal that will not
 * heal (token, configuration, a refused bundle) stops the loop with its exit code.
 */
export async function repeat(kit: CommandContext, args: Args, once: () => Promise<void>): Promise<void> {
  if (!args.every) return once();
  const abort = new AbortController();
  void kit.io.stopSignal?.then(() => abort.abort());
  await runEvery(parseInterval(String(args.every)), async () => {
    try {
      await once();
    } catch (error) {
      if (!(error instanceof RemoteSyncError) || error.exitCode === 2 || error instanceof PushRefusedError) throw error;
      kit.renderer().error(error);
    }
  }, { signal: abort.signal });
}

/** `push` (at a site) and `site ...` (at the centre): DESIGN §9. */
export function pushCommands(parser: Argv, kit: CommandContext): Argv {
  const { common, run, appOf, dbOf, io } = kit;
  const print = (args: Args, value: unknown, text: string) => {
    if (args.json) io.stdout.write(`${JSON.stringify(value)}\n`);
    else kit.renderer().info(text, 0);
  };
  return parser
    .command('push', "Send this site's changes to a centre (serve --accept-push)", (y) =>
      common(y)
        .option('to', { type: 'string', demandOption: true, describe: 'The centre: https://host[:port] or host:port' })
        .option('exclude', { alias: 'e', type: 'string', array: true, describe: 'Models not to push (repeatable or comma-separated)' })
        .option('prune', { type: 'boolean', describe: "Delete at the centre this site's rows that the site no longer has" })
        .option('full', { alias: 'F', type: 'boolean', describe: 'Send every object, not only what changed since the centre acknowledged' })
        .option('every', { type: 'string', describe: 'Keep running: a push every DURATION (10m, 1h), with jitter' })
        .option('enrol', { type: 'string', describe: 'Trade the one-time code of "site add --enrol" for the token, kept in the config file (0600)' })
        .option('work-dir', { alias: 'w', type: 'string', describe: 'Where the bundle waits for its ack [default: $XDG_STATE_HOME/remotesyncdb]' })
        .example('$0 push --to https://centre.example.org -a hcore --db /var/lib/station.sqlite -S', "a site's cron line")
        .option('max-bundle-bytes', { type: 'number', describe: 'Split what one push sends into consecutive bundles of at most N bytes, each committed on its own (only between models no reference crosses forward; a larger group travels alone)' })
        .options(centreLinkOptions)
        .check(checkCentreLink),
      run(async (args) => {
        // Enrolment may be what creates the config file that --config names.
        const config = args.enrol && typeof args.config === 'string' && !existsSync(args.config) ? {} : kit.configOf(args);
        const http = httpOf(args);
        if (args.enrol) {
          const file = config.source ?? (args.config as string | undefined) ?? configCandidates(io.env)[0];
          const r = await enrol({ to: String(args.to), code: String(args.enrol), configFile: file, http });
          print(args, { status: 'enrolled', site: r.site, centre: r.centre, configFile: r.configFile }, `Enrolled as site ${r.site} at ${r.centre}; the token is in ${r.configFile}.`);
          return;
        }
        const once = async (): Promise<PushResult> => push({
          to: String(args.to), app: appOf(args), db: dbOf(args), exclude: list(args.exclude), prune: Boolean(args.prune), full: Boolean(args.full),
          workDir: kit.workDirOf(args),
          token: pushTokenFor(parseRemote(String(args.to)).hostname, io.env, config), http, chunkBytes: args['chunk-bytes'] as number,
          ...(args['max-bundle-bytes'] !== undefined ? { maxBundleBytes: args['max-bundle-bytes'] as number } : {}),
          emit: (e) => { if (e.type === 'phase') kit.renderer().info(e.message, 2); },
        });
        const report = (r: PushResult) => {
          // A cron run (-S) whose objects the centre rejected says so where cron looks: one line on stderr, exit 0.
          if (r.rejected > 0) io.stderr.write(`remotesyncdb: warning: centre ${r.centre} rejected ${r.rejected} object(s), to be sent again by the next push; see ${r.rejectsFile}\n`);
          print(args, r, `Pushed ${r.acks.length === 1 ? `bundle ${r.ack.id}` : `${r.acks.length} bundles`} to ${r.centre}${r.resumed ? ' (resumed)' : ''}: ${r.objects} objects, ${r.written} written, ${r.rejected} rejected.`);
        };
        await repeat(kit, args, async () => report(await once()));
      }))
    .command('site', 'Manage the sites that push to this centre', (y) =>
      y
        .command('add <name>', 'Register a push site; prints its token (or with --enrol a one-time code) once', (z) =>
          common(z).option('descr', { type: 'string', describe: 'Description' }).option('enrol', { type: 'boolean', describe: 'Print a one-time code (valid 24 h) instead of the token' }).option('json', { type: 'boolean', describe: 'As JSON' }),
          run(async (args) => {
            const r = await addSite({ db: dbOf(args), app: appOf(args), name: String(args.name), descr: args.descr as string | undefined, enrol: Boolean(args.enrol) });
            const text = r.code
              ? `Site ${r.site.name} registered. Its one-time enrolment code (until ${r.expires}): ${r.code}\nAt the site: remotesyncdb push --to <this centre> --enrol ${r.code}`
              : `Site ${r.site.name} registered. Its push token (shown once; give it to the site as REMOTESYNCDB_PUSH_TOKEN): ${r.token}`;
            print(args, { site: r.site.name, ...(r.code ? { code: r.code, expires: r.expires } : { token: r.token }) }, text);
          }))
        .command('list', 'List the push sites', (z) => common(z).option('json', { type: 'boolean', describe: 'As JSON' }), run(async (args) => {
          const sites = await siteStatus({ db: dbOf(args), app: appOf(args) });
          print(args, sites, sites.length === 0 ? 'No push sites registered.' : sites.map(siteLine).join('\n'));
        }))
        .command('status [name]', "A site's last push: its bundle, counts, rejects, how far behind", (z) => common(z).option('json', { type: 'boolean', describe: 'As JSON' }), run(async (args) => {
          const sites = await siteStatus({ db: dbOf(args), app: appOf(args), name: args.name as string | undefined });
          print(args, sites, sites.map(siteLine).join('\n') || 'No push sites registered.');
        }))
        .command('disable <name>', "Refuse a site's pushes (its rows stay)", common, run(async (args) => {
          const s = await setSiteEnabled({ db: dbOf(args), app: appOf(args), name: String(args.name), isEnabled: false });
          kit.renderer().info(`Site ${s.name} disabled.`, 0);
        }))
        .command('enable <name>', "Take a site's pushes again", common, run(async (args) => {
          const s = await setSiteEnabled({ db: dbOf(args), app: appOf(args), name: String(args.name), isEnabled: true });
          kit.renderer().info(`Site ${s.name} enabled.`, 0);
        }))
        .command('rotate-token <name>', 'Give a site a new token; the old one stops working at once', (z) => common(z).option('json', { type: 'boolean', describe: 'As JSON' }), run(async (args) => {
          const r = await rotateSiteToken({ db: dbOf(args), app: appOf(args), name: String(args.name) });
          print(args, { site: r.site.name, token: r.token }, `Site ${r.site.name}: new push token (shown once): ${r.token}`);
        }))
        .command('remove <name>', "Unregister a site (refused while rows come from it, unless --purge)", (z) => common(z).option('purge', { type: 'boolean', describe: "Also delete the app's rows that came from it" }), run(async (args) => {
          const r = await removeSite({ db: dbOf(args), app: appOf(args), name: String(args.name), purge: Boolean(args.purge) });
          kit.renderer().info(`Removed site ${String(args.name)}${r.purged ? ` and ${r.purged} row(s) from it` : ''}.`, 0);
        }))
        .demandCommand(1, 'site: say add, list, status, disable, enable, rotate-token or remove'));
}
