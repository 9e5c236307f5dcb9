// parseClientHello on the bytes a real OpenSSL client writes: the server name, the bytes
// still wanted when a hello is cut short, and what is not TLS at all.
#include <doctest/doctest.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <string>
#include <vector>

#include "proxy/server/client_hello.h"

using namespace portico::proxy;
using Status = ClientHelloParse::Status;

namespace {

// The first flight of an OpenSSL client asking for `serverName` ("" : no SNI).
std::vector<unsigned char> clientHello(const std::string& serverName) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  if (!serverName.empty()) SSL_set_tlsext_host_name(ssl, serverName.c_str());
  SSL_set_connect_state(ssl);
  SSL_do_handshake(ssl);  // wants to read the server's answer
  std::vector<unsigned char> bytes(BIO_ctrl_pending(out));
  BIO_read(out, bytes.data(), static_cast<int>(bytes.size()));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return bytes;
}

ClientHelloParse parse(const std::vector<unsigned char>& bytes, size_t n) {
  return parseClientHello({bytes.data(), std::min(n, bytes.size())});
}

}  // namespace

TEST_CASE("a whole ClientHello gives its server name") {
  auto hello = clientHello("db.example.com");
  REQUIRE(hello.size() > 100);
  auto result = parse(hello, hello.size());
  CHECK(result.status == Status::Complete);
  CHECK(result.serverName == "db.example.com");
}

TEST_CASE("a ClientHello without SNI is complete with no name") {
  auto hello = clientHello("");
  auto result = parse(hello, hello.size());
  CHECK(result.status == Status::Complete);
  CHECK(result.serverName.empty());
}

TEST_CASE("a cut ClientHello asks for the rest of its record") {
  auto hello = clientHello("db.example.com");
  for (size_t n : {size_t{1}, size_t{4}}) {  // not even a record header
    auto result = parse(hello, n);
    CHECK(result.status == Status::Incomplete);
    CHECK(result.bytesWanted == 5);
  }
  for (size_t n : {size_t{5}, size_t{40}, hello.size() - 1}) {
    auto result = parse(hello, n);
    CHECK(result.status == Status::Incomplete);
    CHECK(result.bytesWanted == hello.size());  // one record: its header says how long
  }
}

TEST_CASE("bytes that are not a ClientHello are NotTls") {
  const std::string http = "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
  auto result = parseClientHello({reinterpret_cast<const unsigned char*>(http.data()), http.size()});
  CHECK(result.status == Status::NotTls);
  // A TLS record of the wrong type (application data).
  std::vector<unsigned char> data{0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5};
  CHECK(parse(data, data.size()).status == Status::NotTls);
}
