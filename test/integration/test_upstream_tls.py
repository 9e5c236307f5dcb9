"""TLS from Portico to backends: real HTTPS backends (backend.py over Python's ssl) with a
private CA made by the openssl CLI. Verification against the CA Secret, the name checks
(SNI, subjectAltNames), client certificates presented to a backend that requires one, CA
rotation without a restart, session resumption, health checks over TLS, and never a
plaintext byte to a TLS backend."""
import json
import time

import pytest

from conftest import running_portico
from helpers import Backend, apiroute, dump, http_get, wait_until
from pki import issue, make_ca


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("upstream-pki")
    ca = make_ca(d, "backend-ca")
    other = make_ca(d, "other-ca")
    client_ca = make_ca(d, "client-ca")
    return {
        "ca": ca,
        "other": other,
        "client_ca": client_ca,
        "server": issue(d, ca, "ledger.test", "DNS:ledger.test,IP:127.0.0.1"),
        "client": issue(d, client_ca, "portico-edge", "DNS:portico-edge", "clientAuth"),
    }


@pytest.fixture(scope="module")
def tls_backends(pki, log_dir):
    """An HTTPS backend, one that also requires a client certificate, and a plain one."""
    server = ["--tls-cert", pki["server"]["cert"], "--tls-key", pki["server"]["key"]]
    started = {
        "tls": Backend("tls", log_dir, server),
        "mtls": Backend("mtls", log_dir, server + ["--client-ca", pki["client_ca"]["cert"]]),
        "plain": Backend("plain-for-tls", log_dir),
    }
    yield started
    for b in started.values():
        b.stop()


def ca_secret(name, pem):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"},
            "stringData": {"ca.crt": pem}}


def client_secret(pki):
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "edge-client", "namespace": "default"},
            "stringData": {"tls.crt": pki["client"]["pem"], "tls.key": pki["client"]["key_pem"]}}


def route(name, backend_url, backend_tls=None, **extra):
    backend = {"url": backend_url}
    if backend_tls is not None:
        backend["backendTLS"] = backend_tls
    r = {"name": name, "match": {"path": {"type": "Prefix", "value": f"/{name}"}}, "backends": [backend]}
    r.update(extra)
    return r


def config(pki, tls_backends, ca_pem=None):
    https = tls_backends["tls"].url  # https://127.0.0.1:PORT
    mtls = tls_backends["mtls"].url
    plain_as_https = tls_backends["plain"].url.replace("http://", "https://")
    rules = [
        route("verified", https, {"caSecretName": "backend-ca", "sni": "ledger.test"}),
        route("by-ip", https, {"caSecretName": "backend-ca"}),  # the IP SAN 127.0.0.1
        route("wrong-ca", https, {"caSecretName": "other-ca", "sni": "ledger.test"}),
        route("wrong-name", https, {"caSecretName": "backend-ca", "sni": "wrong.test"}),
        route("san-miss", https, {"caSecretName": "backend-ca", "sni": "ledger.test",
                                  "subjectAltNames": ["other.test"]}),
        route("san-hit", https, {"caSecretName": "backend-ca", "sni": "ledger.test",
                                 "subjectAltNames": ["other.test", "ledger.test"]}),
        route("system-trust", https),  # a private CA is not in the system store
        route("skip", https, {"insecureSkipVerify": True}),
        route("mtls-without", mtls, {"caSecretName": "backend-ca", "sni": "ledger.test"}),
        route("mtls-with", mtls, {"caSecretName": "backend-ca", "sni": "ledger.test",
                                  "clientCertificateSecretName": "edge-client"}),
        # The plain server may wait for a line end the ClientHello lacks (connect timeout)
        # or answer its garbage with a 400 (handshake failure): either way no request.
        route("plaintext-server", plain_as_https, {"insecureSkipVerify": True}, timeouts={"connect": "500ms"}),
        # Two backends, one whose name check fails: a handshake failure is a connect failure,
        # so the retry goes to the other one.
        {"name": "retried", "match": {"path": {"type": "Prefix", "value": "/retried"}},
         "backends": [{"url": mtls, "backendTLS": {"caSecretName": "backend-ca", "sni": "wrong.test"}},
                      {"url": https, "backendTLS": {"caSecretName": "backend-ca", "sni": "ledger.test"}}],
         "retries": {"attempts": 1, "on": ["connect-failure"]}},
        # Settings of its own (so a context of its own): no pooled connection of another test.
        route("resume", https, {"caSecretName": "backend-ca", "subjectAltNames": ["ledger.test"]}),
        route("checked", https, {"caSecretName": "backend-ca", "sni": "ledger.test"},
              healthCheck={"path": "/healthz", "interval": "200ms", "timeout": "200ms"}),
        # External auth over TLS with the same settings: a private CA, and a client
        # certificate for an auth service that requires one.
        route("ext-ca", https, {"caSecretName": "backend-ca", "sni": "ledger.test"},
              auth={"external": {"url": mtls + "/check", "tls": {
                  "caSecretName": "backend-ca", "sni": "ledger.test", "clientCertificateSecretName": "edge-client"}}}),
        route("ext-wrong-ca", https, {"caSecretName": "backend-ca", "sni": "ledger.test"},
              auth={"external": {"url": https + "/check", "tls": {"caSecretName": "other-ca", "sni": "ledger.test"}}}),
    ]
    return dump(ca_secret("backend-ca", ca_pem or pki["ca"]["pem"]),
                ca_secret("other-ca", pki["other"]["pem"]),
                client_secret(pki),
                apiroute("upstream-tls", rules))


