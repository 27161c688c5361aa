"""The control plane through the binary: CLI verbs against a live server, /metrics parsed by a
real Prometheus text parser, the token never logged."""
import asyncio
import json
import subprocess
import urllib.error
import urllib.request

import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from conftest import BIN

TOKEN = "e2e-admin-token-0123456789abcdef"


def verb(s, *args, token=TOKEN):
    command = [BIN, *args, "--server", f"http://127.0.0.1:{s.port}"]
    if token is not None:
        command += ["--token", token]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_cli_verbs_against_a_live_server(server):
    s = server("--admin-token", TOKEN)

    async def scenario():
        async with websockets.connect(s.url) as a, websockets.connect(s.url) as b:
            welcome_a = json.loads(await a.recv())
            await b.recv()
            await a.send('{"type":"subscribe","channel":"alerts"}')
            await a.recv()

            stats = verb(s, "stats", "--json")
            assert stats.returncode == 0, stats.stderr
            assert json.loads(stats.stdout)["totals"]["connections"] == 2
            human = verb(s, "stats")
            assert "connections    2" in human.stdout

            clients = verb(s, "clients", "--json", "--channel", "alerts")
            assert [row["id"] for row in json.loads(clients.stdout)["rows"]] == [welcome_a["client"]]
            assert welcome_a["client"] in verb(s, "clients").stdout
            assert "alerts" in verb(s, "channels").stdout
            assert "hub-shard" in verb(s, "actors").stdout
            assert "connect" in verb(s, "events").stdout

            broadcast = verb(s, "broadcast", "disk almost full")
            assert broadcast.stdout.strip() == "reached 2 clients"
            for ws in (a, b):
                assert json.loads(await ws.recv()) == {"type": "broadcast", "data": "disk almost full", "from": "operator"}

            published = verb(s, "publish", "alerts", '{"level":"warn"}')
            assert published.returncode == 0 and "seq 1" in published.stdout
            message = json.loads(await a.recv())
            assert message["data"] == {"level": "warn"} and message["from"] == "api"
            bad = verb(s, "publish", "alerts", "{not json")
            assert bad.returncode != 0

            kicked = verb(s, "kick", welcome_a["client"], "--reason", "cli says bye")
            assert kicked.stdout.strip() == "kicked 1 client(s)"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await a.recv()
            assert closed.value.rcvd.code == 4000 and closed.value.rcvd.reason == "cli says bye"

            missing = verb(s, "kick", "nobody")
            assert missing.returncode == 1 and "no client nobody" in missing.stderr

            everyone = verb(s, "kick", "--all", "--reconnect")
            assert everyone.stdout.strip() == "kicked 1 client(s)"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await b.recv()
            assert closed.value.rcvd.code == 4200

    asyncio.run(asyncio.wait_for(scenario(), timeout=120))
    code, stderr = s.terminate()
    assert code == 0
    assert TOKEN not in stderr, "the admin token must never be logged"


def test_cli_errors_are_one_line_and_non_zero(server):
    s = server("--admin-token", TOKEN)
    wrong = verb(s, "stats", token="wrong-token-wrong-token")
    assert wrong.returncode == 1
    assert wrong.stderr.count("\n") == 1 and "401" in wrong.stderr
    down = subprocess.run([BIN, "stats", "--server", "http://127.0.0.1:9", "--token", TOKEN], capture_output=True, text=True, timeout=60)
    assert down.returncode == 1 and "cannot reach" in down.stderr


def test_generated_token_is_written_0600_and_found_by_the_cli(server, tmp_path):
    s = server(env={"XDG_RUNTIME_DIR": str(tmp_path)})
    token_file = tmp_path / "switchboard" / f"{s.port}.token"
    assert token_file.exists()
    assert (token_file.stat().st_mode & 0o777) == 0o600
    result = subprocess.run([BIN, "stats", "--server", f"http://127.0.0.1:{s.port}"], capture_output=True, text=True,
                            timeout=60, env={"XDG_RUNTIME_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    code, stderr = s.terminate()
    assert token_file.read_text().strip() not in stderr


def test_metrics_parse_with_prometheus_client(server):
    s = server("--admin-token", TOKEN)
    request = urllib.request.Request(f"http://127.0.0.1:{s.port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    async def traffic():
        async with websockets.connect(s.url) as a:
            await a.recv()
            await a.send('{"type":"subscribe","channel":"m"}')
            await a.recv()
            await a.send('{"type":"publish","channel":"m","data":1}')
            await a.recv()

    asyncio.run(traffic())
    with urllib.request.urlopen(request) as response:
        text = response.read().decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    for name in ["switchboard_connections", "switchboard_messages_in", "switchboard_deliveries", "switchboard_published",
                 "switchboard_mailbox_depth", "switchboard_actor_restarts", "switchboard_publish_latency_seconds"]:
        assert name in families, name
    published = next(sample for sample in families["switchboard_published"].samples if sample.name == "switchboard_published_total")
    assert published.value == 1
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{s.port}/metrics")
    assert refused.value.code == 401


def test_metrics_public_flag_opens_only_metrics(server):
    s = server("--admin-token", TOKEN, "--metrics-public")
    with urllib.request.urlopen(f"http://127.0.0.1:{s.port}/metrics") as response:
        assert response.status == 200
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{s.port}/api/stats")
    assert refused.value.code == 401
