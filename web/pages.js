// The explorer's detail pages (hash routes of explorer.js): one block, one
// transaction (with its receipt for a deploy or call), one account (its
// balances per asset and recent transactions, kept live) and one contract
// (its code and recent receipts). Each page renders into `view`, sets
// view.dataset.state to 'ready' (or 'error'), and returns the hooks the
// explorer calls while it is shown: onBlock(block, live), dispose().

import { el, add, clear, short, coins, ageEl, timeOf, api, addressOfPubkey, NATIVE } from '/common.js';

const TX_DETAILS = 50;     // transactions of a block fetched for their kind and amount
const PAGE = 20;           // rows of an account's or contract's history per page
const LIVE_ROWS = 3 * PAGE; // an account's history rows kept while it only grows live

export function notFound(view, text) {
  add(view, el('h1', {}, 'Not found'), el('p', {}, text), el('p', {}, el('a', { href: '#/' }, 'Back to the blocks')));
  view.dataset.state = 'error';
}

function failed(view, e, what) {
  clear(view);
  if (e.status === 404) notFound(view, what + ' is not known to this node (yet).');
  else {
    add(view, el('h1', {}, 'Cannot load ' + what), el('p', { class: 'error', role: 'alert' }, e.message));
    view.dataset.state = 'error';
  }
}

const link = {
  block: (h) => el('a', { href: '#/block/' + h }, '#' + h),
  tx: (id, n = 16) => el('a', { class: 'mono', href: '#/tx/' + id, title: id }, short(id, n)),
  account: (a, n = 12) => el('a', { class: 'mono', href: '#/account/' + a, title: a }, short(a, n)),
  contract: (a, n = 12) => el('a', { class: 'mono', href: '#/contract/' + a, title: a }, short(a, n)),
};

// A definition list of [term, value] pairs, skipping null values.
function facts(pairs) {
  const dl = el('dl', { class: 'facts' });
  for (const [k, v] of pairs) if (v !== null && v !== undefined) dl.append(el('dt', {}, k), el('dd', {}, v));
  return dl;
}

function mono(text) {
  return el('span', { class: 'mono break' }, text);
}

export function blockRow(b, fresh) {
  return el('tr', { dataset: { height: String(b.height) }, class: fresh ? 'new' : null },
    el('td', {}, link.block(b.height)),
    el('td', {}, ageEl(b.timestamp)),
    el('td', { class: 'num' }, String(b.tx_count)),
    el('td', {}, link.account(b.miner)));
}

