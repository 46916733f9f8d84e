// The dashboard on a broker with an admin token or admin users (issue 11):
// the static page loads without credentials, takes the token from the URL
// fragment or from its form (a bearer header), or a user and password from
// its form (HTTP Basic), and sends them with every /stats; refused
// credentials bring the form back instead of being retried.
//
//   node --test dashboard_auth.test.mjs      (STAMPEDE_BIN, STAMPEDE_IO, CHROMIUM)

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { repoRoot, startBroker } from './lib/broker.mjs';
import { launchChromium, openOffline } from './lib/chromium.mjs';

const TOKEN = 'dashboard-test-token-0123456789';

// Waits (a failure bound, not a timing test) until `fn` in the page holds.
const until = (page, fn, arg, timeout = 30000) => page.waitForFunction(fn, { timeout, polling: 20 }, arg);

// Chromium reports each refused /stats as a console error; those are the
// point of the test, anything else is a problem.
const unexpected = (problems) => problems.filter((p) => !/status of 401/.test(p));

describe('the dashboard behind an admin token', () => {
  let chromium;
  let broker;
  let dir;
  let admin;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stampede-dash-auth-'));
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, TOKEN + '\n', { mode: 0o600 });
    broker = await startBroker({ config: { admin: { token_file: tokenFile } } });
    admin = `http://127.0.0.1:${broker.adminPort}`;
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium?.close();
    if (broker) await broker.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('takes the token from the URL fragment and drops it from the address bar', async () => {
    const { page, problems } = await openOffline(chromium.browser, admin);
    const sent = [];
    page.on('request', (req) => {
      if (req.url().includes('/stats')) sent.push(req.headers().authorization || '');
    });
    const response = await page.goto(`${admin}/dashboard#token=${TOKEN}`, { waitUntil: 'load' });
    assert.equal(response.status(), 200);
    await until(page, () => (window.stampedeDashboard?.updates || 0) >= 2);
    const seen = await page.evaluate(() => ({
      hash: location.hash,
      href: location.href,
      form: document.getElementById('login').classList.contains('hidden'),
      status: document.querySelector('#status span').textContent,
    }));
    assert.equal(seen.hash, '');
    assert.ok(!seen.href.includes(TOKEN), seen.href);
    assert.equal(seen.form, true, 'the token form stays hidden');
    assert.equal(seen.status, 'live');
    assert.ok(sent.length >= 2 && sent.every((h) => h === `Bearer ${TOKEN}`), JSON.stringify(sent));
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('asks for the token, says when it is refused, and shows the figures once it is right', async () => {
    const { page, problems } = await openOffline(chromium.browser, admin);
    await page.goto(`${admin}/`, { waitUntil: 'load' });
    await until(page, () => (window.stampedeDashboard?.refused || 0) >= 1);
    assert.equal(await page.evaluate(() => document.getElementById('login').classList.contains('hidden')), false);
    assert.equal(await page.evaluate(() => window.stampedeDashboard.updates), 0);

    await page.type('#login-token', 'not-the-token-at-all-0000');
    await page.click('#login button');
    await until(page, () => window.stampedeDashboard.refused >= 2);
    const why = await page.evaluate(() => ({
      text: document.getElementById('login-why').textContent,
      hidden: document.getElementById('login').classList.contains('hidden'),
    }));
    assert.match(why.text, /refused/);
    assert.equal(why.hidden, false);

    await page.type('#login-token', TOKEN);
    await page.click('#login button');
    await until(page, () => (window.stampedeDashboard.updates || 0) >= 2);
    const shown = await page.evaluate(() => ({
      hidden: document.getElementById('login').classList.contains('hidden'),
      connections: document.querySelector('#t-connections .big').textContent,
      refused: window.stampedeDashboard.refused,
    }));
    assert.equal(shown.hidden, true);
    assert.notEqual(shown.connections, '–');
    assert.equal(shown.refused, 2, 'a refused token is not retried by itself');
    assert.deepEqual(unexpected(problems), []);
    await page.close();
  });
});

// What `stampede --hash-password` makes of `password`: an admin.users entry.
function hashed(password) {
  const bin = process.env.STAMPEDE_BIN || path.join(repoRoot, 'build', 'stampede');
  return execFileSync(bin, ['--hash-password'], { input: `${password}\n` }).toString().trim();
}

describe('the dashboard behind admin users (HTTP Basic)', () => {
  const USER = 'ops';
  const PASSWORD = 'pässwörd: with a colon';
  let chromium;
  let broker;
  let admin;

  before(async () => {
    broker = await startBroker({
      config: {
        admin: { users: { [USER]: hashed(PASSWORD) } },
        auth: { failure_delay_ms: 20, max_failures: 100000 },
      },
    });
    admin = `http://127.0.0.1:${broker.adminPort}`;
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium?.close();
    if (broker) await broker.stop();
  });

  test('asks for a user and password, says when they are refused, and shows the figures once right', async () => {
    const { page, problems } = await openOffline(chromium.browser, admin);
    const sent = [];
    const challenges = [];
    page.on('request', (req) => {
      if (req.url().includes('/stats')) sent.push(req.headers().authorization || '');
    });
    page.on('response', (res) => {
      if (res.url().includes('/stats') && res.status() === 401) {
        challenges.push({ www: res.headers()['www-authenticate'] || '', ours: res.headers()['x-stampede-auth'] || '' });
      }
    });
    await page.goto(`${admin}/`, { waitUntil: 'load' });
    await until(page, () => (window.stampedeDashboard?.refused || 0) >= 1);
    const form = await page.evaluate(() => ({
      hidden: document.getElementById('login').classList.contains('hidden'),
      basic: !document.getElementById('login-basic').classList.contains('hidden'),
      bearer: !document.getElementById('login-bearer').classList.contains('hidden'),
      why: document.getElementById('login-why').textContent,
    }));
    assert.deepEqual({ hidden: form.hidden, basic: form.basic, bearer: form.bearer },
      { hidden: false, basic: true, bearer: false });
    assert.match(form.why, /admin user/);

    await page.type('#login-user', USER);
    await page.type('#login-password', 'not the password');
    await page.click('#login button');
    await until(page, () => window.stampedeDashboard.refused >= 2);
    assert.match(await page.evaluate(() => document.getElementById('login-why').textContent), /refused/);

    await page.type('#login-user', USER);
    await page.type('#login-password', PASSWORD);
    await page.click('#login button');
    await until(page, () => (window.stampedeDashboard.updates || 0) >= 2);
    const shown = await page.evaluate(() => ({
      hidden: document.getElementById('login').classList.contains('hidden'),
      connections: document.querySelector('#t-connections .big').textContent,
      refused: window.stampedeDashboard.refused,
      password: document.getElementById('login-password').value,
    }));
    assert.equal(shown.hidden, true);
    assert.notEqual(shown.connections, '–');
    assert.equal(shown.refused, 2, 'refused credentials are not retried by themselves');
    assert.equal(shown.password, '', 'the form does not keep the password');

    // UTF-8 user:password in base64, as RFC 7617 says; the first requests had none.
    const right = `Basic ${Buffer.from(`${USER}:${PASSWORD}`, 'utf8').toString('base64')}`;
    assert.equal(sent[0], '');
    assert.ok(sent.slice(-2).every((h) => h === right), JSON.stringify(sent));
    // The page's 401s name the scheme in our header, never as a Basic
    // challenge (which would open the browser's own password dialog).
    assert.ok(challenges.length >= 2);
    assert.ok(challenges.every((c) => c.www === '' && /Basic/.test(c.ours)), JSON.stringify(challenges));
    assert.deepEqual(unexpected(problems), []);
    await page.close();
  });
});
