"""Cluster mode end to end: APIRoute / Ingress + Service + EndpointSlice objects applied to a
real kube-apiserver become live routes in a real portico process, checked with real requests
to real backends (each answers with its name)."""

from __future__ import annotations

import collections
import json
import time

import pytest
import requests

from k8s import apiroute, ask, route_names, routes_of, service_with_endpoints, wait_until

pytestmark = pytest.mark.timeout(240)

HOST = "api.e2e.test"


def backend_of(p, path, host=HOST):
    return ask(p.http_url, path, host)


def endpoints_of(admin_url, route_name):
    for r in routes_of(admin_url)["routes"]:
        if r["name"] == route_name:
            return sorted(e["address"] for b in r["backends"] for e in b["endpoints"])
    return None


def spread(p, path, n, host=HOST):
    """n requests over one keep-alive connection (so one worker and its round-robin cursor:
    cursors are per worker) -> Counter of (status, backend)."""
    with requests.Session() as s:
        out = collections.Counter()
        for _ in range(n):
            r = s.get(p.http_url + path, headers={"Host": host}, timeout=5)
            out[(r.status_code, r.json().get("backend") if r.status_code == 200 else None)] += 1
        return out


def test_apiroute_routes_edits_deletes_and_follows_endpointslices(control_plane, crds, namespace, ingress_class,
                                                                  backends, service, portico):
    cp = control_plane
    a, b, c = backends(["alpha", "beta", "gamma"])
    service("svc-a", [a])
    service("svc-b", [b])
    cp.apply(apiroute("orders", namespace, [("main", "/api", "svc-a", 80)], hosts=[HOST]))
    p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class)

    # Routed to alpha, with the path kept; another host or path is not routed.
    wait_until(lambda: backend_of(p, "/api/x") == (200, "alpha"), what="alpha behind /api")
    r = requests.get(p.http_url + "/api/x?q=1", headers={"Host": HOST}, timeout=5).json()
    assert (r["backend"], r["path"], r["query"]) == ("alpha", "/api/x?q=1", "q=1")
    assert backend_of(p, "/api/x", host="other.e2e.test")[0] == 404
    assert backend_of(p, "/apix")[0] == 404
    assert backend_of(p, "/")[0] == 404
    assert route_names(p.admin_url) == {"%s/orders/main" % namespace}

    # Editing the APIRoute re-routes: new path and new Service.
    cp.apply(apiroute("orders", namespace, [("main", "/v2", "svc-b", 80)], hosts=[HOST]))
    wait_until(lambda: backend_of(p, "/v2/y") == (200, "beta"), what="beta behind /v2")
    assert backend_of(p, "/api/x")[0] == 404
    assert spread(p, "/v2/y", 10) == {(200, "beta"): 10}

    # The EndpointSlice changes: traffic moves to the new address, no request goes to the old one.
    service("svc-b", [c])
    wait_until(lambda: endpoints_of(p.admin_url, "%s/orders/main" % namespace) == ["%s:%d" % (c.host, c.port)],
               what="svc-b endpoints = gamma")
    assert spread(p, "/v2/y", 10) == {(200, "gamma"): 10}

    # Both endpoints ready: round robin over both.
    service("svc-b", [b, c])
    wait_until(lambda: len(endpoints_of(p.admin_url, "%s/orders/main" % namespace)) == 2, what="two endpoints")
    assert spread(p, "/v2/y", 20) == {(200, "beta"): 10, (200, "gamma"): 10}

    # gamma terminating (ready false, serving true, as kubelet reports a draining pod): no new requests.
    svc, slc = service_with_endpoints(cp, namespace, "svc-b", [b, c], apply=False)
    slc["endpoints"][1]["conditions"] = {"ready": False, "serving": True, "terminating": True}
    cp.apply([svc, slc])
    wait_until(lambda: endpoints_of(p.admin_url, "%s/orders/main" % namespace) == ["%s:%d" % (b.host, b.port)],
               what="terminating gamma dropped")
    assert spread(p, "/v2/y", 20) == {(200, "beta"): 20}

    # beta not ready (and not terminating), gamma back: only gamma.
    slc["endpoints"][0]["conditions"] = {"ready": False, "serving": False, "terminating": False}
    slc["endpoints"][1]["conditions"] = {"ready": True, "serving": True, "terminating": False}
    cp.apply([svc, slc])
    wait_until(lambda: endpoints_of(p.admin_url, "%s/orders/main" % namespace) == ["%s:%d" % (c.host, c.port)],
               what="not-ready beta dropped")
    assert spread(p, "/v2/y", 20) == {(200, "gamma"): 20}

    # Deleting the APIRoute: 404, and the table is empty.
    cp.kubectl("delete", "apiroute", "orders", "-n", namespace)
    wait_until(lambda: backend_of(p, "/v2/y")[0] == 404, what="404 after delete")
    assert routes_of(p.admin_url)["routes"] == []


