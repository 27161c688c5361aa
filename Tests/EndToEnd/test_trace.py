"""Live traces against the real binary: GET /admin/trace over a real admin WebSocket, with real
native and Pusher clients, the limits (trace-rate, max-traces), the event log, the figures and
`switchboard trace`."""
import contextlib
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pusher
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from conftest import BIN
from native_client import TIMEOUT, native, until
from test_abuse import Raw, frame
from test_pusher import APP, KEY, raw, wait_until

TOKEN = "trace-admin-token-0123456789"


def open_trace(stack: contextlib.ExitStack, s, query: str):
    """A trace stream of server `s` (`client=c1`, …), past its `trace_started`; closed with `stack`."""
    ws = stack.enter_context(
        connect(
            f"ws://127.0.0.1:{s.port}/admin/trace?{query}", additional_headers={"Authorization": f"Bearer {TOKEN}"}, open_timeout=TIMEOUT,
            max_size=None))
    started = json.loads(ws.recv(timeout=TIMEOUT))
    assert started["type"] == "trace_started", started
    return ws, started


def next_line(ws, **expected):
    """The next trace object whose members include `expected` (the ones before it are skipped),
    within TIMEOUT: a trace never falls silent (pings and pongs are lines), so a wait for a line
    that never comes must end by the clock, not by the silence."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        message = json.loads(ws.recv(timeout=TIMEOUT))
        if all(message.get(key) == value for key, value in expected.items()):
            return message
    raise AssertionError(f"no trace line with {expected} within {TIMEOUT} s")


def admin_get(s, path: str):
    request = urllib.request.Request(f"http://127.0.0.1:{s.port}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def traces_running(s) -> int:
    return json.loads(admin_get(s, "/api/stats?limit=0")[1])["totals"]["traces"]


def test_a_native_clients_trace_shows_its_requests_replies_deliveries_pings_and_close(server):
    s = server("--admin-token", TOKEN, "--heartbeat", "1")
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(connect(s.url, open_timeout=TIMEOUT))
        client_id = json.loads(client.recv(timeout=TIMEOUT))["client"]
        trace, started = open_trace(stack, s, f"client={client_id}")
        assert started["target"] == {"client": client_id} and started["trace"].startswith("t")
        assert traces_running(s) == 1

        client.send(json.dumps({"type": "subscribe", "channel": "news", "id": 1}))
        until(client, lambda m: m["type"] == "subscribed")
        request = next_line(trace, kind="request")
        assert request["dir"] == "in" and request["client"] == client_id and json.loads(request["data"])["type"] == "subscribe"
        reply = next_line(trace, kind="reply")
        assert reply["dir"] == "out" and json.loads(reply["data"]) == {"type": "subscribed", "channel": "news", "id": 1}

        publisher = native(stack, s)
        publisher.send(json.dumps({"type": "publish", "channel": "news", "data": {"price": 10}, "id": 7}))
        until(client, lambda m: m["type"] == "message")
        delivery = next_line(trace, kind="delivery")
        assert delivery["channel"] == "news" and delivery["seq"] == 1 and delivery["dir"] == "out"
        assert delivery["bytes"] > 0 and delivery["mailbox"] >= 0 and delivery["latency_us"] >= 0
        assert json.loads(delivery["data"]) == {"price": 10}

        client.send(json.dumps({"type": "nonsense", "id": 3}))
        refused = next_line(trace, kind="refused")
        assert json.loads(refused["data"])["type"] == "error"

        # The heartbeat pings the silent client; the client's library answers.
        assert next_line(trace, kind="ping")["dir"] == "out"
        assert next_line(trace, kind="pong")["dir"] == "in"

        client.close()
        close = next_line(trace, kind="close")
        assert close["dir"] == "in" and close["code"] == 1000
        # Only this client's lines: the publisher's frames are not in this trace.
        assert all(line.get("client") == client_id for line in (request, reply, delivery, refused, close))


def test_a_pusher_clients_trace_by_socket_id(server):
    s = server("--admin-token", TOKEN, "--pusher-app", APP)
    with raw(s.port) as ws, contextlib.ExitStack() as stack:
        established = json.loads(ws.recv(timeout=TIMEOUT))
        socket_id = json.loads(established["data"])["socket_id"]
        trace, _ = open_trace(stack, s, f"client={socket_id}")
        ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "prices"}}))
        assert json.loads(ws.recv(timeout=TIMEOUT))["event"] == "pusher_internal:subscription_succeeded"
        assert json.loads(next_line(trace, kind="request")["data"])["event"] == "pusher:subscribe"
        assert json.loads(next_line(trace, kind="reply")["data"])["event"] == "pusher_internal:subscription_succeeded"

        pusher.Pusher(app_id=APP.split(":")[0], key=KEY, secret=APP.split(":")[2], host="127.0.0.1", port=s.port, ssl=False).trigger(
            "prices", "tick", {"p": 1})
        assert json.loads(ws.recv(timeout=TIMEOUT))["event"] == "tick"
        delivery = next_line(trace, kind="delivery")
        assert delivery["channel"].endswith("prices") and delivery["bytes"] > 0 and "latency_us" in delivery

        ws.send(json.dumps({"event": "pusher:ping", "data": {}}))
        assert json.loads(ws.recv(timeout=TIMEOUT))["event"] == "pusher:pong"
        assert json.loads(next_line(trace, kind="reply")["data"])["event"] == "pusher:pong"

        channel_trace, _ = open_trace(stack, s, f"channel={APP.split(':')[0]}:private-x")
        ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "private-x", "auth": "bad:sig"}}))
        refused = next_line(trace, kind="refused")
        assert refused["code"] == 401 and "subscription_error" in refused["data"]
        # The channel's trace sees the refusal too.
        refused = next_line(channel_trace, kind="refused")
        assert refused["code"] == 401 and refused["data"].startswith("AuthError") and refused["dir"] == "in"

        ws.close()
        assert next_line(trace, kind="close")["dir"] == "in"


def test_a_channel_trace_shows_subscribes_presence_publishes_and_a_slow_consumer_dropped(server):
    # Payloads cut at 200 bytes: the 60 KB publishes below, whole, would fill the trace's own
    # bounded queue on a loaded machine and the drop line could be the one skipped.
    s = server("--admin-token", TOKEN, "--outbound-queue-frames", "4", "--trace-payloads", "truncated")
    with contextlib.ExitStack() as stack:
        trace, started = open_trace(stack, s, "channel=room")
        assert started["target"] == {"channel": "room"}
        ann = native(stack, s)
        ann.send(json.dumps({"type": "subscribe", "channel": "room", "presence": True, "id": 1}))
        until(ann, lambda m: m["type"] == "subscribed")
        subscribe = next_line(trace, kind="subscribe")
        assert subscribe["channel"] == "room" and subscribe["client"].startswith("c")
        join = next_line(trace, kind="join")
        assert join["channel"] == "room" and join["user"] == subscribe["client"]

        ann.send(json.dumps({"type": "publish", "channel": "room", "data": {"hello": "world"}, "id": 2}))
        publish = next_line(trace, kind="publish")
        assert publish["seq"] == 1 and publish["client"] == subscribe["client"] and json.loads(publish["data"]) == {"hello": "world"}
        assert "truncated" not in publish

        ann.send(json.dumps({"type": "unsubscribe", "channel": "room", "id": 3}))
        assert next_line(trace, kind="unsubscribe")["client"] == subscribe["client"]
        assert next_line(trace, kind="leave")["user"] == subscribe["client"]

        # A subscriber that never reads: its socket and then its mailbox fill, and it is dropped.
        sleeper = Raw(s.port)
        sleeper.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sleeper.upgrade(s.port)
        sleeper.sock.sendall(frame(1, json.dumps({"type": "subscribe", "channel": "room", "id": 1}).encode()))
        sleeper_id = next_line(trace, kind="subscribe")["client"]
        big = {"blob": "x" * 60_000}
        drop = None
        deadline = time.monotonic() + TIMEOUT
        while drop is None and time.monotonic() < deadline:
            for _ in range(10):
                ann.send(json.dumps({"type": "publish", "channel": "room", "data": big}))
            drop = next_line_within(trace, 0.1, kind="drop")
        assert drop["client"] == sleeper_id and drop["code"] == 4002 and drop["channel"] == "room"
        sleeper.sock.close()


def next_line_within(ws, seconds: float, **expected):
    """Like `next_line`, giving up (None) after `seconds` without a match."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        except TimeoutError:
            return None
        if all(message.get(key) == value for key, value in expected.items()):
            return message
    return None


