// Command-line flags: the gateway flags that go into ServerOptions.
#include <doctest/doctest.h>

#include <vector>

#include "controller/options.h"

using namespace portico::controller;
using namespace std::chrono_literals;

namespace {

portico::Expected<Options> parse(std::vector<const char*> args) {
  args.insert(args.begin(), "portico");
  return parseOptions(static_cast<int>(args.size()), args.data());
}

std::string errorOf(std::vector<const char*> args) {
  auto o = parse(std::move(args));
  REQUIRE_FALSE(o.has_value());
  return o.error().message;
}

}  // namespace

TEST_SUITE("options") {

TEST_CASE("gateway flags are off by default") {
  auto o = parse({});
  REQUIRE(o.has_value());
  CHECK(o->server.trustedProxies.empty());
  CHECK(o->server.redisAddress.empty());
  CHECK(o->server.redisTimeout == 50ms);
}

TEST_CASE("--trusted-proxy is repeatable and takes comma lists of addresses and CIDRs") {
  auto o = parse({"--trusted-proxy", "10.0.0.0/8, 192.0.2.1", "--trusted-proxy=2001:DB8::/32",
                  "--trusted-proxy", "10.0.0.0/8"});
  REQUIRE(o.has_value());
  CHECK(o->server.trustedProxies == std::vector<std::string>{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32"});
  CHECK(errorOf({"--trusted-proxy", "10.0.0.0/33"}).find("flag --trusted-proxy") != std::string::npos);
  CHECK(errorOf({"--trusted-proxy", "proxy.local"}).find("flag --trusted-proxy") != std::string::npos);
  CHECK(errorOf({"--trusted-proxy", "10.0.0.1,"}).find("flag --trusted-proxy") != std::string::npos);
  CHECK(errorOf({"--trusted-proxy"}).find("needs a value") != std::string::npos);
}

TEST_CASE("--redis-address host:port and --redis-timeout") {
  auto o = parse({"--redis-address", "redis.portico:6379", "--redis-timeout", "200ms"});
  REQUIRE(o.has_value());
  CHECK(o->server.redisAddress == "redis.portico:6379");
  CHECK(o->server.redisTimeout == 200ms);
  CHECK(parse({"--redis-address=127.0.0.1:6379"})->server.redisAddress == "127.0.0.1:6379");
  CHECK(parse({"--redis-address=[::1]:6379"})->server.redisAddress == "[::1]:6379");
  CHECK(errorOf({"--redis-address", "redis"}).find("flag --redis-address") != std::string::npos);
  CHECK(errorOf({"--redis-address", "redis:0"}).find("flag --redis-address") != std::string::npos);
  CHECK(errorOf({"--redis-address", "bad host:6379"}).find("flag --redis-address") != std::string::npos);
  CHECK(errorOf({"--redis-timeout", "0s"}).find("flag --redis-timeout") != std::string::npos);
  CHECK(errorOf({"--redis-timeout", "fast"}).find("flag --redis-timeout") != std::string::npos);
}

TEST_CASE("request hygiene flags: --headers-with-underscores and --escaped-slashes") {
  using portico::proxy::http1::UnderscoreHeaders;
  using portico::proxy::router::EscapedSlashes;
  auto defaults = parse({});
  REQUIRE(defaults.has_value());
  CHECK((defaults->server.admission.underscores == UnderscoreHeaders::Drop));
  CHECK((defaults->server.admission.escapedSlashes == EscapedSlashes::Reject));
  auto o = parse({"--headers-with-underscores", "reject", "--escaped-slashes", "unescape-and-redirect"});
  REQUIRE(o.has_value());
  CHECK((o->server.admission.underscores == UnderscoreHeaders::Reject));
  CHECK((o->server.admission.escapedSlashes == EscapedSlashes::UnescapeAndRedirect));
  CHECK((parse({"--escaped-slashes", "keep"})->server.admission.escapedSlashes == EscapedSlashes::Keep));
  CHECK(errorOf({"--headers-with-underscores", "maybe"}).find("drop, reject or allow") != std::string::npos);
  CHECK(errorOf({"--escaped-slashes", "decode"}).find("flag --escaped-slashes") != std::string::npos);
}

TEST_CASE("the usage text lists the gateway flags") {
  for (const char* flag : {"--trusted-proxy", "--redis-address", "--redis-timeout"}) {
    CHECK(usage().find(flag) != std::string::npos);
  }
}

TEST_CASE("standalone reload flags: --config-settle and --config-require-end-marker") {
  auto defaults = parse({"--config", "p.yaml"});
  REQUIRE(defaults.has_value());
  CHECK(defaults->configSettle == 1000ms);
  CHECK_FALSE(defaults->configRequireEndMarker);

  auto o = parse({"--config", "p.yaml", "--config-settle", "200ms", "--config-require-end-marker"});
  REQUIRE(o.has_value());
  CHECK(o->configSettle == 200ms);
  CHECK(o->configRequireEndMarker);
  CHECK(parse({"--config-settle=0s"})->configSettle == 0ms);
  CHECK_FALSE(parse({"--config-require-end-marker=false"})->configRequireEndMarker);
  CHECK(errorOf({"--config-settle", "soon"}).find("flag --config-settle") != std::string::npos);
  CHECK(errorOf({"--config-require-end-marker=maybe"}).find("flag --config-require-end-marker") !=
        std::string::npos);
  for (const char* flag : {"--config-settle", "--config-require-end-marker"}) {
    CHECK(usage().find(flag) != std::string::npos);
  }
}

TEST_CASE("--max-connections: derived from the open-file limit unless given") {
  auto defaults = parse({});
  REQUIRE(defaults.has_value());
  CHECK(defaults->server.maxConnections == 0);  // ProxyServer derives it at start
  CHECK(parse({"--max-connections", "5"})->server.maxConnections == 5);
  CHECK(parse({"--max-connections=100000"})->server.maxConnections == 100000);
  CHECK(errorOf({"--max-connections", "0"}).find("flag --max-connections") != std::string::npos);
  CHECK(errorOf({"--max-connections", "-1"}).find("flag --max-connections") != std::string::npos);
  CHECK(errorOf({"--max-connections", "many"}).find("flag --max-connections") != std::string::npos);
  CHECK(usage().find("--max-connections") != std::string::npos);
}

TEST_CASE("--gateway-controller-name: the GatewayClass controller served, empty to turn the Gateway API off") {
  auto o = parse({});
  REQUIRE(o);
  CHECK(o->gatewayControllerName == "portico.dev/gateway-controller");
  o = parse({"--gateway-controller-name", "example.com/gw"});
  REQUIRE(o);
  CHECK(o->gatewayControllerName == "example.com/gw");
  o = parse({"--gateway-controller-name", ""});
  REQUIRE(o);
  CHECK(o->gatewayControllerName.empty());
  CHECK(usage().find("--gateway-controller-name") != std::string::npos);
}

}  // TEST_SUITE
