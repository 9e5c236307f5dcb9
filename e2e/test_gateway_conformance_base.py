"""The Gateway API conformance suite's test bed on the fuller cluster (without a Gateway API
controller): its standard-channel CRDs apply, and its base manifests, 13 echo-basic
Deployments and a coredns one in the gateway-conformance-* namespaces, come up with Ready
Pods behind EndpointSlices. e2e/build-testenv.sh copies the CRDs and manifests of the pinned
sigs.k8s.io/gateway-api v1.6.3 next to the binaries (../gateway-api/) and builds coredns
(e2e/testenv/coredns), which answers DNS as the manifests' Corefile says."""

from __future__ import annotations

import socket
import struct
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

        expected = deployments

        def available():
            ok = set()
            for ns in NAMESPACES:
                for d in cp.kubectl_json("get", "deployments", "-n", ns)["items"]:
                    st = d.get("status", {})
                    if st.get("readyReplicas", 0) == d["spec"].get("replicas", 1) and st.get("updatedReplicas") == d["spec"].get("replicas", 1):
                        ok.add((ns, d["metadata"]["name"]))
            missing = expected - ok
            return (not missing) or None

        wait_until(available, timeout=180, interval=1, what="14 Deployments Ready")
        # Every Ready Pod is behind its Service's EndpointSlice.
        for ns in NAMESPACES:
            pod_ips = {p["status"]["podIP"] for p in cp.kubectl_json("get", "pods", "-n", ns)["items"]
                       if p["status"].get("podIP")}
            wait_until(lambda: pod_ips <= {a for s in cp.kubectl_json("get", "endpointslices.discovery.k8s.io", "-n", ns)["items"]
                                           for e in s.get("endpoints") or [] if e.get("conditions", {}).get("ready")
                                           for a in e["addresses"]},
                       timeout=30, what="EndpointSlices of %s list every Pod" % ns)
        coredns = cp.kubectl_json("get", "pods", "-n", "gateway-conformance-infra", "-l", "app=udp")["items"]
        assert len(coredns) == 1
        answer = whoami(coredns[0]["status"]["podIP"], "foo.bar.com")
        assert answer["response"] and answer["rcode"] == 0 and answer["arcount"] >= 1, answer
    finally:
        cp.kubectl("delete", "namespace", *NAMESPACES, "--ignore-not-found", "--wait=true", "--timeout=120s",
                   check=False, timeout=150)


def whoami(server: str, name: str) -> dict:
    """One DNS A query over UDP to server:53. coredns's whoami plugin answers every name in its
    zone with the asker's address and port (A and SRV records in the additional section)."""
    query = struct.pack(">HHHHHH", 0x5eed, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    query += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(query, (server, 53))
        reply = s.recv(512)
    ident, flags, _, ancount, _, arcount = struct.unpack(">HHHHHH", reply[:12])
    assert ident == 0x5eed
    return {"response": bool(flags & 0x8000), "rcode": flags & 0xF, "ancount": ancount, "arcount": arcount}
