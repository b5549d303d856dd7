"""The browser app of issue 14 in a real browser: the messenger at /chat and
the explorer at /, driven in headless Chromium over the DevTools protocol
(test_browser.py's Chromium and Cdp, plus console and CSP capture).

1. Two users in two browser contexts chat: each sees the other's message
   appear pending, then confirmed with its block height, without a reload.
2. The node restarts while the chat is open: the page reconnects by itself
   and shows every message sent while it was away, exactly once.
3. The explorer's block list grows as blocks land, and the block, tx,
   account and contract pages render the node's real data (a counter
   contract deployed and called with signed transactions).
4. Every page loads with no console error and no CSP violation, under the
   node's Content-Security-Policy header.
5. Screenshots of every page at desktop (1280x800) and phone (390x844)
   widths, saved in <build dir>/screenshots/ for a person to look at.

Needs the Debian package `chromium` (LL_CHROMIUM overrides the binary)."""

import asyncio
import json
import os
import struct
import sys
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
import process  # noqa: E402  (its free_port, patched for a restart on the same port)
import test_contracts as TC  # noqa: E402  (Wallet, example, vm_address, receipt, word)
from test_browser import BROWSER_HTML, PASSWORD, Cdp, Chromium, blocking, run_async  # noqa: E402

# Contract runs under the sanitizers can outlast the default time limit
# (test_contracts.py says why), so this node allows 10 s.
SERVER_FLAGS = ("--dev", "--block-interval-ms", "150", "--difficulty", "1",
                "--contract-time-limit-ms", "10000")
SERVER_NAME = "webapp-node"

DESKTOP = (1280, 800)
PHONE = (390, 844)
SHOTS_DIR = os.environ.get("LL_SCREENSHOT_DIR") or os.path.join(
    os.path.dirname(H.binary_path()), "screenshots")

# Recorded in every document before its own scripts run: CSP violations
# reach the page as securitypolicyviolation events.
CSP_WATCH = """window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(
    e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber));"""


class Page(Cdp):
    """Cdp with the protocol's events kept (console, exceptions, log), one
    page in its own browser context (own cookies and storage) when asked."""

    def __init__(self, ws):
        self.events = []
        super().__init__(ws)

    def on_event(self, msg):
        if "method" in msg:
            self.events.append(msg)

    async def open(self, isolated=True, size=DESKTOP):
        params = {"url": "about:blank"}
        if isolated:
            ctx = await self.send("Target.createBrowserContext", {"disposeOnDetach": True},
                                  page=False)
            params["browserContextId"] = ctx["browserContextId"]
        target = await self.send("Target.createTarget", params, page=False)
        att = await self.send("Target.attachToTarget",
                              {"targetId": target["targetId"], "flatten": True}, page=False)
        self.session = att["sessionId"]
        for method in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            await self.send(method)
        await self.send("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_WATCH})
        await self.send("Emulation.setScrollbarsHidden", {"hidden": True})
        await self.resize(size)

    async def resize(self, size, mobile=None):
        width, height = size
        await self.send("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1,
            "mobile": width < 600 if mobile is None else mobile})

    def errors(self, since=0):
        """Console errors, uncaught exceptions and error log entries (CSP
        refusals and failed loads among them) since event number `since`."""
        out = []
        for ev in self.events[since:]:
            method, p = ev["method"], ev.get("params", {})
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.%s: %s" % (p["type"], " ".join(
                    str(a.get("value", a.get("description", ""))) for a in p.get("args", []))))
            elif method == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: %s %s" % (d.get("text"), d.get("exception", {})
                                                 .get("description", "")))
            elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                e = p["entry"]
                out.append("log (%s): %s %s" % (e.get("source"), e.get("text"), e.get("url", "")))
        return out

    async def csp_violations(self):
        return await self.js("window.__csp || []")

    async def fill(self, selector, value):
        await self.js("(() => { const e = document.querySelector(%s); e.value = %s; "
                      "return true; })()"
                      % (json.dumps(selector), json.dumps(value)))

    async def press_enter_in(self, selector, text):
        """Types text into the element with real key events and presses Enter."""
        await self.js("document.querySelector(%s).focus(), true" % json.dumps(selector))
        await self.send("Input.insertText", {"text": text})
        for kind in ("keyDown", "keyUp"):
            await self.send("Input.dispatchKeyEvent", {
                "type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13,
                "nativeVirtualKeyCode": 13, **({"text": "\r"} if kind == "keyDown" else {})})

    async def shot(self, name, size):
        await self.resize(size)
        await self.js("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
                      ".then(() => true)")
        os.makedirs(SHOTS_DIR, exist_ok=True)
        path = os.path.join(SHOTS_DIR, name + ".png")
        await self.screenshot(path)
        return path


