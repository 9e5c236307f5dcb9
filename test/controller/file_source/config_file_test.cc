// Standalone config files: YAML to JSON, line numbers, strict errors.
#include <sys/resource.h>

#include <chrono>

#include <doctest/doctest.h>

#include "controller/file_source/config_file.h"
#include "test/controller/test_support.h"

using nlohmann::json;
using namespace portico::controller;
using namespace portico::controller::test;

namespace {

const char* kGoodFile = R"(# two routes and a secret
apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata:
  name: orders
spec:
  rules:
    - name: read
      match:
        path: {type: Prefix, value: /orders}
      backends:
        - url: http://127.0.0.1:9001
---
apiVersion: v1
kind: Secret
metadata: {name: api-tls, namespace: shop}
type: kubernetes.io/tls
stringData:
  tls.crt: "x"
  tls.key: "y"
)";

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_SUITE("file_source") {

TEST_CASE("a YAML stream loads APIRoutes and Secrets with namespace defaulted to default") {
  auto config = loadConfigText(kGoodFile, "cfg.yaml");
  REQUIRE_MESSAGE(config.has_value(), config.error().message);
  REQUIRE(config->objects.apiRoutes.size() == 1);
  REQUIRE(config->objects.secrets.size() == 1);
  CHECK(config->objects.apiRoutes[0]["metadata"]["namespace"] == "default");
  CHECK(config->objects.secrets[0]["metadata"]["namespace"] == "shop");
  CHECK(config->objects.apiRoutes[0]["spec"]["rules"][0]["match"]["path"]["value"] == "/orders");
}

TEST_CASE("plain scalars resolve to numbers, booleans and null; quoted ones stay strings") {
  auto config = loadConfigText(R"(apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata: {name: x}
spec:
  values:
    int: 8080
    quotedInt: "8080"
    singleQuoted: '8080'
    negative: -3
    hex: 0x1F
    float: 1.5
    exp: 1e3
    yes: yes
    bool: true
    boolCaps: False
    null1: ~
    null2: null
    empty:
    version: 1.2.3
    time: 12:30
    block: |
      text
)",
                               "cfg.yaml");
  REQUIRE_MESSAGE(config.has_value(), config.error().message);
  const json& v = config->objects.apiRoutes[0]["spec"]["values"];
  CHECK(v["int"] == 8080);
  CHECK(v["int"].is_number_integer());
  CHECK(v["quotedInt"] == "8080");
  CHECK(v["singleQuoted"] == "8080");
  CHECK(v["negative"] == -3);
  CHECK(v["hex"] == 31);
  CHECK(v["float"] == 1.5);
  CHECK(v["exp"] == 1000.0);
  CHECK(v["yes"] == "yes");  // YAML 1.2: only true/false are booleans
  CHECK(v["bool"] == true);
  CHECK(v["boolCaps"] == false);
  CHECK(v["null1"].is_null());
  CHECK(v["null2"].is_null());
  CHECK(v["empty"].is_null());
  CHECK(v["version"] == "1.2.3");
  CHECK(v["time"] == "12:30");
  CHECK(v["block"] == "text\n");
}

TEST_CASE("the line of every field is recorded, and unknown fields fall back to their parent") {
  auto config = loadConfigText(kGoodFile, "cfg.yaml");
  REQUIRE(config.has_value());
  ObjectRef route{"APIRoute", "default", "orders"};
  CHECK(config->lineOf(route, "") == 2);
  CHECK(config->lineOf(route, "metadata.name") == 5);
  CHECK(config->lineOf(route, "spec.rules[0]") == 8);
  CHECK(config->lineOf(route, "spec.rules[0].match.path.value") == 10);
  CHECK(config->lineOf(route, "spec.rules[0].backends[0].url") == 12);
  CHECK(config->lineOf(route, "spec.rules[0].backends[0].port") == 12);  // parent: the item
  CHECK(config->lineOf(route, "spec.rules[3].name") == 7);               // parent: spec.rules
  CHECK(config->lineOf(ObjectRef{"Secret", "shop", "api-tls"}, "stringData[tls.key]") == 20);
  CHECK(config->lineOf(ObjectRef{"APIRoute", "default", "other"}, "spec") == 0);
}

