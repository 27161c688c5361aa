#!/usr/bin/env python3
"""What `--redis-ack-replicas 1` costs against 0, in one invocation (issue 30's benchmark).

Each round runs both settings (0, 1, 0, 1, …: noise hits both). For each: a redis-server master
and one replica (`--replicaof`), both on the server core, waited for until the replica is in sync
(its `master_link_status:up`, the master listing it `online`); two nodes (`--redis`, one
event-loop thread each, `--redis-ack-replicas N`) on the server core; then, with the load on the
bench core:

  acked        closed-loop acked publishes to a channel nobody subscribes to: C clients (a small
               asyncio WebSocket client in this file) each keeping W publishes with an `id` in
               flight and sending the next when an ack comes back, for every C x W of --ack-loads:
               publishes per second and publish -> ack latency
  publish      `switchboard bench fanout --subscribers 1 --publishers 2` on the first node, closed
               loop (window 64): publishes per second and publish -> receive latency with the
               bench's own client (the Python client above is slower than the hub)
  fan-out      `switchboard bench fanout`, subscribers spread over both nodes, the publisher on
               the first: closed loop, and open loop at --open-rate: deliveries per second,
               publish -> receive latency, lost and refused publishes

Around each run: CPU seconds of both nodes, the master and the replica (/proc; over the whole
run, so the fan-out runs include their subscribers' connects), divided by the publishes; and the
master's INFO commandstats (reset before): publishes per `cmdstat_wait` call is how many
publishes one WAIT covered (`evalsha` and `wait` calls are in the per-run JSON lines on stderr);
and the server core's busy time (/proc/stat) less ours: what other processes took from it. Prints
markdown tables of medians (ranges of the rates), and ack 1 − ack 0 paired within each round
(median of the rounds' differences: the comparison that survives a noisy machine).

    python3 Benchmarks/ack_replicas.py --switchboard .build-release/release/switchboard --rounds 3
"""
import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_fanout import bench, cpu_seconds, start_node, start_redis, stop  # noqa: E402


# MARK: - Redis


def redis_info(port: int, section: str) -> dict[str, str]:
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", section], capture_output=True, text=True, timeout=10).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line and not line.startswith("#"))


def wait_in_sync(master: int, replica: int) -> None:
    for _ in range(600):
        if (redis_info(replica, "replication").get("master_link_status") == "up"
                and "state=online" in redis_info(master, "replication").get("slave0", "")):
            return
        time.sleep(0.05)
    raise RuntimeError("the replica did not come in sync")


def command_calls(port: int) -> dict[str, int]:
    """calls per command since the last CONFIG RESETSTAT (`cmdstat_wait` -> `wait`)."""
    stats = redis_info(port, "commandstats")
    return {key.removeprefix("cmdstat_"): int(value.split("calls=", 1)[1].split(",", 1)[0]) for key, value in stats.items()}