async def new_page(browser, size=DESKTOP):
    page = await Page.connect(browser.ws_url or browser.devtools_url())
    try:
        await page.open(True, size)
    except BaseException:
        await page.close()
        raise
    return page


# --------------------------------------------------------------------------
# The messenger's page
# --------------------------------------------------------------------------

async def chat_sign_in(page, url, username, register=False):
    """Opens /chat and signs in (or registers) through the page's form."""
    await page.navigate(url + "/chat")
    await page.wait_js("window.chat && window.chat.conn === 'signed-out' && "
                       "!document.getElementById('auth').hidden", 20, "the sign-in form")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    button = "register" if register else "login"
    await page.js("document.getElementById(%s).click(), true" % json.dumps(button))
    await page.wait_js("window.chat.conn === 'live' && window.chat.requeries > 0", 20,
                       "the chat to be signed in and live")


async def open_conversation(page, to):
    await page.fill("#to", to)
    await page.js("document.getElementById('new-conv').requestSubmit(), true")
    await page.wait_js("!document.getElementById('text').disabled", 10, "the compose box")


async def send_from_page(page, text):
    """Types a message and presses Enter; returns its tx_id."""
    before = await page.js("window.chat.sent.length")
    await page.press_enter_in("#text", text)
    return await page.wait_js("window.chat.sent[%d]" % before, 20, "the message's 202")


def msg_state_js(tx_id):
    """The page's view of one message: its statuses, its rows, their mark."""
    return """(() => {
        const rows = document.querySelectorAll('#messages li[data-tx=%(id)s]');
        const mark = rows[0] && rows[0].querySelector('.mark');
        return {statuses: window.chat.statuses[%(id)s] || [], rows: rows.length,
                status: rows[0] ? rows[0].dataset.status : null,
                title: mark ? mark.title : null, text: rows[0] ? rows[0].innerText : null};
    })()""" % {"id": json.dumps(tx_id)}


async def wait_confirmed_in_page(page, tx_id, height, what):
    await page.wait_js("(() => { const s = %s; "
                       "return s.status === 'confirmed' && s.rows === 1; })()"
                       % msg_state_js(tx_id), 30, what)
    state = await page.js(msg_state_js(tx_id))
    assert state["title"] == "Confirmed in block %d" % height, state
    return state


@H.timeout(180)
def test_two_users_in_two_browser_contexts_see_each_others_messages_pending_then_confirmed(srv):
    alice = "alice" + os.urandom(3).hex()
    bob = "bob" + os.urandom(3).hex()
    H.register_user(srv, bob, PASSWORD)  # alice registers through the page

    async def scenario(browser):
        pa = await new_page(browser)
        pb = await new_page(browser)
        try:
            await chat_sign_in(pa, srv.url, alice, register=True)
            await chat_sign_in(pb, srv.url, bob)
            for p in (pa, pb):
                await p.js("window.__sameDocument = true")

            # Alice writes to bob by name; bob's page has no conversation yet.
            await open_conversation(pa, bob)
            hello = await send_from_page(pa, "hello bob, from alice")
            await pb.wait_js("""[...document.querySelectorAll('#convs button.conv')].some(b =>
                b.querySelector('.conv-name').textContent === %s && b.dataset.unread === '1')"""
                             % json.dumps(alice), 30,
                             "alice's conversation, 1 unread, on bob's page")
            tx = await blocking(srv.wait_confirmed, hello)
            await pb.js("""[...document.querySelectorAll('#convs button.conv')].find(b =>
                b.querySelector('.conv-name').textContent === %s).click(), true"""
                         % json.dumps(alice))
            seen_b = await wait_confirmed_in_page(pb, hello, tx["block_height"],
                                                  "alice's message confirmed on bob's page")
            seen_a = await wait_confirmed_in_page(pa, hello, tx["block_height"],
                                                  "alice's own message confirmed")
            unread_after = await pb.js("""[...document.querySelectorAll('#convs button.conv')]
                .find(b => b.getAttribute('aria-current') === 'true').dataset.unread""")

            # Bob answers with Enter; alice's open thread shows it.
            reply = await send_from_page(pb, "hi alice — bob here")
            tx2 = await blocking(srv.wait_confirmed, reply)
            reply_a = await wait_confirmed_in_page(pa, reply, tx2["block_height"],
                                                   "bob's reply confirmed on alice's page")
            reply_b = await wait_confirmed_in_page(pb, reply, tx2["block_height"],
                                                   "bob's own reply confirmed")
            same = [await p.js("window.__sameDocument === true") for p in (pa, pb)]
            errors = pa.errors() + pb.errors()
            return seen_a, seen_b, reply_a, reply_b, unread_after, same, errors
        finally:
            await pa.close()
            await pb.close()

    with Chromium() as browser:
        seen_a, seen_b, reply_a, reply_b, unread_after, same, errors = run_async(scenario(browser))

    # Each side saw the other's message pending first, then confirmed.
    assert seen_b["statuses"] == ["pending", "confirmed"], seen_b
    assert reply_a["statuses"] == ["pending", "confirmed"], reply_a
    assert seen_a["statuses"] == ["pending", "confirmed"], seen_a
    assert reply_b["statuses"] == ["pending", "confirmed"], reply_b
    assert "hello bob, from alice" in seen_b["text"] and "hi alice — bob here" in reply_a["text"]
    assert unread_after == "0", "opening the conversation did not clear its unread count"
    assert same == [True, True], "a page reloaded"
    assert errors == [], errors


