// Starting a Stampede broker for a browser test, and a small STOMP-over-TCP
// client to give it something to do.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..', '..');

// Starts build/stampede (or $STAMPEDE_BIN) on ephemeral ports and resolves
// once it logs them: { process, stompPort, adminPort, port(name), stop() }.
// `config` (an object) is written as the JSON configuration file; its
// `listeners` ("port": 0) are found in the log by name with port(name).
// Memory only (`--data-dir none`) unless `extraArgs` or `config` name a data
// directory: the broker's default is data/ under the working directory,
// which tests running in parallel would share.
export function startBroker({ config = null, extraArgs = [], io = process.env.STAMPEDE_IO || 'auto',
  schedulers = 2, listen = '127.0.0.1:0' } = {}) {
  const bin = process.env.STAMPEDE_BIN || path.join(repoRoot, 'build', 'stampede');
  const args = ['--listen', listen, '--admin', '127.0.0.1:0', '--io', io,
    '--schedulers', String(schedulers)];
  let configFile = null;
  if (config) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stampede-browser-'));
    configFile = path.join(dir, 'config.json');
    fs.writeFileSync(configFile, JSON.stringify(config));
    args.push('--config', configFile);
  }
  if (!extraArgs.includes('--data-dir') && !(config && 'data_dir' in config)) {
    args.push('--data-dir', 'none');
  }
  args.push(...extraArgs);
  const names = (config?.listeners || []).map((l) => l.name).filter(Boolean);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const cleanup = () => {
    if (configFile) fs.rmSync(path.dirname(configFile), { recursive: true, force: true });
    configFile = null;
  };
  const listenerPort = (name) => {
    const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const m = log.match(new RegExp(`listener '${escaped}' \\([^)]*\\) on \\S*?:(\\d+)`));
    return m ? Number(m[1]) : null;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      cleanup();
      reject(new Error(`broker did not start within 20 s:\n${log}`));
    }, 20000);
    const onData = (chunk) => {
      log += chunk.toString();
      const admin = log.match(/admin listening on [^\s:]+:(\d+)/);
      const stomp = log.match(/stampede \S+ listening on 127\.0\.0\.1:(\d+)/);
      if (admin && stomp && names.every((n) => listenerPort(n) !== null)) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.stderr.off('data', onData);
        child.stdout.on('data', (c) => { log += c.toString(); });
        child.stderr.on('data', (c) => { log += c.toString(); });
        resolve({
          process: child,
          adminPort: Number(admin[1]),
          stompPort: Number(stomp[1]),
          port: (name) => {
            const p = listenerPort(name);
            if (p === null) throw new Error(`listener '${name}' not in the log:\n${log}`);
            return p;
          },
          log: () => log,
          stop: () => new Promise((done) => {
            child.removeAllListeners('exit');
            if (child.exitCode !== null || child.signalCode !== null) {
              cleanup();
              return done(child.exitCode);
            }
            child.once('exit', (code) => { cleanup(); done(code); });
            child.kill('SIGTERM');
          }),
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      cleanup();
      reject(new Error(`broker exited with ${code} before listening:\n${log}`));
    });
  });
}

// The configuration of a broker with one WebSocket listener named 'web'
// (path /ws) beside the plain one; `websocket` adds to its block.
export function webConfig(websocket = {}, extra = {}) {
  return {
    listeners: [
      { name: 'stomp', listen: '127.0.0.1:0' },
      { name: 'web', listen: '127.0.0.1:0', websocket: { path: '/ws', ...websocket } },
    ],
    ...extra,
  };
}

// One STOMP 1.2 connection over TCP. Counts the MESSAGE frames it reads
// (unless told to stop reading, to play a slow consumer).
export class StompClient {
  constructor(port, { login = 'guest', name = 'client' } = {}) {
    this.port = port;
    this.login = login;
    this.name = name;
    this.received = 0;
    this.buffer = Buffer.alloc(0);
    this.connected = null;
  }

  connect() {
    return new Promise((resolve, reject) => {
      this.socket = net.connect(this.port, '127.0.0.1');
      this.socket.setNoDelay(true);
      this.socket.once('error', reject);
      this.socket.on('data', (chunk) => this.onData(chunk));
      this.connected = { resolve, reject };
      this.socket.write(`CONNECT\naccept-version:1.2\nhost:/\nlogin:${this.login}\nheart-beat:0,0\n\n\0`);
    });
  }

  onData(chunk) {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    let at;
    while ((at = this.buffer.indexOf(0)) >= 0) {
      const frame = this.buffer.subarray(0, at).toString('latin1').replace(/^[\r\n]+/, '');
      this.buffer = this.buffer.subarray(at + 1);
      if (frame.startsWith('CONNECTED')) {
        this.connected?.resolve(this);
        this.connected = null;
      } else if (frame.startsWith('MESSAGE')) {
        this.received++;
        if (this.bodies) this.bodies.push(frame.slice(frame.indexOf('\n\n') + 2));
      } else if (frame.startsWith('RECEIPT')) {
        const id = frame.match(/receipt-id:([^\n]*)/)?.[1];
        this.receipts?.get(id)?.();
      } else if (frame.startsWith('ERROR')) {
        this.connected?.reject(new Error(frame));
        this.connected = null;
      }
    }
  }

  subscribe(destination, id, ack = 'auto') {
    this.socket.write(`SUBSCRIBE\ndestination:${destination}\nid:${id}\nack:${ack}\n\n\0`);
  }

  // Writes `frame` (without its NUL) with a receipt header; resolves on the RECEIPT.
  withReceipt(frame) {
    const id = `tcp-${Math.random().toString(36).slice(2)}`;
    this.receipts ??= new Map();
    return new Promise((resolve) => {
      this.receipts.set(id, () => { this.receipts.delete(id); resolve(); });
      const at = frame.indexOf('\n');
      this.socket.write(`${frame.slice(0, at)}\nreceipt:${id}${frame.slice(at)}\0`);
    });
  }

  // Sends each body (a string) to `destination`, one SEND each, in one write.
  sendBodies(destination, bodies) {
    const frames = bodies.map((b) => `SEND\ndestination:${destination}\ncontent-length:${Buffer.byteLength(b)}\n\n${b}\0`);
    return new Promise((resolve) => {
      if (this.socket.write(frames.join(''))) resolve();
      else this.socket.once('drain', resolve);
    });
  }

  // Writes `count` SENDs of `bodySize` bytes in one write; resolves when the
  // socket has taken them.
  send(destination, count = 1, bodySize = 100) {
    const body = 'x'.repeat(bodySize);
    const frame = `SEND\ndestination:${destination}\ncontent-length:${bodySize}\n\n${body}\0`;
    return new Promise((resolve) => {
      if (this.socket.write(frame.repeat(count))) resolve();
      else this.socket.once('drain', resolve);
    });
  }

  // Stops reading: the broker's outbound queue for this client fills up.
  stall() {
    this.socket.pause();
  }

  close() {
    this.socket.destroy();
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function getJson(port, pathAndQuery) {
  const res = await fetch(`http://127.0.0.1:${port}${pathAndQuery}`);
  if (!res.ok) throw new Error(`${pathAndQuery}: HTTP ${res.status}`);
  return res.json();
}
