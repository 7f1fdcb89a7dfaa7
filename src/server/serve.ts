import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import { connectExistingDatabase } from '../dialects/index.js';
import { loadManifest } from '../manifest/load-manifest.js';
import { CONFLICT_POLICIES, type AppManifest, type ConflictPolicy } from '../manifest/types.js';
import { ConfigError } from '../errors.js';
import { createHandler, type HandlerOptions } from './create-handler.js';
import { listen } from './http-server.js';
import { ensurePushTables } from '../push/push-tables.js';
import { ensureSchema } from '../schema/ensure-schema.js';

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
  /** PEM certificate and key: serve https instead of http. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Fixtures streamed at once; more requests answer 503 with Retry-After (default 8). */
  maxStreams?: number;
  /** `--accept-push`: be a centre that enrolled sites push to (DESIGN §9); creates what it needs. */
  acceptPush?: boolean;
  /** A line per push refusal and per committed bundle. */
  log?: (line: string) => void;
  /** An exchange centre's conflict policies by model, over the manifest's (the config file's `policies`). */
  policies?: Readonly<Record<string, string>>;
  /** An exchange site silent for longer than this (ms) is told to repair (default 90 days). */
  retentionMs?: number;
  onError?: (error: unknown) => void;
  /** The access log: called once per request (see createHandler). */
  onRequest?: HandlerOptions['onRequest'];
}

/** The config file's `policies` checked against the manifest: a typo must not pass silently. */
export function checkPolicies(manifest: AppManifest, policies: Readonly<Record<string, string>>): Map<string, ConflictPolicy> {
  const out = new Map<string, ConflictPolicy>();
  for (const [name, policy] of Object.entries(policies)) {
    if (!manifest.models.has(name)) throw new ConfigError(`policies: app ${manifest.app} has no model "${name}" (models: ${[...manifest.models.keys()].join(', ')})`);
    if (!(CONFLICT_POLICIES as readonly string[]).includes(policy)) throw new ConfigError(`policies.${name}: "${policy}" is not a conflict policy (${CONFLICT_POLICIES.join(', ')})`);
    out.set(name, policy as ConflictPolicy);
  }
  return out;
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
  // Checked before the database is opened: a typo in the config file must not leave a pool open.
  const policies = checkPolicies(manifest, options.policies ?? {});
  const db = await connectExistingDatabase(options.db);
  // Read-only: serve never creates or alters anything, unless it is a centre that takes pushes.
  // A model whose table is missing answers 404.
  const missing: string[] = [];
  try {
    if (options.acceptPush) {
      await ensureSchema(db.knex, db.dialect, manifest, 'error');
      await ensurePushTables(db.knex, db.dialect, manifest.registry);
    }
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
  const handler = createHandler({
    db, manifest, instance: options.instance ?? os.hostname(), tokens: options.tokens, onError: options.onError, onRequest: options.onRequest, missing, maxStreams: options.maxStreams,
    ...(options.acceptPush ? { acceptPush: { log: options.log, policies, ...(options.retentionMs !== undefined ? { retentionMs: options.retentionMs } : {}) } } : {}),
  });
  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler) : http.createServer(handler);
  // Bounded requests: headers within 16 KiB (Node's default), 30 s to send them.
  server.headersTimeout = 30_000;
  server.requestTimeout = 0;
  return listen(server, { what: 'serve', host, port: options.port ?? 8000, isTls: Boolean(options.tls), release: () => db.knex.destroy() });
}
