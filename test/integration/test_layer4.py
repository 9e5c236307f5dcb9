"""Layer 4: APIRoute spec.tcp routes on --tcp-ports listeners and TLS passthrough by SNI on
the HTTPS listener, against real peers: redis-server and redis-cli, tcp_backend.py (echo,
sink with a half-close, 100 MB source, TLS backends with their own certificates), and
ClientHellos written byte by byte over a raw socket."""
import hashlib
import os
import socket
import ssl
import subprocess
import sys
import time

import pytest

from helpers import HERE, apiroute, dump, free_port, peer_closed, raw_connect, tls_secret, wait_until
from pki import issue, make_ca

TCP_BACKEND = os.path.join(HERE, "tcp_backend.py")
PATTERN = bytes(range(256)) * 256


class TcpBackend:
    """tcp_backend.py in its own process; `port` once it listens."""

    def __init__(self, name, tls=None):
        args = [sys.executable, TCP_BACKEND, "--name", name]
        if tls:
            args += ["--tls-cert", tls["cert"], "--tls-key", tls["key"]]
        self.name = name
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        assert line.startswith("READY "), f"tcp backend {name} did not start: {line!r}"
        self.port = int(line.split()[1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def tcp_backends():
    started = {name: TcpBackend(name) for name in ("t1", "t2")}
    yield started
    for b in started.values():
        b.stop()


def tcp_route(name, port, backends, hosts=None, **tcp):
    spec = {"tcp": {"port": port, "backends": [{"url": f"tcp://127.0.0.1:{b}"} for b in backends], **tcp}}
    if port is None:
        del spec["tcp"]["port"]
    if hosts is not None:
        spec["hosts"] = hosts
    return {"apiVersion": "portico.dev/v1alpha1", "kind": "APIRoute",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def read_line(sock):
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def echo_session(port):
    """A connection in ECHO mode: (socket, backend name)."""
    s = raw_connect(port)
    s.sendall(b"ECHO\n")
    return s, read_line(s)


def echo_roundtrip(sock, payload):
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        assert chunk, f"closed after {len(got)} of {len(payload)} echoed bytes"
        got += chunk
    return got


# --- plain TCP routes --------------------------------------------------------------------------

def test_redis_conversation_through_a_tcp_route(portico_factory, redis_server):
    port = free_port()
    p = portico_factory(dump(tcp_route("redis", port, [redis_server["port"]])), extra_args=["--tcp-ports", str(port)])

    def cli(target, *args):
        return subprocess.run(["redis-cli", "-p", str(target), *args], capture_output=True, text=True,
                              timeout=10).stdout.strip()

    assert cli(port, "SET", "layer4:key", "carried") == "OK"
    assert cli(port, "GET", "layer4:key") == "carried"
    # What the real server holds, asked directly: the bytes reached it.
    assert cli(redis_server["port"], "GET", "layer4:key") == "carried"
    # A pipelined batch and a 1 MB value in one conversation.
    big = "x" * (1 << 20)
    script = "".join(f"SET layer4:{i} {i}\n" for i in range(200)) + f"SET layer4:big {big}\nSTRLEN layer4:big\n"
    out = subprocess.run(["redis-cli", "-p", str(port)], input=script, capture_output=True, text=True,
                         timeout=20).stdout.split()
    assert out[:200] == ["OK"] * 200 and out[-1] == str(1 << 20)
    assert cli(redis_server["port"], "GET", "layer4:199") == "199"
    assert p.metric('portico_stream_connections_total{outcome="proxied"}') == 3


def test_100mb_each_way_with_flat_memory(portico_factory, tcp_backends):
    port = free_port()
    p = portico_factory(dump(tcp_route("bulk", port, [tcp_backends["t1"].port])),
                        extra_args=["--tcp-ports", str(port)], workers=1)
    total = 100 << 20
    before = p.rss_kib()
    # Upload: the backend hashes what it got once the client's half-close reached it.
    s = raw_connect(port, timeout=30)
    s.sendall(b"SINK\n")
    digest = hashlib.sha256()
    sent = 0
    while sent < total:
        s.sendall(PATTERN)
        digest.update(PATTERN)
        sent += len(PATTERN)
    s.shutdown(socket.SHUT_WR)
    assert read_line(s) == f"{total} {digest.hexdigest()}"
    s.close()
    # Download.
    s = raw_connect(port, timeout=30)
    s.sendall(f"SOURCE {total}\n".encode())
    got, digest = 0, hashlib.sha256()
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        digest.update(chunk)
        got += len(chunk)
    s.close()
    assert got == total
    assert digest.hexdigest() == hashlib.sha256(PATTERN * (total // len(PATTERN))).hexdigest()
    grown = p.rss_kib() - before
    assert grown < 16 * 1024, f"RSS grew {grown} KiB over 200 MB relayed"
    assert p.metric('portico_stream_bytes_total{direction="from_client"}') >= total
    assert p.metric('portico_stream_bytes_total{direction="to_client"}') >= total


def test_swap_keeps_connections_of_routes_that_stay_and_closes_removed(portico_factory, tcp_backends):
    port, other = free_port(), free_port()
    t1, t2 = tcp_backends["t1"].port, tcp_backends["t2"].port
    p = portico_factory(dump(tcp_route("kept", port, [t1]), tcp_route("removed", other, [t1])),
                        extra_args=["--tcp-ports", f"{port},{other}"])
    kept, name = echo_session(port)
    assert name == "t1"
    doomed, _ = echo_session(other)
    assert echo_roundtrip(kept, b"before") == b"before"
    # A long download is under way during the swap.
    size = 64 << 20
    bulk = raw_connect(port, timeout=30)
    bulk.sendall(f"SOURCE {size}\n".encode())
    got, digest = 0, hashlib.sha256()
    while got < (1 << 20):
        chunk = bulk.recv(65536)
        assert chunk
        got += len(chunk)
        digest.update(chunk)
    # The kept route changes its backends (t2 only) and the other route goes.
    v = p.version()
    p.rewrite_config(dump(tcp_route("kept", port, [t2])))
    p.wait_for_version(v + 1)
    time.sleep(1.2)  # two of the worker's sweeps
    while chunk := bulk.recv(1 << 20):
        got += len(chunk)
        digest.update(chunk)
    bulk.close()
    assert got == size and digest.hexdigest() == hashlib.sha256(PATTERN * (size // len(PATTERN))).hexdigest()
    for i in range(20):  # across several of the worker's sweeps
        assert echo_roundtrip(kept, b"after %d" % i) == b"after %d" % i
        time.sleep(0.05)
    assert peer_closed(doomed, 3), "a connection of a removed route stayed open"
    assert p.metric('portico_stream_connections_total{outcome="route_removed"}') == 1
    # New connections go to the new backend.
    fresh, name = echo_session(port)
    assert name == "t2"
    fresh.close()
    kept.close()


def test_round_robin_retry_on_refused_endpoint_and_health_checks(portico_factory, tcp_backends):
    port = free_port()
    dead = free_port()  # nothing listens: refused at once
    t1, t2 = tcp_backends["t1"].port, tcp_backends["t2"].port
    p = portico_factory(dump(tcp_route("rr", port, [t1, t2])), extra_args=["--tcp-ports", str(port)], workers=1)
    names = []
    for _ in range(6):
        s, name = echo_session(port)
        names.append(name)
        s.close()
    assert names.count("t1") == 3 and names.count("t2") == 3, names
    # A refused endpoint: every connection still reaches a live one (next endpoint tried).
    p.rewrite_config(dump(tcp_route("rr", port, [t1, dead])))
    p.wait_for_version(2)
    for _ in range(6):
        s, name = echo_session(port)
        assert name == "t1"
        s.close()
    assert p.metric('portico_upstream_errors_total{kind="connect_failure"}') >= 1
    # With a health check the dead endpoint is marked down and no longer tried.
    p.rewrite_config(dump(tcp_route("rr", port, [t1, dead], healthCheck={"interval": "200ms", "timeout": "100ms",
                                                                         "unhealthyThreshold": 1})))
    p.wait_for_version(3)
    wait_until(lambda: f'portico_upstream_endpoint_available{{endpoint="127.0.0.1:{dead}"}} 0' in p.metrics(), 5,
               what="the dead endpoint marked down")
    failures = p.metric('portico_upstream_errors_total{kind="connect_failure"}')
    for _ in range(6):
        s, name = echo_session(port)
        assert name == "t1"
        s.close()
    assert p.metric('portico_upstream_errors_total{kind="connect_failure"}') == failures


def test_no_endpoint_at_all_closes_the_client(portico_factory):
    port, dead = free_port(), free_port()
    p = portico_factory(dump(tcp_route("dead", port, [dead])), extra_args=["--tcp-ports", str(port)])
    s = raw_connect(port)
    assert peer_closed(s, 5)
    assert p.metric('portico_stream_connections_total{outcome="connect_failure"}') == 1


def test_consistent_hash_pins_a_client_address(portico_factory, tcp_backends):
    port = free_port()
    t1, t2 = tcp_backends["t1"].port, tcp_backends["t2"].port
    portico_factory(dump(tcp_route("hash", port, [t1, t2], loadBalancing={"policy": "ConsistentHash"})),
                    extra_args=["--tcp-ports", str(port)])
    names = set()
    for _ in range(8):
        s, name = echo_session(port)
        names.add(name)
        s.close()
    assert len(names) == 1, names


def test_least_request_prefers_the_endpoint_with_fewer_open_connections(portico_factory, tcp_backends):
    port = free_port()
    t1, t2 = tcp_backends["t1"].port, tcp_backends["t2"].port
    portico_factory(dump(tcp_route("least", port, [t1, t2], loadBalancing={"policy": "LeastRequest"})),
                    extra_args=["--tcp-ports", str(port)], workers=1)
    held = [echo_session(port) for _ in range(40)]
    names = [name for _, name in held]
    # Two draws, the one with fewer open connections wins: the split stays near even (a
    # difference over 8 of 40 is far out for it, and for a broken count that always
    # picks one endpoint certain).
    assert abs(names.count("t1") - names.count("t2")) <= 8, names
    for s, _ in held:
        s.close()


def test_idle_timeout_and_connection_limit(portico_factory, tcp_backends):
    port = free_port()
    p = portico_factory(dump(tcp_route("limited", port, [tcp_backends["t1"].port], maxConnections=2,
                                       timeouts={"idle": "1s"})),
                        extra_args=["--tcp-ports", str(port)])
    a, _ = echo_session(port)
    b, _ = echo_session(port)
    third = raw_connect(port)
    assert peer_closed(third, 3), "a third connection passed maxConnections 2"
    assert p.metric('portico_stream_connections_total{outcome="over_limit"}') == 1
    # Traffic keeps `a` open past the idle timeout; `b`, silent, is closed.
    for i in range(8):
        assert echo_roundtrip(a, b"tick") == b"tick"
        time.sleep(0.25)
    assert peer_closed(b, 0.1)
    assert echo_roundtrip(a, b"still") == b"still"
    a.close()
    # Both places are free again.
    wait_until(lambda: echo_session(port)[1] == "t1", 5, what="a connection after the others closed")


def test_invalid_tcp_routes_are_refused_with_reasons_and_the_last_table_serves(portico_factory, tcp_backends):
    """File mode refuses a version with any problem (it never goes live half-read): the
    reasons are logged and the running table keeps carrying connections."""
    port, unlistened = free_port(), free_port()
    t1 = tcp_backends["t1"].port
    good = tcp_route("good", port, [t1])
    p = portico_factory(dump(good), extra_args=["--tcp-ports", str(port)])
    p.rewrite_config(dump(good, tcp_route("not-listened", unlistened, [t1]),
                          tcp_route("late-claim", port, [tcp_backends["t2"].port]),
                          tcp_route("plain-with-hosts", port, [t1], hosts=["x.test"]),
                          tcp_route("with-rules", port, [t1]) | {"spec": {"tcp": {"port": port}, "rules": []}}))
    wait_until(lambda: p.metric("portico_config_reload_errors_total") >= 1, 10, what="the reload refused")
    err = p.stderr()
    for reason in (f"port {unlistened} is not a layer-4 listener",
                   f"port {port} is already served by APIRoute default/good",
                   "only used with tcp.tlsPassthrough",
                   "cannot be combined with spec.rules"):
        assert reason in err, (reason, err[-3000:])
    assert [r["name"] for r in p.routes()["routes"]] == ["default/good/tcp"]
    s, name = echo_session(port)
    assert name == "t1"
    s.close()


def test_tcp_port_colliding_with_another_listener_is_a_flag_error(tmp_path):
    from helpers import portico_bin
    out = subprocess.run([portico_bin(), "--config", str(tmp_path / "none.yaml"), "--http-port", "18080",
                          "--tcp-ports", "5432,18080"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 2
    assert "port 18080 is already the HTTP, HTTPS or admin port" in out.stderr


# --- TLS passthrough ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def passthrough(tmp_path_factory):
    d = tmp_path_factory.mktemp("passthrough-pki")
    ca = make_ca(d, "passthrough-ca")
    certs = {name: issue(d, ca, f"{name}.test", f"DNS:{name}.test") for name in ("alpha", "beta", "edge")}
    backends = {name: TcpBackend(name, tls=certs[name]) for name in ("alpha", "beta")}
    yield {"ca": ca, "certs": certs, "backends": backends}
    for b in backends.values():
        b.stop()


def passthrough_config(pt, echo_port):
    edge = pt["certs"]["edge"]
    terminated = apiroute("edge", [{"name": "echo", "backends": [{"url": f"http://127.0.0.1:{echo_port}"}]}],
                          hosts=["edge.test"], tls={"secretName": "edge-tls"})
    return dump(tcp_route("alpha", None, [pt["backends"]["alpha"].port], hosts=["alpha.test"], tlsPassthrough=True),
                tcp_route("beta", None, [pt["backends"]["beta"].port], hosts=["*.beta.test", "beta.test"],
                          tlsPassthrough=True),
                tls_secret("edge-tls", edge["pem"], edge["key_pem"]), terminated)


def tls_echo(port, ca, server_name):
    """A TLS connection through Portico's HTTPS port: (peer certificate subject CN, backend name)."""
    context = ssl.create_default_context(cafile=ca["cert"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as s:
            cn = dict(x[0] for x in s.getpeercert()["subject"])["commonName"]
            s.sendall(b"ECHO\n")
            name = read_line(s)
            assert echo_roundtrip(s, b"through") == b"through"
            return cn, name


def test_passthrough_picks_the_backend_by_sni(portico_factory, passthrough, backends):
    p = portico_factory(passthrough_config(passthrough, backends["a"].port))
    assert tls_echo(p.https_port, passthrough["ca"], "alpha.test") == ("alpha.test", "alpha")
    assert tls_echo(p.https_port, passthrough["ca"], "beta.test") == ("beta.test", "beta")
    # The wildcard name: beta's own certificate does not cover it, so the client refuses it,
    # which shows the handshake was beta's and not Portico's.
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_echo(p.https_port, passthrough["ca"], "x.beta.test")
    # A name no passthrough route takes is terminated by Portico with its own certificate.
    context = ssl.create_default_context(cafile=passthrough["ca"]["cert"])
    with socket.create_connection(("127.0.0.1", p.https_port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="edge.test") as s:
            assert dict(x[0] for x in s.getpeercert()["subject"])["commonName"] == "edge.test"
            s.sendall(b"GET /via-edge HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert p.metric('portico_stream_connections_total{outcome="proxied"}') == 3


def test_passthrough_client_hello_split_across_segments(portico_factory, passthrough, backends):
    """The ClientHello written in three pieces with pauses (a record header cut in two):
    the backend still gets every byte, and the handshake is the backend's."""
    p = portico_factory(passthrough_config(passthrough, backends["a"].port))
    context = ssl.create_default_context(cafile=passthrough["ca"]["cert"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = context.wrap_bio(incoming, outgoing, server_hostname="alpha.test")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = outgoing.read()
    s = raw_connect(p.https_port)
    for piece in (hello[:3], hello[3:100], hello[100:]):
        s.sendall(piece)
        time.sleep(0.2)
    # Finish the handshake through the memory BIOs over the same socket.
    s.settimeout(5)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            if pending := outgoing.read():
                s.sendall(pending)
            data = s.recv(65536)
            assert data, "closed during the handshake"
            incoming.write(data)
    if pending := outgoing.read():
        s.sendall(pending)
    assert dict(x[0] for x in obj.getpeercert()["subject"])["commonName"] == "alpha.test"
    s.close()


def test_passthrough_garbage_and_silence_do_not_stall_the_listener(portico_factory, passthrough, backends):
    p = portico_factory(passthrough_config(passthrough, backends["a"].port), extra_args=["--header-timeout", "1s"])
    silent = raw_connect(p.https_port)  # says nothing: closed at the header timeout
    garbage = raw_connect(p.https_port)
    garbage.sendall(b"GET / HTTP/1.1\r\nHost: alpha.test\r\n\r\n")  # plain HTTP on the TLS port
    assert peer_closed(garbage, 5)
    # Meanwhile other clients are served.
    assert tls_echo(p.https_port, passthrough["ca"], "alpha.test") == ("alpha.test", "alpha")
    assert peer_closed(silent, 5)
