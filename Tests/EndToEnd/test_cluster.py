"""Several real nodes joined through a real redis-server (`--redis`): publishes from any node
reach subscribers on every node in one order with one cluster-wide numbering, acks are honest
(refused while Redis is down, nothing refused delivered later), subscriptions come back by
themselves, gaps are reported with `messages_lost`, and prefixes keep clusters apart."""
import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pusher
import pytest
from websockets.sync.client import connect

from conftest import BIN, channel_key, pubsub_name
from native_client import TIMEOUT, messages, native, until

TOKEN = "cluster-admin-token-0123456789"
APP_ID, KEY, SECRET = "77", "cluster-key", "cluster-secret-0123456789"
APP = f"{APP_ID}:{KEY}:{SECRET}"


def node(server, redis, name: str, *args: str, **options):
    return server("--redis", redis.url, "--node-name", name, "--admin-token", TOKEN, "--pusher-app", APP, *args, **options)


def subscribe(ws, channel: str, id=1):
    ws.send(json.dumps({"type": "subscribe", "channel": channel, "id": id}))
    return until(ws, lambda m: m.get("id") == id)


def publish(ws, channel: str, data, id):
    ws.send(json.dumps({"type": "publish", "channel": channel, "data": data, "id": id}))
    return until(ws, lambda m: m.get("id") == id)


def admin(s, method: str, path: str, body: dict | None = None):
    request = urllib.request.Request(
        f"http://127.0.0.1:{s.port}{path}", data=json.dumps(body).encode() if body is not None else None, method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def api_publish(s, channel: str, data):
    return admin(s, "POST", "/api/publish", {"channel": channel, "data": data})


def wait_until(predicate, what: str, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_publishes_reach_every_node_in_one_order_with_one_numbering(server, redis):
    nodes = [node(server, redis, name) for name in ("node-a", "node-b", "node-c")]
    with contextlib.ExitStack() as stack:
        subscribers = [native(stack, s) for s in nodes for _ in range(2)]
        for ws in subscribers:
            assert subscribe(ws, "news")["type"] == "subscribed"
        # Two publishers on two nodes, interleaved; every ack comes after Redis took the message.
        first, second = native(stack, nodes[0]), native(stack, nodes[1])
        for i in range(100):
            assert publish(first, "news", {"from": "a", "i": i}, id=f"a{i}")["type"] == "ack"
            assert publish(second, "news", {"from": "b", "i": i}, id=f"b{i}")["type"] == "ack"
        status, reply = api_publish(nodes[2], "news", {"from": "api"})
        assert status == 200 and reply["seq"] == 201, reply
        received = [messages(ws, 201) for ws in subscribers]
        # Numbered once, in Redis: 1…201 with no gap or duplicate, the same order on every node.
        for got in received:
            assert [m["seq"] for m in got] == list(range(1, 202))
            assert [m["data"] for m in got] == [m["data"] for m in received[0]]
        assert [m["data"]["i"] for m in received[0] if m["data"].get("from") == "a"] == list(range(100))
        assert received[0][-1]["data"] == {"from": "api"} and received[0][-1]["from"] == "api"


def test_pusher_clients_and_rest_triggers_cross_nodes_with_socket_id_exclusion(server, redis):
    a, b = node(server, redis, "node-a"), node(server, redis, "node-b")
    with contextlib.ExitStack() as stack:
        clients = {}
        for name, s in (("a", a), ("b", b)):
            ws = stack.enter_context(connect(f"ws://127.0.0.1:{s.port}/app/{KEY}?protocol=7", open_timeout=TIMEOUT))
            established = json.loads(ws.recv(timeout=TIMEOUT))
            clients[name] = (ws, json.loads(established["data"])["socket_id"])
            ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "updates"}}))
            assert json.loads(ws.recv(timeout=TIMEOUT))["event"] == "pusher_internal:subscription_succeeded"
        rest = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=a.port, ssl=False)
        rest.trigger("updates", "skip-b", {"n": 1}, socket_id=clients["b"][1])
        rest.trigger("updates", "everyone", {"n": 2})
        events = lambda ws, count: [json.loads(ws.recv(timeout=TIMEOUT)) for _ in range(count)]
        assert [(e["event"], json.loads(e["data"])) for e in events(clients["a"][0], 2)] == [("skip-b", {"n": 1}), ("everyone", {"n": 2})]
        # b was excluded by its socket id although it is on another node: it gets only the second.
        only = events(clients["b"][0], 1)[0]
        assert (only["event"], json.loads(only["data"]), only["channel"]) == ("everyone", {"n": 2}, "updates")


