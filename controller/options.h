// Command-line flags of the portico binary (the names are fixed by DESIGN.md).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "controller/render/gateway_addresses.h"
#include "proxy/common/expected.h"
#include "proxy/config/server_options.h"

namespace portico::controller {

struct Options {
  std::optional<std::string> configFile;  // standalone mode
  std::optional<std::string> kubeconfig;  // out-of-cluster mode
  uint16_t adminPort = 9901;
  std::string ingressClass = "portico";
  std::string gatewayControllerName = "portico.dev/gateway-controller";  // GatewayClass spec.controllerName
  GatewayAddressPool gatewayAddresses;  // empty: Gateways share the published addresses
  std::vector<std::string> watchNamespaces;  // empty: all
  std::optional<std::string> publishService;
  std::optional<std::string> publishAddress;
  bool leaderElect = false;
  bool jsonLogs = false;
  std::string logLevel = "info";
  std::chrono::milliseconds shutdownGrace{30000};
  std::chrono::milliseconds configPollInterval{500};  // standalone file change detection
  std::chrono::milliseconds configSettle{1000};       // a change goes live once unchanged this long
  bool configRequireEndMarker = false;                // the file must end with "# portico:end"
  proxy::ServerOptions server;
  bool showHelp = false;
  bool showVersion = false;
};

// Parses argv ("--flag value" and "--flag=value"). Fails with a message naming the flag.
[[nodiscard]] Expected<Options> parseOptions(int argc, const char* const* argv);

std::string usage();

}  // namespace portico::controller
