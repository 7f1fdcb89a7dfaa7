import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/manifest/load-manifest.js';
import { sync } from '../../src/sync/sync.js';
import { availableDialects, createDatabase } from '../helpers/databases.js';
import { assertIsomorphic } from '../helpers/inspect.js';
import { startInstance } from '../helpers/instance.js';

/** A real payload of another Django app (NetBox's dcim), from ../shared when it is there. */
const DCIM = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/realdata/netbox/dcim.json');
const dialects = await availableDialects();

/** A hand-written manifest for part of NetBox's dcim app: not hcore, its own label, FKs between its models. */
const MANIFEST = {
  app: 'dcim',
  models: {
    Site: { table: 'dcim_site', fields: { created: { type: 'date', null: true }, last_updated: { type: 'datetime', null: true }, name: { type: 'string', maxLength: 50 }, slug: { type: 'string', maxLength: 50 }, facility: { type: 'string', maxLength: 30 }, asn: { type: 'integer', null: true }, physical_address: { type: 'string', maxLength: 200 }, shipping_address: { type: 'string', maxLength: 200 }, comments: 'text' } },
    Rack: { table: 'dcim_rack', fields: { created: { type: 'date', null: true }, last_updated: { type: 'datetime', null: true }, name: { type: 'string', maxLength: 50 }, facility_id: { type: 'string', maxLength: 30, null: true }, u_height: 'integer', comments: 'text' }, fk: { site: { to: 'Site', null: false } } },
    Manufacturer: { table: 'dcim_manufacturer', fields: { name: { type: 'string', maxLength: 50 }, slug: { type: 'string', maxLength: 50 } } },
    DeviceType: { table: 'dcim_devicetype', fields: { created: { type: 'date', null: true }, last_updated: { type: 'datetime', null: true }, model: { type: 'string', maxLength: 50 }, slug: { type: 'string', maxLength: 50 }, u_height: 'integer', is_full_depth: 'boolean' }, fk: { manufacturer: { to: 'Manufacturer', null: false } } },
    DeviceRole: { table: 'dcim_devicerole', naturalKey: ['slug'], fields: { name: { type: 'string', maxLength: 50 }, slug: { type: 'string', maxLength: 50 }, color: { type: 'string', maxLength: 30 } } },
    Platform: { table: 'dcim_platform', fields: { name: { type: 'string', maxLength: 50 }, slug: { type: 'string', maxLength: 50 } } },
    Device: { table: 'dcim_device', fields: { created: { type: 'date', null: true }, last_updated: { type: 'datetime', null: true }, name: { type: 'string', maxLength: 50, null: true }, serial: { type: 'string', maxLength: 50 }, position: { type: 'integer', null: true }, face: { type: 'string', maxLength: 10, null: true }, status: 'boolean', comments: 'text' }, fk: { device_type: { to: 'DeviceType', null: false }, device_role: { to: 'DeviceRole', null: false }, platform: { to: 'Platform', null: true }, site: { to: 'Site', null: false }, rack: { to: 'Rack', null: true } } },
  },
};

describe.skipIf(!existsSync(DCIM)).each(dialects)("NetBox's dcim payload (another app) into %s", (dialect) => {
  it('replicates with a hand-written manifest, ignoring the fields it does not declare', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rsdb-netbox-'));
    const app = path.join(dir, 'dcim.json');
    writeFileSync(app, JSON.stringify(MANIFEST));
    const manifest = loadManifest(app);
    const keys = new Set([...manifest.models.values()].map((m) => `dcim.${m.name.toLowerCase()}`));
    // The declared models' objects, with the fields this manifest does not know left out for loaddata.
    const objects = (JSON.parse(readFileSync(DCIM, 'utf8')) as Array<{ model: string; fields: Record<string, unknown> }>).filter((o) => keys.has(o.model));
    const fixture = path.join(dir, 'fixture.json');
    writeFileSync(fixture, JSON.stringify(objects.map((o) => {
      const model = [...manifest.models.values()].find((m) => `dcim.${m.name.toLowerCase()}` === o.model)!;
      const known = new Set([...model.fields.map((f) => f.name), ...model.fks.map((f) => f.name)]);
      return { ...o, fields: Object.fromEntries(Object.entries(o.fields).filter(([k]) => known.has(k))) };
    })));
    const source = await startInstance({ files: [fixture], app });
    const target = await createDatabase(dialect);
    try {
      const warnings: string[] = [];
      const result = await sync({ app, remote: '127.0.0.1', port: source.port, db: target.url, workDir: dir, emit: (e) => { if (e.type === 'warning') warnings.push(e.message); } });
      expect(result.objects).toBe(objects.length);
      expect(await assertIsomorphic(source.db.url, target.url, manifest, `127.0.0.1:${source.port}`)).toBe(objects.length);
      expect(warnings).toEqual([]);
    } finally {
      await source.close();
      await target.drop();
    }
  });
});
