"""Overload at the edge: running out of file descriptors, --max-connections, and clients
that never read.

- Out of descriptors: accept() failing with EMFILE must pause the listener instead of
  spinning (CPU measured from /proc/PID/stat over 2 s), log a few lines rather than a flood,
  keep serving the connections already open, and accept again once descriptors are free.
- --max-connections N: connection N+1 waits in the backlog, unserved, until one of the N
  closes; the N keep working meanwhile.
- A client that pipelines requests without reading the answers, or starts a huge download
  and never reads it, must not grow portico's memory (VmRSS sampled).
"""
import os
import re
import resource
import socket
import threading
import time

import pytest

from helpers import apiroute, dump, http_get, raw_connect, read_response, rss_kib, rule, wait_until

# Generous: the proxy relays bodies through a fixed 64 KiB buffer per connection.
RSS_GROWTH_LIMIT_KIB = 30 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")


def config(backends):
    return dump(apiroute("all", [rule("all", backends["a"].url)]))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def get(sock, path="/x"):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
    return read_response(sock, check_close=False)


def metric_value(proxy, name):
    m = re.search(rf"^{re.escape(name)} (\S+)$", proxy.metrics(), re.M)
    assert m, f"metric {name} missing"
    return float(m.group(1))


def stderr_lines(proxy):
    return proxy.stderr().count("\n")


@pytest.mark.timeout(90)
def test_out_of_descriptors_pauses_accept_and_recovers(backends, portico_factory):
    p = portico_factory(config(backends), extra_args=["--max-connections", "100000"])
    keep = raw_connect(p.http_port)
    extra = []
    try:
        # A keep-alive client from before the shortage; its request leaves an idle upstream
        # connection in its worker's pool, so serving it again needs no new descriptor.
        assert get(keep).status == 200

        # Leave portico 16 descriptors, then connect more clients than that.
        baseline = open_fds(p.pid)
        limit = baseline + 16
        resource.prlimit(p.pid, resource.RLIMIT_NOFILE, (limit, limit))
        for _ in range(64):
            extra.append(socket.create_connection(("127.0.0.1", p.http_port), timeout=5))
        wait_until(lambda: open_fds(p.pid) >= limit, 10, what=f"portico using all {limit} descriptors")
        wait_until(lambda: "accept failed" in p.stderr(), 10, what="the accept failure logged")

        # The listeners keep failing for as long as clients wait in the backlog: over 2 s the
        # process must stay nearly idle and log a few lines at most.
        cpu0, lines0 = cpu_seconds(p.pid), stderr_lines(p)
        time.sleep(2)
        cpu = cpu_seconds(p.pid) - cpu0
        lines = stderr_lines(p) - lines0
        print(f"\nout of descriptors: {cpu:.3f} s CPU and {lines} stderr lines in 2 s")
        assert cpu < 0.3, f"accept path busy while out of descriptors: {cpu:.2f} s CPU in 2 s"
        assert lines <= 4, f"{lines} log lines in 2 s:\n{p.stderr()[-2000:]}"

        # The connection accepted before the shortage is still served.
        assert get(keep).status == 200

        # Descriptors come back: new clients are accepted and served again.
        for s in extra:
            s.close()
        extra.clear()
        # The closed clients still queued in the backlog are accepted (each takes a descriptor
        # until its EOF is read); a new client connecting among them could find none left for
        # its upstream connection. Wait until that backlog is drained: listeners resumed and
        # descriptors back to the baseline, three samples in a row.
        def drained():
            for _ in range(3):
                if metric_value(p, "portico_listeners_paused") != 0 or open_fds(p.pid) > baseline + 2:
                    return False
                time.sleep(0.1)
            return True

        wait_until(drained, 10, what="the backlog drained and descriptors released")
        with raw_connect(p.http_port) as fresh:
            assert get(fresh).status == 200
        assert metric_value(p, 'portico_accept_errors_total{reason="out_of_files"}') >= 1
        assert metric_value(p, 'portico_accept_paused_total{reason="out_of_files"}') >= 1
        wait_until(lambda: metric_value(p, "portico_listeners_paused") == 0, 5, what="no listener paused")
    finally:
        for s in extra:
            s.close()
        keep.close()


