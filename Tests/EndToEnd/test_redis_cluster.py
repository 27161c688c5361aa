"""Redis Cluster (`--redis redis+cluster://HOST:PORT,…`): three masters with a replica each,
started by the test (`redis-cli --cluster create`); nodes keep a channel's keys on its
partition's slot, publish with SPUBLISH and receive with SSUBSCRIBE from the shard that owns the
slot, and follow a master's failover and a slot's migration by themselves. Real redis-server
processes on loopback, killed by pid."""
import contextlib
import json
import os
import random
import socket
import subprocess
import tempfile
import threading
import time
import types
import urllib.request

import pytest

from conftest import pubsub_name, stop_processes
from native_client import TIMEOUT, messages, native, publish_many, until
from test_cluster import TOKEN, admin, node, nodes_of, wait_until
from test_cluster_failover import (Publisher as IdPublisher, Subscriber as RecordingSubscriber, check_acked_delivered_once,
                                   check_new_epoch_announced, check_positions, cluster, delivered, kill_master_of_a_lagging_replica,
                                   publish_until_acked, server_events)
from test_cluster import test_a_dead_nodes_users_leave_once_and_each_webhook_is_sent_once as dead_node_webhooks


def cluster_port() -> int:
    """A free port whose cluster bus port (10 000 above it) is free too and exists."""
    while True:
        port = random.randint(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
            return port
        except OSError:
            continue


def cli(port: int, *args: str) -> str:
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=30).stdout.strip()


