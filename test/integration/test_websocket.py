"""WebSocket through the proxy: the upgrade is tunnelled byte for byte after 101."""
import pytest
import websocket

from configs import main_config
from conftest import running_portico
from helpers import raw_connect, read_response


@pytest.fixture(scope="module")
def proxy(backends, tmp_path_factory):
    with running_portico(main_config(backends), str(tmp_path_factory.mktemp("ws"))) as p:
        yield p


def test_websocket_echo(proxy, backends):
    ws = websocket.create_connection(f"ws://127.0.0.1:{proxy.http_port}/ws", timeout=5,
                                     header=["X-Client: it"])
    try:
        assert ws.getstatus() == 101
        assert ws.getheaders().get("x-backend-name") == "a"
        for i in range(20):
            ws.send(f"message {i}")
            assert ws.recv() == f"message {i}"
        payload = bytes(range(256)) * 400  # 100 KiB binary, several TCP segments
        ws.send_binary(payload)
        opcode, data = ws.recv_data()
        assert opcode == websocket.ABNF.OPCODE_BINARY and data == payload
        ws.ping(b"are you there")
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_PONG and data == b"are you there"
        ws.send_close(status=websocket.STATUS_NORMAL, reason=b"done")
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(data[:2], "big") == websocket.STATUS_NORMAL
    finally:
        ws.close()
    # The proxy goes on serving.
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: h\r\n\r\n")
        assert read_response(s, check_close=False).status == 200


def test_upgrade_headers_reach_backend(proxy):
    # A raw handshake: the backend receives Upgrade/Connection for the upgrade, and the
    # first frame sent right behind the handshake is tunnelled too.
    frame = bytes([0x81, 0x85, 1, 2, 3, 4]) + bytes(b ^ m for b, m in zip(b"hello", b"\x01\x02\x03\x04\x01"))
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" + frame)
        buf = b""
        s.settimeout(5)
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        head, _, rest = buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head  # RFC 6455's example accept value
        while len(rest) < 7:
            rest += s.recv(4096)
        assert rest[:7] == b"\x81\x05hello"
