"""TLS listener: certificates from Secret documents chosen by SNI, TLS 1.2 minimum, ALPN
http/1.1, redirectHTTP, certificates swapped with the table."""
import json
import socket
import ssl
import subprocess
import time
import warnings

import pytest

from conftest import running_portico
from helpers import apiroute, dump, raw_exchange, tls_secret
from configs import tagged


def tls_config(backends, certs, a_cert=None):
    a_cert = a_cert or certs["a.test"]
    return dump(
        tls_secret("a-tls", a_cert["cert"], a_cert["key"]),
        tls_secret("b-tls", certs["b.test"]["cert"], certs["b.test"]["key"]),
        apiroute("site-a", [tagged("a", backends["a"].url, "/")], hosts=["a.test"],
                 tls={"secretName": "a-tls"}),
        apiroute("site-b", [tagged("b", backends["b"].url, "/")], hosts=["b.test"],
                 tls={"secretName": "b-tls", "redirectHTTP": True}),
    )


@pytest.fixture(scope="module")
def proxy(backends, certs, tmp_path_factory):
    with running_portico(tls_config(backends, certs), str(tmp_path_factory.mktemp("tls"))) as p:
        yield p


def client_context(certs, **kw):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=certs["a.test"]["cert"] + certs["b.test"]["cert"])
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def handshake(proxy, ctx, server_name):
    raw = socket.create_connection(("127.0.0.1", proxy.https_port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname=server_name)


def common_name(tls_sock):
    subject = dict(x[0] for x in tls_sock.getpeercert()["subject"])
    return subject["commonName"]


def https_get(tls_sock, host, path):
    tls_sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        chunk = tls_sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


@pytest.mark.parametrize("host", ["a.test", "b.test"])
def test_sni_picks_certificate(proxy, certs, host):
    # Verification against each self-signed cert as a CA, with hostname checking on, only
    # succeeds if the served certificate is the one for `host`.
    with handshake(proxy, client_context(certs), host) as s:
        assert common_name(s) == host
        assert s.version() in ("TLSv1.2", "TLSv1.3")
        status, body = https_get(s, host, "/echo")
    assert status == 200
    echo = json.loads(body)
    assert echo["name"] == host[0]
    assert echo["headers"]["x-forwarded-proto"] == "https"


def test_unknown_sni_gets_default_certificate(proxy, certs):
    ctx = client_context(certs, check_hostname=False)
    with handshake(proxy, ctx, "unknown.test") as s:
        assert common_name(s) in ("a.test", "b.test")


def test_openssl_s_client_sees_subject(proxy):
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{proxy.https_port}", "-servername", "b.test",
         "-alpn", "http/1.1"],
        input=b"", capture_output=True, timeout=15)
    text = out.stdout.decode(errors="replace")
    assert "subject=CN = b.test" in text, text[:2000]
    assert "ALPN protocol: http/1.1" in text


def test_tls12_accepted_tls11_refused(proxy, certs):
    ctx = client_context(certs, minimum_version=ssl.TLSVersion.TLSv1_2,
                         maximum_version=ssl.TLSVersion.TLSv1_2)
    with handshake(proxy, ctx, "a.test") as s:
        assert s.version() == "TLSv1.2"
        assert https_get(s, "a.test", "/echo")[0] == 200

    # A client that offers TLS 1.1 at most (the client side's own security level lowered so
    # that it really sends a TLS 1.1 hello): the server must refuse with an alert.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = client_context(certs)
        ctx.set_ciphers("DEFAULT@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError) as failure:
        handshake(proxy, ctx, "a.test")
    # "tlsv1 alert protocol version" / "unsupported protocol": refused by the server,
    # not the client failing to build a hello ("no protocols available").
    message = str(failure.value).lower()
    print("tls1.1 refusal:", message)
    assert "no protocols available" not in message, message
    assert "protocol version" in message or "unsupported protocol" in message, message


def test_alpn_http11(proxy, certs):
    ctx = client_context(certs)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with handshake(proxy, ctx, "a.test") as s:
        assert s.selected_alpn_protocol() == "http/1.1"
        assert https_get(s, "a.test", "/echo")[0] == 200


def test_redirect_http_to_https(proxy):
    r = raw_exchange(proxy.http_port, b"GET /some/path?x=1 HTTP/1.1\r\nHost: b.test\r\n\r\n",
                     check_close=False)
    assert r.status == 308
    assert r.headers["location"] == "https://b.test/some/path?x=1"
    # a.test has no redirectHTTP: served over plain HTTP.
    r = raw_exchange(proxy.http_port, b"GET /echo HTTP/1.1\r\nHost: a.test\r\n\r\n", check_close=False)
    assert r.status == 200 and r.json()["name"] == "a"


def test_certificate_swaps_with_table(backends, certs, tmp_path, portico_factory):
    # A second certificate for a.test; rewriting the Secret must change what is served.
    key, crt = tmp_path / "a2.key", tmp_path / "a2.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=a.test", "-addext", "subjectAltName=DNS:a.test",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    second = {"cert": crt.read_text(), "key": key.read_text()}
    p = portico_factory(tls_config(backends, certs))

    def served(expected_ca):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata=expected_ca)
        with handshake(p, ctx, "a.test") as s:
            return s.getpeercert(binary_form=True)

    first_der = served(certs["a.test"]["cert"])
    p.rewrite_config(tls_config(backends, certs, a_cert=second))
    p.wait_for_version(2)
    second_der = served(second["cert"])
    assert second_der != first_der
    assert second_der == ssl.PEM_cert_to_DER_cert(second["cert"])