// Runs fn over items, at most `width` at a time (a block can hold 1000
// transactions; the page asks for their details a few at a time).
async function pool(items, width, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

function amountText(tx) {
  if (tx.kind === 'transfer') {
    const asset = tx.asset_id && tx.asset_id !== NATIVE ? tx.asset_id : null;
    return asset ? tx.amount + ' units of ' + short(asset) : coins(tx.amount) + ' coins';
  }
  if (tx.kind === 'create') return tx.asset.amount + ' units issued';
  if (tx.kind === 'call' && tx.amount) return coins(tx.amount) + ' coins';
  return '';
}

function targetOf(tx) {
  if (tx.recipient) return link.account(tx.recipient);
  if (tx.kind === 'call') return link.contract(tx.to.replace(/^0x/, ''));
  if (tx.kind === 'deploy') return 'new contract';
  return '';
}

// ---- block -------------------------------------------------------------------

export function blockPage(view, ctx, height) {
  let hooks = {};
  const load = async () => {
    let b;
    try {
      b = await api('/api/v1/blocks/' + height);
    } catch (e) {
      failed(view, e, 'Block #' + height);
      if (e.status === 404) add(view, el('p', { class: 'muted' }, 'This page shows it as soon as it lands.'));
      hooks.onBlock = (nb) => { if (nb.height === height) { hooks.onBlock = null; clear(view); load(); } };
      return;
    }
    clear(view);
    const tip = ctx.tip();
    const nav = el('nav', { class: 'pager', 'aria-label': 'Neighbouring blocks' },
      height > 0 ? el('a', { href: '#/block/' + (height - 1), rel: 'prev' }, '← #' + (height - 1)) : null,
      el('a', { href: '#/block/' + (height + 1), rel: 'next' }, '#' + (height + 1) + ' →'));
    const tbody = el('tbody');
    add(view, 
      el('h1', {}, 'Block #' + b.height),
      nav,
      facts([
        ['Hash', mono(b.hash)],
        ['Previous', b.height > 0 ? el('a', { class: 'mono break', href: '#/block/' + (b.height - 1) }, b.previous_hash) : mono(b.previous_hash)],
        ['Time', [timeOf(b.timestamp), ' (', ageEl(b.timestamp), ')']],
        ['Transactions', String(b.tx_count)],
        ['Miner', link.account(b.miner, 32)],
        ['Difficulty', String(b.difficulty)],
        ['Nonce', b.nonce === undefined ? null : String(b.nonce)],
        ['Tx root', b.tx_root ? mono(b.tx_root) : null],
        ['Verified', b.quantum_verified ? 'yes: proof of work, tx root and signatures re-checked' : 'no'],
        ['Confirmations', tip ? String(Math.max(0, tip.height - b.height)) : null],
      ]),
      el('h2', {}, 'Transactions'),
      el('div', { class: 'scroll' }, el('table', { id: 'block-txs' },
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, '#'), el('th', { scope: 'col' }, 'Tx id'),
          el('th', { scope: 'col' }, 'Kind'), el('th', { scope: 'col' }, 'To'), el('th', { scope: 'col' }, 'Amount'))),
        tbody)));
    const ids = b.transactions || [];
    const rows = ids.map((id, i) => {
      const tr = el('tr', { dataset: { tx: id } }, el('td', { class: 'num' }, String(i)), el('td', {}, link.tx(id)),
        el('td', {}, i < TX_DETAILS ? '…' : ''), el('td', {}), el('td', {}));
      tbody.append(tr);
      return tr;
    });
    if (!ids.length) tbody.append(el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'No transactions (genesis).')));
    view.dataset.state = 'ready';
    await pool(ids.slice(0, TX_DETAILS), 4, async (id, i) => {
      try {
        const tx = await api('/api/v1/transactions/' + id);
        const cells = rows[i].children;
        cells[2].textContent = tx.kind;
        cells[3].append(targetOf(tx));
        cells[4].textContent = amountText(tx);
      } catch (_) {
        rows[i].children[2].textContent = '?';
      }
    });
  };
  load();
  return { onBlock: (b, live) => hooks.onBlock && hooks.onBlock(b, live) };
}

// ---- transaction ---------------------------------------------------------------

function receiptView(r) {
  return el('section', { class: 'panel receipt', id: 'receipt', 'aria-labelledby': 'h-receipt' },
    el('h2', { id: 'h-receipt' }, 'Receipt'),
    facts([
      ['Result', el('span', { class: r.success ? 'ok' : 'bad' }, r.success ? 'success' : 'failed')],
      ['Contract', r.to ? link.contract(r.to, 40) : 'none'],
      ['Gas used', r.gas_used.toLocaleString('en')],
      ['Return data', r.return_data ? mono(r.return_data) : el('span', { class: 'muted' }, 'empty')],
      ['Error', r.error],
    ]),
    r.logs && r.logs.length ? [el('h3', {}, 'Logs'), el('ul', { class: 'plain' },
      r.logs.map((l) => el('li', {}, el('b', {}, l.name), ' = ', mono(JSON.stringify(l.value)))))] : null);
}

