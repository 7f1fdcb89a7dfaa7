import type http from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

let processRegistry: Registry | undefined;

/**
 * The text of a scrape of `registry`, with the process' own metrics (memory, CPU, event loop
 * lag, GC): those are collected by one registry per process, made at the first scrape, since
 * each collection starts its own observers and a process may run several servers.
 */
export async function scrape(registry: Registry): Promise<{ contentType: string; body: string }> {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return { contentType: registry.contentType, body: await Registry.merge([processRegistry, registry]).metrics() };
}

/** The kinds of request `serve` counts (a label with few values: never the path itself). */
export type RouteKind = 'info' | 'fixture' | 'ids' | 'push' | 'exchange' | 'metrics' | 'other';

/** Which kind of request a path is. */
export function routeKind(path: string): RouteKind {
  if (path === '/api/' || path === '/api') return 'info';
  if (path === '/metrics') return 'metrics';
  if (path.startsWith('/api/push/')) return 'push';
  if (path.startsWith('/api/exchange/')) return 'exchange';
  if (/^\/api\/[^/]+\/ids\/?$/.test(path)) return 'ids';
  if (path.startsWith('/api/')) return 'fixture';
  return 'other';
}

/**
 * What `serve` counts, in Prometheus' text format at `/metrics`: requests by kind, method and
 * status, fixtures streaming now, bytes sent, and a centre's bundles accepted and refused. One
 * registry per server (a process may run several), scraped with the process' own metrics.
 */
export class ServeMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'remotesyncdb_serve_requests_total', help: 'Requests answered, by kind, method and status', labelNames: ['route', 'method', 'status'] as const, registers: [this.registry] });
  private readonly bytes = new Counter({ name: 'remotesyncdb_serve_bytes_out_total', help: 'Bytes of response bodies sent', registers: [this.registry] });
  private readonly bundles = new Counter({ name: 'remotesyncdb_serve_bundles_total', help: 'Bundles sites asked the centre to commit: accepted, or refused (by reason)', labelNames: ['outcome', 'reason'] as const, registers: [this.registry] });

  /** `streamsNow` says how many fixtures are streaming at the moment of a scrape. */
  constructor(streamsNow: () => number) {
    new Gauge({ name: 'remotesyncdb_serve_streams_in_flight', help: 'Fixtures being streamed now', registers: [this.registry], collect() { this.set(streamsNow()); } });
    // Every series a scrape can expect is there from the start, at 0.
    this.bundles.inc({ outcome: 'accepted', reason: '' }, 0);
    this.bytes.inc(0);
  }

  /** Count one response: its status when it ends, its body's bytes as they are written. */
  observe(req: http.IncomingMessage, res: http.ServerResponse): void {
    const route = routeKind((req.url ?? '/').split('?')[0]);
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => http.ServerResponse;
    // A HEAD answer's body is never sent.
    const isHead = req.method === 'HEAD';
    const count = (chunk: unknown) => {
      if (isHead) return;
      if (typeof chunk === 'string') this.bytes.inc(Buffer.byteLength(chunk));
      else if (chunk instanceof Uint8Array) this.bytes.inc(chunk.length);
    };
    res.write = ((chunk: unknown, ...rest: unknown[]) => (count(chunk), write(chunk, ...rest))) as typeof res.write;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== 'function') count(chunk);
      return end(chunk, ...rest);
    }) as typeof res.end;
    res.once('close', () => this.requests.inc({ route, method: req.method ?? '-', status: String(res.statusCode) }));
  }

  /** A centre accepted a bundle, or refused it (`reason`: incomplete, sha256, invalid, stale, repair, busy, error). */
  bundle(outcome: 'accepted' | 'refused', reason = ''): void {
    this.bundles.inc({ outcome, reason });
  }

  /** The text of a scrape. */
  text(): Promise<{ contentType: string; body: string }> {
    return scrape(this.registry);
  }
}
