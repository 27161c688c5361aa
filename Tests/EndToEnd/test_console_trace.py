"""The console's trace pane as an operator uses it, in tmux: `t` on a client shows its deliveries
while a publisher runs, `p` holds the lines, Esc ends the trace (and the server's trace count
goes back to 0); `:trace channel NAME` follows a channel; a refused trace says why in one line."""
import json
import shutil
import threading
import time
import urllib.request

import pytest
from websockets.sync.client import connect

from conftest import BIN, Server, free_port
from test_cluster import wait_until
from test_console import Client, wait_listening
from tmux import Tmux

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

TOKEN = "console-trace-token-0123456789"


def stats(port: int) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/stats", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class Publisher:
    """Publishes `{"n": …}` to a channel every 50 ms until stopped, from its own connection."""

    def __init__(self, port: int, channel: str):
        self.client = Client(f"ws://127.0.0.1:{port}/ws")
        self.channel = channel
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        n = 0
        while self.running:
            self.client.send(json.dumps({"type": "publish", "channel": self.channel, "data": {"n": n}}))
            n += 1
            time.sleep(0.05)

    def stop(self):
        self.running = False
        self.thread.join(5)
        self.client.stop()


def trace_a_client(term: Tmux, port: int):
    wait_listening(port)
    subscriber = Client(f"ws://127.0.0.1:{port}/ws")
    subscriber.send('{"type":"subscribe","channel":"ticks"}')
    assert subscriber.recv()["type"] == "subscribed"
    client_id = subscriber.welcome["client"]
    publisher = Publisher(port, "ticks")
    try:
        # Select the subscriber (filter on its id), then trace it.
        term.wait_for(lambda s: client_id in s, "the subscriber's row")
        term.keys("/")
        term.type(client_id)
        term.keys("Enter")
        term.wait_for(lambda s: f"filter: {client_id}" in s, "the filter")
        term.keys("t")
        screen = term.wait_for(lambda s: f"Trace client {client_id}" in s and "delivery" in s and "#ticks" in s, "deliveries in the trace")
        assert stats(port)["totals"]["traces"] == 1
        # p holds what is on screen while lines keep arriving.
        term.keys("p")
        term.wait_for(lambda s: "paused" in s, "the trace paused")
        term.keys("p")
        term.wait_for(lambda s: "trace resumed" in s, "the trace resumed")
        term.keys("Escape")
        term.wait_for(lambda s: "trace stopped" in s and f"Trace client {client_id}" not in s, "the trace pane closed")
        wait_until(lambda: stats(port)["totals"]["traces"] == 0, "the server's trace count back to 0")
        # A channel trace, by command.
        term.keys(":")
        term.type("trace channel ticks")
        term.keys("Enter")
        term.wait_for(lambda s: "Trace channel ticks" in s and "publish" in s, "the channel's publications")
        term.keys("Escape")
        wait_until(lambda: stats(port)["totals"]["traces"] == 0, "the channel trace to end")
        assert screen
    finally:
        publisher.stop()
        subscriber.stop()


def test_attached_console_traces_a_client_and_a_channel():
    server = Server("--admin-token", TOKEN)
    term = Tmux(f"{BIN} attach http://127.0.0.1:{server.port} --token {TOKEN}")
    try:
        term.wait_text("switchboard")
        trace_a_client(term, server.port)
        term.keys("q")
        term.wait_text("EXIT=0")
    finally:
        term.close()
        server.terminate()


def test_local_console_traces_a_client(tmp_path):
    port = free_port()
    term = Tmux(f"{BIN} serve --port {port} --admin-token {TOKEN} --stats-interval 0 --log-file {tmp_path / 'log.txt'}")
    try:
        term.wait_text("switchboard")
        trace_a_client(term, port)
        term.keys("q")
        term.wait_for(lambda s: "y yes" in s, "the stop-the-server question")
        term.keys("y")
        term.wait_text("EXIT=0")
    finally:
        term.close()


def test_a_trace_over_max_traces_is_refused_in_one_line():
    server = Server("--admin-token", TOKEN, "--max-traces", "1")
    term = None
    # One trace holds the only place.
    url = f"ws://127.0.0.1:{server.port}/admin/trace?channel=elsewhere"
    try:
        with connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as held:
            assert json.loads(held.recv(timeout=30))["type"] == "trace_started"
            term = Tmux(f"{BIN} attach http://127.0.0.1:{server.port} --token {TOKEN}")
            term.wait_text("switchboard")
            term.keys(":")
            term.type("trace channel news")
            term.keys("Enter")
            term.wait_for(lambda s: "trace channel news refused" in s and "max-traces 1" in s, "the refusal on the status line")
            term.keys("q")
            term.wait_text("EXIT=0")
    finally:
        if term:
            term.close()
        server.terminate()
