// The dashboard page (dashboard.h, GET /): one self-contained document, CSS
// and JavaScript inline, no external resources, so it works offline and
// under a Content-Security-Policy of default-src 'none'. The server replaces
// @@INITIAL_STATE@@ with the current state (JSON), so the page shows data at
// once; then it follows /api/events (Server-Sent Events). All data is put in
// the DOM with textContent, never parsed as HTML.

namespace camera {

extern const char kDashboardPage[];
extern const char kDashboardLoginPage[];

// The body of every 401 when the dashboard requires a bearer token: it holds
// nothing the token protects. It asks for the token once per browser tab
// (or takes it from the URL fragment #token=..., which is never sent to the
// server: for bookmarks and headless browsers), keeps it in sessionStorage,
// fetches the page it was refused with the token as a header and replaces
// itself with it. A refused token is forgotten and asked again on reload.
const char kDashboardLoginPage[] = R"PAGE(<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>brook · sign in</title></head>
<body style="font: 14px system-ui, sans-serif; margin: 2em">
<p id="msg">This dashboard requires an access token.</p>
<script>
'use strict';
(function () {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem('brook_token', decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  let token = sessionStorage.getItem('brook_token');
  if (!token) token = window.prompt('Access token for this dashboard (--http_token_file)') || '';
  if (!token) return;
  sessionStorage.setItem('brook_token', token);
  fetch(location.pathname + location.search, { headers: { Authorization: 'Bearer ' + token } })
      .then((r) => {
        if (r.status === 401) {
          sessionStorage.removeItem('brook_token');
          document.getElementById('msg').textContent = 'Wrong access token: reload to try again.';
          return null;
        }
        return r.text();
      })
      .then((html) => { if (html !== null) { document.open(); document.write(html); document.close(); } })
      .catch(() => { document.getElementById('msg').textContent = 'The dashboard cannot be reached.'; });
})();
</script>
</body>
</html>
)PAGE";

const char kDashboardPage[] = R"PAGE(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>brook · camera top-K</title>
<style>
  :root {
    --bg: #f1f5f9; --panel: #ffffff; --ink: #0f172a; --muted: #64748b; --line: #e2e8f0;
    --accent: #2563eb; --ok: #16a34a; --bad: #dc2626; --warn: #d97706;
  }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--ink);
         font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
  header { display: flex; align-items: center; gap: 16px; padding: 12px 24px;
           background: #0f172a; color: #e2e8f0; }
  header .brand { font-weight: 700; font-size: 18px; letter-spacing: .2px; color: #fff; }
  header .brand span { font-weight: 400; color: #94a3b8; margin-left: 6px; }
  header .spacer { flex: 1; }
  .pill { display: inline-block; padding: 3px 10px; border-radius: 999px; font-size: 12px;
          font-weight: 600; background: #334155; color: #e2e8f0; }
  .pill.running { background: #14532d; color: #bbf7d0; }
  .pill.finished { background: #1e3a8a; color: #bfdbfe; }
  .pill.failed { background: #7f1d1d; color: #fecaca; }
  #conn.live { color: #4ade80; } #conn.lost { color: #f87171; }
  #conn { font-size: 13px; font-weight: 600; }
  main { padding: 16px 24px 24px; display: grid; gap: 16px; }
  .health { display: grid; grid-template-columns: repeat(auto-fill, minmax(116px, 1fr)); gap: 10px; }
  .metric { background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
            padding: 10px 12px; }
  .metric .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .4px; }
  .metric .value { font-size: 20px; font-weight: 650; font-variant-numeric: tabular-nums;
                   white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .metric .value.small { font-size: 13px; padding-top: 3px; white-space: normal; }
  .metric .sub { color: var(--muted); font-size: 11px; }
  .metric.warn .value { color: var(--warn); }
  .columns { display: grid; grid-template-columns: 300px 1fr; gap: 16px; align-items: start; }
  .panel { background: var(--panel); border: 1px solid var(--line); border-radius: 12px; padding: 14px 16px; }
  .panel h3 { margin: 0 0 10px; font-size: 13px; text-transform: uppercase; letter-spacing: .5px; color: var(--muted); }
  #search { width: 100%; padding: 8px 10px; border: 1px solid #cbd5e1; border-radius: 8px; font: inherit; }
  #search:focus { outline: 2px solid #bfdbfe; border-color: var(--accent); }
  #matches { color: var(--muted); font-size: 12px; margin: 6px 2px; }
  #loc-list { list-style: none; margin: 0; padding: 0; max-height: 430px; overflow-y: auto; }
  #loc-list li { display: flex; align-items: center; gap: 8px; padding: 6px 8px; border-radius: 8px; cursor: pointer; }
  #loc-list li:hover { background: #f1f5f9; }
  #loc-list li.active { background: #dbeafe; }
  #loc-list .name { flex: 1; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  #loc-list .badge { font-size: 12px; color: var(--muted); font-variant-numeric: tabular-nums; }
  .detail-head { display: flex; align-items: baseline; gap: 10px; flex-wrap: wrap; }
  .detail-head h2 { margin: 0; font-size: 20px; }
  .muted { color: var(--muted); }
  #loc-window { margin: 2px 0 12px; }
  .detail-body { display: grid; grid-template-columns: minmax(260px, 360px) 1fr; gap: 20px; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); }
  th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .4px; }
  .num { text-align: right; }
  td.rank { color: var(--muted); width: 3em; }
  .chart { display: grid; gap: 7px; align-content: start; }
  .bar-row { display: grid; grid-template-columns: 135px 1fr 70px; gap: 8px; align-items: center; }
  .bar-label { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .bar-track { background: #eef2f7; border-radius: 5px; height: 18px; overflow: hidden; }
  .bar { height: 100%; border-radius: 5px; background: linear-gradient(90deg, #3b82f6, #6366f1);
         transition: width .4s ease; min-width: 2px; }
  .bar-value { text-align: right; font-variant-numeric: tabular-nums; color: #334155; }
  .empty { color: var(--muted); padding: 24px 0; }
  .grid { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px; }
  .card { border: 1px solid var(--line); border-radius: 10px; padding: 10px 12px; cursor: pointer; background: #fbfdff; }
  .card:hover { border-color: #93c5fd; }
  .card.active { border-color: var(--accent); box-shadow: 0 0 0 1px var(--accent) inset; }
  .card h4 { margin: 0; font-size: 14px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .card .sub { color: var(--muted); font-size: 12px; margin-bottom: 6px; }
  .mini { display: grid; grid-template-columns: 80px 1fr 46px; gap: 6px; align-items: center; font-size: 12px; margin-top: 3px; }
  .mini .bar-track { height: 10px; }
  .history { margin-top: 14px; }
  .history h3 { margin: 0 0 6px; }
  .history-chart { display: block; max-width: 640px; }
  .legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; margin-top: 4px; }
  .legend-item { border-left: 10px solid; padding-left: 5px; }
  footer { padding: 0 24px 18px; color: var(--muted); font-size: 12px; display: flex; gap: 16px; flex-wrap: wrap; }
  @media (max-width: 1100px) { .grid { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
  @media (max-width: 900px) { .columns, .detail-body { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header>
  <div class="brand">brook<span>camera top-K · live</span></div>
  <span id="job" class="muted">camera job</span>
  <span id="state" class="pill">waiting</span>
  <span id="window-mode" class="muted"></span>
  <div class="spacer"></div>
  <span id="conn" class="live" aria-live="polite">● connecting…</span>
</header>
<main>
  <section class="health" id="health" aria-label="pipeline health">
    <div class="metric"><div class="label">Events / s</div><div class="value" id="h-eps">–</div></div>
    <div class="metric"><div class="label">Records read</div><div class="value" id="h-read">–</div></div>
    <div class="metric"><div class="label">Accepted</div><div class="value" id="h-accepted">–</div></div>
    <div class="metric"><div class="label">Duplicates</div><div class="value" id="h-duplicates">–</div></div>
    <div class="metric"><div class="label">Late</div><div class="value" id="h-late">–</div></div>
    <div class="metric"><div class="label">Malformed</div><div class="value" id="h-malformed">–</div></div>
    <div class="metric"><div class="label">Unknown location</div><div class="value" id="h-unknown">–</div></div>
    <div class="metric"><div class="label">Watermark</div><div class="value small" id="h-watermark">–</div></div>
    <div class="metric" id="m-lag"><div class="label">Watermark lag</div><div class="value" id="h-lag">–</div></div>
    <div class="metric"><div class="label">Last checkpoint</div><div class="value" id="h-checkpoint">–</div><div class="sub" id="h-checkpoint-sub"></div></div>
  </section>
  <div class="columns">
    <section class="panel" id="picker" aria-label="locations">
      <h3>Locations</h3>
      <input id="search" type="search" placeholder="Search name or id…" autocomplete="off" aria-label="search locations">
      <div id="matches"></div>
      <ul id="loc-list"></ul>
    </section>
    <section class="panel" id="detail" data-oid="">
      <div class="detail-head"><h2 id="loc-name">No results yet</h2><span id="loc-oid" class="muted"></span></div>
      <div id="loc-window" class="muted"></div>
      <div class="detail-body">
        <table id="topk" aria-label="top items">
          <thead><tr><th class="num">Rank</th><th>Item</th><th class="num">Count</th></tr></thead>
          <tbody id="topk-rows"></tbody>
        </table>
        <div id="chart" class="chart" role="img" aria-label="bar chart of the top items"></div>
      </div>
      <div class="history">
        <h3>Top items over the last windows</h3>
        <div id="history" role="img" aria-label="counts of the top items over the last windows"></div>
        <template id="svg-root"><svg class="history-chart"></svg></template>
      </div>
    </section>
  </div>
  <section class="panel" aria-label="busiest locations">
    <h3>Busiest locations</h3>
    <div id="busiest" class="grid"></div>
  </section>
</main>
<footer><span id="live-source"></span><span id="updated"></span><span>brook · JSON: /api/topk, /api/history, /api/health · metrics: /metrics</span></footer>
<script id="initial-state" type="application/json">@@INITIAL_STATE@@</script>
<script>
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  // With a bearer token (docs/operations.md, "Securing the endpoint") the
  // login page (kDashboardLoginPage) kept it in sessionStorage: every fetch
  // sends it as a header, the event stream (EventSource cannot set headers)
  // as ?access_token=, which the server accepts for event streams only.
  const token = sessionStorage.getItem('brook_token');
  const api = (url) => fetch(url, token ? { headers: { Authorization: 'Bearer ' + token } } : {});
  const fmtInt = (n) => (n === null || n === undefined) ? '–' : Number(n).toLocaleString('en-US');
  function fmtDuration(ms) {
    if (ms === null || ms === undefined) return '–';
    const a = Math.abs(ms);
    if (a < 1000) return ms + ' ms';
    const s = ms / 1000;
    if (a < 120e3) return s.toFixed(1) + ' s';
    if (a < 7200e3) return (s / 60).toFixed(1) + ' min';
    if (a < 172800e3) return (s / 3600).toFixed(1) + ' h';
    if (a < 63072000e3) return (s / 86400).toFixed(1) + ' d';
    return (s / 31557600).toFixed(1) + ' y';
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function locName(loc) { return loc.name ? loc.name : '(unknown location ' + loc.oid + ')'; }

  let selected = null;
  let es = null;
  let lastMessage = Date.now();
  let reconnectTimer = null;

  function setConnected(ok) {
    const c = $('conn');
    c.className = ok ? 'live' : 'lost';
    c.textContent = ok ? '● live' : '● connection lost – reconnecting…';
  }
  function setState(state) {
    const s = $('state');
    s.textContent = state || 'waiting';
    s.className = 'pill ' + (state || '');
  }
  function renderHealth(h) {
    if (!h) return;
    $('h-eps').textContent = h.state === 'running' ? fmtInt(Math.round(h.events_per_second)) : '0';
    $('h-read').textContent = fmtInt(h.records_read);
    $('h-accepted').textContent = fmtInt(h.accepted);
    $('h-duplicates').textContent = fmtInt(h.duplicates);
    $('h-late').textContent = fmtInt(h.late);
    $('h-malformed').textContent = fmtInt(h.malformed);
    $('h-unknown').textContent = fmtInt(h.unknown_location);
    $('h-watermark').textContent = h.watermark_ms === null ? h.watermark
        : new Date(h.watermark_ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
    $('h-lag').textContent = fmtDuration(h.watermark_lag_ms);
    $('m-lag').className = 'metric' + (h.watermark_lag_ms > 60000 ? ' warn' : '');
    $('h-checkpoint').textContent = h.last_checkpoint === null ? 'none' : h.last_checkpoint;
    $('h-checkpoint-sub').textContent = h.last_checkpoint === null ? 'checkpoints ' + h.checkpoints : h.checkpoints;
    $('live-source').textContent = h.live_source ? 'live view: ' + h.live_source : '';
  }
  function bars(container, items, rowClass) {
    const max = items.reduce((m, it) => Math.max(m, it.count), 1);
    for (const it of items) {
      const row = el('div', rowClass);
      row.appendChild(el('span', 'bar-label', it.item));
      const track = el('div', 'bar-track');
      const bar = el('div', 'bar');
      bar.style.width = (100 * it.count / max).toFixed(1) + '%';
      track.appendChild(bar);
      row.appendChild(track);
      row.appendChild(el('span', 'bar-value', fmtInt(it.count)));
      container.appendChild(row);
    }
  }
  function renderDetail(loc) {
    const d = $('detail');
    const rows = $('topk-rows');
    const chart = $('chart');
    rows.replaceChildren();
    chart.replaceChildren();
    if (!loc) {
      d.dataset.oid = '';
      $('loc-name').textContent = 'No results yet';
      $('loc-oid').textContent = '';
      $('loc-window').textContent = '';
      chart.appendChild(el('div', 'empty', 'Waiting for the first results…'));
      return;
    }
    d.dataset.oid = String(loc.oid);
    loadHistory(loc.oid);
    $('loc-name').textContent = locName(loc);
    $('loc-oid').textContent = 'location ' + loc.oid + ' · top ' + loc.items.length;
    $('loc-window').textContent = loc.window ? 'Window: ' + loc.window.label : 'No detections yet';
    for (const it of loc.items) {
      const tr = el('tr');
      tr.dataset.rank = String(it.rank);
      tr.appendChild(el('td', 'rank num', it.rank));
      tr.appendChild(el('td', 'item', it.item));
      tr.appendChild(el('td', 'count num', fmtInt(it.count)));
      rows.appendChild(tr);
    }
    if (loc.items.length === 0) chart.appendChild(el('div', 'empty', 'No detections yet'));
    bars(chart, loc.items, 'bar-row');
    for (const li of $('loc-list').children) li.classList.toggle('active', li.dataset.oid === String(loc.oid));
  }
  // The history chart: the newest window's top items (up to 5), each a line
  // of its count over the last windows (/api/history); a gap where an item
  // was not in a window's top X. Inline SVG, no library.
  // The root comes from a <template>, which the HTML parser puts in the SVG
  // namespace; children are created in the same namespace.
  const svgRoot = () => $('svg-root').content.firstElementChild.cloneNode(false);
  const SVG_NS = svgRoot().namespaceURI;
  const COLORS = ['#3b82f6', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6'];
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  const fmtTime = (ms) => new Date(ms).toISOString().substring(11, 19);
  function renderHistory(h) {
    const box = $('history');
    box.replaceChildren();
    const ws = (h && h.windows) || [];
    box.dataset.windows = String(ws.length);
    if (ws.length === 0) {
      box.appendChild(el('div', 'empty', 'No windows yet (the global window has no history)'));
      return;
    }
    const names = ws[ws.length - 1].items.slice(0, COLORS.length).map((it) => it.item);
    let max = 1;
    for (const w of ws) for (const it of w.items) if (names.includes(it.item)) max = Math.max(max, it.count);
    const W = 560, H = 170, L = 44, R = 10, T = 10, B = 22;
    const x = (i) => L + (ws.length === 1 ? (W - L - R) / 2 : i * (W - L - R) / (ws.length - 1));
    const y = (c) => T + (H - T - B) * (1 - c / max);
    const chart = svgRoot();
    chart.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    chart.appendChild(svg('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#cbd5e1' }));
    chart.appendChild(svg('line', { x1: L, y1: T, x2: L, y2: H - B, stroke: '#cbd5e1' }));
    const label = { 'font-size': 10, fill: '#64748b' };
    chart.appendChild(svg('text', Object.assign({ x: L - 4, y: T + 8, 'text-anchor': 'end' }, label), fmtInt(max)));
    chart.appendChild(svg('text', Object.assign({ x: L - 4, y: H - B, 'text-anchor': 'end' }, label), '0'));
    chart.appendChild(svg('text', Object.assign({ x: L, y: H - 6 }, label), fmtTime(ws[0].end_ms)));
    chart.appendChild(svg('text', Object.assign({ x: W - R, y: H - 6, 'text-anchor': 'end' }, label),
                          fmtTime(ws[ws.length - 1].end_ms) + (ws[ws.length - 1].current ? ' (current)' : '')));
    names.forEach((name, k) => {
      let d = '';
      let drawing = false;
      ws.forEach((w, i) => {
        const it = w.items.find((t) => t.item === name);
        if (!it) { drawing = false; return; }
        d += (drawing ? ' L' : ' M') + x(i).toFixed(1) + ' ' + y(it.count).toFixed(1);
        drawing = true;
        const dot = svg('circle', { cx: x(i).toFixed(1), cy: y(it.count).toFixed(1), r: 2.5, fill: COLORS[k] });
        dot.appendChild(svg('title', {}, name + ': ' + fmtInt(it.count) + ' (window ending ' + fmtTime(w.end_ms) + ')'));
        chart.appendChild(dot);
      });
      const path = svg('path', { d: d.trim(), fill: 'none', stroke: COLORS[k], 'stroke-width': 2, 'data-item': name });
      chart.appendChild(path);
    });
    box.appendChild(chart);
    const legend = el('div', 'legend');
    names.forEach((name, k) => {
      const item = el('span', 'legend-item', name);
      item.style.borderColor = COLORS[k];
      legend.appendChild(item);
    });
    box.appendChild(legend);
  }
  let historyOid = null;
  let historyAt = 0;
  // At most once a second per location; at once when the location changes.
  function loadHistory(oid) {
    const now = Date.now();
    if (oid === historyOid && now - historyAt < 1000) return;
    historyOid = oid;
    historyAt = now;
    api('/api/history?location=' + encodeURIComponent(oid))
        .then((r) => r.ok ? r.json() : null)
        .then((h) => { if (h && String(h.oid) === $('detail').dataset.oid) renderHistory(h); })
        .catch(() => {});
  }
  function renderBusiest(list) {
    const g = $('busiest');
    g.replaceChildren();
    if (!list || list.length === 0) { g.appendChild(el('div', 'empty', 'No results yet')); return; }
    for (const loc of list) {
      const card = el('div', 'card' + (loc.oid === selected ? ' active' : ''));
      card.dataset.oid = String(loc.oid);
      card.appendChild(el('h4', 'loc-name', locName(loc)));
      card.appendChild(el('div', 'sub', 'location ' + loc.oid + ' · ' + fmtInt(loc.total) + ' in top ' + loc.items.length));
      bars(card, loc.items.slice(0, 5), 'mini');
      card.addEventListener('click', () => select(loc.oid));
      g.appendChild(card);
    }
  }
  function renderList(data) {
    if (!data) return;
    const ul = $('loc-list');
    ul.replaceChildren();
    $('matches').textContent = fmtInt(data.matches) + (data.matches === 1 ? ' location' : ' locations') +
        (data.query ? ' match' + (data.matches === 1 ? 'es' : '') : '');
    for (const loc of data.locations) {
      const li = el('li', loc.oid === selected ? 'active' : '');
      li.dataset.oid = String(loc.oid);
      li.title = loc.top_item ? 'top item: ' + loc.top_item + ' (' + loc.top_count + ')' : 'no detections yet';
      li.appendChild(el('span', 'name', locName(loc)));
      li.appendChild(el('span', 'badge', fmtInt(loc.total)));
      li.addEventListener('click', () => select(loc.oid));
      ul.appendChild(li);
    }
  }
  function render(u) {
    $('job').textContent = u.job || 'camera job';
    setState(u.state);
    if (u.window) $('window-mode').textContent = u.window.description;
    renderHealth(u.health);
    if (u.selected) selected = u.selected.oid;
    renderDetail(u.selected);
    renderBusiest(u.busiest);
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString('en-GB', { hour12: false });
  }

  function connect() {
    if (reconnectTimer !== null) { clearTimeout(reconnectTimer); reconnectTimer = null; }
    if (es) es.close();
    lastMessage = Date.now();
    const params = [];
    if (selected !== null) params.push('location=' + encodeURIComponent(selected));
    if (token) params.push('access_token=' + encodeURIComponent(token));
    es = new EventSource('/api/events' + (params.length ? '?' + params.join('&') : ''));
    es.onopen = () => setConnected(true);
    es.addEventListener('update', (e) => {
      lastMessage = Date.now();
      setConnected(true);
      try { render(JSON.parse(e.data)); } catch (err) { /* keep the last good state */ }
    });
    es.onerror = () => {
      setConnected(false);
      // EventSource retries by itself unless the server answered with an error.
      if (es.readyState === EventSource.CLOSED && reconnectTimer === null) {
        reconnectTimer = setTimeout(connect, 2000);
      }
    };
  }
  // The server sends at least one update a second: silence means a dead link.
  setInterval(() => {
    if (Date.now() - lastMessage > 5000) { setConnected(false); connect(); }
  }, 1000);

  function select(oid) {
    selected = oid;
    try { history.replaceState(null, '', '?location=' + encodeURIComponent(oid)); } catch (e) {}
    api('/api/topk?location=' + encodeURIComponent(oid))
        .then((r) => r.ok ? r.json() : null)
        .then((j) => { if (j && j.locations && j.locations[0]) renderDetail(j.locations[0]); })
        .catch(() => {});
    connect();
  }

  let searchTimer = null;
  function loadList() {
    const q = $('search').value.trim();
    api('/api/locations?limit=50&q=' + encodeURIComponent(q))
        .then((r) => r.ok ? r.json() : null)
        .then(renderList)
        .catch(() => {});
  }
  $('search').addEventListener('input', () => {
    if (searchTimer !== null) clearTimeout(searchTimer);
    searchTimer = setTimeout(loadList, 200);
  });
  setInterval(loadList, 2000);

  const initial = JSON.parse($('initial-state').textContent);
  if (initial.selected) selected = initial.selected.oid;
  render(initial);
  renderList(initial.list);
  connect();
})();
</script>
</body>
</html>
)PAGE";

}  // namespace camera