def test_lines_over_the_trace_rate_are_skipped_and_counted(server):
    s = server("--admin-token", TOKEN, "--trace-rate", "5")
    with contextlib.ExitStack() as stack:
        trace, _ = open_trace(stack, s, "channel=fast")
        publisher = native(stack, s)
        for n in range(60):
            publisher.send(json.dumps({"type": "publish", "channel": "fast", "data": n, "id": n}))
        until(publisher, lambda m: m.get("id") == 59)
        lines = 0
        skipped = 0
        # The count arrives with the next line, or on the trace's one-second beat.
        while skipped + lines < 60:
            message = json.loads(trace.recv(timeout=TIMEOUT))
            if message["type"] == "trace":
                lines += 1
            elif message["type"] == "trace_skipped":
                assert message["count"] > 0
                skipped += message["count"]
        assert skipped + lines == 60 and skipped >= 50


def test_one_trace_over_max_traces_is_refused_before_the_upgrade_and_the_log_says_who_traced(server):
    s = server("--admin-token", TOKEN, "--max-traces", "1")
    with pytest.raises(InvalidStatus) as bad:
        connect(f"ws://127.0.0.1:{s.port}/admin/trace?client=", additional_headers={"Authorization": f"Bearer {TOKEN}"})
    assert bad.value.response.status_code == 400
    assert json.loads(bad.value.response.body)["error"]["code"] == "bad_request"
    with pytest.raises(InvalidStatus) as unauthorized:
        connect(f"ws://127.0.0.1:{s.port}/admin/trace?channel=a", additional_headers={"Authorization": "Bearer wrong-token-0123456789"})
    assert unauthorized.value.response.status_code == 401

    with contextlib.ExitStack() as stack:
        trace, started = open_trace(stack, s, "user=ann")
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{s.port}/admin/trace?channel=a", additional_headers={"Authorization": f"Bearer {TOKEN}"})
        assert refused.value.response.status_code == 429
        error = json.loads(refused.value.response.body)["error"]
        assert error["code"] == "too_many_traces" and "max-traces 1" in error["message"]
        status, body = admin_get(s, "/metrics")
        assert status == 200 and "switchboard_traces 1" in body
    # The reader left: the trace ends and its slot is free again.
    wait_until(lambda: traces_running(s) == 0, "the trace count back to 0")
    events = json.loads(admin_get(s, "/api/events")[1])
    kinds = [event for event in events if event["kind"] in ("trace_started", "trace_stopped")]
    assert [event["kind"] for event in kinds] == ["trace_started", "trace_stopped"]
    assert all("user ann" in event["detail"] and "127.0.0.1" in event["detail"] for event in kinds)
    assert "reader gone" in kinds[1]["detail"] and started["trace"] in kinds[0]["detail"]
    with contextlib.ExitStack() as stack:
        open_trace(stack, s, "channel=a")


