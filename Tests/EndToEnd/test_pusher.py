"""The Pusher Channels protocol, driven by real third-party clients: pysher (WebSocket) and the
official `pusher` HTTP library, plus raw WebSocket frames where a close code must be read.

No test asserts a time: every wait is for an event, with a generous timeout. Where a test
checks that something did *not* arrive, it first waits for a later message that travels the
same ordered path (the channel's owner), so the absence is a fact and not a race.
"""
import contextlib
import hashlib
import hmac
import json
import logging
import threading
import time

import pusher
import pusher.errors
import pysher
import requests
import websockets.exceptions
from websockets.sync.client import connect

APP_ID = "4242"
KEY = "app-key-1"
SECRET = "app-secret-0123456789"
APP = f"{APP_ID}:{KEY}:{SECRET}"
TIMEOUT = 30


def wait_until(predicate, what: str, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Client:
    """A pysher connection that records every channel event it receives.

    Events are recorded where pysher's connection hands them over, not through callbacks bound
    on pysher's channel objects: pysher registers a channel object only after sending the
    subscribe, so a fast `subscription_succeeded` would otherwise be lost.
    """

    def __init__(self, port: int, user: dict | None = None, key: str = KEY, secret: str = SECRET):
        self.events: list[tuple[str, str, object]] = []
        self.errors: list[object] = []
        self.lock = threading.Lock()
        self.pusher = pysher.Pusher(
            key, custom_host="127.0.0.1", port=port, secure=False, secret=secret, user_data=user, log_level=logging.WARNING
        )
        deliver = self.pusher.connection.event_handler

        def record(event, data, channel):
            with self.lock:
                self.events.append((channel, event, data))
            deliver(event, data, channel)

        self.pusher.connection.event_handler = record
        self.pusher.connection.bind("pusher:error", lambda data: self._record_error(data))
        self.pusher.connect()
        wait_until(lambda: self.pusher.connection.socket_id, "connection_established")
        self.socket_id = self.pusher.connection.socket_id

    def _record_error(self, data) -> None:
        with self.lock:
            self.errors.append(data)

    def subscribe(self, channel: str):
        handle = self.pusher.subscribe(channel)
        self.wait(channel, "pusher_internal:subscription_succeeded")
        return handle

    def received(self, channel: str, event: str) -> list:
        with self.lock:
            return [data for (c, e, data) in self.events if c == channel and e == event]

    def wait(self, channel: str, event: str, count: int = 1) -> list:
        return wait_until(lambda: (lambda got: got if len(got) >= count else None)(self.received(channel, event)), f"{event} on {channel}")

    def close(self) -> None:
        # pysher's socket has ping_timeout=100, and websocket-client's read loop can miss its own
        # close() (select waits on a socket another thread closed) until that timeout; the close
        # frame is sent by then, so do not wait for the thread long.
        self.pusher.disconnect(timeout=3)


def decoded(data):
    """Event data as pysher hands it over: a string (usually JSON) or, when the frame's data was
    an object, the object."""
    return json.loads(data) if isinstance(data, str) else data


def api(port: int, secret: str = SECRET) -> pusher.Pusher:
    return pusher.Pusher(app_id=APP_ID, key=KEY, secret=secret, host="127.0.0.1", port=port, ssl=False)


def auth(socket_id: str, channel: str, channel_data: str | None = None, secret: str = SECRET) -> str:
    subject = f"{socket_id}:{channel}" + (f":{channel_data}" if channel_data is not None else "")
    return f"{KEY}:" + hmac.new(secret.encode(), subject.encode(), hashlib.sha256).hexdigest()


def raw(port: int, path: str = f"/app/{KEY}?protocol=7"):
    return connect(f"ws://127.0.0.1:{port}{path}", open_timeout=TIMEOUT)


def test_connection_established_ping_and_refusals(server):
    s = server("--pusher-app", APP)
    with raw(s.port) as ws:
        # a ping sent before the welcome is read is still answered
        ws.send(json.dumps({"event": "pusher:ping", "data": {}}))
        established = json.loads(ws.recv(timeout=TIMEOUT))
        assert established["event"] == "pusher:connection_established" and "channel" not in established
        data = json.loads(established["data"])  # a JSON string holding JSON
        left, right = data["socket_id"].split(".")
        assert left.isdigit() and right.isdigit()
        assert data["activity_timeout"] > 0
        assert json.loads(ws.recv(timeout=TIMEOUT))["event"] == "pusher:pong"
        ws.send("not json")
        error = json.loads(ws.recv(timeout=TIMEOUT))
        assert error["event"] == "pusher:error" and error["data"]["code"] is None
    for path, code in ((f"/app/nope?protocol=7", 4001), (f"/app/{KEY}?protocol=8", 4007), (f"/app/{KEY}", 4007)):
        with raw(s.port, path) as ws:
            error = json.loads(ws.recv(timeout=TIMEOUT))
            assert error["event"] == "pusher:error" and error["data"]["code"] == code, (path, error)
            try:
                ws.recv(timeout=TIMEOUT)
                raise AssertionError("the connection stayed open")
            except websockets.exceptions.ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == code


def test_public_and_private_channels_with_triggers_and_socket_id_exclusion(server):
    s = server("--pusher-app", APP)
    a, b = Client(s.port), Client(s.port)
    try:
        a.subscribe("news")
        b.subscribe("news")
        a.subscribe("private-desk")
        b.subscribe("private-desk")
        backend = api(s.port)
        assert backend.trigger("news", "headline", {"text": "héllo"}) == {}
        assert json.loads(a.wait("news", "headline")[0]) == {"text": "héllo"}
        assert json.loads(b.wait("news", "headline")[0]) == {"text": "héllo"}
        # several channels at once, and socket_id keeps the sender out
        backend.trigger(["news", "private-desk"], "memo", "for a only", socket_id=b.socket_id)
        backend.trigger("private-desk", "memo", "marker")
        b.wait("private-desk", "memo")
        a.wait("private-desk", "memo", count=2)
        assert b.received("private-desk", "memo") == ["marker"]
        assert a.received("private-desk", "memo") == ["for a only", "marker"]
        # batches
        result = backend.trigger_batch(
            [{"channel": "news", "name": "headline", "data": "one"}, {"channel": "private-desk", "name": "memo", "data": "two"}]
        )
        assert "batch" in result
        a.wait("news", "headline", count=2)
        a.wait("private-desk", "memo", count=3)
        # queries
        assert backend.channels_info()["channels"].keys() == {"news", "private-desk"}
        info = backend.channel_info("private-desk", ["subscription_count"])
        assert info == {"occupied": True, "subscription_count": 2}
        assert backend.channel_info("empty") == {"occupied": False}
    finally:
        a.close()
        b.close()


def test_bad_signatures_are_refused_and_the_connection_stays(server):
    s = server("--pusher-app", APP)
    with raw(s.port) as ws:
        socket_id = json.loads(json.loads(ws.recv(timeout=TIMEOUT))["data"])["socket_id"]
        ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "private-x", "auth": auth(socket_id, "private-x", secret="wrong")}}))
        refused = json.loads(ws.recv(timeout=TIMEOUT))
        assert refused["event"] == "pusher:subscription_error" and refused["channel"] == "private-x"
        assert refused["data"]["status"] == 401
        # signed for another socket: refused too
        ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "private-x", "auth": auth("1.1", "private-x")}}))
        assert json.loads(ws.recv(timeout=TIMEOUT))["event"] == "pusher:subscription_error"
        # the same connection can still subscribe properly
        ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "private-x", "auth": auth(socket_id, "private-x")}}))
        ok = json.loads(ws.recv(timeout=TIMEOUT))
        assert ok["event"] == "pusher_internal:subscription_succeeded" and ok["channel"] == "private-x"
        # presence: the signature covers the exact channel_data string, spacing included
        data = '{"user_id":  7, "user_info": {"name": "Zoë"}}'
        ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "presence-r", "auth": auth(socket_id, "presence-r", data), "channel_data": data}}))
        joined = json.loads(ws.recv(timeout=TIMEOUT))
        assert joined["event"] == "pusher_internal:subscription_succeeded"
        assert json.loads(joined["data"])["presence"] == {"ids": ["7"], "hash": {"7": {"name": "Zoë"}}, "count": 1}
        # user_info is sent to every new subscriber, so it is bounded (1 KB, as Pusher does)
        big = json.dumps({"user_id": "8", "user_info": {"bio": "x" * 2000}})
        ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "presence-s", "auth": auth(socket_id, "presence-s", big), "channel_data": big}}))
        refused = json.loads(ws.recv(timeout=TIMEOUT))
        assert refused["event"] == "pusher:subscription_error" and refused["data"]["status"] == 413


