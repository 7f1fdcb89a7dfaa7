import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ConfigError } from '../errors.js';
import { getModel, loadManifest } from '../manifest/load-manifest.js';
import { checkTcp, fetchFixture, type RequestOptions } from '../sources/http-client.js';
import { parseRemote } from '../sources/remote-endpoint.js';

/** Options of `remotesyncdb query`. */
export interface QueryOptions {
  app: string;
  remote: string;
  port?: number;
  model: string;
  /** `field=value` each: what the objects' fields must equal (`null` for none). */
  filters: readonly string[];
  /** Timeouts, retries, TLS trust and the token. */
  request?: RequestOptions;
  out: Writable;
}

/**
 * `remotesyncdb query -r HOST MODEL field=value...` (python-sync-db's query): the objects of a
 * model whose fields equal the values given, from `GET /api/<Model>/?field=value`, written to
 * `out` as the Django fixture the remote sent (checked to be one on the way). Returns their count.
 */
export async function query(options: QueryOptions): Promise<number> {
  const manifest = loadManifest(options.app);
  const model = getModel(manifest, options.model);
  if (!model || model.isPrivate) throw new ConfigError(`query: app ${manifest.app} has no model "${options.model}" that is served; models are: ${[...manifest.models.values()].filter((m) => !m.isPrivate).map((m) => m.name).join(', ')}`);
  const params = new URLSearchParams();
  for (const filter of options.filters) {
    const at = filter.indexOf('=');
    if (at <= 0) throw new ConfigError(`query: "${filter}" is not field=value`);
    params.append(filter.slice(0, at), filter.slice(at + 1));
  }
  const endpoint = parseRemote(options.remote, options.port);
  await checkTcp(endpoint, options.request?.connectTimeoutMs);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'remotesyncdb-query-'));
  try {
    const file = path.join(dir, `${model.name}.json`);
    const query = params.size > 0 ? `?${params}` : '';
    const fetched = await fetchFixture(endpoint, model.name, `/api/${encodeURIComponent(model.name)}/${query}`, file, options.request ?? {});
    await pipeline(createReadStream(file), options.out, { end: false });
    return fetched.objects;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
