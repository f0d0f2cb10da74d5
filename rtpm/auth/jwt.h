// JSON Web Tokens (RFC 7519) in the compact JWS form, checked with OpenSSL, sans-I/O: the
// caller passes the time.
//
// Algorithms: HS256 with a shared secret (at least 32 bytes), RS256 with an RSA public key
// (2048 bits or more), ES256 with a P-256 public key (the signature is JOSE's 64-byte r||s).
// The token's `alg` must be one the configured keys verify: `none`, any other algorithm, and an
// HS256 token when only a public key is configured (the "public key as HMAC secret" confusion)
// are refused before any signature is computed. A `kid` header is ignored (one key per kind).
//
// Claims: `sub` (a string of 1 to 128 UTF-16 code units: it becomes the userId) is required;
// `exp` and `nbf` (NumericDate, seconds; fractions allowed) are checked with the leeway when
// present; `iss` must equal the configured issuer and `aud` (a string, or an array of strings)
// must contain the configured audience, when those are configured; `rooms` (an object, see
// access.h) is required -- a token without it grants no room; `jti`, when present, is a string.
// Every refusal is ErrorCode::unauthorized with a short reason (never the token itself).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "rtpm/auth/access.h"
#include "rtpm/base/error.h"

namespace rtpm::auth {

struct JwtOptions {
  /// HS256 secret bytes; empty: HS256 off.
  std::string hs256_secret;
  /// PEM public key (RSA: RS256, EC P-256: ES256); empty: RS256/ES256 off.
  std::string public_key_pem;
  /// Required `iss` / `aud`; empty: not checked.
  std::string issuer;
  std::string audience;
  /// Seconds of clock skew allowed for `exp` and `nbf`.
  int64_t leeway_s = 5;
};

class JwtVerifier {
 public:
  /// Parses the keys. Errors: a secret shorter than 32 bytes, a PEM that is not a public key,
  /// an RSA key under 2048 bits, an EC key not on P-256, or neither key given.
  static Result<std::unique_ptr<JwtVerifier>> create(JwtOptions options);
  ~JwtVerifier();

  /// Checks `token` at Unix time `now_ms`; the Grant's expires_at_ms is `exp` + leeway.
  Result<Grant> verify(std::string_view token, int64_t now_ms) const;

  /// Whether `token` has the shape of a compact JWS (three base64url parts).
  static bool looks_like_jwt(std::string_view token);

 private:
  struct Keys;
  explicit JwtVerifier(JwtOptions options, std::unique_ptr<Keys> keys);
  JwtOptions options_;
  std::unique_ptr<Keys> keys_;
};

/// The HS256 secret held in a secret file's text: the bytes without one trailing newline ("\n"
/// or "\r\n"), as editors and `echo` leave one.
std::string secret_from_file_text(std::string text);

/// HMAC-SHA-256 of `data` with `key` (32 bytes).
std::string hmac_sha256(std::string_view key, std::string_view data);

/// An HS256 JSON Web Token of `claims_json` (used verbatim), header {"alg":"HS256","typ":"JWT"},
/// signed with `secret` -- what `realtime-pm token` prints, for development and scripts; real
/// deployments sign in their application.
std::string sign_hs256(std::string_view claims_json, std::string_view secret);

/// base64url without padding (RFC 4648 section 5), as JWS uses it.
std::string base64url_encode(std::string_view bytes);
/// Decodes base64url without padding; nullopt on any other character, on padding, or on a
/// length that is 1 mod 4.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace rtpm::auth
