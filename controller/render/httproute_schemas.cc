#include "controller/render/httproute_schemas.h"

#include "controller/render/rule_schemas.h"
#include "controller/render/validation.h"

namespace portico::controller {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using namespace std::chrono_literals;


// HTTPRoute's path match types: PathPrefix is the proxy's element-wise Prefix, which is
// what the Gateway API defines ("/foo" matches "/foo/bar", not "/foobar").
constexpr EnumName<proxy::PathMatchType> kGwPathTypeNames[] = {
    {"Exact", proxy::PathMatchType::Exact},
    {"PathPrefix", proxy::PathMatchType::Prefix},
    {"RegularExpression", proxy::PathMatchType::RegularExpression},
};

std::string checkPath(const std::string& written, const std::string&) { return checkRequestPath(written); }

struct GwHeader {
  std::string name;
  std::string value;
};

const Schema<GwHeader>& headerSchema() {
  static const Schema<GwHeader> schema{
      field::string("name", &GwHeader::name, {.required = true}),
      field::string("value", &GwHeader::value, {.required = true}),
  };
  return schema;
}

// set / add of a header modifier: [{name, value}], only headers the proxy lets routes edit.
auto headerPairs(std::vector<std::pair<std::string, std::string>> proxy::HeaderEdits::*out) {
  return [out](const json& list, const std::string& f, proxy::HeaderEdits& edits, Reporter& reporter) {
    if (!list.is_array()) {
      reporter.invalid(f, "InvalidField", "must be a list, not " + jsonTypeName(list));
      return;
    }
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string itemField = indexField(f, i);
      GwHeader h;
      size_t before = reporter.count();
      if (list[i].is_object()) headerSchema().read(list[i], itemField, h, reporter);
      if (reporter.count() != before) continue;
      if (!isHttpToken(h.name) || isReservedHeader(h.name)) {
        reporter.invalid(itemField, "InvalidField", quote(h.name) + " is not a header a route may edit");
      } else if (!isHttpFieldValue(h.value)) {
        reporter.invalid(itemField, "InvalidField", "must not contain control characters");
      } else {
        (edits.*out).emplace_back(h.name, h.value);
      }
    }
  };
}

const Schema<proxy::HeaderEdits>& headerModifierSchema() {
  using S = proxy::HeaderEdits;
  static const Schema<S> schema{
      field::custom<S>("set", headerPairs(&S::set), {}),
      field::custom<S>("add", headerPairs(&S::add), {}),
      field::strings("remove", &S::remove,
                     {.check = [](const std::string& name, const std::string&) {
                        return isHttpToken(name) && !isReservedHeader(name)
                                   ? std::string()
                                   : quote(name) + " is not a header a route may edit";
                      }}),
  };
  return schema;
}

const Schema<GwPathMatch>& pathMatchSchema() {
  using S = GwPathMatch;
  static const Schema<S> schema{
      field::stopIfInvalid(field::enumeration("type", &S::type, kGwPathTypeNames,
                                              {.whenAbsent = proxy::PathMatchType::Prefix})),
      field::custom<S>("value",
                       [](const json& value, const std::string& f, S& s, Reporter& reporter) {
                         if (!value.is_string()) {
                           reporter.invalid(f, "InvalidField", "must be a string, not " + jsonTypeName(value));
                           return;
                         }
                         s.value = value.get<std::string>();
                         std::string why = s.type == proxy::PathMatchType::RegularExpression
                                               ? regexError(s.value)
                                               : checkRequestPath(s.value);
                         if (!why.empty()) reporter.invalid(f, "InvalidPath", why);
                       },
                       {}),
  };
  return schema;
}

const Schema<GwQueryMatch>& gwQueryMatchSchema() {
  using S = GwQueryMatch;
  static const Schema<S> schema{
      field::string("type", &S::type,
                    {.check = [](const std::string& t, const std::string&) {
                       return t == "Exact" ? std::string()
                                           : quote(t) + " query matching is not supported (Exact only)";
                     },
                     .reason = "UnsupportedValue"}),
      field::string("name", &S::name, {.required = true}),
      field::string("value", &S::value, {.required = true}),
  };
  return schema;
}

template <class S, class T>
FieldDesc<S> objects(std::string_view name, std::vector<T> S::*member, const Schema<T>& (*schema)()) {
  std::string key(name);
  return field::custom<S>(
      key,
      [key, member, schema](const json& value, const std::string& f, S& s, Reporter& reporter) {
        // readList reads object[key]: hand it a parent that holds just this value.
        json parent = json::object({{key, value}});
        readList(parent, key, parentField(f), schema(), s.*member, reporter);
      },
      {});
}

