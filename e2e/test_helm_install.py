"""The Helm chart against the real apiserver: `helm install` creates every object, and portico
then runs out of cluster with the chart ServiceAccount's token (not admin) and the Deployment's
own arguments, which proves the chart's RBAC is sufficient. Also: the chart's CRD copy and
manifests/ are in sync with their sources."""

from __future__ import annotations

import base64
import os
import re
import subprocess

import pytest
import yaml

from k8s import REPO, apiroute, ask, wait_until

pytestmark = pytest.mark.timeout(300)

CHART = REPO / "helm" / "portico"
RELEASE = "pe2e"
FULLNAME = RELEASE + "-portico"
HOST = "helm.e2e.test"


def test_chart_crd_is_identical_to_crds_dir():
    src = (REPO / "crds" / "portico.dev_apiroutes.yaml").read_bytes()
    copy = (CHART / "crds" / "portico.dev_apiroutes.yaml").read_bytes()
    assert copy == src, "helm/portico/crds/portico.dev_apiroutes.yaml differs from crds/portico.dev_apiroutes.yaml"
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == sorted(p.name for p in (REPO / "crds").glob("*.yaml"))


def test_manifests_in_sync_with_chart(control_plane):
    p = subprocess.run(["bash", str(REPO / "scripts" / "render-manifests.sh"), "--check"], cwd=REPO, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                       env={**os.environ, "HELM": str(control_plane.bin_dir / "helm")})
    assert p.returncode == 0, "manifests/portico.yaml is out of date:\n%s%s" % (p.stdout[-4000:], p.stderr[-2000:])
    assert "up to date" in p.stderr


def _sa_kubeconfig(cp, namespace, sa, path):
    token = cp.kubectl("create", "token", sa, "-n", namespace, "--duration=1h").stdout.strip()
    assert token.count(".") == 2, "not a JWT: %r" % token[:40]
    cfg = {
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "e2e", "cluster": {
            "server": cp.server,
            "certificate-authority-data": base64.b64encode(cp.ca_cert.read_bytes()).decode()}}],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "e2e", "user": sa, "namespace": namespace}}],
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def _deployment_args(deploy) -> list[str]:
    """The container args of the chart's Deployment without the listener ports (the test
    picks free ones)."""
    args = list(deploy["spec"]["template"]["spec"]["containers"][0]["args"])
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("--http-port", "--https-port", "--admin-port"):
            skip = True
            continue
        out.append(a)
    return out


def test_helm_install_and_run_with_chart_serviceaccount(control_plane, namespace, backends, service, portico,
                                                        tmp_path, gateway_crds):
    # gateway_crds: `kubectl auth can-i` resolves gateway.networking.k8s.io resources only
    # when their CRDs are served, and Portico then watches them with the chart's RBAC.
    cp = control_plane
    cls = "helm-" + namespace[-40:]
    cp.helm("install", RELEASE, str(CHART), "--namespace", namespace, "--set", "ingressClass.name=" + cls,
            timeout=180)
    try:
        _check_installed_and_run(cp, namespace, cls, backends, service, portico, tmp_path)
    finally:
        cp.helm("uninstall", RELEASE, "--namespace", namespace, "--wait=false", check=False, timeout=120)
        cp.kubectl("delete", "-n", namespace, "apiroutes.portico.dev", "--all", "--wait=false", check=False)


