import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, ManifestError } from '../errors.js';
import { CONFLICT_POLICIES, DEFAULT_REGISTRY_TABLE, FIELD_TYPES, IDENTIFIER, type AppManifest, type ConflictPolicy, type FieldDef, type FieldType, type FkDef, type M2mDef, type ModelDef, type NaturalKeyPolicy } from './types.js';

/** The package's own directory, where bundled apps live in `fixtures/<app>/app.json`. */
export const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Resolve `-a`: a bundled app name (`hcore`) or a path to a manifest (`./x.json`).
 * Relative paths resolve against the working directory.
 */
export function resolveManifestPath(app: string): string {
  if (app.endsWith('.json') || app.includes('/') || app.includes(path.sep)) return path.resolve(app);
  if (!IDENTIFIER.test(app)) throw new ConfigError(`Unknown app "${app}": an app is a bundled name like "hcore" or a path to a manifest .json file`);
  const bundled = path.join(PACKAGE_DIR, 'fixtures', app, 'app.json');
  if (!existsSync(bundled)) throw new ConfigError(`Unknown app "${app}": no bundled manifest ${bundled}; give a manifest file with -a ./app.json`);
  return bundled;
}

/** Read, validate and freeze an app manifest. Every problem is reported at once. */
export function loadManifest(app: string): AppManifest {
  const file = resolveManifestPath(app);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`Cannot read app manifest ${file}: ${(error as Error).message}`, { cause: error, meta: { file } });
  }
  return parseManifest(raw, file);
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validate a manifest object; throws a ManifestError listing every `path: message`. */
export function parseManifest(raw: unknown, source = '<manifest>'): AppManifest {
  const problems: string[] = [];
  const problem = (where: string, message: string) => problems.push(`${where}: ${message}`);
  if (!isObject(raw)) throw new ManifestError(source, ['$: must be a JSON object']);
  for (const key of Object.keys(raw)) if (!['app', 'label', 'registry', 'models'].includes(key)) problem(key, 'unknown key (known: app, label, registry, models)');
  const app = raw.app;
  if (typeof app !== 'string' || !IDENTIFIER.test(app)) problem('app', 'must be an identifier like "hcore"');
  const label = raw.label ?? app;
  if (typeof label !== 'string' || !IDENTIFIER.test(label)) problem('label', 'must be an identifier');
  const registry = parseRegistry(raw.registry, problem);
  if (!isObject(raw.models) || Object.keys(raw.models).length === 0) {
    problem('models', 'must be an object with at least one model');
    throw new ManifestError(source, problems);
  }
  const rawModels = raw.models;
  const names = Object.keys(rawModels);
  const tables = new Map<string, string>();
  const partial = new Map<string, Omit<ModelDef, 'root' | 'chain'>>();

  names.forEach((name, index) => {
    const at = `models.${name}`;
    if (!IDENTIFIER.test(name)) problem(at, 'model names are identifiers [A-Za-z][A-Za-z0-9_]*');
    const m = rawModels[name];
    if (!isObject(m)) return problem(at, 'must be an object');
    const known = ['table', 'pk', 'parent', 'fields', 'fk', 'm2m', 'dependencies', 'private', 'lastModified', 'naturalKey', 'naturalKeyPolicy', 'conflictPolicy'];
    for (const key of Object.keys(m)) if (!known.includes(key)) problem(`${at}.${key}`, `unknown key (known: ${known.join(', ')})`);
    const table = m.table;
    if (typeof table !== 'string' || !IDENTIFIER.test(table)) problem(`${at}.table`, 'must be an identifier');
    else if (tables.has(table)) problem(`${at}.table`, `"${table}" is also the table of ${tables.get(table)}`);
    else tables.set(table, name);
    const parent = m.parent;
    if (parent !== undefined && (typeof parent !== 'string' || !(parent in rawModels) || parent === name)) {
      problem(`${at}.parent`, `must name another model of this manifest`);
    }
    const pkDefault = typeof parent === 'string' ? `${parent.toLowerCase()}_ptr_id` : 'id';
    const pk = m.pk ?? pkDefault;
    if (typeof pk !== 'string' || !IDENTIFIER.test(pk)) problem(`${at}.pk`, 'must be a column name');

    const columns = new Set<string>([String(pk)]);
    const claim = (col: string, where: string) => {
      if (columns.has(col)) problem(where, `column "${col}" is declared twice`);
      columns.add(col);
    };
    const fields: FieldDef[] = [];
    if (m.fields !== undefined && !isObject(m.fields)) problem(`${at}.fields`, 'must be an object column -> type');
    for (const [col, spec] of Object.entries(isObject(m.fields) ? m.fields : {})) {
      const where = `${at}.fields.${col}`;
      if (!IDENTIFIER.test(col)) { problem(where, 'column names are identifiers'); continue; }
      if (col === 'original_id' || col === 'original_db_id') { problem(where, 'origin tags are added by the tool; do not declare them'); continue; }
      claim(col, where);
      const field = parseField(col, spec, where, problem);
      if (field) fields.push(field);
    }
    const fks: FkDef[] = [];
    if (m.fk !== undefined && !isObject(m.fk)) problem(`${at}.fk`, 'must be an object field -> { to, null }');
    for (const [fname, spec] of Object.entries(isObject(m.fk) ? m.fk : {})) {
      const where = `${at}.fk.${fname}`;
      if (!IDENTIFIER.test(fname)) { problem(where, 'field names are identifiers'); continue; }
      if (!isObject(spec) || typeof spec.to !== 'string') { problem(where, 'must be { "to": Model, "null": boolean }'); continue; }
      for (const key of Object.keys(spec)) if (!['to', 'null'].includes(key)) problem(`${where}.${key}`, 'unknown key (known: to, null)');
      if (fname === 'original' || fname === 'original_db') problem(where, 'clashes with the origin tag columns the tool adds');
      if (!(spec.to in rawModels)) problem(`${where}.to`, `unknown model "${spec.to}"`);
      if (spec.null !== undefined && typeof spec.null !== 'boolean') problem(`${where}.null`, 'must be a boolean');
      claim(`${fname}_id`, where);
      fks.push({ name: fname, column: `${fname}_id`, to: spec.to, isNullable: spec.null === true });
    }
    const m2m: M2mDef[] = [];
    if (m.m2m !== undefined && !isObject(m.m2m)) problem(`${at}.m2m`, 'must be an object');
    for (const [fname, spec] of Object.entries(isObject(m.m2m) ? m.m2m : {})) {
      const where = `${at}.m2m.${fname}`;
      if (!IDENTIFIER.test(fname) || !isObject(spec) || typeof spec.to !== 'string') { problem(where, 'must be { "to": Model, "table", "source", "target" } or { "to": Model, "through": Model }'); continue; }
      if (!(spec.to in rawModels)) problem(`${where}.to`, `unknown model "${spec.to}"`);
      if (fields.some((f) => f.name === fname) || fks.some((f) => f.name === fname)) problem(where, 'name is also a field');
      for (const key of Object.keys(spec)) if (!['to', 'through', 'table', 'source', 'target'].includes(key)) problem(`${where}.${key}`, 'unknown key (known: to, through, table, source, target)');
      if (spec.through !== undefined) {
        if (typeof spec.through !== 'string' || !(spec.through in rawModels)) problem(`${where}.through`, 'must name a model of this manifest');
        else m2m.push({ kind: 'through', name: fname, to: spec.to, through: spec.through });
        continue;
      }
      const ok = (['table', 'source', 'target'] as const).every((k) => {
        const v = spec[k];
        if (typeof v === 'string' && IDENTIFIER.test(v)) return true;
        problem(`${where}.${k}`, 'must be an identifier');
        return false;
      });
      if (!ok) continue;
      if (tables.has(spec.table as string)) problem(`${where}.table`, `"${spec.table}" is already used by ${tables.get(spec.table as string)}`);
      else tables.set(spec.table as string, `${name}.${fname}`);
      m2m.push({ kind: 'auto', name: fname, to: spec.to, table: spec.table as string, source: spec.source as string, target: spec.target as string });
    }
    const deps = m.dependencies ?? [];
    if (!Array.isArray(deps) || deps.some((d) => typeof d !== 'string' || !(d in rawModels))) problem(`${at}.dependencies`, 'must be a list of models of this manifest');
    if (m.private !== undefined && typeof m.private !== 'boolean') problem(`${at}.private`, 'must be a boolean');
    const lastModified = m.lastModified;
    if (lastModified !== undefined) {
      const f = fields.find((x) => x.name === lastModified);
      if (!f || f.type !== 'datetime') problem(`${at}.lastModified`, 'must name a datetime column declared in fields');
      if (parent !== undefined) problem(`${at}.lastModified`, 'only a root model (no parent) has a lastModified column');
    }
    const naturalKey = m.naturalKey;
    if (naturalKey !== undefined) {
      if (!Array.isArray(naturalKey) || naturalKey.length === 0 || naturalKey.some((k) => typeof k !== 'string' || !fields.some((f) => f.name === k))) {
        problem(`${at}.naturalKey`, 'must be a non-empty list of fields of this model');
      }
      if (parent !== undefined) problem(`${at}.naturalKey`, 'only a root model (no parent) can have a natural key');
    }
    const policy = m.naturalKeyPolicy ?? 'keep-local';
    if (!['keep-local', 'take-remote', 'error'].includes(policy as string)) problem(`${at}.naturalKeyPolicy`, 'must be keep-local, take-remote or error');
    const conflictPolicy = m.conflictPolicy ?? 'home-wins';
    if (!(CONFLICT_POLICIES as readonly unknown[]).includes(conflictPolicy)) problem(`${at}.conflictPolicy`, `must be one of ${CONFLICT_POLICIES.join(', ')}`);
    partial.set(name, {
      conflictPolicy: conflictPolicy as ConflictPolicy,
      naturalKey: Array.isArray(naturalKey) ? (naturalKey as string[]) : undefined,
      naturalKeyPolicy: policy as NaturalKeyPolicy,
      name, table: String(table), pk: String(pk), parent: typeof parent === 'string' ? parent : undefined,
      fields, fks, m2m, dependencies: Array.isArray(deps) ? (deps as string[]) : [],
      isPrivate: m.private === true, lastModified: typeof lastModified === 'string' ? lastModified : undefined, index,
    });
  });

  // Resolve MTI chains; a parent cycle is a manifest error.
  const models = new Map<string, ModelDef>();
  for (const [name, def] of partial) {
    const chain = [name];
    let cursor = def.parent;
    while (cursor !== undefined) {
      if (chain.includes(cursor)) { problem(`models.${name}.parent`, `inheritance cycle ${[...chain.slice(chain.indexOf(cursor)), cursor].join(' -> ')}`); break; }
      chain.push(cursor);
      cursor = partial.get(cursor)?.parent;
    }
    chain.reverse();
    models.set(name, Object.freeze({ ...def, root: chain[0], chain: Object.freeze(chain) }));
  }
  for (const def of models.values()) {
    for (const m of def.m2m) {
      if (m.kind === 'through') {
        const through = partial.get(m.through);
        if (through && !through.fks.some((f) => f.to === def.name || models.get(def.name)?.chain.includes(f.to))) {
          problem(`models.${def.name}.m2m.${m.name}.through`, `${m.through} has no fk to ${def.name}`);
        }
      }
    }
  }
  for (const def of models.values()) if (def.table === registry) problem('registry.table', `"${registry}" is also the table of ${def.name}`);
  if (problems.length > 0) throw new ManifestError(source, problems);
  return Object.freeze({ app: app as string, label: label as string, registry, source, models });
}

