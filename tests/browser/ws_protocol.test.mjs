// STOMP over WebSocket against a real broker, with the `ws` client from npm:
// subprotocol choice, frames split over messages and packed into one, binary
// bodies, receipts, heart-beats, each close code, refused origins and
// oversized upgrades. A TCP client checks that both transports see the same
// messages.
//
//   node --test ws_protocol.test.mjs      (STAMPEDE_BIN, STAMPEDE_IO)

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { StompClient, sleep, startBroker, webConfig } from './lib/broker.mjs';
import { everyByte, frameBytes, openWs } from './lib/wsstomp.mjs';

describe('a WebSocket listener with default settings', () => {
  let broker;
  let port;
  before(async () => {
    broker = await startBroker({ config: webConfig() });
    port = broker.port('web');
  });
  after(async () => {
    const code = await broker.stop();
    assert.equal(code, 0, `broker exit status\n${broker.log()}`);
  });

  for (const [offer, chosen, version] of [
    [['v12.stomp', 'v11.stomp', 'v10.stomp'], 'v12.stomp', '1.2'],
    [['v10.stomp', 'v11.stomp', 'v12.stomp'], 'v12.stomp', '1.2'],
    [['v11.stomp', 'v10.stomp'], 'v11.stomp', '1.1'],
    [['v10.stomp'], 'v10.stomp', '1.0'],
    [['v11.stomp'], 'v11.stomp', '1.1'],
    [['mqtt', 'v12.stomp'], 'v12.stomp', '1.2'],
    [[], '', '1.2'],
  ]) {
    test(`offering [${offer}] gets '${chosen}' and STOMP ${version}`, async () => {
      const c = await openWs(port, { protocols: offer });
      assert.equal(c.protocol, chosen);
      const connected = await c.connect();
      assert.equal(connected.headers.version, version);
      c.close();
      await c.closed;
    });
  }

  test('a protocol the client did not offer is never echoed: none of ours, no header', async () => {
    // ws refuses a 101 that names no subprotocol when some were offered.
    await assert.rejects(openWs(port, { protocols: ['mqtt', 'wamp'] }), /Server sent no subprotocol/);
  });

  test('a TCP client and a WebSocket client see the same messages, both ways, with receipts', async () => {
    const ws = await openWs(port);
    await ws.connect();
    const tcp = await new StompClient(broker.stompPort).connect();
    tcp.bodies = [];
    tcp.subscribe('/topic/both', 't');
    assert.equal((await ws.withReceipt('SUBSCRIBE', { destination: '/topic/both', id: 'w' })).command, 'RECEIPT');
    // A RECEIPT from the TCP client too, so its subscriptions are in place.
    await tcp.withReceipt('SUBSCRIBE\ndestination:/queue/from-browser\nid:q\n\n');

    await tcp.send('/topic/both', 3, 100);
    for (let i = 0; i < 3; i++) {
      const m = await ws.next('MESSAGE');
      assert.equal(m.headers.subscription, 'w');
      assert.equal(m.body.toString(), 'x'.repeat(100));
    }
    assert.equal((await ws.withReceipt('SEND', { destination: '/queue/from-browser' }, 'hello tcp')).command, 'RECEIPT');
    assert.equal((await ws.withReceipt('SEND', { destination: '/topic/both' }, 'y'.repeat(100))).command, 'RECEIPT');
    const self = await ws.next('MESSAGE');
    assert.equal(self.body.toString(), 'y'.repeat(100));
    while (tcp.bodies.length < 5) await sleep(10);  // its own 3 and the browser's 1 on the topic, 1 on the queue
    assert.deepEqual([...tcp.bodies].sort(), ['hello tcp', ...Array(3).fill('x'.repeat(100)), 'y'.repeat(100)]);
    ws.close();
    tcp.close();
    await ws.closed;
  });

  test('one STOMP frame may span several messages, and one message may carry several frames', async () => {
    const ws = await openWs(port);
    await ws.connect();
    await ws.withReceipt('SUBSCRIBE', { destination: '/queue/split', id: 's' });
    const a = frameBytes('SEND', { destination: '/queue/split' }, 'first body');
    for (let i = 0; i < a.length; i += 3) ws.raw(a.subarray(i, i + 3));  // 3-byte messages
    const packed = Buffer.concat([
      frameBytes('SEND', { destination: '/queue/split' }, 'second'),
      Buffer.from('\n'),
      frameBytes('SEND', { destination: '/queue/split' }, 'third'),
      frameBytes('SEND', { destination: '/queue/split', receipt: 'packed' }, 'fourth'),
    ]);
    ws.raw(packed, true);
    assert.equal((await ws.next('RECEIPT')).headers['receipt-id'], 'packed');
    const bodies = [];
    for (let i = 0; i < 4; i++) bodies.push((await ws.next('MESSAGE')).body.toString());
    assert.deepEqual(bodies, ['first body', 'second', 'third', 'fourth']);
    // Outbound: one STOMP frame per WebSocket message.
    const framed = ws.messages.filter((m) => m.bytes.toString('latin1').startsWith('MESSAGE'));
    assert.equal(framed.length, 4);
    for (const m of framed) assert.equal(m.bytes[m.bytes.length - 1], 0);
    ws.close();
    await ws.closed;
  });

  test('a 1 MiB SEND in 3,000-byte messages arrives whole', async () => {
    const ws = await openWs(port);
    await ws.connect();
    await ws.withReceipt('SUBSCRIBE', { destination: '/queue/big', id: 'b' });
    const body = Buffer.alloc(1024 * 1024, 'z');
    body.write('start', 0);
    body.write('end', body.length - 3);
    const bytes = frameBytes('SEND', { destination: '/queue/big', receipt: 'big' }, body);
    for (let i = 0; i < bytes.length; i += 3000) ws.raw(bytes.subarray(i, i + 3000));
    assert.equal((await ws.next('RECEIPT', 30000)).headers['receipt-id'], 'big');
    const m = await ws.next('MESSAGE', 30000);
    assert.equal(m.body.length, body.length);
    assert.ok(m.body.equals(body));
    ws.close();
    await ws.closed;
  });

  test('a body with every byte value goes through, and comes back as a binary message', async () => {
    const ws = await openWs(port);
    await ws.connect();
    await ws.withReceipt('SUBSCRIBE', { destination: '/queue/bytes', id: 'b' });
    const body = everyByte(4);
    ws.send('SEND', { destination: '/queue/bytes', 'content-type': 'application/octet-stream' }, body,
      { binary: true });
    const m = await ws.next('MESSAGE');
    assert.ok(m.body.equals(body));
    assert.equal(m.binary, true, 'a body that is not UTF-8 goes out in a binary message');
    ws.send('SEND', { destination: '/queue/bytes' }, 'plain text é');
    const t = await ws.next('MESSAGE');
    assert.equal(t.body.toString('utf8'), 'plain text é');
    assert.equal(t.binary, false, 'valid UTF-8 goes out as text');
    ws.close();
    await ws.closed;
  });

  test('heart-beats: the broker sends EOL messages, and takes the client\'s EOL messages as heart-beats', async () => {
    const ws = await openWs(port);
    const connected = await ws.connect({ 'heart-beat': '100,100' });
    const [sx, sy] = connected.headers['heart-beat'].split(',').map(Number);
    assert.ok(sy > 0 && sx > 0, `broker heart-beat ${connected.headers['heart-beat']}`);
    // The client beats (EOL-only messages) for many of the broker's
    // intervals and sends nothing else: had they not counted, the broker
    // would have closed the connection.
    const beat = setInterval(() => ws.raw('\n'), Math.max(20, Math.floor(sx / 3)));
    try {
      // Barrier in the broker's own time: five more of its heart-beats mean
      // five of its intervals have passed on its clock, however slow it is;
      // had the client's EOLs not counted, its receive check (on the same
      // timers) would have closed the connection by then.
      while (ws.heartbeats < 3) await sleep(20);
      const seen = ws.heartbeats;
      while (ws.heartbeats < seen + 5) await sleep(20);
      assert.equal((await ws.withReceipt('SUBSCRIBE', { destination: '/queue/hb', id: 'h' })).command, 'RECEIPT');
    } finally {
      clearInterval(beat);
    }
    // A WebSocket ping is answered with a pong carrying its data.
    const pong = new Promise((resolve) => ws.ws.once('pong', (data) => resolve(data.toString())));
    ws.ws.ping('are you there');
    assert.equal(await pong, 'are you there');
    ws.close();
    await ws.closed;
  });

  test('DISCONNECT: the RECEIPT, then close code 1000', async () => {
    const ws = await openWs(port);
    await ws.connect();
    assert.equal((await ws.withReceipt('DISCONNECT')).command, 'RECEIPT');
    assert.equal((await ws.closed).code, 1000);
  });

  test('a malformed STOMP frame: an ERROR, then close code 1002', async () => {
    const ws = await openWs(port);
    await ws.connect();
    ws.raw('SEND\ndestination:/queue/x\ncontent-length:zz\n\nbody\0');
    const error = await ws.next('ERROR');
    assert.ok(error.headers.message);
    assert.equal((await ws.closed).code, 1002);
  });

  test('an unmasked client frame breaks RFC 6455: close code 1002', async () => {
    const ws = await openWs(port);
    ws.ws._socket.write(Buffer.from([0x81, 0x01, 0x41]));  // FIN text "A", no mask
    assert.equal((await ws.closed).code, 1002);
  });

  test('a text message that is not UTF-8: close code 1007', async () => {
    const ws = await openWs(port);
    await ws.connect();
    ws.raw(Buffer.from([0x53, 0x45, 0xff, 0xfe, 0x0a]), false);  // text opcode, invalid bytes
    assert.equal((await ws.closed).code, 1007);
  });

  test('a refused CONNECT (STOMP version nobody speaks): ERROR, then a close', async () => {
    const ws = await openWs(port, { protocols: [] });
    ws.send('CONNECT', { 'accept-version': '9.9', host: '/' });
    const error = await ws.next('ERROR');
    assert.match(error.headers.message, /version/i);
    const { code } = await ws.closed;
    assert.ok([1002, 1008].includes(code), `close code ${code}`);
  });

  test('a CONNECT that does not accept the version its subprotocol fixed: ERROR naming both', async () => {
    const ws = await openWs(port, { protocols: ['v11.stomp'] });
    ws.send('CONNECT', { 'accept-version': '1.2', host: '/' });
    const error = await ws.next('ERROR');
    assert.match(error.headers.message, /subprotocol chose STOMP 1\.1/);
    assert.match(error.headers.message, /accept-version does not offer/);
    const { code } = await ws.closed;
    assert.ok([1002, 1008].includes(code), `close code ${code}`);
  });

  test('the wrong path gets 404, an oversized upgrade request 431, a bad version 426', async () => {
    await assert.rejects(openWs(port, { path: '/nope' }), (e) => e.status === 404);
    await assert.rejects(openWs(port, { headers: { 'X-Padding': 'p'.repeat(20 * 1024) } }),
      (e) => e.status === 431);
    const status = await rawUpgrade(port, 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n' +
      'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n');
    assert.equal(status, 426);
    assert.equal(await rawUpgrade(port, 'GET /ws HTTP/1.1\r\nHost: x\r\n\r\n'), 400);
  });
});

