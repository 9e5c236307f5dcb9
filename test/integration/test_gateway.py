"""API-gateway policies through the real proxy: API key, Basic, JWT (JWKS URL and Secret,
key rotation), external auth, local and Redis-backed global rate limits, CORS, IP rules
(with and without trusted proxies), the order in which the policies run, the request and
response transformations the backend sees, and path spellings that must not get around a
policy.

Everything is real: portico in standalone mode, backend.py processes that echo what they
received, a JWKS server, an auth service and a redis-server started here.

Path tricks (test_path_tricks_do_not_bypass_auth; /admin needs an API key, "/" is an open
catch-all to the same backend). Observed: portico normalizes the path before routing and
forwards exactly the normalized path (README "path normalization"), so routing and the
backend never disagree:
  /admin/../admin  //admin  ///admin//x  /%61dmin  /%61%64%6D%69%6E/x  /admin/./x  /./admin
  /x/../admin  /x/%2e%2e/admin  /%2E/admin  /../admin  http://gw.test/%61dmin (absolute form)
      -> normalized to /admin..., matched by the protected rule: 401 without the key
  /admin/.. -> "/" and /admin/../x -> "/x": catch-all, not an admin path
  /ADMIN, /Admin/x -> case is kept: catch-all, backend gets /ADMIN, /Admin/x
  /admin%2f.., /admin%2F, /admin%2fx, /%2fadmin -> 400 (--escaped-slashes reject, the
      default; test_smuggling.py covers the other actions)
  /admin;x -> routed as /admin (servlet containers drop ";params"): 401 without the key,
      and the backend gets /admin;x with it
  /adminx -> catch-all, forwarded verbatim
Residual risk outside the proxy: a backend that matches paths case-insensitively would
treat /ADMIN as an admin request; protect it with a case-insensitive rule.

Basic auth hashes: bcrypt ($2b$) hashes are made with libcrypt through ctypes (neither the
htpasswd tool nor the python bcrypt module is installed here), and the htpasswd also holds
a published OpenBSD bcrypt test vector ($2a$05$CCC..., password "U*U") that does not
depend on that library; SHA-crypt ($5$, $6$) hashes come from `openssl passwd`.
"""
import base64
import concurrent.futures
import ctypes
import ctypes.util
import hashlib
import hmac
import http.server
import json
import posixpath
import re
import socket
import subprocess
import threading
import time
import urllib.parse

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from configs import tagged
from conftest import running_portico
from helpers import Portico, apiroute, dump, free_port, http_get, port_open, raw_exchange, redis_command, wait_until

ISSUER = "https://issuer.test"
AUDIENCE = "portico-tests"
POLL = ["--config-poll-interval", "50ms"]

API_KEYS = {"alice": "key-alice-1", "bob": "key-bob-1", "carl": "s3cr3t+/=&?"}


# --- small servers run inside the test process -------------------------------------------

class TinyServer:
    """http.server on 127.0.0.1 in a thread. `handler(method, path, headers)` returns
    (status, headers dict, body bytes); every request is recorded."""

    def __init__(self, handler):
        self.handler = handler
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with outer.lock:
                    outer.requests.append({"method": self.command, "path": self.path,
                                           "headers": {k.lower(): v for k, v in self.headers.items()}})
                status, headers, body = outer.handler(self.command, self.path, self.headers)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":  # a HEAD answer announces the length, sends no body
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def recorded(self):
        with self.lock:
            return list(self.requests)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class JwksServer(TinyServer):
    """Serves `self.document` (a JWKS dict) at any path, after `self.delay` seconds; counts
    fetches."""

    def __init__(self, document):
        self.document = document
        self.delay = 0.0
        super().__init__(self.answer)

    def answer(self, method, path, headers):
        time.sleep(self.delay)
        return 200, {"Content-Type": "application/json"}, json.dumps(self.document).encode()


def auth_service_answer(method, path, headers):
    """The external auth service: X-Token good -> 200 as alice; login -> 401 with a
    challenge; anything else -> 403."""
    if headers.get("X-Token") == "good":
        return 200, {"X-User": "alice", "X-Internal": "do-not-forward", "Content-Type": "text/plain"}, b"ok"
    if headers.get("X-Token") == "login":
        return 401, {"WWW-Authenticate": 'Bearer realm="sso"', "Content-Type": "text/plain"}, b"login"
    return 403, {"Content-Type": "text/plain"}, b"denied"


# --- keys, tokens, hashes ---------------------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Keys:
    def __init__(self):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.unknown = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.secret_ec = ec.generate_private_key(ec.SECP256R1())
        self.rot1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rot2 = ec.generate_private_key(ec.SECP256R1())


def jwk(public_key, kid, alg):
    algo = RSAAlgorithm if alg.startswith("RS") else ECAlgorithm
    d = algo.to_jwk(public_key, as_dict=True)
    if algo is ECAlgorithm:
        # RFC 7518 6.2.1.2: x and y are the full coordinate length. PyJWT 2.9 drops leading
        # zero bytes (one key in ~128), which Portico rightly skips as malformed.
        size = (public_key.curve.key_size + 7) // 8
        numbers = public_key.public_numbers()
        for name, value in (("x", numbers.x), ("y", numbers.y)):
            d[name] = base64.urlsafe_b64encode(value.to_bytes(size, "big")).rstrip(b"=").decode()
    d.update({"kid": kid, "alg": alg, "use": "sig"})
    return d


def test_jwk_helper_writes_full_length_ec_coordinates():
    # A key whose x or y has a leading zero byte (about one in 128): the case PyJWT gets wrong.
    for _ in range(20000):
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        numbers = key.public_numbers()
        if min(numbers.x, numbers.y) < 2 ** 248:
            break
    else:
        pytest.fail("no P-256 key with a leading zero byte in 20,000 tries")
    d = jwk(key, "z", "ES256")
    for name in ("x", "y"):
        assert len(base64.urlsafe_b64decode(d[name] + "==")) == 32


