// The field-description facility (controller/render/field_schema.h): one description of a
// struct's fields gives its reader, its unknown-field check, its diagnostics and its view.
#include <doctest/doctest.h>

#include "controller/render/api_names.h"
#include "controller/render/field_schema.h"
#include "controller/render/policies.h"
#include "controller/render/rule_schemas.h"
#include "controller/render/validation.h"

using nlohmann::json;
using nlohmann::ordered_json;
using namespace portico::controller;
using namespace std::chrono_literals;
namespace proxy = portico::proxy;

namespace {

enum class Color { Red, Green, Blue };
constexpr EnumName<Color> kColorNames[] = {{"Red", Color::Red}, {"Green", Color::Green}, {"Blue", Color::Blue}};

struct Sample {
  uint32_t count = 7;
  std::optional<uint16_t> port;
  proxy::Millis wait{0};
  proxy::Millis base{10};
  proxy::Millis max{100};
  bool flag = false;
  std::string name;
  std::optional<std::string> label;
  Color color = Color::Red;
  std::vector<std::string> tags;
};

const Schema<Sample>& sampleSchema() {
  static const Schema<Sample> schema{
      field::count("count", &Sample::count, {.min = 1, .max = 10, .whenAbsent = 3}),
      field::count("port", &Sample::port, {.min = 1, .max = 65535, .belowMin = "must be from 1 to 65535"}),
      field::duration("wait", &Sample::wait, {.min = 1ms, .max = 10min, .aboveMax = "must be at most 10m"}),
      field::boolean("flag", &Sample::flag),
      field::string("name", &Sample::name,
                    {.required = true,
                     .normalize = toLower,
                     .check = [](const std::string& written, const std::string& lower) {
                       return lower == "bad" ? "\"" + written + "\" is bad" : std::string();
                     },
                     .reason = "InvalidName"}),
      field::string("label", &Sample::label, {}),
      field::enumeration("color", &Sample::color, EnumNames<Color>(kColorNames),
                         {.whenAbsent = Color::Green, .view = "colour"}),
      field::group<Sample>("backoff",
                           {
                               field::duration("base", &Sample::base, {.min = 1ms, .view = "baseMs"}),
                               field::duration("max", &Sample::max, {.min = 1ms, .view = "maxMs"}),
                               field::check<Sample>([](const Sample& s, const std::string& f, Reporter& r) {
                                 if (s.max < s.base) r.invalid(f, "InvalidField", "max < base");
                               }),
                           }),
      field::custom<Sample>(
          "tags",
          [](const json& v, const std::string& f, Sample& s, Reporter& r) {
            if (!v.is_array()) return r.invalid(f, "InvalidField", "must be a list");
            for (const auto& t : v) s.tags.push_back(t.dump());
          },
          [](const Sample& s, ordered_json& out) { out["tagCount"] = s.tags.size(); },
          [](Sample& s, const std::string&, Reporter&) { s.tags = {"default"}; }),
      field::check<Sample>([](const Sample& s, const std::string& f, Reporter& r) {
        if (s.flag && s.label) r.invalid(childField(f, "label"), "InvalidField", "not with flag");
      }),
  };
  return schema;
}

// Reads `object` (at `field`) into `out`; the diagnostics as "<reason> <message>" lines.
template <class S>
std::string readWith(const Schema<S>& schema, const json& object, S& out, const std::string& field = "spec") {
  std::vector<Diagnostic> diagnostics;
  Reporter reporter(diagnostics, ObjectRef{"Test", "ns", "t"});
  schema.read(object, field, out, reporter);
  std::string text;
  for (const auto& d : diagnostics) text += d.reason + " " + d.message + "\n";
  return text;
}

struct Read {
  Sample spec;
  std::string diagnostics;
  const std::string& text() const { return diagnostics; }
};

Read readSample(const json& object) {
  Read r;
  r.diagnostics = readWith(sampleSchema(), object, r.spec, "spec.x");
  return r;
}

}  // namespace

