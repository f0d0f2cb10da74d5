// DocumentApi against the real `realtime-pm serve` binary (docs/api.md):
// every method's answer, the error answers with their extra fields, the API
// token, and steps posted through the API arriving live at a RealtimeClient.
#include "rtpm/client/document_api.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "rtpm/client/realtime_client.h"
#include "rtpm/testing/server_process.h"

namespace rtpm::client {
namespace {

using json::Value;
using testing::ServerProcess;
using namespace std::chrono_literals;

constexpr auto kWait = 15s;

Value parse(const std::string& text) {
  auto v = json::parse(text);
  if (!v) throw std::runtime_error("bad JSON in test: " + text);
  return *v;
}

std::shared_ptr<const model::Schema> basic_schema() {
  static std::shared_ptr<const model::Schema> schema = [] {
    std::ifstream in(std::string(RTPM_SHARED_DIR) + "/conformance/schemas/basic.json");
    std::stringstream buf;
    buf << in.rdbuf();
    return model::Schema::from_json(parse(buf.str()));
  }();
  return schema;
}

Value paragraph_doc(const std::string& text) {
  return parse(
      R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":")" + text +
      R"("}]}]})");
}

// One step inserting `text` at `pos`, as a JSON array of steps.
Value insert_steps(int pos, const std::string& text) {
  return parse(R"([{"stepType":"replace","from":)" + std::to_string(pos) + R"(,"to":)" +
               std::to_string(pos) + R"(,"slice":{"content":[{"type":"text","text":")" + text +
               R"("}]}}])");
}

class DocumentApiTest : public ::testing::Test {
 protected:
  void start_server(std::vector<std::string> args = {}) {
    server_ = std::make_unique<ServerProcess>(RTPM_BINARY, std::move(args));
    server_->start();
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(server_->port()) + "/ws"; }
  DocumentApi api(std::string token = {}) const {
    return DocumentApi(ConnectionOptions{.url = url(), .bearer_token = std::move(token)});
  }

  std::unique_ptr<ServerProcess> server_;
};

