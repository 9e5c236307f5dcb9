"""Gateway API end to end: the standard-channel CRDs (v1.6.3, vendored in
helm/portico/gateway-api-crds/) on a real kube-apiserver, a GatewayClass, Gateway and
HTTPRoute with real backends through a real portico process; traffic plus the status the
spec requires, a ReferenceGrant added and removed, and a Gateway API route side by side with
an Ingress on one host."""

from __future__ import annotations

import time

import pytest
import requests

from k8s import ask, service_with_endpoints, wait_until

pytestmark = pytest.mark.timeout(300)

GROUP = "gateway.networking.k8s.io"
API = GROUP + "/v1"
HOST = "shop.gw.e2e.test"


@pytest.fixture
def other_namespace(control_plane, namespace):
    name = (namespace + "-b")[-63:]
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "-n", name, "--ignore-not-found", "--wait=false",
                          "services,endpointslices.discovery.k8s.io,secrets,referencegrants.gateway.networking.k8s.io", "--all",
                          check=False, timeout=60)
    control_plane.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False, timeout=60)


def condition(conditions, type_):
    for c in conditions or []:
        if c["type"] == type_:
            return c
    return None


def cond_is(conditions, type_, status, reason=None, generation=None):
    c = condition(conditions, type_)
    return bool(c) and c["status"] == status and (reason is None or c["reason"] == reason) and \
        (generation is None or c.get("observedGeneration") == generation)


def get(cp, kind, name, ns=None):
    args = ["get", kind, name] + (["-n", ns] if ns else [])
    return cp.kubectl_json(*args)


def our_parent(route, controller):
    for p in route.get("status", {}).get("parents", []):
        if p["controllerName"] == controller:
            return p
    return None


def route_ok(cp, ns, name, controller, accepted=("True", "Accepted"), resolved=("True", "ResolvedRefs")):
    r = get(cp, "httproute", name, ns)
    p = our_parent(r, controller)
    gen = r["metadata"]["generation"]
    return bool(p) and cond_is(p["conditions"], "Accepted", *accepted, generation=gen) and \
        cond_is(p["conditions"], "ResolvedRefs", *resolved, generation=gen)


def http_route(name, ns, rules, hostnames=(HOST,), section="http"):
    return {"apiVersion": API, "kind": "HTTPRoute", "metadata": {"name": name, "namespace": ns},
            "spec": {"parentRefs": [{"name": "gw", "sectionName": section}], "hostnames": list(hostnames),
                     "rules": rules}}


def rule(prefix, *backends, filters=None, exact=False):
    r = {"matches": [{"path": {"type": "Exact" if exact else "PathPrefix", "value": prefix}}],
         "backendRefs": [dict(b) for b in backends]}
    if filters:
        r["filters"] = filters
    return r


def test_missing_gateway_crds_do_not_break_the_controller(control_plane, namespace, ingress_class, backends, portico):
    """Runs before any test installs the Gateway API CRDs (tests of a file run in order; no
    other e2e file installs them): portico becomes ready and routes Ingresses without them, and
    logs once per kind that it watches nothing. With the CRDs already there (an attached,
    reused control plane) only the first part is checked."""
    cp = control_plane
    (a,) = backends(["alpha"])
    service_with_endpoints(cp, namespace, "svc-a", [a])
    cp.apply({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": namespace},
              "spec": {"ingressClassName": ingress_class, "rules": [{"host": "plain.e2e.test", "http": {"paths": [
                  {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "svc-a", "port": {"number": 80}}}}]}}]}})
    crds = {i["metadata"]["name"] for i in cp.kubectl_json("get", "crd")["items"]}
    p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class)
    wait_until(lambda: ask(p.http_url, "/", "plain.e2e.test") == (200, "alpha"), what="Ingress routed")
    if "httproutes." + GROUP not in crds:
        wait_until(lambda: "HTTPRoute: not served by this cluster" in p.logs(), what="one log line for the missing CRD")
        assert p.logs().count("HTTPRoute: not served by this cluster") == 1