def test_publishes_are_refused_while_redis_is_down_and_subscriptions_come_back(server, redis):
    a, b = node(server, redis, "node-a"), node(server, redis, "node-b")
    with contextlib.ExitStack() as stack:
        listener = native(stack, b)
        subscribe(listener, "news")
        publisher = native(stack, a)
        assert publish(publisher, "news", "before", id=1)["type"] == "ack"
        assert messages(listener, 1)[0]["data"] == "before"
        redis.kill()
        refused = publish(publisher, "news", "during", id=2)
        assert refused["type"] == "error" and refused["code"] == "unavailable", refused
        status, reply = api_publish(a, "news", "during-api")
        assert status == 503 and reply["error"]["code"] == "unavailable", reply
        rest = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=a.port, ssl=False)
        try:
            rest.trigger("news", "during-rest", {})
            raise AssertionError("the REST trigger was accepted while Redis was down")
        except pusher.errors.PusherError as error:
            assert "503" in str(error) or "unavailable" in str(error).lower() or "Redis" in str(error), error
        # A new subscription is refused too, not promised.
        late = native(stack, a)
        assert subscribe(late, "news")["code"] == "unavailable"
        # Operator actions meant for every node are refused whole, not done on this node alone.
        for path, body in (("/api/broadcast", {"data": "during"}), ("/api/kick", {"all": True}), ("/api/kick", {"channel": "news"})):
            status, reply = admin(a, "POST", path, body)
            assert status == 503 and reply["error"]["code"] == "unavailable", (path, body, reply)
        redis.start()  # back, and empty
        # Node b subscribes again by itself (backoff capped at 2 s).
        wait_until(lambda: redis.cli("PUBSUB", "NUMSUB", pubsub_name("news")).split() == [pubsub_name("news"), "1"], "node b to subscribe again")
        ids = iter(range(100, 10_000))

        def accepted():
            id = next(ids)
            return publish(publisher, "news", "after", id=id)["type"] == "ack"

        wait_until(accepted, "a publish to be acked again")
        # The listener's subscription came back by itself; Redis lost the numbering, so it is told
        # messages may be lost before the new numbering starts, and it never sees a refused one.
        lost = until(listener, lambda m: m["type"] == "error")
        assert lost["code"] == "messages_lost" and lost["channel"] == "news", lost
        after = until(listener, lambda m: m["type"] == "message")
        assert after["data"] == "after" and after["seq"] == 1, after
        assert subscribe(late, "news", id="again")["type"] == "subscribed"


@contextlib.contextmanager
def frozen_and_cut_off(s, redis):
    """Node `s` paused and its Redis subscriber connection cut for the block, then resumed."""
    s.proc.send_signal(signal.SIGSTOP)
    try:
        assert redis.cli("CLIENT", "KILL", "TYPE", "pubsub") != ""
        yield
    finally:
        s.proc.send_signal(signal.SIGCONT)


