import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Knex } from 'knex';
import type { DialectAdapter } from '../dialects/index.js';
import { ConfigError, FetchError } from '../errors.js';
import { getModel } from '../manifest/load-manifest.js';
import type { AppManifest, ModelDef } from '../manifest/types.js';
import { serializeModel } from '../server/serialize.js';
import { fixtureFile, writeFetchManifest, type FetchManifest } from '../sources/work-dir.js';
import { isIncremental, modifiedAfterParam } from '../sync/watermarks.js';
import { normalizeDatetime } from '../values/values.js';

/**
 * A bundle is the site's change set as JSON lines: a header, then per model a section line
 * (its name, the incremental cut, the site's full pk list, so `--prune` works on an
 * incremental bundle) followed by that model's changed objects in Django's fixture form.
 */
export interface BundleHeader {
  format: 'remotesyncdb-bundle';
  version: 1;
  id: string;
  app: string;
  /** The site's clock when the bundle was cut (whole seconds, UTC): the centre's next watermark. */
  siteClock: string;
  /** The centre's watermarks the bundle was cut from; the centre refuses a bundle whose base is not its own. */
  base: Record<string, string>;
  models: string[];
  /** `push --prune`: the centre deletes the site's rows that its pk lists no longer hold. */
  prune: boolean;
  /** Every object, not only what changed: the centre takes it whatever its watermarks say. */
  full: boolean;
  /**
   * A two-way exchange's bundle (DESIGN §10): its objects are what changed against the versions
   * the site and the centre agreed on, each with that base; a model's section may carry `claims`
   * (the site's ids of rows whose home is the centre, with the centre's ids) and `deleted`.
   */
  exchange?: boolean;
}

/** A row an exchange says is gone: its pk there, and with a site's bundle its identity and base. */
export interface DeletedEntry { pk: number; ref?: string; base?: { hash: string; fields: Record<string, unknown> } | null }

/** One line of a model's section as a cut writes it. */
export interface BundleLine { text: string; isObject: boolean }

interface SectionLine { section: string; modifiedAfter: string | null; pks: number[] }

/** What a cut wrote. */
export interface CutBundle { header: BundleHeader; file: string; bytes: number; sha256: string; objects: number }

