"""History and recovery on one node: a client that resumes with `since` gets exactly what it
missed (or `recovered:false` and no replay at all), history requests and the admin route answer
from the kept messages, and the figures show on /api/stats and /metrics."""
import contextlib
import json
import threading
import time
import urllib.error
import urllib.request

from native_client import TIMEOUT, messages, native, publish_many, until

TOKEN = "history-admin-token-0123456789"


def request(ws, body: dict, id):
    ws.send(json.dumps({**body, "id": id}))
    return until(ws, lambda m: m.get("id") == id)


def admin(s, path: str):
    call = urllib.request.Request(f"http://127.0.0.1:{s.port}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(call, timeout=TIMEOUT) as response:
            body = response.read()
            json_answer = response.headers.get("Content-Type", "").startswith("application/json")
            return response.status, json.loads(body) if json_answer else body.decode()
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_reconnecting_client_gets_exactly_the_500_it_missed(server):
    s = server("--history-size", "1000", "--admin-token", TOKEN)
    with contextlib.ExitStack() as stack:
        first = native(stack, s)
        subscribed = request(first, {"type": "subscribe", "channel": "news"}, 1)
        assert subscribed["type"] == "subscribed" and subscribed["seq"] == 0 and "recovered" not in subscribed
        epoch = subscribed["epoch"]
        publish_many(s, "news", 3)
        seen = messages(first, 3)
        position = {"seq": seen[-1]["seq"], "epoch": epoch}
    assert position["seq"] == 3
    publish_many(s, "news", 500, first=3)
    with contextlib.ExitStack() as stack:
        again = native(stack, s)
        again.send(json.dumps({"type": "subscribe", "channel": "news", "since": position, "id": 2}))
        reply = json.loads(again.recv(timeout=TIMEOUT))
        # Nothing of the subscription arrives before its reply.
        assert reply == {"type": "subscribed", "channel": "news", "id": 2, "recovered": True, "seq": 503, "epoch": epoch}
        replayed = messages(again, 500)
        assert [m["seq"] for m in replayed] == list(range(4, 504))
        assert [m["data"]["n"] for m in replayed] == list(range(3, 503))
        publish_many(s, "news", 1, first=503)
        assert messages(again, 1)[0]["seq"] == 504
    status, stats = admin(s, "/api/stats")
    assert status == 200 and stats["totals"]["recovered"] == 1 and stats["totals"]["not_recovered"] == 0
    status, metrics = admin(s, "/metrics")
    assert "switchboard_recoveries_recovered_total 1" in metrics


def test_too_small_a_history_is_not_recovered_and_replays_nothing(server):
    s = server("--history-size", "100", "--admin-token", TOKEN)
    with contextlib.ExitStack() as stack:
        first = native(stack, s)
        epoch = request(first, {"type": "subscribe", "channel": "news"}, 1)["epoch"]
    publish_many(s, "news", 500)
    with contextlib.ExitStack() as stack:
        again = native(stack, s)
        reply = request(again, {"type": "subscribe", "channel": "news", "since": {"seq": 0, "epoch": epoch}}, 2)
        assert reply["recovered"] is False and reply["seq"] == 500 and reply["epoch"] == epoch
        publish_many(s, "news", 1, first=500)
        # The first message after the reply is the live one: no partial replay.
        assert messages(again, 1)[0]["seq"] == 501
    status, stats = admin(s, "/api/stats")
    assert stats["totals"]["not_recovered"] == 1


def test_a_restarted_server_has_a_new_epoch_and_does_not_recover(server):
    s = server("--history-size", "100")
    with contextlib.ExitStack() as stack:
        ws = native(stack, s)
        epoch = request(ws, {"type": "subscribe", "channel": "news"}, 1)["epoch"]
        publish_many(s, "news", 5)
        messages(ws, 5)
    s.terminate()
    restarted = server("--history-size", "100")
    publish_many(restarted, "news", 2)
    with contextlib.ExitStack() as stack:
        ws = native(stack, restarted)
        reply = request(ws, {"type": "subscribe", "channel": "news", "since": {"seq": 5, "epoch": epoch}}, 2)
        assert reply["recovered"] is False and reply["epoch"] != epoch and reply["seq"] == 2


def test_publishes_racing_the_replay_arrive_once_each_in_order(server):
    s = server("--history-size", "5000")
    publish_many(s, "race", 300)
    done = threading.Event()

    def keep_publishing():
        publish_many(s, "race", 1500, first=300)
        done.set()

    with contextlib.ExitStack() as stack:
        probe = native(stack, s)
        epoch = request(probe, {"type": "subscribe", "channel": "race"}, 1)["epoch"]
        publisher = threading.Thread(target=keep_publishing)
        publisher.start()
        resuming = native(stack, s)
        reply = request(resuming, {"type": "subscribe", "channel": "race", "since": {"seq": 100, "epoch": epoch}}, 2)
        assert reply["recovered"] is True
        publisher.join(timeout=120)
        assert done.is_set()
        received = [m["seq"] for m in messages(resuming, 1800 - 100)]
        assert received == list(range(101, 1801))


def test_history_requests_and_the_admin_route(server):
    s = server("--history-size", "50", "--admin-token", TOKEN)
    publish_many(s, "news", 60)
    with contextlib.ExitStack() as stack:
        ws = native(stack, s)
        latest = request(ws, {"type": "history", "channel": "news", "limit": 3}, "h1")
        assert latest["type"] == "history" and latest["seq"] == 60 and [m["seq"] for m in latest["messages"]] == [58, 59, 60]
        assert latest["messages"][0] == {"type": "message", "channel": "news", "data": {"n": 57}, "from": latest["messages"][0]["from"], "seq": 58}
        epoch = latest["epoch"]
        page = request(ws, {"type": "history", "channel": "news", "since": {"seq": 20, "epoch": epoch}, "limit": 5}, "h2")
        assert [m["seq"] for m in page["messages"]] == [21, 22, 23, 24, 25]
        everything = request(ws, {"type": "history", "channel": "news"}, "h3")
        assert [m["seq"] for m in everything["messages"]] == list(range(11, 61))
        gone = request(ws, {"type": "history", "channel": "news", "since": {"seq": 5, "epoch": epoch}}, "h4")
        assert gone["type"] == "error" and gone["code"] == "unrecoverable"
        other_epoch = request(ws, {"type": "history", "channel": "news", "since": {"seq": 55, "epoch": "nope"}}, "h5")
        assert other_epoch["code"] == "unrecoverable"
        # With history-size set globally every channel keeps history; an unknown one is just empty.
        empty = request(ws, {"type": "history", "channel": "quiet"}, "h6")
        assert empty["seq"] == 0 and empty["messages"] == []

    status, body = admin(s, "/api/channels/news/history?since=57&limit=2")
    assert status == 200 and body["type"] == "history" and [m["seq"] for m in body["messages"]] == [58, 59]
    status, body = admin(s, "/api/channels/news/history?since=1")
    assert status == 410 and body["error"]["code"] == "unrecoverable"
    status, body = admin(s, "/api/channels/news/history?limit=zero")
    assert status == 400
    status, body = admin(s, "/api/channels/bad%20name/history")
    assert status == 400 and body["error"]["code"] == "invalid_channel"


def test_channel_tables_choose_which_channels_keep_history(server, tmp_path):
    config = tmp_path / "switchboard.toml"
    config.write_text('admin-token = "%s"\n\n[[channels]]\npattern = "chat:*"\nhistory_size = 10\nhistory_ttl = "10m"\n' % TOKEN)
    s = server("--config", str(config))
    publish_many(s, "chat:lobby", 12)
    publish_many(s, "news", 2)
    with contextlib.ExitStack() as stack:
        ws = native(stack, s)
        plain = request(ws, {"type": "subscribe", "channel": "news"}, 1)
        assert plain == {"type": "subscribed", "channel": "news", "id": 1}
        kept = request(ws, {"type": "history", "channel": "chat:lobby"}, 2)
        assert [m["seq"] for m in kept["messages"]] == list(range(3, 13))
        none = request(ws, {"type": "history", "channel": "news"}, 3)
        assert none["type"] == "error" and none["code"] == "no_history"
    status, body = admin(s, "/api/channels/news/history")
    assert status == 404 and body["error"]["code"] == "no_history"
    status, channels = admin(s, "/api/channels")
    lobby = next(c for c in channels if c["name"] == "chat:lobby")
    assert lobby["history"] == 10 and len(lobby["epoch"]) == 8


def test_a_bad_channel_table_exits_2_naming_file_and_line(tmp_path):
    import subprocess
    from conftest import BIN
    config = tmp_path / "bad.toml"
    config.write_text('port = 8080\n[[channels]]\npattern = "chat:*"\nhistory_size = "lots"\n')
    result = subprocess.run([BIN, "serve", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"{config}:2: [[channels]]: expected history_size" in result.stderr


def test_an_expired_history_has_a_new_epoch(server):
    s = server("--history-size", "100", "--history-ttl", "1s")
    with contextlib.ExitStack() as stack:
        ws = native(stack, s)
        epoch = request(ws, {"type": "subscribe", "channel": "news"}, 1)["epoch"]
        publish_many(s, "news", 3)
        messages(ws, 3)
    deadline = time.monotonic() + TIMEOUT
    while True:
        with contextlib.ExitStack() as stack:
            ws = native(stack, s)
            reply = request(ws, {"type": "subscribe", "channel": "news", "since": {"seq": 3, "epoch": epoch}}, 2)
        if reply["recovered"] is False:
            break
        assert time.monotonic() < deadline, "the history never expired"
        time.sleep(0.2)
    # The numbering goes on; the history (and its epoch) began again.
    assert reply["epoch"] != epoch and reply["seq"] == 3


def test_the_byte_cap_evicts_the_oldest_messages_logs_and_counts(server):
    s = server("--history-size", "1000", "--history-max-bytes", "8KiB", "--admin-token", TOKEN)
    for channel in ("old", "new"):
        publish_many(s, channel, 60)
    status, stats = admin(s, "/api/stats")
    assert stats["totals"]["history_evictions"] > 0
    assert stats["totals"]["history_bytes"] <= 8 * 1024
    with contextlib.ExitStack() as stack:
        ws = native(stack, s)
        old = request(ws, {"type": "history", "channel": "old", "limit": 1000}, 1)
        new = request(ws, {"type": "history", "channel": "new", "limit": 1000}, 2)
        # The oldest go first (the cap is shared out evenly among the event loops): what is left
        # of each channel is its newest messages, with no hole.
        for page in (old, new):
            kept = [m["seq"] for m in page["messages"]]
            assert kept == list(range(61 - len(kept), 61))
        assert 0 < len(new["messages"]) and len(old["messages"]) + len(new["messages"]) < 120
    status, metrics = admin(s, "/metrics")
    assert "switchboard_history_evictions_total" in metrics and "switchboard_history_bytes" in metrics
    wait_log = time.monotonic() + TIMEOUT
    while "history byte cap reached" not in s.logs():
        assert time.monotonic() < wait_log, s.logs()
        time.sleep(0.05)


def test_a_replay_longer_than_the_mailbox_bound_is_paced_not_closed(server):
    s = server("--history-size", "3000", "--outbound-queue-frames", "64")
    with contextlib.ExitStack() as stack:
        epoch = request(native(stack, s), {"type": "subscribe", "channel": "big"}, 1)["epoch"]
    publish_many(s, "big", 3000)
    with contextlib.ExitStack() as stack:
        ws = native(stack, s)
        reply = request(ws, {"type": "subscribe", "channel": "big", "since": {"seq": 0, "epoch": epoch}}, 2)
        assert reply["recovered"] is True
        publish_many(s, "big", 5, first=3000)  # live ones queue behind the replay
        assert [m["seq"] for m in messages(ws, 3005)] == list(range(1, 3006))
