import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { AppManifest, FieldDef, ModelDef } from '../manifest/types.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../schema/app-tables.js';
import { IntMap } from '../install/int-collections.js';
import { normalizeDatetime, normalizeDecimal, stableStringify } from '../values/values.js';

/**
 * A row's version as both sides of an exchange can compute it (DESIGN §10): its fields in
 * a neutral form, every reference written as the referenced row's identity between the pair,
 * `s<pk>` for a row whose home is the site (its pk there) and `c<id>` for any other (its id at
 * the centre). The site gets those from its origin tags (a row tagged with the centre is
 * `c<original_id>`), the centre from its own (a row tagged with the site is `s<original_id>`),
 * so the same row has the same version on both sides whatever ids each one gave it.
 */
export type Canon = Record<string, unknown>;

/** The identity of a row between a site and its centre: `s<site pk>` or `c<centre id>`. */
export type RowRef = string;

/** A version: its canonical fields and their hash. */
export interface Version { hash: string; fields: Canon }

/** Which side computes: its own rows are `s` at the site and `c` at the centre. */
export type Side = 'site' | 'centre';

/** One plain value in the neutral form (what `toFixtureValue` gave, from any dialect). */
function neutral(field: FieldDef, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (field.type) {
    case 'integer':
      return Number(value);
    case 'float':
      // 15 significant digits: what every database gives back of a double it was sent.
      return Number(Number(value).toPrecision(15));
    case 'decimal':
      return normalizeDecimal(String(value));
    case 'boolean':
      return value === true || value === 1 || value === '1' || value === 't' || value === 'true';
    case 'date':
      return String(value).slice(0, 10);
    case 'datetime':
      return normalizeDatetime(String(value));
    case 'json':
      return stableStringify(typeof value === 'string' ? safeParse(value) : value);
    default:
      return String(value);
  }
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The peer's origin tags on one side, per MTI root: local id -> the row's pk at its home.
 * At the site the peer is the centre (tagged rows are the centre's), at the centre the site.
 */
export class PeerTags {
  private readonly maps = new Map<string, IntMap>();

  constructor(
    private readonly knex: Knex | Knex.Transaction,
    private readonly manifest: AppManifest,
    readonly peerId: number,
    readonly side: Side,
  ) {}

  /** Load the tags of the roots of these models (again after rows were written). */
  async load(models: Iterable<ModelDef>, reload = false): Promise<void> {
    for (const model of models) {
      const root = this.manifest.models.get(model.root)!;
      if (this.maps.has(root.name) && !reload) continue;
      const map = new IntMap();
      for (const row of await this.knex(root.table).select(`${root.pk} as id`, `${ORIGINAL_ID} as original`).where(ORIGINAL_DB, this.peerId).orderBy(root.pk)) map.set(Number(row.id), Number(row.original));
      this.maps.set(root.name, map);
    }
  }

  /** The peer's pk of a local row of `model` tagged with the peer (undefined: not the peer's). */
  peerPk(model: ModelDef, localId: number): number | undefined {
    return this.maps.get(model.root)?.get(localId);
  }

  /** The identity of a local row of `model` between the pair. */
  ref(model: ModelDef, localId: number): RowRef {
    const original = this.peerPk(model, localId);
    if (this.side === 'site') return original === undefined ? `s${localId}` : `c${original}`;
    return original === undefined ? `c${localId}` : `s${original}`;
  }
}

/**
 * The version of one fixture object (as `serializeModel` writes it, ids local to `tags`' side):
 * every declared field but the lastModified column (the local write time, never a change),
 * FKs and auto m2m lists as row identities (m2m sorted).
 */
export function versionOf(manifest: AppManifest, model: ModelDef, fields: Record<string, unknown>, ref: (target: ModelDef, id: number) => RowRef): Version {
  const canon: Canon = {};
  for (const field of model.fields) {
    if (field.name === model.lastModified) continue;
    canon[field.name] = neutral(field, fields[field.name]);
  }
  for (const fk of model.fks) {
    const value = fields[fk.name];
    canon[fk.name] = value === null || value === undefined ? null : ref(manifest.models.get(fk.to)!, Number(value));
  }
  for (const m2m of model.m2m) {
    if (m2m.kind !== 'auto') continue;
    const target = manifest.models.get(m2m.to)!;
    const list = Array.isArray(fields[m2m.name]) ? (fields[m2m.name] as unknown[]) : [];
    canon[m2m.name] = list.map((id) => ref(target, Number(id))).sort();
  }
  return { hash: hashOf(canon), fields: canon };
}

/** The hash of canonical fields (32 hex digits). */
export function hashOf(canon: Canon): string {
  return createHash('sha256').update(stableStringify(canon)).digest('hex').slice(0, 32);
}

/** Parse a row identity; undefined when it is not one. */
export function parseRef(ref: unknown): { side: Side; pk: number } | undefined {
  const m = typeof ref === 'string' ? /^([sc])(\d+)$/.exec(ref) : null;
  return m ? { side: m[1] === 's' ? 'site' : 'centre', pk: Number(m[2]) } : undefined;
}