TEST_CASE("field_schema: a good object fills every described member, absent fields take their defaults") {
  auto r = readSample({{"name", "Alice"}, {"port", 8080}, {"wait", "2s"}, {"flag", true}, {"color", "Blue"},
                       {"backoff", {{"base", "5ms"}, {"max", "1s"}}}, {"tags", {"a", "b"}}});
  CHECK(r.text() == "");
  CHECK(r.spec.count == 3);  // whenAbsent, not the struct's 7
  CHECK(r.spec.port == 8080);
  CHECK(r.spec.wait == 2000ms);
  CHECK(r.spec.flag);
  CHECK(r.spec.name == "alice");
  CHECK(!r.spec.label);
  CHECK(r.spec.color == Color::Blue);
  CHECK(r.spec.base == 5ms);
  CHECK(r.spec.max == 1000ms);
  CHECK(r.spec.tags == std::vector<std::string>{"\"a\"", "\"b\""});

  auto d = readSample({{"name", "x"}});
  CHECK(d.text() == "");
  CHECK(d.spec.color == Color::Green);
  CHECK(d.spec.tags == std::vector<std::string>{"default"});
  CHECK(d.spec.base == 10ms);  // group absent: struct defaults stay
}

TEST_CASE("field_schema: names are the fields only, in order; unknown members are reported first") {
  CHECK(sampleSchema().names() ==
        std::vector<std::string>{"count", "port", "wait", "flag", "name", "label", "color", "backoff", "tags"});
  auto r = readSample({{"name", "x"}, {"zzz", 1}, {"backoff", {{"min", "1s"}}}});
  CHECK(r.text() ==
        "UnknownField spec.x.zzz: unknown field\n"
        "UnknownField spec.x.backoff.min: unknown field\n");
}

TEST_CASE("field_schema: each kind's diagnostics") {
  auto r = readSample({{"count", 0},
                       {"port", 0},
                       {"wait", "1d"},
                       {"flag", "yes"},
                       {"name", "BAD"},
                       {"label", 5},
                       {"color", "Purple"},
                       {"backoff", {{"base", "2s"}, {"max", "1s"}}},
                       {"tags", "a"}});
  CHECK(r.text() ==
        "InvalidField spec.x.count: must be an integer from 1 to 10\n"
        "InvalidField spec.x.port: must be from 1 to 65535\n"
        "InvalidDuration spec.x.wait: unknown unit \"d\" in duration \"1d\"\n"
        "InvalidField spec.x.flag: must be a boolean, not string\n"
        "InvalidName spec.x.name: \"BAD\" is bad\n"
        "InvalidField spec.x.label: must be a string, not number\n"
        "InvalidField spec.x.color: \"Purple\" must be Red, Green or Blue\n"
        "InvalidField spec.x.backoff: max < base\n"
        "InvalidField spec.x.tags: must be a list\n");
  CHECK(r.spec.name.empty());  // a bad value is not stored
  CHECK(r.spec.count == 7);    // present but bad: no default either

  auto more = readSample({{"count", 11}, {"port", -1}, {"wait", "0s"}, {"color", 1}, {"backoff", 1}});
  CHECK(more.text() ==
        "InvalidField spec.x.count: must be an integer from 1 to 10\n"
        "InvalidField spec.x.port: must be an integer from 1 to 65535\n"
        "InvalidDuration spec.x.wait: \"0s\" must be at least 1ms\n"
        "InvalidField spec.x.name: required\n"
        "InvalidField spec.x.color: must be a string, not number\n"
        "InvalidField spec.x.backoff: must be an object, not number\n");

  auto big = readSample({{"name", "x"}, {"count", 1.5}, {"wait", "11m"}, {"flag", true}, {"label", "l"}});
  CHECK(big.text() ==
        "InvalidField spec.x.count: must be an integer, not number\n"
        "InvalidField spec.x.wait: must be at most 10m\n"
        "InvalidField spec.x.label: not with flag\n");
}

