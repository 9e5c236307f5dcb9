// Command kube-testenv runs a real Kubernetes control plane for Portico's e2e tests:
// an embedded etcd (go.etcd.io/etcd/server/v3/embed) and the upstream kube-apiserver
// (k8s.io/kubernetes/cmd/kube-apiserver/app), both on 127.0.0.1 with free ports.
//
// The supervisor process owns etcd, the certificates, the admin kubeconfig and a small
// control endpoint; kube-apiserver runs in a child process (this same binary, invoked as
// `kube-testenv apiserver ...`) so that it can be stopped and started again while etcd
// keeps its data, exactly like an apiserver restart in a real cluster.
//
// Usage:
//
//	kube-testenv --kubeconfig PATH [--dir DIR] [--control-addr 127.0.0.1:0]
//	             [--watch-cache=false] [--apiserver-arg=--flag=value ...]
//
// When /readyz answers 200 it prints one line on stdout:
//
//	READY kubeconfig=<path> control=http://127.0.0.1:<port> server=https://127.0.0.1:<port> dir=<dir>
//
// Control endpoint (plain HTTP on 127.0.0.1, all answers are JSON):
//
//	GET  /healthz                 supervisor alive
//	GET  /status                  ports, apiserver pid, etcd revision
//	POST /apiserver/restart       stop kube-apiserver (SIGTERM), start it again on the same
//	                              port and wait for /readyz; ?down=2s keeps it down that long;
//	                              ?kill=1 sends SIGKILL instead (a crash: connections reset)
//	POST /apiserver/stop          stop kube-apiserver, keep etcd (?kill=1: SIGKILL)
//	POST /apiserver/start         start kube-apiserver again and wait for /readyz
//	POST /etcd/compact            compact etcd at its current revision (physical compaction);
//	                              any resourceVersion older than that now gets 410 Gone
//
// SIGHUP restarts kube-apiserver too. SIGTERM or SIGINT stops kube-apiserver, then etcd,
// removes the data directory (unless --dir was given) and exits 0.
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	_ "time/tzdata" // kube-apiserver wants it for CronJob time zones

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "apiserver" {
		// Child mode: the upstream kube-apiserver command, unchanged.
		command := app.NewAPIServerCommand()
		command.SetArgs(os.Args[2:])
		os.Exit(cli.Run(command))
	}
	if len(os.Args) > 1 && os.Args[1] == "controller-manager" {
		os.Exit(controllerManagerMain(os.Args[2:]))
	}
	os.Exit(supervise())
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

type env struct {
	dir          string
	etcdURL      string
	securePort   int
	apiserverLog string
	apiArgs      []string
	httpc        *http.Client
	etcd         *embed.Etcd
	etcdc        *clientv3.Client

	mu    sync.Mutex // serializes apiserver start/stop
	child *exec.Cmd
	done  chan struct{} // closed when child exits
}

