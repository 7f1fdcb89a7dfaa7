import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { ConfigError, FetchError } from '../errors.js';
import { fetchFixture, type FetchRecord, type InstanceInfo, type RequestOptions } from '../sources/http-client.js';
import type { RemoteEndpoint } from '../sources/remote-endpoint.js';
import { fixtureFile, idsFile, readFetchManifest, writeFetchManifest, type FetchManifest } from '../sources/work-dir.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import type { SyncEvent } from './events.js';
import { planModels } from './plan.js';
import type { Staged, SyncRun, SyncTarget } from './run.js';
import { isIncremental, modifiedAfterParam, readWatermarks } from './watermarks.js';

/**
 * Phase 3, fetch: the plan's fixtures into the run's work dir, incrementally where watermarks
 * allow. Deletions show only beside the full list of what the remote holds: `--prune` fetches
 * each model's ids (`GET /api/<Model>/ids/`) beside its incremental fixture where the remote
 * offers them, and fetches everything from one that does not.
 */
export async function fetchStaged(run: SyncRun, target: SyncTarget, plan: ModelDef[], info: InstanceInfo): Promise<FetchManifest> {
  const { options, manifest } = run;
  const withIds = options.prune === true && !options.full && info.features.includes('ids');
  const isFull = options.full || (options.prune && !withIds);
  const watermarks = isFull ? new Map<string, string>() : await readWatermarks(target.trx, target.registered?.id, manifest.app);
  return fetchAll(target.endpoint, manifest, plan, target.dir, info, watermarks, target.request, run.emit, withIds);
}

/**
 * `--resume`, instead of phases 1 to 3: plan, and take the fixtures a `--fetch-only` run staged,
 * each checked against its fetch record, never contacting the remote.
 */
export async function resumeStaged(run: SyncRun, target: SyncTarget): Promise<Staged> {
  const { endpoint, dir, trx, registered } = target;
  const staged = await readFetchManifest(dir);
  if (!staged) throw new ConfigError(`--resume: nothing staged for ${endpoint.hostname} (${run.manifest.app}) in ${dir}; run with --fetch-only first`);
  run.emit({ type: 'phase', phase: 'plan', message: `Resuming from ${dir}` });
  const plan = await planModels(run.manifest, run.excluded, trx, registered?.id);
  await verifyStaged(dir, staged, plan, endpoint.hostname);
  const partial = plan.find((m) => staged.models[m.name]?.modifiedAfter && !staged.models[m.name]?.ids);
  if (run.options.prune && partial) throw new ConfigError(`--prune needs full fixtures or the remote's ids, but ${partial.name} was fetched incrementally without them; fetch again with -f --prune`);
  return { plan, fetched: staged };
}

/** Fixtures downloaded at once. */
const FETCH_CONCURRENCY = 3;

/**
 * Phase 3: every planned model's fixture into the work dir (incrementally where a watermark
 * allows), a few at a time; the first failure stops the others. Writes `fetch.json`.
 */
export async function fetchAll(endpoint: RemoteEndpoint, manifest: AppManifest, plan: ModelDef[], dir: string, info: { serverTime: string; instance?: string }, watermarks: Map<string, string>, request: RequestOptions, emit: (e: SyncEvent) => void, withIds = false): Promise<FetchManifest> {
  await mkdir(dir, { recursive: true });
  emit({ type: 'phase', phase: 'fetch', message: `Fetching ${plan.length} fixtures into ${dir}` });
  const record: FetchManifest = { remote: endpoint.hostname, app: manifest.app, serverTime: info.serverTime, ...(info.instance ? { instance: info.instance } : {}), models: {} };
  // A few fixtures at a time: the remote serializes one while we write another.
  const queue = [...plan];
  // The first failure stops the others at once: no request stays open, no file keeps growing.
  const abort = new AbortController();
  const worker = async () => {
    for (let model = queue.shift(); model && !abort.signal.aborted; model = queue.shift()) {
      const file = fixtureFile(dir, model.name);
      const watermark = isIncremental(manifest, model) ? watermarks.get(model.name) : undefined;
      const since = watermark === undefined ? undefined : modifiedAfterParam(watermark);
      const urlPath = `/api/${encodeURIComponent(model.name)}/${since ? `modified_after/${since}/` : ''}`;
      const stop = (error: unknown): never => {
        abort.abort();
        throw error;
      };
      const fetched = await fetchFixture(endpoint, model.name, urlPath, file, { ...request, signal: abort.signal }).catch(stop);
      // Beside an incremental fixture, --prune needs every pk the remote holds.
      const ids = withIds && since ? await fetchFixture(endpoint, model.name, `/api/${encodeURIComponent(model.name)}/ids/`, idsFile(dir, model.name), { ...request, signal: abort.signal }).catch(stop) : undefined;
      record.models[model.name] = {
        ...fetched, file: `${model.name}.json`, ...(since ? { modifiedAfter: since } : {}),
        ...(ids ? { ids: { file: `${model.name}.ids.json`, bytes: ids.bytes, sha256: ids.sha256, objects: ids.objects } } : {}),
      };
      emit({ type: 'model-fetched', model: model.name, bytes: fetched.bytes, objects: fetched.objects, ...(since ? { modifiedAfter: since } : {}) });
    }
  };
  const outcomes = await Promise.allSettled(Array.from({ length: FETCH_CONCURRENCY }, worker));
  // Report the failure that started it all, not the aborts it caused.
  const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => o.reason);
  if (failures.length > 0) throw failures.find((e) => !(e instanceof Error && e.name === 'AbortError') && !(e instanceof FetchError && /aborted/i.test(e.message))) ?? failures[0];
  await writeFetchManifest(dir, record);
  return record;
}

/** `--resume`: every planned model is staged and matches its fetch record. */
export async function verifyStaged(dir: string, staged: FetchManifest, plan: ModelDef[], remote: string): Promise<void> {
  for (const model of plan) {
    const record: FetchRecord | undefined = staged.models[model.name];
    const file = fixtureFile(dir, model.name);
    const refuse = (why: string): never => {
      // A refusal before anything is installed: the staged input is not what was fetched (exit 2).
      throw new ConfigError(`--resume: ${file} ${why}; fetch again with --fetch-only`, { code: 'E_STAGED', meta: { remote, model: model.name, file } });
    };
    if (!record) refuse(`is not in the fetch record ${dir}/fetch.json`);
    await checkFile(file, record!, (why) => refuse(why));
    if (record!.ids) await checkFile(idsFile(dir, model.name), record!.ids, (why) => refuse(`'s ids list ${why}`));
  }
}

/** A staged file is there, with the size and sha256 its fetch record says. */
async function checkFile(file: string, record: { bytes: number; sha256: string }, refuse: (why: string) => never): Promise<void> {
  const info = await stat(file).catch(() => undefined);
  if (!info) refuse('is missing');
  if (info!.size !== record.bytes) refuse(`has ${info!.size} bytes, the fetch record says ${record.bytes}`);
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  if (hash.digest('hex') !== record.sha256) refuse('does not match the sha256 of its fetch record (altered since it was fetched)');
}

