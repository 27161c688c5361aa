"""Positions stay honest across a Sentinel failover (issue 30). The publish script numbers and
publishes a message before any replica has it, so a replica that lagged, once promoted, stands
behind what the subscribers were delivered. The replica is made to lag for real (SIGSTOP while
messages are published and delivered), then the master is killed with -9 and the replica
resumed, so that the sentinels promote it: publishes are refused during the switch and flow again
without a restart of any node, no client ever sees two different messages under one
`(epoch, seq)`, and whatever a client missed is covered by a `messages_lost` notice. With
`--redis-ack-replicas 1` every acked message reaches every subscriber exactly once."""
import contextlib
import json
import signal
import subprocess
import threading
import time

import pytest
from websockets.sync.client import connect

from native_client import TIMEOUT, until
from test_cluster import wait_until
from test_cluster_sentinel import PASSWORD, SentinelSetup
from test_users_and_limits import TOKEN, admin

KEPT, PLAIN = "kept:feed", "feed"
CHANNELS = (KEPT, PLAIN)


@pytest.fixture
def sentinels():
    setup = SentinelSetup()
    yield setup
    setup.stop()


class Subscriber:
    """A native client subscribed to `channels`, every frame it gets recorded by a thread."""

    def __init__(self, stack: contextlib.ExitStack, s, channels=CHANNELS):
        self.ws = stack.enter_context(connect(s.url, open_timeout=TIMEOUT, max_size=None))
        assert json.loads(self.ws.recv(timeout=TIMEOUT))["type"] == "welcome"
        self.channels = channels
        self.subscribed = {}
        for index, channel in enumerate(channels):
            self.ws.send(json.dumps({"type": "subscribe", "channel": channel, "id": index}))
            self.subscribed[channel] = until(self.ws, lambda m: m.get("id") == index)
            assert self.subscribed[channel]["type"] == "subscribed", self.subscribed[channel]
        self.frames: list[dict] = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()
        stack.callback(self.stop)

    def read(self):
        while self.running:
            try:
                frame = json.loads(self.ws.recv(timeout=0.2))
            except TimeoutError:
                continue
            except Exception:
                return
            with self.lock:
                self.frames.append(frame)

    def stop(self):
        self.running = False
        self.thread.join()

    def of(self, channel: str) -> list[dict]:
        """The channel's messages and loss notices, in the order they came."""
        with self.lock:
            return [f for f in self.frames if f.get("channel") == channel and (f["type"] == "message" or f.get("code") == "messages_lost")]

    def ids(self, channel: str) -> list[str]:
        return [f["data"]["id"] for f in self.of(channel) if f["type"] == "message"]


class Publisher:
    """A native client publishing with ids to `channels`: each publish's answer, by the message's id."""

    def __init__(self, stack: contextlib.ExitStack, s, name: str, channels=CHANNELS):
        self.ws = stack.enter_context(connect(s.url, open_timeout=TIMEOUT, max_size=None))
        assert json.loads(self.ws.recv(timeout=TIMEOUT))["type"] == "welcome"
        self.name, self.channels, self.count, self.answers = name, channels, 0, {}

    def burst(self, size: int) -> list[str]:
        """Publishes `size` messages to each channel without waiting; their ids, once all are answered."""
        sent = {}
        for _ in range(size):
            for channel in self.channels:
                self.count += 1
                key = f"{channel}/{self.name}/{self.count}"
                self.ws.send(json.dumps({"type": "publish", "channel": channel, "data": {"id": key}, "id": self.count}))
                sent[self.count] = key
        keys = list(sent.values())
        while sent:
            reply = until(self.ws, lambda m: m.get("id") in sent)
            self.answers[sent.pop(reply["id"])] = reply
        return keys

    def acked(self) -> set[str]:
        return {key for key, reply in self.answers.items() if reply["type"] == "ack"}

    def refusals(self) -> list[dict]:
        return [reply for reply in self.answers.values() if reply["type"] != "ack"]


