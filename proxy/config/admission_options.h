// The listener-wide choices of request admission, as ServerOptions carries them (no Beast
// here). Each enum's names are listed once and serve both the flag parser and /routes.
#pragma once

#include <optional>
#include <string_view>

#include "proxy/router/path.h"

namespace portico::proxy::http1 {

// What to do with a field whose name contains '_'. Many servers (CGI, WSGI, Rack, PHP)
// map '-' to '_' when they expose headers, so "X_Consumer" reaches the application as
// the same variable as "X-Consumer" and could shadow a header Portico sets. nginx drops
// such fields by default (underscores_in_headers off); Envoy can drop or reject them.
enum class UnderscoreHeaders { Drop, Reject, Allow };

struct AdmissionOptions {
  UnderscoreHeaders underscores = UnderscoreHeaders::Drop;
  router::EscapedSlashes escapedSlashes = router::EscapedSlashes::Reject;
};

[[nodiscard]] std::string_view toString(UnderscoreHeaders action);
[[nodiscard]] std::string_view toString(router::EscapedSlashes action);
// "drop" | "reject" | "allow"
[[nodiscard]] std::optional<UnderscoreHeaders> parseUnderscoreHeaders(std::string_view name);
// "reject" | "unescape-and-redirect" | "unescape-and-forward" | "keep"
[[nodiscard]] std::optional<router::EscapedSlashes> parseEscapedSlashes(std::string_view name);

}  // namespace portico::proxy::http1
