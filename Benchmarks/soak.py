#!/usr/bin/env python3
"""Soak: a long run with churn against a running switchboard, reporting RSS over time and lost
messages for healthy subscribers. A benchmark-style run, not a test.

    python3 Benchmarks/soak.py --url ws://127.0.0.1:18090/ws --server-pid PID --minutes 10

Healthy subscribers stay connected for the whole run and check every channel's `seq`: a gap,
or an acked publish that never arrived, is a lost message. Churners connect, subscribe, read,
publish, and disconnect in a loop (some vanish without a close frame). RSS and open fds of the
server are sampled every `--sample` seconds; the run ends with a summary (exit 1 if anything
was lost). Needs the `websockets` package (scripts/test.sh's .venv-test has it).
"""
import argparse
import asyncio
import json
import os
import random
import time

import websockets


def figures(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


class Stats:
    def __init__(self):
        self.acked = {}          # channel -> set of acked data tags
        self.received = []       # per healthy subscriber: channel -> set of tags
        self.gaps = 0
        self.churn_cycles = 0
        self.churn_errors = 0
        self.published = 0


async def healthy(url, channel, stats, index, stop):
    got = stats.received[index].setdefault(channel, set())
    last_seq = None
    async with websockets.connect(url, max_queue=None) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=5)
            except asyncio.TimeoutError:
                if stop.is_set():
                    return  # drained after the end of the run
                continue
            message = json.loads(raw)
            if message["type"] != "message":
                continue
            if last_seq is not None and message["seq"] != last_seq + 1:
                stats.gaps += message["seq"] - last_seq - 1
            last_seq = message["seq"]
            got.add(message["data"])


async def publisher(url, channels, rate, stats, stop):
    async with websockets.connect(url) as ws:
        await ws.recv()

        async def acks():
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "ack":
                    channel, _ = message["id"].split("|", 1)
                    stats.acked.setdefault(channel, set()).add(message["id"])
        reader = asyncio.create_task(acks())
        n = 0
        start = time.monotonic()
        while not stop.is_set():
            channel = channels[n % len(channels)]
            tag = f"{channel}|{os.getpid()}-{id(ws)}-{n}"
            await ws.send(json.dumps({"type": "publish", "channel": channel, "data": tag, "id": tag}))
            stats.published += 1
            n += 1
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.sleep(2)  # let the last acks arrive
        reader.cancel()


async def churner(url, channels, stats, stop):
    while not stop.is_set():
        try:
            ws = await websockets.connect(url)
            await ws.recv()
            await ws.send(json.dumps({"type": "subscribe", "channel": random.choice(channels)}))
            for _ in range(random.randint(1, 5)):
                await asyncio.wait_for(ws.recv(), timeout=10)
            await ws.send(json.dumps({"type": "publish", "channel": "churn", "data": {"n": stats.churn_cycles}}))
            if random.random() < 0.2:
                ws.transport.abort()  # vanish without a close frame
            else:
                await ws.close()
            stats.churn_cycles += 1
        except Exception:
            if not stop.is_set():  # a cycle cut short by the end of the run is not an error
                stats.churn_errors += 1
            await asyncio.sleep(0.1)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--channels", type=int, default=5)
    parser.add_argument("--healthy", type=int, default=50, help="healthy subscribers (spread over the channels)")
    parser.add_argument("--rate", type=float, default=200, help="publishes per second in all")
    parser.add_argument("--churners", type=int, default=20)
    parser.add_argument("--sample", type=float, default=30)
    args = parser.parse_args()

    channels = [f"soak-{i}" for i in range(args.channels)]
    stats = Stats()
    stats.received = [{} for _ in range(args.healthy)]
    stop = asyncio.Event()
    subscribers = [asyncio.create_task(healthy(args.url, channels[i % len(channels)], stats, i, stop)) for i in range(args.healthy)]
    await asyncio.sleep(2)
    publishers = [asyncio.create_task(publisher(args.url, channels, args.rate / 5, stats, stop)) for _ in range(5)]
    churners = [asyncio.create_task(churner(args.url, channels, stats, stop)) for _ in range(args.churners)]
    started = time.monotonic()
    samples = []
    print("minute  RSS KiB   fds  published  churn cycles  churn errors", flush=True)
    while time.monotonic() - started < args.minutes * 60:
        rss, fds = figures(args.server_pid)
        samples.append(rss)
        print(f"{(time.monotonic() - started) / 60:6.1f}  {rss:7d}  {fds:4d}  {stats.published:9d}  {stats.churn_cycles:12d}  {stats.churn_errors:12d}", flush=True)
        await asyncio.sleep(args.sample)
    stop.set()
    await asyncio.gather(*publishers, *churners)
    await asyncio.gather(*subscribers)
    lost = 0
    for index in range(args.healthy):
        channel = channels[index % len(channels)]
        lost += len(stats.acked.get(channel, set()) - stats.received[index].get(channel, set()))
    rss, fds = figures(args.server_pid)
    acked = sum(len(v) for v in stats.acked.values())
    print(f"\nsoak: {args.minutes:g} min, {acked} acked publishes to {args.healthy} healthy subscribers, "
          f"{stats.churn_cycles} churn cycles ({stats.churn_errors} errors)")
    print(f"soak: RSS first {samples[0]} KiB, min {min(samples)}, max {max(samples)}, last {samples[-1]}, after {rss}; fds after {fds}")
    print(f"soak: lost {lost} acked deliveries, {stats.gaps} seq gaps")
    return 1 if lost or stats.gaps else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
