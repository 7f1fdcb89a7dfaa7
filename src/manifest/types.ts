/** The column types a manifest may declare. */
export const FIELD_TYPES = ['string', 'text', 'integer', 'float', 'decimal', 'boolean', 'date', 'datetime', 'json', 'binary'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

/** A plain column of a model (not its pk, not an FK). */
export interface FieldDef {
  readonly name: string;
  readonly type: FieldType;
  readonly isNullable: boolean;
  readonly default?: unknown;
  /** string: VARCHAR length. */
  readonly maxLength?: number;
  /** decimal: precision and scale. */
  readonly maxDigits?: number;
  readonly decimalPlaces?: number;
}

/** A foreign key; the column is `<name>_id`, the fixture key `<name>`. */
export interface FkDef {
  readonly name: string;
  readonly column: string;
  readonly to: string;
  readonly isNullable: boolean;
}

/** A many-to-many field: an auto link table, or links that travel as rows of a through model. */
export type M2mDef =
  | { readonly kind: 'auto'; readonly name: string; readonly to: string; readonly table: string; readonly source: string; readonly target: string }
  | { readonly kind: 'through'; readonly name: string; readonly to: string; readonly through: string };

/** What a natural-key match does when the other fields disagree. */
export type NaturalKeyPolicy = 'keep-local' | 'take-remote' | 'error';

/**
 * Two-way exchange (DESIGN §10): who wins when a site and the centre changed one row
 * differently. `home-wins` (the database that created the row), `centre-wins`, `site-wins`,
 * `field-merge` (column by column; a column both changed falls back to home-wins), `manual`
 * (keep the current value and hold the row for that site until `conflicts resolve`).
 */
export const CONFLICT_POLICIES = ['home-wins', 'centre-wins', 'site-wins', 'field-merge', 'manual'] as const;
export type ConflictPolicy = (typeof CONFLICT_POLICIES)[number];

/** One model of an app, resolved and frozen. */
export interface ModelDef {
  readonly name: string;
  readonly table: string;
  readonly pk: string;
  readonly parent?: string;
  /** The MTI root: the model whose table holds the origin tags (itself when it has no parent). */
  readonly root: string;
  /** Parent chain from the root down to this model, inclusive. */
  readonly chain: readonly string[];
  readonly fields: readonly FieldDef[];
  readonly fks: readonly FkDef[];
  readonly m2m: readonly M2mDef[];
  readonly dependencies: readonly string[];
  readonly isPrivate: boolean;
  readonly lastModified?: string;
  /**
   * Fields whose values identify an object across instances (lookups such as Variable): an
   * incoming object whose key matches a row that is not this remote's maps onto that row.
   */
  readonly naturalKey?: readonly string[];
  /** When a matched row's other fields disagree: keep the local values, take the remote's, or fail. */
  readonly naturalKeyPolicy: NaturalKeyPolicy;
  /** The exchange's conflict policy for this model (default home-wins; a centre's config file may override it). */
  readonly conflictPolicy: ConflictPolicy;
  /** Position in the manifest, used to keep orders stable. */
  readonly index: number;
}

/** A validated, frozen app manifest. */
export interface AppManifest {
  readonly app: string;
  /** The Django app label used in fixtures' `model` keys (`hcore.station`). */
  readonly label: string;
  /**
   * The registry of remotes that origin tags reference: the app's own table where the manifest
   * names one (`"registry": {"table": "dbsync_database"}`, DESIGN §8), else `remotesyncdb_database`.
   */
  readonly registry: string;
  readonly source: string;
  readonly models: ReadonlyMap<string, ModelDef>;
}

/** The registry table of a manifest that names none. */
export const DEFAULT_REGISTRY_TABLE = 'remotesyncdb_database';

/** Name pattern for models, fields, tables and columns. */
export const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_]*$/;
