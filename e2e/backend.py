#!/usr/bin/env python3
"""A local HTTP backend for Portico's e2e and integration tests.

Every request is answered with JSON describing the backend and the request it saw:

    {"backend": "<name>", "host": "127.0.0.2", "port": 8080, "method": "GET",
     "path": "/a/b?x=1", "query": "x=1", "headers": {"Host": "...", ...},
     "body_bytes": 0, "request_number": 7}

Header names are kept as received; look them up case-insensitively (see `header()`).

It can be told to fail, for all requests (its *mode*) or for one request:

    mode "ok"                 answer 200 with the JSON above (default)
    mode "status", status=N   answer N with the JSON above
    mode "hang", seconds=S    read the request, then say nothing for S seconds (default 3600)
                              and close; stop() ends the hang at once
    mode "close"              read the request and close the connection without answering
    mode "reset"              read the request and reset the connection (TCP RST)
    mode "slow", seconds=S    wait S seconds, then answer 200

Set the mode from Python (`backend.set_mode("status", status=500)`), or over HTTP, which
also works for a backend run as a script:

    POST /__backend/mode   {"mode": "status", "status": 503}   -> 200 {"mode": ...}
    GET  /__backend/info   -> the backend's name, address, mode and request count

(`/__backend/*` paths ignore the mode.) Per request, the client may ask for a failure with
headers: `X-Backend-Status: 503`, `X-Backend-Delay: 0.5` (seconds), `X-Backend-Action:
close|reset|hang`.

Script use:   python3 e2e/backend.py --name x --port 8080 --host 127.0.0.2
It prints `LISTENING <host>:<port>` once bound (useful with --port 0) and serves until
SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("ok", "status", "hang", "close", "reset", "slow")


class _Abort(Exception):
    """Raised inside a handler to drop the connection without a response."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "portico-e2e-backend"
    # The head and the body go out in two writes: with Nagle's algorithm the body waits for
    # the ACK of the head, which the proxy's delayed ACK holds for ~40 ms on a reused
    # connection. Real servers set TCP_NODELAY; a test backend that doesn't adds 40 ms to
    # whatever is being timed.
    disable_nagle_algorithm = True
    backend: "Backend"  # set on the subclass created per Backend

    def log_message(self, fmt, *args):  # keep test output quiet
        if self.backend.verbose:
            sys.stderr.write("%s: %s\n" % (self.backend.name, fmt % args))

    def _read_body(self) -> bytes:
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until the empty line
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _drop(self, reset: bool) -> None:
        if reset:
            # SO_LINGER with timeout 0 makes close() send RST.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        raise _Abort()

    def _hang(self, seconds: float) -> None:
        self.backend._stopping.wait(seconds)
        self._drop(reset=False)

    def _handle(self) -> None:
        b = self.backend
        body = self._read_body()
        path = self.path
        if path.startswith("/__backend/"):
            return self._control(path, body)
        with b._lock:
            b.request_count += 1
            number = b.request_count
            mode, opts = b.mode, dict(b.mode_opts)
        info = {
            "backend": b.name,
            "host": b.host,
            "port": b.port,
            "method": self.command,
            "path": path,
            "query": path.split("?", 1)[1] if "?" in path else "",
            "headers": {k: v for k, v in self.headers.items()},
            "body_bytes": len(body),
            "request_number": number,
            "http_version": self.request_version,
            "tls": self.connection.version() if isinstance(self.connection, ssl.SSLSocket) else None,
        }
        b._record(info)

        status = 200
        action = (self.headers.get("X-Backend-Action") or "").lower()
        if self.headers.get("X-Backend-Delay"):
            time.sleep(float(self.headers["X-Backend-Delay"]))
        if self.headers.get("X-Backend-Status"):
            status = int(self.headers["X-Backend-Status"])
        if action in ("close", "reset"):
            self._drop(reset=action == "reset")
        if action == "hang":
            self._hang(float(opts.get("seconds", 3600)))

        if mode == "status":
            status = int(opts.get("status", 500))
        elif mode in ("close", "reset"):
            self._drop(reset=mode == "reset")
        elif mode == "hang":
            self._hang(float(opts.get("seconds", 3600)))
        elif mode == "slow":
            b._stopping.wait(float(opts.get("seconds", 1)))

        self._send_json(status, info, head=self.command == "HEAD")

    def _control(self, path: str, body: bytes) -> None:
        b = self.backend
        if path.startswith("/__backend/mode") and self.command in ("POST", "PUT"):
            try:
                req = json.loads(body or b"{}")
                mode = req.pop("mode", "ok")
                b.set_mode(mode, **req)
            except (ValueError, TypeError) as e:
                return self._send_json(400, {"error": str(e)})
            return self._send_json(200, b.info())
        if path.startswith("/__backend/info"):
            return self._send_json(200, b.info())
        return self._send_json(404, {"error": "unknown control path " + path})

    def _send_json(self, status: int, obj: dict, head: bool = False) -> None:
        data = (json.dumps(obj, sort_keys=True) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Backend-Name", self.backend.name)
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def handle_one_request(self):
        # Same as the base class, with _handle for every method and _Abort support.
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.send_error(414)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._handle()
            self.wfile.flush()
        except _Abort:
            self.close_connection = True
        except (socket.timeout, ConnectionError, BrokenPipeError):
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):  # no tracebacks for client hang-ups
        pass


