import path from 'node:path';
import tmp from 'tmp';
import { PACKAGE_DIR } from '../manifest/load-manifest.js';
import { serve } from '../server/serve.js';
import type { SyncEvent, SyncResult } from '../sync/events.js';
import { sync } from '../sync/sync.js';
import { loaddata } from './loaddata.js';

/** Options of `remotesyncdb demo`. */
export interface DemoOptions {
  /** Where the sample is synced to; default the embedded `./remotesyncdb.sqlite`. */
  db?: string;
  /** Port of the temporary instance; fixed so that repeated demos are one remote. */
  port?: number;
  workDir?: string;
  emit?: (event: SyncEvent | { type: 'demo'; message: string }) => void;
}

/** The bundled sample data set of the hcore app. */
export const SAMPLE_FIXTURE = path.join(PACKAGE_DIR, 'fixtures', 'hcore', 'sample', 'hcore-sample.json');

/**
 * Load the bundled sample into a temporary SQLite database, serve it on 127.0.0.1 and sync
 * it over real HTTP into the target database: the whole job, end to end.
 */
export async function demo(options: DemoOptions = {}): Promise<SyncResult> {
  const emit = options.emit ?? (() => {});
  const dir = tmp.dirSync({ prefix: 'remotesyncdb-demo-', unsafeCleanup: true });
  try {
    const source = path.join(dir.name, 'source.sqlite');
    const loaded = await loaddata({ app: 'hcore', db: source, files: [SAMPLE_FIXTURE] });
    emit({ type: 'demo', message: `Loaded ${loaded} sample objects into a temporary instance database ${source}` });
    const server = await serve({ app: 'hcore', db: source, port: options.port ?? 8763, instance: 'demo' });
    emit({ type: 'demo', message: `Serving it at ${server.url}/api/` });
    try {
      // No backup: the demo's work dir is temporary, a backup there would be gone at once.
      return await sync({ app: 'hcore', remote: '127.0.0.1', port: server.port, exclude: ['UserProfile'], db: options.db, workDir: options.workDir ?? path.join(dir.name, 'work'), noBackups: options.workDir === undefined, emit });
    } finally {
      await server.close();
    }
  } finally {
    dir.removeCallback();
  }
}
