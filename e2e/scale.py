#!/usr/bin/env python3
"""Controller scale benchmark (issue 15): prints numbers, asserts nothing, is not a CI test.

Against the real kube-apiserver of the e2e harness it creates N Ingresses (one host + one path
each) and N/10 APIRoutes (one host + one rule each), all to one Service, starts portico with 2
workers, and prints:
  - first table: portico start -> /readyz (the first table holds every object), and the
    render time portico logged for it
  - event -> live p50/p99 over 100 single edits (alternating Ingress and APIRoute; the edit
    moves the object's path to a new one; "live" = the proxy answers 200 on the new path,
    probed on a fresh connection every ~1 ms)
  - a burst of 1,000 Ingress edits spread over 10 s: last edit sent -> all live
  - status: after each APIRoute edit, how long until its Programmed condition reports the
    edited generation (observedGeneration), polled every ~5 ms on the apiserver
  - RSS at the first table, and once idle after the startup status writes, after the single
    edits and after the burst (1,150 edits in all), with the heap's own view from /metrics
    (allocated and free bytes), so that live data can be told from allocator fragmentation
  - Portico CPU per single edit: 50 edits 300 ms apart without probing; (utime+stime delta
    minus the idle rate over the same time) / 50

With --n 0 there are no Ingresses or APIRoutes: of the above only the first table and the RSS
once the startup status writes are done are measured.

Gateway API mode (--httproutes N, default 0): it also installs the standard-channel Gateway API
CRDs (the ones e2e/build-testenv.sh puts next to the tools: $PORTICO_TESTENV_BIN/../gateway-api/
crd/), a GatewayClass `portico` (controllerName portico.dev/gateway-controller), one Gateway `gw`
(one HTTP listener on port 80, routes from All namespaces) and N HTTPRoutes (one hostname and one
PathPrefix rule each, to the same Service), created like the other objects before portico
starts; the first table then holds them too. It adds:
  - startup: first table -> every HTTPRoute's status.parents[] entry of our controller reports
    Accepted with its generation (listed every ~250 ms), before the quiet wait above
  - HTTPRoute edit -> live p50/p99 over 100 single edits (each moves one route's path to a new
    one; "live" as above), after everything above
  - status: after each of those edits, how long until the route's parent entry of our
    controller reports Accepted with the edited generation (polled every ~5 ms)
  - RSS once idle after those edits, and a table row of its own

Measured figures before and after issue 15's incremental render are in the commit that added
this line (git log -S "figures before and after" e2e/scale.py). Run it on a quiet machine: with
other builds running, every figure moves several-fold.

Run inside the e2e network namespace (backends need pod-like addresses); the script enters it
through e2e/netns.sh by itself when started outside:
  e2e/netns.sh build/venv/bin/python e2e/scale.py --n 1000 --bin build/portico
  e2e/netns.sh build/venv/bin/python e2e/scale.py --n 0 --httproutes 1000 --bin build/portico
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import free_port, start_backends  # noqa: E402
from k8s import REPO, ControlPlane, build_testenv, die_with_parent, service_with_endpoints  # noqa: E402

NS = "scale"
CLASS = "portico-scale"
MERGE = {"Content-Type": "application/merge-patch+json"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def rss_mib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def heap_mib(admin):
    """(allocated, free) MiB as malloc sees them: what of RSS is live data and what is kept free."""
    text = requests.get(admin + "/metrics", timeout=5).text
    values = dict(line.split() for line in text.splitlines() if line.startswith("portico_heap_"))
    return (float(values["portico_heap_allocated_bytes"]) / 2**20, float(values["portico_heap_free_bytes"]) / 2**20)


def memory(pid, admin):
    allocated, free = heap_mib(admin)
    return "RSS %.1f MiB (heap: %.1f allocated, %.1f free)" % (rss_mib(pid), allocated, free)


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def ingress(i, path="/p", svc="svc"):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "ing-%05d" % i, "namespace": NS},
            "spec": {"ingressClassName": CLASS, "rules": [{"host": "i%d.scale.test" % i, "http": {"paths": [
                {"path": path, "pathType": "Prefix", "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}}]}}


def apiroute(i, path="/p", svc="svc"):
    return {"apiVersion": "portico.dev/v1alpha1", "kind": "APIRoute",
            "metadata": {"name": "api-%05d" % i, "namespace": NS},
            "spec": {"ingressClassName": CLASS, "hosts": ["a%d.scale.test" % i], "rules": [
                {"name": "main", "match": {"path": {"type": "Prefix", "value": path}},
                 "backends": [{"service": svc, "port": 80}]}]}}


GW_API = "gateway.networking.k8s.io/v1"
GW_CLASS = "portico"
GW_CONTROLLER = "portico.dev/gateway-controller"


def gateway_objects():
    """The GatewayClass and the one Gateway every HTTPRoute attaches to."""
    return [{"apiVersion": GW_API, "kind": "GatewayClass", "metadata": {"name": GW_CLASS},
             "spec": {"controllerName": GW_CONTROLLER}},
            {"apiVersion": GW_API, "kind": "Gateway", "metadata": {"name": "gw", "namespace": NS},
             "spec": {"gatewayClassName": GW_CLASS, "listeners": [
                 {"name": "http", "protocol": "HTTP", "port": 80, "allowedRoutes": {"namespaces": {"from": "All"}}}]}}]


def httproute(i, path="/p", svc="svc"):
    return {"apiVersion": GW_API, "kind": "HTTPRoute",
            "metadata": {"name": "hr-%05d" % i, "namespace": NS},
            "spec": {"parentRefs": [{"name": "gw", "sectionName": "http"}], "hostnames": ["h%d.scale.test" % i],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}],
                                "backendRefs": [{"name": svc, "port": 80}]}]}}


ING_PATH = "/apis/networking.k8s.io/v1/namespaces/%s/ingresses" % NS
API_PATH = "/apis/portico.dev/v1alpha1/namespaces/%s/apiroutes" % NS
HTTPROUTE_PATH = "/apis/%s/namespaces/%s/httproutes" % (GW_API, NS)


def session(cp, pool=16):
    s = requests.Session()
    s.verify, s.cert, s.trust_env = str(cp.ca_cert), cp.client_cert, False
    s.mount("https://", requests.adapters.HTTPAdapter(pool_connections=pool, pool_maxsize=pool))
    return s


def create_all(cp, items):
    s = session(cp)

    def post(item):
        path, obj = item
        for _ in range(10):
            r = s.post(cp.server + path, json=obj, timeout=60)
            if r.status_code in (200, 201, 409):
                return
            time.sleep(0.3)
        raise RuntimeError("create failed: %s %s" % (r.status_code, r.text[:300]))

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(post, items))


def probe(port, host, path):
    """One request on a fresh connection; the status code (0 on a connection error)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path, headers={"Host": host, "Connection": "close"})
        return c.getresponse().status
    except OSError:
        return 0
    finally:
        c.close()


