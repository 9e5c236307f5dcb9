#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/seed-* (re-run after editing; idempotent).

Seeds are small, realistic inputs in each target's input format (see the comment at the
top of each fuzz/<target>_fuzz.cc). Files found by fuzzing are added next to them as
crash-*/finding-* by hand (minimized) and are never overwritten here.
Usage: fuzz/make_seeds.py [RSA_PRIVATE_KEY_PEM]  (the key signs RS256 seed tokens; without
it the RS256 seeds that are already in the corpus are kept)
"""
import base64, hashlib, hmac, json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def b64u(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


# ---- request_head: byte 0 = read size (0x00 all at once, 0x80|n reads of n+1 bytes) ----
CRLF = "\r\n"


def req(*lines, body=""):
    return CRLF.join(lines) + CRLF + CRLF + body


HEAD = {
    "get": req("GET /orders/42?x=1&y=%20 HTTP/1.1", "Host: api.example.com", "User-Agent: curl/7.88",
               "Accept: */*"),
    "get-http10-nohost": req("GET / HTTP/1.0"),
    "post-cl": req("POST /orders HTTP/1.1", "Host: a", "Content-Type: application/json", "Content-Length: 13",
                   body='{"item": 42}\n'),
    "chunked": req("POST /upload HTTP/1.1", "Host: a", "Transfer-Encoding: chunked",
                   body="5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
    "chunked-trailers": req("POST /upload HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Trailer: X-Sum",
                            body="3\r\nabc\r\n0\r\nX-Sum: 1\r\nHost: evil.example\r\nAuthorization: Basic eDp5\r\n\r\n"),
    "chunked-empty": req("POST /e HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", body="0\r\n\r\n"),
    "pipelined": req("GET /a HTTP/1.1", "Host: a") + req("GET /b HTTP/1.1", "Host: a") +
                 req("POST /c HTTP/1.1", "Host: a", "Content-Length: 2", body="hi"),
    "cl-and-te": req("POST / HTTP/1.1", "Host: a", "Content-Length: 6", "Transfer-Encoding: chunked",
                     body="0\r\n\r\nG"),
    "te-identity-chunked": req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: identity",
                               "Transfer-Encoding: chunked", body="0\r\n\r\n"),
    "te-chunked-identity": req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked, identity",
                               body="0\r\n\r\n"),
    "te-space-colon": req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding : chunked", body="0\r\n\r\n"),
    "te-xchunked": req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: xchunked", "Content-Length: 4",
                       body="abcd"),
    "te-http10": req("POST / HTTP/1.0", "Transfer-Encoding: chunked", body="0\r\n\r\n"),
    "cl-list": req("POST / HTTP/1.1", "Host: a", "Content-Length: 5, 5", body="hello"),
    "cl-twice": req("POST / HTTP/1.1", "Host: a", "Content-Length: 5", "Content-Length: 6", body="hello!"),
    "cl-plus": req("POST / HTTP/1.1", "Host: a", "Content-Length: +5", body="hello"),
    "connection-cl": req("POST / HTTP/1.1", "Host: a", "Connection: Content-Length, close", "Content-Length: 5",
                         body="GET /"),
    "obs-fold": req("GET / HTTP/1.1", "Host: a", "X-Long: a", " folded", "\tmore"),
    "chunk-overflow": req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked",
                          body="ffffffffffffffff1\r\nx\r\n0\r\n\r\n"),
    "chunk-ws": req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", body=" 5 \r\nhello\r\n0\r\n\r\n"),
    "bare-lf": "GET / HTTP/1.1\nHost: a\nX: y\n\n",
    "absolute-form": req("GET http://internal.example:8080/admin?x HTTP/1.1", "Host: public.example"),
    "absolute-https-noslash": req("GET https://b.example HTTP/1.1", "Host: a"),
    "authority-form": req("CONNECT 127.0.0.1:22 HTTP/1.1", "Host: 127.0.0.1:22"),
    "asterisk": req("OPTIONS * HTTP/1.1", "Host: a"),
    "path-tricks": req("GET //admin/./x/../%2e%2E/%61dmin%2f..%2F;jsessionid=1/%5c..\\x HTTP/1.1", "Host: a"),
    "path-nul": req("GET /a%00b HTTP/1.1", "Host: a"),
    "upgrade-h2c": req("GET / HTTP/1.1", "Host: a", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
                       "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"),
    "websocket": req("GET /ws HTTP/1.1", "Host: a", "Connection: Upgrade", "Upgrade: websocket",
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"),
    "underscore-header": req("GET / HTTP/1.1", "Host: a", "X_Forwarded_For: 1.2.3.4", "X-Forwarded-For: 5.6.7.8",
                             "X-Forwarded-For: 9.9.9.9"),
    "bad-header-name": req("GET / HTTP/1.1", "Host: a", "X(y): 1"),
    "two-hosts": req("GET / HTTP/1.1", "Host: a", "Host: b"),
    "host-port-ipv6": req("GET / HTTP/1.1", "Host: [::1]:8080"),
    "http09": "GET /\r\n\r\n",
    "http2-preface": "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "lowercase-method": req("get / HTTP/1.1", "Host: a"),
    "expect-100": req("PUT /f HTTP/1.1", "Host: a", "Expect: 100-continue", "Content-Length: 3", body="abc"),
}
for name, text in HEAD.items():
    write("request_head", name, b"\x00" + text.encode("latin-1"))
for name in ("chunked-trailers", "pipelined", "cl-and-te", "te-identity-chunked", "path-tricks"):
    write("request_head", name + "-split1", b"\x80" + HEAD[name].encode("latin-1"))
    write("request_head", name + "-split7", b"\x86" + HEAD[name].encode("latin-1"))

# ---- router: method \n host \n target \n headers ----
ROUTER = {
    "orders-get": "GET\napi.example.com\n/orders/42",
    "orders-post": "POST\napi.example.com\n/orders\ncontent-type: application/json",
    "orders-canary": "DELETE\napi.example.com\n/orders/x\nX-Canary: yes",
    "orders-v2": "GET\napi.example.com\n/orders/v2/items?v=2&x=%41",
    "orders-v2-encoded": "GET\nAPI.Example.COM\n/orders/v2?%76=%32",
    "health": "GET\napi.example.com\n/healthz",
    "health-slash": "GET\napi.example.com\n/healthz/",
    "users": "GET\napi.example.com\n/users/123/profile\nX-Role: admin",
    "users-nomatch": "GET\napi.example.com\n/users/abc",
    "cafe": "GET\napi.example.com\n/caf%C3%A9/menu",
    "wild": "GET\nshop.example.com\n/static/app.js\nAccept: */*",
    "wild-two-labels": "GET\na.b.example.com\n/",
    "wild-org": "GET\nwww.example.org\n/",
    "wild-deep": "GET\nx.example.org\n/a/b/c/d/e\nx-a: 1\nx-b: ",
    "static-org": "GET\nstatic.example.org\n/static\naccept: text/html",
    "admin-query": "GET\nanything\n/admin/users?token=a+b&x=&token=c",
    "admin-query-pct": "GET\nanything\n/admin?token=a%20b&x",
    "api-regex": "PUT\nother.test\n/v2/things",
    "v1-auth": "GET\nother.test\n/v1/x\nAuthorization: Bearer abc",
    "login": "POST\n\n/login",
    "files": "GET\nh\n/files%2fsecret/x",
    "dot-segments": "GET\napi.example.com\n/x/../orders/./v2/",
    "any-host-exact": "GET\nz\n/admin/login",
    "secure-redirect": "GET\nsecure.example.com\n/",
}
for name, text in ROUTER.items():
    write("router", name, text)

# ---- jwt: byte 0 = mode ----
JWKS = json.dumps({"keys": [
    {"kty": "RSA", "kid": "r", "alg": "RS256", "use": "sig", "key_ops": ["verify"],
     "n": b64u(b"\xc1" + b"\x01" * 255), "e": "AQAB"},
    {"kty": "EC", "crv": "P-256", "kid": "e",
     "x": "fQTd0r1HJknrEYyOH0pJz422Ieh9dELRkT3vsWnj9yM", "y": "vNb5S8l9XO3pVNceAaRuaNtih3y8mFYgPEGzEDB8e24"},
    {"kty": "EC", "crv": "P-384", "kid": "bad-point", "x": b64u(b"\x01" * 48), "y": b64u(b"\x02" * 48)},
    {"kty": "oct", "k": b64u(b"s" * 32), "alg": "HS256"},
    {"kty": "oct", "k": b64u(b"short")},
    {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"},
    {"kty": "RSA", "n": "AQAB", "e": "AQAB", "use": "enc"},
]})
write("jwt", "jwks", b"\x00" + JWKS.encode())
write("jwt", "jwks-empty", b"\x00" + b'{"keys": []}')
write("jwt", "jwks-not-array", b"\x00" + b'{"keys": {"kty": "RSA"}}')

NOW = 1800000000
SECRET = b"portico-fuzz-hmac-secret-0123456789abcdef"


def hs256(header, payload):
    si = b64u(json.dumps(header)) + "." + b64u(json.dumps(payload))
    return si + "." + b64u(hmac.new(SECRET, si.encode(), hashlib.sha256).digest())


good_claims = {"iss": "https://issuer.example", "aud": ["api", "other"], "sub": "alice", "exp": NOW + 600,
               "nbf": NOW - 10, "email": "alice@example.com", "roles": "admin", "admin": True}
write("jwt", "bearer-hs256", b"\x01Bearer " + hs256({"alg": "HS256", "kid": "hs1", "typ": "JWT"}, good_claims).encode())
write("jwt", "bearer-expired", b"\x01bearer  " + hs256({"alg": "HS256"}, dict(good_claims, exp=NOW - 100)).encode())
write("jwt", "alg-none", b"\x01" + (b64u('{"alg":"none"}') + "." + b64u(json.dumps(good_claims)) + ".").encode())
write("jwt", "es256-garbage-sig", b"\x01" + (b64u('{"alg":"ES256","kid":"ec1"}') + "." +
                                             b64u(json.dumps(good_claims)) + "." + b64u(b"\x01" * 64)).encode())
write("jwt", "four-parts", b"\x01a.b.c.d")
if len(sys.argv) > 1:
    si = b64u('{"alg":"RS256","kid":"rsa1"}') + "." + b64u(json.dumps(good_claims))
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", sys.argv[1]], input=si.encode(),
                         capture_output=True, check=True).stdout
    write("jwt", "rs256-valid", b"\x01Bearer " + (si + "." + b64u(sig)).encode())
signed = {
    "valid": ({"alg": "HS256", "kid": "hs1"}, good_claims),
    "aud-string": ({"alg": "HS256"}, dict(good_claims, aud="portico")),
    "aud-missing": ({"alg": "HS256"}, {k: v for k, v in good_claims.items() if k != "aud"}),
    "wrong-iss": ({"alg": "HS256"}, dict(good_claims, iss="https://evil.example")),
    "nbf-future": ({"alg": "HS256"}, dict(good_claims, nbf=NOW + 3600)),
    "exp-float": ({"alg": "HS256"}, dict(good_claims, exp=NOW + 0.5)),
    "exp-string": ({"alg": "HS256"}, dict(good_claims, exp=str(NOW + 60))),
    "crit": ({"alg": "HS256", "crit": ["exp"]}, good_claims),
    "kid-unknown": ({"alg": "HS256", "kid": "nope"}, good_claims),
    "alg-mismatch": ({"alg": "RS256", "kid": "hs1"}, good_claims),
    "claim-crlf": ({"alg": "HS256"}, dict(good_claims, sub="a\r\nX-Admin: 1")),
    "claims-array": ({"alg": "HS256"}, [1, 2]),
}
for name, (h, p) in signed.items():
    write("jwt", "signed-" + name, b"\x02" + (json.dumps(h) + "\n" + json.dumps(p)).encode())
write("jwt", "claims", b"\x03" + json.dumps({"sub": "a", "n": 1.5e300, "b": False, "nul": "a\u0000b",
                                              "long": "x" * 5000, "obj": {"a": 1}, "del": "\u007f"}).encode())

# ---- cidr: lines ----
CIDR = {
    "v4": "10.1.2.3/8\n203.0.113.7, 10.0.0.2\n\x0110.0.0.0/8\n\x00192.168.0.0/16",
    "v6": "2001:db8::1/48\n[2001:db8::5]:443 , 192.168.1.1:8080\n\x012001:db8::/32",
    "mapped": "::ffff:10.0.0.0/104\n::ffff:1.2.3.4\n\x00::ffff:0:0/96",
    "single": "192.168.1.1\n1.2.3.4, ::ffff:192.168.1.1, 10.9.9.9",
    "bad-prefix": "10.0.0.0/33\n,,",
    "leading-zero": "010.0.0.1/8\nunknown, 10.0.0.1",
    "zero": "0.0.0.0/0\n\x00::/0",
    "v6-full": "fe80:0000:0000:0000:0202:b3ff:fe1e:8329/128\n\x01fe80::/10",
    "v6-embedded": "64:ff9b::192.0.2.33/96\n[::1]",
    "empty-prefix": "10.0.0.0/\n\n",
    "spaces": " 10.0.0.1 \n 10.0.0.1 ,\t1.1.1.1",
}
for name, text in CIDR.items():
    write("cidr", name, text)

# ---- base64 ----
for name, text in {
    "standard": "cG9ydGljbzpzZWNyZXQ=", "standard-2pad": "YWJjZA==", "url": "cG9ydGljby1mdXp6LWhtYWM",
    "url-chars": "-_-_AAAA", "non-canonical": "YWJjZB==", "whitespace": "YWJj\nZA==", "empty": "",
    "binary": "AP8A/w==", "htpasswd-basic": "YWxpY2U6JDJ5JDA1JGFiY2RlZmdoaWprbG1ub3BxcnN0dQ==",
}.items():
    write("base64", name, text)

# ---- config: standalone YAML files ----
repo = os.path.dirname(HERE)
for ex in ("demo.yaml", "gateway.yaml"):
    with open(os.path.join(repo, "examples", ex), "rb") as f:
        write("config", "example-" + ex.replace(".yaml", ""), f.read())
CONFIG = {
    "minimal": """apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata: {name: r}
