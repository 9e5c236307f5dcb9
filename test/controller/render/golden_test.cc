// Golden files: test/controller/testdata/render/<case>/ holds input.json (an object
// snapshot plus options, cluster mode) or input.yaml (a standalone file), and
// expected.json (table, diagnostics and, for files, the renderConfigText errors),
// compared byte for byte. Regenerate with PORTICO_UPDATE_GOLDEN=1 and review the diff.
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <doctest/doctest.h>

#include "controller/file_source/config_file.h"
#include "controller/render/render.h"
#include "controller/render/spec_json.h"
#include "test/controller/test_support.h"

using nlohmann::json;
using nlohmann::ordered_json;
using namespace portico::controller;
using namespace portico::controller::test;
namespace fs = std::filesystem;

namespace {

ordered_json renderCase(const fs::path& dir) {
  ordered_json out;
  if (fs::exists(dir / "input.json")) {
    const RenderCase c = loadRenderCase(dir);
    auto result = render(c.objects, c.options);
    out["table"] = toJson(result.table);
    out["diagnostics"] = toJson(result.diagnostics);
    if (c.input.contains("ingresses")) {
      out["ownedIngresses"] = ordered_json::array();
      for (const auto& o : result.ownedIngresses) out["ownedIngresses"].push_back(o.toString());
    }
    return out;
  }
  std::string text = readText((dir / "input.yaml").string());
  auto config = loadConfigText(text, "input.yaml");
  // doctest evaluates the message even on success when run with -s: never call error() then.
  REQUIRE_MESSAGE(config.has_value(), (config ? std::string() : config.error().message));
  RenderOptions options;
  options.standalone = true;
  auto result = render(config->objects, options);
  out["table"] = toJson(result.table);
  out["diagnostics"] = toJson(result.diagnostics);
  out["fileErrors"] = ordered_json::array();
  auto table = renderConfigText(text, "input.yaml");
  if (!table) {
    std::istringstream lines(table.error().message);
    for (std::string line; std::getline(lines, line);) out["fileErrors"].push_back(line);
  }
  return out;
}

}  // namespace

TEST_SUITE("render") {

TEST_CASE("golden files: every testdata/render case renders to its expected.json") {
  bool update = std::getenv("PORTICO_UPDATE_GOLDEN") != nullptr;
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(testdataPath("render"))) {
    if (!entry.is_directory()) continue;
    ++cases;
    CAPTURE(entry.path().filename().string());
    std::string actual = renderCase(entry.path()).dump(2) + "\n";
    std::string expectedPath = (entry.path() / "expected.json").string();
    if (update) writeText(expectedPath, actual);
    CHECK(readText(expectedPath) == actual);
    // Rendering again gives the same bytes.
    CHECK(renderCase(entry.path()).dump(2) + "\n" == actual);
  }
  CHECK(cases >= 2);
}

}  // TEST_SUITE
