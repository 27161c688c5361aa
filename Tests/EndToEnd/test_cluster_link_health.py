"""An operator sees a Redis blip first, not last: while a clustered node's link to Redis is down
the health says so, the nodes stay listed (this node `down`, the others as last seen), and the
loss and the return are events (event log and the log at warning level)."""
import time

from conftest import Redis
from test_users_and_limits import TOKEN, admin, wait_until


def test_a_lost_redis_link_shows_in_health_nodes_and_events(server, redis: Redis):
    a = server("--redis", redis.url, "--node-name", "node-a", "--admin-token", TOKEN)
    b = server("--redis", redis.url, "--node-name", "node-b", "--admin-token", TOKEN)

    def stats():
        return admin(a, "GET", "/api/stats")[1]

    wait_until(lambda: [n["state"] for n in stats().get("nodes") or []] == ["alive", "alive"], "both nodes alive")
    assert stats()["server"]["health"] == "ok"
    redis.kill()
    wait_until(lambda: stats()["server"]["health"] == "redis link down", "the health to name the link")
    nodes = {n["name"]: n for n in stats()["nodes"]}
    assert nodes["node-a"]["state"] == "down" and not nodes["node-a"]["redis_up"]
    assert nodes["node-b"]["state"] == "?"
    redis.start()
    wait_until(lambda: stats()["server"]["health"] == "ok", "the link to come back")
    wait_until(lambda: [n["state"] for n in stats().get("nodes") or []] == ["alive", "alive"], "both nodes alive again")
    details = [e["detail"] for e in admin(a, "GET", "/api/events?limit=1000")[1] if e["kind"] == "server"]
    assert any(d.startswith("Redis link down: the request connection was lost") for d in details), details
    assert any(d.startswith("Redis link up again: the request connection is back after") for d in details), details
    _, logs = a.terminate()
    assert "warning" in logs and "Redis link down" in logs
    b.terminate()