def test_chat_is_served_at_slash_chat_with_its_module_and_stylesheet(srv):
    r = srv.get("/chat", headers={"Accept": BROWSER_HTML})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html"), r.headers
    assert '<script type="module" src="/chat.js"></script>' in r.text, r.text[:400]
    for name, kind in (("/chat.js", "text/javascript"), ("/common.js", "text/javascript"),
                       ("/style.css", "text/css"), ("/explorer.js", "text/javascript")):
        a = srv.get(name)
        assert a.status_code == 200, (name, a.status_code)
        assert a.headers["Content-Type"].startswith(kind), (name, a.headers)


@H.timeout(240)
def test_chat_reconnects_after_a_node_restart_and_shows_messages_sent_meanwhile_exactly_once():
    alice = "alice" + os.urandom(3).hex()
    bob = "bob" + os.urandom(3).hex()
    with H.Server(*SERVER_FLAGS, name="webapp-restart-node") as srv:
        H.register_user(srv, alice, PASSWORD)
        H.register_user(srv, bob, PASSWORD)
        bob_token = H.login(srv, bob, PASSWORD)
        port = srv.port

        def send_and_confirm(texts):
            ids = [H.send_message(srv, bob_token, alice, t) for t in texts]
            return [srv.wait_confirmed(i)["tx_id"] for i in ids]

        # The node is stopped and started from this (the main) thread, which
        # its process is tied to, so the browser is driven from one event
        # loop run here phase by phase.
        loop = asyncio.new_event_loop()
        run = loop.run_until_complete
        try:
            with Chromium() as browser:
                page = run(new_page(browser))
                try:
                    run(chat_sign_in(page, srv.url, alice))
                    run(page.js("window.__sameDocument = true"))
                    before = send_and_confirm(["before 1", "before 2"])
                    run(page.wait_js("!!(window.chat.statuses[%s] && document.querySelector("
                                     "'#convs button.conv'))" % json.dumps(before[1]), 30,
                                     "the messages sent before the restart"))
                    run(page.js("document.querySelector('#convs button.conv').click(), true"))
                    opens = run(page.js("window.chat.opens"))

                    # The node goes away; the page says so.
                    srv.stop()
                    run(page.wait_js("window.chat.conn !== 'live'", 30, "the page to notice"))
                    shown_down = run(page.js("document.getElementById('conn').textContent"))
                    # While the page cannot reach the stream, the node comes
                    # back on its port, and messages are sent and confirmed.
                    run(page.send("Network.setBlockedURLs", {"urls": ["*/api/stream*"]}))
                    with mock.patch.object(process, "free_port", lambda: port):
                        srv.start()
                    during = send_and_confirm(["while away 1", "while away 2", "while away 3"])
                    run(page.send("Network.setBlockedURLs", {"urls": []}))

                    # No reload: the page reconnects and catches up by itself.
                    run(page.wait_js("window.chat.conn === 'live' && window.chat.opens > %d"
                                     % opens, 60, "the page to reconnect"))
                    every = before + during
                    run(page.wait_js("%s.every(id => document.querySelectorAll("
                                     "'#messages li[data-tx=\"' + id + '\"]"
                                     "[data-status=confirmed]').length === 1)"
                                     % json.dumps(every), 30,
                                     "every message, confirmed, in the thread"))
                    # One more after the reconnect arrives live.
                    after = send_and_confirm(["after"])
                    run(page.wait_js("document.querySelectorAll('#messages li[data-tx=%s]"
                                     "[data-status=confirmed]').length === 1"
                                     % json.dumps(after[0]), 30, "the message after reconnecting"))
                    rows = run(page.js("[...document.querySelectorAll('#messages li[data-tx]')]"
                                       ".map(li => li.dataset.tx)"))
                    texts = run(page.js("[...document.querySelectorAll("
                                        "'#messages li[data-tx] .text')].map(p => p.textContent)"))
                    same = run(page.js("window.__sameDocument === true"))
                    requeries = run(page.js("window.chat.requeries"))
                    sent = every + after
                finally:
                    run(page.close())
        finally:
            loop.close()

    assert same, "the page reloaded"
    assert shown_down != "● live", shown_down
    assert sorted(rows) == sorted(sent), "rows %r, sent %r" % (rows, sent)  # each exactly once
    assert texts == ["before 1", "before 2", "while away 1", "while away 2", "while away 3",
                     "after"], texts
    assert requeries >= 2, "the history was not re-read on reconnect (%d)" % requeries