def ingress(name, namespace, cls, rules=None, default=None, annotations=None):
    spec = {"ingressClassName": cls}
    if rules:
        spec["rules"] = rules
    if default:
        spec["defaultBackend"] = default
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}}, "spec": spec}


def path(p, svc, path_type="Prefix", port=80):
    port_ref = {"name": port} if isinstance(port, str) else {"number": port}
    return {"path": p, "pathType": path_type, "backend": {"service": {"name": svc, "port": port_ref}}}


def test_ingress_host_and_path_semantics(control_plane, namespace, ingress_class, backends, service, portico):
    cp = control_plane
    names = ["exact", "prefix", "foo", "foobar", "wild", "named", "default", "merged", "loser"]
    bs = dict(zip(names, backends(names)))
    for n in names:
        if n == "named":
            service("svc-named", [bs[n]], port=8081, port_name="web")
        else:
            service("svc-" + n, [bs[n]])

    older = ingress("zz-older", namespace, ingress_class, rules=[
        {"host": "ing.e2e.test", "http": {"paths": [
            path("/exact", "svc-exact", "Exact"),
            path("/foo", "svc-foo"),
            path("/foo/bar/", "svc-foobar"),
            path("/mixed", "svc-prefix"),
            path("/mixed", "svc-exact", "Exact"),
            path("/impl", "svc-prefix", "ImplementationSpecific"),
        ]}},
        {"host": "*.wild.e2e.test", "http": {"paths": [path("/", "svc-wild")]}},
        {"host": "named.e2e.test", "http": {"paths": [path("/", "svc-named", port="web")]}},
    ], default={"service": {"name": "svc-default", "port": {"number": 80}}})
    cp.apply(older)
    created = cp.kubectl_json("get", "ingress", "zz-older", "-n", namespace)["metadata"]["creationTimestamp"]
    # creationTimestamp has one-second resolution: make the second Ingress strictly younger,
    # while its name sorts first (so a name-only tie-break would pick the wrong one).
    wait_until(lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) > created, timeout=3, what="next second")
    newer = ingress("aa-newer", namespace, ingress_class, rules=[
        {"host": "ing.e2e.test", "http": {"paths": [path("/merged", "svc-merged"), path("/foo", "svc-loser")]}},
    ])
    cp.apply(newer)
    # Another class's Ingress for the same host is not ours.
    cp.apply(ingress("other-class", namespace, "not-" + ingress_class, rules=[
        {"host": "ing.e2e.test", "http": {"paths": [path("/other", "svc-loser")]}}]))

    p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class)
    wait_until(lambda: ask(p.http_url, "/merged", "ing.e2e.test") == (200, "merged"), what="merged Ingress live")

    cases = [
        # (host, path, expected backend) -- Kubernetes' Ingress path matching table
        ("ing.e2e.test", "/exact", "exact"),
        ("ing.e2e.test", "/exact/", "default"),      # Exact: no trailing slash match
        ("ing.e2e.test", "/exactly", "default"),
        ("ing.e2e.test", "/foo", "foo"),
        ("ing.e2e.test", "/foo/", "foo"),            # Prefix /foo matches /foo/
        ("ing.e2e.test", "/foo/x/y", "foo"),
        ("ing.e2e.test", "/foobar", "default"),      # element-wise: /foo is not a prefix of /foobar
        ("ing.e2e.test", "/foo/bar", "foobar"),      # Prefix /foo/bar/ ignores its trailing slash
        ("ing.e2e.test", "/foo/bar/", "foobar"),
        ("ing.e2e.test", "/foo/bar/baz", "foobar"),  # longest prefix wins
        ("ing.e2e.test", "/foo/barn", "foo"),
        ("ing.e2e.test", "/mixed", "exact"),         # Exact beats Prefix on the same path
        ("ing.e2e.test", "/mixed/x", "prefix"),
        ("ing.e2e.test", "/impl/x", "prefix"),       # ImplementationSpecific = Prefix
        ("ing.e2e.test", "/implx", "default"),
        ("ING.E2E.Test", "/foo", "foo"),             # host names are case-insensitive
        ("ing.e2e.test:80", "/foo", "foo"),          # a port in Host is not part of the name
        ("ing.e2e.test", "/merged/a", "merged"),     # two Ingresses for one host merge
        ("ing.e2e.test", "/other", "default"),       # another class's Ingress is ignored
        ("a.wild.e2e.test", "/x", "wild"),           # wildcard: exactly one label
        ("b.wild.e2e.test", "/", "wild"),
        ("a.b.wild.e2e.test", "/x", "default"),
        ("wild.e2e.test", "/x", "default"),
        ("named.e2e.test", "/n", "named"),           # service port by name
        ("unknown.e2e.test", "/anything", "default"),
    ]
    got = [(h, pth, ask(p.http_url, pth, h)) for h, pth, _ in cases]
    wrong = [(h, pth, want, g) for (h, pth, want), (_, _, g) in zip(cases, got) if g != (200, want)]
    assert not wrong, "host/path cases routed wrongly (host, path, want, got):\n" + "\n".join(map(repr, wrong))

    # The conflicting host+path went to the older Ingress; the newer one gets a Warning Event.
    assert ask(p.http_url, "/foo", "ing.e2e.test") == (200, "foo")
    names_live = route_names(p.admin_url)
    assert any(n.startswith("%s/zz-older/" % namespace) for n in names_live)
    assert not any(n.startswith("%s/other-class/" % namespace) for n in names_live)

    def conflict_event():
        evs = cp.kubectl_json("get", "events", "-n", namespace,
                              "--field-selector", "involvedObject.name=aa-newer,type=Warning")["items"]
        return [e for e in evs if e["reason"] == "Conflict"]

    evs = wait_until(conflict_event, timeout=20, what="Conflict Event on aa-newer")
    assert "zz-older" in evs[0]["message"], evs[0]["message"]

    # Deleting the older Ingress hands /foo to the newer one.
    cp.kubectl("delete", "ingress", "zz-older", "-n", namespace)
    wait_until(lambda: ask(p.http_url, "/foo", "ing.e2e.test") == (200, "loser"), what="/foo to aa-newer")
    assert ask(p.http_url, "/exact", "ing.e2e.test")[0] == 404


