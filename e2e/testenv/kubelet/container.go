package kubelet

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// container is one container of a Pod, run as a local process inside the Pod's sandbox. Its
// state is read by the Pod worker to build containerStatuses.
type container struct {
	spec    corev1.Container
	podIP   string
	logPath string

	mu          sync.Mutex
	proc        *exec.Cmd
	exited      chan struct{} // closed when the current process exits
	state       corev1.ContainerState
	lastState   corev1.ContainerState
	restarts    int32
	ready       bool
	probeOK     int32 // consecutive readiness successes / failures
	probeFail   int32
	liveFail    int32
	nextProbe   time.Time
	nextLive    time.Time
	nextStart   time.Time // backoff: no restart before this
	backoff     time.Duration
	waitReason  string
	waitMessage string
}

func newContainer(spec corev1.Container, podIP, logPath string) *container {
	return &container{spec: spec, podIP: podIP, logPath: logPath,
		state: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
}

// start runs argv inside the sandbox with env. The process gets its own process group, so
// that stopping a container also stops what it spawned.
func (c *container) start(sb *sandbox, argv []string, env map[string]string) error {
	lf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(lf, "===== %s: starting %q =====\n", time.Now().Format(time.RFC3339Nano), argv)
	args := append([]string{"--target", sb.pid(), "--net", "--mount"}, "--")
	if c.spec.WorkingDir != "" {
		args = append([]string{"--wd=" + c.spec.WorkingDir}, args...)
	}
	var program *os.File
	if hiddenByVolume(argv[0], c.spec.VolumeMounts) {
		// A volume mounted over the program's directory hides it inside the sandbox (the
		// conformance coredns mounts its ConfigMap at /root, over /root/.cache/...): the
		// program goes in as an open file, fd 3, and runs from there.
		if program, err = os.Open(argv[0]); err != nil {
			lf.Close()
			return err
		}
		defer program.Close()
		argv = append([]string{"/proc/self/fd/3"}, argv[1:]...)
	}
	cmd := exec.Command("nsenter", append(args, argv...)...)
	if program != nil {
		cmd.ExtraFiles = []*os.File{program}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return err
	}
	exited := make(chan struct{})
	c.mu.Lock()
	c.proc, c.exited = cmd, exited
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: nowSec()}}
	c.ready = c.spec.ReadinessProbe == nil
	c.probeOK, c.probeFail, c.liveFail = 0, 0, 0
	now := time.Now()
	if p := c.spec.ReadinessProbe; p != nil {
		c.nextProbe = now.Add(time.Duration(p.InitialDelaySeconds) * time.Second)
	}
	if p := c.spec.LivenessProbe; p != nil {
		c.nextLive = now.Add(time.Duration(p.InitialDelaySeconds) * time.Second)
	}
	c.waitReason, c.waitMessage = "", ""
	c.mu.Unlock()
	go func() {
		err := cmd.Wait()
		lf.Close()
		code := int32(0)
		if cmd.ProcessState != nil {
			code = int32(cmd.ProcessState.ExitCode())
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int32(ws.Signal())
			}
		} else if err != nil {
			code = 128
		}
		reason := "Completed"
		if code != 0 {
			reason = "Error"
		}
		c.mu.Lock()
		started := nowSec()
		if c.state.Running != nil {
			started = c.state.Running.StartedAt
		}
		c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: reason, StartedAt: started, FinishedAt: nowSec(),
			ContainerID: c.idLocked()}}
		c.ready = false
		c.mu.Unlock()
		close(exited)
	}()
	return nil
}

func (c *container) idLocked() string {
	if c.proc == nil || c.proc.Process == nil {
		return ""
	}
	return "process://" + strconv.Itoa(c.proc.Process.Pid)
}

// fail records that the container could not be started (bad image mapping, env, volume).
func (c *container) fail(reason string, err error) {
	c.mu.Lock()
	c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}}
	c.waitReason, c.waitMessage = reason, err.Error()
	c.mu.Unlock()
}

func (c *container) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.Running != nil
}

// signal sends sig to the container's process group.
func (c *container) signal(sig syscall.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil && c.proc.Process != nil && c.state.Running != nil {
		syscall.Kill(-c.proc.Process.Pid, sig)
	}
}

