"""Routing and header handling through the real proxy to real backends."""
import collections
import json

import pytest
import requests

from configs import main_config
from conftest import running_portico
from helpers import raw_connect, read_response


@pytest.fixture(scope="module")
def proxy(backends, tmp_path_factory):
    with running_portico(main_config(backends), str(tmp_path_factory.mktemp("routing"))) as p:
        yield p


def get(proxy, path, host=None, method="GET", **kw):
    headers = kw.pop("headers", {})
    if host:
        headers["Host"] = host
    return requests.request(method, proxy.url + path, headers=headers, timeout=10, **kw)


def rule_of(resp):
    assert resp.status_code == 200, resp.text
    return resp.json()["headers"].get("x-rule")


def test_host_exact_wildcard_and_catch_all(proxy):
    r = get(proxy, "/echo", host="a.example.com")
    assert (r.json()["name"], rule_of(r)) == ("b", "host-exact")
    # Host matching ignores case and the port.
    assert rule_of(get(proxy, "/echo", host="A.Example.COM:8080")) == "host-exact"
    r = get(proxy, "/echo", host="x.wild.test")
    assert (r.json()["name"], rule_of(r)) == ("c", "host-wild")
    # A wildcard matches exactly one label: two labels fall through to the catch-all.
    assert rule_of(get(proxy, "/echo", host="y.x.wild.test")) == "echo"
    assert rule_of(get(proxy, "/echo", host="wild.test")) == "echo"
    assert rule_of(get(proxy, "/echo", host="other.example")) == "echo"


def test_path_precedence(proxy):
    assert rule_of(get(proxy, "/prec/item")) == "prec-exact"
    assert rule_of(get(proxy, "/prec/item/")) == "prec-long"
    assert rule_of(get(proxy, "/prec/item/abc")) == "prec-long"
    assert rule_of(get(proxy, "/prec/item/42")) == "prec-regex"  # regex beats prefix
    assert rule_of(get(proxy, "/prec/other")) == "prec-short"
    assert rule_of(get(proxy, "/prec")) == "prec-short"
    assert get(proxy, "/precx").status_code == 404  # prefixes match whole segments
    assert rule_of(get(proxy, "/items/12")) == "regex"
    assert get(proxy, "/items/12a").status_code == 404  # regex is a full match


def test_head_local_reply_has_no_body(proxy):
    # Portico's own answers (here: no route) to HEAD carry GET's Content-Length and no body
    # bytes, so the next response on the connection starts where the client expects it.
    r = get(proxy, "/nothing/here")
    assert r.status_code == 404
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"HEAD /nothing/here HTTP/1.1\r\nHost: h\r\n\r\n")
        r = read_response(s, head=True, check_close=False)
        assert r.status == 404
        assert "content-type" not in r.headers  # no JSON body to describe
        assert int(r.headers["content-length"]) > 0
        s.sendall(b"GET /echo/after-head HTTP/1.1\r\nHost: h\r\n\r\n")
        r = read_response(s, check_close=False)
        assert r.status == 200 and r.json()["path"] == "/echo/after-head"


def test_methods_headers_query(proxy):
    assert rule_of(get(proxy, "/methods", method="POST", data=b"x")) == "methods-post"
    assert rule_of(get(proxy, "/methods", method="PUT", data=b"x")) == "methods-post"
    assert get(proxy, "/methods").status_code == 404
    assert rule_of(get(proxy, "/hdr")) == "hdr-stable"
    assert rule_of(get(proxy, "/hdr", headers={"X-Canary": "yes"})) == "hdr-canary"
    assert rule_of(get(proxy, "/hdr", headers={"X-Canary": "no"})) == "hdr-stable"
    assert rule_of(get(proxy, "/hdr", headers={"X-Beta": "", "X-Version": "v12"})) == "hdr-present"
    assert rule_of(get(proxy, "/hdr", headers={"X-Beta": "1", "X-Version": "x12"})) == "hdr-stable"
    assert rule_of(get(proxy, "/q?v=2")) == "q-v2"
    assert rule_of(get(proxy, "/q?a=1&v=2")) == "q-v2"
    assert rule_of(get(proxy, "/q?v=3")) == "q-default"
    assert rule_of(get(proxy, "/q")) == "q-default"


