// Syntax checks and diagnostics helpers shared by the translators.
#pragma once

#include <string>
#include <string_view>

namespace portico::controller {

// `s` in double quotes, as diagnostics show values.
std::string quote(std::string_view s);

// RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
bool isDnsLabel(std::string_view s);

// RFC 1123 subdomain: dot-separated labels, at most 253 characters, no trailing dot.
bool isDnsSubdomain(std::string_view s);

// A route host after lower-casing: a DNS subdomain, or "*." followed by one.
// Returns the reason text if invalid, empty if valid.
std::string checkRouteHost(std::string_view host);

// An HTTP field name or method (RFC 9110 token).
bool isHttpToken(std::string_view s);

// An HTTP field value: no CR, LF, NUL or other control characters except tab.
bool isHttpFieldValue(std::string_view s);

// Headers a route may not set, add or remove because the proxy owns them
// (framing and connection management; Host has rewrite.host).
bool isReservedHeader(std::string_view name);

// Why `pattern` is no valid RE2 regular expression ("" if it is one).
std::string regexError(const std::string& pattern);

std::string toLower(std::string_view s);
std::string toUpper(std::string_view s);

}  // namespace portico::controller
