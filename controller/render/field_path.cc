#include "controller/render/field_path.h"

namespace portico::controller {

std::string childField(std::string_view parent, std::string_view key) {
  std::string out(parent);
  if (key.empty() || key.find_first_of(".[]") != std::string_view::npos) {
    out += '[';
    out += key;
    out += ']';
    return out;
  }
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

std::string indexField(std::string_view parent, size_t index) {
  std::string out(parent);
  out += '[';
  out += std::to_string(index);
  out += ']';
  return out;
}

std::string parentField(std::string_view field) {
  if (field.empty()) return {};
  if (field.back() == ']') {
    // Bracketed keys may contain '.', so find the matching '[' first.
    size_t open = field.rfind('[');
    if (open == std::string_view::npos) return {};
    return std::string(field.substr(0, open));
  }
  size_t cut = field.find_last_of(".]");
  if (cut == std::string_view::npos) return {};
  if (field[cut] == ']') return std::string(field.substr(0, cut + 1));
  return std::string(field.substr(0, cut));
}

}  // namespace portico::controller
