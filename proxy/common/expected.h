// Expected<T>: a value or an Error, shaped like C++23 std::expected so that moving to it
// later is a one-line alias. Used for domain results (build a table, parse a config);
// I/O keeps boost::system::error_code.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace portico {

struct Error {
  std::string message;  // names the object, the field and the reason
};

template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}  // NOLINT: implicit like std::expected
  Expected(Error error) : v_(std::move(error)) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

inline Error makeError(std::string message) { return Error{std::move(message)}; }

}  // namespace portico
