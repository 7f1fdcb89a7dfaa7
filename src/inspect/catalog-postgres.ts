import type { Knex } from 'knex';
import { toCount, type Catalog, type CatalogColumn, type CatalogTable } from './catalog.js';

interface ColumnRow {
  table_name: string; column_name: string; data_type: string; udt_name: string; is_nullable: string;
  character_maximum_length: unknown; numeric_precision: unknown; numeric_scale: unknown;
}
interface KeyRow { table_name: string; column_name: string }
interface ForeignKeyRow extends KeyRow { ref_schema: string; ref_table: string; ref_column: string; width: unknown }

const COLUMNS_SQL = `
  SELECT c.table_name, c.column_name, c.data_type, c.udt_name, c.is_nullable,
         c.character_maximum_length, c.numeric_precision, c.numeric_scale
  FROM information_schema.columns c
  JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
  WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
  ORDER BY c.table_name, c.ordinal_position`;

// pg_constraint rather than information_schema: the latter only shows constraints on tables
// the current user owns or has privileges on, and pairs FK columns only by constraint name.
const PRIMARY_KEYS_SQL = `
  SELECT rel.relname AS table_name, att.attname AS column_name
  FROM pg_constraint con
  JOIN pg_class rel ON rel.oid = con.conrelid
  JOIN pg_namespace ns ON ns.oid = rel.relnamespace
  CROSS JOIN LATERAL unnest(con.conkey) AS k(attnum)
  JOIN pg_attribute att ON att.attrelid = con.conrelid AND att.attnum = k.attnum
  WHERE ns.nspname = current_schema() AND con.contype = 'p'`;

const FOREIGN_KEYS_SQL = `
  SELECT rel.relname AS table_name, att.attname AS column_name, fns.nspname AS ref_schema,
         frel.relname AS ref_table, fatt.attname AS ref_column, cardinality(con.conkey) AS width
  FROM pg_constraint con
  JOIN pg_class rel ON rel.oid = con.conrelid
  JOIN pg_namespace ns ON ns.oid = rel.relnamespace
  JOIN pg_class frel ON frel.oid = con.confrelid
  JOIN pg_namespace fns ON fns.oid = frel.relnamespace
  CROSS JOIN LATERAL unnest(con.conkey, con.confkey) AS k(attnum, fattnum)
  JOIN pg_attribute att ON att.attrelid = con.conrelid AND att.attnum = k.attnum
  JOIN pg_attribute fatt ON fatt.attrelid = con.confrelid AND fatt.attnum = k.fattnum
  WHERE ns.nspname = current_schema() AND con.contype = 'f'
  ORDER BY rel.relname, con.conname`;

/** PostgreSQL: the base tables of the current schema (`public` unless the search_path says otherwise). */
export const postgresCatalog: Catalog = {
  dialect: 'postgres',
  async readTables(knex: Knex): Promise<CatalogTable[]> {
    const schema = ((await knex.raw('SELECT current_schema() AS s')) as { rows: Array<{ s: string }> }).rows[0].s;
    const columns = ((await knex.raw(COLUMNS_SQL)) as { rows: ColumnRow[] }).rows;
    const pks = new Set(((await knex.raw(PRIMARY_KEYS_SQL)) as { rows: KeyRow[] }).rows.map((r) => `${r.table_name}.${r.column_name}`));
    const fks = ((await knex.raw(FOREIGN_KEYS_SQL)) as { rows: ForeignKeyRow[] }).rows;
    const tables = new Map<string, { columns: CatalogColumn[]; foreignKeys: CatalogTable['foreignKeys'][number][] }>();
    for (const row of columns) {
      if (!tables.has(row.table_name)) tables.set(row.table_name, { columns: [], foreignKeys: [] });
      // USER-DEFINED (enums, PostGIS) and ARRAY say more through their udt_name (`geometry`, `_int4`).
      const type = row.data_type === 'USER-DEFINED' || row.data_type === 'ARRAY' ? row.udt_name : row.data_type;
      tables.get(row.table_name)!.columns.push({
        name: row.column_name, type: type.toLowerCase(), declared: type, isNullable: row.is_nullable === 'YES',
        maxLength: toCount(row.character_maximum_length), precision: toCount(row.numeric_precision), scale: toCount(row.numeric_scale),
        isPk: pks.has(`${row.table_name}.${row.column_name}`),
      });
    }
    for (const row of fks) {
      // A table of another schema is not one of ours: qualified, it matches none of them.
      const refTable = row.ref_schema === schema ? row.ref_table : `${row.ref_schema}.${row.ref_table}`;
      tables.get(row.table_name)?.foreignKeys.push({ column: row.column_name, refTable, refColumn: row.ref_column, isComposite: Number(row.width) > 1 });
    }
    return [...tables].map(([name, t]) => ({ name, ...t }));
  },
};
