"""Upstream edge cases, request targets, logs and the admin endpoints."""
import json
import time

import pytest

from configs import main_config
from conftest import running_portico
from helpers import http_get, raw_connect, raw_exchange, read_response, wait_until


@pytest.fixture(scope="module")
def proxy(backends, tmp_path_factory):
    args = ["--body-timeout", "1s", "--log-format", "json", "--access-log", "true"]
    with running_portico(main_config(backends), str(tmp_path_factory.mktemp("upstream")), args) as p:
        yield p


def test_close_delimited_upstream_body_is_chunked_for_http11(proxy):
    n = 300000
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"GET /closedelim?bytes=%d HTTP/1.1\r\nHost: h\r\n\r\n" % n)
        r = read_response(s, timeout=10, check_close=False)
        assert r.status == 200
        assert r.headers.get("transfer-encoding", "").lower() == "chunked"
        assert len(r.body) == n
        # The client connection stays usable.
        s.sendall(b"GET /echo/again HTTP/1.1\r\nHost: h\r\n\r\n")
        assert read_response(s, check_close=False).json()["path"] == "/echo/again"


def test_stale_pooled_upstream_connection_is_retried(proxy):
    # /close-after closes the upstream connection right after a keep-alive response; the
    # next request may pick that dead connection from the pool and must still succeed.
    statuses = []
    with raw_connect(proxy.http_port) as s:
        for i in range(40):
            path = b"/close-after" if i % 2 == 0 else b"/echo"
            s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: h\r\n\r\n")
            statuses.append(read_response(s, check_close=False).status)
            if i % 4 == 1:
                time.sleep(0.02)  # sometimes give the FIN time to arrive first
    assert statuses == [200] * 40


def test_interim_103_is_not_forwarded_as_final(proxy):
    r = raw_exchange(proxy.http_port, b"GET /early-hints HTTP/1.1\r\nHost: h\r\n\r\n", check_close=False)
    assert r.status == 200 and r.json()["path"] == "/early-hints"


def test_absolute_form_target(proxy):
    r = raw_exchange(proxy.http_port,
                     b"GET http://a.example.com/echo?z=1 HTTP/1.1\r\nHost: ignored.example\r\n\r\n",
                     check_close=False)
    assert r.status == 200
    echo = r.json()
    assert echo["headers"]["x-rule"] == "host-exact"
    assert echo["target"] == "/echo?z=1"


def test_path_normalized_before_routing_and_forwarding(proxy):
    for raw, rule, upstream in [(b"/echo/../prec/item", "prec-exact", "/prec/item"),
                                (b"//prec//item", "prec-exact", "/prec/item"),
                                (b"/%65cho/x", "echo", "/echo/x")]:
        r = raw_exchange(proxy.http_port, b"GET " + raw + b" HTTP/1.1\r\nHost: h\r\n\r\n", check_close=False)
        assert r.status == 200, (raw, r)
        assert r.json()["headers"]["x-rule"] == rule, raw
        assert r.json()["path"] == upstream, raw


def test_unacceptable_request_id_is_replaced(proxy):
    r = raw_exchange(proxy.http_port, b"GET /echo HTTP/1.1\r\nHost: h\r\nX-Request-Id: " + b"x" * 300 + b"\r\n\r\n",
                     check_close=False)
    rid = r.json()["headers"]["x-request-id"]
    assert rid != "x" * 300 and 16 <= len(rid) <= 128


def test_stalled_request_body_is_cut(proxy):
    start = time.monotonic()
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"POST /count HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n0123456789")
        try:
            r = read_response(s, timeout=5)
            assert r.status == 408, r
        except ConnectionError:
            pass  # closed without an answer is acceptable too
    elapsed = time.monotonic() - start
    assert 0.8 <= elapsed < 3.5, elapsed


def test_json_access_log(proxy):
    raw_exchange(proxy.http_port, b"GET /echo/logged?q=1 HTTP/1.1\r\nHost: h\r\nX-Request-Id: log-me-1\r\n\r\n",
                 check_close=False)

    def logged():
        with open(proxy.stdout_path) as f:
            for line in f:
                if "log-me-1" in line:
                    return json.loads(line)
        return None
    record = wait_until(logged, 5, what="access log line")
    flat = json.dumps(record)
    assert "200" in flat and "/echo/logged" in flat and "default/catchall/echo" in flat, record