# --------------------------------------------------------------------------
# The explorer
# --------------------------------------------------------------------------

_worlds = {}


def world(srv):
    """Real data for the explorer's pages, made once per node: a funded key
    that deployed examples/contracts/counter.lua and called increment()."""
    key = (srv.url, srv.data_dir, srv.runs)
    if key not in _worlds:
        w = TC.Wallet(srv)
        deploy_id, contract = w.deploy(TC.example("counter.lua"))
        rc = TC.receipt(srv, deploy_id)
        assert rc["success"] and rc["to"] == contract, rc
        call_id = w.call(contract, 1)
        call_rc = TC.receipt(srv, call_id)
        assert call_rc["success"], call_rc
        _worlds[key] = {"wallet": w, "address": w.address, "contract": contract,
                        "deploy": deploy_id, "call": call_id, "call_rc": call_rc,
                        "call_height": srv.tx(call_id)["block_height"]}
    return _worlds[key]


async def goto(page, hash_, kind):
    await page.js("location.hash = %s, true" % json.dumps(hash_))
    await page.wait_js("document.getElementById('view').dataset.page === %s && "
                       "document.getElementById('view').dataset.state === 'ready'"
                       % json.dumps(kind), 20, "the %s page" % kind)
    return await page.js("document.getElementById('view').innerText")


def view_has(selector):
    return "!!document.querySelector('#view %s')" % selector


