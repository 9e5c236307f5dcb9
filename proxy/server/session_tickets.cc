#include "proxy/server/session_tickets.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace portico::proxy {

namespace {
int ticketSlot() {
  static const int slot = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return slot;
}

void setHmacKey(EVP_MAC_CTX* mac, std::array<unsigned char, 32>& key) {
  char digest[] = "sha256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.data(), key.size()),
                         OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  EVP_MAC_CTX_set_params(mac, params);
}
}  // namespace

SessionTicketKeys::SessionTicketKeys(Clock::duration rotation)
    : rotation_(rotation), current_(newKey()), previous_(newKey()) {}

SessionTicketKeys::Key SessionTicketKeys::newKey() {
  Key key;
  if (RAND_bytes(key.name.data(), int(key.name.size())) != 1 || RAND_bytes(key.aes.data(), int(key.aes.size())) != 1 ||
      RAND_bytes(key.hmac.data(), int(key.hmac.size())) != 1)
    throw std::runtime_error("RAND_bytes failed for a session ticket key");
  key.created = Clock::now();
  return key;
}

void SessionTicketKeys::install(SSL_CTX* ctx) {
  SSL_CTX_set_ex_data(ctx, ticketSlot(), this);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &SessionTicketKeys::onTicket);
  // The lifetime clients are told: no longer than the keys can read the ticket.
  SSL_CTX_set_timeout(ctx, long(std::chrono::duration_cast<std::chrono::seconds>(2 * rotation_).count()));
}

void SessionTicketKeys::rotateIfDue() {
  const auto now = Clock::now();
  if (now - current_.created < rotation_) return;
  // More than one period since the last rotation: the old current key is too old to keep.
  previous_ = now - current_.created < 2 * rotation_ ? current_ : newKey();
  current_ = newKey();
}

int SessionTicketKeys::onTicket(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                                EVP_MAC_CTX* mac, int encrypt) {
  auto* self = static_cast<SessionTicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ticketSlot()));
  if (!self) return -1;
  std::lock_guard lock(self->mu_);
  self->rotateIfDue();
  if (encrypt) {
    Key& key = self->current_;
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) return -1;
    std::copy(key.name.begin(), key.name.end(), name);
    if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv) != 1) return -1;
    setHmacKey(mac, key.hmac);
    return 1;
  }
  for (Key* key : {&self->current_, &self->previous_}) {
    if (!std::equal(key->name.begin(), key->name.end(), name)) continue;
    setHmacKey(mac, key->hmac);
    if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes.data(), iv) != 1) return -1;
    return key == &self->current_ ? 1 : 2;  // 2: good, but issue a ticket under the current key
  }
  return 0;  // unknown or forgotten key: a full handshake
}

}  // namespace portico::proxy
