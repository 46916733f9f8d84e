// Loads the dashboard from a running broker in headless Chromium, with every
// request outside the broker refused (the page must render offline), while a
// little STOMP traffic runs (fast and stalled subscribers, a queue with
// consumers and one without); checks a few figures against /stats and saves
// a screenshot.
//
//   node dashboard_screenshot.mjs [--out FILE] [--load-seconds S]
//
// Environment: STAMPEDE_BIN (default build/stampede), STAMPEDE_IO, CHROMIUM.
// Exit status 0 when the page rendered with no problem, 1 otherwise.

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { StompClient, getJson, repoRoot, sleep, startBroker } from './lib/broker.mjs';
import { launchChromium, openOffline } from './lib/chromium.mjs';

const { values: opts } = parseArgs({
  options: {
    out: { type: 'string', default: path.join(process.env.STAMPEDE_BUILD_DIR || path.join(repoRoot, 'build'), 'browser', 'dashboard_under_load.png') },
    'load-seconds': { type: 'string', default: '20' },
  },
});
const loadSeconds = Number(opts['load-seconds']);

// Traffic that gives every part of the page something to show.
async function startTraffic(port) {
  const clients = [];
  const open = async (name) => {
    const c = await new StompClient(port, { name }).connect();
    clients.push(c);
    return c;
  };
  for (let i = 0; i < 4; i++) (await open(`fast-${i}`)).subscribe('/topic/prices', 's1');
  (await open('stalled')).subscribe('/topic/prices', 's1');
  clients[clients.length - 1].stall();
  for (let i = 0; i < 2; i++) (await open(`worker-${i}`)).subscribe('/queue/orders', 'w');
  (await open('audit')).subscribe('/topic/audit.>', 'a');
  const publisher = await open('publisher');
  let running = true;
  const loop = (async () => {
    let tick = 0;
    while (running) {
      await publisher.send('/topic/prices', 150, 1024);
      await publisher.send('/queue/orders', 40, 512);
      if (tick % 5 === 0) await publisher.send('/queue/backlog', 3, 2048);
      if (tick % 2 === 0) await publisher.send('/topic/audit.login', 5, 200);
      tick++;
      await sleep(100);
    }
  })();
  return {
    clients,
    stop: async () => {
      running = false;
      await loop;
      for (const c of clients) c.close();
    },
  };
}

async function main() {
  const problems = [];
  const broker = await startBroker();
  const origin = `http://127.0.0.1:${broker.adminPort}`;
  const chromium = await launchChromium();
  let traffic = null;
  try {
    const { page, problems: pageProblems } = await openOffline(chromium.browser, origin);
    await page.setViewport({ width: 1440, height: 900, deviceScaleFactor: 1 });
    const response = await page.goto(origin + '/', { waitUntil: 'load' });
    if (!response || response.status() !== 200) problems.push(`GET / answered ${response?.status()}`);
    await page.waitForFunction(() => (window.stampedeDashboard?.updates || 0) >= 1, { timeout: 10000 });

    traffic = await startTraffic(broker.stompPort);
    await sleep(loadSeconds * 1000);

    // The page's figures against /stats read right after (connections do
    // not change while the traffic runs; they must agree exactly).
    await page.waitForFunction(
      (n) => (window.stampedeDashboard?.snapshot?.broker?.connections || 0) === n,
      { timeout: 5000 }, traffic.clients.length);
    const stats = await getJson(broker.adminPort, '/stats');
    const shown = await page.evaluate(() => ({
      connections: document.querySelector('#t-connections .big').textContent,
      destinations: document.querySelector('#t-destinations .big').textContent,
      destinationRows: document.querySelectorAll('#destinations tbody tr').length,
      connectionRows: document.querySelectorAll('#connections tbody tr').length,
      stackRows: document.querySelectorAll('#stacks tbody tr').length,
      status: document.querySelector('#status span').textContent,
      updates: window.stampedeDashboard.updates,
      deliveries: window.stampedeDashboard.rates.deliveries,
    }));
    if (shown.connections !== String(stats.broker.connections)) {
      problems.push(`connections tile ${shown.connections}, /stats ${stats.broker.connections}`);
    }
    if (shown.destinations !== String(stats.broker.destinations)) {
      problems.push(`destinations tile ${shown.destinations}, /stats ${stats.broker.destinations}`);
    }
    if (shown.destinationRows !== stats.destinations.length) {
      problems.push(`${shown.destinationRows} destination rows for ${stats.destinations.length}`);
    }
    if (shown.connectionRows !== stats.connections.length) {
      problems.push(`${shown.connectionRows} connection rows for ${stats.connections.length}`);
    }
    if (shown.status !== 'live') problems.push(`status shows '${shown.status}'`);
    if (!(shown.deliveries > 0)) problems.push(`no deliveries per second shown under load`);

    fs.mkdirSync(path.dirname(opts.out), { recursive: true });
    await page.screenshot({ path: opts.out, fullPage: true });
    problems.push(...pageProblems);
    console.log(JSON.stringify({ screenshot: opts.out, shown, problems }, null, 2));
  } finally {
    if (traffic) await traffic.stop();
    await chromium.close();
    const code = await broker.stop();
    if (code !== 0) problems.push(`broker exited with ${code}`);
  }
  if (problems.length) {
    console.error('dashboard check failed:\n  ' + problems.join('\n  '));
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
