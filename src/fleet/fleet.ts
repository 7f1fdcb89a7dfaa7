/**
 * The fleet: every remote of the config file synced in one run (`--all`), and that run
 * repeated on a timer (`--every 15m`) where there is no cron. Each remote is its own `sync()`
 * (one transaction each); one remote's failure never stops the others.
 */
export { fleetRemotes, fleetTokenFor, fleetTokenHint, identityOf, type FleetConfig, type FleetRemote } from './fleet-config.js';
export { syncAll, type FleetBaseOptions, type FleetEvent, type FleetOutcome, type FleetResult, type SyncAllControl } from './sync-all.js';
export { abortableSleep, DEFAULT_JITTER_RATIO, MIN_INTERVAL_MS, parseInterval, runEvery, type RunEveryOptions } from './run-every.js';
