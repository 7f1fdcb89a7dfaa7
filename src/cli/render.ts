import type { Writable } from 'node:stream';
import { databaseMessage, maskSecrets, RemoteSyncError } from '../errors.js';
import type { ModelCounts } from '../install/install.js';
import type { FleetEvent, FleetResult } from '../fleet/fleet.js';
import type { SyncEvent, SyncResult } from '../sync/events.js';

/** How the CLI talks: the only place that prints. */
export interface RenderOptions {
  stdout: Writable;
  stderr: Writable;
  /** 0 summary only, 1 progress (default), 2 debug. */
  verbosity: number;
  /** `-S`: nothing on stdout; errors still on stderr. */
  isSilent: boolean;
  /** `--json`: one JSON document on stdout and nothing else there. */
  isJson: boolean;
  /** Timestamped lines when stdout is not a terminal (cron, logs). */
  hasTimestamps: boolean;
}

/** A byte count for people. */
export const kb = (bytes: number) => (bytes < 1024 ? `${bytes} B` : bytes < 1 << 20 ? `${(bytes / 1024).toFixed(1)} kB` : `${(bytes / (1 << 20)).toFixed(1)} MB`);

/** Renders sync events and results as lines, or as one JSON document with `--json`. */
export class Renderer {
  constructor(private readonly options: RenderOptions) {}

  line(stream: Writable, text: string): void {
    const stamp = this.options.hasTimestamps ? `[${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}] ` : '';
    stream.write(`${stamp}${text}\n`);
  }

  /** Progress output: stdout at -v 1 and above, never under -S or --json. */
  info(text: string, level = 1): void {
    if (this.options.isSilent || this.options.isJson || this.options.verbosity < level) return;
    this.line(this.options.stdout, text);
  }

  /** Warnings: stderr at -v 1 and above, never under -S. */
  warn(text: string): void {
    if (this.options.isSilent || this.options.verbosity < 1) return;
    this.line(this.options.stderr, `warning: ${maskSecrets(text)}`);
  }

  /** A log line on stderr at `level` and above (serve's access log), masked, never under -S. */
  log(text: string, level: number): void {
    if (this.options.isSilent || this.options.verbosity < level) return;
    this.line(this.options.stderr, maskSecrets(text));
  }

  /** Errors always reach stderr, masked. */
  error(error: unknown): void {
    const message = error instanceof RemoteSyncError ? error.message : databaseMessage(error);
    this.line(this.options.stderr, `remotesyncdb: error: ${maskSecrets(message)}`);
    if (this.options.verbosity >= 2 && error instanceof Error && error.stack) this.options.stderr.write(`${maskSecrets(error.stack)}\n`);
    const cause = error instanceof Error ? (error.cause as Error | undefined) : undefined;
    const causeMessage = cause ? databaseMessage(cause) : '';
    if (cause && this.options.verbosity >= 1 && error instanceof RemoteSyncError && causeMessage && !message.includes(causeMessage)) {
      this.line(this.options.stderr, `  cause: ${maskSecrets(causeMessage)}`);
    }
  }

  /** One sync event. */
  event = (event: SyncEvent | { type: 'demo'; message: string }): void => {
    switch (event.type) {
      case 'phase': return this.info(event.message);
      case 'demo': return this.info(event.message);
      case 'remote-up': return this.info(`Remote host is up: ${event.remote} serves ${event.app}${event.instance ? ` (instance ${event.instance})` : ''}`);
      case 'remote-registered': return this.info(`Registered new remote ${event.remote}`);
      case 'backup': return this.info(`Backup of the tables before the install: ${event.file} (remotesyncdb restore FILE brings it back)`);
      case 'backup-discarded': return this.info(`Nothing changed: backup ${event.file} not kept (the older backups stay)`);
      case 'plan': return this.info(`Plan: ${event.models.join(', ')}`, 2);
      case 'model-fetched': return this.info(`  fetched ${event.model}: ${event.objects} objects, ${kb(event.bytes)}${event.modifiedAfter ? ` (modified after ${event.modifiedAfter})` : ''}`);
      case 'model-installing': return this.info(`  installing ${event.model}`, 2);
      case 'model-installed': return this.info(`  ${event.model}: ${describe(event.counts)}`, 2);
      case 'rewiring': return this.info(`Rewiring ${event.links} deferred links`, 2);
      case 'warning': return this.warn(event.message);
      case 'rolled-back': return this.info('Rolling back: the database is left as it was', 0);
    }
  };

