// TLS from Portico to backends, as routes ask for it: the APIRoute backend entry's
// `backendTLS` object and the Ingress's portico.dev/backend-tls-* annotations both fill a
// BackendTlsFields, and resolveBackendTls turns that into the proxy's UpstreamTlsSpec by
// reading the Secrets. Internal to render.
//
//   backendTLS:
//     caSecretName: backend-ca              # Secret key ca.crt (PEM); default: system trust store
//     sni: api.internal                     # SNI and the name checked; default below
//     subjectAltNames: [api.internal]       # the certificate must carry one of these instead
//     clientCertificateSecretName: edge-client   # kubernetes.io/tls, presented when asked
//     insecureSkipVerify: false             # true: no verification at all (shown in /routes)
//
// The default name is the url's host for an https:// url, and "<service>.<namespace>.svc"
// for a Service backend (the name cluster-internal certificates carry).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "controller/render/field_schema.h"
#include "controller/render/render_context.h"
#include "proxy/config/route_spec.h"

namespace portico::controller {

struct BackendTlsFields {
  std::string caSecretName;
  std::string sni;
  std::vector<std::string> subjectAltNames;
  std::string clientCertificateSecretName;
  bool insecureSkipVerify = false;
};

// The APIRoute backendTLS object.
const Schema<BackendTlsFields>& backendTlsSchema();

// "" if `name` may be an SNI or a checked name (a DNS name or an IP address), else why not.
std::string checkTlsName(const std::string& name);

// Reads the Secrets named by `fields` (in `ns`) into a spec whose serverName is `fields.sni`
// or else `defaultName`. On a missing or unusable Secret reports ResolvedRefs False on the
// field that named it (SecretNotFound, InvalidSecret) and returns nullopt: the backend must
// then not be used, never be reached in plaintext.
std::optional<proxy::UpstreamTlsSpec> resolveBackendTls(const BackendTlsFields& fields, const std::string& defaultName,
                                                        const ObjectIndex& index, const std::string& ns,
                                                        const std::string& caField,
                                                        const std::string& clientCertificateField, Reporter& reporter);

}  // namespace portico::controller
