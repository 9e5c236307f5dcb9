"""Idle client connections: a plain connection idle for about a second is parked (its
coroutine ends; a callback that owns the connection waits for readability, with no frame
held), and woken again by its next bytes. Checked over real sockets against the echo
backend, so what the backend received is checked too:

- a parked connection serves its next request, a pipelined pair, and a request whose
  header arrives in pieces; the upstream connection is still reused;
- the keep-alive timeout closes connections, parked or not, when it should, and their
  places in the connection limit are given back;
- SIGTERM closes parked connections at once.
The memory it saves is measured by bench/idle_memory.py, not here.
"""
import signal
import time

from configs import tagged
from helpers import apiroute, dump, peer_closed, raw_connect, read_response, wait_until

PARKED = 1.3  # the idle sweep parks a connection idle for 0.5 to 1 s


def config(backends):
    return dump(apiroute("app", [tagged("echo", backends["a"].url, "/echo")]))


def echo_path(sock, path):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
    r = read_response(sock, check_close=False)
    assert r.status == 200, r
    return r.json()["path"]


def test_parked_connection_serves_its_next_requests(backends, portico_factory):
    p = portico_factory(config(backends), workers=1)
    before = backends["a"].stats()
    with raw_connect(p.http_port) as s:
        assert echo_path(s, "/echo/first") == "/echo/first"
        time.sleep(PARKED)
        assert echo_path(s, "/echo/after-park") == "/echo/after-park"
        time.sleep(PARKED)
        # Two requests in one write: both answered, in order.
        s.sendall(b"GET /echo/p1 HTTP/1.1\r\nHost: h\r\n\r\nGET /echo/p2 HTTP/1.1\r\nHost: h\r\n\r\n")
        assert read_response(s, check_close=False).json()["path"] == "/echo/p1"
        assert read_response(s, check_close=False).json()["path"] == "/echo/p2"
        time.sleep(PARKED)
        # The first byte wakes it; the rest of the header follows in pieces.
        for piece in (b"G", b"ET /echo/pie", b"ces HTTP/1.1\r\nHo", b"st: h\r\n", b"\r\n"):
            s.sendall(piece)
            time.sleep(0.05)
        assert read_response(s, check_close=False).json()["path"] == "/echo/pieces"
    after = backends["a"].stats()
    assert after["requests"] - before["requests"] >= 5
    # One worker, one keep-alive upstream connection for all of them (the second stats
    # call is a connection of its own).
    assert after["connections"] - before["connections"] - 1 <= 1


def test_keepalive_timeout_closes_parked_and_busy_connections(backends, portico_factory):
    p = portico_factory(config(backends), extra_args=["--keepalive-timeout", "2500ms"], workers=1)
    never_used = raw_connect(p.http_port)
    used = raw_connect(p.http_port)
    assert echo_path(used, "/echo/x") == "/echo/x"
    start = time.monotonic()
    # Both are parked after about a second, and must still be open then...
    assert not peer_closed(never_used, 1.8)
    assert not peer_closed(used, 0.1)
    # ...and closed once 2.5 s have passed.
    assert peer_closed(never_used, 2.0)
    assert peer_closed(used, 1.0)
    assert time.monotonic() - start < 3.8
    never_used.close()
    used.close()
    wait_until(lambda: p.metric("portico_active_connections") == 0, 5, what="connection slots released")

    # A timeout shorter than the park delay: the connection closes while still in its frame.
    p2 = portico_factory(config(backends), extra_args=["--keepalive-timeout", "300ms"], workers=1)
    with raw_connect(p2.http_port) as s:
        assert echo_path(s, "/echo/y") == "/echo/y"
        start = time.monotonic()
        assert peer_closed(s, 2.0)
        assert 0.2 < time.monotonic() - start < 1.0
    wait_until(lambda: p2.metric("portico_active_connections") == 0, 5, what="connection slots released")


def test_sigterm_closes_parked_connections(backends, portico_factory):
    p = portico_factory(config(backends), extra_args=["--shutdown-grace", "10s"], workers=1)
    conns = [raw_connect(p.http_port) for _ in range(10)]
    for i, s in enumerate(conns[:5]):
        assert echo_path(s, f"/echo/{i}") == f"/echo/{i}"
    time.sleep(PARKED)
    p.proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    for s in conns:
        assert peer_closed(s, 2.0)
        s.close()
    assert p.wait_exit(5) == 0
    assert time.monotonic() - start < 3.0  # not the 10 s grace period
