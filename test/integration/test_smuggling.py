"""Request smuggling and header confusion, attacked over raw sockets.

Each test sends exact bytes to portico and checks what a recording backend received
(recording_backend.py: every byte, every request it could frame), not only what the
client saw. /private needs an API key; "/" is an open catch-all to the same backend, the
shape in which a smuggled request gets past a policy. The backend answers each request
with its sequence number, so a response that reaches the wrong client is visible.
"""
import json
import socket
import time

import pytest

from conftest import running_portico
from helpers import apiroute, dump, raw_connect, raw_exchange, read_response, rule, wait_until
from recording_backend import RecordingBackend

API_KEY = "k-alice-123"


def config(url):
    keys = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keys", "namespace": "default"},
            "stringData": {"alice": API_KEY}}
    routes = apiroute("smuggle", [
        rule("private", url, "/private", auth={"apiKey": {"secretName": "keys", "header": "X-Api-Key"}}),
        rule("admin", url, "/admin", auth={"apiKey": {"secretName": "keys", "header": "X-Api-Key"}}),
        rule("open", url, "/"),
    ])
    return dump(keys, routes)


@pytest.fixture(scope="module")
def backend():
    with RecordingBackend() as rb:
        yield rb


@pytest.fixture(scope="module")
def proxy(backend, tmp_path_factory):
    args = ["--header-timeout", "1s", "--body-timeout", "2s", "--workers", "1"]
    with running_portico(config(backend.url), str(tmp_path_factory.mktemp("smuggle")), args, workers=1) as p:
        yield p


@pytest.fixture(autouse=True)
def clean(backend):
    backend.reset()


def one_request(backend, timeout=3):
    """Waits for the backend to have parsed exactly one request and returns it; a second
    one (smuggled) or unparseable leftovers fail the test."""
    wait_until(lambda: backend.requests, timeout, what="a request at the backend")
    time.sleep(0.2)  # room for a smuggled second request to show up; asserted below
    assert len(backend.requests) == 1, backend.requests
    assert not backend.errors, backend.errors
    return backend.requests[0]


def exchange(proxy, data):
    return raw_exchange(proxy.http_port, data)


# --- framing the client sends ---------------------------------------------------------------

SMUGGLED = b"GET /private/secret HTTP/1.1\r\nHost: h\r\n\r\n"


@pytest.mark.parametrize("nominated", [b"Content-Length", b"content-length, close", b"Transfer-Encoding"])
def test_connection_cannot_remove_framing(proxy, backend, nominated):
    body = SMUGGLED
    if nominated == b"Transfer-Encoding":
        framing = b"Transfer-Encoding: chunked\r\n"
        wire = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    else:
        framing = b"Content-Length: %d\r\n" % len(body)
        wire = body
    r = exchange(proxy, b"POST /upload HTTP/1.1\r\nHost: h\r\nConnection: " + nominated + b"\r\n" + framing +
                 b"\r\n" + wire)
    assert r.status == 200
    got = one_request(backend)
    assert got.target == "/upload"
    assert got.body == body  # the would-be request is body, framed by portico
    assert got.value("content-length") == str(len(body))
    assert not backend.requests_to("/private")


