"""Graceful shutdown under load: every publish the server acknowledged before it began to drain
reaches every healthy subscriber, then each subscriber is closed with 1001."""
import asyncio
import json
import signal

import websockets
import websockets.exceptions

SUBSCRIBERS = 6
PUBLISHERS = 3


def test_every_acked_message_is_delivered_before_1001(server):
    # Subscribers here are healthy but Python-slow: queues large enough that none is cut off as a
    # slow consumer (4002), which is another test's subject.
    s = server("--threads", "2", "--outbound-queue-frames", "1000000", "--outbound-queue-bytes", "1GiB")

    async def subscriber(ready: asyncio.Event, received: set, closes: list):
        async with websockets.connect(s.url, max_queue=None, compression=None) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "subscribe", "channel": "load"}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
            ready.set()
            try:
                async for raw in ws:
                    message = json.loads(raw)
                    if message["type"] == "message":
                        received.add(message["data"])
            except websockets.exceptions.ConnectionClosed:
                pass
            closes.append(ws.close_code)

    async def publisher(number: int, acked: set, started: asyncio.Event):
        async with websockets.connect(s.url, compression=None) as ws:
            await ws.recv()
            sent = 0
            async def read_acks():
                try:
                    async for raw in ws:
                        message = json.loads(raw)
                        if message["type"] == "ack":
                            acked.add(message["id"])
                            started.set()
                except websockets.exceptions.ConnectionClosed:
                    pass
            reader = asyncio.create_task(read_acks())
            try:
                while True:
                    tag = f"{number}-{sent}"
                    await ws.send(json.dumps({"type": "publish", "channel": "load", "data": tag, "id": tag}))
                    sent += 1
                    if sent % 50 == 0:
                        await asyncio.sleep(0)  # let the reader run
            except websockets.exceptions.ConnectionClosed:
                pass
            await reader

    async def scenario():
        received = [set() for _ in range(SUBSCRIBERS)]
        closes: list = []
        ready = [asyncio.Event() for _ in range(SUBSCRIBERS)]
        subscribers = [asyncio.create_task(subscriber(ready[i], received[i], closes)) for i in range(SUBSCRIBERS)]
        for event in ready:
            await event.wait()
        acked: set = set()
        started = asyncio.Event()
        publishers = [asyncio.create_task(publisher(n, acked, started)) for n in range(PUBLISHERS)]
        await started.wait()
        while len(acked) < 2000:
            await asyncio.sleep(0.01)
        s.proc.send_signal(signal.SIGTERM)  # drain begins while publishes are in flight
        await asyncio.gather(*publishers, *subscribers)
        return acked, received, closes

    acked, received, closes = asyncio.run(asyncio.wait_for(scenario(), timeout=120))
    code, logs = s.terminate()
    assert code == 0
    assert len(acked) >= 2000
    for got in received:
        missing = acked - got
        assert not missing, f"{len(missing)} acked messages never reached a subscriber, e.g. {sorted(missing)[:5]}; closes {closes}"
    assert closes == [1001] * SUBSCRIBERS
    print(f"acked {len(acked)} before shutdown; every one reached all {SUBSCRIBERS} subscribers")