def cluster(server, redis, tmp_path, *options: str):
    """Three nodes on `redis` (a setup with a `url`: Sentinel's, a Redis Cluster's), keeping
    history for the channels `kept:*`."""
    config = tmp_path / "switchboard.toml"
    config.write_text('[[channels]]\npattern = "kept:*"\nhistory_size = 1000\nhistory_ttl = "10m"\n')
    nodes = [
        server("--config", str(config), "--redis", redis.url, "--node-name", name, "--admin-token", TOKEN, *options)
        for name in ("node-a", "node-b", "node-c")
    ]
    for s in nodes:
        wait_until(lambda: admin(s, "GET", "/api/stats")[1]["server"]["health"] == "ok", "every node to reach Redis")
    return nodes


def server_events(s, token: str = TOKEN) -> list[str]:
    """What a node (started by ``cluster``, or with admin `token`) told its event log about its server (Redis links, failovers)."""
    return [e["detail"] for e in admin(s, "GET", "/api/events?limit=1000", token=token)[1] if e["kind"] == "server"]


def delivered(subscribers, ids: list[str]):
    """Waits until every subscriber has seen every one of `ids` (each on its channel)."""
    for subscriber in subscribers:
        for channel in subscriber.channels:
            wanted = {i for i in ids if i.startswith(channel + "/")}
            wait_until(lambda: wanted <= set(subscriber.ids(channel)), f"{len(wanted)} messages of {channel} delivered")


def kill_master_of_a_lagging_replica(replica: subprocess.Popen, master_port: int, kill_master, publishers, subscribers, lagging: int, password=None):
    """Cuts the replica's link (stopped, so that it cannot connect again, and its connection
    closed by the master on `master_port`: what the kernel already holds for a stopped process
    would still reach it), publishes, waits until the subscribers have those messages, then
    kills the master (`kill_master`) and resumes the replica."""
    replica.send_signal(signal.SIGSTOP)
    try:
        auth = ["--no-auth-warning", "-a", password] if password else []
        killed = subprocess.run(
            ["redis-cli", *auth, "-p", str(master_port), "client", "kill", "type", "replica"], capture_output=True, text=True, timeout=30).stdout
        assert killed.strip() == "1", killed
        late = [key for p in publishers for key in p.burst(lagging)]
        delivered(subscribers, late)
        kill_master()
    finally:
        replica.send_signal(signal.SIGCONT)


def publish_until_acked(publishers):
    """Publishes (refused while Redis switches masters) until every publisher's are acked again."""
    deadline = time.monotonic() + 120
    for p in publishers:
        while True:
            assert time.monotonic() < deadline, f"{p.name}: no publish acked after the failover: {p.refusals()[-3:]}"
            keys = p.burst(1)
            if all(p.answers[k]["type"] == "ack" for k in keys):
                break
            time.sleep(0.1)


def fail_over_with_a_lagging_replica(sentinels, publishers, subscribers, lagging: int, bring_back=False):
    """The sentinels' master killed while its replica lags (``kill_master_of_a_lagging_replica``),
    then publishes until acked again. `bring_back`: the old master comes back (empty) and the
    sentinels make it the new replica."""
    kill_master_of_a_lagging_replica(
        sentinels.procs["replica"], sentinels.master_port, lambda: sentinels.kill("master"), publishers, subscribers, lagging, PASSWORD)
    if bring_back:
        wait_until(lambda: sentinels.master() == sentinels.replica_port, "the sentinels to promote the replica")
        sentinels.redis("master", sentinels.master_port, "--requirepass", PASSWORD, "--masterauth", PASSWORD)
    publish_until_acked(publishers)
    # (Brought back, the old master may be promoted again: the sentinels sometimes fail over twice.)
    assert bring_back or sentinels.master() == sentinels.replica_port


def check_positions(subscribers, published: set[str]):
    """No client saw two messages under one (epoch, seq); whatever a client missed of what was
    published is covered by a `messages_lost` notice on its channel."""
    for index, subscriber in enumerate(subscribers):
        for channel in subscriber.channels:
            epoch = subscriber.subscribed[channel].get("epoch")
            seen: dict[tuple, str] = {}
            last, notices = None, 0
            for frame in subscriber.of(channel):
                if frame["type"] != "message":
                    notices += 1
                    epoch, last = frame.get("epoch") or epoch, frame["seq"]
                    continue
                key = (epoch, frame["seq"])
                assert seen.setdefault(key, frame["data"]["id"]) == frame["data"]["id"], (
                    f"subscriber {index} on {channel}: {frame['data']['id']} and {seen[key]} both under {key}")
                assert last is None or frame["seq"] > last, f"subscriber {index} on {channel}: seq {frame['seq']} after {last}"
                last = frame["seq"]
            missed = {i for i in published if i.startswith(channel + "/")} - set(subscriber.ids(channel))
            assert not missed or notices, f"subscriber {index} on {channel} missed {sorted(missed)} without a messages_lost notice"


