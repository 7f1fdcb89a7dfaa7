import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init } from '../../src/admin/init.js';
import { loaddata } from '../../src/admin/loaddata.js';
import type { DialectAdapter, DialectName } from '../../src/dialects/index.js';
import { ConfigError } from '../../src/errors.js';
import { buildManifest } from '../../src/inspect/build-manifest.js';
import type { CatalogColumn, CatalogTable } from '../../src/inspect/catalog.js';
import { inspect } from '../../src/inspect/inspect.js';
import { loadManifest, parseManifest } from '../../src/manifest/load-manifest.js';
import type { AppManifest } from '../../src/manifest/types.js';
import { ORIGINAL_DB } from '../../src/schema/app-tables.js';
import { serve } from '../../src/server/serve.js';
import { sync } from '../../src/sync/sync.js';
import { nowDatetime } from '../../src/values/values.js';
import { availableDialects, createDatabase, type TestDatabase } from '../helpers/databases.js';
import { assertIsomorphic, withDb } from '../helpers/inspect.js';

const dialects = await availableDialects();
const LIBRARY_FIXTURE = fileURLToPath(new URL('../fixtures/inspect/library.json', import.meta.url));

/**
 * A schema unlike hcore, built by hand the way another application would have: MTI children
 * (one with the Django pk name, one without), nullable and NOT NULL FKs, a self FK, an FK whose
 * name does not end in `_id`, an auto m2m table, every manifest type, and tables that cannot be models.
 */
async function createLibrarySchema(knex: Knex): Promise<void> {
  await knex.schema.createTable('library_publisher', (t) => {
    t.increments('id');
    t.string('name', 100).notNullable();
    t.date('founded').nullable();
    t.time('opens_at').nullable();
  });
  await knex.schema.createTable('library_author', (t) => {
    t.increments('id');
    t.string('name', 120).notNullable();
    t.date('born').nullable();
    t.double('rating').nullable();
    t.datetime('last_modified').nullable();
  });
  await knex.schema.createTable('library_book', (t) => {
    t.increments('id');
    t.string('title', 200).notNullable();
    t.string('isbn', 20).nullable();
    // Not t.decimal(): knex declares that as `float` in SQLite.
    t.specificType('price', 'decimal(8,2)').nullable();
    t.boolean('in_print').notNullable();
    t.integer('author_id').unsigned().notNullable().references('id').inTable('library_author');
    t.integer('publisher_id').unsigned().nullable().references('id').inTable('library_publisher');
    t.integer('sequel_id').unsigned().nullable().references('id').inTable('library_book');
    t.integer('translator').unsigned().nullable().references('id').inTable('library_author');
    t.text('summary').nullable();
    t.binary('cover').nullable();
    t.json('extra').nullable();
  });
  await knex.schema.createTable('library_ebook', (t) => {
    t.integer('book_ptr_id').unsigned().notNullable().primary().references('id').inTable('library_book');
    t.integer('size_kb').notNullable();
  });
  await knex.schema.createTable('library_audiobook', (t) => {
    t.integer('book_id').unsigned().notNullable().primary().references('id').inTable('library_book');
    t.string('narrator', 100).notNullable();
  });
  await knex.schema.createTable('library_tag', (t) => {
    t.increments('id');
    t.string('label', 40).notNullable();
  });
  await knex.schema.createTable('library_book_tags', (t) => {
    t.increments('id');
    t.integer('book_id').unsigned().notNullable().references('id').inTable('library_book');
    t.integer('tag_id').unsigned().notNullable().references('id').inTable('library_tag');
    t.unique(['book_id', 'tag_id']);
  });
  await knex.schema.createTable('library_setting', (t) => {
    t.string('name', 40).primary();
    t.text('value');
  });
  await knex.schema.createTable('library_shelf', (t) => {
    t.integer('shelf').notNullable();
    t.integer('slot').notNullable();
    t.string('note', 50);
    t.primary(['shelf', 'slot']);
  });
  await knex.schema.createTable('remotesyncdb_note', (t) => {
    t.increments('id');
    t.text('body');
  });
}

