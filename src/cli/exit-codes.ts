import { RemoteSyncError } from '../errors.js';

/** The exit codes of DESIGN §7, decided here and nowhere else. */
export const EXIT = {
  ok: 0,
  /** The sync failed and was rolled back. */
  failed: 1,
  /** Usage or configuration error. */
  usage: 2,
  /** The remote is unreachable. */
  unreachable: 3,
  /** Another sync holds the lock. */
  locked: 4,
} as const;

/** The exit code for an error: its family's, or 1 for anything unexpected (still rolled back). */
export function exitCodeOf(error: unknown): number {
  return error instanceof RemoteSyncError ? error.exitCode : EXIT.failed;
}