func (c *container) waitExit(d time.Duration) bool {
	c.mu.Lock()
	ch := c.exited
	c.mu.Unlock()
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// probe runs the readiness and liveness probes that are due. It returns true when the
// liveness probe has failed failureThreshold times (the caller restarts the container).
func (c *container) probe(sb *sandbox) (kill bool) {
	c.mu.Lock()
	running := c.state.Running != nil
	now := time.Now()
	rp, lp := c.spec.ReadinessProbe, c.spec.LivenessProbe
	doReady := running && rp != nil && !now.Before(c.nextProbe)
	doLive := running && lp != nil && !now.Before(c.nextLive)
	c.mu.Unlock()
	if doReady {
		ok := c.check(sb, rp)
		c.mu.Lock()
		if ok {
			c.probeOK++
			c.probeFail = 0
			if c.probeOK >= max(rp.SuccessThreshold, 1) {
				c.ready = true
			}
		} else {
			c.probeFail++
			c.probeOK = 0
			if c.probeFail >= max(rp.FailureThreshold, 1) {
				c.ready = false
			}
		}
		c.nextProbe = now.Add(period(rp))
		c.mu.Unlock()
	}
	if doLive {
		ok := c.check(sb, lp)
		c.mu.Lock()
		if ok {
			c.liveFail = 0
		} else {
			c.liveFail++
		}
		kill = c.liveFail >= max(lp.FailureThreshold, 1)
		c.nextLive = now.Add(period(lp))
		c.mu.Unlock()
	}
	return kill
}

func period(p *corev1.Probe) time.Duration {
	if p.PeriodSeconds <= 0 {
		return 10 * time.Second
	}
	return time.Duration(p.PeriodSeconds) * time.Second
}

// check runs one probe from the node (the e2e namespace), like the kubelet: HTTP and TCP
// probes connect to the Pod IP, exec probes run inside the sandbox.
func (c *container) check(sb *sandbox, p *corev1.Probe) bool {
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	switch {
	case p.HTTPGet != nil:
		port, err := c.port(p.HTTPGet.Port)
		if err != nil {
			return false
		}
		scheme := "http"
		if p.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		host := p.HTTPGet.Host
		if host == "" {
			host = c.podIP
		}
		req, err := http.NewRequest("GET", fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), p.HTTPGet.Path), nil)
		if err != nil {
			return false
		}
		for _, h := range p.HTTPGet.HTTPHeaders {
			req.Header.Add(h.Name, h.Value)
		}
		resp, err := (&http.Client{Timeout: timeout, Transport: probeTransport}).Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 400
	case p.TCPSocket != nil:
		port, err := c.port(p.TCPSocket.Port)
		if err != nil {
			return false
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(c.podIP, strconv.Itoa(port)), timeout)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	case p.Exec != nil:
		args := append([]string{"timeout", strconv.Itoa(int(timeout / time.Second))}, p.Exec.Command...)
		return sb.inside(args...) == nil
	}
	return false // gRPC probes: not implemented, so never ready (visible, not silently passing)
}

func (c *container) port(p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		return int(p.IntVal), nil
	}
	for _, cp := range c.spec.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("no port named %q", p.StrVal)
}

var probeTransport = &http.Transport{DisableKeepAlives: true, TLSClientConfig: insecureTLS()}

// status builds this container's ContainerStatus.
func (c *container) status() corev1.ContainerStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	started := c.state.Running != nil
	st := corev1.ContainerStatus{
		Name: c.spec.Name, Image: c.spec.Image, ImageID: "testenv://" + repoOf(c.spec.Image),
		State: c.state, LastTerminationState: c.lastState, Ready: c.ready && started,
		RestartCount: c.restarts, Started: &started,
	}
	if started {
		st.ContainerID = c.idLocked()
	}
	return st
}

// hiddenByVolume: a mount at one of mounts' paths covers path.
func hiddenByVolume(path string, mounts []corev1.VolumeMount) bool {
	for _, m := range mounts {
		dir := strings.TrimSuffix(m.MountPath, "/")
		if path == dir || strings.HasPrefix(path, dir+"/") {
			return true
		}
	}
	return false
}
