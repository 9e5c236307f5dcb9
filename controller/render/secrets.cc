#include "controller/render/secrets.h"

#include <algorithm>
#include <memory>
#include <set>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "controller/render/field_path.h"
#include "controller/render/validation.h"

namespace portico::controller {
namespace {

using nlohmann::json;

constexpr std::string_view kTlsType = "kubernetes.io/tls";

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

// Never prompt for a pass phrase (OpenSSL's default callback reads the terminal).
int noPassphrase(char*, int, int, void*) { return -1; }

std::unique_ptr<BIO, BioDeleter> memoryBio(const std::string& data) {
  return std::unique_ptr<BIO, BioDeleter>(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// One of tls.crt / tls.key: stringData wins, then data (base64).
Expected<std::string> secretValue(const json& secret, const std::string& key) {
  const json* stringData = member(secret, "stringData");
  if (stringData && stringData->is_object()) {
    const json* v = member(*stringData, key);
    if (v) {
      if (!v->is_string()) return makeError(childField("stringData", key) + ": must be a string");
      return v->get<std::string>();
    }
  }
  const json* data = member(secret, "data");
  const json* v = data && data->is_object() ? member(*data, key) : nullptr;
  if (!v) return makeError(childField("data", key) + ": missing");
  if (!v->is_string()) return makeError(childField("data", key) + ": must be a string");
  auto decoded = decodeBase64(v->get_ref<const std::string&>());
  if (!decoded) return makeError(childField("data", key) + ": " + decoded.error().message);
  return std::move(decoded).value();
}

}  // namespace

// "data[key]": Secret keys often contain dots, so always bracketed, which reads the same
// for every key.
static std::string keyField(std::string_view parent, std::string_view key) {
  return std::string(parent) + "[" + std::string(key) + "]";
}

Expected<TlsKeyPair> decodeTlsSecret(const json& secret) {
  const json* type = member(secret, "type");
  if (!type || !type->is_string() || type->get_ref<const std::string&>() != kTlsType) {
    std::string actual = type && type->is_string() ? type->get<std::string>() : "Opaque";
    return makeError("type is \"" + actual + "\", want \"" + std::string(kTlsType) + "\"");
  }
  auto cert = secretValue(secret, "tls.crt");
  if (!cert) return cert.error();
  auto key = secretValue(secret, "tls.key");
  if (!key) return key.error();

  ERR_clear_error();
  auto certBio = memoryBio(*cert);
  std::unique_ptr<X509, X509Deleter> x509(PEM_read_bio_X509(certBio.get(), nullptr, noPassphrase, nullptr));
  if (!x509) {
    ERR_clear_error();
    return makeError("tls.crt: no PEM certificate");
  }
  auto keyBio = memoryBio(*key);
  std::unique_ptr<EVP_PKEY, PkeyDeleter> pkey(
      PEM_read_bio_PrivateKey(keyBio.get(), nullptr, noPassphrase, nullptr));
  if (!pkey) {
    ERR_clear_error();
    return makeError("tls.key: no PEM private key (an encrypted key is not supported)");
  }
  if (X509_check_private_key(x509.get(), pkey.get()) != 1) {
    ERR_clear_error();
    return makeError("tls.key does not match the certificate in tls.crt");
  }
  return TlsKeyPair{std::move(cert).value(), std::move(key).value()};
}

std::optional<TlsKeyPair> resolveTlsSecret(const ObjectIndex& index, const std::string& ns,
                                           const std::string& name, const std::string& field,
                                           Reporter& reporter) {
  std::string ref = "secret \"" + ns + "/" + name + "\"";
  const json* secret = index.secret(ns, name);
  if (!secret) {
    reporter.unresolved(field, "SecretNotFound", ref + " not found");
    return std::nullopt;
  }
  auto pair = decodeTlsSecret(*secret);
  if (!pair) {
    reporter.unresolved(field, "InvalidSecret", ref + " is invalid: " + pair.error().message);
    return std::nullopt;
  }
  return std::move(pair).value();
}

Expected<std::map<std::string, std::string>> decodeSecretEntries(const json& secret) {
  std::map<std::string, std::string> out;
  const json* data = member(secret, "data");
  if (data && data->is_object()) {
    for (auto it = data->begin(); it != data->end(); ++it) {
      if (it->is_null()) continue;
      if (!it->is_string()) return makeError(keyField("data", it.key()) + ": must be a string");
      auto decoded = decodeBase64(it->get_ref<const std::string&>());
      if (!decoded) return makeError(keyField("data", it.key()) + ": " + decoded.error().message);
      out[it.key()] = std::move(decoded).value();
    }
  } else if (data) {
    return makeError("data: must be an object");
  }
  const json* stringData = member(secret, "stringData");
  if (stringData && stringData->is_object()) {
    for (auto it = stringData->begin(); it != stringData->end(); ++it) {
      if (it->is_null()) continue;
      if (!it->is_string()) return makeError(keyField("stringData", it.key()) + ": must be a string");
      out[it.key()] = it->get<std::string>();
    }
  } else if (stringData) {
    return makeError("stringData: must be an object");
  }
  return out;
}

namespace {

std::string trimRight(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
    s.pop_back();
  }
  return s;
}

bool hasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7f;
  });
}

}  // namespace

