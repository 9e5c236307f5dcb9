"""Numbers (printed; the assertions are loose bounds, this is not a benchmark): event-to-live
latency over 100 APIRoute edits, and for 5,000 Ingresses the time from portico's start to the
first table holding all of them, plus portico's resident memory."""

from __future__ import annotations

import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from k8s import apiroute, ask, metric, routes_of, wait_until

pytestmark = pytest.mark.timeout(600)

HOST = "perf.e2e.test"
N_EDITS = 100
N_INGRESSES = 5000


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def rss_kib(pid: int) -> int:
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def test_event_to_live_latency(control_plane, crds, namespace, ingress_class, backends, service, portico):
    cp = control_plane
    (a,) = backends(["alpha"])
    service("svc-a", [a])
    cp.apply(apiroute("lat", namespace, [("main", "/v0", "svc-a", 80)], hosts=[HOST]))
    p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class, "--access-log", "false")
    wait_until(lambda: ask(p.http_url, "/v0", HOST) == (200, "alpha"), what="first route live")
    path = "/apis/portico.dev/v1alpha1/namespaces/%s/apiroutes/lat" % namespace
    s = requests.Session()
    latencies = []
    for i in range(1, N_EDITS + 1):
        patch = {"spec": {"rules": [{"name": "main", "match": {"path": {"type": "Prefix", "value": "/v%d" % i}},
                                     "backends": [{"service": "svc-a", "port": 80}]}]}}
        r = cp.api("PATCH", path, data=json.dumps(patch), headers={"Content-Type": "application/merge-patch+json"})
        assert r.status_code == 200, r.text
        t0 = time.monotonic()
        deadline = t0 + 10
        while True:
            got = s.get(p.http_url + "/v%d" % i, headers={"Host": HOST}, timeout=5)
            if got.status_code == 200:
                break
            assert time.monotonic() < deadline, "edit %d not live after 10s" % i
            time.sleep(0.002)
        latencies.append(time.monotonic() - t0)
        assert got.json()["backend"] == "alpha"
    p50, p99 = pct(latencies, 50), pct(latencies, 99)
    published = metric(p.admin_url, "portico_config_publish_latency_seconds_count")
    lat_sum = metric(p.admin_url, "portico_config_publish_latency_seconds_sum")
    print("\nevent->live over %d APIRoute edits (API write returned -> request routed): p50 %.1f ms, p99 %.1f ms, "
          "max %.1f ms, mean %.1f ms; portico's own publish latency mean %.1f ms over %d publishes" %
          (N_EDITS, p50 * 1e3, p99 * 1e3, max(latencies) * 1e3, statistics.mean(latencies) * 1e3,
           1e3 * lat_sum / published, published))
    # The reconciler renders the first change after a quiet period at once (no quiet window
    # any more): live well under a second even on a busy machine.
    assert p50 < 1.0, p50
    assert p99 < 2.0, p99
    assert published >= N_EDITS
    assert metric(p.admin_url, "portico_table_version") >= N_EDITS + 1


def _measure_edits(cp, p, host, path, n_edits, edit_body):
    """Edits one object n_edits times; returns each edit's latency (API write returned -> routed).
    Polls on a fresh connection each time: on a reused keep-alive connection every proxied 200
    took a steady ~44 ms in probes (a stall on the data path, not the controller's), which each
    sample would carry. The figures still include the first proxied request after a table swap,
    which took up to ~50 ms in probes while the table itself was live within ~10 ms."""
    latencies = []
    for i in range(1, n_edits + 1):
        r = cp.api("PATCH", path, data=json.dumps(edit_body(i)), headers={"Content-Type": "application/merge-patch+json"})
        assert r.status_code == 200, r.text
        t0 = time.monotonic()
        deadline = t0 + 10
        while requests.get(p.http_url + "/e%d" % i, headers={"Host": host, "Connection": "close"},
                           timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "edit %d not live after 10s" % i
            time.sleep(0.001)
        latencies.append(time.monotonic() - t0)
    return latencies


@pytest.mark.parametrize("n_objects", [200, 1000])
def test_event_to_live_latency_at_scale(control_plane, namespace, ingress_class, backends, service, portico,
                                        n_objects):
    """Ingress edit -> live with n_objects Ingresses in the store (one host + one path each)."""
    cp = control_plane
    (b,) = backends(["b0"])
    service("svc-0", [b])
    objs = [{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
             "metadata": {"name": "ing-%05d" % i, "namespace": namespace},
             "spec": {"ingressClassName": ingress_class, "rules": [{"host": "h%d.scale.e2e.test" % i, "http": {
                 "paths": [{"path": "/p", "pathType": "Prefix",
                            "backend": {"service": {"name": "svc-0", "port": {"number": 80}}}}]}}]}}
            for i in range(n_objects)]
    ing_path = "/apis/networking.k8s.io/v1/namespaces/%s/ingresses" % namespace
    _create_all(cp, objs, ing_path)
    try:
        p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class, "--access-log", "false",
                    "--workers", "2", ready_timeout=120)
        wait_until(lambda: len(routes_of(p.admin_url)["routes"]) == n_objects, timeout=60, what="all Ingresses live")

        def edit(i):
            return {"spec": {"rules": [{"host": "h0.scale.e2e.test", "http": {"paths": [
                {"path": "/e%d" % i, "pathType": "Prefix",
                 "backend": {"service": {"name": "svc-0", "port": {"number": 80}}}}]}}]}}

        lat = _measure_edits(cp, p, "h0.scale.e2e.test", ing_path + "/ing-00000", N_EDITS, edit)
        print("\n%d Ingresses, %d edits of one: edit->live p50 %.1f ms, p99 %.1f ms, max %.1f ms, mean %.1f ms" %
              (n_objects, N_EDITS, pct(lat, 50) * 1e3, pct(lat, 99) * 1e3, max(lat) * 1e3,
               statistics.mean(lat) * 1e3))
        assert pct(lat, 50) < 1.0
        assert pct(lat, 99) < 3.0
    finally:
        cp.api("DELETE", ing_path, timeout=120)


