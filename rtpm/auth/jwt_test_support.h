// Test-only helpers that make keys and sign JSON Web Tokens with OpenSSL, for the tests of
// rtpm/auth and of the server (CMake target rtpm::auth_testing, built with tests only).
// Failures (a key that does not parse, an unknown algorithm) throw std::runtime_error: these
// run inside tests, where an exception fails the test with its message.
#pragma once

#include <string>
#include <string_view>

namespace rtpm::auth::testing {

/// A key pair in PEM: PKCS#8 private key, SubjectPublicKeyInfo public key.
struct KeyPair {
  std::string private_pem;
  std::string public_pem;
};

/// A fresh RSA key of `bits` bits.
KeyPair generate_rsa(int bits = 2048);
/// A fresh EC key on P-256.
KeyPair generate_ec_p256();

/// Signs header.payload (both JSON texts, used verbatim) with the algorithm named in the
/// header's "alg" field given by `alg`: "HS256" uses `key` as the secret bytes, "RS256"/
/// "ES256" use `key` as a PEM private key; "none" gives an empty signature part.
std::string sign_jwt(std::string_view alg, std::string_view header_json,
                     std::string_view payload_json, std::string_view key);

/// Shorthand: header {"alg":ALG,"typ":"JWT"} and the given payload.
std::string make_jwt(std::string_view alg, std::string_view payload_json, std::string_view key);

}  // namespace rtpm::auth::testing
