// Precompiled for the proxy's Beast/Asio translation units only; never include it from
// a header (it would pull Beast into every file).
#pragma once
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
