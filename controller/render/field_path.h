// JSON field paths as diagnostics name them ("spec.rules[0].backends[1].url"). The
// standalone file source records YAML lines under the same paths, so both sides must
// build them with these helpers.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace portico::controller {

// parent + "." + key; a key that is empty or contains '.', '[' or ']' is written
// "parent[key]" (like metadata.labels[kubernetes.io/service-name]).
std::string childField(std::string_view parent, std::string_view key);

// parent + "[i]".
std::string indexField(std::string_view parent, size_t index);

// The path with its last element removed ("a.b[2]" -> "a.b", "a.b" -> "a", "a" -> "").
std::string parentField(std::string_view field);

}  // namespace portico::controller