def claims(**over):
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "email": "u1@example.com",
         "iat": now, "exp": now + 600}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def token(key, kid, alg="RS256", **over):
    return jwt.encode(claims(**over), key, algorithm=alg, headers={"kid": kid})


def bearer(tok):
    return {"Authorization": f"Bearer {tok}"}


_libcrypt = None


def bcrypt_hash(password, cost=5):
    global _libcrypt
    if _libcrypt is None:
        lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
        lib.crypt.restype = ctypes.c_char_p
        lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        lib.crypt_gensalt.restype = ctypes.c_char_p
        lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
        _libcrypt = lib
    salt = _libcrypt.crypt_gensalt(b"$2b$", cost, None, 0)
    out = _libcrypt.crypt(password.encode(), salt).decode()
    assert out.startswith("$2b$") and len(out) == 60, out
    return out


def sha_crypt(password, variant):
    return subprocess.run(["openssl", "passwd", f"-{variant}", "-stdin"], input=password.encode(),
                          check=True, capture_output=True).stdout.decode().strip()


# A published bcrypt test vector (OpenBSD): password "U*U".
BCRYPT_VECTOR = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# --- config ------------------------------------------------------------------------------

def secret(name, string_data=None, data=None):
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"}}
    if string_data is not None:
        doc["stringData"] = string_data
    if data is not None:
        doc["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return doc


def api_key_rule(name, url, path, **auth):
    return tagged(name, url, path, auth={"apiKey": {"secretName": "api-keys", **auth}})


def gateway_config(backends, ctx):
    a, c = backends["a"].url, backends["c"].url
    jwt_common = {"issuer": ISSUER, "audiences": [AUDIENCE], "leeway": "1s",
                  "forwardClaims": {"sub": "X-User-Id", "email": "X-User-Email"}}
    closed = f"http://127.0.0.1:{ctx['closed_port']}/check"
    rules = [
        api_key_rule("key-hdr", a, "/key-hdr", header="X-Api-Key"),
        api_key_rule("key-query", a, "/key-query", query="api_key"),
        tagged("basic", a, "/basic", auth={"basic": {"secretName": "htpasswd", "realm": "Portico Test"}}),
        tagged("jwt", a, "/jwt", auth={"jwt": {**jwt_common, "jwksURI": ctx["jwks"].url + "/jwks.json"}}),
        tagged("jwt-secret", a, "/jwtsec", auth={"jwt": {**jwt_common, "secretName": "jwks-secret"}}),
        tagged("jwt-rot", a, "/jwtrot", auth={"jwt": {**jwt_common, "jwksURI": ctx["jwks_rot"].url + "/keys"}}),
        tagged("ext", a, "/ext", auth={"external": {
            "url": ctx["auth"].url + "/check", "timeout": "500ms",
            "forwardHeaders": ["X-Token"], "upstreamHeaders": ["X-User"]}}),
        tagged("ext-fo", a, "/extfo", auth={"external": {
            "url": ctx["auth"].url + "/check", "timeout": "500ms", "failOpen": True,
            "forwardHeaders": ["X-Token"], "upstreamHeaders": ["X-User"]}}),
        tagged("ext-down", a, "/extdown", auth={"external": {"url": closed, "timeout": "500ms"}}),
        tagged("ext-open", a, "/extopen", auth={"external": {"url": closed, "timeout": "500ms",
                                                             "failOpen": True}}),
        tagged("cors", c, "/cors", cors={"allowOrigins": ["https://app.example"],
                                         "allowMethods": ["GET", "PUT"], "allowHeaders": ["X-Custom"],
                                         "maxAge": 600}),
        tagged("cors-auth", c, "/corsauth", cors={"allowOrigins": ["https://app.example"]},
               auth={"apiKey": {"secretName": "api-keys"}}),
        tagged("ip-allow", a, "/ip-allow", ipRules={"allow": ["127.0.0.0/8"]}),
        tagged("ip-deny", a, "/ip-deny", ipRules={"deny": ["127.0.0.1/32"]}),
        tagged("ip-ten", a, "/ip-ten", ipRules={"allow": ["10.0.0.0/8"], "deny": ["10.6.6.6/32"]}),
        api_key_rule("order-ip", a, "/order-ip", header="X-Api-Key") | {"ipRules": {"deny": ["127.0.0.1/32"]}},
        api_key_rule("order-rl", a, "/order-rl", header="X-Api-Key")
        | {"rateLimit": {"requests": 3, "period": "1m", "key": "ClientIP"}},
        tagged("regex", a, "/v1", rewrite={"regex": {"pattern": "^/v1/(.*)$", "substitution": "/api/\\1"}}),
        tagged("hdrs", a, "/hdrs", rewrite={"host": "inner.internal"},
               requestHeaders={"set": {"X-Env": "prod"}, "add": {"X-Added": "one"}, "remove": ["X-Debug"]},
               responseHeaders={"set": {"X-Resp": "yes"}, "remove": ["X-Backend-Name"]}),
        {"name": "redirect", "match": {"path": {"type": "Prefix", "value": "/old"}},
         "redirect": {"scheme": "https", "host": "new.example", "path": "/landing", "statusCode": 301}},
        tagged("limited", a, "/limited", limits={"maxRequestBodyBytes": 1024}),
        api_key_rule("admin", a, "/admin", header="X-Api-Key"),
        tagged("catchall", a, "/"),
    ]
    jwks_secret = {"keys": [jwk(ctx["keys"].secret_ec.public_key(), "sec-ec", "ES256")]}
    return dump(
        secret("api-keys", string_data=API_KEYS),
        secret("htpasswd", data={"auth": ctx["htpasswd"]}),
        secret("jwks-secret", string_data={"jwks": json.dumps(jwks_secret)}),
        apiroute("gw", rules))


@pytest.fixture(scope="module")
def gw(backends, tmp_path_factory):
    keys = Keys()
    servers = []
    try:
        jwks = JwksServer({"keys": [jwk(keys.rsa.public_key(), "rsa1", "RS256"),
                                    jwk(keys.ec.public_key(), "ec1", "ES256")]})
        servers.append(jwks)
        jwks_rot = JwksServer({"keys": [jwk(keys.rot1.public_key(), "rot1", "RS256")]})
        servers.append(jwks_rot)
        auth = TinyServer(auth_service_answer)
        servers.append(auth)
        htpasswd = "\n".join([
            "# users for the tests",
            f"carol:{bcrypt_hash('carol pw')}",
            f"dave:{sha_crypt('dave-pw', 6)}",
            f"erin:{sha_crypt('erin-pw', 5)}",
            f"vector:{BCRYPT_VECTOR}",
        ]) + "\n"
        ctx = {"keys": keys, "jwks": jwks, "jwks_rot": jwks_rot, "auth": auth,
               "htpasswd": htpasswd, "closed_port": free_port()}
        with running_portico(gateway_config(backends, ctx), str(tmp_path_factory.mktemp("gw"))) as p:
            ctx["p"] = p
            ctx["url"] = p.url
            # The JWKS URLs are fetched once the table's policies are compiled (first request).
            wait_until(lambda: get(p, "/jwt/x", bearer(token(keys.rsa, "rsa1"))).status_code == 200,
                       10, what="JWKS loaded")
            wait_until(lambda: get(p, "/jwtrot/x", bearer(token(keys.rot1, "rot1"))).status_code == 200,
                       10, what="rotation JWKS loaded")
            ctx["jwks_loaded_at"] = time.monotonic()
            yield ctx
    finally:
        for s in servers:
            s.stop()


def get(p, path, headers=None, method="GET", **kw):
    kw.setdefault("timeout", 10)
    return requests.request(method, p.url + path, headers=headers, allow_redirects=False, **kw)


def echo(r):
    assert r.status_code == 200, (r.status_code, r.text[:500])
    return r.json()


def values(body, name):
    """Every value of header `name` the backend received."""
    return [v for k, v in body["header_list"] if k.lower() == name.lower()]


def raw_get(port, target, headers=None):
    lines = [f"GET {target} HTTP/1.1", "Host: gw.test", *[f"{k}: {v}" for k, v in (headers or {}).items()]]
    return raw_exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode(), check_close=False)


