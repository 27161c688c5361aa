"""The native protocol from Python's `websockets`, as the end-to-end tests speak it."""
import contextlib
import json

from websockets.sync.client import connect

TIMEOUT = 30


def native(stack: contextlib.ExitStack, s):
    """A client of server `s`, past its welcome; closed with `stack`."""
    ws = stack.enter_context(connect(s.url, open_timeout=TIMEOUT, max_size=None))
    assert json.loads(ws.recv(timeout=TIMEOUT))["type"] == "welcome"
    return ws


def until(ws, predicate):
    """The next frame for which `predicate` holds (the ones before it are skipped)."""
    while True:
        message = json.loads(ws.recv(timeout=TIMEOUT))
        if predicate(message):
            return message


def messages(ws, count: int):
    """The next `count` `message` frames."""
    return [until(ws, lambda m: m["type"] == "message") for _ in range(count)]


def publish_many(s, channel: str, count: int, first: int = 0):
    """Publishes `{"n": first…first+count-1}` to `channel` from a new client, each acked."""
    with contextlib.ExitStack() as stack:
        ws = native(stack, s)
        for n in range(count):
            ws.send(json.dumps({"type": "publish", "channel": channel, "data": {"n": first + n}, "id": n}))
        for _ in range(count):
            reply = json.loads(ws.recv(timeout=TIMEOUT))
            assert reply["type"] == "ack", reply
