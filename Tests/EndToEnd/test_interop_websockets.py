"""Interop with a third-party client: Python `websockets` against the real binary."""
import asyncio
import json

import pytest
import websockets


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


def test_protocol_round_trip(server):
    s = server()

    async def scenario():
        async with websockets.connect(s.url) as a, websockets.connect(s.url) as b, websockets.connect(s.url) as c:
            welcomes = [json.loads(await ws.recv()) for ws in (a, b, c)]
            assert all(w["type"] == "welcome" and w["heartbeat_s"] == 15 for w in welcomes)
            assert all(w["server"].startswith("switchboard/") for w in welcomes)
            for ws in (a, b):
                await ws.send(json.dumps({"type": "subscribe", "channel": "room:1", "id": "s"}))
                assert json.loads(await ws.recv()) == {"type": "subscribed", "channel": "room:1", "id": "s"}
            data = '{"text": "héllo 東京", "n": [1, 2.5e3, null]}'
            await c.send('{"type":"publish","channel":"room:1","data":' + data + ',"id":99}')
            assert json.loads(await c.recv()) == {"type": "ack", "id": 99}
            for ws in (a, b):
                raw = await ws.recv()
                # the data value arrives byte for byte as sent
                assert '"data":' + data + ',' in raw
                msg = json.loads(raw)
                assert msg["type"] == "message" and msg["seq"] == 1 and msg["from"] == welcomes[2]["client"]
            await a.send('{"type":"nope"}')
            err = json.loads(await a.recv())
            assert err["type"] == "error" and err["code"] == "unknown_type"
            await a.send('{"type":"ping","id":1}')
            assert json.loads(await a.recv()) == {"type": "pong", "id": 1}

    run(scenario())


def test_binary_frame_closes_1003(server):
    s = server()

    async def scenario():
        async with websockets.connect(s.url) as ws:
            await ws.recv()
            await ws.send(b"\x00\x01")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 1003

    run(scenario())


def test_oversized_message_closes_1009(server):
    s = server("--max-message-size", "1KiB")

    async def scenario():
        async with websockets.connect(s.url, max_size=None) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "publish", "channel": "x", "data": "y" * 5000}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 1009

    run(scenario())


@pytest.mark.parametrize("compression", ["deflate", None])
def test_the_message_limit_holds_to_the_byte_compressed_or_not(server, compression):
    """A publish of exactly max-message-size bytes is accepted; one byte more closes 1009, also
    when permessage-deflate shrinks it on the wire (websockets negotiates it by default)."""
    s = server()
    limit = 65536

    def publish_of(size):
        head, tail = '{"type":"publish","channel":"big","id":1,"data":"', '"}'
        return head + "y" * (size - len(head) - len(tail)) + tail

    async def scenario():
        async with websockets.connect(s.url, max_size=None, compression=compression) as ws:
            await ws.recv()
            exact = publish_of(limit)
            assert len(exact.encode()) == limit
            await ws.send(exact)
            assert json.loads(await ws.recv()) == {"type": "ack", "id": 1}
            for size in (limit + 1, 66000, 70000):
                async with websockets.connect(s.url, max_size=None, compression=compression) as over:
                    await over.recv()
                    await over.send(publish_of(size))
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        await over.recv()
                    assert closed.value.rcvd.code == 1009, size

    run(scenario())


def test_sigterm_drains_with_1001_and_exits_0(server):
    s = server()

    async def scenario():
        async with websockets.connect(s.url) as sub, websockets.connect(s.url) as pub:
            await sub.recv()
            await pub.recv()
            await sub.send('{"type":"subscribe","channel":"bye"}')
            await sub.recv()
            for n in range(1, 201):
                await pub.send(f'{{"type":"publish","channel":"bye","data":{n},"id":{n}}}')
            for n in range(1, 201):
                assert json.loads(await pub.recv()) == {"type": "ack", "id": n}
            s.proc.send_signal(15)
            received = []
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    received.append(json.loads(await sub.recv())["data"])
            assert received == list(range(1, 201))
            assert closed.value.rcvd.code == 1001

    run(scenario())
    code, stderr = s.terminate()
    assert code == 0, stderr
    assert "draining" in stderr