/** Rows of the hand-made source: Greek text, a forward self FK, an untranslated `translator`. */
async function insertLibraryRows(knex: Knex, dialect: DialectAdapter): Promise<number> {
  const yes = dialect.bindBoolean(true);
  const no = dialect.bindBoolean(false);
  await knex('library_publisher').insert([
    { id: 1, name: 'Κέδρος', founded: '1954-01-01', opens_at: '09:30:00' },
    { id: 2, name: 'Faber & Faber', founded: null, opens_at: null },
  ]);
  await knex('library_author').insert([
    { id: 1, name: 'Νίκος Καζαντζάκης', born: '1883-02-18', rating: 4.5, last_modified: nowDatetime() },
    { id: 2, name: 'T. S. Eliot', born: null, rating: null, last_modified: null },
    { id: 5, name: 'Γιώργος Σεφέρης', born: '1900-03-13', rating: 0.1, last_modified: nowDatetime() },
  ]);
  await knex('library_book').insert([
    { id: 1, title: 'Ο Καπετάν Μιχάλης', isbn: '960-04-0001-1', price: '12.50', in_print: yes, author_id: 1, publisher_id: 1, sequel_id: null, translator: null, summary: 'Κρήτη, 1889.', cover: Buffer.from([0, 1, 2, 255]), extra: JSON.stringify({ pages: 400, tags: ['κλασικό'] }) },
    { id: 2, title: 'The Waste Land', isbn: null, price: null, in_print: no, author_id: 2, publisher_id: null, sequel_id: null, translator: 5, summary: null, cover: null, extra: null },
    { id: 7, title: 'Ο Φτωχούλης του Θεού', isbn: null, price: '1234.05', in_print: yes, author_id: 1, publisher_id: 2, sequel_id: null, translator: null, summary: '', cover: null, extra: JSON.stringify([1, 'two']) },
  ]);
  await knex('library_book').where({ id: 1 }).update({ sequel_id: 7 });
  await knex('library_ebook').insert([{ book_ptr_id: 2, size_kb: 512 }, { book_ptr_id: 7, size_kb: 2048 }]);
  await knex('library_audiobook').insert([{ book_id: 1, narrator: 'Γιώργος Χωραφάς' }]);
  await knex('library_tag').insert([{ id: 1, label: 'classic' }, { id: 2, label: 'ποίηση' }, { id: 3, label: 'unused' }]);
  await knex('library_book_tags').insert([{ book_id: 1, tag_id: 1 }, { book_id: 2, tag_id: 1 }, { book_id: 2, tag_id: 2 }]);
  return 2 + 3 + 3 + 2 + 1 + 3;
}

/** What inspect must write for the schema above, on every dialect, in this model order. */
const LIBRARY_MANIFEST = {
  app: 'library',
  models: {
    Author: {
      table: 'library_author',
      lastModified: 'last_modified',
      fields: {
        name: { type: 'string', maxLength: 120 },
        born: { type: 'date', null: true },
        rating: { type: 'float', null: true },
        last_modified: { type: 'datetime', null: true },
      },
    },
    Publisher: {
      table: 'library_publisher',
      fields: {
        name: { type: 'string', maxLength: 100 },
        founded: { type: 'date', null: true },
        opens_at: { type: 'text', null: true },
      },
    },
    Book: {
      table: 'library_book',
      fields: {
        title: { type: 'string', maxLength: 200 },
        isbn: { type: 'string', null: true, maxLength: 20 },
        price: { type: 'decimal', null: true, maxDigits: 8, decimalPlaces: 2 },
        in_print: 'boolean',
        translator: { type: 'integer', null: true },
        summary: { type: 'text', null: true },
        cover: { type: 'binary', null: true },
        extra: { type: 'json', null: true },
      },
      fk: {
        author: { to: 'Author', null: false },
        publisher: { to: 'Publisher', null: true },
        sequel: { to: 'Book', null: true },
      },
      m2m: {
        tags: { to: 'Tag', table: 'library_book_tags', source: 'book_id', target: 'tag_id' },
      },
    },
    Audiobook: { table: 'library_audiobook', pk: 'book_id', parent: 'Book', fields: { narrator: { type: 'string', maxLength: 100 } } },
    Ebook: { table: 'library_ebook', parent: 'Book', fields: { size_kb: 'integer' } },
    Tag: { table: 'library_tag', fields: { label: { type: 'string', maxLength: 40 } } },
  },
};

