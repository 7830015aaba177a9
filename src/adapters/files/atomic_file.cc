#include "adapters/files/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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

// A temporary file being written in the directory of its target.
struct Temp {
  fs::path target;
  fs::path path;
  int fd = -1;
};

// Closes and removes what is left of the group's temporary files.
void Discard(std::vector<Temp>& temps, size_t from) {
  for (size_t i = from; i < temps.size(); ++i) {
    if (temps[i].fd >= 0) ::close(temps[i].fd);
    temps[i].fd = -1;
    ::unlink(temps[i].path.c_str());
  }
}

fs::path DirectoryOf(const fs::path& path) {
  fs::path dir = path.parent_path();
  return dir.empty() ? fs::path(".") : dir;
}

// Creates the directory and a temporary file next to `file.path`, filled
// with its content and mode (not yet synced).
Result<Temp> WriteTemp(const FileContent& file) {
  if (file.path.filename().empty()) {
    return Fail(ErrorCode::kInvalidArgument, "cannot write " + file.path.string() + ": not a file name");
  }
  const fs::path dir = DirectoryOf(file.path);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Fail(ErrorCode::kIo, "cannot create directory " + dir.string() + ": " + ec.message());

  std::string tmpl = (dir / ("." + file.path.filename().string() + ".tmp-XXXXXX")).string();
  std::vector<char> tmp_name(tmpl.begin(), tmpl.end());
  tmp_name.push_back('\0');
  int fd = ::mkostemp(tmp_name.data(), O_CLOEXEC);  // created 0600
  if (fd < 0) return IoError("cannot create a temporary file for", file.path, errno);
  Temp temp{file.path, fs::path(tmp_name.data()), fd};
  if (::fchmod(fd, static_cast<mode_t>(file.mode & fs::perms::mask)) != 0 || !WriteAll(fd, file.content)) {
    int err = errno;
    ::close(fd);
    ::unlink(temp.path.c_str());
    return IoError("cannot write", file.path, err);
  }
  return temp;
}

}  // namespace

Status AtomicWriteFile(const fs::path& path, std::string_view content, fs::perms mode) {
  const FileContent file{path, std::string(content), mode};
  return AtomicWriteFiles(std::span(&file, 1));
}

Status AtomicWriteFiles(std::span<const FileContent> files) {
  std::vector<Temp> temps;
  temps.reserve(files.size());
  for (const auto& file : files) {
    auto temp = WriteTemp(file);
    if (!temp) {
      Discard(temps, 0);
      return std::unexpected(temp.error());
    }
    temps.push_back(std::move(*temp));
  }
  // Every content reaches the disk before any rename can.
  for (size_t i = 0; i < temps.size(); ++i) {
    int err = ::fsync(temps[i].fd) != 0 ? errno : 0;
    if (::close(temps[i].fd) != 0 && err == 0) err = errno;
    temps[i].fd = -1;
    if (err != 0) {
      Discard(temps, 0);
      return IoError("cannot write", temps[i].target, err);
    }
  }
  std::vector<fs::path> dirs;
  for (size_t i = 0; i < temps.size(); ++i) {
    if (::rename(temps[i].path.c_str(), temps[i].target.c_str()) != 0) {
      int err = errno;
      Discard(temps, i);
      return IoError("cannot write", temps[i].target, err);
    }
    fs::path dir = DirectoryOf(temps[i].target);
    if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(std::move(dir));
  }
  // The renames are durable once their directories are synced.
  for (const auto& dir : dirs)
    if (auto s = SyncDirectory(dir); !s) return s;
  return Ok();
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
