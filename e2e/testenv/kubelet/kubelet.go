// Package kubelet is a process-based stand-in for the kubelet (and for the scheduler) in
// Portico's e2e control plane. It registers one Node, binds every unscheduled Pod to it,
// and runs each Pod's containers as local processes, each Pod in its own network and mount
// namespace with its own address from the Pod CIDR (see sandbox.go). Images are mapped to
// local programs by a table (images.go): there is no container runtime. It writes Pod
// status back (phase, IPs, conditions, container statuses), honours readiness and liveness
// probes, restarts containers per restartPolicy, and on deletion stops the processes within
// the grace period and removes the Pod object, as the kubelet does.
//
// It needs the privileges of root in the e2e network namespace (e2e/netns.sh) to create
// namespaces, veth pairs and routes there.
package kubelet

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

type Config struct {
	Rest        *rest.Config
	NodeName    string // default "testenv-node"
	NodeIP      string // the node's address in the e2e namespace (default 10.244.0.1)
	PodCIDR     string // Pod addresses (default 10.245.0.0/16); must not overlap local routes
	ServiceHost string // ClusterIP of the `kubernetes` Service (default 10.96.0.1): a local proxy to the apiserver listens there on :443
	APIServer   string // host:port the proxy forwards to (the apiserver's secure port)
	Dir         string // state: Pod volumes, container logs (DIR/logs/NS_POD_CONTAINER.log)
	Images      Images
	Log         *log.Logger
}

type Kubelet struct {
	cfg Config
	cs  kubernetes.Interface
	ips *ipPool

	mu      sync.Mutex
	workers map[string]*podWorker
	wg      sync.WaitGroup
}

func (k *Kubelet) logf(format string, args ...any) { k.cfg.Log.Printf("kubelet: "+format, args...) }

// Run starts the kubelet and returns once the Node is registered; it keeps running until
// ctx ends, then stops every Pod's processes (Wait waits for that).
func Run(ctx context.Context, cfg Config) (*Kubelet, error) {
	if cfg.NodeName == "" {
		cfg.NodeName = "testenv-node"
	}
	if cfg.NodeIP == "" {
		cfg.NodeIP = "10.244.0.1"
	}
	if cfg.PodCIDR == "" {
		cfg.PodCIDR = "10.245.0.0/16"
	}
	if cfg.ServiceHost == "" {
		cfg.ServiceHost = "10.96.0.1"
	}
	if cfg.Log == nil {
		cfg.Log = log.New(os.Stderr, "", log.LstdFlags)
	}
	ips, err := newIPPool(cfg.PodCIDR)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg.Rest)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	if err := hostSetup(cfg.NodeIP, cfg.ServiceHost); err != nil {
		return nil, fmt.Errorf("network setup (needs root in the e2e network namespace): %w", err)
	}
	if err := proxyAPIServer(ctx, net.JoinHostPort(cfg.ServiceHost, "443"), cfg.APIServer); err != nil {
		return nil, err
	}
	k := &Kubelet{cfg: cfg, cs: cs, ips: ips, workers: map[string]*podWorker{}}
	if err := k.registerNode(ctx); err != nil {
		return nil, err
	}
	go k.heartbeat(ctx)

	f := informers.NewSharedInformerFactory(cs, 0)
	inf := f.Core().V1().Pods().Informer()
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { k.onPod(ctx, o.(*corev1.Pod)) },
		UpdateFunc: func(_, o any) { k.onPod(ctx, o.(*corev1.Pod)) },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if p, ok := o.(*corev1.Pod); ok {
				k.onDelete(p)
			}
		},
	})
	f.Start(ctx.Done())
	k.logf("node %s registered (node IP %s, pod CIDR %s); images: %s", cfg.NodeName, cfg.NodeIP, cfg.PodCIDR, cfg.Images)
	return k, nil
}

// Wait blocks until every Pod worker has stopped its processes (after ctx ended).
func (k *Kubelet) Wait() { k.wg.Wait() }

