#include "controller/options.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <thread>

#include "controller/render/duration.h"
#include "controller/render/policies.h"

namespace portico::controller {

namespace {

template <class T>
std::optional<T> parseNumber(const std::string& text) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<bool> parseBool(const std::string& text) {
  if (text == "true" || text == "1" || text == "yes") return true;
  if (text == "false" || text == "0" || text == "no") return false;
  return std::nullopt;
}

}  // namespace

std::string usage() {
  return R"(usage: portico [--config FILE | --kubeconfig FILE] [flags]

Modes:
  --config FILE              standalone: serve the APIRoute and Secret documents of a YAML
                             file, reloaded when it changes
  --config-poll-interval DUR how often the file is checked for changes (default 500ms)
  --config-settle DUR        a change (or an unreadable file) is acted on only once the file
                             has stayed the same this long (default 1s; 0 acts at once)
  --config-require-end-marker
                             the file must end with the line "# portico:end" from the start
                             (otherwise: once a version of it did)
  --kubeconfig FILE          watch a cluster from outside (default: in-cluster account)

Listeners:
  --listen-address ADDR      address of the proxy listeners (default 0.0.0.0)
  --http-port N              plain HTTP (default 8080)
  --https-port N             TLS, certificates chosen by SNI (default 8443; 0 disables)
  --https-redirect-port N    port written into redirects to https (default 443)
  --tcp-ports N[,N...]       layer-4 listeners for APIRoute spec.tcp routes (default: none;
                             TLS passthrough by SNI works on the HTTPS port without one)
  --admin-port N             /healthz /readyz /metrics /routes (default 9901)
  --workers N                worker threads, one event loop each (default: cores)

Limits and timeouts:
  --max-connections N        client connections open at once, whole process; at the limit
                             new ones wait in the listen backlog (default: (open-file
                             limit - 64 - 8 x workers) / 2, the soft limit raised to the hard)
  --max-request-body-bytes N default body limit when a route sets none (default 104857600)
  --max-header-bytes N       request header section limit, else 431 (default 32768)
  --header-timeout DUR       first byte to end of a request header (default 10s)
  --keepalive-timeout DUR    idle client connection (default 60s)
  --body-timeout DUR         silence while reading or writing a body (default 60s)
  --shutdown-grace DUR       on SIGTERM, time for in-flight requests (default 30s)
  --tls-ticket-key-rotation DUR
                             a new TLS session ticket key this often; tickets stay good
                             for two periods (default 12h)

Request hygiene:
  --headers-with-underscores drop|reject|allow
                             header names with '_' are dropped before routing and upstream
                             (default), refused with 400, or passed on
  --escaped-slashes reject|unescape-and-redirect|unescape-and-forward|keep
                             %2F, %5C or a backslash in a path: 400 (default), 307 to the
                             path with '/', routed and forwarded with '/', or left as is

Kubernetes:
  --ingress-class NAME       IngressClass / ingressClassName served (default portico)
  --gateway-controller-name NAME
                             GatewayClass spec.controllerName served
                             (default portico.dev/gateway-controller; "" turns the
                             Gateway API off: its kinds are not watched)
  --watch-namespace NS       repeatable; default all namespaces
  --gateway-addresses CIDR   IPv4 pool: each Gateway gets its own address from it (in its
                             status) and its routes answer only on that address; the
                             addresses must be local to Portico (default: no pool, every
                             Gateway shares the published addresses and one route space)
  --publish-service NS/NAME  Service whose addresses go into Ingress status
  --publish-address ADDR     fixed address for Ingress status
  --leader-elect             only the Lease holder writes status and Events

Gateway:
  --trusted-proxy CIDR       repeatable or a comma list; X-Forwarded-For is believed only from
                             these peers (client IP for ipRules, rate limits, hashing)
  --redis-address HOST:PORT  Redis for rateLimit mode Global (default: none)
  --redis-timeout DUR        Redis answer timeout before failureMode applies (default 50ms)

Logs:
  --log-format text|json     (default text)
  --log-level LEVEL          trace|debug|info|warn|error (default info)
  --access-log true|false    one line per request on stdout (default true)

  --version, --help
)";
}

