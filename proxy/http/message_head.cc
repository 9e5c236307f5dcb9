#include "proxy/http/message_head.h"

#include <cstring>
#include <stdexcept>

#include <boost/beast/core/string.hpp>

namespace portico::proxy::http1 {

namespace http = boost::beast::http;

HeaderFields::Span HeaderFields::keep(std::string_view bytes) {
  // Beast's header limit keeps a header far below this; the check keeps the offsets honest.
  if (bytes_.size() + bytes.size() > UINT32_MAX) throw std::length_error("header too large");
  const Span span{uint32_t(bytes_.size()), uint32_t(bytes.size())};
  bytes_.resize(bytes_.size() + bytes.size(), boost::container::default_init);
  std::memcpy(bytes_.data() + span.offset, bytes.data(), bytes.size());
  return span;
}

void HeaderFields::add(http::field id, std::string_view name, std::string_view value) {
  const size_t at = bytes_.size();
  if (at + name.size() + value.size() > UINT32_MAX) throw std::length_error("header too large");
  bytes_.resize(at + name.size() + value.size(), boost::container::default_init);  // one growth, not zeroed
  std::memcpy(bytes_.data() + at, name.data(), name.size());
  std::memcpy(bytes_.data() + at + name.size(), value.data(), value.size());
  lines_.push_back(Line{id, Span{uint32_t(at), uint32_t(name.size())},
                        Span{uint32_t(at + name.size()), uint32_t(value.size())}});
}

void HeaderFields::add(std::string_view name, std::string_view value) { add(http::string_to_field(name), name, value); }

void HeaderFields::clearFields() { lines_.clear(); }

void HeaderFields::clearAll() {
  lines_.clear();
  bytes_.clear();
}

HeaderFields::Field HeaderFields::at(size_t index) const {
  const Line& line = lines_[index];
  return Field{line.id, text(line.name), text(line.value)};
}

http::field HeaderFields::idOf(std::string_view name) { return http::string_to_field(name); }

bool HeaderFields::named(const Line& line, std::string_view name) const {
  return line.name.length == name.size() && boost::beast::iequals(text(line.name), name);
}

std::optional<std::string_view> HeaderFields::get(http::field id) const {
  for (const Line& line : lines_)
    if (line.id == id) return text(line.value);
  return std::nullopt;
}

std::optional<std::string_view> HeaderFields::get(std::string_view name) const {
  if (const http::field id = idOf(name); id != http::field::unknown) return get(id);
  for (const Line& line : lines_)
    if (named(line, name)) return text(line.value);
  return std::nullopt;
}

size_t HeaderFields::count(http::field id) const {
  size_t n = 0;
  for (const Line& line : lines_) n += line.id == id;
  return n;
}

size_t HeaderFields::count(std::string_view name) const {
  if (const http::field id = idOf(name); id != http::field::unknown) return count(id);
  size_t n = 0;
  for (const Line& line : lines_) n += named(line, name);
  return n;
}

void RequestHead::setStartLine(http::verb method, std::string_view methodText, std::string_view target,
                               unsigned version) {
  method_ = method;
  methodText_ = keep(methodText);
  target_ = keep(target);
  version_ = version;
}

void RequestHead::clear() {
  clearAll();
  method_ = http::verb::unknown;
  methodText_ = target_ = Span{};
  version_ = 11;
  keepAlive_ = true;
}

void ResponseHead::setStartLine(unsigned status, std::string_view reason, unsigned version) {
  status_ = status;
  reason_ = keep(reason);
  version_ = version;
}

}  // namespace portico::proxy::http1