describe.each(dialects)('inspect on %s', (dialect) => {
  let source: TestDatabase;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-inspect-'));
  const manifestPath = path.join(dir, 'library.json');

  beforeAll(async () => {
    source = await createDatabase(dialect);
    await withDb(source.url, (db) => createLibrarySchema(db.knex));
  });
  afterAll(async () => {
    await source?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the manifest of a schema it has never seen, with a warning for what it cannot express', async () => {
    const { manifest, warnings } = await inspect({ db: source.url, app: 'library' });
    expect(manifest).toEqual(LIBRARY_MANIFEST);
    // Parents and FK targets first.
    expect(Object.keys(manifest.models as object)).toEqual(['Author', 'Publisher', 'Book', 'Audiobook', 'Ebook', 'Tag']);
    expect(warnings).toHaveLength(4);
    expect(warnings[0]).toMatch(/^library_setting: skipped: its primary key name is (varchar\(40\)|character varying), and a model needs an integer one$/);
    expect(warnings[1]).toBe('library_shelf: skipped: its primary key (shelf, slot) has 2 columns, and a model needs a single integer one');
    expect(warnings[2]).toMatch(/^library_book\.translator: is a foreign key to library_author whose name does not end in _id .*; kept as a plain field: its values are copied as they are, not translated to local ids$/);
    expect(warnings[3]).toMatch(/^library_publisher\.opens_at: type time( without time zone)? has no manifest type; declared as text$/);
  });

  it('inspects only the tables it is given, and keeps FKs to the others as plain fields', async () => {
    const { manifest, warnings } = await inspect({ db: source.url, app: 'library', label: 'lib', tables: ['library_book', 'library_author', 'library_ebook'] });
    expect(manifest.label).toBe('lib');
    const models = manifest.models as Record<string, { fields: Record<string, unknown>; fk?: Record<string, unknown>; m2m?: unknown }>;
    expect(Object.keys(models)).toEqual(['Author', 'Book', 'Ebook']);
    expect(models.Book.fk).toEqual({ author: { to: 'Author', null: false }, sequel: { to: 'Book', null: true } });
    expect(models.Book.fields.publisher_id).toEqual({ type: 'integer', null: true });
    expect(models.Book.m2m).toBeUndefined();
    expect(warnings).toContain('library_book.publisher_id: refers to library_publisher, which is not an inspected model; kept as a plain field: its values are copied as they are, not translated to local ids');
    await expect(inspect({ db: source.url, app: 'library', tables: ['library_book', 'library_nope'] })).rejects.toThrow(/has no table library_nope/);
    await expect(inspect({ db: source.url, app: 'library', tables: ['library_ebook'] })).rejects.toThrow(/library_ebook: skipped: its parent table library_book .* is not an inspected model/);
  });

  it('serves and syncs the inspected app end to end: an isomorphic copy, local rows untouched', async () => {
    writeFileSync(manifestPath, `${JSON.stringify((await inspect({ db: source.url, app: 'library' })).manifest, null, 2)}\n`);
    const objects = await withDb(source.url, (db) => insertLibraryRows(db.knex, db.dialect));
    const target = await createDatabase(dialect);
    const workDir = path.join(dir, 'work');
    // The target already holds objects of the app as its own data, under the source's pks:
    // loaddata creates its tables from the manifest.
    expect(await loaddata({ app: manifestPath, db: target.url, files: [LIBRARY_FIXTURE] })).toBe(7);
    // The hand-made source has no origin tags: serve reads them as NULL.
    const server = await serve({ app: manifestPath, db: source.url, port: 0, instance: 'library-test' });
    try {
      const result = await sync({ app: manifestPath, remote: '127.0.0.1', port: server.port, db: target.url, workDir });
      expect(result.status).toBe('success');
      expect(result.objects).toBe(objects);
      const hostname = `127.0.0.1:${server.port}`;
      expect(await assertIsomorphic(source.url, target.url, loadManifest(manifestPath), hostname)).toBe(objects);
      await withDb(target.url, async (db) => {
        const local = await db.knex('library_book').whereNull(ORIGINAL_DB).select('id', 'title', 'translator');
        expect(local).toEqual([{ id: 1, title: 'Ρωμιοσύνη', translator: 2 }]);
        const localLinks = await db.knex('library_book_tags').where({ book_id: 1 }).select('tag_id');
        expect(localLinks.map((r) => Number(r.tag_id))).toEqual([1]);
      });
      // A second run against the unchanged source changes nothing.
      const again = await sync({ app: manifestPath, remote: '127.0.0.1', port: server.port, db: target.url, workDir });
      expect(again.models.every((m) => m.inserted === 0 && m.updated === 0)).toBe(true);

      // The tables the tool created from the manifest read back as the same manifest: origin
      // tags and remotesyncdb_* tables are left out, and nothing is lost in the round trip.
      const back = await inspect({ db: target.url, app: 'library' });
      expect(back.warnings).toEqual([]);
      expect(back.manifest).toEqual(roundTripExpectation(dialect));
    } finally {
      await server.close();
      await target.drop();
    }
  });
});

