#include "adapters/files/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

namespace dl::adapters::files {
namespace {

namespace fs = std::filesystem;

std::unexpected<Error> IoError(const std::string& what, const fs::path& path, int err) {
  return Fail(ErrorCode::kIo, what + " " + path.string() + ": " + std::strerror(err));
}

// Writes all of `content`, retrying short writes and EINTR.
bool WriteAll(int fd, std::string_view content) {
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return true;
}

// fsync of the directory makes the rename itself durable.
Status SyncDirectory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open directory", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return IoError("cannot sync directory", dir, err);
  return Ok();
}

// Fills the open temporary file; on failure returns the errno.
int FillTemp(int fd, std::string_view content, fs::perms mode) {
  if (::fchmod(fd, static_cast<mode_t>(mode & fs::perms::mask)) != 0) return errno;
  if (!WriteAll(fd, content)) return errno;
  if (::fsync(fd) != 0) return errno;
  return 0;
}

}  // namespace

Status AtomicWriteFile(const fs::path& path, std::string_view content, fs::perms mode) {
  if (path.filename().empty()) {
    return Fail(ErrorCode::kInvalidArgument, "cannot write " + path.string() + ": not a file name");
  }
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Fail(ErrorCode::kIo, "cannot create directory " + dir.string() + ": " + ec.message());

  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  std::vector<char> tmp_name(tmpl.begin(), tmpl.end());
  tmp_name.push_back('\0');
  int fd = ::mkostemp(tmp_name.data(), O_CLOEXEC);  // created 0600
  if (fd < 0) return IoError("cannot create a temporary file for", path, errno);
  const fs::path tmp_path(tmp_name.data());

  int err = FillTemp(fd, content, mode);
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && ::rename(tmp_path.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp_path.c_str());
    return IoError("cannot write", path, err);
  }
  return SyncDirectory(dir);
}

Result<std::string> ReadFile(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Fail(ErrorCode::kNotFound, path.string() + " does not exist");
    return IoError("cannot read", path, errno);
  }
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return IoError("cannot read", path, err);
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace dl::adapters::files
