"""SIGTERM: stop accepting, finish in-flight requests within the grace period, exit 0."""
import signal
import socket
import threading
import time

from configs import tagged
from helpers import apiroute, dump, peer_closed, raw_connect, read_response, wait_until


def config(backends):
    return dump(apiroute("app", [tagged("sleep", backends["a"].url, "/sleep"),
                                 tagged("echo", backends["a"].url, "/echo")]))


def in_flight_request(port, path, result):
    try:
        with raw_connect(port, timeout=15) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
            result["response"] = read_response(s, timeout=15)
            result["done_at"] = time.monotonic()
    except Exception as e:  # noqa: BLE001 - reported by the test
        result["error"] = e


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


def test_sigterm_drains_in_flight_request(backends, portico_factory):
    p = portico_factory(config(backends), extra_args=["--shutdown-grace", "5s"])
    # An idle keep-alive connection, open before the signal.
    idle = raw_connect(p.http_port)
    idle.sendall(b"GET /echo HTTP/1.1\r\nHost: h\r\n\r\n")
    assert read_response(idle, check_close=False).status == 200

    requests_before = backends["a"].stats()["requests"]
    result = {}
    t = threading.Thread(target=in_flight_request, args=(p.http_port, "/sleep?ms=2000", result))
    t.start()
    # The slow request has reached the backend (the stats call itself is one request).
    wait_until(lambda: backends["a"].stats()["requests"] >= requests_before + 2, 5, what="request upstream")
    p.proc.send_signal(signal.SIGTERM)
    signalled_at = time.monotonic()

    # New connections are refused soon after, while the slow request is still running.
    wait_until(lambda: refused(p.http_port), 1.5, interval=0.05, what="listener closed")
    assert "response" not in result
    # The idle keep-alive connection is closed rather than kept for the grace period.
    assert peer_closed(idle, 1.5)
    idle.close()

    t.join(10)
    assert "error" not in result, result.get("error")
    r = result["response"]
    assert r.status == 200 and r.json()["path"] == "/sleep"
    assert r.closed  # no keep-alive while draining
    assert result["done_at"] - signalled_at >= 1.0

    code = p.wait_exit(10)
    assert code == 0
    assert refused(p.http_port) and refused(p.admin_port)
    log = p.stderr()
    assert "draining" in log and "stopped" in log


def test_sigterm_grace_period_bounds_shutdown(backends, portico_factory):
    p = portico_factory(config(backends), extra_args=["--shutdown-grace", "1s"])
    result = {}
    t = threading.Thread(target=in_flight_request, args=(p.http_port, "/sleep?ms=6000", result))
    t.start()
    time.sleep(0.5)
    p.proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    code = p.wait_exit(10)
    took = time.monotonic() - start
    assert code == 0
    assert took < 4, f"exit took {took:.1f}s with a 1s grace period"
    t.join(10)
    # The request that outlived the grace period did not get a 200.
    assert "response" not in result or result["response"].status != 200
