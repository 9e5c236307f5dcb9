"""The Gateway API conformance suite's test bed on the fuller cluster (no Gateway API
controller yet): its standard-channel CRDs apply, and its base manifests, the 13 echo-basic
Deployments in the gateway-conformance-* namespaces, come up with Ready Pods behind
EndpointSlices. e2e/build-testenv.sh copies the CRDs and manifests of the pinned
sigs.k8s.io/gateway-api v1.6.3 next to the binaries (../gateway-api/).

The 14th Deployment, coredns (UDPRoute tests), has no local program for its image: it is
expected to wait with ErrImageNotMapped, and the suite will need it mapped before it can run
(it waits for every Pod in those namespaces)."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from k8s import wait_until

pytestmark = pytest.mark.timeout(300)

NAMESPACES = ["gateway-conformance-infra", "gateway-conformance-app-backend", "gateway-conformance-web-backend"]
# The Secrets the suite creates itself at start (MustCreate*CertSecret), which the TLS
# backends mount: here one self-signed certificate stands in for all of them.
SECRETS = [("gateway-conformance-infra", "tls-checks-certificate"),
           ("gateway-conformance-infra", "tls-passthrough-checks-certificate"),
           ("gateway-conformance-app-backend", "tls-passthrough-checks-certificate")]


def test_conformance_base_manifests_come_up(control_plane, tmp_path):
    cp = control_plane
    gw = cp.bin_dir.parent / "gateway-api"
    assert (gw / "base-manifests.yaml").is_file(), "e2e/build-testenv.sh did not copy the conformance manifests"
    cp.kubectl("apply", "--server-side", "-f", str(gw / "crd"), timeout=120)
    crds = [d["metadata"]["name"] for f in sorted((gw / "crd").glob("*.yaml"))
            for d in yaml.safe_load_all(f.read_text()) if d and d.get("kind") == "CustomResourceDefinition"]
    assert "httproutes.gateway.networking.k8s.io" in crds
    for name in crds:
        cp.kubectl("wait", "--for=condition=Established", "crd/" + name, "--timeout=60s")
    manifests = [d for d in yaml.safe_load_all((gw / "base-manifests.yaml").read_text()) if d]
    deployments = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in manifests if d["kind"] == "Deployment"}
    assert len(deployments) == 14, sorted(deployments)
    try:
        cp.kubectl("apply", "--server-side", "-f", str(gw / "base-manifests.yaml"), timeout=120)
        crt, key = tmp_path / "crt", tmp_path / "key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-subj", "/CN=abc.example.com", "-days", "1", "-keyout", str(key), "-out", str(crt)],
                       check=True, capture_output=True, timeout=30)
        for ns, name in SECRETS:
            cp.kubectl("create", "secret", "tls", name, "-n", ns, "--cert", str(crt), "--key", str(key))

        expected = {k for k in deployments if k[1] != "coredns"}

        def available():
            ok = set()
            for ns in NAMESPACES:
                for d in cp.kubectl_json("get", "deployments", "-n", ns)["items"]:
                    st = d.get("status", {})
                    if st.get("readyReplicas", 0) == d["spec"].get("replicas", 1) and st.get("updatedReplicas") == d["spec"].get("replicas", 1):
                        ok.add((ns, d["metadata"]["name"]))
            missing = expected - ok
            return (not missing) or None

        wait_until(available, timeout=180, interval=1, what="13 echo-basic Deployments Ready")
        # Every Ready Pod is behind its Service's EndpointSlice.
        for ns in NAMESPACES:
            pod_ips = {p["status"]["podIP"] for p in cp.kubectl_json("get", "pods", "-n", ns)["items"]
                       if p["status"].get("podIP") and p["metadata"]["labels"].get("app") != "udp"}
            wait_until(lambda: pod_ips <= {a for s in cp.kubectl_json("get", "endpointslices.discovery.k8s.io", "-n", ns)["items"]
                                           for e in s.get("endpoints") or [] if e.get("conditions", {}).get("ready")
                                           for a in e["addresses"]},
                       timeout=30, what="EndpointSlices of %s list every Pod" % ns)
        coredns = cp.kubectl_json("get", "pods", "-n", "gateway-conformance-infra", "-l", "app=udp")["items"]
        assert coredns and coredns[0]["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ErrImageNotMapped"
    finally:
        cp.kubectl("delete", "namespace", *NAMESPACES, "--ignore-not-found", "--wait=true", "--timeout=120s",
                   check=False, timeout=150)
