import { Counter, Gauge, Registry } from 'prom-client';
import { scrape } from '../server/serve-metrics.js';
import type { FleetStatus } from './fleet-status.js';

const LABELS = ['member', 'kind'] as const;

/**
 * The fleet in Prometheus' text format (the console's `/metrics`): per remote or site, the last
 * success time, the last run's duration, rows written, objects received and rejects, failed
 * runs, lag and rows held; the conflicts by status. Set from one reading of the database per
 * scrape, so that a scrape is one consistent picture.
 */
export class ConsoleMetrics {
  readonly registry = new Registry();
  private readonly gauge = (name: string, help: string) => new Gauge({ name, help, labelNames: LABELS, registers: [this.registry] });
  private readonly lastSuccess = this.gauge('remotesyncdb_last_success_timestamp_seconds', 'When the last successful run began (Unix time)');
  private readonly lastDuration = this.gauge('remotesyncdb_last_run_duration_seconds', 'How long the last run took');
  private readonly lastObjects = this.gauge('remotesyncdb_last_run_objects', 'Rows the last run wrote (inserted, updated, deleted)');
  private readonly lastReceived = this.gauge('remotesyncdb_last_run_received_objects', 'Objects the last run received');
  private readonly lastRejects = this.gauge('remotesyncdb_last_run_rejects', 'Objects the last run left out (--skip at a pull; a centre rejecting a bundle object)');
  private readonly lastFailed = this.gauge('remotesyncdb_last_run_failed', '1 when the last run failed');
  private readonly lag = this.gauge('remotesyncdb_lag_seconds', "Seconds between now and the member's own clock at its last success");
  private readonly rows = this.gauge('remotesyncdb_rows', 'Rows of the app held here whose home is the member');
  private readonly open = this.gauge('remotesyncdb_open_conflicts', "Conflicts of a site's exchanges waiting for a decision");
  private readonly runs = new Counter({ name: 'remotesyncdb_runs_total', help: 'Runs in the history, by status', labelNames: [...LABELS, 'status'] as const, registers: [this.registry] });
  private readonly conflicts = new Gauge({ name: 'remotesyncdb_conflicts', help: 'Conflict records at this centre, by status (open: waiting; decided: by policy; resolved)', labelNames: ['status'] as const, registers: [this.registry] });

  /** The text of a scrape of `fleet`. */
  async text(fleet: FleetStatus): Promise<{ contentType: string; body: string }> {
    for (const metric of [this.lastSuccess, this.lastDuration, this.lastObjects, this.lastReceived, this.lastRejects, this.lastFailed, this.lag, this.rows, this.open, this.runs, this.conflicts]) metric.reset();
    for (const m of fleet.members) {
      const labels = { member: m.name, kind: m.kind };
      if (m.lastSuccess) this.lastSuccess.set(labels, Math.floor(Date.parse(m.lastSuccess.started) / 1000));
      const last = m.lastRun;
      if (last) {
        if (last.durationMs !== null) this.lastDuration.set(labels, last.durationMs / 1000);
        this.lastObjects.set(labels, last.objects ?? 0);
        this.lastReceived.set(labels, last.received ?? 0);
        this.lastRejects.set(labels, last.rejects ?? 0);
        this.lastFailed.set(labels, last.status === 'failed' ? 1 : 0);
      }
      if (m.lagSeconds !== null) this.lag.set(labels, m.lagSeconds);
      this.rows.set(labels, m.rows);
      if (m.kind === 'site') this.open.set(labels, m.openConflicts);
      this.runs.inc({ ...labels, status: 'success' }, m.runs - m.failures);
      this.runs.inc({ ...labels, status: 'failed' }, m.failures);
    }
    for (const [status, n] of Object.entries(fleet.conflicts)) this.conflicts.set({ status }, n);
    return scrape(this.registry);
  }
}
