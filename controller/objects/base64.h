// Base64 as Kubernetes objects carry it: Secret data and kubeconfig "-data" fields. Below
// both render (Secrets) and the Kubernetes client (kubeconfig), so neither needs the other.
#pragma once

#include <string>
#include <string_view>

#include "proxy/common/expected.h"

namespace portico::controller {

// Standard base64 (RFC 4648, padding optional, whitespace ignored as Kubernetes YAML
// line-wraps long values). The error text says what is wrong.
[[nodiscard]] Expected<std::string> decodeBase64(std::string_view text);

}  // namespace portico::controller