def test_presence_members_are_per_user_not_per_connection(server):
    s = server("--pusher-app", APP)
    ann = Client(s.port, user={"user_id": "ann", "user_info": {"name": "Ann"}})
    bob1 = Client(s.port, user={"user_id": "bob"})
    bob2 = Client(s.port, user={"user_id": "bob"})
    try:
        ann.subscribe("presence-room")
        bob1.subscribe("presence-room")
        bob2.subscribe("presence-room")
        first = json.loads(ann.received("presence-room", "pusher_internal:subscription_succeeded")[0])["presence"]
        assert first == {"ids": ["ann"], "hash": {"ann": {"name": "Ann"}}, "count": 1}
        last = json.loads(bob2.received("presence-room", "pusher_internal:subscription_succeeded")[0])["presence"]
        assert last["count"] == 2 and set(last["ids"]) == {"ann", "bob"}
        added = ann.wait("presence-room", "pusher_internal:member_added")
        assert [json.loads(d)["user_id"] for d in added] == ["bob"]
        backend = api(s.port)
        assert backend.users_info("presence-room") == {"users": [{"id": "ann"}, {"id": "bob"}]}
        assert backend.channels_info("presence-", ["user_count"])["channels"] == {"presence-room": {"user_count": 2}}
        # bob's first tab leaves: nobody hears it; his last tab leaves: everyone does, once
        bob1.close()
        wait_until(lambda: backend.channel_info("presence-room", ["subscription_count"])["subscription_count"] == 2, "bob1 gone")
        assert backend.users_info("presence-room")["users"] == [{"id": "ann"}, {"id": "bob"}]
        bob2.close()
        removed = ann.wait("presence-room", "pusher_internal:member_removed")
        assert [json.loads(d) for d in removed] == [{"user_id": "bob"}]
        assert backend.users_info("presence-room") == {"users": [{"id": "ann"}]}
        # a marker proves no second member_removed is on its way
        backend.trigger("presence-room", "marker", "m")
        ann.wait("presence-room", "marker")
        assert len(ann.received("presence-room", "pusher_internal:member_removed")) == 1
    finally:
        for c in (ann, bob1, bob2):
            c.close()


