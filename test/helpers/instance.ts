import { afterAll, beforeAll } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
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

/** A served source loaded with the bundled sample and an empty target, for one describe block. */
export interface SourceAndTarget {
  source: TestInstance;
  target: TestDatabase;
}

/**
 * Register, in the calling describe block, a source instance (the sample, on SQLite) and a
 * fresh target of `dialect`, created before its tests and dropped after them. The returned
 * object is filled in by then: use `pair.source.port`, `pair.target.url` inside tests.
 */
export function sourceAndTarget(dialect: DialectName = 'sqlite'): SourceAndTarget {
  const pair = {} as SourceAndTarget;
  beforeAll(async () => {
    pair.source = await startInstance({ files: [SAMPLE_FIXTURE] });
    pair.target = await createDatabase(dialect);
  });
  afterAll(async () => {
    await pair.source?.close();
    await pair.target?.drop();
  });
  return pair;
}
