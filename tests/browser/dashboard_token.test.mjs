// The dashboard against a broker whose admin endpoint has a token (issue 11):
// the page loads without it (it is static code), reads /stats only with it,
// takes it from the URL fragment, and says what is missing when it has none.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startBroker } from './lib/broker.mjs';
import { launchChromium, openOffline } from './lib/chromium.mjs';

const TOKEN = 'dashboard-token-0123456789abcdef';
const until = (page, fn, arg, timeout = 30000) => page.waitForFunction(fn, { timeout, polling: 20 }, arg);

describe('the dashboard with an admin token', () => {
  let chromium;
  let broker;
  let dir;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stampede-dash-token-'));
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, `${TOKEN}\n`);
    broker = await startBroker({ config: { admin: { token_file: tokenFile } } });
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium?.close();
    if (broker) await broker.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('reads /stats with the token from its fragment, and drops it from the address bar', async () => {
    const admin = `http://127.0.0.1:${broker.adminPort}`;
    const dash = await openOffline(chromium.browser, admin);
    const response = await dash.page.goto(`${admin}/dashboard#token=${TOKEN}`, { waitUntil: 'load' });
    assert.equal(response.status(), 200);
    await until(dash.page, () => (window.stampedeDashboard?.updates || 0) >= 2);
    const seen = await dash.page.evaluate(() => ({
      status: document.querySelector('#status span').textContent,
      hash: location.hash,
      href: location.href,
    }));
    assert.equal(seen.status, 'live');
    assert.equal(seen.hash, '');
    assert.ok(!seen.href.includes(TOKEN), seen.href);
    // The token stays with the tab: a reload still reads /stats.
    await dash.page.reload({ waitUntil: 'load' });
    await until(dash.page, () => (window.stampedeDashboard?.updates || 0) >= 1);
    assert.deepEqual(dash.problems, []);
    await dash.page.close();
  });

  test('without the token it says what is missing', async () => {
    const admin = `http://127.0.0.1:${broker.adminPort}`;
    const context = await chromium.browser.createBrowserContext();
    try {
      const dash = await openOffline(context, admin);
      const response = await dash.page.goto(`${admin}/dashboard`, { waitUntil: 'load' });
      assert.equal(response.status(), 200);
      await until(dash.page, () => /admin token/.test(document.querySelector('#status span').textContent));
      const label = await dash.page.evaluate(() => document.querySelector('#status span').textContent);
      assert.match(label, /#token=TOKEN/);
      assert.equal(await dash.page.evaluate(() => window.stampedeDashboard), undefined);
    } finally {
      await context.close();
    }
  });
});