Expected<std::vector<std::pair<std::string, std::string>>> apiKeysFromSecret(const json& secret) {
  auto entries = decodeSecretEntries(secret);
  if (!entries) return entries.error();
  if (entries->empty()) {
    return makeError("has no data: each data key must be a consumer name and its value the API key");
  }
  std::vector<std::pair<std::string, std::string>> keys;
  std::map<std::string, std::string> owner;  // key -> consumer, to find reuse
  for (auto& [consumer, value] : *entries) {
    std::string key = trimRight(value);
    std::string f = keyField("data", consumer);
    if (!isHttpToken(consumer)) return makeError(f + ": the consumer name must be an HTTP token");
    if (key.empty()) return makeError(f + ": the API key is empty");
    if (hasControl(key)) return makeError(f + ": the API key contains control characters");
    auto [it, inserted] = owner.emplace(key, consumer);
    if (!inserted) {
      return makeError(f + ": holds the same API key as " + keyField("data", it->second) +
                       " (a key must identify one consumer)");
    }
    keys.emplace_back(consumer, std::move(key));
  }
  return keys;
}

namespace {
// Data key `key` of a Secret as a PEM bundle: at least one block that `readOne` (reads and
// frees one block; false at the end or at a broken block) takes, and nothing broken after.
template <class ReadOne>
Expected<std::string> pemBundle(const json& secret, const std::string& key, std::string_view what, ReadOne readOne) {
  auto entries = decodeSecretEntries(secret);
  if (!entries) return entries.error();
  auto it = entries->find(key);
  if (it == entries->end()) return makeError("needs " + std::string(what) + " (PEM) in data key \"" + key + "\"");
  ERR_clear_error();
  auto bio = memoryBio(it->second);
  size_t count = 0;
  while (readOne(bio.get())) ++count;
  // The loop ends at the end of the text (PEM_R_NO_START_LINE) or at a block that is broken.
  const unsigned long error = ERR_peek_last_error();
  ERR_clear_error();
  if (count == 0) return makeError(keyField("data", key) + ": no PEM " + std::string(what));
  if (ERR_GET_REASON(error) != PEM_R_NO_START_LINE && error != 0)
    return makeError(keyField("data", key) + ": block " + std::to_string(count + 1) + " does not parse");
  return it->second;
}
}  // namespace

Expected<std::string> caBundleFromSecret(const json& secret) {
  return pemBundle(secret, "ca.crt", "CA certificates", [](BIO* bio) {
    return std::unique_ptr<X509, X509Deleter>(PEM_read_bio_X509(bio, nullptr, noPassphrase, nullptr)) != nullptr;
  });
}

Expected<std::string> crlFromSecret(const json& secret) {
  return pemBundle(secret, "ca.crl", "certificate revocation lists", [](BIO* bio) {
    X509_CRL* crl = PEM_read_bio_X509_CRL(bio, nullptr, noPassphrase, nullptr);
    X509_CRL_free(crl);
    return crl != nullptr;
  });
}

