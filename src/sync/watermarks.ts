import type { Knex } from 'knex';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { WATERMARK_TABLE } from '../schema/bookkeeping.js';

/**
 * How far before the watermark an incremental fetch starts: the watermark is cut to the
 * second and `modified_after` compares strictly, so an overlap makes sure nothing changed in
 * the watermark's own second is lost; the idempotent upsert absorbs what comes twice.
 */
export const WATERMARK_OVERLAP_S = 5;

/** The watermarks of a remote and app: model -> the remote's clock at its last successful fetch. */
export async function readWatermarks(knex: Knex | Knex.Transaction, remoteId: number | undefined, app: string): Promise<Map<string, string>> {
  if (remoteId === undefined || !(await knex.schema.hasTable(WATERMARK_TABLE))) return new Map();
  const rows = await knex(WATERMARK_TABLE).select('model', 'server_time').where({ database_id: remoteId, app });
  return new Map(rows.map((r) => [String(r.model), String(r.server_time)]));
}

/** Store watermarks inside the install transaction, so they commit or roll back with the data. */
export async function writeWatermarks(trx: Knex.Transaction, remoteId: number, app: string, watermarks: Map<string, string>): Promise<void> {
  for (const [model, serverTime] of watermarks) {
    await trx(WATERMARK_TABLE).where({ database_id: remoteId, app, model }).del();
    await trx(WATERMARK_TABLE).insert({ database_id: remoteId, app, model, server_time: serverTime });
  }
}

/** Whether a model can be fetched incrementally: its root names a lastModified column. */
export function isIncremental(manifest: AppManifest, model: ModelDef): boolean {
  return manifest.models.get(model.root)!.lastModified !== undefined;
}

/** `<watermark minus the overlap>` as the ISO text of a `modified_after/` URL, or undefined if unparsable. */
export function modifiedAfterParam(watermark: string): string | undefined {
  const ms = Date.parse(watermark);
  if (Number.isNaN(ms)) return undefined;
  return new Date(ms - WATERMARK_OVERLAP_S * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
}
