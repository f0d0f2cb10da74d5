// StaticFiles: the folder of --static (the demo page), served read-only at /.
//
// Only regular files inside the folder are served. A request path is decoded once, segment by
// segment, and refused when a segment is empty (`//`), starts with '.' (`.`, `..`, dot files),
// or holds a '/', a backslash, a NUL or another control character, or a '%' after decoding
// (double encoding). The file's canonical path (every symlink resolved) must lie inside the
// folder's canonical path, so no symlink leads out of it; the file is opened with O_NOFOLLOW
// and served only when it is a regular file.
//
// The folder may not contain the server's data folder or its secret files (the token file, the
// JWT secret, the admin and metrics tokens, the TLS key): open() refuses it, so the server refuses
// to start. Nothing but the store may ever open the database files: closing any descriptor of the
// database file drops every SQLite POSIX lock the process holds on it, after which another process
// that reads the database deletes the WAL, and steps acknowledged after that are lost at the next
// restart.
//
// Thread-safe: read() uses only immutable state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rtpm/base/error.h"

namespace rtpm::server {

class StaticFiles {
 public:
  /// The folder `dir`, canonicalised. Fails (naming the cause) when it is not a folder, is the
  /// file system's root, or contains any of `protected_paths` (the data folder, the secret
  /// files; paths that do not exist are skipped).
  static Result<StaticFiles> open(const std::string& dir,
                                  const std::vector<std::string>& protected_paths);

  /// The path inside the folder that a request path (the target without its query, starting
  /// with '/') names: "/" is "index.html"; nullopt when the path is refused (see above).
  static std::optional<std::string> relative_path(std::string_view path);

  /// The contents of the regular file at `relative` (from relative_path) inside the folder, or
  /// nullopt when there is none, it resolves outside the folder, or it cannot be read.
  std::optional<std::string> read(const std::string& relative) const;

  /// The folder's canonical path.
  const std::string& root() const { return root_; }

 private:
  explicit StaticFiles(std::string root) : root_(std::move(root)) {}
  /// Whether canonical path `p` lies strictly inside the folder.
  bool inside(std::string_view p) const;

  std::string root_;
};

}  // namespace rtpm::server