def test_two_transfer_encoding_lines_400(proxy, backend):
    r = exchange(proxy, b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n")
    assert r.status == 400 and r.closed
    time.sleep(0.2)
    assert backend.requests == [] and not backend.raw


@pytest.mark.parametrize("te", [b"chunked, identity", b"gzip, chunked", b"chunked\r\nTransfer-Encoding: chunked",
                                b"identity"])
def test_any_transfer_encoding_but_one_chunked_400(proxy, backend, te):
    r = exchange(proxy, b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + te + b"\r\n\r\n0\r\n\r\n")
    assert r.status == 400 and r.closed
    assert not backend.raw


def test_http10_with_transfer_encoding_400(proxy, backend):
    r = exchange(proxy, b"POST /upload HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert r.status == 400
    assert not backend.raw


def test_content_length_list_of_equal_values_400(proxy, backend):
    r = exchange(proxy, b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello")
    assert r.status == 400
    assert not backend.raw


def test_empty_chunked_body_is_sent_once(proxy, backend):
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"POST /empty HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        r = read_response(s, check_close=False)
        assert r.status == 200 and r.json()["target"] == "/empty"
        s.sendall(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
        r2 = read_response(s, check_close=False)
    assert r2.json()["target"] == "/next"
    assert [x.target for x in backend.requests] == ["/empty", "/next"]
    assert backend.errors == []
    first = backend.requests[0]
    assert first.body == b""
    # Portico knew the whole (empty) body before sending: it says so with a length.
    assert first.value("content-length") == "0" and first.values("transfer-encoding") == []
    # The bytes on that connection were exactly those two requests: no stray last-chunk.
    heads = bytes(backend.raw[first.connection]).split(b"\r\n\r\n")
    assert len(heads) == 3 and heads[2] == b""
    assert heads[0].startswith(b"POST /empty ") and heads[1].startswith(b"GET /next ")


def test_chunked_body_streamed_in_pieces_is_rechunked(proxy, backend):
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"POST /pieces HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n")
        # The first piece goes upstream before the rest exists.
        wait_until(lambda: any(b"hello" in raw for raw in backend.raw.values()), 5, what="the first piece upstream")
        s.sendall(b"6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
        r = read_response(s, check_close=False)
    assert r.status == 200
    got = one_request(backend)
    assert got.body == b"hello world"
    assert got.values("transfer-encoding") == ["chunked"] and got.values("content-length") == []
    assert got.values("x-trailer") == []
    raw = bytes(backend.raw[got.connection])
    assert b"ext=1" not in raw and b"X-Trailer" not in raw  # extensions and trailers never pass


def test_trailers_never_become_headers(proxy, backend):
    trailers = (b"Host: evil.example\r\nX-Forwarded-For: 6.6.6.6\r\nAuthorization: Bearer forged\r\n"
                b"X-Request-Id: forged-id\r\nX-Api-Key: " + API_KEY.encode() + b"\r\n")
    r = exchange(proxy, b"POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: Host\r\n\r\n"
                        b"3\r\nabc\r\n0\r\n" + trailers + b"\r\n")
    assert r.status == 200
    got = one_request(backend)
    assert got.values("host") == ["h"]
    assert got.values("x-forwarded-for") == ["127.0.0.1"]
    assert got.values("authorization") == [] and got.values("x-api-key") == []
    assert got.value("x-request-id") != "forged-id"
    assert got.values("trailer") == []
    assert got.body == b"abc"
    assert b"forged" not in bytes(backend.raw[got.connection])


@pytest.mark.parametrize("trailer", [b"Content-Length: 99", b"Transfer-Encoding: chunked"])
def test_framing_fields_in_trailers_400(proxy, backend, trailer):
    r = exchange(proxy, b"POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"3\r\nabc\r\n0\r\n" + trailer + b"\r\n\r\n")
    assert r.status == 400 and r.closed
    assert not backend.requests


def test_two_client_desync_on_a_shared_upstream_connection(proxy, backend):
    """Client A tries every framing trick at once; client B, right after, must get its own
    response over the same pooled upstream connection (one worker, keep-alive)."""
    attacks = [
        b"POST /a HTTP/1.1\r\nHost: h\r\nConnection: Content-Length\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED)
        + SMUGGLED,
        b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /a HTTP/1.1\r\nHost: h\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n",
    ]
    for attack in attacks:
        backend.reset()
        r = exchange(proxy, attack)
        assert r.status == 200 and r.json()["target"] == "/a"
        for i in range(3):
            rb = exchange(proxy, b"GET /b%d HTTP/1.1\r\nHost: h\r\n\r\n" % i)
            assert rb.status == 200 and rb.json()["target"] == f"/b{i}", (attack, rb)
        assert [x.target for x in backend.requests] == ["/a", "/b0", "/b1", "/b2"], attack
        assert backend.errors == []
        assert not backend.requests_to("/private")
        # One upstream connection carried them all: the desync would have had its chance.
        assert len({x.connection for x in backend.requests}) == 1


@pytest.mark.parametrize("name", [b"X-A@b", b"X(a)", b"X-A\"b", b"X-A/b", b"X-\xc3\xa9"])
def test_header_names_outside_the_token_set_400(proxy, backend, name):
    r = exchange(proxy, b"GET /n HTTP/1.1\r\nHost: h\r\n" + name + b": 1\r\n\r\n")
    assert r.status == 400 and r.closed
    assert not backend.raw


# --- Host, absolute form, forwarding headers ------------------------------------------------------

def test_absolute_form_authority_replaces_host(proxy, backend):
    r = exchange(proxy, b"GET http://Real.Example:8080/x?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n")
    assert r.status == 200
    got = one_request(backend)
    assert got.target == "/x?q=1"
    assert got.values("host") == ["Real.Example:8080"]
    assert got.value("x-forwarded-host") == "Real.Example:8080"


def test_absolute_form_is_routed_and_guarded_by_its_authority(proxy, backend):
    r = exchange(proxy, b"GET http://h/private/x HTTP/1.1\r\nHost: h\r\n\r\n")
    assert r.status == 401
    assert not backend.raw


def test_http10_without_host_gets_one_upstream(proxy, backend):
    r = exchange(proxy, b"GET /old HTTP/1.0\r\n\r\n")
    assert r.status == 200
    got = one_request(backend)
    assert got.values("host") == [f"127.0.0.1:{backend.port}"]
    assert got.version == "HTTP/1.1"


def test_forwarding_headers_are_portico_s_own(proxy, backend):
    r = exchange(proxy, b"GET /fwd HTTP/1.1\r\nHost: h.example\r\nX-Forwarded-For: 1.1.1.1\r\n"
                        b"X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Port: 443\r\n"
                        b"X-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6;proto=https\r\n"
                        b"X-Forwarded-For: 2.2.2.2\r\nX-Consumer: admin\r\nX_Consumer: admin\r\n\r\n")
    assert r.status == 200
    got = one_request(backend)
    # Several X-Forwarded-For lines are one list, sent as one line with the peer appended.
    assert got.values("x-forwarded-for") == ["1.1.1.1, 2.2.2.2, 127.0.0.1"]
    assert got.values("x-forwarded-proto") == ["http"]
    assert got.values("x-forwarded-host") == ["h.example"]
    assert got.values("x-forwarded-port") == [str(proxy.http_port)]
    assert got.values("x-real-ip") == ["127.0.0.1"]
    assert got.values("forwarded") == []
    assert got.values("x-consumer") == [] and got.values("x_consumer") == []


def test_trusted_proxy_forwarding_headers_pass(backend, tmp_path):
    args = ["--trusted-proxy", "127.0.0.0/8", "--workers", "1"]
    with running_portico(config(backend.url), str(tmp_path), args, workers=1) as p:
        r = raw_exchange(p.http_port, b"GET /fwd HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.9\r\n"
                                      b"X-Forwarded-For: 127.0.0.5\r\nX-Forwarded-Proto: https\r\n"
                                      b"X-Forwarded-Host: public.example\r\nX-Forwarded-Port: 443\r\n"
                                      b"Forwarded: for=203.0.113.9\r\nX-Consumer: admin\r\n\r\n")
        assert r.status == 200
        got = one_request(backend)
    assert got.values("x-forwarded-for") == ["203.0.113.9, 127.0.0.5, 127.0.0.1"]
    assert got.values("x-real-ip") == ["203.0.113.9"]  # the trusted-proxy walk over both lines
    assert got.values("x-forwarded-proto") == ["https"]
    assert got.values("x-forwarded-host") == ["public.example"]
    assert got.values("x-forwarded-port") == ["443"]
    assert got.values("forwarded") == ["for=203.0.113.9"]
    assert got.values("x-consumer") == []  # owned by the auth filters, even behind a proxy


def test_connection_cannot_remove_portico_headers(proxy, backend):
    r = exchange(proxy, b"GET /c HTTP/1.1\r\nHost: h\r\nConnection: Host, X-Forwarded-For, X-Request-Id, "
                        b"X-Real-IP, X-Drop-Me\r\nX-Drop-Me: 1\r\nX-Keep: 1\r\n\r\n")
    assert r.status == 200
    got = one_request(backend)
    assert got.values("host") == ["h"]
    assert len(got.values("x-forwarded-for")) == 1
    assert len(got.values("x-request-id")) == 1
    assert got.values("x-real-ip") == ["127.0.0.1"]
    assert got.values("x-drop-me") == [] and got.values("x-keep") == ["1"]
    assert got.values("connection") == []


def test_h2c_upgrade_is_not_forwarded(proxy, backend):
    r = exchange(proxy, b"GET /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                        b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
    assert r.status == 200
    got = one_request(backend)
    assert got.values("upgrade") == [] and got.values("http2-settings") == [] and got.values("connection") == []


# --- path confusion ------------------------------------------------------------------------------

@pytest.mark.parametrize("target", [b"/private%2Fsecret", b"/x/..%2Fprivate", b"/private%5Csecret",
                                    b"/private\\secret", b"/%2e%2e%2Fprivate"])
def test_escaped_slashes_rejected_by_default(proxy, backend, target):
    r = exchange(proxy, b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n")
    assert r.status == 400
    assert not backend.raw


@pytest.mark.parametrize("target", [b"/a%00b", b"/a%0d%0aX-Injected:%201", b"/public/..;/private/x",
                                    b"/public/.;/x"])
def test_nul_control_bytes_and_hidden_dot_segments_400(proxy, backend, target):
    r = exchange(proxy, b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n")
    assert r.status == 400
    assert not backend.raw


def test_path_parameters_meet_the_policy_of_their_path(proxy, backend):
    r = exchange(proxy, b"GET /private;jsessionid=1/secret HTTP/1.1\r\nHost: h\r\n\r\n")
    assert r.status == 401
    r = exchange(proxy, b"GET /private;jsessionid=1/secret HTTP/1.1\r\nHost: h\r\nX-Api-Key: " + API_KEY.encode()
                 + b"\r\n\r\n")
    assert r.status == 200
    got = one_request(backend)
    assert got.target == "/private;jsessionid=1/secret"  # parameters reach the backend
    assert got.values("x-api-key") == []


@pytest.mark.parametrize("action,expect", [("unescape-and-redirect", 307), ("unescape-and-forward", 401),
                                           ("keep", 200)])
def test_escaped_slash_actions(backend, tmp_path, action, expect):
    args = ["--escaped-slashes", action, "--workers", "1"]
    with running_portico(config(backend.url), str(tmp_path), args, workers=1) as p:
        r = raw_exchange(p.http_port, b"GET /private%2Fsecret?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert r.status == expect, r
    if action == "unescape-and-redirect":
        assert r.headers["location"] == "/private/secret?x=1"
    if action == "keep":
        assert one_request(backend).target == "/private%2Fsecret?x=1"
    else:
        assert not backend.raw


# --- underscores ---------------------------------------------------------------------------------

def test_underscored_header_names_are_dropped_by_default(proxy, backend):
    r = exchange(proxy, b"GET /u HTTP/1.1\r\nHost: h\r\nX_Api_Key: x\r\nX-Real_IP: 6.6.6.6\r\nX-Ok: 1\r\n\r\n")
    assert r.status == 200
    got = one_request(backend)
    assert [k for k, _ in got.headers if "_" in k] == []
    assert got.values("x-ok") == ["1"]


def test_underscored_header_names_rejected_when_configured(backend, tmp_path):
    with running_portico(config(backend.url), str(tmp_path), ["--headers-with-underscores", "reject"]) as p:
        r = raw_exchange(p.http_port, b"GET /u HTTP/1.1\r\nHost: h\r\nX_Api_Key: x\r\n\r\n")
        assert r.status == 400
        assert raw_exchange(p.http_port, b"GET /u HTTP/1.1\r\nHost: h\r\n\r\n").status == 200


# --- timeouts --------------------------------------------------------------------------------------

def test_header_timeout_answers_408(proxy, backend):
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"GET /slow HTTP/1.1\r\nHost: h\r\n")
        start = time.monotonic()
        r = read_response(s, timeout=5)
        elapsed = time.monotonic() - start
    assert r.status == 408 and r.closed
    assert 0.8 < elapsed < 3
    assert not backend.raw


# --- framing the upstream sends ----------------------------------------------------------------------

BAD_RESPONSES = {
    "te-twice": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n0\r\n\r\n",
    "te-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "cl-list": b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello",
    "cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "bad-name": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX(a): 1\r\n\r\nhello",
    "te-http10": b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(BAD_RESPONSES))
def test_malformed_upstream_framing_502(proxy, backend, name):
    backend.canned[name] = BAD_RESPONSES[name]
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"GET /canned/" + name.encode() + b" HTTP/1.1\r\nHost: h\r\n\r\n")
        r = read_response(s)
    assert r.status == 502
    assert b"hello" not in r.body


def test_upstream_response_is_rebuilt(proxy, backend):
    backend.canned["rebuilt"] = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: X-Request-Id, close\r\n"
                                 b"X-Request-Id: from-upstream\r\nX_Sneaky: 1\r\nKeep-Alive: timeout=1\r\n"
                                 b"Trailer: X-Late\r\n\r\n5\r\nhello\r\n0\r\nX-Late: 1\r\nSet-Cookie: late=1\r\n\r\n")
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"GET /canned/rebuilt HTTP/1.1\r\nHost: h\r\n\r\n")
        r = read_response(s, check_close=False)
        assert r.status == 200 and r.body == b"hello"
        # The upstream closed; the client connection is Portico's and stays open.
        s.sendall(b"GET /after HTTP/1.1\r\nHost: h\r\n\r\n")
        assert read_response(s, check_close=False).json()["target"] == "/after"
    for name in ("x-request-id", "x_sneaky", "keep-alive", "trailer", "x-late", "set-cookie", "connection"):
        assert name not in r.headers, (name, r.headers)


def test_still_serving_after_attacks(proxy, backend):
    r = exchange(proxy, b"GET /private/x HTTP/1.1\r\nHost: h\r\nX-Api-Key: " + API_KEY.encode() + b"\r\n\r\n")
    assert r.status == 200
