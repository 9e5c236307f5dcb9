#include "controller/objects/base64.h"

#include <utility>

#include "proxy/common/base64.h"

namespace portico::controller {

Expected<std::string> decodeBase64(std::string_view text) {
  // Kubernetes writes canonical base64; hand-written files may wrap lines or drop padding.
  std::string compact;
  compact.reserve(text.size() + 2);
  for (char c : text)
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') compact.push_back(c);
  if (compact.size() % 4 == 1) return makeError("not valid base64 (bad length)");
  while (compact.size() % 4 != 0) compact.push_back('=');
  auto decoded = proxy::decodeBase64(compact, proxy::Base64Alphabet::Standard);
  if (!decoded) return makeError("not valid base64");
  return std::move(*decoded);
}

}  // namespace portico::controller
