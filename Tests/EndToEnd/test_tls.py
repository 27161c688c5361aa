"""TLS (`--tls-cert`, `--tls-key`) with a self-signed certificate made for the test."""
import asyncio
import json
import ssl
import subprocess
import urllib.request

import pytest
import websockets

from conftest import BIN


@pytest.fixture
def certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def test_wss_and_https_with_a_self_signed_certificate(server, certificate):
    cert, key = certificate
    s = server("--tls-cert", str(cert), "--tls-key", str(key), ready_scheme="https", ready_cafile=str(cert))
    context = ssl.create_default_context(cafile=str(cert))

    async def scenario():
        async with websockets.connect(f"wss://127.0.0.1:{s.port}/ws", ssl=context) as a, \
                websockets.connect(f"wss://127.0.0.1:{s.port}/ws", ssl=context) as b:
            for ws in (a, b):
                assert json.loads(await ws.recv())["type"] == "welcome"
            await a.send(json.dumps({"type": "subscribe", "channel": "tls"}))
            await a.recv()
            await b.send(json.dumps({"type": "publish", "channel": "tls", "data": "secret"}))
            assert json.loads(await a.recv())["data"] == "secret"
        # plain ws:// to a TLS port does not get in
        with pytest.raises(Exception):
            async with websockets.connect(f"ws://127.0.0.1:{s.port}/ws", open_timeout=10):
                pass

    asyncio.run(asyncio.wait_for(scenario(), timeout=60))
    with urllib.request.urlopen(f"https://127.0.0.1:{s.port}/healthz", context=context, timeout=10) as r:
        assert r.status == 200


def test_tls_setting_errors_exit_2(certificate, tmp_path):
    cert, key = certificate
    only_cert = subprocess.run([BIN, "serve", "--headless", "--tls-cert", str(cert)], capture_output=True, text=True, timeout=60)
    assert only_cert.returncode == 2 and "go together" in only_cert.stderr
    missing = tmp_path / "missing.pem"
    bad = subprocess.run([BIN, "serve", "--headless", "--tls-cert", str(missing), "--tls-key", str(key)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "missing.pem" in bad.stderr
