import { init } from '../../src/admin/init.js';
import { loaddata } from '../../src/admin/loaddata.js';
import type { DialectName } from '../../src/dialects/index.js';
import { serve, type ServeResult } from '../../src/server/serve.js';
import { createDatabase, type TestDatabase } from './databases.js';

/** A real instance: a database loaded from fixtures and served over HTTP on 127.0.0.1. */
export interface TestInstance {
  db: TestDatabase;
  server: ServeResult;
  port: number;
  /** Restart the server on the same port (after changing its database). */
  close(): Promise<void>;
}

/** Load fixtures into a fresh database of `dialect` and serve it on a free port. */
export async function startInstance(options: { dialect?: DialectName; files: string[]; app?: string; tokens?: string[] }): Promise<TestInstance> {
  const db = await createDatabase(options.dialect ?? 'sqlite');
  const app = options.app ?? 'hcore';
  if (options.files.length > 0) await loaddata({ app, db: db.url, files: options.files });
  else await init({ app, db: db.url });
  const server = await serve({ app, db: db.url, port: 0, instance: 'test', tokens: options.tokens });
  return {
    db, server, port: server.port,
    async close() {
      await server.close();
      await db.drop();
    },
  };
}
