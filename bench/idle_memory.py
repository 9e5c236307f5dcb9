#!/usr/bin/env python3
"""Memory per idle keep-alive connection: the proxy's RSS with C idle client connections
minus its RSS with none, divided by C (issue 11, item 4). A benchmark, not a test.

    bench/idle_memory.py [--portico build/portico] [--connections 10000] [--workers 1]
                         [--nginx] [--settle 3]

Two cases, each on a freshly started proxy (RSS rarely shrinks after connections close, so
a case never starts from the previous one's high-water mark):
  connected  C connections opened, nothing sent on them;
  after-one  C connections, one complete GET answered on each (one after another, so one
             upstream connection serves them all), then left idle.
The baseline is taken after a few warm-up requests on a connection that is then closed, so
lazily built state (pools, the worker's buffers) is in it. RSS is VmRSS from /proc, read
once it has stopped moving (or after --settle seconds), 2 s after the last request so that
portico has parked the idle connections (their coroutine frames freed). With --nginx, nginx (one worker,
keep-alive upstream, as in bench/peers.sh) is measured the same way; its figure is the
master's plus the worker's RSS.
The backend is a small selector loop in a child process, answering 200 "ok\\n".
"""
import argparse
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

BACKEND = r"""
import selectors, socket, sys
sel = selectors.DefaultSelector()
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0)); ls.listen(1024); ls.setblocking(False)
print(ls.getsockname()[1], flush=True)
sel.register(ls, selectors.EVENT_READ, None)
resp = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nok\n"
bufs = {}
while True:
    for key, _ in sel.select():
        if key.data is None:
            c, _ = ls.accept(); c.setblocking(False); bufs[c] = b""
            sel.register(c, selectors.EVENT_READ, 1)
            continue
        c = key.fileobj
        try:
            d = c.recv(65536)
        except OSError:
            d = b""
        if not d:
            sel.unregister(c); c.close(); bufs.pop(c, None); continue
        b = bufs[c] + d
        while b"\r\n\r\n" in b:  # GETs only
            b = b[b.index(b"\r\n\r\n") + 4:]
            c.sendall(resp)
        bufs[c] = b
"""

