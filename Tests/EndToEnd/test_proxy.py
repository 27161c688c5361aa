"""Proxies to the application (`--proxy-*-url`): a real backend, a small Python HTTP server
started by each test, answers the hub's signed JSON POSTs.

No test asserts a time: every wait is for a condition, with a deadline. The slow backend holds
its answer until the test, having seen `unavailable`, lets it go.
"""
import contextlib
import hashlib
import hmac
import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import websockets.exceptions
from websockets.sync.client import connect

from conftest import free_port

SECRET = "proxy-secret-0123456789"
JWT_SECRET = "test-secret-0123456789abcdef-0123456789"
ADMIN_TOKEN = "admin-token-0123456789"
TIMEOUT = 30


def verify(secret: str, header: str, body: bytes, now: float, tolerance: int = 300) -> bool:
    """The README's verification: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if "t" not in fields or "v1" not in fields or not fields["t"].isdigit():
        return False
    if abs(now - int(fields["t"])) > tolerance:
        return False
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


class Backend:
    """The application: answers each proxy path with `answers[path](body)` -> (status, JSON),
    after checking the signature with `secret` (a wrong one gets 401). Records every request."""

    def __init__(self, secret: str | None = SECRET, port: int = 0):
        self.secret = secret
        self.requests: list[tuple[str, dict, dict]] = []
        self.refused_signatures = 0
        self.release = threading.Event()
        self.answers = {
            "connect": lambda body: (200, {"result": {"user": "ann"}}),
            "subscribe": lambda body: (200, {"result": {}}),
            "publish": lambda body: (200, {"result": {}}),
        }
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                path = self.path.strip("/")
                if backend.secret and not verify(backend.secret, self.headers.get("X-Switchboard-Signature", ""), raw, time.time()):
                    backend.refused_signatures += 1
                    return self.answer(401, {"error": {"code": "bad_signature", "message": "signature mismatch"}})
                body = json.loads(raw)
                backend.requests.append((path, dict(self.headers), body))
                status, answer = backend.answers[path](body)
                self.answer(status, answer)

            def answer(self, status: int, answer: dict):
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.http.daemon_threads = True
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def flags(self, *paths: str, secret: str = SECRET) -> list[str]:
        args = ["--proxy-secret", secret]
        for path in paths:
            args += [f"--proxy-{path}-url", self.url(path)]
        return args

    def asked(self, path: str) -> list[dict]:
        return [body for asked, _, body in self.requests if asked == path]

    def stop(self):
        self.release.set()
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def backend():
    started: list[Backend] = []

    def start(**options) -> Backend:
        b = Backend(**options)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


def welcomed(stack: contextlib.ExitStack, url: str, **options):
    ws = stack.enter_context(connect(url, open_timeout=TIMEOUT, **options))
    welcome = json.loads(ws.recv(timeout=TIMEOUT))
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


def request(ws, **fields) -> dict:
    """Sends a request and returns the reply with its id (frames before it are skipped)."""
    ws.send(json.dumps(fields))
    while True:
        reply = json.loads(ws.recv(timeout=TIMEOUT))
        if reply.get("id") == fields["id"]:
            return reply


def refused(url: str, **options) -> tuple[int, dict]:
    with pytest.raises(websockets.exceptions.InvalidStatus) as refusal:
        with connect(url, open_timeout=TIMEOUT, **options):
            pass
    response = refusal.value.response
    return response.status_code, json.loads(response.body)


def metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=TIMEOUT) as r:
        return r.read().decode()


def wait_until(condition, what: str):
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_connect_proxy_names_the_user_its_channels_and_presence_info(server, backend):
    b = backend()
    info = {"name": "Ann", "team": "blue"}
    b.answers["connect"] = lambda body: (200, {"result": {"user": "ann", "info": info, "channels": ["user:ann"]}})
    s = server(*b.flags("connect"))
    with contextlib.ExitStack() as stack:
        ws, welcome = welcomed(stack, s.url, additional_headers={"Cookie": "session=abc", "X-Secret": "not passed"}, user_agent_header="probe/1")
        assert welcome["user"] == "ann"
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"type": "subscribed", "channel": "user:ann"}
        (asked,) = b.asked("connect")
        assert asked["client"] == welcome["client"] and asked["protocol"] == "native"
        assert asked["remote"].startswith("127.0.0.1:")
        assert asked["headers"] == {"Cookie": "session=abc", "User-Agent": "probe/1"}
        # the server-side channel is an ordinary subscription
        ws.send(json.dumps({"type": "publish", "channel": "user:ann", "data": {"hello": 1}, "id": 1}))
        frames = [json.loads(ws.recv(timeout=TIMEOUT)) for _ in range(2)]
        assert {"type": "ack", "id": 1} in frames and any(f["type"] == "message" and f["data"] == {"hello": 1} for f in frames), frames
        # the connect proxy's info is the client's presence info
        assert request(ws, type="subscribe", channel="room", presence=True, id=2)["type"] == "subscribed"
        members = request(ws, type="presence", channel="room", id=3)["members"]
        assert members == [{"user": "ann", "info": info}], members


def test_connect_proxy_refusals_and_a_valid_jwt_that_wins(server, backend):
    import jwt

    b = backend()
    b.answers["connect"] = lambda body: (200, {"error": {"code": "account_locked", "message": "ask an admin"}})
    s = server("--auth-jwt-secret", JWT_SECRET, *b.flags("connect"))
    status, body = refused(s.url)
    assert status == 403 and body["error"]["code"] == "account_locked" and body["error"]["message"] == "ask an admin", body
    assert len(b.asked("connect")) == 1
    # a bad token is no token: the backend decides
    status, _ = refused(f"{s.url}?token=not.a.jwt")
    assert status == 403 and len(b.asked("connect")) == 2
    # a valid token wins and the backend is not asked
    token = jwt.encode({"sub": "bob"}, JWT_SECRET, algorithm="HS256")
    with contextlib.ExitStack() as stack:
        _, welcome = welcomed(stack, f"{s.url}?token={token}")
        assert welcome["user"] == "bob"
    assert len(b.asked("connect")) == 2


def test_subscribe_proxy_allows_denies_and_sets_presence_info_on_its_channels_only(server, backend, tmp_path):
    b = backend()

    def subscribe(body):
        if body["channel"] == "private:no":
            return 200, {"error": {"code": "not_a_member", "message": "join the team first"}}
        return 200, {"result": {"info": {"seat": 7}}}

    b.answers["subscribe"] = subscribe
    config = tmp_path / "switchboard.toml"
    config.write_text('[[channels]]\npattern = "private:*"\nproxy_subscribe = true\n')
    s = server("--config", str(config), *b.flags("subscribe"))
    with contextlib.ExitStack() as stack:
        ws, welcome = welcomed(stack, s.url)
        denied = request(ws, type="subscribe", channel="private:no", id=1)
        assert denied == {"type": "error", "code": "not_a_member", "message": "join the team first", "id": 1}
        assert request(ws, type="subscribe", channel="private:yes", presence=True, id=2)["type"] == "subscribed"
        assert request(ws, type="subscribe", channel="public", id=3)["type"] == "subscribed"
        members = request(ws, type="presence", channel="private:yes", id=4)["members"]
        assert members == [{"user": welcome["client"], "info": {"seat": 7}}], members
        assert [body["channel"] for body in b.asked("subscribe")] == ["private:no", "private:yes"]
        assert b.asked("subscribe")[0] == {"client": welcome["client"], "user": "", "channel": "private:no"}


def test_publish_proxy_replaces_data_denies_and_disconnects_in_request_order(server, backend):
    b = backend()

    def publish(body):
        text = body["data"].get("text", "")
        if text == "spam":
            return 200, {"error": {"code": "spam", "message": "no spam"}}
        if text == "abuse":
            return 200, {"disconnect": {"code": 4403, "reason": "banned"}}
        return 200, {"result": {"data": {"text": text.replace("darn", "****")}}}

    b.answers["publish"] = publish
    s = server(*b.flags("publish"))
    with contextlib.ExitStack() as stack:
        ws, _ = welcomed(stack, s.url)
        assert request(ws, type="subscribe", channel="chat", id=0)["type"] == "subscribed"
        for n, text in enumerate(["darn it", "spam", "fine"], start=1):
            ws.send(json.dumps({"type": "publish", "channel": "chat", "data": {"text": text}, "id": n}))
        frames = [json.loads(ws.recv(timeout=TIMEOUT)) for _ in range(5)]
        replies = [(f["type"], f.get("id"), f.get("code")) for f in frames if f["type"] != "message"]
        assert replies == [("ack", 1, None), ("error", 2, "spam"), ("ack", 3, None)], frames
        assert [f["data"]["text"] for f in frames if f["type"] == "message"] == ["**** it", "fine"]
        ws.send(json.dumps({"type": "publish", "channel": "chat", "data": {"text": "abuse"}, "id": 4}))
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=TIMEOUT)
        assert closed.value.rcvd.code == 4403 and closed.value.rcvd.reason == "banned"


def test_a_slow_backend_times_out_as_unavailable_and_nothing_hangs(server, backend):
    b = backend()

    def slow(body):
        b.release.wait(TIMEOUT)
        return 200, {"result": {}}

    b.answers["subscribe"] = slow
    s = server("--metrics-public", "--proxy-timeout", "0.3", *b.flags("subscribe", "connect"))
    with contextlib.ExitStack() as stack:
        ws, _ = welcomed(stack, s.url)
        reply = request(ws, type="subscribe", channel="slow", id=1)
        assert reply["type"] == "error" and reply["code"] == "unavailable" and "(timeout)" in reply["message"], reply
        # the connection still serves; requests that queued behind the question were answered in order
        assert request(ws, type="ping", id=2)["type"] == "pong"
    b.answers["connect"] = slow
    status, body = refused(s.url)
    assert status == 503 and body["error"]["code"] == "unavailable", body
    b.release.set()
    assert 'switchboard_proxy_failures_total{proxy="subscribe",reason="timeout"} 1' in metrics(s.port)


def test_a_dead_backend_opens_the_circuit_which_recovers_after_the_cooldown(server, backend):
    port = free_port()
    dead = f"http://127.0.0.1:{port}/subscribe"
    s = server(
        "--metrics-public", "--admin-token", ADMIN_TOKEN, "--proxy-subscribe-url", dead, "--proxy-secret", SECRET,
        "--proxy-breaker-failures", "2", "--proxy-breaker-cooldown", "0.5")
    with contextlib.ExitStack() as stack:
        ws, _ = welcomed(stack, s.url)
        for n in range(3):
            reply = request(ws, type="subscribe", channel="c", id=n)
            assert reply["code"] == "unavailable", reply
        text = metrics(s.port)
        assert 'switchboard_proxy_failures_total{proxy="subscribe",reason="unreachable"} 2' in text, text
        assert 'switchboard_proxy_failures_total{proxy="subscribe",reason="circuit_open"} 1' in text, text
        # the backend comes up; after the cooldown one probe gets through and closes the circuit
        b = backend(port=port)
        attempts = iter(range(100, 10_000))
        wait_until(lambda: request(ws, type="subscribe", channel="c", id=next(attempts))["type"] == "subscribed", "the circuit to close")
        assert b.asked("subscribe")
        text = metrics(s.port)
        assert 'switchboard_proxy_request_duration_seconds_count{proxy="subscribe"}' in text, text
        # the dashboard's snapshot (what the console shows) has the proxy's figures
        stats = urllib.request.Request(f"http://127.0.0.1:{s.port}/api/stats", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        with urllib.request.urlopen(stats, timeout=TIMEOUT) as r:
            (row,) = json.loads(r.read())["proxies"]
        assert row["proxy"] == "subscribe" and row["failures"] >= 3 and row["requests"] > row["failures"] and not row["circuit_open"], row
    assert "proxy circuit opened" in s.logs() and "proxy circuit closed" in s.logs()


def test_the_backend_rejects_a_wrong_secret(server, backend):
    b = backend()
    s = server(*b.flags("connect", secret="another-secret-0123456789"))
    status, body = refused(s.url)
    assert status == 503 and body["error"]["code"] == "unavailable", body
    assert b.refused_signatures == 1 and not b.asked("connect")


def test_pusher_clients_are_not_asked(server, backend):
    b = backend()
    s = server("--pusher-app", "4242:app-key-1:app-secret-0123456789", *b.flags("connect", "subscribe", "publish"))
    with connect(f"ws://127.0.0.1:{s.port}/app/app-key-1?protocol=7", open_timeout=TIMEOUT) as ws:
        assert json.loads(ws.recv(timeout=TIMEOUT))["event"] == "pusher:connection_established"
        ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "news"}}))
        assert json.loads(ws.recv(timeout=TIMEOUT))["event"] == "pusher_internal:subscription_succeeded"
    assert b.requests == []


def test_a_proxied_connection_expires_unless_the_refresh_proxy_extends_it(server, backend):
    b = backend()
    b.answers["connect"] = lambda body: (200, {"result": {"user": "ann", "expire_at": int(time.time()) + 2}})
    refreshes = []

    def refresh(body):
        refreshes.append(body)
        if len(refreshes) == 1:
            return 200, {"result": {"expire_at": int(time.time()) + 2}}
        return 200, {"error": {"code": "session_ended", "message": "signed out"}}

    b.answers["refresh"] = refresh
    s = server(*b.flags("connect", "refresh"))
    with contextlib.ExitStack() as stack:
        ws, welcome = welcomed(stack, s.url)
        assert 0 <= welcome["expires_in"] <= 2, welcome
        # the first refresh extends the connection; the second is refused: 4003 "expired"
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=TIMEOUT)
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4003, "expired")
        assert [r["user"] for r in refreshes] == ["ann", "ann"] and refreshes[0]["client"] == welcome["client"]


def test_proxied_users_count_towards_the_per_user_limit(server, backend):
    b = backend()
    s = server(*b.flags("connect"), "--max-connections-per-user", "1")
    with contextlib.ExitStack() as stack:
        welcomed(stack, s.url)
        status, body = refused(s.url)
        assert status == 429 and body["error"]["code"] == "too_many_connections", body
