/**
 * remotesyncdb: replicate remote instances of a data application into one local database.
 * The library's public API; the CLI is a thin layer over these functions.
 */
export { sync, type SyncOptions } from './sync/sync.js';
export type { SyncEvent, SyncResult } from './sync/events.js';
export { serve, type ServeOptions, type ServeResult } from './server/serve.js';
export { createHandler, type HandlerOptions } from './server/create-handler.js';
export { startConsole, consoleHandler, type ConsoleOptions, type ConsoleServer } from './console/console-server.js';
export { readFleet, readMember, type FleetStatus, type FleetMember, type MemberDetail } from './console/fleet-status.js';
export { init, type InitOptions, type InitResult } from './admin/init.js';
export { loaddata, type LoadDataOptions } from './admin/loaddata.js';
export { dumpdata, type DumpDataOptions } from './admin/dumpdata.js';
export { addRemote, getRemotes, removeRemote } from './admin/remotes.js';
export { demo, type DemoOptions } from './admin/demo.js';
export { loadManifest, parseManifest } from './manifest/load-manifest.js';
export { dependencyOrder } from './manifest/order.js';
export type { AppManifest, ModelDef, FieldDef, FkDef, M2mDef, FieldType } from './manifest/types.js';
export { openDatabase, type Database, type DialectName } from './dialects/index.js';
export type { ModelCounts } from './install/install.js';
export * from './errors.js';
