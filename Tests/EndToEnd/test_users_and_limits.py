"""Users as first-class (disconnect by user, a user's connections, the per-user limit counted on
every node) and the limits per source address (connections, connect rate, admin-token guessing),
with real servers, a real redis-server and real clients from several loopback addresses."""
import contextlib
import http.client
import json
import socket
import subprocess
import urllib.error
import urllib.request

import jwt
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from conftest import BIN
from native_client import TIMEOUT, until
from test_cluster import wait_until

TOKEN = "users-admin-token-0123456789"
SECRET = "users-secret-0123456789abcdef-0123456789"


def user_token(user: str) -> str:
    return jwt.encode({"sub": user}, SECRET, algorithm="HS256")


def open_client(s, user: str | None = None, source: str = "127.0.0.1"):
    """A native client of `user` (no token when None) connecting from `source`."""
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=TIMEOUT, source_address=(source, 0))
    url = s.url + (f"?token={user_token(user)}" if user else "")
    ws = connect(url, sock=sock, open_timeout=TIMEOUT)
    assert json.loads(ws.recv(timeout=TIMEOUT))["type"] == "welcome"
    return ws


def refusal(s, user: str | None = None, source: str = "127.0.0.1") -> tuple[int, dict, dict]:
    """The HTTP answer to a handshake that must be refused: status, JSON body, headers."""
    with pytest.raises(InvalidStatus) as refused:
        open_client(s, user, source).close()
    response = refused.value.response
    return response.status_code, json.loads(response.body), {name.lower(): value for name, value in response.headers.raw_items()}


def admin(s, method: str, path: str, body: dict | None = None, token: str = TOKEN, source: str = "127.0.0.1"):
    """One admin API request from `source`: status, JSON body, headers."""
    connection = http.client.HTTPConnection("127.0.0.1", s.port, timeout=TIMEOUT, source_address=(source, 0))
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        connection.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}"), {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()


def closed_with(ws) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=TIMEOUT)
    return closed.value.rcvd.code, closed.value.rcvd.reason


def test_a_users_connections_listed_and_disconnected_on_one_node(server):
    s = server("--auth-jwt-secret", SECRET, "--admin-token", TOKEN)
    with contextlib.ExitStack() as stack:
        tabs = [stack.enter_context(open_client(s, "ann@example.com")) for _ in range(2)]
        bob = stack.enter_context(open_client(s, "bob"))
        status, body, _ = admin(s, "GET", "/api/users/ann%40example.com")
        assert status == 200 and body["user"] == "ann@example.com"
        assert len(body["connections"]) == 2 and {row["user"] for row in body["connections"]} == {"ann@example.com"}
        status, body, _ = admin(s, "POST", "/api/users/ann%40example.com/disconnect", {"reason": "account closed"})
        assert (status, body) == (200, {"closed": 2})
        for tab in tabs:
            assert closed_with(tab) == (4000, "account closed")
        # bob is untouched; a user with no connections is an empty list, not an error
        bob.send(json.dumps({"type": "ping", "id": 1}))
        assert until(bob, lambda m: m.get("id") == 1)["type"] == "pong"
        assert admin(s, "GET", "/api/users/nobody")[1]["connections"] == []
        assert admin(s, "POST", "/api/users/nobody/disconnect", {})[1] == {"closed": 0}
        # reconnect asks the clients to come back (4200); the CLI does the same
        again = open_client(s, "bob")
        cli = subprocess.run(
            [BIN, "kick", "--user", "bob", "--reconnect", "--server", f"http://127.0.0.1:{s.port}", "--token", TOKEN],
            capture_output=True, text=True, timeout=TIMEOUT)
        assert cli.returncode == 0, cli.stderr
        assert "closed 2 connection(s) of bob" in cli.stdout
        assert closed_with(bob)[0] == 4200 and closed_with(again)[0] == 4200


