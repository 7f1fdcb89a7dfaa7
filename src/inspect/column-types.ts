import type { FieldType } from '../manifest/types.js';
import type { CatalogColumn } from './catalog.js';

/** A column's manifest type with its size, or why it has none that fits. */
export type ColumnTypeResult =
  | { readonly type: FieldType; readonly maxLength?: number; readonly maxDigits?: number; readonly decimalPlaces?: number; readonly note?: string }
  | { readonly type: 'text'; readonly isUnknown: true };

/**
 * Type names of every dialect (as their catalogs spell them, lowercased) -> manifest type.
 * Catalogs have already resolved dialect aliases (MySQL `tinyint(1)`, MariaDB JSON).
 */
const TYPE_NAMES: Readonly<Record<string, FieldType>> = {
  char: 'string', character: 'string', varchar: 'string', 'character varying': 'string', 'varying character': 'string',
  nchar: 'string', 'native character': 'string', nvarchar: 'string', bpchar: 'string',
  text: 'text', tinytext: 'text', mediumtext: 'text', longtext: 'text', clob: 'text',
  integer: 'integer', int: 'integer', bigint: 'integer', smallint: 'integer', mediumint: 'integer', tinyint: 'integer',
  int2: 'integer', int4: 'integer', int8: 'integer', serial: 'integer', bigserial: 'integer', smallserial: 'integer',
  'big int': 'integer', 'unsigned big int': 'integer',
  real: 'float', double: 'float', 'double precision': 'float', float: 'float', float4: 'float', float8: 'float',
  numeric: 'decimal', decimal: 'decimal',
  boolean: 'boolean', bool: 'boolean',
  date: 'date',
  datetime: 'datetime', timestamp: 'datetime', timestamptz: 'datetime',
  'timestamp with time zone': 'datetime', 'timestamp without time zone': 'datetime',
  json: 'json', jsonb: 'json',
  blob: 'binary', tinyblob: 'binary', mediumblob: 'binary', longblob: 'binary', bytea: 'binary', binary: 'binary', varbinary: 'binary',
};

/** The manifest type of a column; an unknown type becomes `text` and says so. */
export function columnType(column: CatalogColumn): ColumnTypeResult {
  const type = TYPE_NAMES[column.type];
  if (type === undefined) return { type: 'text', isUnknown: true };
  if (type === 'string') {
    // A VARCHAR without a length (PostgreSQL, SQLite) holds any length: only text is safe.
    if (column.maxLength === undefined) return { type: 'text', note: `has no length limit, so it is declared as text` };
    return { type, maxLength: column.maxLength };
  }
  if (type === 'decimal') {
    if (column.precision === undefined) return { type, note: 'has no declared precision; the manifest defaults (20 digits, 10 places) apply' };
    return { type, maxDigits: column.precision, decimalPlaces: column.scale ?? 0 };
  }
  return { type };
}
