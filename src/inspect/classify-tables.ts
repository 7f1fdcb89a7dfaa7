import { ConfigError } from '../errors.js';
import { IDENTIFIER } from '../manifest/types.js';
import type { CatalogColumn, CatalogForeignKey, CatalogTable } from './catalog.js';
import { columnType } from './column-types.js';

/** Tables of the tool itself (the registry, history, watermarks): never part of an app. */
export const TOOL_TABLE_PREFIX = 'remotesyncdb_';

/** A table that can be a model: a single integer primary key. */
export interface ModelTable {
  readonly table: CatalogTable;
  readonly pk: CatalogColumn;
  /** Multi-table inheritance: the parent's table, when the pk is also an FK to that table's pk. */
  readonly parentTable?: string;
}

/** An auto many-to-many table (Django style): `id` plus two NOT NULL FKs to models. */
export interface LinkTable {
  readonly table: CatalogTable;
  readonly source: CatalogForeignKey;
  readonly target: CatalogForeignKey;
}

/** The inspected tables sorted into models and link tables; the rest were skipped with a warning. */
export interface Classification {
  readonly models: ReadonlyMap<string, ModelTable>;
  readonly links: readonly LinkTable[];
}

/** The one single-column FK declared on a column, if any. */
export function foreignKeyOf(table: CatalogTable, column: string): CatalogForeignKey | undefined {
  return table.foreignKeys.find((fk) => fk.column === column && !fk.isComposite);
}

/**
 * Choose the tables to inspect and sort them into models and link tables, by table name.
 * `warn(where, message)` collects why a table is left out.
 */
export function classifyTables(catalog: readonly CatalogTable[], tables: readonly string[] | undefined, source: string, warn: (where: string, message: string) => void): Classification {
  let selected = catalog.filter((t) => !t.name.toLowerCase().startsWith(TOOL_TABLE_PREFIX));
  if (tables !== undefined) {
    const missing = tables.filter((name) => !selected.some((t) => t.name === name));
    if (missing.length > 0) {
      throw new ConfigError(`inspect: ${source} has no table ${missing.join(', ')} (names are case-sensitive; ${TOOL_TABLE_PREFIX}* tables are the tool's own and never inspected)`);
    }
    selected = selected.filter((t) => tables.includes(t.name));
  }
  selected = [...selected].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const candidates = new Map<string, ModelTable>();
  for (const table of selected) {
    const pk = singleIntegerPk(table, warn);
    if (pk) candidates.set(table.name, { table, pk });
  }
  resolveParents(candidates, warn);

  // A link table is referenced by nothing (a referenced or parent table is a model).
  const referenced = new Set<string>();
  for (const { table } of candidates.values()) for (const fk of table.foreignKeys) if (fk.refTable !== table.name) referenced.add(fk.refTable);
  const links: LinkTable[] = [];
  for (const candidate of candidates.values()) {
    const link = asLinkTable(candidate, candidates, referenced);
    if (link) links.push(link);
  }
  for (const link of links) candidates.delete(link.table.name);
  return { models: candidates, links };
}

function singleIntegerPk(table: CatalogTable, warn: (where: string, message: string) => void): CatalogColumn | undefined {
  if (!IDENTIFIER.test(table.name)) return void warn(table.name, 'skipped: a table name must be an identifier [A-Za-z][A-Za-z0-9_]*');
  const pks = table.columns.filter((c) => c.isPk);
  if (pks.length === 0) return void warn(table.name, 'skipped: it has no primary key, and a model needs a single integer one');
  if (pks.length > 1) return void warn(table.name, `skipped: its primary key (${pks.map((c) => c.name).join(', ')}) has ${pks.length} columns, and a model needs a single integer one`);
  const pk = pks[0];
  if (columnType(pk).type !== 'integer') return void warn(table.name, `skipped: its primary key ${pk.name} is ${pk.declared}, and a model needs an integer one`);
  if (!IDENTIFIER.test(pk.name)) return void warn(table.name, `skipped: its primary key "${pk.name}" is not an identifier`);
  return pk;
}

/**
 * Multi-table inheritance: a pk that is also an FK to another table's pk names the parent.
 * A child whose parent is not a model (skipped, not selected, or itself dropped) is dropped too:
 * as a root its rows would get new local ids and lose the row they extend.
 */
function resolveParents(candidates: Map<string, ModelTable>, warn: (where: string, message: string) => void): void {
  for (const [name, candidate] of candidates) {
    const fk = foreignKeyOf(candidate.table, candidate.pk.name);
    if (fk && fk.refTable !== name) candidates.set(name, { ...candidate, parentTable: fk.refTable });
  }
  for (let isChanged = true; isChanged;) {
    isChanged = false;
    for (const [name, { pk, parentTable }] of candidates) {
      if (parentTable === undefined) continue;
      const parent = candidates.get(parentTable);
      let reason: string | undefined;
      if (!parent) reason = `its parent table ${parentTable} (its primary key ${pk.name} refers to it) is not an inspected model`;
      else if (parent.pk.name !== foreignKeyOf(candidates.get(name)!.table, pk.name)!.refColumn) reason = `its primary key ${pk.name} refers to ${parentTable}, but not to its primary key`;
      else if (inheritanceCycle(name, candidates)) reason = `its primary key is part of an inheritance cycle through ${parentTable}`;
      if (reason === undefined) continue;
      warn(name, `skipped: ${reason}`);
      candidates.delete(name);
      isChanged = true;
    }
  }
}

function inheritanceCycle(start: string, candidates: ReadonlyMap<string, ModelTable>): boolean {
  const seen = new Set<string>();
  for (let cursor: string | undefined = start; cursor !== undefined; cursor = candidates.get(cursor)?.parentTable) {
    if (seen.has(cursor)) return true;
    seen.add(cursor);
  }
  return false;
}

function asLinkTable(candidate: ModelTable, candidates: ReadonlyMap<string, ModelTable>, referenced: ReadonlySet<string>): LinkTable | undefined {
  const { table, pk, parentTable } = candidate;
  if (parentTable !== undefined || pk.name !== 'id' || table.columns.length !== 3 || referenced.has(table.name)) return undefined;
  const fks = table.columns.filter((c) => !c.isPk).map((c) => (c.isNullable ? undefined : foreignKeyOf(table, c.name)));
  const isLink = fks.every((fk) => fk !== undefined && fk.refTable !== table.name && candidates.get(fk.refTable)?.pk.name === fk.refColumn);
  return isLink ? { table, source: fks[0]!, target: fks[1]! } : undefined;
}
