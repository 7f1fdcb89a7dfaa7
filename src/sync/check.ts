import { ConfigError } from '../errors.js';
import { checkTcp, getInstanceInfo, type InstanceInfo } from '../sources/http-client.js';
import type { StartedRun } from './run.js';

/**
 * Phase 1, check (before anything is created locally): the remote's host is up (a TCP connection), `GET /api/` answers, and it
 * serves the run's app. Returns what it said about itself (its models, its clock).
 */
export async function checkRemote(run: StartedRun): Promise<InstanceInfo> {
  const { options, manifest, endpoint } = run;
  run.emit({ type: 'phase', phase: 'check', message: `Checking ${endpoint.baseUrl}` });
  await checkTcp(endpoint, options.http?.connectTimeoutMs);
  const info = await getInstanceInfo(endpoint, run.request);
  if (info.app !== manifest.app) {
    throw new ConfigError(`Remote ${endpoint.hostname} serves app "${info.app}", not "${manifest.app}"; use -a ${info.app} with its manifest`, { meta: { remote: endpoint.hostname } });
  }
  run.emit({ type: 'remote-up', remote: endpoint.hostname, app: info.app, instance: info.instance });
  return info;
}
