"""A TCP backend for the layer-4 tests, one thread per connection.

Modes (the first bytes a client sends choose, so one process serves every test):
  "ECHO\n"        the backend writes "<name>\n", then echoes every byte until EOF
  "SINK\n"        reads until EOF (the client's half-close), then answers
                  "<bytes> <sha256 hex>\n" and closes: the half-close must reach it
  "SOURCE <n>\n"  sends n bytes of the pattern (bytes 0..255 repeated), then closes

With --tls-cert/--tls-key it speaks TLS (a passthrough backend): the client sees this
certificate, and the backend records the server name it was asked for.
Prints "READY <port>" on stdout once listening."""
import argparse
import hashlib
import socket
import socketserver
import ssl
import sys
import threading

PATTERN = bytes(range(256)) * 256


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args()

    context = None
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            conn = self.request
            if context is not None:
                try:
                    conn = context.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    return
            f = conn.makefile("rb")
            try:
                command = f.readline().decode(errors="replace").split()
                if not command:
                    return
                if command[0] == "ECHO":
                    conn.sendall(f"{args.name}\n".encode())
                    while True:
                        data = f.read1(65536)
                        if not data:
                            break
                        conn.sendall(data)
                elif command[0] == "SINK":
                    digest, total = hashlib.sha256(), 0
                    while True:
                        data = f.read1(1 << 20)
                        if not data:
                            break
                        digest.update(data)
                        total += len(data)
                    conn.sendall(f"{total} {digest.hexdigest()}\n".encode())
                elif command[0] == "SOURCE":
                    left = int(command[1])
                    while left > 0:
                        chunk = PATTERN[: min(left, len(PATTERN))]
                        conn.sendall(chunk)
                        left -= len(chunk)
            except OSError:
                pass
            finally:
                try:
                    conn.close()
                except OSError:
                    pass

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    print(f"READY {server.server_address[1]}", flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sys.stdin.read()  # until the test closes our stdin or kills us
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
