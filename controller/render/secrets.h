// kubernetes.io/tls Secrets: decoding and validating the certificate and key.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/objects/base64.h"  // decodeBase64
#include "controller/render/render_context.h"
#include "proxy/common/expected.h"

namespace portico::controller {

struct TlsKeyPair {
  std::string certificatePem;  // the leaf first, then any chain
  std::string privateKeyPem;
};

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

// ---- Opaque Secrets for gateway policies --------------------------------------------
// These never put a secret value into an error message: they name the data key, a line
// number or a user name at most.

// Every entry of a Secret of any type: data (base64-decoded), then stringData on top (as
// the API server merges them), sorted by key. Fails on a value that is not a string or not
// valid base64, naming the key.
[[nodiscard]] Expected<std::map<std::string, std::string>> decodeSecretEntries(
    const nlohmann::json& secret);

// API keys: each entry is a consumer (the data key) and its key (the value, trailing
// whitespace and newlines removed, as `kubectl create secret --from-file` leaves one).
// Fails on an empty Secret, an empty key, a key with control characters, or two
// consumers with the same key.
[[nodiscard]] Expected<std::vector<std::pair<std::string, std::string>>> apiKeysFromSecret(
    const nlohmann::json& secret);

// CA certificates (PEM) from data key "ca.crt" (the cert-manager and kubernetes.io/tls
// convention), a Secret of any type: at least one certificate, every one parsing.
[[nodiscard]] Expected<std::string> caBundleFromSecret(const nlohmann::json& secret);

// Certificate revocation lists (PEM) from data key "ca.crl" (ingress-nginx's key), a Secret
// of any type: at least one list, every one parsing.
[[nodiscard]] Expected<std::string> crlFromSecret(const nlohmann::json& secret);

// htpasswd text from data key "auth" (the ingress-nginx convention) or "htpasswd" (not
// both). Checks each "user:hash" line (blank lines and # comments skipped) and that the
// hash is bcrypt ($2a$, $2b$, $2y$) or SHA-crypt ($5$, $6$), users unique. Returns the
// lines, normalized (no CR, no blanks or comments), joined by "\n".
[[nodiscard]] Expected<std::string> htpasswdFromSecret(const nlohmann::json& secret);

// A JSON Web Key Set from data key "jwks": a JSON object with a non-empty "keys" list of
// keys with kty RSA, EC, OKP or oct. Private members of asymmetric keys (d, p, q, dp, dq,
// qi, oth) are dropped: verification needs only the public part. Returns compact JSON.
[[nodiscard]] Expected<std::string> jwksFromSecret(const nlohmann::json& secret);

// Looks up Secret `ns/name` and applies `decode` (one of the three above). On failure
// reports ResolvedRefs False on `field` (SecretNotFound or InvalidSecret) and returns
// nullopt.
template <class Decode>
auto resolveSecret(const ObjectIndex& index, const std::string& ns, const std::string& name,
                   const std::string& field, Reporter& reporter, Decode decode)
    -> std::optional<std::decay_t<decltype(*decode(std::declval<const nlohmann::json&>()))>> {
  std::string ref = "secret \"" + ns + "/" + name + "\"";
  const nlohmann::json* secret = index.secret(ns, name);
  if (!secret) {
    reporter.unresolved(field, "SecretNotFound", ref + " not found");
    return std::nullopt;
  }
  auto value = decode(*secret);
  if (!value) {
    reporter.unresolved(field, "InvalidSecret", ref + " is invalid: " + value.error().message);
    return std::nullopt;
  }
  return std::move(value).value();
}

}  // namespace portico::controller