@H.timeout(240)
def test_explorer_block_list_grows_live_and_pages_render_real_data(srv):
    async def scenario(browser):
        page = await new_page(browser)
        try:
            await page.navigate(srv.url + "/")
            await page.js("window.__sameDocument = true")
            await page.wait_js("window.explorer && window.explorer.conn === 'open' && "
                               "document.querySelectorAll('#blocks tbody tr').length > 0", 30,
                               "the block list")
            first_rows = await page.js("document.querySelectorAll('#blocks tbody tr').length")

            # Blocks land: the list grows without a reload.
            w = await blocking(world, srv)
            grant = await blocking(srv.fund, H.random_address(), 5 * H.UNITS_PER_COIN)
            height = (await blocking(srv.tx, grant))["block_height"]
            for h in (w["call_height"], height):
                await page.wait_js("!!document.querySelector("
                                   "'#blocks tbody tr[data-height=\"%d\"]')" % h, 30,
                                   "block %d in the list" % h)
            rows = await page.js("[...document.querySelectorAll('#blocks tbody tr')]"
                                 ".map(r => Number(r.dataset.height))")
            tip = await page.js("document.getElementById('tip').textContent")
            block = await blocking(srv.block, w["call_height"])

            # The block page: its hash, its transactions with their kinds.
            text = await goto(page, "#/block/%d" % w["call_height"], "block")
            await page.wait_js("![...document.querySelectorAll('#block-txs tbody td:nth-child(3)')]"
                               ".some(td => td.textContent === '…')", 20, "the block's tx kinds")
            block_text = await page.js("document.getElementById('view').innerText")
            assert block["hash"] in text and w["call"][:16] in block_text, block_text[:800]
            assert "call" in block_text, block_text[:800]

            # The tx page of the call, with its receipt; the deploy's receipt
            # names the contract.
            call_text = await goto(page, "#/tx/" + w["call"], "tx")
            receipt = await page.js("document.getElementById('receipt').innerText")
            deploy_text = await goto(page, "#/tx/" + w["deploy"], "tx")
            deploy_links = await page.js("[...document.querySelectorAll('#receipt a')]"
                                         ".map(a => a.getAttribute('href'))")

            # The account page: balances per asset, and its history kept live.
            acc_text = await goto(page, "#/account/" + w["address"], "account")
            await page.wait_js("!!document.querySelector('#account-txs tr[data-tx=\"%s\"]')"
                               % w["call"], 20, "the call in the account's history")
            balance_before = await page.js("document.querySelector('#balances').innerText")
            more = await blocking(srv.fund, w["address"], 7 * H.UNITS_PER_COIN)
            await page.wait_js("!!document.querySelector('#account-txs tr[data-tx=\"%s\"]')"
                               % more, 30, "a new transfer to the account, live")
            units = await blocking(srv.balance, w["address"])
            await page.wait_js("document.querySelector('#balances').innerText.includes(%s)"
                               % json.dumps(coins_text(units)), 30, "the new balance")
            history = await page.js("[...document.querySelectorAll('#account-txs tr[data-tx]')]"
                                    ".map(r => r.dataset.tx)")

            # The contract page: code and recent receipts.
            await goto(page, "#/contract/" + w["contract"], "contract")
            code = await page.js("document.getElementById('contract-code').textContent")
            receipts = await page.js("[...document.querySelectorAll('#receipts tr[data-tx]')]"
                                     ".map(r => r.dataset.tx)")

            # The search box: a height, a tx id, an address.
            hashes = []
            for q in (str(w["call_height"]), w["deploy"], w["address"], "0x" + w["contract"]):
                await page.fill("#q", q)
                await page.js("document.getElementById('search').requestSubmit(), true")
                await page.wait_js("document.getElementById('view').dataset.state === 'ready'",
                                   20, "the search result for " + q)
                hashes.append(await page.js("location.hash"))
            same = await page.js("window.__sameDocument === true")

            # Signed in (the messenger's session), the account page follows
            # the event stream filtered to its address.
            await chat_sign_in(page, srv.url, "dan" + os.urandom(3).hex(), register=True)
            await page.navigate(srv.url + "/#/account/" + w["address"])
            await page.wait_js("window.explorer.sse === 'open' && document.getElementById("
                               "'live-note').textContent.includes('/api/stream?address=')", 20,
                               "the account's filtered stream")
            third = await blocking(srv.fund, w["address"], 3 * H.UNITS_PER_COIN, False)
            await page.wait_js("!!document.querySelector('#account-txs tr[data-tx=\"%s\"]')"
                               % third, 30, "a transfer to the account over the stream")
            top = await page.js("document.querySelector('#account-txs tr[data-tx]').dataset.tx")
            return dict(top=top, third=third, first_rows=first_rows, rows=rows, tip=tip,
                        call_text=call_text,
                        receipt=receipt, deploy_text=deploy_text, deploy_links=deploy_links,
                        acc_text=acc_text, balance_before=balance_before, history=history,
                        more=more, code=code, receipts=receipts, hashes=hashes, same=same,
                        height=height, w=w, errors=page.errors())
        finally:
            await page.close()

    with Chromium() as browser:
        r = run_async(scenario(browser))
    w = r["w"]
    assert len(r["rows"]) > r["first_rows"], r["rows"]
    assert r["rows"] == sorted(r["rows"], reverse=True), r["rows"]
    assert r["tip"] == "#%d" % max(r["rows"]), (r["tip"], r["rows"])
    assert "success" in r["receipt"] and w["call_rc"]["return_data"] in r["receipt"], r["receipt"]
    assert TC.word(1) == w["call_rc"]["return_data"]
    assert "deploy" in r["deploy_text"] and "#/contract/" + w["contract"] in r["deploy_links"]
    assert "native coin" in r["balance_before"], r["balance_before"]
    assert w["call"] in r["history"] and w["deploy"] in r["history"], r["history"]
    assert r["history"][0] == r["more"], "the new transfer is not at the top: %r" % r["history"]
    assert "increment" in r["code"] and "storage.set" in r["code"], r["code"][:300]
    assert w["call"] in r["receipts"] and w["deploy"] in r["receipts"], r["receipts"]
    assert r["hashes"] == ["#/block/%d" % w["call_height"], "#/tx/" + w["deploy"],
                           "#/account/" + w["address"], "#/contract/" + w["contract"]], r["hashes"]
    assert r["same"], "the page reloaded"
    assert r["top"] == r["third"], (r["top"], r["third"])
    assert r["errors"] == [], r["errors"]


