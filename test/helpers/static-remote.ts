import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A fake instance that serves given bodies as they are: for payloads `serve` would never produce. */
export interface StaticRemote {
  port: number;
  /** Replace what a model's URL answers. */
  set(model: string, body: unknown): void;
  close(): Promise<void>;
}

/**
 * Serve `GET /api/` for `app` and `GET /api/<Model>/` from `bodies` (a value is sent as JSON,
 * a string as it is). Models not in `bodies` answer `[]`.
 */
export async function startStaticRemote(app: string, models: string[], bodies: Record<string, unknown> = {}): Promise<StaticRemote> {
  const data = new Map(Object.entries(bodies));
  const server = http.createServer((req, res) => {
    const headers = { 'content-type': 'application/json', 'x-server-time': new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
    if (req.url === '/api/') {
      res.writeHead(200, headers);
      return res.end(JSON.stringify({ app, instance: 'static', models, server_time: headers['x-server-time'] }));
    }
    // An instance may ignore modified_after and send everything: the upsert is idempotent.
    const m = /^\/api\/([^/]+)\/(?:modified_after\/[^/]+\/)?$/.exec(req.url ?? '');
    if (!m || !models.includes(m[1])) {
      res.writeHead(404, headers);
      return res.end('{"error":"not found"}');
    }
    const body = data.get(m[1]) ?? [];
    res.writeHead(200, headers);
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    set: (model, body) => data.set(model, body),
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** Split a Django fixture (mixed models) into per-model arrays keyed by manifest model name. */
export function splitByModel(objects: Array<{ model: string }>, names: string[]): Record<string, unknown[]> {
  const byKey = new Map(names.map((n) => [`hcore.${n.toLowerCase()}`, n]));
  const out: Record<string, unknown[]> = {};
  for (const o of objects) {
    const name = byKey.get(o.model.toLowerCase());
    if (!name) continue;
    (out[name] ??= []).push(o);
  }
  return out;
}