TEST_CASE("a YAML syntax error is FILE:LINE:COL: yaml: message") {
  auto config = loadConfigText("apiVersion: v1\nkind: Secret\nmetadata: {name: [x\n", "bad.yaml");
  REQUIRE_FALSE(config.has_value());
  CHECK(config.error().message.rfind("bad.yaml:", 0) == 0);
  CHECK(contains(config.error().message, ": yaml: "));
  auto tab = loadConfigText("a:\n\tb: 1\n", "tab.yaml");
  REQUIRE_FALSE(tab.has_value());
  CHECK(tab.error().message.rfind("tab.yaml:2:", 0) == 0);
}

TEST_CASE("documents of another kind or apiVersion are errors naming the document and its line") {
  auto config = loadConfigText(
      "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
      "---\napiVersion: portico.dev/v1\nkind: APIRoute\nmetadata: {name: r}\n",
      "cfg.yaml");
  REQUIRE_FALSE(config.has_value());
  const std::string& m = config.error().message;
  CHECK(contains(m, "cfg.yaml:5: document 2: unsupported kind \"ConfigMap\" of apiVersion \"v1\""));
  CHECK(contains(m, "cfg.yaml:9: document 3: unsupported kind \"APIRoute\" of apiVersion \"portico.dev/v1\""));
}

TEST_CASE("a missing or invalid name, a duplicate key and a repeated object are errors") {
  auto noName = loadConfigText("apiVersion: v1\nkind: Secret\nmetadata: {namespace: a}\n", "f.yaml");
  REQUIRE_FALSE(noName.has_value());
  CHECK(contains(noName.error().message, "f.yaml:3: document 1: metadata.name"));

  auto dupKey = loadConfigText("apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ntype: x\ntype: y\n", "f.yaml");
  REQUIRE_FALSE(dupKey.has_value());
  CHECK(contains(dupKey.error().message, "f.yaml:5: duplicate key \"type\""));

  auto repeated = loadConfigText(
      "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: default}\n",
      "f.yaml");
  REQUIRE_FALSE(repeated.has_value());
  CHECK(contains(repeated.error().message, "f.yaml:5: document 2: Secret default/a is already defined at line 1"));
}

TEST_CASE("empty documents and comments are skipped; a scalar document is an error") {
  auto config = loadConfigText("---\n# nothing\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n",
                               "f.yaml");
  REQUIRE_MESSAGE(config.has_value(), (config ? std::string() : config.error().message));
  CHECK(config->objects.secrets.size() == 1);
  auto scalar = loadConfigText("hello\n", "f.yaml");
  REQUIRE_FALSE(scalar.has_value());
  CHECK(contains(scalar.error().message, "must be a mapping"));
}

TEST_CASE("a stream with no documents is refused: it would remove every route") {
  for (const char* text : {"", "\n\n", "# only a comment\n", "---\n# nothing\n---\n", "...\n"}) {
    CAPTURE(text);
    auto config = loadConfigText(text, "f.yaml");
    REQUIRE_FALSE(config.has_value());
    CHECK(config.error().message.rfind("f.yaml: no documents", 0) == 0);
  }
}

TEST_CASE("a directory is refused with a clear error") {
  TempDir dir;
  auto config = loadConfigFile(dir.path());
  REQUIRE_FALSE(config.has_value());
  CHECK(config.error().message == dir.path() + ": cannot read: is a directory, not a file");
}

TEST_CASE("an unreadable file is an error naming the file") {
  auto config = loadConfigFile("/nonexistent/portico.yaml");
  REQUIRE_FALSE(config.has_value());
  CHECK(config.error().message.rfind("/nonexistent/portico.yaml: cannot read", 0) == 0);
}

TEST_CASE("a valid file renders to a table in standalone mode") {
  TempDir dir;
  std::string path = dir.file("portico.yaml");
  writeText(path, R"(apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata: {name: orders, namespace: shop}
spec:
  hosts: [api.example.com]
  rules:
    - name: read
      match: {path: {type: Prefix, value: /orders}, methods: [GET]}
      backends: [{url: "http://127.0.0.1:9001", weight: 2}]
      timeouts: {connect: 2s}
)");
  auto table = renderConfigFile(path);
  REQUIRE_MESSAGE(table.has_value(), table.error().message);
  REQUIRE(table->routes.size() == 1);
  CHECK(table->routes[0].name == "shop/orders/read");
  CHECK(table->routes[0].backends[0].weight == 2);
  CHECK(table->routes[0].timeouts.connect.count() == 2000);
}