def _check_installed_and_run(cp, namespace, cls, backends, service, portico, tmp_path):
    # ---- everything the chart makes exists, as configured ----
    sa = cp.kubectl_json("get", "serviceaccount", FULLNAME, "-n", namespace)
    assert sa["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
    cr = cp.kubectl_json("get", "clusterrole", FULLNAME)
    assert not any("*" in r.get("verbs", []) or "*" in r.get("resources", []) for r in cr["rules"]), cr["rules"]
    cp.kubectl_json("get", "clusterrole", FULLNAME + "-ingressclasses")
    bindings = {b["metadata"]["name"]: b for b in cp.kubectl_json("get", "clusterrolebindings")["items"]
                if b["metadata"]["name"].startswith(FULLNAME)}
    assert bindings, "no ClusterRoleBinding for %s" % FULLNAME
    for b in bindings.values():
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": namespace}], b
    role = cp.kubectl_json("get", "role", FULLNAME, "-n", namespace)
    assert any("leases" in r["resources"] for r in role["rules"]), role
    rb = cp.kubectl_json("get", "rolebinding", FULLNAME, "-n", namespace)
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": FULLNAME}
    ic = cp.kubectl_json("get", "ingressclass", cls)
    assert ic["spec"]["controller"] == "portico.dev/ingress-controller"
    svc = cp.kubectl_json("get", "service", FULLNAME, "-n", namespace)
    assert svc["spec"]["type"] == "LoadBalancer"
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"http": 80, "https": 443}
    deploy = cp.kubectl_json("get", "deployment", FULLNAME, "-n", namespace)
    assert deploy["spec"]["replicas"] == 2
    pod = deploy["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == FULLNAME
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["containers"][0]["livenessProbe"]["httpGet"]["path"] == "/healthz"
    args = _deployment_args(deploy)
    assert "--leader-elect" in args and args[args.index("--ingress-class") + 1] == cls, args
    assert args[args.index("--publish-service") + 1] == "%s/%s" % (namespace, FULLNAME), args
    pdb = cp.kubectl_json("get", "poddisruptionbudget", FULLNAME, "-n", namespace)
    assert pdb["spec"]["minAvailable"] == 1
    # The testenv kubelet runs the chart's pods (test_helm_deployment_runs_portico_in_cluster
    # checks that). Here portico runs out of cluster with the ServiceAccount's token, so that
    # RBAC is checked in isolation: scale the Deployment to 0 first, or its replicas would
    # compete for the Lease and the status writes below.
    cp.kubectl("scale", "deployment", FULLNAME, "-n", namespace, "--replicas=0")
    wait_until(lambda: not cp.kubectl_json("get", "pods", "-n", namespace,
                                           "-l", "app.kubernetes.io/instance=" + RELEASE)["items"],
               timeout=90, what="the chart's pods gone")

    # ---- least privilege, as the apiserver sees it ----
    who = "system:serviceaccount:%s:%s" % (namespace, FULLNAME)
    for verb, res, ns, want in [("watch", "apiroutes.portico.dev", None, "yes"),
                                ("patch", "apiroutes.portico.dev/status", None, "yes"),
                                ("update", "apiroutes.portico.dev", None, "no"),
                                ("delete", "ingresses.networking.k8s.io", None, "no"),
                                ("list", "endpointslices.discovery.k8s.io", None, "yes"),
                                ("create", "events", None, "yes"),
                                ("update", "leases.coordination.k8s.io", namespace, "yes"),
                                ("update", "leases.coordination.k8s.io", "kube-system", "no"),
                                ("create", "secrets", None, "no"),
                                ("watch", "httproutes.gateway.networking.k8s.io", None, "yes"),
                                ("patch", "httproutes.gateway.networking.k8s.io/status", None, "yes"),
                                ("update", "httproutes.gateway.networking.k8s.io", None, "no"),
                                ("patch", "gatewayclasses.gateway.networking.k8s.io/status", None, "yes"),
                                ("update", "referencegrants.gateway.networking.k8s.io", None, "no"),
                                ("list", "namespaces", None, "yes"),
                                ("delete", "namespaces", None, "no")]:
        scope = ["-n", ns] if ns else ["-A"]
        res, _, sub = res.partition("/")
        scope += ["--subresource=" + sub] if sub else []
        got = cp.kubectl("auth", "can-i", verb, res, *scope, "--as", who, check=False).stdout.strip()
        assert got == want, "can-i %s %s %s as %s: %s, want %s" % (verb, res, scope, who, got, want)

    # ---- portico with the ServiceAccount's token and the Deployment's arguments ----
    kubeconfig = _sa_kubeconfig(cp, namespace, FULLNAME, tmp_path / "sa.kubeconfig")
    (a,) = backends(["alpha"])
    service("svc-a", [a])
    cp.kubectl("patch", "service", FULLNAME, "-n", namespace, "--subresource=status", "--type=merge",
               "-p", '{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.50"}]}}}')
    cp.apply([
        apiroute("good", namespace, [("main", "/api", "svc-a", 80)], hosts=[HOST], ingressClassName=cls),
        apiroute("bad", namespace, [("main", "/bad", "svc-missing", 80)], hosts=[HOST], ingressClassName=cls),
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web", "namespace": namespace},
         "spec": {"ingressClassName": cls, "rules": [{"host": "ing-" + HOST, "http": {"paths": [
             {"path": "/", "pathType": "Prefix",
              "backend": {"service": {"name": "svc-a", "port": {"number": 80}}}}]}}]}},
    ])
    # Flags given later win: --kubeconfig points at the ServiceAccount kubeconfig, not admin's.
    p = portico(*args, "--log-format", "text", "--kubeconfig", kubeconfig,
                env={"POD_NAMESPACE": namespace, "POD_NAME": FULLNAME + "-test-pod", "KUBECONFIG": str(kubeconfig)})

    assert "(bearer token, cluster CA)" in p.logs(), p.logs()[:2000]
    wait_until(lambda: ask(p.http_url, "/api", HOST) == (200, "alpha"), what="APIRoute served")
    wait_until(lambda: ask(p.http_url, "/", "ing-" + HOST) == (200, "alpha"), what="Ingress served")

    lease = wait_until(lambda: cp.kubectl_json("get", "lease", "portico-leader", "-n", namespace)["spec"],
                       timeout=20, what="Lease in the release namespace")
    assert lease["holderIdentity"] == FULLNAME + "-test-pod"

    def conds(name):
        obj = cp.kubectl_json("get", "apiroute", name, "-n", namespace)
        return {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}

    wait_until(lambda: conds("good") == {"Accepted": "True", "ResolvedRefs": "True", "Programmed": "True"},
               what="good APIRoute status written with the SA token")
    wait_until(lambda: conds("bad").get("ResolvedRefs") == "False", what="bad APIRoute status")
    evs = wait_until(lambda: cp.kubectl_json("get", "events", "-n", namespace, "--field-selector",
                                             "involvedObject.name=bad,type=Warning")["items"],
                     what="Warning Event created with the SA token")
    assert evs[0]["reason"] == "BackendNotFound" and evs[0]["reportingInstance"] == FULLNAME + "-test-pod"
    # --publish-service: the chart Service's load balancer address lands in Ingress status.
    lb = wait_until(lambda: cp.kubectl_json("get", "ingress", "web", "-n", namespace)
                    .get("status", {}).get("loadBalancer", {}).get("ingress"), timeout=30, what="Ingress status")
    assert lb == [{"ip": "203.0.113.50"}]
    # The load balancer's address changes: the Ingress status follows.
    cp.kubectl("patch", "service", FULLNAME, "-n", namespace, "--subresource=status", "--type=merge",
               "-p", '{"status":{"loadBalancer":{"ingress":[{"hostname":"lb.helm.e2e.test"}]}}}')
    wait_until(lambda: cp.kubectl_json("get", "ingress", "web", "-n", namespace)["status"]["loadBalancer"]
               .get("ingress") == [{"hostname": "lb.helm.e2e.test"}], timeout=30, what="Ingress status follows")
    # Nothing was refused along the way.
    forbidden = [ln for ln in p.logs().splitlines() if re.search(r"HTTP 403|forbidden", ln, re.I)]
    assert not forbidden, "\n".join(forbidden[:20])

    # Negative control: without the RoleBinding the same process is refused on the Lease, so the
    # permissions above really came from the chart's RBAC and not from an admin identity.
    cp.kubectl("delete", "rolebinding", FULLNAME, "-n", namespace)
    wait_until(lambda: re.search(r"lease .*(HTTP 403|forbidden)", p.logs(), re.I), timeout=20,
               what="403 on the Lease after the RoleBinding is gone")


