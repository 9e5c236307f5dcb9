"""pytest fixtures for Portico's e2e suite: a real kube-apiserver + etcd (kube-testenv),
the pinned kubectl and helm, local backends on pod-like addresses (10.244.x.y), and the portico binary.

Fixtures:
  testenv_bin    (session) bin directory with kube-testenv, kubectl, helm (built by
                 e2e/build-testenv.sh before the first e2e test runs; a failed build fails
                 every test that needs it, with the build's reason)
  control_plane  (session) a running ControlPlane (see e2e/k8s.py): .kubeconfig,
                 .kubectl(*args), .kubectl_json(*args), .apply(obj), .helm(*args), .api(method, path),
                 .restart_apiserver(down=0), .stop_apiserver(), .start_apiserver(), .compact_etcd()
  crds           (session) applies crds/ and waits for Established; returns the CRD names
  kubectl        (function) shortcut for control_plane.kubectl
  namespace      (function) a fresh namespace for the test
  backends       (function) factory: backends(["a", "b"]) -> [Backend, ...], each on its own
                 10.244.x.y address and all on the same port (so one EndpointSlice fits them);
                 stopped after the test
  service        (function) factory: service("web", backends, port=80) makes a Service without
                 selector + an EndpointSlice pointing at the backends in `namespace`
  portico        (function) factory: portico(*extra_args) starts build/portico (or $PORTICO_BIN)
                 out of cluster with --kubeconfig and free --http-port/--https-port/--admin-port,
                 waits for GET /readyz on the admin port == 200, stops it after the test

Network namespace: Kubernetes rejects loopback addresses in EndpointSlices, so backends
listen on pod-like addresses (10.244.x.y). When this conftest is loaded outside the private
network namespace made by e2e/netns.sh, it re-executes the same pytest command through
e2e/netns.sh (which first builds/reuses the tools, with network, then enters the namespace).
Set PORTICO_E2E_NO_NETNS=1 to stay where you are (backends then use 127.0.0.x and the
EndpointSlice helper fails with the apiserver's loopback error).

Environment:
  PORTICO_BIN              portico binary (default <repo>/build/portico)
  PORTICO_TESTENV_BIN      bin dir with kube-testenv/kubectl/helm (set by e2e/netns.sh)
  PORTICO_E2E_ATTACH=DIR   use the control plane that e2e/run-testenv.sh keeps running with
                           that data dir (its kubeconfig is DIR/../kubeconfig) instead of
                           starting one; fault hooks then act on that one too
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backend import Backend  # noqa: E402
from k8s import REPO, BuildError, ControlPlane, build_testenv, die_with_parent, namespace_name, service_with_endpoints  # noqa: E402

E2E_DIR = Path(__file__).resolve().parent
_build: dict = {}
NETNS_CIDR = os.environ.get("PORTICO_E2E_NETNS")


def pytest_configure(config):
    """Re-run this pytest command inside e2e/netns.sh's private network namespace."""
    if NETNS_CIDR or os.environ.get("PORTICO_E2E_NO_NETNS") == "1" or config.option.collectonly:
        return
    if hasattr(config, "workerinput"):  # an xdist worker: the controller decides
        return
    args = [str(E2E_DIR / "netns.sh"), sys.executable, "-m", "pytest", *config.invocation_params.args]
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman:
        capman.stop_global_capturing()
    sys.stdout.flush()
    sys.stderr.flush()
    sys.stderr.write("e2e: re-running inside a private network namespace: %s\n" % " ".join(args))
    os.chdir(config.invocation_params.dir)
    os.execv(args[0], args)


def _e2e_items(session) -> list:
    return [i for i in session.items if Path(str(i.fspath)).resolve().is_relative_to(E2E_DIR)]


def pytest_collection_finish(session):
    """Build the control-plane tools before any e2e test starts, so that a cold build (minutes)
    is not charged to one test's timeout. Only when e2e tests were selected."""
    if session.config.option.collectonly or not _e2e_items(session):
        return
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    t0 = time.monotonic()
    if tr:
        tr.write_line("e2e: building/reusing kube-testenv, kubectl, helm (e2e/build-testenv.sh)...")
    try:
        _build["bin"] = _prebuilt() or build_testenv()
        if tr:
            tr.write_line("e2e: tools ready in %.1fs: %s" % (time.monotonic() - t0, _build["bin"]))
    except (BuildError, subprocess.TimeoutExpired, OSError) as e:
        _build["error"] = str(e)
        if tr:
            tr.write_line("e2e: BUILD FAILED: %s" % e, red=True)


