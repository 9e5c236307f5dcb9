// Cookie header parsing (RFC 6265 5.4: "name=value" pairs separated by "; ").
#pragma once

#include <optional>
#include <string_view>

namespace portico::proxy::router {

// The value of the first cookie called `name` in one Cookie header value, or nullopt.
// Surrounding double quotes are kept (they are part of the value). Never allocates.
[[nodiscard]] std::optional<std::string_view> findCookie(std::string_view header, std::string_view name) noexcept;

}  // namespace portico::proxy::router
