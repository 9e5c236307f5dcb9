"""A raw HTTP/1.1 backend that records every byte it receives, for attack tests.

    with RecordingBackend() as rb:
        ... send requests through portico to rb.url ...
        rb.requests   # every request it parsed: method, target, headers (list), body
        rb.raw        # connection number -> the bytes it received since the last reset()

It parses strictly (one Content-Length, or Transfer-Encoding: chunked; anything else it
cannot frame ends the connection after a 400 marked "unparsed") and answers each request
with its sequence number, so a response that reaches the wrong client is visible. A
target starting with /canned/NAME is answered with the raw bytes registered by
`rb.canned[NAME] = b"HTTP/1.1 ..."` (then the connection closes), for testing what
portico does with malformed upstream responses.
"""
import json
import socket
import threading


class Recorded:
    def __init__(self, connection, method, target, version, headers, body):
        self.connection = connection  # key into RecordingBackend.raw
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # [(name, value)] as received, in order
        self.body = body

    def values(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def value(self, name):
        values = self.values(name)
        assert len(values) == 1, f"{name}: {values} in {self.headers}"
        return values[0]

    def __repr__(self):
        return f"Recorded({self.method} {self.target} {self.headers} body={self.body[:80]!r})"


class _Framing(Exception):
    pass


class RecordingBackend:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.raw = {}
        self.accepted = 0
        self.errors = []  # connections whose bytes could not be framed
        self.canned = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def reset(self):
        with self.lock:
            self.requests.clear()
            self.raw.clear()
            self.errors.clear()

    def requests_to(self, prefix):
        with self.lock:
            return [r for r in self.requests if r.target.startswith(prefix)]

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                index = self.accepted
                self.accepted += 1
            threading.Thread(target=self._serve, args=(conn, index), daemon=True).start()

    def _serve(self, conn, index):
        buf = bytearray()

        def more():
            data = conn.recv(65536)
            if not data:
                raise EOFError
            with self.lock:
                self.raw.setdefault(index, bytearray()).extend(data)
            buf.extend(data)

        def line():
            while b"\r\n" not in buf:
                more()
            i = buf.index(b"\r\n")
            out = bytes(buf[:i])
            del buf[:i + 2]
            return out

        def take(n):
            while len(buf) < n:
                more()
            out = bytes(buf[:n])
            del buf[:n]
            return out

        try:
            while True:
                start = line()
                parts = start.decode("latin-1").split(" ")
                if len(parts) != 3:
                    raise _Framing(f"bad request line {start!r}")
                headers = []
                while True:
                    h = line()
                    if not h:
                        break
                    name, sep, value = h.decode("latin-1").partition(":")
                    if not sep or name != name.strip():
                        raise _Framing(f"bad field {h!r}")
                    headers.append((name, value.strip()))
                te = [v for k, v in headers if k.lower() == "transfer-encoding"]
                cl = [v for k, v in headers if k.lower() == "content-length"]
                if te and (cl or te != ["chunked"]):
                    raise _Framing(f"framing TE={te} CL={cl}")
                if len(cl) > 1 or (cl and not cl[0].isdigit()):
                    raise _Framing(f"framing CL={cl}")
                body = b""
                if te:
                    while True:
                        size_text = line().split(b";")[0]
                        try:
                            size = int(size_text, 16)
                        except ValueError:
                            raise _Framing(f"chunk size {size_text!r}") from None
                        if size == 0:
                            while line():  # trailers
                                pass
                            break
                        body += take(size)
                        if take(2) != b"\r\n":
                            raise _Framing("chunk without CRLF")
                elif cl:
                    body = take(int(cl[0]))
                method, target, version = parts
                with self.lock:
                    seq = len(self.requests)
                    self.requests.append(Recorded(index, method, target, version, headers, body))
                if target.startswith("/canned/"):
                    conn.sendall(self.canned[target.split("/")[2].split("?")[0]])
                    conn.close()
                    return
                answer = json.dumps({"seq": seq, "method": method, "target": target}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(answer)).encode() + b"\r\n\r\n" + answer)
        except _Framing as e:
            with self.lock:
                self.errors.append((index, str(e)))
            try:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 8\r\nConnection: close\r\n\r\nunparsed")
            except OSError:
                pass
        except (EOFError, OSError):
            pass
        finally:
            conn.close()