def test_no_route_is_404_json_with_request_id(proxy):
    r = get(proxy, "/nothing/here")
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    rid = r.headers["X-Request-Id"]
    assert rid and body.get("requestId") == rid, body
    # A client-supplied id is echoed in the error too.
    r = get(proxy, "/nothing", headers={"X-Request-Id": "client-id-404"})
    assert r.status_code == 404 and r.json()["requestId"] == "client-id-404"


def test_forwarded_headers_and_request_id(proxy):
    r = get(proxy, "/echo/x?a=1&b=two", host="svc.example:9999")
    echo = r.json()
    h = echo["headers"]
    assert (echo["method"], echo["path"], echo["query"]) == ("GET", "/echo/x", "a=1&b=two")
    assert h["x-forwarded-for"] == "127.0.0.1"
    assert h["x-forwarded-proto"] == "http"
    assert h["x-forwarded-host"] == "svc.example:9999"
    assert h["host"] == "svc.example:9999"
    generated = h["x-request-id"]
    assert len(generated) >= 16
    assert r.headers.get("X-Request-Id") in (None, generated)
    # Another request gets another id.
    assert get(proxy, "/echo").json()["headers"]["x-request-id"] != generated
    # Kept when the client sends one; X-Forwarded-For is appended to.
    h = get(proxy, "/echo", headers={"X-Request-Id": "abc-123", "X-Forwarded-For": "10.1.2.3"}).json()["headers"]
    assert h["x-request-id"] == "abc-123"
    assert h["x-forwarded-for"] == "10.1.2.3, 127.0.0.1"


def test_hop_by_hop_headers_not_forwarded(proxy):
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret-Hop\r\n"
                  b"X-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"
                  b"Upgrade: h2c\r\nProxy-Connection: keep-alive\r\nX-End-To-End: kept\r\n\r\n")
        r = read_response(s, check_close=False)
    assert r.status == 200
    h = r.json()["headers"]
    for name in ("x-secret-hop", "keep-alive", "te", "upgrade", "proxy-connection"):
        assert name not in h, (name, h)
    assert h.get("connection", "keep-alive").lower() == "keep-alive"
    assert h["x-end-to-end"] == "kept"


def test_rewrite_path_prefix_and_host(proxy):
    echo = get(proxy, "/rw/a/b?y=1", host="outer.example").json()
    assert echo["path"] == "/v1/inner/a/b"
    assert echo["query"] == "y=1"
    assert echo["headers"]["host"] == "inner.internal"
    assert echo["headers"]["x-forwarded-host"] == "outer.example"
    assert get(proxy, "/rw").json()["path"] == "/v1/inner"


def test_request_and_response_header_edits(proxy):
    r = get(proxy, "/edit", headers={"X-Debug": "1", "X-Env": "dev", "X-Added": "zero"})
    assert r.status_code == 200
    h = r.json()["headers"]
    assert "x-debug" not in h
    assert h["x-env"] == "prod"
    added = [v for k, v in r.json()["header_list"] if k.lower() == "x-added"]
    assert added == ["zero", "one"]
    assert r.headers["X-Resp"] == "yes"
    assert r.headers["X-Resp-Add"] == "a"
    assert "Server" not in r.headers
    assert "X-Backend-Name" not in r.headers
    # Without the edits, the backend's headers do come through.
    r = get(proxy, "/echo")
    assert r.headers["Server"] == "portico-test-backend" and r.headers["X-Backend-Name"] == "a"