def test_websocket_over_tls(proxy, certs):
    import websocket
    # websocket-client resolves the URL host itself; connect to 127.0.0.1 with SNI a.test.
    ctx = client_context(certs)
    sock = handshake(proxy, ctx, "a.test")
    ws = websocket.WebSocket()
    ws.connect(f"wss://a.test:{proxy.https_port}/ws", socket=sock, timeout=5)
    try:
        for i in range(5):
            ws.send(f"secure {i}")
            assert ws.recv() == f"secure {i}"
    finally:
        ws.close()


def resumptions(proxy, certs, host, n):
    """n connections after a first one, each offering the session the previous one got;
    returns how each went (True: resumed). Sessions come from the first response."""
    ctx = client_context(certs)
    session, out = None, []
    for _ in range(n + 1):
        raw = socket.create_connection(("127.0.0.1", proxy.https_port), timeout=5)
        with ctx.wrap_socket(raw, server_hostname=host, session=session) as s:
            status, _ = https_get(s, host, "/echo")
            assert status == 200
            if session is not None:
                out.append(s.session_reused)
            session = s.session
    return out


def test_sessions_resume_on_any_worker(proxy, certs):
    # SO_REUSEPORT spreads connections over the workers (two here): a ticket one worker
    # issued must be good on the other, so the keys are the process's, not a worker's.
    assert resumptions(proxy, certs, "a.test", 12) == [True] * 12


def test_ticket_keys_rotate_and_old_tickets_stop_working(backends, certs, portico_factory):
    p = portico_factory(tls_config(backends, certs), extra_args=("--tls-ticket-key-rotation", "1s"))
    ctx = client_context(certs)

    def connect(session=None):
        raw = socket.create_connection(("127.0.0.1", p.https_port), timeout=5)
        with ctx.wrap_socket(raw, server_hostname="a.test", session=session) as s:
            assert https_get(s, "a.test", "/echo")[0] == 200
            return s.session, s.session_reused

    session, _ = connect()
    assert connect(session)[1] is True  # at once: its key is current
    time.sleep(3.5)  # more than two rotations with no handshake in between
    assert connect(session)[1] is False  # the key that issued it is forgotten


def test_hsts_on_https_answers_only_replacing_the_backends(backends, certs, portico_factory):
    p = portico_factory(dump(
        tls_secret("a-tls", certs["a.test"]["cert"], certs["a.test"]["key"]),
        tls_secret("b-tls", certs["b.test"]["cert"], certs["b.test"]["key"]),
        apiroute("site-a", [tagged("a", backends["a"].url, "/app")], hosts=["a.test"],
                 tls={"secretName": "a-tls", "hsts": {"maxAge": "1h", "includeSubDomains": True}}),
        apiroute("site-b", [tagged("b", backends["b"].url, "/")], hosts=["b.test"], tls={"secretName": "b-tls"}),
    ))
    ctx = client_context(certs)

    def sts_over_tls(host, path):
        with handshake(p, ctx, host) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head = data.partition(b"\r\n\r\n")[0].decode().lower().split("\r\n")
        return int(head[0].split()[1]), [h.split(":", 1)[1].strip() for h in head if h.startswith("strict-transport-security:")]

    backend_sts = "?hdr=Strict-Transport-Security:max-age=1"
    assert sts_over_tls("a.test", "/app" + backend_sts) == (200, ["max-age=3600; includesubdomains"])
    assert sts_over_tls("a.test", "/elsewhere") == (404, ["max-age=3600; includesubdomains"])
    assert sts_over_tls("b.test", "/" + backend_sts) == (200, ["max-age=1"])  # not Portico's business there
    raw = raw_exchange(p.http_port, b"GET /app HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
    assert raw.status == 200 and "strict-transport-security" not in raw.headers


def test_min_version_per_host(backends, certs, portico_factory):
    p = portico_factory(dump(
        tls_secret("a-tls", certs["a.test"]["cert"], certs["a.test"]["key"]),
        tls_secret("b-tls", certs["b.test"]["cert"], certs["b.test"]["key"]),
        apiroute("site-a", [tagged("a", backends["a"].url, "/")], hosts=["a.test"],
                 tls={"secretName": "a-tls", "minVersion": "1.3"}),
        apiroute("site-b", [tagged("b", backends["b"].url, "/")], hosts=["b.test"], tls={"secretName": "b-tls"}),
    ))

    def version(host, maximum):
        ctx = client_context(certs)
        ctx.maximum_version = maximum
        with handshake(p, ctx, host) as s:
            negotiated = s.version()
            assert https_get(s, host, "/")[0] == 200
            return negotiated

    assert version("a.test", ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    assert version("b.test", ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    with pytest.raises(ssl.SSLError):
        version("a.test", ssl.TLSVersion.TLSv1_2)
    assert p.routes()["certificates"][0]["minVersion"] == "1.3"
