"""Recorded sessions: record an attached (and a local) console, then replay it in tmux, dump a
moment as text, and open damaged, newer and foreign files. No wall-clock thresholds: every wait
is for a condition, with a deadline."""
import contextlib
import gzip
import json
import re
import shutil
import subprocess
import time
import zlib

import pytest

from conftest import BIN, Server, free_port
from native_client import native
from tmux import Tmux

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

TOKEN = "replay-test-token-0123456789"
REFUSAL = "replay: operator actions are not available"


def recorded_lines(path) -> list[dict]:
    """The whole lines of a recording so far (a recorder still running has no trailer yet)."""
    data = zlib.decompressobj(31).decompress(path.read_bytes())
    return [json.loads(line) for line in data.split(b"\n")[:-1]]


def snapshots(lines: list[dict]) -> list[dict]:
    return [line["snapshot"] for line in lines if "snapshot" in line]


def wait_until(condition, what: str, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def replay(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BIN, "replay", *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """An attached console recorded while 3 clients, then 5, were connected: several beats of each."""
    path = tmp_path_factory.mktemp("recording") / "session.jsonl.gz"
    server = Server("--admin-token", TOKEN)
    term = Tmux(f"{BIN} attach http://127.0.0.1:{server.port} --token {TOKEN} --record {path}")
    try:
        with contextlib.ExitStack() as stack:
            for _ in range(3):
                native(stack, server)
            term.wait_text("3 conns")
            wait_until(lambda: sum(s["totals"]["connections"] == 3 for s in snapshots(recorded_lines(path))) >= 4, "beats with 3 clients")
            for _ in range(2):
                native(stack, server)
            term.wait_text("5 conns")
            wait_until(lambda: sum(s["totals"]["connections"] == 5 for s in snapshots(recorded_lines(path))) >= 4, "beats with 5 clients")
            term.keys("q")
            term.wait_text("EXIT=0")
    finally:
        term.close()
        server.terminate()
    return path


def test_the_recording_is_gzip_json_lines(recording):
    lines = [json.loads(line) for line in gzip.decompress(recording.read_bytes()).splitlines()]  # a whole gzip stream
    header = lines[0]
    assert header["type"] == "recording" and header["format"] == 1 and header["server"].startswith("http://127.0.0.1:")
    assert "started" in header
    assert all("t" in line for line in lines[1:])
    events = [line["event"] for line in lines if "event" in line]
    sequences = [event["sequence"] for event in events]
    assert sequences == sorted(set(sequences))  # each event once
    assert sum(event["kind"] == "connect" for event in events) >= 5
    assert subprocess.run(["gzip", "-t", str(recording)]).returncode == 0


def test_replay_plays_pauses_steps_and_refuses_actions(recording):
    term = Tmux(f"{BIN} replay {recording}")
    try:
        term.wait_text("replay")
        screen = term.wait_text("3 conns")
        assert "playing" in screen.splitlines()[0]
        term.keys("Space")
        term.wait_for(lambda s: "paused" in s.splitlines()[0], "paused")
        term.keys("G")
        screen = term.wait_text("5 conns")
        beats = re.search(r"beat (\d+)/(\d+)", screen)
        assert beats and beats.group(1) == beats.group(2)
        term.keys("g")
        term.wait_for(lambda s: "3 conns" in s and "beat 1/" in s, "the first beat")
        term.keys("Right")
        term.wait_text("beat 2/")
        term.keys("Right", "Right")
        term.wait_text("beat 4/")
        term.keys("Left")
        term.wait_text("beat 3/")
        term.keys("]")  # a minute on: past the end of this short recording, the last beat
        term.wait_text("5 conns")
        term.keys("[")
        term.wait_text("3 conns")
        term.keys("K")
        term.wait_text(REFUSAL)
        # Panes and details work as live: Enter on the first client opens its details.
        term.keys("Enter")
        term.wait_text("Client ")
        term.keys("Escape")
        term.keys("q")
        term.wait_text("EXIT=0")
    finally:
        term.close()


def test_dump_prints_a_moment_as_text(recording):
    first = replay(recording, "--dump", "--at", "+0s")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert len(lines) == 40 and all(len(line) <= 120 * 4 for line in lines)
    assert "replay" in lines[0] and "3 conns" in lines[0]
    last = replay(recording, "--dump")  # the last moment
    assert "5 conns" in last.stdout.splitlines()[0]
    # A UTC time of day of the recording's last beat, and a full ISO time.
    times = [line["t"] for line in recorded_lines(recording) if "snapshot" in line]
    assert "5 conns" in replay(recording, "--dump", "--at", times[-1][11:19]).stdout
    assert "3 conns" in replay(recording, "--dump", "--at", times[0]).stdout
    small = replay(recording, "--dump", "--size", "80x24", "--ascii")
    assert len(small.stdout.splitlines()) == 24 and small.stdout.isascii()
    for bad in ["yesterday", "+2x", "25:00:00"]:
        refused = replay(recording, "--dump", "--at", bad)
        assert refused.returncode == 2
        assert len(refused.stderr.strip().splitlines()) == 1 and "bad time" in refused.stderr


def test_a_truncated_recording_opens_up_to_the_damage(recording, tmp_path):
    whole = recording.read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) - len(whole) // 4])
    dumped = replay(cut, "--dump")
    assert dumped.returncode == 0
    assert re.search(r"recording damaged after \d\d:\d\d:\d\d \(line \d+\): ", dumped.stderr), dumped.stderr
    assert "replay" in dumped.stdout.splitlines()[0]
    term = Tmux(f"{BIN} replay {cut}")
    try:
        term.wait_text("recording damaged after")
        term.keys("q")
        term.wait_text("EXIT=0")
    finally:
        term.close()


def test_newer_formats_and_other_files_are_refused(tmp_path):
    newer = tmp_path / "newer.jsonl.gz"
    newer.write_bytes(gzip.compress(b'{"type":"recording","format":2,"server":"x","started":"2026-12-07T03:00:00Z"}\n'))
    refused = replay(newer, "--dump")
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1 and "format 2" in refused.stderr
    for name, content in [("text.txt", b"hello\n"), ("other.gz", gzip.compress(b'{"type":"something"}\n'))]:
        other = tmp_path / name
        other.write_bytes(content)
        refused = replay(other, "--dump")
        assert refused.returncode == 2
        assert len(refused.stderr.strip().splitlines()) == 1 and "not a Switchboard recording" in refused.stderr
    missing = replay(tmp_path / "missing.gz", "--dump")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_the_local_console_records_too(tmp_path):
    path = tmp_path / "local.jsonl.gz"
    port = free_port()
    term = Tmux(f"{BIN} serve --port {port} --admin-token {TOKEN} --stats-interval 0 --log-file {tmp_path / 'log.txt'} --record {path}")
    try:
        term.wait_text("switchboard")
        wait_until(lambda: subprocess.run(["bash", "-c", f"echo > /dev/tcp/127.0.0.1/{port}"], capture_output=True).returncode == 0, "the server")
        with contextlib.ExitStack() as stack:
            native(stack, type("Local", (), {"url": f"ws://127.0.0.1:{port}/ws"}))
            term.wait_text("1 conn ")
            wait_until(lambda: any(s["totals"]["connections"] == 1 for s in snapshots(recorded_lines(path))), "a beat with the client")
        term.keys("q")
        term.wait_for(lambda s: "y yes" in s, "the stop-the-server question")
        term.keys("y")
        term.wait_text("EXIT=0")
    finally:
        term.close()
    assert subprocess.run(["gzip", "-t", str(path)]).returncode == 0
    header = recorded_lines(path)[0]
    assert header["type"] == "recording" and header["server"].endswith("(local)")
    with_client = next(line["t"] for line in recorded_lines(path) if "snapshot" in line and line["snapshot"]["totals"]["connections"] == 1)
    dumped = replay(path, "--dump", "--at", with_client)
    assert dumped.returncode == 0 and "1 conn " in dumped.stdout.splitlines()[0]


def test_recording_needs_the_console_and_a_sane_size(tmp_path):
    headless = subprocess.run([BIN, "serve", "--headless", "--port", str(free_port()), "--record", str(tmp_path / "x.gz")],
                              capture_output=True, text=True, timeout=60)
    assert headless.returncode == 2 and len(headless.stderr.strip().splitlines()) == 1 and "--record" in headless.stderr
    term = Tmux(f"{BIN} serve --port {free_port()} --record {tmp_path / 'y.gz'} --record-max-size 1KiB")
    try:
        screen = term.wait_text("EXIT=2")
        assert "--record-max-size must be a size of at least 64KiB" in screen.replace("\n", "")
    finally:
        term.close()
