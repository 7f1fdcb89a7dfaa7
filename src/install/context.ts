import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import { ModelInstallError } from '../errors.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { nowDatetime } from '../values/values.js';
import { takeIncoming, type Decide } from './conflict-rule.js';
import { IdMaps } from './id-map.js';
import type { IntMap, IntSet } from './int-collections.js';
import type { PendingM2m } from './m2m.js';
import type { Disagreement, NaturalKeyIndex } from './natural-keys.js';
import { Placeholders } from './placeholders.js';
import type { Reject, RejectSet } from './rejects.js';
import { PendingFks } from './rewire.js';
import { Tally, type ModelCounts } from './tally.js';

/** Progress reported by the install. */
export type InstallEvent =
  | { type: 'model-installing'; model: string }
  | { type: 'model-installed'; model: string; counts: ModelCounts }
  | { type: 'rewiring'; links: number }
  | { type: 'warning'; message: string };

/** Everything the install needs; it runs inside a transaction the caller opened. */
export interface InstallOptions {
  trx: Knex.Transaction;
  dialect: DialectAdapter;
  manifest: AppManifest;
  /** The models to install, in dependency order. */
  plan: readonly ModelDef[];
  /** The remote's registry id (`undefined` for a dry run against a remote not registered yet). */
  remoteId: number | undefined;
  /** The remote's hostname, for messages. */
  remote: string;
  /** The fixture objects of a model in batches (already fetched or staged); may be called twice with `skip`. */
  objects: (model: ModelDef) => AsyncIterable<unknown[]>;
  /** Every pk the origin still holds, per model, for `prune` (a push's pk lists; called often, so return a kept set); default: the pks `objects` held (a full fetch). */
  allPks?: (model: ModelDef) => IntSet;
  /** The conflict rule for stored rows of this origin; default {@link takeIncoming}. */
  decide?: Decide;
  /**
   * Whether a `take-remote` natural-key policy may write a row another origin created (default
   * true). A push centre says false: a site's token writes only the site's own rows.
   */
  mayTakeClaimed?: boolean;
  /**
   * Whether natural keys map incoming objects onto rows of others (default true). An exchange
   * says false: there every row's identity is its home's, and claims come from the peer.
   */
  naturalKeys?: boolean;
  /** `--skip`: leave out what cannot be installed (and what depends on it) instead of failing. */
  skip?: boolean;
  /** `--dry-run`: compute every count, write nothing. */
  isDryRun?: boolean;
  /** `--prune`: delete this remote's rows whose objects its (full) fixtures no longer hold. */
  prune?: boolean;
  emit?: (event: InstallEvent) => void;
}

/** The outcome of an install. */
export interface InstallResult {
  counts: ModelCounts[];
  rejects: Reject[];
  /** Natural-key matches whose other fields disagreed, and what was done. */
  disagreements: Disagreement[];
}

/** Where the objects come from: pull's staged fixtures, later a push bundle. */
export interface BatchSource {
  /** A model's fixture objects in batches; read twice under `--skip`. */
  batches: (model: ModelDef) => AsyncIterable<unknown[]>;
  /** Every pk the origin still holds (for prune), when the batches are incremental; called often, so a kept set. */
  allPks?: (model: ModelDef) => IntSet;
}