def _prebuilt() -> Path | None:
    d = os.environ.get("PORTICO_TESTENV_BIN")
    if d and all(os.access(Path(d) / t, os.X_OK) for t in ("kube-testenv", "kubectl", "helm")):
        return Path(d)
    return None


@pytest.fixture(scope="session")
def testenv_bin() -> Path:
    if "error" in _build:
        pytest.fail("the e2e control-plane tools could not be built:\n" + _build["error"], pytrace=False)
    if "bin" not in _build:
        try:
            _build["bin"] = _prebuilt() or build_testenv()
        except BuildError as e:
            _build["error"] = str(e)
            pytest.fail(str(e), pytrace=False)
    return _build["bin"]


@pytest.fixture(scope="session")
def control_plane(testenv_bin, tmp_path_factory):
    attach = os.environ.get("PORTICO_E2E_ATTACH")
    if attach:
        d = Path(attach)
        yield ControlPlane.attach(testenv_bin, d, d.parent / "kubeconfig")
        return
    workdir = tmp_path_factory.mktemp("kube-testenv")
    try:
        cp = ControlPlane.start(testenv_bin, workdir)
    except RuntimeError as e:
        pytest.fail("control plane did not start: %s" % e, pytrace=False)
    sys.stderr.write("\ne2e: control plane ready in %.1fs (%s, logs in %s)\n" % (cp.ready_seconds, cp.server, cp.dir))
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def crds(control_plane):
    """Applies the repo's crds/ (server-side) once per session and waits until each
    CustomResourceDefinition is Established. Returns the CRD names."""
    import yaml

    files = sorted((REPO / "crds").glob("*.yaml"))
    if not files:
        pytest.fail("crds/ has no *.yaml", pytrace=False)
    control_plane.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
    names = [d["metadata"]["name"] for f in files for d in yaml.safe_load_all(f.read_text())
             if d and d.get("kind") == "CustomResourceDefinition"]
    for name in names:
        control_plane.kubectl("wait", "--for=condition=Established", "crd/" + name, "--timeout=60s")
    return names


@pytest.fixture(scope="session")
def gateway_crds(control_plane):
    """Applies the standard-channel Gateway API CRDs the chart vendors
    (helm/portico/gateway-api-crds/, v1.6.3) once per session and waits until Established."""
    crd_dir = REPO / "helm" / "portico" / "gateway-api-crds"
    control_plane.kubectl("apply", "--server-side", "-f", str(crd_dir), timeout=120)
    for plural in ("gatewayclasses", "gateways", "httproutes", "referencegrants"):
        control_plane.kubectl("wait", "--for=condition=Established", "crd/%s.gateway.networking.k8s.io" % plural,
                              "--timeout=60s")


@pytest.fixture
def kubectl(control_plane):
    return control_plane.kubectl


@pytest.fixture
def namespace(control_plane, request):
    name = namespace_name(request.node.name)
    control_plane.kubectl("create", "namespace", name)
    yield name
    # kube-controller-manager's namespace controller removes whatever is left in a deleted
    # namespace; the explicit delete first keeps a run with --controller-manager=false (where
    # a deleted namespace stays Terminating) from leaving those objects behind.
    control_plane.kubectl("delete", "-n", name, "--ignore-not-found", "--wait=false",
                          "services,endpointslices.discovery.k8s.io,ingresses.networking.k8s.io,configmaps,secrets",
                          "--all", check=False, timeout=60)
    control_plane.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False, timeout=60)


# ---- backends ----

_host_lock = threading.Lock()
_next_host = [0]


def _alloc_hosts(n: int) -> list[str]:
    """Distinct backend addresses: pod-like 10.244.x.y inside the e2e network namespace
    (cycling through 64k of them), 127.0.0.x (10..250) outside it."""
    with _host_lock:
        out = []
        for _ in range(n):
            i = _next_host[0]
            _next_host[0] += 1
            if NETNS_CIDR:
                net = ipaddress.ip_network(NETNS_CIDR)
                out.append(str(net.network_address + 10 + i % (net.num_addresses - 20)))
            else:
                out.append("127.0.0.%d" % (10 + i % 240))
        return out