class RedisClusterSetup:
    """Six redis-servers in cluster mode: three masters, a replica each."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="switchboard-redis-cluster-")
        self.ports = [cluster_port() for _ in range(6)]
        self.procs: dict[int, subprocess.Popen] = {}
        try:
            self.create()
        except BaseException:
            self.stop()  # no server outlives a setup that failed half-way
            raise

    def create(self) -> None:
        for port in self.ports:
            self.start(port)
        wait_until(lambda: all(cli(port, "PING") == "PONG" for port in self.ports), "the six redis-servers to start")
        created = subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{port}" for port in self.ports), "--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True, text=True, timeout=120)
        assert created.returncode == 0, created.stdout + created.stderr
        wait_until(self.settled, "every node of the Redis Cluster to agree and the replicas to be in sync", timeout=60)

    def start(self, port: int) -> None:
        """Starts (or starts again: it comes back from its nodes file, as a replica) the server on `port`."""
        self.procs[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", os.path.join(self.dir, f"nodes-{port}.conf"), "--cluster-node-timeout", "1000",
             "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports[:3])

    def alive(self) -> list[int]:
        return [port for port, proc in self.procs.items() if proc.poll() is None]

    def nodes(self) -> list[list[str]]:
        """CLUSTER NODES as seen from a live node: id, address, flags, master, …, slots."""
        return [line.split() for line in cli(self.alive()[0], "CLUSTER", "NODES").splitlines()]

    def settled(self) -> bool:
        if not all("cluster_state:ok" in cli(port, "CLUSTER", "INFO") for port in self.alive()):
            return False
        nodes = self.nodes()
        masters = [n for n in nodes if "master" in n[2] and "fail" not in n[2] and len(n) > 8]
        replicas = [n for n in nodes if "slave" in n[2] and "fail" not in n[2]]
        return len(masters) == 3 and len(replicas) >= len(self.alive()) - 3 and all(
            "master_link_status:up" in cli(int(n[1].split(":")[1].split("@")[0]), "INFO", "replication") for n in replicas)

    def cli(self, *args: str) -> str:
        """A command through redis-cli -c (follows redirects), on a live node."""
        return subprocess.run(["redis-cli", "-c", "-p", str(self.alive()[0]), *args], capture_output=True, text=True, timeout=30).stdout.strip()

    def slot(self, key: str) -> int:
        return int(cli(self.alive()[0], "CLUSTER", "KEYSLOT", key))

    def master_of(self, slot: int) -> tuple[str, int]:
        """The id and port of the master that serves `slot`."""
        for n in self.nodes():
            if "master" not in n[2] or "fail" in n[2]:
                continue
            for part in n[8:]:
                if part.startswith("["):
                    continue
                low, _, high = part.partition("-")
                if int(low) <= slot <= int(high or low):
                    return n[0], int(n[1].split(":")[1].split("@")[0])
        raise AssertionError(f"no master serves slot {slot}")

    def owner(self, slot: int) -> int | None:
        """The port of the master serving `slot`, or None while no live master does (a failover)."""
        try:
            return self.master_of(slot)[1]
        except (AssertionError, IndexError, ValueError):
            return None

    def replica_of(self, master_port: int) -> int:
        """The port of the (first) replica of the master on `master_port`."""
        nodes = self.nodes()
        master = next(n[0] for n in nodes if n[1].split("@")[0].endswith(f":{master_port}"))
        return next(int(n[1].split(":")[1].split("@")[0]) for n in nodes if "slave" in n[2] and n[3] == master)

    def kill(self, port: int) -> None:
        self.procs[port].kill()
        self.procs[port].wait()

    def migrate(self, slot: int, to_port: int) -> None:
        """Moves `slot` and its keys to the master on `to_port`, as `redis-cli --cluster reshard` does."""
        source_id, source_port = self.master_of(slot)
        target_id = cli(to_port, "CLUSTER", "MYID")
        assert cli(to_port, "CLUSTER", "SETSLOT", str(slot), "IMPORTING", source_id) == "OK"
        assert cli(source_port, "CLUSTER", "SETSLOT", str(slot), "MIGRATING", target_id) == "OK"
        while keys := cli(source_port, "CLUSTER", "GETKEYSINSLOT", str(slot), "100").split():
            moved = cli(source_port, "MIGRATE", "127.0.0.1", str(to_port), "", "0", "5000", "KEYS", *keys)
            assert moved in ("OK", "NOKEY"), moved
        for port in (to_port, source_port):
            assert cli(port, "CLUSTER", "SETSLOT", str(slot), "NODE", target_id) == "OK"
        for port in self.alive():
            cli(port, "CLUSTER", "SETSLOT", str(slot), "NODE", target_id)

    def stop(self) -> None:
        stop_processes(self.procs.values(), self.dir)


@pytest.fixture
def redis_cluster():
    setup = RedisClusterSetup()
    yield setup
    setup.stop()


def channels_on_every_master(cluster: RedisClusterSetup, count: int = 3) -> list[str]:
    """Channel names whose partitions' slots are served by different masters."""
    chosen: dict[int, str] = {}
    for n in range(500):
        channel = f"room-{n}"
        _, port = cluster.master_of(cluster.slot(pubsub_name(channel)))
        chosen.setdefault(port, channel)
        if len(chosen) == count:
            return list(chosen.values())
    raise AssertionError("no channel spread found")


def channel_on(cluster: RedisClusterSetup, port: int, stem: str) -> str:
    """A channel `<stem>-<n>` whose partition's slot the master on `port` serves."""
    for n in range(500):
        if cluster.master_of(cluster.slot(pubsub_name(f"{stem}-{n}")))[1] == port:
            return f"{stem}-{n}"
    raise AssertionError(f"no channel {stem}-… on the master on {port}")


def subscribe(ws, channel: str, id, **extra):
    ws.send(json.dumps({"type": "subscribe", "channel": channel, "id": id, **extra}))
    return until(ws, lambda m: m.get("id") == id)