def wait_quiet(pid, limit=30.0):
    """Waits until portico uses < 5% of a core for a second (startup status writes done)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        c0 = cpu_seconds(pid)
        time.sleep(1.0)
        if cpu_seconds(pid) - c0 < 0.05:
            break
    return time.monotonic() - t0


def programmed(obj):
    """observedGeneration of an APIRoute's Programmed=True condition (None without one)."""
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == "Programmed" and c.get("status") == "True":
            return c.get("observedGeneration")
    return None


def accepted(obj):
    """observedGeneration of the Accepted=True condition in an HTTPRoute's status.parents[]
    entry of our controller (None without one)."""
    for p in obj.get("status", {}).get("parents", []):
        if p.get("controllerName") == GW_CONTROLLER:
            for c in p.get("conditions", []):
                if c.get("type") == "Accepted" and c.get("status") == "True":
                    return c.get("observedGeneration")
    return None


def wait_status(s, cp, url_path, t_edit, observed=programmed, timeout=30.0):
    """Seconds from the edit until observed(object) reports the object's generation
    (default: an APIRoute's Programmed condition)."""
    while True:
        obj = s.get(cp.server + url_path, timeout=30).json()
        if observed(obj) == obj["metadata"]["generation"]:
            return time.monotonic() - t_edit
        if time.monotonic() - t_edit > timeout:
            return float("inf")
        time.sleep(0.005)


def wait_all_accepted(s, cp, n, timeout=300.0):
    """Waits until all n HTTPRoutes report Accepted with their generation (listed every
    ~250 ms); how many did."""
    t0 = time.monotonic()
    while True:
        items = s.get(cp.server + HTTPROUTE_PATH, timeout=60).json()["items"]
        done = sum(1 for o in items if accepted(o) == o["metadata"]["generation"])
        if done >= n or time.monotonic() - t0 > timeout:
            return done
        time.sleep(0.25)


