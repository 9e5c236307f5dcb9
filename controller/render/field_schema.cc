#include "controller/render/field_schema.h"
#include "controller/render/validation.h"

#include "controller/render/duration.h"

namespace portico::controller {

std::string choicesText(std::span<const std::string_view> names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

namespace field::detail {

namespace {
}  // namespace

std::optional<uint64_t> readCountValue(const nlohmann::json& v, const std::string& field, uint64_t min,
                                       uint64_t max, std::string_view belowMin, Reporter& reporter) {
  if (!v.is_number_integer()) {  // unsigned numbers are integers too
    reporter.invalid(field, "InvalidField", "must be an integer, not " + jsonTypeName(v));
    return std::nullopt;
  }
  bool negative = !v.is_number_unsigned() && v.get<int64_t>() < 0;
  uint64_t n = negative ? 0 : v.get<uint64_t>();
  if (!negative && n >= min && n <= max) return n;
  if (!negative && n < min && !belowMin.empty()) {
    reporter.invalid(field, "InvalidField", belowMin);
  } else {
    reporter.invalid(field, "InvalidField",
                     "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return std::nullopt;
}

std::optional<uint64_t> readCount(const nlohmann::json& object, std::string_view key, const std::string& parent,
                                  uint64_t min, uint64_t max, std::string_view belowMin, Reporter& reporter,
                                  bool required) {
  const nlohmann::json* v = member(object, key);
  if (!v) {
    if (required) reporter.invalid(childField(parent, key), "InvalidField", "required");
    return std::nullopt;
  }
  return readCountValue(*v, childField(parent, key), min, max, belowMin, reporter);
}

std::optional<proxy::Millis> readDurationValue(const nlohmann::json& v, const std::string& field,
                                               proxy::Millis min, std::optional<proxy::Millis> max,
                                               std::string_view aboveMax, Reporter& reporter) {
  if (!v.is_string()) {
    reporter.invalid(field, "InvalidField", "must be a string, not " + jsonTypeName(v));
    return std::nullopt;
  }
  const std::string& text = v.get_ref<const std::string&>();
  auto d = parseDuration(text);
  if (!d) {
    reporter.invalid(field, "InvalidDuration", d.error().message);
    return std::nullopt;
  }
  auto ms = std::chrono::duration_cast<proxy::Millis>(*d);
  if (ms < min) {
    reporter.invalid(field, "InvalidDuration",
                     quote(text) + " must be at least " + std::to_string(min.count()) + "ms");
    return std::nullopt;
  }
  if (max && ms > *max) {
    reporter.invalid(field, "InvalidField", aboveMax);
    return std::nullopt;
  }
  return ms;
}

std::optional<proxy::Millis> readDuration(const nlohmann::json& object, std::string_view key,
                                          const std::string& parent, proxy::Millis min,
                                          std::optional<proxy::Millis> max, std::string_view aboveMax,
                                          Reporter& reporter, bool required) {
  const nlohmann::json* v = member(object, key);
  if (!v) {
    if (required) reporter.invalid(childField(parent, key), "InvalidField", "required");
    return std::nullopt;
  }
  return readDurationValue(*v, childField(parent, key), min, max, aboveMax, reporter);
}

void reportBadName(const std::string& field, const std::string& value, const std::string& choices,
                   Reporter& reporter) {
  reporter.invalid(field, "InvalidField", quote(value) + " must be " + choices);
}

}  // namespace field::detail
}  // namespace portico::controller
