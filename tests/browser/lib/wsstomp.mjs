// STOMP over WebSocket with the `ws` package, byte-exact: what the tests
// send is exactly what goes in each WebSocket message, and every frame the
// broker sends is parsed from the messages as they came (a message holding
// only an EOL is a heart-beat).

import WebSocket from 'ws';

// Opens ws://127.0.0.1:port/path. Resolves with a WsStomp once open;
// rejects with an Error carrying `status` (the HTTP answer) when the upgrade
// is refused, or the client's own reason (e.g. a subprotocol mismatch).
export function openWs(port, { path = '/ws', protocols = ['v12.stomp', 'v11.stomp', 'v10.stomp'],
  origin, headers = {}, maxPayload = 64 * 1024 * 1024 } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols, {
      origin, headers, maxPayload, perMessageDeflate: false, handshakeTimeout: 10000,
    });
    const early = (err) => reject(err);
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => {
        const err = new Error(`upgrade refused: HTTP ${res.statusCode} ${body.trim()}`);
        err.status = res.statusCode;
        err.body = body;
        reject(err);
      });
      req.destroy();
    });
    ws.once('error', early);
    ws.once('open', () => {
      ws.off('error', early);
      resolve(new WsStomp(ws));
    });
  });
}

export class WsStomp {
  constructor(ws) {
    this.ws = ws;
    this.protocol = ws.protocol;
    this.frames = [];
    this.waiters = [];
    this.heartbeats = 0;
    this.messages = [];  // { binary, bytes } of every message, in order
    this.buffer = Buffer.alloc(0);
    this.errors = [];
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.notify();
      });
    });
    ws.on('error', (e) => this.errors.push(e));
    ws.on('message', (data, binary) => this.onMessage(Buffer.from(data), binary));
  }

  onMessage(bytes, binary) {
    this.messages.push({ binary, bytes });
    if (this.buffer.length === 0 && /^(\r?\n)+$/.test(bytes.toString('latin1'))) {
      this.heartbeats++;
      return;
    }
    this.buffer = Buffer.concat([this.buffer, bytes]);
    for (;;) {
      while (this.buffer.length && (this.buffer[0] === 0x0a || this.buffer[0] === 0x0d)) {
        this.buffer = this.buffer.subarray(1);
      }
      const frame = parseFrame(this.buffer);
      if (!frame) break;
      frame.binary = binary;
      this.buffer = this.buffer.subarray(frame.length);
      this.frames.push(frame);
    }
    this.notify();
  }

  notify() {
    for (const w of [...this.waiters]) w();
  }

  // The next frame for which `match` holds (by command, or a function),
  // taken out of the queue; rejects if the connection closes first or after
  // `timeoutMs` (a failure bound, never a test of timing).
  next(match = () => true, timeoutMs = 15000) {
    const test = typeof match === 'string' ? (f) => f.command === match : match;
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.frames.findIndex(test);
        if (i >= 0) {
          done();
          resolve(this.frames.splice(i, 1)[0]);
        } else if (this.ws.readyState === WebSocket.CLOSED) {
          done();
          reject(new Error(`connection closed waiting for ${match}; frames: ${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${match} within ${timeoutMs} ms; frames: ${this.describe()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
      check();
    });
  }

  describe() {
    return JSON.stringify(this.frames.map((f) => [f.command, f.headers]));
  }

  // Sends raw bytes (a string or Buffer) as one message, text unless `binary`.
  raw(bytes, binary = false) {
    this.ws.send(bytes, { binary });
  }

  send(command, headers = {}, body = '', { binary = false } = {}) {
    this.raw(frameBytes(command, headers, body), binary);
  }

  async connect(headers = {}) {
    this.send('CONNECT', { 'accept-version': '1.0,1.1,1.2', host: '/', 'heart-beat': '0,0', ...headers });
    const f = await this.next((x) => x.command === 'CONNECTED' || x.command === 'ERROR');
    if (f.command !== 'CONNECTED') throw new Error(`CONNECT answered ${f.command}: ${f.headers.message}`);
    return f;
  }

  // Sends `command` with a receipt header and waits for its RECEIPT.
  async withReceipt(command, headers = {}, body = '') {
    const id = `r-${Math.random().toString(36).slice(2)}`;
    this.send(command, { ...headers, receipt: id }, body);
    return this.next((f) => (f.command === 'RECEIPT' && f.headers['receipt-id'] === id) || f.command === 'ERROR');
  }

  close(code, reason) {
    this.ws.close(code, reason);
  }
}

// A STOMP frame as bytes; content-length is added for every non-empty body.
export function frameBytes(command, headers = {}, body = '') {
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const h = { ...headers };
  if (payload.length && h['content-length'] === undefined) h['content-length'] = String(payload.length);
  const head = [command, ...Object.entries(h).map(([k, v]) => `${k}:${v}`)].join('\n') + '\n\n';
  return Buffer.concat([Buffer.from(head), payload, Buffer.from([0])]);
}

// One frame from the start of `buf` (no leading EOLs), or null if incomplete.
function parseFrame(buf) {
  const headEnd = buf.indexOf('\n\n');
  const headEndCr = buf.indexOf('\r\n\r\n');
  let end;
  let sep;
  if (headEnd < 0 && headEndCr < 0) return null;
  if (headEndCr >= 0 && (headEnd < 0 || headEndCr < headEnd)) {
    end = headEndCr;
    sep = 4;
  } else {
    end = headEnd;
    sep = 2;
  }
  const lines = buf.subarray(0, end).toString('utf8').split(/\r?\n/);
  const command = lines.shift();
  const headers = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const key = line.slice(0, colon);
    if (!(key in headers)) headers[key] = line.slice(colon + 1);
  }
  const bodyStart = end + sep;
  let bodyEnd;
  if (headers['content-length'] !== undefined) {
    bodyEnd = bodyStart + Number(headers['content-length']);
    if (buf.length < bodyEnd + 1) return null;
  } else {
    bodyEnd = buf.indexOf(0, bodyStart);
    if (bodyEnd < 0) return null;
  }
  return { command, headers, body: Buffer.from(buf.subarray(bodyStart, bodyEnd)), length: bodyEnd + 1 };
}

// Every byte value, 0 to 255, `times` over.
export function everyByte(times = 1) {
  const b = Buffer.alloc(256 * times);
  for (let i = 0; i < b.length; i++) b[i] = i % 256;
  return b;
}
