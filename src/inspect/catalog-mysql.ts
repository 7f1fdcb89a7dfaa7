import type { Knex } from 'knex';
import { toCount, type Catalog, type CatalogColumn, type CatalogForeignKey, type CatalogTable } from './catalog.js';

interface ColumnRow {
  table_name: string; column_name: string; data_type: string; column_type: string; is_nullable: string;
  max_length: unknown; num_precision: unknown; num_scale: unknown;
}
interface KeyRow { table_name: string; column_name: string }
interface ForeignKeyRow extends KeyRow { constraint_name: string; ref_schema: string; ref_table: string; ref_column: string }

// Every column aliased in lowercase: MySQL 8 returns information_schema names in uppercase.
const COLUMNS_SQL = `
  SELECT c.TABLE_NAME AS table_name, c.COLUMN_NAME AS column_name, c.DATA_TYPE AS data_type,
         c.COLUMN_TYPE AS column_type, c.IS_NULLABLE AS is_nullable, c.CHARACTER_MAXIMUM_LENGTH AS max_length,
         c.NUMERIC_PRECISION AS num_precision, c.NUMERIC_SCALE AS num_scale
  FROM information_schema.COLUMNS c
  JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
  WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'
  ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION`;

const PRIMARY_KEYS_SQL = `
  SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name
  FROM information_schema.KEY_COLUMN_USAGE
  WHERE TABLE_SCHEMA = DATABASE() AND CONSTRAINT_NAME = 'PRIMARY'`;

const FOREIGN_KEYS_SQL = `
  SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name, CONSTRAINT_NAME AS constraint_name,
         REFERENCED_TABLE_SCHEMA AS ref_schema, REFERENCED_TABLE_NAME AS ref_table, REFERENCED_COLUMN_NAME AS ref_column
  FROM information_schema.KEY_COLUMN_USAGE
  WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL
  ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION`;

// MariaDB's JSON is an alias of LONGTEXT plus a CHECK (json_valid(`col`)); its CHECK_CONSTRAINTS
// has a TABLE_NAME column (MySQL's does not, and MySQL has a real JSON type).
// https://mariadb.com/kb/en/json-data-type/
const MARIADB_JSON_CHECKS_SQL = `
  SELECT TABLE_NAME AS table_name, CHECK_CLAUSE AS clause
  FROM information_schema.CHECK_CONSTRAINTS
  WHERE CONSTRAINT_SCHEMA = DATABASE()`;

/** MySQL and MariaDB: the base tables of the connection's database, `DATABASE()`. */
export const mysqlCatalog: Catalog = {
  dialect: 'mysql',
  async readTables(knex: Knex): Promise<CatalogTable[]> {
    const rows = async <T>(sql: string) => ((await knex.raw(sql)) as [T[], unknown])[0];
    const columns = await rows<ColumnRow>(COLUMNS_SQL);
    const pks = new Set((await rows<KeyRow>(PRIMARY_KEYS_SQL)).map((r) => `${r.table_name}.${r.column_name}`));
    const fks = await rows<ForeignKeyRow>(FOREIGN_KEYS_SQL);
    const jsonColumns = await mariadbJsonColumns(knex);
    const tables = new Map<string, { columns: CatalogColumn[]; foreignKeys: CatalogForeignKey[] }>();
    for (const row of columns) {
      if (!tables.has(row.table_name)) tables.set(row.table_name, { columns: [], foreignKeys: [] });
      const key = `${row.table_name}.${row.column_name}`;
      const dataType = row.data_type.toLowerCase();
      const columnType = row.column_type.toLowerCase();
      // BOOLEAN is TINYINT(1) in MySQL, the only place its display width still means something.
      const type = columnType.startsWith('tinyint(1)') ? 'boolean' : jsonColumns.has(key) ? 'json' : dataType;
      tables.get(row.table_name)!.columns.push({
        name: row.column_name, type, declared: row.column_type, isNullable: row.is_nullable === 'YES',
        maxLength: toCount(row.max_length), precision: toCount(row.num_precision), scale: toCount(row.num_scale),
        isPk: pks.has(key),
      });
    }
    const widths = new Map<string, number>();
    for (const row of fks) widths.set(`${row.table_name}.${row.constraint_name}`, (widths.get(`${row.table_name}.${row.constraint_name}`) ?? 0) + 1);
    const database = ((await rows<{ db: string }>('SELECT DATABASE() AS db'))[0]).db;
    for (const row of fks) {
      // A table of another database is not one of ours: qualified, it matches none of them.
      const refTable = row.ref_schema === database ? row.ref_table : `${row.ref_schema}.${row.ref_table}`;
      tables.get(row.table_name)?.foreignKeys.push({ column: row.column_name, refTable, refColumn: row.ref_column, isComposite: widths.get(`${row.table_name}.${row.constraint_name}`)! > 1 });
    }
    return [...tables].map(([name, t]) => ({ name, ...t }));
  },
};

/** `table.column` of every MariaDB LONGTEXT that is really JSON; empty on MySQL or an old server. */
async function mariadbJsonColumns(knex: Knex): Promise<Set<string>> {
  const found = new Set<string>();
  let checks: Array<{ table_name: string; clause: string }>;
  try {
    checks = ((await knex.raw(MARIADB_JSON_CHECKS_SQL)) as [Array<{ table_name: string; clause: string }>, unknown])[0];
  } catch {
    return found;
  }
  for (const { table_name, clause } of checks) {
    const match = /^\s*json_valid\(\s*`((?:[^`]|``)+)`\s*\)\s*$/i.exec(clause ?? '');
    if (match) found.add(`${table_name}.${match[1].replace(/``/g, '`')}`);
  }
  return found;
}