def test_the_per_user_limit_is_counted_on_every_node_and_frees_a_place_on_close(server, redis):
    nodes = [
        server("--redis", redis.url, "--node-name", name, "--admin-token", TOKEN, "--auth-jwt-secret", SECRET, "--max-connections-per-user", "2")
        for name in ("node-a", "node-b", "node-c")
    ]
    a, b, c = nodes
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(open_client(a, "ann"))
        stack.enter_context(open_client(b, "ann"))
        status, body, headers = refusal(c, "ann")
        assert status == 429 and body["error"]["code"] == "too_many_connections", body
        assert "max-connections-per-user" in body["error"]["message"]
        stack.enter_context(open_client(c, "bob"))  # another user is not affected
        # the user's connections are listed from any node
        status, body, _ = admin(c, "GET", "/api/users/ann")
        assert status == 200 and sorted(row["id"].split("@")[1] for row in body["connections"]) == ["node-a", "node-b"]
        # a closed connection stops counting (the node tells Redis within its next heartbeat)
        first.close()

        def third_connects():
            try:
                stack.enter_context(open_client(c, "ann"))
                return True
            except InvalidStatus as refused:
                assert refused.response.status_code == 429
                return False

        wait_until(third_connects, "a place for ann after one of her connections closed")
        assert refusal(a, "ann")[0] == 429
        # disconnect by user reaches every node
        status, body, _ = admin(a, "POST", "/api/users/ann/disconnect", {"reason": "bye"})
        assert status == 200 and body == {"closed": 2}, body
        events = admin(c, "GET", "/api/events?limit=1000")[1]
        assert any(e["kind"] == "refused" and "ann" in e["detail"] for e in events), events


def test_connections_per_address_and_the_connect_rate_are_limited_per_address(server):
    s = server("--admin-token", TOKEN, "--max-connections-per-ip", "2")
    with contextlib.ExitStack() as stack:
        for _ in range(2):
            stack.enter_context(open_client(s, source="127.0.0.2"))
        for _ in range(3):
            status, body, headers = refusal(s, source="127.0.0.2")
            assert status == 429 and body["error"]["code"] == "too_many_connections"
            assert "127.0.0.2" in body["error"]["message"] and "retry-after" in headers
        stack.enter_context(open_client(s, source="127.0.0.3"))  # another address is not affected
        # the refused address is told to the event log once, not once per attempt
        status, events, _ = admin(s, "GET", "/api/events?limit=1000")
        refused = [e for e in events if e["kind"] == "refused"]
        assert len(refused) == 1 and "127.0.0.2" in refused[0]["detail"], refused
        request = urllib.request.Request(f"http://127.0.0.1:{s.port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        metrics = urllib.request.urlopen(request, timeout=TIMEOUT).read().decode()
        assert 'switchboard_connections_refused_total{reason="too_many_connections_per_ip"} 3' in metrics
        assert 'switchboard_refused_source_attempts{address="127.0.0.2",reason="too_many_connections_per_ip"} 3' in metrics
        # a place comes back when a connection closes
        stack.close()
    wait_until(lambda: admin(s, "GET", "/api/stats")[1]["totals"]["connections"] == 0, "the clients to be gone")
    open_client(s, source="127.0.0.2").close()

    # A bucket that refills once in 100 s: the first connect goes through, the next are refused.
    r = server("--connect-rate-per-ip", "0.01", "--admin-token", TOKEN)
    open_client(r, source="127.0.0.4").close()
    status, body, _ = refusal(r, source="127.0.0.4")
    assert status == 429 and body["error"]["code"] == "rate_limited" and "connect-rate-per-ip" in body["error"]["message"]
    open_client(r, source="127.0.0.5").close()


def test_admin_token_guessing_is_slowed_down_for_that_address_only(server):
    s = server("--admin-token", TOKEN)
    for _ in range(5):
        assert admin(s, "GET", "/api/stats", token="wrong", source="127.0.0.6")[0] == 401
    # the sixth attempt is refused whatever it brings, with when to come back
    status, body, headers = admin(s, "GET", "/api/stats", source="127.0.0.6")
    assert status == 429 and body["error"]["code"] == "too_many_attempts"
    assert 1 <= int(headers["retry-after"]) <= 60
    # the admin stream from that address too
    with pytest.raises(InvalidStatus) as refused:
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=TIMEOUT, source_address=("127.0.0.6", 0))
        connect(f"ws://127.0.0.1:{s.port}/admin/stream?token={TOKEN}", sock=sock, open_timeout=TIMEOUT)
    assert refused.value.response.status_code == 429
    # an operator elsewhere is not locked out
    status, body, _ = admin(s, "GET", "/api/stats", source="127.0.0.7")
    assert status == 200 and "totals" in body