def test_client_events_are_relayed_not_echoed_with_user_id_on_presence(server):
    s = server("--pusher-app", APP)
    ann = Client(s.port, user={"user_id": "ann"})
    bob = Client(s.port, user={"user_id": "bob"})
    try:
        for c in (ann, bob):
            c.subscribe("private-chat")
        ann.pusher.channels["private-chat"].trigger("client-typing", {"who": "ann"})
        assert [decoded(d) for d in bob.wait("private-chat", "client-typing")] == [{"who": "ann"}]
        api(s.port).trigger("private-chat", "marker", "after")
        ann.wait("private-chat", "marker")
        assert ann.received("private-chat", "client-typing") == [], "the sender must not get its own client event"
    finally:
        ann.close()
        bob.close()
    # on presence channels the relayed event carries the sender's user_id
    with raw(s.port) as first, raw(s.port) as second:
        ids = []
        for ws, user in ((first, "u1"), (second, "u2")):
            socket_id = json.loads(json.loads(ws.recv(timeout=TIMEOUT))["data"])["socket_id"]
            data = json.dumps({"user_id": user})
            ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "presence-p", "auth": auth(socket_id, "presence-p", data), "channel_data": data}}))
            ids.append(socket_id)
        # the two sockets may be served by different event loops: the relay reaches `second`
        # only once its own subscription has been taken, so wait for both confirmations
        for ws in (first, second):
            while json.loads(ws.recv(timeout=TIMEOUT))["event"] != "pusher_internal:subscription_succeeded":
                pass
        first.send(json.dumps({"event": "client-wave", "channel": "presence-p", "data": {"x": 1}}))
        while True:
            message = json.loads(second.recv(timeout=TIMEOUT))
            if message["event"] == "client-wave":
                break
        assert message == {"event": "client-wave", "channel": "presence-p", "data": {"x": 1}, "user_id": "u1"}
        # public channels refuse client events, and the budget is 10 per second
        first.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "open"}}))
        first.send(json.dumps({"event": "client-x", "channel": "open", "data": {}}))
        for _ in range(25):
            first.send(json.dumps({"event": "client-spam", "channel": "presence-p", "data": {}}))
        errors = []
        while len(errors) < 2 or not any(e["data"]["code"] == 4301 for e in errors):
            message = json.loads(first.recv(timeout=TIMEOUT))
            if message["event"] == "pusher:error":
                errors.append(message)
        assert errors[0]["data"]["code"] is None and "private- and presence-" in errors[0]["data"]["message"]
        assert any(e["data"]["code"] == 4301 for e in errors)


