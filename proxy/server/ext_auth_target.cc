#include "proxy/server/ext_auth_target.h"

#include "proxy/upstream/upstream_tls.h"

namespace portico::proxy {

ExternalAuthTarget resolveExternalAuth(const ExternalAuthSpec& spec, UpstreamRegistry& registry) {
  ExternalAuthTarget target;
  auto url = parseHttpUrl(spec.url);
  if (!url) {
    target.error = "invalid URL: " + url.error().message;
    return target;
  }
  target.url = std::move(url).value();
  target.endpoint = EndpointSpec{target.url.host, target.url.port, 1};
  target.address = target.endpoint.address();
  target.backend = registry.backend("auth:" + spec.url);
  if (target.url.tls) {
    // Without settings: verified against the system trust store for the URL's host.
    auto context = registry.tls(spec.tls ? *spec.tls : UpstreamTlsSpec{.serverName = target.url.host});
    if (context) {
      target.tls = std::move(context).value();
    } else {
      target.error = context.error().message;
    }
  }
  return target;
}

}  // namespace portico::proxy
