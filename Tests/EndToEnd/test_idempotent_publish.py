"""Idempotent publish: a publish that carries an `idempotency_key` and is sent again (a client
retrying after "may or may not have been published") is answered with the first one's `seq`
and reaches no subscriber twice — from the native protocol, `/api/publish` and the Pusher REST
API, in process and across nodes of a cluster through Redis.

Where a test checks that something did *not* arrive, it first waits for a later message on the
same channel (one ordered path), so the absence is a fact and not a race."""
import contextlib
import hashlib
import hmac
import json
import time

import requests

from native_client import TIMEOUT, native, until
from test_cluster import TOKEN, admin, node
from test_pusher import APP, APP_ID, KEY, SECRET, Client, wait_until

def publish(ws, channel: str, data, id, key=None):
    request = {"type": "publish", "channel": channel, "data": data, "id": id}
    if key is not None:
        request["idempotency_key"] = key
    ws.send(json.dumps(request))
    return until(ws, lambda m: m.get("id") == id)


def subscribe(ws, channel: str, id):
    ws.send(json.dumps({"type": "subscribe", "channel": channel, "id": id}))
    assert until(ws, lambda m: m.get("id") == id)["type"] == "subscribed"


def data_until_marker(ws, channel: str):
    """The `data` of every message on `channel` up to and including `{"marker":true}`."""
    seen = []
    while not seen or seen[-1] != {"marker": True}:
        seen.append(until(ws, lambda m: m["type"] == "message" and m["channel"] == channel)["data"])
    return seen


def test_a_retried_native_publish_is_acked_with_the_first_seq_and_delivered_once(server):
    s = server("--admin-token", TOKEN)
    with contextlib.ExitStack() as stack:
        subscriber = native(stack, s)
        subscribe(subscriber, "orders", 1)
        # Publishers on several connections (and so, likely, several shards) retry the same key.
        publishers = [native(stack, s) for _ in range(4)]
        first = publish(publishers[0], "orders", {"order": 17}, 1, key="order-17")
        assert first == {"type": "ack", "id": 1, "seq": 1}
        for n, ws in enumerate(publishers):
            again = publish(ws, "orders", {"order": 17}, 10 + n, key="order-17")
            assert again == {"type": "ack", "id": 10 + n, "seq": 1, "duplicate": True}
        # An unkeyed publish keeps its plain ack; the same key on another channel is another key.
        assert publish(publishers[1], "orders", {"marker": True}, 20) == {"type": "ack", "id": 20}
        assert publish(publishers[2], "invoices", 1, 21, key="order-17") == {"type": "ack", "id": 21, "seq": 1}
        assert data_until_marker(subscriber, "orders") == [{"order": 17}, {"marker": True}]
        bad = publish(publishers[3], "orders", 1, 22, key="")
        assert bad["type"] == "error" and bad["code"] == "bad_request" and "idempotency_key" in bad["message"]


def test_the_admin_api_answers_a_duplicate_with_the_first_seq(server):
    s = server("--admin-token", TOKEN)
    with contextlib.ExitStack() as stack:
        subscriber = native(stack, s)
        subscribe(subscriber, "news", 1)
        body = {"channel": "news", "data": {"headline": "x"}, "idempotency_key": "story-1"}
        status, first = admin(s, "POST", "/api/publish", body)
        assert status == 200 and first["seq"] == 1 and first["reached"] == 1 and "duplicate" not in first
        status, again = admin(s, "POST", "/api/publish", body)
        assert status == 200 and again["seq"] == 1 and again["duplicate"] is True and again["reached"] == 0
        status, bad = admin(s, "POST", "/api/publish", {**body, "idempotency_key": 7})
        assert status == 400 and bad["error"]["code"] == "bad_request"
        admin(s, "POST", "/api/publish", {"channel": "news", "data": {"marker": True}})
        assert data_until_marker(subscriber, "news") == [{"headline": "x"}, {"marker": True}]


def pusher_post(port: int, path: str, body: dict) -> requests.Response:
    raw = json.dumps(body).encode()
    query = {"auth_key": KEY, "auth_timestamp": str(int(time.time())), "auth_version": "1.0", "body_md5": hashlib.md5(raw).hexdigest()}
    text = "&".join(f"{k}={v}" for k, v in sorted(query.items()))
    query["auth_signature"] = hmac.new(SECRET.encode(), f"POST\n{path}\n{text}".encode(), hashlib.sha256).hexdigest()
    return requests.post(f"http://127.0.0.1:{port}{path}", params=query, data=raw, timeout=TIMEOUT)


def test_a_retried_pusher_trigger_is_published_once(server):
    s = server("--pusher-app", APP)
    client = Client(s.port)
    try:
        client.subscribe("orders")
        wait_until(lambda: client.received("orders", "pusher_internal:subscription_succeeded"), "subscribed")
        event = {"name": "paid", "channels": ["orders"], "data": "17", "idempotency_key": "pay-17"}
        for _ in range(3):
            assert pusher_post(s.port, f"/apps/{APP_ID}/events", event).status_code == 200
        batch = {"batch": [{**event, "channel": "orders"}, {"name": "marker", "channel": "orders", "data": "done"}]}
        assert pusher_post(s.port, f"/apps/{APP_ID}/batch_events", batch).status_code == 200
        client.wait("orders", "marker")
        assert [data for data in client.received("orders", "paid")] == ["17"]
        bad = pusher_post(s.port, f"/apps/{APP_ID}/events", {**event, "idempotency_key": ""})
        assert bad.status_code == 400 and "idempotency_key" in bad.text
    finally:
        client.close()


def test_a_key_is_forgotten_after_idempotency_ttl(server):
    s = server("--idempotency-ttl", "1")
    with contextlib.ExitStack() as stack:
        ws = native(stack, s)
        assert publish(ws, "news", 1, 1, key="k") == {"type": "ack", "id": 1, "seq": 1}
        # Retried until the key is forgotten: then it is a new message with the next seq.
        n = 2
        while True:
            reply = publish(ws, "news", 1, n, key="k")
            if "duplicate" not in reply:
                break
            assert reply["seq"] == 1
            n += 1
            time.sleep(0.1)
        assert reply == {"type": "ack", "id": n, "seq": 2}


def test_a_retry_on_another_node_is_answered_from_redis_and_delivered_once(server, redis):
    for history in ([], ["--history-size", "100"]):
        a, b = node(server, redis, f"node-a{len(history)}", *history), node(server, redis, f"node-b{len(history)}", *history)
        channel = f"orders{len(history)}"
        with contextlib.ExitStack() as stack:
            on_a, on_b = native(stack, a), native(stack, b)
            subscribe(on_a, channel, 1)
            subscribe(on_b, channel, 1)
            # Publishers of their own: a subscriber waiting for its ack would skip messages.
            publisher_a, publisher_b = native(stack, a), native(stack, b)
            first = publish(publisher_a, channel, {"order": 1}, 2, key="order-1")
            assert first == {"type": "ack", "id": 2, "seq": 1}
            again = publish(publisher_b, channel, {"order": 1}, 3, key="order-1")
            assert again == {"type": "ack", "id": 3, "seq": 1, "duplicate": True}
            status, answer = admin(b, "POST", "/api/publish", {"channel": channel, "data": {"order": 1}, "idempotency_key": "order-1"})
            assert status == 200 and answer["seq"] == 1 and answer["duplicate"] is True
            publish(publisher_b, channel, {"marker": True}, 4)
            for ws in (on_a, on_b):
                assert data_until_marker(ws, channel) == [{"order": 1}, {"marker": True}]
        a.terminate()
        b.terminate()
