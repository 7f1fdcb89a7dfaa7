import type { Knex } from 'knex';
import { ConfigError } from '../errors.js';
import { dependencyOrder } from '../manifest/order.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { ORIGINAL_DB } from '../schema/app-tables.js';
import { IDMAP_TABLE } from '../schema/bookkeeping.js';
import type { InstanceInfo } from '../sources/http-client.js';
import type { SyncRun, SyncTarget } from './run.js';

/**
 * Whether the database holds rows of `model` (at its own MTI level) that came from the remote,
 * or that the remote claimed by natural key (a lookup another origin created first).
 */
async function hasRowsOf(knex: Knex | Knex.Transaction, manifest: AppManifest, model: ModelDef, remoteId: number): Promise<boolean> {
  const root = manifest.models.get(model.root)!;
  if (!(await knex.schema.hasTable(model.table)) || !(await knex.schema.hasTable(root.table))) return false;
  if ((await knex.schema.hasTable(IDMAP_TABLE)) && (await knex(IDMAP_TABLE).where({ original_db_id: remoteId, model: model.name }).first()) !== undefined) return true;
  const query = model.parent === undefined
    ? knex(model.table).where(ORIGINAL_DB, remoteId)
    : knex(model.table).join(root.table, `${root.table}.${root.pk}`, `${model.table}.${model.pk}`).where(`${root.table}.${ORIGINAL_DB}`, remoteId);
  return (await query.first()) !== undefined;
}

/** Check `-e` names against the manifest (before any network or database access). */
export function checkExcludes(manifest: AppManifest, exclude: readonly string[]): Set<string> {
  const unknown = exclude.filter((name) => !manifest.models.has(name));
  if (unknown.length > 0) {
    throw new ConfigError(`-e: unknown model(s) ${unknown.join(', ')} in app ${manifest.app}; models are: ${[...manifest.models.keys()].join(', ')}`);
  }
  return new Set(exclude);
}

/**
 * The models to sync, in dependency order: all minus excluded minus private. A planned model
 * that needs an unplanned one (its MTI parent, a NOT NULL FK target) is an error, unless that
 * model already has rows of this remote locally to match against.
 */
export async function planModels(manifest: AppManifest, excluded: ReadonlySet<string>, knex: Knex | undefined, remoteId: number | undefined, served?: readonly string[]): Promise<ModelDef[]> {
  const plan = dependencyOrder(manifest).filter((m) => !m.isPrivate && !excluded.has(m.name));
  const planned = new Set(plan.map((m) => m.name));
  const problems: string[] = [];
  const why = (name: string) => (manifest.models.get(name)!.isPrivate ? 'private' : 'excluded');
  const hasLocal = async (name: string) => (knex && remoteId !== undefined ? hasRowsOf(knex, manifest, manifest.models.get(name)!, remoteId) : false);
  for (const model of plan) {
    if (served && !served.includes(model.name)) problems.push(`${model.name}: the remote does not serve it (exclude it with -e ${model.name})`);
    // A parent installed by an earlier run (a push split into bundles) is matched like a NOT NULL FK target.
    if (model.parent && !planned.has(model.parent) && !(await hasLocal(model.parent))) problems.push(`${model.name}: its parent ${model.parent} is ${why(model.parent)}; an MTI child cannot be installed without it`);
    for (const fk of model.fks) {
      if (fk.isNullable || planned.has(fk.to)) continue;
      if (!(await hasLocal(fk.to))) problems.push(`${model.name}.${fk.name} is a NOT NULL foreign key to ${fk.to}, which is ${why(fk.to)} and has no local rows from this remote; do not exclude ${fk.to}, or exclude ${model.name} too`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`Cannot plan the sync:\n  ${problems.join('\n  ')}`);
  return plan;
}

/** Phase 2, plan: the models this run syncs from the remote that served `info`, announced. */
export async function planRun(run: SyncRun, target: SyncTarget, info: InstanceInfo): Promise<ModelDef[]> {
  const plan = await planModels(run.manifest, run.excluded, target.trx, target.registered?.id, info.models);
  run.emit({ type: 'plan', models: plan.map((m) => m.name) });
  return plan;
}