TEST_CASE("field_schema: null counts as absent") {
  auto r = readSample({{"name", "x"}, {"count", nullptr}, {"backoff", nullptr}, {"tags", nullptr}});
  CHECK(r.text() == "");
  CHECK(r.spec.count == 3);
  CHECK(r.spec.tags == std::vector<std::string>{"default"});
}

TEST_CASE("field_schema: the view has every field in description order, with its view key") {
  Sample s;
  s.port = 443;
  s.name = "n";
  s.tags = {"a"};
  ordered_json view = sampleSchema().view(s);
  CHECK(view.dump() ==
        R"({"count":7,"port":443,"waitMs":0,"flag":false,"name":"n","label":null,"colour":"Red",)"
        R"("baseMs":10,"maxMs":100,"tagCount":1})");
}

TEST_CASE("field_schema: enum names and choices") {
  EnumNames<Color> names(kColorNames);
  CHECK(enumName(names, Color::Green) == "Green");
  CHECK(enumValue(names, "Blue") == Color::Blue);
  CHECK(!enumValue(names, "blue"));
  CHECK(choicesText(names) == "Red, Green or Blue");
  std::vector<std::string_view> one{"A"}, two{"A", "B"};
  CHECK(choicesText(one) == "A");
  CHECK(choicesText(two) == "A or B");
  CHECK(choicesText(EnumNames<proxy::LoadBalancingPolicy>(kLoadBalancingPolicyNames)) ==
        "RoundRobin, LeastRequest, Random or ConsistentHash");
  CHECK(choicesText(kIngressLoadBalancingPolicies) == "RoundRobin, LeastRequest or Random");
  // Every enumerator of the proxy's enums has a name.
  for (auto p : {proxy::LoadBalancingPolicy::RoundRobin, proxy::LoadBalancingPolicy::LeastRequest,
                 proxy::LoadBalancingPolicy::Random, proxy::LoadBalancingPolicy::ConsistentHash}) {
    CHECK(enumName(EnumNames<proxy::LoadBalancingPolicy>(kLoadBalancingPolicyNames), p) != "?");
  }
}

TEST_CASE("api_names: kinds written with a name") {
  CHECK(namedChoicesText(kHashSourceNames) == "ClientIP, Path, Header:NAME, Cookie:NAME or Query:NAME");
  CHECK(namedChoicesText(kRateLimitKeyNames) == "ClientIP, Consumer, Header:NAME or Claim:NAME");
  auto header = splitNamedKind(kHashSourceNames, "Header:X-A:b");
  REQUIRE(header);
  CHECK(header->first == proxy::HashSource::Header);
  CHECK(header->second == "X-A:b");
  CHECK(splitNamedKind(kHashSourceNames, "Header:")->second.empty());
  CHECK(!splitNamedKind(kHashSourceNames, "Header"));
  CHECK(!splitNamedKind(kHashSourceNames, "Path:x"));
  CHECK(!splitNamedKind(kHashSourceNames, "Cookies:x"));
  CHECK(splitNamedKind(kRateLimitKeyNames, "Consumer")->first == proxy::RateLimitKey::Consumer);
  // The parsers' messages, built from the tables (the wording they always had).
  CHECK(parseHashOn("Host").error().message == "\"Host\" must be ClientIP, Path, Header:NAME, Cookie:NAME or Query:NAME");
  CHECK(parseHashOn("Cookie:").error().message == "\"Cookie:\" needs a name after the colon");
  CHECK(parseHashOn("Cookie:a b").error().message == "\"Cookie:a b\": \"a b\" is not a valid cookie name");
  CHECK(parseHashOn("Query:a b")->name == "a b");
  CHECK(parseRateLimitKey("IP").error().message == "\"IP\" must be ClientIP, Consumer, Header:NAME or Claim:NAME");
  CHECK(parseRateLimitKey("Header:").error().message == "\"Header:\": \"\" is not a valid header name");
  CHECK(parseRateLimitKey("Claim:").error().message == "\"Claim:\" needs a claim name after the colon");
  CHECK(parseRateLimitKey("Claim:sub")->second == "sub");
}