def test_a_gap_in_a_nodes_deliveries_is_reported_once_with_its_size(server, redis):
    a, b = node(server, redis, "node-a"), node(server, redis, "node-b")
    with contextlib.ExitStack() as stack:
        listener = native(stack, b)
        subscribe(listener, "ticks")
        publisher = native(stack, a)
        assert publish(publisher, "ticks", 0, id=0)["type"] == "ack"
        assert messages(listener, 1)[0]["seq"] == 1
        # Node b is frozen and its subscriber connection cut: what is published now never reaches it.
        with frozen_and_cut_off(b, redis):
            for i in range(1, 11):
                assert publish(publisher, "ticks", i, id=i)["type"] == "ack"
        lost = until(listener, lambda m: m["type"] in ("error", "message"))
        # The notice says where the channel now stands: every message after seq 11 is new.
        assert lost == {"type": "error", "code": "messages_lost", "channel": "ticks", "message": lost["message"], "seq": 11}
        assert lost["message"].startswith("10 messages"), lost
        assert publish(publisher, "ticks", 11, id=11)["type"] == "ack"
        after = until(listener, lambda m: m["type"] in ("error", "message"))
        assert (after["type"], after["seq"], after["data"]) == ("message", 12, 11)
        request = urllib.request.Request(f"http://127.0.0.1:{b.port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            metrics = response.read().decode()
        assert "switchboard_cluster_messages_lost_total 10" in metrics and "switchboard_cluster_gaps_total 1" in metrics, metrics
        assert "switchboard_redis_up 1" in metrics and "switchboard_redis_reconnects_total" in metrics


def test_clusters_with_different_prefixes_do_not_see_each_other(server, redis):
    blue = node(server, redis, "blue-1", "--redis-prefix", "blue")
    green = node(server, redis, "green-1", "--redis-prefix", "green")
    with contextlib.ExitStack() as stack:
        watcher = native(stack, green)
        subscribe(watcher, "news")
        blue_publisher = native(stack, blue)
        assert publish(blue_publisher, "news", "blue", id=1)["type"] == "ack"
        green_publisher = native(stack, green)
        assert publish(green_publisher, "news", "green", id=2)["type"] == "ack"
        got = until(watcher, lambda m: m["type"] == "message")
        # Only green's message, numbered in green's own sequence.
        assert (got["data"], got["seq"]) == ("green", 1)
        assert redis.cli("EXISTS", channel_key("news", "seq", "blue")) == "1" and redis.cli("GET", channel_key("news", "seq", "green")) == "1"


def test_bad_redis_urls_are_refused_with_one_line():
    import subprocess

    result = subprocess.run([BIN, "serve", "--redis", "http://localhost"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result
    assert "--redis" in result.stderr and "redis://HOST" in result.stderr, result.stderr


def nodes_of(s):
    request = urllib.request.Request(f"http://127.0.0.1:{s.port}/api/nodes", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return {n["name"]: n for n in json.loads(response.read())["nodes"]}


def test_nodes_are_listed_declared_dead_once_and_a_paused_node_rejoins_as_new(server, redis):
    a, b, c = (node(server, redis, name) for name in ("node-a", "node-b", "node-c"))
    wait_until(lambda: sorted(nodes_of(a)) == ["node-a", "node-b", "node-c"], "three nodes listed")
    listed = nodes_of(b)
    for name, entry in listed.items():
        assert entry["state"] == "alive" and entry["redis"]["up"] is True and entry["heartbeat_age_ms"] < 5000, entry
        assert entry["address"].startswith("ws://127.0.0.1:"), entry
    # kill -9: a surviving node declares it dead (exactly one of them) and removes it.
    c.proc.kill()
    c.proc.wait()
    wait_until(lambda: "node-c" not in nodes_of(a), "node-c to be declared dead")

    def declared():
        return [line for s in (a, b) for line in s.logs().splitlines() if "node declared dead" in line and "node-c" in line]

    # The node that declared it logs it once its part (every partition) is undone.
    wait_until(lambda: declared(), "the declaration in a survivor's log")
    assert len(declared()) == 1, declared()
    # SIGSTOP: declared dead too, its users leave; on SIGCONT it notices it was fenced and joins
    # as a new incarnation, and its users (still connected to it) join again.
    with contextlib.ExitStack() as stack:
        watcher = pusher_presence_client(stack, a, "watcher")
        pusher_presence_client(stack, b, "paused-user")
        assert json.loads(json.loads(watcher.recv(timeout=TIMEOUT))["data"])["user_id"] == "paused-user"
        before = nodes_of(a)["node-b"]["incarnation"]
        b.proc.send_signal(signal.SIGSTOP)
        try:
            wait_until(lambda: "node-b" not in nodes_of(a), "node-b to be declared dead")
            left = json.loads(watcher.recv(timeout=TIMEOUT))
            assert left["event"] == "pusher_internal:member_removed" and json.loads(left["data"])["user_id"] == "paused-user"
        finally:
            b.proc.send_signal(signal.SIGCONT)
        wait_until(lambda: "node-b" in nodes_of(a), "node-b to rejoin")
        assert nodes_of(a)["node-b"]["incarnation"] != before
        assert "joining again as a new incarnation" in b.logs()
        back = json.loads(watcher.recv(timeout=TIMEOUT))
        assert back["event"] == "pusher_internal:member_added" and json.loads(back["data"])["user_id"] == "paused-user", back


def test_an_unclustered_node_lists_itself(server):
    s = server("--admin-token", TOKEN)
    (only,) = nodes_of(s).values()
    assert only["state"] == "alive" and only["redis"] is None and only["connections"] == 0, only


def test_a_node_refuses_to_start_under_a_live_nodes_name(server, redis):
    import subprocess

    a = node(server, redis, "node-a")
    wait_until(lambda: "node-a" in nodes_of(a), "node-a to beat")
    result = subprocess.run(
        [BIN, "serve", "--headless", "--port", "0", "--redis", redis.url, "--node-name", "node-a"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result
    lines = [line for line in result.stderr.splitlines() if "node-a" in line]
    assert len(lines) == 1 and "--node-name" in lines[0] and "already named" in lines[0], result.stderr
    # Another cluster (prefix) on the same Redis may use the name.
    other = node(server, redis, "node-a", "--redis-prefix", "other")
    wait_until(lambda: "node-a" in nodes_of(other), "the other cluster's node-a")


JWT_SECRET = "cluster-jwt-secret-0123456789abcdef-0123"


def user_client(stack, s, user: str):
    import jwt

    ws = stack.enter_context(connect(f"{s.url}?token={jwt.encode({'sub': user}, JWT_SECRET, algorithm='HS256')}", open_timeout=TIMEOUT))
    assert json.loads(ws.recv(timeout=TIMEOUT))["type"] == "welcome"
    return ws


def presence_of(ws, channel="room", id="p"):
    ws.send(json.dumps({"type": "presence", "channel": channel, "id": id}))
    reply = until(ws, lambda m: m.get("id") == id)
    assert reply["type"] == "presence", reply
    return [m["user"] for m in reply["members"]]


def join_presence(ws, channel="room", id="j"):
    ws.send(json.dumps({"type": "subscribe", "channel": channel, "presence": True, "id": id}))
    return until(ws, lambda m: m.get("id") == id)


def test_a_user_with_tabs_on_two_nodes_joins_once_and_leaves_once(server, redis):
    a, b, c = (node(server, redis, name, "--auth-jwt-secret", JWT_SECRET) for name in ("node-a", "node-b", "node-c"))
    with contextlib.ExitStack() as stack:
        watcher = user_client(stack, c, "watcher")
        assert join_presence(watcher)["type"] == "subscribed"
        tab_a, tab_b = user_client(stack, a, "ann"), user_client(stack, b, "ann")
        assert join_presence(tab_a)["type"] == "subscribed"
        assert until(watcher, lambda m: m["type"] in ("join", "leave")) == {"type": "join", "channel": "room", "user": "ann"}
        assert join_presence(tab_b)["type"] == "subscribed"  # ann's second tab, on another node: nobody is told
        assert presence_of(watcher) == ["watcher", "ann"]
        assert presence_of(tab_b) == ["watcher", "ann"]  # members of every node, whichever node answers
        tab_a.close()
        assert presence_of(watcher, id="p2") == ["watcher", "ann"]
        tab_b.close()
        # The first presence change the watcher sees after the join is ann's single leave.
        assert until(watcher, lambda m: m["type"] in ("join", "leave")) == {"type": "leave", "channel": "room", "user": "ann"}
        assert presence_of(watcher, id="p3") == ["watcher"]


def test_pusher_presence_lists_every_nodes_members_and_rest_counts_users_once(server, redis):
    import hashlib
    import hmac

    a, b = node(server, redis, "node-a"), node(server, redis, "node-b")

    def pusher_member(s, user: str):
        ws = stack.enter_context(connect(f"ws://127.0.0.1:{s.port}/app/{KEY}?protocol=7", open_timeout=TIMEOUT))
        socket_id = json.loads(json.loads(ws.recv(timeout=TIMEOUT))["data"])["socket_id"]
        channel_data = json.dumps({"user_id": user, "user_info": {"name": user.title()}})
        signature = hmac.new(SECRET.encode(), f"{socket_id}:presence-team:{channel_data}".encode(), hashlib.sha256).hexdigest()
        ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "presence-team", "auth": f"{KEY}:{signature}", "channel_data": channel_data}}))
        return ws

    def next_event(ws):
        return json.loads(ws.recv(timeout=TIMEOUT))

    with contextlib.ExitStack() as stack:
        bob = pusher_member(a, "bob")
        assert next_event(bob)["event"] == "pusher_internal:subscription_succeeded"
        ann_1 = pusher_member(b, "ann")
        succeeded = next_event(ann_1)
        assert succeeded["event"] == "pusher_internal:subscription_succeeded"
        presence = json.loads(succeeded["data"])["presence"]
        assert presence["ids"] == ["bob", "ann"] and presence["hash"]["bob"] == {"name": "Bob"} and presence["count"] == 2
        added = next_event(bob)
        assert added["event"] == "pusher_internal:member_added" and json.loads(added["data"])["user_id"] == "ann"
        ann_2 = pusher_member(a, "ann")  # a second tab of ann, on bob's node
        assert next_event(ann_2)["event"] == "pusher_internal:subscription_succeeded"
        rest = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=b.port, ssl=False)
        assert sorted(u["id"] for u in rest.users_info("presence-team")["users"]) == ["ann", "bob"]
        assert rest.channel_info("presence-team", ["user_count"])["user_count"] == 2
        ann_1.close()
        ann_2.close()
        removed = next_event(bob)
        assert removed["event"] == "pusher_internal:member_removed" and json.loads(removed["data"])["user_id"] == "ann", removed
        assert rest.channel_info("presence-team", ["user_count"])["user_count"] == 1


def metric(s, name: str) -> float:
    request = urllib.request.Request(f"http://127.0.0.1:{s.port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_pusher_client_events_cross_nodes_and_are_not_echoed(server, redis):
    a, b = node(server, redis, "node-a"), node(server, redis, "node-b")
    with contextlib.ExitStack() as stack:
        sender = pusher_presence_client(stack, a, "ann")
        receiver = pusher_presence_client(stack, b, "bob")
        assert json.loads(json.loads(sender.recv(timeout=TIMEOUT))["data"])["user_id"] == "bob"  # member_added
        sender.send(json.dumps({"event": "client-typing", "channel": "presence-team", "data": {"n": 1}}))
        relayed = json.loads(receiver.recv(timeout=TIMEOUT))
        assert (relayed["event"], relayed["channel"], relayed.get("user_id")) == ("client-typing", "presence-team", "ann"), relayed
        assert json.loads(relayed["data"]) == {"n": 1} if isinstance(relayed["data"], str) else relayed["data"] == {"n": 1}
        # Not echoed to the sender: the next thing it gets is a later REST event.
        rest = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=b.port, ssl=False)
        rest.trigger("presence-team", "marker", {})
        assert json.loads(sender.recv(timeout=TIMEOUT))["event"] == "marker"


def pusher_presence_client(stack, s, user: str, channel: str = "presence-team"):
    import hashlib
    import hmac

    ws = stack.enter_context(connect(f"ws://127.0.0.1:{s.port}/app/{KEY}?protocol=7", open_timeout=TIMEOUT))
    socket_id = json.loads(json.loads(ws.recv(timeout=TIMEOUT))["data"])["socket_id"]
    channel_data = json.dumps({"user_id": user})
    signature = hmac.new(SECRET.encode(), f"{socket_id}:{channel}:{channel_data}".encode(), hashlib.sha256).hexdigest()
    ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": channel, "auth": f"{KEY}:{signature}", "channel_data": channel_data}}))
    assert json.loads(ws.recv(timeout=TIMEOUT))["event"] == "pusher_internal:subscription_succeeded"
    return ws


def pusher_public_client(stack, s, channel: str):
    ws = stack.enter_context(connect(f"ws://127.0.0.1:{s.port}/app/{KEY}?protocol=7", open_timeout=TIMEOUT))
    ws.recv(timeout=TIMEOUT)
    ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": channel}}))
    assert json.loads(ws.recv(timeout=TIMEOUT))["event"] == "pusher_internal:subscription_succeeded"
    return ws


def webhook_app(tmp_path):
    """A webhook receiver collecting every delivered event, and a config file whose Pusher app
    posts to it: (events, receiver to shut down, config path)."""
    import http.server
    import threading

    events: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            events.extend(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["events"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    config = tmp_path / "hooks.toml"
    config.write_text(f'[[apps]]\nid = "{APP_ID}"\nkey = "{KEY}"\nsecret = "{SECRET}"\nwebhooks = ["http://127.0.0.1:{receiver.server_address[1]}/hook"]\n')
    return events, receiver, config


def test_a_dead_nodes_users_leave_once_and_each_webhook_is_sent_once(server, redis, tmp_path):
    events, receiver, config = webhook_app(tmp_path)
    a, b, c = (server("--redis", redis.url, "--node-name", name, "--admin-token", TOKEN, "--config", str(config)) for name in ("node-a", "node-b", "node-c"))
    try:
        with contextlib.ExitStack() as stack:
            watcher = pusher_presence_client(stack, a, "watcher")
            pusher_presence_client(stack, b, "ann")  # ann only on b
            pusher_presence_client(stack, b, "bob")  # bob on b and c
            pusher_presence_client(stack, c, "bob")
            pusher_public_client(stack, b, "only-b")
            pusher_public_client(stack, b, "b-and-c")
            pusher_public_client(stack, c, "b-and-c")
            joined = [json.loads(json.loads(watcher.recv(timeout=TIMEOUT))["data"])["user_id"] for _ in range(2)]
            assert sorted(joined) == ["ann", "bob"]

            def named(name):
                return sorted(e.get("user_id") or e["channel"] for e in events if e["name"] == name)

            # Webhooks are sent at least once: node-b killed between sending one and acknowledging
            # its stream entry would have another node send it again. What this test counts is
            # the dead node's leaves, so the joins' webhooks are let through first.
            wait_until(lambda: named("member_added") == ["ann", "bob", "watcher"] and len(named("channel_occupied")) == 3, "the joins' webhooks")
            time.sleep(0.5)  # their acknowledgements follow each delivery on the next loop turn
            b.proc.kill()
            b.proc.wait()
            removed = json.loads(watcher.recv(timeout=TIMEOUT))
            assert removed["event"] == "pusher_internal:member_removed" and json.loads(removed["data"])["user_id"] == "ann", removed

            wait_until(lambda: named("member_removed") == ["ann"] and named("channel_vacated") == ["only-b"], "the dead node's webhooks")
            rest = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=c.port, ssl=False)
            assert sorted(u["id"] for u in rest.users_info("presence-team")["users"]) == ["bob", "watcher"]
            # One more heartbeat round: nothing is announced twice.
            time.sleep(2)
            assert named("member_added") == ["ann", "bob", "watcher"]
            assert named("member_removed") == ["ann"]
            assert named("channel_occupied") == ["b-and-c", "only-b", "presence-team"]
            assert named("channel_vacated") == ["only-b"]
            declared = [metric(s, "switchboard_cluster_nodes_declared_dead_total") for s in (a, c)]
            assert sorted(declared) == [0, 1], declared
    finally:
        receiver.shutdown()


def test_after_redis_comes_back_empty_nodes_register_their_users_again_without_events(server, redis):
    a, b = node(server, redis, "node-a"), node(server, redis, "node-b")
    with contextlib.ExitStack() as stack:
        watcher = pusher_presence_client(stack, a, "watcher")
        pusher_presence_client(stack, b, "stayer")
        assert json.loads(json.loads(watcher.recv(timeout=TIMEOUT))["data"])["user_id"] == "stayer"
        redis.kill()
        redis.start()  # empty: no members, no nodes
        rest = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=a.port, ssl=False)

        def registered_again():
            try:
                return sorted(u["id"] for u in rest.users_info("presence-team")["users"]) == ["stayer", "watcher"]
            except Exception:
                return False

        wait_until(registered_again, "both nodes to register their users again")
        assert "Redis lost its data" in a.logs() and "Redis lost its data" in b.logs()
        # Nobody left or joined: the watcher hears nothing of it. A client event from the stayer's
        # side proves the channel works again and is the next thing the watcher receives.
        wait_until(lambda: redis.cli("PUBSUB", "NUMSUB", pubsub_name(f"{APP_ID}:presence-team")).split()[-1] == "2", "both nodes to subscribe again")
        status, _ = api_publish(b, f"{APP_ID}:presence-team", {"marker": True})
        assert status == 200
        nxt = json.loads(watcher.recv(timeout=TIMEOUT))
        data = json.loads(nxt["data"]) if isinstance(nxt["data"], str) else nxt["data"]
        assert nxt["event"] == "message" and data == {"marker": True}, (nxt, a.logs()[-6000:], b.logs()[-6000:])


def test_rest_channel_queries_count_every_node_and_forget_a_dead_one(server, redis):
    a, b = node(server, redis, "node-a"), node(server, redis, "node-b")
    rest = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=a.port, ssl=False)
    with contextlib.ExitStack() as stack:
        pusher_public_client(stack, a, "news")
        pusher_public_client(stack, b, "news")
        pusher_public_client(stack, b, "only-b")
        pusher_presence_client(stack, a, "ann")
        pusher_presence_client(stack, b, "ann")  # one user, two nodes
        pusher_presence_client(stack, b, "bob")

        def counts():
            return rest.channels_info(attributes=["subscription_count"])["channels"]

        wait_until(lambda: counts() == {"news": {"subscription_count": 2}, "only-b": {"subscription_count": 1},
                                        "presence-team": {"subscription_count": 3}}, "counts of both nodes")
        assert rest.channels_info(prefix_filter="presence-", attributes=["user_count"])["channels"] == {"presence-team": {"user_count": 2}}
        assert rest.channel_info("news", ["subscription_count"]) == {"occupied": True, "subscription_count": 2}
        # The admin API counts every node too, and says what this node holds.
        status, rows = admin(a, "GET", "/api/channels")
        listed = {r["name"]: (r["subscribers"], r["node_subscribers"]) for r in rows}
        assert status == 200 and listed == {f"{APP_ID}:news": (2, 1), f"{APP_ID}:only-b": (1, 0), f"{APP_ID}:presence-team": (3, 1)}, rows
        b.proc.kill()
        b.proc.wait()
        wait_until(lambda: counts() == {"news": {"subscription_count": 1}, "presence-team": {"subscription_count": 1}}, "node-b's counts to go")
        assert rest.channel_info("only-b", ["subscription_count"]) == {"occupied": False, "subscription_count": 0}
        assert rest.channels_info(prefix_filter="presence-", attributes=["user_count"])["channels"] == {"presence-team": {"user_count": 1}}


