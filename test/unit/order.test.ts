import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { loadManifest, parseManifest } from '../../src/manifest/load-manifest.js';
import { dependencyOrder, findCycle } from '../../src/manifest/order.js';

const names = (models: { name: string }[]) => models.map((m) => m.name);

describe('dependencyOrder(hcore)', () => {
  const hcore = loadManifest('hcore');
  const order = names(dependencyOrder(hcore));
  const pos = (name: string) => {
    const i = order.indexOf(name);
    expect(i, name).toBeGreaterThanOrEqual(0);
    return i;
  };

  it('lists every model exactly once', () => {
    expect(order).toHaveLength(27);
    expect(new Set(order)).toEqual(new Set(hcore.models.keys()));
  });

  it('puts every parent before its child', () => {
    for (const m of hcore.models.values()) if (m.parent) expect(pos(m.parent), `${m.parent} < ${m.name}`).toBeLessThan(pos(m.name));
    expect(pos('Gentity')).toBeLessThan(pos('Gpoint'));
    expect(pos('Gpoint')).toBeLessThan(pos('Station'));
  });

  it('puts every NOT NULL fk target before the model', () => {
    for (const m of hcore.models.values()) {
      for (const fk of m.fks) if (!fk.isNullable) expect(pos(fk.to), `${fk.to} < ${m.name}`).toBeLessThan(pos(m.name));
    }
    expect(pos('Lentity')).toBeLessThan(pos('Station'));
    expect(pos('Station')).toBeLessThan(pos('Overseer'));
    expect(pos('Person')).toBeLessThan(pos('Overseer'));
    expect(pos('Station')).toBeLessThan(pos('Instrument'));
    expect(pos('Instrument')).toBeLessThan(pos('Timeseries'));
  });

  it('puts nullable fk targets first too unless that would be a cycle', () => {
    for (const m of hcore.models.values()) {
      for (const fk of m.fks) {
        const target = hcore.models.get(fk.to)!;
        if (fk.to === m.name || target.chain.includes(m.name)) continue; // self or a descendant: cannot come first
        expect(pos(fk.to), `${fk.to} < ${m.name}`).toBeLessThan(pos(m.name));
      }
    }
    // Gentity.water_basin -> WaterBasin, a Gentity child: the parent edge wins.
    expect(pos('Gentity')).toBeLessThan(pos('WaterBasin'));
    expect(pos('TimeStep')).toBeLessThan(pos('Timeseries'));
  });

  it('is stable: the same order twice, and ties keep manifest order', () => {
    expect(names(dependencyOrder(hcore))).toEqual(order);
    expect(names(dependencyOrder(loadManifest('hcore')))).toEqual(order);
    expect(order.slice(0, 3)).toEqual(['Lentity', 'Person', 'Organization']);
    expect(order.at(-1)).toBe('UserProfile');
  });
});

describe('dependencyOrder on small manifests', () => {
  it('throws a ConfigError naming a dependencies cycle', () => {
    const m = parseManifest({ app: 'x', models: { A: { table: 'a', dependencies: ['B'] }, B: { table: 'b', dependencies: ['A'] }, C: { table: 'c' } } });
    expect(() => dependencyOrder(m)).toThrow(ConfigError);
    expect(() => dependencyOrder(m)).toThrow('Dependency cycle in app x: A -> B -> A.');
  });

  it('throws on a cycle made of a parent and a dependency', () => {
    const m = parseManifest({ app: 'x', models: { P: { table: 'p', dependencies: ['C'] }, C: { table: 'c', parent: 'P' } } });
    expect(() => dependencyOrder(m)).toThrow(/: (P -> C -> P|C -> P -> C)\./);
  });

  it('breaks a cycle through a nullable fk, keeping the NOT NULL edge', () => {
    const m = parseManifest({
      app: 'x',
      models: {
        B: { table: 'b', fk: { a: { to: 'A', null: false } } },
        A: { table: 'a', fk: { b: { to: 'B', null: true } } },
      },
    });
    expect(names(dependencyOrder(m))).toEqual(['A', 'B']);
  });

  it('keeps manifest order when nothing constrains it, and ignores self-references', () => {
    const m = parseManifest({
      app: 'x',
      models: { Z: { table: 'z', fk: { up: { to: 'Z', null: true } } }, Y: { table: 'y', dependencies: ['Y'] }, X: { table: 'x' } },
    });
    expect(names(dependencyOrder(m))).toEqual(['Z', 'Y', 'X']);
  });

  it('moves a dependency before a model listed earlier', () => {
    const m = parseManifest({ app: 'x', models: { A: { table: 'a', dependencies: ['C'] }, B: { table: 'b' }, C: { table: 'c' } } });
    expect(names(dependencyOrder(m))).toEqual(['B', 'C', 'A']);
  });
});

describe('dependencyOrder through toposort', () => {
  it('gives hcore the order it always had (the one --dry-run -v 2 prints)', () => {
    expect(names(dependencyOrder(loadManifest('hcore'))).join(' ')).toBe(
      'Lentity Person Organization Gentity Gpoint Gline Garea PoliticalDivision WaterDivision WaterBasin ' +
        'GentityAltCodeType GentityAltCode FileType GentityFile EventType GentityEvent StationType Station Overseer ' +
        'InstrumentType Instrument Variable UnitOfMeasurement TimeZone TimeStep Timeseries UserProfile',
    );
  });

  it("breaks ties depth first, as toposort does, not 'earliest ready model first'", () => {
    // B before F, G, C, D; F, G before D; G before C; C before E, A; E before A. D is free of
    // C, E and A: earliest-ready would give B F G C D E A; toposort places C's chain first.
    const deps: Record<string, string[]> = { A: ['C', 'E'], B: [], C: ['B', 'G'], D: ['B', 'F', 'G'], E: ['C'], F: ['B'], G: ['B'] };
    const m = parseManifest({ app: 'x', models: Object.fromEntries(Object.entries(deps).map(([k, v]) => [k, { table: k.toLowerCase(), dependencies: v }])) });
    expect(names(dependencyOrder(m))).toEqual(['B', 'F', 'G', 'C', 'E', 'A', 'D']);
  });
});

describe('findCycle', () => {
  const graph = (edges: Record<string, string[]>) => new Map(Object.entries(edges).map(([k, v]) => [k, new Set(v)]));

  it('returns the cycle closed on its first node', () => {
    expect(findCycle(['A', 'B', 'C'], graph({ A: ['B'], B: ['C'], C: ['A'] }))).toEqual(['A', 'B', 'C', 'A']);
    expect(findCycle(['S', 'A', 'B'], graph({ S: ['A'], A: ['B'], B: ['A'] }))).toEqual(['A', 'B', 'A']);
    expect(findCycle(['A'], graph({ A: ['A'] }))).toEqual(['A', 'A']);
  });

  it('returns undefined for a DAG, including diamonds', () => {
    expect(findCycle(['A', 'B', 'C', 'D'], graph({ A: ['B', 'C'], B: ['D'], C: ['D'], D: [] }))).toBeUndefined();
  });
});
