// Headless Chromium (Debian's /usr/bin/chromium) through puppeteer-core,
// with a fresh profile and nothing that reaches the network by itself.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

export async function launchChromium() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'stampede-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: chromiumPath,
    headless: true,
    userDataDir: profile,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-dev-shm-usage',
    ],
  });
  const close = async () => {
    await browser.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { browser, close };
}

// Opens a page that may only talk to `origin`: anything else is refused and
// recorded, as are console errors, page errors and failed requests.
export async function openOffline(browser, origin) {
  const page = await browser.newPage();
  const problems = [];
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    const url = req.url();
    if (url.startsWith(origin + '/') || url === origin || url.startsWith('data:')) {
      req.continue();
    } else {
      problems.push(`request outside the broker: ${url}`);
      req.abort('blockedbyclient');
    }
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => {
    const reason = req.failure()?.errorText || '';
    if (reason !== 'net::ERR_BLOCKED_BY_CLIENT') problems.push(`request failed: ${req.url()} ${reason}`);
  });
  return { page, problems };
}
