#include "rtpm/auth/jwt.h"

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "rtpm/auth/jwt_test_support.h"

namespace rtpm::auth {
namespace {

using testing::KeyPair;
using testing::make_jwt;
using testing::sign_jwt;

constexpr int64_t kNowS = 1'700'000'000;
constexpr int64_t kNowMs = kNowS * 1000;
constexpr int64_t kExpS = kNowS + 100;
const std::string kSecret = "0123456789abcdef0123456789abcdef";  // 32 bytes

// Key generation takes a while (RSA); each key is made once per test binary.
const KeyPair& rsa_key() {
  static const KeyPair key = testing::generate_rsa();
  return key;
}
const KeyPair& other_rsa_key() {
  static const KeyPair key = testing::generate_rsa();
  return key;
}
const KeyPair& ec_key() {
  static const KeyPair key = testing::generate_ec_p256();
  return key;
}
const KeyPair& other_ec_key() {
  static const KeyPair key = testing::generate_ec_p256();
  return key;
}

// The public key PEM of a fresh EC key on P-384.
std::string p384_public_pem() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  EXPECT_NE(key, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  EXPECT_EQ(PEM_write_bio_PUBKEY(bio, key), 1);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(length));
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

std::unique_ptr<JwtVerifier> verifier(JwtOptions options) {
  Result<std::unique_ptr<JwtVerifier>> v = JwtVerifier::create(std::move(options));
  EXPECT_TRUE(v.ok()) << (v ? "" : v.error().message);
  return v ? std::move(*v) : nullptr;
}
std::unique_ptr<JwtVerifier> hs_verifier() { return verifier({.hs256_secret = kSecret}); }
std::unique_ptr<JwtVerifier> rsa_verifier() {
  return verifier({.public_key_pem = rsa_key().public_pem});
}
std::unique_ptr<JwtVerifier> ec_verifier() {
  return verifier({.public_key_pem = ec_key().public_pem});
}

// A payload with every claim; `extra` (JSON members, with a leading comma) is appended.
std::string claims(std::string_view extra = "") {
  return R"({"sub":"alice","rooms":{"docs/*":"write","*":"read"},"exp":)" + std::to_string(kExpS) +
         R"(,"jti":"t-1")" + std::string(extra) + "}";
}

// The message of the refusal of `token`; fails the test when it was accepted.
std::string refusal(const JwtVerifier& v, std::string_view token, int64_t now_ms = kNowMs) {
  Result<Grant> grant = v.verify(token, now_ms);
  EXPECT_FALSE(grant.ok()) << "accepted: " << token;
  if (grant) return "";
  EXPECT_EQ(grant.error().code, ErrorCode::unauthorized);
  EXPECT_FALSE(grant.error().message.empty());
  // The reason never quotes the token.
  for (size_t at = 0; at < token.size(); at += 16) {
    const std::string_view piece = token.substr(at, 16);
    if (piece.size() == 16) {
      EXPECT_EQ(grant.error().message.find(piece), std::string::npos) << grant.error().message;
    }
  }
  return grant.error().message;
}

Grant accepted(const JwtVerifier& v, std::string_view token, int64_t now_ms = kNowMs) {
  Result<Grant> grant = v.verify(token, now_ms);
  EXPECT_TRUE(grant.ok()) << (grant ? "" : grant.error().message);
  return grant ? *grant : Grant{};
}

// The three parts of a compact token.
std::vector<std::string> parts(const std::string& token) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t dot; (dot = token.find('.', start)) != std::string::npos; start = dot + 1)
    out.push_back(token.substr(start, dot - start));
  out.push_back(token.substr(start));
  return out;
}

void expect_alice(const Grant& grant) {
  EXPECT_EQ(grant.subject, "alice");
  EXPECT_EQ(grant.rooms.size(), 2u);
  EXPECT_EQ(grant.rooms.permission_for("docs/a"), Permission::write);
  EXPECT_EQ(grant.rooms.permission_for("notes"), Permission::read);
  ASSERT_TRUE(grant.expires_at_ms.has_value());
  EXPECT_EQ(*grant.expires_at_ms, kExpS * 1000 + 5000);
  EXPECT_EQ(grant.token_id, "t-1");
}

TEST(JwtVerifier, AcceptsHs256) {
  expect_alice(accepted(*hs_verifier(), make_jwt("HS256", claims(), kSecret)));
}

TEST(JwtVerifier, AcceptsWhatSignHs256Makes) {
  std::string token = sign_hs256(claims(), kSecret);
  EXPECT_EQ(token, make_jwt("HS256", claims(), kSecret));
  expect_alice(accepted(*hs_verifier(), token));
  EXPECT_FALSE(hs_verifier()->verify(sign_hs256(claims(), kSecret + "x"), kNowMs).ok());
}

TEST(JwtVerifier, AcceptsRs256) {
  expect_alice(accepted(*rsa_verifier(), make_jwt("RS256", claims(), rsa_key().private_pem)));
}

TEST(JwtVerifier, AcceptsEs256) {
  expect_alice(accepted(*ec_verifier(), make_jwt("ES256", claims(), ec_key().private_pem)));
}

TEST(JwtVerifier, AcceptsBothKindsWhenBothKeysAreConfigured) {
  auto v = verifier({.hs256_secret = kSecret, .public_key_pem = rsa_key().public_pem});
  expect_alice(accepted(*v, make_jwt("HS256", claims(), kSecret)));
  expect_alice(accepted(*v, make_jwt("RS256", claims(), rsa_key().private_pem)));
  refusal(*v, make_jwt("ES256", claims(), ec_key().private_pem));
}

TEST(JwtVerifier, OptionalClaimsAndHeaderFields) {
  auto v = hs_verifier();
  Grant grant = accepted(*v, make_jwt("HS256", R"({"sub":"bob","rooms":{}})", kSecret));
  EXPECT_EQ(grant.subject, "bob");
  EXPECT_EQ(grant.rooms.size(), 0u);
  EXPECT_EQ(grant.rooms.permission_for("x"), Permission::none);
  EXPECT_FALSE(grant.expires_at_ms.has_value());
  EXPECT_EQ(grant.token_id, "");
  // `typ` may be anything, `kid` is ignored, other claims are ignored.
  accepted(*v, sign_jwt("HS256", R"({"alg":"HS256","typ":5,"kid":"k1"})",
                        claims(R"(,"iss":7,"other":[1,{}])"), kSecret));
  accepted(*v, sign_jwt("HS256", R"({"alg":"HS256"})", claims(), kSecret));
}

TEST(JwtVerifier, FractionalExp) {
  Grant grant = accepted(
      *hs_verifier(), make_jwt("HS256", R"({"sub":"a","rooms":{},"exp":1700000100.5})", kSecret));
  EXPECT_EQ(grant.expires_at_ms, int64_t{1'700'000'100'500} + 5000);
}

TEST(JwtVerifier, RefusesUnsignedTokens) {
  for (auto& v : {hs_verifier(), rsa_verifier(), ec_verifier()}) {
    const std::string unsigned_token = make_jwt("none", claims(), "");
    EXPECT_EQ(unsigned_token.back(), '.');
    refusal(*v, unsigned_token);
    // With a signature part: a real HS256 signature under an `alg: none` header.
    const std::vector<std::string> signed_parts = parts(make_jwt("HS256", claims(), kSecret));
    const std::vector<std::string> none_parts = parts(unsigned_token);
    refusal(*v, none_parts[0] + "." + none_parts[1] + "." + signed_parts[2]);
    refusal(*v, unsigned_token + base64url_encode("signature"));
    refusal(*v, sign_jwt("HS256", R"({"alg":"None"})", claims(), kSecret));
    refusal(*v, sign_jwt("HS256", R"({"alg":"NONE"})", claims(), kSecret));
    // An HS256 header with the signature left off.
    refusal(*v, signed_parts[0] + "." + signed_parts[1] + ".");
  }
}

TEST(JwtVerifier, RefusesOtherAlgorithms) {
  auto v = hs_verifier();
  for (const char* alg : {"HS384", "HS512", "RS512", "PS256", "EdDSA", "hs256", ""}) {
    const std::string header = std::string(R"({"alg":")") + alg + "\"}";
    refusal(*v, sign_jwt("HS256", header, claims(), kSecret));
  }
  refusal(*v, sign_jwt("HS256", R"({"alg":256})", claims(), kSecret));
  refusal(*v, sign_jwt("HS256", R"({"typ":"JWT"})", claims(), kSecret));
  refusal(*v, sign_jwt("HS256", R"({"alg":"HS256","crit":["exp"]})", claims(), kSecret));
}

TEST(JwtVerifier, ExpiryWithLeeway) {
  auto v = hs_verifier();
  const auto token_expiring_at = [&](int64_t exp_s) {
    return make_jwt("HS256", R"({"sub":"a","rooms":{},"exp":)" + std::to_string(exp_s) + "}",
                    kSecret);
  };
  EXPECT_EQ(refusal(*v, token_expiring_at(kNowS - 10)), "the token expired");
  accepted(*v, token_expiring_at(kNowS - 3));  // inside the 5 s leeway
  // The last millisecond of the leeway is still valid, the next is not.
  const std::string token = token_expiring_at(kNowS);
  EXPECT_EQ(accepted(*v, token, kNowMs + 5000).expires_at_ms, kNowMs + 5000);
  refusal(*v, token, kNowMs + 5001);
  // Without leeway.
  auto strict = verifier({.hs256_secret = kSecret, .leeway_s = 0});
  EXPECT_EQ(accepted(*strict, token, kNowMs).expires_at_ms, kNowMs);
  refusal(*strict, token, kNowMs + 1);
}

TEST(JwtVerifier, NotBeforeWithLeeway) {
  auto v = hs_verifier();
  const auto token_valid_from = [&](int64_t nbf_s) {
    return make_jwt("HS256", R"({"sub":"a","rooms":{},"nbf":)" + std::to_string(nbf_s) + "}",
                    kSecret);
  };
  EXPECT_EQ(refusal(*v, token_valid_from(kNowS + 10)), "the token is not valid yet");
  accepted(*v, token_valid_from(kNowS + 3));  // inside the leeway
  accepted(*v, token_valid_from(kNowS + 5));
  refusal(*v, token_valid_from(kNowS + 5), kNowMs - 1);
  accepted(*v, token_valid_from(kNowS - 1000));
}

TEST(JwtVerifier, RefusesMistypedOrOutOfRangeDates) {
  auto v = hs_verifier();
  for (const char* date : {R"("1700000100")", "null", "true", "[1700000100]", "{}", "1e300",
                           "-1e300", "1e16", "-1e16"}) {
    refusal(*v, make_jwt("HS256", std::string(R"({"sub":"a","rooms":{},"exp":)") + date + "}",
                         kSecret));
    refusal(*v, make_jwt("HS256", std::string(R"({"sub":"a","rooms":{},"nbf":)") + date + "}",
                         kSecret));
  }
}

TEST(JwtVerifier, HugeLeewayDoesNotOverflow) {
  auto v = verifier({.hs256_secret = kSecret, .leeway_s = std::numeric_limits<int64_t>::max()});
  Grant grant = accepted(*v, make_jwt("HS256", R"({"sub":"a","rooms":{},"exp":1})", kSecret));
  ASSERT_TRUE(grant.expires_at_ms.has_value());
  EXPECT_GT(*grant.expires_at_ms, kNowMs);
  accepted(*v, make_jwt("HS256", R"({"sub":"a","rooms":{},"nbf":9e11})", kSecret));
}

TEST(JwtVerifier, RefusesTamperedPayloads) {
  const std::string forged = base64url_encode(R"({"sub":"mallory","rooms":{"*":"write"}})");
  struct Case {
    std::unique_ptr<JwtVerifier> v;
    std::string token;
  };
  Case cases[] = {{hs_verifier(), make_jwt("HS256", claims(), kSecret)},
                  {rsa_verifier(), make_jwt("RS256", claims(), rsa_key().private_pem)},
                  {ec_verifier(), make_jwt("ES256", claims(), ec_key().private_pem)}};
  for (const Case& c : cases) {
    const std::vector<std::string> p = parts(c.token);
    EXPECT_EQ(refusal(*c.v, p[0] + "." + forged + "." + p[2]), "the token's signature is wrong");
    // One character of the payload changed.
    std::string changed = p[1];
    changed[4] = changed[4] == 'A' ? 'B' : 'A';
    refusal(*c.v, p[0] + "." + changed + "." + p[2]);
  }
}

TEST(JwtVerifier, RefusesTamperedSignatures) {
  struct Case {
    std::unique_ptr<JwtVerifier> v;
    std::string token;
  };
  Case cases[] = {{hs_verifier(), make_jwt("HS256", claims(), kSecret)},
                  {rsa_verifier(), make_jwt("RS256", claims(), rsa_key().private_pem)},
                  {ec_verifier(), make_jwt("ES256", claims(), ec_key().private_pem)}};
  for (const Case& c : cases) {
    accepted(*c.v, c.token);
    const std::vector<std::string> p = parts(c.token);
    for (size_t at : {size_t{0}, p[2].size() / 2}) {
      std::string sig = p[2];
      sig[at] = sig[at] == 'A' ? 'B' : 'A';
      refusal(*c.v, p[0] + "." + p[1] + "." + sig);
    }
    // Truncated, extended, empty.
    refusal(*c.v, p[0] + "." + p[1] + "." + p[2].substr(0, p[2].size() - 4));
    refusal(*c.v, p[0] + "." + p[1] + "." + p[2] + "AAAA");
    refusal(*c.v, p[0] + "." + p[1] + ".");
  }
}

TEST(JwtVerifier, RefusesTokensSignedWithAnotherKey) {
  refusal(*hs_verifier(), make_jwt("HS256", claims(), kSecret + "x"));
  refusal(*rsa_verifier(), make_jwt("RS256", claims(), other_rsa_key().private_pem));
  refusal(*ec_verifier(), make_jwt("ES256", claims(), other_ec_key().private_pem));
}

TEST(JwtVerifier, RefusesAlgorithmConfusion) {
  // The RSA public key (which an attacker has) used as an HMAC secret.
  const std::string confused = make_jwt("HS256", claims(), rsa_key().public_pem);
  EXPECT_EQ(refusal(*rsa_verifier(), confused), "HS256 tokens are not accepted");
  refusal(*ec_verifier(), make_jwt("HS256", claims(), ec_key().public_pem));
  // RS256 when only a secret is configured.
  refusal(*hs_verifier(), make_jwt("RS256", claims(), rsa_key().private_pem));
  // ES256 against an RSA key, and RS256 against an EC key.
  EXPECT_EQ(refusal(*rsa_verifier(), make_jwt("ES256", claims(), ec_key().private_pem)),
            "ES256 tokens are not accepted");
  refusal(*ec_verifier(), make_jwt("RS256", claims(), rsa_key().private_pem));
  // An RS256 header over an ES256 signature, and the other way round.
  const std::vector<std::string> es = parts(make_jwt("ES256", claims(), ec_key().private_pem));
  const std::vector<std::string> rs = parts(make_jwt("RS256", claims(), rsa_key().private_pem));
  refusal(*rsa_verifier(), rs[0] + "." + rs[1] + "." + es[2]);
  refusal(*ec_verifier(), es[0] + "." + es[1] + "." + rs[2]);
}

TEST(JwtVerifier, RefusesEs256SignaturesOfTheWrongShape) {
  auto v = ec_verifier();
  const std::vector<std::string> p = parts(make_jwt("ES256", claims(), ec_key().private_pem));
  const std::string sig = *base64url_decode(p[2]);
  ASSERT_EQ(sig.size(), 64u);
  refusal(*v, p[0] + "." + p[1] + "." + base64url_encode(sig.substr(0, 63)));
  refusal(*v, p[0] + "." + p[1] + "." + base64url_encode(sig + '\0'));
  refusal(*v, p[0] + "." + p[1] + "." + base64url_encode(std::string(64, '\0')));
  refusal(*v, p[0] + "." + p[1] + "." + base64url_encode(std::string(64, '\xff')));
}

TEST(JwtVerifier, Issuer) {
  auto v = verifier({.hs256_secret = kSecret, .issuer = "https://id.example"});
  accepted(*v, make_jwt("HS256", claims(R"(,"iss":"https://id.example")"), kSecret));
  EXPECT_EQ(refusal(*v, make_jwt("HS256", claims(R"(,"iss":"https://evil.example")"), kSecret)),
            "the token's issuer is wrong");
  refusal(*v, make_jwt("HS256", claims(), kSecret));
  refusal(*v, make_jwt("HS256", claims(R"(,"iss":["https://id.example"])"), kSecret));
}

TEST(JwtVerifier, Audience) {
  auto v = verifier({.hs256_secret = kSecret, .audience = "rtpm"});
  accepted(*v, make_jwt("HS256", claims(R"(,"aud":"rtpm")"), kSecret));
  accepted(*v, make_jwt("HS256", claims(R"(,"aud":["other","rtpm"])"), kSecret));
  EXPECT_EQ(refusal(*v, make_jwt("HS256", claims(R"(,"aud":"other")"), kSecret)),
            "the token's audience is wrong");
  refusal(*v, make_jwt("HS256", claims(R"(,"aud":["other","rtpm2"])"), kSecret));
  refusal(*v, make_jwt("HS256", claims(R"(,"aud":[])"), kSecret));
  refusal(*v, make_jwt("HS256", claims(), kSecret));
  refusal(*v, make_jwt("HS256", claims(R"(,"aud":5)"), kSecret));
  refusal(*v, make_jwt("HS256", claims(R"(,"aud":["rtpm",5])"), kSecret));
  // Without a configured audience any well-formed `aud` is accepted.
  auto any = hs_verifier();
  accepted(*any, make_jwt("HS256", claims(R"(,"aud":"other")"), kSecret));
  accepted(*any, make_jwt("HS256", claims(R"(,"aud":["a","b"])"), kSecret));
}

TEST(JwtVerifier, Subject) {
  auto v = hs_verifier();
  const auto with_sub = [&](std::string_view sub_json) {
    return make_jwt("HS256", R"({"rooms":{},"sub":)" + std::string(sub_json) + "}", kSecret);
  };
  EXPECT_EQ(refusal(*v, make_jwt("HS256", R"({"rooms":{}})", kSecret)), "the token has no sub");
  refusal(*v, with_sub("5"));
  refusal(*v, with_sub("null"));
  refusal(*v, with_sub(R"(["alice"])"));
  refusal(*v, with_sub(R"("")"));
  EXPECT_EQ(accepted(*v, with_sub('"' + std::string(128, 'a') + '"')).subject,
            std::string(128, 'a'));
  refusal(*v, with_sub('"' + std::string(129, 'a') + '"'));
  // An astral character counts as two UTF-16 code units, a two-byte character as one.
  const std::string grin = "\xF0\x9F\x98\x80";  // U+1F600
  EXPECT_EQ(accepted(*v, with_sub('"' + std::string(126, 'a') + grin + '"')).subject,
            std::string(126, 'a') + grin);
  refusal(*v, with_sub('"' + std::string(127, 'a') + grin + '"'));
  refusal(*v, with_sub(R"("\ud83d\ude00)" + std::string(127, 'a') + '"'));
  std::string e_acute;
  for (int i = 0; i < 128; ++i) e_acute += "\xC3\xA9";
  EXPECT_EQ(accepted(*v, with_sub('"' + e_acute + '"')).subject, e_acute);
  // A lone surrogate is not UTF-8.
  refusal(*v, with_sub(R"("a\ud800b")"));
}

TEST(JwtVerifier, Rooms) {
  auto v = hs_verifier();
  EXPECT_EQ(refusal(*v, make_jwt("HS256", R"({"sub":"a"})", kSecret)), "the token has no rooms");
  for (const char* rooms : {R"("docs")", R"(["docs"])", "null", R"({"docs":"admin"})",
                            R"({"":"read"})", R"({"docs":1})"})
    refusal(*v, make_jwt("HS256", std::string(R"({"sub":"a","rooms":)") + rooms + "}", kSecret));
}

TEST(JwtVerifier, TokenId) {
  auto v = hs_verifier();
  EXPECT_EQ(refusal(*v, make_jwt("HS256", claims(R"(,"jti":5)"), kSecret)),
            "the token's jti is not a string");
  refusal(*v, make_jwt("HS256", claims(R"(,"jti":null)"), kSecret));
  // The last `jti` is the one that counts, as in JSON.parse.
  EXPECT_EQ(accepted(*v, make_jwt("HS256", claims(R"(,"jti":"t-2")"), kSecret)).token_id, "t-2");
}

TEST(JwtVerifier, RefusesMalformedTokens) {
  auto v = hs_verifier();
  const std::string token = make_jwt("HS256", claims(), kSecret);
  const std::vector<std::string> p = parts(token);
  ASSERT_EQ(p.size(), 3u);
  refusal(*v, "");
  refusal(*v, "..");
  refusal(*v, p[0]);
  refusal(*v, p[0] + "." + p[1]);
  refusal(*v, token + ".");
  refusal(*v, token + "." + p[2]);  // four parts
  // base64url with padding, or the base64 characters '+' and '/', or whitespace.
  refusal(*v, p[0] + "=." + p[1] + "." + p[2]);
  refusal(*v, p[0] + "." + p[1] + "." + p[2] + "=");
  std::string plus = p[1];
  plus[3] = '+';
  refusal(*v, p[0] + "." + plus + "." + p[2]);
  std::string slash = p[2];
  slash[3] = '/';
  refusal(*v, p[0] + "." + p[1] + "." + slash);
  refusal(*v, " " + token);
  refusal(*v, token + "\n");
  // Not JSON, or JSON that is not an object.
  refusal(*v, sign_jwt("HS256", R"(["HS256"])", claims(), kSecret));
  refusal(*v, sign_jwt("HS256", R"("HS256")", claims(), kSecret));
  refusal(*v, sign_jwt("HS256", "{alg:HS256}", claims(), kSecret));
  refusal(*v, sign_jwt("HS256", "", claims(), kSecret));
  refusal(*v, make_jwt("HS256", R"(["sub","a"])", kSecret));
  refusal(*v, make_jwt("HS256", R"({"sub":"a","rooms":{})", kSecret));
  refusal(*v, make_jwt("HS256", "", kSecret));
}

TEST(JwtVerifier, BoundsTheTokenLength) {
  auto v = hs_verifier();
  const std::string big =
      make_jwt("HS256", claims(R"(,"pad":")" + std::string(7000, 'x') + "\""), kSecret);
  EXPECT_GT(big.size(), 9000u);
  EXPECT_EQ(refusal(*v, big), "the token is longer than 8 KiB");
  const std::string fits =
      make_jwt("HS256", claims(R"(,"pad":")" + std::string(5500, 'x') + "\""), kSecret);
  EXPECT_LT(fits.size(), 8192u);
  accepted(*v, fits);
}

TEST(JwtVerifier, CreateRefusesBadKeys) {
  EXPECT_FALSE(JwtVerifier::create({}).ok());
  EXPECT_FALSE(JwtVerifier::create({.issuer = "x", .audience = "y"}).ok());
  EXPECT_FALSE(JwtVerifier::create({.hs256_secret = std::string(31, 's')}).ok());
  EXPECT_TRUE(JwtVerifier::create({.hs256_secret = std::string(32, 's')}).ok());
  // A good public key does not make up for a short secret.
  EXPECT_FALSE(JwtVerifier::create(
                   {.hs256_secret = std::string(31, 's'), .public_key_pem = rsa_key().public_pem})
                   .ok());
  EXPECT_FALSE(
      JwtVerifier::create({.public_key_pem = testing::generate_rsa(1024).public_pem}).ok());
  EXPECT_FALSE(JwtVerifier::create({.public_key_pem = p384_public_pem()}).ok());
  EXPECT_FALSE(JwtVerifier::create({.public_key_pem = "not a key"}).ok());
  EXPECT_FALSE(JwtVerifier::create({.public_key_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n"
                                                      "-----END PUBLIC KEY-----\n"})
                   .ok());
  // A private key is not a public key.
  EXPECT_FALSE(JwtVerifier::create({.public_key_pem = rsa_key().private_pem}).ok());
  EXPECT_TRUE(JwtVerifier::create({.public_key_pem = rsa_key().public_pem}).ok());
  EXPECT_TRUE(JwtVerifier::create({.public_key_pem = ec_key().public_pem}).ok());
}

TEST(JwtVerifier, LooksLikeJwt) {
  EXPECT_TRUE(JwtVerifier::looks_like_jwt(make_jwt("HS256", claims(), kSecret)));
  EXPECT_TRUE(JwtVerifier::looks_like_jwt("a.b.c"));
  EXPECT_TRUE(JwtVerifier::looks_like_jwt("a-_.b.c"));
  EXPECT_TRUE(JwtVerifier::looks_like_jwt("a.b."));  // unsigned: verify() says why it is refused
  EXPECT_FALSE(JwtVerifier::looks_like_jwt(""));
  EXPECT_FALSE(JwtVerifier::looks_like_jwt("alice-token"));
  EXPECT_FALSE(JwtVerifier::looks_like_jwt("a.b"));
  EXPECT_FALSE(JwtVerifier::looks_like_jwt("a.b.c.d"));
  EXPECT_FALSE(JwtVerifier::looks_like_jwt("a..c"));
  EXPECT_FALSE(JwtVerifier::looks_like_jwt(".b.c"));
  EXPECT_FALSE(JwtVerifier::looks_like_jwt("a.b+.c"));
  EXPECT_FALSE(JwtVerifier::looks_like_jwt("a.b.c="));
  EXPECT_FALSE(JwtVerifier::looks_like_jwt("a b.c.d"));
}

TEST(Base64url, KnownVectors) {
  // RFC 4648 section 10, without padding.
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode("\xfb\xff\xbf"), "-_-_");
  EXPECT_EQ(base64url_decode("Zm9vYmE"), "fooba");
  EXPECT_EQ(base64url_decode("-_-_"), "\xfb\xff\xbf");
  EXPECT_EQ(base64url_decode(""), "");
}

TEST(Base64url, RoundTrips) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t length = 0; length <= all.size(); ++length) {
    const std::string bytes = all.substr(256 - length) + all.substr(0, length / 3);
    const std::string text = base64url_encode(bytes);
    EXPECT_EQ(text.find_first_of("+/="), std::string::npos);
    EXPECT_EQ(base64url_decode(text), bytes) << length;
  }
}

TEST(Base64url, RejectsOtherAlphabetsAndPadding) {
  EXPECT_EQ(base64url_decode("Zg=="), std::nullopt);
  EXPECT_EQ(base64url_decode("Zm8="), std::nullopt);
  EXPECT_EQ(base64url_decode("+/+/"), std::nullopt);
  EXPECT_EQ(base64url_decode("ab+c"), std::nullopt);
  EXPECT_EQ(base64url_decode("ab/c"), std::nullopt);
  EXPECT_EQ(base64url_decode("Zm9v Yg"), std::nullopt);
  EXPECT_EQ(base64url_decode("Zm9v\n"), std::nullopt);
  EXPECT_EQ(base64url_decode(std::string_view("Zm\0v", 4)), std::nullopt);
  // A length of 1 mod 4 cannot be.
  EXPECT_EQ(base64url_decode("Z"), std::nullopt);
  EXPECT_EQ(base64url_decode("Zm9vY"), std::nullopt);
  // Bits beyond the last byte must be zero: one encoding per byte string.
  EXPECT_EQ(base64url_decode("Zh"), std::nullopt);
  EXPECT_EQ(base64url_decode("Zm9"), std::nullopt);
}

}  // namespace
}  // namespace rtpm::auth
