"""Helpers around the e2e control plane (kube-testenv), kubectl and helm.

Used by e2e/conftest.py; importable on its own (e.g. from an interactive session):

    from k8s import ControlPlane
    cp = ControlPlane.start(bin_dir, workdir)     # or ControlPlane.attach(dir) for run-testenv.sh's
    cp.kubectl("get", "ns")
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import requests
import yaml

REPO = Path(__file__).resolve().parent.parent
E2E = Path(__file__).resolve().parent


class BuildError(RuntimeError):
    pass


# Images the testenv kubelet runs as local programs (kube-testenv --image REPO=PROGRAM ...).
# echo-basic (the Gateway API conformance backend) is mapped by kube-testenv itself.
BACKEND_IMAGE = "portico.dev/e2e-backend"   # e2e/backend.py; give it --name, --host, --port as args
PORTICO_IMAGE = "portico"                   # the chart's image.repository
PYTHON_IMAGE = "portico.dev/e2e-python"     # this Python; args are the script (e.g. ["-c", "..."])


def image_flags() -> list[str]:
    """--image flags mapping our images to local programs: e2e/backend.py (run by this Python)
    and the portico binary ($PORTICO_BIN, default build/portico; a Pod of a missing binary
    fails to start, visibly, and nothing else is affected)."""
    import sys

    portico = os.environ.get("PORTICO_BIN", str(REPO / "build" / "portico"))
    return ["--image=%s=%s %s" % (BACKEND_IMAGE, sys.executable, E2E / "backend.py"),
            "--image=%s=%s" % (PORTICO_IMAGE, portico),
            "--image=%s=%s" % (PYTHON_IMAGE, sys.executable)]


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when the test process dies, even by SIGKILL
    (Linux PR_SET_PDEATHSIG), so no control plane or portico outlives a killed test run."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except Exception:
        pass


def build_testenv(timeout: float = 3600) -> Path:
    """Run e2e/build-testenv.sh (builds once, then reuses) and return the bin directory."""
    script = E2E / "build-testenv.sh"
    t0 = time.monotonic()
    p = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if p.returncode != 0:
        tail = "\n".join(p.stderr.strip().splitlines()[-40:])
        raise BuildError("e2e/build-testenv.sh failed (exit %d) after %.0fs:\n%s" % (p.returncode, time.monotonic() - t0, tail))
    lines = p.stdout.strip().splitlines()
    if not lines:
        raise BuildError("e2e/build-testenv.sh printed no bin directory")
    bin_dir = Path(lines[-1])
    for tool in ("kube-testenv", "kubectl", "helm"):
        if not os.access(bin_dir / tool, os.X_OK):
            raise BuildError("e2e/build-testenv.sh did not produce %s in %s" % (tool, bin_dir))
    return bin_dir


class ControlPlane:
    """A running kube-testenv: etcd + kube-apiserver, with kubectl/helm helpers and fault hooks."""

    def __init__(self, bin_dir: Path, kubeconfig: Path, control_url: str, server: str, data_dir: Path,
                 proc: subprocess.Popen | None = None, ready_seconds: float | None = None):
        self.bin_dir = Path(bin_dir)
        self.kubeconfig = Path(kubeconfig)
        self.control_url = control_url
        self.server = server
        self.dir = Path(data_dir)
        self.proc = proc
        self.ready_seconds = ready_seconds
        pki = self.dir / "pki"
        self.ca_cert = pki / "ca.crt"
        self.client_cert = (str(pki / "admin.crt"), str(pki / "admin.key"))
        self.session = requests.Session()
        # Ignore REQUESTS_CA_BUNDLE / proxy variables: they would override the cluster CA.
        self.session.trust_env = False
        self.session.verify = str(self.ca_cert)
        self.session.cert = self.client_cert
        self._stderr_lines: list[str] = []

    # ---- lifecycle ----
    @classmethod
    def start(cls, bin_dir: Path, workdir: Path, timeout: float = 240, extra_args: list[str] | None = None) -> "ControlPlane":
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        kubeconfig = workdir / "kubeconfig"
        cmd = [str(Path(bin_dir) / "kube-testenv"), "--kubeconfig", str(kubeconfig), "--dir", str(workdir / "data")]
        cmd += image_flags() + (extra_args or [])
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                                preexec_fn=die_with_parent)
        stderr_lines: list[str] = []
        log_path = workdir / "kube-testenv.log"

        def pump_stderr():
            with open(log_path, "a") as f:
                for line in proc.stderr:
                    stderr_lines.append(line)
                    del stderr_lines[:-200]
                    f.write(line)
                    f.flush()

        threading.Thread(target=pump_stderr, daemon=True).start()
        ready: dict[str, str] = {}
        result: list = []

        def read_ready():
            for line in proc.stdout:
                if line.startswith("READY "):
                    result.append(line)
                    break
            # keep draining so the child never blocks on a full pipe
            for _ in proc.stdout:
                pass

        threading.Thread(target=read_ready, daemon=True).start()
        while not result:
            if proc.poll() is not None:
                time.sleep(0.2)
                raise RuntimeError("kube-testenv exited with %s before READY:\n%s" % (proc.returncode, "".join(stderr_lines[-40:])))
            if time.monotonic() - t0 > timeout:
                proc.kill()
                raise RuntimeError("kube-testenv not READY after %.0fs:\n%s" % (timeout, "".join(stderr_lines[-40:])))
            time.sleep(0.05)
        for kv in result[0].split()[1:]:
            k, _, v = kv.partition("=")
            ready[k] = v
        cp = cls(bin_dir, Path(ready["kubeconfig"]), ready["control"], ready["server"], Path(ready["dir"]), proc,
                 ready_seconds=time.monotonic() - t0)
        cp._stderr_lines = stderr_lines
        return cp

    @classmethod
    def attach(cls, bin_dir: Path, data_dir: Path, kubeconfig: Path) -> "ControlPlane":
        """Use a control plane that is already running (e.g. started by e2e/run-testenv.sh)."""
        data_dir = Path(data_dir)
        control = (data_dir / "control-url").read_text().strip()
        cfg = yaml.safe_load(Path(kubeconfig).read_text())
        server = cfg["clusters"][0]["cluster"]["server"]
        return cls(bin_dir, kubeconfig, control, server, data_dir)

    def stop(self, timeout: float = 60) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log_tail(self, n: int = 40) -> str:
        return "".join(self._stderr_lines[-n:])

    # ---- tools ----
    @property
    def env(self) -> dict:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = str(self.bin_dir) + os.pathsep + env.get("PATH", "")
        # helm keeps its state out of $HOME
        helm_home = self.dir / "helm"
        env.setdefault("HELM_CACHE_HOME", str(helm_home / "cache"))
        env.setdefault("HELM_CONFIG_HOME", str(helm_home / "config"))
        env.setdefault("HELM_DATA_HOME", str(helm_home / "data"))
        return env

    def _run(self, tool: str, args, check: bool, input: str | None, timeout: float, cwd=None) -> subprocess.CompletedProcess:
        cmd = [str(self.bin_dir / tool)] + [str(a) for a in args]
        p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=self.env, timeout=timeout, cwd=cwd or REPO)
        if check and p.returncode != 0:
            raise AssertionError("%s failed (exit %d):\n$ %s\n%s%s" % (tool, p.returncode, " ".join(cmd), p.stdout, p.stderr))
        return p

    def kubectl(self, *args, check: bool = True, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run the pinned kubectl against this control plane. Raises AssertionError on failure if check."""
        return self._run("kubectl", args, check, input, timeout)

    def kubectl_json(self, *args, **kw):
        return json.loads(self.kubectl(*args, "-o", "json", **kw).stdout)

    def apply(self, obj, namespace: str | None = None) -> subprocess.CompletedProcess:
        """kubectl apply -f - for a dict, a list of dicts or a YAML string."""
        if isinstance(obj, (dict, list)):
            docs = obj if isinstance(obj, list) else [obj]
            obj = yaml.safe_dump_all(docs)
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        return self.kubectl(*args, input=obj)

    def helm(self, *args, check: bool = True, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return self._run("helm", args, check, input, timeout)

    # ---- raw API (admin client certificate) ----
    def api(self, method: str, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 30)
        kw.setdefault("verify", str(self.ca_cert))
        kw.setdefault("cert", self.client_cert)
        return self.session.request(method, self.server + path, **kw)

    # ---- fault hooks ----
    def _control(self, path: str, timeout: float = 300) -> dict:
        r = requests.post(self.control_url + path, timeout=timeout)
        if r.status_code != 200:
            raise RuntimeError("kube-testenv %s failed: %s %s" % (path, r.status_code, r.text))
        return r.json()

    def restart_apiserver(self, down: float = 0, kill: bool = False) -> dict:
        """Stop kube-apiserver (SIGTERM: open watches end cleanly; kill=True: SIGKILL, a crash
        with connections reset), keep it down `down` seconds, start it again on the same port
        and wait for /readyz. etcd keeps running. Returns timings in seconds."""
        return self._control("/apiserver/restart?down=%gs&kill=%d" % (down, int(kill)))

    def stop_apiserver(self, kill: bool = False) -> dict:
        """Stop kube-apiserver and leave it down (etcd keeps running) until start_apiserver()."""
        return self._control("/apiserver/stop?kill=%d" % int(kill))

    def start_apiserver(self) -> dict:
        return self._control("/apiserver/start")

    def compact_etcd(self) -> int:
        """Compact etcd at its current revision; older resourceVersions now get 410 Gone.
        Returns the revision compacted at."""
        return int(self._control("/etcd/compact")["revision"])

    def status(self) -> dict:
        return requests.get(self.control_url + "/status", timeout=10).json()


# ---- Services without selector + EndpointSlices ----

def service_with_endpoints(cp: ControlPlane, namespace: str, name: str, backends, *, port: int = 80,
                           port_name: str = "http", protocol: str = "TCP", app_protocol: str | None = None,
                           ready=True, labels: dict | None = None, apply: bool = True) -> list[dict]:
    """Create a Service without selector named `name` plus one discovery.k8s.io/v1 EndpointSlice
    (`<name>-e2e`) whose endpoints are the given backends (objects with .host and .port, e.g.
    e2e.backend.Backend, or (host, port) tuples). All backends must listen on the same port
    (an EndpointSlice has one port list); the Service's `port` targets that port.

    `ready` is a bool for all endpoints or a list of bools, one per backend.
    Returns the manifests (applied with kubectl unless apply=False)."""
    eps = [(b.host, b.port) if hasattr(b, "host") else (b[0], int(b[1])) for b in backends]
    ports = {p for _, p in eps}
    if len(ports) > 1:
        raise ValueError("all backends of one EndpointSlice must share a port, got %s" % sorted(ports))
    target = ports.pop() if ports else port
    readies = ready if isinstance(ready, (list, tuple)) else [ready] * len(eps)
    svc_port = {"name": port_name, "port": port, "targetPort": target, "protocol": protocol}
    slice_port = {"name": port_name, "port": target, "protocol": protocol}
    if app_protocol:
        svc_port["appProtocol"] = slice_port["appProtocol"] = app_protocol
    svc = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": {"ports": [svc_port]},  # no selector: endpoints are ours to manage
    }
    slc = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {
            "name": name + "-e2e", "namespace": namespace,
            "labels": {"kubernetes.io/service-name": name,
                       "endpointslice.kubernetes.io/managed-by": "e2e.portico.dev", **(labels or {})},
        },
        "addressType": "IPv4",
        "ports": [slice_port],
        "endpoints": [
            {"addresses": [host], "conditions": {"ready": bool(r), "serving": bool(r), "terminating": False}}
            for (host, _), r in zip(eps, readies)
        ],
    }
    docs = [svc, slc]
    if apply:
        cp.apply(docs)
    return docs


