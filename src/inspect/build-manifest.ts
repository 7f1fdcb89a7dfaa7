import { ConfigError } from '../errors.js';
import { parseManifest } from '../manifest/load-manifest.js';
import { dependencyOrder } from '../manifest/order.js';
import { IDENTIFIER } from '../manifest/types.js';
import { ORIGINAL_DB, ORIGINAL_ID } from '../schema/app-tables.js';
import type { CatalogColumn, CatalogTable } from './catalog.js';
import { classifyTables, foreignKeyOf, TOOL_TABLE_PREFIX, type LinkTable, type ModelTable } from './classify-tables.js';
import { columnType } from './column-types.js';

/** What to build a manifest of. */
export interface BuildManifestOptions {
  readonly app: string;
  readonly label?: string;
  /** Only these tables (exact names); default every table but the tool's own. */
  readonly tables?: readonly string[];
  /** Where the catalog came from, for messages (a masked database URL). */
  readonly source: string;
  /**
   * Model names as the app spells them (`EventType`), e.g. a live instance's `GET /api/` models:
   * a table whose derived name matches one case-insensitively takes its spelling. A catalog
   * cannot know it (Django's content types hold model names lowercased).
   */
  readonly names?: readonly string[];
}

/** A manifest as plain JSON, and what could not be expressed in it. */
export interface InspectResult {
  manifest: Record<string, unknown>;
  warnings: string[];
}

type Json = Record<string, unknown>;
interface ModelJson { name: string; table: string; pk?: string; parent?: string; lastModified?: string; fields: Json; fk: Json; m2m: Json }

/** The column the tool uses to fetch incrementally, when a root table has it (nullable datetime). */
const LAST_MODIFIED = 'last_modified';

/**
 * An app manifest (DESIGN §3) from catalog tables: models, MTI parents, FKs, auto m2m tables,
 * in a dependency order, validated with `parseManifest`. Pure: no database access.
 */
