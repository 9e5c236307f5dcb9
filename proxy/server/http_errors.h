// The small JSON bodies of responses Portico answers itself, and request ids.
#pragma once

#include <random>
#include <string>
#include <string_view>

namespace portico::proxy {

// {"status":404,"error":"no route for host and path","requestId":"..."}
std::string errorBody(unsigned status, std::string_view message, std::string_view requestId);

// 32 lower-case hex characters from the worker's generator.
std::string newRequestId(std::mt19937_64& random);

// An incoming X-Request-Id is kept only if it is short and printable, so a client cannot
// inject log lines or huge values through it.
bool acceptableRequestId(std::string_view id);

}  // namespace portico::proxy
