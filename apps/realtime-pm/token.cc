#include "token.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "rtpm/auth/jwt.h"
#include "rtpm/json/json.h"
#include "rtpm/protocol/client_messages.h"

namespace rtpm::apps {

namespace {

struct TokenFlags {
  std::string secret_file;
  std::string sub;
  std::vector<std::string> rooms;
  int64_t expires_in_s = 3600;
  std::string jti, iss, aud;
};

int fail(const std::string& message) {
  std::cerr << "realtime-pm token: " << message << "\n";
  return 1;
}

int run(const TokenFlags& f) {
  std::ifstream in(f.secret_file, std::ios::binary);
  if (!in) return fail("cannot read " + f.secret_file);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string secret = auth::secret_from_file_text(buf.str());  // as the server reads it
  if (secret.size() < 32) return fail("the secret must have at least 32 bytes");
  if (!protocol::valid_user_id(f.sub)) return fail("--sub must be 1 to 128 characters");
  std::string claims;
  json::Writer w(claims);
  w.begin_object();
  w.key("sub");
  w.string(f.sub);
  w.key("rooms");
  w.begin_object();
  for (const std::string& rule : f.rooms) {
    size_t eq = rule.rfind('=');
    std::string permission = eq == std::string::npos ? "" : rule.substr(eq + 1);
    if (eq == 0 || (permission != "read" && permission != "write"))
      return fail("--room takes PATTERN=read or PATTERN=write, not '" + rule + "'");
    w.key(rule.substr(0, eq));
    w.string(permission);
  }
  w.end_object();
  int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  w.key("iat");
  w.number(static_cast<double>(now_s));
  if (f.expires_in_s > 0) {
    w.key("exp");
    w.number(static_cast<double>(now_s + f.expires_in_s));
  }
  for (const auto& [name, value] : {std::pair{"jti", &f.jti}, {"iss", &f.iss}, {"aud", &f.aud}}) {
    if (value->empty()) continue;
    w.key(name);
    w.string(*value);
  }
  w.end_object();
  std::cout << auth::sign_hs256(claims, secret) << "\n";
  return 0;
}

}  // namespace

void add_token_command(CLI::App& app) {
  auto flags = std::make_shared<TokenFlags>();
  CLI::App* cmd = app.add_subcommand(
      "token",
      "Print an HS256 JSON Web Token for `serve --jwt-secret-file` (development and scripts;\n"
      "applications sign their own). Example:\n"
      "  realtime-pm token --jwt-secret-file secret --sub ada --room 'docs/*=write'");
  cmd->add_option("--jwt-secret-file", flags->secret_file, "File of the HS256 secret")->required();
  cmd->add_option("--sub", flags->sub, "The subject: the userId the token's holder joins as")
      ->required();
  cmd->add_option("--room", flags->rooms,
                  "PATTERN=read or PATTERN=write, repeatable (* matches any run of characters)")
      ->required();
  cmd->add_option("--expires-in", flags->expires_in_s, "Seconds until exp (0: no exp)")
      ->capture_default_str();
  cmd->add_option("--jti", flags->jti, "Token id, for revocation");
  cmd->add_option("--iss", flags->iss, "Issuer");
  cmd->add_option("--aud", flags->aud, "Audience");
  cmd->callback([flags] { std::exit(run(*flags)); });
}

}  // namespace rtpm::apps