TEST_CASE("a bad file is an Error listing every problem as FILE:LINE: object field: message") {
  TempDir dir;
  std::string path = dir.file("portico.yaml");
  writeText(path, R"(apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata: {name: orders}
spec:
  rules:
    - name: read
      match:
        path:
          type: RegularExpression
          value: "/orders/(["
      backends:
        - url: http://127.0.0.1:9001
    - name: write
      backends:
        - service: orders
          port: 8080
      auth:
        apiKey: {header: X-API-Key}
)");
  auto table = renderConfigFile(path);
  REQUIRE_FALSE(table.has_value());
  const std::string& m = table.error().message;
  CHECK(contains(m, path + ":10: APIRoute default/orders spec.rules[0].match.path.value: invalid RE2"));
  CHECK(contains(m, path + ":15: APIRoute default/orders spec.rules[1].backends[0].service: service \"orders\": "
                           "service backends need a cluster"));
  CHECK(contains(m, path + ":18: APIRoute default/orders spec.rules[1].auth.apiKey.secretName: required"));
  CHECK(std::count(m.begin(), m.end(), '\n') == 2);  // three lines
}

TEST_CASE("a TLS Secret written with stringData in the file resolves") {
  std::string indentedCert, indentedKey;
  for (auto [pem, out] : {std::pair{certA(), &indentedCert}, std::pair{keyA(), &indentedKey}}) {
    std::istringstream in(pem);
    for (std::string line; std::getline(in, line);) *out += "    " + line + "\n";
  }
  std::string text = "apiVersion: v1\nkind: Secret\nmetadata: {name: api-tls}\ntype: kubernetes.io/tls\nstringData:\n"
                     "  tls.crt: |\n" + indentedCert + "  tls.key: |\n" + indentedKey +
                     "---\napiVersion: portico.dev/v1alpha1\nkind: APIRoute\nmetadata: {name: api}\nspec:\n"
                     "  hosts: [a.example.com]\n  tls: {secretName: api-tls, redirectHTTP: true}\n"
                     "  rules: [{name: r, backends: [{url: 'http://127.0.0.1:9001'}]}]\n";
  auto table = renderConfigText(text, "tls.yaml");
  REQUIRE_MESSAGE(table.has_value(), table.error().message);
  REQUIRE(table->certificates.size() == 1);
  CHECK(table->certificates[0].name == "default/api-tls");
  CHECK(table->certificates[0].certificatePem == certA());
  CHECK(table->httpsRedirectHosts == std::vector<std::string>{"a.example.com"});
}

TEST_CASE("a missing Secret in a file fails with the line of secretName") {
  auto table = renderConfigText("apiVersion: portico.dev/v1alpha1\nkind: APIRoute\nmetadata: {name: api}\nspec:\n"
                                "  hosts: [a.example.com]\n  tls:\n    secretName: nope\n"
                                "  rules: [{name: r, backends: [{url: 'http://127.0.0.1:9001'}]}]\n",
                                "f.yaml");
  REQUIRE_FALSE(table.has_value());
  CHECK(table.error().message ==
        "f.yaml:7: APIRoute default/api spec.tls.secretName: secret \"default/nope\" not found");
}

TEST_CASE("a string where the schema wants a number is an error, not a silent conversion") {
  auto table = renderConfigText("apiVersion: portico.dev/v1alpha1\nkind: APIRoute\nmetadata: {name: api}\nspec:\n"
                                "  rules:\n  - name: r\n    backends: [{url: 'http://a', weight: \"2\"}]\n",
                                "f.yaml");
  REQUIRE_FALSE(table.has_value());
  CHECK(contains(table.error().message, "f.yaml:7: APIRoute default/api spec.rules[0].backends[0].weight: must be an integer"));
}

