"""History in the cluster: kept in Redis streams by the script that numbers each message, so a
client resuming with `since` on any node gets exactly what it missed, a node that missed
messages fills the gap from history instead of reporting them lost, and an epoch that Redis lost
is never recovered across."""
import contextlib
import json
import threading

from conftest import channel_key, pubsub_name
from native_client import TIMEOUT, messages, native, publish_many, until
from test_cluster import admin, frozen_and_cut_off, node, publish, wait_until


def kept(server, redis, name: str, size: int = 1000):
    return node(server, redis, name, "--history-size", str(size))


def subscribe(ws, channel: str, id, since=None):
    request = {"type": "subscribe", "channel": channel, "id": id}
    if since:
        request["since"] = since
    ws.send(json.dumps(request))
    return until(ws, lambda m: m.get("id") == id)


def test_a_client_resumes_on_another_node_or_its_own_with_exactly_what_it_missed(server, redis):
    a, b, c = (kept(server, redis, name) for name in ("node-a", "node-b", "node-c"))
    with contextlib.ExitStack() as stack:
        ws = native(stack, a)
        first = subscribe(ws, "news", 1)
        assert first["seq"] == 0 and len(first["epoch"]) == 8 and "recovered" not in first
        publish_many(b, "news", 2)
        position = {"seq": messages(ws, 2)[-1]["seq"], "epoch": first["epoch"]}
    publish_many(b, "news", 500, first=2)
    for target in (c, a):
        with contextlib.ExitStack() as stack:
            ws = native(stack, target)
            ws.send(json.dumps({"type": "subscribe", "channel": "news", "since": position, "id": 2}))
            reply = json.loads(ws.recv(timeout=TIMEOUT))
            assert reply == {"type": "subscribed", "channel": "news", "id": 2, "recovered": True, "seq": 502, "epoch": first["epoch"]}
            replayed = messages(ws, 500)
            assert [m["seq"] for m in replayed] == list(range(3, 503))
            assert [m["data"]["n"] for m in replayed] == list(range(2, 502))
    # Every node reads the same history.
    status, page = admin(c, "GET", "/api/channels/news/history?since=500")
    assert status == 200 and [m["seq"] for m in page["messages"]] == [501, 502] and page["epoch"] == first["epoch"]
    with contextlib.ExitStack() as stack:
        ws = native(stack, b)
        ws.send(json.dumps({"type": "history", "channel": "news", "limit": 2, "id": "h"}))
        reply = until(ws, lambda m: m.get("id") == "h")
        assert [m["data"]["n"] for m in reply["messages"]] == [500, 501]
    status, stats = admin(c, "GET", "/api/stats")
    assert stats["totals"]["recovered"] == 1


def test_too_small_a_history_or_a_flushed_redis_is_not_recovered(server, redis):
    a, b = kept(server, redis, "node-a", size=100), kept(server, redis, "node-b", size=100)
    with contextlib.ExitStack() as stack:
        epoch = subscribe(native(stack, a), "news", 1)["epoch"]
    publish_many(a, "news", 150)
    with contextlib.ExitStack() as stack:
        ws = native(stack, b)
        reply = subscribe(ws, "news", 2, since={"seq": 10, "epoch": epoch})
        assert (reply["recovered"], reply["seq"], reply["epoch"]) == (False, 150, epoch)
        publish_many(a, "news", 1, first=150)
        assert messages(ws, 1)[0]["seq"] == 151  # no partial replay before the live message
    assert redis.cli("FLUSHALL") == "OK"
    with contextlib.ExitStack() as stack:
        ws = native(stack, b)
        reply = subscribe(ws, "news", 3, since={"seq": 151, "epoch": epoch})
        assert reply["recovered"] is False and reply["epoch"] != epoch and reply["seq"] == 0


def test_publishes_racing_a_replay_on_another_node_arrive_once_in_order(server, redis):
    a, b = kept(server, redis, "node-a", size=5000), kept(server, redis, "node-b", size=5000)
    with contextlib.ExitStack() as stack:
        epoch = subscribe(native(stack, a), "race", 1)["epoch"]
    publish_many(a, "race", 300)
    publisher = threading.Thread(target=publish_many, args=(a, "race", 1500, 300))
    with contextlib.ExitStack() as stack:
        publisher.start()
        ws = native(stack, b)
        reply = subscribe(ws, "race", 2, since={"seq": 100, "epoch": epoch})
        assert reply["recovered"] is True
        publisher.join(timeout=120)
        assert [m["seq"] for m in messages(ws, 1700)] == list(range(101, 1801))


