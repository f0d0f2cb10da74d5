#include "rtpm/auth/jwt.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "rtpm/auth/internal/openssl_ptr.h"
#include "rtpm/json/json.h"

namespace rtpm::auth {

namespace {

// Longest token verify() looks at; real ones are a few hundred bytes.
constexpr size_t kMaxTokenBytes = 8 * 1024;
constexpr size_t kMinSecretBytes = 32;
constexpr int kMinRsaBits = 2048;
constexpr size_t kMaxSubjectUnits = 128;
// The leeway is clamped to this many seconds (about 31,700 years) so that the millisecond
// arithmetic below cannot overflow.
constexpr int64_t kMaxLeewayS = 1'000'000'000'000;
// NumericDates beyond 2^53 ms (about 285,000 years either side of 1970) are refused: within
// it, milliseconds are exact in a double and sums with the leeway fit in int64.
constexpr double kMaxDateMs = 9007199254740992.0;
// JSON nesting accepted in the header and the claims.
constexpr int kMaxJsonDepth = 64;

using internal::BioPtr;
using internal::EcdsaSigPtr;
using internal::MdCtxPtr;
using internal::PkeyPtr;

Error refuse(std::string message) { return Error{ErrorCode::unauthorized, std::move(message)}; }
Error bad_config(std::string message) { return Error{ErrorCode::internal, std::move(message)}; }

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// The value of a base64url character, or -1.
int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// The number of UTF-16 code units of `s`; nullopt when it is not well-formed UTF-8 (overlong
// forms, surrogates, code points above U+10FFFF and truncated sequences are not).
std::optional<size_t> utf16_length(std::string_view s) {
  size_t units = 0;
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0x80) {
      ++units;
      ++i;
      continue;
    }
    // The sequence's length from its lead byte; a continuation byte cannot lead.
    const size_t length = (lead & 0xE0) == 0xC0   ? 2
                          : (lead & 0xF0) == 0xE0 ? 3
                          : (lead & 0xF8) == 0xF0 ? 4
                                                  : 0;
    if (length == 0) return std::nullopt;
    static constexpr uint32_t kMinCodePoint[] = {0, 0, 0x80, 0x800, 0x10000};  // not overlong
    uint32_t cp = lead & (0x7Fu >> length);
    if (s.size() - i < length) return std::nullopt;
    for (size_t k = 1; k < length; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    if (cp < kMinCodePoint[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return std::nullopt;
    units += cp >= 0x10000 ? 2 : 1;
    i += length;
  }
  return units;
}

// A NumericDate claim (seconds, fractions allowed) in Unix milliseconds, rounded down.
Result<int64_t> numeric_date_ms(const json::Value& value, std::string_view claim) {
  if (!value.is_number()) return refuse("the token's " + std::string(claim) + " is not a number");
  const double ms = std::floor(value.as_number() * 1000.0);
  if (!std::isfinite(ms) || ms < -kMaxDateMs || ms > kMaxDateMs)
    return refuse("the token's " + std::string(claim) + " is out of range");
  return static_cast<int64_t>(ms);
}

// Parses base64url-encoded JSON that must be an object.
Result<json::Value> decode_json_object(std::string_view part, std::string_view what) {
  std::optional<std::string> text = base64url_decode(part);
  if (!text) return refuse("the token's " + std::string(what) + " is not base64url");
  Result<json::Value> value = json::parse(*text, json::ParseOptions{.max_depth = kMaxJsonDepth});
  // The parser's message is not passed on: it may quote the token's content.
  if (!value || !value->is_object())
    return refuse("the token's " + std::string(what) + " is not a JSON object");
  return value;
}

bool digest_verify(EVP_PKEY* key, bool rsa, std::string_view data, std::string_view signature) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key) != 1) return false;
  if (rsa && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) return false;
  return EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(data),
                          data.size()) == 1;
}

// JOSE's ES256 signature (r and s, 32 big-endian bytes each) as a DER ECDSA-Sig-Value.
std::optional<std::string> jose_to_der(std::string_view signature) {
  if (signature.size() != 64) return std::nullopt;
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(bytes(signature), 32, nullptr);
  BIGNUM* s = BN_bin2bn(bytes(signature) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int length = i2d_ECDSA_SIG(sig.get(), &der);
  if (length <= 0) return std::nullopt;
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(length));
  OPENSSL_free(der);
  return out;
}

}  // namespace