Expected<Options> parseOptions(int argc, const char* const* argv) {
  Options o;
  o.server.workers = std::max(1u, std::thread::hardware_concurrency());
  using Setter = std::function<std::optional<std::string>(const std::string&)>;
  auto port = [](uint16_t& out) -> Setter {
    return [&out](const std::string& v) -> std::optional<std::string> {
      auto n = parseNumber<uint16_t>(v);
      if (!n) return "must be a port number (0-65535)";
      out = *n;
      return std::nullopt;
    };
  };
  auto duration = [](std::chrono::milliseconds& out) -> Setter {
    return [&out](const std::string& v) -> std::optional<std::string> {
      auto d = parseDuration(v);
      if (!d || d->count() < 0) return "must be a duration like 500ms, 10s or 1m";
      out = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
      return std::nullopt;
    };
  };
  auto text = [](std::string& out) -> Setter {
    return [&out](const std::string& v) -> std::optional<std::string> {
      out = v;
      return std::nullopt;
    };
  };
  auto optionalText = [](std::optional<std::string>& out) -> Setter {
    return [&out](const std::string& v) -> std::optional<std::string> {
      out = v;
      return std::nullopt;
    };
  };
  const std::map<std::string, Setter> valued{
      {"config", optionalText(o.configFile)},
      {"kubeconfig", optionalText(o.kubeconfig)},
      {"listen-address", text(o.server.listenAddress)},
      {"http-port", port(o.server.httpPort)},
      {"https-port", port(o.server.httpsPort)},
      {"https-redirect-port", port(o.server.httpsRedirectPort)},
      {"admin-port", port(o.adminPort)},
      {"workers",
       [&o](const std::string& v) -> std::optional<std::string> {
         auto n = parseNumber<unsigned>(v);
         if (!n || *n == 0 || *n > 256) return "must be a number from 1 to 256";
         o.server.workers = *n;
         return std::nullopt;
       }},
      {"max-connections",
       [&o](const std::string& v) -> std::optional<std::string> {
         auto n = parseNumber<uint64_t>(v);
         if (!n || *n == 0) return "must be a number of connections, at least 1";
         o.server.maxConnections = *n;
         return std::nullopt;
       }},
      {"max-request-body-bytes",
       [&o](const std::string& v) -> std::optional<std::string> {
         auto n = parseNumber<uint64_t>(v);
         if (!n) return "must be a number of bytes";
         o.server.maxRequestBodyBytes = *n;
         return std::nullopt;
       }},
      {"max-header-bytes",
       [&o](const std::string& v) -> std::optional<std::string> {
         auto n = parseNumber<size_t>(v);
         if (!n || *n < 1024 || *n > (1u << 20)) return "must be a number of bytes from 1024 to 1048576";
         o.server.maxHeaderBytes = *n;
         return std::nullopt;
       }},
      {"header-timeout", duration(o.server.headerTimeout)},
      {"keepalive-timeout", duration(o.server.keepAliveTimeout)},
      {"body-timeout", duration(o.server.bodyTimeout)},
      {"shutdown-grace", duration(o.shutdownGrace)},
      {"tls-ticket-key-rotation", duration(o.server.tlsTicketKeyRotation)},
      {"config-poll-interval", duration(o.configPollInterval)},
      {"config-settle", duration(o.configSettle)},
      {"config-require-end-marker",
       [&o](const std::string& v) -> std::optional<std::string> {
         auto b = parseBool(v);
         if (!b) return "must be true or false";
         o.configRequireEndMarker = *b;
         return std::nullopt;
       }},
      {"ingress-class", text(o.ingressClass)},
      {"gateway-controller-name", text(o.gatewayControllerName)},
      {"gateway-addresses",
       [&o](const std::string& v) -> std::optional<std::string> {
         auto pool = GatewayAddressPool::parse(v);
         if (!pool) return pool.error().message;
         o.gatewayAddresses = *pool;
         return std::nullopt;
       }},
      {"watch-namespace",
       [&o](const std::string& v) -> std::optional<std::string> {
         o.watchNamespaces.push_back(v);
         return std::nullopt;
       }},
      {"publish-service", optionalText(o.publishService)},
      {"publish-address", optionalText(o.publishAddress)},
      {"log-format",
       [&o](const std::string& v) -> std::optional<std::string> {
         if (v != "text" && v != "json") return "must be text or json";
         o.jsonLogs = v == "json";
         o.server.accessLogJson = o.jsonLogs;
         return std::nullopt;
       }},
      {"tcp-ports",
       [&o](const std::string& v) -> std::optional<std::string> {
         for (const auto& item : splitList(v)) {
           auto n = parseNumber<uint16_t>(item);
           if (!n || *n == 0) return "must be port numbers (1-65535) separated by commas";
           auto& ports = o.server.tcpPorts;
           if (std::find(ports.begin(), ports.end(), *n) == ports.end()) ports.push_back(*n);
         }
         return std::nullopt;
       }},
      {"trusted-proxy",
       [&o](const std::string& v) -> std::optional<std::string> {
         for (const auto& item : splitList(v)) {
           if (std::string why = checkIpOrCidr(item); !why.empty()) return why;
           std::string cidr = normalizeIpOrCidr(item);
           auto& list = o.server.trustedProxies;
           if (std::find(list.begin(), list.end(), cidr) == list.end()) list.push_back(cidr);
         }
         return std::nullopt;
       }},
      {"headers-with-underscores",
       [&o](const std::string& v) -> std::optional<std::string> {
         auto action = proxy::http1::parseUnderscoreHeaders(v);
         if (!action) return "must be drop, reject or allow";
         o.server.admission.underscores = *action;
         return std::nullopt;
       }},
      {"escaped-slashes",
       [&o](const std::string& v) -> std::optional<std::string> {
         auto action = proxy::http1::parseEscapedSlashes(v);
         if (!action) return "must be reject, unescape-and-redirect, unescape-and-forward or keep";
         o.server.admission.escapedSlashes = *action;
         return std::nullopt;
       }},
      {"redis-address",
       [&o](const std::string& v) -> std::optional<std::string> {
         if (std::string why = checkHostPort(v); !why.empty()) return why;
         o.server.redisAddress = v;
         return std::nullopt;
       }},
      {"redis-timeout",
       [&o](const std::string& v) -> std::optional<std::string> {
         auto d = parseDuration(v);
         if (!d || std::chrono::duration_cast<std::chrono::milliseconds>(*d).count() < 1) {
           return "must be a duration of at least 1ms, like 50ms";
         }
         o.server.redisTimeout = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
         return std::nullopt;
       }},
      {"log-level", text(o.logLevel)},
      {"access-log",
       [&o](const std::string& v) -> std::optional<std::string> {
         auto b = parseBool(v);
         if (!b) return "must be true or false";
         o.server.accessLog = *b;
         return std::nullopt;
       }},
      {"leader-elect",
       [&o](const std::string& v) -> std::optional<std::string> {
         auto b = parseBool(v);
         if (!b) return "must be true or false";
         o.leaderElect = *b;
         return std::nullopt;
       }},
  };

  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      o.showHelp = true;
      continue;
    }
    if (arg == "--version") {
      o.showVersion = true;
      continue;
    }
    if (!arg.starts_with("--")) return makeError("unexpected argument \"" + arg + "\" (see --help)");
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    auto it = valued.find(name);
    if (it == valued.end()) return makeError("unknown flag --" + name + " (see --help)");
    if (!value) {
      if (name == "leader-elect" || name == "config-require-end-marker") {
        value = "true";  // a switch: the flag alone turns it on
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return makeError("flag --" + name + " needs a value");
      }
    }
    if (auto problem = it->second(*value)) return makeError("flag --" + name + ": " + *problem);
  }
  if (o.configPollInterval.count() < 1) return makeError("flag --config-poll-interval: must be at least 1ms");
  if (o.configFile && o.kubeconfig) return makeError("--config and --kubeconfig exclude each other");
  // Every listener binds with SO_REUSEPORT, so a second one on a port would not fail: it
  // would take half of that port's connections.
  for (uint16_t port : o.server.tcpPorts) {
    if (port == o.server.httpPort || port == o.server.httpsPort || port == o.adminPort)
      return makeError("flag --tcp-ports: port " + std::to_string(port) +
                       " is already the HTTP, HTTPS or admin port");
  }
  return o;
}

}  // namespace portico::controller