class Backend:
    """One HTTP backend listening on host:port (port 0 = pick a free one); HTTPS when given
    a server-side ssl.SSLContext (each request's JSON then says its TLS version)."""

    def __init__(self, name: str, host: str = "127.0.0.1", port: int = 0, verbose: bool = False,
                 tls: ssl.SSLContext | None = None):
        self.name = name
        self.host = host
        self.verbose = verbose
        self.mode = "ok"
        self.mode_opts: dict = {}
        self.request_count = 0
        self.requests: list[dict] = []  # every request seen (bounded to the last 1000)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        handler = type("Handler", (_Handler,), {"backend": self})
        self._server = _Server((host, port), handler)
        if tls:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    # -- lifecycle --
    def start(self) -> "Backend":
        self._thread = threading.Thread(target=self._server.serve_forever, name="backend-" + self.name, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- behaviour --
    def set_mode(self, mode: str, **opts) -> None:
        if mode not in MODES:
            raise ValueError("unknown mode %r (known: %s)" % (mode, ", ".join(MODES)))
        with self._lock:
            self.mode, self.mode_opts = mode, opts

    def ok(self) -> None:
        self.set_mode("ok")

    def _record(self, info: dict) -> None:
        with self._lock:
            self.requests.append(info)
            del self.requests[:-1000]

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()
            self.request_count = 0

    def info(self) -> dict:
        with self._lock:
            return {"backend": self.name, "host": self.host, "port": self.port, "mode": self.mode,
                    "mode_opts": self.mode_opts, "request_count": self.request_count}

    @property
    def address(self) -> str:
        return "%s:%d" % (self.host, self.port)

    @property
    def url(self) -> str:
        return "http://%s:%d" % (self.host, self.port)

    def __repr__(self):
        return "Backend(%s @ %s, mode=%s)" % (self.name, self.address, self.mode)


def header(info: dict, name: str) -> str | None:
    """Case-insensitive header lookup in a backend's JSON answer."""
    for k, v in info.get("headers", {}).items():
        if k.lower() == name.lower():
            return v
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", default="ok", choices=MODES)
    ap.add_argument("--status", type=int, default=500, help="status for --mode status")
    ap.add_argument("--seconds", type=float, default=None, help="for --mode hang/slow")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    b = Backend(a.name, a.host, a.port, verbose=a.verbose)
    opts = {}
    if a.mode == "status":
        opts["status"] = a.status
    if a.seconds is not None:
        opts["seconds"] = a.seconds
    b.set_mode(a.mode, **opts)

    def stop(*_):
        threading.Thread(target=b.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("LISTENING %s" % b.address, flush=True)
    b.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
