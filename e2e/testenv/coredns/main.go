// coredns for the Gateway API conformance base manifests (their `coredns` Deployment, which
// the UDPRoute tests query through a Gateway). Built from the coredns module itself with only
// the plugins that Deployment's Corefile names (errors, forward, log, whoami), the way coredns
// documents custom builds; the kubelet stand-in runs it for the image
// registry.k8s.io/coredns/coredns.
package main

import (
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/whoami"
)

func main() { coremain.Run() }
