// Ingress (networking.k8s.io/v1) to routes. Internal to render.
//
// ## Ingress annotations
//
// Portico reads a small set of annotations with the prefix `portico.dev/` on Ingress
// objects. Everything richer lives in the APIRoute resource. No annotation ever injects raw
// proxy configuration. Values are strings (quote them in YAML).
//
// | annotation | value | effect |
// | --- | --- | --- |
// | `portico.dev/ssl-redirect` | `"true"` or `"false"` (default) | Plain-HTTP requests for the hosts of the Ingress's `spec.tls` entries get a 308 redirect to https. Applies only to entries whose Secret resolved; hosts without a certificate stay on plain HTTP. |
// | `portico.dev/rewrite-target` | a path such as `/new` | Replaces the matched path prefix (the whole path for `Exact`) before the request goes to the backend, on every path of the Ingress (not on `spec.defaultBackend`). A literal prefix only: regex captures such as `$1` are refused. |
// | `portico.dev/load-balancing` | `RoundRobin` (default), `LeastRequest` or `Random` | Load-balancing policy over the endpoints of every backend of the Ingress. |
// | `portico.dev/proxy-body-size` | bytes, optionally with `k`, `m` or `g` (powers of 1024; case-insensitive), e.g. `"10m"` | Requests with a larger body get 413. At least 1 byte. |
// | `portico.dev/connect-timeout` | Go duration, e.g. `"2s"` (default 5s) | Upstream connect timeout. At least 1ms. |
// | `portico.dev/request-timeout` | Go duration, e.g. `"30s"` (default 60s) | Whole exchange with the upstream, request sent to response complete. At least 1ms. |
// | `portico.dev/auth-type` | `api-key` or `basic` | Authentication on every route of the Ingress; needs `auth-secret`. |
// | `portico.dev/auth-secret` | Secret name | Secret in the Ingress's namespace: for api-key each data key is a consumer and its value the key; for basic the htpasswd text in data key `auth` (as ingress-nginx) or `htpasswd` (bcrypt or SHA-crypt hashes). |
// | `portico.dev/auth-header` | header name (default `X-API-Key`) | Request header carrying the API key (api-key only). |
// | `portico.dev/auth-realm` | text (default `portico`) | Basic auth realm (basic only). |
// | `portico.dev/rate-limit-requests` | integer ≥ 1 | Token bucket: requests per period; the other rate-limit-* annotations need it. |
// | `portico.dev/rate-limit-period` | Go duration (default 1s) | The period. |
// | `portico.dev/rate-limit-burst` | integer (default 0) | Extra requests above the steady rate. |
// | `portico.dev/rate-limit-key` | `ClientIP` (default), `Consumer` (needs auth-type) or `Header:NAME` | What a bucket is kept for. |
// | `portico.dev/cors-allow-origins` | comma list of `https://host[:port]`, `https://*.domain` or `*` | CORS; Portico answers preflights. |
// | `portico.dev/cors-allow-methods` | comma list of methods | Needs cors-allow-origins. |
// | `portico.dev/cors-allow-credentials` | `"true"` or `"false"` | Needs cors-allow-origins; not with `*`. |
// | `portico.dev/allow-source-ranges` | comma list of CIDRs or addresses (IPv4, IPv6) | Only these clients; others get 403. |
// | `portico.dev/deny-source-ranges` | comma list of CIDRs or addresses | These clients get 403. |
// | `portico.dev/retries` | 0-10 | Retries on another endpoint (default conditions connect-failure, reset). |
// | `portico.dev/retry-on` | comma list: connect-failure, reset, timeout, 5xx, gateway-error, or status codes | Needs retries. |
// | `portico.dev/hash-on` | `ClientIP`, `Path`, `Header:NAME`, `Cookie:NAME` or `Query:NAME` | Selects ConsistentHash with this key; not with load-balancing or affinity-cookie. |
// | `portico.dev/affinity-cookie` | cookie name | Cookie-based session affinity. |
// | `portico.dev/health-check-path` | a path such as `/healthz` | Active HTTP health checks with the default interval and thresholds. |
// | `portico.dev/backend-protocol` | `HTTP` (default) or `HTTPS` | HTTPS: TLS to every backend of the Ingress, verified against the system trust store (or the CA below) for the name `<service>.<namespace>.svc` (or the SNI below). |
// | `portico.dev/backend-tls-ca-secret` | Secret name | Secret whose `ca.crt` (PEM) holds the CAs to verify backends against. Needs backend-protocol HTTPS, as do the other backend-tls-* annotations. |
// | `portico.dev/backend-tls-sni` | DNS name or IP address | Sent as SNI and verified in the certificate. |
// | `portico.dev/backend-tls-subject-alt-names` | comma list of DNS names or IP addresses | The certificate must carry one of these (instead of the SNI name). |
// | `portico.dev/backend-tls-client-certificate-secret` | Secret name | A kubernetes.io/tls Secret presented to backends that ask for a client certificate. |
// | `portico.dev/client-auth-ca-secret` | Secret name | Client certificates (mTLS) for the hosts of the Ingress's `spec.tls` entries: the Secret's `ca.crt` holds the CAs they must chain to. A problem with any `spec.tls` entry then blocks the whole Ingress. See the README's Client certificates. |
// | `portico.dev/client-auth-mode` | `Require` (default) or `Optional` | Needs client-auth-ca-secret. |
// | `portico.dev/client-auth-crl-secret` | Secret name | Revocation lists in the Secret's `ca.crl`. Needs client-auth-ca-secret. |
// | `portico.dev/tls-min-version` | `"1.2"` (default) or `"1.3"` | `"1.3"`: clients of the hosts of the Ingress's `spec.tls` entries must speak TLS 1.3 (chosen by SNI before the version is negotiated). |
// | `portico.dev/hsts-max-age` | Go duration, e.g. `"8760h"` | `Strict-Transport-Security` on every HTTPS answer for the hosts of the Ingress's `spec.tls` entries (the backend's own is replaced). |
// | `portico.dev/hsts-include-subdomains` | `"true"` or `"false"` (default) | Adds `includeSubDomains`; with only this annotation max-age is a year. |
// | `portico.dev/backend-tls-insecure-skip-verify` | `"true"` or `"false"` (default) | No verification of the backend's certificate at all; shown in `/routes`. Not with ca-secret or subject-alt-names. |
//
// - An invalid value of one of these annotations, or one that needs another one that is
//   missing, rejects the whole Ingress (reason InvalidAnnotation): it is not served rather
//   than served differently from what it asks, and never with a security annotation
//   silently dropped. A missing or unusable auth or backend-tls Secret likewise (ResolvedRefs
//   False, SecretNotFound or InvalidSecret, on the annotation naming it): an HTTPS backend is
//   never reached in plaintext. Secrets are read on every render, so rotating one changes
//   the table without a restart.
// - Any other annotation starting with `portico.dev/rate-limit`, `portico.dev/ratelimit`,
//   `portico.dev/auth`, `portico.dev/backend-tls` or `portico.dev/client-auth` (a typo, or
//   a feature only an APIRoute has, such as JWT) blocks the Ingress (reason
//   UnsupportedFeature), so a route meant to be protected is never served unprotected.
// - Any other `portico.dev/` annotation is reported (reason UnknownAnnotation, usually a
//   typo) and ignored; the Ingress is still served.
// - Annotations of other controllers (nginx.ingress.kubernetes.io/ and so on) are ignored.
//
// ## Semantics
//
// - Class: see ClassSelector in render_context.h. spec.ingressClassName names an
//   IngressClass whose spec.controller is options.controllerName (or, when no IngressClass
//   of that name is in the snapshot, equals options.ingressClass). Without it: the legacy
//   annotation kubernetes.io/ingress.class == options.ingressClass, else an IngressClass of
//   ours with ingressclass.kubernetes.io/is-default-class: "true". Other Ingresses are
//   ignored silently.
// - Rules: one route per spec.rules[i].http.paths[j], named "ns/name/rule<i>-path<j>", with
//   the rule's host (lower case, exact or "*." wildcard; no host: every host). pathType
//   Exact and Prefix as Kubernetes defines them; ImplementationSpecific (and a missing
//   pathType) is treated as Prefix. A path that is invalid or whose backend is a
//   `resource` (reason UnsupportedBackend) is skipped; the rest of the Ingress renders.
// - Backends: backend.service {name, port {number | name}} through the Service and its
//   EndpointSlices (backends.h; not-ready and terminating endpoints get no traffic). A
//   missing Service or port is reported (ResolvedRefs, BackendNotFound) and the path
//   answers 503.
// - spec.defaultBackend: one route "ns/name/default-backend", hosts [] (every host), Prefix
//   "/": the catch-all host bucket is tried last, so it only gets requests no host-specific
//   route matches, and any longer prefix wins over it.
// - TLS: each spec.tls[i] {hosts, secretName} becomes a certificate from the
//   kubernetes.io/tls Secret in the Ingress's namespace (hosts empty: the hosts of the
//   Ingress's rules). A missing or invalid Secret is reported (ResolvedRefs) and those hosts
//   are served over plain HTTP only.
// - Conflicts (in render.cc): the same host + pathType + path claimed by two objects, at
//   least one of them an Ingress, goes to the oldest (creationTimestamp, then
//   namespace/name); the other object's path is skipped with reason Conflict.
#pragma once

#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "controller/render/render.h"
#include "controller/render/render_context.h"

namespace portico::controller {

// Translates every Ingress of our class (see above) into one ObjectOutput per object that
// rendered a route, ordered by metadata.creationTimestamp, then namespace/name. Diagnostics
// (object kind "Ingress") come in the same order. `owned` receives every Ingress of our
// class that was not rejected as a whole, in the same order.
void renderIngresses(const std::vector<const nlohmann::json*>& objects, const ObjectIndex& index,
                     const ClassSelector& classes, const RenderOptions& options,
                     std::vector<ObjectOutput>& outputs, std::vector<Diagnostic>& diagnostics,
                     std::vector<ObjectRef>& owned);

// One Ingress: its diagnostics, whether it is ours and not rejected as a whole (`owned`),
// and what it contributes to the table (nullopt: nothing). `seen` as for renderApiRoute.
std::optional<ObjectOutput> renderIngress(const OrderedObject& object, const ObjectIndex& index,
                                          const ClassSelector& classes, const RenderOptions& options,
                                          std::vector<Diagnostic>& diagnostics, bool& owned,
                                          std::unordered_set<std::string>* seen);

}  // namespace portico::controller
