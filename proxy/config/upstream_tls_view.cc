#include "proxy/config/upstream_tls_view.h"

#include <nlohmann/json.hpp>

namespace portico::proxy {

nlohmann::ordered_json upstreamTlsView(const std::optional<UpstreamTlsSpec>& tls) {
  if (!tls) return nullptr;
  nlohmann::ordered_json view;
  view["serverName"] = tls->serverName;
  view["subjectAltNames"] = tls->subjectAltNames;
  view["ca"] = tls->caSource.empty() ? std::string("system trust store") : tls->caSource;
  view["clientCertificate"] = tls->clientCertificateSource.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(tls->clientCertificateSource);
  // Named as loudly as the field that set it: an operator reading /routes must see it.
  view["insecureSkipVerify"] = tls->insecureSkipVerify;
  return view;
}

}  // namespace portico::proxy