def closed_with(ws):
    from websockets.exceptions import ConnectionClosed

    try:
        while True:
            ws.recv(timeout=TIMEOUT)
    except ConnectionClosed as closed:
        return closed.rcvd.code, closed.rcvd.reason


def test_kicks_broadcasts_and_terminations_reach_clients_of_every_node(server, redis):
    a, b, c = (node(server, redis, name) for name in ("node-a", "node-b", "node-c"))
    wait_until(lambda: len(nodes_of(a)) == 3, "three nodes")
    with contextlib.ExitStack() as stack:
        on_b = native(stack, b)
        on_b_id = None
        # The client id names its node; a kick from node a reaches it on node b.
        with connect(b.url, open_timeout=TIMEOUT) as probe:
            on_b_id = json.loads(probe.recv(timeout=TIMEOUT))["client"]
            assert on_b_id.endswith("@node-b"), on_b_id
            status, reply = admin(a, "POST", f"/api/clients/{on_b_id}/kick", {"reason": "from a"})
            assert status == 200 and reply == {"kicked": 1}, reply
            assert closed_with(probe) == (4000, "from a")
        status, reply = admin(a, "POST", f"/api/clients/{on_b_id}/kick", {"reason": "again"})
        assert status == 404, reply
        status, _ = admin(a, "POST", "/api/clients/c999@node-z/kick", {})
        assert status == 404
        # A broadcast from node c reaches everyone, whichever node they are on.
        on_a, on_c = native(stack, a), native(stack, c)
        status, reply = admin(c, "POST", "/api/broadcast", {"data": {"note": "all"}})
        assert status == 200 and reply["reached"] == 3, reply
        for ws in (on_a, on_b, on_c):
            assert until(ws, lambda m: m["type"] == "broadcast")["data"] == {"note": "all"}
        # Kick a channel's subscribers from a node that has none of them.
        subscribe(on_a, "doomed")
        subscribe(on_b, "doomed")
        status, reply = admin(c, "POST", "/api/kick", {"channel": "doomed", "reconnect": True})
        assert status == 200 and reply == {"kicked": 2}, reply
        assert closed_with(on_a)[0] == 4200 and closed_with(on_b)[0] == 4200
        # Pusher terminate_connections from node a closes the user's tabs on b and c.
        tabs = [pusher_presence_client(stack, s, "ann") for s in (b, c)]
        rest = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=a.port, ssl=False)
        rest.terminate_user_connections("ann")
        for tab in tabs:
            assert closed_with(tab)[0] == 4009
        # Kick everyone from node b: the clients of all three nodes go.
        wait_until(lambda: admin(a, "GET", "/api/clients?limit=0")[1]["total"] == 1, "only on_c left")
        status, reply = admin(b, "POST", "/api/kick", {"all": True, "reason": "maintenance"})
        assert status == 200 and reply == {"kicked": 1}, reply
        assert closed_with(on_c) == (4000, "maintenance")


