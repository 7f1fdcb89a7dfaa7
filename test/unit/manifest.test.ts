import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, ManifestError } from '../../src/errors.js';
import { loadManifest, parseManifest, PACKAGE_DIR, resolveManifestPath } from '../../src/manifest/load-manifest.js';

/** Parse `raw`, expecting a ManifestError, and return its problems. */
function problemsOf(raw: unknown): string[] {
  try {
    parseManifest(raw, 'test.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    return (error as ManifestError).problems;
  }
  throw new Error('parseManifest accepted an invalid manifest');
}

describe('loadManifest("hcore")', () => {
  const hcore = loadManifest('hcore');

  it('loads the bundled manifest with its 27 models in file order', () => {
    expect(hcore.app).toBe('hcore');
    expect(hcore.label).toBe('hcore');
    expect(hcore.source).toBe(path.join(PACKAGE_DIR, 'fixtures', 'hcore', 'app.json'));
    expect(hcore.models.size).toBe(27);
    const names = [...hcore.models.keys()];
    expect(names.slice(0, 4)).toEqual(['Lentity', 'Person', 'Organization', 'Gentity']);
    expect(names.at(-1)).toBe('UserProfile');
    expect([...hcore.models.values()].map((m) => m.index)).toEqual([...Array(27).keys()]);
  });

  it('resolves MTI chains, roots and child pks', () => {
    const station = hcore.models.get('Station')!;
    expect(station.chain).toEqual(['Gentity', 'Gpoint', 'Station']);
    expect(station.root).toBe('Gentity');
    expect(station.pk).toBe('gpoint_ptr_id');
    const pd = hcore.models.get('PoliticalDivision')!;
    expect(pd.chain).toEqual(['Gentity', 'Garea', 'PoliticalDivision']);
    expect(pd.pk).toBe('garea_ptr_id');
    expect(hcore.models.get('Person')!.pk).toBe('lentity_ptr_id');
    const lentity = hcore.models.get('Lentity')!;
    expect(lentity).toMatchObject({ pk: 'id', root: 'Lentity', chain: ['Lentity'], lastModified: 'last_modified' });
    expect(lentity.parent).toBeUndefined();
  });

  it('marks only UserProfile private', () => {
    const priv = [...hcore.models.values()].filter((m) => m.isPrivate).map((m) => m.name);
    expect(priv).toEqual(['UserProfile']);
  });

  it('resolves fields, fks and m2m with their defaults', () => {
    const station = hcore.models.get('Station')!;
    expect(station.fks).toEqual([
      { name: 'owner', column: 'owner_id', to: 'Lentity', isNullable: false },
      { name: 'type', column: 'type_id', to: 'StationType', isNullable: false },
    ]);
    expect(station.m2m).toEqual([{ kind: 'through', name: 'overseers', to: 'Person', through: 'Overseer' }]);
    expect(station.fields.find((f) => f.name === 'start_date')).toEqual({ name: 'start_date', type: 'date', isNullable: true });
    expect(hcore.models.get('Person')!.fields[0]).toEqual({ name: 'last_name', type: 'string', isNullable: false, maxLength: 100 });
    expect(hcore.models.get('UnitOfMeasurement')!.m2m).toEqual([
      { kind: 'auto', name: 'variables', to: 'Variable', table: 'hcore_unitofmeasurement_variables', source: 'unitofmeasurement_id', target: 'variable_id' },
    ]);
  });
});

describe('resolveManifestPath / loadManifest errors', () => {
  it('maps an app name to the bundled file and a .json to a resolved path', () => {
    expect(resolveManifestPath('hcore')).toBe(path.join(PACKAGE_DIR, 'fixtures', 'hcore', 'app.json'));
    expect(resolveManifestPath('./x.json')).toBe(path.resolve('x.json'));
    expect(resolveManifestPath('dir/app')).toBe(path.resolve('dir/app'));
  });

  it('rejects unknown and non-identifier app names with a ConfigError', () => {
    expect(() => resolveManifestPath('nosuchapp')).toThrow(/Unknown app "nosuchapp"/);
    expect(() => resolveManifestPath('x; DROP TABLE')).toThrow(ConfigError);
  });

  it('reports an unreadable or non-JSON manifest file as a ConfigError', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rsdb-manifest-'));
    const file = path.join(dir, 'broken.json');
    writeFileSync(file, '{ "app": ');
    expect(() => loadManifest(file)).toThrow(new RegExp(`Cannot read app manifest ${file.replace(/[.\\]/g, '\\$&')}`));
    expect(() => loadManifest(path.join(dir, 'missing.json'))).toThrow(ConfigError);
  });

  it('loads a valid manifest from a path', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rsdb-manifest-'));
    const file = path.join(dir, 'app.json');
    writeFileSync(file, JSON.stringify({ app: 'mini', models: { Thing: { table: 'mini_thing', fields: { n: 'integer' } } } }));
    const m = loadManifest(file);
    expect(m.source).toBe(file);
    expect(m.models.get('Thing')!.fields).toEqual([{ name: 'n', type: 'integer', isNullable: false }]);
  });
});

