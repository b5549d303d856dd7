// The messenger at /chat (web/chat.html), after seed 002: sign in, then
// EventSource('/api/stream?types=message&address=<me>') for messages as
// they happen (pending at once, confirmed with their block), and on every
// (re)connect GET /api/messages?limit=100, merged with what the stream
// brought and de-duplicated by tx_id. A message's status only moves
// forward (pending → confirmed, or pending → dropped), so the order in
// which the stream and the re-query answer does not matter.
//
// For tests and the curious, window.chat holds the state:
//   conn       'signed-out' | 'connecting' | 'live' | 'reconnecting' | 'offline'
//   user       {username, address} or null
//   statuses   {tx_id: [status, ...]}: each status a message showed, in order
//   opens, requeries: how many times the stream opened / history was re-read
//   sent       [tx_id, ...] of the messages sent from this page

import { $, el, clear, short, api, sessionHint, currentUser, showState, timeOf } from '/common.js';

const HISTORY = 100;                 // the seed's re-query size
const MAX_MESSAGES = 5000;           // kept in memory; the oldest go first
const RANK = { pending: 0, dropped: 1, confirmed: 2 };
const USERNAME = /^[a-z0-9_.-]{3,32}$/;
const ADDRESS = /^[0-9a-f]{32}$/;

const chat = (window.chat = { conn: 'signed-out', user: null, statuses: {}, opens: 0, requeries: 0, sent: [] });

let es = null;
let retryTimer = null;
let retryMs = 1000;
let requerying = null;
let sending = false;
const messages = new Map();          // tx_id -> msg (seed 002 shape)
const convs = new Map();             // key (peer address, or 'name:<username>' until known) -> conv
const names = new Map();             // address -> username
let active = null;                   // key of the open conversation
let lastRead = {};                   // key -> newest timestamp read (localStorage)

// ---- connection state ------------------------------------------------------------

const CONN_TEXT = {
  'signed-out': 'signed out', connecting: 'connecting…', live: '● live',
  reconnecting: 'reconnecting…', offline: 'offline: retrying',
};

function setConn(state) {
  chat.conn = state;
  const css = state === 'live' ? 'open' : state === 'offline' || state === 'signed-out' ? 'closed' : 'connecting';
  showState($('conn'), css, CONN_TEXT[state]);
}

function closeStream() {
  clearTimeout(retryTimer);
  if (es) es.close();
  es = null;
}

function connect() {
  closeStream();
  setConn('connecting');
  const stream = (es = new EventSource('/api/stream?types=message&address=' + chat.user.address));
  stream.addEventListener('open', () => {
    if (stream !== es) return;
    retryMs = 1000;
    chat.opens++;
    setConn('live');
    requery(); // seed 002: on every (re)connect, read the history again
  });
  stream.addEventListener('message', (e) => {
    let ev;
    try { ev = JSON.parse(e.data); } catch (_) { return; }
    if (ev.type === 'message' && ev.msg) merge(ev.msg);
  });
  stream.addEventListener('error', () => {
    if (stream !== es) return;
    // EventSource retries a dropped connection by itself (with Last-Event-ID);
    // after an HTTP error (401, 503) it gives up, and the page takes over.
    if (stream.readyState === EventSource.CONNECTING) {
      setConn('reconnecting');
      return;
    }
    setConn('offline');
    scheduleRetry();
  });
}

function scheduleRetry() {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(async () => {
    try {
      const me = await api('/api/me');
      if (me) connect();
    } catch (e) {
      if (e.status === 401) return signedOut('Your session has ended: sign in again.');
      retryMs = Math.min(retryMs * 2, 10000);
      scheduleRetry();
    }
  }, retryMs);
}

async function requery() {
  if (requerying) {
    requerying.again = true;
    return;
  }
  requerying = { again: false };
  try {
    do {
      requerying.again = false;
      const list = await api('/api/messages?limit=' + HISTORY);
      chat.requeries++;
      for (const m of list) merge(m);
    } while (requerying.again);
  } catch (e) {
    if (e.status === 401) signedOut('Your session has ended: sign in again.');
  } finally {
    requerying = null;
  }
}

// ---- messages and conversations ------------------------------------------------------

function peerOf(m) {
  return m.sender_address === chat.user.address ? m.address : m.sender_address;
}

function convFor(key) {
  let c = convs.get(key);
  if (!c) {
    c = { key, address: key.startsWith('name:') ? null : key, name: key.startsWith('name:') ? key.slice(5) : null, ids: [] };
    convs.set(key, c);
  }
  return c;
}

function displayName(c) {
  if (c.address === chat.user.address) return chat.user.username + ' (you)';
  if (c.address && names.has(c.address)) return names.get(c.address);
  return c.name || short(c.address, 12);
}