/** The site's clock in whole seconds, UTC (what `serve` says as X-Server-Time). */
export function siteClock(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Write text as UTF-8 (hashing it when a hash is given), waiting for the stream to drain; returns the bytes written. */
async function write(out: WriteStream, hash: ReturnType<typeof createHash> | undefined, text: string): Promise<number> {
  const buffer = Buffer.from(text, 'utf8');
  hash?.update(buffer);
  if (!out.write(buffer)) await new Promise<void>((resolve) => out.once('drain', resolve));
  return buffer.length;
}

/** End a stream and wait until its file is written. */
function end(out: WriteStream): Promise<void> {
  return new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
}

/** What a cut asks for: the site's database, the models in order, the centre's watermarks. */
export interface CutOptions {
  knex: Knex;
  dialect: DialectAdapter;
  manifest: AppManifest;
  plan: readonly ModelDef[];
  base: Record<string, string>;
  full: boolean;
  prune: boolean;
  /** The bundle file (with `maxBytes`, its split parts are written beside it). */
  file: string;
  /** Split into consecutive bundles of at most this many bytes where the models allow it. */
  maxBytes?: number;
  /** A model's section, its section line first (default: a push's, by watermark: {@link pushLines}). */
  lines?: (model: ModelDef) => AsyncIterable<BundleLine>;
  exchange?: boolean;
  /**
   * With `maxBytes`: also split a model's objects across bundles (an exchange, whose changes
   * are found by version; a push may not, since each bundle moves its models' watermarks).
   */
  splitModels?: boolean;
}

/** One model group's sections, cut to a file of their own before bundles are assembled. */
interface Part { file: string; bytes: number; objects: number; models: string[] }

/**
 * Cut the site's changes from its own database (read only): every object of `plan` changed
 * since the centre's watermark (minus the overlap; all of them for a model without one, or
 * `full`), and every model's pk list. One bundle, or with `maxBytes` consecutive bundles that
 * each commit on their own: split only between models no reference crosses forward (see
 * {@link splitPoints}), so each bundle installs whole; a group larger than `maxBytes` travels
 * alone. Every bundle carries one site clock, taken before the first read.
 */
export async function cutBundles(options: CutOptions): Promise<CutBundle[]> {
  const clock = siteClock();
  // Room for the header line each bundle opens with (as long as it can get: every model named).
  if (options.maxBytes !== undefined) {
    const widest: BundleHeader = { format: 'remotesyncdb-bundle', version: 1, id: randomUUID(), app: options.manifest.app, siteClock: clock, base: options.base, models: options.plan.map((m) => m.name), prune: options.prune, full: options.full, exchange: true };
    options = { ...options, maxBytes: Math.max(1, options.maxBytes - Buffer.byteLength(`${JSON.stringify(widest)}\n`)) };
  }
  const groups = options.maxBytes === undefined ? [options.plan] : splitPoints(options.plan);
  const parts: Part[] = [];
  for (const [i, group] of groups.entries()) parts.push(...(await cutPart(options, group, `${options.file}.part${i}`)));
  // Consecutive groups travel together while they fit.
  const bundles: Part[][] = [];
  for (const part of parts) {
    const last = bundles.at(-1);
    if (last && options.maxBytes !== undefined && last.reduce((n, p) => n + p.bytes, 0) + part.bytes <= options.maxBytes) last.push(part);
    else bundles.push([part]);
  }
  const out: CutBundle[] = [];
  for (const [i, group] of bundles.entries()) out.push(await assemble(options, group, clock, bundles.length === 1 ? options.file : `${options.file}.${i}`));
  for (const part of parts) await rm(part.file, { force: true });
  return out;
}

/**
 * The plan cut into groups between which no reference points forward (a nullable FK or an m2m
 * link to a later model, such as Gentity.water_basin to WaterBasin): each group installs on its
 * own, since everything its objects refer to is in it or in a bundle committed before.
 */
export function splitPoints(plan: readonly ModelDef[]): ModelDef[][] {
  const at = new Map(plan.map((m, i) => [m.name, i]));
  const reach = plan.map((_, i) => i);
  for (const [i, model] of plan.entries()) {
    const targets = [...model.fks.map((fk) => fk.to), ...model.m2m.map((m2m) => m2m.to), ...(model.parent ? [model.parent] : [])];
    for (const target of targets) {
      const t = at.get(target);
      if (t !== undefined) reach[i] = Math.max(reach[i], t);
    }
  }
  const groups: ModelDef[][] = [];
  let start = 0;
  let end = 0;
  for (let i = 0; i < plan.length; i++) {
    end = Math.max(end, reach[i]);
    if (i === end) {
      groups.push(plan.slice(start, i + 1));
      start = i + 1;
      end = i + 1;
    }
  }
  return groups;
}

/**
 * Cut a group's sections to a part file. With `splitModels` and `maxBytes`, a group of one
 * model that refers to no row of its own model is cut into several parts of about `maxBytes`,
 * each opening with the model's section lines again (its pk list, its claims): every part then
 * installs on its own, since its objects refer only to earlier models.
 */
async function cutPart(options: CutOptions, models: readonly ModelDef[], file: string): Promise<Part[]> {
  await mkdir(path.dirname(file), { recursive: true });
  const parts: Part[] = [];
  const lines = options.lines ?? ((model: ModelDef) => pushLines(options, model));
  // A model whose objects may refer to others of it (a self FK or m2m), or an MTI child, stays whole.
  const staysWhole = (m: ModelDef) => m.fks.some((fk) => fk.to === m.name) || m.m2m.some((x) => x.to === m.name) || m.parent !== undefined;
  const isSplittable = options.splitModels === true && options.maxBytes !== undefined && models.length === 1 && !staysWhole(models[0]);
  let out = createWriteStream(file);
  let current: Part = { file, bytes: 0, objects: 0, models: models.map((m) => m.name) };
  const put = async (text: string) => {
    current.bytes += await write(out, undefined, text);
  };
  try {
    for (const model of models) {
      const opening: string[] = [];
      let isOpening = true;
      for await (const line of lines(model)) {
        if (!line.isObject && isOpening) opening.push(line.text);
        if (line.isObject) {
          isOpening = false;
          if (isSplittable && current.objects > 0 && current.bytes + Buffer.byteLength(line.text) + 1 > options.maxBytes!) {
            await end(out);
            parts.push(current);
            const next = `${file}.${parts.length}`;
            out = createWriteStream(next);
            current = { file: next, bytes: 0, objects: 0, models: models.map((m) => m.name) };
            for (const text of opening) await put(`${text}\n`);
          }
          current.objects++;
        }
        await put(`${line.text}\n`);
      }
    }
  } finally {
    await end(out);
  }
  parts.push(current);
  return parts;
}

/** A push's section of a model: its full pk list, then every object changed since the centre's watermark. */
export async function* pushLines(options: CutOptions, model: ModelDef): AsyncGenerator<BundleLine> {
  const { knex, dialect, manifest, base } = options;
  const watermark = options.full || !isIncremental(manifest, model) ? undefined : base[model.name];
  const after = watermark === undefined ? undefined : modifiedAfterParam(watermark);
  const pks = (await knex(model.table).select(model.pk).orderBy(model.pk)).map((r) => Number(r[model.pk]));
  const section: SectionLine = { section: model.name, modifiedAfter: after ?? null, pks };
  yield { text: JSON.stringify(section), isObject: false };
  for await (const object of serializeModel(knex, dialect, manifest, model, after ? { after: normalizeDatetime(after) } : undefined)) {
    yield { text: JSON.stringify(object), isObject: true };
  }
}

/** A bundle: its header, then its parts' sections as they were cut; hashed as it is written. */
async function assemble(options: CutOptions, parts: readonly Part[], clock: string, file: string): Promise<CutBundle> {
  const header: BundleHeader = { format: 'remotesyncdb-bundle', version: 1, id: randomUUID(), app: options.manifest.app, siteClock: clock, base: options.base, models: parts.flatMap((p) => p.models), prune: options.prune, full: options.full, ...(options.exchange ? { exchange: true } : {}) };
  const out = createWriteStream(file);
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    bytes += await write(out, hash, `${JSON.stringify(header)}\n`);
    for (const part of parts) {
      for await (const chunk of createReadStream(part.file)) {
        hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
        if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve));
      }
    }
  } finally {
    await end(out);
  }
  return { header, file, bytes, sha256: hash.digest('hex'), objects: parts.reduce((n, p) => n + p.objects, 0) };
}