export function txPage(view, ctx, id) {
  let pending = false;
  const load = async () => {
    let tx;
    try {
      tx = await api('/api/v1/transactions/' + id);
    } catch (e) {
      failed(view, e, 'Transaction ' + short(id));
      return;
    }
    const sender = await addressOfPubkey(tx.sender_pubkey);
    let receipt = null;
    if ((tx.kind === 'deploy' || tx.kind === 'call') && tx.status === 'confirmed') {
      try { receipt = await api('/api/v1/receipts/' + id); } catch (_) { /* shown as missing */ }
    }
    pending = tx.status === 'pending';
    clear(view);
    add(view, 
      el('h1', {}, 'Transaction'),
      el('p', { class: 'mono break' }, tx.tx_id),
      facts([
        ['Status', el('span', { class: 'status', dataset: { status: tx.status } },
          tx.status === 'confirmed' ? 'confirmed' : 'pending (this page updates when it lands)')],
        ['Block', tx.block_height === null ? null : link.block(tx.block_height)],
        ['Kind', tx.kind],
        ['From', sender ? link.account(sender, 32) : mono(tx.sender_pubkey)],
        ['Sender key', mono(tx.sender_pubkey)],
        ['To', tx.recipient ? link.account(tx.recipient, 32) : tx.kind === 'call' ? link.contract(tx.to.replace(/^0x/, ''), 40) : null],
        ['Amount', amountText(tx) || null],
        ['Asset', tx.asset_id && tx.asset_id !== NATIVE ? link.tx(tx.asset_id, 64) : null],
        ['Asset data', tx.kind === 'create' ? el('pre', {}, JSON.stringify(tx.asset.data, null, 2)) : null],
        ['Message', tx.kind === 'message' ? el('q', { class: 'memo' }, tx.memo) : null],
        ['Selector', tx.kind === 'call' ? String(tx.selector) : null],
        ['Arguments', tx.kind === 'call' ? mono(JSON.stringify(tx.args)) : null],
        ['Gas limit', tx.gas_limit === undefined ? null : tx.gas_limit.toLocaleString('en')],
        ['Fee', coins(tx.fee) + ' coins'],
        ['Nonce', String(tx.nonce)],
        ['Signed at', timeOf(tx.timestamp_ms / 1000)],
      ]),
      tx.kind === 'deploy' ? [el('h2', {}, 'Code'), el('pre', { class: 'code' }, el('code', {}, tx.code))] : null,
      receipt ? receiptView(receipt) : null,
      el('details', {}, el('summary', {}, 'Raw JSON'), el('pre', {}, JSON.stringify(tx, null, 2))));
    view.dataset.state = 'ready';
  };
  load();
  return { onBlock: () => { if (pending) { pending = false; load(); } } };
}

// ---- account -------------------------------------------------------------------

// The history rows: newest first, one per tx_id, updated in place.
class TxTable {
  constructor(me) {
    this.me = me;
    this.rows = new Map();
    this.tbody = el('tbody');
    this.table = el('table', { id: 'account-txs' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Tx id'), el('th', { scope: 'col' }, 'Block'),
        el('th', { scope: 'col' }, 'Kind'), el('th', { scope: 'col' }, 'Direction'),
        el('th', { scope: 'col' }, 'Counterparty'), el('th', { scope: 'col' }, 'Amount'))),
      this.tbody);
  }

  async put(tx, atTop) {
    const from = await addressOfPubkey(tx.sender_pubkey);
    const out = from === this.me;
    const into = tx.recipient === this.me || (tx.to && tx.to.replace(/^0x/, '') === this.me);
    const dir = out && into ? 'self' : out ? 'out' : into ? 'in' : from ? '—' : '?';
    const other = out ? targetOf(tx) : from ? link.account(from) : mono(short(tx.sender_pubkey));
    const row = el('tr', { dataset: { tx: tx.tx_id, status: tx.status } },
      el('td', {}, link.tx(tx.tx_id)),
      el('td', {}, tx.block_height === null ? el('span', { class: 'muted' }, 'pending') : link.block(tx.block_height)),
      el('td', {}, tx.kind), el('td', {}, el('span', { class: 'dir ' + dir }, dir)),
      el('td', {}, other), el('td', {}, amountText(tx)));
    const old = this.rows.get(tx.tx_id);
    this.rows.set(tx.tx_id, row);
    if (old) old.replaceWith(row);
    else if (atTop) this.tbody.prepend(row);
    else this.tbody.append(row);
    const empty = this.tbody.querySelector('.empty');
    if (empty) empty.remove();
  }
}

function balancesTable(acc) {
  const entries = Object.entries(acc.balances || {});
  if (!entries.length) return el('p', { class: 'muted' }, 'No balance.');
  return el('table', { id: 'balances' },
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Asset'), el('th', { scope: 'col', class: 'num' }, 'Balance'))),
    el('tbody', {}, entries.map(([asset, units]) => el('tr', { dataset: { asset } },
      el('td', {}, asset === NATIVE ? 'native coin' : link.tx(asset, 16)),
      el('td', { class: 'num' }, asset === NATIVE ? coins(units) + ' coins' : units.toLocaleString('en') + ' units')))));
}

