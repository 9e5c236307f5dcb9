#!/usr/bin/env python3
"""A small HTTP/1.1 test backend, run as its own process by the integration tests.

    python3 test/integration/backend.py --port N --name X
        [--tls-cert PEM --tls-key PEM [--client-ca PEM]]   HTTPS (client certificates required
                                                           when --client-ca is given)

One thread per connection, keep-alive, Content-Length and chunked request bodies.
Endpoints (anything else echoes):

  GET  /__stats                 {"connections": accepted TCP connections, "requests": n,
                                 "health_checks": n, "tls_failures": n}
  GET  /__control?healthy=0|1&delay_ms=N&status=N   changes how this backend behaves from
                                now on: /healthz answers 503 when unhealthy; every other
                                request waits delay_ms and answers `status` (0: normal)
  GET  /healthz                 200, or 503 after /__control?healthy=0
  ANY  /stream?bytes=N[&chunked=1]   N bytes of a fixed pattern (never held whole)
  ANY  /sleep?ms=N              waits N ms, then echoes
  ANY  /reset                   reads the request header, then resets the TCP connection
  ANY  /count                   reads the request body, answers {"bytes": n, "sha256": hex}
  ANY  /closedelim?bytes=N      N bytes with neither Content-Length nor chunked, then close
  ANY  /close-after             a Content-Length response, then closes without saying so
  ANY  /early-hints             103 Early Hints, then the echo
  ANY  /truncate?announce=N&send=M  announces Content-Length N, sends M bytes, closes
  GET  /ws (Upgrade: websocket) WebSocket echo (text, binary, ping -> pong, close)
  ANY  other                    echoes name, method, path, query, headers, body size as JSON
                                (and over TLS: "tls": {version, session_reused, client_subject})

Query parameters on echo: status=N sets the status, hdr=Name:Value adds a response header
(repeatable).
"""
import argparse
import base64
import hashlib
import json
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PATTERN = bytes(range(256)) * 256  # 64 KiB


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = 0
        self.health_checks = 0
        self.tls_failures = 0  # handshakes that failed (no client certificate, alerts)
        # Behaviour switches set through /__control.
        self.healthy = True
        self.delay_ms = 0
        self.status = 0


class BadRequest(Exception):
    pass


def read_line(f, limit=65536):
    line = f.readline(limit)
    if not line:
        return None
    if not line.endswith(b"\n"):
        raise BadRequest("line too long or truncated")
    return line.rstrip(b"\r\n")


def body_chunks(f, headers):
    """Yields the request body in pieces (Content-Length or chunked)."""
    te = headers.get("transfer-encoding", "").lower()
    if "chunked" in te:
        while True:
            size_line = read_line(f)
            if size_line is None:
                raise BadRequest("eof in chunk size")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:  # trailers
                    t = read_line(f)
                    if t is None or t == b"":
                        return
            left = size
            while left:
                piece = f.read(min(left, 65536))
                if not piece:
                    raise BadRequest("eof in chunk")
                left -= len(piece)
                yield piece
            if read_line(f) != b"":
                raise BadRequest("missing CRLF after chunk")
    else:
        left = int(headers.get("content-length", "0") or "0")
        while left:
            piece = f.read(min(left, 65536))
            if not piece:
                raise BadRequest("eof in body")
            left -= len(piece)
            yield piece