const Schema<GwMatch>& matchSchema() {
  using S = GwMatch;
  static const Schema<S> schema{
      field::object("path", &S::path, pathMatchSchema()),
      objects("headers", &S::headers, &headerMatchSchema),
      objects("queryParams", &S::queryParams, &gwQueryMatchSchema),
      field::string("method", &S::method, {.check = [](const std::string& m, const std::string&) {
                                              return isHttpToken(m) ? std::string() : quote(m) + " is not a method";
                                            }}),
  };
  return schema;
}

const Schema<GwPathModifier>& pathModifierSchema() {
  using S = GwPathModifier;
  static const Schema<S> schema{
      field::string("type", &S::type, {.required = true}),
      field::string("replaceFullPath", &S::replaceFullPath, {.check = checkPath}),
      field::string("replacePrefixMatch", &S::replacePrefixMatch, {.check = checkPath}),
  };
  return schema;
}

const Schema<GwRedirect>& gwRedirectSchema() {
  using S = GwRedirect;
  static const Schema<S> schema{
      field::string("scheme", &S::scheme, {}),
      field::string("hostname", &S::hostname, {.normalize = toLower}),
      field::object("path", &S::path, pathModifierSchema()),
      field::count("port", &S::port, {.min = 1, .max = 65535}),
      field::count("statusCode", &S::statusCode, {.min = 300, .max = 399}),
  };
  return schema;
}

const Schema<GwRewrite>& gwRewriteSchema() {
  using S = GwRewrite;
  static const Schema<S> schema{
      field::string("hostname", &S::hostname, {.normalize = toLower}),
      field::object("path", &S::path, pathModifierSchema()),
  };
  return schema;
}

const Schema<GwFilter>& filterSchema() {
  using S = GwFilter;
  static const Schema<S> schema{
      field::string("type", &S::type, {.required = true}),
      field::object("requestHeaderModifier", &S::requestHeaderModifier, headerModifierSchema()),
      field::object("responseHeaderModifier", &S::responseHeaderModifier, headerModifierSchema()),
      field::object("requestRedirect", &S::requestRedirect, gwRedirectSchema()),
      field::object("urlRewrite", &S::urlRewrite, gwRewriteSchema()),
      // Known to the API, not implemented: the translator refuses a filter of these types.
      field::known<S>("requestMirror"),
      field::known<S>("extensionRef"),
      field::known<S>("cors"),
      field::known<S>("externalAuth"),
  };
  return schema;
}

const Schema<GwBackendRef>& backendRefSchema() {
  using S = GwBackendRef;
  static const Schema<S> schema{
      field::string("group", &S::group, {}),
      field::string("kind", &S::kind, {}),
      field::string("name", &S::name, {.required = true}),
      field::string("namespace", &S::ns, {}),
      field::count("port", &S::port, {.min = 1, .max = 65535}),
      field::count("weight", &S::weight, {.min = 0, .max = 1000000}),
      field::custom<S>("filters",
                       [](const json& v, const std::string&, S& s, Reporter&) {
                         s.hasFilters = v.is_array() && !v.empty();
                       },
                       {}),
  };
  return schema;
}

const Schema<GwTimeouts>& gwTimeoutsSchema() {
  using S = GwTimeouts;
  static const Schema<S> schema{
      field::duration("request", &S::request, {}),
      field::duration("backendRequest", &S::backendRequest, {}),
  };
  return schema;
}

// A field of the API that Portico does not implement: remembered, refused by the translator.
FieldDesc<GwRule> unsupported(std::string_view name) {
  std::string key(name);
  return field::custom<GwRule>(
      key, [key](const json&, const std::string&, GwRule& r, Reporter&) { r.unsupported.push_back(key); }, {});
}

}  // namespace

const Schema<GwRule>& httpRouteRuleSchema() {
  using S = GwRule;
  static const Schema<S> schema{
      field::string("name", &S::name, {}),
      objects("matches", &S::matches, &matchSchema),
      objects("filters", &S::filters, &filterSchema),
      objects("backendRefs", &S::backendRefs, &backendRefSchema),
      field::object("timeouts", &S::timeouts, gwTimeoutsSchema()),
      unsupported("retry"),
      unsupported("sessionPersistence"),
  };
  return schema;
}

}  // namespace portico::controller
