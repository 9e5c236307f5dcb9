package main

// kube-controller-manager, like kube-apiserver, runs in a child process (this binary invoked
// as `kube-testenv controller-manager ...`): upstream code, unchanged, from the same
// k8s.io/kubernetes module. Only the controllers the e2e suite and the Gateway API
// conformance suite need are enabled, which keeps its start short:
//
//	deployment, replicaset            Deployments -> ReplicaSets -> Pods
//	endpointslice                     EndpointSlices for Services with a selector
//	namespace, garbage-collector      namespace deletion; ownerReference cascades
//	serviceaccount                    the `default` ServiceAccount in every namespace
//	serviceaccount-token              tokens for service-account-token Secrets (signed with
//	                                  the apiserver's service-account key)
//	root-ca-certificate-publisher     the kube-root-ca.crt ConfigMap that every Pod's
//	                                  projected token volume reads
//	clusterrole-aggregation           the admin/edit/view ClusterRoles' aggregated rules
//
// The supervisor restarts it if it exits (it does when it cannot reach the apiserver at
// start), so fault-injection tests that stop the apiserver do not lose it.

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/component-base/cli"
	kcm "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

var kcmControllers = []string{
	"deployment-controller", "replicaset-controller", "endpointslice-controller",
	"namespace-controller", "garbage-collector-controller",
	"serviceaccount-controller", "serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller", "clusterrole-aggregation-controller",
}

// controllerManagerMain is the child mode: the upstream kube-controller-manager command.
func controllerManagerMain(args []string) int {
	command := kcm.NewControllerManagerCommand()
	command.SetArgs(args)
	return cli.Run(command)
}

func controllerManagerArgs(kubeconfig string, pki *pkiFiles, port int) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + strings.Join(kcmControllers, ","),
		"--service-account-private-key-file=" + pki.saKey,
		"--root-ca-file=" + pki.caCert,
		"--use-service-account-credentials=false", // one admin client: fewer moving parts
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--profiling=false",
		// 14 conformance Deployments at once: do not throttle at the default 20 qps.
		"--kube-api-qps=200", "--kube-api-burst=400",
		"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
		"--concurrent-service-endpoint-syncs=10",
	}
}

// runControllerManager keeps kube-controller-manager running until ctx ends.
func runControllerManager(ctx context.Context, dir string, args []string) {
	self, err := os.Executable()
	if err != nil {
		log.Printf("controller-manager: %v", err)
		return
	}
	logPath := filepath.Join(dir, "kube-controller-manager.log")
	for ctx.Err() == nil {
		lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			log.Printf("controller-manager: %v", err)
			return
		}
		fmt.Fprintf(lf, "\n===== kube-testenv: starting kube-controller-manager at %s =====\n", time.Now().Format(time.RFC3339))
		cmd := exec.Command(self, append([]string{"controller-manager"}, args...)...)
		cmd.Stdout, cmd.Stderr = lf, lf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		if err := cmd.Start(); err != nil {
			lf.Close()
			log.Printf("controller-manager: %v", err)
			return
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); lf.Close(); close(exited) }()
		select {
		case <-ctx.Done():
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
			return
		case <-exited:
			log.Printf("kube-controller-manager exited (%v); restarting in 1s (log: %s)", cmd.ProcessState, logPath)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}