describe('parseManifest validation', () => {
  it('reports every problem as "path: message" in one ManifestError', () => {
    const problems = problemsOf({
      app: 'x',
      models: {
        A: { table: 'x; DROP TABLE', fields: { n: 'varchar' } },
        B: { table: 'same', fk: { owner: { to: 'Nobody', null: false } } },
        C: { table: 'same', parent: 'B', lastModified: 'ts', fields: { ts: 'datetime' } },
        D: { table: 'd', parent: 'E', colour: 'red' },
        E: { table: 'e', parent: 'D' },
      },
    });
    expect(problems).toEqual([
      'models.A.table: must be an identifier',
      'models.A.fields.n: type must be one of string text integer float decimal boolean date datetime json binary',
      'models.B.fk.owner.to: unknown model "Nobody"',
      'models.C.table: "same" is also the table of B',
      'models.C.lastModified: only a root model (no parent) has a lastModified column',
      'models.D.colour: unknown key (known: table, pk, parent, fields, fk, m2m, dependencies, private, lastModified, naturalKey, naturalKeyPolicy, conflictPolicy)',
      expect.stringMatching(/^models\.D\.parent: inheritance cycle /),
      expect.stringMatching(/^models\.E\.parent: inheritance cycle /),
    ]);
  });

  it('puts the source and every problem in the message, with exit code 2', () => {
    try {
      parseManifest({ app: 'bad app', models: { A: { table: 'a', private: 'yes' } } }, 'my.json');
      expect.unreachable();
    } catch (error) {
      const e = error as ManifestError;
      expect(e.code).toBe('E_MANIFEST');
      expect(e.exitCode).toBe(2);
      expect(e.message).toBe('Invalid app manifest my.json:\n  app: must be an identifier like "hcore"\n  label: must be an identifier\n  models.A.private: must be a boolean');
    }
  });

  it('rejects field-level mistakes', () => {
    expect(problemsOf({ app: 'x', models: { A: { table: 'a', fields: { original_id: 'integer', s: { type: 'string', maxLength: -1, nul: true } }, fk: { s: { to: 'A' } } } } })).toEqual([
      'models.A.fields.original_id: origin tags are added by the tool; do not declare them',
      'models.A.fields.s.nul: unknown key',
      'models.A.fields.s.maxLength: must be a non-negative integer',
    ]);
    expect(problemsOf({ app: 'x', models: { A: { table: 'a', fields: { s: 'string', s_id: 'integer' }, fk: { s: { to: 'A' } } } } })).toEqual([
      'models.A.fk.s: column "s_id" is declared twice',
    ]);
  });

  it('rejects a through model without an fk back, and an empty model list', () => {
    expect(problemsOf({ app: 'x', models: { A: { table: 'a', m2m: { bs: { to: 'B', through: 'B' } } }, B: { table: 'b' } } })).toEqual([
      'models.A.m2m.bs.through: B has no fk to A',
    ]);
    expect(problemsOf({ app: 'x', models: {} })).toEqual(['models: must be an object with at least one model']);
    expect(problemsOf([])).toEqual(['$: must be a JSON object']);
  });

  // Regression (src/manifest/load-manifest.ts, chain resolution), fixed: for A.parent=B, B.parent=A the problem
  // reads "inheritance cycle B -> A -> A" — A twice, B never closes — instead of naming the cycle.
  it('names a parent cycle correctly (A -> B -> A)', () => {
    const problems = problemsOf({ app: 'x', models: { A: { table: 'a', parent: 'B' }, B: { table: 'b', parent: 'A' } } });
    expect(problems[0]).toMatch(/^models\.A\.parent: inheritance cycle (A -> B -> A|B -> A -> B)$/);
  });

  // BUG: unknown keys are only checked on models and fields; a typo at the top level or inside an
  // fk spec (here `nul` for `null`) is silently accepted, turning a nullable FK into NOT NULL.
  it('rejects unknown keys at the top level and inside fk specs', () => {
    expect(problemsOf({ app: 'x', lable: 'y', models: { A: { table: 'a', fk: { b: { to: 'A', nul: true } } } } })).toEqual([
      expect.stringMatching(/^lable: unknown key/),
      expect.stringMatching(/^models\.A\.fk\.b\.nul: unknown key/),
    ]);
  });
});