def core_busy_seconds(cpu: str) -> float:
    """Busy seconds of one core (user, nice, system, irq, softirq, steal) from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                ticks = [int(v) for v in line.split()[1:]]
                return (sum(ticks[0:3]) + sum(ticks[5:8])) / os.sysconf("SC_CLK_TCK")
    return 0.0


# MARK: - Acked publishes (the load, run as `--ack-load PORT CLIENTS WINDOW SECONDS` on the bench core)


class AckClient(asyncio.Protocol):
    """One WebSocket connection keeping `window` acked publishes in flight. Frames are masked
    with the key 0 (allowed; the payload is then sent as is)."""

    def __init__(self, port: int, window: int, load: "AckLoad"):
        self.port, self.window, self.load = port, window, load
        self.buffer = bytearray()
        self.upgraded = False
        self.welcomed = False
        self.sent_at: dict[int, int] = {}
        self.out: list[bytes] = []
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())

    def connection_lost(self, exc):
        self.load.closed += 1
        self.load.done_if_drained()

    def data_received(self, data: bytes):
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"upgrade refused: {bytes(self.buffer[:200])!r}")
            del self.buffer[:end + 4]
            self.upgraded = True
        while len(self.buffer) >= 2:
            opcode, length, start = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F, 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                length, start = int.from_bytes(self.buffer[2:4], "big"), 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                length, start = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < start + length:
                return
            payload = bytes(self.buffer[start:start + length])
            del self.buffer[:start + length]
            if opcode == 0x1:
                self.text(payload)
            elif opcode == 0x9:
                self.frame(0xA, payload)
        self.flush()

    def frame(self, opcode: int, payload: bytes) -> None:
        """Queues a frame; `flush()` writes what is queued in one write."""
        n = len(payload)
        head = bytes([0x80 | opcode, 0x80 | n]) if n < 126 else bytes([0x80 | opcode, 0xFE]) + n.to_bytes(2, "big")
        self.out.append(head + b"\0\0\0\0" + payload)

    def flush(self) -> None:
        if self.out:
            self.transport.write(b"".join(self.out))
            self.out.clear()

    def publish(self) -> None:
        load = self.load
        load.next_id += 1
        self.sent_at[load.next_id] = time.perf_counter_ns()
        self.frame(0x1, b'{"type":"publish","channel":"acked","id":%d,"data":"%s"}' % (load.next_id, load.data))

    ACK = b'{"type":"ack","id":'

    def text(self, payload: bytes) -> None:
        if payload.startswith(self.ACK):  # {"type":"ack","id":7,"seq":41}, without a JSON parse
            end = payload.find(b",", len(self.ACK))
            kind, id_ = "ack", int(payload[len(self.ACK):end if end > 0 else payload.index(b"}")])
            message = {}
        else:
            message = json.loads(payload)
            kind, id_ = message.get("type"), message.get("id")
        if kind == "welcome" and not self.welcomed:
            self.welcomed = True
            self.load.welcomed(self)
            return
        if kind not in ("ack", "error") or id_ not in self.sent_at:
            return
        sent = self.sent_at.pop(id_)
        if kind == "ack":
            self.load.latencies.append((time.perf_counter_ns() - sent) // 1000)
        else:
            self.load.refused += 1
            self.load.errors[message.get("code", "?")] = self.load.errors.get(message.get("code", "?"), 0) + 1
        if self.load.running:
            self.publish()
        else:
            self.load.done_if_drained()


class AckLoad:
    def __init__(self, clients: int, data: bytes):
        self.clients_wanted = clients
        self.data = data
        self.clients: list[AckClient] = []
        self.ready: list[AckClient] = []
        self.all_welcomed = asyncio.get_running_loop().create_future()
        self.drained = asyncio.get_running_loop().create_future()
        self.running = False
        self.next_id = 0
        self.latencies: list[int] = []
        self.refused = 0
        self.errors: dict[str, int] = {}
        self.closed = 0

    def welcomed(self, client: AckClient) -> None:
        self.ready.append(client)
        if len(self.ready) == self.clients_wanted and not self.all_welcomed.done():
            self.all_welcomed.set_result(None)

    def done_if_drained(self) -> None:
        if not self.running and not self.drained.done() and all(not c.sent_at for c in self.clients):
            self.drained.set_result(None)


async def ack_load(port: int, clients: int, window: int, seconds: float, size: int) -> dict:
    load = AckLoad(clients, b"x" * size)
    loop = asyncio.get_running_loop()
    for _ in range(clients):
        _, client = await loop.create_connection(lambda: AckClient(port, window, load), "127.0.0.1", port)
        load.clients.append(client)
    await asyncio.wait_for(load.all_welcomed, 30)
    load.running = True
    start = time.perf_counter()
    for client in load.clients:
        for _ in range(window):
            client.publish()
        client.flush()
    await asyncio.sleep(seconds)
    load.running = False
    published_at_stop = len(load.latencies)
    elapsed = time.perf_counter() - start
    load.done_if_drained()
    try:
        await asyncio.wait_for(asyncio.shield(load.drained), 10)
    except asyncio.TimeoutError:
        pass
    unanswered = sum(len(c.sent_at) for c in load.clients)
    for client in load.clients:
        client.transport.close()
    latencies = sorted(load.latencies)
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0
    return {"acked": len(latencies), "acked_per_s": published_at_stop / elapsed, "p50_us": pick(0.50), "p99_us": pick(0.99),
            "refused": load.refused, "errors": load.errors, "unanswered": unanswered, "closed": load.closed}


# MARK: - Runs


class Cluster:
    """A master, its replica in sync, and `nodes` nodes acking after `ack` replicas."""

    def __init__(self, args: argparse.Namespace, ack: int):
        self.master, self.master_port, master_dir = start_redis(args.server_cpu, "--repl-diskless-sync-delay", "0")
        self.replica, self.replica_port, replica_dir = start_redis(args.replica_cpu or args.server_cpu, "--replicaof", "127.0.0.1",
                                                                   str(self.master_port))
        self.directories = [master_dir, replica_dir]
        self.server_cpu = args.server_cpu
        self.replica_shares_core = (args.replica_cpu or args.server_cpu) == args.server_cpu
        self.nodes: list[tuple[subprocess.Popen, int]] = []
        try:
            wait_in_sync(self.master_port, self.replica_port)
            for i in range(args.nodes):
                self.nodes.append(start_node(args.switchboard, args.server_cpu, "--redis", f"redis://127.0.0.1:{self.master_port}",
                                             "--node-name", f"n{i}", "--redis-ack-replicas", str(ack), "--publish-rate", "0"))
        except BaseException:
            self.stop()
            raise

    def measure(self, work) -> dict:
        """Runs `work()` (returning its figures with `published`), adding CPU µs per publish of the
        nodes, the master and the replica, publishes per WAIT on the master, and the busy time of
        other processes (and steal) on the server core per second."""
        procs = [p for p, _ in self.nodes]
        subprocess.run(["redis-cli", "-p", str(self.master_port), "CONFIG", "RESETSTAT"], capture_output=True, timeout=10)
        before = [cpu_seconds(p.pid) for p in procs + [self.master, self.replica]]
        core_before, wall_before = core_busy_seconds(self.server_cpu), time.monotonic()
        result = work()
        core_after, wall_after = core_busy_seconds(self.server_cpu), time.monotonic()
        after = [cpu_seconds(p.pid) for p in procs + [self.master, self.replica]]
        calls = command_calls(self.master_port)
        used = [b - a for a, b in zip(before, after)]
        published = max(1, result["published"])
        result.update({
            "node_cpu_s": sum(used[:len(procs)]), "master_cpu_s": used[-2], "replica_cpu_s": used[-1],
            "node_us": sum(used[:len(procs)]) * 1e6 / published, "master_us": used[-2] * 1e6 / published,
            "replica_us": used[-1] * 1e6 / published,
            "evalsha": calls.get("evalsha", 0), "wait": calls.get("wait", 0),
            "others_on_server_core": (core_after - core_before - sum(used if self.replica_shares_core else used[:-1]))
                                     / (wall_after - wall_before),
            "per_wait": result["published"] / calls["wait"] if calls.get("wait") else None,
        })
        return result

    def stop(self) -> None:
        stop([p for p, _ in self.nodes])
        stop([self.master, self.replica])
        for directory in self.directories:
            stop([], directory)


def acked_run(args: argparse.Namespace, cluster: Cluster, clients: int, window: int) -> dict:
    def work():
        out = subprocess.run(["taskset", "-c", args.bench_cpu, sys.executable, os.path.abspath(__file__), "--ack-load",
                              str(cluster.nodes[0][1]), str(clients), str(window), str(args.duration)],
                             capture_output=True, text=True, timeout=600)
        if not out.stdout.strip():
            raise RuntimeError(f"ack load failed: {out.stderr[-2000:]}")
        result = json.loads(out.stdout)
        result["published"] = result["acked"]
        return result
    return cluster.measure(work)


def fanout_run(args: argparse.Namespace, cluster: Cluster, rate: float | None, subscribers: int | None = None,
               extra: tuple[str, ...] = ()) -> dict:
    """`bench fanout` with the subscribers on every node (one subscriber: on the publisher's node)."""
    ports = [port for _, port in cluster.nodes][:subscribers or len(cluster.nodes)]
    def work():
        result = bench(args.switchboard, args.bench_cpu, ports, cluster.nodes[0][1], args, rate, subscribers, extra)
        return {"deliveries_per_s": result["deliveriesPerSecond"], "published": result["published"], "lost": result["lost"],
                "refused": result["refused"], "closed": result["closedSubscribers"], "out_of_order": result["outOfOrder"],
                "p50_us": result["latencyMicroseconds"]["p50"], "p99_us": result["latencyMicroseconds"]["p99"]}
    return cluster.measure(work)


# MARK: - Report


def spaced(value: float) -> str:
    """12 345 (the style of BENCHMARKS.md's tables)."""
    return f"{value:,.0f}".replace(",", " ")


def tenths(value: float) -> str:
    return f"{value:,.1f}".replace(",", " ")


def median(results: list[dict], field: str) -> float:
    values = [r[field] for r in results if r.get(field) is not None]
    return statistics.median(values) if values else float("nan")


def spread(results: list[dict], field: str) -> str:
    values = [r[field] for r in results]
    if len(values) < 2:
        return spaced(median(results, field))
    return f"{spaced(median(results, field))} ({spaced(min(values))}–{spaced(max(values))})"


def per_wait(results: list[dict]) -> str:
    value = median(results, "per_wait")
    return "no WAIT" if value != value else f"{value:.1f}"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--ack-load":
        port, clients, window, seconds = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
        print(json.dumps(asyncio.run(ack_load(port, clients, window, seconds, 64))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--switchboard", default=".build/release/switchboard")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--subscribers", type=int, default=1000, help="fan-out subscribers in all, spread over the nodes")
    parser.add_argument("--open-rate", type=float, default=300, help="msg/s of the open-loop fan-out (0: none)")
    parser.add_argument("--ack-loads", default="1x1,4x16", help="CLIENTSxWINDOW of each acked-publish run, comma-separated")
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--replica-cpu", default=None, help="default: --server-cpu")
    parser.add_argument("--bench-cpu", default="1")
    args = parser.parse_args()
    loads = [tuple(int(n) for n in load.split("x")) for load in args.ack_loads.split(",") if load]
    rates = [None] + ([args.open_rate] if args.open_rate else [])
    acked: dict[tuple, list[dict]] = {}
    fanout: dict[tuple, list[dict]] = {}
    publishes: dict[int, list[dict]] = {}
    for round_ in range(args.rounds):
        for ack in (0, 1):
            cluster = Cluster(args, ack)
            try:
                for clients, window in loads:
                    result = acked_run(args, cluster, clients, window)
                    print(json.dumps({"round": round_, "ack": ack, "load": f"{clients}x{window}", **result}), file=sys.stderr)
                    acked.setdefault((clients, window, ack), []).append(result)
                result = fanout_run(args, cluster, None, subscribers=1, extra=("--publishers", "2"))
                result["published_per_s"] = result["published"] / args.duration
                print(json.dumps({"round": round_, "ack": ack, "publish": True, **result}), file=sys.stderr)
                publishes.setdefault(ack, []).append(result)
                for rate in rates:
                    result = fanout_run(args, cluster, rate)
                    print(json.dumps({"round": round_, "ack": ack, "rate": rate, **result}), file=sys.stderr)
                    fanout.setdefault((rate, ack), []).append(result)
            finally:
                cluster.stop()

    print(f"| acked publishes, closed loop, 64 B, to node n0 | redis-ack-replicas | acked publishes/s | p50 µs | p99 µs | "
          f"node µs per publish | master µs | replica µs | publishes per WAIT | refused, unanswered |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (clients, window, ack), results in sorted(acked.items()):
        print(f"| {clients} client{'s' if clients > 1 else ''} × {window} in flight | {ack} | {spread(results, 'acked_per_s')} | "
              f"{spaced(median(results, 'p50_us'))} | {spaced(median(results, 'p99_us'))} | {tenths(median(results, 'node_us'))} | "
              f"{tenths(median(results, 'master_us'))} | {tenths(median(results, 'replica_us'))} | {per_wait(results)} | "
              f"{sum(r['refused'] for r in results)}, {sum(r['unanswered'] for r in results)} |")
    print()
    print("| publishes, closed loop (`bench fanout`, 2 publishers → 1 subscriber, window 64), 64 B | redis-ack-replicas | publishes/s | "
          "p50 µs | p99 µs | node µs per publish | master µs | replica µs | publishes per WAIT | lost, refused |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for ack, results in sorted(publishes.items()):
        print(f"| publish → receive on n0 | {ack} | {spread(results, 'published_per_s')} | {spaced(median(results, 'p50_us'))} | "
              f"{spaced(median(results, 'p99_us'))} | {tenths(median(results, 'node_us'))} | {tenths(median(results, 'master_us'))} | "
              f"{tenths(median(results, 'replica_us'))} | {per_wait(results)} | "
              f"{sum(r['lost'] for r in results)}, {sum(r['refused'] for r in results)} |")
    print()
    per_node = args.subscribers // args.nodes
    print(f"| fan-out 1 → {args.nodes} × {per_node}, 64 B, {args.nodes} nodes | redis-ack-replicas | deliveries/s | p50 µs | p99 µs | "
          f"node µs per publish | master µs | replica µs | publishes per WAIT | lost, refused |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (rate, ack), results in sorted(fanout.items(), key=lambda item: (item[0][0] or 0, item[0][1])):
        print(f"| {'closed loop' if rate is None else f'open loop {rate:g} msg/s'} | {ack} | {spread(results, 'deliveries_per_s')} | "
              f"{spaced(median(results, 'p50_us'))} | {spaced(median(results, 'p99_us'))} | {tenths(median(results, 'node_us'))} | "
              f"{tenths(median(results, 'master_us'))} | {tenths(median(results, 'replica_us'))} | {per_wait(results)} | "
              f"{sum(r['lost'] for r in results)}, {sum(r['refused'] for r in results)} |")
    print()
    print(f"| ack 1 − ack 0, paired by round (median of {args.rounds}) | p50 µs | p99 µs | node µs per publish | master µs | replica µs | "
          f"master, replica µs per WAIT | rounds with master µs up |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    cases = [(f"acked, {c} × {w} in flight", acked[(c, w, 0)], acked[(c, w, 1)]) for c, w in loads]
    cases.append(("publish → receive (`bench fanout`, 1 subscriber)", publishes[0], publishes[1]))
    cases += [(f"fan-out {'closed loop' if rate is None else f'open loop {rate:g} msg/s'}", fanout[(rate, 0)], fanout[(rate, 1)])
              for rate in rates]
    for name, off, on in cases:
        delta = lambda field: statistics.median(b[field] - a[field] for a, b in zip(off, on))
        waits = median(on, "per_wait")
        up = sum(b["master_us"] > a["master_us"] for a, b in zip(off, on))
        signed = lambda value: ("+" if value > 0 else "") + spaced(value)
        print(f"| {name} | {signed(delta('p50_us'))} | {signed(delta('p99_us'))} | {delta('node_us'):+.1f} | {delta('master_us'):+.1f} | "
              f"{delta('replica_us'):+.1f} | {spaced(delta('master_us') * waits)}, {spaced(delta('replica_us') * waits)} | "
              f"{up} of {len(on)} |")
    everything = [r for results in (*acked.values(), *publishes.values(), *fanout.values()) for r in results]
    print_others_on_server_core(everything, args.server_cpu)


def print_others_on_server_core(results: list[dict], core: int) -> None:
    """How busy other processes (and steal) kept the server's core over the runs: the noise to read the figures against."""
    busy = [r["others_on_server_core"] for r in results if r.get("others_on_server_core") is not None]
    print()
    print(f"Other processes + steal on the server core (core {core}): median "
          f"{statistics.median(busy):.2f} s/s ({min(busy):.2f}–{max(busy):.2f}).")


if __name__ == "__main__":
    main()