def requests_seen(backend):
    """Requests the backend counted before this call (/__stats counts itself)."""
    return backend.stats()["requests"] - 1


# --- 1. API key --------------------------------------------------------------------------

def test_api_key_in_header(gw):
    p = gw["p"]
    body = echo(get(p, "/key-hdr/x", {"X-Api-Key": API_KEYS["alice"], "X-Consumer": "admin"}))
    assert body["headers"]["x-rule"] == "key-hdr"
    assert values(body, "X-Consumer") == ["alice"]  # set by portico, the client's copy is gone
    assert values(body, "X-Api-Key") == []
    assert echo(get(p, "/key-hdr/x", {"X-Api-Key": API_KEYS["bob"]}))["headers"]["x-consumer"] == "bob"
    for headers in ({"X-Api-Key": "key-alice-2"}, {"X-Api-Key": ""}, {}, {"X-Consumer": "alice"},
                    {"X-Api-Key": API_KEYS["alice"] + "x"},
                    {"X-Api-Key": API_KEYS["alice"][:-1]}, {"X-Api-Key": API_KEYS["alice"].upper()},
                    {"Authorization": f"Bearer {API_KEYS['alice']}"}):
        r = get(p, "/key-hdr/x", headers)
        assert r.status_code == 401, (headers, r.status_code, r.text)
        assert r.headers.get("X-Backend-Name") is None  # portico's own answer
    # The key in the query does not count for a header route.
    assert get(p, "/key-hdr/x?X-Api-Key=" + API_KEYS["alice"]).status_code == 401


def test_api_key_in_query(gw):
    p = gw["p"]
    body = echo(get(p, "/key-query/x?a=1&api_key=key-bob-1&b=2", {"X-Consumer": "alice"}))
    assert values(body, "X-Consumer") == ["bob"]
    assert body["query"] == "a=1&b=2"  # the key removed, the other parameters kept in order
    assert "key-bob-1" not in body["target"]
    # A percent-encoded key is decoded before the comparison.
    quoted = urllib.parse.quote(API_KEYS["carl"], safe="")
    body = echo(get(p, f"/key-query/x?api_key={quoted}&z=%2F"))
    assert body["headers"]["x-consumer"] == "carl"
    assert body["query"] == "z=%2F"
    # Every copy of the parameter is removed (the first one decides), however it is spelt.
    body = echo(get(p, "/key-query/x?api_key=key-bob-1&x=1&api_key=key-alice-1"))
    assert body["headers"]["x-consumer"] == "bob" and body["query"] == "x=1"
    body = echo(get(p, "/key-query/x?api%5Fkey=key-bob-1&x=2"))
    assert body["headers"]["x-consumer"] == "bob" and body["query"] == "x=2"
    for q in ("?api_key=wrong&a=1", "?a=1", "", "?api_key=", "?API_KEY=key-bob-1"):
        r = get(p, "/key-query/x" + q)
        assert r.status_code == 401, (q, r.status_code)
    # A header does not count for a query route.
    assert get(p, "/key-query/x", {"api_key": "key-bob-1", "X-Api-Key": "key-bob-1"}).status_code == 401


def rotation_config(backends, keys, htpasswd):
    return dump(secret("api-keys", string_data=keys), secret("users", data={"htpasswd": htpasswd}),
                apiroute("rot", [api_key_rule("k", backends["a"].url, "/k", header="X-Api-Key"),
                                 tagged("b", backends["a"].url, "/b", auth={"basic": {"secretName": "users"}})]))


