import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../errors.js';

/** Read a request body of at most `limit` bytes, or undefined when it is larger. */
export async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A server listening, and how to stop it. */
export interface Listening {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Listen on `host:port` (0: a free port) and say where, or throw a ConfigError naming the
 * command (`what`) and what to do: a port in use is the usual mistake. `release` frees what
 * the server holds (its database), on close and on a failed start alike: nothing may keep the
 * process alive after either.
 */
export async function listen(server: http.Server, options: { what: string; host: string; port: number; isTls: boolean; release: () => Promise<void> }): Promise<Listening> {
  const { what, host, port } = options;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (error) {
    await options.release();
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'EADDRINUSE' ? `${what}: ${host}:${port} is already in use; choose another --port` : `${what}: cannot listen on ${host}:${port}: ${(error as Error).message}`, { cause: error });
  }
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `${options.isTls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    port: bound,
    async close() {
      // Every open connection goes too (a stream in progress).
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await options.release();
    },
  };
}
