"""Invalid APIRoutes: the API server's schema refuses the structurally bad ones; portico marks the
semantically bad ones with status conditions and Warning Events, and keeps serving the rest."""

from __future__ import annotations

import copy

import pytest
import yaml

from k8s import apiroute, ask, route_names, wait_until

pytestmark = pytest.mark.timeout(240)

HOST = "val.e2e.test"


def _rule(name, path="/x", path_type="Prefix", **extra):
    return {"name": name, "match": {"path": {"type": path_type, "value": path}},
            "backends": [{"service": "svc", "port": 80}], **extra}


@pytest.mark.parametrize("case,spec_rules,expect", [
    ("bad-path-type", [_rule("r", path_type="Glob")], ["spec.rules[0].match.path.type", "Unsupported value", "Glob"]),
    ("two-auth-methods", [_rule("r", auth={"apiKey": {"header": "X-Key", "secretName": "k"},
                                           "basic": {"secretName": "u"}})],
     ["at most one of apiKey, basic, jwt or external may be set"]),
    ("duplicate-rule-names", [_rule("same", "/a"), _rule("same", "/b")],
     ["rule names must be unique within an APIRoute"]),
    ("relative-prefix-path", [_rule("r", path="no-slash")], ["must start with '/'"]),
])
def test_schema_refuses_invalid_apiroute(control_plane, crds, namespace, case, spec_rules, expect):
    cp = control_plane
    obj = apiroute(case, namespace, copy.deepcopy(spec_rules), hosts=[HOST])
    res = cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(obj), check=False)
    assert res.returncode != 0, "the API server accepted an invalid APIRoute (%s):\n%s" % (case, res.stdout)
    out = res.stdout + res.stderr
    assert "is invalid" in out, out
    for text in expect:
        assert text in out, "validation message lacks %r:\n%s" % (text, out)
    gone = cp.kubectl("get", "apiroute", case, "-n", namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr, gone


def _conditions(cp, ns, name):
    obj = cp.kubectl_json("get", "apiroute", name, "-n", ns)
    conds = {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}
    return obj, conds


def _warning_events(cp, ns, name):
    return cp.kubectl_json("get", "events", "-n", ns, "--field-selector",
                           "involvedObject.name=%s,involvedObject.kind=APIRoute,type=Warning" % name)["items"]


def test_semantically_bad_apiroutes_get_conditions_and_events(control_plane, crds, namespace, ingress_class,
                                                             backends, service, portico):
    cp = control_plane
    (good_b,) = backends(["good"])
    service("svc", [good_b])
    cp.apply([
        apiroute("good", namespace, [("main", "/good", "svc", 80)], hosts=[HOST]),
        apiroute("no-service", namespace, [("main", "/nosvc", "missing-svc", 80)], hosts=[HOST]),
        apiroute("no-secret", namespace, [("main", "/nosecret", "svc", 80)], hosts=["tls.e2e.test"],
                 tls={"secretName": "missing-tls"}),
        apiroute("bad-regex", namespace, [{"name": "re", "match": {"path": {"type": "RegularExpression",
                                                                           "value": "/re/(unclosed"}},
                                           "backends": [{"service": "svc", "port": 80}]}], hosts=[HOST]),
        apiroute("bad-port-name", namespace, [("main", "/badport", "svc", "no-such-port")], hosts=[HOST]),
    ])
    p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class)

    # The good route serves, whatever the others did.
    wait_until(lambda: ask(p.http_url, "/good", HOST) == (200, "good"), what="good route live")

    expectations = {
        # name: (Accepted, ResolvedRefs, reason of the False one, text in its message, Programmed)
        "good": ("True", "True", None, None, "True"),
        "no-service": ("True", "False", "BackendNotFound", "missing-svc", "True"),
        "no-secret": ("True", "False", "SecretNotFound", "missing-tls", "True"),
        "bad-regex": ("False", "True", "InvalidRegex", "(unclosed", "False"),
        "bad-port-name": ("True", "False", "BackendNotFound", "no-such-port", "True"),
    }

    def statuses_settled():
        out = {}
        for name in expectations:
            obj, conds = _conditions(cp, namespace, name)
            if not all(t in conds for t in ("Accepted", "ResolvedRefs", "Programmed")):
                return None
            gen = obj["metadata"]["generation"]
            if any(c.get("observedGeneration") != gen for c in conds.values()):
                return None
            out[name] = conds
        return out

    got = wait_until(statuses_settled, timeout=30, interval=0.3, what="status conditions on all APIRoutes")
    for name, (accepted, resolved, reason, text, programmed) in expectations.items():
        c = got[name]
        assert (c["Accepted"]["status"], c["ResolvedRefs"]["status"], c["Programmed"]["status"]) == \
            (accepted, resolved, programmed), (name, c)
        if reason:
            bad = c["Accepted"] if accepted == "False" else c["ResolvedRefs"]
            assert bad["reason"] == reason, (name, bad)
            assert text in bad["message"], (name, bad)
            # ... and a Warning Event with the same reason, written by portico
            evs = wait_until(lambda: [e for e in _warning_events(cp, namespace, name) if e["reason"] == reason],
                             timeout=20, what="Warning Event %s on %s" % (reason, name))
            assert text in evs[0]["message"], evs[0]
            assert evs[0]["source"].get("component") == "portico" or \
                evs[0].get("reportingComponent") == "portico.dev/ingress-controller", evs[0]
        else:
            assert c["Accepted"]["reason"] == "Accepted" and c["ResolvedRefs"]["reason"] == "ResolvedRefs", c
            assert _warning_events(cp, namespace, name) == []

    # Through the proxy: the unresolved backend answers 503, the rejected rule is not routed.
    assert ask(p.http_url, "/nosvc", HOST)[0] == 503
    assert ask(p.http_url, "/badport", HOST)[0] == 503
    assert ask(p.http_url, "/re/x", HOST)[0] == 404
    # A missing TLS Secret leaves the host on plain HTTP.
    assert ask(p.http_url, "/nosecret", "tls.e2e.test") == (200, "good")
    names = route_names(p.admin_url)
    assert "%s/good/main" % namespace in names and not any("/bad-regex/" in n for n in names), names

    # Fixing the bad one flips its conditions to True and makes it live; the good one never stopped.
    service("missing-svc", [good_b])
    wait_until(lambda: ask(p.http_url, "/nosvc", HOST) == (200, "good"), what="no-service fixed")
    wait_until(lambda: _conditions(cp, namespace, "no-service")[1]["ResolvedRefs"]["status"] == "True",
               what="ResolvedRefs True after the Service appeared")
    assert ask(p.http_url, "/good", HOST) == (200, "good")