def test_gateway_api_traffic_status_reference_grants_and_ingress_side_by_side(
        control_plane, gateway_crds, namespace, other_namespace, ingress_class, backends, portico):
    cp, ns, ns2 = control_plane, namespace, other_namespace
    controller = "portico.dev/e2e-" + ns[-40:]
    cls = "gc-" + ns[-50:]
    a, b, c = backends(["alpha", "beta", "gamma"])
    service_with_endpoints(cp, ns, "svc-a", [a])
    service_with_endpoints(cp, ns, "svc-b", [b])
    service_with_endpoints(cp, ns2, "svc-c", [c])
    cp.apply({"apiVersion": API, "kind": "GatewayClass", "metadata": {"name": cls},
              "spec": {"controllerName": controller}})
    try:
        cp.apply({"apiVersion": API, "kind": "Gateway", "metadata": {"name": "gw", "namespace": ns},
                  "spec": {"gatewayClassName": cls, "listeners": [
                      {"name": "http", "protocol": "HTTP", "port": 80, "hostname": "*.gw.e2e.test"},
                      {"name": "tcp", "protocol": "TCP", "port": 9000}]}})
        header_filter = [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "X-Env", "value": "prod"}]}}]
        cp.apply(http_route("web", ns, [
            rule("/", {"name": "svc-a", "port": 80}, filters=header_filter),
            rule("/split", {"name": "svc-a", "port": 80, "weight": 0}, {"name": "svc-b", "port": 80, "weight": 1}),
            rule("/cross", {"name": "svc-c", "namespace": ns2, "port": 80})]))
        p = portico("--watch-namespace", ns, "--watch-namespace", ns2, "--ingress-class", ingress_class,
                    "--gateway-controller-name", controller, "--publish-address", "10.9.8.7")

        # Traffic: the header filter reaches the backend; weight 0 takes nothing.
        wait_until(lambda: ask(p.http_url, "/x", HOST) == (200, "alpha"), what="alpha behind /")
        r = requests.get(p.http_url + "/x", headers={"Host": HOST}, timeout=5).json()
        assert r["headers"].get("X-Env") == "prod"
        assert {ask(p.http_url, "/split", HOST) for _ in range(6)} == {(200, "beta")}
        assert ask(p.http_url, "/x", "other.e2e.test")[0] == 404  # outside the route's hostnames
        # The cross-namespace backend is refused without a ReferenceGrant: its requests are
        # answered 500, as the Gateway API asks for an unresolved backendRef.
        assert ask(p.http_url, "/cross", HOST)[0] == 500

        # Status: class accepted, Gateway programmed with addresses and listener conditions.
        wait_until(lambda: cond_is(get(cp, "gatewayclass", cls).get("status", {}).get("conditions"),
                                   "Accepted", "True", "Accepted", 1), what="GatewayClass Accepted")
        gw = wait_until(lambda: (lambda g: g if cond_is(g.get("status", {}).get("conditions"), "Programmed", "True")
                                 else None)(get(cp, "gateway", "gw", ns)), what="Gateway Programmed")
        assert cond_is(gw["status"]["conditions"], "Accepted", "True", "ListenersNotValid", gw["metadata"]["generation"])
        assert gw["status"]["addresses"] == [{"type": "IPAddress", "value": "10.9.8.7"}]
        listeners = {l["name"]: l for l in gw["status"]["listeners"]}
        assert cond_is(listeners["tcp"]["conditions"], "Accepted", "False", "UnsupportedProtocol")
        assert cond_is(listeners["http"]["conditions"], "Programmed", "True")
        assert cond_is(listeners["http"]["conditions"], "Conflicted", "False", "NoConflicts")
        assert listeners["http"]["supportedKinds"] == [{"group": GROUP, "kind": "HTTPRoute"}]
        wait_until(lambda: {l["name"]: l for l in get(cp, "gateway", "gw", ns)["status"]["listeners"]}["http"]
                   ["attachedRoutes"] == 1, what="attachedRoutes 1")
        wait_until(lambda: route_ok(cp, ns, "web", controller, resolved=("False", "RefNotPermitted")),
                   what="HTTPRoute Accepted, ResolvedRefs RefNotPermitted")

        # A ReferenceGrant in the backend's namespace: the backend resolves and serves.
        grant = {"apiVersion": API, "kind": "ReferenceGrant", "metadata": {"name": "from-" + ns[-40:], "namespace": ns2},
                 "spec": {"from": [{"group": GROUP, "kind": "HTTPRoute", "namespace": ns}],
                          "to": [{"group": "", "kind": "Service"}]}}
        cp.apply(grant)
        wait_until(lambda: ask(p.http_url, "/cross", HOST) == (200, "gamma"), what="gamma through the grant")
        wait_until(lambda: route_ok(cp, ns, "web", controller), what="ResolvedRefs True after the grant")
        # Removed: refused again.
        cp.kubectl("delete", "referencegrant", grant["metadata"]["name"], "-n", ns2)
        wait_until(lambda: ask(p.http_url, "/cross", HOST)[0] == 500, what="500 after the grant is gone")
        wait_until(lambda: route_ok(cp, ns, "web", controller, resolved=("False", "RefNotPermitted")),
                   what="RefNotPermitted after the grant is gone")

        # Side by side with an Ingress on the same host: its own path serves; the path the older
        # HTTPRoute already holds stays the HTTPRoute's (documented: the older claimant wins).
        time.sleep(1.1)  # creationTimestamp has one-second resolution: make the Ingress newer
        cp.apply({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "legacy", "namespace": ns},
                  "spec": {"ingressClassName": ingress_class, "rules": [{"host": HOST, "http": {"paths": [
                      {"path": "/legacy", "pathType": "Prefix",
                       "backend": {"service": {"name": "svc-b", "port": {"number": 80}}}},
                      {"path": "/", "pathType": "Prefix",
                       "backend": {"service": {"name": "svc-b", "port": {"number": 80}}}}]}}]}})
        wait_until(lambda: ask(p.http_url, "/legacy/x", HOST) == (200, "beta"), what="Ingress path beside the HTTPRoute")
        assert ask(p.http_url, "/x", HOST) == (200, "alpha")
        wait_until(lambda: any(e["reason"] == "Conflict" for e in cp.kubectl_json(
            "get", "events", "-n", ns, "--field-selector", "involvedObject.name=legacy")["items"]),
            what="a Conflict Event on the Ingress")

        # Status follows edits: a hostname outside the listener's detaches the route.
        cp.apply(http_route("web", ns, [rule("/", {"name": "svc-a", "port": 80})], hostnames=["shop.elsewhere.test"]))
        wait_until(lambda: route_ok(cp, ns, "web", controller, accepted=("False", "NoMatchingListenerHostname")),
                   what="NoMatchingListenerHostname with the new generation")
        wait_until(lambda: {l["name"]: l for l in get(cp, "gateway", "gw", ns)["status"]["listeners"]}["http"]
                   ["attachedRoutes"] == 0, what="attachedRoutes 0")
        wait_until(lambda: ask(p.http_url, "/x", "shop.elsewhere.test")[0] == 404, what="nothing served off-listener")
        # The Ingress takes "/" once the HTTPRoute no longer claims it.
        wait_until(lambda: ask(p.http_url, "/x", HOST) == (200, "beta"), what="Ingress / after the route detached")

        # Deleted: gone from the table.
        cp.apply(http_route("web", ns, [rule("/", {"name": "svc-a", "port": 80})], hostnames=["a.gw.e2e.test"]))
        wait_until(lambda: ask(p.http_url, "/x", "a.gw.e2e.test") == (200, "alpha"), what="re-attached")
        cp.kubectl("delete", "httproute", "web", "-n", ns)
        wait_until(lambda: ask(p.http_url, "/x", "a.gw.e2e.test")[0] == 404, what="404 after delete")
    finally:
        cp.kubectl("delete", "-n", ns, "--ignore-not-found", "--wait=false",
                   "httproutes.gateway.networking.k8s.io,gateways.gateway.networking.k8s.io,ingresses.networking.k8s.io",
                   "--all", check=False, timeout=60)
        cp.kubectl("delete", "gatewayclass", cls, "--ignore-not-found", "--wait=false", check=False, timeout=60)