def test_a_node_that_missed_messages_fills_the_gap_from_history(server, redis):
    a, b = kept(server, redis, "node-a"), kept(server, redis, "node-b")
    with contextlib.ExitStack() as stack:
        listener = native(stack, b)
        subscribe(listener, "ticks", 1)
        sender = native(stack, a)
        assert publish(sender, "ticks", 0, id=0)["type"] == "ack"
        assert messages(listener, 1)[0]["seq"] == 1
        # Node b is frozen and its subscriber connection cut: what is published now never reaches it live.
        with frozen_and_cut_off(b, redis):
            for i in range(1, 11):
                assert publish(sender, "ticks", i, id=i)["type"] == "ack"
        assert publish(sender, "ticks", 11, id=11)["type"] == "ack"
        got = [until(listener, lambda m: m["type"] in ("error", "message")) for _ in range(11)]
        assert [(m["type"], m.get("seq"), m.get("data")) for m in got] == [("message", n + 1, n) for n in range(1, 12)]
        status, metrics = admin(b, "GET", "/api/stats")
        # 10 or 11: the 12th may also be published before b has subscribed again.
        assert metrics["totals"]["gaps_filled"] in (10, 11) and metrics["totals"]["messages_lost"] == 0


def test_redis_restarted_under_connected_subscribers_loses_nothing_silently(server, redis):
    """Redis killed right after an ack and started again empty. Every message acked after the
    restart reaches every node once; of those acked before, each node gets all, except that the
    last ones may be missing: Redis answered the publisher, then died before writing them to the
    subscriber connections, and kept them nowhere else (seen about once in 60 runs on a busy
    machine, on every node at once). A node that misses any says so (`messages_lost`) — nothing is lost
    silently, nothing arrives twice, nothing refused arrives at all."""
    nodes = [kept(server, redis, name) for name in ("node-a", "node-b", "node-c")]
    acked: list[int] = []
    with contextlib.ExitStack() as stack:
        listeners = [native(stack, s) for s in nodes]
        for ws in listeners:
            subscribe(ws, "feed", 1)
        publisher = native(stack, nodes[0])
        for n in range(20):
            if publish(publisher, "feed", n, id=n)["type"] == "ack":
                acked.append(n)
        redis.kill()
        for n in range(20, 25):
            assert publish(publisher, "feed", n, id=n)["code"] == "unavailable"
        redis.start()
        wait_until(lambda: redis.cli("PUBSUB", "NUMSUB", pubsub_name("feed")).split() == [pubsub_name("feed"), "3"], "every node to subscribe again")
        n = 100

        def accepted():
            nonlocal n
            n += 1
            if publish(publisher, "feed", n, id=n)["type"] == "ack":
                acked.append(n)
                return True
            return False

        wait_until(accepted, "a publish to be acked again")
        for more in range(1000, 1010):
            assert publish(publisher, "feed", more, id=more)["type"] == "ack"
            acked.append(more)
        before, after = [a for a in acked if a < 20], [a for a in acked if a >= 100]
        for index, ws in enumerate(listeners):
            seen, told = [], False
            while not seen or seen[-1] != 1009:
                m = until(ws, lambda m: m["type"] == "message" or m.get("code") == "messages_lost")
                if m["type"] == "message":
                    seen.append(m["data"])
                else:
                    told = True
            assert len(seen) == len(set(seen)), f"node {index} delivered some twice: {seen}"
            assert [s for s in seen if s >= 100] == after, f"node {index}: {seen} after the restart, acked {after}"
            kept_before = [s for s in seen if s < 100]
            assert kept_before == before[:len(kept_before)], f"node {index}: {kept_before} of {before} (only a tail may be missing)"
            assert told or kept_before == before, f"node {index} lost {before[len(kept_before):]} without saying so"