export function accountPage(view, ctx, address) {
  let stream = null;
  let disposed = false;
  let table = null;
  let refreshing = null;     // {again} while a refresh runs
  let pagedOlder = false;    // the user asked for older transactions
  const balanceBox = el('div', { id: 'balance-box' });
  const liveNote = el('p', { class: 'muted small', id: 'live-note' });
  const more = el('button', { type: 'button', id: 'more-txs', hidden: true }, 'Older transactions');
  let nextBefore = null;

  const loadAccount = async () => {
    try {
      const acc = await api('/api/v1/accounts/' + address);
      clear(balanceBox).append(facts([['Next nonce', String(acc.nonce)]]), balancesTable(acc));
    } catch (e) {
      clear(balanceBox).append(el('p', { class: 'muted' }, e.status === 404
        ? 'This address has not appeared on chain yet.' : 'Cannot load the balances: ' + e.message));
    }
  };

  const loadTxs = async (before) => {
    const q = '/api/v1/accounts/' + address + '/transactions?limit=' + PAGE +
      (before ? '&before=' + encodeURIComponent(before) : '');
    try {
      const res = await api(q);
      for (const tx of res.transactions) await table.put(tx, false);
      nextBefore = res.next_before;
      more.hidden = !nextBefore;
    } catch (e) {
      if (!table.rows.size) {
        table.tbody.append(el('tr', { class: 'empty' }, el('td', { colspan: 6, class: 'muted' },
          e.status === 404 ? 'No transaction history on this node.' : 'Cannot load: ' + e.message)));
      }
    }
  };

  // Rows beyond LIVE_ROWS, grown by new transactions at the top, go: the
  // table falls back to the newest page (`res`) and its cursor, so "Older
  // transactions" goes on from there. Not once the user has paged older.
  const trim = (res) => {
    if (pagedOlder || table.rows.size <= LIVE_ROWS) return;
    const keep = new Set(res.transactions.map((tx) => tx.tx_id));
    for (const [id, row] of table.rows) {
      if (keep.has(id)) continue;
      row.remove();
      table.rows.delete(id);
    }
    nextBefore = res.next_before;
    more.hidden = !nextBefore;
  };

  // Fresh data after a block or a stream event: the balances and the first
  // page again, merged. One refresh at a time; a call while one runs makes it
  // run once more when it ends.
  const refresh = () => {
    if (refreshing) {
      refreshing.again = true;
      return;
    }
    refreshing = { again: false };
    (async () => {
      do {
        refreshing.again = false;
        await loadAccount();
        if (disposed) break;
        try {
          const res = await api('/api/v1/accounts/' + address + '/transactions?limit=' + PAGE);
          if (disposed) break;
          for (const tx of res.transactions.slice().reverse()) await table.put(tx, !table.rows.has(tx.tx_id));
          trim(res);
        } catch (_) { /* kept as it was */ }
      } while (refreshing.again && !disposed);
      refreshing = null;
    })();
  };

  const openLive = () => {
    // With a session: the event stream filtered to this address (§5); an
    // event naming a transaction refreshes the balances and the first page.
    stream = new EventSource('/api/stream?types=tx,message&address=' + address);
    stream.addEventListener('open', () => { liveNote.textContent = 'Live: /api/stream?address=' + address; });
    stream.addEventListener('message', (e) => {
      let ev;
      try { ev = JSON.parse(e.data); } catch (_) { return; }
      const id = ev.tx ? ev.tx.tx_id : ev.msg ? ev.msg.tx_id : null;
      if (!id || disposed) return;
      refresh();
    });
    stream.addEventListener('error', () => {
      if (stream.readyState === EventSource.CLOSED) {
        liveNote.textContent = 'Live: refreshed on every new block';
        stream = null;
      }
    });
  };

  (async () => {
    table = new TxTable(address);
    add(view, 
      el('h1', {}, address.length === 40 ? 'Contract account' : 'Account'),
      el('p', { class: 'mono break' }, address),
      address.length === 40 ? el('p', {}, el('a', { href: '#/contract/' + address }, 'Code and receipts of this contract')) : null,
      el('section', { class: 'panel', 'aria-labelledby': 'h-bal' }, el('h2', { id: 'h-bal' }, 'Balances'), balanceBox),
      el('section', { class: 'panel', 'aria-labelledby': 'h-hist' }, el('h2', { id: 'h-hist' }, 'Recent transactions'),
        liveNote, el('div', { class: 'scroll' }, table.table), more));
    more.addEventListener('click', async () => {
      pagedOlder = true;
      more.disabled = true;
      await loadTxs(nextBefore);
      more.disabled = false;
    });
    await Promise.all([loadAccount(), loadTxs(null)]);
    if (disposed) return;
    const user = await ctx.user();
    if (disposed) return;
    if (user) openLive();
    else liveNote.textContent = 'Live: refreshed on every new block';
    view.dataset.state = 'ready';
  })();

  return {
    onBlock: (b, live) => { if (live && !stream && view.dataset.state === 'ready') refresh(); },
    dispose: () => { disposed = true; if (stream) stream.close(); },
  };
}

