// The explorer at / (web/index.html): the live tip, a block list that grows
// as blocks land, the throughput chart and the stream-health panel, plus
// hash routes for one block, transaction, account or contract (pages.js).
//
// Where the live data comes from, without signing in: the public WebSocket
// stream valid_transactions (docs/API.md §4) sends one frame per committed
// transaction with its block height; a height the page has not seen is
// fetched once from GET /api/v1/blocks/{height}. Blocks are only made while
// transactions are pending (§2.5), so every new block has a frame. On every
// (re)connect the page reloads the newest blocks over REST, so a gap while
// disconnected closes by itself. A signed-in visitor (the session cookie
// the messenger sets) also gets /api/stream, whose block events arrive
// directly and whose events feed the events/s line.
//
// For tests and the curious: window.explorer holds the page's state.

import { $, el, add, clear, short, ageEl, tickAges, api, currentUser, LiveSocket, showState, sessionHint }
  from '/common.js';
import { RateChart } from '/chart.js';
import { blockPage, txPage, accountPage, contractPage, notFound, blockRow } from '/pages.js';

const KEEP_BLOCKS = 50;      // blocks kept and listed on the home page
const FIRST_PAGE = 20;       // blocks loaded on (re)connect
const METRICS_MS = 5000;     // the health panel's refresh while it is shown

const blocks = new Map();    // height -> block (the newest KEEP_BLOCKS)
const recentTxs = [];        // the newest valid_transactions frames
const chart = new RateChart([
  { key: 'tx', label: 'transactions/s', cssVar: '--tx-color' },
  { key: 'ev', label: 'events/s', cssVar: '--ev-color' },
]);

const explorer = (window.explorer = {
  tip: null, conn: 'connecting', sse: 'off', user: null, page: null,
  heights: () => [...blocks.keys()].sort((a, b) => b - a),
});

let page = null;             // the current page's hooks: {onBlock, onTx, dispose}
let sse = null;
const fetching = new Set();  // heights being fetched

// ---- live data -----------------------------------------------------------------

function addBlock(b, live) {
  if (!b || !Number.isSafeInteger(b.height) || b.height < 0 || blocks.has(b.height)) return;
  blocks.set(b.height, b);
  for (const h of [...blocks.keys()].sort((x, y) => x - y)) {
    if (blocks.size <= KEEP_BLOCKS) break;
    blocks.delete(h);
  }
  if (live && explorer.sse !== 'open') chart.count('ev'); // a block event the stream would send
  if (explorer.tip === null || b.height > explorer.tip.height) setTip(b);
  if (page && page.onBlock) page.onBlock(b, live);
}

function setTip(b) {
  explorer.tip = b;
  const tip = $('tip');
  tip.textContent = '#' + b.height;
  tip.href = '#/block/' + b.height;
  clear($('tip-age')).append(' · ', ageEl(b.timestamp), ' · ' + b.tx_count + ' tx');
}

// A height seen in the stream: fetch it, and any the page missed below it.
async function noteHeight(h) {
  const from = explorer.tip ? Math.max(explorer.tip.height + 1, h - FIRST_PAGE + 1) : h;
  for (let x = from; x <= h; x++) {
    if (blocks.has(x) || fetching.has(x)) continue;
    fetching.add(x);
    try {
      addBlock(await api('/api/v1/blocks/' + x), true);
    } catch (_) {
      /* the next frame or reconnect tries again */
    } finally {
      fetching.delete(x);
    }
  }
}

// The newest blocks below `before` (or from the tip), newest first:
// GET /api/v1/blocks?limit=N[&before=H] → {blocks, next_before}.
export function loadBlocks(before, limit = FIRST_PAGE) {
  return api('/api/v1/blocks?limit=' + limit + (before !== undefined ? '&before=' + before : ''));
}

async function catchUp() {
  try {
    const { blocks: list } = await loadBlocks();
    for (const b of list.slice().reverse()) addBlock(b, false);
  } catch (_) {
    /* unreachable: the socket's reconnect calls again */
  }
}

function onFrame(f) {
  if (!Number.isSafeInteger(f.block_height) || f.block_height < 0) return;
  chart.count('tx');
  if (explorer.sse !== 'open') chart.count('ev');
  recentTxs.unshift(f);
  if (recentTxs.length > 20) recentTxs.pop();
  if (page && page.onTx) page.onTx(f);
  if (!blocks.has(f.block_height)) noteHeight(f.block_height);
}

function setConn(state) {
  explorer.conn = state;
  const text = { open: 'live', connecting: 'connecting…', closed: 'reconnecting…' }[state] || state;
  showState($('conn'), state === 'open' ? 'open' : state === 'connecting' ? 'connecting' : 'closed',
    text + (explorer.sse === 'open' ? ' · events' : ''));
}

