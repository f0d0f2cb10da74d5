// DocumentApi: carries out a document API request (docs/api.md) that api_routes.cc parsed and
// checked. Reads of history, versions and the room list go to the store on the storage thread;
// rebuilding a document at a version, restores and reverts are computed on an io_context
// thread; edits and deletions go through the room (room::RoomCore decides: the same checks as
// a member's steps, durable before the answer, broadcast to the members).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "rtpm/server/context.h"
#include "rtpm/server/http_handler.h"

namespace rtpm::server {

/// Runs `api` for `req`; `respond` is called exactly once, from any thread. `client` is the
/// client's address key (the creation limits of a PUT that creates a room apply to it).
void run_api_request(ServerContext& ctx, std::shared_ptr<const HttpRequest> req, ApiRequest api,
                     std::string client, std::function<void(HttpResponse)> respond);

}  // namespace rtpm::server