def _create_all(cp, objs, kind_path):
    s = requests.Session()
    s.verify, s.cert, s.trust_env = str(cp.ca_cert), cp.client_cert, False
    adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=16)
    s.mount("https://", adapter)

    def post(o):
        for _ in range(5):
            r = s.post(cp.server + kind_path, json=o, timeout=60)
            if r.status_code in (200, 201, 409):
                return r.status_code
            time.sleep(0.2)
        raise AssertionError("create failed: %s %s" % (r.status_code, r.text[:300]))

    with ThreadPoolExecutor(12) as pool:
        return list(pool.map(post, objs))


def test_5000_ingresses_time_to_first_table_and_rss(control_plane, namespace, ingress_class, backends, service,
                                                    portico):
    cp = control_plane
    bs = backends(["b0", "b1", "b2", "b3"])
    for i, b in enumerate(bs):
        service("svc-%d" % i, [b])
    objs = [{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
             "metadata": {"name": "ing-%05d" % i, "namespace": namespace},
             "spec": {"ingressClassName": ingress_class, "rules": [{"host": "h%d.perf.e2e.test" % i, "http": {
                 "paths": [{"path": "/p%d" % (i % 7), "pathType": "Prefix",
                            "backend": {"service": {"name": "svc-%d" % (i % 4), "port": {"number": 80}}}}]}}]}}
            for i in range(N_INGRESSES)]
    ing_path = "/apis/networking.k8s.io/v1/namespaces/%s/ingresses" % namespace
    t0 = time.monotonic()
    _create_all(cp, objs, ing_path)
    created = time.monotonic() - t0
    try:
        n = len(cp.api("GET", ing_path, params={"limit": 10000}).json()["items"])
        assert n == N_INGRESSES

        t0 = time.monotonic()
        p = portico("--watch-namespace", namespace, "--ingress-class", ingress_class, "--access-log", "false",
                    "--workers", "2", ready_timeout=120)
        ready = time.monotonic() - t0
        table = routes_of(p.admin_url, timeout=60)
        # The first table published is complete: every Ingress is in it (never a partial list).
        assert table["version"] == 1, "readyz came after %d tables" % table["version"]
        assert len(table["routes"]) == N_INGRESSES
        rss = rss_kib(p.proc.pid)
        for i in (0, 1234, N_INGRESSES - 1):
            assert ask(p.http_url, "/p%d/x" % (i % 7), "h%d.perf.e2e.test" % i) == (200, "b%d" % (i % 4))
        # One more edit with 5,000 objects in the store.
        t1 = time.monotonic()
        cp.api("PATCH", ing_path + "/ing-00042", headers={"Content-Type": "application/merge-patch+json"},
               data=json.dumps({"spec": {"rules": [{"host": "h42.perf.e2e.test", "http": {"paths": [
                   {"path": "/moved", "pathType": "Prefix",
                    "backend": {"service": {"name": "svc-3", "port": {"number": 80}}}}]}}]}}))
        wait_until(lambda: ask(p.http_url, "/moved", "h42.perf.e2e.test") == (200, "b3"), timeout=20,
                   interval=0.005, what="edit live with 5,000 Ingresses")
        edit = time.monotonic() - t1
        rss_after = rss_kib(p.proc.pid)
        render_us = [int(x.split("rendered in ")[1].split()[0]) for x in p.logs().splitlines() if "rendered in" in x]
        print("\n%d Ingresses: created in %.1fs; portico start -> /readyz with the full table: %.2fs; "
              "RSS %.1f MiB (after one edit %.1f MiB); render %s ms; one edit live in %.0f ms" %
              (N_INGRESSES, created, ready, rss / 1024, rss_after / 1024,
               "/".join("%.0f" % (u / 1000) for u in render_us[:3]), edit * 1e3))
        assert ready < 30, ready
        assert rss < 512 * 1024, rss  # the chart's memory limit
        assert render_us and render_us[0] < 1_000_000  # "well under a second" for 5k (10k target)
    finally:
        cp.api("DELETE", ing_path, timeout=120)