function openEvents() {
  if (sse) sse.close();
  sse = new EventSource('/api/stream');
  sse.addEventListener('open', () => {
    explorer.sse = 'open';
    setConn(explorer.conn);
  });
  sse.addEventListener('message', (e) => {
    let ev;
    try { ev = JSON.parse(e.data); } catch (_) { return; }
    chart.count('ev');
    if (ev.type === 'block') addBlock(ev.block, true);
  });
  sse.addEventListener('error', () => {
    explorer.sse = sse.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting';
    setConn(explorer.conn);
    if (sse.readyState === EventSource.CLOSED) sessionHint.clear(); // a 401: signed out
  });
}

// ---- the home page -----------------------------------------------------------

function homePage(view) {
  const tbody = el('tbody');
  const older = el('button', { type: 'button', id: 'older' }, 'Older blocks');
  const canvas = el('canvas', { id: 'chart', role: 'img',
    'aria-label': 'Transactions and events per second over the last minute' });
  const legend = el('ul', { class: 'legend' },
    el('li', { dataset: { series: 'tx' } }, el('span', { class: 'swatch tx' }), 'transactions ',
      el('output', {}, '0/s')),
    el('li', { dataset: { series: 'ev' } }, el('span', { class: 'swatch ev' }), 'events ',
      el('output', {}, '0/s')));
  const health = el('div', { id: 'health' }, el('p', { class: 'muted' }, 'Reading /metrics…'));
  const txList = el('ul', { id: 'recent-txs', class: 'plain' });

  add(view, el('div', { class: 'home' },
    el('section', { class: 'panel blocks', 'aria-labelledby': 'h-blocks' },
      el('h1', { id: 'h-blocks' }, 'Latest blocks'),
      el('div', { class: 'scroll' },
        el('table', { id: 'blocks' },
          el('caption', { class: 'visually-hidden' }, 'Newest blocks first; new blocks appear at the top'),
          el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Height'),
            el('th', { scope: 'col' }, 'Age'), el('th', { scope: 'col', class: 'num' }, 'Txs'),
            el('th', { scope: 'col' }, 'Miner'))),
          tbody)),
      older),
    el('div', { class: 'side' },
      el('section', { class: 'panel', 'aria-labelledby': 'h-chart' },
        el('h2', { id: 'h-chart' }, 'Throughput'), canvas, legend),
      el('section', { class: 'panel', 'aria-labelledby': 'h-health' },
        el('h2', { id: 'h-health' }, 'Stream health'), health),
      el('section', { class: 'panel', 'aria-labelledby': 'h-txs' },
        el('h2', { id: 'h-txs' }, 'Latest transactions'), txList))));
  chart.attach(canvas, legend);

  // The list holds the newest KEEP_BLOCKS rows plus as many as the user paged
  // in with "Older blocks"; a new block at the top pushes the lowest row out
  // (not while a page of older blocks is on its way, so no gap opens).
  let lowest = null;         // the lowest height listed
  let paged = 0;             // rows the user paged in
  let paging = false;
  const trim = () => {
    while (tbody.children.length > KEEP_BLOCKS + paged) tbody.lastElementChild.remove();
    const last = tbody.lastElementChild;
    lowest = last ? Number(last.dataset.height) : null;
    older.hidden = lowest === 0; // genesis is listed: nothing is older
  };
  const show = (b, fresh) => {
    if (!b || !Number.isSafeInteger(b.height)) return false;
    const rows = [...tbody.children];
    if (rows.some((r) => Number(r.dataset.height) === b.height)) return false;
    const after = rows.find((r) => Number(r.dataset.height) < b.height);
    tbody.insertBefore(blockRow(b, fresh), after || null);
    if (!paging) trim();
    return true;
  };
  for (const h of explorer.heights()) show(blocks.get(h), false);

  older.addEventListener('click', async () => {
    if (lowest === null || lowest === 0 || paging) return;
    older.disabled = true;
    paging = true;
    try {
      const res = await loadBlocks(lowest);
      for (const b of res.blocks) if (show(b, false)) paged++;
      trim();
      if (res.next_before === null) older.hidden = true;
    } catch (e) {
      trim();
      older.after(el('p', { class: 'error', role: 'alert' }, e.message));
    } finally {
      paging = false;
      older.disabled = false;
    }
  });

  const txRow = (f) => el('li', {}, el('a', { class: 'mono', href: '#/tx/' + f.transaction_id },
    short(f.transaction_id, 16)), ' in ', el('a', { href: '#/block/' + f.block_height }, '#' + f.block_height));
  for (const f of recentTxs) txList.append(txRow(f));
  if (!recentTxs.length) txList.append(el('li', { class: 'muted empty' }, 'Waiting for transactions…'));

  const metricsTimer = setInterval(() => refreshHealth(health), METRICS_MS);
  refreshHealth(health);
  view.dataset.state = 'ready';
  return {
    onBlock: (b, live) => show(b, live),
    onTx: (f) => {
      const empty = txList.querySelector('.empty');
      if (empty) empty.remove();
      txList.prepend(txRow(f));
      while (txList.children.length > 20) txList.lastElementChild.remove();
    },
    dispose: () => clearInterval(metricsTimer),
  };
}

// /metrics is Prometheus text: "name{label="v"} value" lines.
function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

const lastDrops = {};

