"""The load generator against the real server: it runs, counts and reports (never timing asserts)."""
import json
import subprocess

from conftest import BIN


def bench(*args: str) -> dict:
    done = subprocess.run([BIN, "bench", *args, "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_bench_fanout_delivers_everything(server):
    s = server()
    result = bench("fanout", "--url", s.url, "--subscribers", "20", "--duration", "1")
    assert result["deliveries"] == result["expectedDeliveries"] > 0
    assert result["lost"] == 0 and result["closedSubscribers"] == 0


def test_bench_echo_checks_every_echo_and_reads_server_cpu(server):
    s = server("--echo-route", "/echo")
    result = bench("echo", "--url", f"ws://127.0.0.1:{s.port}/echo", "--connections", "5", "--in-flight", "4",
                   "--size", "100", "--duration", "1", "--server-pid", str(s.proc.pid))
    assert result["messages"] > 0 and result["mismatched"] == 0 and result["closedConnections"] == 0
    assert result["serverCPUSeconds"] > 0
    assert result["latencyMicroseconds"]["count"] == result["messages"]


def test_bench_echo_against_a_path_without_echo_fails_cleanly(server):
    s = server()
    done = subprocess.run([BIN, "bench", "echo", "--url", f"ws://127.0.0.1:{s.port}/echo", "--duration", "1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "404" in done.stderr


def test_bench_churn_cycles_without_failures(server):
    s = server()
    result = bench("churn", "--url", s.url, "--workers", "8", "--duration", "1")
    assert result["cycles"] > 0 and result["failures"] == 0
    assert result["latencyMicroseconds"]["count"] == result["cycles"]
