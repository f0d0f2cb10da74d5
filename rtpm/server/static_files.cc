#include "rtpm/server/static_files.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rtpm/server/http_handler.h"

namespace rtpm::server {

namespace {

// The canonical path of an existing `path` (every symlink resolved), or nullopt.
std::optional<std::string> canonical(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(path.c_str(), nullptr), &std::free);
  if (!real) return std::nullopt;
  return std::string(real.get());
}

}  // namespace

bool StaticFiles::inside(std::string_view p) const {
  return p.size() > root_.size() + 1 && p.substr(0, root_.size()) == root_ &&
         p[root_.size()] == '/';
}

Result<StaticFiles> StaticFiles::open(const std::string& dir,
                                      const std::vector<std::string>& protected_paths) {
  auto root = canonical(dir);
  struct stat st {};
  if (!root || ::stat(root->c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Error{ErrorCode::internal, "--static: " + dir + " is not a readable folder"};
  if (*root == "/")
    return Error{ErrorCode::internal, "--static: refusing to serve the whole file system (/)"};
  StaticFiles files(std::move(*root));
  for (const std::string& p : protected_paths) {
    if (p.empty()) continue;
    auto real = canonical(p);
    if (!real) continue;
    if (*real == files.root_ || files.inside(*real))
      return Error{ErrorCode::internal,
                   "--static: " + dir + " contains " + p +
                       ", which the server must never serve (its data folder, token file or TLS "
                       "key); point --static at a folder of only the files to serve"};
  }
  return files;
}

std::optional<std::string> StaticFiles::relative_path(std::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  if (path == "/") return std::string("index.html");
  std::string out;
  path.remove_prefix(1);
  for (;;) {
    size_t slash = path.find('/');
    std::string_view raw = path.substr(0, slash);
    auto segment = percent_decode(raw);
    if (!segment || segment->empty() || segment->front() == '.') return std::nullopt;
    for (char c : *segment) {
      auto u = static_cast<unsigned char>(c);
      if (c == '/' || c == '\\' || c == '%' || u < 0x20 || u == 0x7f) return std::nullopt;
    }
    if (!out.empty()) out += '/';
    out += *segment;
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

std::optional<std::string> StaticFiles::read(const std::string& relative) const {
  // Resolve every symlink first: what is served is the canonical path, and it must lie inside
  // the folder. O_NOFOLLOW then refuses a last component swapped for a symlink meanwhile;
  // O_NONBLOCK keeps a FIFO from blocking the open (it is refused below as not regular).
  auto real = canonical(root_ + "/" + relative);
  if (!real || !inside(*real)) return std::nullopt;
  int fd = ::open(real->c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  std::string out;
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (ok) {
    out.reserve(static_cast<size_t>(st.st_size));
    char buf[64 * 1024];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) ok = false;
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace rtpm::server
