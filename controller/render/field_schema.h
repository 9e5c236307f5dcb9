// Field descriptions: each field of a spec struct is described once (its JSON name, the
// member it fills, its kind and bounds, its default when absent, the key of its JSON view),
// and one Schema<S> derives from that list
//  - reading a JSON object into S, with the diagnostics every reader used to write by hand
//    (wrong type, out of range, bad duration, bad enum name, validator's reason);
//  - the unknown-field check (the list of known names);
//  - the JSON view of S (spec_json.cc), keys in description order.
// Cross-field checks (timeout <= interval, max >= base) are entries of the same list (a
// check has no name), so they run, and report, where the fields they compare were read.
// Internal to render. Pure: descriptions are immutable values built once.
//
//   const Schema<proxy::HealthCheckSpec> schema{
//       field::string("path", &HealthCheckSpec::path, {.check = checkProbePath, .reason = "InvalidPath"}),
//       field::duration("interval", &HealthCheckSpec::interval, {.min = 100ms}),
//       field::duration("timeout", &HealthCheckSpec::timeout, {.min = 1ms}),
//       field::check<HealthCheckSpec>(timeoutWithinInterval),
//       field::count("healthyThreshold", &HealthCheckSpec::healthyThreshold, {.min = 1, .max = 100}),
//   };
//   HealthCheckSpec spec;
//   schema.read(object, "spec.rules[0].healthCheck", spec, reporter);
//   ordered_json view = schema.view(spec);  // {"path": ..., "intervalMs": ..., ...}
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/render/field_path.h"
#include "controller/render/render_context.h"
#include "proxy/config/route_spec.h"

namespace portico::controller {

// ---- enum names ----------------------------------------------------------------------

// One name of an enum as the API writes it. A table of these is the only place the names
// are written: readers parse with it, views print with it, messages list it.
template <class E>
struct EnumName {
  std::string_view name;
  E value;
};

template <class E>
using EnumNames = std::span<const EnumName<E>>;

// The name of `value` ("?" if the table lacks it).
template <class E>
std::string_view enumName(EnumNames<E> names, E value) {
  for (const auto& n : names) {
    if (n.value == value) return n.name;
  }
  return "?";
}

// The value named `name` (exact, case-sensitive), or nullopt.
template <class E>
std::optional<E> enumValue(EnumNames<E> names, std::string_view name) {
  for (const auto& n : names) {
    if (n.name == name) return n.value;
  }
  return std::nullopt;
}

// The same, for a table written as an array.
template <class E, size_t N>
std::string_view enumName(const EnumName<E> (&names)[N], E value) {
  return enumName(EnumNames<E>(names), value);
}
template <class E, size_t N>
std::optional<E> enumValue(const EnumName<E> (&names)[N], std::string_view name) {
  return enumValue(EnumNames<E>(names), name);
}

// "A", "A or B", "A, B or C".
std::string choicesText(std::span<const std::string_view> names);
template <class E>
std::string choicesText(EnumNames<E> names) {
  std::vector<std::string_view> list;
  for (const auto& n : names) list.push_back(n.name);
  return choicesText(list);
}
template <class E, size_t N>
std::string choicesText(const EnumName<E> (&names)[N]) {
  return choicesText(EnumNames<E>(names));
}

// ---- descriptions --------------------------------------------------------------------

// One entry of a schema: a field (named) or a cross-field check (no name, no view).
template <class S>
struct FieldDesc {
  std::string name;
  // Called for every entry: reads object[name] (absent and null alike count as absent) into
  // `spec`, reporting problems under `parent`.
  std::function<void(const nlohmann::json& object, const std::string& parent, S& spec, Reporter&)> read;
  // Adds this entry's keys to a view; empty: nothing in the view.
  std::function<void(const S& spec, nlohmann::ordered_json& view)> view;
  // When this entry reports a problem, the rest of the object is not read (later fields
  // depend on it, as loadBalancing.hashOn depends on policy). See field::stopIfInvalid.
  bool stopIfInvalid = false;
  // Run only when nothing was reported for this object so far (a check that an object is
  // not empty says nothing useful when its entries were all refused). See field::checkIfClean.
  bool onlyIfClean = false;
  // The bounds of a count (field::count), for checks against the CRD's minimum/maximum.
  std::optional<std::pair<uint64_t, uint64_t>> bounds = {};
};

template <class S>
class Schema {
 public:
  Schema(std::initializer_list<FieldDesc<S>> entries) : entries_(entries) {
    for (const auto& e : entries_) {
      if (!e.name.empty()) names_.push_back(e.name);
    }
  }

