package main

// The "fuller cluster" around kube-apiserver: kube-controller-manager (controllermanager.go)
// and the process-based kubelet (package kubelet). Both start once the apiserver is ready
// and before READY is printed, so that a test sees a `default` ServiceAccount and a Ready
// Node from its first line.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"portico.dev/e2e/testenv/kubelet"
)

type clusterFlags struct {
	controllerManager bool
	kubelet           string
	images            stringList
	podCIDR, nodeIP   string
}

func (f *clusterFlags) register() {
	flag.BoolVar(&f.controllerManager, "controller-manager", true, "run kube-controller-manager (Deployments, ReplicaSets, EndpointSlices, namespace deletion, garbage collection, ServiceAccounts)")
	flag.StringVar(&f.kubelet, "kubelet", "auto", "run the process-based kubelet: true, false, or auto (only inside e2e/netns.sh's namespace, where it may create network namespaces and routes)")
	flag.Var(&f.images, "image", "REPO=PROGRAM [ARGS...]: run containers of image REPO (any tag) as PROGRAM (repeatable); echo-basic and coredns next to this binary are mapped by default")
	flag.StringVar(&f.podCIDR, "pod-cidr", "10.245.0.0/16", "Pod addresses (kubelet)")
	flag.StringVar(&f.nodeIP, "node-ip", "10.244.0.1", "the Node's address (kubelet); must be inside a local route of the e2e namespace")
}

// The images the Gateway API conformance manifests use, and the program built next to this
// binary (e2e/build-testenv.sh) that each runs as.
var builtImages = map[string]string{
	"registry.k8s.io/gateway-api/echo-basic":    "echo-basic",
	"gcr.io/k8s-staging-gateway-api/echo-basic": "echo-basic",
	"registry.k8s.io/coredns/coredns":           "coredns",
}

func (f *clusterFlags) imageTable() (kubelet.Images, error) {
	im := kubelet.Images{}
	if self, err := os.Executable(); err == nil {
		for repo, program := range builtImages {
			if p := filepath.Join(filepath.Dir(self), program); fileExists(p) {
				im[repo] = []string{p}
			}
		}
	}
	for _, s := range f.images {
		repo, entry, err := kubelet.ParseImage(s)
		if err != nil {
			return nil, err
		}
		im[repo] = entry
	}
	return im, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// startCluster starts the controller manager and the kubelet; they stop when ctx ends
// (wait() returns when the kubelet has stopped every Pod's processes).
func (f *clusterFlags) startCluster(ctx context.Context, dir, kubeconfig string, pki *pkiFiles, apiserverPort int, timeout time.Duration) (wait func(), err error) {
	wait = func() {}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return wait, err
	}
	rc.QPS, rc.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return wait, err
	}
	kcmDone := make(chan struct{})
	close(kcmDone)
	if f.controllerManager {
		ports, err := freePorts(1)
		if err != nil {
			return wait, err
		}
		kcmDone = make(chan struct{})
		go func() {
			defer close(kcmDone)
			runControllerManager(ctx, dir, controllerManagerArgs(kubeconfig, pki, ports[0]))
		}()
		// The serviceaccount controller's first act: the `default` ServiceAccount of the
		// `default` namespace. Its presence says the controller manager is up and syncing.
		t0 := time.Now()
		if err := waitFor(ctx, timeout, func() (bool, error) {
			_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return err == nil, err
		}); err != nil {
			return func() { <-kcmDone }, fmt.Errorf("kube-controller-manager: no default ServiceAccount after %v: %w (log: %s)", timeout, err, filepath.Join(dir, "kube-controller-manager.log"))
		}
		log.Printf("kube-controller-manager syncing after %.1fs (controllers: %s)", time.Since(t0).Seconds(), strings.Join(kcmControllers, ","))
	}
	wait = func() { <-kcmDone }

	on := f.kubelet == "true" || (f.kubelet == "auto" && os.Getenv("PORTICO_E2E_NETNS") != "")
	if !on {
		return wait, nil
	}
	im, err := f.imageTable()
	if err != nil {
		return wait, err
	}
	k, err := kubelet.Run(ctx, kubelet.Config{
		Rest: rc, NodeIP: f.nodeIP, PodCIDR: f.podCIDR,
		APIServer: fmt.Sprintf("127.0.0.1:%d", apiserverPort),
		Dir:       filepath.Join(dir, "kubelet"), Images: im, Log: log.Default(),
	})
	if err != nil && f.kubelet == "auto" {
		// E.g. a second kube-testenv in the same network namespace: the first one's kubelet
		// holds 10.96.0.1:443 and the Pod addresses. This one runs without Pods.
		log.Printf("kubelet not started (%v); running without a kubelet", err)
		return wait, nil
	}
	if err != nil {
		return wait, fmt.Errorf("kubelet: %w", err)
	}
	return func() { k.Wait(); <-kcmDone }, nil
}

// waitFor polls cond every 100ms until it is true, it fails for good, or timeout passes.
// Transient errors (the apiserver not answering yet) are retried.
func waitFor(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if last == nil {
		last = errors.New("timed out")
	}
	return last
}