// A username turned out to be this address: its provisional conversation
// (opened by name, before any message told us the address) joins it.
function learnName(address, username) {
  if (!username || username === address || names.get(address) === username) return;
  names.set(address, username);
  adopt('name:' + username, address);
}

function record(m) {
  const seen = (chat.statuses[m.tx_id] ||= []);
  if (seen[seen.length - 1] !== m.status) seen.push(m.status);
}

// Adds a message from the stream, the history or this page, once per tx_id.
function merge(m, convKey) {
  if (!chat.user || typeof m.tx_id !== 'string') return;
  const me = chat.user.address;
  if (m.sender_address !== me && m.address !== me) return; // not ours (filtered by the node too)
  if (m.sender !== m.sender_address) learnName(m.sender_address, m.sender);
  const old = messages.get(m.tx_id);
  if (old && convKey && convKey !== old.convKey && convKey.startsWith('name:')) {
    adopt(convKey, old.convKey); // the stream told us the address before the POST answered
    renderConvs();
  }
  if (old) {
    const forward = RANK[m.status] > RANK[old.status];
    const learned = !old.address && m.address; // sent by name: now the address is known
    if (!forward && !learned) return;
    if (learned) old.address = m.address;
    if (forward) Object.assign(old, { status: m.status, block: m.block, timestamp: m.timestamp });
    const peer = peerOf(old);
    if (peer && old.convKey !== peer) moveTo(old, peer);
    record(old);
    renderMessage(old);
    renderConvs();
    return;
  }
  const msg = { ...m, convKey: convKey || peerOf(m) };
  messages.set(m.tx_id, msg);
  record(msg);
  convFor(msg.convKey).ids.push(m.tx_id);
  if (messages.size > MAX_MESSAGES) forgetOldest();
  if (msg.convKey === active && document.visibilityState === 'visible' && msg.sender_address !== me) markRead(active);
  renderMessage(msg);
  renderConvs();
}

function moveTo(msg, key) {
  const li = msgEl(msg.tx_id);
  if (li) li.remove();
  if (msg.convKey.startsWith('name:')) {
    adopt(msg.convKey, key);
    return;
  }
  const from = convs.get(msg.convKey);
  if (from) from.ids = from.ids.filter((id) => id !== msg.tx_id);
  msg.convKey = key;
  const c = convFor(key);
  if (!c.ids.includes(msg.tx_id)) c.ids.push(msg.tx_id);
}

// A conversation opened by username turned out to be with this address:
// it joins the address's conversation, and the name labels it from now on.
function adopt(nameKey, address) {
  const from = convs.get(nameKey);
  if (!from) return;
  if (!names.has(address)) names.set(address, from.name);
  convs.delete(nameKey);
  const c = convFor(address);
  for (const id of from.ids) {
    const m = messages.get(id);
    if (m) m.convKey = address;
    if (!c.ids.includes(id)) c.ids.push(id);
  }
  if (active === nameKey) openConv(address);
}

// The oldest message goes, with its statuses; so does its conversation
// when nothing is left in it, unless it is the open one.
function forgetOldest() {
  let oldest = null;
  for (const m of messages.values()) if (!oldest || m.timestamp < oldest.timestamp) oldest = m;
  if (!oldest) return;
  messages.delete(oldest.tx_id);
  delete chat.statuses[oldest.tx_id];
  const c = convs.get(oldest.convKey);
  if (c) {
    c.ids = c.ids.filter((id) => id !== oldest.tx_id);
    if (!c.ids.length && c.key !== active) convs.delete(c.key);
  }
  const li = msgEl(oldest.tx_id);
  if (li) li.remove();
}

function unread(c) {
  const since = lastRead[c.key] || 0;
  let n = 0;
  for (const id of c.ids) {
    const m = messages.get(id);
    if (m && m.sender_address !== chat.user.address && m.timestamp > since) n++;
  }
  return n;
}

function newest(c) {
  let best = null;
  for (const id of c.ids) {
    const m = messages.get(id);
    if (m && (!best || m.timestamp > best.timestamp)) best = m;
  }
  return best;
}

const readKey = () => 'll.chat.read.' + chat.user.address;

function markRead(key) {
  const c = convs.get(key);
  const last = c && newest(c);
  if (!last || (lastRead[key] || 0) >= last.timestamp) return;
  lastRead[key] = last.timestamp;
  try { localStorage.setItem(readKey(), JSON.stringify(lastRead)); } catch (_) { /* private mode */ }
}

// ---- rendering -----------------------------------------------------------------

// The conversation list is redrawn at most once per animation frame, however
// many messages arrive in it.
let convsDirty = false;

function renderConvs() {
  if (convsDirty) return;
  convsDirty = true;
  requestAnimationFrame(() => {
    convsDirty = false;
    if (chat.user) drawConvs();
  });
}

