import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { openDatabase } from '../dialects/index.js';
import { loadManifest } from '../manifest/load-manifest.js';
import { ConfigError } from '../errors.js';
import { createHandler } from './create-handler.js';

/** Options of `remotesyncdb serve`. */
export interface ServeOptions {
  app: string;
  db?: string;
  /** Default 127.0.0.1: closed to other machines unless told otherwise. */
  host?: string;
  /** Default 8000; 0 picks a free port. */
  port?: number;
  instance?: string;
  tokens?: readonly string[];
  onError?: (error: unknown) => void;
}

/** A running instance. */
export interface ServeResult {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serve a database as a remote instance until `close()`. */
export async function serve(options: ServeOptions): Promise<ServeResult> {
  const manifest = loadManifest(options.app);
  const db = openDatabase(options.db);
  // Read-only: serve never creates or alters anything. A model whose table is missing answers 404.
  const missing: string[] = [];
  try {
    for (const model of manifest.models.values()) if (!model.isPrivate && !(await db.knex.schema.hasTable(model.table))) missing.push(model.name);
  } catch (error) {
    await db.knex.destroy();
    throw error;
  }
  if (missing.length === manifest.models.size) {
    await db.knex.destroy();
    throw new ConfigError(`serve: ${db.display} has none of the tables of app ${manifest.app}; load data first (remotesyncdb loaddata, or init)`);
  }
  const host = options.host ?? '127.0.0.1';
  const handler = createHandler({ db, manifest, instance: options.instance ?? os.hostname(), tokens: options.tokens, onError: options.onError, missing });
  const server = http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8000, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await db.knex.destroy();
    },
  };
}
