#include "rtpm/auth/jwt_test_support.h"

#include <array>
#include <memory>
#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "rtpm/auth/internal/openssl_ptr.h"
#include "rtpm/auth/jwt.h"

namespace rtpm::auth::testing {

namespace {

using internal::BioPtr;
using internal::EcdsaSigPtr;
using internal::MdCtxPtr;
using internal::PkeyPtr;

[[noreturn]] void fail(const std::string& what) {
  ERR_clear_error();
  throw std::runtime_error("jwt_test_support: " + what);
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(length));
}

KeyPair to_pem(EVP_PKEY* key) {
  BioPtr priv(BIO_new(BIO_s_mem()));
  BioPtr pub(BIO_new(BIO_s_mem()));
  if (!priv || !pub ||
      PEM_write_bio_PrivateKey(priv.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_PUBKEY(pub.get(), key) != 1)
    fail("cannot write the key as PEM");
  return KeyPair{bio_text(priv.get()), bio_text(pub.get())};
}

PkeyPtr read_private_key(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) fail("the key is not a PEM private key");
  return key;
}

std::string digest_sign(EVP_PKEY* key, std::string_view data) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t length = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length, bytes(data), data.size()) != 1)
    fail("cannot sign");
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     bytes(data), data.size()) != 1)
    fail("cannot sign");
  signature.resize(length);
  return signature;
}

// A DER ECDSA-Sig-Value as JOSE's r||s, 32 bytes each.
std::string der_to_jose(std::string_view der) {
  const unsigned char* p = bytes(der);
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) fail("cannot read the ECDSA signature");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string out(64, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(r, o, 32) != 32 || BN_bn2binpad(s, o + 32, 32) != 32)
    fail("the ECDSA signature is not P-256's");
  return out;
}

}  // namespace

KeyPair generate_rsa(int bits) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
  if (!key) fail("cannot generate an RSA key");
  return to_pem(key.get());
}

KeyPair generate_ec_p256() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) fail("cannot generate a P-256 key");
  return to_pem(key.get());
}

std::string sign_jwt(std::string_view alg, std::string_view header_json,
                     std::string_view payload_json, std::string_view key) {
  std::string token = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  std::string signature;
  if (alg == "HS256") {
    signature = hmac_sha256(key, token);
    if (signature.empty()) fail("cannot compute the HMAC");
  } else if (alg == "RS256") {
    signature = digest_sign(read_private_key(key).get(), token);
  } else if (alg == "ES256") {
    signature = der_to_jose(digest_sign(read_private_key(key).get(), token));
  } else if (alg != "none") {
    fail("unknown algorithm " + std::string(alg));
  }
  return token + "." + base64url_encode(signature);
}

std::string make_jwt(std::string_view alg, std::string_view payload_json, std::string_view key) {
  const std::string header = "{\"alg\":\"" + std::string(alg) + "\",\"typ\":\"JWT\"}";
  return sign_jwt(alg, header, payload_json, key);
}

}  // namespace rtpm::auth::testing
