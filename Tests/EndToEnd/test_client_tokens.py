"""Client tokens beyond HS256 and connections that expire (issue 32, "Tokens"): RS256 and ES256
tokens verified with PEM public keys (`--auth-jwt-public-key`), a JWK Set that rotates its key
(`--auth-jwt-jwks-url`), `aud` and `iss` checks, and the refresh protocol over a real socket:
`expires_in` in `welcome`, `refresh_required`, close 4003 "expired" after `--refresh-grace`,
`refresh` answered `refreshed` (or `invalid_token`). Tokens are made by PyJWT with keys the test
generates (cryptography); every wait is for a condition with a deadline."""
import contextlib
import http.server
import json
import subprocess
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from conftest import BIN
from native_client import TIMEOUT, until

SECRET = "test-secret-0123456789abcdef-0123456789"


class Key:
    """A generated signing key: its algorithm, its private half for PyJWT, its public half as PEM
    and as a JWK."""

    def __init__(self, algorithm: str, kid: str | None = None):
        self.algorithm = algorithm
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048) if algorithm == "RS256" else ec.generate_private_key(ec.SECP256R1())
        self.public_pem = self.private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def token(self, sub: str = "ann", **claims) -> str:
        headers = {"kid": self.kid} if self.kid else None
        return jwt.encode({"sub": sub, **claims}, self.private, algorithm=self.algorithm, headers=headers)

    def write(self, directory) -> str:
        path = directory / f"{self.algorithm}-{id(self)}.pem"
        path.write_bytes(self.public_pem)
        return str(path)

    @property
    def jwk(self) -> dict:
        algorithm = jwt.algorithms.RSAAlgorithm if self.algorithm == "RS256" else jwt.algorithms.ECAlgorithm
        return {**json.loads(algorithm.to_jwk(self.private.public_key())), "kid": self.kid, "alg": self.algorithm, "use": "sig"}


@contextlib.contextmanager
def welcome(s, token: str):
    """A connection authenticated with `token`, and its welcome."""
    with connect(f"{s.url}?token={token}", open_timeout=TIMEOUT) as ws:
        yield ws, json.loads(ws.recv(timeout=TIMEOUT))


def user_of(s, token: str) -> str:
    """The user the server's welcome names for `token`."""
    with welcome(s, token) as (_, hello):
        return hello["user"]


def refused(s, token: str) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as refusal:
        connect(f"{s.url}?token={token}", open_timeout=TIMEOUT).close()
    return refusal.value.response.status_code, refusal.value.response.body.decode()


def closed_with(ws) -> tuple[int, str, list]:
    """Reads until the server closes; its close code, reason and the frames before it."""
    frames = []
    try:
        while True:
            frames.append(json.loads(ws.recv(timeout=TIMEOUT)))
    except ConnectionClosed as closed:
        return closed.rcvd.code, closed.rcvd.reason, frames


def still_open_until(ws, moment: float):
    """Pings the server until the wall clock passes `moment`; every ping must be answered."""
    n = 0
    while time.time() < moment:
        n += 1
        ws.send(json.dumps({"type": "ping", "id": n}))
        assert until(ws, lambda m: m.get("id") == n)["type"] == "pong"
        time.sleep(0.2)


def test_rs256_and_es256_tokens_are_verified_with_pem_public_keys(server, tmp_path):
    rs, es, stranger = Key("RS256"), Key("ES256"), Key("RS256")
    s = server("--auth-jwt-public-key", rs.write(tmp_path), "--auth-jwt-public-key", es.write(tmp_path), "--auth-jwt-secret", SECRET)
    for token, user in ((rs.token(sub="rs"), "rs"), (es.token(sub="es"), "es"), (jwt.encode({"sub": "hs"}, SECRET, algorithm="HS256"), "hs")):
        with welcome(s, token) as (_, hello):
            assert hello["user"] == user and "expires_in" not in hello
    status, body = refused(s, stranger.token())
    assert status == 401 and "signature" in body
    status, body = refused(s, jwt.encode({"sub": "x"}, stranger.private, algorithm="RS384"))
    assert status == 401 and "alg RS384 is not accepted" in body and "ES256, HS256, RS256" in body


def test_public_keys_from_the_environment_and_the_config_file(server, tmp_path):
    first, second = Key("ES256"), Key("RS256")
    config = tmp_path / "switchboard.toml"
    config.write_text(f'auth-jwt-public-key = ["{first.write(tmp_path)}", "{second.write(tmp_path)}"]\n')
    by_file = server("--config", str(config))
    by_environment = server(env={"SWITCHBOARD_AUTH_JWT_PUBLIC_KEY": f"{first.write(tmp_path)},{second.write(tmp_path)}"})
    for s in (by_file, by_environment):
        for key in (first, second):
            assert user_of(s, key.token()) == "ann"