def test_gateway_https_listener_serves_its_certificate_through_a_reference_grant(
        control_plane, gateway_crds, namespace, other_namespace, backends, portico, tmp_path):
    from test_controller_routing import _https_get, _tls_secret

    cp, ns, ns2 = control_plane, namespace, other_namespace
    controller = "portico.dev/e2e-" + ns[-40:]
    cls = "gc-" + ns[-50:]
    host = "secure.gw.e2e.test"
    (a,) = backends(["alpha"])
    service_with_endpoints(cp, ns, "svc-a", [a])
    secret, crt = _tls_secret(ns2, "gw-tls", host, tmp_path)  # in another namespace than the Gateway
    cp.apply([secret, {"apiVersion": API, "kind": "GatewayClass", "metadata": {"name": cls},
                       "spec": {"controllerName": controller}}])
    try:
        cp.apply({"apiVersion": API, "kind": "Gateway", "metadata": {"name": "gw", "namespace": ns},
                  "spec": {"gatewayClassName": cls, "listeners": [
                      {"name": "https", "protocol": "HTTPS", "port": 443, "hostname": host,
                       "tls": {"certificateRefs": [{"name": "gw-tls", "namespace": ns2}]}}]}})
        cp.apply(http_route("web", ns, [rule("/", {"name": "svc-a", "port": 80})], hostnames=[host], section="https"))
        p = portico("--watch-namespace", ns, "--watch-namespace", ns2, "--gateway-controller-name", controller)

        def listener():
            g = get(cp, "gateway", "gw", ns)
            ls = g.get("status", {}).get("listeners", [])
            return ls[0] if ls else None

        # No ReferenceGrant: the certificate is refused. The route still attaches (Accepted,
        # counted in attachedRoutes, as the spec asks) but nothing is served for the listener.
        wait_until(lambda: listener() and cond_is(listener()["conditions"], "ResolvedRefs", "False", "RefNotPermitted"),
                   what="listener RefNotPermitted")
        assert cond_is(listener()["conditions"], "Programmed", "False", "Invalid")
        wait_until(lambda: route_ok(cp, ns, "web", controller) and listener()["attachedRoutes"] == 1,
                   what="route attached while the listener is invalid")
        assert requests.get(p.http_url + "/x", headers={"Host": host}, timeout=5).status_code == 404

        # The grant from Gateways of ns: served over TLS with that certificate (SNI).
        cp.apply({"apiVersion": API, "kind": "ReferenceGrant", "metadata": {"name": "gw-certs", "namespace": ns2},
                  "spec": {"from": [{"group": GROUP, "kind": "Gateway", "namespace": ns}],
                           "to": [{"group": "", "kind": "Secret"}]}})
        wait_until(lambda: _https_get(p.https_port, host, "/x", crt)[:2] == (200, "alpha"), what="HTTPS through the Gateway")
        wait_until(lambda: cond_is(listener()["conditions"], "Programmed", "True") and listener()["attachedRoutes"] == 1,
                   what="listener Programmed with one route")
        wait_until(lambda: route_ok(cp, ns, "web", controller), what="route Accepted")
    finally:
        cp.kubectl("delete", "-n", ns, "--ignore-not-found", "--wait=false",
                   "httproutes.gateway.networking.k8s.io,gateways.gateway.networking.k8s.io", "--all", check=False, timeout=60)
        cp.kubectl("delete", "gatewayclass", cls, "--ignore-not-found", "--wait=false", check=False, timeout=60)