/** `"registry": {"table": "dbsync_database"}`: the app's own table of remotes (DESIGN §8); else the tool's. */
function parseRegistry(spec: unknown, problem: (w: string, m: string) => void): string {
  if (spec === undefined) return DEFAULT_REGISTRY_TABLE;
  if (!isObject(spec)) {
    problem('registry', 'must be an object like {"table": "dbsync_database"}');
    return DEFAULT_REGISTRY_TABLE;
  }
  for (const key of Object.keys(spec)) if (key !== 'table') problem(`registry.${key}`, 'unknown key (known: table)');
  if (typeof spec.table !== 'string' || !IDENTIFIER.test(spec.table)) {
    problem('registry.table', 'must be an identifier');
    return DEFAULT_REGISTRY_TABLE;
  }
  if (spec.table.startsWith('remotesyncdb_') && spec.table !== DEFAULT_REGISTRY_TABLE) problem('registry.table', 'remotesyncdb_* names are the tool\'s own tables');
  return spec.table;
}

function parseField(name: string, spec: unknown, where: string, problem: (w: string, m: string) => void): FieldDef | undefined {
  const s: Json = typeof spec === 'string' ? { type: spec } : isObject(spec) ? spec : {};
  const type = s.type;
  if (typeof type !== 'string' || !(FIELD_TYPES as readonly string[]).includes(type)) {
    problem(where, `type must be one of ${FIELD_TYPES.join(' ')}`);
    return undefined;
  }
  for (const key of Object.keys(s)) {
    if (!['type', 'null', 'default', 'maxLength', 'maxDigits', 'decimalPlaces'].includes(key)) problem(`${where}.${key}`, 'unknown key');
  }
  if (s.null !== undefined && typeof s.null !== 'boolean') problem(`${where}.null`, 'must be a boolean');
  for (const key of ['maxLength', 'maxDigits', 'decimalPlaces'] as const) {
    if (s[key] !== undefined && (!Number.isInteger(s[key]) || (s[key] as number) < 0)) problem(`${where}.${key}`, 'must be a non-negative integer');
  }
  return {
    name, type: type as FieldType, isNullable: s.null === true,
    ...(s.default !== undefined ? { default: s.default } : {}),
    ...(type === 'string' ? { maxLength: (s.maxLength as number | undefined) ?? 255 } : {}),
    ...(type === 'decimal' ? { maxDigits: (s.maxDigits as number | undefined) ?? 20, decimalPlaces: (s.decimalPlaces as number | undefined) ?? 10 } : {}),
  };
}

/** Look up a model by a name that came from outside (a flag, a URL, a payload). */
export function getModel(manifest: AppManifest, name: string): ModelDef | undefined {
  return IDENTIFIER.test(name) ? manifest.models.get(name) : undefined;
}

/** The fixture `model` key of a model: `<label>.<name lowercased>`. */
export function fixtureModelKey(manifest: AppManifest, model: ModelDef): string {
  return `${manifest.label}.${model.name.toLowerCase()}`;
}