REQUEST = b"GET /idle HTTP/1.1\r\nHost: idle.test\r\nUser-Agent: idle-memory\r\nAccept: */*\r\n\r\n"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def settled_rss(pids_fn, settle):
    """VmRSS once two reads 0.5 s apart agree within 16 KiB, or after `settle` seconds."""
    deadline = time.monotonic() + settle
    last = rss_kib(pids_fn())
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_kib(pids_fn())
        if abs(now - last) <= 16:
            return now
        last = now
    return last


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def read_response(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise RuntimeError("connection closed before a response")
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected response: {head[:80]!r}")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        d = s.recv(65536)
        if not d:
            raise RuntimeError("connection closed inside a body")
        body += d


def warm_up(port, n=20):
    s = socket.create_connection(("127.0.0.1", port))
    for _ in range(n):
        s.sendall(REQUEST)
        read_response(s)
    s.close()


class Portico:
    name = "portico"

    def __init__(self, binary, backend_port, workers, tmp):
        self.port, self.admin = free_port(), free_port()
        config = os.path.join(tmp, "portico.yaml")
        with open(config, "w") as f:
            f.write(f"""apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata: {{name: idle, namespace: default}}
spec:
  rules:
    - name: all
      match: {{path: {{type: Prefix, value: /}}}}
      backends: [{{url: "http://127.0.0.1:{backend_port}"}}]
""")
        self.log = open(os.path.join(tmp, "portico.log"), "w")
        self.proc = subprocess.Popen(
            [binary, "--config", config, "--listen-address", "127.0.0.1", "--http-port", str(self.port),
             "--https-port", "0", "--admin-port", str(self.admin), "--workers", str(workers),
             "--access-log", "false", "--log-level", "warn", "--max-connections", "30000",
             "--keepalive-timeout", "600s", "--header-timeout", "600s"],
            stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 30
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/readyz", timeout=1).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("portico did not become ready; see " + self.log.name)
            time.sleep(0.1)

    def pids(self):
        return [self.proc.pid]

    def wait_accepted(self, count, timeout=60):
        """Until /metrics counts `count` open client connections: a connection still in the
        listen backlog costs the proxy nothing yet."""
        deadline = time.monotonic() + timeout
        seen = -1
        while time.monotonic() < deadline:
            text = urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=5).read().decode()
            for line in text.splitlines():
                if line.startswith("portico_active_connections "):
                    seen = int(float(line.split()[1]))
            if seen >= count:
                return
            time.sleep(0.2)
        raise RuntimeError(f"portico accepted {seen} of {count} connections")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Nginx:
    name = "nginx"

    def __init__(self, backend_port, tmp):
        self.port = free_port()
        os.chmod(tmp, 0o755)
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
worker_rlimit_nofile 30000;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx.err warn;
events {{ worker_connections 30000; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/ng_body; proxy_temp_path {tmp}/ng_proxy;
  fastcgi_temp_path {tmp}/ng_fcgi; uwsgi_temp_path {tmp}/ng_uwsgi; scgi_temp_path {tmp}/ng_scgi;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  client_header_timeout 600s;
  upstream up {{ server 127.0.0.1:{backend_port}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{self.port} backlog=4096;
    location / {{ proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-p", tmp, "-c", conf, "-e", f"{tmp}/nginx.err"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def pids(self):
        children = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.proc.pid:
                    children.append(int(entry))
            except OSError:
                continue
        return [self.proc.pid] + children

    def wait_accepted(self, count):
        time.sleep(1)  # nginx accepts as fast as the backlog fills; no counter to ask without stub_status

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def open_connections(port, count):
    conns = []
    for i in range(count):
        for attempt in range(50):
            try:
                conns.append(socket.create_connection(("127.0.0.1", port), timeout=10))
                break
            except OSError:
                if attempt == 49:
                    raise
                time.sleep(0.05)
    return conns


def measure(start_proxy, case, count, settle):
    proxy = start_proxy()
    try:
        warm_up(proxy.port)
        base = settled_rss(proxy.pids, settle)
        conns = open_connections(proxy.port, count)
        proxy.wait_accepted(count)
        if case == "after-one":
            for s in conns:
                s.sendall(REQUEST)
                read_response(s)
        # A plain connection is parked (its coroutine frame freed) after 0.5 to 1 s idle.
        time.sleep(2.0)
        loaded = settled_rss(proxy.pids, settle)
        # All still open? A closed one reads as EOF (b"") without blocking.
        closed = 0
        for s in conns:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
        for s in conns:
            s.close()
        return base, loaded, closed
    finally:
        proxy.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--portico", default=os.path.join(REPO, "build", "portico"))
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--nginx", action="store_true", help="also measure nginx")
    ap.add_argument("--settle", type=float, default=3.0)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.connections + 256
    if hard != resource.RLIM_INFINITY and hard < need:
        sys.exit(f"the open-file hard limit {hard} is below the {need} this needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need) if hard == resource.RLIM_INFINITY else hard, hard))

    tmp = tempfile.mkdtemp(prefix="idle_memory.")
    backend = subprocess.Popen([sys.executable, "-c", BACKEND], stdout=subprocess.PIPE, text=True)
    try:
        backend_port = int(backend.stdout.readline())
        proxies = [("portico", lambda: Portico(args.portico, backend_port, args.workers, tmp))]
        if args.nginx:
            if shutil.which("nginx"):
                proxies.append(("nginx", lambda: Nginx(backend_port, tmp)))
            else:
                print("nginx not installed: skipped", file=sys.stderr)
        print(f"{args.connections} idle keep-alive connections; RSS in KiB; bytes per connection = "
              f"(loaded - base) * 1024 / connections")
        print(f"{'proxy':<8} {'case':<10} {'base':>8} {'loaded':>8} {'closed':>6} {'B/conn':>8}")
        for name, start in proxies:
            for case in ("connected", "after-one"):
                base, loaded, closed = measure(start, case, args.connections, args.settle)
                per = (loaded - base) * 1024 / args.connections
                print(f"{name:<8} {case:<10} {base:>8} {loaded:>8} {closed:>6} {per:>8.0f}", flush=True)
    finally:
        backend.kill()
        backend.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