def test_rest_api_refuses_bad_signatures_stale_timestamps_and_bad_input(server):
    s = server("--pusher-app", APP)
    try:
        api(s.port, secret="not-the-secret-0123").trigger("news", "e", "x")
        raise AssertionError("a wrong secret was accepted")
    except pusher.errors.PusherBadAuth:
        pass

    def signed(method: str, path: str, body: bytes = b"", timestamp: int | None = None, **params) -> requests.Response:
        query = {"auth_key": KEY, "auth_timestamp": str(timestamp or int(time.time())), "auth_version": "1.0", "body_md5": hashlib.md5(body).hexdigest(), **params}
        text = "&".join(f"{k}={v}" for k, v in sorted(query.items()))
        query["auth_signature"] = hmac.new(SECRET.encode(), f"{method}\n{path}\n{text}".encode(), hashlib.sha256).hexdigest()
        return requests.request(method, f"http://127.0.0.1:{s.port}{path}", params=query, data=body, timeout=TIMEOUT)

    stale = signed("GET", f"/apps/{APP_ID}/channels", timestamp=int(time.time()) - 3600)
    assert stale.status_code == 401 and "Timestamp expired" in stale.json()["error"]
    assert signed("GET", f"/apps/{APP_ID}/channels").json() == {"channels": {}}
    too_many = json.dumps({"name": "e", "channels": [f"c{i}" for i in range(101)], "data": "x"}).encode()
    assert signed("POST", f"/apps/{APP_ID}/events", too_many).status_code == 400
    big = json.dumps({"name": "e", "channels": ["c"], "data": "x" * 20000}).encode()
    assert signed("POST", f"/apps/{APP_ID}/events", big).status_code == 413
    bad_name = json.dumps({"name": "e", "channels": ["no:colons"], "data": "x"}).encode()
    assert signed("POST", f"/apps/{APP_ID}/events", bad_name).status_code == 400
    tampered = signed("GET", f"/apps/{APP_ID}/channels", filter_by_prefix="presence-")
    assert tampered.status_code == 200
    unsigned = requests.get(f"http://127.0.0.1:{s.port}/apps/{APP_ID}/channels", timeout=TIMEOUT)
    assert unsigned.status_code == 401
    wrong_app = signed("GET", "/apps/999/channels")
    assert wrong_app.status_code == 404
    assert signed("GET", f"/apps/{APP_ID}/channels", info="user_count").status_code == 400


def test_terminate_user_connections_closes_every_tab_of_that_user(server):
    s = server("--pusher-app", APP)
    with contextlib.ExitStack() as stack:
        sockets = []
        for user in ("carol", "carol", "dave"):
            ws = stack.enter_context(raw(s.port))
            socket_id = json.loads(json.loads(ws.recv(timeout=TIMEOUT))["data"])["socket_id"]
            data = json.dumps({"user_id": user})
            ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "presence-t", "auth": auth(socket_id, "presence-t", data), "channel_data": data}}))
            assert json.loads(ws.recv(timeout=TIMEOUT))["event"] == "pusher_internal:subscription_succeeded"
            sockets.append(ws)
        # the official library sends this without the /apps/{id} prefix
        assert api(s.port).terminate_user_connections("carol") == {}
        for ws in sockets[:2]:
            codes = []
            try:
                while True:
                    message = json.loads(ws.recv(timeout=TIMEOUT))
                    if message["event"] == "pusher:error":
                        codes.append(message["data"]["code"])
            except websockets.exceptions.ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4009
            assert codes == [4009]
        # dave is still there and heard carol leave once
        removed = []
        while not removed:
            message = json.loads(sockets[2].recv(timeout=TIMEOUT))
            if message["event"] == "pusher_internal:member_removed":
                removed.append(json.loads(message["data"]))
        assert removed == [{"user_id": "carol"}]


