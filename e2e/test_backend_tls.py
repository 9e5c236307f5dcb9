"""TLS to backends in cluster mode: an Ingress with portico.dev/backend-protocol: HTTPS and an
APIRoute with backendTLS reach an HTTPS backend through its Service and EndpointSlice, verified
against a CA from a Secret for the name <service>.<namespace>.svc (or the sni asked for)."""

from __future__ import annotations

import base64
import ssl
import subprocess

import pytest
import requests

from k8s import apiroute, ask, wait_until

pytestmark = pytest.mark.timeout(240)

HOST = "tls-backend.e2e.test"


def _pki(tmp_path, names):
    """A CA and a server certificate for `names`, made with the openssl CLI."""
    ca_key, ca_crt = tmp_path / "ca.key", tmp_path / "ca.crt"
    key, csr, crt, ext = (tmp_path / n for n in ("srv.key", "srv.csr", "srv.crt", "srv.ext"))
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
        "-subj", "/CN=e2e-backend-ca", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign", "-keyout", str(ca_key), "-out", str(ca_crt))
    ext.write_text("subjectAltName=" + ",".join("DNS:" + n for n in names) + "\n")
    run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=e2e-ledger",
        "-keyout", str(key), "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial", "-days", "1",
        "-extfile", str(ext), "-out", str(crt))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(crt), str(key))
    return ca_crt.read_bytes(), server


def _ca_secret(ns, name, pem):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
            "data": {"ca.crt": base64.b64encode(pem).decode()}}


def _ingress(ns, cls, annotations):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "ledger", "namespace": ns, "annotations": annotations},
            "spec": {"ingressClassName": cls,
                     "rules": [{"host": HOST, "http": {"paths": [
                         {"path": "/", "pathType": "Prefix",
                          "backend": {"service": {"name": "ledger", "port": {"number": 443}}}}]}}]}}


def _tls_of(p, path, host):
    r = requests.get(p.http_url + path, headers={"Host": host}, timeout=5)
    return r.status_code, r.json()


def test_https_backend_through_service_and_endpointslice(control_plane, crds, namespace, ingress_class, backends,
                                                         service, portico, tmp_path):
    cp = control_plane
    ca_pem, server_tls = _pki(tmp_path, ["ledger.%s.svc" % namespace, "ledger.internal"])
    (b,) = backends(["ledger"], tls=server_tls)
    service("ledger", [b], port=443, port_name="https")
    cp.apply(_ingress(namespace, ingress_class, {"portico.dev/backend-protocol": "HTTPS",
                                                 "portico.dev/backend-tls-ca-secret": "ledger-ca"}))
    p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class)

    # The CA Secret is missing: the Ingress is not served at all (never in plaintext), and a
    # Warning Event says why.
    events = wait_until(lambda: [e for e in cp.kubectl_json(
        "get", "events", "-n", namespace, "--field-selector",
        "involvedObject.name=ledger,involvedObject.kind=Ingress,type=Warning")["items"]
        if e["reason"] == "SecretNotFound"], timeout=20, what="SecretNotFound Event on the Ingress")
    assert "ledger-ca" in events[0]["message"], events
    assert ask(p.http_url, "/x", HOST)[0] == 404
    assert b.request_count == 0

    # With the CA, the Ingress verifies ledger.<namespace>.svc and is served over TLS.
    cp.apply(_ca_secret(namespace, "ledger-ca", ca_pem))
    wait_until(lambda: ask(p.http_url, "/x", HOST) == (200, "ledger"), what="Ingress over TLS")
    status, body = _tls_of(p, "/x?q=1", HOST)
    assert status == 200 and body["tls"] in ("TLSv1.2", "TLSv1.3"), body
    assert body["path"] == "/x?q=1"

    # An APIRoute to the same Service: its sni must be in the certificate.
    cp.apply(apiroute("ledger-api", namespace, [
        {"name": "good", "match": {"path": {"type": "Prefix", "value": "/good"}},
         "backends": [{"service": "ledger", "port": 443,
                       "backendTLS": {"caSecretName": "ledger-ca", "sni": "ledger.internal"}}]},
        {"name": "bad", "match": {"path": {"type": "Prefix", "value": "/bad"}},
         "backends": [{"service": "ledger", "port": 443,
                       "backendTLS": {"caSecretName": "ledger-ca", "sni": "other.internal"}}]},
    ], hosts=["api." + HOST]))
    wait_until(lambda: ask(p.http_url, "/good", "api." + HOST) == (200, "ledger"), what="APIRoute over TLS")
    r = requests.get(p.http_url + "/bad", headers={"Host": "api." + HOST}, timeout=5)
    assert r.status_code == 502 and "hostname mismatch" in r.json()["error"], r.text
