//go:build tools

// Package gwconf only pins the Gateway API conformance suite in this module's go.mod (the
// `tools` build tag keeps it out of every build): e2e/build-testenv.sh compiles the suite's
// test binary with `go test -c sigs.k8s.io/gateway-api/conformance`, and that needs the
// suite, sigs.k8s.io/gateway-api itself and their test dependencies in go.mod and go.sum.
package gwconf

import (
	_ "sigs.k8s.io/gateway-api/conformance"
	_ "sigs.k8s.io/gateway-api/conformance/utils/suite"
)