describe('a WebSocket listener with an Origin allow-list and small limits', () => {
  let broker;
  let port;
  before(async () => {
    broker = await startBroker({
      config: webConfig(
        { allowed_origins: ['http://good.example:8080'], max_message_bytes: 64 * 1024 },
        { limits: { max_frame: 16 * 1024, max_frame_before_connect: 8 * 1024 } }),
    });
    port = broker.port('web');
  });
  after(async () => {
    await broker.stop();
  });

  test('a page from an origin not on the list is refused with 403; one on it connects', async () => {
    await assert.rejects(openWs(port, { origin: 'http://evil.example' }), (e) => e.status === 403);
    await assert.rejects(openWs(port, { origin: 'http://good.example:8081' }), (e) => e.status === 403);
    const ok = await openWs(port, { origin: 'HTTP://GOOD.example:8080' });
    await ok.connect();
    ok.close();
    await ok.closed;
  });

  test('a STOMP frame over limits.max_frame: an ERROR naming the limit, then close code 1009', async () => {
    const ws = await openWs(port, { origin: 'http://good.example:8080' });
    await ws.connect();
    const bytes = frameBytes('SEND', { destination: '/queue/x' }, Buffer.alloc(20 * 1024, 'o'));
    for (let i = 0; i < bytes.length; i += 4096) ws.raw(bytes.subarray(i, i + 4096));
    const error = await ws.next('ERROR');
    assert.match(error.headers.message, /maximum frame size/);
    // The body says which limit, and its value.
    assert.match(error.body.toString(), /at most 16384 bytes \(limits\.max_frame\)/);
    assert.equal((await ws.closed).code, 1009);
  });

  test('a WebSocket message over max_message_bytes: close code 1009', async () => {
    const ws = await openWs(port, { origin: 'http://good.example:8080' });
    await ws.connect();
    ws.raw(Buffer.alloc(65 * 1024, 'a'));
    assert.equal((await ws.closed).code, 1009);
  });
});

describe('a broker shutting down', () => {
  test('closes its WebSocket clients with code 1001', async () => {
    const broker = await startBroker({ config: webConfig() });
    const ws = await openWs(broker.port('web'));
    await ws.connect();
    await ws.withReceipt('SUBSCRIBE', { destination: '/queue/x', id: 'x' });
    const stopped = broker.stop();
    assert.equal((await ws.closed).code, 1001);
    assert.equal(await stopped, 0);
  });
});

// Writes an HTTP request by hand and resolves with the status code answered.
function rawUpgrade(port, request) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    let got = '';
    s.on('data', (c) => {
      got += c.toString('latin1');
      const m = got.match(/^HTTP\/1\.1 (\d{3})/);
      if (m) {
        s.destroy();
        resolve(Number(m[1]));
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`closed without a status: ${got}`)));
  });
}
