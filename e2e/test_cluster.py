"""The fuller test cluster: kube-controller-manager and the process-based kubelet of
kube-testenv. Deployments become ReplicaSets and Ready Pods that run as local processes on
their own Pod addresses; Services with a selector get EndpointSlices; namespaces are deleted
for real; every namespace gets its `default` ServiceAccount; a deleted Pod's process stops
and its ReplicaSet replaces it; readiness probes and restarts are honoured."""

from __future__ import annotations

import ipaddress
import os
import ssl
import subprocess
import time

import pytest
import requests

from k8s import BACKEND_IMAGE, PYTHON_IMAGE, wait_until

pytestmark = pytest.mark.timeout(180)

POD_CIDR = ipaddress.ip_network("10.245.0.0/16")   # kube-testenv --pod-cidr default
ECHO_IMAGE = "registry.k8s.io/gateway-api/echo-basic:v1.5.1"  # as in the conformance manifests


def deployment(name, ns, image, replicas=2, env=None, args=None, probe=None, grace=5, port=3000):
    c = {"name": name, "image": image, "ports": [{"name": "http", "containerPort": port}],
         "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                 {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                 {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}] + (env or [])}
    if args:
        c["args"] = args
    if probe:
        c["readinessProbe"] = probe
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"terminationGracePeriodSeconds": grace, "containers": [c]}}}}


def selector_service(name, ns, port=8080, target=3000):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": port, "targetPort": target}]}}


def pods(cp, ns, app):
    return cp.kubectl_json("get", "pods", "-n", ns, "-l", "app=" + app)["items"]


def ready(p) -> bool:
    return p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))


def ready_pods(cp, ns, app, n, timeout=60):
    return wait_until(lambda: (lambda ps: ps if len(ps) == n else None)([p for p in pods(cp, ns, app) if ready(p)]),
                      timeout=timeout, interval=0.2, what="%d Ready pods of %s" % (n, app))


def slice_addresses(cp, ns, svc, only_ready=True) -> set:
    out = set()
    for s in cp.kubectl_json("get", "endpointslices.discovery.k8s.io", "-n", ns,
                             "-l", "kubernetes.io/service-name=" + svc)["items"]:
        for e in s.get("endpoints") or []:
            if not only_ready or e.get("conditions", {}).get("ready"):
                out.update(e["addresses"])
    return out


def echo(ip, port=3000, path="/hello"):
    r = requests.get("http://%s:%d%s" % (ip, port, path), timeout=5)
    r.raise_for_status()
    return r.json()


def first_echo(ip, port=3000, path="/hello"):
    """The first request to a Pod without a readiness probe: such a Pod is Ready as soon as
    its process runs (as in Kubernetes), which can be a moment before it listens."""
    return wait_until(lambda: echo(ip, port, path), timeout=15, interval=0.1, what="%s:%d answering" % (ip, port))


def test_default_serviceaccount_in_new_namespace(control_plane, namespace):
    sa = wait_until(lambda: control_plane.kubectl("get", "serviceaccount", "default", "-n", namespace, check=False)
                    .returncode == 0, timeout=30, what="default ServiceAccount")
    assert sa
    # ... and the cluster CA for Pods' projected token volumes.
    wait_until(lambda: control_plane.kubectl("get", "configmap", "kube-root-ca.crt", "-n", namespace, check=False)
               .returncode == 0, timeout=30, what="kube-root-ca.crt ConfigMap")


def test_node_is_ready(control_plane):
    nodes = control_plane.kubectl_json("get", "nodes")["items"]
    assert [n["metadata"]["name"] for n in nodes] == ["testenv-node"]
    conds = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}
    assert conds["Ready"] == "True"


def test_deployment_of_echo_basic_serves_on_pod_ips_behind_endpointslice(control_plane, namespace):
    cp = control_plane
    cp.apply([deployment("echo", namespace, ECHO_IMAGE, replicas=2), selector_service("echo", namespace)])
    ps = ready_pods(cp, namespace, "echo", 2)
    ips = {p["status"]["podIP"] for p in ps}
    assert len(ips) == 2 and all(ipaddress.ip_address(i) in POD_CIDR for i in ips), ips
    for p in ps:
        conds = {c["type"]: c["status"] for c in p["status"]["conditions"]}
        assert conds == {**conds, "PodScheduled": "True", "Initialized": "True", "ContainersReady": "True", "Ready": "True"}
        cs = p["status"]["containerStatuses"][0]
        assert cs["ready"] and cs["state"].get("running") and cs["restartCount"] == 0
        assert p["spec"]["nodeName"] == "testenv-node"
        # The ReplicaSet owns the Pod, the Deployment owns the ReplicaSet.
        assert p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    # The endpointslice controller publishes exactly those addresses.
    wait_until(lambda: slice_addresses(cp, namespace, "echo") == ips, timeout=30, what="EndpointSlice = pod IPs")
    # Every Pod binds the same port on its own address (own network namespace) and knows
    # who it is through the downward API.
    for p in ps:
        body = first_echo(p["status"]["podIP"])
        assert body["pod"] == p["metadata"]["name"]
        assert body["namespace"] == namespace
        assert body["path"] == "/hello"


