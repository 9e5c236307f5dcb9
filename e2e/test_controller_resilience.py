"""portico against a misbehaving control plane: kube-apiserver restarts (the proxy keeps serving
the last table, the reflectors reconnect and catch up) and etcd compaction (watches resume from
a resourceVersion that is gone: 410, relist, and no update is lost)."""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from k8s import apiroute, ask, route_names, wait_until

pytestmark = pytest.mark.timeout(300)

HOST = "res.e2e.test"


def test_apiserver_restart_keeps_serving_and_catches_up(control_plane, crds, namespace, ingress_class, backends,
                                                        service, portico):
    cp = control_plane
    a, b = backends(["alpha", "beta"])
    service("svc-a", [a])
    service("svc-b", [b])
    cp.apply(apiroute("r", namespace, [("main", "/r", "svc-a", 80)], hosts=[HOST]))
    p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class)
    wait_until(lambda: ask(p.http_url, "/r", HOST) == (200, "alpha"), what="route live")
    version = requests.get(p.admin_url + "/routes", timeout=5).json()["version"]

    # The apiserver goes away (SIGKILL: connections reset, no clean end of the watches).
    cp.stop_apiserver(kill=True)
    try:
        t_end = time.monotonic() + 3
        outage = []
        while time.monotonic() < t_end:
            outage.append(ask(p.http_url, "/r", HOST))
            time.sleep(0.05)
        assert set(outage) == {(200, "alpha")}, "requests failed while the apiserver was down: %s" % set(outage)
        assert requests.get(p.admin_url + "/readyz", timeout=5).status_code == 200
        assert requests.get(p.admin_url + "/routes", timeout=5).json()["version"] == version
    finally:
        cp.start_apiserver()
    assert p.proc.poll() is None, p.logs()[-3000:]

    # An edit made after the restart reaches the proxy.
    t0 = time.monotonic()
    cp.apply(apiroute("r", namespace, [("main", "/r", "svc-b", 80)], hosts=[HOST]))
    wait_until(lambda: ask(p.http_url, "/r", HOST) == (200, "beta"), timeout=45, what="edit after restart live")
    print("\ncatch-up after an apiserver restart: %.2fs from the edit" % (time.monotonic() - t0))
    # A graceful restart with the apiserver down for a while, and an edit right after it.
    cp.restart_apiserver(down=2)
    t0 = time.monotonic()
    cp.apply(apiroute("r2", namespace, [("main", "/r2", "svc-a", 80)], hosts=[HOST]))
    wait_until(lambda: ask(p.http_url, "/r2", HOST) == (200, "alpha"), timeout=45, what="new route after restart")
    print("catch-up after a graceful restart: %.2fs" % (time.monotonic() - t0))
    assert ask(p.http_url, "/r", HOST) == (200, "beta")


def test_compaction_410_relist_loses_no_update(control_plane, crds, namespace, ingress_class, backends, service,
                                               portico):
    cp = control_plane
    a, b = backends(["alpha", "beta"])
    service("svc-a", [a])
    service("svc-b", [b])
    cp.apply([apiroute("keep", namespace, [("main", "/keep", "svc-a", 80)], hosts=[HOST]),
              apiroute("gone", namespace, [("main", "/gone", "svc-a", 80)], hosts=[HOST])])
    p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class)
    wait_until(lambda: ask(p.http_url, "/gone", HOST) == (200, "alpha"), what="routes live")

    # Freeze portico so that its watches cannot see what happens next; the apiserver restart
    # ends every open watch; the changes are made and etcd is compacted past them; then portico
    # resumes with resourceVersions that no longer exist.
    os.kill(p.proc.pid, signal.SIGSTOP)
    try:
        cp.restart_apiserver()
        cp.apply([apiroute("keep", namespace, [("main", "/keep", "svc-b", 80)], hosts=[HOST]),  # edit
                  apiroute("new", namespace, [("main", "/new", "svc-b", 80)], hosts=[HOST])])   # add
        cp.kubectl("delete", "apiroute", "gone", "-n", namespace)                                # delete
        service("svc-a", [b])                                                                     # EndpointSlice edit
        rev = cp.compact_etcd()
    finally:
        os.kill(p.proc.pid, signal.SIGCONT)
    t0 = time.monotonic()

    wait_until(lambda: ask(p.http_url, "/new", HOST) == (200, "beta"), timeout=45, what="added route live")
    wait_until(lambda: ask(p.http_url, "/gone", HOST)[0] == 404, timeout=10, what="deleted route gone")
    print("\nrelist after compaction at revision %d: %.2fs to the new table" % (rev, time.monotonic() - t0))
    assert ask(p.http_url, "/keep", HOST) == (200, "beta")
    assert route_names(p.admin_url) == {"%s/keep/main" % namespace, "%s/new/main" % namespace}
    # The 410 path really ran (rather than a watch that happened to see the events).
    wait_until(lambda: "APIRoute: resourceVersion" in p.logs() and "relisting" in p.logs(), timeout=5,
               what="410 relist in portico's log")
    # And the watch works after the relist.
    cp.apply(apiroute("later", namespace, [("main", "/later", "svc-a", 80)], hosts=[HOST]))
    wait_until(lambda: ask(p.http_url, "/later", HOST) == (200, "beta"), timeout=20, what="watch after relist")


def _observed_generation(cp, ns, name):
    obj = cp.kubectl_json("get", "apiroute", name, "-n", ns)
    gens = {c.get("observedGeneration") for c in obj.get("status", {}).get("conditions", [])}
    return gens == {obj["metadata"]["generation"]}


def test_status_writes_resume_after_apiserver_crash(control_plane, crds, namespace, ingress_class, backends, service,
                                                    portico):
    cp = control_plane
    a, b = backends(["alpha", "beta"])
    service("svc-a", [a])
    service("svc-b", [b])
    cp.apply(apiroute("r", namespace, [("main", "/r", "svc-a", 80)], hosts=[HOST]))
    p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class)
    wait_until(lambda: _observed_generation(cp, namespace, "r"), timeout=20, interval=0.2, what="status at gen 1")

    cp.stop_apiserver(kill=True)
    cp.start_apiserver()
    cp.apply(apiroute("r", namespace, [("main", "/r", "svc-b", 80)], hosts=[HOST]))
    wait_until(lambda: ask(p.http_url, "/r", HOST) == (200, "beta"), timeout=45, what="edit after restart live")
    t0 = time.monotonic()
    try:
        # The edit is live: its status should follow within a couple of status-writer retries.
        wait_until(lambda: _observed_generation(cp, namespace, "r"), timeout=15, interval=0.2,
                   what="status at gen 2 after the apiserver crash")
    finally:
        failures = [ln for ln in p.logs().splitlines() if "Failed to write request body" in ln]
        print("\nstatus after the crash: %.1fs, %d failed PATCHes" % (time.monotonic() - t0, len(failures)))
