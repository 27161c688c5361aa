"""Abuse and limits against the real binary: each case misbehaves on a raw socket, checks the
server's answer, then proves a fresh client is still served. RSS and open file descriptors of
the server are recorded before and after every case and printed at the end of the run."""
import asyncio
import json
import os
import socket
import struct
import time

import pytest
import websockets

HANDSHAKE = (
    "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = True, length: int | None = None, rsv1: bool = False) -> bytes:
    """A client frame; `length` overrides the declared payload length."""
    declared = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    mask_bit = 0x80 if mask else 0
    if declared < 126:
        head += bytes([mask_bit | declared])
    elif declared < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", declared)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", declared)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class Raw:
    """A WebSocket client on a bare socket, for sending what real clients never would."""

    def __init__(self, port: int, source: str = "127.0.0.1"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
        self.buffer = b""

    def upgrade(self, port: int, path: str = "/ws", extensions: str | None = None) -> None:
        request = HANDSHAKE.format(path=path, port=port)
        if extensions:
            request = request[:-2] + f"Sec-WebSocket-Extensions: {extensions}\r\n\r\n"
        self.sock.sendall(request.encode())
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        return data

    def read_frame(self) -> tuple[int, bytes]:
        while True:
            if len(self.buffer) >= 2:
                opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
                offset = 2
                if length == 126:
                    length, offset = struct.unpack("!H", self.buffer[2:4])[0], 4
                elif length == 127:
                    length, offset = struct.unpack("!Q", self.buffer[2:10])[0], 10
                if len(self.buffer) >= offset + length:
                    payload = self.buffer[offset:offset + length]
                    self.buffer = self.buffer[offset + length:]
                    return opcode, payload
            self.buffer += self._recv()

    def close_code(self) -> int:
        """Reads until the server's close frame and returns its code."""
        while True:
            opcode, payload = self.read_frame()
            if opcode == 8:
                return struct.unpack("!H", payload[:2])[0]

    def http_status(self, request: bytes) -> int:
        self.sock.sendall(request)
        data = b""
        try:
            while b"\r\n" not in data:
                data += self._recv()
        except (EOFError, ConnectionResetError):
            pass
        return int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else 0

    def close(self) -> None:
        self.sock.close()


def process_figures(pid: int) -> tuple[int, int]:
    """(RSS in KiB, open file descriptors) of a process."""
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


RECORDS: list[str] = []
# The connection flood: this many clients from 127.0.0.2-.11 fill --max-connections.
FLOOD = 2000


@pytest.fixture
def hub(server, request):
    s = server("--max-connections", str(FLOOD), "--handshake-timeout", "2", "--heartbeat", "60")
    before = process_figures(s.proc.pid)
    yield s
    # every case ends with a fresh client served
    async def fresh():
        async with websockets.connect(s.url) as ws:
            assert json.loads(await ws.recv())["type"] == "welcome"
            await ws.send('{"type":"ping","id":1}')
            assert json.loads(await ws.recv()) == {"type": "pong", "id": 1}
    asyncio.run(asyncio.wait_for(fresh(), timeout=60))
    after = process_figures(s.proc.pid)
    RECORDS.append(f"{request.node.name}: RSS {before[0]} -> {after[0]} KiB, fds {before[1]} -> {after[1]}")


def settle_fds(pid: int, target: int) -> int:
    """Open fds once closed connections are reaped (polls; no timing assertion)."""
    for _ in range(500):
        count = process_figures(pid)[1]
        if count <= target:
            return count
        time.sleep(0.02)
    return process_figures(pid)[1]


def test_frame_length_2_63_minus_1_closes_1009(hub):
    raw = Raw(hub.port)
    raw.upgrade(hub.port)
    raw.read_frame()  # welcome
    raw.sock.sendall(frame(1, b"", length=(1 << 63) - 1))
    assert raw.close_code() == 1009


def test_frame_length_with_the_top_bit_set_closes_1002(hub):
    raw = Raw(hub.port)
    raw.upgrade(hub.port)
    raw.read_frame()
    raw.sock.sendall(frame(1, b"", length=1 << 63 | 5))
    assert raw.close_code() == 1002


def test_declared_1_gib_message_closes_1009_without_buffering(hub):
    raw = Raw(hub.port)
    raw.upgrade(hub.port)
    raw.read_frame()
    raw.sock.sendall(frame(2, b"", length=1 << 30)[:14] + b"x" * 1024)
    assert raw.close_code() == 1009


def test_endless_continuation_fragments_close_1009(hub):
    raw = Raw(hub.port)
    raw.upgrade(hub.port)
    raw.read_frame()
    raw.sock.sendall(frame(1, b"[" * 1000, fin=False))
    code = None
    for _ in range(200):  # 200 KB of fragments against a 64 KiB limit
        try:
            raw.sock.sendall(frame(0, b"[" * 1000, fin=False))
        except (BrokenPipeError, ConnectionResetError):
            break
    code = raw.close_code()
    assert code == 1009


def test_random_bytes_after_the_handshake_close_1002(hub):
    raw = Raw(hub.port)
    raw.upgrade(hub.port)
    raw.read_frame()
    raw.sock.sendall(bytes([0x8F, 0xFE]) + os.urandom(512))  # reserved opcode 0xF
    assert raw.close_code() == 1002


def test_deflate_bomb_closes_1009_without_inflating_it_all(hub):
    import zlib
    raw = Raw(hub.port)
    raw.upgrade(hub.port, extensions="permessage-deflate")
    raw.read_frame()
    squeezer = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = squeezer.compress(b"0" * (60 * 1024 * 1024)) + squeezer.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 64 * 1024  # 60 MiB in under 64 KiB on the wire, against a 64 KiB limit
    raw.sock.sendall(frame(1, bomb[:-4], rsv1=True))
    assert raw.close_code() == 1009


def test_rsv1_without_negotiated_deflate_closes_1002(hub):
    raw = Raw(hub.port)
    raw.upgrade(hub.port)
    raw.read_frame()
    raw.sock.sendall(frame(1, b"{}", rsv1=True))
    assert raw.close_code() == 1002


def test_data_after_close_is_ignored(hub):
    raw = Raw(hub.port)
    raw.upgrade(hub.port)
    raw.read_frame()
    raw.sock.sendall(frame(8, struct.pack("!H", 1000)) + frame(1, b'{"type":"ping","id":5}') * 10)
    assert raw.close_code() == 1000
    with pytest.raises((EOFError, ConnectionResetError)):
        while True:
            opcode, _ = raw.read_frame()
            assert opcode != 1, "a request sent after close was answered"


def test_reset_mid_frame(hub):
    for _ in range(20):
        raw = Raw(hub.port)
        raw.upgrade(hub.port)
        raw.sock.sendall(frame(1, b'{"type":"publish","channel":"a","data":1}')[:9])
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()


def test_ping_flood_from_a_client_that_never_reads(hub):
    raw = Raw(hub.port)
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.upgrade(hub.port)
    ping = frame(9, b"p" * 125)
    sent = 0
    try:
        for _ in range(20000):  # 2.6 MB of pings, each answered by a pong nobody reads
            raw.sock.sendall(ping)
            sent += 1
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    rss, _ = process_figures(hub.proc.pid)
    assert rss < 512 * 1024, f"server RSS {rss} KiB after a ping flood"


def test_json_bombs_get_clear_errors(hub):
    async def scenario():
        async with websockets.connect(hub.url, max_size=None) as ws:
            await ws.recv()
            bombs = [
                "[" * 60000,
                '{"type":"publish","channel":"x","data":' + "[" * 30000 + "]" * 30000 + ',"id":1}',
                '{"type":"publish","channel":"x","data":"' + "a" * 60000 + '","id":2}',
                "{" + ",".join(f'"k{i}":{i}' for i in range(5000)) + "}",
            ]
            for bomb in bombs:
                await ws.send(bomb)
                reply = json.loads(await ws.recv())
                assert reply["type"] in ("error", "ack"), reply
                if reply["type"] == "error":
                    assert reply["code"] in ("bad_json", "bad_request", "unknown_type"), reply
    asyncio.run(asyncio.wait_for(scenario(), timeout=60))


@pytest.mark.parametrize("request_bytes,statuses", [
    (b"POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n", {405}),
    (b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", {426}),
    (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", {400}),
    (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", {426}),
    (b"\x16\x03\x01garbage that is not HTTP\r\n\r\n", {400}),
    (b"GET /ws HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 100_000 + b"\r\n\r\n", {400, 431}),
    (b"GET /ws HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(500)) + b"\r\n", {400, 431}),
])
def test_bad_handshakes_get_4xx(hub, request_bytes, statuses):
    raw = Raw(hub.port)
    assert raw.http_status(request_bytes) in statuses


def test_connection_flood_from_many_sources_then_503(hub):
    sockets = []
    try:
        for i in range(FLOOD):
            raw = Raw(hub.port, source=f"127.0.0.{2 + i % 10}")
            raw.upgrade(hub.port)
            sockets.append(raw)
        extra = Raw(hub.port, source="127.0.0.12")
        assert extra.http_status(HANDSHAKE.format(path="/ws", port=hub.port).encode()) == 503
        extra.close()
    finally:
        for raw in sockets:
            raw.close()
    async def admitted_again():
        for _ in range(3000):  # closing 300 connections takes a moment on a busy machine
            try:
                async with websockets.connect(hub.url) as ws:
                    return json.loads(await ws.recv())["type"] == "welcome"
            except websockets.exceptions.InvalidStatus:
                await asyncio.sleep(0.02)
        return False
    assert asyncio.run(admitted_again())


def test_handshake_churn_leaks_no_descriptors(hub):
    _, baseline = process_figures(hub.proc.pid)
    for _ in range(300):
        raw = Raw(hub.port)
        raw.upgrade(hub.port)
        raw.sock.sendall(frame(8, struct.pack("!H", 1000)))
        raw.close_code()
        raw.close()
    assert settle_fds(hub.proc.pid, baseline) <= baseline


def test_idle_tcp_connection_is_closed_by_the_handshake_timeout(hub):
    raw = Raw(hub.port)
    raw.sock.sendall(b"GET /ws HTTP/1.1\r\n")
    with pytest.raises((EOFError, ConnectionResetError)):
        raw._recv()  # closed after --handshake-timeout 2