func supervise() int {
	var (
		kubeconfig  = flag.String("kubeconfig", "", "where to write the admin kubeconfig (required)")
		dir         = flag.String("dir", "", "data directory (certificates, etcd data, logs); default: a temp dir removed on exit")
		controlAddr = flag.String("control-addr", "127.0.0.1:0", "listen address of the control endpoint")
		watchCache  = flag.Bool("watch-cache", false, "enable the kube-apiserver watch cache; off by default so that /etcd/compact makes old resourceVersions 410 Gone immediately")
		timeout     = flag.Duration("ready-timeout", 180*time.Second, "how long to wait for /readyz")
		extra       stringList
		cluster     clusterFlags
	)
	cluster.register()
	flag.Var(&extra, "apiserver-arg", "extra kube-apiserver flag, e.g. --apiserver-arg=--v=2 (repeatable)")
	flag.Parse()
	log.SetPrefix("kube-testenv: ")
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if *kubeconfig == "" {
		log.Print("--kubeconfig is required")
		return 2
	}
	start := time.Now()

	e := &env{dir: *dir}
	removeDir := false
	if e.dir == "" {
		d, err := os.MkdirTemp("", "kube-testenv-")
		if err != nil {
			log.Print(err)
			return 1
		}
		e.dir, removeDir = d, true
	}
	if err := os.MkdirAll(e.dir, 0o700); err != nil {
		log.Print(err)
		return 1
	}
	e.dir, _ = filepath.Abs(e.dir)
	kc, _ := filepath.Abs(*kubeconfig)
	cleanup := func() {
		if removeDir {
			os.RemoveAll(e.dir)
		}
	}

	pki, err := makePKI(e.dir)
	if err != nil {
		log.Printf("certificates: %v", err)
		cleanup()
		return 1
	}

	// Ports: etcd client + peer, apiserver secure port.
	ports, err := freePorts(3)
	if err != nil {
		log.Print(err)
		cleanup()
		return 1
	}
	e.securePort = ports[2]
	if err := e.startEtcd(ports[0], ports[1]); err != nil {
		log.Printf("etcd: %v", err)
		cleanup()
		return 1
	}
	shutdownEtcd := func() {
		if e.etcdc != nil {
			e.etcdc.Close()
		}
		e.etcd.Close()
	}

	e.apiserverLog = filepath.Join(e.dir, "kube-apiserver.log")
	e.apiArgs = []string{
		"--etcd-servers=" + e.etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none", // Endpoints may not hold loopback addresses
		fmt.Sprintf("--secure-port=%d", e.securePort),
		"--cert-dir=" + filepath.Join(e.dir, "apiserver-certs"),
		"--tls-cert-file=" + pki.serverCert,
		"--tls-private-key-file=" + pki.serverKey,
		"--client-ca-file=" + pki.caCert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki.saKey,
		"--service-account-signing-key-file=" + pki.saKey,
		"--api-audiences=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=Node,RBAC",
		"--runtime-config=networking.k8s.io/v1=true,discovery.k8s.io/v1=true,coordination.k8s.io/v1=true,apiextensions.k8s.io/v1=true",
		"--allow-privileged=true",
		fmt.Sprintf("--watch-cache=%t", *watchCache),
		"--profiling=false",
		// On SIGTERM, end open watches (clients see a clean end of stream) instead of waiting
		// for them until the shutdown timeout: a restart then takes ~1s, not 60s.
		"--shutdown-watch-termination-grace-period=2s",
	}
	e.apiArgs = append(e.apiArgs, extra...)

	cert, err := tls.LoadX509KeyPair(pki.adminCert, pki.adminKey)
	if err != nil {
		log.Print(err)
		shutdownEtcd()
		cleanup()
		return 1
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pki.caPEM)
	e.httpc = &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}},
	}

	server := fmt.Sprintf("https://127.0.0.1:%d", e.securePort)
	if err := writeKubeconfig(kc, server, pki); err != nil {
		log.Print(err)
		shutdownEtcd()
		cleanup()
		return 1
	}

	ln, err := net.Listen("tcp", *controlAddr)
	if err != nil {
		log.Printf("control endpoint: %v", err)
		shutdownEtcd()
		cleanup()
		return 1
	}
	controlURL := "http://" + ln.Addr().String()
	os.WriteFile(filepath.Join(e.dir, "control-url"), []byte(controlURL+"\n"), 0o644)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	if err := e.startAPIServer(*timeout); err != nil {
		log.Printf("kube-apiserver: %v (log: %s)", err, e.apiserverLog)
		tailLog(e.apiserverLog, 40)
		e.stopAPIServer(false)
		shutdownEtcd()
		cleanup()
		return 1
	}
	go http.Serve(ln, e.controlHandler(*timeout))

	clusterCtx, stopCluster := context.WithCancel(context.Background())
	waitCluster, err := cluster.startCluster(clusterCtx, e.dir, kc, pki, e.securePort, *timeout)
	shutdownCluster := func() {
		stopCluster()
		waitCluster()
	}
	if err != nil {
		log.Print(err)
		shutdownCluster()
		e.stopAPIServer(false)
		shutdownEtcd()
		cleanup()
		return 1
	}

	log.Printf("control plane ready in %.1fs (etcd %s, kube-apiserver %s, logs in %s)",
		time.Since(start).Seconds(), e.etcdURL, server, e.dir)
	fmt.Printf("READY kubeconfig=%s control=%s server=%s dir=%s\n", kc, controlURL, server, e.dir)
	os.Stdout.Sync()

	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGHUP {
				log.Print("SIGHUP: restarting kube-apiserver")
				if res, err := e.restart(0, *timeout, false); err != nil {
					log.Printf("restart failed: %v", err)
				} else {
					log.Printf("kube-apiserver back after %.1fs", res["total_seconds"])
				}
				continue
			}
			log.Printf("%v: shutting down", s)
			shutdownCluster() // Pods and controllers first, while the apiserver still answers
			e.stopAPIServer(false)
			shutdownEtcd()
			cleanup()
			log.Print("stopped")
			return 0
		case <-e.childDone():
			// The apiserver died on its own (not through stop/restart): report it, keep
			// etcd up; a test may call /apiserver/start.
			e.mu.Lock()
			if e.child != nil && e.child.ProcessState != nil {
				log.Printf("kube-apiserver exited unexpectedly: %v (log: %s)", e.child.ProcessState, e.apiserverLog)
				tailLog(e.apiserverLog, 20)
				e.child = nil
			}
			e.mu.Unlock()
		}
	}
}

