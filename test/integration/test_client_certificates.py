"""Client certificates on the HTTPS listener (downstream mTLS, APIRoute tls.clientAuth): real
TLS clients with certificates from an openssl-made CA, a CRL made by `openssl ca`, and the
echo backend reporting what it received. Require refuses the handshake without a valid
certificate; Optional serves such clients anonymously; the verified certificate reaches the
backend in X-Forwarded-Client-Cert, which a client can never send itself; a connection
made for one host (SNI) cannot carry requests for an mTLS host (421)."""
import hashlib
import json
import socket
import ssl

import pytest

from conftest import running_portico
from helpers import apiroute, dump, http_get, rule, tls_secret
from pki import issue, make_ca, revocation_list


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("mtls-pki")
    server_ca = make_ca(d, "server-ca")
    clients = make_ca(d, "clients-ca")
    other = make_ca(d, "other-ca")
    out = {
        "server_ca": server_ca,
        "server": issue(d, server_ca, "site", "DNS:secure.test,DNS:optional.test,DNS:public.test"),
        "clients": clients,
        "alice": issue(d, clients, "alice", "DNS:alice.clients.test,URI:spiffe://clients/alice", "clientAuth"),
        "mallory": issue(d, clients, "mallory", "DNS:mallory.clients.test", "clientAuth"),
        "eve": issue(d, other, "eve", "DNS:eve.clients.test", "clientAuth"),
    }
    out["crl"] = revocation_list(d, clients, [out["mallory"]])
    return out


def opaque(name, data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"},
            "stringData": data}


@pytest.fixture(scope="module")
def proxy(pki, backends, tmp_path_factory):
    url = backends["a"].url
    config = dump(
        tls_secret("site-tls", pki["server"]["pem"], pki["server"]["key_pem"]),
        opaque("clients", {"ca.crt": pki["clients"]["pem"]}),
        opaque("clients-crl", {"ca.crl": pki["crl"]}),
        apiroute("secure", [rule("r", url)], hosts=["secure.test"],
                 tls={"secretName": "site-tls", "clientAuth": {"caSecretName": "clients",
                                                                "crlSecretName": "clients-crl"}}),
        apiroute("optional", [rule("r", url)], hosts=["optional.test"],
                 tls={"secretName": "site-tls", "clientAuth": {"caSecretName": "clients", "mode": "Optional",
                                                                "crlSecretName": "clients-crl"}}),
        apiroute("public", [rule("r", url)], hosts=["public.test"], tls={"secretName": "site-tls"}),
    )
    with running_portico(config, str(tmp_path_factory.mktemp("mtls"))) as p:
        yield p


def tls_request(proxy, pki, sni, host, client=None, headers=()):
    """One GET over a fresh TLS connection. (status, echo JSON or None)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=pki["server_ca"]["pem"])
    if client:
        ctx.load_cert_chain(pki[client]["cert"], pki[client]["key"])
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
    with socket.create_connection(("127.0.0.1", proxy.https_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            s.sendall(f"GET /who HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, json.loads(body)


def xfcc(echo):
    return [v for k, v in echo["header_list"] if k.lower() == "x-forwarded-client-cert"]


def der_sha256(pem):
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


FORGED = [("X-Forwarded-Client-Cert", 'Hash=00;Subject="CN=admin"')]


def test_require_forwards_the_verified_certificate_and_never_the_clients_own(proxy, pki):
    status, echo = tls_request(proxy, pki, "secure.test", "secure.test", "alice", FORGED)
    assert status == 200, echo
    assert xfcc(echo) == [f'Hash={der_sha256(pki["alice"]["pem"])};Subject="CN=alice";'
                          "DNS=alice.clients.test;URI=spiffe://clients/alice"], echo["header_list"]


@pytest.mark.parametrize("client", [None, "eve", "mallory"], ids=["none", "other-ca", "revoked"])
def test_require_refuses_the_handshake_without_a_valid_certificate(proxy, pki, backends, client):
    before = backends["a"].stats()["requests"]
    # TLS 1.3: the client finishes its side first; the server's alert ends the connection.
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        tls_request(proxy, pki, "secure.test", "secure.test", client)
    assert backends["a"].stats()["requests"] == before + 1  # the stats call only
    assert tls_request(proxy, pki, "secure.test", "secure.test", "alice")[0] == 200  # still serving


@pytest.mark.parametrize("client,forwarded", [(None, False), ("eve", False), ("mallory", False), ("alice", True)])
def test_optional_serves_anonymous_clients_and_forwards_only_verified_certificates(proxy, pki, client, forwarded):
    status, echo = tls_request(proxy, pki, "optional.test", "optional.test", client, FORGED)
    assert status == 200, echo
    if forwarded:
        assert xfcc(echo) and xfcc(echo)[0].startswith(f'Hash={der_sha256(pki["alice"]["pem"])};'), echo
    else:
        assert xfcc(echo) == [], echo["header_list"]


def test_a_connection_made_for_another_host_cannot_reach_an_mtls_host(proxy, pki, backends):
    before = backends["a"].stats()["requests"]
    for host in ("secure.test", "optional.test"):
        status, echo = tls_request(proxy, pki, "public.test", host)
        assert status == 421, echo
        status, echo = tls_request(proxy, pki, "public.test", host, "alice")
        assert status == 421, echo
    assert backends["a"].stats()["requests"] == before + 1


def test_plain_http_cannot_reach_an_mtls_host(proxy, backends):
    status, body = http_get(proxy.url + "/who", headers={"Host": "secure.test"})
    assert status == 421, body
    status, body = http_get(proxy.url + "/who", headers={"Host": "optional.test"})
    assert status == 421, body


def test_other_hosts_never_pass_a_client_sent_forwarded_certificate(proxy, pki):
    status, echo = tls_request(proxy, pki, "public.test", "public.test", "alice", FORGED)
    assert status == 200, echo
    assert xfcc(echo) == [], echo["header_list"]
    status, body = http_get(proxy.url + "/who", headers={"Host": "public.test", FORGED[0][0]: FORGED[0][1]})
    assert status == 200 and xfcc(json.loads(body)) == []


def test_routes_show_client_auth_without_the_ca(proxy, pki):
    certs = {tuple(c["hosts"]): c for c in proxy.routes()["certificates"]}
    assert certs[("secure.test",)]["clientAuth"] == {"mode": "Require", "ca": "default/clients", "crl": True}
    assert certs[("optional.test",)]["clientAuth"]["mode"] == "Optional"
    assert "clientAuth" not in certs[("public.test",)]
    assert pki["clients"]["pem"].splitlines()[1] not in json.dumps(proxy.routes())
