// kubernetes.io/tls Secrets: decoding and validating the certificate and key.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "controller/render/render_context.h"
#include "proxy/common/expected.h"

namespace portico::controller {

struct TlsKeyPair {
  std::string certificatePem;  // the leaf first, then any chain
  std::string privateKeyPem;
};

// Standard base64 (RFC 4648, padding optional, whitespace ignored as Kubernetes YAML
// line-wraps long values). The error text says what is wrong.
[[nodiscard]] Expected<std::string> decodeBase64(std::string_view text);

// Reads tls.crt and tls.key from a Secret of type kubernetes.io/tls: stringData (plain
// text, as a standalone file may write it) wins over data (base64), as the API server
// merges them. Checks with OpenSSL that the certificate and key parse and match. The error
// text (no field prefix) says what is wrong, e.g. `data[tls.key]: no PEM private key`.
[[nodiscard]] Expected<TlsKeyPair> decodeTlsSecret(const nlohmann::json& secret);

// Looks up Secret `ns/name` and decodes it. On failure reports ResolvedRefs False on
// `field` (reason SecretNotFound or InvalidSecret) and returns nullopt.
std::optional<TlsKeyPair> resolveTlsSecret(const ObjectIndex& index, const std::string& ns,
                                           const std::string& name, const std::string& field,
                                           Reporter& reporter);

}  // namespace portico::controller