def test_native_and_pusher_clients_share_the_apps_channels(server):
    import urllib.request

    token = "pusher-admin-token-0123456789"
    s = server("--pusher-app", APP, "--admin-token", token)
    p = Client(s.port)
    broadcasts = []
    p.pusher.connection.bind("switchboard:broadcast", broadcasts.append)
    try:
        p.subscribe("news")
        with connect(s.url, open_timeout=TIMEOUT) as native:
            assert json.loads(native.recv(timeout=TIMEOUT))["type"] == "welcome"
            native.send(json.dumps({"type": "subscribe", "channel": f"{APP_ID}:news"}))
            assert json.loads(native.recv(timeout=TIMEOUT))["type"] == "subscribed"
            # a REST trigger reaches the native client with its event name
            api(s.port).trigger("news", "breaking", {"n": 1})
            message = json.loads(native.recv(timeout=TIMEOUT))
            assert message["type"] == "message" and message["channel"] == f"{APP_ID}:news"
            assert message["event"] == "breaking" and json.loads(message["data"]) == {"n": 1} and message["from"] == "api"
            # a native publish reaches the Pusher client as event "message" (or the one it names)
            native.send(json.dumps({"type": "publish", "channel": f"{APP_ID}:news", "data": {"from": "native"}}))
            assert [decoded(d) for d in p.wait("news", "message")] == [{"from": "native"}]
            # an app's private and presence channels are not open to anonymous native clients
            native.send(json.dumps({"type": "subscribe", "channel": f"{APP_ID}:private-desk"}))
            while True:
                reply = json.loads(native.recv(timeout=TIMEOUT))
                if reply["type"] == "error":
                    break
            assert reply["code"] == "forbidden"
        # an operator's broadcast reaches Pusher clients as a connection-level event
        request = urllib.request.Request(
            f"http://127.0.0.1:{s.port}/api/broadcast", data=json.dumps({"data": {"notice": "maintenance at 5"}}).encode(),
            method="POST", headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            assert json.loads(response.read())["reached"] == 1
        wait_until(lambda: broadcasts, "the broadcast")
        assert decoded(broadcasts[0]) == {"notice": "maintenance at 5"}
    finally:
        p.close()


def test_apps_come_from_the_config_file(server, tmp_path):
    config = tmp_path / "apps.toml"
    config.write_text(
        '[[apps]]\nid = "77"\nkey = "cfg-key"\nsecret = "cfg-secret-0123456789"\nmax_connections = 1\nclient_events = false\n'
    )
    s = server("--config", str(config))
    with raw(s.port, "/app/cfg-key?protocol=7") as first:
        assert json.loads(first.recv(timeout=TIMEOUT))["event"] == "pusher:connection_established"
        with raw(s.port, "/app/cfg-key?protocol=7") as second:
            error = json.loads(second.recv(timeout=TIMEOUT))
            assert error["data"]["code"] == 4004
        first.send(json.dumps({"event": "client-x", "channel": "private-a", "data": {}}))
        assert "not enabled" in json.loads(first.recv(timeout=TIMEOUT))["data"]["message"]


def test_webhooks_are_signed_retried_and_cover_the_channel_lifecycle(server, tmp_path):
    import http.server

    received: list[tuple[int, dict, bytes]] = []  # (status answered, headers, body)

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = 500 if not received else 200  # the first delivery fails and must be retried
            received.append((status, dict(self.headers), body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    config = tmp_path / "hooks.toml"
    config.write_text(
        f'[[apps]]\nid = "{APP_ID}"\nkey = "{KEY}"\nsecret = "{SECRET}"\nwebhooks = ["http://127.0.0.1:{receiver.server_address[1]}/hook"]\n'
    )
    s = server("--config", str(config))
    try:
        with raw(s.port) as first, raw(s.port) as second:
            for ws, user in ((first, "u1"), (second, "u2")):
                socket_id = json.loads(json.loads(ws.recv(timeout=TIMEOUT))["data"])["socket_id"]
                data = json.dumps({"user_id": user})
                ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "presence-h", "auth": auth(socket_id, "presence-h", data), "channel_data": data}}))
                assert json.loads(ws.recv(timeout=TIMEOUT))["event"] == "pusher_internal:subscription_succeeded"
            first.send(json.dumps({"event": "client-note", "channel": "presence-h", "data": "plain text"}))
            while json.loads(second.recv(timeout=TIMEOUT))["event"] != "client-note":
                pass
        expected = {"channel_occupied", "member_added", "client_event", "member_removed", "channel_vacated"}

        def delivered():
            events = []
            for status, headers, body in list(received):
                if status == 200:
                    events += json.loads(body)["events"]
            return events

        wait_until(lambda: expected <= {e["name"] for e in delivered()} and len([e for e in delivered() if e["name"] == "member_removed"]) == 2, "every webhook")
        events = delivered()
        assert [e["channel"] for e in events] == ["presence-h"] * len(events)
        assert sorted(e["user_id"] for e in events if e["name"] == "member_added") == ["u1", "u2"]
        note = next(e for e in events if e["name"] == "client_event")
        assert note["event"] == "client-note" and note["data"] == "plain text" and note["user_id"] == "u1"
        assert [e["name"] for e in events].count("channel_occupied") == 1
        # every request is signed with the app's secret, as the official library checks it
        backend = api(s.port)
        for status, headers, body in received:
            assert headers["X-Pusher-Key"] == KEY
            assert backend.validate_webhook(KEY, headers["X-Pusher-Signature"], body.decode()) is not None
        # the failed first delivery came again
        assert received[0][0] == 500 and received[1][2] == received[0][2]
    finally:
        receiver.shutdown()


