// A fresh self-signed certificate for the TLS tests: P-256, CN and SAN DNS
// name `common_name`, valid from an hour ago for a day, written with its key
// as PEM files. Throws std::runtime_error when OpenSSL fails.
#pragma once

#include <string>

namespace rtpm::testing {

void make_certificate(const std::string& cert_file, const std::string& key_file,
                      const char* common_name = "localhost");

}  // namespace rtpm::testing