@pytest.mark.parametrize("content, message", [
    (None, "cannot read the file"),
    (b"not a key at all\n", "not a usable token key"),
    ("private", "it holds a private key"),
])
def test_an_unreadable_or_unusable_pem_stops_the_server_with_exit_2(tmp_path, content, message):
    path = tmp_path / "key.pem"
    if content == "private":
        path.write_bytes(Key("ES256").private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    elif content is not None:
        path.write_bytes(content)
    done = subprocess.run([BIN, "serve", "--headless", "--port", "0", "--auth-jwt-public-key", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--auth-jwt-public-key" in done.stderr and message in done.stderr, done.stderr


def test_audience_and_issuer_are_checked_when_set(server):
    s = server("--auth-jwt-secret", SECRET, "--auth-jwt-audience", "hub", "--auth-jwt-issuer", "https://id.example.com/")

    def token(**claims):
        return jwt.encode({"sub": "ann", **claims}, SECRET, algorithm="HS256")

    good = {"aud": ["other", "hub"], "iss": "https://id.example.com/"}
    assert user_of(s, token(**good)) == "ann"
    for claims, reason in (({"iss": good["iss"]}, "aud"), ({**good, "aud": "other"}, "aud"), ({"aud": "hub"}, "iss"), ({**good, "iss": "https://evil/"}, "iss")):
        status, body = refused(s, token(**claims))
        assert status == 401 and f"its {reason}" in body, (claims, body)


class LoopbackGet:
    """A loopback HTTP server answering every GET with `body()`; `close()` stops it."""

    def __init__(self, body, path: str, content_type: str = "application/json"):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                data = body()
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()


class KeySetServer(LoopbackGet):
    """A JWK Set on a loopback HTTP server, counting the requests for it; `keys` can be swapped."""

    def __init__(self, keys: list):
        self.keys = keys
        self.fetches = 0
        super().__init__(self.key_set, "/.well-known/jwks.json")

    def key_set(self) -> bytes:
        self.fetches += 1
        return json.dumps({"keys": [k.jwk for k in self.keys]}).encode()


def test_a_jwks_key_set_is_fetched_once_and_again_after_the_provider_rotates_its_key(server):
    old, new, made_up = Key("RS256", kid="2026-old"), Key("ES256", kid="2026-new"), Key("ES256", kid="made-up")
    keys = KeySetServer([old])
    try:
        s = server("--auth-jwt-jwks-url", keys.url)
        for _ in range(3):
            assert user_of(s, old.token()) == "ann"
        assert keys.fetches == 1, "the set is kept, not fetched per handshake"
        keys.keys = [new]  # the provider rotates
        # The new kid is refused until 10 s after the last fetch, then fetched and accepted.
        deadline = time.monotonic() + 60
        while True:
            try:
                assert user_of(s, new.token(sub="bob")) == "bob"
                break
            except InvalidStatus as refusal:
                assert 'no key \\"2026-new\\"' in refusal.response.body.decode() and time.monotonic() < deadline
                time.sleep(0.25)
        assert keys.fetches == 2, "one fetch for the rotation, however many handshakes asked"
        # kids the set does not hold: refused, and at most one more fetch however many arrive
        for _ in range(5):
            status, body = refused(s, made_up.token())
            assert status == 401 and 'no key \\"made-up\\"' in body
        assert keys.fetches == 2
        status, _ = refused(s, old.token())  # the rotated-out key went with the old set
        assert status == 401
    finally:
        keys.close()


def test_an_unreachable_key_set_refuses_with_a_reason_and_the_server_keeps_serving(server):
    from conftest import free_port

    s = server("--auth-jwt-jwks-url", f"http://127.0.0.1:{free_port()}/jwks.json")
    status, body = refused(s, Key("ES256", kid="k1").token())
    assert status == 401 and "cannot be fetched right now" in body


def test_a_token_that_expires_centuries_from_now_is_served(server):
    s = server("--auth-jwt-secret", SECRET)
    with welcome(s, jwt.encode({"sub": "ann", "exp": 10**12}, SECRET, algorithm="HS256")) as (ws, hello):
        assert hello["expires_in"] == 2**31 - 1
        ws.send(json.dumps({"type": "ping", "id": 1}))
        assert until(ws, lambda m: m.get("id") == 1)["type"] == "pong"


def test_an_expired_connection_gets_refresh_required_then_4003_after_the_grace(server):
    s = server("--auth-jwt-secret", SECRET, "--refresh-grace", "0.5")
    expires = int(time.time()) + 2
    with welcome(s, jwt.encode({"sub": "ann", "exp": expires}, SECRET, algorithm="HS256")) as (ws, hello):
        assert 0 <= hello["expires_in"] <= 2
        code, reason, frames = closed_with(ws)
    assert (code, reason) == (4003, "expired")
    assert frames == [{"type": "refresh_required"}]
    assert time.time() >= expires


def test_a_refresh_before_expiry_extends_the_connection(server):
    s = server("--auth-jwt-secret", SECRET, "--refresh-grace", "0.5")
    expires = int(time.time()) + 2
    with welcome(s, jwt.encode({"sub": "ann", "exp": expires}, SECRET, algorithm="HS256")) as (ws, _):
        renewed = jwt.encode({"sub": "ann", "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")
        ws.send(json.dumps({"type": "refresh", "token": renewed, "id": "r1"}))
        reply = until(ws, lambda m: m.get("id") == "r1")
        assert reply["type"] == "refreshed" and 590 <= reply["expires_in"] <= 600
        still_open_until(ws, expires + 2)
        frames = []
        with contextlib.suppress(TimeoutError):
            while True:
                frames.append(json.loads(ws.recv(timeout=0.1)))
        assert {"type": "refresh_required"} not in frames


def test_a_refresh_after_refresh_required_keeps_the_connection(server):
    s = server("--auth-jwt-secret", SECRET, "--refresh-grace", "1")
    with welcome(s, jwt.encode({"sub": "ann", "exp": int(time.time()) + 1}, SECRET, algorithm="HS256")) as (ws, _):
        until(ws, lambda m: m["type"] == "refresh_required")
        asked = time.time()
        ws.send(json.dumps({"type": "refresh", "token": jwt.encode({"sub": "ann", "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")}))
        assert until(ws, lambda m: m["type"] != "pong")["type"] == "refreshed"
        still_open_until(ws, asked + 2)


def test_a_bad_refresh_is_invalid_token_and_the_old_expiry_stands(server):
    s = server("--auth-jwt-secret", SECRET, "--refresh-grace", "0.5")
    with welcome(s, jwt.encode({"sub": "ann", "exp": int(time.time()) + 3}, SECRET, algorithm="HS256")) as (ws, _):
        later = int(time.time()) + 600
        attempts = {
            "garbage": "not.a.jwt",
            "wrong secret": jwt.encode({"sub": "ann", "exp": later}, "another-secret-0123456789-0123456789abc", algorithm="HS256"),
            "expired": jwt.encode({"sub": "ann", "exp": int(time.time()) - 60}, SECRET, algorithm="HS256"),
            "another user": jwt.encode({"sub": "bob", "exp": later}, SECRET, algorithm="HS256"),
        }
        for n, (what, token) in enumerate(attempts.items()):
            ws.send(json.dumps({"type": "refresh", "token": token, "id": n}))
            reply = until(ws, lambda m: m.get("id") == n)
            assert reply["type"] == "error" and reply["code"] == "invalid_token", (what, reply)
        assert "bob" in reply["message"]
        ws.send(json.dumps({"type": "refresh", "id": "none"}))
        assert until(ws, lambda m: m.get("id") == "none")["code"] == "invalid_token"
        code, reason, frames = closed_with(ws)
    assert (code, reason) == (4003, "expired") and {"type": "refresh_required"} in frames


def test_refresh_without_token_checking_is_invalid_token(server):
    s = server()
    with connect(s.url, open_timeout=TIMEOUT) as ws:
        assert "expires_in" not in json.loads(ws.recv(timeout=TIMEOUT))
        ws.send(json.dumps({"type": "refresh", "token": "x.y.z", "id": 1}))
        reply = until(ws, lambda m: m.get("id") == 1)
        assert reply["code"] == "invalid_token" and "checks no tokens" in reply["message"]


def test_settings_are_refused_with_a_clear_message():
    for args, expected in ((["--auth-jwt-jwks-url", "ftp://x"], "an http:// or https:// URL"), (["--refresh-grace", "0"], "seconds > 0")):
        done = subprocess.run([BIN, "serve", "--headless", "--port", "0", *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and expected in done.stderr, done.stderr


class TokenServer(LoopbackGet):
    """The application's token endpoint on a loopback HTTP server: each GET mints an HS256 token
    for `user` that expires `lifetime` seconds later."""

    def __init__(self, user: str, lifetime: int):
        self.user, self.lifetime = user, lifetime
        super().__init__(self.mint, "/token", content_type="text/plain")

    def mint(self) -> bytes:
        return jwt.encode({"sub": self.user, "exp": int(time.time()) + self.lifetime}, SECRET, algorithm="HS256").encode()


def test_switchboard_js_refreshes_through_get_token_and_reconnects_with_a_new_token(server):
    from test_cluster_blips import JavaScriptClient

    s = server("--auth-jwt-secret", SECRET, "--refresh-grace", "1")
    tokens = TokenServer("ann", lifetime=3)
    client = JavaScriptClient(s, "news", token_url=tokens.url)
    try:
        client.wait_for(lambda: len(client.of("refreshed")) >= 2, "two refreshes before expiry")
        closed = lambda: [e["detail"].get("code") for e in client.of("state") if e["state"] == "closed"]
        assert [w["user"] for w in client.of("welcome")] == ["ann"] and not closed() and not client.of("refresh_required")
        assert 2 <= client.of("welcome")[0]["expires_in"] <= 3 and all(2 <= r["expires_in"] <= 3 for r in client.of("refreshed"))
        # The application now hands out another user's tokens: the server refuses them as
        # refreshes, so the connection expires (refresh_required, then 4003 after the grace) and
        # the client connects again with a token from getToken().
        tokens.user = "bob"
        client.wait_for(lambda: [w["user"] for w in client.of("welcome")] == ["ann", "bob"], "a new connection as bob")
        assert closed() == [4003], client.poll()
        assert client.of("refresh_required")
        assert any(e["error"].get("code") == "invalid_token" for e in client.of("client_error")), client.poll()
    finally:
        client.close()
        tokens.close()
