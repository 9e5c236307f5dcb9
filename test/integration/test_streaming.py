"""Bodies stream through the proxy: 100 MB each way with flat memory, 100-continue."""
import hashlib
import json
import threading
import time

import pytest

from configs import main_config
from conftest import running_portico
from helpers import PATTERN_BLOCK, raw_connect, read_response

SIZE = 100 * 1024 * 1024
RSS_GROWTH_LIMIT_KIB = 30 * 1024
# RSS figures of each transfer, printed at the end of the module (pytest -s shows them).
RSS_REPORT = {}


@pytest.fixture(scope="module")
def proxy(backends, tmp_path_factory):
    # The default body limit is exactly 100 MiB; give the uploads headroom above it.
    args = ["--max-request-body-bytes", str(2 * SIZE)]
    with running_portico(main_config(backends), str(tmp_path_factory.mktemp("stream")), args) as p:
        yield p
    print("\nRSS during 100 MB transfers (KiB):", json.dumps(RSS_REPORT, indent=1))


class RssSampler:
    """Samples portico's VmRSS every 20 ms on a thread."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.baseline = proxy.rss_kib()
        self.peak = self.baseline
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.proxy.rss_kib())
                self.samples += 1
            except (OSError, AssertionError):
                return
            time.sleep(0.005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def check(self, name):
        growth = self.peak - self.baseline
        RSS_REPORT[name] = {"baseline": self.baseline, "peak": self.peak, "growth": growth,
                            "samples": self.samples}
        assert self.samples >= 10, "transfer too quick to sample memory"
        assert growth < RSS_GROWTH_LIMIT_KIB, f"{name}: RSS grew {growth} KiB ({RSS_REPORT[name]})"


def warm_up(proxy):
    # A first transfer sizes the per-worker buffers and pools; growth is measured after it.
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"GET /stream?bytes=4000000 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        assert read_response(s, timeout=20).status == 200


def pattern_digest(n):
    h = hashlib.sha256()
    block = memoryview(PATTERN_BLOCK)
    while n:
        k = min(n, len(block))
        h.update(block[:k])
        n -= k
    return h.hexdigest()


EXPECTED_SHA = None


def expected_sha():
    global EXPECTED_SHA
    if EXPECTED_SHA is None:
        EXPECTED_SHA = pattern_digest(SIZE)
    return EXPECTED_SHA


def upload(proxy, chunked):
    warm_up(proxy)
    head = b"POST /count HTTP/1.1\r\nHost: h\r\n"
    head += b"Transfer-Encoding: chunked\r\n\r\n" if chunked else b"Content-Length: %d\r\n\r\n" % SIZE
    block = PATTERN_BLOCK
    with RssSampler(proxy) as rss:
        with raw_connect(proxy.http_port, timeout=60) as s:
            s.sendall(head)
            left = SIZE
            while left:
                piece = block[:min(left, len(block))]
                s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                left -= len(piece)
            if chunked:
                s.sendall(b"0\r\n\r\n")
            r = read_response(s, timeout=60, check_close=False)
    assert r.status == 200, r
    body = r.json()
    assert body["bytes"] == SIZE
    assert body["sha256"] == expected_sha()
    rss.check("upload-chunked" if chunked else "upload-content-length")


def download(proxy, chunked):
    warm_up(proxy)
    with RssSampler(proxy) as rss:
        with raw_connect(proxy.http_port, timeout=60) as s:
            s.sendall(b"GET /stream?bytes=%d&chunked=%d HTTP/1.1\r\nHost: h\r\n\r\n" % (SIZE, int(chunked)))
            # Read the header, then the body, hashing on the way (never held whole).
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(65536)
            head, _, rest = buf.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            headers = head.decode().lower()
            h = hashlib.sha256()
            total = 0
            if chunked:
                assert "transfer-encoding: chunked" in headers
                while True:
                    while b"\r\n" not in rest:
                        rest += s.recv(65536)
                    line, _, rest = rest.partition(b"\r\n")
                    size = int(line.split(b";")[0], 16)
                    while len(rest) < size + 2:
                        data = s.recv(1 << 20)
                        assert data, "eof in chunked body"
                        rest += data
                    h.update(rest[:size])
                    total += size
                    rest = rest[size + 2:]
                    if size == 0:
                        break
            else:
                assert f"content-length: {SIZE}" in headers
                h.update(rest)
                total = len(rest)
                while total < SIZE:
                    data = s.recv(1 << 20)
                    assert data, f"eof after {total} bytes"
                    h.update(data)
                    total += len(data)
    assert total == SIZE
    assert h.hexdigest() == expected_sha()
    rss.check("download-chunked" if chunked else "download-content-length")


@pytest.mark.timeout(180)
def test_upload_100mb_content_length_flat_memory(proxy):
    upload(proxy, chunked=False)


@pytest.mark.timeout(180)
def test_upload_100mb_chunked_flat_memory(proxy):
    upload(proxy, chunked=True)


@pytest.mark.timeout(180)
def test_download_100mb_content_length_flat_memory(proxy):
    download(proxy, chunked=False)


@pytest.mark.timeout(180)
def test_download_100mb_chunked_flat_memory(proxy):
    download(proxy, chunked=True)


def test_expect_100_continue(proxy):
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"POST /count HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
        # The interim response comes before any body byte is sent.
        s.settimeout(3)
        interim = b""
        while b"\r\n\r\n" not in interim:
            data = s.recv(1)
            assert data, "closed before 100 Continue"
            interim += data
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"hello world")
        r = read_response(s, check_close=False)
        assert r.status == 200
        assert r.json()["bytes"] == 11
        assert r.json()["sha256"] == hashlib.sha256(b"hello world").hexdigest()
        # Same connection, next request.
        s.sendall(b"GET /echo/next HTTP/1.1\r\nHost: h\r\n\r\n")
        r = read_response(s, check_close=False)
        assert r.status == 200 and r.json()["path"] == "/echo/next"
        # The backend did not see the Expect header (the proxy answered it).
        assert "expect" not in r.json()["headers"]


def test_expect_100_continue_rejected_before_body(proxy):
    # Over the route's limit: 413 instead of 100, without waiting for the body.
    with raw_connect(proxy.http_port) as s:
        s.sendall(b"POST /limited HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
        r = read_response(s)
    assert r.status == 413 and r.closed