TEST_CASE("field_schema: the rule policy descriptions know exactly the CRD's fields") {
  CHECK(retriesSchema().names() == std::vector<std::string>{"attempts", "on", "perTryTimeout", "nonIdempotent",
                                                            "backoff", "budgetPercent", "minRetriesInFlight"});
  CHECK(healthCheckSchema().names() == std::vector<std::string>{"path", "host", "interval", "timeout",
                                                                "healthyThreshold", "unhealthyThreshold"});
  CHECK(outlierDetectionSchema().names() ==
        std::vector<std::string>{"consecutive5xx", "consecutiveGatewayFailures", "baseEjectionTime",
                                 "maxEjectionTime", "maxEjectionPercent"});
  CHECK(circuitBreakerSchema().names() ==
        std::vector<std::string>{"maxConnections", "maxPendingRequests", "maxRequests"});
  // The view of a default spec: the keys the golden files show.
  CHECK(healthCheckSchema().view(proxy::HealthCheckSpec{}).dump() ==
        R"({"path":"/healthz","host":"","intervalMs":5000,"timeoutMs":1000,"healthyThreshold":2,"unhealthyThreshold":3})");
}

namespace {

struct Inner {
  uint32_t n = 1;
  std::string s;
};
struct Outer {
  Color color = Color::Red;
  std::optional<Inner> inner;
  Inner plain;
  uint32_t after = 0;
};

const Schema<Inner>& innerSchema() {
  static const Schema<Inner> schema{
      field::count("n", &Inner::n, {.max = 5}),
      field::string("s", &Inner::s, {}),
  };
  return schema;
}

const Schema<Outer>& outerSchema() {
  static const Schema<Outer> schema{
      field::stopIfInvalid(field::enumeration("color", &Outer::color, kColorNames)),
      field::object("inner", &Outer::inner, innerSchema()),
      field::object("plain", &Outer::plain, innerSchema()),
      field::count("after", &Outer::after, {.max = 9}),
  };
  return schema;
}

std::string readOuter(const json& object, Outer& out) { return readWith(outerSchema(), object, out); }

}  // namespace

TEST_CASE("field_schema: nested objects into an optional member or in place; stopIfInvalid") {
  Outer o;
  o.plain.s = "kept";
  CHECK(readOuter({{"inner", {{"n", 3}}}, {"plain", {{"n", 4}}}, {"after", 2}}, o) == "");
  REQUIRE(o.inner);
  CHECK(o.inner->n == 3);
  CHECK(o.plain.n == 4);
  CHECK(o.plain.s == "kept");  // read in place: what the object does not say stays
  CHECK(outerSchema().view(o).dump() ==
        R"({"color":"Red","inner":{"n":3,"s":""},"plain":{"n":4,"s":"kept"},"after":2})");

  Outer bad;
  CHECK(readOuter({{"color", "Pink"}, {"inner", {{"n", 9}}}, {"after", 99}}, bad) ==
        "InvalidField spec.color: \"Pink\" must be Red, Green or Blue\n");
  CHECK(!bad.inner);

  Outer wrong;
  CHECK(readOuter({{"inner", {{"n", 9}, {"x", 1}}}, {"plain", "no"}, {"after", 99}}, wrong) ==
        "UnknownField spec.inner.x: unknown field\n"
        "InvalidField spec.inner.n: must be an integer from 0 to 5\n"
        "InvalidField spec.plain: must be an object, not string\n"
        "InvalidField spec.after: must be an integer from 0 to 9\n");
  CHECK(wrong.inner.has_value());  // present: set, even when a member of it was bad
  CHECK(outerSchema().view(Outer{}).dump() ==
        R"({"color":"Red","inner":null,"plain":{"n":1,"s":""},"after":0})");
}