func (k *Kubelet) onPod(ctx context.Context, p *corev1.Pod) {
	if p.Spec.NodeName == "" {
		if p.DeletionTimestamp == nil {
			go k.schedule(ctx, p)
		}
		return
	}
	if p.Spec.NodeName != k.cfg.NodeName {
		return
	}
	uid := string(p.UID)
	k.mu.Lock()
	w, ok := k.workers[uid]
	if !ok {
		if terminal(p) && p.DeletionTimestamp == nil {
			k.mu.Unlock()
			return // finished before this kubelet started: nothing to run
		}
		w = &podWorker{k: k, uid: uid, updates: make(chan *corev1.Pod, 1), gone: make(chan struct{})}
		k.workers[uid] = w
		k.wg.Add(1)
		go func() { defer k.wg.Done(); w.run(ctx) }()
	}
	k.mu.Unlock()
	// Keep only the newest object in the mailbox.
	select {
	case <-w.updates:
	default:
	}
	w.updates <- p
}

func (k *Kubelet) onDelete(p *corev1.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if w, ok := k.workers[string(p.UID)]; ok {
		select {
		case <-w.gone:
		default:
			close(w.gone)
		}
	}
}

func (k *Kubelet) forget(uid string) {
	k.mu.Lock()
	delete(k.workers, uid)
	k.mu.Unlock()
}

// schedule is the whole scheduler: every Pod goes to this node, unless its nodeSelector
// does not match the node's labels (then it stays Pending, like an unschedulable Pod).
func (k *Kubelet) schedule(ctx context.Context, p *corev1.Pod) {
	if len(p.Spec.NodeSelector) > 0 && !labels.SelectorFromSet(p.Spec.NodeSelector).Matches(labels.Set(k.nodeLabels())) {
		return
	}
	b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
		Target: corev1.ObjectReference{Kind: "Node", Name: k.cfg.NodeName}}
	err := k.cs.CoreV1().Pods(p.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		k.logf("bind %s/%s: %v", p.Namespace, p.Name, err)
	}
}

func (k *Kubelet) nodeLabels() map[string]string {
	return map[string]string{"kubernetes.io/hostname": k.cfg.NodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
}

func (k *Kubelet) nodeStatus() corev1.NodeStatus {
	now := metav1.Now()
	res := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("16Gi"),
		corev1.ResourcePods: resource.MustParse("250"), corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	return corev1.NodeStatus{
		Capacity: res, Allocatable: res,
		Phase: corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			Message: "testenv kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: k.cfg.NodeIP},
			{Type: corev1.NodeHostName, Address: k.cfg.NodeName}},
		NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "testenv", OperatingSystem: "linux", Architecture: "amd64",
			ContainerRuntimeVersion: "process://testenv"},
	}
}

func (k *Kubelet) registerNode(ctx context.Context) error {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Labels: k.nodeLabels()},
		Spec: corev1.NodeSpec{PodCIDR: k.cfg.PodCIDR, PodCIDRs: []string{k.cfg.PodCIDR}}}
	if _, err := k.cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register node: %w", err)
	}
	return k.postStatus(ctx)
}

func (k *Kubelet) postStatus(ctx context.Context) error {
	n, err := k.cs.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	n.Status = k.nodeStatus()
	_, err = k.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	return err
}

// heartbeat keeps the Node Ready (no node-lifecycle controller runs, but tools read it).
func (k *Kubelet) heartbeat(ctx context.Context) {
	t := time.NewTicker(20 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.postStatus(ctx); err != nil && ctx.Err() == nil {
				k.logf("node status: %v", err)
			}
		}
	}
}

// proxyAPIServer listens on the `kubernetes` Service's ClusterIP:443 and forwards to the
// apiserver: there is no kube-proxy, and in-cluster clients (Portico in a Pod) connect to
// KUBERNETES_SERVICE_HOST:PORT. The serving certificate includes that IP. SO_REUSEPORT
// lets a process in the namespace listen on the wildcard address at 443 too (Portico, for
// the conformance Gateways' HTTPS listeners; it sets the option on its listeners); the
// kernel hands connections to this more specific address to this listener.
func proxyAPIServer(ctx context.Context, listen, target string) error {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		if err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return fmt.Errorf("apiserver proxy: %w", err)
	}
	go func() { <-ctx.Done(); ln.Close() }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.DialTimeout("tcp", target, 5*time.Second)
				if err != nil {
					return
				}
				defer u.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(u, c); done <- struct{}{} }()
				go func() { io.Copy(c, u); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return nil
}
