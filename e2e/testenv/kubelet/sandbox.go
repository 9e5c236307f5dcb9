package kubelet

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A sandbox is what a container runtime's "pause" container gives a Pod: its own network
// namespace (so every Pod can bind the same port, e.g. echo-basic's :3000, on its own
// address) and its own mount namespace (so volumes appear at their mountPath, e.g. the
// service-account token at /var/run/secrets/kubernetes.io/serviceaccount, without touching
// the host's view). A `sleep` process created with CLONE_NEWNET|CLONE_NEWNS holds both;
// containers join them with nsenter(1), which execs the program (same pid, so signals and
// exit codes are the program's own).
//
// Wiring, per Pod: a veth pair, host end "kt<hex of the address>" with a /32 route to the
// Pod IP (source: the node IP), Pod end "eth0" with the Pod IP and a default route via a
// link-local next hop whose neighbour entry is pinned to the host end's MAC. The host side
// is the e2e network namespace, where the node IP and every backend address are local.
type sandbox struct {
	ip     net.IP
	holder *exec.Cmd
	hostIf string
	done   chan struct{}
}

const gatewayIP = "169.254.1.1"

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func newSandbox(ip net.IP, nodeIP string) (*sandbox, error) {
	holder := exec.Command("sleep", "infinity")
	holder.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS,
		Pdeathsig:  syscall.SIGKILL, // the kubelet's death takes the Pod's namespaces with it
		Setpgid:    true,
	}
	if err := holder.Start(); err != nil {
		return nil, fmt.Errorf("sandbox holder: %w", err)
	}
	s := &sandbox{ip: ip, holder: holder, done: make(chan struct{})}
	go func() { holder.Wait(); close(s.done) }()
	ip4 := ip.To4()
	s.hostIf = fmt.Sprintf("kt%02x%02x%02x", ip4[1], ip4[2], ip4[3])
	if err := s.wire(nodeIP); err != nil {
		s.destroy()
		return nil, err
	}
	return s, nil
}

func (s *sandbox) pid() string { return fmt.Sprint(s.holder.Process.Pid) }

// inside runs a command in the sandbox's namespaces.
func (s *sandbox) inside(args ...string) error {
	return run("nsenter", append([]string{"--target", s.pid(), "--net", "--mount", "--"}, args...)...)
}

func (s *sandbox) wire(nodeIP string) error {
	ip := s.ip.String()
	run("ip", "link", "del", s.hostIf) // a leftover of a crashed run, if any
	if err := run("ip", "link", "add", s.hostIf, "type", "veth", "peer", "name", "eth0", "netns", s.pid()); err != nil {
		return err
	}
	if err := run("ip", "link", "set", s.hostIf, "up"); err != nil {
		return err
	}
	ifc, err := net.InterfaceByName(s.hostIf)
	if err != nil {
		return err
	}
	if err := run("ip", "route", "replace", ip+"/32", "dev", s.hostIf, "src", nodeIP); err != nil {
		return err
	}
	// Mount propagation private first: a bind mount made for this Pod must not leak back
	// into the host's mount namespace.
	script := strings.Join([]string{
		"mount --make-rprivate /",
		"ip link set lo up",
		"ip addr add " + ip + "/32 dev eth0",
		"ip link set eth0 up",
		"ip route add " + gatewayIP + " dev eth0 scope link",
		"ip neigh replace " + gatewayIP + " lladdr " + ifc.HardwareAddr.String() + " dev eth0 nud permanent",
		"ip route add default via " + gatewayIP + " dev eth0",
	}, " && ")
	return s.inside("sh", "-c", script)
}

type bindMount struct {
	src, target string
	readOnly    bool
}

// bindAll makes each src visible at its target inside the sandbox. Every source is opened
// first and mounted through its /proc/self/fd link (with -c: no path canonicalization), so
// a mount on a target that covers a later source (an emptyDir on /tmp, while the kubelet's
// state lives under /tmp) cannot hide that source. A missing mount point is created on the
// host, as the kubelet must have somewhere to mount on (it stays there, empty).
func (s *sandbox) bindAll(ms []bindMount) error {
	if len(ms) == 0 {
		return nil
	}
	q := func(p string) string { return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'" }
	var open, mount []string
	for i, m := range ms {
		if _, err := os.Stat(m.target); os.IsNotExist(err) {
			if err := os.MkdirAll(m.target, 0o755); err != nil {
				return fmt.Errorf("mount point %s: %w", m.target, err)
			}
		}
		fd := 10 + i
		open = append(open, fmt.Sprintf("exec %d<%s", fd, q(m.src)))
		mount = append(mount, fmt.Sprintf("mount -c --bind /proc/self/fd/%d %s", fd, q(m.target)))
		if m.readOnly {
			mount = append(mount, "mount -c -o remount,bind,ro "+q(m.target))
		}
	}
	return s.inside("bash", "-ec", strings.Join(append(open, mount...), "\n"))
}

// destroy kills the holder; the kernel then frees the namespaces, which deletes the veth
// pair and the route with it.
func (s *sandbox) destroy() {
	syscall.Kill(-s.holder.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
	}
	run("ip", "link", "del", s.hostIf)
}

// ipPool hands out Pod addresses from the Pod CIDR, cycling so that an address is not
// reused right after its Pod went away (stale EndpointSlices would point at a new Pod).
type ipPool struct {
	mu   sync.Mutex
	net  *net.IPNet
	next uint32
	used map[string]bool
}

func newIPPool(cidr string) (*ipPool, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil || n.IP.To4() == nil {
		return nil, fmt.Errorf("pod CIDR %q: want an IPv4 CIDR", cidr)
	}
	return &ipPool{net: n, next: 2, used: map[string]bool{}}, nil
}

func (p *ipPool) get() (net.IP, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ones, bits := p.net.Mask.Size()
	size := uint32(1) << (bits - ones)
	base := be(p.net.IP.To4())
	for i := uint32(0); i < size; i++ {
		off := p.next
		p.next++
		if p.next >= size-1 {
			p.next = 2
		}
		if off < 2 || off >= size-1 {
			continue
		}
		ip := fromBE(base + off)
		if !p.used[ip.String()] {
			p.used[ip.String()] = true
			return ip, nil
		}
	}
	return nil, fmt.Errorf("pod CIDR %s exhausted", p.net)
}

func (p *ipPool) put(ip net.IP) {
	p.mu.Lock()
	delete(p.used, ip.String())
	p.mu.Unlock()
}

func be(ip net.IP) uint32 {
	return uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
}
func fromBE(v uint32) net.IP {
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4()
}

// hostSetup prepares the e2e network namespace once: the node IP and the `kubernetes`
// Service's ClusterIP as local addresses, forwarding on (Pod to Pod goes through it), and the
// mount point of service-account tokens.
func hostSetup(nodeIP, svcHost string) error {
	for _, a := range []string{nodeIP, svcHost} {
		if err := run("ip", "addr", "replace", a+"/32", "dev", "lo"); err != nil {
			return err
		}
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable forwarding: %w", err)
	}
	return os.MkdirAll(filepath.Clean("/var/run/secrets/kubernetes.io/serviceaccount"), 0o755)
}