def coins_text(units):
    """How the pages write units as coins: 1234.5 coins is '1,234.5'."""
    whole, frac = divmod(units, H.UNITS_PER_COIN)
    frac_text = ("%06d" % frac).rstrip("0")
    return "{:,}".format(whole) + ("." + frac_text if frac_text else "")


# --------------------------------------------------------------------------
# Every page: console, CSP, screenshots
# --------------------------------------------------------------------------

READY = {
    "explorer": "window.explorer && window.explorer.conn === 'open' && "
                "document.querySelectorAll('#blocks tbody tr').length > 0 && "
                "!!document.getElementById('health-table')",
    "detail": "document.getElementById('view').dataset.state === 'ready'",
    "chat-signed-out": "window.chat && window.chat.conn === 'signed-out' && "
                       "!document.getElementById('auth').hidden",
    "live": "window.live && window.live.ws === 'open'",
}


def page_list(srv, w):
    return [
        ("explorer", "/", READY["explorer"]),
        ("block", "/#/block/%d" % w["call_height"], READY["detail"]),
        ("tx", "/#/tx/" + w["call"], READY["detail"] + " && !!document.getElementById('receipt')"),
        ("account", "/#/account/" + w["address"],
         READY["detail"] + " && !!document.querySelector('#account-txs tr[data-tx]')"),
        ("contract", "/#/contract/" + w["contract"],
         READY["detail"] + " && !!document.querySelector('#receipts tr[data-tx]')"),
        ("chat-signed-out", "/chat", READY["chat-signed-out"]),
        ("live", "/live.html", READY["live"]),
    ]


async def visit(browser, srv, pages, each):
    """Opens each page in a fresh context, waits until it is ready, then
    calls each(page, name); finally the signed-in chat with a conversation."""
    out = {}
    for name, path, ready in pages:
        page = await new_page(browser)
        try:
            await page.navigate(srv.url + path)
            await page.wait_js(ready, 30, "the %s page to be ready" % name)
            out[name] = await each(page, name)
        finally:
            await page.close()
    page = await new_page(browser)
    try:
        user = "carol" + os.urandom(3).hex()
        await chat_sign_in(page, srv.url, user, register=True)
        await open_conversation(page, "dev")
        sent = await send_from_page(page, "hello dev, from " + user)
        await page.wait_js("!!document.querySelector('#messages li[data-tx=%s]"
                           "[data-status=confirmed]')" % json.dumps(sent), 30, "the confirmation")
        out["chat"] = await each(page, "chat")
    finally:
        await page.close()
    return out


@H.timeout(240)
def test_every_page_loads_with_no_console_error_and_no_csp_violation(srv):
    w = world(srv)
    for path in ("/", "/chat", "/live.html"):
        r = srv.get(path, headers={"Accept": BROWSER_HTML})
        csp = r.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "style-src 'self'" in csp, (path, r.headers)

    async def check(page, name):
        return {"errors": page.errors(), "csp": await page.csp_violations()}

    with Chromium() as browser:
        found = run_async(visit(browser, srv, page_list(srv, w), check))
    assert set(found) == {"explorer", "block", "tx", "account", "contract", "chat-signed-out",
                          "live", "chat"}, sorted(found)
    bad = {k: v for k, v in found.items() if v["errors"] or v["csp"]}
    assert not bad, json.dumps(bad, indent=1)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "%s is not a PNG" % path
    return struct.unpack(">II", head[16:24])


@H.timeout(240)
def test_screenshots_of_every_page_at_desktop_and_phone_widths(srv):
    w = world(srv)

    async def shoot(page, name):
        paths = [await page.shot(name + "-desktop", DESKTOP),
                 await page.shot(name + "-phone", PHONE)]
        if name == "chat":  # on a phone the list and the thread are two views
            await page.js("document.getElementById('back').click(), true")
            paths.append(await page.shot("chat-list-phone", PHONE))
        return paths

    with Chromium() as browser:
        found = run_async(visit(browser, srv, page_list(srv, w), shoot))
    paths = [p for ps in found.values() for p in ps]
    assert len(paths) == 2 * 8 + 1, paths
    for p in paths:
        size = png_size(p)
        want = PHONE if p.endswith("-phone.png") else DESKTOP
        assert size == want, (p, size)
        assert os.path.getsize(p) > 5000, "%s is nearly empty" % p
