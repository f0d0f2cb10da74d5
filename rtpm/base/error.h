// One error model (HACKING.md, "Errors"):
//
// - Inside the ProseMirror port (rtpm/model, rtpm/transform) we keep
//   upstream's contract: what JavaScript throws, we throw, with the same
//   message text and the same error class name (`RangeError`, `TypeError`,
//   `Error`; prosemirror-model's `ReplaceError` reports the name "Error" as
//   it does in JavaScript).
// - Everywhere else functions return `Result<T>`, whose Error carries an
//   ErrorCode (PROTOCOL.md's codes) and a message. The port's exceptions are
//   caught only at its boundary, with catch_port() below, and become Errors.
// - The wire string of a code is written only by rtpm/protocol's encoders.
#pragma once

#include <cassert>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace rtpm {

/// An exception thrown by the port where JavaScript would throw.
class JsError : public std::runtime_error {
 public:
  enum class Kind { error, range_error, type_error, syntax_error };
  JsError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }
  /// The JavaScript class name: "Error", "RangeError", "TypeError", "SyntaxError".
  const char* name() const {
    switch (kind_) {
      case Kind::range_error: return "RangeError";
      case Kind::type_error: return "TypeError";
      case Kind::syntax_error: return "SyntaxError";
      default: return "Error";
    }
  }

 private:
  Kind kind_;
};

/// JavaScript's RangeError (bad positions, invalid content, bad attributes).
class RangeError : public JsError {
 public:
  explicit RangeError(const std::string& m) : JsError(Kind::range_error, m) {}
};

/// JavaScript's TypeError (JS crashes on malformed input, e.g. mark steps with from > to).
class TypeError : public JsError {
 public:
  explicit TypeError(const std::string& m) : JsError(Kind::type_error, m) {}
};

/// JavaScript's SyntaxError (schema specs naming unknown marks).
class SyntaxError : public JsError {
 public:
  explicit SyntaxError(const std::string& m) : JsError(Kind::syntax_error, m) {}
};

/// JavaScript's plain Error.
class GenericError : public JsError {
 public:
  explicit GenericError(const std::string& m) : JsError(Kind::error, m) {}
};

/// PROTOCOL.md's error codes, in its order. The comment says whether a client retries.
enum class ErrorCode {
  bad_message,        ///< not JSON, not an object, missing or mistyped field. Don't retry.
  unknown_type,       ///< unknown message `type`. Don't retry.
  invalid_room,       ///< room name does not match the pattern. Don't retry.
  not_joined,         ///< room-scoped message for a room the connection is not in. Join first.
  invalid_steps,      ///< a step failed against the schema/document. Don't retry this batch.
  version_conflict,   ///< stale version: receive missed steps, rebase, resend (retry higher up).
  message_too_large,  ///< over the configured size limit. Don't retry.
  rate_limited,       ///< too many messages: retry the same call later.
  unauthorized,       ///< missing or bad token. Don't retry without new credentials.
  forbidden,          ///< acting for another user or read-only. Don't retry.
  session_replaced,   ///< the same userId joined elsewhere; this session left the room.
  room_full,          ///< the room's member limit is reached. Retry later.
  internal,           ///< server-side failure (e.g. storage). Retry later.
};

/// The wire string of an error code ("bad_message", ...).
std::string_view to_string(ErrorCode code);

/// An error value: a code and a human-readable message.
struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;
};

/// Either a value or an Error. A small stand-in for std::expected (not in GCC 12).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

/// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), ok_(false) {}
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return err_;
  }

 private:
  Error err_;
  bool ok_ = true;
};

/// The port's boundary: runs `f`, a call into the ProseMirror port, and
/// returns its value, or an Error with `code` when it throws. The message is
/// `context` followed by a JsError's message, or by "internal error: " and
/// what() of any other std::exception (a failure of the port itself: an
/// allocation for an absurd size, a library's std::out_of_range).
template <typename F>
Result<std::invoke_result_t<F&>> catch_port(ErrorCode code, std::string_view context, F&& f) {
  try {
    if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
      f();
      return {};
    } else {
      return f();
    }
  } catch (const JsError& e) {
    return Error{code, std::string(context) + e.what()};
  } catch (const std::exception& e) {
    return Error{code, std::string(context) + "internal error: " + e.what()};
  }
}

}  // namespace rtpm
