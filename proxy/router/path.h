// Request-target helpers for routing: split a request target into path and query, and
// normalize the path so that routing decisions cannot be bypassed by alternative
// spellings of the same resource (`//admin`, `/%61dmin`, `/x/../admin`).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace portico::proxy::router {

// The two halves of an origin-form request target. Both views point into the target.
struct TargetParts {
  std::string_view path;   // everything before the first '?'
  std::string_view query;  // everything after the first '?', without it; empty if none
};

// Splits an origin-form request target ("/a/b?x=1") at the first '?'. Does not validate;
// the caller handles "*" (OPTIONS) and absolute-form targets before calling this.
[[nodiscard]] TargetParts splitTarget(std::string_view target) noexcept;

// What to do with a slash or backslash hidden in a path as "%2F" or "%5C", or a raw backslash.
// Portico routes "/admin%2Fx" as one segment, but many backend frameworks decode it to
// "/admin/x" (and treat a backslash as "/"), so a policy on "/admin" would not see a request
// the backend serves as "/admin/x". The names follow Envoy's path_with_escaped_slashes_action.
enum class EscapedSlashes {
  Reject,               // 400 (default: nothing is ambiguous)
  UnescapeAndRedirect,  // redirect the client to the path with them decoded to '/'
  UnescapeAndForward,   // decode them to '/' before normalizing, route and forward that
  Keep,                 // route and forward them unchanged
};

struct PathNormalization {
  std::optional<std::string> path;  // nullopt: invalid, answer 400
  bool escapedSlashes = false;      // the raw path had %2F, %5C or a raw backslash
};

// normalizePath below, with the escaped-slash action applied first.
[[nodiscard]] PathNormalization normalizePath(std::string_view rawPath, EscapedSlashes action);

// The path with every segment's ";parameters" removed ("/admin;x=1/a" -> "/admin/a"), for
// routing and policies: servlet containers strip them before dispatch, so "/admin;x"
// must meet the policies of "/admin". Returns `path` unchanged when it has no ';'.
[[nodiscard]] std::string withoutPathParameters(std::string_view path);

// Normalizes the path of an origin-form request target (without the query):
//  - percent-decodes only unreserved characters (ALPHA DIGIT - . _ ~) and upper-cases the
//    hex digits of every other escape; "%2F" stays encoded, so "/admin%2f.." is the single
//    segment "admin%2F..", which is not a dot segment;
//  - collapses repeated slashes ("//admin" -> "/admin");
//  - removes "." and ".." segments as RFC 3986 section 5.2.4 does, never above the root
//    ("/admin/../admin" -> "/admin", "/../a" -> "/a"); a final dot segment leaves a
//    trailing slash ("/a/b/.." -> "/a/");
//  - keeps a trailing slash and never folds case.
// Returns nullopt if the path does not start with '/', or contains a NUL or other control
// character (0x00-0x1F, 0x7F), raw or escaped ("%00"), a '#', a malformed escape ("%zz",
// "%4"), or a dot segment hidden behind path parameters ("/..;/admin", "/a/.;x").
// Any thread; allocates the result only.
[[nodiscard]] std::optional<std::string> normalizePath(std::string_view rawPath);

}  // namespace portico::proxy::router