@pytest.mark.timeout(60)
def test_admin_port_recovers_after_running_out_of_descriptors(backends, portico_factory):
    p = portico_factory(config(backends), extra_args=["--max-connections", "100000"])
    extra = []
    try:
        limit = open_fds(p.pid) + 8
        resource.prlimit(p.pid, resource.RLIMIT_NOFILE, (limit, limit))
        for _ in range(32):
            extra.append(socket.create_connection(("127.0.0.1", p.admin_port), timeout=5))
        wait_until(lambda: "admin: accept failed" in p.stderr(), 10, what="the admin accept failure logged")
        lines0 = stderr_lines(p)
        time.sleep(1)
        assert stderr_lines(p) - lines0 <= 2, p.stderr()[-2000:]  # once per streak, not per retry
        for s in extra:
            s.close()
        extra.clear()
        # The probes answer again: the accept loop paused instead of ending.
        wait_until(lambda: http_get(p.admin + "/healthz", timeout=1)[0] == 200, 10, what="/healthz again")
    finally:
        for s in extra:
            s.close()


@pytest.mark.timeout(60)
def test_tls_handshakes_count_against_max_connections(backends, portico_factory, certs):
    from helpers import tls_secret
    c = certs["a.test"]
    doc = dump(tls_secret("a-tls", c["cert"], c["key"]),
               apiroute("tls", [rule("all", backends["a"].url)], hosts=["a.test"], tls={"secretName": "a-tls"}))
    p = portico_factory(doc, extra_args=["--max-connections", "2", "--header-timeout", "10s"])
    # Two TCP connections to the TLS port that never start a handshake hold both slots.
    silent = [socket.create_connection(("127.0.0.1", p.https_port), timeout=5) for _ in range(2)]
    try:
        wait_until(lambda: metric_value(p, "portico_active_connections") == 2, 5, what="two slots taken")
        third = raw_connect(p.http_port)
        third.sendall(b"GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n")
        third.settimeout(1.0)
        with pytest.raises(socket.timeout):
            third.recv(1)  # waits in the backlog while the handshakes hold the slots
        silent.pop().close()
        assert read_response(third, check_close=False).status == 200
        third.close()
    finally:
        for s in silent:
            s.close()


@pytest.mark.timeout(60)
def test_max_connections_holds_the_next_client_until_one_closes(backends, portico_factory):
    p = portico_factory(config(backends), extra_args=["--max-connections", "5"])
    assert metric_value(p, "portico_connections_limit") == 5
    first = [raw_connect(p.http_port) for _ in range(5)]
    sixth = seventh = None
    try:
        for s in first:
            assert get(s).status == 200
        sixth = raw_connect(p.http_port)  # the kernel completes the handshake: backlog
        sixth.sendall(b"GET /sixth HTTP/1.1\r\nHost: h\r\n\r\n")
        sixth.settimeout(1.0)
        with pytest.raises(socket.timeout):
            sixth.recv(1)  # not served while five are open
        for s in first:  # the five keep working meanwhile
            assert get(s).status == 200
        assert metric_value(p, "portico_active_connections") == 5
        assert metric_value(p, 'portico_accept_paused_total{reason="connection_limit"}') >= 1

        first.pop(0).close()
        r = read_response(sixth, timeout=5, check_close=False)  # served once a slot is free
        assert r.status == 200 and r.json()["path"] == "/sixth"

        # Five open again (four of the first and the sixth): the seventh waits in turn.
        seventh = raw_connect(p.http_port)
        seventh.sendall(b"GET /seventh HTTP/1.1\r\nHost: h\r\n\r\n")
        seventh.settimeout(1.0)
        with pytest.raises(socket.timeout):
            seventh.recv(1)
        sixth.close()
        sixth = None
        r = read_response(seventh, timeout=5, check_close=False)
        assert r.status == 200 and r.json()["path"] == "/seventh"
    finally:
        for s in [*first, sixth, seventh]:
            if s is not None:
                s.close()