def test_deleted_pod_stops_its_process_and_is_replaced(control_plane, namespace):
    cp = control_plane
    cp.apply(deployment("echo", namespace, ECHO_IMAGE, replicas=1, grace=3))
    (old,) = ready_pods(cp, namespace, "echo", 1)
    name, ip = old["metadata"]["name"], old["status"]["podIP"]
    pid = int(old["status"]["containerStatuses"][0]["containerID"].split("://")[1])
    assert os.path.exists("/proc/%d" % pid)
    assert first_echo(ip)["pod"] == name
    t0 = time.monotonic()
    cp.kubectl("delete", "pod", name, "-n", namespace, "--wait=true", "--timeout=60s")
    took = time.monotonic() - t0
    # echo-basic exits on SIGTERM at once: the Pod object is gone well before its grace.
    assert took < 3 + 5, took
    wait_until(lambda: not os.path.exists("/proc/%d" % pid), timeout=10, what="process %d gone" % pid)
    with pytest.raises(requests.RequestException):
        requests.get("http://%s:3000/" % ip, timeout=2)
    (new,) = ready_pods(cp, namespace, "echo", 1)
    assert new["metadata"]["name"] != name
    assert first_echo(new["status"]["podIP"])["pod"] == new["metadata"]["name"]


def test_namespace_deletion_removes_its_objects(control_plane):
    cp = control_plane
    ns = "e2e-nsdel-%d" % os.getpid()
    cp.kubectl("create", "namespace", ns)
    try:
        cp.apply([deployment("echo", ns, ECHO_IMAGE, replicas=1), selector_service("echo", ns),
                  {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": ns}, "data": {"a": "b"}}])
        (p,) = ready_pods(cp, ns, "echo", 1)
        pid = int(p["status"]["containerStatuses"][0]["containerID"].split("://")[1])
        cp.kubectl("delete", "namespace", ns, "--wait=true", "--timeout=90s", timeout=120)
        assert cp.kubectl("get", "namespace", ns, check=False).returncode != 0
        assert cp.kubectl_json("get", "pods,replicasets,deployments,configmaps", "-n", ns)["items"] == []
        assert not os.path.exists("/proc/%d" % pid)
    finally:
        cp.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)


def test_readiness_probe_drives_pod_ready_and_endpointslice(control_plane, namespace):
    """e2e/backend.py as a Pod: its readiness probe GETs / every second; when the backend is
    told to answer 503 the Pod turns NotReady and the EndpointSlice says so, and back."""
    cp = control_plane
    probe = {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1, "failureThreshold": 1}
    cp.apply([deployment("web", namespace, BACKEND_IMAGE, replicas=1, probe=probe, port=8080,
                         args=["--name", "$(POD_NAME)", "--host", "$(POD_IP)", "--port", "8080"]),
              selector_service("web", namespace, port=80, target=8080)])
    (p,) = ready_pods(cp, namespace, "web", 1)
    ip = p["status"]["podIP"]
    assert echo(ip, 8080)["backend"] == p["metadata"]["name"]
    wait_until(lambda: slice_addresses(cp, namespace, "web") == {ip}, timeout=30, what="ready endpoint")
    requests.post("http://%s:8080/__backend/mode" % ip, json={"mode": "status", "status": 503}, timeout=5).raise_for_status()
    wait_until(lambda: not ready(pods(cp, namespace, "web")[0]), timeout=15, what="Pod NotReady")
    wait_until(lambda: slice_addresses(cp, namespace, "web") == set()
               and slice_addresses(cp, namespace, "web", only_ready=False) == {ip}, timeout=30, what="endpoint not ready")
    requests.post("http://%s:8080/__backend/mode" % ip, json={"mode": "ok"}, timeout=5).raise_for_status()
    wait_until(lambda: ready(pods(cp, namespace, "web")[0]), timeout=15, what="Pod Ready again")
    wait_until(lambda: slice_addresses(cp, namespace, "web") == {ip}, timeout=30, what="endpoint ready again")


def test_crashing_container_is_restarted_with_backoff(control_plane, namespace):
    cp = control_plane
    # backend.py rejects an unknown --mode and exits 2.
    cp.apply(deployment("crash", namespace, BACKEND_IMAGE, replicas=1, port=8080,
                        args=["--name", "x", "--mode", "no-such-mode"]))

    def restarted():
        ps = pods(cp, namespace, "crash")
        if not ps or not ps[0]["status"].get("containerStatuses"):
            return None
        cs = ps[0]["status"]["containerStatuses"][0]
        return cs if cs["restartCount"] >= 2 else None

    cs = wait_until(restarted, timeout=30, interval=0.2, what="2 restarts")
    assert cs["lastState"]["terminated"]["exitCode"] == 2
    assert not cs["ready"]


def test_unmapped_image_is_reported_not_run(control_plane, namespace):
    cp = control_plane
    cp.apply(deployment("nope", namespace, "example.com/not-here:1", replicas=1))

    def waiting():
        ps = pods(cp, namespace, "nope")
        cs = ps and ps[0]["status"].get("containerStatuses")
        return cs and cs[0]["state"].get("waiting", {}).get("reason") == "ErrImageNotMapped" and cs[0]

    cs = wait_until(waiting, timeout=30, what="ErrImageNotMapped")
    assert "not mapped" in cs["state"]["waiting"]["message"]


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_secret_volume_mounted_once_the_secret_exists(control_plane, namespace, tmp_path):
    """A Pod whose Secret volume does not exist yet waits (CreateContainerConfigError) and
    starts once the Secret is created, like the conformance suite's TLS backends: echo-basic
    then serves HTTPS with the certificate read from the mounted volume."""
    cp = control_plane
    dep = deployment("tls", namespace, ECHO_IMAGE, replicas=1,
                     env=[{"name": "HTTPS_PORT", "value": "8443"},
                          {"name": "TLS_SERVER_CERT", "value": "/etc/e2e-secret-volume/crt"},
                          {"name": "TLS_SERVER_PRIVKEY", "value": "/etc/e2e-secret-volume/key"}])
    spec = dep["spec"]["template"]["spec"]
    spec["containers"][0]["volumeMounts"] = [{"name": "certs", "mountPath": "/etc/e2e-secret-volume", "readOnly": True}]
    spec["volumes"] = [{"name": "certs", "secret": {"secretName": "tls-cert"}}]
    cp.apply(dep)

    def waiting():
        ps = pods(cp, namespace, "tls")
        cs = ps and ps[0]["status"].get("containerStatuses")
        return cs and cs[0]["state"].get("waiting", {}).get("reason") == "CreateContainerConfigError"

    wait_until(waiting, timeout=30, what="Pod waiting for its Secret")
    crt, key = tmp_path / "crt", tmp_path / "key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=tls.e2e.test", "-days", "1", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True, timeout=30)
    cp.kubectl("create", "secret", "generic", "tls-cert", "-n", namespace,
               "--from-file=crt=%s" % crt, "--from-file=key=%s" % key)
    (p,) = ready_pods(cp, namespace, "tls", 1, timeout=30)
    ip = p["status"]["podIP"]
    # The certificate echo-basic serves is the one in the Secret: the volume was mounted.
    served = wait_until(lambda: ssl.get_server_certificate((ip, 8443), timeout=5), timeout=15, what="HTTPS on 8443")
    assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(crt.read_text())
    assert requests.get("https://%s:8443/x" % ip, verify=False, timeout=5).json()["path"] == "/x"


def test_sigterm_ignored_means_sigkill_after_the_grace_period(control_plane, namespace):
    cp = control_plane
    script = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "print('up', flush=True); time.sleep(600)")
    cp.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stubborn", "namespace": namespace, "labels": {"app": "stubborn"}},
              "spec": {"terminationGracePeriodSeconds": 3,
                       "containers": [{"name": "main", "image": PYTHON_IMAGE, "args": ["-c", script]}]}})
    (p,) = ready_pods(cp, namespace, "stubborn", 1)
    pid = int(p["status"]["containerStatuses"][0]["containerID"].split("://")[1])
    t0 = time.monotonic()
    cp.kubectl("delete", "pod", "stubborn", "-n", namespace, "--wait=true", "--timeout=60s")
    took = time.monotonic() - t0
    assert 3 <= took < 3 + 10, took    # SIGTERM ignored: the grace period runs out, then SIGKILL
    assert not os.path.exists("/proc/%d" % pid)