/** What the centre unpacked: the header, the staged fixtures as a fetch record, each model's pk list. */
export interface UnpackedBundle {
  header: BundleHeader;
  dir: string;
  fetched: FetchManifest;
  pks: Map<string, number[]>;
  /** An exchange's claims per model: [sender's id, receiver's id] of rows whose home is the receiver. */
  claims: Map<string, Array<[number, number]>>;
  /** An exchange's deletes per model. */
  deleted: Map<string, DeletedEntry[]>;
  /** A feed's rows held for the site per model (a manual conflict): neither sent nor to be deleted. */
  held: Map<string, number[]>;
  /** Whether the end line was read (a feed ends with `{"end": true}`; a bundle has its sha256 instead). */
  isComplete: boolean;
}

/**
 * Unpack a whole, checked bundle into `dir` as the staged files the install reads
 * (`<Model>.json` and `fetch.json`), exactly as a pull's fetch leaves them.
 */
export async function unpackBundle(file: string, dir: string, manifest: AppManifest, site: string): Promise<UnpackedBundle> {
  await mkdir(dir, { recursive: true });
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let header: BundleHeader | undefined;
  const pks = new Map<string, number[]>();
  const claims = new Map<string, Array<[number, number]>>();
  const deleted = new Map<string, DeletedEntry[]>();
  const held = new Map<string, number[]>();
  let isComplete = false;
  const models: FetchManifest['models'] = {};
  let current: { model: ModelDef; out: WriteStream; hash: ReturnType<typeof createHash>; bytes: number; objects: number; modifiedAfter: string | null } | undefined;
  const close = async () => {
    if (!current) return;
    const c = current;
    c.bytes += await write(c.out, c.hash, ']\n');
    await end(c.out);
    models[c.model.name] = { model: c.model.name, url: `bundle:${header!.id}`, file: fixtureFile(dir, c.model.name), bytes: c.bytes, sha256: c.hash.digest('hex'), objects: c.objects, serverTime: header!.siteClock, ...(c.modifiedAfter ? { modifiedAfter: c.modifiedAfter } : {}) };
    current = undefined;
  };
  const bad = (line: number, message: string) => new FetchError(`Site ${site}: bundle line ${line}: ${message}`, { meta: { remote: site } });
  let n = 0;
  try {
    for await (const text of lines) {
      n++;
      if (!text.trim()) continue;
      let value: Record<string, unknown>;
      try {
        value = JSON.parse(text);
      } catch (error) {
        throw bad(n, `not JSON (${(error as Error).message})`);
      }
      if (!header) {
        if (value.format !== 'remotesyncdb-bundle' || value.version !== 1 || typeof value.id !== 'string') throw bad(n, 'not a remotesyncdb bundle header');
        if (value.app !== manifest.app) throw new ConfigError(`Site ${site} pushed a bundle of app "${String(value.app)}"; this centre serves "${manifest.app}"`, { meta: { remote: site } });
        const isClock = (v: unknown) => typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(v);
        const base = value.base as Record<string, unknown> | undefined;
        if (!isClock(value.siteClock) || typeof base !== 'object' || base === null || Array.isArray(base) || !Object.values(base).every(isClock) || !Array.isArray(value.models)) {
          throw new ConfigError(`Site ${site} pushed bundle ${String(value.id)} with a header this centre cannot read (siteClock, base, models); push from a matching remotesyncdb`, { meta: { remote: site } });
        }
        header = { ...(value as unknown as BundleHeader), prune: value.prune === true, full: value.full === true, exchange: value.exchange === true };
        continue;
      }
      if (typeof value.section === 'string') {
        await close();
        const model = getModel(manifest, value.section);
        if (!model || model.isPrivate) throw new ConfigError(`Site ${site} pushed model "${value.section}", which app ${manifest.app} does not have (or keeps private): the site's schema does not match`, { meta: { remote: site } });
        if (models[model.name]) throw bad(n, `model ${model.name} appears twice`);
        if (!Array.isArray(value.pks) || !value.pks.every((pk) => Number.isSafeInteger(pk))) throw new ConfigError(`Site ${site} pushed ${model.name} with a pk list that is not a list of integers`, { meta: { remote: site, model: model.name } });
        pks.set(model.name, value.pks as number[]);
        const out = createWriteStream(fixtureFile(dir, model.name));
        current = { model, out, hash: createHash('sha256'), bytes: 0, objects: 0, modifiedAfter: (value.modifiedAfter as string | null) ?? null };
        current.bytes += await write(out, current.hash, '[');
        continue;
      }
      if (value.end === true) {
        isComplete = true;
        continue;
      }
      if (!current) throw bad(n, 'an object before any model section');
      if (Array.isArray(value.claims)) {
        if (!value.claims.every((c) => Array.isArray(c) && c.length === 2 && c.every((x) => Number.isSafeInteger(x) && x > 0))) throw bad(n, `${current.model.name}: claims must be pairs of ids`);
        claims.set(current.model.name, [...(claims.get(current.model.name) ?? []), ...(value.claims as Array<[number, number]>)]);
        continue;
      }
      if (Array.isArray(value.held)) {
        if (!value.held.every((x) => Number.isSafeInteger(x))) throw bad(n, `${current.model.name}: held must list ids`);
        held.set(current.model.name, [...(held.get(current.model.name) ?? []), ...(value.held as number[])]);
        continue;
      }
      if (Array.isArray(value.deleted)) {
        if (!value.deleted.every((d) => typeof d === 'object' && d !== null && Number.isSafeInteger((d as DeletedEntry).pk))) throw bad(n, `${current.model.name}: deleted must list objects with a pk`);
        deleted.set(current.model.name, [...(deleted.get(current.model.name) ?? []), ...(value.deleted as DeletedEntry[])]);
        continue;
      }
      current.bytes += await write(current.out, current.hash, `${current.objects === 0 ? '' : ',\n'}${text}`);
      current.objects++;
      // What the bundle holds is the site's too, even if it was written after its pk list was read.
      if (Number.isSafeInteger(Number(value.pk))) pks.get(current.model.name)!.push(Number(value.pk));
    }
    await close();
  } finally {
    current?.out.destroy();
  }
  if (!header) throw bad(n, 'the bundle is empty');
  const fetched: FetchManifest = { remote: site, app: manifest.app, serverTime: header.siteClock, models };
  await writeFetchManifest(dir, fetched);
  return { header, dir, fetched, pks, claims, deleted, held, isComplete };
}