async function refreshHealth(box) {
  let text;
  try {
    const r = await fetch('/metrics', { cache: 'no-store' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    text = await r.text();
  } catch (e) {
    clear(box).append(el('p', { class: 'error' }, 'Cannot read /metrics: ' + e.message));
    return;
  }
  const samples = parseMetrics(text);
  const one = (name) => (samples.find((s) => s.name === name) || { value: NaN }).value;
  const streams = {};
  for (const s of samples) {
    if (!s.labels.stream) continue;
    const row = (streams[s.labels.stream] ||= { subs: 0, drops: 0 });
    if (s.name === 'ledgerline_stream_subscribers') row.subs = s.value;
    if (s.name === 'ledgerline_stream_events_dropped_total') row.drops = s.value;
  }
  const tbody = el('tbody');
  for (const [name, row] of Object.entries(streams).sort()) {
    const grew = name in lastDrops && row.drops > lastDrops[name];
    lastDrops[name] = row.drops;
    tbody.append(el('tr', { dataset: { stream: name } }, el('th', { scope: 'row' }, name),
      el('td', { class: 'num' }, String(row.subs)),
      el('td', { class: 'num' + (row.drops > 0 ? ' warn' : '') }, String(row.drops) + (grew ? ' ↑' : ''))));
  }
  clear(box).append(
    el('table', { id: 'health-table' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Stream'),
        el('th', { scope: 'col', class: 'num' }, 'Subscribers'),
        el('th', { scope: 'col', class: 'num' }, 'Dropped'))),
      tbody),
    el('dl', { class: 'facts' },
      el('dt', {}, 'Events sent'), el('dd', {}, String(one('ledgerline_stream_events_sent_total'))),
      el('dt', {}, 'Lagging subscribers'), el('dd', {}, String(one('ledgerline_stream_subscribers_lagging'))),
      el('dt', {}, 'Deepest queue'), el('dd', {}, String(one('ledgerline_stream_queue_high_water'))),
      el('dt', {}, 'Mempool'), el('dd', {}, String(one('ledgerline_mempool_transactions')) + ' pending')),
    el('p', { class: 'muted small' }, 'From /metrics, every ' + METRICS_MS / 1000 + ' s.'));
}

// ---- routing -------------------------------------------------------------------

const routes = [
  [/^#?\/?$/, 'home', (view) => homePage(view)],
  [/^#\/block\/(\d+)$/, 'block', (view, m) => blockPage(view, ctx, Number(m[1]))],
  [/^#\/tx\/([0-9a-f]{64})$/, 'tx', (view, m) => txPage(view, ctx, m[1])],
  [/^#\/account\/([0-9a-f]{32}|[0-9a-f]{40})$/, 'account', (view, m) => accountPage(view, ctx, m[1])],
  [/^#\/contract\/([0-9a-f]{40})$/, 'contract', (view, m) => contractPage(view, ctx, m[1])],
];

// The session's user, once /api/me has answered (null when signed out).
let userKnown = null;

const ctx = {
  tip: () => explorer.tip,
  user: () => userKnown,
};

function route() {
  if (page && page.dispose) page.dispose();
  page = null;
  const view = clear($('view'));
  view.dataset.state = 'loading';
  const hash = location.hash || '#/';
  for (const [re, name, make] of routes) {
    const m = re.exec(hash);
    if (!m) continue;
    explorer.page = view.dataset.page = name;
    page = make(view, m);
    document.title = name === 'home' ? 'Ledgerline explorer' : 'Ledgerline · ' + name;
    return;
  }
  explorer.page = view.dataset.page = 'not-found';
  notFound(view, 'No page at ' + hash);
}

// height -> block, 64 hex -> transaction, 32 hex -> account, 40 hex -> contract.
export function searchTarget(text) {
  const q = text.trim().toLowerCase().replace(/^0x/, '');
  if (/^\d{1,15}$/.test(q)) return '#/block/' + Number(q);
  if (/^[0-9a-f]{64}$/.test(q)) return '#/tx/' + q;
  if (/^[0-9a-f]{32}$/.test(q)) return '#/account/' + q;
  if (/^[0-9a-f]{40}$/.test(q)) return '#/contract/' + q;
  return null;
}

$('search').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('q');
  const target = searchTarget(input.value);
  input.setCustomValidity(target ? '' :
    'Enter a block height, a 64-hex transaction id, a 32-hex address or a 40-hex contract');
  if (!target) {
    input.reportValidity();
    return;
  }
  input.value = '';
  if (location.hash === target) route();
  else location.hash = target;
  $('view').focus();
});
$('q').addEventListener('input', () => $('q').setCustomValidity(''));

window.addEventListener('hashchange', () => {
  route();
  $('view').focus({ preventScroll: true });
});
setInterval(() => tickAges(), 1000);

new LiveSocket('/api/v1/streams/valid_transactions', { onFrame, onState: setConn, onOpen: catchUp });
userKnown = currentUser().then((u) => {
  explorer.user = u;
  if (u) {
    clear($('who')).append('Signed in as ', el('a', { href: '/chat' }, u.username));
    openEvents();
  }
  return u;
}, () => null);
route();