def check_new_epoch_announced(subscribers, channels):
    """Every subscriber of `channels` was told `messages_lost` with an epoch other than the one it subscribed in."""
    for subscriber in subscribers:
        for channel in channels:
            old = subscriber.subscribed[channel].get("epoch")
            epochs = [f.get("epoch") for f in subscriber.of(channel) if f["type"] != "message"]
            assert any(e and e != old for e in epochs), f"{channel}: no messages_lost with a new epoch after the failover: {epochs}"


def check_acked_delivered_once(subscribers, acked: set[str], channels=None):
    """Every subscriber got every acked message of its channels (of `channels`, when given), and no message twice."""
    for index, subscriber in enumerate(subscribers):
        for channel in channels or subscriber.channels:
            ids = subscriber.ids(channel)
            wanted = {i for i in acked if i.startswith(channel + "/")}
            assert len(ids) == len(set(ids)), f"subscriber {index} on {channel} got some twice"
            assert wanted <= set(ids), f"subscriber {index} on {channel} never got acked {sorted(wanted - set(ids))}"


def test_no_client_sees_two_messages_under_one_position_after_a_failover_to_a_lagging_replica(server, sentinels, tmp_path):
    nodes = cluster(server, sentinels, tmp_path)
    with contextlib.ExitStack() as stack:
        subscribers = [Subscriber(stack, s) for s in nodes]
        publishers = [Publisher(stack, s, f"p{index}") for index, s in enumerate(nodes)]
        before = [key for p in publishers for key in p.burst(5)]
        delivered(subscribers, before)
        last_before = max(f["seq"] for f in subscribers[0].of(KEPT) if f["type"] == "message")
        fail_over_with_a_lagging_replica(sentinels, publishers, subscribers, lagging=10)
        after = [key for p in publishers for key in p.burst(10)]
        delivered(subscribers, after)
        refusals = [reply for p in publishers for reply in p.refusals()]
        assert refusals and all(reply["code"] == "unavailable" for reply in refusals), refusals[:5]
        seen = {i for s in subscribers for c in CHANNELS for i in s.ids(c)}
        check_positions(subscribers, set().union(*(p.acked() for p in publishers)) | seen)
        check_new_epoch_announced(subscribers, CHANNELS)
        # A client resuming from before the failover, in the old epoch, is told it was not recovered.
        ws = stack.enter_context(connect(nodes[1].url, open_timeout=TIMEOUT))
        until(ws, lambda m: m["type"] == "welcome")
        old = subscribers[0].subscribed[KEPT]["epoch"]
        ws.send(json.dumps({"type": "subscribe", "channel": KEPT, "id": 9, "since": {"seq": last_before, "epoch": old}}))
        reply = until(ws, lambda m: m.get("id") == 9)
        assert reply["type"] == "subscribed" and reply["recovered"] is False and reply["epoch"] != old, reply


def test_every_acked_message_is_delivered_once_when_acks_wait_for_the_replica(server, sentinels, tmp_path):
    nodes = cluster(server, sentinels, tmp_path, "--redis-ack-replicas", "1", "--redis-ack-timeout", "0.3")
    with contextlib.ExitStack() as stack:
        subscribers = [Subscriber(stack, s) for s in nodes]
        publishers = [Publisher(stack, s, f"p{index}") for index, s in enumerate(nodes)]
        delivered(subscribers, [key for p in publishers for key in p.burst(5)])
        fail_over_with_a_lagging_replica(sentinels, publishers, subscribers, lagging=3, bring_back=True)
        delivered(subscribers, [key for p in publishers for key in p.burst(10)])
        acked = set().union(*(p.acked() for p in publishers))
        check_positions(subscribers, acked)
        check_acked_delivered_once(subscribers, acked)
