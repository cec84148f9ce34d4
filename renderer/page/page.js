// The live membership page: plain browser JavaScript, no build step. It reads `status` (the
// renderer's /status) and follows `events` (server-sent events); every value from a record is
// set as text, never as HTML. Only one page of rows is in the DOM, so 10,000 nodes stay fast.
'use strict';

const PAGE_ROWS = 100;
const FEED_MAX = 500;
/** A burst of events costs one /status: the renderer shares one answer a second anyway. */
const REFRESH_DEBOUNCE_MS = 300;
/** Sessions and HAProxy's own states change without events. */
const REFRESH_EVERY_MS = 5000;

// `/leasehold/` through HAProxy, `/ui/` on the renderer: both relative to the page.
const base = location.pathname.endsWith('/') ? location.pathname : `${location.pathname}/`;
const $ = (id) => document.getElementById(id);

let rows = [];
let page = 0;
let refreshTimer;
let refreshing = false;
let again = false;

function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (className) e.className = className;
  return e;
}

function cells(tr, values) {
  for (const v of values) {
    if (v instanceof Node) {
      const td = el('td');
      td.append(v);
      tr.append(td);
    } else if (typeof v === 'number') tr.append(el('td', v, 'num'));
    else tr.append(el('td', v ?? ''));
  }
  return tr;
}

