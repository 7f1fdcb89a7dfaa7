import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { parseRemote } from '../sources/remote-endpoint.js';
import { centreRequest, type CentreClientOptions } from './push-client.js';

/**
 * `push --enrol CODE`: trade the one-time code `site add --enrol` printed at the centre for the
 * site's token, and keep the token in the site's config file (`centres.<host[:port]>.token`,
 * file mode 0600). The token is never printed.
 */
export async function enrol(options: { to: string; code: string; configFile: string; http?: Omit<CentreClientOptions, 'token'> }): Promise<{ site: string; centre: string; configFile: string }> {
  const endpoint = parseRemote(options.to);
  const answer = await centreRequest(endpoint, 'POST', '/api/push/enrol', { ...options.http }, Buffer.from(JSON.stringify({ code: options.code })), { 'content-type': 'application/json' });
  if (answer.status !== 200 || typeof answer.body.token !== 'string') {
    throw new ConfigError(`Centre ${endpoint.hostname} refused the enrolment code (${answer.status}): ${String(answer.body.error ?? '')}`, { meta: { remote: endpoint.hostname } });
  }
  const file = path.resolve(options.configFile);
  let config: Record<string, unknown> = {};
  if (existsSync(file)) {
    try {
      config = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new ConfigError(`Cannot read config file ${file} to store the token: ${(error as Error).message}`);
    }
  }
  const centres = (config.centres ?? {}) as Record<string, Record<string, unknown>>;
  centres[endpoint.hostname] = { ...centres[endpoint.hostname], token: answer.body.token };
  config.centres = centres;
  await mkdir(path.dirname(file), { recursive: true });
  // Never readable by others, not even for a moment, and never half written: a new file, renamed over.
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await chmod(partial, 0o600);
  await rename(partial, file);
  return { site: String(answer.body.site), centre: endpoint.hostname, configFile: file };
}