def test_secret_rotation_without_restart(backends, portico_factory):
    """API keys and htpasswd change in the Secrets; the file is reloaded, no restart, and
    neither the old key nor the old password (cached as a success) works any more."""
    old_pw = f"frank:{sha_crypt('old-pw', 5)}\n"
    new_pw = f"frank:{sha_crypt('new-pw', 5)}\n"
    p = portico_factory(rotation_config(backends, {"alice": "old-key"}, old_pw), extra_args=POLL)
    assert echo(get(p, "/k", {"X-Api-Key": "old-key"}))["headers"]["x-consumer"] == "alice"
    assert echo(get(p, "/b", basic("frank", "old-pw")))["headers"]["x-consumer"] == "frank"
    pid = p.pid
    p.rewrite_config(rotation_config(backends, {"alice": "new-key", "bob": "bob-key"}, new_pw))
    p.wait_for_version(2)
    assert get(p, "/k", {"X-Api-Key": "old-key"}).status_code == 401
    assert echo(get(p, "/k", {"X-Api-Key": "new-key"}))["headers"]["x-consumer"] == "alice"
    assert echo(get(p, "/k", {"X-Api-Key": "bob-key"}))["headers"]["x-consumer"] == "bob"
    assert get(p, "/b", basic("frank", "old-pw")).status_code == 401
    assert echo(get(p, "/b", basic("frank", "new-pw")))["headers"]["x-consumer"] == "frank"
    assert p.proc.poll() is None and p.pid == pid


# --- 2. Basic ----------------------------------------------------------------------------

def test_basic_auth(gw):
    p = gw["p"]
    for user, pw in (("carol", "carol pw"), ("dave", "dave-pw"), ("erin", "erin-pw"), ("vector", "U*U")):
        for _ in range(2):  # the second time from the verification cache
            body = echo(get(p, "/basic/x", {**basic(user, pw), "X-Consumer": "root"}))
            assert values(body, "X-Consumer") == [user], user
            assert values(body, "Authorization") == []
    for headers in (basic("carol", "carol PW"), basic("carol", "carol pw "), basic("nobody", "carol pw"),
                    basic("dave", "erin-pw"), {}, {"Authorization": "Basic !!!"},
                    {"Authorization": "Bearer x"}, {"X-Consumer": "carol"}):
        r = get(p, "/basic/x", headers)
        assert r.status_code == 401, headers
        challenge = r.headers.get("WWW-Authenticate", "")
        assert challenge.startswith('Basic realm="Portico Test"'), challenge


# --- 3. JWT ------------------------------------------------------------------------------

def test_jwt_accepts_rs256_and_es256_and_forwards_claims(gw):
    p, k = gw["p"], gw["keys"]
    for tok in (token(k.rsa, "rsa1", "RS256"), token(k.ec, "ec1", "ES256"),
                token(k.rsa, "rsa1", "RS256", aud=["other", AUDIENCE])):
        body = echo(get(p, "/jwt/x", {**bearer(tok), "X-User-Id": "root", "X-User-Email": "evil@x"}))
        assert values(body, "X-User-Id") == ["user-1"]
        assert values(body, "X-User-Email") == ["u1@example.com"]
    # A claim the token does not carry: the client's copy of its header is still removed.
    body = echo(get(p, "/jwt/x", {**bearer(token(k.rsa, "rsa1", email=None)), "X-User-Email": "evil@x"}))
    assert values(body, "X-User-Email") == []


def test_jwt_rejections(gw):
    p, k = gw["p"], gw["keys"]
    now = int(time.time())
    valid = token(k.rsa, "rsa1")
    h, payload, sig = valid.split(".")
    tampered_claims = claims(sub="admin")
    tampered = ".".join([h, b64url(json.dumps(tampered_claims).encode()), sig])
    none_tok = ".".join([b64url(b'{"alg":"none","typ":"JWT"}'), b64url(json.dumps(claims()).encode()), ""])
    none_kid = ".".join([b64url(b'{"alg":"none","kid":"rsa1"}'), b64url(json.dumps(claims()).encode()), ""])
    pem = k.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_input = b64url(b'{"alg":"HS256","typ":"JWT","kid":"rsa1"}') + "." + b64url(json.dumps(claims()).encode())
    confused = hs_input + "." + b64url(hmac.new(pem, hs_input.encode(), hashlib.sha256).digest())
    es_as_rs = token(k.ec, "rsa1", "ES256")  # an EC signature under the RSA key's kid
    cases = {
        "expired": token(k.rsa, "rsa1", exp=now - 60, iat=now - 700),
        "nbf in the future": token(k.rsa, "rsa1", nbf=now + 120),
        "wrong iss": token(k.rsa, "rsa1", iss="https://evil.test"),
        "no iss": token(k.rsa, "rsa1", iss=None),
        "wrong aud": token(k.rsa, "rsa1", aud="someone-else"),
        "no aud": token(k.rsa, "rsa1", aud=None),
        "alg none": none_tok,
        "alg none with kid": none_kid,
        "HS256 with the RSA public key as secret": confused,
        "tampered payload": tampered,
        "unknown kid": token(k.unknown, "nope"),
        "known kid, other key": token(k.unknown, "rsa1"),
        "ES256 under an RSA kid": es_as_rs,
        "truncated": valid[:-10],
        "garbage": "a.b.c",
    }
    assert echo(get(p, "/jwt/x", bearer(valid)))  # the untampered one is fine
    for what, tok in cases.items():
        r = get(p, "/jwt/x", bearer(tok))
        assert r.status_code == 401, (what, r.status_code, r.text)
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), what
    r = get(p, "/jwt/x")
    assert r.status_code == 401 and r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert get(p, "/jwt/x", {"Authorization": "Basic " + base64.b64encode(b"a:b").decode()}).status_code == 401


