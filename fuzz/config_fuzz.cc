// Fuzz target: the standalone configuration file (controller/file_source/config_file.h):
// YAML stream -> Kubernetes-shaped objects (loadConfigText) -> render -> RouteTableSpec
// (renderConfigText), then RouteTable::build of what rendered.
//
// Input: the file's text.
// Properties checked: loading and rendering are deterministic (the same text twice gives
// the same objects, the same error text, the same table JSON); every error message names
// the file; a table that rendered without diagnostics also compiles (render validates
// everything RouteTable::build checks, e.g. regexes), since otherwise a file accepted by
// the reload would fail at publish time.
#include <cstdint>
#include <string>
#include <string_view>

#include "controller/file_source/config_file.h"
#include "fuzz/fuzz_input.h"
#include "proxy/config/route_table.h"

namespace {

using portico::fuzz::check;
using namespace portico;

constexpr const char* kPath = "fuzz.yaml";

std::string describe(const Expected<controller::LoadedConfig>& loaded) {
  if (!loaded) return "error: " + loaded.error().message;
  std::string out;
  // YAML may carry bytes that are not UTF-8: dump them replaced rather than throw.
  const auto dump = [](const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); };
  for (const auto& route : loaded->objects.apiRoutes) out += dump(route) + "\n";
  for (const auto& secret : loaded->objects.secrets) out += dump(secret) + "\n";
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16 * 1024) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);

  const auto loaded = controller::loadConfigText(text, kPath);
  if (!loaded) check(loaded.error().message.starts_with(kPath), "load errors name the file", loaded.error().message);
  check(describe(loaded) == describe(controller::loadConfigText(text, kPath)), "loading is deterministic");
  if (!loaded) return 0;

  const auto rendered = controller::renderConfigText(text, kPath);
  const auto again = controller::renderConfigText(text, kPath);
  check(rendered.has_value() == again.has_value(), "rendering is deterministic");
  if (!rendered) {
    check(rendered.error().message == again.error().message, "render errors are deterministic", rendered.error().message);
    check(rendered.error().message.starts_with(kPath), "render errors name the file", rendered.error().message);
    return 0;
  }
  auto table = proxy::RouteTable::build(*rendered, 1);
  check(table.has_value(), "a rendered table compiles", table ? std::string_view() : table.error().message);
  auto tableAgain = proxy::RouteTable::build(*again, 1);
  check(tableAgain.has_value() && (*table)->toJson() == (*tableAgain)->toJson(), "rendering is deterministic (table JSON)");
  return 0;
}
