import { describe, expect, it } from 'vitest';
import { IntMap, IntSet } from '../../src/install/int-collections.js';

describe('IntMap', () => {
  it('behaves like a Map for keys in order, out of order, overwritten and missing', () => {
    const map = new IntMap();
    const reference = new Map<number, number>();
    // Ascending runs, then keys inside the range (the overflow), then overwrites.
    for (let k = 1; k <= 5000; k += 2) { map.set(k, k * 10); reference.set(k, k * 10); }
    for (let k = 2; k <= 5000; k += 50) { map.set(k, -k); reference.set(k, -k); }
    for (let k = 1; k <= 5000; k += 7) { map.set(k, 1); reference.set(k, 1); }
    expect(map.size).toBe(reference.size);
    for (let k = 0; k <= 5002; k++) expect(map.get(k), `key ${k}`).toBe(reference.get(k));
    expect([...map.values()].sort((a, b) => a - b)).toEqual([...reference.values()].sort((a, b) => a - b));
  });
});

describe('IntMap runs', () => {
  it('keeps interleaved ascending runs (an MTI root filled one child model after another), and more runs than it holds', () => {
    const map = new IntMap();
    const reference = new Map<number, number>();
    // 20 runs, each ascending, each starting below the last key: 8 become runs, the rest the overflow.
    for (let run = 0; run < 20; run++) for (let k = run; k < 2000; k += 20) { map.set(k, k + run); reference.set(k, k + run); }
    for (let k = 0; k < 2000; k += 3) { map.set(k, -k - 1); reference.set(k, -k - 1); }
    expect(map.size).toBe(reference.size);
    for (let k = -1; k <= 2001; k++) expect(map.get(k), `key ${k}`).toBe(reference.get(k));
    expect([...map.values()].sort((a, b) => a - b)).toEqual([...reference.values()].sort((a, b) => a - b));
  });
});

describe('IntSet', () => {
  it('behaves like a Set, dense or sparse, negative values included', () => {
    for (const values of [[0, 1, 2, 7, 8, 9, 1000, 1000], [5, 2_000_000_000, 3, -4, 3]]) {
      const set = new IntSet();
      for (const v of values) set.add(v);
      const reference = new Set(values);
      expect(set.size).toBe(reference.size);
      for (const v of [...values, 4, 6, 999, 1001, -1]) expect(set.has(v), `value ${v}`).toBe(reference.has(v));
      expect([...set.values()].sort((a, b) => a - b)).toEqual([...reference].sort((a, b) => a - b));
    }
  });
});