def test_trace_timeout_ends_the_trace(server):
    s = server("--admin-token", TOKEN, "--trace-timeout", "1")
    with contextlib.ExitStack() as stack:
        trace, started = open_trace(stack, s, "channel=quiet")
        ended = next_line(trace, type="trace_ended")
        assert ended == {"type": "trace_ended", "trace": started["trace"], "reason": "timeout"}
    wait_until(lambda: traces_running(s) == 0, "the trace count back to 0")


@pytest.mark.parametrize("mode", ["none", "truncated", "full"])
def test_payload_modes(server, mode):
    s = server("--admin-token", TOKEN, "--trace-payloads", mode)
    text = "é" * 150  # 300 bytes of two-byte characters
    with contextlib.ExitStack() as stack:
        trace, _ = open_trace(stack, s, "channel=p")
        publisher = native(stack, s)
        publisher.send(json.dumps({"type": "publish", "channel": "p", "data": text, "id": 1}, ensure_ascii=False))
        line = next_line(trace, kind="publish")
    if mode == "none":
        assert "data" not in line and "truncated" not in line
    elif mode == "truncated":
        assert line["truncated"] is True and len(line["data"].encode()) <= 200 and line["data"].startswith('"é')
    else:
        assert json.loads(line["data"]) == text and "truncated" not in line


