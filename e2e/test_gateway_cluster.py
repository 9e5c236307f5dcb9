"""Gateway policies and resilience in cluster mode, end to end: APIRoutes, Ingresses,
Services, EndpointSlices and Secrets created with the real kubectl against a real
kube-apiserver, a real portico process, real requests to real backends on 10.244.x.y.

- API keys from a Secret (consumer sent upstream as X-Consumer), rotated with kubectl
  without a restart;
- a rule naming a missing Secret: ResolvedRefs False / SecretNotFound + a Warning Event,
  other routes unaffected, the rule fails closed until the Secret appears;
- Ingress basic auth through annotations with a SHA-512 crypt htpasswd line;
- a local rate limit (exact count of admitted requests, Retry-After on 429);
- retries + outlier detection when a backend process dies, and the ejection surviving a
  table swap caused by an unrelated EndpointSlice edit.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from backend import header
from k8s import E2E, apiroute, die_with_parent, metric, routes_of, service_with_endpoints, wait_until

pytestmark = pytest.mark.timeout(90)

HOST = "gw.e2e.test"


def get(p, path, host=HOST, headers=None, **kw):
    return requests.get(p.http_url + path, headers={"Host": host, **(headers or {})}, timeout=5,
                        allow_redirects=False, **kw)


def body(r):
    try:
        return r.json()
    except ValueError:
        return None


def opaque_secret(ns, name, data: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": name, "namespace": ns},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def kubectl_secret(cp, ns, name, **literals):
    """Create or replace a generic Secret the way an operator would:
    kubectl create secret generic --dry-run=client -o yaml | kubectl apply -f -."""
    args = ["create", "secret", "generic", name, "-n", ns, "--dry-run=client", "-o", "yaml"]
    args += ["--from-literal=%s=%s" % kv for kv in literals.items()]
    manifest = cp.kubectl(*args).stdout
    cp.kubectl("apply", "-f", "-", input=manifest)


def key_rule(name, path, svc, secret, header_name="X-API-Key"):
    return {"name": name, "match": {"path": {"type": "Prefix", "value": path}},
            "backends": [{"service": svc, "port": 80}],
            "auth": {"apiKey": {"header": header_name, "secretName": secret}}}


def route_json(admin_url, name):
    for r in routes_of(admin_url)["routes"]:
        if r["name"] == name:
            return r
    return None


def conditions(cp, ns, name):
    obj = cp.kubectl_json("get", "apiroute", name, "-n", ns)
    return obj, {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}


def warning_events(cp, ns, name, reason):
    evs = cp.kubectl_json("get", "events", "-n", ns, "--field-selector",
                          "involvedObject.name=%s,involvedObject.kind=APIRoute,type=Warning" % name)["items"]
    return [e for e in evs if e["reason"] == reason]


# ---- 1. API keys, rotation ----

def test_api_key_auth_and_secret_rotation(control_plane, crds, namespace, ingress_class, backends, service,
                                          portico):
    cp = control_plane
    (a,) = backends(["alpha"])
    service("svc-a", [a])
    kubectl_secret(cp, namespace, "keys", alice="alice-key-v1", bob="bob-key-v1")
    cp.apply(apiroute("keyed", namespace, [key_rule("main", "/api", "svc-a", "keys")], hosts=[HOST]))
    p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class)

    wait_until(lambda: get(p, "/api/x").status_code == 401, what="keyed rule live (401 without a key)")
    assert get(p, "/api/x", headers={"X-API-Key": "nope"}).status_code == 401
    assert get(p, "/api/x", headers={"X-API-Key": ""}).status_code == 401

    r = get(p, "/api/x", headers={"X-API-Key": "alice-key-v1"})
    assert r.status_code == 200, (r.status_code, r.text)
    seen = r.json()
    assert seen["backend"] == "alpha"
    assert header(seen, "X-Consumer") == "alice"
    assert header(seen, "X-API-Key") is None, "the API key must not reach the backend"
    # A client cannot pose as a consumer: its own X-Consumer is replaced.
    r = get(p, "/api/x", headers={"X-API-Key": "bob-key-v1", "X-Consumer": "alice"})
    assert r.status_code == 200 and header(r.json(), "X-Consumer") == "bob", r.text

    # Rotate alice's key with kubectl; no restart. Old key 401 and new key 200 within seconds.
    pid = p.proc.pid
    t0 = time.monotonic()
    kubectl_secret(cp, namespace, "keys", alice="alice-key-v2", bob="bob-key-v1")

    def rotated():
        old = get(p, "/api/x", headers={"X-API-Key": "alice-key-v1"}).status_code
        new = get(p, "/api/x", headers={"X-API-Key": "alice-key-v2"})
        return old == 401 and new.status_code == 200 and header(new.json(), "X-Consumer") == "alice"

    wait_until(rotated, timeout=5, interval=0.05, what="rotated key in effect (old 401, new 200)")
    print("\nAPI key rotation effective after %.2fs" % (time.monotonic() - t0))
    assert p.proc.poll() is None and p.proc.pid == pid
    # Stable afterwards, and the untouched consumer still works.
    for _ in range(5):
        assert get(p, "/api/x", headers={"X-API-Key": "alice-key-v1"}).status_code == 401
        assert get(p, "/api/x", headers={"X-API-Key": "alice-key-v2"}).status_code == 200
    r = get(p, "/api/x", headers={"X-API-Key": "bob-key-v1"})
    assert r.status_code == 200 and header(r.json(), "X-Consumer") == "bob"


# ---- 2. missing Secret ----

def test_missing_secret_reported_others_keep_serving_then_created(control_plane, crds, namespace, ingress_class,
                                                                  backends, service, portico):
    cp = control_plane
    a, b = backends(["alpha", "beta"])
    service("svc-a", [a])
    service("svc-b", [b])
    cp.apply([apiroute("open", namespace, [("main", "/open", "svc-b", 80)], hosts=[HOST]),
              apiroute("guarded", namespace, [key_rule("main", "/guarded", "svc-a", "keys")], hosts=[HOST])])
    p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class)

    def secret_not_found():
        _, c = conditions(cp, namespace, "guarded")
        rr = c.get("ResolvedRefs")
        return rr if rr and rr["status"] == "False" else None

    rr = wait_until(secret_not_found, timeout=20, interval=0.2, what="guarded ResolvedRefs False")
    assert rr["reason"] == "SecretNotFound", rr
    assert "keys" in rr["message"], rr
    evs = wait_until(lambda: warning_events(cp, namespace, "guarded", "SecretNotFound"), timeout=20, interval=0.2,
                     what="Warning Event SecretNotFound on guarded")
    assert "keys" in evs[0]["message"], evs[0]

    # The other APIRoute serves meanwhile; the guarded rule never serves without its keys.
    statuses = set()
    for _ in range(10):
        r = get(p, "/open/x")
        assert (r.status_code, (body(r) or {}).get("backend")) == (200, "beta"), (r.status_code, r.text)
        g = get(p, "/guarded/x", headers={"X-API-Key": "k1"})
        statuses.add(g.status_code)
        assert g.status_code != 200 and (body(g) or {}).get("backend") is None, \
            "rule with an unresolved key Secret served a request: %s %s" % (g.status_code, g.text)
    print("\nguarded rule while its Secret is missing answers %s" % sorted(statuses))
    _, c = conditions(cp, namespace, "open")
    assert c.get("ResolvedRefs", {}).get("status") == "True", c

    # Creating the Secret makes the rule serve (401 without a key, 200 with one).
    kubectl_secret(cp, namespace, "keys", carol="k1")
    wait_until(lambda: get(p, "/guarded/x").status_code == 401, timeout=10, what="guarded 401 after Secret created")
    r = get(p, "/guarded/x", headers={"X-API-Key": "k1"})
    assert r.status_code == 200 and r.json()["backend"] == "alpha", (r.status_code, r.text)
    assert header(r.json(), "X-Consumer") == "carol"
    assert get(p, "/open/x").status_code == 200

    def resolved():
        obj, c = conditions(cp, namespace, "guarded")
        return c.get("ResolvedRefs", {}).get("status") == "True" and c.get("Programmed", {}).get("status") == "True"

    wait_until(resolved, timeout=20, interval=0.2, what="guarded ResolvedRefs/Programmed True after Secret created")


# ---- 3. Ingress basic auth ----

def test_ingress_basic_auth_sha512_crypt(control_plane, crds, namespace, ingress_class, backends, service, portico):
    cp = control_plane
    (a,) = backends(["alpha"])
    service("svc-a", [a])
    password = "s3cret-Pass"
    hashed = subprocess.run(["openssl", "passwd", "-6", password], check=True, capture_output=True,
                            text=True).stdout.strip()
    assert hashed.startswith("$6$"), hashed
    cp.apply(opaque_secret(namespace, "users", {"auth": "dana:%s\n" % hashed}))
    host = "basic.e2e.test"
    cp.apply({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
              "metadata": {"name": "web", "namespace": namespace,
                           "annotations": {"portico.dev/auth-type": "basic", "portico.dev/auth-secret": "users",
                                           "portico.dev/auth-realm": "e2e"}},
              "spec": {"ingressClassName": ingress_class, "rules": [{"host": host, "http": {"paths": [
                  {"path": "/", "pathType": "Prefix",
                   "backend": {"service": {"name": "svc-a", "port": {"number": 80}}}}]}}]}})
    p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class)

    # (a Response is falsy when not 2xx: wrap it)
    (r,) = wait_until(lambda: (lambda r: (r,) if r.status_code == 401 else None)(get(p, "/x", host=host)),
                      what="Ingress with basic auth live (401)")
    challenge = r.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Basic ") and 'realm="e2e"' in challenge, r.headers
    assert (body(r) or {}).get("backend") is None
    bad = get(p, "/x", host=host, auth=("dana", "wrong"))
    assert bad.status_code == 401 and bad.headers.get("WWW-Authenticate", "").startswith("Basic "), bad.headers
    assert get(p, "/x", host=host, auth=("eve", password)).status_code == 401

    ok = get(p, "/x", host=host, auth=("dana", password))
    assert ok.status_code == 200, (ok.status_code, ok.text)
    seen = ok.json()
    assert seen["backend"] == "alpha"
    assert header(seen, "Authorization") is None, "Authorization must not be forwarded"
    assert header(seen, "X-Consumer") == "dana"


# ---- 4. rate limit ----

def test_rate_limit_client_ip(control_plane, crds, namespace, ingress_class, backends, service, portico):
    cp = control_plane
    (a,) = backends(["alpha"])
    service("svc-a", [a])
    rule = {"name": "main", "match": {"path": {"type": "Prefix", "value": "/limited"}},
            "backends": [{"service": "svc-a", "port": 80}],
            "rateLimit": {"requests": 5, "period": "1m", "key": "ClientIP"}}
    cp.apply(apiroute("limited", namespace, [rule], hosts=[HOST]))
    p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class)
    # Wait through the admin API, not with requests (they would spend tokens).
    wait_until(lambda: route_json(p.admin_url, "%s/limited/main" % namespace), what="rate-limited route live")

    results = []
    for _ in range(12):
        r = get(p, "/limited/x")
        results.append((r.status_code, r.headers.get("Retry-After")))
    codes = [c for c, _ in results]
    assert codes == [200] * 5 + [429] * 7, results
    for code, retry_after in results[5:]:
        assert retry_after is not None and retry_after.isdigit() and 1 <= int(retry_after) <= 60, results
    assert a.request_count == 5, "backend saw %d requests, want 5" % a.request_count


# ---- 5. retries + outlier detection across a table swap ----

class ProcessBackend:
    """e2e/backend.py as its own process (so killing it closes every connection it has)."""

    def __init__(self, name, host, port):
        self.name, self.host, self.port = name, host, port
        self.proc = subprocess.Popen([sys.executable, str(E2E / "backend.py"), "--name", name, "--host", host,
                                      "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, preexec_fn=die_with_parent)
        line = self.proc.stdout.readline()
        if not line.startswith("LISTENING"):
            self.proc.kill()
            raise RuntimeError("backend %s did not start: %r" % (name, line))

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)


def upstream(admin_url, address):
    r = requests.get(admin_url + "/upstreams", timeout=5)
    r.raise_for_status()
    return r.json()["endpoints"].get(address)


def test_retries_and_ejection_survive_table_swap(control_plane, crds, namespace, ingress_class, backends, portico):
    cp = control_plane
    (a,) = backends(["alpha"])
    # beta in its own process on another pod address, same port (one EndpointSlice port list).
    beta_host = "10.244.%d.%d" % (200 + os.getpid() % 50, 1 + os.getpid() % 250)
    b = ProcessBackend("beta", beta_host, a.port)
    try:
        svc, slc = service_with_endpoints(cp, namespace, "svc", [a, (b.host, b.port)], apply=False)
        rule = {"name": "main", "match": {"path": {"type": "Prefix", "value": "/r"}},
                "backends": [{"service": "svc", "port": 80}],
                "retries": {"attempts": 2, "on": ["connect-failure", "reset"]},
                "outlierDetection": {"consecutiveGatewayFailures": 2, "baseEjectionTime": "30s"}}
        cp.apply([svc, slc, apiroute("res", namespace, [rule], hosts=[HOST])])
        p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class)
        route = "%s/res/main" % namespace

        def both_answer():
            seen = set()
            with requests.Session() as s:
                for _ in range(6):
                    r = s.get(p.http_url + "/r/x", headers={"Host": HOST}, timeout=5)
                    if r.status_code == 200:
                        seen.add(r.json()["backend"])
            return seen == {"alpha", "beta"}

        wait_until(both_answer, timeout=20, what="both endpoints answering")
        assert upstream(p.admin_url, b.address)["ejected"] is False

        retries_before = metric(p.admin_url, "portico_upstream_retries_total") or 0
        b.kill()
        results = []
        with requests.Session() as s:  # keep-alive and fresh connections both
            for i in range(40):
                try:
                    r = (s.get if i % 2 else requests.get)(p.http_url + "/r/x", headers={"Host": HOST}, timeout=5)
                    results.append((r.status_code, (body(r) or {}).get("backend")))
                except requests.RequestException as e:
                    results.append(("error", repr(e)))
        bad = [x for x in results if x != (200, "alpha")]
        assert not bad, "errors after killing beta (%d of 40): %s" % (len(bad), bad[:10])
        # Requests that picked beta before its ejection were retried on alpha.
        assert (metric(p.admin_url, "portico_upstream_retries_total") or 0) > retries_before

        st = wait_until(lambda: (lambda e: e if e and e["ejected"] else None)(upstream(p.admin_url, b.address)),
                        timeout=5, what="beta ejected in /upstreams")
        assert st["ejections"] >= 1 and st["ejectedForMs"] > 20_000, st
        assert not upstream(p.admin_url, a.address)["ejected"]

        # An unrelated EndpointSlice change publishes a new table; the ejection is kept.
        version = routes_of(p.admin_url)["version"]
        slc["metadata"]["labels"]["e2e.portico.dev/touched"] = "yes"
        cp.apply(slc)
        wait_until(lambda: routes_of(p.admin_url)["version"] > version, timeout=10,
                   what="new table published after the EndpointSlice label change")
        r = route_json(p.admin_url, route)
        eps = sorted(e["address"] for be in r["backends"] for e in be["endpoints"])
        assert eps == sorted([a.address, b.address]), eps
        after = upstream(p.admin_url, b.address)
        assert after is not None and after["ejected"] is True, "ejection lost by the table swap: %s" % after
        assert after["ejections"] == st["ejections"], (st, after)
        for _ in range(10):
            r = get(p, "/r/x")
            assert (r.status_code, r.json()["backend"]) == (200, "alpha")
        assert upstream(p.admin_url, b.address)["ejected"] is True
    finally:
        b.kill()
