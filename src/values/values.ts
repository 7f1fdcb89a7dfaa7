import type { DialectAdapter } from '../dialects/index.js';
import type { FieldDef } from '../manifest/types.js';

/** A value that cannot be stored in a field; the caller adds remote, model, pk and field. */
export class ValueError extends Error {}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/** `YYYY-MM-DD[ T]HH:MM[:SS[.f]][Z|±HH:MM]` to UTC `YYYY-MM-DD HH:MM:SS[.ffffff]` (no offset). */
export function normalizeDatetime(text: string): string {
  const m = DATETIME.exec(text.trim());
  if (!m || !isDate(m[1])) throw new ValueError(`"${text}" is not a datetime YYYY-MM-DD HH:MM:SS[.ffffff][Z|±HH:MM]`);
  const [, day, hh, mi, ss = '00', frac = '', offset] = m;
  if (Number(hh) > 23 || Number(mi) > 59 || Number(ss) > 59) throw new ValueError(`"${text}" is not a valid time of day`);
  const micros = frac.padEnd(6, '0');
  let stamp = `${day} ${hh}:${mi}:${ss}`;
  if (offset && offset !== 'Z' && !/^[+-]00(:?00)?$/.test(offset)) {
    const sign = offset[0] === '-' ? -1 : 1;
    const digits = offset.slice(1).replace(':', '');
    const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0');
    const ms = Date.parse(`${day}T${hh}:${mi}:${ss}Z`) - sign * minutes * 60_000;
    if (Number.isNaN(ms)) throw new ValueError(`"${text}" is not a valid datetime`);
    const iso = new Date(ms).toISOString();
    // Years past 9999 or before 0 have no YYYY form.
    if (!/^\d{4}-/.test(iso)) throw new ValueError(`"${text}" is out of the range of a datetime`);
    stamp = iso.slice(0, 19).replace('T', ' ');
  }
  return micros === '000000' ? stamp : `${stamp}.${micros}`;
}

function isDate(text: string): boolean {
  const m = DATE.exec(text);
  if (!m) return false;
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999.
  const d = new Date(0);
  d.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}

/** A canonical decimal string: no exponent, no leading/trailing zeros; exact (never through a float). */
export function normalizeDecimal(value: string | number): string {
  const text = typeof value === 'number' ? String(value) : value.trim();
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new ValueError(`"${value}" is not a decimal number`);
  const [, sign, intPart, fracPart = '', exp = '0'] = m;
  const shift = Number(exp);
  if (!Number.isSafeInteger(shift) || Math.abs(shift) > 1000) throw new ValueError(`"${value}" is out of range for a decimal`);
  // Move the decimal point `shift` places within the digit string.
  let digits = intPart + fracPart;
  let point = intPart.length + shift;
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  } else if (point > digits.length) {
    digits = digits + '0'.repeat(point - digits.length);
  }
  const int = digits.slice(0, point).replace(/^0+(?=\d)/, '') || '0';
  const frac = digits.slice(point).replace(/0+$/, '');
  const body = frac ? `${int}.${frac}` : int;
  return sign === '-' && /[1-9]/.test(body) ? `-${body}` : body;
}

/**
 * Check and convert one fixture value to what is bound for the column, or throw a ValueError.
 * `undefined` (the payload lacks the field) takes the manifest default, else '' / false / NULL.
 */
