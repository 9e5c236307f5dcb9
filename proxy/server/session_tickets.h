// TLS session ticket keys for the whole process. OpenSSL encrypts a session ticket with
// the keys of the connection's first context, which is each worker's base context: left
// alone, every worker would have keys of its own, and with SO_REUSEPORT spreading
// connections over the workers most resumptions would fail. Here every context that
// issues or reads tickets uses one set of keys (AES-256-CBC + HMAC-SHA256, OpenSSL's
// ticket format), generated at random in memory, never written anywhere, and rotated:
// a new key every `rotation`, the one before still accepted (its tickets renewed), older
// ones forgotten. So a ticket is good for at most two rotation periods, and a leaked key
// opens at most that much recorded traffic. Any thread. Internal to the proxy.
#pragma once

#include <array>
#include <chrono>
#include <mutex>

#include <openssl/ssl.h>

namespace portico::proxy {

class SessionTicketKeys {
 public:
  using Clock = std::chrono::steady_clock;
  explicit SessionTicketKeys(Clock::duration rotation);

  // `ctx` issues and reads tickets with these keys, for as long as this object lives.
  void install(SSL_CTX* ctx);

 private:
  struct Key {
    std::array<unsigned char, 16> name;
    std::array<unsigned char, 32> aes;
    std::array<unsigned char, 32> hmac;
    Clock::time_point created;
  };
  static int onTicket(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                      int encrypt);
  static Key newKey();
  void rotateIfDue();  // mu_ held

  const Clock::duration rotation_;
  std::mutex mu_;  // handshakes (not requests) take it
  Key current_;
  Key previous_;
};

}  // namespace portico::proxy