def read_frames(sock) -> list[tuple[int, bytes]]:
    """Reads unmasked server frames from a raw socket until the peer closes: (opcode, payload)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    frames, i = [], 0
    while i + 2 <= len(data):
        opcode, length = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if length == 126:
            length, i = int.from_bytes(data[i : i + 2], "big"), i + 2
        elif length == 127:
            length, i = int.from_bytes(data[i : i + 8], "big"), i + 8
        frames.append((opcode, data[i : i + length]))
        i += length
    return frames


def test_a_client_that_never_answers_pings_is_closed_with_4201(server):
    import socket

    s = server("--pusher-app", APP, "--heartbeat", "1")
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=TIMEOUT)
    sock.sendall(
        f"GET /app/{KEY}?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert b" 101 " in head
    # read everything, answer nothing: pings, then the pusher:error and the close frame
    frames = read_frames(sock)
    sock.close()
    texts = [json.loads(payload) for opcode, payload in frames if opcode == 1]
    assert texts[0]["event"] == "pusher:connection_established"
    assert texts[-1] == {"event": "pusher:error", "data": {"code": 4201, "message": "Pong reply not received"}}
    assert any(opcode == 9 for opcode, _ in frames), "the server pings before giving up"
    close = [payload for opcode, payload in frames if opcode == 8]
    assert close and int.from_bytes(close[0][:2], "big") == 4201


def test_shutdown_asks_pusher_clients_to_reconnect_with_4200(server):
    import signal

    s = server("--pusher-app", APP)
    with raw(s.port) as ws:
        assert json.loads(ws.recv(timeout=TIMEOUT))["event"] == "pusher:connection_established"
        s.proc.send_signal(signal.SIGTERM)
        error = json.loads(ws.recv(timeout=TIMEOUT))
        assert error["event"] == "pusher:error" and error["data"]["code"] == 4200
        try:
            ws.recv(timeout=TIMEOUT)
            raise AssertionError("still open")
        except websockets.exceptions.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4200
    assert s.proc.wait(timeout=60) == 0


def test_signin_encrypted_channels_and_client_events_need_a_subscription(server):
    s = server("--pusher-app", APP)
    with raw(s.port) as ws:
        socket_id = json.loads(json.loads(ws.recv(timeout=TIMEOUT))["data"])["socket_id"]
        # user authentication, signed as the official library's authenticate_user does it
        signed = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET).authenticate_user(socket_id, {"id": "erin"})
        ws.send(json.dumps({"event": "pusher:signin", "data": signed}))
        success = json.loads(ws.recv(timeout=TIMEOUT))
        assert success["event"] == "pusher:signin_success" and json.loads(success["data"]["user_data"]) == {"id": "erin"}
        # private-encrypted channels are signed like private ones
        ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "private-encrypted-vault", "auth": auth(socket_id, "private-encrypted-vault")}}))
        assert json.loads(ws.recv(timeout=TIMEOUT))["event"] == "pusher_internal:subscription_succeeded"
        # client events only on channels the client is subscribed to
        ws.send(json.dumps({"event": "client-x", "channel": "private-elsewhere", "data": {}}))
        error = json.loads(ws.recv(timeout=TIMEOUT))
        assert error["event"] == "pusher:error" and "subscribe to private-elsewhere" in error["data"]["message"]
        # the signed-in user can be terminated by id
        assert api(s.port).terminate_user_connections("erin") == {}
        assert json.loads(ws.recv(timeout=TIMEOUT))["data"]["code"] == 4009
    with raw(s.port) as ws:
        socket_id = json.loads(json.loads(ws.recv(timeout=TIMEOUT))["data"])["socket_id"]
        ws.send(json.dumps({"event": "pusher:signin", "data": {"auth": f"{KEY}:{'0' * 64}", "user_data": '{"id":"mallory"}'}}))
        assert json.loads(ws.recv(timeout=TIMEOUT))["data"]["code"] == 4009