def test_the_cli_streams_json_lines_and_says_when_there_are_too_many_traces(server):
    s = server("--admin-token", TOKEN, "--max-traces", "1")
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(connect(s.url, open_timeout=TIMEOUT))
        client_id = json.loads(client.recv(timeout=TIMEOUT))["client"]
        cli = subprocess.Popen(
            [BIN, "trace", "--client", client_id, "--json", "--server", f"http://127.0.0.1:{s.port}", "--token", TOKEN],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stack.callback(lambda: (cli.kill(), cli.wait()))
        first = json.loads(cli.stdout.readline())
        assert first["type"] == "trace_started" and first["target"] == {"client": client_id}
        client.send(json.dumps({"type": "ping", "id": 5}))
        until(client, lambda m: m["type"] == "pong")
        lines = [json.loads(cli.stdout.readline()) for _ in range(2)]
        assert [line["kind"] for line in lines] == ["request", "reply"]

        second = subprocess.run(
            [BIN, "trace", "--channel", "news", "--server", f"http://127.0.0.1:{s.port}", "--token", TOKEN], capture_output=True, text=True,
            timeout=TIMEOUT)
        assert second.returncode != 0
        assert second.stderr.strip() == "switchboard: too many traces running on the server (max-traces 1)", second.stderr
    bad = subprocess.run([BIN, "trace", "--server", f"http://127.0.0.1:{s.port}", "--token", TOKEN], capture_output=True, text=True, timeout=TIMEOUT)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and "--client" in bad.stderr


def test_the_cli_prints_readable_lines(server):
    s = server("--admin-token", TOKEN)
    with contextlib.ExitStack() as stack:
        cli = subprocess.Popen(
            [BIN, "trace", "--channel", "news", "--server", f"http://127.0.0.1:{s.port}", "--token", TOKEN], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        stack.callback(lambda: (cli.kill(), cli.wait()))
        assert cli.stdout.readline().strip().endswith("of channel news started")
        publisher = native(stack, s)
        publisher.send('{"type":"publish","channel":"news","data":{"price":10},"id":1}')
        line = cli.stdout.readline().split()
        # time, node, direction, kind, then the publisher, #channel, seq … and the data.
        assert line[1:4] == ["local", "-", "publish"] and line[5:8] == ["#news", "seq", "1"] and line[-1] == '{"price":10}', line


def cluster_node(server, redis, name: str, *args: str):
    return server("--redis", redis.url, "--node-name", name, "--admin-token", TOKEN, *args)


def test_a_client_on_another_node_is_traced_through_redis(server, redis):
    a, b, c = (cluster_node(server, redis, name) for name in ("node-a", "node-b", "node-c"))
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(connect(c.url, open_timeout=TIMEOUT))
        client_id = json.loads(client.recv(timeout=TIMEOUT))["client"]
        assert client_id.endswith("@node-c")
        # Asked on node A: node C taps its client and sends the lines to A.
        trace, started = open_trace(stack, a, f"client={client_id}")
        assert started["target"] == {"client": client_id}
        client.send(json.dumps({"type": "subscribe", "channel": "news", "id": 1}))
        until(client, lambda m: m["type"] == "subscribed")
        request = next_line(trace, kind="request")
        assert request["node"] == "node-c" and request["client"] == client_id
        assert next_line(trace, kind="reply")["node"] == "node-c"
        publisher = native(stack, b)
        publisher.send(json.dumps({"type": "publish", "channel": "news", "data": {"n": 1}, "id": 1}))
        until(client, lambda m: m["type"] == "message")
        delivery = next_line(trace, kind="delivery")
        assert delivery["node"] == "node-c" and delivery["seq"] == 1 and json.loads(delivery["data"]) == {"n": 1}
        assert traces_running(a) == 1 and traces_running(c) == 0  # a tap for another node is not one of C's traces


def test_a_user_with_tabs_on_two_nodes_and_a_channel_across_nodes(server, redis):
    import jwt

    secret = "trace-secret-0123456789abcdef-0123456789"
    a, b, c = (cluster_node(server, redis, name, "--auth-jwt-secret", secret) for name in ("node-a", "node-b", "node-c"))
    token = jwt.encode({"sub": "ann"}, secret, algorithm="HS256")
    with contextlib.ExitStack() as stack:
        trace, _ = open_trace(stack, a, "user=ann")
        tabs = []
        for s in (b, c):
            tab = stack.enter_context(connect(f"{s.url}?token={token}", open_timeout=TIMEOUT))
            assert json.loads(tab.recv(timeout=TIMEOUT))["type"] == "welcome"
            tabs.append(tab)
        seen = set()
        for n, tab in enumerate(tabs):
            tab.send(json.dumps({"type": "ping", "id": n}))
            until(tab, lambda m: m["type"] == "pong")
        while seen != {"node-b", "node-c"}:
            line = next_line(trace, kind="request")
            assert line["user"] == "ann"
            seen.add(line["node"])

        channel, _ = open_trace(stack, a, "channel=room")
        tabs[0].send(json.dumps({"type": "subscribe", "channel": "room", "id": 9}))
        subscribe = next_line(channel, kind="subscribe")
        assert subscribe["node"] == "node-b" and subscribe["user"] == "ann"
        tabs[1].send(json.dumps({"type": "publish", "channel": "room", "data": 5, "id": 10}))
        publish = next_line(channel, kind="publish")
        assert publish["seq"] == 1 and publish["data"] == "5"


def test_a_reader_that_vanishes_without_a_close_frame_ends_its_trace(server):
    s = server("--admin-token", TOKEN)
    reader = Raw(s.port)
    reader.upgrade(s.port, path=f"/admin/trace?channel=news&token={TOKEN}")
    wait_until(lambda: traces_running(s) == 1, "the trace running")
    reader.sock.close()
    wait_until(lambda: traces_running(s) == 0, "the trace count back to 0")
    events = json.loads(admin_get(s, "/api/events")[1])
    assert any(event["kind"] == "trace_stopped" and "reader gone" in event["detail"] for event in events)


def test_messages_replayed_to_a_resuming_client_and_operator_broadcasts_are_deliveries(server):
    s = server("--admin-token", TOKEN, "--history-size", "100")
    with contextlib.ExitStack() as stack:
        publisher = native(stack, s)
        for n in range(1, 4):
            publisher.send(json.dumps({"type": "publish", "channel": "news", "data": {"n": n}, "id": n}))
            until(publisher, lambda m: m.get("id") == n)
        client = stack.enter_context(connect(s.url, open_timeout=TIMEOUT))
        client_id = json.loads(client.recv(timeout=TIMEOUT))["client"]
        trace, _ = open_trace(stack, s, f"client={client_id}")
        # Resuming after seq 1 of the channel's epoch replays 2 and 3 to this client alone.
        position = json.loads(admin_get(s, "/api/channels/news/history?limit=1")[1])
        client.send(json.dumps({"type": "subscribe", "channel": "news", "since": {"seq": 1, "epoch": position["epoch"]}, "id": 9}))
        replayed = [next_line(trace, kind="delivery", seq=seq) for seq in (2, 3)]
        assert all(line["channel"] == "news" and line["dir"] == "out" for line in replayed), replayed
        assert json.loads(replayed[0]["data"]) == {"n": 2}
        request = urllib.request.Request(
            f"http://127.0.0.1:{s.port}/api/broadcast", data=json.dumps({"data": "hello"}).encode(), method="POST",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=TIMEOUT).read()
        broadcast = next_line(trace, kind="delivery", data='"hello"')
        assert "channel" not in broadcast and broadcast["client"] == client_id