def test_jwt_validity_window_is_checked_again_later(gw):
    """exp and nbf (leeway 1 s) are judged at each request, not once: an accepted token
    stops working when it expires, a not-yet-valid one starts working."""
    p, k = gw["p"], gw["keys"]
    start = int(time.time())
    short = token(k.rsa, "rsa1", exp=start + 2)
    later = token(k.rsa, "rsa1", nbf=start + 3)
    assert echo(get(p, "/jwt/x", bearer(short)))
    assert echo(get(p, "/jwt/x", bearer(short)))  # verified once, then from the cache
    assert get(p, "/jwt/x", bearer(later)).status_code == 401
    time.sleep(max(0.0, start + 3.1 - time.time()))  # exp + leeway and nbf - leeway have passed
    assert get(p, "/jwt/x", bearer(short)).status_code == 401
    assert echo(get(p, "/jwt/x", bearer(later)))


def test_jwt_jwks_from_secret(gw):
    p, k = gw["p"], gw["keys"]
    body = echo(get(p, "/jwtsec/x", bearer(token(k.secret_ec, "sec-ec", "ES256", sub="svc-7"))))
    assert body["headers"]["x-rule"] == "jwt-secret" and values(body, "X-User-Id") == ["svc-7"]
    # Keys of the URL's set are not in the Secret's set, and the other way round.
    assert get(p, "/jwtsec/x", bearer(token(k.rsa, "rsa1"))).status_code == 401
    assert get(p, "/jwt/x", bearer(token(k.secret_ec, "sec-ec", "ES256"))).status_code == 401


# --- 4. External auth --------------------------------------------------------------------