namespace {

// The classic "billion laughs": each level is a list of nine aliases of the level above,
// 9^levels strings from a few hundred bytes.
std::string billionLaughs(int levels) {
  std::string text = "apiVersion: v1\nkind: Secret\nmetadata: {name: lol}\nstringData:\n  l0: &l0 \"lol\"\n";
  for (int i = 1; i <= levels; ++i) {
    std::string prev = "*l" + std::to_string(i - 1);
    text += "  l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int k = 0; k < 9; ++k) text += (k ? ", " : "") + prev;
    text += "]\n";
  }
  return text;
}

}  // namespace

TEST_CASE("billion laughs: excessive aliasing is refused with file:line before anything is expanded") {
  std::string text = billionLaughs(9);  // 9^9 = 387,420,489 strings
  REQUIRE(text.size() < 1000);
  auto peakKib = [] {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
  };
  const long peakBefore = peakKib();
  auto started = std::chrono::steady_clock::now();
  auto config = loadConfigText(text, "lol.yaml");
  auto took = std::chrono::steady_clock::now() - started;
  // The process's peak RSS did not grow by more than a few MB (expanding would need GBs).
  CHECK(peakKib() - peakBefore < 16 * 1024);
  REQUIRE_FALSE(config.has_value());
  // The worst alias is on the last line (line 14: the ninth level).
  CHECK(config.error().message.rfind("lol.yaml:14: yaml: excessive aliasing: aliases would add ", 0) == 0);
  CHECK(contains(config.error().message, "(limit 10000 + 10 per node written)"));
  // Expanding even 1% of it would take seconds and gigabytes; counting takes microseconds.
  CHECK(took < std::chrono::milliseconds(200));

  // renderConfigText and the loader say the same.
  auto table = renderConfigText(text, "lol.yaml");
  REQUIRE_FALSE(table.has_value());
  CHECK(table.error().message == config.error().message);
}

TEST_CASE("one large value repeated by aliases is refused by the byte bound") {
  std::string big(100000, 'x');
  std::string text = "apiVersion: v1\nkind: Secret\nmetadata: {name: big}\nstringData:\n  a: &big \"" + big +
                     "\"\n  list: [";
  for (int i = 0; i < 50; ++i) text += (i ? ", " : "") + std::string("*big");
  text += "]\n";
  auto config = loadConfigText(text, "big.yaml");
  REQUIRE_FALSE(config.has_value());
  CHECK(config.error().message.rfind("big.yaml:6: yaml: excessive aliasing: aliases would add 5000000 bytes", 0) ==
        0);
}

TEST_CASE("modest aliasing, as people share a block between rules, loads") {
  std::string text =
      "apiVersion: portico.dev/v1alpha1\nkind: APIRoute\nmetadata: {name: shared}\nspec:\n  rules:\n"
      "    - name: r0\n      backends: &backends [{url: 'http://127.0.0.1:9001'}, {url: 'http://127.0.0.1:9002'}]\n"
      "      requestHeaders: &headers {set: {X-Env: prod, X-Team: shop}, remove: [X-Debug]}\n";
  for (int i = 1; i < 200; ++i) {
    text += "    - name: r" + std::to_string(i) + "\n      match: {path: {type: Prefix, value: /p" +
            std::to_string(i) + "}}\n      backends: *backends\n      requestHeaders: *headers\n";
  }
  auto config = loadConfigText(text, "shared.yaml");
  REQUIRE_MESSAGE(config.has_value(), (config ? std::string() : config.error().message));
  const json& rules = config->objects.apiRoutes[0]["spec"]["rules"];
  REQUIRE(rules.size() == 200);
  CHECK(rules[199]["backends"][1]["url"] == "http://127.0.0.1:9002");
  CHECK(rules[199]["requestHeaders"]["set"]["X-Team"] == "shop");

  // The limit counts the whole stream: more documents do not buy more aliasing each.
  std::string many;
  for (int d = 0; d < 30; ++d) {
    many += "---\n" + billionLaughs(4);  // 9^4 = 6561 strings, within the allowance alone
    many.replace(many.find("name: lol}"), 10, "name: lol" + std::to_string(d) + "}");
  }
  auto spread = loadConfigText(many, "many.yaml");
  REQUIRE_FALSE(spread.has_value());
  CHECK(contains(spread.error().message, "excessive aliasing"));
}