def test_liveness_probe_failure_restarts_the_container(control_plane, namespace):
    cp = control_plane
    dep = deployment("live", namespace, BACKEND_IMAGE, replicas=1, port=8080,
                     args=["--name", "$(POD_NAME)", "--host", "$(POD_IP)", "--port", "8080"])
    dep["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] = {
        "httpGet": {"path": "/", "port": 8080}, "initialDelaySeconds": 2, "periodSeconds": 1, "failureThreshold": 2}
    cp.apply(dep)
    (p,) = ready_pods(cp, namespace, "live", 1)
    ip = p["status"]["podIP"]
    first = p["status"]["containerStatuses"][0]["containerID"]
    first_echo(ip, 8080)
    requests.post("http://%s:8080/__backend/mode" % ip, json={"mode": "status", "status": 500}, timeout=5).raise_for_status()

    def restarted():
        ps = [q for q in pods(cp, namespace, "live") if ready(q)]
        cs = ps and ps[0]["status"]["containerStatuses"][0]
        return cs and cs["restartCount"] == 1 and cs["containerID"] != first and cs

    cs = wait_until(restarted, timeout=30, interval=0.2, what="container restarted by its liveness probe")
    assert cs["lastState"]["terminated"]["exitCode"] == 137   # SIGKILL
    # The new process starts in mode ok, so the probe passes and it stays up; same Pod, same IP.
    assert first_echo(ip, 8080)["request_number"] >= 1
    time.sleep(3)
    assert pods(cp, namespace, "live")[0]["status"]["containerStatuses"][0]["restartCount"] == 1