def _tls_secret(ns, name, host, tmp_path):
    import base64
    import subprocess
    key, crt = tmp_path / (name + ".key"), tmp_path / (name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(crt), "-subj", "/CN=" + host, "-days", "1",
                    "-addext", "subjectAltName=DNS:" + host], check=True, capture_output=True)
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
              "metadata": {"name": name, "namespace": ns},
              "data": {"tls.crt": base64.b64encode(crt.read_bytes()).decode(),
                       "tls.key": base64.b64encode(key.read_bytes()).decode()}}
    return secret, crt


def _https_get(port, host, path, cafile):
    """GET over TLS to 127.0.0.1:port with SNI `host`, verified against `cafile`.
    Returns (status, backend name or None, peer certificate serial)."""
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            serial = s.getpeercert()["serialNumber"]
            s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    try:
        name = json.loads(body)["backend"]
    except ValueError:
        name = None
    return status, name, serial


def test_tls_secret_sni_redirect_and_rotation(control_plane, crds, namespace, ingress_class, backends, service,
                                              portico, tmp_path):
    cp = control_plane
    (a,) = backends(["alpha"])
    service("svc-a", [a])
    host = "tls.e2e.test"
    secret, crt = _tls_secret(namespace, "api-tls", host, tmp_path)
    cp.apply([secret, apiroute("secure", namespace, [("main", "/", "svc-a", 80)], hosts=[host],
                               tls={"secretName": "api-tls", "redirectHTTP": True})])
    p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class, "--https-redirect-port", "443")
    status, name, serial1 = wait_until(lambda: _https_get(p.https_port, host, "/s", crt), what="https live")
    assert (status, name) == (200, "alpha")
    r = requests.get(p.http_url + "/s?x=1", headers={"Host": host}, allow_redirects=False, timeout=5)
    assert r.status_code == 308 and r.headers["Location"] == "https://%s/s?x=1" % host, (r.status_code, r.headers)

    # Rotating the Secret swaps the certificate without a restart.
    (tmp_path / "v2").mkdir()
    secret2, crt2 = _tls_secret(namespace, "api-tls", host, tmp_path / "v2")
    cp.apply(secret2)
    status, name, serial2 = wait_until(lambda: (lambda g: g if g[2] != serial1 else None)(
        _https_get(p.https_port, host, "/s", crt2)), what="rotated certificate served")
    assert (status, name) == (200, "alpha") and serial2 != serial1


