import { ConfigError } from '../errors.js';
import { checkTcp, getInstanceInfo, type InstanceInfo } from '../sources/http-client.js';
import type { SyncRun, SyncTarget } from './run.js';

/**
 * Phase 1, check: the remote's host is up (a TCP connection), `GET /api/` answers, and it
 * serves the run's app. Returns what it said about itself (its models, its clock).
 */
export async function checkRemote(run: SyncRun, target: SyncTarget): Promise<InstanceInfo> {
  const { options, manifest } = run;
  const { endpoint, token } = target;
  run.emit({ type: 'phase', phase: 'check', message: `Checking ${endpoint.baseUrl}` });
  await checkTcp(endpoint, options.http?.connectTimeoutMs);
  const info = await getInstanceInfo(endpoint, { ...options.http, token });
  if (info.app !== manifest.app) {
    throw new ConfigError(`Remote ${endpoint.hostname} serves app "${info.app}", not "${manifest.app}"; use -a ${info.app} with its manifest`, { meta: { remote: endpoint.hostname } });
  }
  run.emit({ type: 'remote-up', remote: endpoint.hostname, app: info.app, instance: info.instance });
  return info;
}