/**
 * What the tool's own tables read back as. SQLite has no JSON type (the adapter declares json
 * columns as TEXT), so on SQLite that field reads back as text.
 */
function roundTripExpectation(dialect: DialectName): unknown {
  const expected = structuredClone(LIBRARY_MANIFEST);
  expected.models.Book.fields.translator = { type: 'integer', null: true };
  if (dialect === 'sqlite') {
    const fields = expected.models.Book.fields as Record<string, unknown>;
    fields.extra = { type: 'text', null: true };
  }
  return expected;
}

/** A manifest's structure keyed by table, so model names (which inspect derives) do not matter. */
function structure(manifest: AppManifest) {
  const tableOf = (name: string) => manifest.models.get(name)!.table;
  return Object.fromEntries([...manifest.models.values()].map((m) => [m.table, {
    pk: m.pk,
    parent: m.parent === undefined ? undefined : tableOf(m.parent),
    lastModified: m.lastModified,
    fields: m.fields,
    fks: Object.fromEntries(m.fks.map((fk) => [fk.column, { to: tableOf(fk.to), isNullable: fk.isNullable }])),
    m2m: m.m2m.flatMap((l) => (l.kind === 'auto' ? [{ table: l.table, source: l.source, target: l.target, to: tableOf(l.to) }] : [])),
  }]));
}

describe.each(dialects)('inspect hcore on %s', (dialect) => {
  it('reads back the tables init creates for hcore as the same models, fields, FKs and m2m tables', async () => {
    const db = await createDatabase(dialect);
    try {
      await init({ app: 'hcore', db: db.url });
      const { manifest, warnings } = await inspect({ db: db.url, app: 'hcore' });
      expect(warnings).toEqual([]);
      // The app's own registry, which the origin tags reference, comes back as such, not as a model.
      expect(manifest.registry).toEqual({ table: 'dbsync_database' });
      expect((manifest.models as Record<string, unknown>).Gentityaltcode).toMatchObject({ table: 'hcore_gentityaltcode' });
      // What a manifest says beyond the schema (private, through m2m, explicit dependencies) cannot come back.
      expect(structure(parseManifest(manifest))).toEqual(structure(loadManifest('hcore')));
    } finally {
      await db.drop();
    }
  });
});

describe('inspect on SQLite tables Django created', () => {
  it('reads Django\'s DDL: bool, unsigned, bigint FKs, decimal without precision, JSONField checks', async () => {
    const db = await createDatabase('sqlite');
    try {
      await withDb(db.url, async ({ knex }) => {
        // As `manage.py sqlmigrate` writes them for SQLite (Django 4.2).
        await knex.raw('CREATE TABLE "shop_customer" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "name" varchar(80) NOT NULL)');
        await knex.raw('CREATE TABLE "shop_order" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "payload" text NULL CHECK ((JSON_VALID("payload") OR "payload" IS NULL)), "notes" text NOT NULL, "total" decimal NOT NULL, "paid" bool NOT NULL, "placed" datetime NOT NULL, "items" integer unsigned NOT NULL CHECK ("items" >= 0), "customer_id" bigint NOT NULL REFERENCES "SHOP_CUSTOMER" ("id") DEFERRABLE INITIALLY DEFERRED)');
      });
      const { manifest, warnings } = await inspect({ db: db.url, app: 'shop' });
      expect(manifest.models).toEqual({
        Customer: { table: 'shop_customer', fields: { name: { type: 'string', maxLength: 80 } } },
        Order: {
          table: 'shop_order',
          fields: { payload: { type: 'json', null: true }, notes: 'text', total: 'decimal', paid: 'boolean', placed: 'datetime', items: 'integer' },
          fk: { customer: { to: 'Customer', null: false } },
        },
      });
      expect(warnings).toEqual(['shop_order.total: decimal has no declared precision; the manifest defaults (20 digits, 10 places) apply']);
    } finally {
      await db.drop();
    }
  });
});

