"""Browser origins: same-origin pages and `--allowed-origins` get in, other pages get 403."""
import asyncio

import pytest
import websockets
import websockets.exceptions


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


async def welcomed(url: str, origin: str | None) -> bool:
    async with websockets.connect(url, origin=origin) as ws:
        return '"type":"welcome"' in await ws.recv()


async def refusal(url: str, origin: str) -> int:
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(url, origin=origin):
            pass
    return refused.value.response.status_code


def test_default_admits_same_origin_pages_and_non_browsers_only(server):
    s = server()

    async def scenario():
        assert await welcomed(s.url, None)
        assert await welcomed(s.url, f"http://127.0.0.1:{s.port}")
        assert await refusal(s.url, "http://evil.example") == 403
        assert await refusal(s.url, "null") == 403
        assert await welcomed(s.url, None)  # still serving

    run(scenario())


def test_allowed_origins_adds_exactly_the_listed_pages(server):
    s = server("--allowed-origins", "https://app.example.com,http://localhost:3000")

    async def scenario():
        assert await welcomed(s.url, "https://app.example.com")
        assert await welcomed(s.url, "http://localhost:3000")
        assert await welcomed(s.url, f"http://127.0.0.1:{s.port}")
        assert await refusal(s.url, "https://app.example.com.evil.example") == 403

    run(scenario())


def test_star_admits_every_origin(server):
    s = server("--allowed-origins", "*")
    run(welcomed(s.url, "http://anything.example"))


def test_bad_origin_setting_is_refused_with_exit_2(tmp_path):
    import subprocess
    from conftest import BIN

    done = subprocess.run([BIN, "serve", "--headless", "--allowed-origins", "app.example.com"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "allowed-origins" in done.stderr