@pytest.fixture(scope="module")
def proxy(pki, tls_backends, tmp_path_factory):
    with running_portico(config(pki, tls_backends), str(tmp_path_factory.mktemp("upstream-tls"))) as p:
        yield p


def get(proxy, path, headers=None):
    status, body = http_get(proxy.url + path, headers=headers)
    return status, json.loads(body)


def test_verified_backend_gets_the_request_over_tls(proxy):
    status, body = get(proxy, "/verified/x?q=1", headers={"X-Probe": "yes"})
    assert status == 200, body
    assert body["name"] == "tls"
    assert body["path"] == "/verified/x" and body["query"] == "q=1"
    assert body["headers"]["x-probe"] == "yes"
    assert body["tls"]["version"] in ("TLSv1.2", "TLSv1.3")


def test_ip_address_backend_is_checked_against_its_ip_san(proxy):
    status, body = get(proxy, "/by-ip")
    assert status == 200, body
    assert body["tls"] is not None


@pytest.mark.parametrize("path,reason", [
    ("/wrong-ca", "certificate verify failed"),
    ("/system-trust", "certificate verify failed"),
    ("/wrong-name", "hostname mismatch"),
    ("/san-miss", "hostname mismatch"),
])
def test_unverifiable_backend_is_refused_with_the_reason(proxy, tls_backends, path, reason):
    before = tls_backends["tls"].stats()["requests"]
    status, body = get(proxy, path)
    assert status == 502, body
    assert "upstream TLS handshake failed" in body["error"] and reason in body["error"], body
    # Nothing was sent: the backend saw no request (only the stats call below).
    assert tls_backends["tls"].stats()["requests"] == before + 1
    assert get(proxy, "/verified")[0] == 200  # the process keeps serving


def test_a_failed_handshake_is_retried_on_another_backend(proxy):
    # Round robin alternates the two backends: without the retry every other request is a 502.
    answers = [get(proxy, "/retried") for _ in range(6)]
    assert [(status, body.get("name")) for status, body in answers] == [(200, "tls")] * 6, answers


def test_any_listed_subject_alt_name_is_enough(proxy):
    assert get(proxy, "/san-hit")[0] == 200


def test_insecure_skip_verify_connects_and_shows_in_routes(proxy):
    status, body = get(proxy, "/skip")
    assert status == 200, body
    routes = {r["name"]: r for r in proxy.routes()["routes"]}
    assert routes["default/upstream-tls/skip"]["backends"][0]["tls"]["insecureSkipVerify"] is True
    verified = routes["default/upstream-tls/verified"]["backends"][0]["tls"]
    assert verified == {"serverName": "ledger.test", "subjectAltNames": [], "ca": "default/backend-ca",
                        "clientCertificate": None, "insecureSkipVerify": False}


