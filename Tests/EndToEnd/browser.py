"""Minimal headless-Chromium driver for end-to-end tests, speaking the Chrome DevTools Protocol.

Needs `websockets` >= 12 (sync client) and a Chromium binary: `chromium`, `chromium-browser` or
`google-chrome` on PATH, or CHROMIUM_BIN (Debian: `apt-get install -y chromium`).

    with HeadlessChromium() as browser:
        page = browser.open_page("http://127.0.0.1:8080/")   # returns after the load event
        page.wait_for("document.querySelector('#log li') !== null")
        assert page.evaluate("document.title") == "Switchboard"

One browser-level WebSocket carries everything; each page is a target attached with flatten=True
and addressed by its sessionId. Each page gets its own window, so it stays "visible" and its
timers are not throttled like a background tab's. No background thread (not thread-safe): events
(console, page errors, loads, crashes) are handled while waiting for replies, so
`page.console_messages` is current after any evaluate/wait_for. Chromium runs in its own process
group, is closed (then killed) on exit, and logs to a temp file (`browser.logs()`), never a pipe.
"""
import inspect
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# --no-sandbox: Chromium refuses to start as root without it (and containers rarely allow the sandbox).
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--no-default-browser-check", "--remote-debugging-port=0")


class JSError(RuntimeError):
    """A JavaScript exception thrown by an evaluated expression; class_name is e.g. "TypeError"."""

    def __init__(self, message: str, class_name: str | None = None):
        super().__init__(message)
        self.class_name = class_name


class CDPError(RuntimeError):
    """An error reply to a DevTools command, a failed navigation or a crashed page."""