def wait_live(port, host, path, timeout=30.0):
    t0 = time.monotonic()
    while probe(port, host, path) != 200:
        if time.monotonic() - t0 > timeout:
            raise RuntimeError("%s%s not live after %.0fs" % (host, path, timeout))
        time.sleep(0.001)
    return time.monotonic()


def edit(s, cp, kind_path, name, body):
    r = s.patch(cp.server + kind_path + "/" + name, data=json.dumps(body), headers=MERGE, timeout=30)
    if r.status_code != 200:
        raise RuntimeError("PATCH %s: %s %s" % (name, r.status_code, r.text[:300]))
    return time.monotonic()


def ingress_edit(i, path):
    return {"spec": ingress(i, path)["spec"]}


def apiroute_edit(i, path):
    return {"spec": apiroute(i, path)["spec"]}


def httproute_edit(i, path):
    return {"spec": httproute(i, path)["spec"]}


def ms(values, p, fmt="%.1f"):
    """pct in ms, or "-" when nothing was measured."""
    return fmt % (pct(values, p) * 1e3) if values else "-"


def run(args):
    bin_dir = Path(os.environ.get("PORTICO_TESTENV_BIN") or build_testenv())
    work = Path(tempfile.mkdtemp(prefix="portico-scale-"))
    cp = ControlPlane.start(bin_dir, work / "cp")
    proc = None
    try:
        n, n_api, n_http = args.n, args.n // 10, args.httproutes
        cp.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        cp.kubectl("wait", "--for=condition=Established", "crd/apiroutes.portico.dev", "--timeout=60s")
        if n_http:
            # The standard-channel CRDs e2e/build-testenv.sh keeps next to the tools, as
            # e2e/gateway-conformance.sh applies them.
            cp.kubectl("apply", "--server-side", "-f", str(bin_dir.parent / "gateway-api" / "crd"), timeout=120)
            cp.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        cp.kubectl("create", "namespace", NS)
        cp.apply({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": CLASS},
                  "spec": {"controller": "portico.dev/ingress-controller"}})
        if n_http:
            cp.apply(gateway_objects())
        backend = start_backends(["b0"])[0]
        service_with_endpoints(cp, NS, "svc", [backend])

        t0 = time.monotonic()
        create_all(cp, [(ING_PATH, ingress(i)) for i in range(n)] + [(API_PATH, apiroute(i)) for i in range(n_api)] +
                   [(HTTPROUTE_PATH, httproute(i)) for i in range(n_http)])
        objects = "%d Ingresses + %d APIRoutes" % (n, n_api) + (" + %d HTTPRoutes" % n_http if n_http else "")
        print("created %s in %.1f s" % (objects, time.monotonic() - t0), flush=True)

        hp, sp, ap = free_port(), free_port(), free_port()
        log_path = work / "portico.log"
        cmd = [str(Path(args.bin).resolve()), "--kubeconfig", str(cp.kubeconfig), "--listen-address", "127.0.0.1",
               "--http-port", str(hp), "--https-port", str(sp), "--admin-port", str(ap), "--workers", "2",
               "--watch-namespace", NS, "--ingress-class", CLASS, "--access-log", "false"]
        if n_http:
            cmd += ["--gateway-controller-name", GW_CONTROLLER]
        t_start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=open(log_path, "w"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        admin = "http://127.0.0.1:%d" % ap
        while True:
            if proc.poll() is not None:
                raise RuntimeError("portico exited:\n" + log_path.read_text()[-3000:])
            try:
                if requests.get(admin + "/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.01)
        first_table = time.monotonic() - t_start
        rss_first = rss_mib(proc.pid)
        # From the log, not from /routes: serializing 11,000 routes would be what RSS measures.
        published = [x for x in log_path.read_text().splitlines() if "rendered in" in x]
        renders = [int(x.split("rendered in ")[1].split()[0]) / 1000 for x in published]
        routes = int(published[0].split(": ")[1].split()[0]) if published else -1
        print("first table: %.2f s after start (%d routes; render %.0f ms); %s" %
              (first_table, routes, renders[0] if renders else -1, memory(proc.pid, admin)), flush=True)
        for host, count in (("i0.scale.test", n), ("a0.scale.test", n_api), ("h0.scale.test", n_http)):
            if count:
                wait_live(hp, host, "/p")
        s = session(cp, 2)
        t_ready = t_start + first_table
        if n_http:
            done = wait_all_accepted(s, cp, n_http)
            all_accepted = time.monotonic() - t_ready
            print("HTTPRoutes Accepted with their generation: %d of %d, %.2f s after the first table" %
                  (done, n_http, all_accepted), flush=True)
        # Startup writes every APIRoute's (and HTTPRoute's) status once; edits are timed after that.
        wait_quiet(proc.pid)
        settle = time.monotonic() - t_ready
        rss_idle = rss_mib(proc.pid)
        print("startup status writes done %.1f s after the first table; %s" % (settle, memory(proc.pid, admin)),
              flush=True)

        rng = random.Random(15)
        if n:
            ingress_phases(cp, s, rng, proc, admin, hp, n, n_api, objects, first_table, renders, rss_first,
                           rss_idle)
        if n_http:
            httproute_phase(cp, s, rng, proc, admin, hp, n_http, objects, first_table, renders, rss_first,
                            all_accepted)
        print("(portico CPU total %.1f s; log %s)" % (cpu_seconds(proc.pid), log_path))
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            proc.wait(15)
        cp.stop()


def ingress_phases(cp, s, rng, proc, admin, hp, n, n_api, objects, first_table, renders, rss_first, rss_idle):
    """Single Ingress/APIRoute edits, CPU per edit, the burst and the table (issue 15)."""
    # 100 single edits, alternating kinds, each one waited for.
    lat = {"Ingress": [], "APIRoute": []}
    status_lat = []
    for k in range(100):
        path = "/e%d" % k
        if k % 2 == 0 or not n_api:
            i = rng.randrange(n)
            t = edit(s, cp, ING_PATH, "ing-%05d" % i, ingress_edit(i, path))
            lat["Ingress"].append(wait_live(hp, "i%d.scale.test" % i, path) - t)
        else:
            i = rng.randrange(n_api)
            t = edit(s, cp, API_PATH, "api-%05d" % i, apiroute_edit(i, path))
            lat["APIRoute"].append(wait_live(hp, "a%d.scale.test" % i, path) - t)
            status_lat.append(wait_status(s, cp, API_PATH + "/api-%05d" % i, t))
    both = lat["Ingress"] + lat["APIRoute"]
    # Memory once idle (the reconciler hands free heap pages back after a quiet second):
    # what stays, not what one render holds for a moment.
    wait_quiet(proc.pid)
    rss_single = rss_mib(proc.pid)
    print("single edits -> live (ms): all p50 %.1f p99 %.1f max %.1f | Ingress p50 %.1f p99 %.1f | "
          "APIRoute p50 %s p99 %s; %s" %
          (pct(both, 50) * 1e3, pct(both, 99) * 1e3, max(both) * 1e3, pct(lat["Ingress"], 50) * 1e3,
           pct(lat["Ingress"], 99) * 1e3, ms(lat["APIRoute"], 50), ms(lat["APIRoute"], 99),
           memory(proc.pid, admin)), flush=True)
    if status_lat:
        print("APIRoute edit -> Programmed with its generation (ms): p50 %.1f p99 %.1f max %.1f" %
              (pct(status_lat, 50) * 1e3, pct(status_lat, 99) * 1e3, max(status_lat) * 1e3), flush=True)

    # CPU per edit: no probing, so the proxy's share of probing is not counted.
    wait_quiet(proc.pid)
    c0, w0 = cpu_seconds(proc.pid), time.monotonic()
    time.sleep(3)
    idle_rate = (cpu_seconds(proc.pid) - c0) / (time.monotonic() - w0)
    c0, w0 = cpu_seconds(proc.pid), time.monotonic()
    for k in range(50):
        i = rng.randrange(n)
        edit(s, cp, ING_PATH, "ing-%05d" % i, ingress_edit(i, "/c%d" % k))
        time.sleep(0.3)
    time.sleep(1)
    cpu = cpu_seconds(proc.pid) - c0 - idle_rate * (time.monotonic() - w0)
    print("CPU per single edit: %.1f ms (idle %.1f ms/s)" % (cpu / 50 * 1e3, idle_rate * 1e3), flush=True)

    # Burst: 1,000 edits of distinct Ingresses over 10 s.
    burst = rng.sample(range(n), min(1000, n))
    t_begin = time.monotonic()
    for k, i in enumerate(burst):
        due = t_begin + k * 10.0 / len(burst)
        if (d := due - time.monotonic()) > 0:
            time.sleep(d)
        t_last = edit(s, cp, ING_PATH, "ing-%05d" % i, ingress_edit(i, "/b%d" % k))
    sent = t_last - t_begin
    # Edits of one kind arrive in order on one watch: when the last is live, all are.
    live_last = wait_live(hp, "i%d.scale.test" % burst[-1], "/b%d" % (len(burst) - 1)) - t_last
    missing = [k for k, i in enumerate(burst) if probe(hp, "i%d.scale.test" % i, "/b%d" % k) != 200]
    wait_quiet(proc.pid)
    rss_burst = rss_mib(proc.pid)
    print("burst of %d edits sent in %.1f s: all live %.0f ms after the last (%d not live at the check); "
          "%s" % (len(burst), sent, live_last * 1e3, len(missing), memory(proc.pid, admin)), flush=True)
    print("\n| objects | first table | edit->live p50 / p99 (Ingress / APIRoute p99) | burst 1,000 in 10 s: "
          "all live after last | RSS at first table | RSS idle: after startup / 100 edits / +1,150 edits (change) | "
          "CPU per edit | APIRoute status p50 / p99 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("| %s | %.2f s (render %.0f ms) | %.0f / %.0f ms (%.0f / %s) | %.0f ms | "
          "%.0f MiB | %.0f / %.0f / %.0f MiB (%+.1f%%) | %.1f ms | %s / %s ms |" %
          (objects, first_table, renders[0] if renders else -1, pct(both, 50) * 1e3, pct(both, 99) * 1e3,
           pct(lat["Ingress"], 99) * 1e3, ms(lat["APIRoute"], 99, "%.0f"), live_last * 1e3, rss_first,
           rss_idle, rss_single, rss_burst, (rss_burst / rss_idle - 1) * 100, cpu / 50 * 1e3,
           ms(status_lat, 50, "%.0f"), ms(status_lat, 99, "%.0f")), flush=True)


def httproute_phase(cp, s, rng, proc, admin, hp, n_http, objects, first_table, renders, rss_first, all_accepted):
    """100 single HTTPRoute edits, each waited for: apply -> live, then -> Accepted with the
    edited generation in our controller's status.parents[] entry; and their table row."""
    wait_quiet(proc.pid)
    lat, status_lat = [], []
    for k in range(100):
        i = rng.randrange(n_http)
        path = "/g%d" % k
        t = edit(s, cp, HTTPROUTE_PATH, "hr-%05d" % i, httproute_edit(i, path))
        lat.append(wait_live(hp, "h%d.scale.test" % i, path) - t)
        status_lat.append(wait_status(s, cp, HTTPROUTE_PATH + "/hr-%05d" % i, t, observed=accepted))
    wait_quiet(proc.pid)
    print("HTTPRoute single edits -> live (ms): p50 %.1f p99 %.1f max %.1f; %s" %
          (pct(lat, 50) * 1e3, pct(lat, 99) * 1e3, max(lat) * 1e3, memory(proc.pid, admin)), flush=True)
    print("HTTPRoute edit -> Accepted with its generation (ms): p50 %.1f p99 %.1f max %.1f" %
          (pct(status_lat, 50) * 1e3, pct(status_lat, 99) * 1e3, max(status_lat) * 1e3), flush=True)
    print("\n| objects | first table | HTTPRoute edit->live p50 / p99 | HTTPRoute edit->Accepted p50 / p99 | "
          "first table -> all HTTPRoutes Accepted | RSS at first table |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("| %s | %.2f s (render %.0f ms) | %.0f / %.0f ms | %.0f / %.0f ms | %.1f s | %.0f MiB |" %
          (objects, first_table, renders[0] if renders else -1, pct(lat, 50) * 1e3, pct(lat, 99) * 1e3,
           pct(status_lat, 50) * 1e3, pct(status_lat, 99) * 1e3, all_accepted, rss_first), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="Ingresses (APIRoutes: n/10); 0 for none")
    ap.add_argument("--httproutes", type=int, default=0,
                    help="HTTPRoutes (Gateway API mode: CRDs, GatewayClass, one Gateway); 0 for none")
    ap.add_argument("--bin", default=str(REPO / "build" / "portico"), help="portico binary")
    args = ap.parse_args()
    if not os.environ.get("PORTICO_E2E_NETNS"):
        os.execv(str(Path(__file__).resolve().parent / "netns.sh"), [
            "netns.sh", sys.executable, *sys.argv])
    run(args)


if __name__ == "__main__":
    main()