def test_weighted_backends_split(proxy):
    counts = collections.Counter()
    with requests.Session() as s:
        for _ in range(200):
            r = s.get(proxy.url + "/weighted", timeout=10)
            assert r.status_code == 200
            counts[r.json()["name"]] += 1
    # weights 3:1 -> 150:50; each of the 2 workers balances on its own, so allow slack.
    assert 130 <= counts["a"] <= 170, counts
    assert counts["a"] + counts["b"] == 200


def test_keepalive_reuse(proxy, backends):
    before = backends["a"].stats()
    n = 200
    with raw_connect(proxy.http_port) as s:
        for i in range(n):
            s.sendall(f"GET /echo/{i} HTTP/1.1\r\nHost: ka\r\n\r\n".encode())
            r = read_response(s, check_close=False)
            assert r.status == 200 and r.json()["path"] == f"/echo/{i}"
            assert r.headers.get("connection", "").lower() != "close"
        # Pipelined: three requests in one write, three answers in order.
        s.sendall(b"".join(f"GET /echo/p{i} HTTP/1.1\r\nHost: ka\r\n\r\n".encode() for i in range(3)))
        for i in range(3):
            assert read_response(s, check_close=False).json()["path"] == f"/echo/p{i}"
    after = backends["a"].stats()
    new_conns = after["connections"] - before["connections"]
    assert after["requests"] - before["requests"] >= n + 3 + 1
    assert new_conns <= 4, f"{new_conns} upstream connections for {n} requests"


def test_head(proxy):
    r = get(proxy, "/echo", method="HEAD")
    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["Content-Length"]) > 0
    # HEAD of a large download: the header announces it, no body comes, and the
    # connection serves the next request.
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"HEAD /stream?bytes=5000000 HTTP/1.1\r\nHost: h\r\n\r\n")
        r = read_response(s, head=True, check_close=False)
        assert r.status == 200 and r.headers["content-length"] == "5000000"
        s.sendall(b"GET /echo/after-head HTTP/1.1\r\nHost: h\r\n\r\n")
        r = read_response(s, check_close=False)
        assert r.status == 200 and r.json()["path"] == "/echo/after-head"


def test_metrics_count_requests(proxy):
    m = proxy.metrics()
    assert 'portico_requests_total{route="default/catchall/echo",code="2xx"}' in m
    routes = proxy.routes()
    assert routes["version"] == 1
    assert any("echo" in json.dumps(r) for r in routes["routes"])


def test_client_connection_close_and_http10(proxy):
    # "Connection: close" from an HTTP/1.1 client: the answer says close, and the
    # connection ends after it.
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        r = read_response(s)
    assert r.status == 200 and r.closed
    assert r.headers.get("connection", "").lower() == "close"
    # HTTP/1.0 without keep-alive: closed after the response, never chunked.
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"GET /stream?bytes=1000&chunked=1 HTTP/1.0\r\nHost: h\r\n\r\n")
        r = read_response(s)
    assert r.status == 200 and r.closed and len(r.body) == 1000
    assert "chunked" not in r.headers.get("transfer-encoding", "")
    # HTTP/1.0 asking for keep-alive gets it, announced.
    with raw_connect(proxy.http_port) as s:
        for i in range(2):
            s.sendall(b"GET /echo HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n")
            r = read_response(s, check_close=False)
            assert r.status == 200
            assert r.headers.get("connection", "").lower() == "keep-alive"


def test_response_hop_by_hop_headers_not_forwarded(proxy):
    r = get(proxy, "/echo?hdr=Connection:X-Hop-Resp&hdr=X-Hop-Resp:1&hdr=Keep-Alive:timeout%3D5"
                   "&hdr=X-Resp-Kept:yes")
    assert r.status_code == 200
    assert "X-Hop-Resp" not in r.headers
    assert "Keep-Alive" not in r.headers
    assert r.headers["X-Resp-Kept"] == "yes"