  /** The closing report of a sync. */
  summary(result: SyncResult): void {
    // A cron run (-S) that left objects out says so where cron looks: one line on stderr; the exit code stays 0.
    if (this.options.isSilent && result.skipped > 0) {
      this.line(this.options.stderr, `remotesyncdb: warning: ${result.remote}: --skip left out ${result.skipped} object(s); see ${result.rejectsFile ?? 'rejects.txt'}`);
    }
    if (this.options.isJson) {
      if (!this.options.isSilent) this.options.stdout.write(`${JSON.stringify(result)}\n`);
      return;
    }
    if (result.status === 'fetched') {
      this.info(`Fetched ${result.objects} objects in ${result.fixtures} fixtures into ${result.workDir}; install them with --resume.`, 0);
      return;
    }
    const width = Math.max(5, ...result.models.map((m) => m.model.length));
    const hasDeleted = result.models.some((m) => m.deleted > 0);
    this.info(`${'model'.padEnd(width)}  inserted  updated  unchanged  skipped${hasDeleted ? '  deleted' : ''}`, 1);
    for (const m of result.models) {
      this.info(`${m.model.padEnd(width)}  ${String(m.inserted).padStart(8)}  ${String(m.updated).padStart(7)}  ${String(m.unchanged).padStart(9)}  ${String(m.skipped).padStart(7)}${hasDeleted ? `  ${String(m.deleted).padStart(7)}` : ''}`, 1);
    }
    if (result.disagreements && result.disagreements.length > 0) {
      this.info(`${result.disagreements.length} object(s) matched a local row by natural key but disagreed in other fields (listed above; -v 1).`, 0);
    }
    if (result.skipped > 0) this.info(`Skipped ${result.skipped} object(s) that could not be installed; see ${result.rejectsFile}`, 0);
    const r = result;
    if (r.status === 'dry-run') {
      this.info(`Dry run: received ${r.received} objects: would insert ${r.inserted}, update ${r.updated}, delete ${r.deleted}, skip ${r.skipped}; ${r.unchanged} unchanged.`, 0);
      this.info(`Dry run: ${r.written} objects from ${r.fixtures} fixtures would be installed; nothing was written.`, 0);
    } else {
      this.info(`Received ${r.received} objects: ${r.inserted} inserted, ${r.updated} updated, ${r.deleted} deleted, ${r.skipped} skipped, ${r.unchanged} unchanged.`, 0);
      // Enhydris' closing line; N is what was written (inserted + updated + deleted).
      this.info(`Successfully installed ${r.written} objects from ${r.fixtures} fixtures.`, 0);
    }
  }

  /** A fleet run's events: each remote's own sync events, prefixed with its name. */
  fleetEvent = (event: FleetEvent): void => {
    switch (event.type) {
      case 'remote-start': return this.info(`Syncing ${event.name} (${event.remote})`);
      case 'sync-event': return this.event(prefixed(event.name, event.event));
      case 'remote-done': {
        const o = event.outcome;
        if (o.status === 'failed') return this.line(this.options.stderr, `remotesyncdb: error: ${o.name} (${o.remote}): ${maskSecrets(o.error?.message ?? 'failed')}`);
        if (o.status === 'skipped') return this.info(`${o.name} (${o.remote}): skipped (${o.reason})`);
        return this.info(`${o.name} (${o.remote}): ${o.result?.written ?? 0} objects written of ${o.result?.received ?? 0} received`);
      }
    }
  };

  /** The closing report of a fleet run: one line per remote, or one JSON document. */
  fleetSummary(result: FleetResult): void {
    if (this.options.isJson) {
      if (!this.options.isSilent) this.options.stdout.write(`${JSON.stringify({ status: result.failed > 0 ? 'failed' : 'success', ...result })}\n`);
      return;
    }
    const count = (status: string) => result.outcomes.filter((o) => o.status === status).length;
    for (const o of result.outcomes) {
      const what = o.status === 'success' ? `${o.result?.written ?? 0} objects written of ${o.result?.received ?? 0} received` : o.status === 'failed' ? `exit ${o.error?.exitCode}: ${maskSecrets(o.error?.message.split('\n')[0] ?? '')}` : o.reason ?? '';
      this.info(`  ${o.name.padEnd(20)} ${o.status.padEnd(8)} ${what}`, 1);
    }
    this.info(`Fleet: ${count('success')} of ${result.outcomes.length} synced, ${result.failed} failed, ${count('skipped')} skipped (${(result.durationMs / 1000).toFixed(1)} s).`, 0);
  }

  /** `--json` on failure: still exactly one document. */
  failure(error: unknown, remote?: string): void {
    if (!this.options.isJson || this.options.isSilent) return;
    const e = error instanceof RemoteSyncError ? error : undefined;
    this.options.stdout.write(`${JSON.stringify({ remote, status: 'failed', error: { code: e?.code ?? 'E_INTERNAL', message: maskSecrets(error instanceof Error ? error.message : String(error)), ...(e ? { meta: e.meta } : {}) } })}\n`);
  }
}

/** A sync event of one fleet member, its messages prefixed with the member's name. */
function prefixed(name: string, event: SyncEvent): SyncEvent {
  if (event.type === 'phase' || event.type === 'warning') return { ...event, message: `${name}: ${event.message}` };
  return event;
}

function describe(c: ModelCounts): string {
  return `${c.objects} objects: ${c.inserted} inserted, ${c.updated} updated, ${c.unchanged} unchanged${c.skipped ? `, ${c.skipped} skipped` : ''}`;
}