function drawConvs() {
  const list = $('convs');
  const focused = document.activeElement && document.activeElement.dataset.key;
  const sorted = [...convs.values()].sort((a, b) =>
    ((newest(b) || {}).timestamp || Infinity) - ((newest(a) || {}).timestamp || Infinity));
  clear(list);
  if (!sorted.length) list.append(el('li', { class: 'muted empty' }, 'No conversations yet: open one above.'));
  for (const c of sorted) {
    const n = unread(c);
    const last = newest(c);
    const btn = el('button', { type: 'button', class: 'conv', dataset: { key: c.key, unread: String(n) },
      'aria-current': c.key === active ? 'true' : null },
    el('span', { class: 'conv-name' }, displayName(c)),
    n ? el('span', { class: 'badge', 'aria-label': n + ' unread' }, String(n)) : null,
    el('span', { class: 'conv-last' }, last ? last.text : 'no messages yet'));
    list.append(el('li', {}, btn));
    if (focused === c.key) btn.focus();
  }
}

const msgEl = (id) => $('messages').querySelector('li[data-tx="' + CSS.escape(id) + '"]');

function mark(m) {
  if (m.status === 'confirmed') {
    return el('span', { class: 'mark confirmed', title: 'Confirmed in block ' + m.block, tabindex: '0',
      'aria-label': 'confirmed in block ' + m.block }, '✓ confirmed');
  }
  if (m.status === 'dropped') {
    return el('span', { class: 'mark dropped', title: 'Not confirmed: it left the pool without a block' }, '✗ not sent');
  }
  return el('span', { class: 'mark pending', title: 'Pending: waiting for a block', tabindex: '0',
    'aria-label': 'pending' }, '… pending');
}

// A message's time of day, or plain text when its timestamp is no time a
// Date can hold (toISOString would throw).
function msgTime(ts) {
  const when = new Date(ts * 1000);
  if (!Number.isFinite(ts) || Number.isNaN(when.getTime())) return 'unknown time';
  return el('time', { datetime: when.toISOString(), title: timeOf(ts) },
    when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
}

function msgNode(m, mine) {
  return el('li', { class: 'msg ' + (mine ? 'mine' : 'theirs'), dataset: { tx: m.tx_id, status: m.status, ts: String(m.timestamp) } },
    el('div', { class: 'bubble' },
      mine ? null : el('span', { class: 'from' }, m.sender === m.sender_address ? short(m.sender, 12) : m.sender),
      el('p', { class: 'text' }, m.text),
      el('p', { class: 'meta' }, msgTime(m.timestamp), ' ', mark(m))));
}

function renderMessage(m) {
  if (m.convKey !== active) return;
  const list = $('messages');
  const mine = m.sender_address === chat.user.address;
  const li = msgNode(m, mine);
  const old = msgEl(m.tx_id);
  if (old) {
    old.replaceWith(li);
    return;
  }
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const after = [...list.children].find((x) => Number(x.dataset.ts) > m.timestamp);
  list.insertBefore(li, after || null);
  const empty = list.querySelector('.empty');
  if (empty) empty.remove();
  if (atBottom || mine) list.scrollTop = list.scrollHeight;
}

function openConv(key) {
  active = key;
  const c = convFor(key);
  document.body.dataset.view = 'thread';
  $('thread-title').textContent = displayName(c);
  $('thread-addr').textContent = c.address || '';
  $('thread-addr').title = c.address || '';
  const list = clear($('messages'));
  const ms = c.ids.map((id) => messages.get(id)).filter((m) => m && m.convKey === key)
    .sort((a, b) => a.timestamp - b.timestamp);
  const thread = document.createDocumentFragment();
  if (!ms.length) thread.append(el('li', { class: 'muted empty' }, 'No messages yet. Say hello.'));
  for (const m of ms) thread.append(msgNode(m, m.sender_address === chat.user.address));
  list.append(thread);
  list.scrollTop = list.scrollHeight;
  $('text').disabled = $('send').disabled = false;
  markRead(key);
  renderConvs();
}

// ---- session ---------------------------------------------------------------------

function signedIn(user) {
  chat.user = user;
  sessionHint.set(user.username);
  names.set(user.address, user.username);
  try { lastRead = JSON.parse(localStorage.getItem(readKey()) || '{}') || {}; } catch (_) { lastRead = {}; }
  clear($('me')).append(el('span', { class: 'visually-hidden' }, 'Signed in as '), el('b', {}, user.username),
    ' ', el('span', { class: 'mono muted small', title: user.address }, short(user.address, 8)));
  $('auth').hidden = true;
  $('app').hidden = false;
  $('logout').hidden = false;
  renderConvs();
  connect();
  $('to').focus();
}

function signedOut(why) {
  closeStream();
  sessionHint.clear();
  chat.user = null;
  messages.clear();
  convs.clear();
  names.clear();
  active = null;
  setConn('signed-out');
  clear($('me'));
  clear($('messages'));
  $('thread-title').textContent = 'Pick a conversation';
  $('thread-addr').textContent = '';
  $('text').disabled = $('send').disabled = true;
  document.body.dataset.view = 'list';
  $('app').hidden = true;
  $('logout').hidden = true;
  $('auth').hidden = false;
  $('auth-error').textContent = why || '';
  $('username').focus();
}

function credentials() {
  const username = $('username').value.trim();
  const password = $('password').value;
  if (!username || !password) throw new Error('Enter a username and a password.');
  return { username, password };
}

async function login(body) {
  const user = await api('/api/login', { method: 'POST', body });
  $('password').value = '';
  signedIn(user);
}

$('auth-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('auth-error').textContent = '';
  try {
    await login(credentials());
  } catch (err) {
    $('auth-error').textContent = err.message;
  }
});