TEST_F(DocumentApiTest, EveryMethodAnswersAsTheDocumentationSays) {
  start_server();
  DocumentApi a = api();
  const std::string room = "team/a:notes";  // '/' and ':' travel percent-encoded

  // PUT creates the room; a document equal to the current one changes nothing.
  auto put = a.put_document(room, paragraph_doc("Hello"));
  ASSERT_TRUE(put.ok()) << put.error().message;
  EXPECT_EQ(*put, 1);
  EXPECT_EQ(*a.put_document(room, paragraph_doc("Hello")), 1);

  auto doc = a.get_document(room);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_EQ(doc->room, room);
  EXPECT_EQ(doc->version, 1);
  EXPECT_EQ(doc->doc, paragraph_doc("Hello"));
  auto text = a.get_text(room);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(*text, "Hello");

  auto posted = a.post_steps(room, 1, "importer", insert_steps(6, " world"));
  ASSERT_TRUE(posted.ok()) << posted.error().message;
  EXPECT_EQ(*posted, 2);
  EXPECT_EQ(*a.get_text(room), "Hello world");
  EXPECT_EQ(*a.get_text(room, 1), "Hello");
  EXPECT_EQ(a.get_document(room, 1)->doc, paragraph_doc("Hello"));
  EXPECT_EQ(*a.post_steps(room, 2, "importer", Value(json::Array{})), 2);  // nothing to do

  auto steps = a.get_steps(room);
  ASSERT_TRUE(steps.ok()) << steps.error().message;
  EXPECT_EQ(steps->room, room);
  EXPECT_EQ(steps->version, 2);
  ASSERT_EQ(steps->steps.size(), 2u);
  EXPECT_EQ(steps->steps[0].version, 0);
  EXPECT_EQ(steps->steps[0].user_id, "api");
  EXPECT_GT(steps->steps[0].time, 0);
  EXPECT_EQ(steps->steps[1].version, 1);
  EXPECT_EQ(steps->steps[1].user_id, "importer");
  EXPECT_EQ(steps->steps[1].step, insert_steps(6, " world").as_array()[0]);
  auto page = a.get_steps(room, 1, 1);
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->steps.size(), 1u);
  EXPECT_EQ(page->steps[0].user_id, "importer");

  auto named = a.add_version(room, "first draft");
  ASSERT_TRUE(named.ok()) << named.error().message;
  EXPECT_EQ(named->name, "first draft");
  EXPECT_EQ(named->version, 2);
  EXPECT_GT(named->time, 0);
  auto versions = a.list_versions(room);
  ASSERT_TRUE(versions.ok()) << versions.error().message;
  ASSERT_EQ(versions->size(), 1u);
  EXPECT_EQ((*versions)[0].name, "first draft");
  EXPECT_EQ((*versions)[0].version, 2);
  EXPECT_EQ((*versions)[0].time, named->time);

  // Undo the importer's step, then restore the named version.
  auto reverted = a.revert(room, "importer", 1, 2);
  ASSERT_TRUE(reverted.ok()) << reverted.error().message;
  EXPECT_EQ(reverted->version, 3);
  EXPECT_TRUE(reverted->skipped.empty());
  EXPECT_EQ(*a.get_text(room), "Hello");
  auto restored = a.restore(room, 2, "restorer");
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(*restored, 4);
  EXPECT_EQ(*a.get_text(room), "Hello world");
  EXPECT_EQ(a.get_steps(room, 3)->steps.at(0).user_id, "restorer");
  EXPECT_EQ(*a.restore(room, 1), 5);  // no userId: the server's default author
  EXPECT_EQ(a.get_steps(room, 4)->steps.at(0).user_id, "api");

  // Listing, with a prefix and in pages.
  ASSERT_TRUE(a.put_document("team/b", paragraph_doc("B")).ok());
  ASSERT_TRUE(a.put_document("other", paragraph_doc("O")).ok());
  auto all = a.list_rooms();
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_EQ(all->rooms.size(), 3u);
  EXPECT_FALSE(all->next);
  auto team = a.list_rooms("team/");
  ASSERT_TRUE(team.ok()) << team.error().message;
  ASSERT_EQ(team->rooms.size(), 2u);
  EXPECT_EQ(team->rooms[0].room, room);
  EXPECT_EQ(team->rooms[0].version, 5);
  EXPECT_GT(team->rooms[0].created, 0);
  EXPECT_EQ(team->rooms[1].room, "team/b");
  auto first = a.list_rooms("", "", 1);
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_EQ(first->rooms.size(), 1u);
  ASSERT_TRUE(first->next);
  EXPECT_EQ(first->rooms[0].room, "other");
  auto second = a.list_rooms("", *first->next, 1);
  ASSERT_TRUE(second.ok()) << second.error().message;
  ASSERT_EQ(second->rooms.size(), 1u);
  EXPECT_EQ(second->rooms[0].room, room);

  // A query in the URL (a `?token=`) follows the request's own parameters.
  auto with_query =
      DocumentApi(ConnectionOptions{.url = url() + "?token=unused"}).list_rooms("team/", "", 5);
  ASSERT_TRUE(with_query.ok()) << with_query.error().message;
  EXPECT_EQ(with_query->rooms.size(), 2u);

  auto deleted = a.delete_room(room);
  ASSERT_TRUE(deleted.ok()) << deleted.error().message;
  auto gone = a.get_document(room);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.api_error().status, 404);
  EXPECT_EQ(gone.api_error().code, "not_found");
  EXPECT_EQ(a.list_rooms()->rooms.size(), 2u);
}

TEST_F(DocumentApiTest, ErrorsCarryTheirCodeAndFields) {
  start_server();
  DocumentApi a = api();
  ASSERT_TRUE(a.put_document("r", paragraph_doc("Hello")).ok());

  // A stale version: the current one comes with the conflict.
  auto stale = a.post_steps("r", 0, "importer", insert_steps(1, "x"));
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, ErrorCode::version_conflict);
  EXPECT_EQ(stale.api_error().status, 409);
  EXPECT_EQ(stale.api_error().code, "version_conflict");
  EXPECT_EQ(stale.api_error().version, 1);

  // The second step does not apply: its index, and nothing applied.
  Value steps = Value(json::Array{insert_steps(1, "x").as_array()[0],
                                  parse(R"({"stepType":"replace","from":500,"to":600})")});
  auto invalid = a.post_steps("r", 1, "importer", steps);
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().code, ErrorCode::invalid_steps);
  EXPECT_EQ(invalid.api_error().status, 422);
  EXPECT_EQ(invalid.api_error().index, 1);
  EXPECT_EQ(*a.get_text("r"), "Hello");
  // A document the schema refuses.
  auto bad_doc = a.put_document("r", parse(R"({"type":"nope"})"));
  ASSERT_FALSE(bad_doc.ok());
  EXPECT_EQ(bad_doc.error().code, ErrorCode::invalid_steps);

  // not_found, which ErrorCode does not have: bad_message, the wire code kept.
  auto missing = a.get_document("nothing-here");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::bad_message);
  EXPECT_EQ(missing.api_error().status, 404);
  EXPECT_EQ(missing.api_error().code, "not_found");
  EXPECT_NE(missing.error().message.find("not_found"), std::string::npos)
      << missing.error().message;
  EXPECT_EQ(a.post_steps("nothing-here", 0, "u", insert_steps(1, "x")).api_error().code,
            "not_found");
  EXPECT_EQ(a.get_text("r", 99).api_error().code, "not_found");  // ahead of the room
  EXPECT_EQ(a.delete_room("nothing-here").api_error().status, 404);
  EXPECT_EQ(a.list_versions("nothing-here").api_error().code, "not_found");

  // A room name that is not one.
  auto bad_room = a.get_document("bad room!");
  ASSERT_FALSE(bad_room.ok());
  EXPECT_EQ(bad_room.error().code, ErrorCode::invalid_room);

  // Names are unique in a room.
  ASSERT_TRUE(a.add_version("r", "v").ok());
  auto taken = a.add_version("r", "v");
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.api_error().status, 409);
  EXPECT_EQ(taken.api_error().code, "name_taken");
  EXPECT_EQ(taken.error().code, ErrorCode::bad_message);

  // A malformed request: bad_message; `to` beyond the room's version.
  auto beyond = a.revert("r", "importer", 0, 50);
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.api_error().status, 400);
  EXPECT_EQ(beyond.error().code, ErrorCode::bad_message);

  // No server at all: internal, no status.
  auto port = server_->port();
  server_->stop();
  auto down = DocumentApi(ConnectionOptions{.url = "ws://127.0.0.1:" + std::to_string(port) + "/ws",
                                            .connect_timeout_ms = 2000})
                  .list_rooms();
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code, ErrorCode::internal);
  EXPECT_EQ(down.api_error().status, 0);
}

