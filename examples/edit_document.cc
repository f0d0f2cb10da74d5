// edit_document: connects to a realtime-pm server, joins a room, appends a
// paragraph, waits until the server confirmed it, and prints the document.
//
//   edit_document [URL] [ROOM] [TEXT]
//   edit_document ws://127.0.0.1:8080/ws demo "Hello from C++"
#include <chrono>
#include <iostream>
#include <string>

#include "rtpm/client/realtime_client.h"

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  std::string url = argc > 1 ? argv[1] : "ws://127.0.0.1:8080/ws";
  std::string room = argc > 2 ? argv[2] : "demo";
  std::string text = argc > 3 ? argv[3] : "Hello from C++";

  // The server's schema, so that local steps match its documents.
  auto schema = rtpm::client::fetch_schema({.url = url});
  if (!schema) {
    std::cerr << "schema: " << schema.error().message << "\n";
    return 1;
  }
  rtpm::client::Callbacks callbacks;
  callbacks.on_error = [](const rtpm::client::ClientError& e) {
    std::cerr << "error: " << rtpm::to_string(e.code) << ": " << e.message << "\n";
  };
  rtpm::client::RealtimeClient client({.url = url, .schema = *schema}, callbacks);
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
