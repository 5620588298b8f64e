#!/usr/bin/env python3
"""The browser chat client in a real browser (web/, issue 18).

Two pages (Debian's Chromium, driven by Playwright, two browser contexts:
clients 1 and 2) and one native `chat_client` (client 3) in conversation 1,
on a real `chat_server` (Redis store) and a `redis-server` of the test's own,
all on 127.0.0.1. Meanwhile a page is reloaded mid-stream, the server is
killed with SIGKILL and restarted, and a page's WebSocket is dropped. At the
end every page (its IndexedDB and its DOM) and the native client's database
file hold every stored message exactly once, in order, exactly as Redis
holds them; every send is stored exactly once and acknowledged.

Run from the repository root after `cargo build --features redis-store
--examples` and `web/build.sh` (`.ci/run` does both):

    python3 tests/web/test_chat_browser.py

Environment: CHROMIUM (default /usr/bin/chromium), ACKWIRE_EXAMPLES (the
directory of the example binaries, default target/debug/examples).
Prints one line per check and closes with 'web: N passed, N failed'.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from playwright.sync_api import sync_playwright

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
EXAMPLES = os.environ.get("ACKWIRE_EXAMPLES", os.path.join(TARGET, "debug", "examples"))
WEB = os.path.join(ROOT, "web", "www")
SECRET = "web-test-secret"
PREFIX = "webtest"
CONV = 1
# Chromium as the machine runs it: no sandbox as root, no GPU, and no
# background connections (the network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEADLINE_S = 150  # the whole test, hard
# Storage that fails now and then, from outside the page: while
# `window.flakyStorage` is N > 0, every Nth read-write transaction on the
# messages store is aborted right after its writes were queued (as a full
# quota or a crashed write would). The page must not commit what it did
# not store, and must get it again.
FLAKY_STORAGE = """
(() => {
  const transaction = IDBDatabase.prototype.transaction;
  let n = 0;
  window.flakyStorage = 0;
  window.abortedWrites = 0;
  IDBDatabase.prototype.transaction = function (stores, mode, ...rest) {
    const tx = transaction.call(this, stores, mode, ...rest);
    if (mode === 'readwrite' && String(stores) === 'messages' && window.flakyStorage > 0
        && ++n % window.flakyStorage === 0) {
      queueMicrotask(() => {
        try { tx.abort(); window.abortedWrites++; } catch (e) { /* already finished */ }
      });
    }
    return tx;
  };
})();
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """Just enough RESP to read the store: one command, one reply."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def command(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._reply()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exactly(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2 :]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b":"):
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exactly(n)
        if kind == b"*":
            return [self._reply() for _ in range(int(rest))]
        raise RuntimeError(f"unexpected reply {line!r}")


def stored_messages(redis):
    """Conversation 1 as Redis holds it: (prev, version, sender, outbox, text)."""
    out = []
    # RedisStore's layout: the stream's keys under its hash tag {sS}; each
    # member is "{version}:{prev}:{stored ms}:" + payload.
    for member in redis.command("ZRANGE", f"{PREFIX}:{{s{CONV}}}:m", 0, -1):
        version, prev, _ms, payload = member.split(b":", 3)
        out.append(parse_payload(int(prev), int(version), payload))
    return out


def parse_payload(prev, version, payload):
    sender = int.from_bytes(payload[0:8], "big")
    outbox = int.from_bytes(payload[8:16], "big")
    return (prev, version, sender, outbox, payload[16:].decode())


def native_db(path):
    """The native client's file (examples/chat/db.rs): messages, receipts."""
    messages, outbox, receipts = [], set(), set()
    with open(path, "rb") as f:
        text = f.read()
    text = text[: text.rfind(b"\n") + 1].decode()
    for line in text.splitlines():
        f = line.split(" ")
        if f[0] == "m" and int(f[1]) == CONV:
            messages.append(parse_payload(int(f[2]), int(f[3]), bytes.fromhex(f[4])))
        elif f[0] == "o":
            outbox.add(int(f[1]))
        elif f[0] == "r":
            receipts.add(int(f[1]))
    return messages, outbox, receipts


