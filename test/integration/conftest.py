"""Fixtures: real backends (separate processes), real portico processes, certificates."""
import contextlib
import os
import subprocess

import pytest

from helpers import Backend, Portico, free_port, portico_bin, redis_command, wait_until


def pytest_configure(config):
    path = portico_bin()
    if not os.access(path, os.X_OK):
        raise pytest.UsageError(
            f"portico binary not found at {path}; build it (ninja -C build portico) or set PORTICO_BIN")


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="session")
def backends(log_dir):
    """Three echo backends, a, b and c, for the whole session."""
    started = {}
    try:
        for name in ("a", "b", "c"):
            started[name] = Backend(name, log_dir)
        yield started
    finally:
        for b in started.values():
            b.stop()


@contextlib.contextmanager
def running_portico(config_text, tmp_dir, extra_args=(), **kw):
    """Starts portico, yields it, then SIGTERM and asserts exit code 0 (unless the test
    stopped it itself and checked the code)."""
    p = Portico(config_text, tmp_dir, extra_args=extra_args, **kw)
    try:
        yield p
    finally:
        if p.exit_code is None:
            code = p.stop()
            assert code == 0, f"portico exited {code} on SIGTERM; stderr:\n{p.stderr()[-4000:]}"


@pytest.fixture
def portico_factory(tmp_path):
    """portico_factory(config_text, extra_args=(), **kw) -> running Portico; all are
    stopped with SIGTERM at teardown and must exit 0."""
    stack = contextlib.ExitStack()
    counter = [0]

    def start(config_text, extra_args=(), **kw):
        counter[0] += 1
        kw.setdefault("name", f"portico{counter[0]}")
        return stack.enter_context(running_portico(config_text, str(tmp_path), extra_args, **kw))

    with stack:
        yield start


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """Self-signed certificates for a.test and b.test made with the openssl CLI."""
    d = tmp_path_factory.mktemp("certs")
    out = {}
    for host in ("a.test", "b.test"):
        key, crt = d / f"{host}.key", d / f"{host}.crt"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", f"/CN={host}", "-addext", f"subjectAltName=DNS:{host}",
             "-keyout", str(key), "-out", str(crt)],
            check=True, capture_output=True)
        out[host] = {"cert": crt.read_text(), "key": key.read_text(),
                     "cert_path": str(crt), "key_path": str(key)}
    return out


@pytest.fixture
def redis_server(tmp_path):
    port = free_port()
    log = open(tmp_path / "redis.log", "wb")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: proc.poll() is None and redis_command(port, "PING") == b"+PONG\r\n", 10,
                   what="redis PING")
        yield {"port": port, "proc": proc}
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