describe('buildManifest', () => {
  const col = (name: string, type: string, extra: Partial<CatalogColumn> = {}): CatalogColumn => ({ name, type, declared: type, isNullable: false, isPk: false, ...extra });
  const id = col('id', 'integer', { isPk: true });
  const fk = (column: string, refTable: string, refColumn = 'id') => ({ column, refTable, refColumn, isComposite: false });
  const build = (tables: CatalogTable[], tablesOption?: string[]) => buildManifest(tables, { app: 'shop', source: 'test', tables: tablesOption });

  it('names an m2m after its target table when the link table is not prefixed by the owner, and dedupes model names', () => {
    const { manifest, warnings } = build([
      { name: 'shop_item', columns: [id, col('name', 'varchar', { maxLength: 10 }), col('note', 'varchar', { isNullable: true })], foreignKeys: [] },
      { name: 'Item', columns: [id], foreignKeys: [] },
      { name: 'shop_color', columns: [id, col('code', 'numeric')], foreignKeys: [] },
      { name: 'links', columns: [id, col('item_id', 'integer'), col('color_id', 'integer')], foreignKeys: [fk('item_id', 'shop_item'), fk('color_id', 'shop_color')] },
    ]);
    expect(manifest.models).toEqual({
      Item: { table: 'Item', fields: {} },
      Color: { table: 'shop_color', fields: { code: 'decimal' } },
      Shop_item: {
        table: 'shop_item',
        fields: { name: { type: 'string', maxLength: 10 }, note: { type: 'text', null: true } },
        m2m: { shop_color: { to: 'Color', table: 'links', source: 'item_id', target: 'color_id' } },
      },
    });
    expect(warnings).toEqual([
      'shop_item: model name Item is taken by another table; named Shop_item',
      'shop_color.code: numeric has no declared precision; the manifest defaults (20 digits, 10 places) apply',
      'shop_item.note: varchar has no length limit, so it is declared as text',
    ]);
  });

  it('keeps a link table with a nullable column, or one that others refer to, as a model', () => {
    const pair = (name: string, isNullable: boolean): CatalogTable => ({ name, columns: [id, col('a_id', 'integer'), col('b_id', 'integer', { isNullable })], foreignKeys: [fk('a_id', 'shop_a'), fk('b_id', 'shop_b')] });
    const { manifest } = build([
      { name: 'shop_a', columns: [id], foreignKeys: [] },
      { name: 'shop_b', columns: [id], foreignKeys: [] },
      pair('shop_a_b', true),
      pair('shop_pair', false),
      { name: 'shop_use', columns: [id, col('pair_id', 'integer')], foreignKeys: [fk('pair_id', 'shop_pair')] },
    ]);
    const models = manifest.models as Record<string, unknown>;
    expect(Object.keys(models)).toEqual(['A', 'B', 'A_b', 'Pair', 'Use']);
    expect(models.A_b).toEqual({ table: 'shop_a_b', fields: {}, fk: { a: { to: 'A', null: false }, b: { to: 'B', null: true } } });
    expect(models.Pair).toEqual({ table: 'shop_pair', fields: {}, fk: { a: { to: 'A', null: false }, b: { to: 'B', null: false } } });
    expect(models.A).toEqual({ table: 'shop_a', fields: {} });
  });

  it('fails with every reason when no table can be a model', () => {
    expect(() => build([{ name: 'shop_x', columns: [col('code', 'varchar', { isPk: true, maxLength: 3 })], foreignKeys: [] }]))
      .toThrow(new ConfigError('inspect: no table of test can be a model of app shop:\n  shop_x: skipped: its primary key code is varchar, and a model needs an integer one'));
    expect(() => build([])).toThrow('(it has no tables but the tool\'s own remotesyncdb_*)');
  });
});
