import type { Knex } from 'knex';
import type { Catalog, CatalogColumn, CatalogForeignKey, CatalogTable } from './catalog.js';

interface TableInfoRow { cid: number; name: string; type: string; notnull: number; pk: number }
interface ForeignKeyRow { id: number; seq: number; table: string; from: string; to: string | null }

/**
 * SQLite: `sqlite_master` lists the tables, `pragma_table_info` / `pragma_foreign_key_list`
 * (the table-valued forms of the PRAGMAs, so the table name is a bound parameter) the rest.
 * Types are whatever text the CREATE TABLE declared: `varchar(100)`, `decimal(8, 2)`.
 * https://www.sqlite.org/pragma.html#pragfunc
 */
export const sqliteCatalog: Catalog = {
  dialect: 'sqlite',
  async readTables(knex: Knex): Promise<CatalogTable[]> {
    const names = (await knex.raw("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")) as Array<{ name: string; sql: string | null }>;
    const infos = new Map<string, TableInfoRow[]>();
    for (const { name } of names) infos.set(name, (await knex.raw('SELECT cid, name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid', [name])) as TableInfoRow[]);
    // SQLite matches table names case-insensitively; a REFERENCES clause may spell one differently.
    const actual = new Map(names.map(({ name }) => [name.toLowerCase(), name]));
    const tables: CatalogTable[] = [];
    for (const { name, sql } of names) {
      const info = infos.get(name)!;
      const jsonColumns = jsonCheckedColumns(sql ?? '');
      const columns = info.map((row): CatalogColumn => {
        const parsed = parseDeclaredType(row.type);
        // Django's JSONField on SQLite: `text CHECK ((JSON_VALID("col") OR "col" IS NULL))`.
        const type = parsed.type === 'text' && jsonColumns.has(row.name) ? 'json' : parsed.type;
        return { ...parsed, type, name: row.name, isNullable: row.notnull === 0 && row.pk === 0, isPk: row.pk > 0 };
      });
      const rows = (await knex.raw('SELECT id, seq, "table", "from", "to" FROM pragma_foreign_key_list(?) ORDER BY id, seq', [name])) as ForeignKeyRow[];
      const widths = new Map<number, number>();
      for (const row of rows) widths.set(row.id, (widths.get(row.id) ?? 0) + 1);
      const foreignKeys = rows.map((row): CatalogForeignKey => {
        const refTable = actual.get(row.table.toLowerCase()) ?? row.table;
        // `REFERENCES t` without a column means t's primary key.
        const refPk = (infos.get(refTable) ?? []).filter((c) => c.pk > 0);
        const refColumn = row.to ?? (refPk.length === 1 ? refPk[0].name : '');
        return { column: row.from, refTable, refColumn, isComposite: widths.get(row.id)! > 1 };
      });
      tables.push({ name, columns, foreignKeys });
    }
    return tables;
  },
};

/** `decimal(8, 2)` -> type `decimal`, precision 8, scale 2; `VARCHAR(100)` -> `varchar`, maxLength 100. */
function parseDeclaredType(declared: string): Pick<CatalogColumn, 'type' | 'declared' | 'maxLength' | 'precision' | 'scale'> {
  const text = declared.trim().toLowerCase().replace(/\s+/g, ' ');
  const match = /^([^(]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*(?:unsigned|signed|zerofill|\s)*$/.exec(text);
  if (!match) return { type: text, declared };
  const type = match[1].replace(/ (unsigned|signed)$/, '');
  const first = match[2] === undefined ? undefined : Number(match[2]);
  const second = match[3] === undefined ? undefined : Number(match[3]);
  if (/char/.test(type)) return { type, declared, maxLength: first };
  return { type, declared, precision: first, scale: first === undefined ? undefined : second ?? 0 };
}

/** Columns that a CHECK of the CREATE TABLE text validates as JSON: `JSON_VALID("col")`. */
function jsonCheckedColumns(sql: string): Set<string> {
  const found = new Set<string>();
  for (const m of sql.matchAll(/json_valid\s*\(\s*(?:"((?:[^"]|"")+)"|`((?:[^`]|``)+)`|\[([^\]]+)\]|(\w+))\s*\)/gi)) {
    found.add((m[1] ?? '').replace(/""/g, '"') || (m[2] ?? '').replace(/``/g, '`') || m[3] || m[4]);
  }
  return found;
}
