// Helpers shared by the explorer (index.html) and the messenger (chat.html):
// building DOM nodes without markup strings, JSON over fetch, number and
// time formatting, the session marker, and a WebSocket that reconnects.
//
// Everything the node sends goes into the page through textContent or
// attributes, never innerHTML: event data is never markup. The pages send
// no inline script or style, so the node's Content-Security-Policy
// (script-src 'self'; style-src 'self') holds.

export const NATIVE = '0'.repeat(64);
export const UNITS_PER_COIN = 1e6;

export const $ = (id) => document.getElementById(id);

// el('a', {href: '#/x', class: 'mono'}, 'text', child, ...): one element.
// Attributes set through setAttribute; children are strings (text nodes),
// nodes, arrays of those, or null/false (skipped).
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  append(e, children);
  return e;
}

// parent.append() without the strings "null" and "undefined": children as el()'s.
export function add(parent, ...children) {
  append(parent, children);
  return parent;
}

function append(parent, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

export function short(hex, n = 10) {
  if (typeof hex !== 'string') return String(hex);
  return hex.length > n + 2 ? hex.slice(0, n) + '…' : hex;
}

// Units (integers) as coins, without floating-point noise for big values.
export function coins(units) {
  if (typeof units !== 'number') return String(units);
  const neg = units < 0;
  const abs = Math.abs(units);
  const whole = Math.floor(abs / UNITS_PER_COIN);
  const frac = String(abs % UNITS_PER_COIN).padStart(6, '0').replace(/0+$/, '');
  return (neg ? '-' : '') + whole.toLocaleString('en') + (frac ? '.' + frac : '');
}

// "12 s ago", "3 min ago": the age of a timestamp in seconds.
export function age(tsSeconds, now = Date.now() / 1000) {
  const s = Math.max(0, Math.round(now - tsSeconds));
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  return Math.floor(s / 86400) + ' d ago';
}

export function timeOf(tsSeconds) {
  return new Date(tsSeconds * 1000).toLocaleString();
}

// An element whose text is the age of ts, kept current by tickAges(); plain
// text when ts is not a time a Date can hold.
export function ageEl(ts) {
  const when = new Date(ts * 1000);
  if (!Number.isFinite(ts) || Number.isNaN(when.getTime())) return 'unknown time';
  return el('time', { class: 'age', datetime: when.toISOString(),
    title: timeOf(ts), dataset: { ts: String(ts) } }, age(ts));
}

export function tickAges(root = document) {
  const now = Date.now() / 1000;
  for (const t of root.querySelectorAll('time.age[data-ts]')) t.textContent = age(Number(t.dataset.ts), now);
}

export class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// GET or POST JSON; resolves to the decoded body of a 2xx, else throws an
// HttpError carrying the API's error code (status 0: the node is unreachable).
export async function api(path, { method = 'GET', body, signal } = {}) {
  let r;
  try {
    r = await fetch(path, {
      method,
      headers: body === undefined ? { Accept: 'application/json' }
        : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new HttpError(0, 'unreachable', 'the node is unreachable');
  }
  let doc = null;
  try { doc = await r.json(); } catch (_) { /* not JSON */ }
  if (!r.ok) {
    const err = doc && doc.error;
    throw new HttpError(r.status, err ? err.code : 'http_' + r.status,
      err ? err.message : 'HTTP ' + r.status);
  }
  return doc;
}

// The session cookie is HttpOnly, so a page cannot see it. The pages keep
// the signed-in user's name in localStorage as a hint, and ask /api/me only
// when it is there: a visitor who never signed in causes no 401.
const SESSION_HINT = 'll.user';

export const sessionHint = {
  get() { try { return localStorage.getItem(SESSION_HINT); } catch (_) { return null; } },
  set(name) { try { localStorage.setItem(SESSION_HINT, name); } catch (_) { /* private mode */ } },
  clear() { try { localStorage.removeItem(SESSION_HINT); } catch (_) { /* private mode */ } },
};

// The session's user ({username, address}), or null when signed out.
export async function currentUser() {
  if (!sessionHint.get()) return null;
  try {
    return await api('/api/me');
  } catch (e) {
    if (e.status === 401) sessionHint.clear();
    if (e.status === 0) throw e;
    return null;
  }
}

export function wsUrl(path) {
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;
}

// A WebSocket that reconnects with capped backoff and pings every 30 s (the
// seed's keep-alive). onState(state) sees 'connecting', 'open', 'closed';
// onOpen runs on every (re)connect, so callers can catch up over REST.
export class LiveSocket {
  constructor(path, { onFrame, onState, onOpen }) {
    Object.assign(this, { path, onFrame, onState, onOpen });
    this.backoff = 500;
    this.ws = null;
    this.timer = null;
    this.ping = null;
    this.stopped = false;
    this.open();
  }

  open() {
    this.onState && this.onState('connecting');
    const ws = (this.ws = new WebSocket(wsUrl(this.path)));
    ws.addEventListener('open', () => {
      this.backoff = 500;
      this.onState && this.onState('open');
      this.ping = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('ping'), 30000);
      this.onOpen && this.onOpen();
    });
    ws.addEventListener('message', (e) => {
      if (e.data === 'pong') return;
      let f;
      try { f = JSON.parse(e.data); } catch (_) { return; }
      this.onFrame(f);
    });
    ws.addEventListener('close', () => {
      clearInterval(this.ping);
      if (this.stopped) return;
      this.onState && this.onState('closed');
      this.timer = setTimeout(() => this.open(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 5000);
    });
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.ping);
    if (this.ws) this.ws.close();
  }
}

// A chain address (32 hex) from a 64-hex Ed25519 public key: the first 16
// bytes of its SHA-256 (docs/API.md §2). Null where WebCrypto is missing
// (a page served over plain HTTP from a non-local host).
export async function addressOfPubkey(pkHex) {
  if (!globalThis.crypto || !crypto.subtle || !/^[0-9a-f]{64}$/.test(pkHex)) return null;
  const bytes = new Uint8Array(pkHex.match(/../g).map((h) => parseInt(h, 16)));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest.slice(0, 16), (b) => b.toString(16).padStart(2, '0')).join('');
}

// The connection badge both pages show: text plus a data-state for its colour.
export function showState(node, state, text) {
  node.dataset.state = state;
  node.textContent = text || state;
}