class HeadlessChromium:
    def __init__(self, binary: str | None = None, extra_args: tuple[str, ...] = (), start_timeout: float = 30):
        wanted = binary or os.environ.get("CHROMIUM_BIN")
        self.binary = shutil.which(wanted) if wanted else next(filter(None, map(shutil.which, CANDIDATES)), None)
        if not self.binary:
            raise RuntimeError(f"no Chromium found (tried {wanted or ', '.join(CANDIDATES)}); apt-get install -y chromium")
        self.extra_args, self.start_timeout = tuple(extra_args), start_timeout
        self.ws, self._pages, self._next_id = None, {}, 0

    def __enter__(self) -> "HeadlessChromium":
        self.profile = tempfile.mkdtemp(prefix="e2e-chromium-")
        self.log = tempfile.TemporaryFile(mode="w+")
        args = [self.binary, *FLAGS, f"--user-data-dir={self.profile}", *self.extra_args, "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     start_new_session=True)  # own process group: exit kills all children
        try:
            port, path = self._read_active_port()
            options = {"max_size": None, "open_timeout": self.start_timeout}
            if "proxy" in inspect.signature(connect).parameters:  # websockets >= 15 would use *_proxy env vars
                options["proxy"] = None
            self.ws = connect(f"ws://127.0.0.1:{port}{path}", **options)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.ws:  # graceful first, so the pages' own WebSockets get a close frame
                try:
                    self.call("Browser.close", timeout=5)
                except (RuntimeError, OSError):
                    pass  # the reply races with the connection closing; TimeoutError is an OSError
                self.ws.close()
                self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            shutil.rmtree(self.profile, ignore_errors=True)

    def _read_active_port(self) -> tuple[str, str]:
        """Chromium writes "<port>\\n/devtools/browser/<id>" once it listens (--remote-debugging-port=0)."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.binary} exited with {self.proc.returncode}:\n{self.logs()[-3000:]}")
            if os.path.exists(port_file := os.path.join(self.profile, "DevToolsActivePort")):
                with open(port_file) as f:
                    lines = f.read().split()
                if len(lines) >= 2 and lines[0].isdigit():  # may be caught half-written
                    return lines[0], lines[1]
            time.sleep(0.05)
        raise RuntimeError(f"no DevToolsActivePort after {self.start_timeout}s:\n{self.logs()[-3000:]}")

    def logs(self) -> str:
        """Chromium's output so far, minus the harmless dbus errors it prints in containers."""
        self.log.seek(0)
        return "".join(line for line in self.log if "dbus" not in line)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        """Send one DevTools command (to a page if `session`) and return its result."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            self.ws.send(json.dumps(message))
        except ConnectionClosed as e:
            raise self._lost(e) from e
        reply = self._pump(lambda m: m.get("id") == message["id"], timeout, method)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error'].get('message')} {reply['error'].get('data', '')}".rstrip())
        return reply["result"]

    def _pump(self, done, timeout: float, what: str) -> dict:
        """Read messages, dispatching events to their pages, until done(message) or timeout."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = json.loads(self.ws.recv(timeout=remaining))
            except TimeoutError:
                break
            except ConnectionClosed as e:
                raise self._lost(e) from e
            page = self._pages.get(message.get("sessionId"))
            if page and "method" in message:
                page._on_event(message["method"], message.get("params", {}))
            if done(message):
                return message
        raise TimeoutError(f"no answer to {what} within {timeout}s")

    def _lost(self, e: Exception) -> ConnectionError:
        return ConnectionError(f"lost DevTools connection ({e}); Chromium log:\n{self.logs()[-3000:]}")

    def open_page(self, url: str, timeout: float = 30) -> "Page":
        """Open `url` in a new window; return once its load event fired (console capture is on from the start)."""
        target = self.call("Target.createTarget", {"url": "about:blank", "newWindow": True})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = self._pages[session] = Page(self, target, session)
        page.call("Runtime.enable")  # before navigating, so no console message is missed
        page.call("Page.enable")
        page.call("Page.setLifecycleEventsEnabled", {"enabled": True})
        page.goto(url, timeout)
        return page


class Page:
    def __init__(self, browser: HeadlessChromium, target: str, session: str):
        self.browser, self.target, self.session = browser, target, session
        self.console_messages: list[str] = []  # console.* calls, e.g. "log: hello", "error: boom"
        self.errors: list[str] = []  # uncaught exceptions and unhandled rejections
        self._loaded: set[str] = set()  # loaderIds whose "load" lifecycle event fired
        self.crashed = False

    def call(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        if self.crashed:
            raise CDPError("page crashed")
        return self.browser.call(method, params, self.session, timeout)

    def _on_event(self, method: str, params: dict) -> None:
        if method == "Runtime.consoleAPICalled":
            args = (str(a.get("value", a.get("description", a.get("type")))) for a in params.get("args", []))
            self.console_messages.append(f"{params.get('type')}: {' '.join(args)}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append(details.get("exception", {}).get("description") or details.get("text", "?"))
        elif method == "Page.lifecycleEvent" and params.get("name") == "load":
            self._loaded.add(params.get("loaderId"))
        elif method == "Inspector.targetCrashed":
            self.crashed = True

    def goto(self, url: str, timeout: float = 30) -> None:
        """Navigate and wait for the load event; CDPError if the navigation fails (e.g. connection refused)."""
        result = self.call("Page.navigate", {"url": url}, timeout)
        if result.get("errorText"):
            raise CDPError(f"navigation to {url} failed: {result['errorText']}")
        loader = result.get("loaderId")  # none for a same-document navigation
        if loader and loader not in self._loaded:
            self.browser._pump(lambda m: loader in self._loaded or self.crashed, timeout, f"load of {url}")
        if self.crashed:
            raise CDPError(f"page crashed while loading {url}")

    def evaluate(self, expression: str, timeout: float = 30):
        """The JSON value of `expression` (promises are awaited; undefined is None); JSError if it throws."""
        reply = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                          timeout)
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            exception = details.get("exception", {})
            raise JSError(exception.get("description") or details.get("text", "exception"), exception.get("className"))
        return reply["result"].get("value", reply["result"].get("unserializableValue"))

    def wait_for(self, expression: str, timeout: float = 30, interval: float = 0.05):
        """Poll `expression` until truthy and return its value. Exceptions other than SyntaxError count as
        "not yet"; on timeout, AssertionError with the last error, console, page errors and page text."""
        deadline, last_error = time.monotonic() + timeout, None
        while True:
            try:
                value = self.evaluate(expression, timeout=max(1.0, deadline - time.monotonic()))
                if value:
                    return value
            except (JSError, CDPError) as e:  # CDPError: e.g. context destroyed by a navigation
                if getattr(e, "class_name", None) == "SyntaxError" or self.crashed:
                    raise
                last_error = e
            if time.monotonic() >= deadline:
                break
            time.sleep(interval)
        try:
            text = str(self.evaluate("document.body ? document.body.innerText : document.documentElement.outerHTML", 5))
        except (RuntimeError, TimeoutError) as e:
            text = f"<unavailable: {e}>"
        raise AssertionError(f"timed out after {timeout}s waiting for: {expression}\nlast error: {last_error}\n"
                             f"console: {self.console_messages[-10:]}\npage errors: {self.errors[-5:]}\n"
                             f"page text:\n{text[:2000]}")

    def close(self) -> None:
        self.browser.call("Target.closeTarget", {"targetId": self.target})
        self.browser._pages.pop(self.session, None)
