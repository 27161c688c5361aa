"""What an idle connection costs after it once sent a large message (issue 5: ≤ 32 KiB).

Connects N clients to a running server, records the server's RSS (VmRSS of --server-pid), has
every client publish one message of --size bytes (to a channel nobody subscribes to), waits for
each publish's ack, lets the connections sit idle, and records the RSS again:

    .venv-test/bin/python Benchmarks/idle_after_large.py --url ws://127.0.0.1:18140/ws \\
        --server-pid PID --connections 1000 --size 100000

The server needs --max-message-size above --size (e.g. 128KiB). Prints bytes per connection
before and after the large message, and the difference.
"""
import argparse
import asyncio
import json
import time

import websockets


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait before each RSS reading")
    args = parser.parse_args()

    before = rss_kib(args.server_pid)
    clients = []
    for _ in range(args.connections):
        ws = await websockets.connect(args.url, compression=None, max_size=None)
        await ws.recv()  # welcome
        clients.append(ws)
    await asyncio.sleep(args.settle)
    connected = rss_kib(args.server_pid)

    payload = "x" * max(0, args.size - 64)

    async def publish(ws, n):
        await ws.send(json.dumps({"type": "publish", "channel": "nobody-listens", "data": payload, "id": n}))
        while json.loads(await ws.recv()).get("type") != "ack":
            pass

    started = time.monotonic()
    await asyncio.gather(*(publish(ws, n) for n, ws in enumerate(clients)))
    sent = time.monotonic() - started
    await asyncio.sleep(args.settle)
    after = rss_kib(args.server_pid)
    n = args.connections
    print(f"connections: {n}, message: {args.size} B once each ({sent:.1f} s to send and ack all)")
    print(f"server RSS: {before} KiB before, {connected} KiB connected and idle, {after} KiB idle after the large message")
    print(f"per connection: {(connected - before) * 1024 / n:,.0f} B idle, {(after - before) * 1024 / n:,.0f} B idle after one {args.size} B message "
          f"(+{(after - connected) * 1024 / n:,.0f} B)")
    for ws in clients:
        await ws.close()


asyncio.run(main())