def test_external_auth_allows_and_denies(gw, backends):
    p, auth = gw["p"], gw["auth"]
    before = len(auth.recorded())
    body = echo(get(p, "/ext/res?x=1&y=2", {"X-Token": "good", "X-User": "mallory"}, method="PATCH",
                    data=b"payload"))
    assert body["method"] == "PATCH" and body["body_bytes"] == 7
    assert values(body, "X-User") == ["alice"]  # from the auth service, not the client
    assert values(body, "X-Internal") == []  # not in upstreamHeaders
    seen = auth.recorded()[before:]
    assert len(seen) == 1, seen
    check = seen[0]
    assert check["method"] == "PATCH"
    assert check["path"] == "/check"
    assert check["headers"]["x-forwarded-method"] == "PATCH"
    assert check["headers"]["x-forwarded-uri"] == "/ext/res?x=1&y=2"
    assert check["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert check["headers"]["x-token"] == "good"
    assert "x-user" not in check["headers"]  # only forwardHeaders go to the auth service

    before_backend = requests_seen(backends["a"])
    for headers in ({"X-Token": "bad"}, {}, {"X-User": "alice"}):
        r = get(p, "/ext/res", headers)
        assert r.status_code == 403, (headers, r.status_code)
    assert requests_seen(backends["a"]) == before_backend + 1  # just the stats call
    assert [c["method"] for c in auth.recorded()[before + 1:]] == ["GET"] * 3
    # The auth service's own status and challenge go back to the client.
    r = get(p, "/ext/res", {"X-Token": "login"})
    assert r.status_code == 401 and r.headers.get("WWW-Authenticate") == 'Bearer realm="sso"'
    # failOpen only matters when the service cannot be asked: a reachable one still decides.
    assert get(p, "/extfo/res", {"X-Token": "bad"}).status_code == 403
    assert values(echo(get(p, "/extfo/res", {"X-Token": "good"})), "X-User") == ["alice"]


def test_external_auth_down_fails_closed_or_open(gw):
    p = gw["p"]
    assert not port_open(gw["closed_port"])
    t0 = time.monotonic()
    r = get(p, "/extdown/x", {"X-Token": "good"})
    assert r.status_code == 503, r.text
    r = get(p, "/extopen/x", {"X-Token": "good"})
    assert echo(r)["headers"]["x-rule"] == "ext-open"
    assert time.monotonic() - t0 < 3


def test_external_auth_head_request(gw):
    p = gw["p"]
    t0 = time.monotonic()
    good = requests.head(p.url + "/ext/res", headers={"X-Token": "good"}, timeout=5)
    bad = requests.head(p.url + "/ext/res", headers={"X-Token": "bad"}, timeout=5)
    assert (good.status_code, bad.status_code) == (200, 403)
    assert time.monotonic() - t0 < 0.4


def test_external_auth_fail_open_head_request_is_still_denied(gw):
    p = gw["p"]
    r = requests.head(p.url + "/extfo/res", headers={"X-Token": "bad"}, timeout=5)
    assert r.status_code == 403


def test_external_auth_sees_the_path_the_backend_gets(gw):
    p, auth = gw["p"], gw["auth"]
    for target in ("/ext/public/../private?x=1", "/ext/%70rivate?x=1", "//ext/private?x=1"):
        before = len(auth.recorded())
        r = raw_get(p.http_port, target, {"X-Token": "good"})
        assert r.status == 200 and r.json()["path"] == "/ext/private"
        (check,) = auth.recorded()[before:]
        assert check["headers"]["x-forwarded-uri"] == "/ext/private?x=1", (target, check["headers"])


def test_consumer_rate_limit_with_external_auth(gw, backends, tmp_path):
    a = backends["a"].url
    cfg = dump(apiroute("extrl", [tagged("ext-rl", a, "/extrl", rateLimit={
        "requests": 5, "period": "1m", "key": "Consumer"}, auth={"external": {
            "url": gw["auth"].url + "/check", "forwardHeaders": ["X-Token"]}})]))
    # External auth names no consumer: render refuses the combination (a first bad file
    # exits 1 with the field).
    p = Portico(cfg, str(tmp_path), wait_ready=False)
    code = p.wait_exit(10)
    assert code == 1 and "rateLimit.key" in p.stderr() and "Consumer" in p.stderr(), p.stderr()


# --- 5. Rate limits ----------------------------------------------------------------------

def fire_concurrently(urls, headers=None, n=20):
    """n GETs at once (one connection each), spread over `urls`; the responses."""
    barrier = threading.Barrier(n)

    def one(i):
        barrier.wait(5)
        return requests.get(urls[i % len(urls)], headers=headers, timeout=10)

    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        return list(ex.map(one, range(n)))


def check_limited(responses, allowed, limit):
    ok = [r for r in responses if r.status_code == 200]
    limited = [r for r in responses if r.status_code == 429]
    assert len(ok) == allowed and len(limited) == len(responses) - allowed, \
        [r.status_code for r in responses]
    for r in limited:
        assert int(r.headers["Retry-After"]) >= 1
        assert r.headers["RateLimit-Limit"] == str(limit)
        assert r.headers["RateLimit-Remaining"] == "0"
        assert int(r.headers["RateLimit-Reset"]) >= 1
        assert "X-Backend-Name" not in r.headers
    for r in ok:
        assert r.headers["RateLimit-Limit"] == str(limit)
        assert "Retry-After" not in r.headers
    # Every allowed request saw a different remaining count: exact, no lost updates.
    assert sorted(int(r.headers["RateLimit-Remaining"]) for r in ok) == list(range(allowed))
    return ok, limited


def local_rl_config(backends, extra=False):
    a = backends["a"].url
    rules = [
        tagged("rl", a, "/rl", rateLimit={"requests": 5, "period": "1m", "burst": 0}),
        tagged("rl-burst", a, "/rlb", rateLimit={"requests": 2, "period": "1m", "burst": 3}),
        tagged("rl-hdr", a, "/rlh", rateLimit={"requests": 2, "period": "1m", "key": "Header:X-Client"}),
    ]
    if extra:
        rules.append(tagged("unrelated", a, "/unrelated"))
    return dump(apiroute("limits", rules))


def test_local_rate_limit_exact_under_concurrency_and_survives_swap(backends, portico_factory):
    p = portico_factory(local_rl_config(backends), extra_args=POLL, workers=4)
    check_limited(fire_concurrently([p.url + "/rl"]), allowed=5, limit=5)
    check_limited(fire_concurrently([p.url + "/rlb"]), allowed=5, limit=2)  # requests + burst

    # Per key: X-Client A and B have their own buckets.
    for _ in range(2):
        assert get(p, "/rlh", {"X-Client": "A"}).status_code == 200
    assert get(p, "/rlh", {"X-Client": "A"}).status_code == 429
    assert get(p, "/rlh", {"X-Client": "B"}).status_code == 200
    assert get(p, "/rlh", {"X-Client": "B"}).status_code == 200
    assert get(p, "/rlh", {"X-Client": "B"}).status_code == 429
    assert get(p, "/rlh", {"X-Client": "C"}).status_code == 200

    # A table swap with an unrelated change keeps the buckets.
    p.rewrite_config(local_rl_config(backends, extra=True))
    p.wait_for_version(2)
    assert echo(get(p, "/unrelated"))["headers"]["x-rule"] == "unrelated"
    assert get(p, "/rl").status_code == 429
    assert get(p, "/rlb").status_code == 429
    assert get(p, "/rlh", {"X-Client": "A"}).status_code == 429
    assert get(p, "/rlh", {"X-Client": "C"}).status_code == 200
    assert get(p, "/rlh", {"X-Client": "C"}).status_code == 429


def test_global_rate_limit_across_two_processes(backends, portico_factory, redis_server):
    a = backends["a"].url
    cfg = dump(apiroute("global", [
        tagged("g-closed", a, "/g", rateLimit={"requests": 6, "period": "1m", "mode": "Global",
                                               "failureMode": "Closed"}),
        tagged("g-open", a, "/go", rateLimit={"requests": 6, "period": "1m", "mode": "Global",
                                              "failureMode": "Open"}),
    ]))
    args = ["--redis-address", f"127.0.0.1:{redis_server['port']}", "--redis-timeout", "200ms"]
    p1 = portico_factory(cfg, extra_args=args)
    p2 = portico_factory(cfg, extra_args=args)
    responses = fire_concurrently([p1.url + "/g", p2.url + "/g"])
    ok, _ = check_limited(responses, allowed=6, limit=6)
    assert {r.json()["name"] for r in ok} == {"a"}
    # Both processes decided on the same Redis bucket.
    assert get(p1, "/g").status_code == 429 and get(p2, "/g").status_code == 429
    assert b"portico:rl:" in redis_command(redis_server["port"], "KEYS", "portico:rl:*")

    redis_server["proc"].terminate()
    redis_server["proc"].wait(5)
    for p in (p1, p2):
        t0 = time.monotonic()
        r = get(p, "/g")
        assert r.status_code == 503, (r.status_code, r.text)
        assert "Retry-After" not in r.headers
        assert echo(get(p, "/go"))["headers"]["x-rule"] == "g-open"
        assert time.monotonic() - t0 < 2


# --- 6. CORS -----------------------------------------------------------------------------

def test_cors(gw, backends):
    p, c = gw["p"], backends["c"]
    before = requests_seen(c)
    r = get(p, "/cors/x", {"Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
                           "Access-Control-Request-Headers": "x-custom"}, method="OPTIONS")
    assert r.status_code == 204, (r.status_code, r.text)
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "PUT" in [m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")]
    assert "x-custom" in r.headers.get("Access-Control-Allow-Headers", "").lower()
    assert r.headers.get("Access-Control-Max-Age") == "600"
    assert "Origin" in r.headers.get("Vary", "")
    assert r.content == b""
    for headers in ({"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"},
                    {"Origin": "https://app.example", "Access-Control-Request-Method": "DELETE"},
                    {"Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
                     "Access-Control-Request-Headers": "X-Other"}):
        r = get(p, "/cors/x", headers, method="OPTIONS")
        assert r.status_code == 403, headers
        assert "Access-Control-Allow-Origin" not in r.headers
    assert requests_seen(c) == before + 1  # the stats call: no preflight reached the backend

    r = get(p, "/cors/x", {"Origin": "https://app.example"})
    assert r.status_code == 200 and r.json()["name"] == "c"
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Origin" in [v.strip() for v in r.headers["Vary"].split(",")]
    # Another origin: served (CORS is for browsers) but not allowed to read it.
    r = get(p, "/cors/x", {"Origin": "https://evil.example"})
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers
    assert "Origin" in r.headers.get("Vary", "")
    # An OPTIONS that is not a preflight goes to the backend.
    assert echo(get(p, "/cors/x", {"Origin": "https://app.example"}, method="OPTIONS"))["method"] == "OPTIONS"


def test_cors_preflight_runs_before_auth(gw):
    """Browsers send preflights without credentials: on an authenticated route the preflight
    is answered before authentication; the actual request still needs the key."""
    p = gw["p"]
    pre = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    r = get(p, "/corsauth/x", pre, method="OPTIONS")
    assert r.status_code == 204 and r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert get(p, "/corsauth/x", {"Origin": "https://app.example"}).status_code == 401
    r = get(p, "/corsauth/x", {"Origin": "https://app.example", "X-Api-Key": API_KEYS["bob"]})
    assert echo(r)["headers"]["x-consumer"] == "bob"
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"


# --- 7. IP rules -------------------------------------------------------------------------

def ip_config(backends):
    a = backends["a"].url
    return dump(apiroute("ip", [
        tagged("ip-deny", a, "/ip-deny", ipRules={"deny": ["127.0.0.1/32"]}),
        tagged("ip-ten", a, "/ip-ten", ipRules={"allow": ["10.0.0.0/8"], "deny": ["10.6.6.6/32"]}),
    ]))


def test_ip_rules_without_trusted_proxies(gw):
    p = gw["p"]
    assert echo(get(p, "/ip-allow/x"))["headers"]["x-rule"] == "ip-allow"
    assert get(p, "/ip-deny/x").status_code == 403
    # X-Forwarded-For from an untrusted peer is ignored both ways.
    assert get(p, "/ip-deny/x", {"X-Forwarded-For": "10.1.2.3"}).status_code == 403
    assert get(p, "/ip-ten/x", {"X-Forwarded-For": "10.1.2.3"}).status_code == 403
    assert echo(get(p, "/ip-allow/x", {"X-Forwarded-For": "192.0.2.1"}))["headers"]["x-rule"] == "ip-allow"


def test_ip_rules_behind_trusted_proxy(backends, portico_factory):
    p = portico_factory(ip_config(backends), extra_args=["--trusted-proxy", "127.0.0.1/32"])
    assert get(p, "/ip-deny/x").status_code == 403  # no header: the peer itself
    assert echo(get(p, "/ip-deny/x", {"X-Forwarded-For": "10.1.2.3"}))["headers"]["x-rule"] == "ip-deny"
    assert get(p, "/ip-ten/x", {"X-Forwarded-For": "10.6.6.6"}).status_code == 403
    assert get(p, "/ip-ten/x").status_code == 403  # 127.0.0.1 is not in the allow list
    body = echo(get(p, "/ip-ten/x", {"X-Forwarded-For": "10.1.2.3"}))
    assert body["headers"]["x-forwarded-for"] == "10.1.2.3, 127.0.0.1"
    # The rightmost untrusted hop counts: a prepended address does not help a denied client.
    assert get(p, "/ip-ten/x", {"X-Forwarded-For": "10.1.2.3, 10.6.6.6"}).status_code == 403
    assert get(p, "/ip-ten/x", {"X-Forwarded-For": "10.6.6.6, 127.0.0.1"}).status_code == 403
    assert echo(get(p, "/ip-ten/x", {"X-Forwarded-For": "10.6.6.6, 10.1.2.3"}))


# --- 8. Order of evaluation --------------------------------------------------------------

def test_ip_rules_run_before_auth(gw):
    p = gw["p"]
    assert get(p, "/order-ip/x").status_code == 403
    assert get(p, "/order-ip/x", {"X-Api-Key": API_KEYS["alice"]}).status_code == 403


def test_rejected_credentials_do_not_consume_the_rate_limit(gw):
    p = gw["p"]
    for headers in ({}, {"X-Api-Key": "wrong"}) * 3:
        r = get(p, "/order-rl/x", headers)
        assert r.status_code == 401 and "RateLimit-Remaining" not in r.headers
    valid = {"X-Api-Key": API_KEYS["alice"]}
    remaining = []
    for _ in range(3):
        r = get(p, "/order-rl/x", valid)
        assert echo(r)["headers"]["x-consumer"] == "alice"
        remaining.append(r.headers["RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]  # the six rejected requests took nothing
    assert get(p, "/order-rl/x", valid).status_code == 429
    assert get(p, "/order-rl/x").status_code == 401  # authentication still comes first


# --- 9. Transformations ------------------------------------------------------------------

def test_regex_rewrite(gw):
    p = gw["p"]
    body = echo(get(p, "/v1/users/42?x=1"))
    assert body["headers"]["x-rule"] == "regex"
    assert body["path"] == "/api/users/42" and body["query"] == "x=1"
    assert echo(get(p, "/v1/"))["path"] == "/api/"


def test_header_edits_and_host_rewrite(gw):
    p = gw["p"]
    r = get(p, "/hdrs/x", {"X-Env": "dev", "X-Added": "client", "X-Debug": "1", "Host": "front.example"})
    body = echo(r)
    assert values(body, "X-Env") == ["prod"]
    assert sorted(values(body, "X-Added")) == ["client", "one"]
    assert values(body, "X-Debug") == []
    assert values(body, "Host") == ["inner.internal"]
    assert body["headers"]["x-forwarded-host"] == "front.example"
    assert r.headers["X-Resp"] == "yes"
    assert "X-Backend-Name" not in r.headers


def test_redirect(gw, backends):
    p = gw["p"]
    before = requests_seen(backends["a"])
    r = get(p, "/old/page?q=1")
    assert r.status_code == 301
    assert r.headers["Location"] == "https://new.example/landing?q=1"
    assert requests_seen(backends["a"]) == before + 1  # the stats call only


def test_request_body_limit(gw):
    p = gw["p"]
    assert get(p, "/limited/x", method="POST", data=b"x" * 2048).status_code == 413
    assert echo(get(p, "/limited/x", method="POST", data=b"x" * 1024))["body_bytes"] == 1024

    def chunks():
        for _ in range(4):
            yield b"y" * 600

    r = get(p, "/limited/x", method="POST", data=chunks())  # chunked, no Content-Length
    assert r.status_code == 413, r.status_code


# --- 10. Path tricks ---------------------------------------------------------------------

def under_admin(path):
    """Whether a backend resolving the path the standard way (literal '/' separates segments,
    dot segments resolved, repeated slashes collapsed, case kept) serves it from /admin."""
    p = posixpath.normpath("/" + path.lstrip("/")) if path else path
    p = re.sub(r";[^/]*", "", p)  # as a servlet container drops path parameters
    return p == "/admin" or p.startswith("/admin/")


PROTECTED = "401"
REJECTED = "400"
# target -> PROTECTED, REJECTED, or the exact path the catch-all backend receives.
PATH_TRICKS = {
    "/admin": PROTECTED,
    "/admin/": PROTECTED,
    "/admin/../admin": PROTECTED,
    "//admin": PROTECTED,
    "///admin//x": PROTECTED,
    "/%61dmin": PROTECTED,
    "/%61%64%6D%69%6E/x": PROTECTED,
    "/admin/./x": PROTECTED,
    "/./admin": PROTECTED,
    "/x/../admin": PROTECTED,
    "/x/%2e%2e/admin": PROTECTED,
    "/%2E/admin": PROTECTED,
    "/../admin": PROTECTED,
    "http://gw.test/%61dmin": PROTECTED,  # absolute-form
    "/admin/..": "/",
    "/admin/../x": "/x",
    "/ADMIN": "/ADMIN",
    "/Admin/x": "/Admin/x",
    "/admin%2f..": REJECTED,
    "/admin%2F": REJECTED,
    "/admin%2fx": REJECTED,
    "/%2fadmin": REJECTED,
    "/admin\\x": REJECTED,
    "/admin;x": PROTECTED,
    "/admin;x/y": PROTECTED,
    "/adminx": "/adminx",
}


@pytest.mark.parametrize("target", list(PATH_TRICKS))
def test_path_tricks_do_not_bypass_auth(gw, target):
    p = gw["p"]
    expected = PATH_TRICKS[target]
    r = raw_get(p.http_port, target)
    if expected == REJECTED:
        assert r.status == 400, r
        return
    if expected == PROTECTED:
        assert r.status == 401, r
        # With the key it is the admin rule that answers, on the normalized path.
        body = raw_get(p.http_port, target, {"X-Api-Key": API_KEYS["alice"]}).json()
        assert body["headers"]["x-rule"] == "admin" and under_admin(body["path"]), body
        return
    assert r.status == 200, r
    body = r.json()
    assert body["headers"]["x-rule"] == "catchall", body
    assert body["path"] == expected  # what routing saw is what the backend gets
    assert not under_admin(body["path"])


# --- 3b. JWKS key rotation (last: the 10 s minimum refresh interval has likely passed) ---

def test_jwt_key_rotation_without_restart(gw):
    p, k, server = gw["p"], gw["keys"], gw["jwks_rot"]
    old_tok = token(k.rot1, "rot1")
    new_tok = token(k.rot2, "rot2", "ES256", sub="rotated")
    assert echo(get(p, "/jwtrot/x", bearer(old_tok)))
    # Early refreshes are rate limited to one per 10 s per URL
    # (JwksCacheOptions::minRefreshInterval): let that interval pass since the set was loaded.
    time.sleep(max(0.0, gw["jwks_loaded_at"] + 10.5 - time.monotonic()))
    fetches = len(server.recorded())
    server.document = {"keys": [jwk(k.rot1.public_key(), "rot1", "RS256"),
                                jwk(k.rot2.public_key(), "rot2", "ES256")]}
    server.delay = 1.0
    # The set in use has no rot2 yet: that request waits for a refresh (slow: 1 s) and is
    # accepted on its first try. Meanwhile the worker serves other requests at once.
    result = {}

    def rotated_request():
        start = time.monotonic()
        result["response"] = get(p, "/jwtrot/x", bearer(new_tok))
        result["seconds"] = time.monotonic() - start

    waiting = threading.Thread(target=rotated_request)
    waiting.start()
    wait_until(lambda: len(server.recorded()) > fetches, 5, what="the early refresh started")
    others = []
    for _ in range(5):
        start = time.monotonic()
        assert echo(get(p, "/jwtrot/x", bearer(old_tok)))  # same route, known key
        others.append(time.monotonic() - start)
    waiting.join(10)
    print(f"\nrotated kid: accepted after {result['seconds']:.3f} s (JWKS answers after 1 s); "
          f"other requests meanwhile: max {max(others) * 1000:.1f} ms")
    assert result["response"].status_code == 200, result["response"].text
    assert values(echo(result["response"]), "X-User-Id") == ["rotated"]
    assert result["seconds"] >= 0.9
    assert max(others) < 0.5, others
    assert len(server.recorded()) == fetches + 1  # one refresh

    # Right after that refresh an unknown kid is refused at once, without another fetch.
    server.delay = 0.0
    start = time.monotonic()
    r = get(p, "/jwtrot/x", bearer(token(k.rot2, "rot3", "ES256")))
    assert r.status_code == 401 and "unknown key id" in r.text, r.text
    assert time.monotonic() - start < 0.5
    assert len(server.recorded()) == fetches + 1
    assert echo(get(p, "/jwtrot/x", bearer(old_tok)))  # the old key is still in the set
