package kubelet

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } // probes, like the kubelet's

// podWorker owns one Pod bound to this node: its sandbox, its containers and its status.
// The informer hands it the newest Pod object through `updates`; it runs until the Pod is
// gone (deleted, or terminal and cleaned up).
type podWorker struct {
	k       *Kubelet
	uid     string
	updates chan *corev1.Pod
	gone    chan struct{} // closed by the kubelet when the Pod object disappeared

	pod          *corev1.Pod
	dir          string
	sb           *sandbox
	containers   []*container
	startTime    metav1.Time
	setupErr     error // final: no sandbox (the containers say why)
	volErr       error // retried at volRetry
	volRetry     time.Time
	volumesReady bool
	lastStatus   *corev1.PodStatus
}

const tick = 250 * time.Millisecond

func (w *podWorker) run(ctx context.Context) {
	defer w.k.forget(w.uid)
	w.startTime = nowSec()
	w.dir = filepath.Join(w.k.cfg.Dir, "pods", w.uid)
	os.MkdirAll(w.dir, 0o755)
	defer os.RemoveAll(w.dir)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			w.stop(2 * time.Second)
			return
		case <-w.gone:
			w.stop(w.grace())
			return
		case p := <-w.updates:
			w.pod = p
		case <-t.C:
		}
		if w.pod == nil {
			continue
		}
		if w.pod.DeletionTimestamp != nil {
			w.terminate(ctx)
			return
		}
		if w.sb == nil && w.setupErr == nil && !terminal(w.pod) {
			w.setup(ctx)
		}
		if w.sb != nil && !w.volumesReady && !time.Now().Before(w.volRetry) {
			w.prepare(ctx)
		}
		if w.sb != nil && w.volumesReady {
			w.supervise(ctx)
		}
		w.writeStatus(ctx)
	}
}

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func (w *podWorker) grace() time.Duration {
	if w.pod == nil {
		return 0
	}
	if g := w.pod.DeletionGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	if g := w.pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// setup allocates the address and builds the sandbox, then prepares volumes and starts
// the containers. A sandbox failure is final, kept in setupErr and shown on every container
// (the Pod stays Pending, as with a real kubelet that cannot create the sandbox).
func (w *podWorker) setup(ctx context.Context) {
	fail := func(err error) {
		w.setupErr = err
		w.k.logf("pod %s/%s: %v", w.pod.Namespace, w.pod.Name, err)
		for _, c := range w.pod.Spec.Containers {
			cc := newContainer(c, "", "")
			cc.fail("CreateContainerConfigError", err)
			w.containers = append(w.containers, cc)
		}
	}
	if len(w.pod.Spec.InitContainers) > 0 {
		fail(fmt.Errorf("init containers are not supported by the testenv kubelet"))
		return
	}
	if w.pod.Spec.HostNetwork {
		fail(fmt.Errorf("hostNetwork Pods are not supported by the testenv kubelet"))
		return
	}
	ip, err := w.k.ips.get()
	if err != nil {
		fail(err)
		return
	}
	sb, err := newSandbox(ip, w.k.cfg.NodeIP)
	if err != nil {
		w.k.ips.put(ip)
		fail(err)
		return
	}
	w.sb = sb
	for _, spec := range w.pod.Spec.Containers {
		w.containers = append(w.containers, newContainer(spec, ip.String(),
			filepath.Join(w.k.cfg.Dir, "logs", w.pod.Namespace+"_"+w.pod.Name+"_"+spec.Name+".log")))
	}
	w.k.logf("pod %s/%s: sandbox on %s", w.pod.Namespace, w.pod.Name, ip)
	w.prepare(ctx)
}

// prepare fills and mounts the volumes, then starts the containers. A Secret or ConfigMap
// that does not exist yet is retried every 2s (the conformance suite creates its
// certificate Secrets after the Deployments that mount them), as the kubelet does.
func (w *podWorker) prepare(ctx context.Context) {
	pod := w.pod.DeepCopy()
	pod.Status.PodIP = w.sb.ip.String()
	vols, err := prepareVolumes(ctx, w.k.cs, pod, w.dir, w.k.cfg.NodeIP)
	if err == nil {
		err = w.mount(pod, vols)
	}
	if err != nil {
		if w.volErr == nil || w.volErr.Error() != err.Error() {
			w.k.logf("pod %s/%s: %v (retrying)", pod.Namespace, pod.Name, err)
		}
		w.volErr, w.volRetry = err, time.Now().Add(2*time.Second)
		for _, c := range w.containers {
			c.fail("CreateContainerConfigError", err)
		}
		return
	}
	w.volErr, w.volumesReady = nil, true
	for _, c := range w.containers {
		w.startContainer(ctx, pod, c)
	}
	w.k.logf("pod %s/%s: started %d containers", pod.Namespace, pod.Name, len(w.containers))
}

func (w *podWorker) mount(pod *corev1.Pod, vols map[string]string) error {
	seen := map[string]bool{}
	var ms []bindMount
	for _, c := range pod.Spec.Containers {
		for _, m := range c.VolumeMounts {
			if seen[m.MountPath] {
				continue // one mount namespace per Pod: the first container's mount wins
			}
			seen[m.MountPath] = true
			src, ok := vols[m.Name]
			if !ok {
				return fmt.Errorf("volumeMount %s: no volume %q", m.MountPath, m.Name)
			}
			if m.SubPath != "" {
				src = filepath.Join(src, m.SubPath)
			}
			ms = append(ms, bindMount{src: src, target: m.MountPath, readOnly: m.ReadOnly})
		}
	}
	return w.sb.bindAll(ms)
}

func (w *podWorker) startContainer(ctx context.Context, pod *corev1.Pod, c *container) {
	env, err := containerEnv(ctx, w.k.cs, pod, &c.spec, w.k.cfg.NodeIP, w.k.cfg.ServiceHost)
	if err != nil {
		c.fail("CreateContainerConfigError", err)
		return
	}
	argv, err := w.k.cfg.Images.argv(&c.spec, env)
	if err != nil {
		c.fail("ErrImageNotMapped", err)
		return
	}
	if err := c.start(w.sb, argv, env); err != nil {
		c.fail("RunContainerError", err)
	}
}

// supervise restarts exited containers per restartPolicy (with a doubling backoff from 1s to
// 20s, shorter than the kubelet's 10s..5m so tests see restarts quickly), and runs probes.
func (w *podWorker) supervise(ctx context.Context) {
	pod := w.pod.DeepCopy()
	pod.Status.PodIP = w.sb.ip.String()
	for _, c := range w.containers {
		if c.probe(w.sb) {
			w.k.logf("pod %s/%s: container %s failed its liveness probe; restarting", pod.Namespace, pod.Name, c.spec.Name)
			c.signal(syscall.SIGKILL)
		}
		c.mu.Lock()
		term := c.state.Terminated
		waitingConfig := c.state.Waiting != nil && c.waitReason != ""
		due := !time.Now().Before(c.nextStart)
		c.mu.Unlock()
		if term == nil && !waitingConfig {
			continue
		}
		restart := false
		switch pod.Spec.RestartPolicy {
		case corev1.RestartPolicyNever:
		case corev1.RestartPolicyOnFailure:
			restart = waitingConfig || term.ExitCode != 0
		default:
			restart = true
		}
		if !restart || !due {
			continue
		}
		c.mu.Lock()
		if term != nil {
			c.lastState = corev1.ContainerState{Terminated: term}
			c.restarts++
			// A container that ran for a while starts its backoff afresh.
			if term.FinishedAt.Sub(term.StartedAt.Time) > time.Minute {
				c.backoff = 0
			}
		}
		c.backoff = min(max(2*c.backoff, time.Second), 20*time.Second)
		c.nextStart = time.Now().Add(c.backoff)
		if term != nil {
			// Shown while the backoff runs, like CrashLoopBackOff.
			c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off %v restarting failed container %s", c.backoff, c.spec.Name)}}
			c.mu.Unlock()
			continue
		}
		c.mu.Unlock()
		w.startContainer(ctx, pod, c)
	}
	// A container waiting out its CrashLoopBackOff starts once the backoff is over.
	for _, c := range w.containers {
		c.mu.Lock()
		crash := c.state.Waiting != nil && c.state.Waiting.Reason == "CrashLoopBackOff" && !time.Now().Before(c.nextStart)
		c.mu.Unlock()
		if crash {
			w.startContainer(ctx, pod, c)
		}
	}
}

// stop runs preStop hooks, sends SIGTERM, waits up to grace, then SIGKILLs what is left,
// and frees the sandbox and the address.
func (w *podWorker) stop(grace time.Duration) {
	deadline := time.Now().Add(grace)
	for _, c := range w.containers {
		if h := c.spec.Lifecycle; h != nil && h.PreStop != nil && h.PreStop.Exec != nil && c.running() && w.sb != nil {
			secs := int(time.Until(deadline).Seconds())
			if secs > 0 {
				w.sb.inside(append([]string{"timeout", fmt.Sprint(secs)}, h.PreStop.Exec.Command...)...)
			}
		}
	}
	for _, c := range w.containers {
		c.signal(syscall.SIGTERM)
	}
	for _, c := range w.containers {
		if !c.waitExit(time.Until(deadline)) {
			c.signal(syscall.SIGKILL)
			c.waitExit(5 * time.Second)
		}
	}
	if w.sb != nil {
		w.sb.destroy()
		w.k.ips.put(w.sb.ip)
		w.sb = nil
	}
}

// terminate handles a Pod with a deletionTimestamp: stop within its grace period, then
// remove the object (grace 0, UID precondition), which is the kubelet's job.
func (w *podWorker) terminate(ctx context.Context) {
	p := w.pod
	w.k.logf("pod %s/%s: deleting (grace %v)", p.Namespace, p.Name, w.grace())
	w.stop(w.grace())
	zero := int64(0)
	uid := p.UID
	for i := 0; i < 20 && ctx.Err() == nil; i++ {
		err := w.k.cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
		if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			w.k.logf("pod %s/%s: deleted", p.Namespace, p.Name)
			return
		}
		w.k.logf("pod %s/%s: delete: %v", p.Namespace, p.Name, err)
		time.Sleep(500 * time.Millisecond)
	}
}
