#include "controller/render/backend_tls.h"

#include <arpa/inet.h>

#include "controller/render/secrets.h"
#include "controller/render/validation.h"

namespace portico::controller {

namespace {

bool isIpAddress(const std::string& s) {
  in_addr v4{};
  in6_addr v6{};
  return inet_pton(AF_INET, s.c_str(), &v4) == 1 || inet_pton(AF_INET6, s.c_str(), &v6) == 1;
}

std::string secretName(const std::string& name, const std::string&) {
  return isDnsSubdomain(name) ? std::string() : quote(name) + " is not a valid Secret name";
}

std::string tlsName(const std::string& written, const std::string&) { return checkTlsName(written); }

// Turning verification off and saying what to verify cannot both be meant.
void checkSkipAlone(const BackendTlsFields& f, const std::string& field, Reporter& reporter) {
  if (!f.insecureSkipVerify) return;
  for (auto [set, name] : {std::pair{!f.caSecretName.empty(), "caSecretName"},
                           std::pair{!f.subjectAltNames.empty(), "subjectAltNames"}}) {
    if (set)
      reporter.invalid(childField(field, name), "InvalidField",
                       "has no effect with insecureSkipVerify: true (nothing is verified)");
  }
}

}  // namespace

std::string checkTlsName(const std::string& name) {
  if (isIpAddress(name) || isDnsSubdomain(toLower(name))) return {};
  return quote(name) + " must be a DNS name or an IP address";
}

const Schema<BackendTlsFields>& backendTlsSchema() {
  using S = BackendTlsFields;
  static const Schema<S> schema{
      field::string("caSecretName", &S::caSecretName, {.check = secretName}),
      field::string("sni", &S::sni, {.normalize = toLower, .check = tlsName}),
      field::strings("subjectAltNames", &S::subjectAltNames, {.normalize = toLower, .check = tlsName}),
      field::string("clientCertificateSecretName", &S::clientCertificateSecretName, {.check = secretName}),
      field::boolean("insecureSkipVerify", &S::insecureSkipVerify),
      field::check<S>(checkSkipAlone),
  };
  return schema;
}

std::optional<proxy::UpstreamTlsSpec> resolveBackendTls(const BackendTlsFields& fields, const std::string& defaultName,
                                                        const ObjectIndex& index, const std::string& ns,
                                                        const std::string& caField,
                                                        const std::string& clientCertificateField, Reporter& reporter) {
  proxy::UpstreamTlsSpec spec;
  spec.serverName = fields.sni.empty() ? defaultName : fields.sni;
  spec.subjectAltNames = fields.subjectAltNames;
  spec.insecureSkipVerify = fields.insecureSkipVerify;
  bool ok = true;
  if (!fields.caSecretName.empty()) {
    auto ca = resolveSecret(index, ns, fields.caSecretName, caField, reporter, caBundleFromSecret);
    if (ca) {
      spec.caPem = std::move(*ca);
      spec.caSource = ns + "/" + fields.caSecretName;
    }
    ok = ok && ca.has_value();
  }
  if (!fields.clientCertificateSecretName.empty()) {
    auto pair = resolveSecret(index, ns, fields.clientCertificateSecretName, clientCertificateField,
                              reporter, decodeTlsSecret);
    if (pair) {
      spec.clientCertificatePem = std::move(pair->certificatePem);
      spec.clientKeyPem = std::move(pair->privateKeyPem);
      spec.clientCertificateSource = ns + "/" + fields.clientCertificateSecretName;
    }
    ok = ok && pair.has_value();
  }
  if (!ok) return std::nullopt;
  return spec;
}

}  // namespace portico::controller
