// Headless Chromium (Debian's, through puppeteer-core) runs a page that uses
// @stomp/stompjs over the broker's WebSocket listener: 1,000 messages each
// way between the browser and a STOMP client over TCP, with receipts and
// client acks; the broker restarted under the page, which reconnects by
// itself and carries on; then the dashboard, checked against /stats.
//
//   node --test browser.test.mjs      (STAMPEDE_BIN, STAMPEDE_IO, CHROMIUM)

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { StompClient, getJson, repoRoot, sleep, startBroker, webConfig } from './lib/broker.mjs';
import { launchChromium, openOffline } from './lib/chromium.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

// Serves the test page and the stompjs bundle from this machine: the page
// loads nothing from anywhere else.
function servePage() {
  const files = {
    '/stomp_page.html': ['text/html', path.join(here, 'page', 'stomp_page.html')],
    '/stomp.umd.min.js': ['text/javascript',
      path.join(here, 'node_modules', '@stomp', 'stompjs', 'bundles', 'stomp.umd.min.js')],
  };
  const server = http.createServer((req, res) => {
    const file = files[new URL(req.url, 'http://x').pathname];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file[0] }).end(fs.readFileSync(file[1]));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// Waits (a failure bound, not a timing test) until `fn` in the page holds.
const until = (page, fn, arg, timeout = 30000) => page.waitForFunction(fn, { timeout, polling: 20 }, arg);

describe('a browser application on @stomp/stompjs', () => {
  let chromium;
  let server;
  let broker;
  let webPort;
  let origin;

  before(async () => {
    server = await servePage();
    origin = `http://127.0.0.1:${server.address().port}`;
    // Only the test page's origin may open WebSockets.
    broker = await startBroker({ config: webConfig({ allowed_origins: [origin] }) });
    webPort = broker.port('web');
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium?.close();
    server?.close();
    if (broker) await broker.stop();
  });

  test('exchanges 1,000 messages each way with a TCP client, survives a broker restart, and the dashboard agrees with /stats', async () => {
    const { page, problems } = await openOffline(chromium.browser, origin);
    const url = `${origin}/stomp_page.html?broker=${encodeURIComponent(`ws://127.0.0.1:${webPort}/ws`)}`;
    await page.goto(url, { waitUntil: 'load' });
    await until(page, () => window.stampedeTest?.connected());
    assert.equal(await page.evaluate(() => window.stampedeTest.state.version), '1.2');

    // Browser -> TCP: 1,000 SENDs, each receipted.
    let tcp = await new StompClient(broker.stompPort).connect();
    tcp.bodies = [];
    await tcp.withReceipt('SUBSCRIBE\ndestination:/queue/from-browser\nid:q\n\n');
    assert.equal(await page.evaluate(() => window.stampedeTest.publishWithReceipts('/queue/from-browser', 1000, 'b')), 1000);
    while (tcp.bodies.length < 1000) await sleep(10);
    assert.deepEqual(tcp.bodies, Array.from({ length: 1000 }, (_, i) => `b ${i}`));

    // TCP -> browser: 1,000 messages, each acked by the page (client-individual).
    await tcp.sendBodies('/queue/to-browser', Array.from({ length: 1000 }, (_, i) => `t ${i}`));
    await until(page, () => window.stampedeTest.state.received.length >= 1000);
    assert.deepEqual(await page.evaluate(() => window.stampedeTest.state.received),
      Array.from({ length: 1000 }, (_, i) => `t ${i}`));
    // Every ack has landed once the broker holds nothing unacked (a RECEIPT
    // from the browser orders it after the page's acks on its connection).
    await page.evaluate(() => window.stampedeTest.publishWithReceipts('/queue/barrier', 1, 'ack-barrier'));
    const stats = await getJson(broker.adminPort, '/stats');
    const toBrowser = stats.destinations.find((d) => d.name === '/queue/to-browser');
    assert.equal(toBrowser.unacked, 0, JSON.stringify(toBrowser));
    assert.equal(toBrowser.depth, 0);
    const wsConnections = stats.connections.filter((c) => c.transport === 'ws');
    assert.equal(wsConnections.length, 1, JSON.stringify(stats.connections));
    tcp.close();

    // The broker restarts on the same ports; stompjs reconnects by itself.
    assert.equal(await broker.stop(), 0);
    broker = await startBroker({
      config: {
        listeners: [
          { name: 'stomp', listen: `127.0.0.1:${broker.stompPort}` },
          { name: 'web', listen: `127.0.0.1:${webPort}`, websocket: { path: '/ws', allowed_origins: [origin] } },
        ],
      },
      listen: `127.0.0.1:${broker.stompPort}`,
    });
    await until(page, () => window.stampedeTest.state.connects >= 2 && window.stampedeTest.connected());
    tcp = await new StompClient(broker.stompPort).connect();
    tcp.bodies = [];
    await tcp.withReceipt('SUBSCRIBE\ndestination:/queue/from-browser\nid:q\n\n');
    await page.evaluate(() => window.stampedeTest.publishWithReceipts('/queue/from-browser', 10, 'again'));
    while (tcp.bodies.length < 10) await sleep(10);
    assert.deepEqual(tcp.bodies, Array.from({ length: 10 }, (_, i) => `again ${i}`));
    await tcp.sendBodies('/queue/to-browser', ['after the restart']);
    await until(page, () => window.stampedeTest.state.received.at(-1) === 'after the restart');
    // The restart was the only trouble: an ERROR saying so, and close code 1001.
    const seen = await page.evaluate(() => window.stampedeTest.state);
    assert.deepEqual(seen.errors, ['the broker is shutting down']);
    assert.equal(seen.closes[0], 1001);

    // The dashboard, from the admin endpoint, with this traffic's figures.
    const admin = `http://127.0.0.1:${broker.adminPort}`;
    const dash = await openOffline(chromium.browser, admin);
    await dash.page.setViewport({ width: 1440, height: 900 });
    const response = await dash.page.goto(`${admin}/dashboard`, { waitUntil: 'load' });
    assert.equal(response.status(), 200);
    await until(dash.page, () => (window.stampedeDashboard?.updates || 0) >= 2);
    const now = await getJson(broker.adminPort, '/stats');
    await until(dash.page, (n) => window.stampedeDashboard.snapshot?.broker?.connections === n,
      now.broker.connections);
    const shown = await dash.page.evaluate(() => ({
      connections: document.querySelector('#t-connections .big').textContent,
      rows: [...document.querySelectorAll('#connections tbody tr')].map((r) => r.textContent),
      status: document.querySelector('#status span').textContent,
    }));
    assert.equal(shown.connections, String(now.broker.connections));
    assert.equal(shown.status, 'live');
    assert.ok(shown.rows.some((r) => r.includes('ws')), `a ws connection row: ${shown.rows}`);
    const out = path.join(process.env.STAMPEDE_BUILD_DIR || path.join(repoRoot, 'build'), 'browser', 'dashboard.png');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    await dash.page.screenshot({ path: out, fullPage: true });
    tcp.close();
    // The page's reconnection attempts while the broker was down are refused;
    // nothing else may go wrong.
    const unexpected = problems.filter((p) => !/ERR_CONNECTION_REFUSED/.test(p));
    assert.deepEqual([...unexpected, ...dash.problems], []);
  });
});