TEST_F(DocumentApiTest, TheApiTokenIsRequiredWhenConfigured) {
  auto dir = std::filesystem::temp_directory_path() /
             ("rtpm-api-token-" + std::to_string(::getpid()) + "-" +
              std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(dir);
  const std::string token = "api-token-0123456789abcdef";
  std::ofstream((dir / "api").string()) << token << "\n";
  start_server({"--api-token-file", (dir / "api").string()});

  auto without = api().list_rooms();
  ASSERT_FALSE(without.ok());
  EXPECT_EQ(without.error().code, ErrorCode::unauthorized);
  EXPECT_EQ(without.api_error().status, 401);
  EXPECT_EQ(api("wrong-token-0123456789").put_document("r", paragraph_doc("x")).error().code,
            ErrorCode::unauthorized);

  DocumentApi a = api(token);
  auto put = a.put_document("r", paragraph_doc("x"));
  ASSERT_TRUE(put.ok()) << put.error().message;
  auto list = a.list_rooms();
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->rooms.size(), 1u);
  EXPECT_EQ(*a.get_text("r"), "x");
  server_->stop();
  std::filesystem::remove_all(dir);
}

TEST_F(DocumentApiTest, PostedStepsArriveLiveAtAConnectedClient) {
  start_server();
  DocumentApi a = api();
  ASSERT_TRUE(a.put_document("live", paragraph_doc("Hello")).ok());

  std::mutex mu;
  std::vector<ChangeOrigin> origins;
  Callbacks cb;
  cb.on_document = [&](const DocumentChange& c) {
    std::lock_guard lock(mu);
    origins.push_back(c.origin);
  };
  RealtimeClient client(ClientOptions{.url = url(), .schema = basic_schema(), .user_id = "editor"},
                        std::move(cb));
  ASSERT_TRUE(client.join("live").ok());
  ASSERT_TRUE(client.wait_synced("live", kWait));
  ASSERT_EQ(client.version("live"), 1);

  // A member's userId is refused: its editor would take the steps for its own.
  auto as_member = a.post_steps("live", 1, "editor", insert_steps(6, "!"));
  ASSERT_FALSE(as_member.ok());
  EXPECT_EQ(as_member.error().code, ErrorCode::forbidden);
  EXPECT_EQ(as_member.api_error().status, 409);

  auto posted = a.post_steps("live", 1, "backend", insert_steps(6, " world"));
  ASSERT_TRUE(posted.ok()) << posted.error().message;
  ASSERT_EQ(*posted, 2);
  ASSERT_TRUE(client.wait_until([&] { return client.version("live") == 2; }, kWait));
  auto server_doc = a.get_document("live");
  ASSERT_TRUE(server_doc.ok()) << server_doc.error().message;
  EXPECT_EQ(server_doc->version, 2);
  EXPECT_EQ(parse(client.doc("live")->to_json_string()), server_doc->doc);
  EXPECT_EQ(json::to_wtf8(client.doc("live")->text_content()), "Hello world");
  std::lock_guard lock(mu);
  EXPECT_NE(std::find(origins.begin(), origins.end(), ChangeOrigin::remote), origins.end());
}

}  // namespace
}  // namespace rtpm::client
