"""Client authentication with HS256 JWTs (`--auth-jwt-secret`), tokens made by PyJWT."""
import asyncio
import json
import time

import jwt
import pytest
import websockets
import websockets.exceptions

SECRET = "test-secret-0123456789abcdef-0123456789"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


def token(secret: str = SECRET, **claims) -> str:
    return jwt.encode({"sub": "ann", **claims}, secret, algorithm="HS256")


async def refused(url: str, **kwargs) -> tuple[int, str]:
    with pytest.raises(websockets.exceptions.InvalidStatus) as refusal:
        async with websockets.connect(url, **kwargs):
            pass
    response = refusal.value.response
    return response.status_code, response.body.decode()


def test_missing_wrong_and_expired_tokens_get_401_before_the_upgrade(server):
    s = server("--auth-jwt-secret", SECRET)

    async def scenario():
        status, body = await refused(s.url)
        assert status == 401 and "token is required" in body
        status, body = await refused(f"{s.url}?token={token('another-secret-0123456789-0123456789abc')}")
        assert status == 401 and "signature" in body
        status, body = await refused(f"{s.url}?token={token(exp=int(time.time()) - 60)}")
        assert status == 401 and "expired" in body
        status, _ = await refused(f"{s.url}?token=not.a.jwt")
        assert status == 401
        status, _ = await refused(s.url, additional_headers={"Authorization": f"Bearer {token(sub='')}"})
        assert status == 401
        # still serving, and the admin stream is not a client path: its own token still rules
        async with websockets.connect(f"{s.url}?token={token()}") as ws:
            assert json.loads(await ws.recv())["type"] == "welcome"

    run(scenario())


def test_sub_is_the_user_and_channels_claim_limits_subscribe_and_publish(server):
    s = server("--auth-jwt-secret", SECRET)

    async def scenario():
        limited = token(sub="bob", channels=["news", "room:*"], exp=int(time.time()) + 600)
        async with websockets.connect(s.url, additional_headers={"Authorization": f"Bearer {limited}"}) as ws:
            welcome = json.loads(await ws.recv())
            assert welcome["user"] == "bob"
            for channel in ("news", "room:7"):
                await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
                assert json.loads(await ws.recv()) == {"type": "subscribed", "channel": channel}
            await ws.send(json.dumps({"type": "subscribe", "channel": "secret", "id": 1}))
            reply = json.loads(await ws.recv())
            assert reply["type"] == "error" and reply["code"] == "forbidden" and reply["id"] == 1
            await ws.send(json.dumps({"type": "publish", "channel": "secret", "data": 1, "id": 2}))
            reply = json.loads(await ws.recv())
            assert reply["code"] == "forbidden" and reply["id"] == 2
            await ws.send(json.dumps({"type": "publish", "channel": "room:7", "data": {"ok": True}, "id": 3}))
            replies = [json.loads(await ws.recv()) for _ in range(2)]
            assert {"type": "ack", "id": 3} in replies
            assert any(r["type"] == "message" and r["data"] == {"ok": True} for r in replies)

    run(scenario())


def test_without_a_secret_no_token_is_needed(server):
    s = server()

    async def scenario():
        async with websockets.connect(s.url) as ws:
            assert "user" not in json.loads(await ws.recv())

    run(scenario())


def test_short_secrets_are_refused_with_exit_2():
    import subprocess
    from conftest import BIN

    done = subprocess.run([BIN, "serve", "--headless", "--auth-jwt-secret", "too-short"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "at least 32 bytes" in done.stderr
