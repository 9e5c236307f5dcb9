#include "proxy/policy/sha256.h"

#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

namespace portico::proxy::policy {

namespace {
struct MdFree {
  void operator()(EVP_MD* md) const { EVP_MD_free(md); }
};
struct CtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

const EVP_MD* sha256Algorithm() {
  static const std::unique_ptr<EVP_MD, MdFree> md(EVP_MD_fetch(nullptr, "SHA256", nullptr));
  if (!md) throw std::runtime_error("OpenSSL has no SHA-256");
  return md.get();
}
}  // namespace

Sha256Digest sha256(std::initializer_list<std::string_view> pieces) {
  thread_local const std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  Sha256Digest out{};
  unsigned int length = 0;
  bool ok = ctx && EVP_DigestInit_ex(ctx.get(), sha256Algorithm(), nullptr) == 1;
  for (std::string_view piece : pieces) ok = ok && EVP_DigestUpdate(ctx.get(), piece.data(), piece.size()) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx.get(), out.data(), &length) == 1 && length == out.size();
  if (!ok) throw std::runtime_error("SHA-256 failed");
  return out;
}

}  // namespace portico::proxy::policy
