"""The cluster after Redis blips: a 6 s pause of redis-server (SIGSTOP, then SIGCONT, data intact),
its request connections killed mid-script (`CLIENT KILL TYPE normal`), and a restart without
persistence. Presence, occupancy, counts and webhooks must end true and be announced once; the
JavaScript client must not drop the messages of a restarted numbering; a kick by a
percent-encoded client id must reach the client's node.

Every wait is for a condition with a deadline; "nothing more arrives" is checked up to a marker
published after the change (presence events travel in the channel's stream, in order with its
messages) or, for webhooks, up to later marker webhooks."""
import contextlib
import json
import os
import queue
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse

import jwt
import pusher
import pytest
from websockets.sync.client import connect

from conftest import channel_key, pubsub_name
from native_client import TIMEOUT, native, until
from test_cluster import (APP_ID, JWT_SECRET, KEY, SECRET, TOKEN, admin, api_publish, closed_with, join_presence, node, paused,
                          presence_of, pusher_presence_client, pusher_public_client, wait_until, webhook_app)

# How long Redis is paused: longer than a request's 2 s timeout and a node's 5 s of silence.
PAUSE = 6
# How long the cluster may take to settle after Redis answers again (the issue: nothing in 40 s).
SETTLE = 60
# When, in the pause, the client acts: as Redis stops (the node's request is written and waits in
# Redis's socket buffer, to run when it resumes, after the node gave up on it at 2 s), or 3 s in
# (the node has dropped its request connection and is reconnecting).
MOMENTS = {"as-redis-stops": 0, "mid-pause": 3}
# The Pusher app's presence channel, as native clients name it.
ROOM = f"{APP_ID}:presence-team"


@contextlib.contextmanager
def redis_paused(redis, moment: str = "as-redis-stops", seconds: float = PAUSE):
    """redis-server stopped (SIGSTOP), the block run at `moment` of the pause, and resumed
    (SIGCONT) `seconds` after it stopped."""
    with paused(redis):
        started = time.monotonic()
        time.sleep(MOMENTS[moment])
        yield
        time.sleep(max(0.0, started + seconds - time.monotonic()))


def member(stack, s, user: str):
    """A native client of node `s` authenticated as `user`, with a token granting every channel
    (the Pusher app's presence channel needs a token that names it)."""
    token = jwt.encode({"sub": user, "channels": ["*"]}, JWT_SECRET, algorithm="HS256")
    ws = stack.enter_context(connect(f"{s.url}?token={token}", open_timeout=TIMEOUT))
    assert json.loads(ws.recv(timeout=TIMEOUT))["type"] == "welcome"
    return ws


