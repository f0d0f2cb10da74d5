// edit_document: connects to a realtime-pm server, joins a room, appends a
// paragraph, waits until the server confirmed it, and prints the document.
//
//   edit_document [URL] [ROOM] [TEXT]
//   edit_document ws://127.0.0.1:8080/ws demo "Hello from C++"
//
// A server that requires tokens (docs/security.md) takes one from RTPM_TOKEN (sent as
// `Authorization: Bearer`) or in the URL (`?token=`); RTPM_USER_ID is then the token's
// subject, the only userId the server accepts for it.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include "rtpm/client/realtime_client.h"

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  std::string url = argc > 1 ? argv[1] : "ws://127.0.0.1:8080/ws";
  std::string room = argc > 2 ? argv[2] : "demo";
  std::string text = argc > 3 ? argv[3] : "Hello from C++";

  rtpm::client::ClientOptions options;
  options.url = url;
  if (const char* token = std::getenv("RTPM_TOKEN")) options.bearer_token = token;
  if (const char* user = std::getenv("RTPM_USER_ID")) options.user_id = user;
  // The server's schema, so that local steps match its documents.
  auto schema = rtpm::client::fetch_schema(options);
  if (!schema) {
    std::cerr << "schema: " << schema.error().message << "\n";
    return 1;
  }
  rtpm::client::Callbacks callbacks;
  callbacks.on_error = [](const rtpm::client::ClientError& e) {
    std::cerr << "error: " << rtpm::to_string(e.code) << ": " << e.message << "\n";
  };
  options.schema = *schema;
  rtpm::client::RealtimeClient client(options, callbacks);
  if (auto joined = client.join(room); !joined) {
    std::cerr << "join: " << joined.error().message << "\n";
    return 1;
  }
  if (!client.wait_synced(room, 10s)) {
    std::cerr << "no state from " << url << " within 10 s\n";
    return 1;
  }
  // Append a paragraph at the end of the document.
  auto edited = client.edit(room, [&](rtpm::transform::Transform& tr) {
    const rtpm::model::Schema& s = **schema;
    auto paragraph = s.node("paragraph", nullptr, rtpm::model::Fragment::from(s.text(text)));
    tr.insert(tr.doc()->content().size(), paragraph);
  });
  if (!edited) {
    std::cerr << "edit: " << edited.error().message << "\n";
    return 1;
  }
  if (!client.wait_synced(room, 10s)) {
    std::cerr << "not confirmed within 10 s\n";
    return 1;
  }
  std::cout << client.doc(room)->to_json_string() << "\n";
  std::cerr << "version " << client.version(room) << "\n";
  client.close();
  return 0;
}