  // The JSON names of the fields, in description order (what checkKnownFields knows).
  const std::vector<std::string>& names() const { return names_; }
  // Every entry, fields and checks, in description order.
  const std::vector<FieldDesc<S>>& entries() const { return entries_; }

  // Reports every member of `object` (at `field`) that is not a field, then reads each
  // field and runs each check in description order. Problems are reported, never thrown;
  // compare reporter.count() before and after to learn whether there were any.
  void read(const nlohmann::json& object, const std::string& field, S& spec, Reporter& reporter) const {
    const size_t start = reporter.count();
    checkKnownFields(object, field, names_, reporter);
    for (const auto& e : entries_) {
      if (e.onlyIfClean && reporter.count() != start) continue;
      size_t before = reporter.count();
      e.read(object, field, spec, reporter);
      if (e.stopIfInvalid && reporter.count() != before) return;
    }
  }

  // The view of `spec`: each field's key(s), in description order.
  void view(const S& spec, nlohmann::ordered_json& out) const {
    for (const auto& e : entries_) {
      if (e.view) e.view(spec, out);
    }
  }
  nlohmann::ordered_json view(const S& spec) const {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    view(spec, out);
    return out;
  }

 private:
  std::vector<FieldDesc<S>> entries_;
  std::vector<std::string> names_;
};

// object[key], an object described by `schema`, read into `out`: a T (read in place, so
// what `out` already holds stays where the object says nothing) or a std::optional<T> (set
// to a T read from defaults). Absent (or null): `out` untouched, true. False if anything was
// reported (a wrong type included).
template <class T, class Out>
bool readNested(const nlohmann::json& object, std::string_view key, const std::string& parentField,
                const Schema<T>& schema, Out& out, Reporter& reporter) {
  if (!member(object, key)) return true;
  size_t before = reporter.count();
  const nlohmann::json* nested = readObject(object, key, parentField, reporter);
  if (!nested) return false;
  if constexpr (std::is_same_v<Out, T>) {
    schema.read(*nested, childField(parentField, key), out, reporter);
  } else {
    T spec;
    schema.read(*nested, childField(parentField, key), spec, reporter);
    out = std::move(spec);
  }
  return reporter.count() == before;
}

// object[key], a list of objects each described by `schema`, appended to `out` (one T per
// item that is an object, read from T's defaults). Absent (or null): true. False if anything
// was reported: a wrong type, an item that is no object, a problem inside an item.
template <class T>
bool readList(const nlohmann::json& object, std::string_view key, const std::string& parentField,
              const Schema<T>& schema, std::vector<T>& out, Reporter& reporter) {
  size_t before = reporter.count();
  const nlohmann::json* list = readArray(object, key, parentField, reporter);
  if (!list) return reporter.count() == before;
  std::string listField = childField(parentField, key);
  for (size_t i = 0; i < list->size(); ++i) {
    const nlohmann::json& item = (*list)[i];
    std::string itemField = indexField(listField, i);
    if (!item.is_object()) {
      reporter.invalid(itemField, "InvalidField", "must be an object, not " + jsonTypeName(item));
      continue;
    }
    T spec;
    schema.read(item, itemField, spec, reporter);
    out.push_back(std::move(spec));
  }
  return reporter.count() == before;
}

// ---- field kinds -----------------------------------------------------------------------

namespace field {

namespace detail {

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

// The value type of a member (T of std::optional<T>).
template <class M>
struct Value {
  using type = M;
};
template <class T>
struct Value<std::optional<T>> {
  using type = T;
};

template <class M, class V>
void assign(M& member, V&& value) {
  using T = typename Value<M>::type;
  member = static_cast<T>(std::forward<V>(value));
}

// The view of a member: null for an empty optional, `f(value)` otherwise.
template <class M, class F>
nlohmann::ordered_json viewOf(const M& member, F&& f) {
  if constexpr (IsOptional<M>::value) {
    return member ? nlohmann::ordered_json(f(*member)) : nlohmann::ordered_json();
  } else {
    return nlohmann::ordered_json(f(member));
  }
}

// Shared by the kinds below (field_schema.cc); each reports its own diagnostic and returns
// nullopt on a problem or when the member is absent ("required" if `required`). The
// ...Value forms take a value that is present (for field::custom readers).
std::optional<uint64_t> readCountValue(const nlohmann::json& value, const std::string& field, uint64_t min,
                                       uint64_t max, std::string_view belowMin, Reporter& reporter);
std::optional<uint64_t> readCount(const nlohmann::json& object, std::string_view key, const std::string& parent,
                                  uint64_t min, uint64_t max, std::string_view belowMin, Reporter& reporter,
                                  bool required = false);
std::optional<proxy::Millis> readDurationValue(const nlohmann::json& value, const std::string& field,
                                               proxy::Millis min, std::optional<proxy::Millis> max,
                                               std::string_view aboveMax, Reporter& reporter);
std::optional<proxy::Millis> readDuration(const nlohmann::json& object, std::string_view key,
                                          const std::string& parent, proxy::Millis min,
                                          std::optional<proxy::Millis> max, std::string_view aboveMax,
                                          Reporter& reporter, bool required = false);
void reportBadName(const std::string& field, const std::string& value, const std::string& choices,
                   Reporter& reporter);

}  // namespace detail

// A non-negative integer from `min` to `max`.
struct CountOptions {
  bool required = false;
  uint64_t min = 0;
  uint64_t max = 0;
  std::optional<uint64_t> whenAbsent = {};  // the value when the field is absent
  std::string_view belowMin = {};  // message for a value under min; default "must be an integer from min to max"
  std::optional<std::string_view> view = {};  // view key; default the JSON name
};
template <class S, class M>
FieldDesc<S> count(std::string_view name, M S::*ptr, CountOptions o) {
  std::string key(name);
  return {key,
          [=](const nlohmann::json& object, const std::string& parent, S& spec, Reporter& reporter) {
            if (auto n = detail::readCount(object, key, parent, o.min, o.max, o.belowMin, reporter, o.required)) {
              detail::assign(spec.*ptr, *n);
            } else if (o.whenAbsent && !member(object, key)) {
              detail::assign(spec.*ptr, *o.whenAbsent);
            }
          },
          [=, viewKey = std::string(o.view.value_or(name))](const S& spec, nlohmann::ordered_json& out) {
            out[viewKey] = detail::viewOf(spec.*ptr, [](auto v) { return v; });
          },
          false,
          false,
          std::pair{o.min, o.max}};
}

// A Go duration ("300ms", "2s") of at least `min`, held in milliseconds. The view key is the
// name + "Ms" unless given.
struct DurationOptions {
  bool required = false;
  proxy::Millis min{0};
  std::optional<proxy::Millis> max = {};
  std::string_view aboveMax = {};  // message for a value over max, e.g. "must be at most 10m"
  std::optional<std::string_view> view = {};
};
template <class S, class M>
FieldDesc<S> duration(std::string_view name, M S::*ptr, DurationOptions o) {
  std::string key(name);
  return {key,
          [=](const nlohmann::json& object, const std::string& parent, S& spec, Reporter& reporter) {
            if (auto ms = detail::readDuration(object, key, parent, o.min, o.max, o.aboveMax, reporter, o.required)) {
              detail::assign(spec.*ptr, *ms);
            }
          },
          [=, viewKey = o.view ? std::string(*o.view) : key + "Ms"](const S& spec, nlohmann::ordered_json& out) {
            out[viewKey] = detail::viewOf(spec.*ptr, [](proxy::Millis v) { return v.count(); });
          }};
}

// true or false.
struct BoolOptions {
  std::optional<std::string_view> view = {};
};
template <class S, class M>
FieldDesc<S> boolean(std::string_view name, M S::*ptr, BoolOptions o = {}) {
  std::string key(name);
  return {key,
          [=](const nlohmann::json& object, const std::string& parent, S& spec, Reporter& reporter) {
            if (auto b = readBool(object, key, parent, reporter)) detail::assign(spec.*ptr, *b);
          },
          [=, viewKey = std::string(o.view.value_or(name))](const S& spec, nlohmann::ordered_json& out) {
            out[viewKey] = detail::viewOf(spec.*ptr, [](bool v) { return v; });
          }};
}

// A string, optionally normalized (e.g. lower-cased) and then checked: `check` returns the
// whole message for a bad value ("" if good), reported with `reason`. A bad value is not
// stored.
struct StringOptions {
  bool required = false;
  std::function<std::string(std::string_view)> normalize = {};
  // Gets the value as written and its normalized form.
  std::function<std::string(const std::string& written, const std::string& normalized)> check = {};
  std::string_view reason = "InvalidField";
  std::optional<std::string_view> view = {};
};
template <class S, class M>
FieldDesc<S> string(std::string_view name, M S::*ptr, StringOptions o) {
  std::string key(name);
  return {key,
          [=](const nlohmann::json& object, const std::string& parent, S& spec, Reporter& reporter) {
            auto text = readString(object, key, parent, reporter, o.required);
            if (!text) return;
            std::string value = o.normalize ? o.normalize(*text) : *text;
            if (o.check) {
              if (std::string why = o.check(*text, value); !why.empty()) {
                reporter.invalid(childField(parent, key), o.reason, why);
                return;
              }
            }
            detail::assign(spec.*ptr, std::move(value));
          },
          [=, viewKey = std::string(o.view.value_or(name))](const S& spec, nlohmann::ordered_json& out) {
            out[viewKey] = detail::viewOf(spec.*ptr, [](const std::string& v) { return v; });
          }};
}

// A list of strings, each normalized and checked like field::string (a bad item is reported
// at its index and left out); `unique` drops repeats of a normalized value.
struct StringListOptions {
  std::function<std::string(std::string_view)> normalize = {};
  std::function<std::string(const std::string& written, const std::string& normalized)> check = {};
  std::string_view reason = "InvalidField";
  bool unique = true;
  std::optional<std::string_view> view = {};
};
template <class S>
FieldDesc<S> strings(std::string_view name, std::vector<std::string> S::*ptr, StringListOptions o) {
  std::string key(name);
  return {key,
          [=](const nlohmann::json& object, const std::string& parent, S& spec, Reporter& reporter) {
            const nlohmann::json* list = readArray(object, key, parent, reporter);
            if (!list) return;
            std::string listField = childField(parent, key);
            auto& out = spec.*ptr;
            for (size_t i = 0; i < list->size(); ++i) {
              const nlohmann::json& item = (*list)[i];
              if (!item.is_string()) {
                reporter.invalid(indexField(listField, i), "InvalidField", "must be a string, not " + jsonTypeName(item));
                continue;
              }
              const std::string& written = item.get_ref<const std::string&>();
              std::string value = o.normalize ? o.normalize(written) : written;
              if (o.check) {
                if (std::string why = o.check(written, value); !why.empty()) {
                  reporter.invalid(indexField(listField, i), o.reason, why);
                  continue;
                }
              }
              if (!o.unique || std::find(out.begin(), out.end(), value) == out.end()) out.push_back(std::move(value));
            }
          },
          [=, viewKey = std::string(o.view.value_or(name))](const S& spec, nlohmann::ordered_json& out) {
            out[viewKey] = spec.*ptr;
          }};
}

// A field the schema knows (so it is no unknown field) but does not read: its owner reads it
// with what the schema does not have (secretName: the ObjectIndex and the namespace).
template <class S>
FieldDesc<S> known(std::string_view name) {
  return {std::string(name), [](const nlohmann::json&, const std::string&, S&, Reporter&) {}, {}};
}

// One of the names of `names`; a member of type E (or std::optional<E>). A bad name is
// reported as `"x" must be A, B or C`.
template <class E>
struct EnumOptions {
  std::optional<E> whenAbsent = {};
  std::optional<std::string_view> view = {};
};
template <class S, class M, class E>
FieldDesc<S> enumeration(std::string_view name, M S::*ptr, EnumNames<E> names, EnumOptions<E> o = {}) {
  std::string key(name);
  return {key,
          [=, choices = choicesText(names)](const nlohmann::json& object, const std::string& parent, S& spec,
                                             Reporter& reporter) {
            auto text = readString(object, key, parent, reporter);
            if (!text) {
              if (o.whenAbsent && !member(object, key)) detail::assign(spec.*ptr, *o.whenAbsent);
              return;
            }
            if (auto value = enumValue(names, *text)) {
              detail::assign(spec.*ptr, *value);
            } else {
              detail::reportBadName(childField(parent, key), *text, choices, reporter);
            }
          },
          [=, viewKey = std::string(o.view.value_or(name))](const S& spec, nlohmann::ordered_json& out) {
            out[viewKey] = detail::viewOf(spec.*ptr, [&](E v) { return std::string(enumName(names, v)); });
          }};
}

template <class S, class M, class E, size_t N>
FieldDesc<S> enumeration(std::string_view name, M S::*ptr, const EnumName<E> (&names)[N], EnumOptions<E> o = {}) {
  return enumeration(name, ptr, EnumNames<E>(names), o);
}

// A nested JSON object described by its own schema, filling the member `ptr` (a T, or a
// std::optional<T> that is set when the object is present). The view is the nested view
// (null for an empty optional).
template <class S, class M, class T>
FieldDesc<S> object(std::string_view name, M S::*ptr, Schema<T> schema,
                    std::optional<std::string_view> viewKey = {}) {
  std::string key(name);
  auto shared = std::make_shared<const Schema<T>>(std::move(schema));
  return {key,
          [=](const nlohmann::json& object, const std::string& parent, S& spec, Reporter& reporter) {
            readNested(object, key, parent, *shared, spec.*ptr, reporter);
          },
          [=, k = std::string(viewKey.value_or(name))](const S& spec, nlohmann::ordered_json& out) {
            out[k] = detail::viewOf(spec.*ptr, [&](const T& v) { return shared->view(v); });
          }};
}

// The same entry, but a problem with it stops reading the rest of the object.
template <class S>
FieldDesc<S> stopIfInvalid(FieldDesc<S> entry) {
  entry.stopIfInvalid = true;
  return entry;
}

// A nested JSON object whose fields fill the same struct (retries.backoff.base fills
// RetrySpec::backoffBase). Its view keys go into the parent's view.
template <class S>
FieldDesc<S> group(std::string_view name, Schema<S> schema) {
  std::string key(name);
  auto shared = std::make_shared<const Schema<S>>(std::move(schema));
  return {key,
          [=](const nlohmann::json& object, const std::string& parent, S& spec, Reporter& reporter) {
            if (const nlohmann::json* o = readObject(object, key, parent, reporter)) {
              shared->read(*o, childField(parent, key), spec, reporter);
            }
          },
          [=](const S& spec, nlohmann::ordered_json& out) { shared->view(spec, out); }};
}

// A field with its own reader and view (a list with a meaning of its own, a union).
// `read` gets the value (present and not null) and its field path; `whenAbsent` (optional)
// runs when it is absent: a default, or a "required" that depends on other fields.
template <class S>
FieldDesc<S> custom(std::string_view name,
                    std::function<void(const nlohmann::json& value, const std::string& field, S& spec, Reporter&)> read,
                    std::function<void(const S& spec, nlohmann::ordered_json& view)> view,
                    std::function<void(S& spec, const std::string& field, Reporter&)> whenAbsent = {}) {
  std::string key(name);
  return {key,
          [=](const nlohmann::json& object, const std::string& parent, S& spec, Reporter& reporter) {
            if (const nlohmann::json* v = member(object, key)) {
              read(*v, childField(parent, key), spec, reporter);
            } else if (whenAbsent) {
              whenAbsent(spec, childField(parent, key), reporter);
            }
          },
          std::move(view)};
}

// A cross-field check, run where it stands in the description, with the object's field path.
template <class S>
FieldDesc<S> check(std::function<void(const S& spec, const std::string& field, Reporter&)> f) {
  return {std::string(),
          [f = std::move(f)](const nlohmann::json&, const std::string& parent, S& spec, Reporter& reporter) {
            f(spec, parent, reporter);
          },
          {}};
}


// A check that runs only when nothing was reported for the object so far.
template <class S>
FieldDesc<S> checkIfClean(std::function<void(const S& spec, const std::string& field, Reporter&)> f) {
  FieldDesc<S> entry = check<S>(std::move(f));
  entry.onlyIfClean = true;
  return entry;
}

}  // namespace field

}  // namespace portico::controller
