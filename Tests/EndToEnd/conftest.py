"""Fixtures for end-to-end tests of the real `switchboard` binary.

The binary path comes from SWITCHBOARD_BIN (scripts/test.sh sets it to the debug build).
Every server runs on 127.0.0.1 with a free port and is stopped after its test.
"""
import binascii
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

import pytest

BIN = os.environ.get("SWITCHBOARD_BIN", ".build/debug/switchboard")


def pubsub_name(channel: str, prefix: str = "switchboard", partitions: int = 64) -> str:
    """A channel's Redis pub/sub name, `<prefix>:{<partition>}{<channel>}` (ClusterKeys.swift):
    the partition is the channel's Redis Cluster slot (CRC16-XMODEM mod 16384) mod `partitions`."""
    return f"{prefix}:{{{(binascii.crc_hqx(channel.encode(), 0) % 16384) % partitions}}}{{{channel}}}"


def channel_key(channel: str, part: str, prefix: str = "switchboard") -> str:
    """One of a channel's Redis keys (`seq`, `history`, `members`, …)."""
    return f"{pubsub_name(channel, prefix)}:{part}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *args: str, env: dict | None = None, ready_scheme: str = "http", ready_cafile: str | None = None, port: int | None = None):
        self.port = port or free_port()
        self.ready_scheme = ready_scheme
        self.ready_context = ssl.create_default_context(cafile=ready_cafile) if ready_cafile else None
        self.args = [BIN, "serve", "--port", str(self.port), "--stats-interval", "0", *args]
        self.env = {**os.environ, **(env or {})}
        # Logs go to a file, never to an unread pipe: a full pipe would block the server's logging.
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=self.log, env=self.env, text=True)
        self._wait_ready()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def _wait_ready(self) -> None:
        for _ in range(600):
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early: {self.logs()}")
            try:
                with urllib.request.urlopen(f"{self.ready_scheme}://127.0.0.1:{self.port}/healthz", timeout=1, context=self.ready_context) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def terminate(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode, self.logs()

    def logs(self) -> str:
        """Everything the server has logged so far."""
        self.log.seek(0)
        return self.log.read()


@pytest.fixture
def server():
    servers: list[Server] = []

    def start(*args: str, env: dict | None = None, **options) -> Server:
        s = Server(*args, env=env, **options)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.terminate()


class Redis:
    """A real redis-server on a free loopback port in a temporary directory, without persistence;
    killed by pid. `start` again brings it back empty on the same port."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="switchboard-redis-")
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.02)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cli(self, *args: str) -> str:
        """One command through redis-cli; its output."""
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=30).stdout.strip()


def stop_processes(procs, directory: str) -> None:
    """Kills the processes still running of a test's Redis setup, then removes its directory."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def redis():
    r = Redis()
    yield r
    r.kill()
    shutil.rmtree(r.dir, ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
    """Prints the server figures the abuse cases recorded."""
    from test_abuse import RECORDS

    if RECORDS:
        terminalreporter.section("server RSS and open fds around each abuse case")
        for line in RECORDS:
            terminalreporter.write_line(line)
