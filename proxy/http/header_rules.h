// The HTTP/1.1 header rules both directions share: which fields describe one hop or the
// message framing (so they are never copied from one peer to the other), how the framing
// a peer announced is checked, and the rule for field names with underscores.
//
// Portico owns every byte it sends: a message is parsed, checked here, and a new header
// section is written with framing computed from what Portico actually sends. No field in
// this file's "hop" set ever passes through, and a Connection header can only remove
// fields that are neither framing, Host, nor set by Portico.
#pragma once

#include <boost/beast/core/string.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/field.hpp>
#include <boost/container/small_vector.hpp>

#include "proxy/config/admission_options.h"
#include "proxy/http/message_head.h"

namespace portico::proxy::http1 {

using Fields = HeaderFields;
// Fields Portico writes itself, and names it strips: a few per message, inline.
using FieldList = boost::container::small_vector<std::pair<std::string_view, std::string_view>, 10>;
using NameList = boost::container::small_vector<std::string_view, 6>;

// How a message body is delimited.
enum class Framing {
  None,        // no body (GET without one, HEAD and 204/304 responses)
  Length,      // Content-Length
  Chunked,     // Transfer-Encoding: chunked
  UntilClose,  // a response read until the connection closes (HTTP/1.0 style)
};

// What a peer announced, after checking it.
struct AnnouncedFraming {
  Framing framing = Framing::None;
  uint64_t length = 0;          // Framing::Length
  std::string_view error;       // non-empty: the message is malformed (400 / 502)
};

// Checks Content-Length and Transfer-Encoding over every field line:
//  - Transfer-Encoding, however it is spread over lines, must be exactly one token
//    "chunked" (any other coding, a list, a repeat, an empty value: error);
//  - Content-Length must be one field line of digits only ("5, 5", "+5", "0x5": error);
//  - both at once: error (RFC 9112 6.3: a smuggling shape).
// `http10`: Transfer-Encoding is an error in an HTTP/1.0 message (RFC 9112 6.1).
[[nodiscard]] AnnouncedFraming checkFraming(const Fields& fields, bool http10);

// True for fields that belong to one hop or to the framing and are never forwarded:
// Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade, Transfer-Encoding,
// Content-Length, HTTP2-Settings, Host, Expect. (Host and Upgrade are written again by
// Portico when they apply.) Case-insensitive.
[[nodiscard]] bool isHopOrFraming(boost::beast::http::field field);
[[nodiscard]] inline bool isHopOrFraming(const Fields::value_type& field) { return isHopOrFraming(field.name()); }
// The same for a name from configuration or a policy (any case).
[[nodiscard]] bool isHopOrFramingName(std::string_view name);

// The field names listed by the Connection header(s), in the order given, as views into
// `fields`. Used to drop those fields too (RFC 9110 7.6.1); the caller never lets them
// remove a field Portico writes itself, since those are written after the filter.
using ConnectionOptions = boost::container::small_vector<std::string_view, 4>;
[[nodiscard]] ConnectionOptions connectionOptions(const Fields& fields);

// Every value of field `name`, joined with ", " as RFC 9110 5.3 allows for list fields
// (X-Forwarded-For over several lines is one list). Empty when absent.
[[nodiscard]] std::string joinedValues(const Fields& fields, std::string_view name);

// Case-insensitive membership in a small list of names (strings or string_views), or of
// the names of (name, value) pairs.
template <class List>
[[nodiscard]] bool containsName(const List& names, std::string_view name) {
  for (const auto& entry : names) {
    std::string_view n;
    if constexpr (requires { entry.first; }) n = entry.first;
    else n = entry;
    if (n.size() == name.size() && boost::beast::iequals(n, name)) return true;
  }
  return false;
}

}  // namespace portico::proxy::http1