Expected<std::string> htpasswdFromSecret(const json& secret) {
  auto entries = decodeSecretEntries(secret);
  if (!entries) return entries.error();
  auto authIt = entries->find("auth");
  auto htIt = entries->find("htpasswd");
  if (authIt != entries->end() && htIt != entries->end()) {
    return makeError("has both data[auth] and data[htpasswd]; keep one");
  }
  if (authIt == entries->end() && htIt == entries->end()) {
    return makeError("needs htpasswd lines in data key \"auth\" (or \"htpasswd\")");
  }
  const bool isAuth = authIt != entries->end();
  const std::string& text = isAuth ? authIt->second : htIt->second;
  const std::string f = keyField("data", isAuth ? "auth" : "htpasswd");
  std::string out;
  std::set<std::string> users;
  size_t lineNo = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? text.size() + 1 : nl + 1;
    ++lineNo;
    line = trimRight(line);
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    line = line.substr(first);
    std::string where = f + " line " + std::to_string(lineNo);
    size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) return makeError(where + ": must be user:hash");
    std::string user = line.substr(0, colon);
    std::string hash = line.substr(colon + 1);
    if (hasControl(user) || user.find_first_of(" \t") != std::string::npos) {
      return makeError(where + ": the user name must not contain spaces or control characters");
    }
    where += " (user \"" + user + "\")";
    if (hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
      if (hash.size() != 60) return makeError(where + ": malformed bcrypt hash");
    } else if (hash.starts_with("$5$") || hash.starts_with("$6$")) {
      if (hash.find('$', 3) == std::string::npos) return makeError(where + ": malformed SHA-crypt hash");
    } else if (hash.starts_with("$apr1$") || hash.starts_with("$1$")) {
      return makeError(where + ": MD5 hashes are not supported; use bcrypt (htpasswd -B)");
    } else if (hash.starts_with("{SHA}")) {
      return makeError(where + ": SHA-1 hashes are not supported; use bcrypt (htpasswd -B)");
    } else {
      return makeError(where + ": unsupported hash; use bcrypt (htpasswd -B) or SHA-crypt ($5$, $6$)");
    }
    if (hasControl(hash) || hash.find_first_of(" \t") != std::string::npos) {
      return makeError(where + ": the hash must not contain spaces or control characters");
    }
    if (!users.insert(user).second) return makeError(where + ": the user appears twice");
    if (!out.empty()) out += '\n';
    out += user + ":" + hash;
  }
  if (out.empty()) return makeError(f + ": has no user:hash lines");
  return out;
}

Expected<std::string> jwksFromSecret(const json& secret) {
  auto entries = decodeSecretEntries(secret);
  if (!entries) return entries.error();
  auto it = entries->find("jwks");
  if (it == entries->end()) return makeError("needs a JSON Web Key Set in data key \"jwks\"");
  json set = json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  if (set.is_discarded() || !set.is_object()) {
    return makeError("data[jwks]: is not a JSON object");
  }
  json* keys = set.contains("keys") ? &set["keys"] : nullptr;
  if (!keys || !keys->is_array() || keys->empty()) {
    return makeError("data[jwks]: needs a non-empty \"keys\" list");
  }
  for (size_t i = 0; i < keys->size(); ++i) {
    json& key = (*keys)[i];
    std::string f = "data[jwks].keys[" + std::to_string(i) + "]";
    if (!key.is_object()) return makeError(f + ": must be an object");
    const json* kty = member(key, "kty");
    if (!kty || !kty->is_string()) return makeError(f + ": needs kty");
    const std::string& type = kty->get_ref<const std::string&>();
    if (type == "oct") {
      const json* k = member(key, "k");
      if (!k || !k->is_string() || k->get_ref<const std::string&>().empty()) {
        return makeError(f + ": an oct key needs k");
      }
      continue;
    }
    if (type != "RSA" && type != "EC" && type != "OKP") {
      return makeError(f + ": kty \"" + type + "\" must be RSA, EC, OKP or oct");
    }
    for (const char* priv : {"d", "p", "q", "dp", "dq", "qi", "oth"}) key.erase(priv);
  }
  return set.dump();
}

}  // namespace portico::controller