def start_backends(names, hosts=None, port: int = 0, tls=None) -> list[Backend]:
    """Start one Backend per name, on distinct hosts, all on one port (free on every host);
    HTTPS with `tls` (a server-side ssl.SSLContext)."""
    hosts = hosts or _alloc_hosts(len(names))
    for attempt in range(50):
        started: list[Backend] = []
        try:
            p = port
            for name, host in zip(names, hosts):
                b = Backend(name, host, p, tls=tls)
                started.append(b)
                p = b.port
            return [b.start() for b in started]
        except OSError:
            for b in started:
                b._server.server_close()
            if port:
                raise
    raise RuntimeError("no common free port for backends on %s" % hosts)


@pytest.fixture
def backends():
    made: list[Backend] = []

    def make(names, hosts=None, port: int = 0, tls=None) -> list[Backend]:
        if isinstance(names, str):
            names = [names]
        bs = start_backends(list(names), hosts, port, tls)
        made.extend(bs)
        return bs

    yield make
    for b in made:
        b.stop()


@pytest.fixture
def service(control_plane, namespace):
    def make(name, backends, **kw):
        return service_with_endpoints(control_plane, namespace, name, backends, **kw)

    return make


# ---- portico ----

def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class PorticoProcess:
    def __init__(self, proc, http_port, https_port, admin_port, log_path):
        self.proc = proc
        self.http_port, self.https_port, self.admin_port = http_port, https_port, admin_port
        self.http_url = "http://127.0.0.1:%d" % http_port
        self.https_url = "https://127.0.0.1:%d" % https_port
        self.admin_url = "http://127.0.0.1:%d" % admin_port
        self.log_path = log_path

    def logs(self) -> str:
        return Path(self.log_path).read_text(errors="replace")

    def stop(self, timeout: float = 15) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


@pytest.fixture
def portico(control_plane, tmp_path):
    """Factory: portico(*extra_args, ready_timeout=30, env=None, listen_address="127.0.0.1")
    -> PorticoProcess (running, /readyz == 200); stopped (SIGTERM) after the test."""
    binary = Path(os.environ.get("PORTICO_BIN", REPO / "build" / "portico"))
    started: list[PorticoProcess] = []

    def start(*extra_args, ready_timeout: float = 30, env: dict | None = None,
              listen_address: str = "127.0.0.1") -> PorticoProcess:
        if not os.access(binary, os.X_OK):
            pytest.fail("portico binary %s is missing: build it first (cmake --build build) or set PORTICO_BIN" % binary,
                        pytrace=False)
        hp, sp, ap = free_port(), free_port(), free_port()
        log_path = tmp_path / ("portico-%d.log" % len(started))
        cmd = [str(binary), "--kubeconfig", str(control_plane.kubeconfig),
               "--listen-address", listen_address,
               "--http-port", str(hp), "--https-port", str(sp), "--admin-port", str(ap), *map(str, extra_args)]
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, preexec_fn=die_with_parent,
                                    env={**os.environ, **(env or {}), "KUBECONFIG": str(control_plane.kubeconfig)})
        p = PorticoProcess(proc, hp, sp, ap, log_path)
        started.append(p)
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                pytest.fail("portico exited with %s before /readyz:\n$ %s\n%s" % (proc.returncode, " ".join(cmd), p.logs()[-4000:]),
                            pytrace=False)
            try:
                if requests.get(p.admin_url + "/readyz", timeout=2).status_code == 200:
                    return p
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail("portico /readyz not 200 after %.0fs:\n%s" % (ready_timeout, p.logs()[-4000:]), pytrace=False)
            time.sleep(0.1)

    yield start
    for p in started:
        p.stop()


# ---- Ingress classes and APIRoute clean-up (used by the test_controller_* suites) ----

@pytest.fixture
def ingress_class(control_plane, namespace):
    """A fresh IngressClass (spec.controller portico.dev/ingress-controller) named after the
    test's namespace; pass it to portico with --ingress-class. Deleted after the test, together
    with the namespace's APIRoutes (the namespace fixture does not know the CRD)."""
    name = "cls-" + namespace[-50:].lstrip("-")
    control_plane.apply({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                         "metadata": {"name": name},
                         "spec": {"controller": "portico.dev/ingress-controller"}})
    yield name
    control_plane.kubectl("delete", "-n", namespace, "apiroutes.portico.dev", "--all", "--wait=false",
                          "--ignore-not-found", check=False, timeout=60)
    control_plane.kubectl("delete", "ingressclass", name, "--wait=false", "--ignore-not-found", check=False)
