import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'vitest';
import { SAMPLE_FIXTURE } from '../../src/admin/demo.js';
import { loaddata } from '../../src/admin/loaddata.js';
import { exchange } from '../../src/exchange/exchange.js';
import { addSite } from '../../src/push/sites.js';
import { serve } from '../../src/server/serve.js';
import { availableDialects, createDatabase } from '../helpers/databases.js';

const dialects = await availableDialects();
describe.each(dialects)('timing %s', (dialect) => {
  it('setup', async () => {
    for (let i = 0; i < 1; i++) {
      let t = Date.now();
      const lap = (what: string) => { console.log(dialect, what, Date.now() - t); t = Date.now(); };
      const centre = await createDatabase(dialect); lap('create');
      await loaddata({ app: 'hcore', db: centre.url, files: [SAMPLE_FIXTURE] }); lap('loaddata');
      const token = (await addSite({ db: centre.url, app: 'hcore', name: 'laptop' })).token!; lap('addSite');
      const server = await serve({ app: 'hcore', db: centre.url, port: 0, acceptPush: true }); lap('serve');
      const site = await createDatabase('sqlite');
      const workDir = mkdtempSync(path.join(os.tmpdir(), 'x-'));
      const run = () => exchange({ with: `http://127.0.0.1:${server.port}`, app: 'hcore', db: site.url, exclude: ['UserProfile'], token, workDir, http: { retryBaseMs: 20 }, emit: (m) => lap(m.slice(0,40)) });
      await run(); lap('first exchange');
      await run(); lap('quiet exchange');
      await server.close(); await centre.drop(); await site.drop(); lap('teardown');
    }
  }, 120000);
});