def test_admin_endpoints(proxy):
    assert http_get(proxy.admin + "/healthz")[0] == 200
    assert http_get(proxy.admin + "/readyz")[0] == 200
    m = proxy.metrics()
    for name in ("portico_requests_total", "portico_request_duration_seconds_bucket",
                 "portico_upstream_errors_total", "portico_active_connections",
                 "portico_table_version", "portico_config_reloads_total",
                 "portico_config_reload_errors_total"):
        assert name in m, name
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: h\r\n\r\n")
        read_response(s, check_close=False)
        assert proxy.metric("portico_active_connections") >= 1
    routes = proxy.routes()
    names = {json.dumps(r) for r in routes["routes"]}
    assert any("default/catchall/echo" in n for n in names)
    assert "PRIVATE KEY" not in json.dumps(routes)


def test_closed_idle_upstream_connection_not_used_for_a_body(proxy):
    # A request with a body cannot be retried, so a pooled connection that the backend
    # closed while it sat idle must not be picked for it (the pool peeks at connections
    # idle for more than 500 ms).
    with raw_connect(proxy.http_port) as s:
        for _ in range(3):
            s.sendall(b"GET /close-after HTTP/1.1\r\nHost: h\r\n\r\n")
            assert read_response(s, check_close=False).status == 200
            time.sleep(0.7)
            s.sendall(b"POST /count HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
            r = read_response(s, check_close=False)
            assert r.status == 200 and r.json()["bytes"] == 5


def test_upstream_dies_before_any_body_byte_502(proxy):
    # The upstream announces 100000 bytes and closes before the first: nothing had gone to
    # the client yet, so it gets a 502 rather than an empty reply. (Body bytes are relayed
    # as they arrive, so once one has gone out the only signal left is the close: below.)
    r = raw_exchange(proxy.http_port, b"GET /truncate?announce=100000&send=0 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert_error_json(r, 502)
    assert r.closed
    assert raw_exchange(proxy.http_port, b"GET /echo HTTP/1.1\r\nHost: h\r\n\r\n", check_close=False).status == 200


def test_truncated_upstream_body_cuts_the_client_connection(proxy):
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"GET /truncate?announce=1000000&send=300000 HTTP/1.1\r\nHost: h\r\n\r\n")
        s.settimeout(5)
        data = b""
        start = time.monotonic()
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        # Headers went out already: the only honest signal is the close, promptly.
        assert time.monotonic() - start < 3
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"1000000" in head
    assert 0 < len(body) <= 300000
    assert raw_exchange(proxy.http_port, b"GET /echo HTTP/1.1\r\nHost: h\r\n\r\n", check_close=False).status == 200


def assert_error_json(r, status):
    assert r.status == status, r
    assert r.json()["requestId"] == r.headers["x-request-id"]


def test_client_gone_mid_transfer_does_not_hurt(proxy):
    rss_before = proxy.rss_kib()
    for _ in range(5):
        with raw_connect(proxy.http_port) as s:
            s.sendall(b"GET /stream?bytes=50000000 HTTP/1.1\r\nHost: h\r\n\r\n")
            got = 0
            while got < 1_000_000:
                got += len(s.recv(65536))
    # A client that leaves while the upstream is still thinking.
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"GET /sleep?ms=500 HTTP/1.1\r\nHost: h\r\n\r\n")
    time.sleep(0.7)
    r = raw_exchange(proxy.http_port, b"GET /echo HTTP/1.1\r\nHost: h\r\n\r\n", check_close=False)
    assert r.status == 200
    assert proxy.rss_kib() - rss_before < 30 * 1024
    wait_until(lambda: proxy.metric("portico_active_connections") == 0, 5, what="connections released")


def test_upgrade_refused_by_backend_is_a_normal_response(proxy):
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"GET /echo/no-ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        r = read_response(s, check_close=False)
        assert r.status == 200 and r.json()["path"] == "/echo/no-ws"
        assert r.json()["headers"]["upgrade"] == "websocket"


def test_many_concurrent_clients(proxy):
    import threading
    results = []
    lock = threading.Lock()

    def client(i):
        ok = 0
        try:
            with raw_connect(proxy.http_port, timeout=10) as s:
                for j in range(10):
                    s.sendall(f"GET /echo/{i}/{j} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
                    r = read_response(s, timeout=10, check_close=False)
                    ok += r.status == 200 and r.json()["path"] == f"/echo/{i}/{j}"
        except Exception as e:  # noqa: BLE001
            with lock:
                results.append(repr(e))
        with lock:
            results.append(ok)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results.count(10) == 100, [r for r in results if r != 10][:5]
