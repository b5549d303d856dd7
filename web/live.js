// The live page (web/live.html): signs in, then shows the node's Server-Sent
// Events (/api/stream, docs/API.md §5) and its valid_tx WebSocket stream
// (§4) as they arrive.
//
// For tests and the curious, everything received is kept in arrival order:
//   window.received = {sse: [envelope, ...], ws: [frame, ...]}
//   window.live     = {user, sse, ws, sent: [tx_id, ...]}  (sse/ws: the states)
import { $, NATIVE, currentUser, sessionHint as hint } from '/common.js';

(function () {
  const MAX_ROWS = 200;     // rows kept in each feed
  const MAX_KEPT = 10000;   // events kept in window.received
  const PING_MS = 30000;    // seed 000 suggests a ping every 30 s

  const received = (window.received = { sse: [], ws: [] });
  const live = (window.live = { user: null, sse: 'closed', ws: 'closed', sent: [] });

  function setState(which, state) {
    live[which] = state;
    const el = $(which + '-state');
    el.textContent = state;
    el.dataset.state = state;
  }

  function keep(list, item) {
    list.push(item);
    if (list.length > MAX_KEPT) list.splice(0, list.length - MAX_KEPT);
  }

  const short = (hex) => (typeof hex === 'string' && hex.length > 12 ? hex.slice(0, 10) + '…' : String(hex));
  const coins = (x) => (typeof x === 'number' ? x.toLocaleString('en', { maximumFractionDigits: 6 }) : String(x));

  // A row: a tag, then text parts (strings, or [text, title] for a hover hint).
  // Everything goes in through textContent: event data is never markup.
  function row(feed, type, tagText, parts, attrs) {
    const li = document.createElement('li');
    li.dataset.type = type;
    for (const [k, v] of Object.entries(attrs || {})) li.dataset[k] = v;
    const tag = document.createElement('span');
    tag.className = 'tag';
    tag.textContent = tagText;
    li.appendChild(tag);
    fill(li, parts);
    const empty = feed.querySelector('.empty');
    if (empty) empty.remove();
    feed.prepend(li);
    while (feed.children.length > MAX_ROWS) feed.lastElementChild.remove();
    return li;
  }

  function fill(li, parts) {
    while (li.childNodes.length > 1) li.lastChild.remove();
    for (const p of parts) {
      if (Array.isArray(p)) {
        const s = document.createElement('span');
        s.className = 'mono';
        s.textContent = p[0];
        s.title = p[1];
        li.appendChild(s);
      } else {
        li.appendChild(document.createTextNode(p));
      }
    }
  }

  const hex = (h) => [short(h), h];

  // ---- Server-Sent Events -----------------------------------------------------

  const seen = new Set(); // seed 002: clients dedupe defensively

  function dedupeKey(ev) {
    switch (ev.type) {
      case 'block': return 'block:' + ev.block.height;
      case 'message': return 'message:' + ev.msg.tx_id + ':' + ev.msg.status;
      case 'tx': return 'tx:' + ev.tx.tx_id;
      case 'receipt': return 'receipt:' + ev.receipt.tx_id;
      default: return null;
    }
  }

  function renderEvent(ev) {
    const key = dedupeKey(ev);
    if (key === null || seen.has(key)) return;
    seen.add(key);
    if (seen.size > MAX_KEPT) seen.clear();
    const feed = $('sse-feed');
    if (ev.type === 'block') {
      const b = ev.block;
      row(feed, 'block', 'block', ['#' + b.height + ' · ' + b.tx_count + ' tx · ', hex(b.hash),
        ' · miner ', hex(b.miner), b.quantum_verified ? ' · verified' : '']);
    } else if (ev.type === 'tx') {
      const t = ev.tx;
      const to = t.to ? t.to : t.recipient;
      row(feed, 'tx', t.kind, [coins(t.amount) + ' from ', hex(t.sender), ' → ', hex(to),
        ' · fee ' + coins(t.fee) + ' · block ' + t.block_height + ' · ', hex(t.tx_id)]);
    } else if (ev.type === 'message') {
      const m = ev.msg;
      const parts = [m.sender === m.sender_address ? hex(m.sender) : m.sender, ' → ', hex(m.address),
        ': “' + m.text + '” · ' + m.status + (m.block === null ? '' : ' in block ' + m.block)];
      // A confirmation replaces the pending row of the same message.
      const pending = feed.querySelector('li[data-msg="' + CSS.escape(String(m.tx_id)) + '"]');
      if (pending) {
        fill(pending, parts);
        pending.dataset.status = m.status;
      } else {
        row(feed, 'message', 'message', parts, { msg: m.tx_id, status: m.status });
      }
    } else if (ev.type === 'receipt') {
      const r = ev.receipt;
      row(feed, 'receipt', 'receipt', [r.type + (r.success ? ' ok' : ' failed') + ' · gas ' + r.gas_used +
        ' · ', hex(r.to || '—'), r.error ? ' · ' + r.error : '', ' · ', hex(r.tx_id)]);
    }
  }

  let es = null;
  let sseRetry = 1000;

  function openSse() {
    if (es) es.close();
    setState('sse', 'connecting');
    es = new EventSource('/api/stream'); // same origin: the session cookie goes along
    es.onopen = () => {
      setState('sse', 'open');
      sseRetry = 1000;
    };
    es.onmessage = (e) => {
      let ev;
      try { ev = JSON.parse(e.data); } catch (_) { return; }
      keep(received.sse, ev);
      renderEvent(ev);
    };
    es.onerror = () => {
      // EventSource reconnects by itself (sending Last-Event-ID) unless the
      // answer was an error such as 401: then it is CLOSED for good.
      if (es.readyState === EventSource.CLOSED) {
        setState('sse', 'closed');
        setTimeout(checkSession, sseRetry); // signed out, or try again later
        sseRetry = Math.min(sseRetry * 2, 30000);
      } else {
        setState('sse', 'reconnecting');
      }
    };
  }

  function closeSse() {
    if (es) es.close();
    es = null;
    setState('sse', 'closed');
  }

  // ---- WebSocket: valid_tx ------------------------------------------------------

  let ws = null;
  let pingTimer = null;
  let backoff = 1000;

  function openWs() {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
      '/api/v1/streams/valid_tx';
    setState('ws', 'connecting');
    ws = new WebSocket(url);
    ws.onopen = () => {
      setState('ws', 'open');
      backoff = 1000;
      pingTimer = setInterval(() => { if (ws.readyState === WebSocket.OPEN) ws.send('ping'); }, PING_MS);
    };
    ws.onmessage = (e) => {
      if (e.data === 'pong') return;
      let f;
      try { f = JSON.parse(e.data); } catch (_) { return; }
      keep(received.ws, f);
      row($('ws-feed'), 'tx', f.assetid === NATIVE ? 'native' : 'asset',
        [hex(f.txid), ' · asset ', hex(f.assetid), ' · block ', hex(f.blockid)]);
    };
    ws.onclose = () => {
      clearInterval(pingTimer);
      setState('ws', 'closed');
      setTimeout(openWs, backoff);
      backoff = Math.min(backoff * 2, 30000);
    };
  }

  // ---- Session -------------------------------------------------------------------

  async function postJson(path, body) {
    const r = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
    let doc = null;
    try { doc = await r.json(); } catch (_) { /* no JSON body */ }
    return { status: r.status, doc };
  }

  const errorText = (res) => (res.doc && res.doc.error ? res.doc.error.message : 'HTTP ' + res.status);

  function signedIn(user) {
    live.user = user;
    hint.set(user);
    $('user').textContent = user;
    $('login-section').hidden = true;
    $('compose-section').hidden = false;
    openSse();
  }

  // forget: the user signed out (or the node said 401), not a failed check.
  function signedOut(forget = true) {
    live.user = null;
    if (forget) hint.clear();
    $('user').textContent = 'not signed in';
    $('login-section').hidden = false;
    $('compose-section').hidden = true;
    closeSse();
  }

  // common.js's session hint and /api/me: the hint is dropped on a 401
  // only, not when the node is briefly away.
  async function checkSession() {
    let me = null;
    try {
      me = await currentUser();
    } catch (_) { /* offline: as signed out for now, the hint kept */ }
    if (!me) return signedOut(false);
    if (live.user === null || live.sse === 'closed') signedIn(me.username || live.user || 'signed in');
  }

  async function login(username, password) {
    const res = await postJson('/api/login', { username, password });
    if (res.status !== 200) throw new Error(errorText(res));
    signedIn(username);
  }

  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('login-error').textContent = '';
    try {
      await login($('username').value, $('password').value);
    } catch (err) {
      $('login-error').textContent = err.message;
    }
  });

  $('register').addEventListener('click', async () => {
    $('login-error').textContent = '';
    const username = $('username').value, password = $('password').value;
    try {
      const res = await postJson('/api/register', { username, password });
      if (res.status !== 201) throw new Error(errorText(res));
      await login(username, password);
    } catch (err) {
      $('login-error').textContent = err.message;
    }
  });

  $('logout').addEventListener('click', async () => {
    await postJson('/api/logout').catch(() => null);
    signedOut();
  });

  $('compose-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('compose-error').textContent = '';
    const res = await postJson('/api/messages', { to: $('to').value.trim(), text: $('text').value })
      .catch((err) => ({ status: 0, doc: { error: { message: err.message } } }));
    if (res.status === 202 && res.doc) {
      live.sent.push(res.doc.tx_id);
      $('text').value = '';
    } else {
      $('compose-error').textContent = errorText(res);
    }
  });

  openWs();       // the validated-transactions stream is public
  checkSession(); // the event stream needs the session cookie
})();