class Inbox:
    """Every frame a client received, read without blocking whenever it is looked at."""

    def __init__(self, ws, name: str):
        self.ws, self.name, self.frames = ws, name, []

    def poll(self) -> list:
        while True:
            try:
                self.frames.append(json.loads(self.ws.recv(timeout=0)))
            except TimeoutError:
                return self.frames

    def count(self, predicate) -> int:
        return sum(1 for frame in self.poll() if predicate(frame))

    def wait_for(self, predicate, what: str, timeout: float = TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count(predicate):
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: timed out waiting for {what}; received {self.frames}")


def presence_change(kind: str, user: str):
    """A native `join`/`leave` or a Pusher `member_added`/`member_removed` of `user`."""
    pusher_event = {"join": "pusher_internal:member_added", "leave": "pusher_internal:member_removed"}[kind]

    def matches(frame) -> bool:
        if frame.get("type") == kind:
            return frame.get("user") == user
        if frame.get("event") == pusher_event:
            data = json.loads(frame["data"]) if isinstance(frame["data"], str) else frame["data"]
            return data.get("user_id") == user
        return False

    return matches


def marker(text: str):
    """A native or Pusher delivery of the marker message `text`."""

    def matches(frame) -> bool:
        if frame.get("type") == "message":
            return frame.get("data") == text
        if frame.get("event") == "message":
            return frame.get("data") in (text, json.dumps(text))
        return False

    return matches


def eventually(predicate, timeout: float) -> bool:
    """Whether `predicate` came true within `timeout` (polled)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def publish_marker(s, channel: str, text: str, inboxes):
    """Publishes `text` to `channel` through node `s` (again while Redis is still coming back) and
    waits until every inbox has it: what they received before it is all they will get of it."""
    wait_until(lambda: api_publish(s, channel, text)[0] == 200, f"the marker {text!r} to be accepted")
    for inbox in inboxes:
        inbox.wait_for(marker(text), f"the marker {text!r}")


def rest(s):
    return pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=s.port, ssl=False)


def presence_nodes(server, redis):
    return [node(server, redis, name, "--auth-jwt-secret", JWT_SECRET) for name in ("node-a", "node-b")]


class Room:
    """The Pusher app's presence channel as two nodes see it: a native and a Pusher member on
    node-b (`watchers`, every frame kept) and, on each node, a native client asking who is present
    and the REST `users` route."""

    def __init__(self, stack, a, b):
        self.nodes = {"node-a": a, "node-b": b}
        pusher_watcher = Inbox(pusher_presence_client(stack, b, "pusher-watcher"), "Pusher member on node-b")
        native_watcher = Inbox(member(stack, b, "native-watcher"), "native member on node-b")
        assert join_presence(native_watcher.ws, ROOM)["type"] == "subscribed"
        pusher_watcher.wait_for(presence_change("join", "native-watcher"), "native-watcher's member_added")
        self.watchers = [native_watcher, pusher_watcher]
        self.askers = {name: member(stack, s, f"asker-{name}") for name, s in self.nodes.items()}
        self.asked = 0

    def members(self) -> dict:
        lists = {}
        for name, s in self.nodes.items():
            self.asked += 1
            try:
                lists[f"members by {name} (native presence)"] = sorted(presence_of(self.askers[name], ROOM, id=f"p{self.asked}"))
            except AssertionError as refused:  # `unavailable` while Redis is coming back
                lists[f"members by {name} (native presence)"] = [f"<{refused}>"]
            try:
                lists[f"members by {name} (REST users)"] = sorted(u["id"] for u in rest(s).users_info("presence-team")["users"])
            except Exception as error:  # 503 while Redis is coming back
                lists[f"members by {name} (REST users)"] = [f"<{type(error).__name__}: {error}>"]
        return lists

    def state(self, user: str, kinds) -> dict:
        """How many presence changes of each kind of `user` each watcher got, and every member list."""
        counts = {f"{kind}s of {user} seen by the {w.name}": w.count(presence_change(kind, user)) for kind in kinds for w in self.watchers}
        return {**counts, **self.members()}

    def expected(self, user: str, counts: dict, members: list) -> dict:
        want = {f"{kind}s of {user} seen by the {w.name}": count for kind, count in counts.items() for w in self.watchers}
        lists = [f"members by {name} ({how})" for name in self.nodes for how in ("native presence", "REST users")]
        return {**want, **{key: sorted(members) for key in lists}}

    def assert_settles(self, user: str, want: dict, marker_text: str, context: str):
        """Waits (up to SETTLE) for the counts and lists of `want`, then publishes a marker on the
        channel: once every watcher has it, they must still be exactly `want`."""
        eventually(lambda: self.state(user, kinds_of(want)) == want, SETTLE)
        publish_marker(self.nodes["node-a"], ROOM, marker_text, self.watchers)
        assert self.state(user, kinds_of(want)) == want, f"{context}; {SETTLE} s after, up to a later marker"


def kinds_of(want: dict) -> list:
    return sorted({key.split("s of ", 1)[0] for key in want if " seen by the " in key})


WATCHERS = ["native-watcher", "pusher-watcher"]


def join_retrying(ws, channel: str, what: str):
    """A presence subscribe, asked again while the node answers `unavailable` (Redis reconnecting)."""
    ids = iter(range(1_000_000))

    def joined():
        reply = join_presence(ws, channel, id=f"j{next(ids)}")
        assert reply["type"] == "subscribed" or reply.get("code") == "unavailable", reply
        return reply["type"] == "subscribed"

    wait_until(joined, what)


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_user_leaving_while_redis_is_paused_leaves_once_for_everyone(server, redis, moment):
    a, b = presence_nodes(server, redis)
    with contextlib.ExitStack() as stack:
        room = Room(stack, a, b)
        ann = member(stack, a, "ann")
        assert join_presence(ann, ROOM)["type"] == "subscribed"
        for w in room.watchers:
            w.wait_for(presence_change("join", "ann"), "ann's join")
        with redis_paused(redis, moment):
            ann.close()  # the tab closes while its node cannot reach Redis
        room.assert_settles("ann", room.expected("ann", {"leave": 1}, WATCHERS), "after ann left", "Redis resumed")


class RedisKiller:
    """A plain RESP connection to Redis that kills the other normal (request) connections at once,
    without starting a process (redis-cli would add milliseconds)."""

    def __init__(self, redis):
        self.sock = socket.create_connection(("127.0.0.1", redis.port), timeout=TIMEOUT)

    def kill_requests(self) -> int:
        words = ["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]
        self.sock.sendall(f"*{len(words)}\r\n".encode() + b"".join(f"${len(w)}\r\n{w}\r\n".encode() for w in words))
        reply = b""
        while not reply.endswith(b"\r\n"):
            reply += self.sock.recv(64)
        assert reply.startswith(b":"), reply
        return int(reply[1:])

    def close(self):
        self.sock.close()


def test_a_user_leaving_as_the_request_connection_is_killed_leaves_once_for_everyone(server, redis):
    a, b = presence_nodes(server, redis)
    killer = RedisKiller(redis)
    try:
        with contextlib.ExitStack() as stack:
            room = Room(stack, a, b)
            # The kill comes at a different moment of each leave, before and after the close
            # handshake is done, to land while the node's leave script is in flight.
            for round, delay in enumerate((-0.002, -0.001, 0, 0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02)):
                user = f"ann-{round}"
                with contextlib.ExitStack() as tab:
                    ws = member(tab, a, user)
                    join_retrying(ws, ROOM, f"{user} to join")
                    for w in room.watchers:
                        w.wait_for(presence_change("join", user), f"{user}'s join")
                    if delay < 0:
                        closing = threading.Thread(target=ws.close)
                        closing.start()
                        time.sleep(-delay)
                        killer.kill_requests()
                        closing.join()
                    else:
                        ws.close()
                        time.sleep(delay)
                        killer.kill_requests()
                room.assert_settles(user, room.expected(user, {"leave": 1}, WATCHERS), f"after {user} left",
                                    f"round {round}: the request connections killed {delay * 1000:g} ms after the close began")
    finally:
        killer.close()


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_user_joining_while_redis_is_paused_joins_once_or_is_refused_unseen(server, redis, moment):
    a, b = presence_nodes(server, redis)
    with contextlib.ExitStack() as stack:
        room = Room(stack, a, b)
        ann = Inbox(member(stack, a, "ann"), "ann")
        with redis_paused(redis, moment):
            ann.ws.send(json.dumps({"type": "subscribe", "channel": ROOM, "presence": True, "id": "during"}))
        ann.wait_for(lambda m: m.get("id") == "during", "the answer to ann's join", timeout=SETTLE)
        answer = next(m for m in ann.frames if m.get("id") == "during")
        assert answer["type"] in ("subscribed", "error"), answer
        # ann stays connected: joined once and listed, or refused, never seen and not listed.
        if answer["type"] == "subscribed":
            want = room.expected("ann", {"join": 1, "leave": 0}, WATCHERS + ["ann"])
        else:
            want = room.expected("ann", {"join": 0, "leave": 0}, WATCHERS)
        room.assert_settles("ann", want, "after ann's join", f"ann was answered {answer}")


@pytest.mark.parametrize("moment", MOMENTS)
def test_the_last_subscribers_leaving_while_redis_is_paused_vacate_once(server, redis, tmp_path, moment):
    events, receiver, config = webhook_app(tmp_path)
    a, b = (server("--redis", redis.url, "--node-name", name, "--admin-token", TOKEN, "--config", str(config)) for name in ("node-a", "node-b"))
    watched = {f"{APP_ID}:shared", f"{APP_ID}:presence-team", "news"}

    def webhooks(name: str) -> list:
        return sorted(e.get("user_id") or e["channel"] for e in events if e["name"] == name)

    def subscribed_somewhere(s) -> dict:
        status, rows = admin(s, "GET", "/api/channels")
        if status != 200:
            return {"status": status, "body": rows}
        return {r["name"]: (r["subscribers"], r["node_subscribers"]) for r in rows
                if r["name"] in watched and (r["subscribers"] or r["node_subscribers"])}

    def occupied(s) -> list:
        try:
            listed = set(rest(s).channels_info()["channels"])
            asked = {name for name in ("shared", "presence-team") if rest(s).channel_info(name)["occupied"]}
            return sorted(listed | asked)
        except Exception as error:  # 503 while Redis is coming back
            return [f"<{type(error).__name__}: {error}>"]

    def state() -> dict:
        return {
            "/api/channels on node-a (subscribers, node_subscribers)": subscribed_somewhere(a),
            "/api/channels on node-b (subscribers, node_subscribers)": subscribed_somewhere(b),
            "occupied channels (REST, node-a)": occupied(a),
            "occupied channels (REST, node-b)": occupied(b),
            "channel_vacated webhooks": webhooks("channel_vacated"),
            "member_removed webhooks": webhooks("member_removed"),
        }

    try:
        with contextlib.ExitStack() as stack:
            # The only subscribers anywhere, all on node-a; node-b has none.
            clients = [pusher_public_client(stack, a, "shared"), pusher_presence_client(stack, a, "ann"), native(stack, a)]
            clients[2].send(json.dumps({"type": "subscribe", "channel": "news", "id": "s"}))
            assert until(clients[2], lambda m: m.get("id") == "s")["type"] == "subscribed"
            wait_until(lambda: webhooks("channel_occupied") == ["presence-team", "shared"] and webhooks("member_added") == ["ann"],
                       "channel_occupied and member_added webhooks")
            wait_until(lambda: subscribed_somewhere(b) == {f"{APP_ID}:shared": (1, 0), f"{APP_ID}:presence-team": (1, 0), "news": (1, 0)},
                       "node-b to count node-a's subscribers")
            with redis_paused(redis, moment):
                for ws in clients:
                    ws.close()
        want = {
            "/api/channels on node-a (subscribers, node_subscribers)": {},
            "/api/channels on node-b (subscribers, node_subscribers)": {},
            "occupied channels (REST, node-a)": [],
            "occupied channels (REST, node-b)": [],
            "channel_vacated webhooks": ["presence-team", "shared"],
            "member_removed webhooks": ["ann"],
        }
        eventually(lambda: state() == want, SETTLE)
        # Markers: a channel occupied and vacated on each node; their webhooks come after any
        # late or repeated one of the channels above.
        for s, name in ((a, "marker-a"), (b, "marker-b")):
            with contextlib.ExitStack() as stack:
                pusher_public_client(stack, s, name)
        wait_until(lambda: {"marker-a", "marker-b"} <= set(webhooks("channel_vacated")), "the markers' channel_vacated webhooks")
        got = state()
        got["channel_vacated webhooks"] = [c for c in got["channel_vacated webhooks"] if not c.startswith("marker-")]
        assert got == want, f"{SETTLE} s after Redis resumed, up to later marker webhooks"
    finally:
        receiver.shutdown()


NODE_MODULE_PATHS = ("/usr/share/nodejs", "/usr/lib/nodejs")  # Debian's node-ws is in /usr/share/nodejs/ws


class JavaScriptClient:
    """/switchboard.js in Node (Tests/EndToEnd/js_client.js): what its callbacks were called with."""

    def __init__(self, s, channel: str, script_url: str | None = None, token_url: str | None = None):
        node_binary = shutil.which("node") or shutil.which("nodejs")
        assert node_binary, "Node.js is not installed (apt-get install nodejs node-ws; scripts/test.sh does)"
        env = {**os.environ, "NODE_PATH": os.pathsep.join(filter(None, (os.environ.get("NODE_PATH"), *NODE_MODULE_PATHS)))}
        script = os.path.join(os.path.dirname(__file__), "js_client.js")
        self.proc = subprocess.Popen([node_binary, script, script_url or f"http://127.0.0.1:{s.port}/switchboard.js", s.url, channel,
                                      *([token_url] if token_url else [])],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.events: list[dict] = []
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self._lines.put(json.loads(line))

    def poll(self) -> list:
        while True:
            try:
                self.events.append(self._lines.get_nowait())
            except queue.Empty:
                break
        crashed = [e for e in self.events if e["event"] == "crash"]
        assert not crashed, f"the Node client crashed: {crashed[0]['message']}"
        return self.events

    def of(self, kind: str) -> list:
        return [e for e in self.poll() if e["event"] == kind]

    def wait_for(self, predicate, what: str, timeout: float = TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc.poll() is not None:
                self.poll()
                raise AssertionError(f"the Node client exited ({self.proc.returncode}) before {what}: {self.proc.stderr.read()}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; the client's callbacks: {self.poll()}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.mark.parametrize("history", [True, False], ids=["with-history", "without-history"])
def test_the_javascript_client_gets_every_message_after_redis_restarts_empty(server, redis, history):
    options = ("--history-size", "100") if history else ()
    a, b = (node(server, redis, name, *options) for name in ("node-a", "node-b"))
    client = JavaScriptClient(a, "news")
    try:
        client.wait_for(lambda: client.of("subscribed"), "the client's subscription")
        for n in range(20):
            assert api_publish(b, "news", {"before": n})[0] == 200
        client.wait_for(lambda: len(client.of("message")) == 20, "the first 20 messages")
        assert [e["seq"] for e in client.of("message")] == list(range(1, 21))
        redis.kill()
        redis.start()  # empty: the channel's numbering starts again
        # Published only once node-a is subscribed again in Redis, so that none of these is
        # missed by the node itself: each of them must reach the client.
        wait_until(lambda: redis.cli("PUBSUB", "NUMSUB", pubsub_name("news")).split()[-1] == "1", "node-a to subscribe again")
        wait_until(lambda: api_publish(b, "news", {"after": 0})[0] == 200, "a publish to be accepted again")
        for n in range(1, 10):
            assert api_publish(b, "news", {"after": n})[0] == 200
        after = lambda: [e["data"]["after"] for e in client.of("message") if "after" in e["data"]]
        delivered = eventually(lambda: after() == list(range(10)), SETTLE)
        lost = [e["error"] for e in client.of("error") if e["error"].get("code") == "messages_lost"]
        reported = [e["error"] for e in client.of("client_error") if e["error"].get("code") == "messages_lost"]
        assert delivered and lost and reported, (
            f"after Redis restarted empty the message callback got {after()} of the 10 messages published "
            f"(seqs {[e['seq'] for e in client.of('message')][20:]}); messages_lost reported to the subscription's "
            f"error: {lost}, to sb.on('error'): {reported}; every callback: {client.poll()}")
        assert len(lost) == 1 and lost[0]["channel"] == "news", lost
    finally:
        client.close()


def test_a_kick_by_percent_encoded_client_id_reaches_its_node(server, redis):
    a, b = node(server, redis, "node-a"), node(server, redis, "node-b")
    wait_until(lambda: admin(a, "GET", "/api/nodes")[1].get("nodes") and len(admin(a, "GET", "/api/nodes")[1]["nodes"]) == 2,
               "both nodes listed")
    for holder in (b, a):  # on another node, then on the asking node itself
        with connect(holder.url, open_timeout=TIMEOUT) as ws:
            id = json.loads(ws.recv(timeout=TIMEOUT))["client"]
            path = f"/api/clients/{urllib.parse.quote(id, safe='')}/kick"
            assert "%40" in path, path
            status, reply = admin(a, "POST", path, {"reason": "encoded"})
            assert (status, reply) == (200, {"kicked": 1}), f"POST {path} to node-a: {status} {reply}"
            assert closed_with(ws) == (4000, "encoded")