def test_nodes_share_channels_presence_occupancy_and_history_over_every_shard(server, redis_cluster):
    a, b, c = (node(server, redis_cluster, name, "--history-size", "100") for name in ("node-a", "node-b", "node-c"))
    channels = channels_on_every_master(redis_cluster)
    with contextlib.ExitStack() as stack:
        on_a, on_c = native(stack, a), native(stack, c)
        for index, channel in enumerate(channels):
            assert subscribe(on_a, channel, f"a{index}", presence=True)["type"] == "subscribed"
            assert subscribe(on_c, channel, f"c{index}", presence=True)["type"] == "subscribed"
        for channel in channels:
            # Sharded pub/sub: the channel's shard has both nodes' subscriptions, plain pub/sub none.
            _, port = redis_cluster.master_of(redis_cluster.slot(pubsub_name(channel)))
            wait_until(lambda: cli(port, "PUBSUB", "SHARDNUMSUB", pubsub_name(channel)).split()[-1] == "2", f"both nodes to SSUBSCRIBE {channel}")
            assert cli(port, "PUBSUB", "NUMSUB", pubsub_name(channel)).split()[-1] == "0"
        for channel in channels:
            publish_many(b, channel, 3)
        for ws in (on_a, on_c):
            got = [(m["channel"], m["seq"], m["data"]["n"]) for m in messages(ws, 9)]
            assert sorted(got) == sorted((channel, n + 1, n) for channel in channels for n in range(3)), got
        # Presence across nodes: every channel has both clients as members, asked on either node.
        for index, channel in enumerate(channels):
            for ws in (on_a, on_c):
                ws.send(json.dumps({"type": "presence", "channel": channel, "id": f"p{index}"}))
                reply = until(ws, lambda m: m.get("id") == f"p{index}")
                assert reply["type"] == "presence" and reply["count"] == 2, reply
        # Occupancy across nodes, answered by any node.
        status, listed = admin(b, "GET", "/api/channels")
        assert status == 200, listed
        rows = {row["name"]: row for row in listed}
        for channel in channels:
            assert rows[channel]["subscribers"] == 2, rows
    # Which Redis each node talks to: the cluster's masters, each with its slots and replica.
    wait_until(lambda: len(nodes_of(b)) == 3, "the three nodes listed")
    # (CLUSTER SLOTS lists a new replica a little after the cluster is up; the map is read every 5 s.)
    wait_until(lambda: all(len(shard["replicas"]) == 1 for shard in nodes_of(b)["node-a"]["redis"]["shards"]), "each master's replica listed")
    # Each shard's round trip (a PING every second) and subscriber connection, in the heartbeat's report.
    wait_until(
        lambda: all(isinstance(shard["round_trip_us"], int) for shard in nodes_of(b)["node-a"]["redis"]["shards"]), "each shard's round trip measured"
    )
    redis = nodes_of(b)["node-a"]["redis"]
    assert redis["role"] == "cluster" and len(redis["shards"]) == 3, redis
    assert sum(shard["slots"] for shard in redis["shards"]) == 16384 and all(shard["up"] for shard in redis["shards"]), redis["shards"]
    assert all(shard["round_trip_us"] > 0 and shard["subscriber_up"] is True for shard in redis["shards"]), redis["shards"]
    masters = sorted(n[1].split("@")[0] for n in redis_cluster.nodes() if "master" in n[2] and len(n) > 8)
    assert sorted(shard["address"] for shard in redis["shards"]) == masters, redis["shards"]
    assert redis["summary"] == "cluster of 3 masters, 3 up", redis
    request = urllib.request.Request(f"http://127.0.0.1:{a.port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        metrics = response.read().decode()

    def shard_series(name):
        return {line.split('shard="')[1].split('"')[0]: float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(name + "{")}

    assert shard_series("switchboard_redis_shard_up") == dict.fromkeys(masters, 1.0), metrics
    assert shard_series("switchboard_redis_shard_subscriber_up") == dict.fromkeys(masters, 1.0), metrics
    round_trips = shard_series("switchboard_redis_shard_round_trip_seconds")
    assert sorted(round_trips) == masters and all(value > 0 for value in round_trips.values()), round_trips
    # Recovery on another node, from each shard's history.
    with contextlib.ExitStack() as stack:
        ws = native(stack, c)
        first = subscribe(ws, channels[0], 1)
        position = {"seq": first["seq"], "epoch": first["epoch"]}
    publish_many(a, channels[0], 5, first=3)
    with contextlib.ExitStack() as stack:
        ws = native(stack, b)
        reply = subscribe(ws, channels[0], 2, since=position)
        assert reply["recovered"] is True and reply["seq"] == 8, reply
        assert [m["data"]["n"] for m in messages(ws, 5)] == [3, 4, 5, 6, 7]


def test_the_console_shows_each_master_under_the_node_and_a_lost_one_stays_there_down(server, redis_cluster):
    """The nodes pane lists under the node each master it talks to (address, role, round trip,
    pending requests, subscriber connection). With a master and its replica killed the cluster is
    down (no query is served): the pane stays, and that master's row says both links are down."""
    from conftest import BIN
    from tmux import Tmux

    a = node(server, redis_cluster, "node-a")
    wait_until(lambda: len(nodes_of(a)) == 1, "the node listed")
    nodes = redis_cluster.nodes()
    masters = {n[1].split("@")[0]: n[0] for n in nodes if "master" in n[2] and len(n) > 8}

    def shard_rows(screen):
        return {line.split("└ ")[1].split()[0]: line.split("└ ")[1] for line in screen.splitlines() if "└ 127.0.0.1:" in line}

    def all_up(screen):
        rows = shard_rows(screen)
        return sorted(rows) == sorted(masters) and all(
            " master  rtt " in row and "  pending " in row and row.rstrip().endswith("subscriber up") for row in rows.values())

    term = Tmux(f"{BIN} attach http://127.0.0.1:{a.port} --token {TOKEN}", width=160, height=45)
    try:
        term.wait_for(all_up, "a row per master under node-a, each link up")
        lost, lost_id = next(iter(masters.items()))
        replica = next(n[1].split("@")[0] for n in nodes if "slave" in n[2] and n[3] == lost_id)
        for address in (lost, replica):
            redis_cluster.kill(int(address.split(":")[1]))
        screen = term.wait_for(
            lambda s: shard_rows(s).get(lost, "").split()[2:] == ["down", "pending", "0", "subscriber", "down"], "the lost master's row to say down")
        others = [row for address, row in shard_rows(screen).items() if address != lost]
        assert len(others) == 2 and all(row.rstrip().endswith("subscriber up") for row in others), screen
        assert "node-a" in screen, screen
    finally:
        term.close()


def test_a_retried_publish_with_the_same_idempotency_key_is_delivered_once(server, redis_cluster):
    a, b = (node(server, redis_cluster, name) for name in ("node-a", "node-b"))
    with contextlib.ExitStack() as stack:
        listener = native(stack, a)
        subscribe(listener, "orders", 1)
        publisher = native(stack, b)
        for attempt in range(2):
            publisher.send(json.dumps({"type": "publish", "channel": "orders", "data": {"order": 7}, "id": attempt, "idempotency_key": "order-7"}))
        first, second = until(publisher, lambda m: m.get("id") == 0), until(publisher, lambda m: m.get("id") == 1)
        assert first["seq"] == second["seq"] == 1 and second.get("duplicate") is True, (first, second)
        publisher.send(json.dumps({"type": "publish", "channel": "orders", "data": {"order": 8}, "id": 2}))
        assert [m["data"]["order"] for m in messages(listener, 2)] == [7, 8]


def test_a_dead_nodes_users_leave_once_and_each_webhook_is_sent_once_on_a_redis_cluster(server, redis_cluster, tmp_path):
    """The one-Redis test, on a Redis Cluster: presence, occupancy, a dead node swept partition by
    partition, and webhooks read from every partition's stream, each sent once."""
    dead_node_webhooks(server, redis_cluster, tmp_path)


class Publisher(threading.Thread):
    """Publishes numbered messages to `channel` through node `s` until stopped, one at a time;
    records which were acked and how many were refused."""

    def __init__(self, s, channel: str):
        super().__init__(daemon=True)
        self.s, self.channel = s, channel
        self.acked: list[int] = []
        self.refused = 0
        self.stopping = threading.Event()

    def run(self):
        with contextlib.ExitStack() as stack:
            ws = native(stack, self.s)
            n = 0
            while not self.stopping.is_set():
                ws.send(json.dumps({"type": "publish", "channel": self.channel, "data": {"n": n}, "id": n}))
                reply = until(ws, lambda m: m.get("id") == n)
                if reply["type"] == "ack":
                    self.acked.append(n)
                else:
                    assert reply["type"] == "error" and reply["code"] in ("unavailable", "timeout"), reply
                    self.refused += 1
                    time.sleep(0.05)
                n += 1

    def stop(self):
        self.stopping.set()
        self.join(timeout=TIMEOUT)


def received_numbers(ws, until_number: int) -> tuple[list[int], int]:
    """Message numbers received until `until_number` arrives, and how many loss notices came."""
    numbers, notices = [], 0
    while True:
        message = json.loads(ws.recv(timeout=TIMEOUT))
        if message["type"] == "error" and message.get("code") == "messages_lost":
            notices += 1
        elif message["type"] == "message":
            numbers.append(message["data"]["n"])
            if message["data"]["n"] == until_number:
                return numbers, notices


@contextlib.contextmanager
def publishing(server, redis_cluster, *args: str):
    """Two nodes: a subscriber of a channel on node-a, and numbered publishes to it flowing through
    node-b. Yields the channel's slot, the subscriber, the publisher and the two nodes."""
    a, b = (node(server, redis_cluster, name, *args) for name in ("node-a", "node-b"))
    channel = channels_on_every_master(redis_cluster, 1)[0]
    with contextlib.ExitStack() as stack:
        listener = native(stack, a)
        subscribe(listener, channel, 1)
        publisher = Publisher(b, channel)
        publisher.start()
        wait_until(lambda: len(publisher.acked) >= 20, "publishes to flow")
        yield redis_cluster.slot(pubsub_name(channel)), listener, publisher, (a, b)


def test_a_master_killed_under_publishes_fails_over_without_losing_an_acked_message(server, redis_cluster):
    with publishing(server, redis_cluster, "--redis-ack-replicas", "1") as (slot, listener, publisher, _):
        _, port = redis_cluster.master_of(slot)
        redis_cluster.kill(port)
        wait_until(lambda: redis_cluster.owner(slot) not in (None, port), "a replica to take over the slot", timeout=60)
        # The new master has no replica until the old one comes back as its replica: until then
        # no publish can be acked (--redis-ack-replicas 1), each is refused "may or may not".
        redis_cluster.start(port)
        wait_until(redis_cluster.settled, "the old master to be back as the new one's replica, in sync", timeout=60)
        acked_before = len(publisher.acked)
        wait_until(lambda: len(publisher.acked) >= acked_before + 20, "publishes to flow again through the promoted replica", timeout=60)
        publisher.stop()
        last = publisher.acked[-1]
        numbers, _ = received_numbers(listener, last)
        # Every acked message arrived, each once.
        assert set(publisher.acked) <= set(numbers), sorted(set(publisher.acked) - set(numbers))
        assert len(numbers) == len(set(numbers)), "a message arrived twice"


def test_a_busy_channels_slot_migrated_to_another_master_loses_and_doubles_nothing(server, redis_cluster):
    with publishing(server, redis_cluster) as (slot, listener, publisher, nodes):
        channel = publisher.channel
        _, source = redis_cluster.master_of(slot)
        target = next(port for _, port in (redis_cluster.master_of(s) for s in (0, 8000, 16000)) if port != source)
        redis_cluster.migrate(slot, target)
        assert redis_cluster.master_of(slot)[1] == target
        wait_until(lambda: cli(target, "PUBSUB", "SHARDNUMSUB", pubsub_name(channel)).split()[-1] == "1", "node-a to subscribe on the new owner")
        acked_before = len(publisher.acked)
        wait_until(lambda: len(publisher.acked) >= acked_before + 20, "publishes to flow on the new owner")
        publisher.stop()
        numbers, notices = received_numbers(listener, publisher.acked[-1])
        assert len(numbers) == len(set(numbers)), "a message arrived twice"
        missing = set(publisher.acked) - set(numbers)
        # The channel keeps no history: what pub/sub dropped while the node moved its subscription
        # is announced, never silently missing.
        assert not missing or notices > 0, sorted(missing)
        # The resharding is an event on every node (log, event pane, /api/events), not a failover.
        moved = f"Redis Cluster resharding: slots {slot} from 127.0.0.1:{source} to 127.0.0.1:{target}"
        for n in nodes:
            wait_until(lambda: moved in server_events(n, TOKEN), "every node to tell the resharding")
            assert not any(d.startswith("Redis master change") for d in server_events(n, TOKEN)), server_events(n, TOKEN)


def test_a_kept_channels_slot_migrated_under_publishes_from_three_nodes_delivers_every_acked_message_once(
        server, redis_cluster, tmp_path):
    """A slot resharded while three nodes publish to its channel, which keeps history: what
    pub/sub dropped while the nodes moved their subscriptions is filled from history, so every
    subscriber gets every acked message once, in order, and no two under one position."""
    nodes = cluster(server, redis_cluster, tmp_path)
    _, source = redis_cluster.master_of(16383)
    channel = channel_on(redis_cluster, source, "kept:moving")
    slot = redis_cluster.slot(pubsub_name(channel))
    target = next(port for _, port in (redis_cluster.master_of(s) for s in (0, 8000)) if port != source)
    with contextlib.ExitStack() as stack:
        subscribers = [RecordingSubscriber(stack, s, (channel,)) for s in nodes]
        publishers = [IdPublisher(stack, s, f"p{index}", (channel,)) for index, s in enumerate(nodes)]
        delivered(subscribers, [key for p in publishers for key in p.burst(5)])
        stopping = threading.Event()

        def keep_publishing(publisher):
            while not stopping.is_set():
                publisher.burst(5)

        def acks(publisher) -> int:  # while its thread adds answers (a dict's copy is atomic)
            return sum(reply["type"] == "ack" for reply in publisher.answers.copy().values())

        threads = [threading.Thread(target=keep_publishing, args=(p,), daemon=True) for p in publishers]
        for thread in threads:
            thread.start()
        try:
            acked_before = [acks(p) for p in publishers]
            redis_cluster.migrate(slot, target)
            wait_until(lambda: cli(target, "PUBSUB", "SHARDNUMSUB", pubsub_name(channel)).split()[-1] == "3",
                       "every node to subscribe on the new owner")
            wait_until(lambda: all(acks(p) >= n + 30 for p, n in zip(publishers, acked_before)), "publishes to flow on the new owner")
        finally:
            stopping.set()
            for thread in threads:
                thread.join(timeout=TIMEOUT)
        delivered(subscribers, [key for p in publishers for key in p.burst(5)])
        acked = set().union(*(p.acked() for p in publishers))
        check_positions(subscribers, acked)
        check_acked_delivered_once(subscribers, acked)
        for subscriber in subscribers:
            numbers = [f["seq"] for f in subscriber.of(channel) if f["type"] == "message"]
            assert numbers == sorted(numbers), "delivered out of order"


@contextlib.contextmanager
def a_shard_failed_over_to_a_lagging_replica(server, redis_cluster: RedisClusterSetup, tmp_path, *options: str, lagging: int, bring_back=False):
    """Three nodes, each with a subscriber and a publisher (with ids) of two channels of one
    master's shard (one keeping history; not the first shard, whose connection used to be the
    only one watched for a master change) and one channel of another shard. That master is killed
    while its replica lags (its link cut), the replica takes over, and publishes go on (refused
    meanwhile) until every publisher's are acked again; with `bring_back`, the old master comes
    back first (empty), as the new master's replica. Yields what happened: the nodes,
    subscribers and publishers, the failed-over master's and replica's ports, its shard's
    channels and the other one's, and the ids published before the master was killed."""
    nodes = cluster(server, redis_cluster, tmp_path, *options)
    _, master = redis_cluster.master_of(16383)
    _, other = redis_cluster.master_of(0)
    assert master != other
    shard_channels = (channel_on(redis_cluster, master, "kept:feed"), channel_on(redis_cluster, master, "feed"))
    other_channels = (channel_on(redis_cluster, other, "kept:other"),)
    replica = redis_cluster.replica_of(master)
    with contextlib.ExitStack() as stack:
        subscribers = [RecordingSubscriber(stack, s, shard_channels + other_channels) for s in nodes]
        publishers = [IdPublisher(stack, s, f"p{index}", shard_channels + other_channels) for index, s in enumerate(nodes)]
        delivered(subscribers, [key for p in publishers for key in p.burst(5)])
        kill_master_of_a_lagging_replica(
            redis_cluster.procs[replica], master, lambda: redis_cluster.kill(master), publishers, subscribers, lagging)
        before = {key for p in publishers for key in p.answers}
        wait_until(lambda: redis_cluster.owner(16383) == replica, "the lagging replica to take over its master's slots", timeout=60)
        if bring_back:
            redis_cluster.start(master)
            wait_until(redis_cluster.settled, "the old master to be back as the new one's replica, in sync", timeout=60)
        publish_until_acked(publishers)
        delivered(subscribers, [key for p in publishers for key in p.burst(10)])
        yield types.SimpleNamespace(
            nodes=nodes, subscribers=subscribers, publishers=publishers, master=master, replica=replica, shard_channels=shard_channels,
            other_channels=other_channels, before=before)


def test_no_client_sees_two_messages_under_one_position_after_a_shards_failover_to_a_lagging_replica(server, redis_cluster, tmp_path):
    with a_shard_failed_over_to_a_lagging_replica(server, redis_cluster, tmp_path, lagging=10) as run:
        refusals = [reply for p in run.publishers for reply in p.refusals()]
        assert refusals and all(reply["code"] == "unavailable" for reply in refusals), refusals[:5]
        acked = set().union(*(p.acked() for p in run.publishers))
        seen = {i for s in run.subscribers for c in s.channels for i in s.ids(c)}
        check_positions(run.subscribers, acked | seen)
        # The failed-over shard's channels continue in a new epoch; the other shard's lost nothing.
        check_new_epoch_announced(run.subscribers, run.shard_channels)
        for subscriber in run.subscribers:
            for channel in run.other_channels:
                assert all(f["type"] == "message" for f in subscriber.of(channel)), subscriber.of(channel)
        check_acked_delivered_once(run.subscribers, acked, run.other_channels)
        # Each node fenced the shard's channels before its publishes resumed: what it acked after
        # the failover was numbered in the new epoch, and (where history fills what pub/sub
        # missed while the subscribers moved to the new master) reached every subscriber.
        check_acked_delivered_once(run.subscribers, acked - run.before, [c for c in run.shard_channels if c.startswith("kept:")])
        # Every node saw the shard's new master in the slot map.
        for s in run.nodes:
            details = server_events(s)
            change = f"from 127.0.0.1:{run.master} to 127.0.0.1:{run.replica}"
            assert any(d.startswith("Redis master change: slots") and change in d for d in details), details


def test_every_acked_message_is_delivered_once_after_a_shards_failover_when_acks_wait_for_the_replica(server, redis_cluster, tmp_path):
    options = ("--redis-ack-replicas", "1", "--redis-ack-timeout", "0.3")
    with a_shard_failed_over_to_a_lagging_replica(server, redis_cluster, tmp_path, *options, lagging=3, bring_back=True) as run:
        acked = set().union(*(p.acked() for p in run.publishers))
        check_positions(run.subscribers, acked)
        check_acked_delivered_once(run.subscribers, acked)