def test_helm_deployment_runs_portico_in_cluster(control_plane, namespace, backends, service):
    """helm install, and the chart's Deployment really runs: the testenv kubelet starts the
    portico binary for the chart's image with the Deployment's args, the Pod's projected
    ServiceAccount token and KUBERNETES_SERVICE_HOST; the readiness probe (/readyz) makes
    the Pod Ready; the chart Service's EndpointSlice lists it; it routes an APIRoute, and a
    TCP route on the layer-4 port the chart's tcpPorts value opened."""
    cp = control_plane
    release = "pin"
    cls = "helm-in-" + namespace[-40:]
    cp.helm("install", release, str(CHART), "--namespace", namespace, "--set", "ingressClass.name=" + cls,
            "--set", "replicaCount=1", "--set", "tcpPorts[0].name=raw", "--set", "tcpPorts[0].port=7070", timeout=180)
    try:
        (a,) = backends(["alpha"])
        service("svc-a", [a])
        cp.apply(apiroute("r", namespace, [("main", "/api", "svc-a", 80)], hosts=[HOST], ingressClassName=cls))
        cp.apply({"apiVersion": "portico.dev/v1alpha1", "kind": "APIRoute", "metadata": {"name": "raw", "namespace": namespace},
                  "spec": {"ingressClassName": cls, "tcp": {"port": 7070, "backends": [{"service": "svc-a", "port": 80}]}}})
        sel = "app.kubernetes.io/instance=" + release

        def ready_pod():
            for p in cp.kubectl_json("get", "pods", "-n", namespace, "-l", sel)["items"]:
                if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", [])):
                    return p
            return None

        pod = wait_until(ready_pod, timeout=90, interval=0.5, what="the chart's portico Pod Ready")
        ip = pod["status"]["podIP"]
        cs = pod["status"]["containerStatuses"][0]
        assert cs["restartCount"] == 0, cs
        wait_until(lambda: ask("http://%s:8080" % ip, "/api", HOST) == (200, "alpha"), timeout=30,
                   what="APIRoute served by the in-cluster portico")
        # The TCP route: HTTP bytes carried as they are (the backend sees the Host written).
        wait_until(lambda: ask("http://%s:7070" % ip, "/raw", "raw.e2e.test") == (200, "alpha"), timeout=30,
                   what="TCP route on the chart's tcpPorts port")
        ports = {p["name"]: p for p in cp.kubectl_json("get", "service", "%s-portico" % release, "-n", namespace)["spec"]["ports"]}
        assert ports["raw"]["port"] == 7070 and ports["raw"]["targetPort"] == "raw", ports
        # The chart's Service selects the Pod: the endpointslice controller lists its address.
        wait_until(lambda: ip in {addr for s in cp.kubectl_json("get", "endpointslices.discovery.k8s.io", "-n", namespace,
                                                                 "-l", "kubernetes.io/service-name=%s-portico" % release)["items"]
                                  for e in s.get("endpoints") or [] for addr in e["addresses"]},
                   timeout=30, what="chart Service EndpointSlice lists the Pod")
        lease = wait_until(lambda: cp.kubectl_json("get", "lease", "portico-leader", "-n", namespace)["spec"],
                           timeout=30, what="Lease held by the Pod")
        assert lease["holderIdentity"] == pod["metadata"]["name"]
    finally:
        cp.helm("uninstall", release, "--namespace", namespace, "--wait=false", check=False, timeout=120)
        cp.kubectl("delete", "-n", namespace, "apiroutes.portico.dev", "--all", "--wait=false", check=False)