export function buildManifest(catalog: readonly CatalogTable[], options: BuildManifestOptions): InspectResult {
  const warnings: string[] = [];
  const warn = (where: string, message: string) => void warnings.push(`${where}: ${message}`);
  // The app's own registry of remotes (what origin tags reference) is no model: DESIGN §8.
  const registry = registryOf(catalog);
  const { models: modelTables, links } = classifyTables(catalog.filter((t) => t.name !== registry), options.tables, options.source, warn);
  if (modelTables.size === 0) {
    throw new ConfigError(`inspect: no table of ${options.source} can be a model of app ${options.app}${warnings.length > 0 ? `:\n  ${warnings.join('\n  ')}` : ` (it has no tables but the tool's own ${TOOL_TABLE_PREFIX}*)`}`);
  }
  const names = modelNames([...modelTables.keys()], options.app, warn, options.names);
  const models = new Map<string, ModelJson>();
  for (const [table, model] of modelTables) models.set(table, modelJson(model, names, modelTables, warn));
  for (const link of links) addLink(link, models, warn);

  const unordered = manifestJson(options, registry, [...models.values()]);
  const order = dependencyOrder(parseManifest(unordered, options.source)).map((m) => m.name);
  const byName = new Map([...models.values()].map((m) => [m.name, m]));
  const manifest = manifestJson(options, registry, order.map((name) => byName.get(name)!));
  parseManifest(manifest, options.source);
  return { manifest, warnings };
}

/** The table the origin tags (`original_db_id`) reference, when it is the app's own rather than the tool's. */
function registryOf(catalog: readonly CatalogTable[]): string | undefined {
  const referenced = catalog.flatMap((t) => t.foreignKeys.filter((fk) => fk.column === ORIGINAL_DB).map((fk) => fk.refTable));
  return referenced.find((table) => !table.toLowerCase().startsWith(TOOL_TABLE_PREFIX));
}

function manifestJson(options: BuildManifestOptions, registry: string | undefined, models: readonly ModelJson[]): Json {
  const out: Json = { app: options.app };
  if (options.label !== undefined) out.label = options.label;
  if (registry !== undefined) out.registry = { table: registry };
  out.models = Object.fromEntries(models.map(({ name, table, pk, parent, lastModified, fields, fk, m2m }) => [name, {
    table,
    ...(pk !== undefined ? { pk } : {}),
    ...(parent !== undefined ? { parent } : {}),
    ...(lastModified !== undefined ? { lastModified } : {}),
    fields,
    ...(Object.keys(fk).length > 0 ? { fk } : {}),
    ...(Object.keys(m2m).length > 0 ? { m2m } : {}),
  }]));
  return out;
}

/**
 * `hcore_gentityaltcode` -> `Gentityaltcode`: the `<app>_` prefix dropped, first letter
 * upper-cased; or `GentityAltCode` when `spelled` (the app's own names) has it in any case.
 */
function modelNames(tables: readonly string[], app: string, warn: (where: string, message: string) => void, spelled?: readonly string[]): Map<string, string> {
  const upper = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
  const prefix = `${app.toLowerCase()}_`;
  const known = new Map((spelled ?? []).filter((n) => IDENTIFIER.test(n)).map((n) => [n.toLowerCase(), n]));
  const names = new Map<string, string>();
  const taken = new Set<string>();
  for (const table of tables) {
    const bare = table.toLowerCase().startsWith(prefix) ? table.slice(prefix.length) : table;
    const derived = IDENTIFIER.test(upper(bare)) ? upper(bare) : upper(table);
    let name = known.get(bare.toLowerCase()) ?? derived;
    if (spelled && !known.has(bare.toLowerCase())) warn(table, `model ${derived} is not among the names given (not served there: private, or not a model of the app); exclude it with -e ${derived} when syncing`);
    if (taken.has(name)) {
      const wanted = name;
      name = upper(table);
      for (let n = 2; taken.has(name); n++) name = `${upper(table)}_${n}`;
      warn(table, `model name ${wanted} is taken by another table; named ${name}`);
    }
    taken.add(name);
    names.set(table, name);
  }
  return names;
}

function modelJson({ table, pk, parentTable }: ModelTable, names: ReadonlyMap<string, string>, models: ReadonlyMap<string, ModelTable>, warn: (where: string, message: string) => void): ModelJson {
  const name = names.get(table.name)!;
  const parent = parentTable === undefined ? undefined : names.get(parentTable)!;
  const defaultPk = parent === undefined ? 'id' : `${parent.toLowerCase()}_ptr_id`;
  const out: ModelJson = { name, table: table.name, ...(pk.name !== defaultPk ? { pk: pk.name } : {}), ...(parent !== undefined ? { parent } : {}), fields: {}, fk: {}, m2m: {} };
  for (const column of table.columns) {
    if (column.isPk || column.name === ORIGINAL_ID || column.name === ORIGINAL_DB) continue;
    const where = `${table.name}.${column.name}`;
    if (!IDENTIFIER.test(column.name)) {
      warn(where, 'skipped: a column name must be an identifier [A-Za-z][A-Za-z0-9_]*');
      continue;
    }
    const fk = fkJson(table, column, names, models, warn);
    if (fk) out.fk[fk.name] = fk.spec;
    else out.fields[column.name] = fieldJson(column, where, warn);
  }
  const lastModified = out.fields[LAST_MODIFIED] as Json | undefined;
  if (parent === undefined && lastModified?.type === 'datetime' && lastModified.null === true) out.lastModified = LAST_MODIFIED;
  return out;
}

/** `author_id` referencing a model's pk -> fk `author`; else undefined (a plain field), with a warning if it was an FK. */
function fkJson(table: CatalogTable, column: CatalogColumn, names: ReadonlyMap<string, string>, models: ReadonlyMap<string, ModelTable>, warn: (where: string, message: string) => void): { name: string; spec: Json } | undefined {
  const where = `${table.name}.${column.name}`;
  const kept = 'kept as a plain field: its values are copied as they are, not translated to local ids';
  if (table.foreignKeys.some((fk) => fk.column === column.name && fk.isComposite)) {
    warn(where, `is part of a multi-column foreign key, which a manifest cannot express; ${kept}`);
  }
  const fk = foreignKeyOf(table, column.name);
  if (!fk) return undefined;
  const target = models.get(fk.refTable);
  const fname = column.name.slice(0, -'_id'.length);
  let reason: string | undefined;
  if (!target) reason = `refers to ${fk.refTable}, which is not an inspected model`;
  else if (target.pk.name !== fk.refColumn) reason = `refers to ${fk.refTable}.${fk.refColumn}, which is not its primary key`;
  else if (!column.name.endsWith('_id') || !IDENTIFIER.test(fname)) reason = `is a foreign key to ${fk.refTable} whose name does not end in _id (a manifest fk "x" is the column x_id)`;
  else if (table.columns.some((c) => c.name === fname)) reason = `would be fk "${fname}", which is also a column of the table`;
  else if (fname === 'original' || fname === 'original_db') reason = `would be fk "${fname}", which clashes with the origin tags`;
  if (reason !== undefined) {
    warn(where, `${reason}; ${kept}`);
    return undefined;
  }
  return { name: fname, spec: { to: names.get(fk.refTable)!, null: column.isNullable } };
}

/** A bare type string when NOT NULL with nothing else to say, else `{ type, null, maxLength, ... }`. */
function fieldJson(column: CatalogColumn, where: string, warn: (where: string, message: string) => void): unknown {
  const result = columnType(column);
  if ('isUnknown' in result) warn(where, `type ${column.declared} has no manifest type; declared as text`);
  else if (result.note !== undefined) warn(where, `${column.declared} ${result.note}`);
  const extra: Json = {};
  if (column.isNullable) extra.null = true;
  if ('maxLength' in result && result.maxLength !== undefined) extra.maxLength = result.maxLength;
  if ('maxDigits' in result && result.maxDigits !== undefined) {
    extra.maxDigits = result.maxDigits;
    extra.decimalPlaces = result.decimalPlaces;
  }
  return Object.keys(extra).length === 0 ? result.type : { type: result.type, ...extra };
}

/**
 * An auto m2m table on the model of its first FK, named after the table minus the owner's
 * table prefix (`library_book_tags` -> `tags`), else after the target table.
 */
function addLink({ table, source, target }: LinkTable, models: ReadonlyMap<string, ModelJson>, warn: (where: string, message: string) => void): void {
  const owner = models.get(source.refTable)!;
  const to = models.get(target.refTable)!;
  const isFree = (name: string) => IDENTIFIER.test(name) && !(name in owner.fields) && !(name in owner.fk) && !(name in owner.m2m);
  const preferred = table.name.startsWith(`${owner.table}_`) ? table.name.slice(owner.table.length + 1) : to.table;
  let name = [preferred, to.table].find(isFree);
  if (name === undefined) {
    let n = 2;
    while (!isFree(`${to.table}_${n}`)) n++;
    name = `${to.table}_${n}`;
  }
  if (name !== preferred) warn(table.name, `m2m field "${preferred}" of ${owner.name} is taken or not an identifier; named "${name}"`);
  owner.m2m[name] = { to: to.name, table: table.name, source: source.column, target: target.column };
}