/** The state one install shares between its phases (one per transaction). */
export interface InstallContext {
  readonly trx: Knex.Transaction;
  readonly dialect: DialectAdapter;
  readonly manifest: AppManifest;
  readonly plan: readonly ModelDef[];
  /** The origin's hostname, for messages. */
  readonly remote: string;
  /** The origin's registry id (-1 in a dry run before it is registered). */
  readonly remoteId: number;
  readonly isDryRun: boolean;
  /** This run's time, written to `last_modified` of the rows it changes. */
  readonly now: string;
  readonly source: BatchSource;
  readonly decide: Decide;
  readonly mayTakeClaimed: boolean;
  readonly useNaturalKeys: boolean;
  readonly emit: (event: InstallEvent) => void;
  readonly idMaps: IdMaps;
  readonly placeholders: Placeholders;
  /** Names of the planned models. */
  readonly planned: ReadonlySet<string>;
  readonly tallies: ReadonlyMap<string, Tally>;
  /** What `--skip` leaves out (undefined without `--skip`). */
  rejects: RejectSet | undefined;
  /** The rejects reported, in order; `listed` holds their `model:pk` keys. */
  readonly rejectList: Reject[];
  readonly listed: Set<string>;
  /** FKs and m2m lists waiting for the rewire. */
  readonly pendingFks: PendingFks;
  readonly pendingM2m: PendingM2m[];
  /** Root model name -> local ids whose last_modified must move (a child or link changed). */
  readonly bumps: Map<string, IntSet>;
  /** The last id a dry run handed out (negative: no row has it). */
  fakeId: number;
  readonly disagreements: Disagreement[];
  /** Warnings already given (each once per install). */
  readonly warned: Set<string>;
}

/** The context of one install, before any phase ran. */
export function createInstallContext(options: InstallOptions): InstallContext {
  const { trx, dialect, manifest, plan } = options;
  const isDryRun = options.isDryRun === true;
  const remoteId = options.remoteId ?? -1;
  const now = nowDatetime();
  return {
    trx, dialect, manifest, plan, remote: options.remote, remoteId, isDryRun, now,
    source: { batches: options.objects, ...(options.allPks ? { allPks: options.allPks } : {}) },
    decide: options.decide ?? takeIncoming,
    mayTakeClaimed: options.mayTakeClaimed ?? true,
    useNaturalKeys: options.naturalKeys ?? true,
    emit: options.emit ?? (() => {}),
    idMaps: new IdMaps(trx, manifest, remoteId, dialect),
    placeholders: new Placeholders(trx, dialect, manifest, isDryRun),
    planned: new Set(plan.map((m) => m.name)),
    tallies: new Map(plan.map((m) => [m.name, new Tally()])),
    rejects: undefined,
    rejectList: [],
    listed: new Set(),
    pendingFks: new PendingFks(),
    pendingM2m: [],
    bumps: new Map(),
    fakeId: 0,
    disagreements: [],
    warned: new Set(),
  };
}

/** The install's state for the model being installed. */
export interface ModelStep {
  readonly model: ModelDef;
  readonly tally: Tally;
  /** The id map of the model's MTI root (remote pk -> local id). */
  readonly rootMap: IntMap;
  /** The MTI parent, whose row every object of the model needs. */
  readonly parent: ModelDef | undefined;
  /** The model's own lastModified column (roots only). */
  readonly lastModified: string | undefined;
  /** Rows of others this origin may map onto by natural key. */
  readonly naturalKeys: NaturalKeyIndex | undefined;
  /** Objects per batch (the dialect's bind-parameter limit). */
  readonly batchSize: number;
}

/** Give a warning once per install. */
export function warnOnce(ctx: InstallContext, key: string, message: string): void {
  if (!ctx.warned.has(key)) {
    ctx.warned.add(key);
    ctx.emit({ type: 'warning', message });
  }
}

/** Fail the install naming the origin, model, pk and field. */
export function failObject(ctx: InstallContext, model: ModelDef, pk: number, field: string | undefined, message: string): never {
  const { remote } = ctx;
  throw new ModelInstallError(`${remote}: ${model.name} pk=${pk}: ${field ? `${field} ` : ''}${message}`, { meta: { remote, model: model.name, pk, ...(field ? { field } : {}) } });
}

/** What the install returns: counts in plan order, rejects and natural-key disagreements. */
export function installResult(ctx: InstallContext): InstallResult {
  return { counts: ctx.plan.map((m) => ctx.tallies.get(m.name)!.counts(m.name)), rejects: ctx.rejectList, disagreements: ctx.disagreements };
}
