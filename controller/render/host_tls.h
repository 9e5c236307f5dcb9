// What a route's TLS section asks of every request for its hosts, beyond the certificate:
// client certificates (downstream mTLS) and HSTS. As an APIRoute writes them:
//
//   tls:
//     secretName: api-tls
//     clientAuth:
//       caSecretName: partners-ca    # Secret key ca.crt (PEM): the CAs client certificates chain to
//       mode: Require                # or Optional: clients without one are served anonymously
//       crlSecretName: partners-crl  # Secret key ca.crl (PEM): revoked certificates
//     hsts: {maxAge: 8760h, includeSubDomains: true, preload: false}
//
// clientAuth problems fail closed: the routes are not served rather than served without
// the check. Internal to render.
#pragma once

#include <optional>
#include <string>

#include "controller/render/field_schema.h"
#include "controller/render/render_context.h"
#include "proxy/config/route_spec.h"

namespace portico::controller {

struct ClientAuthFields {
  std::string caSecretName;
  proxy::ClientAuthMode mode = proxy::ClientAuthMode::Require;
  std::string crlSecretName;
};

const Schema<ClientAuthFields>& clientAuthSchema();

struct HstsFields {
  proxy::Millis maxAge{std::chrono::hours(24 * 365)};
  bool includeSubDomains = false;
  bool preload = false;
};

// preload needs includeSubDomains and a maxAge of at least a year (the preload list's rules).
const Schema<HstsFields>& hstsSchema();

// The Strict-Transport-Security value: "max-age=31536000; includeSubDomains; preload".
std::string hstsHeader(const HstsFields& fields);

// tls.minVersion / portico.dev/tls-min-version: "1.2" (the listener's floor) or "1.3".
// True for "1.3"; nullopt (with `why`) for anything else.
std::optional<bool> tls13OnlyFrom(const std::string& minVersion, std::string& why);

// Reads the Secrets (in `ns`); on a missing or unusable one reports ResolvedRefs False on
// the field that named it and returns nullopt.
std::optional<proxy::ClientAuthSpec> resolveClientAuth(const ClientAuthFields& fields, const ObjectIndex& index,
                                                       const std::string& ns, const std::string& caField,
                                                       const std::string& crlField, Reporter& reporter);

}  // namespace portico::controller