def test_watch_namespaces_and_multiple_endpointslices(control_plane, crds, namespace, ingress_class, backends,
                                                      service, portico):
    cp = control_plane
    other = namespace[:50] + "-o"
    unwatched = namespace[:50] + "-u"
    for ns in (other, unwatched):
        cp.kubectl("create", "namespace", ns)
    try:
        a, b, c = backends(["alpha", "beta", "gamma"])
        # One Service with two EndpointSlices: endpoints of both are used.
        svc, slc = service_with_endpoints(cp, namespace, "svc", [a, b], apply=False)
        _, slc2 = service_with_endpoints(cp, namespace, "svc", [c], apply=False)
        slc2["metadata"]["name"] = "svc-e2e-2"
        cp.apply([svc, slc, slc2])
        service_with_endpoints(cp, other, "svc", [b])
        service_with_endpoints(cp, unwatched, "svc", [c])
        cp.apply([apiroute("r", namespace, [("main", "/one", "svc", 80)], hosts=[HOST]),
                  apiroute("r", other, [("main", "/two", "svc", 80)], hosts=[HOST]),
                  apiroute("r", unwatched, [("main", "/three", "svc", 80)], hosts=[HOST])])
        p = portico("--watch-namespace", namespace, "--watch-namespace", other, "--ingress-class", ingress_class)
        wait_until(lambda: ask(p.http_url, "/two", HOST) == (200, "beta"), what="second watched namespace")
        wait_until(lambda: len(endpoints_of(p.admin_url, "%s/r/main" % namespace) or []) == 3,
                   what="endpoints from both slices")
        assert spread(p, "/one", 30) == {(200, "alpha"): 10, (200, "beta"): 10, (200, "gamma"): 10}
        assert ask(p.http_url, "/three", HOST)[0] == 404
        assert route_names(p.admin_url) == {"%s/r/main" % namespace, "%s/r/main" % other}
        # Removing the second slice drops its endpoint.
        cp.kubectl("delete", "endpointslice", "svc-e2e-2", "-n", namespace)
        wait_until(lambda: len(endpoints_of(p.admin_url, "%s/r/main" % namespace) or []) == 2,
                   what="endpoint of the deleted slice dropped")
        assert spread(p, "/one", 20) == {(200, "alpha"): 10, (200, "beta"): 10}
    finally:
        for ns in (other, unwatched):
            cp.kubectl("delete", "-n", ns, "apiroutes.portico.dev,services,endpointslices.discovery.k8s.io", "--all",
                       "--wait=false", check=False)
            cp.kubectl("delete", "namespace", ns, "--wait=false", check=False)