class Procs:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = {}
        self.env = dict(os.environ, CHAT_SECRET=SECRET, RUST_LOG="info")

    def start(self, name, argv, **kw):
        log = open(os.path.join(self.tmp, f"{name}.log"), "ab")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, **kw)
        self.procs[name] = p
        return p

    def kill9(self, name):
        p = self.procs.pop(name)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def stop_all(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
        self.procs.clear()


def wait_until(what, cond, timeout):
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def main():
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("test deadline")))
    signal.alarm(DEADLINE_S)
    for bin in ("chat_server", "chat_client"):
        if not os.access(os.path.join(EXAMPLES, bin), os.X_OK):
            sys.exit(f"{EXAMPLES}/{bin} missing: cargo build --features redis-store --examples")
    if not os.path.exists(os.path.join(WEB, "pkg", "ackwire_web_bg.wasm")):
        sys.exit("web/www/pkg missing: run web/build.sh")
    tmp = tempfile.mkdtemp(prefix="ackwire-web-")
    procs = Procs(tmp)
    results = []

    def check(name, ok, detail=""):
        results.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": {detail}"), flush=True)

    try:
        redis_port = free_port()
        procs.start(
            "redis",
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", tmp],
        )
        redis = wait_until("redis", lambda: try_redis(redis_port), 10)
        tcp, wsp, http = free_port(), free_port(), free_port()
        ws_url = f"ws://127.0.0.1:{wsp}/"

        def start_server():
            procs.start(
                "server",
                [os.path.join(EXAMPLES, "chat_server"),
                 "--listen", f"127.0.0.1:{tcp}", "--ws-listen", f"127.0.0.1:{wsp}",
                 "--metrics", f"127.0.0.1:{http}", "--web", WEB,
                 "--redis", f"redis://127.0.0.1:{redis_port}/", "--prefix", PREFIX],
            )
            wait_until("chat_server", lambda: http_ok(f"http://127.0.0.1:{http}/health"), 20)

        start_server()

        def token(client):
            out = subprocess.run(
                [os.path.join(EXAMPLES, "chat_server"), "--print-token", str(client)],
                env=procs.env, check=True, capture_output=True, text=True,
            )
            return out.stdout.strip()

        native_path = os.path.join(tmp, "client-3.db")
        native = procs.start(
            "native",
            [os.path.join(EXAMPLES, "chat_client"), "--id", "3", "--conv", str(CONV),
             "--server", ws_url, "--db", native_path],
            stdin=subprocess.PIPE,
        )
        sent = set()

        def native_send(n, tag):
            for i in range(n):
                text = f"native-{tag}-{i}"
                native.stdin.write(f"{CONV} {text}\n".encode())
                sent.add(text)
            native.stdin.flush()

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            pages = {}
            for client in (1, 2):
                ctx = browser.new_context()
                ctx.add_init_script(FLAKY_STORAGE)
                page = ctx.new_page()
                page.on("pageerror", lambda e, c=client: print(f"page {c} error: {e}", flush=True))
                url = (f"http://127.0.0.1:{http}/?id={client}&token={token(client)}"
                       f"&conv={CONV}&server={ws_url}")
                page.goto(url)
                pages[client] = page
            for page in pages.values():
                page.wait_for_function("window.chat && window.chat.connected()", timeout=20000)

            def reconnected(client, n, name):
                # Sockets accepted since the page loaded (chat.connections()).
                try:
                    pages[client].wait_for_function(f"chat.connections() >= {n}", timeout=20000)
                    check(name, True)
                except Exception as e:
                    got = pages[client].evaluate("chat.connections()")
                    check(name, False, f"{got} connections: {e}")

            def page_send(client, n, tag):
                # Resolves once every send is in the page's IndexedDB outbox
                # (not when it is stored: that is what the faults test).
                texts = [f"page{client}-{tag}-{i}" for i in range(n)]
                pages[client].evaluate("ts => Promise.all(ts.map(t => chat.send(t)))", texts)
                sent.update(texts)

            # 1. Everyone talks.
            for tag in ("a", "b"):
                page_send(1, 5, tag)
                native_send(5, tag)
                page_send(2, 5, tag)
            # 2. Reload page 1 mid-stream: its sends are in its outbox, the
            # others' are arriving.
            page_send(1, 8, "reload")
            native_send(8, "reload")
            page_send(2, 8, "reload")
            pages[1].reload()
            page_send(2, 4, "during-reload")
            pages[1].wait_for_function("window.chat && window.chat.connected()", timeout=20000)
            page_send(1, 4, "after-reload")
            # 3. kill -9 the server with sends in flight; send while it is
            # down; restart it on the same ports.
            page_send(2, 8, "kill")
            native_send(8, "kill")
            page_send(1, 8, "kill")
            procs.kill9("server")
            page_send(1, 4, "down")
            page_send(2, 4, "down")
            native_send(4, "down")
            time.sleep(0.5)
            start_server()
            # Both pages came back (page 1's count starts at its reload).
            reconnected(1, 2, "page 1 reconnected after the kill")
            reconnected(2, 2, "page 2 reconnected after the kill")
            # 4. Drop page 2's WebSocket mid-stream.
            page_send(2, 6, "drop")
            pages[2].evaluate("chat.dropSocket()")
            native_send(6, "drop")
            page_send(1, 6, "drop")
            page_send(2, 3, "after-drop")
            reconnected(2, 3, "page 2 reconnected after the drop")
            # 5. Page 1's storage fails now and then while messages arrive.
            pages[1].evaluate("window.flakyStorage = 3")
            for i in range(4):
                page_send(2, 4, f"flaky{i}")
                native_send(4, f"flaky{i}")
                page_send(1, 2, f"flaky{i}")
                time.sleep(0.3)
            try:
                pages[1].wait_for_function("window.abortedWrites >= 2", timeout=20000)
            except Exception:
                pass
            aborted = pages[1].evaluate("window.abortedWrites")
            pages[1].evaluate("window.flakyStorage = 0")
            check("page 1: some of its message writes were aborted", aborted >= 2, f"{aborted} aborted")
            page_send(1, 2, "after-flaky")
            # 6. Wait until everything sent is stored and everyone holds it.
            def settled():
                store = stored_messages(redis)
                if len(store) < len(sent):
                    return False
                n = len(store)
                for page in pages.values():
                    if page.evaluate("document.querySelectorAll('#messages li').length") < n:
                        return False
                    if any(not o["acked"] for o in page.evaluate("chat.dump()")["outbox"]):
                        return False
                msgs, outbox, receipts = native_db(native_path)
                return len(msgs) >= n and outbox <= receipts
            try:
                wait_until("every message everywhere", settled, 60)
            except TimeoutError as e:
                check("settled within 60 s", False, str(e))
            # Let late duplicates (if any bug made them) arrive too.
            time.sleep(1.0)

            store = stored_messages(redis)
            texts = [m[4] for m in store]
            check("every send stored", set(texts) >= sent, f"missing {sorted(sent - set(texts))[:10]}")
            check("nothing stored that was not sent", set(texts) <= sent, f"extra {sorted(set(texts) - sent)[:10]}")
            check("every send stored exactly once", len(texts) == len(set(texts)),
                  f"{len(texts) - len(set(texts))} duplicates")
            identities = [(m[2], m[3]) for m in store]
            check("each (sender, outbox version) stored once", len(identities) == len(set(identities)))
            chain = all(store[i][0] == (store[i - 1][1] if i else 0) and store[i][1] > store[i][0]
                        for i in range(len(store)))
            check("the store is one chain (prev -> version)", chain)
            print(f"     {len(store)} messages stored, {len(sent)} sent", flush=True)

            for client, page in pages.items():
                dump = page.evaluate("chat.dump()")
                idb = [(m["prev"], m["version"], int(m["sender"]), int(m["outbox"]), m["text"])
                       for m in dump["messages"] if m["conv"] == CONV]
                check(f"page {client}: IndexedDB holds exactly the store, in order", idb == store,
                      diff(idb, store))
                dom = page.evaluate(
                    """() => [...document.querySelectorAll('#messages li')].map(li => [
                        +li.dataset.prev, +li.dataset.version, +li.dataset.sender,
                        +li.dataset.outbox, li.lastChild.textContent])""")
                dom = [tuple(x) for x in dom]
                check(f"page {client}: the page shows exactly the store, in order", dom == store,
                      diff(dom, store))
                unacked = [o for o in dump["outbox"] if not o["acked"]]
                check(f"page {client}: every send acknowledged", not unacked and dump["outbox"],
                      f"{len(unacked)} unacked")
            msgs, outbox, receipts = native_db(native_path)
            check("native client: its file holds exactly the store, in order", msgs == store,
                  diff(msgs, store))
            check("native client: every send acknowledged", outbox and outbox <= receipts,
                  f"{len(outbox - receipts)} unacked")
            browser.close()
    except Exception as e:  # a crash of the test is a failure, never a pass
        check("the scenario ran to the end", False, f"{type(e).__name__}: {e}")
    finally:
        signal.alarm(0)
        procs.stop_all()
        if all(results) and results:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", flush=True)
    passed = sum(1 for r in results if r)
    failed = len(results) - passed
    print(f"web: {passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


def try_redis(port):
    try:
        r = Redis(port)
        return r if r.command("PING") == b"PONG" else None
    except OSError:
        return None


def diff(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"first difference at {i}: {g} != {w}"
    return f"{len(got)} vs {len(want)} messages"


if __name__ == "__main__":
    sys.exit(main())
