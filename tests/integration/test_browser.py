"""The live page in a real browser: headless Chromium loads /live.html from
the node, signs in through the page's form, and the page's EventSource
(/api/stream) and WebSocket (/api/v1/streams/valid_tx) receive the events of
a chat message sent from the page and of a faucet transfer. The test drives
Chromium over the DevTools protocol (python3-websockets) and reads
window.received and the DOM.

Needs the Debian package `chromium` (LL_CHROMIUM overrides the binary).
LL_SCREENSHOT=<file.png> saves what the page showed at the end."""

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402

CHROMIUM = os.environ.get("LL_CHROMIUM", "/usr/bin/chromium")
BROWSER_START_S = 30
PASSWORD = "correct horse battery"
BROWSER_HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


SERVER_FLAGS = ("--dev", "--block-interval-ms", "150", "--difficulty", "1")
SERVER_NAME = "browser-node"


class Chromium:
    """Headless Chromium in its own process group, with a throw-away
    profile; stopped (the whole group, by pid) in bounded time."""

    def __init__(self):
        if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
            raise AssertionError("no browser at %s: install the Debian package `chromium`"
                                 % CHROMIUM)
        self.tmp = tempfile.mkdtemp(prefix="ledgerline-chromium-")
        self.log = os.path.join(self.tmp, "stderr.log")
        argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + os.path.join(self.tmp, "profile"),
                "--remote-debugging-port=0", "about:blank"]
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err,
                                         env=H.child_env(), start_new_session=True,
                                         preexec_fn=H._die_with_parent)
        self.ws_url = None

    def stderr(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def devtools_url(self):
        """The browser's DevTools WebSocket URL, from its stderr."""
        def found():
            if self.proc.poll() is not None:
                raise AssertionError("chromium exited with %s:\n%s" % (self.proc.returncode,
                                                                       self.stderr()[-3000:]))
            m = re.search(r"DevTools listening on (ws://\S+)", self.stderr())
            return m.group(1) if m else None
        self.ws_url = H.wait_until(found, BROWSER_START_S, "chromium's DevTools line")
        return self.ws_url

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        try:  # whatever is left of the group (renderers, zygote)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(5)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class Cdp:
    """A minimal Chrome DevTools Protocol client: commands by id, one page
    session (flattened), JavaScript evaluated by value."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.waiting = {}
        self.session = None
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(cls, url):
        import websockets
        ws = await websockets.connect(url, max_size=64 * 2 ** 20, ping_interval=None,
                                      open_timeout=15)
        return cls(ws)

    async def _read(self):
        async for raw in self.ws:
            msg = json.loads(raw)
            if "id" not in msg:
                self.on_event(msg)
                continue
            fut = self.waiting.pop(msg["id"], None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    def on_event(self, msg):
        """A protocol event (no id): ignored here; a subclass may keep it."""

    async def send(self, method, params=None, page=True, timeout=20):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if page and self.session:
            msg["sessionId"] = self.session
        fut = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = fut
        await self.ws.send(json.dumps(msg))
        reply = await asyncio.wait_for(fut, timeout)
        if "error" in reply:
            raise AssertionError("%s: %s" % (method, reply["error"]))
        return reply.get("result", {})

    async def open_page(self):
        target = await self.send("Target.createTarget", {"url": "about:blank"}, page=False)
        att = await self.send("Target.attachToTarget",
                              {"targetId": target["targetId"], "flatten": True}, page=False)
        self.session = att["sessionId"]
        await self.send("Page.enable")
        await self.send("Runtime.enable")

    async def js(self, expression):
        res = await self.send("Runtime.evaluate", {"expression": expression,
                                                   "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in res:
            raise AssertionError("JS %r threw: %s" % (expression, res["exceptionDetails"]))
        return res["result"].get("value")

    async def wait_js(self, expression, timeout=20, what=None):
        """Evaluates expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = await self.js(expression)
            if last:
                return last
            if time.monotonic() >= deadline:
                state = await self.js("JSON.stringify(window.live || null)")
                raise AssertionError("timed out after %d s waiting for %s (last %r, live %s)" % (
                    timeout, what or expression, last, state))
            await asyncio.sleep(0.05)

    async def navigate(self, url):
        await self.send("Page.navigate", {"url": url})
        await self.wait_js("document.readyState === 'complete' && location.href === %s"
                           % json.dumps(url), 20, "the page to load")

    async def screenshot(self, path):
        res = await self.send("Page.captureScreenshot", {"format": "png"})
        with open(path, "wb") as f:
            f.write(base64.b64decode(res["data"]))

    async def close(self):
        await self.ws.close()
        self.reader.cancel()


def run_async(coro):
    return asyncio.run(coro)


async def blocking(fn, *args):
    """An HTTP call of the test, off the loop that talks to the browser."""
    return await asyncio.to_thread(fn, *args)


# --------------------------------------------------------------------------

def test_live_page_and_script_are_served_and_linked_from_the_index(srv):
    r = srv.get("/live.html")
    assert r.status_code == 200, r.status_code
    assert r.headers["Content-Type"].startswith("text/html"), r.headers["Content-Type"]
    assert 'src="/live.js"' in r.text, r.text[:300]
    r = srv.get("/live.js")
    assert r.status_code == 200, r.status_code
    assert "javascript" in r.headers["Content-Type"], r.headers["Content-Type"]
    assert "window.received" in r.text
    index = srv.get("/", headers={"Accept": BROWSER_HTML})
    assert index.headers["Content-Type"].startswith("text/html"), index.headers
    assert 'href="/live.html"' in index.text, "the index does not link the live page"


@H.timeout(120)
def test_page_signs_in_and_receives_sse_and_websocket_events_in_chromium(srv):
    bob = "bob" + os.urandom(3).hex()
    carol = "carol" + os.urandom(3).hex()
    H.register_user(srv, bob, PASSWORD)
    url = srv.url + "/live.html"

    async def scenario(browser):
        cdp = await Cdp.connect(browser.devtools_url())
        try:
            await cdp.open_page()
            await cdp.navigate(url)
            await cdp.wait_js("window.received && window.live", 10, "the page's script")
            # The WebSocket stream is public: it opens before anyone signs in.
            await cdp.wait_js("window.live.ws === 'open'", 20, "the valid_tx WebSocket")
            assert await cdp.js("window.live.sse") == "closed"
            assert await cdp.js("!document.getElementById('login-section').hidden")

            # Sign in through the form, as a person would.
            await cdp.js("""(() => {
                document.getElementById('username').value = 'dev';
                document.getElementById('password').value = 'devdevdev';
                document.getElementById('login-form').requestSubmit();
                return true; })()""")
            await cdp.wait_js("window.live.sse === 'open'", 20, "the EventSource to open")
            assert await cdp.js("window.live.user") == "dev"
            assert await cdp.js("document.getElementById('login-section').hidden")

            # A chat message from the page, and a faucet transfer from outside.
            await cdp.js("""(() => {
                document.getElementById('to').value = %s;
                document.getElementById('text').value = 'hello from chromium';
                document.getElementById('compose-form').requestSubmit();
                return true; })()""" % json.dumps(bob))
            sent = await cdp.wait_js("window.live.sent[0]", 20, "the message's 202")
            grant = await blocking(srv.fund, H.random_address(), 1234)
            msg = await blocking(srv.wait_confirmed, sent)

            await cdp.wait_js("""window.received.sse.some(e => e.type === 'message'
                && e.msg.tx_id === %s && e.msg.status === 'confirmed')""" % json.dumps(sent),
                              20, "the confirmed message over SSE")
            await cdp.wait_js("""window.received.sse.some(e => e.type === 'tx'
                && e.tx.tx_id === %s)""" % json.dumps(grant), 20, "the transfer over SSE")
            await cdp.wait_js("""[%s, %s].every(id => window.received.ws.some(
                f => f.txid === id))""" % (json.dumps(sent), json.dumps(grant)), 20,
                              "both transactions over the WebSocket")
            received = await cdp.js("window.received")
            sse_text = await cdp.js("document.getElementById('sse-feed').innerText")
            ws_rows = await cdp.js("document.querySelectorAll('#ws-feed li[data-type]').length")
            if os.environ.get("LL_SCREENSHOT"):  # a desktop-sized look at the page
                await cdp.send("Emulation.setDeviceMetricsOverride", {
                    "width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
                await cdp.screenshot(os.environ["LL_SCREENSHOT"])

            # The page reloads with its session: the stream opens without a form.
            await cdp.navigate(url)
            await cdp.wait_js("window.live.sse === 'open' && window.live.user === 'dev'", 20,
                              "the stream to reopen with the session cookie")

            # Sign out, then register a new user from the form: signed in again.
            await cdp.js("document.getElementById('logout').click(), true")
            await cdp.wait_js("window.live.sse === 'closed' && window.live.user === null && "
                              "!document.getElementById('login-section').hidden", 10,
                              "the page to sign out")
            await cdp.js("""(() => {
                document.getElementById('username').value = %s;
                document.getElementById('password').value = %s;
                document.getElementById('register').click();
                return true; })()""" % (json.dumps(carol), json.dumps(PASSWORD)))
            await cdp.wait_js("window.live.sse === 'open' && window.live.user === %s"
                              % json.dumps(carol), 20, "the new user's stream")
            return msg, grant, received, sse_text, ws_rows
        finally:
            await cdp.close()

    with Chromium() as browser:
        msg, grant, received, sse_text, ws_rows = run_async(scenario(browser))

    sent = msg["tx_id"]
    statuses = [e["msg"]["status"] for e in received["sse"]
                if e["type"] == "message" and e["msg"]["tx_id"] == sent]
    assert statuses == ["pending", "confirmed"], statuses
    confirmed = [e for e in received["sse"] if e["type"] == "message"
                 and e["msg"]["tx_id"] == sent][-1]
    H.check_msg_envelope(confirmed, msg, "confirmed", msg["block_height"], "dev")
    assert any(e["type"] == "block" and e["block"]["height"] == msg["block_height"]
               for e in received["sse"]), "no block event for the message's block"
    frames = {f["txid"]: f for f in received["ws"]}
    for tx_id in (sent, grant):
        f = frames[tx_id]
        assert set(f) == {"txid", "assetid", "blockid"}, f
        assert f["assetid"] == H.NATIVE_ASSET, f
        assert f["blockid"] == srv.block(srv.tx(tx_id)["block_height"])["hash"], f
    assert "hello from chromium" in sse_text, sse_text[:500]
    assert "confirmed" in sse_text, sse_text[:500]
    assert ws_rows >= 2, ws_rows