def send_response(sock, status, body, headers=(), close=False, content_type="application/json"):
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Status")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}",
             f"Content-Length: {len(body)}", "Server: portico-test-backend"]
    lines += [f"{k}: {v}" for k, v in headers]
    if close:
        lines.append("Connection: close")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def ws_recv_frame(f):
    head = f.read(2)
    if len(head) < 2:
        return None, None
    b1, b2 = head
    opcode = b1 & 0x0F
    masked = b2 & 0x80
    length = b2 & 0x7F
    if length == 126:
        length = struct.unpack("!H", f.read(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", f.read(8))[0]
    mask = f.read(4) if masked else b"\0\0\0\0"
    data = bytearray(f.read(length))
    for i in range(len(data)):
        data[i] ^= mask[i % 4]
    return opcode, bytes(data)


def ws_send_frame(sock, opcode, data):
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    sock.sendall(head + data)


class Handler:
    def __init__(self, sock, addr, name, stats, tls=None):
        self.sock = sock
        self.addr = addr
        self.name = name
        self.stats = stats
        self.tls = tls
        self.f = None

    def tls_facts(self):
        if not self.tls:
            return None
        peer = self.sock.getpeercert()
        subject = None
        if peer:
            subject = ",".join(f"{k}={v}" for rdn in peer.get("subject", ()) for k, v in rdn)
        return {"version": self.sock.version(), "session_reused": self.sock.session_reused,
                "client_subject": subject}

    def run(self):
        if self.tls:
            try:
                self.sock = self.tls.wrap_socket(self.sock, server_side=True)
            except (ssl.SSLError, OSError):
                with self.stats.lock:
                    self.stats.tls_failures += 1
                self.sock.close()
                return
        self.f = self.sock.makefile("rb", buffering=65536)
        try:
            while self.one_request():
                pass
        except (BadRequest, ValueError) as e:
            try:
                send_response(self.sock, 400, json.dumps({"error": str(e)}).encode(), close=True)
            except OSError:
                pass
        except OSError:
            pass
        finally:
            try:
                self.f.close()
                self.sock.close()
            except OSError:
                pass

    def one_request(self):
        line = read_line(self.f)
        if line is None:
            return False
        parts = line.decode("latin-1").split(" ")
        if len(parts) != 3:
            raise BadRequest("bad request line")
        method, target, version = parts
        header_list = []
        while True:
            h = read_line(self.f)
            if h is None:
                return False
            if h == b"":
                break
            k, _, v = h.decode("latin-1").partition(":")
            header_list.append([k.strip(), v.strip()])
        headers = {}
        for k, v in header_list:
            lk = k.lower()
            headers[lk] = headers[lk] + ", " + v if lk in headers else v
        url = urllib.parse.urlsplit(target)
        path, query = url.path, url.query
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
        if path == "/__control":
            with self.stats.lock:
                if "healthy" in params:
                    self.stats.healthy = params["healthy"][0] == "1"
                for key in ("delay_ms", "status"):
                    if key in params:
                        setattr(self.stats, key, int(params[key][0]))
            send_response(self.sock, 200, b"{}", close=close)
            return not close
        if path == "/healthz":
            with self.stats.lock:
                self.stats.health_checks += 1
                healthy = self.stats.healthy
            send_response(self.sock, 200 if healthy else 503, b"{}", close=close)
            return not close
        with self.stats.lock:
            self.stats.requests += 1
            delay_ms, forced_status = self.stats.delay_ms, self.stats.status
        if delay_ms and path != "/__stats":
            time.sleep(delay_ms / 1000.0)

        if path == "/ws" and headers.get("upgrade", "").lower() == "websocket":
            self.websocket(headers)
            return False
        if path == "/reset":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.f.close()  # the fd closes only when the makefile is closed too
            self.sock.close()
            return False
        if path == "/__stats":
            for _ in body_chunks(self.f, headers):
                pass
            with self.stats.lock:
                body = json.dumps({"connections": self.stats.connections,
                                   "requests": self.stats.requests,
                                   "health_checks": self.stats.health_checks,
                                   "tls_failures": self.stats.tls_failures}).encode()
            send_response(self.sock, 200, body, close=close)
            return not close
        if path == "/stream":
            for _ in body_chunks(self.f, headers):
                pass
            self.stream(method, int(params.get("bytes", ["0"])[0]),
                        params.get("chunked", ["0"])[0] == "1", close)
            return not close
        if path == "/closedelim":
            for _ in body_chunks(self.f, headers):
                pass
            n = int(params.get("bytes", ["0"])[0])
            self.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
            self.sock.sendall(PATTERN[:n % len(PATTERN)] + PATTERN * (n // len(PATTERN)))
            return False
        if path == "/truncate":
            for _ in body_chunks(self.f, headers):
                pass
            announce = int(params.get("announce", ["100000"])[0])
            send = int(params.get("send", ["50000"])[0])
            self.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % announce)
            while send:
                piece = PATTERN[:min(send, len(PATTERN))]
                self.sock.sendall(piece)
                send -= len(piece)
            return False
        if path == "/early-hints":
            self.sock.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        if path == "/count":
            h = hashlib.sha256()
            n = 0
            for piece in body_chunks(self.f, headers):
                n += len(piece)
                h.update(piece)
            body = json.dumps({"name": self.name, "bytes": n, "sha256": h.hexdigest()}).encode()
            send_response(self.sock, 200, body, close=close)
            return not close

        n = 0
        for piece in body_chunks(self.f, headers):
            n += len(piece)
        if path == "/sleep":
            time.sleep(int(params.get("ms", ["1000"])[0]) / 1000.0)
        status = forced_status or int(params.get("status", ["200"])[0])
        extra = []
        for hv in params.get("hdr", []):
            k, _, v = hv.partition(":")
            extra.append((k, v))
        extra.append(("X-Backend-Name", self.name))
        body = json.dumps({
            "name": self.name, "method": method, "path": path, "query": query,
            "target": target, "version": version,
            "headers": headers, "header_list": header_list, "body_bytes": n,
            "tls": self.tls_facts(),
        }).encode()
        if method == "HEAD":
            lines = [f"HTTP/1.1 {status} OK", "Content-Type: application/json",
                     f"Content-Length: {len(body)}", f"X-Backend-Name: {self.name}"]
            if close:
                lines.append("Connection: close")
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        else:
            send_response(self.sock, status, body, headers=extra, close=close)
        if path == "/close-after":
            return False  # closes the keep-alive connection without Connection: close
        return not close

    def stream(self, method, total, chunked, close):
        lines = ["HTTP/1.1 200 OK", "Content-Type: application/octet-stream",
                 f"X-Backend-Name: {self.name}"]
        lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
        if close:
            lines.append("Connection: close")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        if method == "HEAD":
            return
        left = total
        view = memoryview(PATTERN)
        while left:
            n = min(left, len(PATTERN))
            if chunked:
                self.sock.sendall(b"%x\r\n" % n + view[:n] + b"\r\n")
            else:
                self.sock.sendall(view[:n])
            left -= n
        if chunked:
            self.sock.sendall(b"0\r\n\r\n")

    def websocket(self, headers):
        key = headers.get("sec-websocket-key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
                           f"X-Backend-Name: {self.name}\r\n\r\n").encode())
        while True:
            opcode, data = ws_recv_frame(self.f)
            if opcode is None:
                return
            if opcode in (1, 2):
                ws_send_frame(self.sock, opcode, data)
            elif opcode == 9:
                ws_send_frame(self.sock, 10, data)
            elif opcode == 8:
                ws_send_frame(self.sock, 8, data[:2])
                return


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", default="backend")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--client-ca")
    args = ap.parse_args()
    stats = Stats()
    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        if args.client_ca:
            tls.verify_mode = ssl.CERT_REQUIRED
            tls.load_verify_locations(args.client_ca)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(512)
    print(f"listening {args.port}", flush=True)
    while True:
        sock, addr = srv.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with stats.lock:
            stats.connections += 1
        t = threading.Thread(target=Handler(sock, addr, args.name, stats, tls).run, daemon=True)
        t.start()


if __name__ == "__main__":
    sys.exit(main())
