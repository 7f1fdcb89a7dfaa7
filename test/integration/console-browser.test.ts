import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConsole, type ConsoleServer } from '../../src/console/console-server.js';
import { CONFLICT_TABLE } from '../../src/exchange/exchange-tables.js';
import { morningCentre, type MorningCentre } from '../helpers/console-fleet.js';
import { withDb } from '../helpers/inspect.js';

/*
 * The console in a real browser: Debian's Chromium, headless, driven by playwright-core. Skipped
 * with a message where /usr/bin/chromium is absent, never under CI=true (.ci/run installs it).
 * With RSDB_SCREENSHOTS=DIR the pages are saved there as PNG (the README's are docs/console).
 */
const CHROMIUM = process.env.RSDB_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI === 'true') throw new Error(`CI=true and there is no Chromium at ${CHROMIUM}: .ci/run installs it (apt-get install chromium)`);
if (!hasChromium) console.warn(`skipping the console's browser test: no Chromium at ${CHROMIUM} (apt-get install chromium, or RSDB_CHROMIUM=PATH)`);
const SCREENSHOTS = process.env.RSDB_SCREENSHOTS ? path.resolve(process.env.RSDB_SCREENSHOTS) : undefined;
const TOKEN = 'browser-test-console-token-0123456789';

describe.skipIf(!hasChromium)('the console in Chromium', () => {
  let fleet: MorningCentre;
  let server: ConsoleServer;
  let browser: Browser;
  let page: Page;
  const shoot = async (name: string) => {
    if (!SCREENSHOTS) return;
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  };

  beforeAll(async () => {
    fleet = await morningCentre('sqlite');
    server = await startConsole({ app: 'hcore', db: fleet.centre.url, port: 0, token: TOKEN });
    // As this machine's probe starts it: no sandbox as root, and no connection of its own to the outside.
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await fleet?.close();
  });

  it('the fleet page shows the failing remote and the waiting conflict; the form resolves it; the database holds the site\'s version', async () => {
    await page.goto(`${server.url}/`);
    const remote = page.locator(`tr[data-member="${fleet.upstream}"]`);
    await expect(remote.locator('.badge').textContent()).resolves.toBe('failing');
    await expect(remote.locator('.error').textContent()).resolves.toMatch(/is unreachable/);
    const laptop = page.locator('tr[data-member="laptop"]');
    await expect(laptop.locator('.badge').textContent()).resolves.toBe('conflicts wait');
    await expect(page.locator('.summary').textContent()).resolves.toMatch(/1 failing · 1 conflict waiting/);
    await shoot('fleet');

    await remote.locator('a').first().click();
    await page.waitForURL(/\/remotes\//);
    await expect(page.locator('h1').textContent()).resolves.toContain(fleet.upstream);
    await shoot('remote');

    await page.goto(`${server.url}/`);
    await laptop.getByText('1 open conflict').click();
    await page.waitForURL(/\/conflicts\?/);
    await shoot('conflicts');
    const [open] = await withDb(fleet.centre.url, (db) => db.knex(CONFLICT_TABLE).where({ status: 'open' }));
    await page.locator(`a[href="/conflicts/${open.id}"]`).click();
    await page.waitForURL(new RegExp(`/conflicts/${open.id}$`));
    const descr = page.locator('table.versions tr.differs', { hasText: 'descr' });
    await expect(descr.locator('td').nth(1).textContent()).resolves.toBe('Maintenance (centre)');
    await expect(descr.locator('td').nth(2).textContent()).resolves.toBe('Maintenance (site)');
    await shoot('conflict');

    // A wrong token first: refused, nothing changes.
    await page.fill('input[name="token"]', 'not-the-console-token');
    await page.click('button[value="site"]');
    await expect(page.locator('.notice').textContent()).resolves.toMatch(/Wrong console token/);
    expect((await withDb(fleet.centre.url, (db) => db.knex(CONFLICT_TABLE).where({ id: open.id }).first())).status).toBe('open');

    await page.fill('input[name="token"]', TOKEN);
    await page.click('button[value="site"]');
    await page.waitForURL(new RegExp(`/conflicts/${open.id}\\?resolved=1$`));
    await expect(page.locator('.notice').textContent()).resolves.toMatch(/Resolved: took the site's version/);
    const after = await withDb(fleet.centre.url, async (db) => ({ conflict: await db.knex(CONFLICT_TABLE).where({ id: open.id }).first(), row: await db.knex('hcore_eventtype').where({ id: 1 }).first() }));
    expect(after.conflict.status).toBe('resolved');
    expect(after.row.descr).toBe('Maintenance (site)');

    await page.goto(`${server.url}/`);
    await expect(page.locator('tr[data-member="laptop"] .badge').textContent()).resolves.toBe('ok');
  }, 60_000);
});
