"""Fixtures for end-to-end tests of the real `switchboard` binary.

The binary path comes from SWITCHBOARD_BIN (scripts/test.sh sets it to the debug build).
Every server runs on 127.0.0.1 with a free port and is stopped after its test.
"""
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

BIN = os.environ.get("SWITCHBOARD_BIN", ".build/debug/switchboard")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *args: str, env: dict | None = None):
        self.port = free_port()
        self.args = [BIN, "serve", "--port", str(self.port), "--stats-interval", "0", *args]
        self.env = {**os.environ, **(env or {})}
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env, text=True)
        self._wait_ready()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def _wait_ready(self) -> None:
        for _ in range(600):
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early: {self.proc.stderr.read()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def terminate(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err


@pytest.fixture
def server():
    servers: list[Server] = []

    def start(*args: str, env: dict | None = None) -> Server:
        s = Server(*args, env=env)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.terminate()