_ns_counter = 0
_ns_lock = threading.Lock()


def namespace_name(test_name: str) -> str:
    """A DNS-1123 label unique within the session, derived from the test name."""
    global _ns_counter
    with _ns_lock:
        _ns_counter += 1
        n = _ns_counter
    base = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")
    suffix = "-%d-%d" % (os.getpid() % 10000, n)
    return ("e2e-" + base)[: 63 - len(suffix)].rstrip("-") + suffix


# ---- polling and portico helpers (used by the test_controller_* suites) ----

def wait_until(fn, timeout: float = 20, interval: float = 0.05, what: str = "condition"):
    """Poll fn() until it returns something truthy; return that value. On timeout raise
    AssertionError naming `what` and the last value (or exception) fn produced."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - reported below if it never succeeds
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s; last: %r" % (timeout, what, last))
        time.sleep(interval)


def routes_of(admin_url: str, timeout: float = 10) -> dict:
    """GET /routes of a portico admin listener (the live table as JSON)."""
    r = requests.get(admin_url + "/routes", timeout=timeout)
    r.raise_for_status()
    return r.json()


def route_names(admin_url: str) -> set:
    return {r["name"] for r in routes_of(admin_url)["routes"]}


def metric(admin_url: str, name: str) -> float | None:
    """One unlabelled sample of portico's /metrics, or None when absent."""
    text = requests.get(admin_url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def ask(base_url: str, path: str, host: str, **kw) -> tuple[int, str | None]:
    """One request through the proxy with a Host header. Returns (status, backend name or None)."""
    headers = {"Host": host, **kw.pop("headers", {})}
    r = requests.get(base_url + path, headers=headers, timeout=kw.pop("timeout", 5), allow_redirects=False, **kw)
    try:
        body = r.json()
    except ValueError:
        body = None
    name = body.get("backend") if isinstance(body, dict) and "request_number" in body else None
    return r.status_code, name


def apiroute(name: str, namespace: str, rules: list, hosts: list | None = None, **spec) -> dict:
    """An APIRoute manifest. rules: full rule dicts, or (name, path, service, port) tuples
    for a Prefix rule to one Service backend."""
    out_rules = []
    for r in rules:
        if isinstance(r, tuple):
            rname, path, svc, port = r
            r = {"name": rname, "match": {"path": {"type": "Prefix", "value": path}},
                 "backends": [{"service": svc, "port": port}]}
        out_rules.append(r)
    body = {"rules": out_rules, **spec}
    if hosts is not None:
        body["hosts"] = hosts
    return {"apiVersion": "portico.dev/v1alpha1", "kind": "APIRoute",
            "metadata": {"name": name, "namespace": namespace}, "spec": body}
