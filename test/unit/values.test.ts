import { describe, expect, it } from 'vitest';
import { postgresAdapter } from '../../src/dialects/postgres-adapter.js';
import { sqliteAdapter } from '../../src/dialects/sqlite-adapter.js';
import type { FieldDef, FieldType } from '../../src/manifest/types.js';
import { canonical, normalizeDatetime, normalizeDecimal, toColumnValue, toFixtureValue, ValueError } from '../../src/values/values.js';

const field = (type: FieldType, extra: Partial<FieldDef> = {}): FieldDef => ({ name: 'f', type, isNullable: false, ...extra });
const lite = (f: FieldDef, v: unknown) => toColumnValue(f, v, sqliteAdapter);
const pg = (f: FieldDef, v: unknown) => toColumnValue(f, v, postgresAdapter);

describe('normalizeDatetime', () => {
  it.each([
    ['2010-05-10 14:21:11', '2010-05-10 14:21:11'],
    ['2010-05-10T14:21:11', '2010-05-10 14:21:11'],
    ['2010-05-10T14:21:11Z', '2010-05-10 14:21:11'],
    ['2010-05-10T14:21:11.5', '2010-05-10 14:21:11.500000'],
    ['2010-05-10T14:21:11.000', '2010-05-10 14:21:11'],
    ['2010-05-10T14:21:11.123456+02:00', '2010-05-10 12:21:11.123456'],
    ['2010-05-10T14:21:11-05:30', '2010-05-10 19:51:11'],
    ['2010-01-01T01:00:00+02:00', '2009-12-31 23:00:00'],
    ['2024-02-28T23:30:00-01:00', '2024-02-29 00:30:00'],
    ['2024-01-01 10:00:00+00', '2024-01-01 10:00:00'],
    ['2024-01-01 10:00:00+00:00', '2024-01-01 10:00:00'],
    [' 2010-05-10 14:21 ', '2010-05-10 14:21:00'],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeDatetime(input)).toBe(expected);
  });

  it.each(['2010-02-30 10:00:00', '2011-02-29T00:00:00Z', '2010-13-01 00:00:00', '2010-05-10', '10/05/2010 14:21', '2010-05-10 14:21:11.1234567', 'now', ''])(
    'rejects %j', (input) => {
      expect(() => normalizeDatetime(input)).toThrow(ValueError);
    },
  );

  // Regression (src/values/values.ts normalizeDatetime), fixed: the time part is only checked when an offset
  // forces a Date round trip; without one, "2010-05-10 25:00:00" comes back unchanged.
  it.each(['2010-05-10 25:00:00', '2010-05-10 14:61:00', '2010-05-10 14:21:99'])('rejects out-of-range time %j', (input) => {
    expect(() => normalizeDatetime(input)).toThrow(ValueError);
  });
});

describe('normalizeDecimal', () => {
  it.each([
    ['1.50', '1.5'], ['001.000', '1'], ['-0.0', '0'], ['+3', '3'], ['.5', '0.5'], ['-.5', '-0.5'], ['5.', '5'],
    ['12345678901234567890.123456789', '12345678901234567890.123456789'], ['1E+2', '100'], [' 7.10 ', '7.1'],
  ])('%j -> %j', (input, expected) => {
    expect(normalizeDecimal(input)).toBe(expected);
  });

  it('accepts numbers', () => {
    expect(normalizeDecimal(2.25)).toBe('2.25');
    expect(normalizeDecimal(-0)).toBe('0');
    expect(normalizeDecimal(1e-7)).toBe('0.0000001');
  });

  it.each(['', '1,5', 'abc', '1.2.3', '--1', 'NaN', 'Infinity'])('rejects %j', (input) => {
    expect(() => normalizeDecimal(input)).toThrow(ValueError);
  });

  // Regression (src/values/values.ts normalizeDecimal), fixed: Number(x).toFixed(20) returns exponent notation
  // again for |x| >= 1e21, so the recursion never ends: RangeError "Maximum call stack size exceeded".
  it('handles exponents >= 1e21 without recursing forever', () => {
    expect(normalizeDecimal('1e21')).toBe('1000000000000000000000');
    expect(normalizeDecimal('1.5e-30')).toBe('0.0000000000000000000000000000015');
    expect(normalizeDecimal('-2.50E+2')).toBe('-250');
  });
});

describe('toColumnValue: missing values (DESIGN §4)', () => {
  it('takes the manifest default first', () => {
    expect(lite(field('integer', { default: 7 }), undefined)).toBe(7);
    expect(lite(field('string', { default: 'x' }), undefined)).toBe('x');
    expect(lite(field('boolean', { default: true }), undefined)).toBe(1);
  });

  it("else '' for a NOT NULL string/text, false for a boolean, NULL where nullable", () => {
    expect(lite(field('string'), undefined)).toBe('');
    expect(lite(field('text'), undefined)).toBe('');
    expect(lite(field('boolean'), undefined)).toBe(0);
    expect(pg(field('boolean'), undefined)).toBe(false);
    expect(lite(field('integer', { isNullable: true }), undefined)).toBeNull();
    expect(lite(field('date', { isNullable: true }), undefined)).toBeNull();
    expect(lite(field('string', { isNullable: true }), undefined)).toBeNull();
  });

  it('is an error for a missing NOT NULL number/date, and for null into NOT NULL', () => {
    for (const t of ['integer', 'float', 'decimal', 'date', 'datetime'] as const) {
      expect(() => lite(field(t), undefined)).toThrow('is missing from the payload and has no default');
    }
    expect(() => lite(field('string'), null)).toThrow('is null but the column is NOT NULL');
    expect(() => lite(field('boolean'), null)).toThrow(ValueError);
    expect(lite(field('integer', { isNullable: true }), null)).toBeNull();
  });
});