def test_a_draining_node_sends_its_clients_away_and_its_users_leave_once(server, redis):
    a, b = node(server, redis, "node-a"), node(server, redis, "node-b")
    with contextlib.ExitStack() as stack:
        watcher = pusher_presence_client(stack, a, "watcher")
        only_b = pusher_presence_client(stack, b, "only-b")
        pusher_presence_client(stack, b, "both")
        pusher_presence_client(stack, a, "both")
        assert sorted(json.loads(json.loads(watcher.recv(timeout=TIMEOUT))["data"])["user_id"] for _ in range(2)) == ["both", "only-b"]
        native_b = native(stack, b)
        code, _ = b.terminate()
        assert code == 0
        assert closed_with(only_b)[0] == 4200 and closed_with(native_b)[0] == 1001
        left = json.loads(watcher.recv(timeout=TIMEOUT))
        assert left["event"] == "pusher_internal:member_removed" and json.loads(left["data"])["user_id"] == "only-b", left
        wait_until(lambda: "node-b" not in nodes_of(a), "node-b to leave the registry")
        rest = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=a.port, ssl=False)
        assert sorted(u["id"] for u in rest.users_info("presence-team")["users"]) == ["both", "watcher"]
        assert "node declared dead" not in a.logs()


@contextlib.contextmanager
def paused(s):
    """Node `s` stopped (SIGSTOP) for the block: alive in the registry for 5 s, answering nothing."""
    s.proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        s.proc.send_signal(signal.SIGCONT)


