#pragma once
// Saving without ever losing what was saved before: bytes go to a temporary file in the same
// directory, are flushed to disk, and only then renamed over the destination. A crash, a full
// disk or an exception at any point leaves the old file as it was.
//
// A writer holds an exclusive lock (flock) on its temporary file for as long as it lives, and the
// kernel drops the lock when the process dies, however it dies. So a temporary file that can be
// locked was abandoned by a writer that was killed before it could remove it, and the next save to
// the same destination removes it; one that cannot be locked belongs to a writer still at work
// (another process, another host sharing the folder) and is left alone.

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/core/file_path.hpp"

namespace deephash {

// Removes the files of `directory` whose name `matches` and that no live writer holds locked (see
// above): temporary files of writers that were killed. Returns their paths. Files that cannot be
// opened or locked for another reason are left as they are.
template <class Matches>
std::vector<std::string> remove_abandoned_temporaries(const std::string& directory, Matches&& matches) {
  std::vector<std::string> removed;
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) return removed;
  std::vector<std::string> names;
  while (const ::dirent* e = ::readdir(dir))
    if (matches(std::string(e->d_name))) names.emplace_back(e->d_name);
  ::closedir(dir);
  for (const std::string& name : names) {
    const std::string path = directory + "/" + name;
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    struct stat st;
    // Unlinked while locked: a writer that creates the file just now finds it gone (see the
    // constructor below) and makes another.
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0 && ::unlink(path.c_str()) == 0)
      removed.push_back(path);
    ::close(fd);
  }
  return removed;
}

namespace detail {

// The directory and file name of `path`.
inline std::pair<std::string, std::string> split_path(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

inline constexpr char kTemporarySuffix[] = ".tmp-XXXXXX";

// Whether `name` is a temporary file name of AtomicFileWriter for the file named `file`.
inline bool is_temporary_of(const std::string& name, const std::string& file) {
  const std::size_t suffix = sizeof kTemporarySuffix - 1;
  return name.size() == file.size() + suffix && name.compare(0, file.size() + 5, file + ".tmp-") == 0;
}

}  // namespace detail

class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path) : path_(std::move(path)) {
    // Else the file would be written whole and only the rename would fail.
    require_not_directory(path_, "a file to write");
    const std::pair<std::string, std::string> where = detail::split_path(path_);  // directory, file name
    remove_abandoned_temporaries(where.first, [&](const std::string& name) { return detail::is_temporary_of(name, where.second); });
    for (;;) {
      temp_path_ = path_ + detail::kTemporarySuffix;
      fd_ = ::mkstemp(&temp_path_[0]);
      if (fd_ < 0) fail("cannot create a temporary file next to it", errno);
      int locked;
      do locked = ::flock(fd_, LOCK_EX);
      while (locked != 0 && errno == EINTR);
      // Locking is what tells a live writer from a dead one; where the file system has no locks
      // (flock fails), the file is still written, only not told apart.
      struct stat mine, named;
      if (locked != 0 || (::fstat(fd_, &mine) == 0 && ::stat(temp_path_.c_str(), &named) == 0 && mine.st_ino == named.st_ino &&
                          mine.st_dev == named.st_dev))
        break;
      ::close(fd_);  // another save removed it between mkstemp and flock, taking it for abandoned
    }
  }

  ~AtomicFileWriter() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_path_.c_str());
  }

  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, std::size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ::ssize_t n = ::write(fd_, p, size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail("write failed", errno);
      if (n == 0) fail("write made no progress", ENOSPC);
      p += n;
      size -= static_cast<std::size_t>(n);
    }
  }

  // Flushes, closes and renames the temporary file over the destination.
  void commit() {
    // mkstemp creates the file private (0600); give it the mode a plain open() would have.
    if (::fchmod(fd_, new_file_mode()) != 0) fail("setting the file mode failed", errno);
    if (::fsync(fd_) != 0) fail("flushing to disk failed", errno);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("closing failed", errno);
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0)
      fail("renaming the temporary file failed", errno);
    committed_ = true;
    sync_directory();
  }

 private:
  [[noreturn]] void fail(const std::string& what, int err) {
    std::string msg = what;
    if (err != 0) msg += std::string(" (") + std::strerror(err) + ")";
    if (err == ENOSPC) msg += "; the disk is full";
    msg += "; the previous file, if any, is unchanged";
    throw Error(path_, msg);
  }

  // The destination's current permissions if it exists, else 0666 less the process umask (read
  // from /proc, since umask() itself cannot be queried without changing it).
  mode_t new_file_mode() const {
    struct stat st;
    if (::stat(path_.c_str(), &st) == 0) return st.st_mode & 07777;
    mode_t mask = 022;
    if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
      char line[256];
      while (std::fgets(line, sizeof line, f))
        if (std::strncmp(line, "Umask:", 6) == 0) mask = mode_t(std::strtoul(line + 6, nullptr, 8));
      std::fclose(f);
    }
    return 0666 & ~mask;
  }

  // Makes the rename itself durable. Failure here is not an error: the data is in place.
  void sync_directory() const {
    const auto slash = path_.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      (void)::fsync(dfd);
      ::close(dfd);
    }
  }

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

inline void write_file_atomically(const std::string& path, const void* data, std::size_t size) {
  AtomicFileWriter out(path);
  out.write(data, size);
  out.commit();
}

inline void write_file_atomically(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  write_file_atomically(path, bytes.data(), bytes.size());
}

}  // namespace deephash
