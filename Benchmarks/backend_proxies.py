#!/usr/bin/env python3
"""What asking the application's backend costs (issue 32), in one invocation, each case
alternated within every round:

  churn        `bench churn` (connect -> welcome -> subscribe -> subscribed -> close) without a
               proxy, and with the connect proxy (every connection asks the backend who it is)
  publish      `bench fanout --subscribers 1` (closed loop): publishes per second and server
               CPU-microseconds per publish, without and with the publish proxy on the channel
  idle         `bench idle`: server bytes per connection with JWTs without `exp` and with an
               `exp` an hour ahead (an expiring connection keeps its timer)

The hub is pinned to core 0; the load generator and the backend (Benchmarks/proxy_backend.js,
Node's http module) share core 1. Server CPU is utime+stime from /proc/PID/stat over the run.

  python3 Benchmarks/backend_proxies.py --switchboard .build-release/release/switchboard [--rounds 2]
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import jwt

SECRET = "bench-secret-0123456789abcdef-0123456789"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Hub:
    def __init__(self, binary: str, *args: str):
        self.port = free_port()
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            ["taskset", "-c", "0", binary, "serve", "--headless", "--port", str(self.port), "--stats-interval", "0",
             "--log-level", "warning", "--publish-rate", "0", *args],
            stdout=subprocess.DEVNULL, stderr=self.log)
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        self.log.seek(0)
        raise RuntimeError(f"hub did not start: {self.log.read()}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def bench(binary: str, *args: str) -> dict:
    out = subprocess.run(["taskset", "-c", "1", binary, "bench", *args, "--json"], capture_output=True, text=True, timeout=600)
    if not out.stdout.strip():
        raise RuntimeError(f"bench {args[0]} produced no result: {out.stderr[-500:]}")
    return json.loads(out.stdout)


def run_case(binary: str, case: str, backend: int, duration: float, connections: int) -> dict:
    proxy = f"http://127.0.0.1:{backend}"
    config = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    config.write('[[channels]]\npattern = "bench"\nproxy_publish = true\n')
    config.close()
    hub_args = {
        "churn-plain": [],
        "churn-connect-proxy": ["--proxy-connect-url", f"{proxy}/connect"],
        "publish-plain": [],
        "publish-proxy": ["--proxy-publish-url", f"{proxy}/publish", "--config", config.name],
        "idle-jwt": ["--auth-jwt-secret", SECRET],
        "idle-jwt-expiring": ["--auth-jwt-secret", SECRET],
    }[case]
    hub = Hub(binary, *hub_args)
    try:
        url = f"ws://127.0.0.1:{hub.port}/ws"
        before = cpu_seconds(hub.proc.pid)
        if case.startswith("churn"):
            result = bench(binary, "churn", "--url", url, "--workers", "32", "--duration", str(duration))
            cpu = cpu_seconds(hub.proc.pid) - before
            return {"case": case, "per_second": result["cyclesPerSecond"], "cpu_us_each": cpu * 1e6 / max(1, result["cycles"]),
                    "p99_ms": result["latencyMicroseconds"]["p99"] / 1000, "failures": result["failures"]}
        if case.startswith("publish"):
            result = bench(binary, "fanout", "--url", url, "--subscribers", "1", "--size", "64", "--duration", str(duration))
            cpu = cpu_seconds(hub.proc.pid) - before
            return {"case": case, "per_second": result["deliveriesPerSecond"], "cpu_us_each": cpu * 1e6 / max(1, result["published"]),
                    "p99_ms": result["latencyMicroseconds"]["p99"] / 1000, "failures": result["lost"] + result["refused"]}
        claims = {"sub": "bench"} if case == "idle-jwt" else {"sub": "bench", "exp": int(time.time()) + 3600}
        token = jwt.encode(claims, SECRET, algorithm="HS256")
        result = bench(binary, "idle", "--url", f"{url}?token={token}", "--connections", str(connections), "--server-pid", str(hub.proc.pid))
        return {"case": case, "per_second": result["connectsPerSecond"], "bytes_per_connection": result["serverBytesPerConnection"],
                "failures": result["failed"]}
    finally:
        hub.stop()
        os.unlink(config.name)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--switchboard", default=os.path.join(ROOT, ".build-release/release/switchboard"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--cases", default="churn-plain,churn-connect-proxy,publish-plain,publish-proxy,idle-jwt,idle-jwt-expiring")
    options = parser.parse_args()
    cases = options.cases.split(",")
    backend_port = free_port()
    backend = subprocess.Popen(["taskset", "-c", "1", "node", os.path.join(ROOT, "Benchmarks/proxy_backend.js"), str(backend_port)],
                               stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    runs: dict[str, list[dict]] = {case: [] for case in cases}
    try:
        for round_ in range(options.rounds):
            order = cases[round_ % len(cases):] + cases[:round_ % len(cases)]
            for case in order:
                result = run_case(options.switchboard, case, backend_port, options.duration, options.connections)
                print(json.dumps(result), file=sys.stderr)
                runs[case].append(result)
    finally:
        backend.terminate()
    print("| case | per second (median) | server CPU µs each | p99 ms | bytes per connection | failures |")
    print("| --- | --- | --- | --- | --- | --- |")
    for case, results in runs.items():
        def median(key):
            values = [r[key] for r in results if r.get(key) is not None]
            return statistics.median(values) if values else None
        figures = [median("per_second"), median("cpu_us_each"), median("p99_ms"), median("bytes_per_connection")]
        shown = [f"{v:,.1f}" if v is not None else "-" for v in figures]
        print(f"| {case} | {' | '.join(shown)} | {sum(r['failures'] for r in results)} |")


if __name__ == "__main__":
    main()
