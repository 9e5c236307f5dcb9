#include "controller/render/host_tls.h"

#include "controller/render/api_names.h"
#include "controller/render/secrets.h"
#include "controller/render/validation.h"

namespace portico::controller {

namespace {
std::string secretName(const std::string& name, const std::string&) {
  return isDnsSubdomain(name) ? std::string() : quote(name) + " is not a valid Secret name";
}
}  // namespace

const Schema<ClientAuthFields>& clientAuthSchema() {
  using S = ClientAuthFields;
  static const Schema<S> schema{
      field::string("caSecretName", &S::caSecretName, {.required = true, .check = secretName}),
      field::enumeration("mode", &S::mode, kClientAuthModeNames),
      field::string("crlSecretName", &S::crlSecretName, {.check = secretName}),
  };
  return schema;
}

const Schema<HstsFields>& hstsSchema() {
  using S = HstsFields;
  static const Schema<S> schema{
      field::duration("maxAge", &S::maxAge, {.min = proxy::Millis(0)}),
      field::boolean("includeSubDomains", &S::includeSubDomains),
      field::boolean("preload", &S::preload),
      field::check<S>([](const S& s, const std::string& field, Reporter& reporter) {
        if (s.preload && (!s.includeSubDomains || s.maxAge < std::chrono::hours(24 * 365)))
          reporter.invalid(childField(field, "preload"), "InvalidField",
                           "needs includeSubDomains: true and a maxAge of at least 8760h");
      }),
  };
  return schema;
}

std::string hstsHeader(const HstsFields& fields) {
  std::string value = "max-age=" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(fields.maxAge).count());
  if (fields.includeSubDomains) value += "; includeSubDomains";
  if (fields.preload) value += "; preload";
  return value;
}

std::optional<bool> tls13OnlyFrom(const std::string& minVersion, std::string& why) {
  if (minVersion == "1.2" || minVersion == "1.3") return minVersion == "1.3";
  why = quote(minVersion) + " must be \"1.2\" or \"1.3\" (older versions are never served)";
  return std::nullopt;
}

std::optional<proxy::ClientAuthSpec> resolveClientAuth(const ClientAuthFields& fields, const ObjectIndex& index,
                                                       const std::string& ns, const std::string& caField,
                                                       const std::string& crlField, Reporter& reporter) {
  proxy::ClientAuthSpec spec;
  spec.mode = fields.mode;
  auto ca = resolveSecret(index, ns, fields.caSecretName, caField, reporter,
                          caBundleFromSecret);
  if (!ca) return std::nullopt;
  spec.caPem = std::move(*ca);
  spec.caSource = ns + "/" + fields.caSecretName;
  if (!fields.crlSecretName.empty()) {
    auto crl = resolveSecret(index, ns, fields.crlSecretName, crlField, reporter,
                             crlFromSecret);
    if (!crl) return std::nullopt;
    spec.crlPem = std::move(*crl);
  }
  return spec;
}

}  // namespace portico::controller