// childDone returns a channel closed when the current child exits (never, if none).
func (e *env) childDone() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.child == nil {
		return nil
	}
	return e.done
}

func (e *env) startEtcd(clientPort, peerPort int) error {
	cfg := embed.NewConfig()
	cfg.Name = "kube-testenv"
	cfg.Dir = filepath.Join(e.dir, "etcd")
	cu := mustURL(fmt.Sprintf("http://127.0.0.1:%d", clientPort))
	pu := mustURL(fmt.Sprintf("http://127.0.0.1:%d", peerPort))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []urlT{cu}, []urlT{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []urlT{pu}, []urlT{pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(e.dir, "etcd.log")}
	cfg.UnsafeNoFsync = true // test data only; keeps etcd fast on a busy 2-core machine
	et, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	select {
	case <-et.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		et.Close()
		return errors.New("not ready after 60s")
	}
	e.etcd = et
	e.etcdURL = cu.String()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{e.etcdURL}, DialTimeout: 5 * time.Second, Logger: nopLogger()})
	if err != nil {
		return err
	}
	e.etcdc = c
	return nil
}

// startAPIServer starts the kube-apiserver child and waits for /readyz. Caller must not hold mu.
func (e *env) startAPIServer(timeout time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.child != nil {
		return errors.New("already running")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	lf, err := os.OpenFile(e.apiserverLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(lf, "\n===== kube-testenv: starting kube-apiserver at %s =====\n", time.Now().Format(time.RFC3339))
	cmd := exec.Command(self, append([]string{"apiserver"}, e.apiArgs...)...)
	cmd.Stdout, cmd.Stderr = lf, lf
	// If the supervisor dies, the apiserver goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); lf.Close(); close(done) }()
	e.child, e.done = cmd, done

	deadline := time.Now().Add(timeout)
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", e.securePort)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("exited during startup: %v", cmd.ProcessState)
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := e.httpc.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
	}
	return fmt.Errorf("/readyz not ok after %v", timeout)
}

// stopAPIServer sends SIGTERM (or SIGKILL if kill) to the child and waits (SIGKILL after 30s).
func (e *env) stopAPIServer(kill bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.child == nil {
		return
	}
	if kill {
		syscall.Kill(-e.child.Process.Pid, syscall.SIGKILL)
	} else {
		e.child.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-e.done:
	case <-time.After(30 * time.Second):
		log.Print("kube-apiserver did not stop in 30s; killing it")
		syscall.Kill(-e.child.Process.Pid, syscall.SIGKILL)
		<-e.done
	}
	e.child = nil
}

func (e *env) restart(down, timeout time.Duration, kill bool) (map[string]any, error) {
	t0 := time.Now()
	e.stopAPIServer(kill)
	stopped := time.Since(t0)
	time.Sleep(down)
	t1 := time.Now()
	err := e.startAPIServer(timeout)
	return map[string]any{
		"stop_seconds":  stopped.Seconds(),
		"start_seconds": time.Since(t1).Seconds(),
		"total_seconds": time.Since(t0).Seconds(),
	}, err
}

func (e *env) revision(ctx context.Context) (int64, error) {
	// Any key works: the response header carries the store's current revision.
	r, err := e.etcdc.Get(ctx, "/registry/health-probe", clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return r.Header.Revision, nil
}

func (e *env) controlHandler(timeout time.Duration) http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(w http.ResponseWriter, err error) {
		reply(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"ok": true})
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		rev, _ := e.revision(r.Context())
		e.mu.Lock()
		pid := 0
		if e.child != nil {
			pid = e.child.Process.Pid
		}
		e.mu.Unlock()
		reply(w, 200, map[string]any{"etcd": e.etcdURL, "apiserver_port": e.securePort, "apiserver_pid": pid, "etcd_revision": rev, "dir": e.dir})
	})
	mux.HandleFunc("POST /apiserver/restart", func(w http.ResponseWriter, r *http.Request) {
		var down time.Duration
		if s := r.URL.Query().Get("down"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil {
				reply(w, 400, map[string]any{"error": err.Error()})
				return
			}
			down = d
		}
		kill := r.URL.Query().Get("kill") == "1"
		log.Printf("control: restarting kube-apiserver (down %v, kill %t)", down, kill)
		res, err := e.restart(down, timeout, kill)
		if err != nil {
			fail(w, err)
			return
		}
		log.Printf("control: kube-apiserver back after %.1fs", res["total_seconds"])
		reply(w, 200, res)
	})
	mux.HandleFunc("POST /apiserver/stop", func(w http.ResponseWriter, r *http.Request) {
		kill := r.URL.Query().Get("kill") == "1"
		log.Printf("control: stopping kube-apiserver (kill %t)", kill)
		e.stopAPIServer(kill)
		reply(w, 200, map[string]any{"stopped": true})
	})
	mux.HandleFunc("POST /apiserver/start", func(w http.ResponseWriter, r *http.Request) {
		log.Print("control: starting kube-apiserver")
		t0 := time.Now()
		if err := e.startAPIServer(timeout); err != nil {
			fail(w, err)
			return
		}
		reply(w, 200, map[string]any{"start_seconds": time.Since(t0).Seconds()})
	})
	mux.HandleFunc("POST /etcd/compact", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		rev, err := e.revision(ctx)
		if err != nil {
			fail(w, err)
			return
		}
		if _, err := e.etcdc.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
			fail(w, err)
			return
		}
		log.Printf("control: compacted etcd at revision %d", rev)
		reply(w, 200, map[string]any{"revision": rev})
	})
	return mux
}