spec:
  rules:
    - name: all
      backends: [{url: "http://127.0.0.1:9001"}]
""",
    "matches": """apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata: {name: orders, namespace: shop}
spec:
  hosts: ["api.example.com", "*.example.org"]
  rules:
    - name: read
      match:
        path: {type: Prefix, value: /orders}
        methods: [GET, HEAD]
        headers: [{name: X-Canary, type: Exact, value: "yes"}, {name: X-V, type: RegularExpression, value: "v[0-9]+"}]
        query: [{name: v, value: "2"}]
      backends:
        - {url: "http://127.0.0.1:9001", weight: 90}
        - {url: "http://[::1]:9002", weight: 10}
      loadBalancing: {policy: ConsistentHash, hashOn: {header: X-User}}
      timeouts: {connect: 2s, request: 30s, idle: 1m}
      retries: {attempts: 2, "on": [connect-failure, reset, "503"], perTryTimeout: 500ms}
      rewrite: {pathPrefix: /v1/orders, host: orders.internal}
      requestHeaders: {set: {X-Env: prod}, add: {X-A: b}, remove: [X-Debug]}
      responseHeaders: {set: {}, remove: [Server]}
    - name: regex
      match: {path: {type: RegularExpression, value: "/items/[0-9]+"}}
      backends: [{url: "http://127.0.0.1:9003"}]
      rewrite: {regex: {pattern: "^/items/(.*)$", substitution: "/v2/\\\\1"}}