def test_the_client_list_spans_every_node_and_says_when_it_is_partial(server, redis):
    a, b, c = (node(server, redis, name) for name in ("node-a", "node-b", "node-c"))
    wait_until(lambda: len(nodes_of(a)) == 3, "three nodes")
    with contextlib.ExitStack() as stack:
        for s, count in ((a, 2), (b, 3), (c, 1)):
            for _ in range(count):
                native(stack, s)
        status, window = admin(a, "GET", "/api/clients?limit=4&sort=id")
        assert status == 200 and window["total"] == 6 and len(window["rows"]) == 4, window
        assert "partial" not in window
        status, everyone = admin(b, "GET", "/api/clients?limit=50")
        assert sorted(r["node"] for r in everyone["rows"]) == ["node-a", "node-a", "node-b", "node-b", "node-b", "node-c"]
        assert all(r["id"].endswith("@" + r["node"]) for r in everyone["rows"])
        # A paused node cannot answer: the list comes back within its deadline, marked partial.
        c.proc.send_signal(signal.SIGSTOP)
        try:
            status, window = admin(a, "GET", "/api/clients?limit=50")
        finally:
            c.proc.send_signal(signal.SIGCONT)
        assert status == 200 and window["partial"] is True and window["missing"] == ["node-c"], window
        assert window["total"] == 5
        # A broadcast says which live node did not answer rather than counting only the others.
        wait_until(lambda: nodes_of(a)["node-c"]["heartbeat_age_ms"] < 1500, "node-c to heartbeat again")
        with paused(c):
            status, reply = admin(a, "POST", "/api/broadcast", {"data": "hello"})
        assert status == 200 and reply == {"reached": 5, "partial": True, "missing": ["node-c"]}, reply
        # A kick of a paused node's client is not answered 404: that node never said no.
        on_c = next(r["id"] for r in everyone["rows"] if r["node"] == "node-c")
        wait_until(lambda: nodes_of(a)["node-c"]["heartbeat_age_ms"] < 1500, "node-c to heartbeat again")
        with paused(c):
            status, reply = admin(a, "POST", f"/api/clients/{on_c}/kick", {"reason": "later"})
        assert status == 503 and reply["error"]["code"] == "unavailable" and "node-c" in reply["error"]["message"], reply


