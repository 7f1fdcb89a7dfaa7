import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FixtureSplitter, FixtureSyntaxError, InvalidElement, parseFixture } from '../../src/sources/fixture-splitter.js';

const REAL = new URL('../../../shared/realdata/enhydris/dbsync-testdata-2010.json', import.meta.url);

/** Cut a body into Buffers of `size` bytes (splitting multi-byte characters) or strings of `size` chars. */
async function* chunks(body: Buffer | string, size: number): AsyncGenerator<Buffer | string> {
  for (let i = 0; i < body.length; i += size) yield body.slice(i, i + size);
}

async function collect(body: Buffer | string, size = body.length || 1): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const obj of parseFixture(chunks(body, size))) out.push(obj);
  return out;
}

const TRICKY = [
  { model: 'hcore.gentity', pk: 1, fields: { name: 'Αχελώος', remarks: 'braces } { ] [ in text' } },
  { model: 'hcore.gentity', pk: 2, fields: { name: 'quote \" and backslash \\', remarks: 'ends with backslash \\', x: [[1, { y: '}' }], []] } },
  { model: 'hcore.station', pk: 3, fields: { name: 'Ποταμός Άραχθος — 𝔘nicode', is_active: false, owner: null } },
];
const TRICKY_BODY = Buffer.from(JSON.stringify(TRICKY, null, 1), 'utf8');

describe('parseFixture splits whatever the chunk boundaries', () => {
  it.skipIf(!existsSync(REAL))('real Enhydris payload in chunks of 1, 7, 64 bytes and whole', async () => {
    const body = readFileSync(REAL);
    const expected = JSON.parse(body.toString('utf8')) as unknown[];
    expect(expected).toHaveLength(32);
    for (const size of [1, 7, 64, body.length]) expect(await collect(body, size), `chunk size ${size}`).toEqual(expected);
  });

  it('Greek text and escapes, as Buffers cut inside multi-byte characters', async () => {
    expect(Buffer.byteLength('Αχελώος')).toBe(14);
    for (const size of [1, 2, 3, 5, 7, 64]) expect(await collect(TRICKY_BODY, size), `chunk size ${size}`).toEqual(TRICKY);
  });

  it('the same as string chunks of 1 character (escape state carried across chunks)', async () => {
    const text = TRICKY_BODY.toString('utf8');
    expect(await collect(text, 1)).toEqual(TRICKY);
    expect(await collect('[{"a":"\\\\"},{"b":"\\"}"}]', 1)).toEqual([{ a: '\\' }, { b: '"}' }]);
  });

  it('an empty array, whitespace and a BOM', async () => {
    expect(await collect('[]')).toEqual([]);
    expect(await collect(' \r\n\t[ \n ]\n ')).toEqual([]);
    expect(await collect(Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('[{"pk":1}]')]), 1)).toEqual([{ pk: 1 }]);
    expect(await collect('\ufeff[ {"pk":1} ,\n {"pk":2} ]')).toEqual([{ pk: 1 }, { pk: 2 }]);
  });
});

describe('FixtureSplitter', () => {
  it('returns each element text exactly and counts them', () => {
    const s = new FixtureSplitter();
    expect(s.push('[ {"a":1} ,\n{"b":"}"')).toEqual(['{"a":1}']);
    expect(s.push('}, {"c":')).toEqual(['{"b":"}"}']);
    expect(s.push('[1,{"d":2}]}]')).toEqual(['{"c":[1,{"d":2}]}']);
    expect(s.count).toBe(3);
    expect(() => s.end()).not.toThrow();
  });
});

describe('parseFixture errors are FixtureSyntaxErrors', () => {
  /** The quoted excerpt in a message depends on where the chunk was cut, so messages are matched loosely there. */
  const fails = async (body: string, message: RegExp | string) => {
    for (const size of [1, body.length || 1]) {
      const result = collect(body, size);
      await expect(result).rejects.toBeInstanceOf(FixtureSyntaxError);
      await expect(collect(body, size)).rejects.toThrow(message);
    }
  };

  it('not an array', async () => {
    await fails('{"model":"hcore.station"}', /^expected a JSON array "\[", found "\{/);
    await fails('', 'empty body, expected a JSON array');
    await fails('  \n', 'empty body, expected a JSON array');
    await fails('<html>502</html>', /expected a JSON array/);
  });

  it('truncated body without the closing "]"', async () => {
    await fails('[{"pk":1},{"pk":2', 'truncated: the array ends after 1 complete object(s) without "]"');
    await fails('[{"pk":1}', 'truncated: the array ends after 1 complete object(s) without "]"');
    await fails('[', 'truncated: the array ends after 0 complete object(s) without "]"');
    await fails('[{"s":"]}"', /truncated/);
  });

  it('missing comma between objects, or a leading comma', async () => {
    await fails('[{"pk":1} {"pk":2}]', /^unexpected "\{.*" after object 1: expected "," or "\]"$/);
    await fails('[,{"pk":1}]', 'after object 0: expected an object');
  });

  it('trailing garbage after "]"', async () => {
    await fails('[{"pk":1}] x', 'unexpected "x" after the end of the array');
    await fails('[][]', /after the end of the array/);
  });

  it('a non-object element', async () => {
    await fails('[1]', /^unexpected "1.*" after object 0: expected an object$/);
    await fails('[{"pk":1}, "x"]', /after object 1: expected an object/);
    await fails('[[{"pk":1}]]', /expected an object/);
    await fails('[null]', /expected an object/);
  });

  it('yields an element that is not valid JSON as an InvalidElement at its position, and goes on', async () => {
    const got: unknown[] = [];
    for await (const o of parseFixture(chunks('[{"pk":1},{"pk": },{"pk":3}]', 5))) got.push(o);
    expect(got).toHaveLength(3);
    expect(got[0]).toEqual({ pk: 1 });
    expect(got[1]).toBeInstanceOf(InvalidElement);
    expect((got[1] as InvalidElement).position).toBe(2);
    expect(got[2]).toEqual({ pk: 3 });
    const single: unknown[] = [];
    for await (const o of parseFixture(chunks("[{'pk':1}]", 4))) single.push(o);
    expect(single[0]).toBeInstanceOf(InvalidElement);
    await fails('[{"pk":1]}]', /^(unexpected "\}.*" after object 1)/); // mismatched brackets: the splitter
  });

  it('objects before an error are still yielded', async () => {
    const seen: unknown[] = [];
    await expect((async () => { for await (const o of parseFixture(chunks('[{"pk":1},{"pk":2} x', 3))) seen.push(o); })()).rejects.toThrow(FixtureSyntaxError);
    expect(seen).toEqual([{ pk: 1 }, { pk: 2 }]);
  });

  // Regression (src/sources/fixture-splitter.ts, State.Between), fixed: a comma followed by "]" is accepted,
  // so `[{"pk":1},]` — not JSON, and not what Django writes — parses as one object.
  it('a trailing comma before "]"', async () => {
    await fails('[{"pk":1},]', /expected an object/);
  });
});