TEST_CASE("field_schema: readNested reports a wrong type and leaves the member alone when absent") {
  std::vector<Diagnostic> diagnostics;
  Reporter reporter(diagnostics, ObjectRef{"Test", "ns", "t"});
  std::optional<Inner> out;
  CHECK(readNested(json{{"x", 1}}, "inner", "spec", innerSchema(), out, reporter));
  CHECK(!out);
  CHECK(!readNested(json{{"inner", 1}}, "inner", "spec", innerSchema(), out, reporter));
  CHECK(!readNested(json{{"inner", {{"n", 6}}}}, "inner", "spec", innerSchema(), out, reporter));
  CHECK(readNested(json{{"inner", {{"n", 2}}}}, "inner", "spec", innerSchema(), out, reporter));
  CHECK(out->n == 2);
  CHECK(diagnostics.size() == 2);
}

TEST_CASE("field_schema: the loadBalancing, timeouts and redirect descriptions") {
  CHECK(loadBalancingSchema().names() ==
        std::vector<std::string>{"policy", "hashOn", "sessionAffinity", "panicThresholdPercent"});
  CHECK(sessionAffinitySchema().names() == std::vector<std::string>{"cookieName", "ttl"});
  CHECK(timeoutsSchema().names() == std::vector<std::string>{"connect", "request", "idle"});
  CHECK(redirectSchema().names() == std::vector<std::string>{"scheme", "host", "port", "path", "statusCode"});
  CHECK(timeoutsSchema().view(proxy::Timeouts{}).dump() == R"({"connectMs":5000,"requestMs":60000,"idleMs":60000})");
  CHECK(redirectSchema().view(proxy::RedirectSpec{}).dump() ==
        R"({"scheme":null,"host":null,"port":null,"path":null,"status":302})");
}

namespace {

struct Lists {
  std::vector<std::string> names;
  std::vector<std::string> raw;
  uint64_t needed = 0;
};

const Schema<Lists>& listsSchema() {
  static const Schema<Lists> schema{
      field::strings("names", &Lists::names,
                     {.normalize = toUpper,
                      .check = [](const std::string& w, const std::string&) {
                        return w.empty() ? std::string("must not be empty") : std::string();
                      },
                      .reason = "InvalidName"}),
      field::strings("raw", &Lists::raw, {.unique = false, .view = "rawList"}),
      field::known<Lists>("secretName"),
      field::count("needed", &Lists::needed, {.required = true, .max = 3}),
      field::checkIfClean<Lists>([](const Lists& l, const std::string& f, Reporter& r) {
        if (l.names.empty()) r.invalid(childField(f, "names"), "InvalidField", "needs a name");
      }),
  };
  return schema;
}

std::string readLists(const json& object, Lists& out) { return readWith(listsSchema(), object, out); }

}  // namespace

TEST_CASE("field_schema: string lists, known fields, required counts, checks that run only when clean") {
  Lists ok;
  CHECK(readLists({{"names", {"a", "A", "b"}}, {"raw", {"x", "x"}}, {"secretName", 5}, {"needed", 1}}, ok) == "");
  CHECK(ok.names == std::vector<std::string>{"A", "B"});  // normalized, then unique
  CHECK(ok.raw == std::vector<std::string>{"x", "x"});
  CHECK(listsSchema().view(ok).dump() == R"({"names":["A","B"],"rawList":["x","x"],"needed":1})");

  Lists bad;
  CHECK(readLists({{"names", {1, "", "c"}}, {"raw", "x"}}, bad) ==
        "InvalidField spec.names[0]: must be a string, not number\n"
        "InvalidName spec.names[1]: must not be empty\n"
        "InvalidField spec.raw: must be a list, not string\n"
        "InvalidField spec.needed: required\n");
  CHECK(bad.names == std::vector<std::string>{"C"});

  Lists empty;
  CHECK(readLists({{"needed", 0}}, empty) == "InvalidField spec.names: needs a name\n");
  Lists emptyAndBad;  // the emptiness check says nothing when something else was refused
  CHECK(readLists({{"needed", 4}}, emptyAndBad) == "InvalidField spec.needed: must be an integer from 0 to 3\n");
}

