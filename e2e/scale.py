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

Measured figures before and after issue 15's incremental render are in the commit that added
this line (git log -S "figures before and after" e2e/scale.py). Run it on a quiet machine: with
other builds running, every figure moves several-fold.

Run inside the e2e network namespace (backends need pod-like addresses):
  e2e/netns.sh build/venv/bin/python e2e/scale.py --n 1000 --bin build/portico
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


ING_PATH = "/apis/networking.k8s.io/v1/namespaces/%s/ingresses" % NS
API_PATH = "/apis/portico.dev/v1alpha1/namespaces/%s/apiroutes" % NS


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


def programmed_generation(s, cp, name):
    r = s.get(cp.server + API_PATH + "/" + name, timeout=30)
    obj = r.json()
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == "Programmed" and c.get("status") == "True":
            return c.get("observedGeneration"), obj["metadata"]["generation"]
    return None, obj["metadata"]["generation"]


def wait_status(s, cp, name, t_edit, timeout=30.0):
    """Seconds from the edit until the APIRoute's Programmed condition reports its generation."""
    while True:
        observed, generation = programmed_generation(s, cp, name)
        if observed == generation:
            return time.monotonic() - t_edit
        if time.monotonic() - t_edit > timeout:
            return float("inf")
        time.sleep(0.005)


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


def run(args):
    bin_dir = Path(os.environ.get("PORTICO_TESTENV_BIN") or build_testenv())
    work = Path(tempfile.mkdtemp(prefix="portico-scale-"))
    cp = ControlPlane.start(bin_dir, work / "cp")
    proc = None
    try:
        cp.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        cp.kubectl("wait", "--for=condition=Established", "crd/apiroutes.portico.dev", "--timeout=60s")
        cp.kubectl("create", "namespace", NS)
        cp.apply({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": CLASS},
                  "spec": {"controller": "portico.dev/ingress-controller"}})
        backend = start_backends(["b0"])[0]
        service_with_endpoints(cp, NS, "svc", [backend])

        n, n_api = args.n, args.n // 10
        t0 = time.monotonic()
        create_all(cp, [(ING_PATH, ingress(i)) for i in range(n)] + [(API_PATH, apiroute(i)) for i in range(n_api)])
        print("created %d Ingresses + %d APIRoutes in %.1f s" % (n, n_api, time.monotonic() - t0), flush=True)

        hp, sp, ap = free_port(), free_port(), free_port()
        log_path = work / "portico.log"
        cmd = [str(Path(args.bin).resolve()), "--kubeconfig", str(cp.kubeconfig), "--listen-address", "127.0.0.1",
               "--http-port", str(hp), "--https-port", str(sp), "--admin-port", str(ap), "--workers", "2",
               "--watch-namespace", NS, "--ingress-class", CLASS, "--access-log", "false"]
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
        if wait_live(hp, "i0.scale.test", "/p") is None:
            return
        # Startup writes every APIRoute's status once; edits are timed after that.
        settle = wait_quiet(proc.pid)
        rss_idle = rss_mib(proc.pid)
        print("startup status writes done %.1f s after the first table; %s" % (settle, memory(proc.pid, admin)),
              flush=True)

        s = session(cp, 2)
        rng = random.Random(15)
        # 100 single edits, alternating kinds, each one waited for.
        lat = {"Ingress": [], "APIRoute": []}
        status_lat = []
        for k in range(100):
            path = "/e%d" % k
            if k % 2 == 0:
                i = rng.randrange(n)
                t = edit(s, cp, ING_PATH, "ing-%05d" % i, ingress_edit(i, path))
                lat["Ingress"].append(wait_live(hp, "i%d.scale.test" % i, path) - t)
            else:
                i = rng.randrange(n_api)
                t = edit(s, cp, API_PATH, "api-%05d" % i, apiroute_edit(i, path))
                lat["APIRoute"].append(wait_live(hp, "a%d.scale.test" % i, path) - t)
                status_lat.append(wait_status(s, cp, "api-%05d" % i, t))
        both = lat["Ingress"] + lat["APIRoute"]
        # Memory once idle (the reconciler hands free heap pages back after a quiet second):
        # what stays, not what one render holds for a moment.
        wait_quiet(proc.pid)
        rss_single = rss_mib(proc.pid)
        print("single edits -> live (ms): all p50 %.1f p99 %.1f max %.1f | Ingress p50 %.1f p99 %.1f | "
              "APIRoute p50 %.1f p99 %.1f; %s" %
              (pct(both, 50) * 1e3, pct(both, 99) * 1e3, max(both) * 1e3, pct(lat["Ingress"], 50) * 1e3,
               pct(lat["Ingress"], 99) * 1e3, pct(lat["APIRoute"], 50) * 1e3, pct(lat["APIRoute"], 99) * 1e3,
               memory(proc.pid, admin)), flush=True)
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
        cpu_total = cpu_seconds(proc.pid)
        print("\n| objects | first table | edit->live p50 / p99 (Ingress / APIRoute p99) | burst 1,000 in 10 s: "
              "all live after last | RSS at first table | RSS idle: after startup / 100 edits / +1,150 edits (change) | "
              "CPU per edit | APIRoute status p50 / p99 |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        print("| %d Ingresses + %d APIRoutes | %.2f s (render %.0f ms) | %.0f / %.0f ms (%.0f / %.0f) | %.0f ms | "
              "%.0f MiB | %.0f / %.0f / %.0f MiB (%+.1f%%) | %.1f ms | %.0f / %.0f ms |" %
              (n, n_api, first_table, renders[0] if renders else -1, pct(both, 50) * 1e3, pct(both, 99) * 1e3,
               pct(lat["Ingress"], 99) * 1e3, pct(lat["APIRoute"], 99) * 1e3, live_last * 1e3, rss_first,
               rss_idle, rss_single, rss_burst, (rss_burst / rss_idle - 1) * 100, cpu / 50 * 1e3,
               pct(status_lat, 50) * 1e3, pct(status_lat, 99) * 1e3))
        print("(portico CPU total %.1f s; log %s)" % (cpu_total, log_path))
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            proc.wait(15)
        cp.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="Ingresses (APIRoutes: n/10)")
    ap.add_argument("--bin", default=str(REPO / "build" / "portico"), help="portico binary")
    args = ap.parse_args()
    if not os.environ.get("PORTICO_E2E_NETNS"):
        os.execv(str(Path(__file__).resolve().parent / "netns.sh"), [
            "netns.sh", sys.executable, *sys.argv])
    run(args)


if __name__ == "__main__":
    main()
