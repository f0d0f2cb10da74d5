// Owning pointers for the OpenSSL objects of rtpm/auth (the verifier and the tests' signer).
#pragma once

#include <memory>

#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

namespace rtpm::auth::internal {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;

}  // namespace rtpm::auth::internal
