import { createWriteStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { ConfigError, LockError, RemoteSyncError, RemoteUnreachableError } from '../errors.js';
import { backoff } from '../sources/http-client.js';
import type { RemoteEndpoint } from '../sources/remote-endpoint.js';

/** How a site talks to its centre. */
export interface CentreClientOptions {
  token?: string;
  ca?: string | Buffer;
  /** No byte for this long aborts a request (which is then retried). */
  idleTimeoutMs?: number;
  /** Attempts of a request that fails transiently (network, 5xx, busy), with capped backoff and jitter. */
  attempts?: number;
  retryBaseMs?: number;
}

/** An answer of the centre. */
export interface CentreAnswer { status: number; body: Record<string, unknown> }

/** The centre refused a push for good (422: a schema or payload it will not take). */
export class PushRefusedError extends RemoteSyncError {
  constructor(message: string, options: { meta?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, { code: 'E_PUSH_REFUSED', exitCode: 1, ...options });
  }
}

/** Statuses worth another try: the centre is busy, restarting or overloaded. */
const isTransientStatus = (status: number) => status >= 500 || status === 429;

/** One request to the centre, no retries. */
function requestOnce(endpoint: RemoteEndpoint, method: string, path: string, options: CentreClientOptions, body?: Buffer, headers: Record<string, string> = {}, file?: string): Promise<CentreAnswer> {
  const lib = endpoint.isTls ? https : http;
  return new Promise((resolve, reject) => {
    const request = lib.request(`${endpoint.baseUrl}${path}`, {
      method,
      headers: {
        accept: 'application/json', 'user-agent': 'remotesyncdb-push', ...headers,
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(body ? { 'content-length': String(body.length), 'content-type': headers['content-type'] ?? 'application/octet-stream' } : {}),
      },
      timeout: options.idleTimeoutMs ?? 300_000,
      ...(endpoint.isTls && options.ca ? { ca: options.ca } : {}),
    }, (response) => {
      if (file && response.statusCode === 200) {
        // A long answer (an exchange's feed) streams to a file: the memory stays bounded.
        const out = createWriteStream(file);
        response.pipe(out);
        response.once('error', reject);
        out.once('error', reject);
        out.once('finish', () => resolve({ status: 200, body: {} }));
        return;
      }
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('error', reject);
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: Record<string, unknown> = {};
        try {
          parsed = text ? JSON.parse(text) : {};
        } catch {
          parsed = { error: text.slice(0, 200) };
        }
        resolve({ status: response.statusCode ?? 0, body: parsed });
      });
    });
    request.once('timeout', () => request.destroy(new Error(`no answer for ${options.idleTimeoutMs ?? 300_000} ms`)));
    request.once('error', reject);
    request.end(body);
  });
}

/**
 * A request to the centre: network failures, 5xx, 429 and 503 (busy) are retried with capped
 * exponential backoff and jitter; 401/403 stop at once (exit 2: the token); other answers go
 * back to the caller, which knows what a 409 means there. With `file`, a 200 answer's body is
 * written there instead.
 */
export async function centreRequest(endpoint: RemoteEndpoint, method: string, path: string, options: CentreClientOptions, body?: Buffer, headers?: Record<string, string>, file?: string): Promise<CentreAnswer> {
  const attempts = options.attempts ?? 6;
  for (let attempt = 1; ; attempt++) {
    let failure: string;
    let lastStatus = 0;
    try {
      const answer = await requestOnce(endpoint, method, path, options, body, headers, file);
      lastStatus = answer.status;
      if (answer.status === 401 || answer.status === 403) {
        throw new ConfigError(`Centre ${endpoint.hostname} refused the push token (${answer.status}): ${String(answer.body.error ?? '')}. Give the site's token in REMOTESYNCDB_PUSH_TOKEN or the config file (push --enrol CODE stores it), or ask the centre (site status, site enable, site rotate-token)`, { meta: { remote: endpoint.hostname } });
      }
      if (!isTransientStatus(answer.status)) return answer;
      failure = `${method} ${path} answered ${answer.status}: ${String(answer.body.error ?? '')}`;
    } catch (error) {
      if (error instanceof RemoteSyncError) throw error;
      failure = `${method} ${path} failed: ${(error as Error).message}`;
    }
    if (attempt >= attempts) {
      if (lastStatus === 503) throw new LockError(`Centre ${endpoint.hostname} stayed busy (${failure}, ${attempt} attempts); the next push will try again`, { meta: { remote: endpoint.hostname } });
      throw new RemoteUnreachableError(`Centre ${endpoint.hostname}: ${failure} (after ${attempt} attempts)`, { meta: { remote: endpoint.hostname } });
    }
    await backoff(attempt, options.retryBaseMs);
  }
}
