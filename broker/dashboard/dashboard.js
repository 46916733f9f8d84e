// The Stampede dashboard: reads /stats once a second and shows it. No
// library, no network beyond the broker: the charts are drawn on canvases.
// Everything the broker reports (destination names, logins, peers) goes into
// the page as text, never as markup.
'use strict';
(() => {
  const POLL_MS = 1000;
  const WINDOW_S = 300;       // the charts show the last five minutes
  const STALE_MS = 3500;      // no answer for this long: the figures are old
  const TABLE_ROWS = 25;

  const $ = (id) => document.getElementById(id);

  // ---- formatting ----

  function si(n, digits = 3) {
    if (!Number.isFinite(n)) return '–';
    const a = Math.abs(n);
    const units = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
    for (const [scale, unit] of units) {
      if (a >= scale) return trim(n / scale, digits) + unit;
    }
    return trim(n, digits);
  }
  function trim(n, digits) {
    if (n === 0) return '0';
    const a = Math.abs(n);
    const decimals = a >= 100 ? 0 : a >= 10 ? Math.max(0, digits - 2) : Math.max(0, digits - 1);
    return n.toFixed(Math.min(decimals, 2)).replace(/\.0+$|(\.\d*[1-9])0+$/, '$1');
  }
  function count(n) {
    if (!Number.isFinite(n)) return '–';
    return n < 100000 ? Math.round(n).toLocaleString('en-US') : si(n);
  }
  function rate(n) {
    if (!Number.isFinite(n)) return '–';
    if (n > 0 && n < 1) return n.toFixed(2);
    return n < 10000 ? Math.round(n).toLocaleString('en-US') : si(n);
  }
  function bytes(n) {
    if (!Number.isFinite(n)) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : trim(n, 3)) + ' ' + units[i];
  }
  function duration(ms) {
    let s = Math.floor(ms / 1000);
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d > 0) return `${d}d ${h}h`;
    if (h > 0) return `${h}h ${m}m`;
    if (m > 0) return `${m}m ${s}s`;
    return `${s}s`;
  }
  function clock(date) {
    return date.toTimeString().slice(0, 8);
  }

  // ---- small DOM helpers ----

  function text(el, value) {
    if (el.textContent !== value) el.textContent = value;
  }
  function tile(id, big, sub, level) {
    const t = $(id);
    text(t.querySelector('.big'), big);
    text(t.querySelector('.sub'), sub);
    t.classList.toggle('ok', level === 'ok');
    t.classList.toggle('warn', level === 'warn');
    t.classList.toggle('bad', level === 'bad');
  }
  function cell(row, value, cls) {
    const td = document.createElement('td');
    if (value instanceof Node) td.appendChild(value); else td.textContent = value;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }
  function numberCell(row, n, format, hotWhen, alertWhen) {
    const cls = n === 0 ? 'zero' : alertWhen && alertWhen(n) ? 'alert' : hotWhen && hotWhen(n) ? 'hot' : '';
    return cell(row, format(n), cls);
  }
  function badge(label, cls) {
    const b = document.createElement('span');
    b.className = 'badge ' + cls;
    b.textContent = label;
    return b;
  }
  function fillTable(table, rows, columns, empty) {
    const body = table.tBodies[0];
    const fresh = document.createElement('tbody');
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      tr.className = 'empty';
      const td = cell(tr, empty);
      td.colSpan = columns;
      fresh.appendChild(tr);
    }
    for (const r of rows) fresh.appendChild(r);
    table.replaceChild(fresh, body);
  }

  // ---- history and rates ----

  const history = [];  // {t, publishes, deliveries, rss, highWater}
  let previous = null; // the last snapshot, keyed for rates

  function totalsOf(snap) {
    if (snap.totals) return snap.totals;
    // An older broker: sum what this page of /stats holds.
    const t = { messages_in: 0, messages_out: 0, depth: 0, unacked: 0, dropped: 0,
                slow_connections: 0, slow_consumer_drops: 0 };
    for (const d of snap.destinations || []) {
      t.messages_in += d.messages_in; t.messages_out += d.messages_out;
      t.depth += d.depth; t.unacked += d.unacked; t.dropped += d.dropped;
    }
    for (const c of snap.connections || []) {
      t.slow_connections += c.slow ? 1 : 0;
      t.slow_consumer_drops += c.dropped;
    }
    return t;
  }

  const destinationKey = (d) => d.vhost + '\u0000' + d.kind + '\u0000' + d.name;

  function keyed(snap) {
    const destinations = new Map();
    for (const d of snap.destinations || []) destinations.set(destinationKey(d), d);
    const connections = new Map();
    for (const c of snap.connections || []) connections.set(c.id, c);
    return { uptime: snap.broker.uptime_ms, totals: totalsOf(snap), destinations, connections };
  }

  // Per-second change of `field` between the previous snapshot's `before`
  // and `now`; undefined without a previous one.
  function perSecond(now, before, field, seconds) {
    if (!before || seconds <= 0) return undefined;
    const d = now[field] - before[field];
    return d >= 0 ? d / seconds : undefined;
  }

  // ---- charts ----

  function spanOf(now) {
    const oldest = history.length ? history[0].t : now;
    return Math.min(WINDOW_S, Math.max(60, Math.ceil((now - oldest) / 10) * 10));
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
      if (m * p >= v) return m * p;
    }
    return 10 * p;
  }

  // Draws lines over the last WINDOW_S seconds of history. `series`:
  // {color, value(h), fill}; `marks`: horizontal lines {value, color, label}.
  function drawChart(canvas, series, marks, format) {
    const dpr = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight || 220;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, height);
    const left = 64, right = 12, top = 10, bottom = 24;
    const w = width - left - right, h = height - top - bottom;
    const now = history.length ? history[history.length - 1].t : 0;
    // The span grows with the history, from one minute up to five.
    const span = spanOf(now);
    let max = 0;
    for (const s of series) for (const p of history) max = Math.max(max, s.value(p) || 0);
    for (const m of marks) if (m.value > 0 && m.value < max * 4) max = Math.max(max, m.value);
    max = niceMax(max * 1.05);
    const x = (t) => left + w * (1 - (now - t) / span);
    const y = (v) => top + h * (1 - v / max);

    g.font = '11px system-ui, sans-serif';
    g.textBaseline = 'middle';
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      g.strokeStyle = i === 0 ? '#cbd5e1' : '#eef2f7';
      g.beginPath(); g.moveTo(left, y(v) + 0.5); g.lineTo(left + w, y(v) + 0.5); g.stroke();
      g.fillStyle = '#64748b';
      g.textAlign = 'right';
      g.fillText(format(v), left - 8, y(v));
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    const step = [10, 15, 20, 30, 60].find((st) => span / st <= 6) || 60;
    for (let s = Math.floor(span / step) * step; s >= 0; s -= step) {
      const px = left + w * (1 - s / span);
      const label = s === 0 ? 'now' : s % 60 === 0 ? `−${s / 60} min` : `−${s} s`;
      g.fillText(label, Math.max(left + 14, px), top + h + 6);
    }
    if (history.length < 2) {
      g.fillStyle = '#94a3b8';
      g.textBaseline = 'middle';
      g.fillText('collecting…', left + w / 2, top + h / 2);
      return;
    }
    g.save();
    g.beginPath(); g.rect(left, top, w, h); g.clip();
    for (const m of marks) {
      if (!(m.value > 0) || m.value > max) continue;
      g.strokeStyle = m.color;
      g.setLineDash([6, 4]);
      g.lineWidth = 1.5;
      g.beginPath(); g.moveTo(left, y(m.value)); g.lineTo(left + w, y(m.value)); g.stroke();
      g.setLineDash([]);
      g.fillStyle = m.color;
      g.textAlign = 'left';
      g.textBaseline = 'bottom';
      g.fillText(m.label, left + 6, y(m.value) - 3);
    }
    for (const s of series) {
      const points = history.filter((p) => s.value(p) !== undefined && now - p.t <= span + 2);
      if (points.length < 2) continue;
      g.beginPath();
      points.forEach((p, i) => (i ? g.lineTo : g.moveTo).call(g, x(p.t), y(s.value(p))));
      g.strokeStyle = s.color;
      g.lineWidth = 2;
      g.lineJoin = 'round';
      g.stroke();
      if (s.fill) {
        g.lineTo(x(points[points.length - 1].t), y(0));
        g.lineTo(x(points[0].t), y(0));
        g.closePath();
        g.fillStyle = s.fill;
        g.fill();
      }
    }
    g.restore();
  }

  function legend(el, items) {
    const frag = document.createDocumentFragment();
    for (const it of items) {
      const span = document.createElement('span');
      span.style.setProperty('--c', it.color);
      if (it.dash) span.className = 'dash';
      span.append(it.label);
      const b = document.createElement('b');
      b.textContent = it.value;
      span.appendChild(b);
      frag.appendChild(span);
    }
    el.replaceChildren(frag);
  }

  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();

  function drawCharts(snap) {
    const last = history[history.length - 1] || {};
    drawChart($('rate-chart'), [
      { color: color('--del'), fill: 'rgba(16,185,129,.10)', value: (p) => p.deliveries },
      { color: color('--pub'), fill: 'rgba(99,102,241,.08)', value: (p) => p.publishes },
    ], [], si);
    legend($('rate-legend'), [
      { color: color('--del'), label: 'deliveries', value: rate(last.deliveries) },
      { color: color('--pub'), label: 'publishes', value: rate(last.publishes) },
    ]);
    const mem = snap.memory || {};
    drawChart($('memory-chart'), [
      { color: color('--mem'), fill: 'rgba(14,165,233,.12)', value: (p) => p.rss },
    ], [{ value: mem.high_water_bytes, color: color('--bad'), label: 'high-water mark' }], bytes);
    const items = [{ color: color('--mem'), label: 'resident', value: bytes(mem.resident_bytes) }];
    if (mem.high_water_bytes) {
      items.push({ color: color('--bad'), dash: true, label: 'high-water', value: bytes(mem.high_water_bytes) });
    }
    legend($('memory-legend'), items);
  }

  // ---- the page's parts ----

  function renderHeader(snap) {
    const b = snap.broker;
    text($('version'), 'v' + b.version);
    text($('listen'), b.listen);
    text($('io'), b.io_backend);
    text($('schedulers'), String(b.schedulers));
    text($('uptime'), duration(b.uptime_ms));
    const alarm = !!(snap.memory && snap.memory.alarm);
    $('alarm').classList.toggle('hidden', !alarm);
  }

  function renderTiles(snap, totals, rates) {
    const b = snap.broker;
    const byTransport = totals.connections_by_transport || {};
    const kinds = Object.keys(byTransport).sort();
    tile('t-connections', count(b.connections),
         kinds.length ? kinds.map((k) => `${k} ${count(byTransport[k])}`).join(' · ') : 'none open');

    let topics = 0, queues = 0;
    for (const d of snap.destinations || []) (d.kind === 'queue' ? queues++ : topics++);
    const paged = snap.pages && snap.pages.destinations && snap.pages.destinations.next_offset !== null;
    tile('t-destinations', count(b.destinations),
         `${count(topics)} topics · ${count(queues)} queues${paged ? ' (first page)' : ''}`);

    tile('t-publishes', rate(rates.publishes), `${count(totals.messages_in)} published in all`);
    const fan = rates.publishes > 0 ? ` · ×${trim(rates.deliveries / rates.publishes, 3)} fan-out` : '';
    tile('t-deliveries', rate(rates.deliveries), `${count(totals.messages_out)} delivered${fan}`);

    const mem = snap.memory || {};
    tile('t-queued', count(totals.depth),
         `${count(totals.unacked)} unacked · ${bytes(mem.queued_bytes)}`,
         totals.depth > 0 ? 'warn' : 'ok');

    const drops = rates.slowDrops;
    tile('t-slow', count(totals.slow_connections),
         `${drops === undefined ? '–' : rate(drops)} dropped / s · ${count(totals.slow_consumer_drops)} in all`,
         totals.slow_connections > 0 ? 'warn' : drops > 0 ? 'warn' : 'ok');

    const socketBytes = (snap.connections || []).reduce((s, c) => s + (c.socket_bytes || 0), 0);
    tile('t-outbound', bytes(mem.outbound_bytes),
         `queued in the broker · ${bytes(socketBytes)} in sockets`);

    const high = mem.high_water_bytes;
    const share = high ? mem.resident_bytes / high : undefined;
    const level = mem.alarm ? 'bad' : share > 0.8 ? 'warn' : 'ok';
    tile('t-memory', bytes(mem.resident_bytes),
         high ? `${Math.round(share * 100)}% of ${bytes(high)} high-water · peak ${bytes(mem.peak_resident_bytes)}`
              : `peak ${bytes(mem.peak_resident_bytes)}`, level);
    const fill = $('t-memory').querySelector('.fill');
    fill.style.width = share === undefined ? '0' : `${Math.min(100, share * 100).toFixed(1)}%`;
    fill.classList.toggle('warn', level === 'warn');
    fill.classList.toggle('bad', level === 'bad');
  }

  function renderDestinations(snap, seconds) {
    const list = (snap.destinations || []).map((d) => {
      const before = previous && previous.destinations.get(destinationKey(d));
      return { d, in: perSecond(d, before, 'messages_in', seconds), out: perSecond(d, before, 'messages_out', seconds) };
    });
    list.sort((a, b) => ((b.in || 0) + (b.out || 0)) - ((a.in || 0) + (a.out || 0)) ||
                        b.d.depth - a.d.depth || b.d.subscribers - a.d.subscribers ||
                        (a.d.name < b.d.name ? -1 : 1));
    const rows = list.slice(0, TABLE_ROWS).map(({ d, in: rin, out: rout }) => {
      const tr = document.createElement('tr');
      cell(tr, badge(d.kind, d.kind));
      const name = document.createElement('span');
      if (d.vhost && d.vhost !== '/') {
        const v = document.createElement('span');
        v.className = 'vhost';
        v.textContent = d.vhost + ' ';
        name.appendChild(v);
      }
      name.append(d.name);
      cell(tr, name, 'l name').title = d.name;
      numberCell(tr, d.subscribers, count);
      cell(tr, rin === undefined ? '–' : rate(rin), rin ? '' : 'zero');
      cell(tr, rout === undefined ? '–' : rate(rout), rout ? '' : 'zero');
      numberCell(tr, d.depth, count, (n) => n > 0);
      numberCell(tr, d.unacked, count);
      numberCell(tr, d.depth_bytes, bytes);
      numberCell(tr, d.dropped, count, null, (n) => n > 0);
      numberCell(tr, d.rejected, count, null, (n) => n > 0);
      numberCell(tr, d.redelivered, count, (n) => n > 0);
      numberCell(tr, d.dead_lettered, count, null, (n) => n > 0);
      return tr;
    });
    fillTable($('destinations'), rows, 12, 'No destination yet: they appear with the first SEND or SUBSCRIBE.');
    const total = snap.pages && snap.pages.destinations ? snap.pages.destinations.total : list.length;
    text($('destinations-note'), list.length > TABLE_ROWS
      ? `busiest ${TABLE_ROWS} of ${count(total)}` : `${count(total)} in all`);
  }

  function renderConnections(snap, seconds) {
    const list = (snap.connections || []).map((c) => {
      const before = previous && previous.connections.get(c.id);
      return {
        c,
        in: perSecond(c, before, 'messages_in', seconds),
        out: perSecond(c, before, 'messages_out', seconds),
        drops: perSecond(c, before, 'dropped', seconds),
        queued: (c.outbound_bytes || 0) + (c.socket_bytes || 0),
      };
    });
    const weight = (r) => (r.c.slow ? 2 : 0) + (r.drops > 0 ? 1 : 0);
    list.sort((a, b) => weight(b) - weight(a) || b.queued - a.queued ||
                        ((b.in || 0) + (b.out || 0)) - ((a.in || 0) + (a.out || 0)) || a.c.id - b.c.id);
    const rows = list.slice(0, TABLE_ROWS).map((r) => {
      const c = r.c;
      const tr = document.createElement('tr');
      cell(tr, r.drops > 0 ? badge('dropping', 'dropping') : c.slow ? badge('slow', 'slow') : badge('ok', 'ok'));
      cell(tr, String(c.id));
      cell(tr, c.peer, 'l');
      cell(tr, c.transport || 'tcp');
      cell(tr, c.login || '–', 'l');
      cell(tr, c.vhost || '–', 'l');
      cell(tr, c.version || '–');
      cell(tr, duration(c.connected_ms));
      numberCell(tr, c.subscriptions, count);
      cell(tr, r.in === undefined ? '–' : rate(r.in), r.in ? '' : 'zero');
      cell(tr, r.out === undefined ? '–' : rate(r.out), r.out ? '' : 'zero');
      numberCell(tr, r.queued, bytes, (n) => n > 1 << 20);
      numberCell(tr, c.dropped, count, null, (n) => n > 0);
      return tr;
    });
    fillTable($('connections'), rows, 13, 'No client connected.');
    const total = snap.pages && snap.pages.connections ? snap.pages.connections.total : list.length;
    text($('connections-note'), list.length > TABLE_ROWS
      ? `${TABLE_ROWS} of ${count(total)} shown` : `${count(total)} open`);
  }

  function renderStacks(snap) {
    const stacks = (snap.stacks || []).slice().sort((a, b) => b.fibers - a.fibers || (a.kind < b.kind ? -1 : 1));
    const rows = stacks.map((s) => {
      const tr = document.createElement('tr');
      cell(tr, s.kind, 'l');
      cell(tr, count(s.fibers));
      cell(tr, bytes(s.stack_size));
      const share = s.stack_size ? s.max_high_water / s.stack_size : 0;
      const bar = document.createElement('div');
      bar.className = 'bar';
      const meter = document.createElement('div');
      meter.className = 'meter';
      const fill = document.createElement('div');
      fill.className = 'fill' + (share > 0.85 ? ' bad' : share > 0.6 ? ' warn' : '');
      fill.style.width = `${Math.min(100, share * 100).toFixed(1)}%`;
      meter.appendChild(fill);
      const label = document.createElement('span');
      label.textContent = `${bytes(s.max_high_water)} (${Math.round(share * 100)}%)`;
      bar.append(meter, label);
      cell(tr, bar, 'l');
      cell(tr, bytes(s.resident_bytes));
      return tr;
    });
    fillTable($('stacks'), rows, 5, 'No fiber reported.');
    const b = snap.broker;
    const fibers = stacks.reduce((n, s) => n + s.fibers, 0);
    text($('stacks-note'), `${b.schedulers} scheduler${b.schedulers === 1 ? '' : 's'} on ${b.io_backend} · ${count(fibers)} fibers · default stack ${bytes(b.stack_size)}`);
  }

  // ---- the loop ----

  let lastGood = 0;
  let lastError = '';
  let lastSnapshot = null;

  function setStatus() {
    const el = $('status');
    const age = performance.now() - lastGood;
    const state = lastGood === 0 ? (lastError ? 'down' : '') : age > STALE_MS ? (lastError ? 'down' : 'stale') : 'live';
    el.className = 'status ' + state;
    const label = state === 'live' ? 'live'
      : state === 'stale' ? `no answer for ${Math.round(age / 1000)} s`
      : state === 'down' ? `unreachable${lastError ? ': ' + lastError : ''}` : 'connecting…';
    text(el.querySelector('span'), label);
  }

  function update(snap) {
    const now = keyed(snap);
    // A broker that restarted counts from zero again: start over.
    if (previous && now.uptime < previous.uptime) {
      previous = null;
      history.length = 0;
    }
    const seconds = previous ? (now.uptime - previous.uptime) / 1000 : 0;
    const rates = {
      publishes: perSecond(now.totals, previous && previous.totals, 'messages_in', seconds),
      deliveries: perSecond(now.totals, previous && previous.totals, 'messages_out', seconds),
      slowDrops: perSecond(now.totals, previous && previous.totals, 'slow_consumer_drops', seconds),
    };
    const t = now.uptime / 1000;
    if (seconds > 0 || history.length === 0) {
      history.push({ t, publishes: rates.publishes, deliveries: rates.deliveries,
                     rss: snap.memory ? snap.memory.resident_bytes : undefined });
      while (history.length && t - history[0].t > WINDOW_S + 5) history.shift();
    }
    renderHeader(snap);
    renderTiles(snap, now.totals, rates);
    renderDestinations(snap, seconds);
    renderConnections(snap, seconds);
    renderStacks(snap);
    drawCharts(snap);
    previous = now;
    lastSnapshot = snap;
    text($('footer'), `Reading /stats every second · last answer at ${clock(new Date())}`);
    const seen = window.stampedeDashboard || {};
    window.stampedeDashboard = { ...seen, updates: (seen.updates || 0) + 1, snapshot: snap, rates };
  }

  // ---- the admin credentials ----
  // The page is static and served to anyone; /stats needs credentials when
  // the broker has an admin token (admin.token_file) or admin users
  // (admin.users, HTTP Basic). The token comes from the URL fragment
  // (#token=..., which browsers never send to the server) or from the form,
  // a user and password from the form; the Authorization header made of them
  // lives in this tab's sessionStorage only. Our requests say they are the
  // page's (X-Stampede-Dashboard), so the broker names the schemes it takes
  // in X-Stampede-Auth instead of a Basic challenge, which would make the
  // browser open its own password dialog over this form.
  const AUTH_KEY = 'stampede.admin.authorization';
  let authorization = '';
  try { authorization = sessionStorage.getItem(AUTH_KEY) || ''; } catch (e) { /* storage off: ask each time */ }

  function takeTokenFromFragment() {
    const params = new URLSearchParams(location.hash.slice(1));
    const given = params.get('token');
    if (given === null) return;
    setAuthorization(`Bearer ${given.trim()}`);
    // Out of the address bar and the history, so it is not copied or shared.
    window.history.replaceState(null, '', location.pathname + location.search);
  }
  function setAuthorization(value) {
    authorization = value;
    try { sessionStorage.setItem(AUTH_KEY, authorization); } catch (e) { /* tab memory only */ }
  }
  // HTTP Basic (RFC 7617) with the user and password as UTF-8.
  function basic(user, password) {
    let binary = '';
    new TextEncoder().encode(`${user}:${password}`).forEach((b) => { binary += String.fromCharCode(b); });
    return `Basic ${btoa(binary)}`;
  }
  // Shows the fields for the schemes the broker takes (both if it did not say).
  function askForLogin(refused, schemes, throttled) {
    const takes = (schemes || 'basic, bearer').toLowerCase();
    const wantsBasic = takes.includes('basic');
    const wantsBearer = takes.includes('bearer');
    $('login-basic').classList.toggle('hidden', !wantsBasic);
    $('login-bearer').classList.toggle('hidden', !wantsBearer);
    const what = [wantsBasic && 'an admin user and password (admin.users)',
      wantsBearer && 'the admin token (admin.token_file)'].filter(Boolean).join(' or ');
    text($('login-why'), throttled
      ? 'Too many failed logins from this address: the broker refuses it for a while.'
      : refused
        ? `The broker refused these credentials: enter ${what}.`
        : `This broker's admin endpoint needs ${what}.`);
    $('login').classList.remove('hidden');
    $(wantsBasic ? 'login-user' : 'login-token').focus();
  }
  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const user = $('login-user').value;
    if (!$('login-basic').classList.contains('hidden') && user !== '') {
      setAuthorization(basic(user, $('login-password').value));
    } else {
      setAuthorization(`Bearer ${$('login-token').value.trim()}`);
    }
    for (const id of ['login-user', 'login-password', 'login-token']) $(id).value = '';
    $('login').classList.add('hidden');
    lastError = '';
    poll();
  });

  // Polls until the broker refuses the credentials; then waits for the form
  // (refused credentials are not retried once a second).
  async function poll() {
    try {
      const headers = { 'X-Stampede-Dashboard': '1' };
      if (authorization) headers.Authorization = authorization;
      const res = await fetch('stats?limit=1000', { cache: 'no-store', headers });
      if (res.status === 401 || res.status === 429) {
        lastError = res.status === 429 ? 'too many failed logins' : 'credentials are needed';
        askForLogin(authorization !== '', res.headers.get('X-Stampede-Auth'), res.status === 429);
        setStatus();
        const seen = window.stampedeDashboard || { updates: 0 };
        window.stampedeDashboard = { ...seen, refused: (seen.refused || 0) + 1 };
        return;
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const snap = await res.json();
      lastGood = performance.now();
      lastError = '';
      update(snap);
    } catch (e) {
      lastError = e.message || String(e);
    }
    setStatus();
    setTimeout(poll, POLL_MS);
  }

  takeTokenFromFragment();
  setInterval(setStatus, 1000);
  window.addEventListener('resize', () => lastSnapshot && drawCharts(lastSnapshot));
  poll();
})();