def test_every_window_of_the_cluster_client_list_is_the_slice_of_all_of_it(server, redis):
    """Nodes send only their part of a window (sampled outlines, then a range of keys, then the
    window's rows): any window, at any depth and in any order, must still be exactly the slice
    of the whole list, which one window holding everything gives."""

    a, b, c = (node(server, redis, name) for name in ("node-a", "node-b", "node-c"))
    wait_until(lambda: len(nodes_of(a)) == 3, "three nodes")
    holders = [
        subprocess.Popen([BIN, "bench", "idle", "--url", f"ws://127.0.0.1:{s.port}/ws", "--connections", str(count), "--hold", "120"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for s, count in ((a, 170), (b, 90), (c, 140))]
    try:
        wait_until(lambda: admin(b, "GET", "/api/clients?limit=1")[1]["total"] == 400, "400 clients over three nodes")
        for order in ("sort=id", "sort=id&descending=true", "sort=age", "sort=msgs_in&descending=true", "sort=remote"):
            status, everything = admin(a, "GET", f"/api/clients?limit=1000&{order}")
            assert status == 200 and everything["total"] == 400 and "partial" not in everything, everything
            ids = [r["id"] for r in everything["rows"]]
            assert len(set(ids)) == 400
            for offset, limit in ((0, 40), (37, 40), (180, 45), (359, 40), (360, 40), (399, 40), (400, 40), (250, 1)):
                status, window = admin(c, "GET", f"/api/clients?offset={offset}&limit={limit}&{order}")
                assert status == 200 and window["total"] == 400 and window["offset"] == offset, window
                assert [r["id"] for r in window["rows"]] == ids[offset:offset + limit], (order, offset, limit)
        # In id order a node's clients come by number, ties between nodes by the node's name.
        status, first = admin(a, "GET", "/api/clients?limit=6&sort=id")
        assert [r["id"] for r in first["rows"]] == [f"c{n}@node-{x}" for n in (1, 2) for x in "abc"], first
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()


def test_the_console_attached_to_one_node_shows_every_node_and_their_clients(server, redis):
    from tmux import Tmux

    a, b, c = (node(server, redis, name) for name in ("node-a", "node-b", "node-c"))
    wait_until(lambda: len(nodes_of(a)) == 3, "three nodes")
    with contextlib.ExitStack() as stack:
        for s in (a, b, c):
            native(stack, s)
        term = Tmux(f"{BIN} attach http://127.0.0.1:{a.port} --token {TOKEN}", width=160, height=45)
        try:
            screen = term.wait_for(lambda s: "Nodes" in s and "3 alive" in s and all(f"@node-{n}" in s for n in "abc"), "the nodes pane and every node's clients")
            assert "NODE" in screen
            for name in ("node-a", "node-b", "node-c"):
                assert name in screen
            c.proc.kill()
            c.proc.wait()
            term.wait_for(lambda s: "2 alive" in s and "@node-c" not in s, "node-c to be gone from the console")
            term.wait_text("node node-c declared dead")
        finally:
            term.close()


def test_three_nodes_behind_nginx_serve_one_cluster(server, redis, tmp_path):
    import pathlib
    import shutil
    import subprocess

    from conftest import free_port

    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    nodes = [node(server, redis, name) for name in ("node-a", "node-b", "node-c")]
    port = free_port()
    config = pathlib.Path(__file__).parents[2].joinpath("docs", "nginx-cluster.conf").read_text()
    for default, s in zip((8081, 8082, 8083), nodes):
        config = config.replace(f"127.0.0.1:{default};", f"127.0.0.1:{s.port};")
    config = config.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    (tmp_path / "nginx.conf").write_text(config)
    proxy = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", f"daemon off; pid {tmp_path}/nginx.pid; error_log stderr;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import socket as sockets

        wait_until(lambda: sockets.socket().connect_ex(("127.0.0.1", port)) == 0, "nginx to listen")
        with contextlib.ExitStack() as stack:
            clients = []
            for _ in range(3):
                ws = stack.enter_context(connect(f"ws://127.0.0.1:{port}/ws", open_timeout=TIMEOUT))
                welcome = json.loads(ws.recv(timeout=TIMEOUT))
                clients.append((ws, welcome["client"].split("@")[1]))
            # Round robin: one client on each node, all through the same address.
            assert sorted(name for _, name in clients) == ["node-a", "node-b", "node-c"]
            for ws, _ in clients:
                assert subscribe(ws, "lb")["type"] == "subscribed"
            assert publish(clients[0][0], "lb", "through nginx", id="n")["type"] == "ack"
            for ws, _ in clients:
                assert until(ws, lambda m: m["type"] == "message")["data"] == "through nginx"
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)


def test_concurrent_joins_and_leaves_of_one_user_on_two_nodes_alternate_and_end_true(server, redis):
    import threading

    a, b = node(server, redis, "node-a"), node(server, redis, "node-b")
    with contextlib.ExitStack() as stack:
        watcher = pusher_presence_client(stack, a, "watcher")
        errors: list[BaseException] = []

        def flip(s, rounds: int):
            try:
                for _ in range(rounds):
                    with contextlib.ExitStack() as tab:
                        pusher_presence_client(tab, s, "flip")
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=flip, args=(s, 25)) for s in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        rest = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=b.port, ssl=False)
        wait_until(lambda: [u["id"] for u in rest.users_info("presence-team")["users"]] == ["watcher"], "flip to be gone")
        # A marker published on the channel comes after every presence change of it.
        assert api_publish(a, f"{APP_ID}:presence-team", "marker")[0] == 200
        changes = []
        while True:
            event = json.loads(watcher.recv(timeout=TIMEOUT))
            if event["event"] == "message":
                break
            changes.append(event["event"].split(":")[1])
        assert changes, "flip never joined"
        assert changes == ["member_added", "member_removed"] * (len(changes) // 2), changes
        # And the true state when a tab stays: present.
        pusher_presence_client(stack, b, "flip")
        assert json.loads(json.loads(watcher.recv(timeout=TIMEOUT))["data"])["user_id"] == "flip"
        assert sorted(u["id"] for u in rest.users_info("presence-team")["users"]) == ["flip", "watcher"]


def test_the_last_subscriber_anywhere_vacates_once(server, redis, tmp_path):
    events, receiver, config = webhook_app(tmp_path)
    b, c = (server("--redis", redis.url, "--node-name", name, "--admin-token", TOKEN, "--config", str(config)) for name in ("node-b", "node-c"))
    try:
        with contextlib.ExitStack() as stack:
            on_b = pusher_public_client(stack, b, "shared")
            on_c = pusher_public_client(stack, c, "shared")
            wait_until(lambda: [e["name"] for e in events] == ["channel_occupied"], "one channel_occupied")
            on_b.close()
            # c still has a subscriber: nothing is vacated. A publish proves c's subscriber still hears.
            assert api_publish(c, f"{APP_ID}:shared", "still here")[0] == 200
            assert json.loads(on_c.recv(timeout=TIMEOUT))["event"] == "message"
            on_c.close()
            wait_until(lambda: [e["name"] for e in events] == ["channel_occupied", "channel_vacated"], "one channel_vacated")
    finally:
        receiver.shutdown()


def test_stats_and_metrics_carry_the_cluster_totals(server, redis):
    nodes = [node(server, redis, name) for name in ("node-a", "node-b", "node-c")]
    with contextlib.ExitStack() as stack:
        for s, count in zip(nodes, (1, 2, 3)):
            for _ in range(count):
                native(stack, s)

        def totals():
            status, stats = admin(nodes[0], "GET", "/api/stats")
            return stats.get("cluster") or {}

        # Heartbeats carry each node's figures about once a second.
        wait_until(lambda: totals().get("connections") == 6 and totals().get("nodes_alive") == 3, "the cluster's totals")
        status, own = admin(nodes[0], "GET", "/api/stats")
        assert own["totals"]["connections"] == 1 and own["cluster"]["nodes_dead"] == 0
        request = urllib.request.Request(f"http://127.0.0.1:{nodes[1].port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            metrics = response.read().decode()
        assert "switchboard_cluster_nodes_alive 3" in metrics and "switchboard_cluster_connections 6" in metrics, metrics
        assert "switchboard_connections 2" in metrics
        # The Redis link, gap and dead-node series are there from the start, at their values.
        for series in ("switchboard_redis_up 1", "switchboard_redis_pending_requests ", "switchboard_redis_round_trip_seconds ",
                       "switchboard_redis_reconnects_total ", "switchboard_cluster_gaps_total 0", "switchboard_cluster_messages_lost_total 0",
                       "switchboard_cluster_gaps_filled_total 0", "switchboard_cluster_numbering_restarts_total 0",
                       "switchboard_cluster_nodes_declared_dead_total 0", "switchboard_cluster_nodes_dead 0"):
            assert f"\n{series}" in metrics, series


def test_an_unclustered_node_has_no_cluster_totals(server):
    s = server("--admin-token", TOKEN)
    status, stats = admin(s, "GET", "/api/stats")
    assert status == 200 and stats.get("cluster") is None
    request = urllib.request.Request(f"http://127.0.0.1:{s.port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        assert "switchboard_cluster_nodes_alive" not in response.read().decode()


def test_a_node_with_another_number_of_partitions_refuses_to_start(redis, server):
    """Every node of a cluster must find a channel's keys in the same partition: a node started
    with another --redis-partitions than the cluster's live nodes exits 2 and says why."""
    node(server, redis, "a")
    wait_until(lambda: redis.cli("GET", "switchboard:{nodes}:partitions") == "64", "node a to register the cluster's partitions")
    refused = subprocess.run([BIN, "--redis", redis.url, "--redis-partitions", "32", "--port", "0", "--node-name", "b"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2, refused
    assert "--redis-partitions: this cluster's nodes spread channels over 64 partitions, this node over 32" in refused.stderr, refused.stderr