def test_client_certificate_is_presented_when_the_backend_requires_one(proxy, tls_backends, pki):
    mtls = tls_backends["mtls"]
    client = (pki["client"]["cert"], pki["client"]["key"])
    failures = mtls.stats(client)["tls_failures"]
    status, body = get(proxy, "/mtls-without")
    assert status == 502, body
    wait_until(lambda: mtls.stats(client)["tls_failures"] > failures, 5, what="the backend refused the handshake")
    status, body = get(proxy, "/mtls-with")
    assert status == 200, body
    assert body["name"] == "mtls"
    assert body["tls"]["client_subject"] == "commonName=portico-edge"


def test_a_plaintext_server_behind_an_https_url_never_gets_a_plaintext_request(proxy, tls_backends):
    plain = tls_backends["plain"]
    before = plain.stats()["requests"]
    status, body = get(proxy, "/plaintext-server")
    assert (status, body["error"].split(":")[0]) in ((502, "upstream TLS handshake failed"),
                                                     (504, "upstream connect timed out")), body
    # Its only request is the stats call: the ClientHello is no HTTP request.
    assert plain.stats()["requests"] == before + 1


def test_new_connections_resume_the_tls_session(proxy):
    # Connection: close from the backend keeps each connection out of the pool, so every
    # request opens a new one: the first with a full handshake, each later one resuming
    # the session the one before got (whichever worker serves it: sessions are shared).
    reused = []
    for _ in range(6):
        status, body = get(proxy, "/resume/close?hdr=Connection:close")
        assert status == 200, body
        reused.append(body["tls"]["session_reused"])
    assert reused == [False] + [True] * 5, reused


def test_health_checks_speak_tls_to_a_tls_backend(proxy, tls_backends):
    before = tls_backends["tls"].stats()["health_checks"]
    wait_until(lambda: tls_backends["tls"].stats()["health_checks"] >= before + 3, 10,
               what="health checks over TLS")
    assert get(proxy, "/checked")[0] == 200


def test_external_auth_over_tls_with_a_private_ca_and_a_client_certificate(proxy, tls_backends, pki):
    client = (pki["client"]["cert"], pki["client"]["key"])
    before = tls_backends["mtls"].stats(client)["requests"]
    status, body = get(proxy, "/ext-ca")
    assert status == 200 and body["path"] == "/ext-ca", body
    # The auth check reached the server that requires a client certificate (and the stats call).
    assert tls_backends["mtls"].stats(client)["requests"] == before + 2
    status, body = get(proxy, "/ext-wrong-ca")
    assert status == 503 and body["error"] == "authorization service unavailable", body
    assert "certificate verify failed" in proxy.stderr()


def test_system_trust_store_and_https_external_auth(pki, tls_backends, tmp_path):
    """OpenSSL's default verify paths honour SSL_CERT_FILE: with the test CA there, the
    "system trust store" trusts the HTTPS backend, for a backend url and for external auth."""
    https = tls_backends["tls"].url
    config = dump(apiroute("trust", [
        route("system", https),
        route("ext", https, auth={"external": {"url": https + "/check", "timeout": "2s"}}),
    ]))
    with running_portico(config, str(tmp_path), name="without") as p:
        assert get(p, "/system")[0] == 502
        status, body = get(p, "/ext")
        assert status == 503 and body["error"] == "authorization service unavailable", body
        assert "certificate verify failed" in p.stderr(), p.stderr()[-2000:]
    before = tls_backends["tls"].stats()["requests"]
    with running_portico(config, str(tmp_path), name="with", env={"SSL_CERT_FILE": pki["ca"]["cert"]}) as p:
        status, body = get(p, "/system")
        assert status == 200 and body["tls"], body
        status, body = get(p, "/ext")
        assert status == 200 and body["path"] == "/ext", body
    # Three requests and the two stats calls: the auth check went over TLS to the same server.
    assert tls_backends["tls"].stats()["requests"] == before + 4


