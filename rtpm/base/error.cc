#include "rtpm/base/error.h"

namespace rtpm {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::bad_message: return "bad_message";
    case ErrorCode::unknown_type: return "unknown_type";
    case ErrorCode::invalid_room: return "invalid_room";
    case ErrorCode::not_joined: return "not_joined";
    case ErrorCode::invalid_steps: return "invalid_steps";
    case ErrorCode::version_conflict: return "version_conflict";
    case ErrorCode::message_too_large: return "message_too_large";
    case ErrorCode::rate_limited: return "rate_limited";
    case ErrorCode::unauthorized: return "unauthorized";
    case ErrorCode::forbidden: return "forbidden";
    case ErrorCode::session_replaced: return "session_replaced";
    case ErrorCode::room_full: return "room_full";
    case ErrorCode::internal: return "internal";
  }
  return "internal";
}

}  // namespace rtpm
