"""Layer 4 in cluster mode: an APIRoute with spec.tcp reaches a Service's endpoints on a
--tcp-ports listener (the bytes go through untouched: no X-Forwarded-For is added to the
HTTP request carried inside), its conditions say Accepted, and an APIRoute on a port that
is not a listener gets Accepted False with reason PortNotListened and a Warning Event,
while the other keeps working. Deleting the APIRoute closes its open connection."""

from __future__ import annotations

import json
import socket

import pytest
import requests

from conftest import free_port
from k8s import wait_until

pytestmark = pytest.mark.timeout(240)


def _tcp_apiroute(ns, name, port, service, service_port):
    return {"apiVersion": "portico.dev/v1alpha1", "kind": "APIRoute",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"tcp": {"port": port, "backends": [{"service": service, "port": service_port}],
                             "healthCheck": {"interval": "1s"}}}}


def _conditions(cp, ns, name):
    obj = cp.kubectl_json("get", "apiroute", name, "-n", ns)
    return {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}


def _http_over_tcp(port, path, keep_open=False):
    """An HTTP/1.1 request written as raw bytes on the TCP route: (socket or None, answer JSON)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(("GET %s HTTP/1.1\r\nHost: raw.e2e.test\r\n%s\r\n" %
               (path, "" if keep_open else "Connection: close\r\n")).encode())
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _content_length(data):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    if not keep_open:
        s.close()
        s = None
    return s, json.loads(data.split(b"\r\n\r\n", 1)[1])


def _content_length(data):
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 1 << 30


def test_tcp_route_to_a_service_with_status(control_plane, crds, namespace, backends, service, portico):
    cp = control_plane
    (b,) = backends(["pg"])
    service("pg", [b], port=5432, port_name="pg")
    tcp_port, unlistened = free_port(), free_port()
    cp.apply(_tcp_apiroute(namespace, "db", tcp_port, "pg", 5432))
    cp.apply(_tcp_apiroute(namespace, "elsewhere", unlistened, "pg", 5432))
    p = portico("--watch-namespace", namespace, "--tcp-ports", tcp_port)

    def answered():
        try:
            return _http_over_tcp(tcp_port, "/through-tcp")[1]
        except (OSError, ValueError):
            return None

    seen = wait_until(answered, timeout=30, what="the TCP route carrying a request")
    assert seen["backend"] == "pg" and seen["path"] == "/through-tcp"
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["host"] == "raw.e2e.test"
    assert "x-forwarded-for" not in headers and "x-request-id" not in headers, headers  # layer 4: untouched

    accepted = wait_until(lambda: _conditions(cp, namespace, "db").get("Accepted"), timeout=20,
                          what="conditions on the TCP APIRoute")
    assert accepted["status"] == "True", accepted
    refused = wait_until(lambda: (_conditions(cp, namespace, "elsewhere").get("Accepted") or {}).get("reason")
                         == "PortNotListened" and _conditions(cp, namespace, "elsewhere")["Accepted"],
                         timeout=20, what="PortNotListened on the APIRoute naming an unlistened port")
    assert refused["status"] == "False" and str(unlistened) in refused["message"], refused
    events = wait_until(lambda: [e for e in cp.kubectl_json(
        "get", "events", "-n", namespace, "--field-selector",
        "involvedObject.name=elsewhere,involvedObject.kind=APIRoute,type=Warning")["items"]
        if e["reason"] == "PortNotListened"], timeout=20, what="PortNotListened Event")
    assert str(unlistened) in events[0]["message"]

    # An open connection survives an edit of another object and is closed when its
    # APIRoute is deleted.
    s, first = _http_over_tcp(tcp_port, "/one", keep_open=True)
    cp.kubectl("delete", "apiroute", "elsewhere", "-n", namespace)
    s.sendall(b"GET /two HTTP/1.1\r\nHost: raw.e2e.test\r\n\r\n")
    answer = b""
    while b'"/two"' not in answer:
        chunk = s.recv(65536)
        assert chunk, "the open connection was closed by an unrelated edit"
        answer += chunk
    cp.kubectl("delete", "apiroute", "db", "-n", namespace)
    s.settimeout(10)
    assert s.recv(1) == b"", "the connection of a deleted TCP route stayed open"
    s.close()
    metrics = requests.get(p.admin_url + "/metrics", timeout=5).text
    assert 'portico_stream_connections_total{outcome="route_removed"} 1' in metrics
