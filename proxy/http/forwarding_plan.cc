#include "proxy/http/forwarding_plan.h"

#include "proxy/router/query.h"

namespace portico::proxy::http1 {

std::string rewrittenPath(const RouteSpec& spec, std::string_view path) {
  if (!spec.rewritePathPrefix) return std::string(path);
  const std::string& replacement = *spec.rewritePathPrefix;
  if (spec.pathType != PathMatchType::Prefix) return replacement;
  std::string_view prefix = spec.path;
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  std::string_view rest = path.substr(std::min(prefix.size(), path.size()));
  std::string out = replacement;
  if (!out.empty() && out.back() == '/' && !rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  out += rest;
  if (out.empty() || out.front() != '/') out.insert(out.begin(), '/');
  return out;
}

void planForwarding(const RequestHeader& req, const AdmittedRequest& rq, const RouteSpec& spec,
                    const policy::Admission& admission, std::optional<std::string> regexRewritten,
                    const ForwardingFacts& facts, ForwardingPlan& out) {
  // Rewrites work on the path routing matched (";parameters" removed); without one the
  // backend gets the normalized path as it was.
  if (regexRewritten) out.target = std::move(*regexRewritten);
  else if (spec.rewritePathPrefix) out.target = rewrittenPath(spec, rq.routingPath());
  else out.target = rq.path;
  if (admission.removeQueryParam) {
    const std::string query = router::withoutQueryParam(rq.query, *admission.removeQueryParam);
    if (!query.empty()) out.target.append("?").append(query);
  } else if (!rq.query.empty()) {
    out.target.append("?").append(rq.query);
  }

  RequestHeadPlan& plan = out.head;
  plan.method = req.method_string();
  plan.target = out.target;
  plan.host = spec.rewriteHost ? std::string_view(*spec.rewriteHost) : rq.authority;
  plan.upgrade = rq.upgrade;
  plan.edits = &spec.requestHeaders;
  plan.underscores = facts.underscores;

  auto fromTrustedProxy = [&](std::string_view name) -> std::optional<std::string_view> {
    if (!facts.peerTrusted) return std::nullopt;
    auto value = req.get(name);
    if (!value || value->empty()) return std::nullopt;
    return value;
  };
  if (!out.forwardedFor.empty()) out.forwardedFor += ", ";
  out.forwardedFor += facts.peer;
  plan.own.emplace_back("X-Forwarded-For", out.forwardedFor);
  plan.own.emplace_back("X-Forwarded-Proto", fromTrustedProxy("x-forwarded-proto").value_or(facts.tls ? "https" : "http"));
  if (auto host = fromTrustedProxy("x-forwarded-host")) plan.own.emplace_back("X-Forwarded-Host", *host);
  else if (!rq.authority.empty()) plan.own.emplace_back("X-Forwarded-Host", rq.authority);
  plan.own.emplace_back("X-Forwarded-Port", fromTrustedProxy("x-forwarded-port").value_or(facts.localPort));
  plan.own.emplace_back("X-Real-IP", facts.clientAddress);
  plan.own.emplace_back("X-Request-Id", facts.requestId);
  for (const auto& [name, value] : admission.setUpstream) plan.own.emplace_back(name, value);
  // Identity headers are only ever Portico's: a client's X-Consumer never passes, on any
  // route, and neither do the credentials and identity headers the policies name.
  plan.strip.emplace_back("x-consumer");
  plan.strip.emplace_back("x-forwarded-client-cert");
  if (!facts.clientCertificate.empty()) plan.own.emplace_back("X-Forwarded-Client-Cert", facts.clientCertificate);
  if (!facts.peerTrusted) plan.strip.emplace_back("forwarded");
  for (const auto& name : admission.removeUpstream) plan.strip.emplace_back(name);
}

}  // namespace portico::proxy::http1