function age(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (!Number.isFinite(s)) return '';
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** One row per slot, with a lowercase key the filter searches. */
function flatten(backends) {
  const out = [];
  for (const [service, slots] of Object.entries(backends ?? {})) {
    for (const v of slots) {
      const h = v.haproxy;
      const op = v.operator ? [v.operator.drained ? 'drained' : '', v.operator.weight !== undefined ? `weight ${v.operator.weight}` : ''].filter(Boolean).join(', ') : '';
      const row = { service, ...v, op, hstatus: h ? h.status : '', sessions: h ? h.sessions : undefined };
      // The renderer's weight against HAProxy's: shown when they differ (drift not yet repaired).
      row.differs = !!(h && v.state !== 'free' && v.weight !== undefined && h.weight !== v.weight);
      row.key = [service, v.node, v.address, v.port, v.slot, v.state, row.hstatus, op].join(' ').toLowerCase();
      out.push(row);
    }
  }
  return out;
}

function renderSummary(s) {
  const parts = [`etcd ${s.etcd}`, `HAProxy ${s.haproxy}${s.haproxyVersion ? ` ${s.haproxyVersion}` : ''}`, `${s.nodes} nodes`, `${s.records} records`, s.converged ? 'converged' : 'NOT converged', `${s.driftRepaired} drift repaired`, `reloads ${Object.values(s.reloads ?? {}).reduce((a, b) => a + b, 0)}`];
  if (s.revision) parts.push(`revision ${s.revision}`);
  $('summary').textContent = parts.join(' · ');
}

function renderServices(s) {
  const by = new Map();
  for (const r of rows) {
    const x = by.get(r.service) ?? { nodes: 0, ready: 0, drain: 0, leaving: 0, up: 0, sessions: 0 };
    if (r.state !== 'free') x.nodes++;
    if (r.state in x) x[r.state]++;
    if (r.state !== 'free' && /^UP/.test(r.hstatus)) x.up++;
    x.sessions += r.sessions ?? 0;
    by.set(r.service, x);
  }
  const total = new Map((s.slots ?? []).map((p) => [p.service, `${p.used} / ${p.total}`]));
  const tbody = document.createElement('tbody');
  for (const [service, x] of [...by].sort((a, b) => a[0].localeCompare(b[0]))) {
    const a = el('a', service, 'svc');
    a.addEventListener('click', () => {
      $('service').value = service;
      page = 0;
      renderNodes();
    });
    cells(tbody.appendChild(el('tr')), [a, x.nodes, x.ready, x.drain, x.leaving, x.up, x.sessions, total.get(service) ?? '']);
  }
  $('services').tBodies[0].replaceWith(tbody);
  const select = $('service');
  const chosen = select.value;
  select.replaceChildren(el('option', 'every service'), ...[...by.keys()].sort().map((n) => el('option', n)));
  select.options[0].value = '';
  select.value = by.has(chosen) ? chosen : '';
}

function visible() {
  const words = $('search').value.toLowerCase().split(/\s+/).filter(Boolean);
  const service = $('service').value;
  const free = $('free').checked;
  return rows.filter((r) => (free || r.state !== 'free') && (!service || r.service === service) && words.every((w) => r.key.includes(w)));
}

function renderNodes() {
  const list = visible();
  const pages = Math.max(1, Math.ceil(list.length / PAGE_ROWS));
  page = Math.min(page, pages - 1);
  const tbody = document.createElement('tbody');
  for (const r of list.slice(page * PAGE_ROWS, (page + 1) * PAGE_ROWS)) {
    const tr = el('tr');
    tr.dataset.node = `${r.service}/${r.node ?? ''}`;
    if (r.differs) tr.className = 'differs';
    const since = el('span', r.since ? age(r.since) : '');
    if (r.since) since.title = r.since;
    const hweight = r.differs ? `${r.weight} (HAProxy ${r.haproxy.weight})` : r.weight;
    cells(tr, [r.service, r.node ?? '', r.address ? `${r.address}:${r.port}` : '', r.slot, el('span', r.state, `s-${r.state}`), el('span', r.hstatus, `h-${r.hstatus.toLowerCase().split(' ')[0]}`), hweight, r.op, r.sessions, since]);
    tbody.append(tr);
  }
  $('nodes').tBodies[0].replaceWith(tbody);
  $('pageinfo').textContent = `${list.length ? page * PAGE_ROWS + 1 : 0}–${Math.min(list.length, (page + 1) * PAGE_ROWS)} of ${list.length} (page ${page + 1} of ${pages})`;
  $('prev').disabled = page === 0;
  $('next').disabled = page >= pages - 1;
}

function renderAside(s) {
  const notes = [];
  if (s.heldUntil) notes.push(`a suspicious list is held until ${s.heldUntil}`);
  if (s.failStaticHeld) notes.push(`${s.failStaticHeld} held by fail static`);
  if (s.quarantined) notes.push(`${s.quarantined} quarantined`);
  if (s.duplicates) notes.push(`${s.duplicates} waiting: another node has their address and port`);
  if (s.pending) notes.push(`${s.pending} waiting for a pool to grow`);
  for (const [service, n] of Object.entries(s.overCap ?? {})) notes.push(`${service}: ${n} over MAX_NODES_PER_SERVICE`);
  if (s.lastError) notes.push(`last error: ${s.lastError}`);
  $('aside-summary').textContent = notes.length ? notes.join(' · ') : 'none';
  const tbody = document.createElement('tbody');
  for (const a of s.setAside ?? []) cells(tbody.appendChild(el('tr')), [a.kind, a.service, a.id, `${a.address}:${a.port}`, a.why, a.until ?? '']);
  $('aside').tBodies[0].replaceWith(tbody);
  $('aside').hidden = !tbody.rows.length;
}

/** Each LB's view (`lbs`: the cluster's LBs, asked over their peer endpoint); none with one LB. */
let lbsServed = true;

async function refreshLbs() {
  const res = await fetch(`${base}lbs`, { cache: 'no-store' });
  if (res.status === 404) return void (lbsServed = false);
  if (!res.ok) throw new Error(`lbs ${res.status}`);
  const v = await res.json();
  $('lbs-sec').hidden = false;
  const tbody = document.createElement('tbody');
  for (const r of v.renderers) cells(tbody.appendChild(el('tr')), [r.lb, r.url, r.reachable ? 'yes' : `no: ${r.error ?? ''}`, r.etcd ?? '', r.converged === undefined ? '' : r.converged ? 'yes' : 'NO', r.haproxyVersion ?? '']);
  $('lbs').tBodies[0].replaceWith(tbody);
  const lbs = v.renderers.filter((r) => r.reachable).map((r) => r.lb);
  $('lbs-summary').textContent = v.agree ? `${lbs.join(', ')} agree: every node placed alike (slot names may differ)` : `${lbs.join(', ')} differ on ${v.differ} node(s)${v.differ > v.nodes.length ? `, the first ${v.nodes.length} below` : ''}`;
  $('differ').tHead.rows[0].replaceChildren(...['service', 'node', 'address', ...lbs].map((h) => el('th', h)));
  const rows = document.createElement('tbody');
  for (const n of v.nodes) {
    const tr = el('tr', undefined, 'differs');
    tr.dataset.node = `${n.service}/${n.id}`;
    cells(tr, [n.service, n.id, n.address ? `${n.address}:${n.port}` : '', ...n.lbs.map((x) => (x.slot ? `${x.slot} ${x.state} ${x.haproxy ?? ''} → ${x.target ?? ''}` : 'not placed'))]);
    rows.append(tr);
  }
  $('differ').tBodies[0].replaceWith(rows);
  $('differ').hidden = $('differ-title').hidden = !v.nodes.length;
}

async function refresh() {
  if (refreshing) return void (again = true);
  refreshing = true;
  try {
    const res = await fetch(`${base}status`, { cache: 'no-store' });
    if (!res.ok) throw new Error(`status ${res.status}`);
    const s = await res.json();
    rows = flatten(s.backends);
    renderSummary(s);
    renderServices(s);
    renderNodes();
    renderAside(s);
    if (lbsServed) await refreshLbs().catch((err) => ($('lbs-summary').textContent = `cannot read the other LBs: ${err.message}`));
    // When the first table was on screen, ms since navigation (the tests read it).
    document.body.dataset.loadedMs ??= String(Math.round(performance.now()));
    document.body.dataset.loaded = 'true';
  } catch (err) {
    $('summary').textContent = `cannot read status: ${err.message}`;
  } finally {
    refreshing = false;
    if (again) {
      again = false;
      soon();
    }
  }
}

function soon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, REFRESH_DEBOUNCE_MS);
}