// ---- contract -----------------------------------------------------------------

function receiptRow(r) {
  return el('tr', { dataset: { tx: r.tx_id } },
    el('td', {}, link.tx(r.tx_id)), el('td', {}, r.type),
    el('td', {}, el('span', { class: r.success ? 'ok' : 'bad' }, r.success ? 'ok' : 'failed')),
    el('td', { class: 'num' }, r.gas_used.toLocaleString('en')),
    el('td', {}, r.return_data ? mono(short(r.return_data, 18)) : ''),
    el('td', {}, (r.logs || []).map((l) => l.name + '=' + JSON.stringify(l.value)).join(', ')),
    el('td', {}, r.error || ''));
}

export function contractPage(view, ctx, address) {
  let busy = false;
  let newestTx;              // tx_id of the contract's newest transaction, once read
  const tbody = el('tbody');
  const newest = async () => {
    const res = await api('/api/v1/accounts/' + address + '/transactions?limit=1');
    return res.transactions.length ? res.transactions[0].tx_id : null;
  };
  const load = async (first) => {
    let c;
    try {
      if (first) newestTx = await newest().catch(() => undefined);
      c = await api('/api/v1/contracts/' + address);
    } catch (e) {
      if (first) failed(view, e, 'Contract ' + short(address));
      return false;
    }
    if (first) {
      let balance = null;
      try { balance = (await api('/api/v1/accounts/' + address)).balance; } catch (_) { /* none */ }
      add(clear(view), 
        el('h1', {}, 'Contract'),
        el('p', { class: 'mono break' }, c.address),
        facts([
          ['Deployed by', link.account(c.deployer, 32)],
          ['In block', link.block(c.height)],
          ['Deploy', link.tx(c.tx_id, 64)],
          ['Balance', balance === null ? null : el('a', { href: '#/account/' + address }, coins(balance) + ' coins')],
        ]),
        el('h2', {}, 'Code'),
        el('pre', { class: 'code', id: 'contract-code' }, el('code', {}, c.code)),
        el('h2', {}, 'Recent receipts'),
        el('div', { class: 'scroll' }, el('table', { id: 'receipts' },
          el('thead', {}, el('tr', {}, ['Tx id', 'Type', 'Result', 'Gas', 'Return data', 'Logs', 'Error']
            .map((h) => el('th', { scope: 'col' }, h)))), tbody)));
    }
    add(clear(tbody), c.receipts.length ? c.receipts.map(receiptRow)
      : el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'No receipts yet.')));
    view.dataset.state = 'ready';
    return true;
  };
  load(true);
  // After a block, the contract (its code up to 64 KiB) is read again only
  // when its newest transaction changed.
  return {
    onBlock: async (b, live) => {
      if (!live || busy || view.dataset.state !== 'ready') return;
      busy = true;
      try {
        const id = await newest();
        if (id !== newestTx && (await load(false))) newestTx = id;
      } catch (_) {
        /* the next block tries again */
      } finally {
        busy = false;
      }
    },
  };
}