struct JwtVerifier::Keys {
  enum class Kind { none, rsa, ec_p256 };
  PkeyPtr public_key;
  Kind kind = Kind::none;
};

JwtVerifier::JwtVerifier(JwtOptions options, std::unique_ptr<Keys> keys)
    : options_(std::move(options)), keys_(std::move(keys)) {
  options_.leeway_s = std::clamp<int64_t>(options_.leeway_s, 0, kMaxLeewayS);
}

JwtVerifier::~JwtVerifier() = default;

Result<std::unique_ptr<JwtVerifier>> JwtVerifier::create(JwtOptions options) {
  if (options.hs256_secret.empty() && options.public_key_pem.empty())
    return bad_config("no JWT key: give an HS256 secret or a public key");
  if (!options.hs256_secret.empty() && options.hs256_secret.size() < kMinSecretBytes)
    return bad_config("the HS256 secret is shorter than 32 bytes");
  if (options.hs256_secret.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    return bad_config("the HS256 secret is too long");
  auto keys = std::make_unique<Keys>();
  if (!options.public_key_pem.empty()) {
    const std::string& pem = options.public_key_pem;
    if (pem.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
      return bad_config("the public key is not a PEM public key");
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (bio) keys->public_key.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!keys->public_key) {
      ERR_clear_error();
      return bad_config("the public key is not a PEM public key");
    }
    EVP_PKEY* key = keys->public_key.get();
    if (EVP_PKEY_is_a(key, "RSA")) {
      if (EVP_PKEY_get_bits(key) < kMinRsaBits)
        return bad_config("the RSA public key is shorter than 2048 bits");
      keys->kind = Keys::Kind::rsa;
    } else if (EVP_PKEY_is_a(key, "EC")) {
      std::array<char, 64> group{};
      size_t length = 0;
      if (EVP_PKEY_get_group_name(key, group.data(), group.size(), &length) != 1 ||
          std::string_view(group.data(), length) != SN_X9_62_prime256v1) {
        ERR_clear_error();
        return bad_config("the EC public key is not on P-256");
      }
      keys->kind = Keys::Kind::ec_p256;
    } else {
      return bad_config("the public key is neither RSA nor EC P-256");
    }
  }
  return std::unique_ptr<JwtVerifier>(new JwtVerifier(std::move(options), std::move(keys)));
}

Result<Grant> JwtVerifier::verify(std::string_view token, int64_t now_ms) const {
  if (token.size() > kMaxTokenBytes) return refuse("the token is longer than 8 KiB");
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return refuse("the token is not three base64url parts");
  const std::string_view signing_input = token.substr(0, dot2);
  const std::string_view header_part = token.substr(0, dot1);
  const std::string_view payload_part = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_part = token.substr(dot2 + 1);

  // The header, and whether a configured key verifies its algorithm, before any crypto.
  Result<json::Value> header = decode_json_object(header_part, "header");
  if (!header) return header.error();
  const json::Value* alg = header->find("alg");
  if (!alg || !alg->is_string()) return refuse("the token's header has no alg");
  // RFC 7515 section 4.1.11: an extension the recipient does not understand is fatal; this
  // verifier understands none.
  if (header->find("crit")) return refuse("the token's header has crit extensions");
  const std::string& algorithm = alg->as_string();
  enum class Method { hs256, rs256, es256 } method;
  if (algorithm == "HS256") {
    if (options_.hs256_secret.empty()) return refuse("HS256 tokens are not accepted");
    method = Method::hs256;
  } else if (algorithm == "RS256") {
    if (keys_->kind != Keys::Kind::rsa) return refuse("RS256 tokens are not accepted");
    method = Method::rs256;
  } else if (algorithm == "ES256") {
    if (keys_->kind != Keys::Kind::ec_p256) return refuse("ES256 tokens are not accepted");
    method = Method::es256;
  } else if (algorithm == "none") {
    return refuse("unsigned tokens (alg none) are not accepted");
  } else {
    return refuse("the token's algorithm is not accepted");
  }

  std::optional<std::string> signature = base64url_decode(signature_part);
  if (!signature) return refuse("the token's signature is not base64url");
  bool valid = false;
  switch (method) {
    case Method::hs256: {
      std::string mac = hmac_sha256(options_.hs256_secret, signing_input);
      valid = !mac.empty() && mac.size() == signature->size() &&
              CRYPTO_memcmp(mac.data(), signature->data(), mac.size()) == 0;
      break;
    }
    case Method::rs256:
      valid = digest_verify(keys_->public_key.get(), true, signing_input, *signature);
      break;
    case Method::es256: {
      std::optional<std::string> der = jose_to_der(*signature);
      valid = der && digest_verify(keys_->public_key.get(), false, signing_input, *der);
      break;
    }
  }
  ERR_clear_error();  // a failed check leaves entries that would confuse later callers
  if (!valid) return refuse("the token's signature is wrong");

  Result<json::Value> claims = decode_json_object(payload_part, "claims");
  if (!claims) return claims.error();
  const int64_t leeway_ms = options_.leeway_s * 1000;
  Grant grant;

  if (const json::Value* exp = claims->find("exp")) {
    Result<int64_t> exp_ms = numeric_date_ms(*exp, "exp");
    if (!exp_ms) return exp_ms.error();
    grant.expires_at_ms = *exp_ms + leeway_ms;
    if (now_ms > *grant.expires_at_ms) return refuse("the token expired");
  }
  if (const json::Value* nbf = claims->find("nbf")) {
    Result<int64_t> nbf_ms = numeric_date_ms(*nbf, "nbf");
    if (!nbf_ms) return nbf_ms.error();
    if (*nbf_ms - leeway_ms > now_ms) return refuse("the token is not valid yet");
  }

  if (!options_.issuer.empty()) {
    const json::Value* iss = claims->find("iss");
    if (!iss || !iss->is_string() || iss->as_string() != options_.issuer)
      return refuse("the token's issuer is wrong");
  }
  if (const json::Value* aud = claims->find("aud")) {
    bool named = false;
    if (aud->is_string()) {
      named = aud->as_string() == options_.audience;
    } else if (aud->is_array()) {
      for (const json::Value& item : aud->as_array()) {
        if (!item.is_string()) return refuse("the token's aud is not a string or strings");
        named = named || item.as_string() == options_.audience;
      }
    } else {
      return refuse("the token's aud is not a string or strings");
    }
    if (!options_.audience.empty() && !named) return refuse("the token's audience is wrong");
  } else if (!options_.audience.empty()) {
    return refuse("the token has no audience");
  }

  const json::Value* sub = claims->find("sub");
  if (!sub) return refuse("the token has no sub");
  if (!sub->is_string()) return refuse("the token's sub is not a string");
  std::optional<size_t> units = utf16_length(sub->as_string());
  if (!units) return refuse("the token's sub is not valid UTF-8");
  if (*units == 0 || *units > kMaxSubjectUnits)
    return refuse("the token's sub is empty or longer than 128 UTF-16 code units");
  grant.subject = sub->as_string();

  const json::Value* rooms = claims->find("rooms");
  if (!rooms) return refuse("the token has no rooms");
  Result<RoomRules> rules = RoomRules::from_json(*rooms);
  if (!rules) return refuse("the token's rooms: " + rules.error().message);
  grant.rooms = std::move(*rules);

  if (const json::Value* jti = claims->find("jti")) {
    if (!jti->is_string()) return refuse("the token's jti is not a string");
    grant.token_id = jti->as_string();
  }
  return grant;
}

bool JwtVerifier::looks_like_jwt(std::string_view token) {
  // HEADER.PAYLOAD.SIGNATURE, the first two non-empty; an empty signature (an unsigned token)
  // still has the shape, so that verify() names the reason it is refused.
  int dots = 0;
  size_t part_length = 0;
  for (char c : token) {
    if (c == '.') {
      if (++dots > 2 || part_length == 0) return false;
      part_length = 0;
    } else if (base64url_value(c) < 0) {
      return false;
    } else {
      ++part_length;
    }
  }
  return dots == 2;
}

std::string secret_from_file_text(std::string text) {
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  return text;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int length = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes(data), data.size(),
            mac.data(), &length))
    return {};
  return std::string(reinterpret_cast<const char*>(mac.data()), length);
}

std::string sign_hs256(std::string_view claims_json, std::string_view secret) {
  std::string token =
      base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(claims_json);
  return token + "." + base64url_encode(hmac_sha256(secret, token));
}

std::string base64url_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                       static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) n |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    if (rest == 2) out += kAlphabet[(n >> 6) & 63];
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int v = base64url_value(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  // The bits left over must be zero (RFC 4648 section 3.5), so that each byte string has one
  // encoding and a token cannot be altered without changing what it decodes to.
  if ((buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace rtpm::auth
