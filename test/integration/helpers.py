"""Process and socket helpers for the integration tests: real portico, real backends."""
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import weakref

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
BACKEND_PY = os.path.join(HERE, "backend.py")
# The byte pattern backend.py streams (64 KiB, repeated).
PATTERN_BLOCK = bytes(range(256)) * 256


def portico_bin():
    path = os.environ.get("PORTICO_BIN", "build/portico")
    if not os.path.isabs(path):
        path = os.path.join(REPO, path)
    return path


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - polled until the deadline
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def http_get(url, timeout=5, headers=None):
    """(status, body bytes) without raising on 4xx/5xx."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Backend:
    """backend.py in its own process."""

    def __init__(self, name, log_dir, tls_args=()):
        """tls_args: backend.py's --tls-cert/--tls-key/--client-ca arguments for HTTPS."""
        self.name = name
        self.port = free_port()
        self.tls = bool(tls_args)
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"
        self.log = open(os.path.join(log_dir, f"backend-{name}.log"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, BACKEND_PY, "--port", str(self.port), "--name", name, *tls_args],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is None and port_open(self.port), 10,
                   what=f"backend {name} on {self.port}")

    def stats(self, client_cert=None):
        """client_cert: (cert path, key path) for a backend that requires one."""
        if not self.tls:
            status, body = http_get(self.url + "/__stats")
            assert status == 200
            return json.loads(body)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if client_cert:
            ctx.load_cert_chain(*client_cert)
        with urllib.request.urlopen(self.url + "/__stats", timeout=5, context=ctx) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Portico:
    """The real portico binary in standalone mode."""

    def __init__(self, config_text, tmp_dir, extra_args=(), workers=2, wait_ready=True, name="portico", env=None):
        """env: extra environment variables for the process."""
        self.dir = tmp_dir
        self.env = {**os.environ, **(env or {})}
        self.config_path = os.path.join(tmp_dir, f"{name}.yaml")
        with open(self.config_path, "w") as f:
            f.write(config_text)
        # free_port() can race with another socket taking the port before portico binds it:
        # a start that fails on "Address already in use" is retried on fresh ports.
        for attempt in range(3):
            self._start(workers, extra_args, name)
            if not wait_ready:
                break
            try:
                self.wait_ready()
                break
            except AssertionError:
                if attempt == 2 or self.proc.poll() is None or "Address already in use" not in self.stderr():
                    raise
                self._stdout.close()
                self._stderr.close()

    def _start(self, workers, extra_args, name):
        self.http_port = free_port()
        self.https_port = free_port()
        self.admin_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.https_url = f"https://127.0.0.1:{self.https_port}"
        self.admin = f"http://127.0.0.1:{self.admin_port}"
        self.stdout_path = os.path.join(self.dir, f"{name}.stdout")
        self.stderr_path = os.path.join(self.dir, f"{name}.stderr")
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        args = [portico_bin(), "--config", self.config_path,
                "--listen-address", "127.0.0.1",
                "--http-port", str(self.http_port), "--https-port", str(self.https_port),
                "--admin-port", str(self.admin_port), "--workers", str(workers),
                "--log-format", "text", "--access-log", "false", "--shutdown-grace", "5s",
                *extra_args]
        self.proc = subprocess.Popen(args, stdout=self._stdout, stderr=self._stderr, env=self.env)
        self.pid = self.proc.pid
        self.exit_code = None

    # --- lifecycle -------------------------------------------------------------------
    def wait_ready(self, timeout=15):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"portico exited {self.proc.returncode}: {self.stderr()}")
            return http_get(self.admin + "/readyz", timeout=1)[0] == 200
        try:
            wait_until(ready, timeout, what="portico /readyz")
        except AssertionError:
            if self.proc.poll() is not None:
                raise AssertionError(f"portico exited {self.proc.returncode}: {self.stderr()}")
            raise

    def wait_exit(self, timeout=15):
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"portico did not exit within {timeout}s")
        return self.exit_code

    def stop(self, timeout=15):
        """SIGTERM; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.wait_exit(timeout)
        self._stdout.close()
        self._stderr.close()
        return code

    def stderr(self):
        if not self._stderr.closed:
            self._stderr.flush()
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    # --- config and admin ------------------------------------------------------------
    def rewrite_config(self, text):
        """Replaces the file the way editors do (write a temp file, rename over)."""
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)

    def metrics(self):
        status, body = http_get(self.admin + "/metrics")
        assert status == 200
        return body.decode()

    def metric(self, name):
        m = re.search(rf"^{re.escape(name)} (\S+)$", self.metrics(), re.M)
        assert m, f"metric {name} missing"
        return float(m.group(1))

    def version(self):
        return int(self.metric("portico_table_version"))

    def routes(self):
        status, body = http_get(self.admin + "/routes")
        assert status == 200
        return json.loads(body)

    def wait_for_version(self, n, timeout=10):
        return wait_until(lambda: self.version() >= n and self.version(), timeout,
                          what=f"table version >= {n}")

    def rss_kib(self):
        return rss_kib(self.pid)


# --- config building ------------------------------------------------------------------

def apiroute(name, rules, hosts=None, tls=None, namespace="default"):
    spec = {"rules": rules}
    if hosts is not None:
        spec["hosts"] = hosts
    if tls is not None:
        spec["tls"] = tls
    return {"apiVersion": "portico.dev/v1alpha1", "kind": "APIRoute",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def tls_secret(name, cert_pem, key_pem, namespace="default"):
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": namespace},
            "stringData": {"tls.crt": cert_pem, "tls.key": key_pem}}


def rule(name, url, path=None, path_type="Prefix", **extra):
    r = {"name": name, "backends": [{"url": u} for u in ([url] if isinstance(url, str) else url)]}
    if path is not None:
        r["match"] = {"path": {"type": path_type, "value": path}}
    for k, v in extra.items():
        if k == "match":
            r.setdefault("match", {}).update(v)
        else:
            r[k] = v
    return r


def dump(*docs):
    return yaml.safe_dump_all(list(docs), sort_keys=False)


# --- raw sockets ------------------------------------------------------------------------

class RawResponse:
    def __init__(self, status, headers, body, closed):
        self.status = status
        self.headers = headers  # lower-case name -> value
        self.body = body
        self.closed = closed  # the server closed the connection after the response

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"RawResponse({self.status}, {self.headers}, {self.body[:200]!r}, closed={self.closed})"


def raw_connect(port, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _recv_until(sock, buf, marker, deadline):
    while marker not in buf:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            return buf, True
        buf += data
    return buf, False


# Bytes received after a response (pipelined responses), per socket.
_leftover = weakref.WeakKeyDictionary()


def read_response(sock, timeout=5, head=False, check_close=True):
    """Reads one response (Content-Length or chunked or close-delimited). Returns
    RawResponse; closed says whether the peer closed the connection right after it.
    Bytes of a following response are kept for the next call."""
    deadline = time.monotonic() + timeout
    buf, eof = _recv_until(sock, _leftover.pop(sock, b""), b"\r\n\r\n", deadline)
    if b"\r\n\r\n" not in buf:
        raise ConnectionError(f"connection closed before a response header: {buf!r}")
    head_bytes, _, rest = buf.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    body = b""
    if head or status in (100, 101, 204, 304):
        body, rest = b"", rest
    elif "content-length" in headers:
        n = int(headers["content-length"])
        while len(rest) < n and not eof:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = sock.recv(65536)
            if not data:
                eof = True
            rest += data
        body, rest = rest[:n], rest[n:]
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            rest, eof2 = _recv_until(sock, rest, b"\r\n", deadline)
            line, _, rest = rest.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            while len(rest) < size + 2:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("eof in chunked body")
                rest += data
            body += rest[:size]
            rest = rest[size + 2:]
            if size == 0:
                break
    else:
        while not eof:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = sock.recv(65536)
            if not data:
                eof = True
            rest += data
        body, rest = rest, b""
    closed = eof
    if rest:
        _leftover[sock] = rest
    elif check_close and not closed:
        closed = peer_closed(sock, 0.5)
    return RawResponse(status, headers, body, closed)


def peer_closed(sock, wait):
    """True if the peer closes (EOF or reset) within `wait` seconds."""
    sock.settimeout(wait)
    try:
        data = sock.recv(1)
        return data == b""
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def raw_exchange(port, data, timeout=5, **kw):
    with raw_connect(port, timeout) as s:
        s.sendall(data)
        return read_response(s, timeout=timeout, **kw)


def redis_command(port, *args, timeout=2):
    payload = f"*{len(args)}\r\n".encode() + b"".join(
        f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        data = b""
        deadline = time.monotonic() + timeout
        while not data.endswith(b"\r\n") and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            time.sleep(0.01)
        return data