describe('toColumnValue: conversions and type checks', () => {
  it('checks string length in characters, not bytes', () => {
    const s = field('string', { maxLength: 7 });
    expect(lite(s, 'Αχελώος')).toBe('Αχελώος');
    expect(() => lite(s, 'Αχελώοςς')).toThrow("is 8 characters long, more than the column's 7");
    expect(() => lite(s, 12)).toThrow(ValueError);
  });

  it('integers, floats and decimals', () => {
    expect(lite(field('integer'), '42')).toBe(42);
    expect(lite(field('integer'), -2147483647)).toBe(-2147483647);
    for (const bad of [1.5, '1.5', '', true, 2147483648, 'x']) expect(() => lite(field('integer'), bad), String(bad)).toThrow(ValueError);
    expect(lite(field('float'), '2.5')).toBe(2.5);
    for (const bad of ['', 'abc', true, Infinity]) expect(() => lite(field('float'), bad), String(bad)).toThrow(ValueError);
    expect(lite(field('decimal'), '10.500')).toBe('10.5');
    expect(() => lite(field('decimal'), true)).toThrow(ValueError);
  });

  it('booleans bind per dialect; only true/false/0/1 are accepted', () => {
    expect(lite(field('boolean'), true)).toBe(1);
    expect(lite(field('boolean'), 0)).toBe(0);
    expect(pg(field('boolean'), 1)).toBe(true);
    for (const bad of ['true', 2, 'f']) expect(() => lite(field('boolean'), bad)).toThrow(ValueError);
  });

  it('dates, datetimes, json, binary', () => {
    expect(lite(field('date'), '2012-02-29')).toBe('2012-02-29');
    for (const bad of ['2010-02-30', '2010-5-1', '2010-05-10 00:00:00', 20100510]) expect(() => lite(field('date'), bad)).toThrow(ValueError);
    expect(lite(field('datetime'), '2010-05-10T14:21:11.5+01:00')).toBe('2010-05-10 13:21:11.500000');
    expect(() => lite(field('datetime'), 1273501271000)).toThrow(ValueError);
    expect(lite(field('json'), { b: [1], a: 'Α' })).toBe('{"b":[1],"a":"Α"}');
    expect(lite(field('binary'), 'aGVsbG8=')).toEqual(Buffer.from('hello'));
    expect(() => lite(field('binary'), 'not base64!')).toThrow('expects base64 text');
  });
});

describe('canonical and toFixtureValue', () => {
  const same = (f: FieldDef, a: unknown, b: unknown) => expect(canonical(f, a, sqliteAdapter)).toEqual(canonical(f, b, postgresAdapter));

  it('makes equal stored forms compare equal across dialects', () => {
    same(field('boolean'), 1, true);
    same(field('boolean'), 0, false);
    expect(canonical(field('boolean'), 1, sqliteAdapter)).toBe(true);
    same(field('datetime'), '2024-01-01 10:00:00', '2024-01-01 10:00:00+00');
    same(field('datetime'), '2024-01-01 10:00:00.500000', new Date('2024-01-01T10:00:00.500Z'));
    same(field('decimal'), '1.5000000000', '1.5');
    same(field('json'), '{"b":1,"a":{"d":2,"c":3}}', { a: { c: 3, d: 2 }, b: 1 });
    same(field('integer'), '5', 5);
    expect(canonical(field('string'), null, sqliteAdapter)).toBeNull();
  });

  it('keeps different values different', () => {
    expect(canonical(field('boolean'), 0, sqliteAdapter)).not.toEqual(canonical(field('boolean'), true, postgresAdapter));
    expect(canonical(field('datetime'), '2024-01-01 10:00:00+02', sqliteAdapter)).toBe('2024-01-01 08:00:00');
    expect(canonical(field('decimal'), '1.51', sqliteAdapter)).not.toEqual(canonical(field('decimal'), '1.5', sqliteAdapter));
  });

  it('writes values the way Django serializes them', () => {
    expect(toFixtureValue(field('boolean'), 1, sqliteAdapter)).toBe(true);
    expect(toFixtureValue(field('datetime'), '2010-05-10 14:21:11', sqliteAdapter)).toBe('2010-05-10T14:21:11Z');
    // Microseconds are kept (Django's encoder would cut them to milliseconds); str(Decimal) keeps the column's scale.
    expect(toFixtureValue(field('datetime'), '2010-05-10 14:21:11.5+00', postgresAdapter)).toBe('2010-05-10T14:21:11.500000Z');
    expect(toFixtureValue(field('datetime'), '2010-05-10 14:21:11.123456', sqliteAdapter)).toBe('2010-05-10T14:21:11.123456Z');
    expect(toFixtureValue(field('decimal', { decimalPlaces: 2 }), '3.140', sqliteAdapter)).toBe('3.14');
    expect(toFixtureValue(field('decimal', { decimalPlaces: 3 }), '12.5', sqliteAdapter)).toBe('12.500');
    expect(toFixtureValue(field('float'), '2.5', sqliteAdapter)).toBe(2.5);
    expect(toFixtureValue(field('json'), '{"a":[1]}', sqliteAdapter)).toEqual({ a: [1] });
    expect(toFixtureValue(field('binary'), Buffer.from('hello'), sqliteAdapter)).toBe('aGVsbG8=');
    expect(toFixtureValue(field('date'), '2010-05-10', postgresAdapter)).toBe('2010-05-10');
    expect(toFixtureValue(field('string', { isNullable: true }), null, sqliteAdapter)).toBeNull();
  });
});