/** One line of the feed: what happened, in words, and a class naming it. */
function describe(e) {
  switch (e.event) {
    case 'node':
      return [e.change, `${e.change} ${e.service}/${e.id} ${e.address}:${e.port} slot ${e.slot} (${e.state}, weight ${e.weight})`];
    case 'operator':
      return [e.change, `operator: ${e.service}/${e.id} ${e.change}${e.weight !== undefined ? ` ${e.weight}` : ''}`];
    case 'drift':
      return ['drift', `drift repaired: ${e.backend}/${e.server}${e.node ? ` (${e.node})` : ''} differed in ${(e.fields ?? []).join(', ')}`];
    case 'reload':
      return ['reload', `reload (${e.cause}): worker ${e.workerPid}, ${e.slots} slots, ${e.durationMs} ms`];
    default:
      return [String(e.event), JSON.stringify(e)];
  }
}

function onEvent(msg) {
  let e;
  try {
    e = JSON.parse(msg.data);
  } catch {
    return;
  }
  const [kind, text] = describe(e);
  const time = typeof e.time === 'string' ? e.time.slice(11, 23) : '';
  const li = el('li', `${time} ${text}`, kind);
  li.dataset.event = e.event;
  const feed = $('feed');
  feed.prepend(li);
  while (feed.childElementCount > FEED_MAX) feed.lastElementChild.remove();
  soon();
}

function follow() {
  const source = new EventSource(`${base}events`);
  source.onmessage = onEvent;
  source.onopen = () => {
    $('conn').textContent = 'feed: live';
    $('conn').className = 'on';
    document.body.dataset.feed = 'open';
    // Whatever happened while it was away.
    soon();
  };
  // The browser reconnects by itself (the stream's `retry`).
  source.onerror = () => {
    $('conn').textContent = 'feed: reconnecting';
    $('conn').className = 'off';
  };
}

$('search').addEventListener('input', () => {
  page = 0;
  renderNodes();
});
$('service').addEventListener('change', () => {
  page = 0;
  renderNodes();
});
$('free').addEventListener('change', renderNodes);
$('prev').addEventListener('click', () => {
  page--;
  renderNodes();
});
$('next').addEventListener('click', () => {
  page++;
  renderNodes();
});

refresh();
follow();
setInterval(refresh, REFRESH_EVERY_MS);
