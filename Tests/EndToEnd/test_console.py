"""The operator console as a person uses it: in tmux, with real clients, local and attached."""
import asyncio
import json
import shutil
import threading

import pytest
import websockets

from conftest import BIN, Server, free_port
from tmux import Tmux

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

TOKEN = "console-test-token-0123456789"


class Client:
    """A websockets client on its own event loop thread, so the test can type while it listens."""

    def __init__(self, url: str):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        async def connect():
            return await websockets.connect(url, user_agent_header="console-e2e")
        self.ws = self.call(connect())
        self.welcome = json.loads(self.call(self.ws.recv()))

    def call(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def send(self, text: str):
        self.call(self.ws.send(text))

    def recv(self, timeout=30):
        return json.loads(self.call(self.ws.recv(), timeout))

    def close_code(self, timeout=30):
        async def wait():
            try:
                while True:
                    await self.ws.recv()
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None, closed.rcvd.reason if closed.rcvd else ""
        return self.call(wait(), timeout)

    def stop(self):
        try:
            self.call(self.ws.close(), 5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)


def wait_listening(port: int, timeout: float = 60):
    """Waits until the server accepts TCP connections (the console may draw before it listens)."""
    import socket
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def kick_selected(term: Tmux, reason: str):
    """Kicks the selected client the way an operator does: K, a reason, Enter, y."""
    term.keys("K")
    term.wait_for(lambda s: "eason" in s, "the kick reason prompt")
    term.type(reason)
    term.keys("Enter")
    term.wait_for(lambda s: "y yes" in s, "the kick confirmation")
    term.keys("y")


def exercise(term: Tmux, port: int):
    """Connection count and row, broadcast with keys, kick with keys, resize."""
    wait_listening(port)
    client = Client(f"ws://127.0.0.1:{port}/ws")
    try:
        client.send('{"type":"subscribe","channel":"lobby"}')
        assert client.recv()["type"] == "subscribed"
        client_id = client.welcome["client"]
        term.wait_for(lambda s: "1 conn" in s and client_id in s, "the connection count and the client row")

        term.keys("b")
        term.wait_for(lambda s: "roadcast" in s, "the broadcast prompt")
        term.type("hello from the console")
        term.keys("Enter")
        message = client.recv()
        assert message == {"type": "broadcast", "data": "hello from the console", "from": "operator"}

        kick_selected(term, "bye 東京")
        code, reason = client.close_code()
        assert code == 4000 and reason == "bye 東京"
        # The kick reaches the event pane with its wide characters intact.
        term.wait_for(lambda s: "0 conns" in s and "bye 東京" in s, "the count to drop and the kick event")

        term.resize(80, 24)
        screen = term.wait_for(lambda s: "switchboard" in s and max(len(line) for line in s.splitlines()) <= 80, "the 80x24 layout")
        assert len(screen.splitlines()) <= 24
        term.resize(160, 50)
        size = term.run("display", "-p", "-t", "s", "#{window_width}x#{window_height}").strip()
        term.wait_for(lambda s: max(len(line.rstrip()) for line in s.splitlines()) > 80, f"the wide layout (tmux says {size})")
    finally:
        client.stop()


def test_local_console(tmp_path):
    port = free_port()
    term = Tmux(f"{BIN} serve --port {port} --admin-token {TOKEN} --stats-interval 0 --log-file {tmp_path / 'log.txt'}")
    try:
        term.wait_text("switchboard")
        exercise(term, port)
        term.keys("q")
        term.wait_for(lambda s: "y yes" in s, "the stop-the-server question")
        term.keys("y")
        term.wait_text("EXIT=0")
        assert not term.alternate_screen_on(), "the terminal must be restored"
        log = (tmp_path / "log.txt").read_text()
        assert "client connected" in log and TOKEN not in log
    finally:
        term.close()


def test_attached_console():
    server = Server("--admin-token", TOKEN)
    term = Tmux(f"{BIN} attach http://127.0.0.1:{server.port} --token {TOKEN}")
    try:
        term.wait_text("switchboard")
        exercise(term, server.port)
        term.keys("q")
        term.wait_text("EXIT=0")
        assert not term.alternate_screen_on()
    finally:
        term.close()
        code, _ = server.terminate()
        assert code == 0


def test_sigterm_restores_the_terminal():
    port = free_port()
    term = Tmux(f"{BIN} serve --port {port} --admin-token {TOKEN} --stats-interval 0")
    try:
        term.wait_text("switchboard")
        pid = term.run("display", "-p", "-t", "s", "#{pane_pid}").strip()
        import subprocess
        subprocess.run(["pkill", "-TERM", "-P", pid], check=False)
        term.wait_text("EXIT=0")
        assert not term.alternate_screen_on()
    finally:
        term.close()


def test_bad_theme_is_a_clear_error(tmp_path):
    theme = tmp_path / "broken.theme"
    theme.write_text("# a theme\nheader = cyan\nnot-a-role = red\n")
    import subprocess
    # Needs a terminal to get as far as the console: run it in tmux.
    term = Tmux(f"{BIN} serve --port {free_port()} --theme {theme}")
    try:
        screen = term.wait_text("EXIT=2")
        assert f"{theme}:3" in screen.replace("\n", "") or f"{theme}:3" in screen
    finally:
        term.close()


def test_console_shows_pusher_clients_and_kicks_them_the_pusher_way(tmp_path):
    import hashlib
    import hmac
    from websockets.sync.client import connect

    app_id, key, secret = "4242", "console-key", "console-secret-0123456789"
    port = free_port()
    term = Tmux(
        f"{BIN} serve --port {port} --admin-token {TOKEN} --stats-interval 0 --pusher-app {app_id}:{key}:{secret} --log-file {tmp_path / 'log.txt'}"
    )
    try:
        term.wait_text("switchboard")
        wait_listening(port)
        with connect(f"ws://127.0.0.1:{port}/app/{key}?protocol=7", open_timeout=30) as ws:
            socket_id = json.loads(json.loads(ws.recv(timeout=30))["data"])["socket_id"]
            data = json.dumps({"user_id": "zoe"})
            signature = hmac.new(secret.encode(), f"{socket_id}:presence-lobby:{data}".encode(), hashlib.sha256).hexdigest()
            ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "presence-lobby", "auth": f"{key}:{signature}", "channel_data": data}}))
            assert json.loads(ws.recv(timeout=30))["event"] == "pusher_internal:subscription_succeeded"
            term.wait_for(lambda s: "1 conn" in s and f"P:{app_id}" in s and "zoe" in s, "the Pusher client row with its app and user")
            term.keys("Enter")
            term.wait_for(lambda s: f"socket {socket_id}" in s and f"{app_id}:presence-lobby" in s, "the detail view with socket id and channel")
            term.keys("Escape")
            kick_selected(term, "maintenance")
            error = json.loads(ws.recv(timeout=30))
            assert error == {"event": "pusher:error", "data": {"code": 4009, "message": "maintenance"}}
            try:
                ws.recv(timeout=30)
                raise AssertionError("still open after the kick")
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4009
        term.wait_text("0 conns")
    finally:
        term.close()
