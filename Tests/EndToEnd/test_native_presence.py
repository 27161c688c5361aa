"""Presence in the native protocol: `{"type":"subscribe","presence":true}` joins with the user
id (the JWT `sub`, or the client id without authentication), `{"type":"presence"}` lists
members, and joins and leaves are pushed once per user, not per connection."""
import contextlib
import json

import jwt
from websockets.sync.client import connect

SECRET = "presence-secret-0123456789abcdef-01234"
TIMEOUT = 30


def client(stack: contextlib.ExitStack, server, user: str | None):
    url = server.url if user is None else f"{server.url}?token={jwt.encode({'sub': user}, SECRET, algorithm='HS256')}"
    ws = stack.enter_context(connect(url, open_timeout=TIMEOUT))
    welcome = json.loads(ws.recv(timeout=TIMEOUT))
    return ws, welcome


def until(ws, predicate):
    while True:
        message = json.loads(ws.recv(timeout=TIMEOUT))
        if predicate(message):
            return message


def join(ws, channel="room"):
    ws.send(json.dumps({"type": "subscribe", "channel": channel, "presence": True, "id": 1}))
    assert until(ws, lambda m: m.get("id") == 1)["type"] == "subscribed"


def members(ws, channel="room"):
    ws.send(json.dumps({"type": "presence", "channel": channel, "id": "p"}))
    reply = until(ws, lambda m: m.get("id") == "p")
    assert reply["type"] == "presence" and reply["count"] == len(reply["members"])
    return [m["user"] for m in reply["members"]]


def test_joins_and_leaves_are_per_user(server):
    s = server("--auth-jwt-secret", SECRET)
    with contextlib.ExitStack() as stack:
        watcher, _ = client(stack, s, "watcher")
        ann1, _ = client(stack, s, "ann")
        ann2, _ = client(stack, s, "ann")
        join(watcher)
        join(ann1)
        assert until(watcher, lambda m: m["type"] == "join") == {"type": "join", "channel": "room", "user": "ann"}
        join(ann2)  # a second tab of ann: nobody is told
        assert members(watcher) == ["watcher", "ann"]
        ann1.close()
        assert members(watcher) == ["watcher", "ann"]
        ann2.close()
        assert until(watcher, lambda m: m["type"] in ("join", "leave")) == {"type": "leave", "channel": "room", "user": "ann"}
        assert members(watcher) == ["watcher"]
        # a plain subscriber sees presence changes but is not a member
        plain, _ = client(stack, s, "plain")
        plain.send(json.dumps({"type": "subscribe", "channel": "room"}))
        until(plain, lambda m: m["type"] == "subscribed")
        assert members(watcher) == ["watcher"]
        bob, _ = client(stack, s, "bob")
        join(bob)
        assert until(plain, lambda m: m["type"] == "join")["user"] == "bob"
        plain.close()
        bob.close()


def test_without_authentication_the_client_id_is_the_user(server):
    s = server()
    with contextlib.ExitStack() as stack:
        first, welcome = client(stack, s, None)
        second, _ = client(stack, s, None)
        join(first)
        join(second)
        assert welcome["client"] in members(second)
        assert len(members(second)) == 2
        # unsubscribing leaves the presence too
        first.send(json.dumps({"type": "unsubscribe", "channel": "room"}))
        assert until(second, lambda m: m["type"] == "leave")["user"] == welcome["client"]


def test_a_full_presence_channel_refuses_and_undoes_the_subscription(server):
    s = server("--auth-jwt-secret", SECRET, "--max-presence-members", "1")
    with contextlib.ExitStack() as stack:
        first, _ = client(stack, s, "first")
        second, _ = client(stack, s, "second")
        join(first)
        second.send(json.dumps({"type": "subscribe", "channel": "room", "presence": True, "id": 2}))
        refusal = until(second, lambda m: m.get("id") == 2)
        assert refusal["type"] == "error" and refusal["code"] == "presence_full"
        # the refused client is not subscribed: unsubscribing says so
        second.send(json.dumps({"type": "unsubscribe", "channel": "room", "id": 3}))
        assert until(second, lambda m: m.get("id") == 3)["code"] == "not_subscribed"
        # the same user on another connection is not a new user: admitted
        again, _ = client(stack, s, "first")
        join(again)
        assert members(again) == ["first"]
