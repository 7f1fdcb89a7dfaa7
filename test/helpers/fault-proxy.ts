import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does with one request: forward it, forward a damaged body, or cut the link. */
export type ProxyAction = 'pass' | 'corrupt' | 'cut-before' | 'drop-answer';

/** A proxy in front of a real server on 127.0.0.1 that injects faults on chosen requests. */
export interface FaultProxy {
  port: number;
  /** Every request seen: method, path, body bytes. */
  seen: Array<{ method: string; path: string; bytes: number }>;
  close(): Promise<void>;
}

/**
 * Start a proxy to a port (or to the port a function picks per request, for several servers behind one address). `decide` is asked once per request (with its method, path and
 * the count of earlier requests like it) and the proxy: forwards it (`pass`); flips a byte of
 * its body first (`corrupt`); closes the link without forwarding (`cut-before`); or forwards it,
 * lets the server act, and closes the link instead of answering (`drop-answer`).
 */
export async function startFaultProxy(target: number | (() => number), decide: (req: { method: string; path: string; nth: number }) => ProxyAction = () => 'pass'): Promise<FaultProxy> {
  const seen: FaultProxy['seen'] = [];
  const counts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      const method = req.method ?? 'GET';
      const path = (req.url ?? '/').split('?')[0];
      const key = `${method} ${path.replace(/[0-9a-f-]{36}/, 'ID')}`;
      const nth = counts.get(key) ?? 0;
      counts.set(key, nth + 1);
      seen.push({ method, path, bytes: body.length });
      const action = decide({ method, path, nth });
      if (action === 'cut-before') return req.socket.destroy();
      if (action === 'corrupt' && body.length > 0) {
        body = Buffer.from(body);
        body[Math.floor(body.length / 2)] ^= 0xff;
      }
      const headers = { ...req.headers };
      delete headers.host;
      const upstream = http.request({ host: '127.0.0.1', port: typeof target === 'number' ? target : target(), method, path: req.url, headers }, (answer) => {
        const parts: Buffer[] = [];
        answer.on('data', (c: Buffer) => parts.push(c));
        answer.on('end', () => {
          if (action === 'drop-answer') return req.socket.destroy();
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(Buffer.concat(parts));
        });
      });
      upstream.on('error', () => req.socket.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
