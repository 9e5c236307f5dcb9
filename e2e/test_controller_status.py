"""Status written back by portico: Ingress status.loadBalancer from --publish-address, APIRoute
conditions with observedGeneration, and leader election between two portico processes (only the
Lease holder writes; SIGTERM/SIGKILL of the leader hands over to the other replica)."""

from __future__ import annotations

import re
import signal
import time

import pytest

from k8s import apiroute, ask, wait_until

pytestmark = pytest.mark.timeout(300)

HOST = "st.e2e.test"
LEASE_DURATION = 15.0  # LeaderElectionConfig::leaseDuration
WRITES = re.compile(r"status: (\d+) writes")


def conditions(cp, ns, name):
    obj = cp.kubectl_json("get", "apiroute", name, "-n", ns)
    return obj, {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}


def all_true_at_generation(cp, ns, name):
    obj, conds = conditions(cp, ns, name)
    gen = obj["metadata"]["generation"]
    ok = len(conds) == 3 and all(c["status"] == "True" and c.get("observedGeneration") == gen for c in conds.values())
    return (obj, conds) if ok else None


def test_ingress_status_and_apiroute_conditions(control_plane, crds, namespace, ingress_class, backends, service,
                                                portico):
    cp = control_plane
    a, b = backends(["alpha", "beta"])
    service("svc-a", [a])
    service("svc-b", [b])
    ing = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": "web", "namespace": namespace},
           "spec": {"ingressClassName": ingress_class, "rules": [{"host": "ing-st.e2e.test", "http": {"paths": [
               {"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "svc-a", "port": {"number": 80}}}}]}}]}}
    foreign = {**ing, "metadata": {"name": "foreign", "namespace": namespace},
               "spec": {**ing["spec"], "ingressClassName": "someone-else"}}
    cp.apply([ing, foreign, apiroute("api", namespace, [("main", "/api", "svc-a", 80)], hosts=[HOST]),
              apiroute("theirs", namespace, [("main", "/theirs", "svc-a", 80)], hosts=[HOST],
                       ingressClassName="someone-else")])
    p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class,
                "--publish-address", "203.0.113.10,lb.e2e.test")

    def lb(name):
        return cp.kubectl_json("get", "ingress", name, "-n", namespace).get("status", {}) \
            .get("loadBalancer", {}).get("ingress")

    got = wait_until(lambda: lb("web"), timeout=20, what="Ingress status.loadBalancer")
    assert got == [{"ip": "203.0.113.10"}, {"hostname": "lb.e2e.test"}]
    assert ask(p.http_url, "/", "ing-st.e2e.test") == (200, "alpha")
    assert lb("foreign") in (None, []), "status written on another class's Ingress"

    obj1, c1 = wait_until(lambda: all_true_at_generation(cp, namespace, "api"), timeout=20,
                          what="APIRoute conditions True at generation 1")
    assert obj1["metadata"]["generation"] == 1
    # Another class's APIRoute: not routed, and its status is not ours to write.
    assert ask(p.http_url, "/theirs", HOST)[0] == 404
    assert "status" not in cp.kubectl_json("get", "apiroute", "theirs", "-n", namespace)
    assert {t: c["reason"] for t, c in c1.items()} == \
        {"Accepted": "Accepted", "ResolvedRefs": "ResolvedRefs", "Programmed": "Programmed"}

    # An edit bumps metadata.generation; the conditions follow with observedGeneration 2.
    cp.apply(apiroute("api", namespace, [("main", "/api", "svc-b", 80)], hosts=[HOST]))
    obj2, c2 = wait_until(lambda: all_true_at_generation(cp, namespace, "api"), timeout=20, interval=0.2,
                          what="APIRoute conditions True at generation 2")
    assert obj2["metadata"]["generation"] == 2
    assert all(c["observedGeneration"] == 2 for c in c2.values())
    # Status stayed True, so the transition time did not move.
    assert c2["Accepted"]["lastTransitionTime"] == c1["Accepted"]["lastTransitionTime"]
    assert ask(p.http_url, "/api", HOST) == (200, "beta")

    # A break flips Programmed/ResolvedRefs and the generation is recorded again.
    cp.apply(apiroute("api", namespace, [("main", "/api", "svc-gone", 80)], hosts=[HOST]))

    def broken():
        obj, c = conditions(cp, namespace, "api")
        return c if c.get("ResolvedRefs", {}).get("observedGeneration") == 3 else None

    c3 = wait_until(broken, timeout=20, interval=0.2, what="conditions at generation 3")
    assert (c3["ResolvedRefs"]["status"], c3["ResolvedRefs"]["reason"]) == ("False", "BackendNotFound")
    assert c3["ResolvedRefs"]["lastTransitionTime"] >= c2["ResolvedRefs"]["lastTransitionTime"]


def lease(cp, ns):
    r = cp.kubectl("get", "lease", "portico-leader", "-n", ns, "-o", "json", check=False)
    if r.returncode != 0:
        return None
    import json
    return json.loads(r.stdout)["spec"]


def portico_events(cp, ns, name):
    evs = cp.kubectl_json("get", "events", "-n", ns, "--field-selector",
                          "involvedObject.name=%s,involvedObject.kind=APIRoute" % name)["items"]
    return [e for e in evs if e.get("reportingComponent") == "portico.dev/ingress-controller"]


def writes_in(p):
    return sum(int(n) for n in WRITES.findall(p.logs()))


def test_leader_election_single_writer_and_takeover(control_plane, crds, namespace, ingress_class, backends,
                                                    service, portico):
    cp = control_plane
    (a,) = backends(["alpha"])
    service("svc-a", [a])
    args = ("--watch-namespace", namespace, "--ingress-class", ingress_class, "--leader-elect")
    procs = {}
    for ident in ("portico-a", "portico-b"):
        procs[ident] = portico(*args, env={"POD_NAMESPACE": namespace, "POD_NAME": ident})

    spec = wait_until(lambda: (lease(cp, namespace) or {}).get("holderIdentity") in procs and lease(cp, namespace),
                      timeout=20, what="Lease portico-leader acquired")
    leader = spec["holderIdentity"]
    follower = next(i for i in procs if i != leader)
    assert spec["leaseDurationSeconds"] == int(LEASE_DURATION)
    print("\nleader %s, follower %s" % (leader, follower))

    # One object with a problem: conditions plus exactly one Warning Event, both from the leader.
    cp.apply(apiroute("r1", namespace, [("main", "/r1", "svc-missing", 80)], hosts=[HOST]))
    wait_until(lambda: conditions(cp, namespace, "r1")[1].get("ResolvedRefs", {}).get("status") == "False",
               timeout=20, what="r1 conditions")
    evs = wait_until(lambda: portico_events(cp, namespace, "r1"), timeout=20, what="r1 Event")
    time.sleep(1.5)  # a follower that wrongly writes would add its own Event within a status pass
    evs = portico_events(cp, namespace, "r1")
    assert len(evs) == 1 and evs[0]["reportingInstance"] == leader, evs
    # Every replica serves traffic, only the leader writes.
    for p in procs.values():
        assert ask(p.http_url, "/r1", HOST)[0] == 503
    assert writes_in(procs[leader]) >= 2, procs[leader].logs()[-3000:]
    assert writes_in(procs[follower]) == 0, procs[follower].logs()[-3000:]
    assert "became leader" not in procs[follower].logs()

    # SIGTERM the leader: it releases the Lease and the follower takes over, well within the
    # lease duration, then writes status and Events for a new object.
    transitions = spec.get("leaseTransitions", 0)
    t0 = time.monotonic()
    assert procs[leader].stop() == 0
    wait_until(lambda: (lease(cp, namespace) or {}).get("holderIdentity") == follower, timeout=LEASE_DURATION,
               interval=0.05, what="takeover by %s after SIGTERM" % follower)
    takeover = time.monotonic() - t0
    print("takeover after SIGTERM of the leader: %.2fs" % takeover)
    assert takeover < LEASE_DURATION
    assert lease(cp, namespace)["leaseTransitions"] >= transitions + 1

    cp.apply(apiroute("r2", namespace, [("main", "/r2", "svc-a", 80)], hosts=[HOST]))
    wait_until(lambda: all_true_at_generation(cp, namespace, "r2"), timeout=20, what="r2 status by the new leader")
    cp.apply(apiroute("r3", namespace, [("main", "/r3", "svc-missing", 80)], hosts=[HOST]))
    evs = wait_until(lambda: portico_events(cp, namespace, "r3"), timeout=20, what="r3 Event by the new leader")
    assert [e["reportingInstance"] for e in evs] == [follower]
    assert ask(procs[follower].http_url, "/r2", HOST) == (200, "alpha")

    # SIGKILL (no release): a third replica must wait for the lease to expire, then take it.
    third = portico(*args, env={"POD_NAMESPACE": namespace, "POD_NAME": "portico-c"})
    time.sleep(0.5)
    assert lease(cp, namespace)["holderIdentity"] == follower
    procs[follower].proc.send_signal(signal.SIGKILL)
    t0 = time.monotonic()
    wait_until(lambda: (lease(cp, namespace) or {}).get("holderIdentity") == "portico-c",
               timeout=LEASE_DURATION + 10, interval=0.1, what="takeover by portico-c after SIGKILL")
    takeover_kill = time.monotonic() - t0
    print("takeover after SIGKILL of the leader: %.2fs (lease %.0fs)" % (takeover_kill, LEASE_DURATION))
    # Within the lease duration plus one jittered retry period (2s * up to 2.2).
    assert takeover_kill < LEASE_DURATION + 5
    cp.apply(apiroute("r4", namespace, [("main", "/r4", "svc-a", 80)], hosts=[HOST]))
    wait_until(lambda: all_true_at_generation(cp, namespace, "r4"), timeout=20, what="r4 status by portico-c")
    assert ask(third.http_url, "/r4", HOST) == (200, "alpha")


CONFLICTS = re.compile(r"status: \d+ writes, \d+ to retry, (\d+) conflicts")
N_STREAM = 20
PACE = 0.2  # seconds between paced edits


def programmed_generation(obj):
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == "Programmed":
            return c.get("observedGeneration")
    return None


def test_status_keeps_up_with_a_stream_of_edits(control_plane, crds, namespace, ingress_class, backends, service,
                                                portico):
    """Regression (issue 15): with a resourceVersion precondition on the status PATCH, every
    write during a stream of edits got 409 and was dropped, so Programmed stayed stale; and
    the reconciler's quiet window held renders back while edits kept coming.
    Phase 1: 20 edits paced like `kubectl apply` in a loop (one per 200 ms, about what one
    kubectl call takes): each edit finds Programmed at most one generation behind. Phase 2: 20 back-to-back edits: Programmed
    catches up with metadata.generation soon after the last one. No status PATCH gets 409."""
    cp = control_plane
    (a,) = backends(["alpha"])
    service("svc-a", [a])
    cp.apply(apiroute("stream", namespace, [("main", "/s0", "svc-a", 80)], hosts=[HOST]))
    p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class, "--access-log", "false")
    wait_until(lambda: all_true_at_generation(cp, namespace, "stream"), timeout=20, what="status at generation 1")
    path = "/apis/portico.dev/v1alpha1/namespaces/%s/apiroutes/stream" % namespace
    edit_no = [0]

    def edit():
        edit_no[0] += 1
        i = edit_no[0]
        patch = {"spec": {"rules": [{"name": "main", "match": {"path": {"type": "Prefix", "value": "/s%d" % i}},
                                     "backends": [{"service": "svc-a", "port": 80}]}]}}
        r = cp.api("PATCH", path, json=patch, headers={"Content-Type": "application/merge-patch+json"})
        assert r.status_code == 200, r.text
        obj = r.json()
        # The response carries the new generation and the status as it was when the edit landed.
        return obj["metadata"]["generation"], obj["metadata"]["generation"] - (programmed_generation(obj) or 0)

    paced = []
    for _ in range(N_STREAM):
        t = time.monotonic()
        paced.append(edit()[1])
        time.sleep(max(0.0, PACE - (time.monotonic() - t)))
    burst = [edit()[1] for _ in range(N_STREAM)]
    t_last = time.monotonic()
    final = 2 * N_STREAM + 1

    def caught_up():
        obj = cp.api("GET", path).json()
        return obj if programmed_generation(obj) == obj["metadata"]["generation"] == final else None

    obj = wait_until(caught_up, timeout=10, interval=0.005, what="Programmed.observedGeneration == generation")
    catch_up = time.monotonic() - t_last
    conds = {c["type"]: c for c in obj["status"]["conditions"]}
    assert all(c["status"] == "True" and c["observedGeneration"] == final for c in conds.values()), conds
    assert ask(p.http_url, "/s%d" % (2 * N_STREAM), HOST) == (200, "alpha")
    logs = p.logs()
    conflicts = sum(int(n) for n in CONFLICTS.findall(logs))
    writes = writes_in(p)
    print("\nstatus writes %d, 409s %d; lag (generation - Programmed.observedGeneration) when each edit landed: "
          "paced (%.0f ms) %s; back-to-back %s; caught up %.0f ms after the last edit" %
          (writes, conflicts, PACE * 1e3, paced, burst, catch_up * 1e3))
    # No write lost to an edit: the writer sends no precondition that can go stale.
    assert conflicts == 0, logs[-3000:]
    assert "(409)" not in logs, logs[-3000:]
    # Status kept up while edits kept coming, not only once they stopped.
    assert max(paced[1:]) <= 1, paced
    # Back-to-back, status is written between edits again and again (9-18 distinct
    # observedGenerations in 60 runs). Either old behaviour shows a single one: a quiet window
    # renders nothing until the edits stop, and a precondition loses every write to the next edit.
    observed = {final - N_STREAM + 1 + k - lag for k, lag in enumerate(burst)}  # burst edit k: generation N_STREAM + 2 + k
    assert len(observed) >= 5, burst
    assert writes >= N_STREAM
    # Bounded wait for a busy CI machine; the figure printed above is the real one (target 200 ms).
    assert catch_up < 2.0, catch_up