// ---- certificates ----

type pkiFiles struct {
	caCert, serverCert, serverKey, adminCert, adminKey, saKey string
	caPEM                                                     []byte
}

func makePKI(dir string) (*pkiFiles, error) {
	d := filepath.Join(dir, "pki")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, err
	}
	p := &pkiFiles{
		caCert: filepath.Join(d, "ca.crt"), serverCert: filepath.Join(d, "apiserver.crt"), serverKey: filepath.Join(d, "apiserver.key"),
		adminCert: filepath.Join(d, "admin.crt"), adminKey: filepath.Join(d, "admin.key"), saKey: filepath.Join(d, "sa.key"),
	}
	// Reuse certificates already in --dir (so a kubeconfig stays valid across runs).
	if _, err := os.Stat(p.saKey); err == nil {
		p.caPEM, err = os.ReadFile(p.caCert)
		return p, err
	}
	now := time.Now().Add(-time.Hour)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kube-testenv-ca"},
		NotBefore: now, NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign, IsCA: true, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(p.caCert, p.caPEM, 0o644); err != nil {
		return nil, err
	}
	issue := func(serial int64, tmpl *x509.Certificate, certPath, keyPath string) error {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = now, now.Add(10*365*24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
			return err
		}
		return writeKey(keyPath, key)
	}
	if err := issue(2, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
	}, p.serverCert, p.serverKey); err != nil {
		return nil, err
	}
	if err := issue(3, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-testenv-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, p.adminCert, p.adminKey); err != nil {
		return nil, err
	}
	saKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := writeKey(p.saKey, saKey); err != nil {
		return nil, err
	}
	return p, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

func writeKubeconfig(path, server string, p *pkiFiles) error {
	crt, err := os.ReadFile(p.adminCert)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(p.adminKey)
	if err != nil {
		return err
	}
	b64 := base64.StdEncoding.EncodeToString
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `apiVersion: v1
kind: Config
clusters:
- name: kube-testenv
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: kube-testenv-admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: kube-testenv
  context:
    cluster: kube-testenv
    user: kube-testenv-admin
    namespace: default
current-context: kube-testenv
`, server, b64(p.caPEM), b64(crt), b64(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ---- small helpers ----

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func tailLog(path string, n int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for _, l := range lines {
		fmt.Fprintln(os.Stderr, "  | "+l)
	}
}