def test_default_max_connections_derives_from_the_open_file_limit(backends, portico_factory):
    p = portico_factory(config(backends), workers=2)
    with open(f"/proc/{p.pid}/limits") as f:
        soft, hard = re.search(r"^Max open files\s+(\d+)\s+(\d+)", f.read(), re.M).groups()
    assert soft == hard  # portico raises its soft limit to the hard one
    assert metric_value(p, "portico_connections_limit") == max(1, (int(soft) - 64 - 8 * 2) // 2)


class RssSampler:
    """Peak VmRSS of a process, sampled every 10 ms on a thread."""

    def __init__(self, pid):
        self.pid = pid
        self.baseline = rss_kib(pid)
        self.peak = self.baseline
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            self.samples += 1
            time.sleep(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def warm_up(p):
    # Sizes the per-worker buffers and pools first; growth is measured after it.
    for _ in range(4):
        with raw_connect(p.http_port) as s:
            s.sendall(b"GET /stream?bytes=4000000 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            assert read_response(s, timeout=20).status == 200


def send_until_blocked(sock, data, seconds):
    """Sends `data` repeatedly without reading until the peer stops taking it for 1 s (or
    `seconds` pass). Returns the bytes the kernel took."""
    sock.setblocking(False)
    sent, deadline, blocked_since = 0, time.monotonic() + seconds, None
    view = memoryview(data)
    offset = 0
    while time.monotonic() < deadline:
        try:
            n = sock.send(view[offset:])
            sent += n
            offset = (offset + n) % len(data)
            blocked_since = None
        except BlockingIOError:
            blocked_since = blocked_since or time.monotonic()
            if time.monotonic() - blocked_since > 1.0:
                break
            time.sleep(0.005)
    return sent


@pytest.mark.timeout(90)
def test_pipelining_clients_that_never_read_do_not_grow_memory(backends, portico_factory):
    p = portico_factory(config(backends))
    warm_up(p)
    request = b"GET /stream?bytes=1048576 HTTP/1.1\r\nHost: h\r\n\r\n" * 64
    clients = [raw_connect(p.http_port) for _ in range(4)]
    try:
        with RssSampler(p.pid) as rss:
            sent = [send_until_blocked(s, request, 5) for s in clients]
            time.sleep(1)  # whatever portico would buffer for them, it has by now
        growth = rss.peak - rss.baseline
        print(f"\npipelined without reading: {sum(sent)} request bytes taken, RSS {rss.baseline} -> "
              f"peak {rss.peak} KiB (+{growth}), {rss.samples} samples")
        assert rss.samples >= 50
        assert growth < RSS_GROWTH_LIMIT_KIB, f"RSS grew {growth} KiB"
    finally:
        for s in clients:
            s.close()
    with raw_connect(p.http_port) as s:
        assert get(s).status == 200


@pytest.mark.timeout(90)
def test_huge_downloads_that_are_never_read_do_not_grow_memory(backends, portico_factory):
    p = portico_factory(config(backends))
    warm_up(p)
    clients = []
    try:
        with RssSampler(p.pid) as rss:
            for _ in range(8):
                s = raw_connect(p.http_port)
                s.sendall(b"GET /stream?bytes=100000000000 HTTP/1.1\r\nHost: h\r\n\r\n")
                s.settimeout(10)
                assert s.recv(12).startswith(b"HTTP/1.1 200")  # the response started; read no more
                clients.append(s)
            time.sleep(3)  # 100 GB each: unbounded buffering would show within this
        growth = rss.peak - rss.baseline
        print(f"\n8 downloads never read: RSS {rss.baseline} -> peak {rss.peak} KiB (+{growth}), "
              f"{rss.samples} samples")
        assert rss.samples >= 100
        assert growth < RSS_GROWTH_LIMIT_KIB, f"RSS grew {growth} KiB"
    finally:
        for s in clients:
            s.close()
    with raw_connect(p.http_port) as s:
        assert get(s).status == 200