""",
    "jwt-secret": """apiVersion: v1
kind: Secret
metadata: {name: jwks}
data:
  jwks: """ + base64.b64encode(JWKS.encode()).decode() + """
---
apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata: {name: jwt}
spec:
  rules:
    - name: api
      match: {path: {value: /api}}
      backends: [{url: "http://127.0.0.1:9001"}]
      auth: {jwt: {issuer: https://issuer.example, audiences: [api], jwksSecretName: jwks, forwardClaims: {sub: X-User}, leeway: 5s}}
      rateLimit: {requests: 10, period: 1s, key: "Claim:sub"}
""",
    "basic-external": """apiVersion: v1
kind: Secret
metadata: {name: users}
stringData:
  htpasswd: "alice:$2y$05$abcdefghijklmnopqrstuu5Q0mZ3bN7rHq6D8J9kTQ5yW0Xz1Ua2"
---
apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata: {name: auth}
spec:
  tls: {secretName: none, redirectHTTP: true}
  rules:
    - name: basic
      match: {path: {value: /b}}
      backends: [{url: "http://127.0.0.1:9001"}]
      auth: {basic: {secretName: users}}
    - name: ext
      match: {path: {value: /e}}
      backends: [{url: "http://127.0.0.1:9001"}]
      auth: {external: {url: "http://127.0.0.1:9100/check", failOpen: false}}
""",
    "anchors": """apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata: {name: a}
spec:
  rules:
    - &r {name: one, backends: [{url: "http://127.0.0.1:1"}]}
    - {<<: *r, name: two}
""",
    "bad-duplicate": """apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata: {name: a, name: b}
spec: {}
---
apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata: {name: a}
spec: {rules: [{name: x, match: {path: {type: RegularExpression, value: "(("}}}]}
""",
    "truncated": """apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata: {name: cut}
spec:
  rules:
    - name: a
      backends: [{url: "http://127.0.0.1:9""",
    "empty-docs": "---\n---\n",
}
for name, text in CONFIG.items():
    write("config", name, text)
print("seeds written under", CORPUS)