TEST_CASE("an alias inside the node its anchor names is refused instead of recursing forever") {
  auto config = loadConfigText("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: &d\n  self: *d\n", "cyc.yaml");
  REQUIRE_FALSE(config.has_value());
  CHECK(config.error().message == "cyc.yaml:5: yaml: an alias refers to the node that contains it");
}

TEST_CASE("a stray comma is a syntax error, not an endless stream of empty documents (fuzz finding)") {
  // yaml-cpp 0.7 reports an empty document at the ',' forever; LoadAll never returns.
  auto alone = loadConfigText(",", "comma.yaml");
  REQUIRE_FALSE(alone.has_value());
  CHECK(alone.error().message.rfind("comma.yaml:1:1: yaml: ", 0) == 0);
  auto after = loadConfigText("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n,\n", "after.yaml");
  REQUIRE_FALSE(after.has_value());
  CHECK(after.error().message.rfind("after.yaml:5:1: yaml: ", 0) == 0);
  // Empty documents that do advance still load.
  auto empties = loadConfigText("---\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n", "e.yaml");
  CHECK(empties.has_value());
}

TEST_CASE("findEndMarker: the marker is a whole line; Last when only blanks follow it") {
  using Where = EndMarkerScan::Where;
  CHECK(findEndMarker("a: 1\n").where == Where::Absent);
  CHECK(findEndMarker("a: 1\n# portico:en").where == Where::Absent);
  CHECK(findEndMarker("a: 1  # portico:end\n").where == Where::Absent);
  auto last = findEndMarker("a: 1\n# portico:end\n\n  \n");
  CHECK(last.where == Where::Last);
  CHECK(last.line == 2);
  CHECK(findEndMarker("a: 1\n# portico:end").where == Where::Last);
  CHECK(findEndMarker("a: 1\r\n  # portico:end \r\n").where == Where::Last);
  auto notLast = findEndMarker("a: 1\n# portico:end\nb: 2\n");
  CHECK(notLast.where == Where::NotLast);
  CHECK(notLast.line == 2);
}

TEST_CASE("once a version ends with the end marker, a version without it is refused as possibly cut") {
  const std::string secured = std::string(kGoodFile).substr(0, std::string(kGoodFile).find("---")) +
                              "      auth:\n        apiKey: {header: X-API-Key, secretName: keys}\n"
                              "---\napiVersion: v1\nkind: Secret\nmetadata: {name: keys}\n"
                              "stringData:\n  alice: a-long-secret-key\n";
  // Cut in the middle of the Secret value: still valid YAML, and a weaker key.
  const std::string cut = secured.substr(0, secured.find("a-long-secret-key") + 3) + "\n";
  REQUIRE(renderConfigText(cut, "cfg.yaml").has_value());

  ConfigFileLoader loader("cfg.yaml");
  CHECK_FALSE(loader.endMarkerRequired());
  REQUIRE(loader.render(secured).has_value());  // no marker yet: not required
  REQUIRE(loader.render(secured + "# portico:end\n").has_value());
  CHECK(loader.endMarkerRequired());
  auto refused = loader.render(cut);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().message ==
        "cfg.yaml: does not end with the line \"# portico:end\" (an earlier version of the file did): it may be cut "
        "short by a write in progress or an interrupted one; refusing it");
  // A cut inside the marker line itself is no marker either.
  CHECK_FALSE(loader.render(secured + "# portico:e").has_value());
  CHECK(loader.render(secured + "\n# portico:end").has_value());
}

TEST_CASE("--config-require-end-marker: required from the first version; a misplaced marker is an error") {
  ConfigFileLoader loader("cfg.yaml", /*requireEndMarker=*/true);
  auto refused = loader.render(kGoodFile);
  REQUIRE_FALSE(refused.has_value());
  CHECK(contains(refused.error().message, "(--config-require-end-marker)"));
  CHECK(loader.render(std::string(kGoodFile) + "# portico:end\n").has_value());

  ConfigFileLoader relaxed("cfg.yaml");
  auto misplaced = relaxed.render("# portico:end\n" + std::string(kGoodFile));
  REQUIRE_FALSE(misplaced.has_value());
  CHECK(misplaced.error().message ==
        "cfg.yaml:1: \"# portico:end\" must be the last line of the file: it marks the file as complete");
  CHECK_FALSE(relaxed.endMarkerRequired());
}

}  // TEST_SUITE