$('register').addEventListener('click', async () => {
  $('auth-error').textContent = '';
  try {
    const body = credentials();
    if (!USERNAME.test(body.username) || ADDRESS.test(body.username)) {
      throw new Error('A username is 3–32 of a–z, 0–9, _ . - (and not 32 hex digits).');
    }
    await api('/api/register', { method: 'POST', body });
    await login(body);
  } catch (err) {
    $('auth-error').textContent = err.message;
  }
});

$('logout').addEventListener('click', async () => {
  try { await api('/api/logout', { method: 'POST', body: {} }); } catch (_) { /* signed out anyway */ }
  signedOut();
});

// ---- conversations and compose ----------------------------------------------------------

$('new-conv').addEventListener('submit', (e) => {
  e.preventDefault();
  const to = $('to').value.trim();
  $('new-error').textContent = '';
  let key;
  if (ADDRESS.test(to)) key = to;
  else if (USERNAME.test(to)) key = [...names].find(([, n]) => n === to)?.[0] || 'name:' + to;
  else {
    $('new-error').textContent = 'Enter a username or a 32-hex address.';
    return;
  }
  $('to').value = '';
  openConv(key);
  $('text').focus();
});

$('convs').addEventListener('click', (e) => {
  const btn = e.target.closest('button.conv');
  if (!btn) return;
  openConv(btn.dataset.key);
  $('text').focus();
});

// Arrow keys move between conversations; Home/End jump to the ends.
$('convs').addEventListener('keydown', (e) => {
  const buttons = [...$('convs').querySelectorAll('button.conv')];
  const i = buttons.indexOf(document.activeElement);
  if (i < 0) return;
  const next = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: buttons.length - 1 }[e.key];
  if (next === undefined) return;
  e.preventDefault();
  buttons[Math.max(0, Math.min(buttons.length - 1, next))].focus();
});

$('back').addEventListener('click', () => {
  document.body.dataset.view = 'list';
  const btn = $('convs').querySelector('button[aria-current="true"]');
  (btn || $('to')).focus();
});

document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && document.body.dataset.view === 'thread' && chat.user) $('back').click();
});

$('text').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $('compose').requestSubmit();
  }
});

$('compose').addEventListener('submit', async (e) => {
  e.preventDefault();
  const c = convs.get(active);
  const text = $('text').value;
  if (!c || sending || !text.trim()) return;
  sending = true;
  $('compose-error').textContent = '';
  try {
    const res = await api('/api/messages', { method: 'POST', body: { to: c.address || c.name, text } });
    chat.sent.push(res.tx_id);
    $('text').value = '';
    // Shown at once as pending; the stream's events confirm it.
    merge({ sender: chat.user.username, sender_address: chat.user.address, address: c.address,
      text, timestamp: Date.now() / 1000, status: 'pending', block: null, tx_id: res.tx_id }, c.key);
  } catch (err) {
    if (err.status === 401) return signedOut('Your session has ended: sign in again.');
    $('compose-error').textContent = err.code === 'unknown_recipient'
      ? 'No user is called ' + c.name + '.' : err.message;
  } finally {
    sending = false;
  }
});

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && active && chat.user) {
    markRead(active);
    renderConvs();
  }
});

window.addEventListener('online', () => {
  if (chat.user && chat.conn === 'offline') {
    retryMs = 1000;
    scheduleRetry();
  }
});

// ---- start ---------------------------------------------------------------------------

(async function start() {
  setConn('signed-out');
  try {
    const user = await currentUser();
    if (user) return signedIn(user);
  } catch (_) {
    // Signed in earlier, but the node is unreachable: try again shortly.
    setConn('offline');
    setTimeout(start, 2000);
    return;
  }
  signedOut();
})();
