import type { InstallEvent, ModelCounts } from '../install/install.js';
import type { Disagreement } from '../install/natural-keys.js';

/** Everything a sync reports while it runs; the CLI renders these, the core never prints. */
export type SyncEvent =
  | InstallEvent
  | { type: 'phase'; phase: 'prepare' | 'check' | 'plan' | 'fetch' | 'install' | 'report'; message: string }
  | { type: 'remote-up'; remote: string; app: string; instance: string }
  | { type: 'remote-registered'; remote: string }
  | { type: 'backup'; file: string }
  /** The run changed no app row: its backup was removed, so that the older ones are not rotated out. */
  | { type: 'backup-discarded'; file: string }
  | { type: 'plan'; models: string[] }
  | { type: 'model-fetched'; model: string; bytes: number; objects: number; modifiedAfter?: string }
  | { type: 'rolled-back'; error: unknown };

/** A run's counts over all models: what arrived, and what became of it. */
export interface RunTotals {
  /** Objects read from the fixtures. */
  received: number;
  inserted: number;
  updated: number;
  /** Rows `--prune` deleted. */
  deleted: number;
  /** Objects `--skip` left out. */
  skipped: number;
  /** Objects that matched what was stored. */
  unchanged: number;
  /** Rows written: inserted + updated + deleted (the N of "Successfully installed N objects"). */
  written: number;
}

/** The outcome of one sync run. */
export interface SyncResult extends RunTotals {
  remote: string;
  app: string;
  status: 'success' | 'fetched' | 'dry-run';
  /** Objects read from the fixtures and installed or found unchanged (skipped ones not counted). */
  objects: number;
  /** Natural-key matches whose other fields disagreed, and what was done about each. */
  disagreements?: Disagreement[];
  /** With `--skip`: where the rejected objects are listed. */
  rejectsFile?: string;
  fixtures: number;
  models: ModelCounts[];
  serverTime?: string;
  workDir: string;
  durationMs: number;
  /** Milliseconds per phase: fetchMs, backupMs, insertMs (parse + insert), rewireMs, commitMs. */
  timings?: Record<string, number>;
}
