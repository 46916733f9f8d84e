// Opens N idle STOMP connections to one broker and holds them: each sends
// CONNECT (heart-beat 0,0), then SUBSCRIBEs to its own topic with a receipt.
// Prints one JSON line once every connection has its RECEIPT (or failed),
// then holds them until SIGTERM or SIGINT.
//
//   node idle_clients.mjs --transport tcp|ws|wss --port P --count N
//        [--host 127.0.0.1] [--path /ws] [--concurrency 200] [--first 0]
//
// `ws` comes from tests/browser's node_modules (npm ci there, or
// scripts/setup.sh).
import net from 'node:net';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../tests/browser/package.json'));
const WebSocket = require('ws');

const opts = { transport: 'tcp', host: '127.0.0.1', port: 0, count: 1000, path: '/ws',
               concurrency: 200, first: 0 };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts)) { console.error(`unknown option ${process.argv[i]}`); process.exit(2); }
  opts[k] = typeof opts[k] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}

const held = [];
let failed = 0;
const failures = [];

// One STOMP dialogue over a "send bytes / get bytes" pair; resolves on the
// SUBSCRIBE's RECEIPT. Only CONNECTED, RECEIPT and ERROR are expected.
function dialogue(send, onData, index) {
  return new Promise((resolve, reject) => {
    let buf = '';
    onData((chunk) => {
      buf += chunk.toString('latin1');
      let nul;
      while ((nul = buf.indexOf('\0')) !== -1) {
        const frame = buf.slice(0, nul).replace(/^[\r\n]+/, '');
        buf = buf.slice(nul + 1);
        const command = frame.split('\n', 1)[0];
        if (command === 'CONNECTED') {
          send(`SUBSCRIBE\ndestination:/topic/idle.${index}\nid:0\nreceipt:s\n\n\0`);
        } else if (command === 'RECEIPT') {
          resolve();
        } else if (command === 'ERROR') {
          reject(new Error(frame.slice(0, 200)));
        }
      }
    });
    send('CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\0');
  });
}

function openTcp(index) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: opts.host, port: opts.port });
    sock.setNoDelay(true);
    sock.once('error', reject);
    sock.once('connect', () => {
      dialogue((s) => sock.write(s), (f) => sock.on('data', f), index)
        .then(() => resolve(sock), reject);
    });
  });
}

function openWs(index) {
  return new Promise((resolve, reject) => {
    const scheme = opts.transport === 'wss' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${opts.host}:${opts.port}${opts.path}`, ['v12.stomp'],
                             { perMessageDeflate: false, rejectUnauthorized: false });
    ws.once('error', reject);
    ws.once('unexpected-response', (_, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('open', () => {
      dialogue((s) => ws.send(s), (f) => ws.on('message', f), index)
        .then(() => resolve(ws), reject);
    });
  });
}

async function main() {
  const open = opts.transport === 'tcp' ? openTcp : openWs;
  let next = 0;
  const t0 = Date.now();
  async function lane() {
    while (next < opts.count) {
      const i = opts.first + next++;
      try {
        held.push(await open(i));
      } catch (e) {
        failed++;
        if (failures.length < 5) failures.push(String(e.message || e));
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, lane));
  console.log(JSON.stringify({ transport: opts.transport, requested: opts.count,
                               established: held.length, failed, failures,
                               seconds: (Date.now() - t0) / 1000 }));
}

function closeAll() {
  for (const c of held) (c.terminate ? c.terminate() : c.destroy());
  process.exit(0);
}
process.on('SIGTERM', closeAll);
process.on('SIGINT', closeAll);
setInterval(() => {}, 1 << 30);  // hold even if every connection failed
main();