export function toColumnValue(field: FieldDef, value: unknown, dialect: DialectAdapter): unknown {
  if (value === undefined) {
    if (field.default !== undefined) value = field.default;
    else if (field.type === 'string' || field.type === 'text') value = field.isNullable ? null : '';
    else if (field.type === 'boolean') value = false;
    else if (field.isNullable) value = null;
    else throw new ValueError('is missing from the payload and has no default');
  }
  if (value === null) {
    if (field.isNullable) return null;
    throw new ValueError('is null but the column is NOT NULL');
  }
  switch (field.type) {
    case 'string':
    case 'text': {
      if (typeof value !== 'string') throw new ValueError(`expects a string, got ${JSON.stringify(value)}`);
      if (!dialect.supportsNulInText && value.includes('\u0000')) throw new ValueError('contains a NUL character, which this database cannot store in text');
      // UTF-16 length bounds the characters (code points): only a long string is counted.
      if (field.maxLength !== undefined && value.length > field.maxLength && [...value].length > field.maxLength) throw new ValueError(`is ${[...value].length} characters long, more than the column's ${field.maxLength}`);
      return value;
    }
    case 'integer': {
      const n = typeof value === 'string' && /^[+-]?\d+$/.test(value.trim()) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || Math.abs(n) > 2_147_483_647) throw new ValueError(`expects a 32-bit integer, got ${JSON.stringify(value)}`);
      return n;
    }
    case 'float': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) throw new ValueError(`expects a number, got ${JSON.stringify(value)}`);
      return n;
    }
    case 'decimal':
      if (typeof value !== 'string' && typeof value !== 'number') throw new ValueError(`expects a decimal, got ${JSON.stringify(value)}`);
      return normalizeDecimal(value);
    case 'boolean':
      if (value === true || value === false) return dialect.bindBoolean(value);
      if (value === 0 || value === 1) return dialect.bindBoolean(value === 1);
      throw new ValueError(`expects true or false, got ${JSON.stringify(value)}`);
    case 'date':
      if (typeof value !== 'string' || !isDate(value)) throw new ValueError(`expects a date YYYY-MM-DD, got ${JSON.stringify(value)}`);
      return value;
    case 'datetime':
      if (typeof value !== 'string') throw new ValueError(`expects a datetime string, got ${JSON.stringify(value)}`);
      return normalizeDatetime(value);
    case 'json':
      return JSON.stringify(value);
    case 'binary':
      if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new ValueError('expects base64 text');
      return Buffer.from(value, 'base64');
  }
}

/**
 * A comparable form of a stored or to-be-stored value, so that "unchanged" means the same
 * across dialects (0/1 vs booleans, timestamp text with or without offset, decimal scale).
 */
export function canonical(field: FieldDef, value: unknown, dialect: DialectAdapter, isBound = false): unknown {
  if (value === null || value === undefined) return null;
  switch (field.type) {
    case 'string':
    case 'text':
      return String(value);
    case 'integer':
      return Number(value);
    case 'float':
      // 15 significant digits (DBL_DIG): MySQL's text protocol returns some doubles one unit
      // in the last place off, which must not count as a change.
      return Number(Number(value).toPrecision(15));
    case 'decimal':
      return normalizeDecimal(value as string);
    case 'boolean':
      return value === true || value === 1 || value === '1' || value === 't';
    case 'date':
      return String(value).slice(0, 10);
    case 'datetime':
      return value instanceof Date ? normalizeDatetime(value.toISOString()) : normalizeDatetime(String(value));
    case 'json':
      // A bound value is always JSON text (toColumnValue); a stored one is what the driver returns.
      return stableStringify(isBound ? JSON.parse(value as string) : typeof value === 'string' ? dialect.readJson(value) : value);
    case 'binary':
      return Buffer.isBuffer(value) ? value.toString('base64') : String(value);
  }
}

/** JSON with object keys sorted, so equal values compare equal. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A stored value as Django's serializer writes it in a fixture. */
export function toFixtureValue(field: FieldDef, value: unknown, dialect: DialectAdapter): unknown {
  if (value === null || value === undefined) return null;
  switch (field.type) {
    case 'boolean':
      return canonical(field, value, dialect);
    case 'integer':
    case 'float':
      return Number(value);
    case 'datetime': {
      // ISO 8601 in UTC with "Z", as DjangoJSONEncoder writes it, but with the microseconds
      // kept (Django's encoder cuts them to milliseconds; its parser reads all six): a copy of
      // a copy must stay equal to the original.
      const text = canonical(field, value, dialect) as string;
      return `${text.replace(' ', 'T')}Z`;
    }
    case 'decimal': {
      // str(Decimal) of the stored value: always the column's decimal places.
      const [int, frac = ''] = (canonical(field, value, dialect) as string).split('.');
      const places = field.decimalPlaces ?? 0;
      return places > 0 ? `${int}.${frac.padEnd(places, '0')}` : int;
    }
    case 'json':
      return typeof value === 'string' ? dialect.readJson(value) : value;
    default:
      return canonical(field, value, dialect);
  }
}

/** Now, as stored in a datetime column: UTC `YYYY-MM-DD HH:MM:SS.ffffff`. */
export function nowDatetime(): string {
  return new Date().toISOString().replace('T', ' ').replace('Z', '000');
}
