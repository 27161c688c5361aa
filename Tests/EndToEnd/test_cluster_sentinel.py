"""Redis Sentinel (`--redis redis+sentinel://…/MASTER`): nodes ask the sentinels for the master,
check its ROLE, authenticate, and follow a failover by themselves: a master killed with -9 while
clients publish means publishes refused (503, never acked and lost) during the switch, then
flowing again through the promoted replica without a restart of any node. Real redis-server
processes (a master, a replica, three sentinels) on loopback, started and killed by pid."""
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time

import pytest
from websockets.sync.client import connect

from conftest import free_port, stop_processes
from native_client import TIMEOUT, until
from test_users_and_limits import TOKEN, admin, wait_until

PASSWORD = "sentinel-test-password"


class SentinelSetup:
    """A master and a replica (both with requirepass) watched by three sentinels."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="switchboard-sentinel-")
        self.procs: dict[str, subprocess.Popen] = {}
        self.master_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        auth = ["--requirepass", PASSWORD, "--masterauth", PASSWORD]
        self.redis("master", self.master_port, *auth)
        self.redis("replica", self.replica_port, *auth, "--replicaof", "127.0.0.1", str(self.master_port))
        for index, port in enumerate(self.sentinel_ports):
            config = os.path.join(self.dir, f"sentinel-{index}.conf")
            with open(config, "w") as f:
                f.write(
                    f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                    f"sentinel monitor mymaster 127.0.0.1 {self.master_port} 2\n"
                    f"sentinel auth-pass mymaster {PASSWORD}\n"
                    "sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 5000\n")
            self.procs[f"sentinel-{index}"] = subprocess.Popen(
                ["redis-server", config, "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.replicas_known() >= 1, "the sentinels to know the replica")
        wait_until(lambda: "state=online" in self.master_info(), "the replica to be in sync")

    def master_info(self) -> str:
        return subprocess.run(
            ["redis-cli", "--no-auth-warning", "-a", PASSWORD, "-p", str(self.master_port), "info", "replication"],
            capture_output=True, text=True, timeout=30).stdout

    def redis(self, name: str, port: int, *args: str):
        self.procs[name] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir, *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def sentinel(self, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(self.sentinel_ports[0]), *args], capture_output=True, text=True, timeout=30).stdout

    def replicas_known(self) -> int:
        out = self.sentinel("sentinel", "replicas", "mymaster")
        return out.count("\nip\n") + out.startswith("name\n")

    def master(self) -> int:
        lines = self.sentinel("sentinel", "get-master-addr-by-name", "mymaster").split()
        return int(lines[1]) if len(lines) == 2 else 0

    @property
    def url(self) -> str:
        sentinels = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://:{PASSWORD}@{sentinels}/mymaster"

    def kill(self, name: str):
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop(self):
        stop_processes(self.procs.values(), self.dir)


@pytest.fixture
def sentinels():
    setup = SentinelSetup()
    yield setup
    setup.stop()


def test_nodes_follow_a_sentinel_failover_by_themselves(server, sentinels):
    a = server("--redis", sentinels.url, "--node-name", "node-a", "--admin-token", TOKEN)
    b = server("--redis", sentinels.url, "--node-name", "node-b", "--admin-token", TOKEN)
    with contextlib.ExitStack() as stack:
        subscriber = stack.enter_context(connect(b.url, open_timeout=TIMEOUT))
        subscriber.send(json.dumps({"type": "subscribe", "channel": "news", "id": 1}))
        assert until(subscriber, lambda m: m.get("id") == 1)["type"] == "subscribed"
        status, body, _ = admin(a, "POST", "/api/publish", {"channel": "news", "data": "before"})
        assert status == 200, body
        assert until(subscriber, lambda m: m.get("type") == "message")["data"] == "before"

        sentinels.kill("master")
        # During the switch a publish is refused (never acked and lost); once the sentinels have
        # promoted the replica, both nodes reach it by themselves.
        refused, answers = 0, []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, body, _ = admin(a, "POST", "/api/publish", {"channel": "news", "data": f"after-{len(answers)}"})
            answers.append(status)
            if status == 200:
                break
            assert status == 503 and body["error"]["code"] == "unavailable", body
            refused += 1
            time.sleep(0.1)
        assert answers[-1] == 200, f"no publish went through after the failover: {answers[-5:]}"
        assert sentinels.master() == sentinels.replica_port
        # The subscriber on the other node gets the new master's messages without reconnecting.
        wait_until(lambda: admin(b, "GET", "/api/stats")[1]["server"]["health"] == "ok", "node-b to reach the new master")
        for n in range(3):
            admin(a, "POST", "/api/publish", {"channel": "news", "data": f"flowing-{n}"})
        seen = []
        while len(seen) < 3:
            message = until(subscriber, lambda m: m.get("type") == "message" and str(m.get("data", "")).startswith("flowing-"))
            seen.append(message["data"])
        assert seen == ["flowing-0", "flowing-1", "flowing-2"]
        wait_until(
            lambda: {n["name"]: n["state"] for n in admin(a, "GET", "/api/stats")[1]["nodes"] or []} == {"node-a": "alive", "node-b": "alive"},
            "both nodes alive on the new master")
        details = [e["detail"] for e in admin(a, "GET", "/api/events?limit=1000")[1] if e["kind"] == "server"]
        assert any(d.startswith("Redis link up again") for d in details), details


def test_a_wrong_password_and_an_unknown_master_say_why(server, sentinels):
    url = sentinels.url.replace(f":{PASSWORD}@", ":wrong@")
    s = server("--redis", url, "--node-name", "node-x", "--admin-token", TOKEN)
    status, body, _ = admin(s, "POST", "/api/publish", {"channel": "news", "data": 1})
    assert status == 503 and body["error"]["code"] == "unavailable"
    _, logs = s.terminate()
    assert "refused the connection" in logs and "WRONGPASS" in logs, logs[-2000:]
    unknown = sentinels.url.replace("/mymaster", "/nosuchmaster")
    s = server("--redis", unknown, "--node-name", "node-y", "--admin-token", TOKEN)
    _, logs = s.terminate()
    assert "no sentinel named a master for nosuchmaster" in logs, logs[-2000:]


def test_acks_wait_for_the_replicas_when_asked(server, sentinels):
    s = server("--redis", sentinels.url, "--node-name", "node-a", "--admin-token", TOKEN, "--redis-ack-replicas", "1", "--redis-ack-timeout", "0.5")
    with connect(s.url, open_timeout=TIMEOUT) as client:
        client.send(json.dumps({"type": "subscribe", "channel": "news", "id": 1}))
        assert until(client, lambda m: m.get("id") == 1)["type"] == "subscribed"
        # With the replica up every publish is acked once it has the message.
        for n in range(5):
            client.send(json.dumps({"type": "publish", "channel": "news", "data": n, "id": 10 + n}))
            reply = until(client, lambda m: m.get("id") == 10 + n)
            assert reply["type"] == "ack", reply
        status, body, _ = admin(s, "POST", "/api/publish", {"channel": "news", "data": "api"})
        assert status == 200 and body["seq"] == 6, body
        # /api/nodes says which Redis the node talks to, and how far behind its replica is.
        def redis_of_node():
            return admin(s, "GET", "/api/nodes")[1]["nodes"][0]["redis"]
        wait_until(lambda: redis_of_node().get("replicas"), "the node to read the master's replicas")
        redis = redis_of_node()
        assert redis["server"] == f"127.0.0.1:{sentinels.master_port}" and redis["role"] == "master", redis
        assert [r["address"] for r in redis["replicas"]] == [f"127.0.0.1:{sentinels.replica_port}"], redis
        assert redis["replicas"][0]["state"] == "online" and redis["summary"].startswith("master, 1 replica"), redis
        # Without it nothing can be confirmed: the answer says the outcome is unknown.
        sentinels.kill("replica")
        client.send(json.dumps({"type": "publish", "channel": "news", "data": "unconfirmed", "id": 99}))
        answer = until(client, lambda m: m.get("id") == 99)
        assert answer["type"] == "error" and answer["code"] == "unavailable", answer
        assert "may or may not have been published" in answer["message"] and "replicas" in answer["message"], answer
        status, body, _ = admin(s, "POST", "/api/publish", {"channel": "news", "data": "api"})
        assert status == 503 and "may or may not" in body["error"]["message"], body


def test_a_failover_the_sentinels_announce_is_followed_while_the_old_master_still_answers(server, sentinels):
    # A manual failover demotes the master without killing it: it keeps answering (reads, pub/sub)
    # and only refuses writes, so the node must move because the sentinels said so.
    a = server("--redis", sentinels.url, "--node-name", "node-a", "--admin-token", TOKEN)
    with contextlib.ExitStack() as stack:
        subscriber = stack.enter_context(connect(a.url, open_timeout=TIMEOUT))
        subscriber.send(json.dumps({"type": "subscribe", "channel": "news", "id": 1}))
        assert until(subscriber, lambda m: m.get("id") == 1)["type"] == "subscribed"
        wait_until(
            lambda: "name=switchboard-node-a-sentinel" in sentinels.sentinel("client", "list"), "the node to listen to the sentinels")
        old_master = sentinels.master_port
        assert "OK" in sentinels.sentinel("sentinel", "failover", "mymaster")
        wait_until(lambda: sentinels.master() == sentinels.replica_port, "the sentinels to promote the replica")

        def switched():
            events = admin(a, "GET", "/api/events?limit=1000")[1]
            return [e["detail"] for e in events if "the sentinels switched the master" in e["detail"]]

        wait_until(switched, "the failover to be an event")
        detail = switched()[0]
        assert f":{old_master} to 127.0.0.1:{sentinels.replica_port}" in detail, detail
        # Both connections moved: a publish goes through the new master and reaches the subscriber.
        def published():
            status, body, _ = admin(a, "POST", "/api/publish", {"channel": "news", "data": "after"})
            return status == 200
        wait_until(published, "a publish through the new master")
        assert until(subscriber, lambda m: m.get("type") == "message")["data"] == "after"
        wait_until(
            lambda: "name=switchboard-node-a-sub" in subprocess.run(
                ["redis-cli", "--no-auth-warning", "-a", PASSWORD, "-p", str(sentinels.replica_port), "client", "list"],
                capture_output=True, text=True, timeout=30).stdout,
            "the subscriber connection on the new master")
