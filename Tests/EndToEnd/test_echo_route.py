"""The conformance echo route (`--echo-route`), driven by Python `websockets`."""
import asyncio
import os
import urllib.error
import urllib.request

import pytest
import websockets
import websockets.exceptions


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=120))


def test_echo_route_is_off_by_default(server):
    s = server()

    async def scenario():
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(f"ws://127.0.0.1:{s.port}/echo"):
                pass
        assert refused.value.response.status_code == 404

    run(scenario())


def test_echo_keeps_text_and_binary_and_large_messages(server):
    s = server("--echo-route", "/echo")

    async def scenario():
        async with websockets.connect(f"ws://127.0.0.1:{s.port}/echo", max_size=None, compression=None) as ws:
            await ws.send("héllo 東京")
            assert await ws.recv() == "héllo 東京"  # text stays text, no welcome first
            await ws.send(b"\x00\xffbinary")
            assert await ws.recv() == b"\x00\xffbinary"  # binary stays binary
            big = os.urandom(4 * 1024 * 1024)  # far above the hub's 64 KiB limit
            await ws.send(big)
            assert await ws.recv() == big
            await ws.send(["frag", "mented ", "text"])  # one message in three frames
            assert await ws.recv() == "fragmented text"
            await ws.send(b"")
            assert await ws.recv() == b""

    run(scenario())


def test_echo_enforces_its_limit_and_utf8(server):
    s = server("--echo-route", "/echo")

    async def scenario():
        async with websockets.connect(f"ws://127.0.0.1:{s.port}/echo", max_size=None, compression=None) as ws:
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                # the frame header already says too much: refused before the payload is read
                await ws.send(b"x" * (16 * 1024 * 1024 + 1))
                await ws.recv()
            assert closed.value.rcvd.code == 1009
        # a fresh client is still served, and the native route is untouched by the echo route
        async with websockets.connect(f"ws://127.0.0.1:{s.port}/echo") as ws:
            await ws.send("still here")
            assert await ws.recv() == "still here"
        async with websockets.connect(s.url) as ws:
            assert '"type":"welcome"' in await ws.recv()

    run(scenario())


def test_echo_route_without_upgrade_says_how(server):
    s = server("--echo-route", "/echo")
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(f"http://127.0.0.1:{s.port}/echo", timeout=10)
    assert answer.value.code == 426
    assert answer.value.headers["Sec-WebSocket-Version"] == "13"


def test_permessage_deflate_is_negotiated_without_context_takeover(server):
    s = server("--echo-route", "/echo")

    async def scenario():
        async with websockets.connect(f"ws://127.0.0.1:{s.port}/echo", max_size=None) as ws:
            extensions = ws.response.headers["Sec-WebSocket-Extensions"]
            assert extensions.startswith("permessage-deflate")
            assert "server_no_context_takeover" in extensions and "client_no_context_takeover" in extensions
            text = "compressible " * 10000
            for _ in range(3):  # several messages: each one stands alone
                await ws.send(text)
                assert await ws.recv() == text
            blob = os.urandom(100_000)
            await ws.send(blob)
            assert await ws.recv() == blob
        # the native route inflates compressed requests too
        async with websockets.connect(s.url) as ws:
            assert ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
            await ws.recv()
            await ws.send('{"type":"subscribe","channel":"zip","id":"' + "x" * 5000 + '"}')
            assert '"type":"subscribed"' in await ws.recv()
        async with websockets.connect(s.url, compression=None) as ws:
            assert "Sec-WebSocket-Extensions" not in ws.response.headers

    run(scenario())