TEST_CASE("field_schema: header and query match lists") {
  std::vector<Diagnostic> diagnostics;
  Reporter reporter(diagnostics, ObjectRef{"Test", "ns", "t"});
  std::vector<proxy::HeaderMatch> headers;
  json match = {{"headers", {{{"name", "x-a"}, {"value", "1"}}, {{"name", "x-b"}, {"type", "Present"}}, 5}}};
  CHECK(!readList(match, "headers", "spec.match", headerMatchSchema(), headers, reporter));
  REQUIRE(headers.size() == 2);
  CHECK(headers[1].type == proxy::HeaderMatchType::Present);
  REQUIRE(diagnostics.size() == 1);
  CHECK(diagnostics[0].message == "spec.match.headers[2]: must be an object, not number");
  CHECK(headerMatchSchema().view(headers[0]).dump() == R"({"name":"x-a","type":"Exact","value":"1"})");

  proxy::HeaderMatch hm;
  CHECK(readWith(headerMatchSchema(), {{"name", "x"}}, hm) == "InvalidField spec.value: required\n");
  CHECK(readWith(headerMatchSchema(), {{"name", "x"}, {"type", "Present"}, {"value", "v"}}, hm) ==
        "InvalidField spec.value: must be empty for type Present\n");
  CHECK(readWith(headerMatchSchema(), {{"name", "x"}, {"type", "Regex"}, {"value", "("}}, hm) ==
        "InvalidField spec.type: \"Regex\" must be Exact, RegularExpression or Present\n");
  proxy::QueryMatch qm;
  CHECK(readWith(queryMatchSchema(), {{"name", ""}}, qm) ==
        "InvalidField spec.name: must not be empty\nInvalidField spec.value: required\n");
}

TEST_CASE("field_schema: header edits") {
  proxy::HeaderEdits edits;
  CHECK(readWith(headerEditsSchema(),
                 {{"set", {{"X-B", "2"}, {"X-A", "1"}, {"Connection", "x"}}}, {"remove", {"X-C", 5, "bad name"}}},
                 edits) ==
        "InvalidField spec.set.Connection: \"Connection\" is managed by the proxy\n"
        "InvalidField spec.remove[1]: must be a string, not number\n"
        "InvalidField spec.remove[2]: must be a header name\n");
  CHECK(headerEditsSchema().view(edits).dump() == R"({"set":[["X-A","1"],["X-B","2"]],"add":[],"remove":["X-C"]})");
}

TEST_CASE("field_schema: the gateway policy descriptions") {
  CHECK(ipRulesSchema().names() == std::vector<std::string>{"allow", "deny"});
  CHECK(corsSchema().names() == std::vector<std::string>{"allowOrigins", "allowMethods", "allowHeaders",
                                                         "exposeHeaders", "allowCredentials", "maxAge"});
  CHECK(rateLimitSchema().names() ==
        std::vector<std::string>{"requests", "period", "burst", "key", "mode", "failureMode"});
  CHECK(apiKeyAuthSchema().names() == std::vector<std::string>{"header", "query", "secretName"});
  CHECK(basicAuthSchema().names() == std::vector<std::string>{"secretName", "realm"});
  CHECK(jwtAuthSchema().names() ==
        std::vector<std::string>{"issuer", "audiences", "jwksURI", "secretName", "jwksTLS", "forwardClaims", "leeway"});
  CHECK(externalAuthSchema().names() ==
        std::vector<std::string>{"url", "timeout", "forwardHeaders", "upstreamHeaders", "failOpen", "tls"});
  CHECK(rateLimitSchema().view(proxy::RateLimitSpec{}).dump() ==
        R"({"requests":0,"periodMs":1000,"burst":0,"key":"ClientIP","keyName":"","global":false,"failOpen":true})");
}