def test_ca_rotation_takes_effect_without_a_restart(pki, tls_backends, tmp_path):
    with running_portico(config(pki, tls_backends), str(tmp_path)) as p:
        assert get(p, "/verified")[0] == 200  # and a pooled connection now exists
        version = p.version()
        p.rewrite_config(config(pki, tls_backends, ca_pem=pki["other"]["pem"]))
        p.wait_for_version(version + 1)
        # The pooled connection was made with the old CA: it is not reused.
        status, body = get(p, "/verified")
        assert status == 502 and "certificate verify failed" in body["error"], body
        p.rewrite_config(config(pki, tls_backends))
        p.wait_for_version(version + 2)
        assert get(p, "/verified")[0] == 200


def test_jwks_fetched_over_tls_with_a_private_ca(pki, tls_backends, tmp_path):
    """auth.jwt.jwksTLS: the key server's certificate is checked against the CA Secret; the
    same URI without it (the system trust store) gets no keys, so its tokens are refused."""
    import http.server
    import ssl
    import threading

    import jwt as pyjwt
    from cryptography.hazmat.primitives.asymmetric import ec

    from test_gateway import jwk

    key = ec.generate_private_key(ec.SECP256R1())
    document = json.dumps({"keys": [jwk(key.public_key(), "k1", "ES256")]}).encode()
    fetches = []

    class Keys(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            fetches.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server"]["cert"], pki["server"]["key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"https://127.0.0.1:{server.server_address[1]}/keys"
    common = {"issuer": "https://issuer.test", "audiences": ["tls-tests"], "jwksURI": uri}
    plain = tls_backends["plain"].url
    config = dump(ca_secret("backend-ca", pki["ca"]["pem"]), apiroute("jwks", [
        route("private-ca", plain, auth={"jwt": {**common, "jwksTLS": {"caSecretName": "backend-ca",
                                                                         "sni": "ledger.test"}}}),
        route("system", plain, auth={"jwt": common}),
    ]))
    now = int(time.time())
    tok = pyjwt.encode({"iss": "https://issuer.test", "aud": "tls-tests", "sub": "u", "iat": now, "exp": now + 600},
                       key, algorithm="ES256", headers={"kid": "k1"})
    try:
        with running_portico(config, str(tmp_path)) as p:
            auth = {"Authorization": f"Bearer {tok}"}
            wait_until(lambda: get(p, "/private-ca", auth)[0] == 200, 10, what="a token checked with keys over TLS")
            assert get(p, "/private-ca")[0] == 401
            assert get(p, "/system", auth)[0] == 401
            assert "certificate verify failed" in p.stderr()
            assert fetches, "the key server was never asked"
    finally:
        server.shutdown()
        server.server_close()


def test_failed_handshakes_eject_the_endpoint_as_outliers(pki, tls_backends, tmp_path):
    """A handshake failure is a gateway failure for outlier detection: two in a row eject
    the endpoint whose name check fails, and the route then answers from the other."""
    https, mtls = tls_backends["tls"].url, tls_backends["mtls"].url
    config = dump(ca_secret("backend-ca", pki["ca"]["pem"]), apiroute("outliers", [
        {"name": "ejecting", "match": {"path": {"type": "Prefix", "value": "/ejecting"}},
         "backends": [{"url": mtls, "backendTLS": {"caSecretName": "backend-ca", "sni": "wrong.test"}},
                      {"url": https, "backendTLS": {"caSecretName": "backend-ca", "sni": "ledger.test"}}],
         "outlierDetection": {"consecutiveGatewayFailures": 2, "baseEjectionTime": "60s"}}]))
    with running_portico(config, str(tmp_path), workers=1) as p:
        statuses = [get(p, "/ejecting")[0] for _ in range(4)]
        assert statuses == [502, 200, 502, 200], statuses
        assert p.metric("portico_upstream_ejections_total") == 1
        assert [get(p, "/ejecting")[0] for _ in range(6)] == [200] * 6
